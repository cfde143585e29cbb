"""spec2.py — more MQTT 3.1.1 / 5.0 behaviour a client can observe, found missing by the
conformance audit (docs/mqtt-conformance.md): flags on delivery, overlapping subscriptions,
retained QoS, session present, malformed and protocol-error packets. One named case each,
against a running omnibus (MQTT_PORT), with raw packets (raw.py).
Usage: spec2.py [case ...]   (all cases by default); prints "ok NAME" or "FAIL NAME: why"."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import case, run, uniq  # noqa: E402
from raw import (AUTH, CONNACK, DISCONNECT, PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH,
                 PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, Closed, Raw, packet,
                 parse_props, s)




def disconnect_reason(c, want):
    """A v5 DISCONNECT with one of the reason codes in want, then the close."""
    _, b = c.expect(DISCONNECT)
    assert b and b[0] in want, "DISCONNECT %r, want %s" % (b[:1], [hex(w) for w in want])
    assert c.closed(), "not closed after DISCONNECT"


def refused(c, want):
    """v5: DISCONNECT with a reason in want; 3.1.1: the connection is closed."""
    if c.v == 5:
        disconnect_reason(c, want)
    else:
        assert c.closed(), "3.1.1 connection not closed"


def connect_refused(c, want):
    """A bad CONNECT: closed, with or without a CONNACK whose code is in want first."""
    try:
        t, _, b = c.read()
    except (Closed, ConnectionResetError):
        return
    assert t == CONNACK and b[1] in want, (t, b)
    assert c.closed()


def clear(topic):
    p = Raw(5)
    p.connect_ok()
    p.publish(topic, "", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    p.close()


def collect(c, ack=False, quiet=0.5):
    """Every PUBLISH until quiet seconds of silence (at least one); their QoS values."""
    got = [c.read_publish()]
    while True:
        c.sock.settimeout(quiet)
        try:
            got.append(c.read_publish())
        except socket.timeout:
            break
    c.sock.settimeout(5.0)
    for m in got:
        if ack and m["qos"] == 1:
            c.ack(PUBACK, m["pid"])
    return [m["qos"] for m in got]


# ---- flags on delivery ---------------------------------------------------------------


@case
def dup_not_forwarded():
    """MQTT-3.3.1-3: the DUP flag of an incoming PUBLISH is not propagated."""
    for v in (4, 5):
        t = uniq("dup")
        sub = Raw(v)
        sub.connect_ok()
        sub.sub_ok(t, opts=1)
        p = Raw(v)
        p.connect_ok()
        p.publish(t, "d", qos=1, pid=7, dup=True)
        p.read_ack(PUBACK)
        m = sub.read_publish()
        assert m["dup"] is False and m["qos"] == 1, m
        sub.ack(PUBACK, m["pid"])


@case
def retain_flag_live_vs_stored():
    """MQTT-3.3.1-8/-9 (3.1.1): RETAIN=1 on the stored copy sent at SUBSCRIBE, RETAIN=0 on
    a live delivery of a retained publish to an existing subscription."""
    t = uniq("rflag")
    live = Raw(4)
    live.connect_ok()
    live.sub_ok(t, opts=0)
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "r", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    assert live.read_publish()["retain"] is False
    late = Raw(4)
    late.connect_ok()
    late.sub_ok(t, opts=0)
    assert late.read_publish()["retain"] is True
    clear(t)


@case
def retained_delivered_at_min_qos():
    """MQTT-3.3.1-5 / 3.8.4-8: a retained QoS 2 message is sent at the granted QoS; a
    retained QoS 1 message to a QoS 2 subscription keeps QoS 1."""
    t = uniq("rq")
    p = Raw(5)
    p.connect_ok()
    p.publish(t + "/two", "2", qos=2, pid=1, retain=True)
    p.read_ack(PUBREC)
    p.ack(PUBREL, 1)
    p.read_ack(PUBCOMP)
    p.publish(t + "/one", "1", qos=1, pid=2, retain=True)
    p.read_ack(PUBACK)
    for granted, want in ((1, {"1": 1, "2": 1}), (2, {"1": 1, "2": 2}), (0, {"1": 0, "2": 0})):
        c = Raw(5)
        c.connect_ok()
        c.sub_ok(t + "/+", opts=granted)
        ms = [c.read_publish(), c.read_publish()]
        got = {m["payload"].decode(): m["qos"] for m in ms}
        assert all(m["retain"] for m in ms), ms
        for m in ms:
            if m["qos"] == 1:
                c.ack(PUBACK, m["pid"])
            elif m["qos"] == 2:
                c.ack(PUBREC, m["pid"])
                c.read_ack(PUBREL)
                c.ack(PUBCOMP, m["pid"])
        assert got == want, (granted, got)
        c.close()
    clear(t + "/one")
    clear(t + "/two")


@case
def retained_qos0_empty_clears_and_is_not_stored():
    """MQTT-3.3.1-10/-11 (3.1.1): an empty retained QoS 0 message clears the topic and is
    itself not retained; it is delivered to current subscribers as a normal message."""
    t = uniq("r0")
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "x", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    live = Raw(4)
    live.connect_ok()
    live.sub_ok(t, opts=0)
    assert live.read_publish()["payload"] == b"x"
    p.publish(t, "", qos=0, retain=True)
    m = live.read_publish()
    assert m["payload"] == b"" and m["retain"] is False, m
    p.send(packet(PINGREQ, 0, b""))
    p.expect(PINGRESP)
    late = Raw(4)
    late.connect_ok()
    late.sub_ok(t, opts=0)
    assert late.nothing(0.5), "cleared retained message delivered"


# ---- subscriptions -------------------------------------------------------------------


@case
def overlapping_v311_max_qos():
    """MQTT-3.3.5-1: overlapping subscriptions: the message goes out at the maximum QoS
    of the matching subscriptions (once, or once per subscription: either is allowed)."""
    t = uniq("ov")
    c = Raw(4)
    c.connect_ok()
    c.sub_ok(t + "/+", opts=0, pid=1)
    c.sub_ok(t + "/#", opts=1, pid=2)
    p = Raw(4)
    p.connect_ok()
    p.publish(t + "/x", "m", qos=1, pid=1)
    p.read_ack(PUBACK)
    got = collect(c, ack=True)
    assert got and max(got) == 1 and len(got) <= 2, got


@case
def overlapping_v5_one_per_subscription():
    """MQTT-3.3.4-2: v5 without subscription identifiers: each matching subscription may
    get its own copy at its own QoS; at least one copy must go at the higher QoS."""
    t = uniq("ov5")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t + "/+", opts=0, pid=1)
    c.sub_ok(t + "/#", opts=1, pid=2)
    p = Raw(5)
    p.connect_ok()
    p.publish(t + "/x", "m", qos=1, pid=1)
    p.read_ack(PUBACK)
    got = collect(c, ack=True)
    assert max(got) == 1 and len(got) <= 2, got


@case
def plus_does_not_match_dollar_topic():
    """MQTT-4.7.2-1: '+/x' does not match '$y/x'; '+/#' does not match $SYS."""
    t = uniq("pl")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok("+/" + t, opts=0, pid=1)
    c.sub_ok("+/broker/#", opts=0, pid=2)
    p = Raw(5)
    p.connect_ok()
    p.publish("$d/" + t, "hidden")
    p.publish("n/" + t, "seen")
    m = c.read_publish()
    assert m["topic"] == "n/" + t, m
    assert c.nothing(0.5)


@case
def resubscribe_replaces_and_resends_retained():
    """MQTT-3.8.4-3: SUBSCRIBE with an existing filter replaces it (new QoS, one copy per
    message) and resends the retained messages."""
    t = uniq("rs")
    p = Raw(4)
    p.connect_ok()
    p.publish(t, "keep", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    c = Raw(4)
    c.connect_ok()
    c.sub_ok(t, opts=0)
    assert c.read_publish()["qos"] == 0
    c.sub_ok(t, opts=1)
    m = c.read_publish()
    assert m["payload"] == b"keep" and m["qos"] == 1, m
    c.ack(PUBACK, m["pid"])
    p.publish(t, "live", qos=1, pid=2)
    p.read_ack(PUBACK)
    m = c.read_publish()
    assert m["qos"] == 1 and m["payload"] == b"live", m
    c.ack(PUBACK, m["pid"])
    assert c.nothing(0.4), "two copies after resubscribing"
    clear(t)


@case
def suback_one_code_per_filter_in_order():
    """MQTT-3.8.4-4/-5 (v5 3.9.3): one return code per filter, in order, same packet id."""
    c = Raw(5)
    c.connect_ok()
    # a valid MQTT filter the server cannot take (too long once mapped): SUBACK 0x8F
    c.subscribe(9, [(uniq("a"), 2), ("." * 3000, 1), (uniq("b"), 0)])
    pid, codes, _ = c.suback()
    assert pid == 9 and codes[0] == 2 and codes[2] == 0 and codes[1] >= 0x80, codes


@case
def unsubscribe_v311_unknown_filter_still_unsuback():
    """MQTT-3.10.4-5: UNSUBACK even when nothing matched."""
    c = Raw(4)
    c.connect_ok()
    c.unsubscribe(4, [uniq("none")])
    _, b = c.expect(UNSUBACK)
    assert b == b"\x00\x04", b


@case
def subscribe_without_filters_is_protocol_error():
    """MQTT-3.8.3-3: SUBSCRIBE with no payload is a protocol error (v5 0x82/0x81, 3.1.1
    close); MQTT-3.10.3-2 the same for UNSUBSCRIBE."""
    for v in (4, 5):
        for ptype in (SUBSCRIBE, UNSUBSCRIBE):
            c = Raw(v)
            c.connect_ok()
            body = struct.pack(">H", 1) + (b"\x00" if v == 5 else b"")
            c.send(packet(ptype, 2, body))
            refused(c, (0x82, 0x81))


@case
def subscribe_bad_options():
    """MQTT-3.8.3-4 (3.1.1): requested QoS 3 closes; v5 MQTT-3.8.3-5: reserved option
    bits set is malformed."""
    c = Raw(4)
    c.connect_ok()
    c.subscribe(1, [(uniq("q3"), 3)])
    assert c.closed()
    c = Raw(5)
    c.connect_ok()
    c.subscribe(1, [(uniq("rsv"), 0xC0)])
    disconnect_reason(c, (0x81,))
    c = Raw(5)
    c.connect_ok()
    c.subscribe(1, [(uniq("rh3"), 0x30)])
    disconnect_reason(c, (0x81, 0x82))


@case
def shared_subscription_no_local_is_protocol_error():
    """MQTT-3.8.3-4 (v5): No Local on a shared subscription is a protocol error."""
    c = Raw(5)
    c.connect_ok()
    c.subscribe(1, [("$share/g/" + uniq("nl"), 0x04)])
    disconnect_reason(c, (0x82,))


@case
def subscription_identifier_zero_is_error():
    """v5 3.8.2.1.2: a Subscription Identifier of 0 is a protocol error."""
    c = Raw(5)
    c.connect_ok()
    c.subscribe(1, [(uniq("sid0"), 0)], p=[(0x0B, 0)])
    disconnect_reason(c, (0x82, 0x81))


@case
def subscription_identifier_from_client_publish_is_error():
    """MQTT-3.3.4-6: a PUBLISH from a client must not carry a subscription identifier."""
    c = Raw(5)
    c.connect_ok()
    c.publish(uniq("sidp"), "x", p=[(0x0B, 5)])
    disconnect_reason(c, (0x82, 0x81))


# ---- PUBLISH errors ------------------------------------------------------------------


@case
def publish_qos3_is_malformed():
    """MQTT-3.3.1-4: QoS 3 is malformed."""
    for v in (4, 5):
        c = Raw(v)
        c.connect_ok()
        body = s("a") + struct.pack(">H", 1) + (b"\x00" if v == 5 else b"")
        c.send(packet(PUBLISH, 0x06, body + b"x"))
        refused(c, (0x81,))


@case
def publish_dup_with_qos0_is_malformed_v5():
    """MQTT-3.3.1-2: DUP must be 0 for QoS 0 (v5: a malformed packet)."""
    c = Raw(5)
    c.connect_ok()
    c.publish(uniq("d0"), "x", qos=0, dup=True)
    disconnect_reason(c, (0x81,))


@case
def publish_packet_id_zero():
    """MQTT-2.3.1-1 / 2.2.1-3: QoS > 0 needs a non-zero packet id; same for SUBSCRIBE."""
    for v in (4, 5):
        c = Raw(v)
        c.connect_ok()
        c.publish(uniq("p0"), "x", qos=1, pid=0)
        refused(c, (0x81, 0x82))
        c = Raw(v)
        c.connect_ok()
        c.subscribe(0, [(uniq("s0"), 0)])
        refused(c, (0x81, 0x82))


@case
def wildcard_in_publish_topic_v311_closes():
    """MQTT-3.3.2-2 (3.1.1): the topic name must not contain wildcards."""
    for t in ("a/#", "+"):
        c = Raw(4)
        c.connect_ok()
        c.publish(t, "x")
        assert c.closed(), t


@case
def empty_topic_without_alias_is_error():
    """MQTT-4.7.3-1 (3.1.1: close) / v5 3.3.2.3.4: a zero-length topic with no alias is a
    protocol error."""
    for v in (4, 5):
        c = Raw(v)
        c.connect_ok()
        c.publish("", "x")
        refused(c, (0x82, 0x81))


@case
def invalid_utf8_in_topic():
    """MQTT-1.5.3-1/-2 (v5 1.5.4): ill-formed UTF-8 or U+0000 in a topic name or filter:
    v5 DISCONNECT 0x81, 3.1.1 close."""
    bad = [b"a/\xff", b"a/\x00b", b"a/\xed\xa0\x80"]  # invalid byte, U+0000, a surrogate
    for v in (4, 5):
        for t in bad:
            c = Raw(v)
            c.connect_ok()
            c.send(packet(PUBLISH, 0, s(t) + (b"\x00" if v == 5 else b"") + b"x"))
            refused(c, (0x81,))
            c = Raw(v)
            c.connect_ok()
            body = struct.pack(">H", 1) + (b"\x00" if v == 5 else b"") + s(t) + b"\x00"
            c.send(packet(SUBSCRIBE, 2, body))
            refused(c, (0x81,))


@case
def topic_alias_zero_and_unknown():
    """MQTT-3.3.2-8: alias 0 is invalid (0x94); an empty topic with an alias that has no
    mapping is a protocol error (0x82)."""
    c = Raw(5)
    c.connect_ok()
    c.publish("a", "x", p=[(0x23, 0)])
    disconnect_reason(c, (0x94,))
    c = Raw(5)
    c.connect_ok()
    c.publish("", "x", p=[(0x23, 1)])
    disconnect_reason(c, (0x82,))


@case
def receive_maximum_exceeded_0x93():
    """MQTT-3.3.4-9: more unacknowledged QoS 2 PUBLISH than the server's Receive Maximum:
    DISCONNECT 0x93."""
    c = Raw(5)
    _, pr = c.connect_ok()
    rmax = pr.get(0x21, 65535)
    assert rmax <= 4096, "receive maximum too large to test: %d" % rmax
    t = uniq("rm")
    data = b"".join(packet(PUBLISH, 0x04, s(t) + struct.pack(">H", i) + b"\x00x")
                    for i in range(1, rmax + 2))
    c.send(data)
    c.sock.settimeout(10)
    while True:
        ty, _, b = c.read()
        if ty == DISCONNECT:
            assert b[0] == 0x93, b
            break
        assert ty == PUBREC, ty
    assert c.closed()


@case
def pubrel_unknown_id_pubcomp_0x92():
    """v5 3.7.2.1: PUBREL for an unknown packet id: PUBCOMP 0x92; 3.1.1: PUBCOMP."""
    c = Raw(5)
    c.connect_ok()
    c.ack(PUBREL, 321)
    assert c.read_ack(PUBCOMP) == (321, 0x92)
    c = Raw(4)
    c.connect_ok()
    c.ack(PUBREL, 321)
    assert c.read_ack(PUBCOMP)[0] == 321


@case
def message_expiry_decremented_for_queued_message():
    """MQTT-3.3.2-6: a stored message is forwarded with the expiry minus its wait."""
    t = uniq("mx")
    cid = uniq("mxc")
    c = Raw(5)
    c.connect_ok(cid, clean=True, p=[(0x11, 60)])
    c.sub_ok(t, opts=1)
    c.disconnect()
    c.close()
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "e", qos=1, pid=1, p=[(0x02, 30)])
    p.read_ack(PUBACK)
    p.publish(t, "gone", qos=1, pid=2, p=[(0x02, 1)])
    p.read_ack(PUBACK)
    time.sleep(2.2)
    c = Raw(5)
    sp, _ = c.connect_ok(cid, clean=False, p=[(0x11, 0)])
    assert sp == 1
    m = c.read_publish()
    assert m["payload"] == b"e" and 0 < m["props"].get(0x02, 0) <= 28, m
    c.ack(PUBACK, m["pid"])
    assert c.nothing(0.5), "expired message delivered"


# ---- CONNECT -------------------------------------------------------------------------


@case
def session_present_flag():
    """MQTT-3.2.2-1/-2/-3 (v5 3.2.2-2/-3): session present is 0 with clean start, 1 when a
    stored session resumes, 0 when there was none."""
    for v in (4, 5):
        cid = uniq("sp%d" % v)
        kw = {"p": [(0x11, 60)]} if v == 5 else {}
        c = Raw(v)
        assert c.connect_ok(cid, clean=False, **kw)[0] == 0
        c.sub_ok(uniq("spt"), opts=1)
        c.disconnect()
        c.close()
        c = Raw(v)
        assert c.connect_ok(cid, clean=False, **kw)[0] == 1
        c.disconnect()
        c.close()
        c = Raw(v)
        assert c.connect_ok(cid, clean=True)[0] == 0
        c.disconnect()
        c.close()


@case
def refused_connack_session_present_zero():
    """MQTT-3.2.2-4 (v5 3.2.2-6): a CONNACK with a non-zero code has session present 0."""
    c = Raw(4)
    c.connect(level=9, clean=False, cid="x")
    sp, rc, _ = c.connack()
    assert rc == 0x01 and sp == 0


@case
def connect_reserved_flag_is_malformed():
    """MQTT-3.1.2-3: the reserved CONNECT flag must be 0, or the connection is closed."""
    for v in (4, 5):
        c = Raw(v)
        body = s("MQTT") + bytes([v, 0x03]) + struct.pack(">H", 60)
        body += (b"\x00" if v == 5 else b"") + s("rsv")
        c.send(packet(1, 0, body))
        connect_refused(c, (0x81,) if v == 5 else ())


@case
def connect_will_flags_inconsistent():
    """MQTT-3.1.2-11/-13/-14/-15: will QoS or retain without the will flag, or will QoS 3:
    malformed."""
    for v in (4, 5):
        for flags in (0x02 | 0x08, 0x02 | 0x20, 0x02 | 0x04 | 0x18):
            c = Raw(v)
            body = s("MQTT") + bytes([v, flags]) + struct.pack(">H", 60)
            body += (b"\x00" if v == 5 else b"") + s("w")
            if flags & 0x04:
                body += (b"\x00" if v == 5 else b"") + s("wt") + s("wm")
            c.send(packet(1, 0, body))
            connect_refused(c, (0x81, 0x82, 0x9B) if v == 5 else ())


@case
def connect_password_without_username_v311():
    """MQTT-3.1.2-22 (3.1.1): password flag without user name flag: refused/closed."""
    c = Raw(4)
    c.connect("pw", pw="x")
    connect_refused(c, (0x04, 0x05))


@case
def connect_wrong_protocol_name():
    """MQTT-3.1.2-1: another protocol name: closed (v5 may first send CONNACK 0x84)."""
    for v in (4, 5):
        c = Raw(v)
        body = s("MQTX") + bytes([v, 0x02]) + struct.pack(">H", 60)
        body += (b"\x00" if v == 5 else b"") + s("pn")
        c.send(packet(1, 0, body))
        connect_refused(c, (0x01, 0x84))


@case
def connect_property_errors_v5():
    """v5 3.1.2.11: Receive Maximum 0, Maximum Packet Size 0, or a property given twice is
    a protocol error: closed, with or without CONNACK 0x81/0x82 first (MQTT-3.1.4-1)."""
    for p in ([(0x21, 0)], [(0x27, 0)], [(0x11, 5), (0x11, 5)]):
        c = Raw(5)
        c.connect(uniq("pe"), p=p)
        connect_refused(c, (0x81, 0x82))


@case
def keepalive_zero_is_not_timed_out_v311():
    """MQTT-3.1.2-... keep alive 0 turns the mechanism off (3.1.1: no server keep alive)."""
    c = Raw(4)
    c.connect_ok(keepalive=0)
    assert c.nothing(2.5), "packet on an idle keepalive-0 connection"
    c.send(packet(PINGREQ, 0, b""))
    c.expect(PINGRESP)


@case
def auth_packet_without_method_is_protocol_error():
    """MQTT-4.12.0-1 (v5): AUTH after a CONNECT without an authentication method:
    DISCONNECT 0x82 (protocol error)."""
    c = Raw(5)
    c.connect_ok()
    c.send(packet(AUTH, 0, b"\x18\x00"))
    disconnect_reason(c, (0x82, 0x8C))


@case
def problem_information_zero():
    """MQTT-3.1.2-29: with Request Problem Information 0 no reason string or user property
    on packets other than PUBLISH/CONNACK/DISCONNECT (SUBACK with an error here)."""
    c = Raw(5)
    c.connect_ok(p=[(0x17, 0)])
    c.subscribe(1, [("." * 3000, 0)])
    _, codes, pr = c.suback()
    assert codes == [0x8F] and 0x1F not in pr and 0x26 not in pr, (codes, pr)


@case
def disconnect_reserved_flags_v311():
    """MQTT-3.14.1-1: DISCONNECT with non-zero reserved bits is malformed (close, no will
    suppression; here: the will is sent)."""
    t = uniq("dw")
    s_ = Raw(4)
    s_.connect_ok()
    s_.sub_ok(t, opts=0)
    c = Raw(4)
    c.connect_ok(will=(t, "will", 0, False, None))
    c.send(bytes([0xE1, 0x00]))
    assert c.closed()
    assert s_.read_publish()["payload"] == b"will"


# ---- wills, shared subscriptions, aliases, more malformed packets --------------------

@case
def will_properties_forwarded():
    """MQTT-3.1.3-? (v5 3.1.3.2): will properties (content type, response topic,
    correlation data, user property, payload format) go out with the will message."""
    t = uniq("wp")
    s_ = Raw(5)
    s_.connect_ok()
    s_.sub_ok(t, opts=1)
    c = Raw(5)
    wp = [(0x03, "text/plain"), (0x08, t + "/r"), (0x09, b"cd"), (0x26, ("k", "v")), (0x01, 1),
          (0x02, 100)]
    c.connect_ok(will=(t, "bye", 1, False, wp))
    c.close()
    m = s_.read_publish()
    pr = m["props"]
    assert m["payload"] == b"bye" and m["qos"] == 1, m
    assert pr.get(0x03) == b"text/plain" and pr.get(0x08) == (t + "/r").encode(), pr
    assert pr.get(0x09) == b"cd" and pr.get(0x26) == [("k", "v")] and pr.get(0x01) == 1, pr
    assert 0 < pr.get(0x02, 0) <= 100, pr
    s_.ack(PUBACK, m["pid"])


@case
def will_sent_at_session_end_before_delay():
    """MQTT-3.1.3-9 (v5): the will goes out at the earlier of the will delay and the
    session's end: delay 30 s, session expiry 1 s -> about 1 s."""
    t = uniq("wse")
    s_ = Raw(5)
    s_.connect_ok()
    s_.sub_ok(t, opts=0)
    c = Raw(5)
    c.connect_ok(uniq("wsec"), p=[(0x11, 1)], will=(t, "end", 0, False, [(0x18, 30)]))
    t0 = time.time()
    c.close()
    s_.sock.settimeout(6)
    assert s_.read_publish()["payload"] == b"end"
    assert time.time() - t0 < 5, time.time() - t0


