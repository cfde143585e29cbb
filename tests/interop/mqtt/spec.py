"""spec.py — MQTT 3.1.1 / 5.0 behaviour a client can observe, one named case each, against
a running omnibus (MQTT_PORT). Cases use exact packets (raw.py) where the spec speaks of
bytes and reason codes, and Paho (python3-paho-mqtt) where a real client is the point.
Usage: spec.py [case ...]   (all cases by default); prints "ok NAME" or "FAIL NAME: why"."""
import os
import queue
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import case, run, uniq  # noqa: E402
from raw import (PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,  # noqa
                 UNSUBACK, DISCONNECT, CONNACK, Raw, packet)

PORT = int(os.environ.get("MQTT_PORT", "1883"))



# ---- Paho helpers --------------------------------------------------------------------

class Paho:
    def __init__(self, cid="", v5=False, clean=True, expiry=None, will=None, keepalive=60):
        self.v5 = v5
        self.msgs = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        if v5:
            self.c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
        else:
            self.c = mqtt.Client(client_id=cid, clean_session=clean, protocol=mqtt.MQTTv311)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.on_subscribe = lambda c, u, mid, granted, *a: self.subacks.put(granted)
        if will:
            self.c.will_set(*will)
        props = None
        if v5 and expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        if v5:
            self.c.connect("127.0.0.1", PORT, keepalive, clean_start=clean, properties=props)
        else:
            self.c.connect("127.0.0.1", PORT, keepalive)
        self.c.loop_start()
        self.flags, self.rc = self.connacks.get(timeout=5)

    def _on_connect(self, c, u, flags, rc, props=None):
        self.connacks.put((flags, rc))

    def sub(self, topic, qos=0, **opts):
        if self.v5:
            self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **opts))
        else:
            self.c.subscribe(topic, qos)
        return self.subacks.get(timeout=5)

    def pub(self, topic, payload, qos=0, retain=False, props=None):
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(5)
        assert info.is_published(), "publish not acknowledged"

    def get(self, timeout=3):
        return self.msgs.get(timeout=timeout)

    def none(self, timeout=0.5):
        try:
            m = self.msgs.get(timeout=timeout)
            raise AssertionError("unexpected message on %s: %r" % (m.topic, m.payload))
        except queue.Empty:
            return True

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def pprops(**kw):
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


# ---- QoS -----------------------------------------------------------------------------

def roundtrip(v5):
    t = uniq("rt")
    sub = Paho(v5=v5)
    sub.sub(t + "/#", 2)
    pub = Paho(v5=v5)
    for q in (0, 1, 2):
        pub.pub("%s/q%d" % (t, q), b"m%d" % q, q)
    got = sorted((m.topic, m.payload, m.qos) for m in (sub.get(), sub.get(), sub.get()))
    want = sorted(("%s/q%d" % (t, q), b"m%d" % q, q) for q in (0, 1, 2))
    assert got == want, got
    sub.none()
    sub.stop()
    pub.stop()


@case
def paho_v311_qos012_roundtrip():
    roundtrip(False)


@case
def paho_v5_qos012_roundtrip():
    roundtrip(True)


@case
def qos_downgraded_to_subscription_max():
    """MQTT-3.8.4-8: delivered at the minimum of publish QoS and granted QoS."""
    t = uniq("down")
    sub = Raw(4)
    sub.connect_ok()
    sub.sub_ok(t, opts=1)
    pub = Raw(4)
    pub.connect_ok()
    pub.publish(t, "x", qos=2, pid=7)
    assert pub.read_ack(PUBREC)[0] == 7
    m = sub.read_publish()
    assert m["qos"] == 1, m


@case
def qos2_resent_publish_delivered_once():
    """MQTT-4.3.3: a PUBLISH resent (DUP) before PUBREL is not delivered again."""
    t = uniq("q2dup")
    sub = Raw(4)
    sub.connect_ok()
    sub.sub_ok(t, opts=2)
    pub = Raw(4)
    pub.connect_ok()
    pub.publish(t, "once", qos=2, pid=9)
    pub.read_ack(PUBREC)
    pub.publish(t, "once", qos=2, pid=9, dup=True)
    pub.read_ack(PUBREC)
    pub.ack(PUBREL, 9)
    assert pub.read_ack(PUBCOMP)[0] == 9
    m = sub.read_publish()
    assert m["payload"] == b"once"
    sub.ack(PUBREC, m["pid"])
    sub.read_ack(PUBREL)
    sub.ack(PUBCOMP, m["pid"])
    assert sub.nothing(0.5), "delivered twice"


