#!/bin/sh
# http_ws_to_sse_pull.sh — cross-protocol: messages published over the WebSocket protocol
# (python3-websockets, JSON and binary frames) arrive over SSE (curl, resuming from the
# stream with Last-Event-ID) and through a REST pull consumer, binary payloads intact;
# and an MQTT publish (mosquitto_pub) reaches the same SSE subscriber.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v jq >/dev/null || ob_fail "jq is required"
command -v mosquitto_pub >/dev/null || ob_fail "mosquitto-clients is required"
port=$(ob_free_port)
mport=$(ob_free_port)
ob_start --no-default-listeners --set listeners.http=127.0.0.1:$port \
    --set listeners.mqtt=127.0.0.1:$mport
ob_wait_log 'msg="listeners up"' 10
U=http://127.0.0.1:$port
J="-H Content-Type:application/json"
curl -s -m 5 -o /dev/null -X PUT $J -d '{"subjects":["ws.>","mq.>"]}' "$U/v1/streams/X"
curl -s -m 5 -o /dev/null -X PUT $J -d '{"filter":"ws.>"}' "$U/v1/streams/X/consumers/pull"

timeout 20 /usr/bin/python3 - "$port" <<'PY' || ob_fail "WebSocket publisher failed"
import asyncio, json, sys, websockets
async def main():
    async with websockets.connect(f"ws://127.0.0.1:{sys.argv[1]}/v1/ws",
                                  subprotocols=["omnibus.v1.bin"]) as ws:
        await ws.send(json.dumps({"op": "pub", "subject": "ws.text", "payload": "hello", "req": 1}))
        hdr = json.dumps({"op": "pub", "subject": "ws.bin", "headers": {"t": "b"}, "req": 2}).encode()
        await ws.send(len(hdr).to_bytes(4, "big") + hdr + bytes([0, 0xff, 0x10]))
        acks = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
        assert [a["seq"] for a in acks] == [1, 2], acks
asyncio.run(main())
PY

# SSE from the start of the stream (Last-Event-ID X:0 is not a position: use from_seq)
curl -s -N -m 3 "$U/v1/subscribe?subject=ws.>&subject=mq.>&from_seq=1" >"$T/sse" &
sse=$!
sleep 1
mosquitto_pub -h 127.0.0.1 -p "$mport" -t mq/temp -m 21.5 -q 1 || ob_fail "mosquitto_pub"
wait $sse
grep '^data: ' "$T/sse" | cut -c7- >"$T/sse.json"
[ "$(grep '^id: ' "$T/sse" | tr '\n' ' ')" = "id: X:1 id: X:2 id: X:3 " ] || ob_fail "SSE ids: $(cat "$T/sse")"
jq -e -s '.[0].payload == "hello" and .[1].payload_base64 == "AP8Q" and .[1].headers.t == "b"
          and .[2].subject == "mq.temp" and .[2].payload == "21.5"' "$T/sse.json" >/dev/null ||
    ob_fail "SSE data: $(cat "$T/sse.json")"
# resume after X:1 with the header
curl -s -N -m 1 -H 'Last-Event-ID: X:1' "$U/v1/subscribe?subject=ws.>&subject=mq.>" >"$T/r"
[ "$(grep '^id: ' "$T/r" | tr '\n' ' ')" = "id: X:2 id: X:3 " ] || ob_fail "resume: $(cat "$T/r")"

# REST pull consumer (filter ws.>) gets both WebSocket messages, binary intact, and acks them
out=$(curl -s -m 5 -X POST $J -d '{"max_messages":10}' "$U/v1/streams/X/consumers/pull/pull")
echo "$out" | jq -e '.messages | length == 2 and .[1].message.payload_base64 == "AP8Q"' >/dev/null ||
    ob_fail "pull: $out"
ids=$(echo "$out" | jq -c '[.messages[].ack_id]')
out=$(curl -s -m 5 -X POST $J -d "{\"ack_ids\":$ids}" "$U/v1/streams/X/consumers/pull/ack")
echo "$out" | jq -e '.acked == 2' >/dev/null || ob_fail "ack: $out"
echo "http_ws_to_sse_pull: ok"
