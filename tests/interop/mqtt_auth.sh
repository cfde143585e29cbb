# mqtt_auth.sh — MQTT authentication and ACLs through the core's auth: CONNACK codes for
# bad credentials and refused anonymous clients (3.1.1 and 5.0), forbidden publishes
# (v5 reason 0x87; 3.1.1 acknowledged and dropped), forbidden subscriptions (0x80/0x87).
. "$OB_SRC/tests/lib/common.sh"
ob_setup
/usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null || ob_fail "python3-paho-mqtt missing (scripts/deps.sh test)"
port=$(ob_free_port)
cat >"$T/omnibus.yaml" <<YAML
auth:
  anonymous: never
  users:
    - name: alice
      password: secret
  rules:
    - user: alice
      effect: deny
      actions: [publish, subscribe]
      subjects: ["secret.>"]
    - user: alice
      effect: allow
      actions: [publish, subscribe]
      subjects: [">"]
YAML
ob_start --no-default-listeners -c "$T/omnibus.yaml" --set "listeners.mqtt=127.0.0.1:$port"
ob_wait_log 'msg="listeners up"'
MQTT_PORT=$port timeout 120 /usr/bin/python3 "$OB_SRC/tests/interop/mqtt/auth.py" ||
    ob_fail "auth cases failed"
ob_stop TERM
echo "ok"
