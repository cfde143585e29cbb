#!/bin/sh
# ws_python.sh — the WebSocket pub/sub protocol at /v1/ws with Debian's python3-websockets
# (/usr/bin/python3): subscribe/unsubscribe, publish with durable acks, resume from a
# stream sequence, the binary variant (subprotocol omnibus.v1.bin), errors, and a slow
# live subscriber closed with 1008 while another client is unaffected.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
/usr/bin/python3 -c 'import websockets' 2>/dev/null || ob_fail "python3-websockets is required"
port=$(ob_free_port)
ob_start --no-default-listeners --set listeners.http=127.0.0.1:$port \
    --set limits.conn_write_buffer=64KiB
ob_wait_log 'msg="listeners up"' 10
curl -s -m 5 -o /dev/null -X PUT -H 'Content-Type: application/json' \
    -d '{"subjects":["orders.>"]}' "http://127.0.0.1:$port/v1/streams/ORD"

timeout 60 /usr/bin/python3 - "$port" <<'PY' || ob_fail "python client failed"
import asyncio, json, sys
import websockets

URL = f"ws://127.0.0.1:{sys.argv[1]}/v1/ws"

async def recv_json(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 5))

async def expect(ws, **fields):
    m = await recv_json(ws)
    for k, v in fields.items():
        assert m.get(k) == v, f"{k}: {m!r} (want {v!r})"
    return m

async def text_protocol():
    async with websockets.connect(URL, subprotocols=["omnibus.v1"]) as a, \
               websockets.connect(URL) as b:
        assert a.subprotocol == "omnibus.v1"
        await a.send(json.dumps({"op": "sub", "id": "o", "subject": "orders.>", "req": 1}))
        await expect(a, op="subscribed", id="o", stream="ORD", req=1)
        await a.send(json.dumps({"op": "sub", "id": "c", "subjects": ["chat.*"], "req": 2}))
        await expect(a, op="subscribed", id="c", stream=None)
        # b publishes; a receives; b gets a durable ack with the sequence
        await b.send(json.dumps({"op": "pub", "subject": "orders.eu", "payload": "p1",
                                 "headers": {"h": "v"}, "key": "k", "req": "x1"}))
        ack = await expect(b, op="ack", req="x1", stream="ORD", seq=1)
        m = await expect(a, op="msg", sub="o", id="ORD:1")
        assert m["message"]["payload"] == "p1" and m["message"]["headers"]["h"] == "v"
        assert m["message"]["key"] == "k"
        await b.send(json.dumps({"op": "pub", "subject": "chat.room", "payload_base64": "/wA=",
                                 "req": "x2"}))
        await expect(b, op="ack", req="x2", stream=None, seq=0)
        m = await expect(a, op="msg", sub="c")
        assert m["message"]["payload_base64"] == "/wA=" and m["id"].isdigit()
        # unsubscribe: nothing more arrives for it
        await a.send(json.dumps({"op": "unsub", "id": "c", "req": 3}))
        await expect(a, op="unsubscribed", id="c", req=3)
        await b.send(json.dumps({"op": "pub", "subject": "chat.room", "payload": "gone"}))
        await b.send(json.dumps({"op": "pub", "subject": "orders.us", "payload": "p2", "req": "x3"}))
        await expect(b, op="ack", req="x3", seq=2)
        m = await expect(a, op="msg", sub="o", id="ORD:2")  # not the chat message
        # resume from a sequence: the whole log in order, then live
        await b.send(json.dumps({"op": "sub", "id": "r", "subject": "orders.>", "from_seq": 1}))
        await expect(b, op="subscribed", id="r", stream="ORD", cursor=1)
        ids = [(await expect(b, op="msg", sub="r"))["id"] for _ in range(2)]
        assert ids == ["ORD:1", "ORD:2"], ids
        # errors
        for bad, typ in [({"op": "sub", "id": "o", "subject": "orders.>"}, "conflict"),
                         ({"op": "sub", "id": "z", "subject": "a..b"}, "bad-subject"),
                         ({"op": "sub", "id": "z", "subject": "chat.*", "from_seq": 1},
                          "invalid-request"),
                         ({"op": "pub", "subject": "x.*", "payload": ""}, "bad-subject"),
                         ({"op": "unsub", "id": "nope"}, "not-found"),
                         ({"op": "dance"}, "invalid-request")]:
            bad["req"] = "e"
            await a.send(json.dumps(bad))
            await expect(a, op="error", req="e", type=typ)
        # at most 256 subscriptions per connection ("o" is one)
        for i in range(255):
            await a.send(json.dumps({"op": "sub", "id": f"x{i}", "subject": f"many.{i}"}))
        for i in range(255):
            await expect(a, op="subscribed")
        await a.send(json.dumps({"op": "sub", "id": "one-too-many", "subject": "many.x", "req": "m"}))
        await expect(a, op="error", req="m", type="limit", status=429)
        await a.send("not json")
        await expect(a, op="error", type="invalid-json")
        await a.send(json.dumps({"op": "ping", "req": 7}))
        await expect(a, op="pong", req=7)

