#!/bin/sh
# ensure.sh — installs the npm packages of package-lock.json into tests/interop/node/
# node_modules (npm ci) unless they are already there for this lock file. Run by the
# interop tests that use node; ctest runs them in parallel, so one lock serializes the
# install (the others wait, then find it done).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
stamp="$dir/node_modules/.omnibus-lock"
command -v flock >/dev/null || { echo "flock (util-linux) is required" >&2; exit 1; }
exec 9>"${TMPDIR:-/tmp}/omnibus-npm-$(id -u).lock"
flock -w 900 9 || { echo "timed out waiting for another npm install" >&2; exit 1; }
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is required (nodejs)" >&2; exit 1; }
(cd "$dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2)
cp "$dir/package-lock.json" "$stamp"
