# port_in_use.sh — a listener whose port is taken is a start-up error that names it,
# with a nonzero exit status.
. "$OB_SRC/tests/lib/common.sh"
ob_setup

port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.echo=127.0.0.1:$port"
ob_wait_log 'msg="listeners up"'
first=$OB_PID

"$OB" serve --data-dir "$T/data2" --no-default-listeners \
    --set "listeners.echo=127.0.0.1:$port" >"$T/second.log" 2>&1 &
second=$!
tries=100
while kill -0 "$second" 2>/dev/null && [ "$tries" -gt 0 ]; do
    sleep 0.1
    tries=$((tries - 1))
done
kill -0 "$second" 2>/dev/null && { kill -KILL "$second"; ob_fail "second server did not exit"; }
wait "$second"
status=$?
[ "$status" -ne 0 ] || ob_fail "second server exited 0"
grep -qF "listener echo: 127.0.0.1:$port: address already in use" "$T/second.log" ||
    { cat "$T/second.log" >&2; ob_fail "error does not name the listener and port"; }

OB_PID=$first
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "first server exit status $OB_STATUS"
echo "ok"
