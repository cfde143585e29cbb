# mqtt_limits.sh — configured limits as MQTT clients see them: the maximum packet size
# (limits.max_frame_size) advertised in the v5 CONNACK and enforced (DISCONNECT 0x95 in
# v5, close in 3.1.1) before the packet body is read; the server keeps serving.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port" \
    --set limits.max_frame_size=4KiB
ob_wait_log 'msg="listeners up"'
MQTT_PORT=$port timeout 60 /usr/bin/python3 - <<'PY' || ob_fail "limit cases failed"
import os, sys
sys.path.insert(0, os.path.join(os.environ["OB_SRC"], "tests/interop/mqtt"))
from raw import DISCONNECT, PINGREQ, PINGRESP, Raw, packet
c = Raw(5)
_, pr = c.connect_ok()
assert pr.get(0x27) == 4096, pr
print("ok v5_connack_maximum_packet_size")
c.publish("big", "x" * 5000)
_, b = c.expect(DISCONNECT)
assert b[0] == 0x95, b
assert c.closed()
print("ok v5_packet_too_large_0x95")
c = Raw(4)
c.connect_ok()
c.publish("big", "x" * 5000)
assert c.closed()
print("ok v311_packet_too_large_closes")
c = Raw(5)
c.connect_ok()
c.send(packet(PINGREQ, 0, b""))
c.expect(PINGRESP)
print("ok still_serving")
PY
ob_stop TERM
echo "ok"
