# serve_starts.sh — `omnibus serve` starts the listeners it has adapters for, logs them
# on one line, warns about those it has none for, serves a connection, and exits 0 on
# SIGTERM and on SIGINT.
. "$OB_SRC/tests/lib/common.sh"
ob_setup

echo_port=$(ob_free_port)
http_port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.echo=127.0.0.1:$echo_port" \
    --set "listeners.kafka=127.0.0.1:$http_port"
ob_wait_log 'msg="listeners up"'
grep -qF "listeners=\"echo=127.0.0.1:$echo_port\"" "$OB_LOG" ||
    ob_fail "the listeners line does not name echo=127.0.0.1:$echo_port"
grep -qF 'listener kafka: no adapter in this build, not started' "$OB_LOG" ||
    ob_fail "no warning about the kafka listener"
# Only the named listeners: mqtt's default port must not have been tried.
grep -q 'listener mqtt' "$OB_LOG" && ob_fail "mqtt listener attempted despite --no-default-listeners"

if ob_has_python; then
    got=$(ob_echo_roundtrip "$echo_port" "hello omnibus")
    [ "$got" = "hello omnibus" ] || ob_fail "echo returned '$got'"
fi

ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS after SIGTERM"
grep -qF 'msg="shutting down" signal=SIGTERM' "$OB_LOG" || ob_fail "no shutdown log line"
[ -d "$T/data" ] || ob_fail "data dir not created"

ob_start --no-default-listeners --set "listeners.echo=127.0.0.1:$echo_port"
ob_wait_log 'msg="listeners up"'
ob_stop INT
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS after SIGINT"
echo "ok"
