#!/bin/sh
# bench/mqtt.sh — the MQTT benchmark of issue 5: one load generator (bench_mqtt, on
# libmosquitto) run unchanged against omnibus and against Debian's mosquitto 2.0, both
# started here on free loopback ports, and a markdown table with the ratios.
#
#   bench/mqtt.sh [BUILD_DIR]            (BUILD_DIR defaults to build)
#   OB_BENCH_IDLE=10000                  idle connections for the memory row
#
# With node, a second table compares MQTT over WebSocket with TCP using MQTT.js
# (bench/mqtt.ws.mjs; npm packages of tests/interop/mqtt/node): omnibus's /mqtt on the
# http listener, and a mosquitto websockets listener when this mosquitto can open one.
#
# mosquitto runs with: listener PORT 127.0.0.1, allow_anonymous true,
# max_queued_messages 0 (no per-client queue limit), set_tcp_nodelay true, no
# persistence. omnibus runs with its defaults plus connection limits raised for the idle
# row. Clean sessions throughout, so neither broker writes to disk. Besides msgs/s and
# latency, each row gives the broker's CPU time per delivered message (user + system,
# from /proc/PID/stat): on a small shared box the generator often sets the pace, and
# CPU per message is what says how much headroom each broker has; the generator's own
# CPU per message says how much of the box it took (publishers run on one thread and
# subscribers on one thread per CPU, bench/mqtt.c: with one thread for everything the
# generator, not the broker, set the pace). Nothing asserts a speed; the exit status is 0 unless a broker
# or the generator fails to start.
set -eu

build=${1:-build}
bin=$build/bench/bench_mqtt
ob=$build/omnibus
idle=${OB_BENCH_IDLE:-10000}
for f in "$bin" "$ob"; do
    [ -x "$f" ] || { echo "mqtt.sh: $f not found; build it first" >&2; exit 2; }
done
command -v mosquitto >/dev/null || { echo "mqtt.sh: mosquitto not installed (scripts/deps.sh test)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ob-bench-mqtt.XXXXXX")
obpid=""
mqpid=""
cleanup() {
    [ -n "$obpid" ] && kill "$obpid" 2>/dev/null && wait "$obpid" 2>/dev/null
    [ -n "$mqpid" ] && kill "$mqpid" 2>/dev/null && wait "$mqpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    tries=100
    while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do
        tries=$((tries - 1))
        [ $tries -gt 0 ] || { echo "mqtt.sh: nothing listens on $1" >&2; exit 1; }
        sleep 0.1
    done
}

obport=$(free_port)
mqport=$(free_port)
hport=$(free_port)
"$ob" serve --data-dir "$tmp/data" --no-default-listeners \
    --set "listeners.mqtt=127.0.0.1:$obport" --set "listeners.http=127.0.0.1:$hport" \
    --set limits.max_connections=50000 \
    --set limits.max_connections_per_ip=50000 --set log.level=warn >"$tmp/omnibus.log" 2>&1 &
obpid=$!
cat >"$tmp/mosquitto.conf" <<EOF
listener $mqport 127.0.0.1
allow_anonymous true
max_queued_messages 0
set_tcp_nodelay true
persistence false
EOF
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
mqpid=$!
wait_port "$obport"
wait_port "$mqport"

rows=""
# CPU seconds (user + system) a process has used so far, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# gen PORT PID ARGS... : one generator run; appends cpu_us_per_msg (the broker's CPU
# time per delivered message) to its output line.
gen() {
    port=$1
    pid=$2
    shift 2
    t0=$(ticks "$pid")
    o=$(timeout 300 "$bin" -p "$port" "$@") || o="msgs_per_s=0 p50_us=0 p99_us=0 lost=? delivered=0"
    t1=$(ticks "$pid")
    hz=$(getconf CLK_TCK)
    echo "$o" | awk -v t=$((t1 - t0)) -v hz="$hz" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "delivered") d = kv[2] }
        printf "%s cpu_us_per_msg=%.2f\n", $0, (d > 0 ? t * 1e6 / hz / d : 0) }'
}

# run NAME ARGS... : the generator against both brokers; one table row.
run() {
    name=$1
    shift
    o=$(gen "$obport" "$obpid" "$@")
    m=$(gen "$mqport" "$mqpid" "$@")
    echo "$name: omnibus $o" >&2
    echo "$name: mosquitto $m" >&2
    row=$(printf '%s\n%s\n' "$o" "$m" | awk -v name="$name" '
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } }
        END {
            r = v[2, "msgs_per_s"] > 0 ? v[1, "msgs_per_s"] / v[2, "msgs_per_s"] : 0
            c = v[1, "cpu_us_per_msg"] > 0 ? v[2, "cpu_us_per_msg"] / v[1, "cpu_us_per_msg"] : 0
            printf "| %s | %d | %d | **%.2f×** | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f (%.2f×) | %.1f / %.1f | %s / %s |",
                name, v[1, "msgs_per_s"], v[2, "msgs_per_s"], r,
                v[1, "p50_us"] / 1000, v[1, "p99_us"] / 1000,
                v[2, "p50_us"] / 1000, v[2, "p99_us"] / 1000,
                v[1, "cpu_us_per_msg"], v[2, "cpu_us_per_msg"], c,
                v[1, "gen_cpu_us_per_msg"], v[2, "gen_cpu_us_per_msg"], v[1, "lost"], v[2, "lost"]
        }')
    rows="$rows$row
