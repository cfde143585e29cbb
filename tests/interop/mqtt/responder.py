"""responder.py TOPIC — answers one MQTT v5 request on TOPIC (Paho): the reply goes to the
request's response topic with its correlation data (if any) and the payload "re:<request>"."""
import os
import sys

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

done = []


def on_message(c, u, m):
    p = Properties(PacketTypes.PUBLISH)
    if hasattr(m.properties, "CorrelationData"):
        p.CorrelationData = m.properties.CorrelationData
    c.publish(m.properties.ResponseTopic, b"re:" + m.payload, 1, properties=p)
    done.append(1)


def on_connect(c, u, flags, rc, props=None):
    c.subscribe(sys.argv[1], 1)


def on_subscribe(c, u, mid, granted, props=None):
    print("ready", flush=True)


c = mqtt.Client(protocol=mqtt.MQTTv5)
c.on_message = on_message
c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.connect("127.0.0.1", int(os.environ["MQTT_PORT"]))
c.loop_start()
for _ in range(100):
    if done:
        break
    __import__("time").sleep(0.1)
__import__("time").sleep(0.3)
c.disconnect()
c.loop_stop()
