# sighup_reload.sh — SIGHUP re-reads the config file: a new log level applies at once,
# a changed listener is reported as needing a restart, and an invalid file is refused
# while the server keeps running on the old configuration.
. "$OB_SRC/tests/lib/common.sh"
ob_setup

port=$(ob_free_port)
port2=$(ob_free_port)
cat >"$T/omnibus.yaml" <<YAML
log:
  level: info
listeners:
  echo: 127.0.0.1:$port
YAML
ob_start -c "$T/omnibus.yaml" --no-default-listeners
ob_wait_log 'msg="listeners up"'
grep -q 'level=debug' "$OB_LOG" && ob_fail "debug output before the reload"

cat >"$T/omnibus.yaml" <<YAML
log:
  level: debug
listeners:
  echo: 127.0.0.1:$port2
YAML
kill -HUP "$OB_PID"
ob_wait_log 'msg="config reloaded" applied="log.level" needs_restart="listeners.echo"'
ob_wait_log 'level=debug mod=server msg="reload applied" log_level=debug'

printf 'log:\n  level: shouty\n' >"$T/omnibus.yaml"
kill -HUP "$OB_PID"
ob_wait_log 'reload failed: keeping the running configuration'
grep -qF "$T/omnibus.yaml:2:10: log.level: expected one of" "$OB_LOG" || ob_fail "reload error not logged"
kill -0 "$OB_PID" || ob_fail "server died on an invalid reload"
if ob_has_python; then
    got=$(ob_echo_roundtrip "$port" "still here")
    [ "$got" = "still here" ] || ob_fail "echo after reload returned '$got'"
fi
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