@case
def qos2_state_survives_reconnect():
    """Inbound QoS 2 packet id state is session state: after reconnecting, a resent
    PUBLISH with the same id is not published again, and PUBREL completes it."""
    t = uniq("q2rc")
    cid = uniq("q2c")
    sub = Raw(4)
    sub.connect_ok()
    sub.sub_ok(t, opts=0)
    pub = Raw(4)
    pub.connect_ok(cid, clean=False)
    pub.publish(t, "one", qos=2, pid=5)
    pub.read_ack(PUBREC)
    pub.close()
    assert sub.read_publish()["payload"] == b"one"
    pub = Raw(4)
    sp, _ = pub.connect_ok(cid, clean=False)
    assert sp == 1
    pub.publish(t, "one", qos=2, pid=5, dup=True)
    pub.read_ack(PUBREC)
    pub.ack(PUBREL, 5)
    assert pub.read_ack(PUBCOMP) == (5, 0)
    assert sub.nothing(0.5)
    pub.disconnect()
    clean = Raw(4)
    clean.connect_ok(cid, clean=True)
    clean.disconnect()


@case
def puback_in_publish_order():
    """MQTT-4.6.0-2: PUBACKs go out in the order the PUBLISH packets came."""
    c = Raw(4)
    c.connect_ok()
    t = uniq("order")
    for i in range(1, 51):
        c.publish(t, "x%d" % i, qos=1, pid=i)
    got = [c.read_ack(PUBACK)[0] for _ in range(50)]
    assert got == list(range(1, 51)), got


@case
def qos1_redelivered_with_dup_on_reconnect():
    """MQTT-4.4.0-1: unacknowledged PUBLISH is resent with DUP on reconnect."""
    t = uniq("dup")
    cid = uniq("dupc")
    c = Raw(4)
    c.connect_ok(cid, clean=False)
    c.sub_ok(t, opts=1)
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "again", qos=1, pid=1)
    p.read_ack(PUBACK)
    m = c.read_publish()
    assert not m["dup"]
    c.close()
    time.sleep(0.2)
    c = Raw(4)
    sp, _ = c.connect_ok(cid, clean=False)
    assert sp == 1
    m2 = c.read_publish()
    assert m2["payload"] == b"again" and m2["dup"], m2
    c.ack(PUBACK, m2["pid"])
    c.disconnect()
    c = Raw(4)
    c.connect_ok(cid, clean=True)
    c.disconnect()


@case
def qos2_pubrel_resent_on_reconnect():
    """MQTT-4.4.0-1: after PUBREC, a reconnect gets the PUBREL again, not the PUBLISH."""
    t = uniq("rel")
    cid = uniq("relc")
    c = Raw(4)
    c.connect_ok(cid, clean=False)
    c.sub_ok(t, opts=2)
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "x", qos=2, pid=1)
    p.read_ack(PUBREC)
    p.ack(PUBREL, 1)
    p.read_ack(PUBCOMP)
    m = c.read_publish()
    c.ack(PUBREC, m["pid"])
    assert c.read_ack(PUBREL)[0] == m["pid"]
    c.close()
    time.sleep(0.2)
    c = Raw(4)
    c.connect_ok(cid, clean=False)
    assert c.read_ack(PUBREL)[0] == m["pid"]
    c.ack(PUBCOMP, m["pid"])
    assert c.nothing(0.5)
    c.disconnect()
    c = Raw(4)
    c.connect_ok(cid, clean=True)
    c.disconnect()


# ---- retained ------------------------------------------------------------------------

@case
def retained_set_replace_clear():
    """MQTT-3.3.1-5/-10/-11: the newest retained message is sent with RETAIN=1 on
    subscribe; an empty retained payload clears it."""
    t = uniq("ret")
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "old", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    p.publish(t, "new", qos=1, pid=2, retain=True)
    p.read_ack(PUBACK)
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t, opts=1)
    m = s.read_publish()
    assert m["payload"] == b"new" and m["retain"], m
    s.ack(PUBACK, m["pid"])
    assert s.nothing(0.3)
    p.publish(t, "live", qos=0)
    m = s.read_publish()
    assert m["payload"] == b"live" and not m["retain"], m  # MQTT-3.3.1-9
    p.publish(t, "", qos=1, pid=3, retain=True)
    p.read_ack(PUBACK)
    s.read_publish()  # the empty one, live
    s2 = Raw(4)
    s2.connect_ok()
    s2.sub_ok(t, opts=1)
    assert s2.nothing(0.5), "cleared retained message still sent"