@case
def shared_subscription_gets_no_retained():
    """v5 4.8.2: retained messages are not sent when a shared subscription is made."""
    t = uniq("shr")
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "kept", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    c = Raw(5)
    c.connect_ok()
    c.sub_ok("$share/g/" + t, opts=1)
    assert c.nothing(0.5), "retained message sent to a shared subscription"
    p.publish(t, "live", qos=1, pid=2)
    p.read_ack(PUBACK)
    m = c.read_publish()
    assert m["payload"] == b"live", m
    c.ack(PUBACK, m["pid"])
    clear(t)


@case
def shared_subscription_bad_names():
    """v5 4.8.2: a ShareName must be non-empty without wildcards and be followed by '/'
    and a filter: SUBACK 0x8F, or a DISCONNECT (0x8F / 0x81 / 0x82)."""
    for f in ("$share/g", "$share//x", "$share/g+/x", "$share/g#/x"):
        c = Raw(5)
        c.connect_ok()
        c.subscribe(1, [(f, 0)])
        t, _, b = c.read()
        if t == SUBACK:
            assert b[-1] in (0x8F, 0x9E), (f, b)
        else:
            assert t == DISCONNECT and b[0] in (0x8F, 0x81, 0x82), (f, t, b)


@case
def retained_dollar_topic_not_matched_by_plus():
    """MQTT-4.7.2-1 for retained messages: '+/x' does not bring a retained '$d/x'."""
    t = uniq("rd")
    p = Raw(5)
    p.connect_ok()
    p.publish("$d/" + t, "hidden", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    c = Raw(5)
    c.connect_ok()
    c.sub_ok("+/" + t, opts=0)
    assert c.nothing(0.5), "retained $ topic matched by '+'"
    clear("$d/" + t)


@case
def unsubscribe_matches_filter_literally():
    """MQTT-3.10.4-1: UNSUBSCRIBE compares filters character by character: 'a/x' does
    not remove 'a/+' (v5 UNSUBACK 0x11)."""
    t = uniq("ul")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t + "/+", opts=0)
    c.unsubscribe(2, [t + "/x"])
    _, b = c.expect(UNSUBACK)
    assert b[0:2] == b"\x00\x02" and b[-1] == 0x11, b
    p = Raw(5)
    p.connect_ok()
    p.publish(t + "/x", "still")
    assert c.read_publish()["payload"] == b"still"


