# common.sh — helpers for the server-level shell tests in tests/interop/*.sh (sourced,
# not run: ctest runs every tests/interop/*.sh, so this lives outside that directory).
# POSIX sh. Every wait is bounded; ob_setup installs a trap that stops the servers the
# test started and removes its temp dir.
#
#   . "$OB_SRC/tests/lib/common.sh"
#   ob_setup                       # $T = temp dir, $OB = the omnibus binary
#   port=$(ob_free_port)
#   ob_start --no-default-listeners --set listeners.echo=127.0.0.1:$port
#   ob_wait_log 'msg="listeners up"' 10
#   ob_stop TERM                   # sends the signal, waits, sets $OB_STATUS

set -u

: "${OB_BUILD:?OB_BUILD must name the build directory}"
: "${OB_SRC:?OB_SRC must name the source directory}"
OB="$OB_BUILD/omnibus"
OB_PID=""
OB_STATUS=""
OB_LOG=""

ob_fail() {
    echo "FAIL: $*" >&2
    if [ -n "$OB_LOG" ] && [ -f "$OB_LOG" ]; then
        echo "--- server log ($OB_LOG) ---" >&2
        tail -n 50 "$OB_LOG" >&2
    fi
    exit 1
}

ob_cleanup() {
    if [ -n "$OB_PID" ] && kill -0 "$OB_PID" 2>/dev/null; then
        kill -KILL "$OB_PID" 2>/dev/null
        wait "$OB_PID" 2>/dev/null
    fi
    [ -n "${T:-}" ] && rm -rf "$T"
}

ob_setup() {
    [ -x "$OB" ] || ob_fail "no binary at $OB"
    T=$(mktemp -d "${TMPDIR:-/tmp}/omnibus-test.XXXXXX") || ob_fail "mktemp"
    trap 'ob_cleanup' EXIT
    trap 'exit 1' INT TERM HUP
    OB_LOG="$T/server.log"
}

# A TCP port free on 127.0.0.1 right now (the kernel picks it).
ob_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        # no python: a random high port; a clash shows up as "address already in use"
        awk 'BEGIN { srand(); print 20000 + int(rand() * 40000) }'
    fi
}

# Starts the server in the background with a temp data dir; output goes to $OB_LOG.
ob_start() {
    # Truncate here, not in the child: a wait right after must not see the last run's log.
    : >"$OB_LOG"
    "$OB" serve --data-dir "$T/data" "$@" >>"$OB_LOG" 2>&1 &
    OB_PID=$!
}

# Waits up to $2 seconds (default 10) for the fixed string $1 in the log.
ob_wait_log() {
    tries=$(( ${2:-10} * 10 ))
    while [ "$tries" -gt 0 ]; do
        grep -qF -- "$1" "$OB_LOG" 2>/dev/null && return 0
        if [ -n "$OB_PID" ] && ! kill -0 "$OB_PID" 2>/dev/null; then
            grep -qF -- "$1" "$OB_LOG" 2>/dev/null && return 0
            ob_fail "server exited while waiting for: $1"
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    ob_fail "timed out waiting for: $1"
}

# Waits up to $1 seconds for the server to exit; sets OB_STATUS to its exit status.
ob_wait_exit() {
    tries=$(( ${1:-10} * 10 ))
    while kill -0 "$OB_PID" 2>/dev/null; do
        [ "$tries" -le 0 ] && ob_fail "server still running after ${1:-10}s"
        sleep 0.1
        tries=$((tries - 1))
    done
    wait "$OB_PID"
    OB_STATUS=$?
    OB_PID=""
}

# Sends signal $1 and waits for the exit (status in OB_STATUS).
ob_stop() {
    kill "-$1" "$OB_PID" || ob_fail "kill -$1"
    ob_wait_exit "${2:-15}"
}

# Sends $2 as one line to 127.0.0.1:$1 and prints what comes back (echo listener).
ob_echo_roundtrip() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
print(buf.decode().rstrip("\n"))
PY
}

ob_has_python() {
    command -v python3 >/dev/null 2>&1
}
