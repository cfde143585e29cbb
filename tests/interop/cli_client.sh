#!/bin/sh
# cli_client.sh — the client subcommands against a real server: stream add/ls/info/rm,
# pub (argument, stdin, headers, key), sub (SSE) across a server restart resuming from
# Last-Event-ID without a gap, bench http (summary line; progress line on a pty), and
# the exit status on errors.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
port=$(ob_free_port)
start() {
    ob_start --no-default-listeners --set listeners.http=127.0.0.1:$port
    ob_wait_log 'msg="listeners up"' 10
}
start
U="--url http://127.0.0.1:$port"

out=$("$OB" stream add ORD 'orders.>' --max-msgs 1000 $U) || ob_fail "stream add: $out"
[ "$out" = "created ORD" ] || ob_fail "stream add said: $out"
"$OB" stream add ORD 'orders.>' --max-msgs 1000 $U | grep -q '^exists' || ob_fail "stream add twice"
"$OB" stream add ORD 'other.>' $U 2>"$T/err" && ob_fail "conflicting stream add succeeded"
grep -q '409' "$T/err" || ob_fail "conflict not reported: $(cat "$T/err")"
"$OB" stream ls $U | grep -q '^ORD .*\["orders.>"\]' || ob_fail "stream ls"

[ "$("$OB" pub orders.a first -H 'Trace: t1' --key k1 $U)" = "stored ORD:1" ] || ob_fail "pub arg"
printf 'from\nstdin' | "$OB" pub orders.b - $U | grep -q 'stored ORD:2' || ob_fail "pub stdin"
"$OB" pub live.x hi $U | grep -q '^accepted' || ob_fail "pub to a live subject"
"$OB" pub 'bad..s' x $U 2>"$T/err" && ob_fail "bad subject accepted"
grep -q '400' "$T/err" || ob_fail "bad subject error: $(cat "$T/err")"
"$OB" stream info ORD $U | grep -q '"msgs": 2' || ob_fail "stream info"

# sub from the start: JSON lines, raw payloads
"$OB" sub 'orders.>' --from-seq 1 --count 2 $U >"$T/sub.json" || ob_fail "sub"
head -1 "$T/sub.json" | grep -q '"trace":"t1"' || ob_fail "sub JSON: $(cat "$T/sub.json")"
"$OB" sub 'orders.>' --from-seq 1 --count 2 --raw $U >"$T/sub.raw"
[ "$(cat "$T/sub.raw")" = "$(printf 'first\nfrom\nstdin')" ] || ob_fail "sub raw: $(cat "$T/sub.raw")"

# sub across a restart: 3 before, 3 after (published while it is reconnecting)
"$OB" sub 'orders.>' --count 6 --raw $U >"$T/resume" 2>"$T/resume.err" &
sub=$!
sleep 0.5
for i in 1 2 3; do "$OB" pub orders.r "r$i" $U >/dev/null || ob_fail "pub r$i"; done
sleep 0.3
ob_stop TERM
start
for i in 4 5 6; do "$OB" pub orders.r "r$i" $U >/dev/null || ob_fail "pub r$i"; done
tries=100
while kill -0 $sub 2>/dev/null && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
kill $sub 2>/dev/null && ob_fail "sub did not finish: $(cat "$T/resume") / $(cat "$T/resume.err")"
wait $sub || ob_fail "sub failed: $(cat "$T/resume.err")"
[ "$(cat "$T/resume" | tr '\n' ' ')" = "r1 r2 r3 r4 r5 r6 " ] || ob_fail "resume: $(cat "$T/resume")"
grep -q 'reconnecting in .* from ORD:5' "$T/resume.err" || ob_fail "no resume note: $(cat "$T/resume.err")"

# bench: a summary line; on a terminal also a progress line
"$OB" bench http --count 500 --concurrency 4 --subject bench.x $U >"$T/bench" 2>"$T/bench.err" ||
    ob_fail "bench http: $(cat "$T/bench.err")"
grep -q '^bench http: 500 messages of 100 B over 4 connections .* msg/s.* 0 errors' "$T/bench" ||
    ob_fail "bench summary: $(cat "$T/bench")"
[ -s "$T/bench.err" ] && ob_fail "progress written without a terminal: $(cat "$T/bench.err")"
python3 - "$OB" "http://127.0.0.1:$port" "$T/pty" <<'PY' || ob_fail "bench on a pty"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "bench", "http", "--count", "3000", "--url", sys.argv[2]])
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
open(sys.argv[3], "wb").write(out)
assert b"published" in out and b"\r" in out and b"bench http: 3000 messages" in out, out
PY

"$OB" stream rm ORD $U | grep -q 'deleted ORD' || ob_fail "stream rm"
"$OB" stream info ORD $U 2>/dev/null && ob_fail "stream info after rm"
"$OB" stream bogus $U 2>/dev/null && ob_fail "bogus subcommand accepted"
"$OB" pub orders.x y --url http://127.0.0.1:1 2>"$T/err" && ob_fail "pub to a closed port succeeded"
echo "cli_client: ok"
