"""restart.py — steps of the kill -9 restart test (tests/interop/mqtt_restart.sh).
  restart.py subscribe CID TOPIC            persistent session (3.1.1 clean 0), QoS 1
  restart.py publish TOPIC N ACKFILE        pipelined QoS 1; each PUBACKed id -> ACKFILE
  restart.py retain TOPIC PAYLOAD           a retained QoS 1 message
  restart.py verify CID TOPIC ACKFILE       reconnect: session present, every acked id
                                            received (none twice), retained still there
  restart.py q2pub TOPIC                    a persistent publisher sends a QoS 2 PUBLISH
                                            and gets PUBREC, no PUBREL (then kill -9)
  restart.py sharedsub TOPIC                two persistent members of $share/grp/TOPIC go
                                            offline; 10 QoS 1 messages are queued
  restart.py sharedverify TOPIC             after the restart one member gets all 10
  restart.py q2verify TOPIC                 it resends the PUBLISH (DUP) after the restart:
                                            PUBREC, PUBREL, PUBCOMP; the subscriber gets
                                            the message exactly once
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw import PUBACK, PUBCOMP, PUBREC, PUBREL, Closed, Raw  # noqa: E402


def subscribe(cid, topic):
    c = Raw(4)
    c.connect_ok(cid, clean=False)
    c.sub_ok(topic + "/#", opts=1)
    c.disconnect()


def publish(topic, n, ackfile):
    c = Raw(4)
    c.connect_ok()
    out = open(ackfile, "w")

    def reader():
        try:
            while True:
                pid, _ = c.read_ack(PUBACK)
                out.write("%d\n" % pid)
                out.flush()
        except (Closed, OSError, AssertionError):
            pass

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(1, n + 1):
            c.publish("%s/m" % topic, "msg-%d" % i, qos=1, pid=i)
    except OSError:
        pass
    th.join(30)


def retain(topic, payload):
    c = Raw(4)
    c.connect_ok()
    c.publish(topic, payload, qos=1, pid=1, retain=True)
    c.read_ack(PUBACK)
    c.disconnect()


def verify(cid, topic, ackfile):
    acked = {int(x) for x in open(ackfile).read().split()}
    c = Raw(4, timeout=10)
    sp, _ = c.connect_ok(cid, clean=False)
    assert sp == 1, "session not present after restart"
    got = []
    c.sock.settimeout(3)
    try:
        while True:
            m = c.read_publish()
            if m["qos"]:
                c.ack(PUBACK, m["pid"])
            got.append(m)
    except (socket.timeout, TimeoutError):
        pass
    ids = [int(m["payload"].decode().split("-")[1]) for m in got if m["topic"] == topic + "/m"]
    missing = acked - set(ids)
    dups = len(ids) - len(set(ids))
    retained = [m for m in got if m["topic"] == topic + "/kept"]
    print("acked=%d received=%d missing=%d duplicates=%d retained=%d" %
          (len(acked), len(ids), len(missing), dups, len(retained)))
    assert not missing, "acked but lost: %s" % sorted(missing)[:20]
    assert dups == 0, "duplicates"
    c2 = Raw(4)
    c2.connect_ok()
    c2.sub_ok(topic + "/kept", opts=1)
    m = c2.read_publish()
    assert m["retain"] and m["payload"] == b"survives", m


def q2pub(topic):
    s = Raw(4)
    s.connect_ok("q2-sub", clean=False)
    s.sub_ok(topic, opts=2)
    s.disconnect()
    c = Raw(4)
    c.connect_ok("q2-pub", clean=False)
    c.publish(topic, "exactly-once", qos=2, pid=77)
    assert c.read_ack(PUBREC)[0] == 77
    c.close()


def sharedsub(topic):
    """Two persistent members of a shared group; both go offline."""
    for cid in ("sh-a", "sh-b"):
        c = Raw(4)
        c.connect_ok(cid, clean=False)
        c.sub_ok("$share/grp/" + topic, opts=1)
        c.disconnect()
    p = Raw(4)
    p.connect_ok()
    for i in range(10):
        p.publish(topic, "s%d" % i, qos=1, pid=i + 1)
        p.read_ack(PUBACK)
    p.disconnect()


def sharedverify(topic):
    """After the restart one member collects everything the group queued."""
    c = Raw(4)
    sp, _ = c.connect_ok("sh-a", clean=False)
    assert sp == 1, "shared member's session lost"
    got = []
    c.sock.settimeout(2)
    try:
        while True:
            m = c.read_publish()
            c.ack(PUBACK, m["pid"])
            got.append(m["payload"])
    except (socket.timeout, TimeoutError):
        pass
    print("shared group after restart: %d of 10" % len(got))
    assert sorted(got) == sorted(b"s%d" % i for i in range(10)), got


def q2verify(topic):
    c = Raw(4)
    sp, _ = c.connect_ok("q2-pub", clean=False)
    assert sp == 1, "publisher session lost"
    c.publish(topic, "exactly-once", qos=2, pid=77, dup=True)
    assert c.read_ack(PUBREC)[0] == 77
    c.ack(PUBREL, 77)
    assert c.read_ack(PUBCOMP)[0] == 77
    s = Raw(4)
    s.connect_ok("q2-sub", clean=False)
    got = []
    s.sock.settimeout(2)
    try:
        while True:
            m = s.read_publish()
            got.append(m["payload"])
            if m["qos"] == 2:
                s.ack(PUBREC, m["pid"])
                s.read_ack(PUBREL)
                s.ack(PUBCOMP, m["pid"])
    except (socket.timeout, TimeoutError):
        pass
    print("qos2 copies after restart:", len(got))
    assert got == [b"exactly-once"], got


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"subscribe": subscribe, "retain": retain,
     "publish": lambda t, n, f: publish(t, int(n), f), "verify": verify,
     "q2pub": q2pub, "q2verify": q2verify, "sharedsub": sharedsub,
     "sharedverify": sharedverify}[cmd](*args)