@case
def topic_alias_not_kept_across_connections():
    """v5 3.3.2.3.4: alias mappings last one network connection: after a reconnect (even
    to the same session) an unmapped alias is a protocol error 0x82."""
    cid = uniq("tac")
    c = Raw(5)
    c.connect_ok(cid, p=[(0x11, 30)])
    c.publish(uniq("ta"), "x", p=[(0x23, 1)])
    c.disconnect()
    c.close()
    c = Raw(5)
    c.connect_ok(cid, clean=False, p=[(0x11, 0)])
    c.publish("", "y", p=[(0x23, 1)])
    disconnect_reason(c, (0x82,))


@case
def server_alias_within_client_maximum():
    """MQTT-3.3.2-10: the server's aliases stay within the client's Topic Alias Maximum (1)
    and a topic not aliased goes out in full."""
    t = uniq("tam")
    c = Raw(5)
    c.connect_ok(p=[(0x22, 1)])
    c.sub_ok(t + "/+", opts=0)
    p = Raw(5)
    p.connect_ok()
    for x in ("a", "b", "a", "b", "c"):
        p.publish(t + "/" + x, x)
    mapped = {}
    for x in ("a", "b", "a", "b", "c"):
        m = c.read_publish()
        a = m["props"].get(0x23)
        assert a in (None, 1), m
        topic = m["topic"]
        if a and topic:
            mapped[a] = topic
        if not topic:
            topic = mapped[a]
        assert topic == t + "/" + x and m["payload"] == x.encode(), (x, m)


