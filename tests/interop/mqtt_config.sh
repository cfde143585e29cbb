# mqtt_config.sh — the mqtt.* config keys as MQTT clients see them: a paho v5 client
# reads the changed Receive Maximum, Topic Alias Maximum, Maximum Packet Size and Server
# Keep Alive from the CONNACK; a raw client checks that the alias and packet limits are
# enforced (DISCONNECT 0x94 / 0x95), the inflight window and queue, the $SYS period,
# and a receive maximum of 1.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port" \
    --set mqtt.receive_maximum=17 --set mqtt.topic_alias_maximum=3 \
    --set mqtt.max_packet_size=2KiB --set mqtt.max_keepalive=30 \
    --set mqtt.max_inflight_messages=2 --set mqtt.max_queued_messages=3 \
    --set mqtt.sys_interval=1s
ob_wait_log 'msg="listeners up"'
MQTT_PORT=$port timeout 60 /usr/bin/python3 - <<'PY' || ob_fail "mqtt config cases failed"
import os, sys, threading
import paho.mqtt.client as mqtt
sys.path.insert(0, os.path.join(os.environ["OB_SRC"], "tests/interop/mqtt"))
from raw import DISCONNECT, PUBACK, Raw
port = int(os.environ["MQTT_PORT"])

got = {}
done = threading.Event()
def on_connect(c, u, flags, rc, props=None):
    got["rc"] = rc
    got["props"] = props
    done.set()
c = mqtt.Client(client_id="cfg", protocol=mqtt.MQTTv5)
c.on_connect = on_connect
c.connect("127.0.0.1", port, keepalive=600)  # above the cap: Server Keep Alive 30
c.loop_start()
assert done.wait(10), "no CONNACK"
c.loop_stop()
c.disconnect()
p = got["props"]
assert got["rc"] == 0, got
assert p.ReceiveMaximum == 17, p
assert p.TopicAliasMaximum == 3, p
assert p.MaximumPacketSize == 2048, p
assert p.ServerKeepAlive == 30, p
print("ok paho_v5_connack_properties")

r = Raw(5)
r.connect_ok(keepalive=10)  # below the cap: no Server Keep Alive
r.close()
r = Raw(5)
_, pr = r.connect_ok(keepalive=0)
assert pr.get(0x13) == 30, pr
print("ok keepalive_0_gets_cap")

r = Raw(5)
r.connect_ok()
r.publish("t", "x", p=[(0x23, 4)])  # alias 4 > maximum 3
_, b = r.expect(DISCONNECT)
assert b[0] == 0x94, b
print("ok alias_above_maximum_0x94")

r = Raw(5)
r.connect_ok()
r.publish("big", "x" * 2100)
_, b = r.expect(DISCONNECT)
assert b[0] == 0x95, b
print("ok packet_above_maximum_0x95")

# max_inflight_messages=2, max_queued_messages=3: a clean subscriber that does not ack
# holds 2 QoS 1 PUBLISH, 3 more wait in its session and the rest are dropped; each
# PUBACK lets exactly one more go.
sub = Raw(5)
sub.connect_ok(p=[(0x21, 100)])
sub.sub_ok("win", 1)
pub = Raw(5)
pub.connect_ok()
for i in range(8):
    pub.publish("win", "m%d" % i, qos=1, pid=i + 1)
    pub.read_ack(PUBACK)
first = [sub.read_publish() for _ in range(2)]
assert [m["payload"] for m in first] == [b"m0", b"m1"], first
assert sub.nothing(1.0), "a third PUBLISH beyond max_inflight_messages"
sub.ack(PUBACK, first[0]["pid"])
m = sub.read_publish()
assert m["payload"] == b"m2", m
assert sub.nothing(0.5), "more than one PUBLISH after one PUBACK"
rest = [first[1], m]
for want in (b"m3", b"m4"):
    sub.ack(PUBACK, rest.pop(0)["pid"])
    m = sub.read_publish()
    assert m["payload"] == want, m
    rest.append(m)
for m in rest:
    sub.ack(PUBACK, m["pid"])
assert sub.nothing(1.0), "a message beyond max_queued_messages was kept"
print("ok max_inflight_and_queued_messages")

# sys_interval=1s: after the retained copy sent at SUBSCRIBE, periodic ones follow
# (the default, 10 s, would not come within the 5 s read timeout).
sys_sub = Raw(5)
sys_sub.connect_ok()
sys_sub.sub_ok("$SYS/broker/uptime", 0)
m = sys_sub.read_publish()
assert m["retain"], m
for _ in range(2):
    m = sys_sub.read_publish()
    assert m["topic"] == "$SYS/broker/uptime" and not m["retain"], m
print("ok sys_interval")
PY
ob_stop TERM

# The smallest receive maximum: reading pauses at each publish awaiting its ack and
# resumes once it is sent, so a 3.1.1 publisher gets every PUBACK, one at a time or
# pipelined.
mv "$OB_LOG" "$T/server1.log"
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port" \
    --set mqtt.receive_maximum=1
ob_wait_log 'msg="listeners up"'
MQTT_PORT=$port timeout 60 /usr/bin/python3 - <<'PY' || ob_fail "receive_maximum=1 case failed"
import os, sys
sys.path.insert(0, os.path.join(os.environ["OB_SRC"], "tests/interop/mqtt"))
from raw import PUBACK, Raw
keep = Raw(4)  # a persistent QoS 1 subscriber: publishes are stored, acks wait for it
keep.connect_ok("rm-keep", clean=False)
keep.sub_ok("rm/#", 1)
r = Raw(4)
r.connect_ok("rm1")
for pid in range(1, 6):  # one at a time: each waits for the read to resume
    r.publish("rm/x", "m", qos=1, pid=pid)
    assert r.read_ack(PUBACK)[0] == pid
for pid in range(6, 26):
    r.publish("rm/x", "m", qos=1, pid=pid)
assert [r.read_ack(PUBACK)[0] for _ in range(20)] == list(range(6, 26))
print("ok receive_maximum_1")
PY
ob_stop TERM
echo "ok"
