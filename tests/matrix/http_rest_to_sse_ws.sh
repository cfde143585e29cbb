#!/bin/sh
# http_rest_to_sse_ws.sh — cross-protocol: messages published over REST arrive over SSE
# (curl) and over the WebSocket protocol (python3-websockets) at the same time, for a
# live subject and for a stream-backed one (ids are stream positions on both), with the
# payload, headers and key intact.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v jq >/dev/null || ob_fail "jq is required"
port=$(ob_free_port)
ob_start --no-default-listeners --set listeners.http=127.0.0.1:$port
ob_wait_log 'msg="listeners up"' 10
U=http://127.0.0.1:$port
curl -s -m 5 -o /dev/null -X PUT -H 'Content-Type: application/json' \
    -d '{"subjects":["dur.>"]}' "$U/v1/streams/DUR"

curl -s -N -m 4 "$U/v1/subscribe?subject=live.>&subject=dur.>" >"$T/sse" &
sse=$!
timeout 20 /usr/bin/python3 - "$port" "$T/ws" <<'PY' &
import asyncio, json, sys, websockets
async def main():
    async with websockets.connect(f"ws://127.0.0.1:{sys.argv[1]}/v1/ws") as ws:
        await ws.send(json.dumps({"op": "sub", "id": "l", "subject": "live.>"}))
        await ws.send(json.dumps({"op": "sub", "id": "d", "subject": "dur.>"}))
        got = []
        while len(got) < 4:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m["op"] == "msg":
                got.append(m)
        open(sys.argv[2], "w").write(json.dumps(got))
asyncio.run(main())
PY
ws=$!
sleep 1
for s in live.a dur.a live.b dur.b; do
    curl -s -m 5 -o /dev/null -H "Omnibus-Header-Origin: rest" -H "Omnibus-Key: key-$s" \
        -d "payload $s" "$U/v1/subjects/$s" || ob_fail "publish $s"
done
wait $ws || ob_fail "WebSocket subscriber failed"
wait $sse
# SSE: both live and stream messages, in publish order, with headers and keys
grep '^data: ' "$T/sse" | cut -c7- >"$T/sse.json"
[ "$(jq -r .subject "$T/sse.json" | tr '\n' ' ')" = "live.a dur.a live.b dur.b " ] ||
    ob_fail "SSE subjects: $(cat "$T/sse")"
[ "$(jq -r '.headers.origin + "/" + .key' "$T/sse.json" | sort -u | wc -l)" = 4 ] ||
    ob_fail "SSE headers/keys: $(cat "$T/sse.json")"
jq -e -s 'map(.headers.origin == "rest") | all' "$T/sse.json" >/dev/null || ob_fail "SSE header lost"
# WebSocket: ids are stream positions for dur.*, numbers for live.*
jq -e '[.[] | select(.sub == "d") | .id] == ["DUR:1", "DUR:2"]' "$T/ws" >/dev/null ||
    ob_fail "WS stream ids: $(cat "$T/ws")"
jq -e '[.[] | select(.sub == "l") | .message.payload] == ["payload live.a", "payload live.b"]' \
    "$T/ws" >/dev/null || ob_fail "WS live payloads: $(cat "$T/ws")"
jq -e 'map(.message.key == ("key-" + .message.subject)) | all' "$T/ws" >/dev/null ||
    ob_fail "WS keys: $(cat "$T/ws")"
echo "http_rest_to_sse_ws: ok"