async def stream_deleted():
    # a stream-backed subscription ends (410 stream-deleted, once) when its stream goes
    import urllib.request
    base = URL.replace("ws://", "http://").replace("/v1/ws", "")
    def http(method, path, body=None):
        r = urllib.request.Request(base + path, data=body, method=method,
                                   headers={"Content-Type": "application/json"})
        return urllib.request.urlopen(r, timeout=5).status
    assert http("PUT", "/v1/streams/TMPW", b'{"subjects":["tmpw.>"]}') == 201
    async with websockets.connect(URL) as w:
        await w.send(json.dumps({"op": "sub", "id": "t", "subject": "tmpw.>"}))
        await expect(w, op="subscribed", stream="TMPW")
        assert http("DELETE", "/v1/streams/TMPW") == 204
        for i in range(2):
            await w.send(json.dumps({"op": "pub", "subject": "tmpw.x", "payload": "p", "req": i}))
            await expect(w, op="ack", req=i, stream=None)
            if i == 0:
                await expect(w, op="error", status=410, type="stream-deleted", detail="t")
        await w.send(json.dumps({"op": "ping", "req": "after"}))
        await expect(w, op="pong", req="after")  # no second error in between

async def binary_protocol():
    async with websockets.connect(URL, subprotocols=["omnibus.v1.bin"]) as c:
        assert c.subprotocol == "omnibus.v1.bin"
        await c.send(json.dumps({"op": "sub", "id": "s", "subject": "bin.>"}))
        await expect(c, op="subscribed")
        hdr = json.dumps({"op": "pub", "subject": "bin.x", "req": 1}).encode()
        await c.send(len(hdr).to_bytes(4, "big") + hdr + b"\x00\xff\x01")
        got_ack = got_msg = False
        for _ in range(2):
            f = await asyncio.wait_for(c.recv(), 5)
            if isinstance(f, str):
                assert json.loads(f)["op"] == "ack"
                got_ack = True
                continue
            n = int.from_bytes(f[:4], "big")
            h = json.loads(f[4:4 + n])
            assert h["op"] == "msg" and h["message"]["subject"] == "bin.x"
            assert "payload" not in h["message"] and f[4 + n:] == b"\x00\xff\x01"
            got_msg = True
        assert got_ack and got_msg
        await c.send(b"\x00\x00\x01\x00{}")  # header length past the frame
        await expect(c, op="error", type="invalid-frame")

async def slow_live_subscriber():
    slow = await websockets.connect(URL, max_queue=1, read_limit=4096, compression=None)
    slow.transport.get_extra_info("socket").setsockopt(__import__("socket").SOL_SOCKET,
                                                       __import__("socket").SO_RCVBUF, 4096)
    await slow.send(json.dumps({"op": "sub", "id": "f", "subject": "flood"}))
    await expect(slow, op="subscribed")
    async with websockets.connect(URL) as pub:
        blob = "x" * 60000
        for i in range(300):
            await pub.send(json.dumps({"op": "pub", "subject": "flood", "payload": blob, "req": i}))
            await expect(pub, op="ack", req=i)
        await pub.send(json.dumps({"op": "ping", "req": "alive"}))
        await expect(pub, op="pong", req="alive")
    code = None
    try:
        while True:
            await asyncio.wait_for(slow.recv(), 5)
    except websockets.ConnectionClosed as e:
        code = e.code
    # 1008 when the close frame gets through the backlog, 1006 when the server had to
    # abort the connection first; the server log line below proves which side cut
    assert code in (1008, 1006), f"slow subscriber closed with {code}"

async def main():
    await text_protocol()
    await stream_deleted()
    await binary_protocol()
    await slow_live_subscriber()

asyncio.run(main())
print("python websockets client: ok")
PY
grep -q 'slow client cut off' "$OB_LOG" || ob_fail "no log line for the cut-off"
echo "ws_python: ok"
