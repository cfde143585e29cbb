#!/bin/sh
# Installs the Debian packages omnibus needs to build and test. Idempotent: only
# missing packages are installed, and `apt-get update` runs only when needed.
set -eu
BUILD="build-essential cmake ninja-build pkg-config clang libuv1-dev libyaml-dev libsodium-dev libisal-dev libcmocka-dev libjansson-dev libcurl4-openssl-dev zlib1g-dev libnghttp2-dev"
TEST="procps psmisc curl mosquitto-clients python3-paho-mqtt mosquitto libmosquitto-dev chromium nodejs python3-websockets nginx libnginx-mod-nchan wrk nghttp2-client jq"
# Usage: deps.sh [build|test] [extra-package ...]
MODE="${1:-build}"
[ $# -gt 0 ] && shift
case "$MODE" in
build) WANT="$BUILD $*" ;;
*) WANT="$BUILD $TEST $*" ;;
esac
missing=""
for p in $WANT; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# An apt cache older than a day, or a package apt cannot see, means the lists are stale.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    $SUDO apt-get update -q
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing || {
    $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing
}