@case
def property_not_allowed_in_packet_v5():
    """v5 2.2.2.2: a property that does not belong in the packet (Session Expiry in a
    PUBLISH) or an unknown property id: malformed 0x81 (or protocol error 0x82)."""
    for pr in (b"\x11\x00\x00\x00\x05", b"\x7f\x01"):
        c = Raw(5)
        c.connect_ok()
        c.send(packet(PUBLISH, 0, s(uniq("pn")) + bytes([len(pr)]) + pr + b"x"))
        disconnect_reason(c, (0x81, 0x82))


@case
def control_packet_errors():
    """MQTT-2.2.2-1/-2: wrong fixed-header flags (PUBACK 0x41, PINGREQ 0xC1) are
    malformed; so is a PINGREQ with a body, and packet type 0 (reserved)."""
    for v in (4, 5):
        for raw in (b"\x41\x02\x00\x01", b"\xc1\x00", b"\xc0\x01\x00", b"\x00\x00"):
            c = Raw(v)
            c.connect_ok()
            c.send(raw)
            refused(c, (0x81, 0x82))


@case
def packet_type_auth_in_v311_closes():
    """3.1.1 has no packet type 15: closed."""
    c = Raw(4)
    c.connect_ok()
    c.send(b"\xf0\x00")
    assert c.closed()