@case
def retained_wildcard_and_parent():
    t = uniq("retw")
    p = Raw(4)
    p.connect_ok()
    for sub in ("", "/a", "/a/b"):
        p.publish(t + sub, "v" + sub, qos=1, pid=1, retain=True)
        p.read_ack(PUBACK)
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t + "/#", opts=0)
    got = sorted(s.read_publish()["topic"] for _ in range(3))
    assert got == sorted([t, t + "/a", t + "/a/b"]), got
    for sub in ("", "/a", "/a/b"):
        p.publish(t + sub, "", qos=1, pid=1, retain=True)
        p.read_ack(PUBACK)


# ---- wills ---------------------------------------------------------------------------

@case
def will_on_abrupt_close():
    """MQTT-3.1.2-8: the will is published when the connection closes without DISCONNECT."""
    t = uniq("will")
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t, opts=1)
    c = Raw(4)
    c.connect_ok(will=(t, "gone", 1, False, None))
    c.close()
    m = s.read_publish()
    assert m["payload"] == b"gone" and m["qos"] == 1, m


@case
def will_not_sent_after_disconnect():
    """MQTT-3.1.2-10: a normal DISCONNECT discards the will."""
    t = uniq("nowill")
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t, opts=1)
    c = Raw(4)
    c.connect_ok(will=(t, "gone", 1, False, None))
    c.disconnect()
    assert s.nothing(0.7)


@case
def v5_disconnect_with_will_message():
    """v5 DISCONNECT reason 0x04 publishes the will."""
    t = uniq("willdc")
    s = Raw(5)
    s.connect_ok()
    s.sub_ok(t, opts=1)
    c = Raw(5)
    c.connect_ok(will=(t, "bye", 0, False, None))
    c.disconnect(0x04)
    assert s.read_publish()["payload"] == b"bye"


@case
def v5_will_delay_and_cancel():
    """MQTT-3.1.3-9: the will waits for the will delay; reconnecting in time cancels it."""
    t = uniq("wdelay")
    cid = uniq("wd")
    s = Raw(5)
    s.connect_ok()
    s.sub_ok(t, opts=1)
    c = Raw(5)
    c.connect_ok(cid, clean=True, p=[(0x11, 60)], will=(t, "late", 0, False, [(0x18, 2)]))
    c.close()
    assert s.nothing(1.0), "will sent before its delay"
    c = Raw(5)
    c.connect_ok(cid, clean=False, p=[(0x11, 60)])
    assert s.nothing(2.5), "will sent although the client came back"
    c.disconnect()
    c = Raw(5)
    c.connect_ok(cid, clean=True, p=[(0x11, 60)], will=(t, "late2", 0, False, [(0x18, 1)]))
    c.close()
    t0 = time.time()
    m = s.read_publish()
    assert m["payload"] == b"late2" and time.time() - t0 >= 0.5, m
    c = Raw(5)
    c.connect_ok(cid, clean=True)
    c.disconnect()


@case
def will_retained():
    t = uniq("wret")
    c = Raw(4)
    c.connect_ok(will=(t, "r", 1, True, None))
    c.close()
    time.sleep(0.3)
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t, opts=0)
    m = s.read_publish()
    assert m["payload"] == b"r" and m["retain"], m
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)


# ---- sessions ------------------------------------------------------------------------

@case
def persistent_session_queues_offline_qos1():
    """MQTT-3.1.2-5: QoS 1/2 messages for an offline session are stored and delivered."""
    t = uniq("pers")
    cid = uniq("pc")
    c = Paho(cid, clean=False)
    assert c.flags.get("session present", 0) == 0
    c.sub(t, 1)
    c.stop()
    p = Paho()
    for i in range(5):
        p.pub(t, "m%d" % i, 1)
    p.stop()
    c = Paho(cid, clean=False)
    assert c.flags.get("session present") == 1, c.flags
    got = [c.get().payload for _ in range(5)]
    assert got == [b"m%d" % i for i in range(5)], got
    c.stop()
    Paho(cid, clean=True).stop()


