#!/bin/sh
# bench/core.sh — runs the core benchmark (bench/core.c) from an existing build and prints
# its figures, then a summary table (markdown, ready for bench/RESULTS.md).
#
#   bench/core.sh [BUILD_DIR] [bench_core options...]     (BUILD_DIR defaults to build)
#
# Builds nothing: `make bench` builds first, then calls `./bench/core.sh build`. The
# environment knobs of bench_core pass through (OB_BENCH_SECONDS, OB_BENCH_REPS,
# OB_BENCH_RECOVERY_MB, OB_BENCH_SECTIONS, OB_BENCH_DIR); see bench/core.c. Nothing here
# asserts a speed: the exit status is bench_core's.
set -eu

build=${1:-build}
[ $# -gt 0 ] && shift
bin=$build/bench/bench_core
if [ ! -x "$bin" ]; then
    echo "core.sh: $bin not found; build it first (make bench, or" >&2
    echo "         cmake --build $build --target bench_core)" >&2
    exit 2
fi

out=$(mktemp "${TMPDIR:-/tmp}/ob-bench-core.XXXXXX")
trap 'rm -f "$out" "$out.rc"' EXIT
# bench_core removes its data dir itself when it gets SIGINT or SIGTERM.
trap 'exit 130' INT TERM

# Bounded: each measurement is timed inside bench_core and the recovery section is
# bounded by the disk; OB_BENCH_TIMEOUT (default 15 minutes) is far past a sane run.
# Figures stream as they come; the RESULT lines are kept for the summary.
{
    timeout --foreground -s TERM "${OB_BENCH_TIMEOUT:-900}" "$bin" "$@"
    echo $? >"$out.rc"
} | tee "$out" | awk '!/^RESULT\t/ { print; fflush() }'
status=$(cat "$out.rc" 2>/dev/null || echo 1)

echo
echo "## summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $(nproc) CPUs)"
echo
awk -F '\t' '
    BEGIN { print "| figure | value | unit | notes |"; print "|---|---:|---|---|" }
    $1 == "RESULT" {
        v = $3 + 0
        s = (v >= 100) ? sprintf("%.0f", v) : sprintf("%.2f", v)
        # thousands separators make msgs/s readable
        if (v >= 10000) { t = ""; while (length(s) > 3) { t = "," substr(s, length(s) - 2) t; s = substr(s, 1, length(s) - 3) } s = s t }
        printf "| %s | %s | %s | %s |\n", $2, s, $4, $5
    }' "$out"
if [ "$status" -ne 0 ]; then
    echo
    echo "core.sh: bench_core exited with status $status" >&2
fi
exit "$status"
