#!/bin/sh
# Runs every test: the full ctest suite on the normal build, the unit suite on the
# ASan+UBSan build, then (if a fuzz build is given) each fuzz target briefly over its
# corpus. Ends with one "N passed, N failed" line over all runs.
set -u
BUILD="${1:-build}"
ASAN="${2:-build-asan}"
FUZZ="${3:-}"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
status=0
# Output goes to a file first so that ctest's exit status is not lost in a pipe.
run() {
    out="$LOG.part"
    "$@" >"$out" 2>&1 || status=1
    cat "$out" >>"$LOG"
    cat "$out"
    rm -f "$out"
}
run ctest --test-dir "$BUILD" --output-on-failure --timeout 600 -j2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run ctest --test-dir "$ASAN" -L unit --output-on-failure --timeout 600 -j2
if [ -n "$FUZZ" ]; then
    run ctest --test-dir "$FUZZ" -L fuzz --output-on-failure --timeout 600 -j2
fi
# ctest prints "NN% tests passed, F tests failed out of T" per run.
sums=$(sed -n 's/.*tests passed, \([0-9]*\) tests* failed out of \([0-9]*\).*/\1 \2/p' "$LOG")
failed=0
total=0
for pair in $(echo "$sums" | tr ' ' ':'); do
    f=${pair%%:*}
    t=${pair##*:}
    failed=$((failed + f))
    total=$((total + t))
done
[ "$total" -eq 0 ] && status=1
echo "$((total - failed)) passed, $failed failed"
exit $status