@case
def clean_session_discards_state():
    """MQTT-3.1.2-6: clean session 1 starts a new session: no subscriptions, present 0."""
    t = uniq("clean")
    cid = uniq("cc")
    c = Paho(cid, clean=False)
    c.sub(t, 1)
    c.stop()
    c = Paho(cid, clean=True)
    assert c.flags.get("session present", 0) == 0
    p = Paho()
    p.pub(t, "x", 1)
    c.none(0.5)
    c.stop()
    p.stop()


@case
def v5_session_expiry():
    """A v5 session ends session expiry interval seconds after the disconnect."""
    cid = uniq("exp")
    c = Raw(5)
    c.connect_ok(cid, clean=True, p=[(0x11, 1)])
    c.sub_ok(uniq("e"), opts=1)
    c.disconnect()
    c = Raw(5)
    sp, _ = c.connect_ok(cid, clean=False, p=[(0x11, 1)])
    assert sp == 1
    c.disconnect()
    time.sleep(2.6)
    c = Raw(5)
    sp, _ = c.connect_ok(cid, clean=False)
    assert sp == 0, "session outlived its expiry"
    c.disconnect()


@case
def v5_session_expiry_zero_then_nonzero_is_error():
    """MQTT-3.14.2-2: DISCONNECT may not set an expiry when CONNECT had 0."""
    c = Raw(5)
    c.connect_ok(uniq("e0"))
    c.disconnect(0, p=[(0x11, 30)])
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x82, b


@case
def session_takeover_v5():
    """MQTT-3.1.4-3: a second CONNECT with the same client id closes the first; v5 tells
    it with DISCONNECT 0x8E."""
    cid = uniq("take")
    a = Raw(5)
    a.connect_ok(cid)
    b = Raw(5)
    b.connect_ok(cid)
    _, body = a.expect(DISCONNECT)
    assert body[0] == 0x8E, body
    assert a.closed()
    b.send(packet(PINGREQ, 0, b""))
    b.expect(PINGRESP)


@case
def session_takeover_v311_keeps_subscriptions():
    cid = uniq("take3")
    t = uniq("tk")
    a = Raw(4)
    a.connect_ok(cid, clean=False)
    a.sub_ok(t, opts=1)
    b = Raw(4)
    sp, _ = b.connect_ok(cid, clean=False)
    assert sp == 1
    assert a.closed()
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "to-b", qos=1, pid=1)
    p.read_ack(PUBACK)
    m = b.read_publish()
    assert m["payload"] == b"to-b"
    b.ack(PUBACK, m["pid"])
    b.disconnect()
    c = Raw(4)
    c.connect_ok(cid, clean=True)
    c.disconnect()


# ---- shared subscriptions ------------------------------------------------------------

@case
def shared_subscription_splits_messages():
    t = uniq("sh")
    g = "$share/g1/" + t
    a, b = Raw(5), Raw(5)
    a.connect_ok()
    b.connect_ok()
    a.sub_ok(g, opts=1)
    b.sub_ok(g, opts=1)
    p = Raw(5)
    p.connect_ok()
    for i in range(10):
        p.publish(t, "m%d" % i, qos=1, pid=i + 1)
        p.read_ack(PUBACK)
    got = {}
    for who in (a, b):
        n = 0
        while True:
            try:
                who.sock.settimeout(0.5)
                m = who.read_publish()
            except Exception:
                break
            who.ack(PUBACK, m["pid"])
            got[m["payload"]] = who
            n += 1
        assert n > 0, "one member got nothing"
    assert len(got) == 10, sorted(got)


@case
def shared_member_leaving_hands_over_unacked():
    """A member that leaves with unacked messages: another member gets them."""
    t = uniq("shl")
    g = "$share/g2/" + t
    a = Raw(5)
    a.connect_ok()
    a.sub_ok(g, opts=1)
    p = Raw(5)
    p.connect_ok()
    for i in range(4):
        p.publish(t, "m%d" % i, qos=1, pid=i + 1)
        p.read_ack(PUBACK)
    first = [a.read_publish()["payload"] for _ in range(4)]  # never acked
    b = Raw(5)
    b.connect_ok()
    b.sub_ok(g, opts=1)
    a.close()
    got = []
    for _ in range(4):
        m = b.read_publish()
        b.ack(PUBACK, m["pid"])
        got.append(m["payload"])
    assert sorted(got) == sorted(first), (got, first)