@case
def v5_subscriber_negative_puback_not_redelivered():
    """v5 4.4: a PUBACK with a reason >= 0x80 still completes the delivery: no resend after
    reconnecting."""
    t = uniq("np")
    cid = uniq("npc")
    c = Raw(5)
    c.connect_ok(cid, p=[(0x11, 30)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "x", qos=1, pid=1)
    p.read_ack(PUBACK)
    m = c.read_publish()
    c.ack(PUBACK, m["pid"], reason=0x80)
    c.send(packet(PINGREQ, 0, b""))
    c.expect(PINGRESP)
    c.close()
    c = Raw(5)
    assert c.connect_ok(cid, clean=False, p=[(0x11, 0)])[0] == 1
    assert c.nothing(0.5), "negatively acknowledged message resent"


@case
def keepalive_v5_disconnect_0x8d():
    """v5 3.1.2.10: after 1.5 x keep alive the server closes; it may say DISCONNECT 0x8D."""
    c = Raw(5)
    c.connect_ok(keepalive=1)
    c.sock.settimeout(4)
    try:
        t, _, b = c.read()
        assert t == DISCONNECT and b[0] == 0x8D, (t, b)
    except (Closed, ConnectionResetError):
        pass
    assert c.closed(2)


@case
def takeover_publishes_will_v5():
    """v5 3.1.4 / 3.1.2.5: a session taken over with clean start 1 ends the old session, so
    its will (no delay) is published; the old connection gets DISCONNECT 0x8E."""
    t = uniq("tw")
    cid = uniq("twc")
    s_ = Raw(5)
    s_.connect_ok()
    s_.sub_ok(t, opts=0)
    old = Raw(5)
    old.connect_ok(cid, will=(t, "old-will", 0, False, None))
    new = Raw(5)
    new.connect_ok(cid)
    disconnect_reason(old, (0x8E,))
    assert s_.read_publish()["payload"] == b"old-will"


@case
def second_connect_v311_closes():
    """MQTT-3.1.0-2 (3.1.1): a second CONNECT is a protocol violation: closed."""
    c = Raw(4)
    c.connect_ok()
    c.connect()
    assert c.closed()


@case
def will_topic_with_wildcard_refused():
    """MQTT-3.1.3-? / v5 3.1.3.3: the will topic is a topic name: wildcards refused
    (CONNACK 0x90/0x81/0x82 or close)."""
    for v in (4, 5):
        c = Raw(v)
        c.connect(uniq("wt"), will=("a/#", "x", 0, False, None if v == 4 else []))
        connect_refused(c, (0x02, 0x81, 0x82, 0x90) if v == 5 else (0x02,))


@case
def empty_client_id_accepted():
    """MQTT-3.1.3-6 (3.1.1, clean session 1) and v5 3.1.3.1: a zero-length client id is
    accepted; v5 returns an Assigned Client Identifier."""
    c = Raw(4)
    assert c.connect_ok("", clean=True)[0] == 0
    c = Raw(5)
    sp, pr = c.connect_ok("", clean=False)
    assert sp == 0 and pr.get(0x12), pr


@case
def inflight_message_resent_even_if_expired():
    """MQTT-3.3.2-5 only drops a message whose onward delivery has not started; an
    unacknowledged QoS 1 message is resent on reconnect (MQTT-4.4.0-1) even after its
    expiry interval has passed."""
    t = uniq("ie")
    cid = uniq("iec")
    c = Raw(5)
    c.connect_ok(cid, p=[(0x11, 30)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "x", qos=1, pid=1, p=[(0x02, 1)])
    p.read_ack(PUBACK)
    m = c.read_publish()
    assert m["payload"] == b"x"
    c.close()
    time.sleep(1.5)
    c = Raw(5)
    assert c.connect_ok(cid, clean=False, p=[(0x11, 0)])[0] == 1
    m = c.read_publish()
    assert m["payload"] == b"x" and m["dup"], m
    c.ack(PUBACK, m["pid"])


@case
def retained_copy_carries_subscription_identifier():
    """MQTT-3.3.4-3: the retained copy sent at SUBSCRIBE carries the identifier too."""
    t = uniq("rsid")
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "kept", qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t, opts=0, p=[(0x0B, 77)])
    m = c.read_publish()
    assert m["retain"] and m["props"].get(0x0B) == [77], m
    clear(t)


@case
def retained_copy_respects_client_maximum_packet_size():
    """MQTT-3.1.2-24/25 (v5): a retained message too large for the client's Maximum
    Packet Size is not sent at SUBSCRIBE; smaller ones are."""
    t = uniq("rmps")
    p = Raw(5)
    p.connect_ok()
    p.publish(t + "/big", "x" * 600, qos=1, pid=1, retain=True)
    p.read_ack(PUBACK)
    p.publish(t + "/small", "s", qos=1, pid=2, retain=True)
    p.read_ack(PUBACK)
    c = Raw(5)
    c.connect_ok(p=[(0x27, 300)])
    c.sub_ok(t + "/+", opts=0)
    m = c.read_publish()
    assert m["payload"] == b"s", m
    assert c.nothing(0.5)
    clear(t + "/big")
    clear(t + "/small")


@case
def overlapping_no_local_per_subscription():
    """v5 3.8.3.1: No Local is per subscription: with 't/+' (no local) and 't/#', a
    client's own message still comes through the second one, once."""
    t = uniq("onl")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t + "/+", opts=0x04, pid=1, p=[(0x0B, 1)])
    c.sub_ok(t + "/#", opts=0, pid=2, p=[(0x0B, 2)])
    c.publish(t + "/x", "mine")
    m = c.read_publish()
    assert m["props"].get(0x0B) == [2], m
    assert c.nothing(0.5)


