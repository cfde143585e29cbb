# mqtt_ws.sh — MQTT over WebSocket at /mqtt on the http listener, with MQTT.js (npm
# mqtt, tests/interop/mqtt/node) in 5.0 and 3.1.1, crossing to a TCP client; and with
# Paho's websockets transport. Fails when node/npm are missing (scripts/deps.sh test).
. "$OB_SRC/tests/lib/common.sh"
ob_setup
N="$OB_SRC/tests/interop/mqtt/node"
command -v node >/dev/null || ob_fail "node missing (scripts/deps.sh test)"
sh "$N/ensure.sh" || ob_fail "npm packages could not be installed"
mport=$(ob_free_port)
hport=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$mport" \
    --set "listeners.http=127.0.0.1:$hport"
ob_wait_log 'msg="listeners up"'
(cd "$N" && timeout 60 node mqtt_ws.mjs "$hport" "$mport") || ob_fail "MQTT.js over WebSocket"
if /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null; then
    timeout 30 /usr/bin/python3 - "$hport" <<'PY' || ob_fail "Paho over WebSocket"
import queue, sys, time
import paho.mqtt.client as mqtt
q = queue.Queue()
def client(cid):
    c = mqtt.Client(cid, transport="websockets", protocol=mqtt.MQTTv311)
    c.ws_set_options(path="/mqtt")
    c.on_message = lambda cl, u, m: q.put(m)
    c.connect("127.0.0.1", int(sys.argv[1]))
    c.loop_start()
    return c
s = client("paho-ws-sub")
time.sleep(0.3)
s.subscribe("paho/ws", 1)
time.sleep(0.3)
p = client("paho-ws-pub")
p.publish("paho/ws", "hello", 1).wait_for_publish(5)
m = q.get(timeout=5)
assert m.payload == b"hello", m.payload
print("ok Paho websockets transport")
PY
fi
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
