# http_stress.sh — the HTTP server layer under abuse, then still serving: clients that
# vanish mid-head, mid-body, mid-pipeline and right after an HTTP/2 preface; random
# bytes after an HTTP/1.1 request line, an HTTP/2 preface and a WebSocket upgrade
# (seeded, so a failure replays); WebSocket clients (python3-websockets) that abort
# their TCP connection mid-conversation, with and without permessage-deflate; SSE
# clients cut off. The server must stay up and answer /healthz; the unit tests run the
# same paths under ASan.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
ob_has_python || { echo "skip: no python3"; exit 0; }

port=$(ob_free_port)
OB_HTTP_DEBUG_ECHO=1
export OB_HTTP_DEBUG_ECHO
OB_HTTP_ACCESS_LOG=0
export OB_HTTP_ACCESS_LOG
ob_start --no-default-listeners --set "listeners.http=127.0.0.1:$port"
ob_wait_log 'msg="listeners up"'
base="http://127.0.0.1:$port"

python3 - "$port" <<'PY' || ob_fail "raw abuse"
import random, socket, sys
port = int(sys.argv[1])
rnd = random.Random(20261125)
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    return s
for i in range(300):
    s = conn()
    s.sendall(b"POST /v1/_nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
              b"x" * rnd.randint(0, 99))
    if i % 2:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
    if i % 3 == 0:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    s.close()
prefixes = [b"GET / HTTP/1.1\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /v1/_echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b""]
for i in range(300):
    s = conn()
    s.settimeout(0.3)
    s.sendall(rnd.choice(prefixes) + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 400))))
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
    /usr/bin/python3 - "$port" <<'PY' || ob_fail "websocket abuse"
import asyncio, random, sys
import websockets
port = int(sys.argv[1])
rnd = random.Random(7)
async def one(i):
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/_echo",
                                      compression="deflate" if i % 2 else None) as ws:
            for _ in range(10):
                msg = "x" * rnd.randint(0, 5000)
                await ws.send(msg)
                assert await ws.recv() == msg
            if i % 3 == 0:
                ws.transport.abort()
    except websockets.ConnectionClosed:
        pass
async def main():
    await asyncio.gather(*[one(i) for i in range(40)])
asyncio.run(main())
PY
fi

for i in 1 2 3; do
    curl -sN --max-time 0.3 "$base/v1/subscribe?subject=stress.>" -H "Accept: text/event-stream" >/dev/null
    curl -sN --max-time 0.3 --http2-prior-knowledge "$base/v1/subscribe?subject=stress.>" >/dev/null
done

[ "$(curl -sS --max-time 5 "$base/healthz")" = "ok" ] || ob_fail "the server stopped answering"
kill -0 "$OB_PID" || ob_fail "the server died"
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
