#!/bin/sh
# bench/http.sh — the HTTP server layer side by side with nginx, one load generator for
# both, ratios printed, a markdown summary at the end (ready for bench/RESULTS.md).
#
#   bench/http.sh [BUILD_DIR]          (BUILD_DIR defaults to build; builds nothing)
#
#   1. wrk, HTTP/1.1 keep-alive: GET /healthz on omnibus vs nginx `return 204` (the
#      HTTP ceiling of this box), and POST /v1/subjects/bench.x (REST publish, no
#      stream captures it) when the REST module answers.
#   2. h2load, h2c prior knowledge: GET /healthz on omnibus vs nginx `listen … http2`.
#
# nginx runs as one worker (omnibus serves HTTP on one loop thread), access log off;
# omnibus runs with log.level=warn (no access log). Both on 127.0.0.1, started here
# from a temp dir and stopped on exit. Knobs: OB_BENCH_SECONDS (10), OB_BENCH_CONNS (64),
# OB_BENCH_THREADS (2), OB_BENCH_H2_REQS (200000). Nothing here asserts a speed.
set -eu

build=${1:-build}
bin=$build/omnibus
secs=${OB_BENCH_SECONDS:-10}
conns=${OB_BENCH_CONNS:-64}
threads=${OB_BENCH_THREADS:-2}
h2reqs=${OB_BENCH_H2_REQS:-200000}
[ -x "$bin" ] || { echo "http.sh: $bin not found; build it first" >&2; exit 2; }
for tool in wrk h2load nginx curl; do
    command -v "$tool" >/dev/null || { echo "http.sh: $tool missing (scripts/deps.sh test)" >&2; exit 2; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/ob-bench-http.XXXXXX")
ob_pid=""
ng_pid=""
cleanup() {
    [ -n "$ob_pid" ] && kill "$ob_pid" 2>/dev/null && wait "$ob_pid" 2>/dev/null
    [ -n "$ng_pid" ] && kill "$ng_pid" 2>/dev/null && wait "$ng_pid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # url [curl options]
    url=$1
    shift
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$@" "$url" && return 0
        sleep 0.1
    done
    echo "http.sh: $url never answered" >&2
    exit 1
}

op=$(free_port)
np=$(free_port)
np2=$(free_port)
"$bin" serve --data-dir "$T/data" --no-default-listeners --set "listeners.http=127.0.0.1:$op" \
    --set log.level=warn >"$T/omnibus.log" 2>&1 &
ob_pid=$!
mkdir -p "$T/nginx/logs"
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$np; location / { return 204; } }
    server { listen 127.0.0.1:$np2 http2; location / { return 204; } }
}
EOF
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" &
ng_pid=$!
wait_http "http://127.0.0.1:$op/healthz"
wait_http "http://127.0.0.1:$np/"
wait_http "http://127.0.0.1:$np2/" --http2-prior-knowledge

rps_wrk() { # url [wrk options] -> requests/s
    wrk -t"$threads" -c"$conns" -d"${secs}s" "$@" 2>&1 | tee -a "$T/wrk.out" |
        awk '/^Requests\/sec:/ { printf "%d", $2 }'
}
rps_h2load() { # url -> requests/s
    h2load -n "$h2reqs" -c 16 -m 16 -t "$threads" "$1" 2>&1 | tee -a "$T/h2load.out" |
        awk '/^finished in/ { gsub(",", "", $4); printf "%d", $4 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== wrk GET, HTTP/1.1 keep-alive, $conns connections, ${secs}s =="
o_get=$(rps_wrk "http://127.0.0.1:$op/healthz")
echo "omnibus GET /healthz: $o_get req/s"
n_get=$(rps_wrk "http://127.0.0.1:$np/")
echo "nginx   return 204:   $n_get req/s"
echo "ratio omnibus/nginx: $(ratio "$o_get" "$n_get")"

o_pub=""
code=$(curl -s -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$op/v1/subjects/bench.x")
if [ "$code" = "200" ] || [ "$code" = "202" ]; then
    cat >"$T/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 100)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
    echo "== wrk POST /v1/subjects/bench.x (100 B, REST publish, not stored) =="
    o_pub=$(rps_wrk "http://127.0.0.1:$op/v1/subjects/bench.x" -s "$T/post.lua")
    echo "omnibus POST publish: $o_pub req/s"
    echo "ratio omnibus publish / nginx 204: $(ratio "$o_pub" "$n_get")"
else
    echo "(REST publish not available: HTTP $code; skipped)"
fi

echo "== h2load, h2c prior knowledge, 16 connections × 16 streams, $h2reqs requests =="
o_h2=$(rps_h2load "http://127.0.0.1:$op/healthz")
echo "omnibus h2 GET /healthz: $o_h2 req/s"
n_h2=$(rps_h2load "http://127.0.0.1:$np2/")
echo "nginx   h2 return 204:   $n_h2 req/s"
echo "ratio omnibus/nginx: $(ratio "$o_h2" "$n_h2")"
grep -h "requests:" "$T/h2load.out" | sed 's/^/  /'

cat <<EOF

| HTTP benchmark ($(nproc) cores, wrk -t$threads -c$conns ${secs}s; h2load -c16 -m16) | omnibus req/s | nginx req/s | ratio |
|---|---|---|---|
| HTTP/1.1 GET (omnibus /healthz vs nginx return 204) | $o_get | $n_get | $(ratio "$o_get" "$n_get") |
EOF
[ -n "$o_pub" ] && echo "| HTTP/1.1 POST /v1/subjects/bench.x 100 B (vs nginx 204 GET) | $o_pub | $n_get | $(ratio "$o_pub" "$n_get") |"
echo "| HTTP/2 h2c GET (h2load) | $o_h2 | $n_h2 | $(ratio "$o_h2" "$n_h2") |"
