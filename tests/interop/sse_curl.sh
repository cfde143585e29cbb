#!/bin/sh
# sse_curl.sh — Server-Sent Events at /v1/subscribe with curl (and a raw socket for the
# slow-client case): event format, retry, heartbeats, stream positions, resume with
# Last-Event-ID (header and query) without gaps, live ids, until_seq + 204, CORS
# preflight for Last-Event-ID, 400/406, and a slow live client cut off with a final
# event while the server stays healthy.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v jq >/dev/null || ob_fail "jq is required (scripts/deps.sh test)"
port=$(ob_free_port)
OB_SSE_HEARTBEAT_MS=300 ob_start --no-default-listeners --set listeners.http=127.0.0.1:$port \
    --set limits.conn_write_buffer=64KiB
ob_wait_log 'msg="listeners up"' 10
U=http://127.0.0.1:$port
code() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"; }
pub() { [ "$(code -d "$2" "$U/v1/subjects/$1")" = "${3:-200}" ] || ob_fail "publish to $1"; }

[ "$(code -X PUT -H 'Content-Type: application/json' -d '{"subjects":["orders.>"]}' \
    "$U/v1/streams/ORD")" = 201 ] || ob_fail "stream create"

# a subscriber on a captured subject: ids are stream positions
curl -s -N -m 3 "$U/v1/subscribe?subject=orders.>" >"$T/a" &
a=$!
sleep 0.5
pub orders.one "first"
pub orders.two "$(printf 'line 1\nline 2')"
pub orders.three "third"
wait $a
grep -q '^retry: 2000$' "$T/a" || ob_fail "no retry line: $(cat "$T/a")"
grep -q '^: hb$' "$T/a" || ob_fail "no heartbeat comment within 3 s at 300 ms"
[ "$(grep -c '^event: message$' "$T/a")" = 3 ] || ob_fail "expected 3 events: $(cat "$T/a")"
[ "$(grep '^id: ' "$T/a" | tr '\n' ' ')" = "id: ORD:1 id: ORD:2 id: ORD:3 " ] ||
    ob_fail "ids: $(grep '^id: ' "$T/a")"
grep '^data: ' "$T/a" | sed -n 2p | cut -c7- | jq -e '.payload == "line 1\nline 2" and .seq == 2' \
    >/dev/null || ob_fail "JSON data of event 2"

# raw format: the payload itself, one data line per line
curl -s -N -m 1 -H 'Last-Event-ID: ORD:1' "$U/v1/subscribe?subject=orders.>&format=raw" >"$T/raw"
grep -A3 '^id: ORD:2$' "$T/raw" | grep -q '^data: line 2$' || ob_fail "raw lines: $(cat "$T/raw")"

# resume: Last-Event-ID header, then lastEventId query; no gap, no duplicate
curl -s -N -m 1 -H 'Last-Event-ID: ORD:1' "$U/v1/subscribe?subject=orders.>" >"$T/r1"
[ "$(grep '^id: ' "$T/r1" | tr '\n' ' ')" = "id: ORD:2 id: ORD:3 " ] || ob_fail "resume: $(cat "$T/r1")"
curl -s -N -m 1 "$U/v1/subscribe?subject=orders.>&lastEventId=ORD:2" >"$T/r2"
[ "$(grep '^id: ' "$T/r2" | tr '\n' ' ')" = "id: ORD:3 " ] || ob_fail "resume query: $(cat "$T/r2")"

# the same over HTTP/2 (h2c prior knowledge): DATA frames instead of chunks
curl -s -N -m 1 --http2-prior-knowledge -H 'Last-Event-ID: ORD:1' "$U/v1/subscribe?subject=orders.>" >"$T/h2"
[ "$(grep '^id: ' "$T/h2" | tr '\n' ' ')" = "id: ORD:2 id: ORD:3 " ] || ob_fail "resume over h2: $(cat "$T/h2")"

# until_seq: the feed ends after it; a reconnect past it gets 204 (EventSource stops)
curl -s -N -m 5 "$U/v1/subscribe?subject=orders.>&from_seq=1&until_seq=2" >"$T/u"
grep -q '^event: end$' "$T/u" || ob_fail "no end event: $(cat "$T/u")"
grep -q '^id: ORD:3$' "$T/u" && ob_fail "event after until_seq"
[ "$(code -H 'Last-Event-ID: ORD:2' "$U/v1/subscribe?subject=orders.>&until_seq=2")" = 204 ] ||
    ob_fail "no 204 past until_seq"

# deleting the stream ends its subscribers' feeds (event: end) by the next heartbeat
[ "$(code -X PUT -H 'Content-Type: application/json' -d '{"subjects":["tmp.>"]}' \
    "$U/v1/streams/TMP")" = 201 ] || ob_fail "stream TMP"
curl -s -N -m 5 "$U/v1/subscribe?subject=tmp.>" >"$T/del" &
d=$!
sleep 0.5
[ "$(code -X DELETE "$U/v1/streams/TMP")" = 204 ] || ob_fail "delete TMP"
wait $d
grep -A1 '^event: end$' "$T/del" | grep -q 'stream deleted' || ob_fail "no end after delete: $(cat "$T/del")"

# live subjects (no stream): numeric, increasing ids
curl -s -N -m 2 "$U/v1/subscribe?subject=live.*&subject=chat.>" >"$T/l" &
l=$!
sleep 0.5
pub live.a one 202
pub chat.x.y two 202
wait $l
ids=$(grep '^id: ' "$T/l" | cut -c5- | tr '\n' ' ')
set -- $ids
[ $# = 2 ] && [ "$2" -gt "$1" ] || ob_fail "live ids: $ids"

# errors and CORS
[ "$(code "$U/v1/subscribe")" = 400 ] || ob_fail "no subject: not 400"
[ "$(code "$U/v1/subscribe?subject=a..b")" = 400 ] || ob_fail "bad filter: not 400"
[ "$(code -H 'Accept: application/json' "$U/v1/subscribe?subject=a")" = 406 ] || ob_fail "not 406"
curl -s -m 5 -D "$T/pre" -o /dev/null -X OPTIONS -H 'Origin: http://elsewhere.test' \
    -H 'Access-Control-Request-Method: GET' -H 'Access-Control-Request-Headers: last-event-id' \
    "$U/v1/subscribe?subject=a"
grep -qi '^access-control-allow-headers:.*last-event-id' "$T/pre" || ob_fail "preflight: $(cat "$T/pre")"
grep -qi '^access-control-allow-origin:' "$T/pre" || ob_fail "preflight without allow-origin"

# a live client that does not read is cut off with a final event; others are unharmed
python3 - "$port" "$T/slow" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/subscribe?subject=flood HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(4)              # do not read while the publisher floods
s.settimeout(5)
buf = b""
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        buf += c
except socket.timeout:
    pass
open(sys.argv[2], "wb").write(buf)
PY
slow=$!
sleep 0.5
head -c 60000 /dev/zero | tr '\0' x >"$T/blob"
i=0
while [ $i -lt 60 ]; do
    curl -s -m 10 -o /dev/null --data-binary @"$T/blob" "$U/v1/subjects/flood" || ob_fail "flood publish"
    i=$((i + 1))
done
wait $slow
tail -c 300 "$T/slow" | grep -q '^event: cutoff' || ob_fail "slow client not cut off: $(tail -c 300 "$T/slow")"
[ "$(code "$U/v1/streams/ORD")" = 200 ] || ob_fail "server unhealthy after the cut-off"
grep -q 'slow client cut off' "$OB_LOG" || ob_fail "no log line for the cut-off"
echo "sse_curl: ok"