@case
def disconnect_with_session_expiry_zero_ends_session():
    """v5 3.14.2.2.2: DISCONNECT may lower the session expiry to 0: the session ends."""
    cid = uniq("dse")
    c = Raw(5)
    c.connect_ok(cid, p=[(0x11, 60)])
    c.sub_ok(uniq("dset"), opts=1)
    c.disconnect(0, p=[(0x11, 0)])
    c.close()
    time.sleep(0.2)
    c = Raw(5)
    assert c.connect_ok(cid, clean=False, p=[(0x11, 0)])[0] == 0


@case
def qos2_outbound_receive_maximum():
    """MQTT-3.3.4-7 for QoS 2: a message counts until PUBCOMP, not PUBREC."""
    t = uniq("q2rm")
    c = Raw(5)
    c.connect_ok(p=[(0x21, 1)])
    c.sub_ok(t, opts=2)
    p = Raw(5)
    p.connect_ok()
    for i in (1, 2):
        p.publish(t, "m%d" % i, qos=2, pid=i)
        p.read_ack(PUBREC)
        p.ack(PUBREL, i)
        p.read_ack(PUBCOMP)
    m = c.read_publish()
    assert m["qos"] == 2, m
    c.ack(PUBREC, m["pid"])
    c.read_ack(PUBREL)
    assert c.nothing(0.5), "second PUBLISH before PUBCOMP"
    c.ack(PUBCOMP, m["pid"])
    m2 = c.read_publish()
    assert m2["payload"] == b"m2", m2


