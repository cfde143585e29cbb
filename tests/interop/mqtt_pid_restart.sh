# mqtt_pid_restart.sh — outbound packet ids survive a restart (MQTT-4.4.0-1): a
# persistent v5 subscriber holds an unacked QoS 1 message, a QoS 2 message it answered
# with PUBREC (PUBREL received, PUBCOMP not sent) and an unanswered QoS 2 message when the
# broker is killed with SIGKILL. After the restart it gets both PUBLISHes again with DUP
# and their original packet ids, and a PUBREL (not a PUBLISH) for the released one; once
# everything is completed, a graceful restart brings no message back.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
start() {
    ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port"
    ob_wait_log 'msg="listeners up"'
}
export MQTT_PORT=$port
cat >"$T/pid.py" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["OB_SRC"], "tests/interop/mqtt"))
from raw import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, Raw
import struct
step, state = sys.argv[1], sys.argv[2]
SESSION = [(0x11, 600)]

def publisher():
    pub = Raw(5)
    pub.connect_ok("pidpub")
    for pid, (topic, qos) in enumerate([("pid/a", 1), ("pid/b", 2), ("pid/c", 2)], 1):
        pub.publish(topic, topic, qos=qos, pid=pid)
        if qos == 1:
            assert pub.read_ack(PUBACK)[0] == pid
        else:
            assert pub.read_ack(PUBREC)[0] == pid
            pub.ack(PUBREL, pid)
            assert pub.read_ack(PUBCOMP)[0] == pid
    pub.disconnect()

if step == "before":
    sub = Raw(5)
    sub.connect_ok("pidsub", clean=False, p=SESSION)
    sub.sub_ok("pid/#", 2)
    publisher()
    got = {}
    for _ in range(3):
        m = sub.read_publish()
        got[m["payload"].decode()] = m["pid"]
    assert sorted(got) == ["pid/a", "pid/b", "pid/c"], got
    sub.ack(PUBREC, got["pid/b"])
    # The PUBREL comes once the released state is durable: safe to kill now.
    assert sub.read_ack(PUBREL)[0] == got["pid/b"]
    json.dump(got, open(state, "w"))
elif step == "after":
    was = json.load(open(state))
    sub = Raw(5, timeout=10)
    sp, _ = sub.connect_ok("pidsub", clean=False, p=SESSION)
    assert sp == 1, "session lost"
    pubs, rels = {}, []
    while len(pubs) < 2 or not rels:
        t, f, b = sub.read()
        if t == PUBLISH:
            ln = struct.unpack_from(">H", b)[0]
            pid = struct.unpack_from(">H", b, 2 + ln)[0]
            topic = b[2:2 + ln].decode()
            assert f & 8, "redelivered without DUP: %s" % topic
            assert topic != "pid/b", "released QoS 2 message sent again as PUBLISH"
            pubs[topic] = pid
        elif t == PUBREL:
            rels.append(struct.unpack_from(">H", b)[0])
        else:
            raise AssertionError("unexpected packet type %d" % t)
    assert pubs == {"pid/a": was["pid/a"], "pid/c": was["pid/c"]}, (pubs, was)
    assert rels == [was["pid/b"]], (rels, was)
    sub.ack(PUBACK, was["pid/a"])
    sub.ack(PUBCOMP, was["pid/b"])
    sub.ack(PUBREC, was["pid/c"])
    assert sub.read_ack(PUBREL)[0] == was["pid/c"]
    sub.ack(PUBCOMP, was["pid/c"])
    assert sub.nothing(1.0), "more after completing everything"
    sub.disconnect()
elif step == "done":
    was = json.load(open(state))
    sub = Raw(5, timeout=10)
    sp, _ = sub.connect_ok("pidsub", clean=False, p=SESSION)
    assert sp == 1, "session lost"
    # A PUBREL for an id the client already completed may come again (the record is
    # rewritten at the next PUBREC, not at PUBCOMP); it is answered with PUBCOMP.
    sub.sock.settimeout(1.0)
    try:
        while True:
            t, _, b = sub.read()
            assert t == PUBREL, "packet type %d after a clean restart" % t
            pid = struct.unpack_from(">H", b)[0]
            assert pid == was["pid/c"], pid
            sub.ack(PUBCOMP, pid, 0x92)
    except OSError:
        pass
    sub.disconnect()
print("ok", step)
PY
P="/usr/bin/python3 $T/pid.py"
start
$P before "$T/pids.json" || ob_fail "before the kill"
kill -KILL "$OB_PID"
wait "$OB_PID" 2>/dev/null
OB_PID=""
mv "$OB_LOG" "$T/server1.log"
start
$P after "$T/pids.json" || ob_fail "packet ids after kill -9 and restart"
ob_stop TERM
mv "$OB_LOG" "$T/server2.log"
start
$P done "$T/pids.json" || ob_fail "after a graceful restart"
ob_stop TERM
echo "ok"
