# http_server.sh — the HTTP server layer with real clients: curl over HTTP/1.1, over
# HTTP/2 with prior knowledge and with the h2c Upgrade; nghttp (nghttp2-client) for
# h2c; Python `websockets` (Debian python3-websockets, /usr/bin/python3) against the
# debug WebSocket echo (/v1/_echo, mounted by OB_HTTP_DEBUG_ECHO=1): text, binary,
# fragmented, compressed (permessage-deflate), ping, close codes, a too-big message.
# Also the ops endpoints, HEAD, 404 problem+json, CORS preflight, gzip, pipelining,
# a malformed request next to a healthy connection, and the access log.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v curl >/dev/null || ob_fail "curl missing (scripts/deps.sh test)"

port=$(ob_free_port)
OB_HTTP_DEBUG_ECHO=1
export OB_HTTP_DEBUG_ECHO
ob_start --no-default-listeners --set "listeners.http=127.0.0.1:$port" \
    --set limits.max_msg_size=64KiB
ob_wait_log 'msg="listeners up"'
base="http://127.0.0.1:$port"
C="curl -sS --max-time 10"

# ---- HTTP/1.1 ------------------------------------------------------------------------
[ "$($C "$base/healthz")" = "ok" ] || ob_fail "/healthz"
[ "$($C "$base/readyz")" = "ready" ] || ob_fail "/readyz"
$C "$base/metrics" | grep -q '^omnibus_connections{protocol="http"} [0-9]' || ob_fail "/metrics connections"
$C "$base/metrics" | grep -q '^omnibus_http_responses_total{code="2xx"} [1-9]' || ob_fail "/metrics statuses"
$C "$base/metrics" | grep -q '^# TYPE omnibus_stream_messages gauge' || ob_fail "/metrics stream family"
$C -I "$base/healthz" | grep -qi '^content-length: 3' || ob_fail "HEAD content-length"
$C -I "$base/healthz" | grep -qi '^date: ' || ob_fail "Date header"
out=$($C -D "$T/h" "$base/no/such/thing")
grep -q '^HTTP/1.1 404' "$T/h" || ob_fail "404 status"
grep -qi '^content-type: application/problem+json' "$T/h" || ob_fail "404 problem type"
echo "$out" | grep -qF '"type":"https://omnibus.dev/problems/not-found"' || ob_fail "404 body: $out"
$C -X DELETE -D - -o /dev/null "$base/healthz" | grep -q '^HTTP/1.1 405' || ob_fail "405"

# CORS preflight as a browser sends it for an SSE resume with a custom header.
$C -X OPTIONS -D "$T/h" -o /dev/null -H "Origin: https://app.example" \
    -H "Access-Control-Request-Method: GET" \
    -H "Access-Control-Request-Headers: last-event-id, authorization, omnibus-key" "$base/healthz"
grep -q '^HTTP/1.1 204' "$T/h" || ob_fail "preflight status"
grep -qi '^access-control-allow-origin: \*' "$T/h" || ob_fail "preflight origin"
grep -qi '^access-control-allow-headers: last-event-id, authorization, omnibus-key' "$T/h" ||
    ob_fail "preflight headers: $(cat "$T/h")"

# gzip: /metrics is text and over 1 KiB once streams exist; --compressed decodes it.
$C -H "Accept-Encoding: gzip" -D "$T/h" -o /dev/null "$base/metrics"
grep -qi '^content-encoding: gzip' "$T/h" || ob_fail "no gzip: $(cat "$T/h")"
$C --compressed "$base/metrics" | grep -q '^omnibus_bytes_total' || ob_fail "gzip body"

# Keep-alive and pipelining-free reuse: curl fetches twice on one connection.
$C -v "$base/healthz" "$base/readyz" 2>"$T/v" >/dev/null
grep -q 'Re-using existing connection' "$T/v" || ob_fail "no connection reuse"

# ---- HTTP/2 ---------------------------------------------------------------------------
v=$($C --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' "$base/healthz")
[ "$v" = "2 200" ] || ob_fail "h2 prior knowledge: $v"
v=$($C --http2 -o /dev/null -w '%{http_version} %{http_code}' "$base/healthz")
[ "$v" = "2 200" ] || ob_fail "h2c upgrade: $v"
v=$($C --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' "$base/nope")
[ "$v" = "2 404" ] || ob_fail "h2 404: $v"
$C --http2-prior-knowledge -H "Accept-Encoding: gzip" -D - -o /dev/null "$base/metrics" |
    grep -qi '^content-encoding: gzip' || ob_fail "h2 gzip"
if command -v nghttp >/dev/null; then
    nghttp -nv "$base/healthz" >"$T/n" 2>&1 || ob_fail "nghttp prior knowledge: $(tail "$T/n")"
    grep -q ':status: 200' "$T/n" || ob_fail "nghttp status"
    nghttp -nuv "$base/readyz" >"$T/n" 2>&1 || ob_fail "nghttp upgrade: $(tail "$T/n")"
    grep -q 'HTTP Upgrade success' "$T/n" || ob_fail "nghttp upgrade not taken"
    # Many concurrent streams on one connection.
    nghttp -n -m 50 "$base/healthz" >/dev/null 2>&1 || ob_fail "nghttp 50 streams"
fi

# ---- raw HTTP/1.1: pipelining and a malformed request beside a healthy one ----------------
if ob_has_python; then
    python3 - "$port" <<'PY' || ob_fail "raw HTTP/1.1 checks"
import re, socket, sys
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s
def read_all(s):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d
good = conn()
bad = conn()
bad.sendall(b"NOT HTTP\r\n\r\n")
r = read_all(bad)
assert r.startswith(b"HTTP/1.1 400"), r
good.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
             b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
r = read_all(good)
codes = re.findall(rb"HTTP/1\.1 (\d+)", r)
assert codes == [b"200", b"404", b"200"], codes
assert r.endswith(b"ready\n"), r[-50:]
PY
fi

# ---- WebSocket ------------------------------------------------------------------------
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
    /usr/bin/python3 - "$port" <<'PY' || ob_fail "websocket client checks"
import asyncio, sys
import websockets
port = int(sys.argv[1])
url = f"ws://127.0.0.1:{port}/v1/_echo"
async def main():
    async with websockets.connect(url, subprotocols=["echo"], compression="deflate") as ws:
        assert ws.subprotocol == "echo", ws.subprotocol
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in ext, ext
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        blob = bytes(range(256)) * 200
        await ws.send(blob)
        assert await ws.recv() == blob
        await ws.send(["frag-", "ments ", "joined"])
        assert await ws.recv() == "frag-ments joined"
        await asyncio.wait_for(await ws.ping(b"p"), 5)
        await ws.close(code=4000, reason="bye")
        assert ws.close_code == 4000, ws.close_code
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        await ws.send("plain")
        assert await ws.recv() == "plain"
        try:
            await ws.send(b"x" * (70 * 1024))  # over limits.max_msg_size (64 KiB)
            await asyncio.wait_for(ws.recv(), 5)
            raise SystemExit("too-big message was echoed")
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009, e
asyncio.run(main())
PY
else
    ob_fail "python3-websockets missing (scripts/deps.sh test)"
fi

# ---- the access log -----------------------------------------------------------------------
grep -q 'mod=http msg="request" method=GET path="/healthz" status=200 bytes=[0-9]* duration_ms=' "$OB_LOG" ||
    ob_fail "no access log line"
grep -q 'msg="request" method=GET path="/healthz" status=200 .* proto=h2' "$OB_LOG" ||
    ob_fail "no h2 access log line"

ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