@case
def packet_id_reused_after_ack_is_new_message():
    """MQTT-4.3.2-5 / 4.3.3-12 (v5; 3.1.1 4.3.2/4.3.3): once PUBACK (QoS 1) or PUBCOMP
    (QoS 2) went out, the same packet id (even with DUP) is a new message."""
    t = uniq("reuse")
    s_ = Raw(5)
    s_.connect_ok()
    s_.sub_ok(t, opts=0)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "a", qos=1, pid=5)
    p.read_ack(PUBACK)
    p.publish(t, "b", qos=1, pid=5, dup=True)
    p.read_ack(PUBACK)
    p.publish(t, "c", qos=2, pid=6)
    p.read_ack(PUBREC)
    p.ack(PUBREL, 6)
    p.read_ack(PUBCOMP)
    p.publish(t, "d", qos=2, pid=6)
    p.read_ack(PUBREC)
    p.ack(PUBREL, 6)
    p.read_ack(PUBCOMP)
    got = [s_.read_publish()["payload"] for _ in range(4)]
    assert got == [b"a", b"b", b"c", b"d"], got


@case
def refused_connect_ignores_what_follows():
    """MQTT-3.1.4-6 (v5; 3.1.1 MQTT-3.2.2-5 alike): after refusing a CONNECT the server
    processes nothing more the client sent."""
    t = uniq("rcf")
    s_ = Raw(5)
    s_.connect_ok()
    s_.sub_ok(t, opts=0)
    c = Raw(4)
    body = s("MQTT") + bytes([9, 0x02]) + struct.pack(">H", 60) + s("rc")
    c.send(packet(1, 0, body) + packet(PUBLISH, 0, s(t) + b"sneaky"))
    c.closed()
    assert s_.nothing(0.5), "PUBLISH after a refused CONNECT was processed"


@case
def user_property_order_kept():
    """MQTT-3.3.2-17/-18: user properties forwarded unaltered and in order, duplicates
    included."""
    t = uniq("upo")
    s_ = Raw(5)
    s_.connect_ok()
    s_.sub_ok(t, opts=0)
    p = Raw(5)
    p.connect_ok()
    up = [("b", "2"), ("a", "1"), ("b", "3"), ("a", "1")]
    p.publish(t, "x", p=[(0x26, kv) for kv in up])
    assert s_.read_publish()["props"].get(0x26) == up


@case
def topic_matching_is_exact():
    """MQTT-4.7.3-4: no normalisation: topics are case sensitive, and 'a/b', 'a//b',
    'a/b/' and 'a/b ' are all different."""
    t = uniq("norm")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t + "/a/b", opts=0)
    p = Raw(5)
    p.connect_ok()
    for other in ("/A/b", "/a//b", "/a/b/", "/a/b ", "/a/B"):
        p.publish(t + other, "no")
    p.publish(t + "/a/b", "yes")
    m = c.read_publish()
    assert m["payload"] == b"yes" and m["topic"] == t + "/a/b", m
    assert c.nothing(0.3)


@case
def connack_and_disconnect_property_hygiene():
    """MQTT-3.2.2-1: CONNACK flag bits 7-1 are 0; MQTT-3.1.2-28: no Response Information
    unless requested; MQTT-4.12.0-6: no Authentication Method unless the client sent one;
    MQTT-3.14.2-2: a server DISCONNECT has no Session Expiry Interval."""
    c = Raw(5)
    c.connect(uniq("hy"))
    _, b = c.expect(CONNACK)

    pr, _ = parse_props(b, 2)
    assert b[0] & 0xFE == 0 and 0x1A not in pr and 0x15 not in pr and 0x16 not in pr, (b, pr)
    c.publish("a/+", "x")
    _, b = c.expect(DISCONNECT)
    pr, _ = parse_props(b, 1)
    assert 0x11 not in pr, pr
    c = Raw(4)
    c.connect(uniq("hy4"))
    _, b = c.expect(CONNACK)
    assert b[0] & 0xFE == 0 and len(b) == 2, b


