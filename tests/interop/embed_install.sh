# embed_install.sh — the library as a user gets it: `cmake --install` the build into a
# temp prefix, compile examples/embed.c against it with nothing but
# `pkg-config --cflags --libs omnibus` (PKG_CONFIG_PATH into that prefix, strict
# warnings), run it twice on one data dir, and check what it prints: the publish acks,
# the direct subscriber, the consumer with its acks, and on the second run the stream
# recovered from disk.
. "$OB_SRC/tests/lib/common.sh"
ob_setup

command -v pkg-config >/dev/null 2>&1 || ob_fail "pkg-config is not installed"
CC=${CC:-cc}
prefix="$T/prefix"

cmake --install "$OB_BUILD" --prefix "$prefix" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; ob_fail "cmake --install failed"; }
pcdir=$(dirname "$(find "$prefix" -name omnibus.pc | head -n 1)")
[ -f "$pcdir/omnibus.pc" ] || ob_fail "no omnibus.pc installed under $prefix"
[ -f "$prefix/include/omnibus.h" ] || ob_fail "no omnibus.h installed under $prefix/include"

# Only the temp prefix: a stale omnibus installed elsewhere must not be found instead.
PKG_CONFIG_PATH="$pcdir"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs omnibus) || ob_fail "pkg-config cannot resolve omnibus"
case "$flags" in
*"$prefix"*) ;;
*) ob_fail "pkg-config flags do not point into the install prefix: $flags" ;;
esac
libdir=$(cd "$(pkg-config --variable=libdir omnibus)" && pwd) || ob_fail "libdir missing"

# Word splitting of $flags is intended: it is a list of compiler arguments.
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
    -Wvla -Werror -o "$T/embed" "$OB_SRC/examples/embed.c" $flags >"$T/cc.log" 2>&1 ||
    { cat "$T/cc.log" >&2; ob_fail "examples/embed.c does not build against the install"; }

# The installed shared library, not one from the build tree or the system.
run_embed() {
    status=0
    LD_LIBRARY_PATH="$libdir" timeout 60 "$T/embed" "$T/data" >"$T/out$1" 2>"$T/err$1" ||
        status=$?
    [ "$status" -eq 0 ] ||
        { cat "$T/out$1" "$T/err$1" >&2; ob_fail "run $1 of embed exited with status $status"; }
}

expect() { # run, fixed string
    grep -qF -- "$2" "$T/out$1" || { cat "$T/out$1" >&2; ob_fail "run $1: missing: $2"; }
}

run_embed 1
# The shared library exports the public API only (a version script from omnibus.h).
if nm -D --defined-only "$libdir/libomnibus.so" | grep -qE " T (ob_stream_capture|ob_log_append)"; then
    ob_fail "libomnibus.so exports internal symbols"
fi
nm -D --defined-only "$libdir/libomnibus.so" | grep -q " T ob_publish@" ||
    ob_fail "libomnibus.so does not export ob_publish"
LD_LIBRARY_PATH="$libdir" ldd "$T/embed" | grep -qF "$libdir/libomnibus.so" ||
    ob_fail "embed is not linked against the installed libomnibus.so"
expect 1 "stream:     orders holds 0 messages from earlier runs"
expect 1 'subscriber: orders.eu {"order":1,"qty":10}'
expect 1 'subscriber: orders.asia {"order":3,"qty":30}'
for seq in 1 2 3; do
    expect 1 "durable:    stored in stream orders at seq $seq"
done
expect 1 'consumer:   orders seq 1 (delivery 1, application/json) {"order":1,"qty":10}'
expect 1 'consumer:   orders seq 3 (delivery 1, application/json) {"order":3,"qty":30}'
expect 1 "done:       3 published, 3 received, 3 acked; consumer ack floor 3, 0 pending"

# Second run on the same data dir: the stream and consumer come back from disk, and the
# new messages continue the sequence.
run_embed 2
expect 2 "stream:     orders holds 3 messages from earlier runs"
expect 2 "durable:    stored in stream orders at seq 6"
expect 2 'consumer:   orders seq 6 (delivery 1, application/json) {"order":3,"qty":30}'
expect 2 "consumer ack floor 6, 0 pending"
# Everything acked in run 1 stays acked: nothing comes back a second time.
if grep -q "(delivery [2-9]" "$T/out2"; then
    cat "$T/out2" >&2
    ob_fail "run 2 redelivered a message acked in run 1"
fi
echo "PASS: embed example built with pkg-config against $prefix and ran"