@case
def shared_qos2_stays_with_member():
    """MQTT-4.8.2-4/-5: QoS 2 messages sent to a member that drops before PUBREC are
    completed to that member when it reconnects (DUP, same packet ids), never sent to
    another member; ending the session instead drops them for the group."""
    t = uniq("shq2")
    g = "$share/g3/" + t
    cid = uniq("shq2a")
    a = Raw(4)
    a.connect_ok(cid, clean=False)
    a.sub_ok(g, opts=2)
    p = Raw(4)
    p.connect_ok()
    for i, x in enumerate(["one", "two"]):
        p.publish(t, x, qos=2, pid=i + 1)
        p.read_ack(PUBREC)
        p.ack(PUBREL, i + 1)
        p.read_ack(PUBCOMP)
    first = [a.read_publish() for _ in range(2)]  # A is the only member yet
    b = Raw(4)
    b.connect_ok()
    b.sub_ok(g, opts=2)
    a.close()
    assert b.nothing(0.5)
    a = Raw(4)
    sp, _ = a.connect_ok(cid, clean=False)
    assert sp == 1
    again = [a.read_publish() for _ in range(2)]
    for m, m2 in zip(first, again):
        assert m2["payload"] == m["payload"] and m2["dup"] and m2["pid"] == m["pid"], m2
    a.ack(PUBREC, again[0]["pid"])
    assert a.read_ack(PUBREL)[0] == again[0]["pid"]
    a.ack(PUBCOMP, again[0]["pid"])
    a.close()  # "two" still in flight
    a = Raw(4)
    sp, _ = a.connect_ok(cid, clean=True)  # the session ends: "two" goes to nobody
    assert sp == 0
    assert b.nothing(0.5)
    assert a.nothing(0.3)
    a.disconnect()
    b.disconnect()


# ---- v5 features ---------------------------------------------------------------------

@case
def v5_topic_alias_from_client():
    t = uniq("alias")
    s = Raw(5)
    s.connect_ok()
    s.sub_ok(t, opts=0)
    c = Raw(5)
    _, pr = c.connect_ok()
    assert pr.get(0x22, 0) >= 1, pr
    c.publish(t, "one", p=[(0x23, 1)])
    c.publish("", "two", p=[(0x23, 1)])
    assert s.read_publish()["payload"] == b"one"
    m = s.read_publish()
    assert m["payload"] == b"two" and m["topic"] == t, m


@case
def v5_topic_alias_invalid():
    """MQTT-3.3.2-9: an alias above the server's maximum is an error 0x94."""
    c = Raw(5)
    _, pr = c.connect_ok()
    c.publish("a", "x", p=[(0x23, pr.get(0x22, 0) + 1)])
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x94, b


@case
def v5_topic_alias_to_client():
    t = uniq("alias2")
    s = Raw(5)
    s.connect_ok(p=[(0x22, 4)])
    s.sub_ok(t, opts=0)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "1")
    p.publish(t, "2")
    m1, m2 = s.read_publish(), s.read_publish()
    assert m1["topic"] == t and m1["props"].get(0x23) == 1, m1
    assert m2["topic"] == "" and m2["props"].get(0x23) == 1, m2


@case
def v5_no_alias_unless_client_allows():
    """MQTT-3.3.2-8: no topic alias to a client that did not set a maximum."""
    t = uniq("noalias")
    s = Raw(5)
    s.connect_ok()
    s.sub_ok(t, opts=0)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "1")
    p.publish(t, "2")
    for _ in range(2):
        m = s.read_publish()
        assert m["topic"] == t and 0x23 not in m["props"], m


@case
def v5_message_expiry():
    """MQTT-3.3.2-5: an expired message is not delivered; the interval sent is what is
    left (MQTT-3.3.2-6)."""
    t = uniq("mexp")
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "short", qos=1, pid=1, retain=True, p=[(0x02, 1)])
    p.read_ack(PUBACK)
    p.publish(t + "/long", "long", qos=1, pid=2, retain=True, p=[(0x02, 100)])
    p.read_ack(PUBACK)
    time.sleep(1.3)
    s = Raw(5)
    s.connect_ok()
    s.sub_ok(t + "/#", opts=1)
    m = s.read_publish()
    assert m["payload"] == b"long" and 0 < m["props"].get(0x02, 0) <= 100, m
    s.ack(PUBACK, m["pid"])
    assert s.nothing(0.4), "expired retained message delivered"
    p.publish(t + "/long", "", qos=1, pid=3, retain=True)
    p.read_ack(PUBACK)