@case
def pingresp_while_send_quota_is_zero():
    """MQTT-4.9.0-3 / 3.3.4-10: with the client's receive maximum (1) used up, the server
    still answers other packets (PINGREQ, SUBSCRIBE)."""
    t = uniq("quota")
    c = Raw(5)
    c.connect_ok(p=[(0x21, 1)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    for i in (1, 2):
        p.publish(t, "m%d" % i, qos=1, pid=i)
        p.read_ack(PUBACK)
    m = c.read_publish()
    c.send(packet(PINGREQ, 0, b""))
    c.expect(PINGRESP)
    c.sub_ok(uniq("other"), opts=0, pid=9)
    c.ack(PUBACK, m["pid"])
    assert c.read_publish()["payload"] == b"m2"


@case
def message_expiring_in_online_queue_dropped():
    """MQTT-3.3.2-5: a message waiting behind the client's receive maximum (not yet sent)
    whose expiry passes is not sent; for a clean and for a persistent (durable) session."""
    for expiry in (0, 60):
        expiring_behind_window(expiry)


def expiring_behind_window(expiry):
    t = uniq("oq%d" % expiry)
    c = Raw(5)
    c.connect_ok(uniq("oqc"), p=[(0x21, 1), (0x11, expiry)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "first", qos=1, pid=1)
    p.read_ack(PUBACK)
    p.publish(t, "short", qos=1, pid=2, p=[(0x02, 1)])
    p.read_ack(PUBACK)
    p.publish(t, "last", qos=1, pid=3)
    p.read_ack(PUBACK)
    m = c.read_publish()
    assert m["payload"] == b"first", m
    time.sleep(1.6)
    c.ack(PUBACK, m["pid"])
    m = c.read_publish()
    assert m["payload"] == b"last", m
    c.ack(PUBACK, m["pid"])
    c.disconnect(0, p=[(0x11, 0)] if expiry else None)


@case
def shared_negative_ack_not_sent_to_another_member():
    """MQTT-4.8.2-6: a PUBACK >= 0x80 from a shared-subscription member discards the
    message: no other member gets it."""
    t = uniq("sna")
    g = "$share/gn/" + t
    a, b = Raw(5), Raw(5)
    a.connect_ok()
    b.connect_ok()
    a.sub_ok(g, opts=1)
    b.sub_ok(g, opts=1)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "x", qos=1, pid=1)
    p.read_ack(PUBACK)
    a.sock.settimeout(1.0)
    try:
        who, m = a, a.read_publish()
    except socket.timeout:
        who, m = b, b.read_publish()
    who.ack(PUBACK, m["pid"], reason=0x80)
    who.close()
    other = b if who is a else a
    assert other.nothing(0.8), "negatively acked shared message sent to another member"


@case
def server_aliases_start_afresh_on_reconnect():
    """MQTT-3.3.2-7: the server carries no outbound alias over to a new connection: after a
    reconnect (same session) the first message names its topic again."""
    t = uniq("tar")
    cid = uniq("tarc")
    c = Raw(5)
    c.connect_ok(cid, p=[(0x22, 4), (0x11, 30)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    for i in (1, 2):
        p.publish(t, "m%d" % i, qos=1, pid=i)
        p.read_ack(PUBACK)
    for _ in (1, 2):
        c.ack(PUBACK, c.read_publish()["pid"])
    c.close()
    p.publish(t, "queued", qos=1, pid=3)
    p.read_ack(PUBACK)
    c = Raw(5)
    assert c.connect_ok(cid, clean=False, p=[(0x22, 4), (0x11, 0)])[0] == 1
    m = c.read_publish()
    assert m["topic"] == t and m["payload"] == b"queued", m
    c.ack(PUBACK, m["pid"])
    p.publish(t, "live", qos=1, pid=4)
    p.read_ack(PUBACK)
    m = c.read_publish()
    assert m["payload"] == b"live" and (m["topic"] == t or m["props"].get(0x23)), m


@case
def unsubscribe_completes_started_delivery():
    """MQTT-3.10.4-3: QoS 1 delivery already started completes after UNSUBSCRIBE: the
    message is resent (DUP) on reconnect to the session."""
    t = uniq("usd")
    cid = uniq("usdc")
    c = Raw(5)
    c.connect_ok(cid, p=[(0x11, 30)])
    c.sub_ok(t, opts=1)
    p = Raw(5)
    p.connect_ok()
    p.publish(t, "x", qos=1, pid=1)
    p.read_ack(PUBACK)
    m = c.read_publish()
    c.unsubscribe(2, [t])
    c.expect(UNSUBACK)
    c.close()
    c = Raw(5)
    assert c.connect_ok(cid, clean=False, p=[(0x11, 0)])[0] == 1
    m2 = c.read_publish()
    assert m2["payload"] == b"x" and m2["dup"] and m2["pid"] == m["pid"], m2
    c.ack(PUBACK, m2["pid"])


@case
def response_topic_with_wildcard_refused():
    """MQTT-3.3.2-14: a Response Topic is a topic name: no wildcards (DISCONNECT 0x81/0x82)."""
    c = Raw(5)
    c.connect_ok()
    c.publish(uniq("rtw"), "x", p=[(0x08, "reply/#")])
    disconnect_reason(c, (0x81, 0x82))


@case
def pubrel_bad_flags_malformed():
    """MQTT-3.6.1-1: PUBREL flags must be 0010: otherwise malformed (v5 0x81, 3.1.1 close)."""
    for v in (4, 5):
        c = Raw(v)
        c.connect_ok()
        c.send(b"\x60\x02\x00\x01")
        refused(c, (0x81,))


@case
def bom_in_topic_kept():
    """MQTT-1.5.4-3: U+FEFF in a topic is neither skipped nor stripped: 'a<BOM>b' is its own
    topic and arrives as sent."""
    t = uniq("bom")
    c = Raw(5)
    c.connect_ok()
    c.sub_ok(t + "/\ufeffb", opts=0)
    p = Raw(5)
    p.connect_ok()
    p.publish(t + "/b", "plain")
    p.publish(t + "/\ufeffb", "bom")
    m = c.read_publish()
    assert m["topic"] == t + "/\ufeffb" and m["payload"] == b"bom", m
    assert c.nothing(0.3)


@case
def user_name_invalid_utf8_refused():
    """MQTT-3.1.3-12 (3.1.1: 3.1.3-11): the user name is UTF-8: ill-formed, closed."""
    for v in (4, 5):
        c = Raw(v)
        c.connect(uniq("un"), user=b"bad\xff")
        connect_refused(c, (0x81, 0x86))


@case
def publish_property_value_errors_v5():
    """v5 3.3.2.3: a property given twice (Message Expiry), a Payload Format Indicator
    other than 0/1, or a Topic Alias Maximum in a PUBLISH: DISCONNECT 0x81/0x82."""
    for pr in (b"\x02\x00\x00\x00\x05\x02\x00\x00\x00\x05", b"\x01\x02", b"\x22\x00\x01"):
        c = Raw(5)
        c.connect_ok()
        c.send(packet(PUBLISH, 0, s(uniq("pv")) + bytes([len(pr)]) + pr + b"x"))
        disconnect_reason(c, (0x81, 0x82))


if __name__ == "__main__":
    run()
