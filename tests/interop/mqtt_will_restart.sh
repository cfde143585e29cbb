# mqtt_will_restart.sh — a v5 will waiting for its will delay survives a restart: the
# client (will delay 5 s, session expiry 60 s) drops its connection without DISCONNECT,
# the broker is killed with SIGKILL once the will is stored, and after the restart a
# persistent subscriber receives the will once, no earlier than the delay. Then the
# same across a graceful shutdown (SIGTERM) that closes the still-connected client.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
start() {
    ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port" --set log.level=debug
    ob_wait_log 'msg="listeners up"'
}
export MQTT_PORT=$port
# will.py STEP TAG: sub (persistent subscriber), drop (connect with a will, vanish),
# hold (connect with a will and wait to be closed), recv (subscriber gets the will once).
cat >"$T/will.py" <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["OB_SRC"], "tests/interop/mqtt"))
from raw import PUBACK, Raw
step, tag, stamp = sys.argv[1], sys.argv[2], sys.argv[3]
EXPIRY = [(0x11, 600)]
if step == "sub":
    r = Raw(5)
    r.connect_ok("wsub", clean=False, p=EXPIRY)
    r.sub_ok("will/#", 1)
    r.disconnect()
elif step in ("drop", "hold"):
    r = Raw(5)
    will = ("will/" + tag, "gone " + tag, 1, False, [(0x18, 5)])
    r.connect_ok("wdrop-" + tag, clean=True, p=[(0x11, 60)], will=will)
    if step == "drop":
        open(stamp, "w").write(repr(time.time()))
        r.close()  # no DISCONNECT: the will is due in 5 s
    else:
        assert r.closed(30), "server never closed the connection"
        open(stamp, "w").write(repr(time.time()))
elif step == "recv":
    r = Raw(5, timeout=20)
    sp, _ = r.connect_ok("wsub", clean=False, p=EXPIRY)
    assert sp == 1, "subscriber session lost"
    m = r.read_publish()
    waited = time.time() - float(open(stamp).read())
    assert m["topic"] == "will/" + tag and m["payload"] == ("gone " + tag).encode(), m
    assert waited >= 4.5, "will published %.1f s after the drop, before its delay" % waited
    r.ack(PUBACK, m["pid"])
    assert r.nothing(2.0), "the will arrived twice"
    r.disconnect()
print("ok", step, tag)
PY
W="/usr/bin/python3 $T/will.py"

start
$W sub - - || ob_fail "subscriber setup"
$W drop k9 "$T/k9.t" || ob_fail "will client (kill -9 case)"
ob_wait_log 'msg="delayed will stored" client=wdrop-k9' 10
kill -KILL "$OB_PID"
wait "$OB_PID" 2>/dev/null
OB_PID=""
mv "$OB_LOG" "$T/server1.log"
start
$W recv k9 "$T/k9.t" || ob_fail "will after kill -9 and restart"
[ "$(grep -c 'msg="delayed will published" client=wdrop-k9' "$OB_LOG")" = 1 ] ||
    ob_fail "the will was not published exactly once"

# Graceful: the client is still connected when the server shuts down.
$W hold term "$T/term.t" &
holder=$!
ob_wait_log 'msg="client connected" client=wdrop-term' 10
ob_stop TERM
wait $holder || ob_fail "will client (SIGTERM case)"
grep -q 'msg="delayed will stored" client=wdrop-term' "$OB_LOG" ||
    ob_fail "the will was not stored at shutdown"
mv "$OB_LOG" "$T/server2.log"
start
$W recv term "$T/term.t" || ob_fail "will after a graceful restart"
ob_stop TERM
echo "ok"