@case
def v5_no_local():
    """MQTT-3.8.3-3: with no local, a client's own messages are not sent back."""
    t = uniq("nl")
    c = Raw(5)
    c.connect_ok(uniq("nlc"))
    c.sub_ok(t, opts=0x04)
    c.publish(t, "mine")
    assert c.nothing(0.5), "no-local violated"
    o = Raw(5)
    o.connect_ok()
    o.publish(t, "theirs")
    assert c.read_publish()["payload"] == b"theirs"


@case
def v5_retain_as_published():
    """MQTT-3.3.1-12/-13: RETAIN of live messages is 0 unless retain as published."""
    t = uniq("rap")
    a, b = Raw(5), Raw(5)
    a.connect_ok()
    b.connect_ok()
    a.sub_ok(t, opts=0x08)
    b.sub_ok(t, opts=0x00)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "r", retain=True)
    assert a.read_publish()["retain"] is True
    assert b.read_publish()["retain"] is False
    p.publish(t, "", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)


@case
def v5_retain_handling():
    """MQTT-3.3.1-9/-10/-11: retain handling 0 always, 1 only if new, 2 never."""
    t = uniq("rh")
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "kept", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t, opts=0x20)  # rh 2
    assert c.nothing(0.4)
    c.sub_ok(t, opts=0x10)  # rh 1, not new
    assert c.nothing(0.4)
    c2 = Raw(5)
    c2.connect_ok()
    c2.sub_ok(t, opts=0x10)  # rh 1, new
    assert c2.read_publish()["payload"] == b"kept"
    c.sub_ok(t, opts=0x00)  # rh 0, resubscribe
    assert c.read_publish()["payload"] == b"kept"
    p.publish(t, "", qos=1, pid=2, retain=True)
    p.read_ack(PUBACK)


@case
def v5_subscription_identifiers():
    """MQTT-3.3.4-3/-4: the identifier of each matching subscription is sent."""
    t = uniq("sid")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t + "/+", opts=0, pid=1, p=[(0x0B, 11)])
    c.sub_ok(t + "/#", opts=0, pid=2, p=[(0x0B, 22)])
    p = Raw(5)
    p.connect_ok()
    p.publish(t + "/x", "y")
    ids = sorted(c.read_publish()["props"].get(0x0B, [0])[0] for _ in range(2))
    assert ids == [11, 22], ids


@case
def v5_user_properties_content_type_correlation():
    t = uniq("props")
    s = Paho(v5=True)
    s.sub(t, 1)
    p = Paho(v5=True)
    pp = pprops(UserProperty=[("k1", "v1"), ("k2", "v2")], ContentType="text/plain",
                CorrelationData=b"\x01\x02", ResponseTopic=t + "/reply",
                PayloadFormatIndicator=1)
    p.pub(t, "hello", 1, props=pp)
    m = s.get()
    mp = m.properties
    assert sorted(mp.UserProperty) == [("k1", "v1"), ("k2", "v2")], mp.UserProperty
    assert mp.ContentType == "text/plain"
    assert mp.CorrelationData == b"\x01\x02"
    assert mp.ResponseTopic == t + "/reply"
    assert mp.PayloadFormatIndicator == 1
    s.stop()
    p.stop()


