# mqtt_chaos.sh — clients that vanish mid-packet, reset connections, send garbage or never
# read (tests/interop/mqtt/chaos.py) must not cost a well-behaved Paho publisher and
# subscriber a single acknowledged message; the server stays up and exits cleanly.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port"
ob_wait_log 'msg="listeners up"'
MQTT_PORT=$port timeout 120 /usr/bin/python3 "$OB_SRC/tests/interop/mqtt/chaos.py" 8 ||
    ob_fail "a well-behaved client lost messages"
kill -0 "$OB_PID" || ob_fail "server died"
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
