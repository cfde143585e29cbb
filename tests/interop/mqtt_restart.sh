# mqtt_restart.sh — the restart test of issue 5: QoS 1 messages published to an offline
# persistent session while the broker is killed with SIGKILL mid-stream; after a
# restart the client reconnects and receives every message that was PUBACKed (none
# twice), its session and subscription are still there, and so is a retained message.
# And QoS 2 exactly once across the kill: a PUBLISH that got PUBREC before it is resent
# (DUP) after the restart and reaches the subscriber once. And a shared group of
# persistent members keeps what it queued while they were offline.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
PY="/usr/bin/python3 $OB_SRC/tests/interop/mqtt/restart.py"
start() {
    ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port"
    ob_wait_log 'msg="listeners up"'
}
start
export MQTT_PORT=$port
$PY subscribe rs-client rs || ob_fail "subscribe"
$PY retain rs/kept survives || ob_fail "retain"
$PY q2pub q2/x || ob_fail "qos 2 publish"
$PY sharedsub sh/x || ob_fail "shared subscription setup"
$PY publish rs 20000 "$T/acked" &
pub=$!
tries=100
while [ "$(cat "$T/acked" 2>/dev/null | wc -l)" -lt 500 ] && [ $tries -gt 0 ]; do
    sleep 0.05
    tries=$((tries - 1))
done
kill -KILL "$OB_PID"
wait "$OB_PID" 2>/dev/null
OB_PID=""
wait $pub
n=$(wc -l <"$T/acked")
[ "$n" -gt 0 ] || ob_fail "nothing was acked before the kill"
echo "killed with $n messages acked"
mv "$OB_LOG" "$T/server1.log"
start
$PY verify rs-client rs "$T/acked" || ob_fail "verify after restart"
$PY q2verify q2/x || ob_fail "qos 2 exactly once after restart"
$PY sharedverify sh/x || ob_fail "shared subscription after restart"
ob_stop TERM
echo "ok"