@case
def v5_receive_maximum_respected():
    """MQTT-3.3.4-7: no more unacked QoS 1 PUBLISH than the client's receive maximum."""
    t = uniq("rmax")
    c = Raw(5)
    c.connect_ok(p=[(0x21, 2)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    for i in range(5):
        p.publish(t, "m%d" % i, qos=1, pid=i + 1)
        p.read_ack(PUBACK)
    a, b = c.read_publish(), c.read_publish()
    assert c.nothing(0.5), "receive maximum exceeded"
    c.ack(PUBACK, a["pid"])
    third = c.read_publish()
    assert third["payload"] == b"m2", third
    c.ack(PUBACK, b["pid"])
    c.ack(PUBACK, third["pid"])
    for _ in range(2):
        c.ack(PUBACK, c.read_publish()["pid"])


@case
def v5_maximum_packet_size_respected():
    """MQTT-3.1.2-25: a message larger than the client's maximum packet size is dropped."""
    t = uniq("mps")
    c = Raw(5)
    c.connect_ok(p=[(0x27, 200)])
    c.sub_ok(t, opts=0)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "x" * 500)
    p.publish(t, "small")
    assert c.read_publish()["payload"] == b"small"


@case
def v5_server_keepalive_and_limits_in_connack():
    c = Raw(5)
    _, pr = c.connect_ok(keepalive=0)
    assert pr.get(0x13) == 3600, pr  # server keep alive
    assert pr.get(0x21, 0) > 0 and pr.get(0x22, 0) > 0, pr


@case
def v5_assigned_client_identifier():
    """MQTT-3.2.2-16: an empty client id gets an Assigned Client Identifier."""
    c = Raw(5)
    _, pr = c.connect_ok("")
    assert pr.get(0x12), pr


@case
def v5_auth_method_not_supported():
    c = Raw(5)
    c.connect(p=[(0x15, "SCRAM-SHA-1")])
    _, rc, _ = c.connack()
    assert rc == 0x8C, hex(rc)
    assert c.closed()


@case
def v5_request_response_headers():
    """Response topic and correlation data reach the responder, which answers."""
    t = uniq("req")
    r = Raw(5)
    r.connect_ok()
    r.sub_ok(t + "/req", opts=0)
    q = Raw(5)
    q.connect_ok()
    q.sub_ok(t + "/resp", opts=0)
    q.publish(t + "/req", "ping", p=[(0x08, t + "/resp"), (0x09, b"cid-1")])
    m = r.read_publish()
    rt, cd = m["props"][0x08].decode(), m["props"][0x09]
    r.publish(rt, "pong", p=[(0x09, cd)])
    a = q.read_publish()
    assert a["payload"] == b"pong" and a["props"][0x09] == b"cid-1", a


# ---- topics, subscribe, misc ---------------------------------------------------------

@case
def wildcards_do_not_match_dollar_topics():
    """MQTT-4.7.2-1: '#' and '+' at the start do not match topics beginning with '$'."""
    c = Raw(4)
    c.connect_ok()
    c.sub_ok("#", opts=0)
    p = Raw(4)
    p.connect_ok()
    t = "$" + uniq("dollar")
    p.publish(t, "hidden")
    assert c.nothing(0.5), "'#' matched a $ topic"
    d = Raw(4)
    d.connect_ok()
    d.sub_ok(t, opts=0)
    p.publish(t, "seen")
    assert d.read_publish()["payload"] == b"seen"


@case
def sys_topics_on_subscribe():
    c = Raw(4)
    c.connect_ok()
    c.sub_ok("$SYS/broker/#", opts=0)
    topics = set()
    while True:
        try:
            c.sock.settimeout(0.5)
            topics.add(c.read_publish()["topic"])
        except Exception:
            break
    for want in ("$SYS/broker/clients/connected", "$SYS/broker/uptime",
                 "$SYS/broker/messages/received", "$SYS/broker/version"):
        assert want in topics, topics


@case
def unsubscribe_stops_delivery():
    """MQTT-3.10.4-6: UNSUBACK; v5 reason 0x11 when there was no such subscription."""
    t = uniq("unsub")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t, opts=0)
    c.unsubscribe(5, [t, t + "/none"])
    f, b = c.expect(UNSUBACK)
    assert b[0:2] == b"\x00\x05" and list(b[3:]) == [0x00, 0x11], b
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "x")
    assert c.nothing(0.5)


@case
def suback_grants_requested_qos():
    c = Raw(4)
    c.connect_ok()
    c.subscribe(3, [(uniq("g0"), 0), (uniq("g1"), 1), (uniq("g2"), 2)])
    pid, codes, _ = c.suback()
    assert pid == 3 and codes == [0, 1, 2], codes


@case
def pingreq_pingresp():
    c = Raw(4)
    c.connect_ok()
    c.send(packet(PINGREQ, 0, b""))
    c.expect(PINGRESP)


