"""chaos.py — misbehaving clients must not cost a well-behaved one anything. While a Paho
publisher sends QoS 1 messages to a Paho subscriber, raw-socket clients (both protocol
versions) keep connecting and then: vanish mid-packet (often with a TCP reset), send
random bytes, announce a 256 MB packet, subscribe to a busy topic and never read, fire
QoS 1 bursts and leave, or half-close. Passes when the subscriber got every message the
publisher had acknowledged, each once. Usage: chaos.py SECONDS (MQTT_PORT)."""
import os
import random
import socket
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw import PORT, PUBLISH, SUBSCRIBE, packet, s  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0


def connect_bytes(cid, v):
    body = s("MQTT") + bytes([v, 0x02]) + struct.pack(">H", 30)
    return packet(1, 0, body + (b"\x00" if v == 5 else b"") + s(cid))


def misbehave(c, v, rng):
    none = b"\x00" if v == 5 else b""  # an empty v5 property block
    mode = rng.randrange(6)
    if mode == 0:  # vanish in the middle of a large PUBLISH
        big = packet(PUBLISH, 2, s("chaos/big") + b"\x00\x01" + none + os.urandom(5000))
        c.sendall(big[:rng.randrange(1, len(big))])
    elif mode == 1:
        c.sendall(os.urandom(rng.randrange(1, 300)))
    elif mode == 2:  # a slow consumer of the busy topic
        c.sendall(packet(SUBSCRIBE, 2, b"\x00\x01" + none + s("load/#") + b"\x01"))
        time.sleep(rng.random())
    elif mode == 3:
        for k in range(50):
            c.sendall(packet(PUBLISH, 2, s("load/c") + struct.pack(">H", k + 1) + none +
                             b"p" * 100))
    elif mode == 4:
        c.shutdown(socket.SHUT_WR)
        time.sleep(0.05)
    else:  # a fixed header announcing the largest length there is
        c.sendall(b"\x30\xff\xff\xff\x7f")


def chaos(i, stop):
    rng = random.Random(i)
    n = 0
    while time.time() < stop:
        n += 1
        try:
            c = socket.create_connection(("127.0.0.1", PORT), timeout=2)
            v = rng.choice((4, 5))
            c.sendall(connect_bytes("chaos-%d-%d" % (i, n), v))
            misbehave(c, v, rng)
            if rng.random() < 0.5:  # close with a reset instead of a FIN
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        except OSError:
            pass  # the server may close first: that is its right


def main():
    got = {}
    lock = threading.Lock()

    def on_message(_c, _u, m):
        with lock:
            got[int(m.payload)] = got.get(int(m.payload), 0) + 1

    sub = mqtt.Client(client_id="chaos-good-sub", clean_session=True)
    sub.on_message = on_message
    sub.connect("127.0.0.1", PORT)
    sub.subscribe("good/t", 1)
    sub.loop_start()
    time.sleep(0.5)
    pub = mqtt.Client(client_id="chaos-good-pub")
    pub.connect("127.0.0.1", PORT)
    pub.loop_start()
    stop = time.time() + SECONDS
    threads = [threading.Thread(target=chaos, args=(i, stop)) for i in range(12)]
    for t in threads:
        t.start()
    infos = []
    while time.time() < stop:
        infos.append(pub.publish("good/t", str(len(infos)), qos=1))
        if len(infos) % 50 == 0:
            time.sleep(0.01)
    for t in threads:
        t.join()
    acked = 0
    for info in infos:
        info.wait_for_publish(10)
        acked += info.is_published()
    deadline = time.time() + 10
    while time.time() < deadline and len(got) < acked:
        time.sleep(0.1)
    dups = sum(1 for n in got.values() if n > 1)
    print("published %d, acked %d, received %d, duplicates %d" %
          (len(infos), acked, len(got), dups))
    assert acked == len(infos), "publisher's messages not all acknowledged"
    assert len(got) == acked, "subscriber missed %d acknowledged messages" % (acked - len(got))
    assert dups == 0, "duplicates on a clean QoS 1 connection"
    assert len(infos) > 1000, "too few messages to mean anything"


if __name__ == "__main__":
    main()
