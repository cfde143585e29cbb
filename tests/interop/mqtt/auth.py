"""auth.py — authentication and authorization as MQTT clients see them, against a server
configured by tests/interop/mqtt_auth.sh (anonymous never; alice/secret; alice may not
publish or subscribe under secret/). One named case each, as in spec.py."""
import os
import sys

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import case, run  # noqa: E402
from raw import PUBACK, PUBREC, Raw  # noqa: E402



def refused(v, want, **kw):
    c = Raw(v)
    c.connect("x", **kw)
    _, rc, _ = c.connack()
    assert rc == want, "CONNACK 0x%02x, want 0x%02x" % (rc, want)
    assert c.closed()


@case
def v311_bad_password_0x04():
    refused(4, 0x04, user="alice", pw="wrong")


@case
def v5_bad_password_0x86():
    refused(5, 0x86, user="alice", pw="wrong")


@case
def v311_anonymous_not_authorized_0x05():
    refused(4, 0x05)


@case
def v5_anonymous_not_authorized_0x87():
    refused(5, 0x87)


@case
def paho_bad_password_rc4():
    got = []
    c = mqtt.Client("paho-bad", protocol=mqtt.MQTTv311)
    c.username_pw_set("alice", "nope")
    c.on_connect = lambda cl, u, f, rc: got.append(rc)
    c.connect("127.0.0.1", int(os.environ["MQTT_PORT"]))
    for _ in range(50):
        c.loop(0.1)
        if got:
            break
    assert got == [4], got


def alice(v):
    c = Raw(v)
    c.connect_ok(user="alice", pw="secret")
    return c


@case
def v5_forbidden_publish_puback_0x87():
    watch = alice(5)
    watch.sub_ok("open/#", opts=0)
    c = alice(5)
    c.publish("secret/x", "no", qos=1, pid=1)
    assert c.read_ack(PUBACK) == (1, 0x87)
    c.publish("secret/x", "no", qos=2, pid=2)
    assert c.read_ack(PUBREC) == (2, 0x87)
    c.publish("open/x", "yes", qos=1, pid=3)
    assert c.read_ack(PUBACK) == (3, 0)
    assert watch.read_publish()["payload"] == b"yes"


@case
def v311_forbidden_publish_acked_and_dropped():
    """MQTT-3.3.5-2: 3.1.1 acknowledges and discards."""
    spy = Raw(4)
    spy.connect_ok(user="alice", pw="secret")
    spy.sub_ok("open/#", opts=0)
    c = alice(4)
    c.publish("secret/y", "no", qos=1, pid=4)
    assert c.read_ack(PUBACK)[0] == 4
    c.publish("open/y", "yes", qos=1, pid=5)
    assert c.read_ack(PUBACK)[0] == 5
    assert spy.read_publish()["payload"] == b"yes"


@case
def v311_forbidden_subscribe_0x80():
    c = alice(4)
    c.subscribe(1, [("secret/#", 1), ("open/#", 1)])
    _, codes, _ = c.suback()
    assert codes == [0x80, 1], codes


@case
def v5_forbidden_subscribe_0x87():
    c = alice(5)
    c.subscribe(1, [("secret/#", 1), ("#", 0)])
    _, codes, _ = c.suback()
    assert codes == [0x87, 0x87], codes  # '#' overlaps secret/ and is refused too


@case
def v5_will_to_forbidden_topic_refused():
    c = Raw(5)
    c.connect("w", user="alice", pw="secret", will=("secret/w", "x", 0, False, None))
    _, rc, _ = c.connack()
    assert rc == 0x87, hex(rc)


if __name__ == "__main__":
    run()
