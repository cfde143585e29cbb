#!/bin/sh
# Crash test: a publisher with fsync=always is killed with SIGKILL at random moments,
# 25 rounds into one data directory; after each kill the store is reopened and every
# message whose ack was reported must be present and intact.
set -u
BUILD="${OB_BUILD:-build}"
TOOL="$BUILD/tests/crash_pub"
ROUNDS="${CRASH_ROUNDS:-25}"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
[ -x "$TOOL" ] || { echo "missing $TOOL"; exit 1; }
ACKS="$DIR/acks"
: >"$ACKS"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    "$TOOL" publish "$DIR/data" "$ACKS" "$round" 2>"$DIR/pub.err" &
    pid=$!
    # 50..550 ms: long enough to ack thousands, random enough to land anywhere.
    ms=$(( $(od -An -N2 -tu2 /dev/urandom) % 500 + 50 ))
    sleep "$(printf '0.%03d' "$ms")"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    out=$("$TOOL" verify "$DIR/data" "$ACKS") || {
        echo "round $round: FAILED: $out"
        cat "$DIR/pub.err"
        exit 1
    }
    echo "round $round: $out"
    round=$((round + 1))
done
total=$(wc -l <"$ACKS")
[ "$total" -gt 0 ] || { echo "no message was ever acked"; exit 1; }
echo "crash test: $ROUNDS rounds, $total acked messages, 0 lost"
