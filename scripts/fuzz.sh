#!/bin/sh
# Runs every libFuzzer target built in $1 for $2 seconds each over its seed corpus
# (fuzz/corpus/<name>/), writing new inputs to a scratch corpus so the seeds stay small.
# Crashes are saved as fuzz/crash-<target>-*; turn each into a unit test.
set -u
BUILD="${1:-build-fuzz}"
SECS="${2:-30}"
cd "$(dirname "$0")/.."
status=0
for bin in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    seeds="fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    mkdir -p "$seeds"
    echo "== $name ($SECS s)"
    if ! "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/crash-$name-" "$work" "$seeds" 2>"$work.log"; then
        tail -40 "$work.log"
        status=1
    else
        grep -E "^#[0-9]+.*(DONE|pulse)" "$work.log" | tail -1
    fi
    rm -rf "$work" "$work.log"
done
exit $status