@case
def keepalive_timeout_closes_and_sends_will():
    """MQTT-3.1.2-24: silence for 1.5 x keepalive closes the connection (will sent)."""
    t = uniq("ka")
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t, opts=0)
    c = Raw(4)
    c.connect_ok(keepalive=1, will=(t, "timeout", 0, False, None))
    t0 = time.time()
    assert c.closed(4.0), "not closed after 1.5 x keepalive"
    assert 1.2 <= time.time() - t0 <= 3.5
    assert s.read_publish()["payload"] == b"timeout"


@case
def cross_version_v5_to_v311():
    t = uniq("xv")
    s = Raw(4)
    s.connect_ok()
    s.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "from5", qos=1, pid=1, p=[(0x26, ("k", "v"))])
    p.read_ack(PUBACK)
    m = s.read_publish()
    assert m["payload"] == b"from5"


@case
def topic_levels_round_trip():
    """Empty levels, leading/trailing '/', dots and spaces survive the subject mapping."""
    base = uniq("lv")
    topics = [base + "/", "/" + base, base + "//x", base + "/a.b", base + "/a b", base + "/*"]
    c = Raw(5)
    c.connect_ok()
    for i, t in enumerate(topics):
        c.sub_ok(t, opts=0, pid=i + 1)
    p = Raw(5)
    p.connect_ok()
    for t in topics:
        p.publish(t, t)
    got = sorted(c.read_publish()["topic"] for _ in topics)
    assert got == sorted(topics), got


# ---- malformed input and protocol errors ---------------------------------------------

@case
def malformed_v5_gets_disconnect_0x81():
    c = Raw(5)
    c.connect_ok()
    c.send(bytes([0x30, 0x05, 0x00, 0x09]) + b"abc")  # topic length past the packet
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x81, b
    assert c.closed()


@case
def malformed_v311_closes():
    c = Raw(4)
    c.connect_ok()
    c.send(bytes([0x32, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))  # 5-byte remaining length
    assert c.closed()


@case
def reserved_flags_v5_0x81():
    c = Raw(5)
    c.connect_ok()
    c.send(bytes([0x83, 0x00]))  # SUBSCRIBE with flags 0011
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x81, b


@case
def publish_before_connect_closes():
    """MQTT-3.1.0-1: the first packet must be CONNECT."""
    c = Raw(4)
    c.publish("a", "x")
    assert c.closed()


@case
def second_connect_is_protocol_error():
    """MQTT-3.1.0-2."""
    c = Raw(5)
    c.connect_ok()
    c.connect()
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x82, b


@case
def unsupported_protocol_level():
    """MQTT-3.1.2-2: CONNACK 0x01 then close."""
    c = Raw(4)
    c.connect(level=6)
    _, rc, _ = c.connack()
    assert rc == 0x01
    assert c.closed()


@case
def empty_client_id_without_clean_session_refused():
    """MQTT-3.1.3-8: CONNACK 0x02."""
    c = Raw(4)
    c.connect("", clean=False)
    _, rc, _ = c.connack()
    assert rc == 0x02
    assert c.closed()


@case
def wildcard_in_publish_topic_0x90():
    c = Raw(5)
    c.connect_ok()
    c.publish("a/+/b", "x")
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x90, b


@case
def invalid_filter_v5_0x8f():
    c = Raw(5)
    c.connect_ok()
    c.subscribe(1, [("a/#/b", 0)])
    t, _, b = c.read()
    # A SUBACK 0x8F or a DISCONNECT 0x8F (the codec's choice: malformed filter) are both
    # allowed by MQTT-3.8.3-?/4.13.
    assert t in (SUBACK, DISCONNECT), t
    assert (b[-1] if t == SUBACK else b[0]) == 0x8F, b


@case
def topic_too_long_for_a_subject():
    """A valid MQTT topic whose subject would pass the core's 4096-byte limit ('.' maps
    to '//'): SUBACK 0x8F for such a filter, DISCONNECT 0x90 for such a PUBLISH."""
    c = Raw(5)
    c.connect_ok()
    c.subscribe(1, [("." * 3000, 1)])
    assert c.suback()[1] == [0x8F]
    c.publish("." * 30000, "x", qos=1, pid=1)
    _, b = c.expect(DISCONNECT)
    assert b[0] == 0x90, b


@case
def server_serves_others_after_garbage():
    bad = Raw(5)
    bad.send(os.urandom(64))
    good = Raw(5)
    good.connect_ok()
    good.send(packet(PINGREQ, 0, b""))
    good.expect(PINGRESP)


if __name__ == "__main__":
    run()