"
}

# Anonymous resident memory (heap and stacks): VmRSS also counts file pages, which the
# kernel may drop or map in meanwhile (one run showed mosquitto at 511 B/conn by VmRSS,
# 750 B by RssAnon).
rss_kb() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status"; }

# idle_rss PORT PID : growth of anonymous RSS per idle connection, in bytes.
idle_rss() {
    before=$(rss_kb "$2")
    fifo="$tmp/idle.$1"
    mkfifo "$fifo"
    timeout 300 "$bin" -p "$1" -m idle -S "$idle" <"$fifo" >"$tmp/idle.out" &
    gen=$!
    exec 9>"$fifo"
    tries=600
    while ! grep -q ready "$tmp/idle.out" 2>/dev/null && [ $tries -gt 0 ]; do
        sleep 0.1
        tries=$((tries - 1))
    done
    sleep 1
    after=$(rss_kb "$2")
    exec 9>&-
    wait $gen || true
    rm -f "$fifo"
    echo $(((after - before) * 1024 / idle))
}

# Idle connections first, on fresh processes: after the flow rows both brokers' heaps
# have grown and freed memory would be reused, hiding the per-connection cost.
obidle=$(idle_rss "$obport" "$obpid")
mqidle=$(idle_rss "$mqport" "$mqpid")

# Windows (messages in flight per publisher): 1000 at QoS 0; 20 at QoS 1/2, because
# mosquitto disconnects a 3.1.1 client with more than max_inflight_messages (20)
# unacknowledged QoS 2 publishes, and the same window keeps QoS 1 comparable.
run "QoS 0, 1→1" -q 0 -n 300000 -w 1000
run "QoS 1, 1→1" -q 1 -n 50000 -w 20
run "QoS 2, 1→1" -q 2 -n 30000 -w 20
run "QoS 0, 10 pub × 10 sub" -q 0 -P 10 -S 10 -n 20000 -w 1000
run "QoS 1, 10 pub × 10 sub" -q 1 -P 10 -S 10 -n 5000 -w 20
run "QoS 0, fan-out 1→1000" -q 0 -S 1000 -n 1000 -w 100

echo
echo "## MQTT ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $(nproc) CPUs, mosquitto $(mosquitto -h 2>/dev/null | awk 'NR==1 { print $3 }'))"
echo
echo "| scenario | omnibus msgs/s | mosquitto msgs/s | ratio | omnibus p50 / p99 ms | mosquitto p50 / p99 ms | broker CPU µs/msg o / m (ratio) | generator CPU µs/msg o / m | lost (o / m) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s' "$rows"
echo
echo "| idle connections | omnibus bytes/conn | mosquitto bytes/conn |"
echo "|---|---:|---:|"
echo "| $idle | $obidle | $mqidle |"

here=$(cd "$(dirname "$0")" && pwd)
if command -v node >/dev/null && sh "$here/../tests/interop/mqtt/node/ensure.sh" >/dev/null 2>&1; then
    wsport=$(free_port)
    printf 'listener %s\nprotocol websockets\nsocket_domain ipv4\nallow_anonymous true\n' \
        "$wsport" >"$tmp/mosquitto-ws.conf"
    mosquitto -c "$tmp/mosquitto-ws.conf" >"$tmp/mosquitto-ws.log" 2>&1 &
    wspid=$!
    sleep 0.5
    js() { timeout 120 node "$here/mqtt.ws.mjs" "$1" 50000 2>/dev/null | awk -F'[ =]' '{ print $2 }'; }
    otcp=$(js "mqtt://127.0.0.1:$obport")
    ows=$(js "ws://127.0.0.1:$hport/mqtt")
    mtcp=$(js "mqtt://127.0.0.1:$mqport")
    if kill -0 "$wspid" 2>/dev/null; then
        mws=$(js "ws://127.0.0.1:$wsport/mqtt")
        kill "$wspid" 2>/dev/null
    else
        mws="n/a (websockets listener failed to start)"
    fi
    echo
    echo "| MQTT.js QoS 0 1→1, 50,000 × 64 B | omnibus msgs/s | mosquitto msgs/s |"
    echo "|---|---:|---:|"
    echo "| TCP | $otcp | $mtcp |"
    echo "| WebSocket | $ows | $mws |"
fi
