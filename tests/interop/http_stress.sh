# http_stress.sh — the HTTP server layer under abuse, then still serving: clients that
# vanish mid-head, mid-body, mid-pipeline and right after an HTTP/2 preface; random
# bytes after an HTTP/1.1 request line, an HTTP/2 preface and a WebSocket upgrade
# (seeded, so a failure replays); WebSocket clients (python3-websockets) that abort
# their TCP connection mid-conversation, with and without permessage-deflate; SSE
# clients cut off. The server must stay up and answer /healthz; the unit tests run the
# same paths under ASan.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
ob_has_python || ob_fail "python3 missing (scripts/deps.sh test)"

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

# Mutated valid conversations (pipelines, chunked, 100-continue, CORS, WebSocket with
# deflate, h2c upgrade, HTTP/2 prior knowledge, SSE), sent in random slices.
python3 - "$port" <<'PY' || ob_fail "mutated conversations"
import os, random, socket, struct, sys
port = int(sys.argv[1])
rnd = random.Random(42)
def wsframe(op, payload, fin=True, rsv=0):
    mask = bytes(rnd.getrandbits(8) for _ in range(4))
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | op
    hdr = bytes([b0, 0x80 | n]) if n < 126 else bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
up = (b"GET /v1/_echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
seeds = [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
    b"POST /v1/subjects/a.b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    b"HEAD /healthz HTTP/1.0\r\n\r\n",
    b"POST /v1/subjects/a.b HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
    b"OPTIONS /healthz HTTP/1.1\r\nOrigin: x\r\nAccess-Control-Request-Method: GET\r\n\r\n",
    up + wsframe(1, b"hello", False) + wsframe(9, b"p") + wsframe(0, b" world") +
    wsframe(2, b"\x00" * 300) + wsframe(8, b"\x03\xe8"),
    up + wsframe(1, b"\xf2\xfc\xcf\x07\x00", True, 0x40) + wsframe(1, b"abc"),
    b"GET /healthz HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x0e\x01\x05\x00"
    b"\x00\x00\x01\x82\x86\x84\x41\x8a\x08\x9d\x5c\x0b\x81\x70\xdc\x78\x0f\x03",
    b"GET /v1/subscribe?subject=a.%3E HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n",
]
def mutate(b):
    b = bytearray(b)
    for _ in range(rnd.randint(1, 6)):
        k = rnd.random()
        if k < 0.3 and b:
            b[rnd.randrange(len(b))] = rnd.getrandbits(8)
        elif k < 0.5 and b:
            i = rnd.randrange(len(b))
            del b[i:i + rnd.randint(1, 20)]
        elif k < 0.7:
            i = rnd.randrange(len(b) + 1)
            b[i:i] = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 10)))
        elif k < 0.85 and b:
            i = rnd.randrange(len(b))
            b[i:i] = b[i:i + rnd.randint(1, 50)]
        else:
            b = b[:rnd.randrange(len(b) + 1)]
    return bytes(b)
for _ in range(400):
    data = mutate(rnd.choice(seeds))
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.settimeout(0.1)
    try:
        pos = 0
        while pos < len(data):
            step = rnd.choice([1, 7, 64, 100000])
            s.sendall(data[pos:pos + step])
            pos += step
        if rnd.random() < 0.2:
            while s.recv(65536):
                pass
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
