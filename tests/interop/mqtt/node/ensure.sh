#!/bin/sh
# ensure.sh — installs the npm packages of package-lock.json into tests/interop/mqtt/node/
# node_modules (npm ci) unless they are already there for this lock file. Sourced or run
# by the interop tests that use node; prints nothing on success when up to date.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
stamp="$dir/node_modules/.omnibus-lock"
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is required (nodejs)" >&2; exit 1; }
(cd "$dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2)
cp "$dir/package-lock.json" "$stamp"
