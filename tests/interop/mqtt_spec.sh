# mqtt_spec.sh — the MQTT 3.1.1 / 5.0 behaviour a client can observe (tests/interop/mqtt/
# spec.py: one named case per normative statement, raw packets and Paho) against a fresh
# server. Fails when python3-paho-mqtt is missing (scripts/deps.sh test installs it).
. "$OB_SRC/tests/lib/common.sh"
ob_setup
/usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null || ob_fail "python3-paho-mqtt missing (scripts/deps.sh test)"
port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port"
ob_wait_log 'msg="listeners up"'
MQTT_PORT=$port timeout 400 /usr/bin/python3 "$OB_SRC/tests/interop/mqtt/spec.py" ||
    ob_fail "spec cases failed"
kill -0 "$OB_PID" || ob_fail "server died"
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
