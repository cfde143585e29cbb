# http_config.sh — the http.* configuration keys end to end: --set http.access_log=false
# silences the access log, --set http.cors_origins=... changes what curl sees in the
# CORS answers, a SIGHUP applies a changed file (access log, CORS) and reports the
# restart-only key, a WebSocket client hears 1001 (going away) when the server stops,
# and bad values get positioned errors from `omnibus check-config`.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v curl >/dev/null || ob_fail "curl missing (scripts/deps.sh test)"
C="curl -sS --max-time 10"

# ---- --set: access log off, one allowed origin ---------------------------------------
port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.http=127.0.0.1:$port" \
    --set http.access_log=false --set http.cors_origins=https://a.example
ob_wait_log 'msg="listeners up"'
base="http://127.0.0.1:$port"
[ "$($C "$base/healthz")" = "ok" ] || ob_fail "/healthz"
$C -D "$T/h" -o /dev/null -H 'Origin: https://a.example' "$base/healthz"
grep -qi '^access-control-allow-origin: https://a.example' "$T/h" || ob_fail "allowed origin not echoed"
grep -qi '^vary: origin' "$T/h" || ob_fail "no Vary: Origin"
$C -D "$T/h" -o /dev/null -H 'Origin: https://b.example' "$base/healthz"
grep -qi '^access-control-allow-origin' "$T/h" && ob_fail "CORS headers for an origin not listed"
code=$($C -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: https://b.example' \
    -H 'Access-Control-Request-Method: POST' "$base/v1/subjects/x")
[ "$code" = "403" ] || ob_fail "preflight from an origin not listed: $code, want 403"
code=$($C -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: https://a.example' \
    -H 'Access-Control-Request-Method: POST' "$base/v1/subjects/x")
[ "$code" = "204" ] || ob_fail "preflight from the listed origin: $code, want 204"
sleep 0.2
grep -q 'msg="request"' "$OB_LOG" && ob_fail "access log lines with http.access_log=false"
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"

# ---- the file, then SIGHUP ----------------------------------------------------------------
cat >"$T/omnibus.yaml" <<YAML
listeners:
  http: 127.0.0.1:$port
http:
  access_log: false
  cors_origins: [https://a.example]
YAML
OB_HTTP_DEBUG_ECHO=1 # the WebSocket echo at /v1/_echo, for the shutdown check below
export OB_HTTP_DEBUG_ECHO
ob_start -c "$T/omnibus.yaml" --no-default-listeners
ob_wait_log 'msg="listeners up"'
$C -o /dev/null "$base/healthz"
$C -D "$T/h" -o /dev/null -H 'Origin: https://b.example' "$base/healthz"
grep -qi '^access-control-allow-origin' "$T/h" && ob_fail "file: CORS for an origin not listed"

cat >"$T/omnibus.yaml" <<YAML
listeners:
  http: 127.0.0.1:$port
http:
  access_log: true
  cors_origins: "*"
  max_headers: 50
YAML
kill -HUP "$OB_PID"
ob_wait_log 'msg="config reloaded" applied="http.cors_origins http.access_log" needs_restart="http.max_headers"'
grep -qF 'changed keys take effect only after a restart" keys="http.max_headers"' "$OB_LOG" ||
    ob_fail "no restart warning for http.max_headers"
grep -q 'msg="request"' "$OB_LOG" && ob_fail "access log lines before the reload"
$C -D "$T/h" -o /dev/null -H 'Origin: https://b.example' "$base/healthz"
grep -qi '^access-control-allow-origin: \*' "$T/h" || ob_fail "reloaded cors_origins \"*\" not applied"
ob_wait_log 'msg="request" method=GET path="/healthz" status=200' 5

# ---- shutdown: a WebSocket client hears 1001 ----------------------------------------------
if ob_has_python; then
    python3 - "$port" >"$T/ws.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /v1/_echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          b"Sec-WebSocket-Protocol: echo\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
if not buf.startswith(b"HTTP/1.1 101"):
    sys.exit("no 101: %r" % buf)
print("open", flush=True)
data = buf.split(b"\r\n\r\n", 1)[1]
while len(data) < 2 or len(data) < 2 + (data[1] & 0x7f):
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("EOF before a close frame")
    data += chunk
op, n = data[0] & 0x0f, data[1] & 0x7f
code = int.from_bytes(data[2:4], "big")
print("close op=%d code=%d reason=%s" % (op, code, data[4:2 + n].decode()), flush=True)
PY
    py=$!
    tries=50
    until grep -q '^open' "$T/ws.out" 2>/dev/null; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || ob_fail "WebSocket client did not connect: $(cat "$T/ws.out")"
        sleep 0.1
    done
    ob_stop TERM
    wait "$py" || ob_fail "WebSocket client: $(cat "$T/ws.out")"
    grep -qF 'close op=8 code=1001 reason=server shutting down' "$T/ws.out" ||
        ob_fail "WebSocket close on shutdown: $(cat "$T/ws.out")"
else
    ob_stop TERM
fi
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"

# ---- check-config: positioned errors ---------------------------------------------------
cat >"$T/bad.yaml" <<'YAML'
http:
  header_timeout: soon
  access_log: yes
  cors_origins: ["https://a.example", "https://a.example/app"]
  h2_max_streams: 0
YAML
"$OB" check-config -c "$T/bad.yaml" >"$T/out" 2>&1
status=$?
[ "$status" -eq 2 ] || ob_fail "exit status $status, want 2"
for want in \
    "$T/bad.yaml:2:19: http.header_timeout: expected a duration like 500ms, 30s, 5m, 24h or 7d, got \"soon\"" \
    "$T/bad.yaml:3:15: http.access_log: expected true or false, got \"yes\"" \
    "$T/bad.yaml:4:39: http.cors_origins[1]: expected \"*\" or an origin" \
    "$T/bad.yaml:5:19: http.h2_max_streams: 0 is out of range [1, 100000]"; do
    grep -qF -- "$want" "$T/out" || { cat "$T/out" >&2; ob_fail "missing: $want"; }
done
"$OB" check-config --set http.gzip=maybe >"$T/out" 2>&1
[ $? -eq 2 ] || ob_fail "--set http.gzip=maybe: wrong exit status"
grep -qF -- '--set http.gzip=maybe: http.gzip: expected true or false, got "maybe"' "$T/out" ||
    { cat "$T/out" >&2; ob_fail "--set error"; }
echo "ok"
