#!/bin/sh
# sse_browser.sh — headless Chromium (Debian, driven by npm playwright-core) runs
# EventSource and WebSocket against omnibus from a cross-origin page: resume with
# Last-Event-ID across a server restart without gaps, WebSocket publish reaching both,
# and until_seq + 204 stopping EventSource. See tests/interop/node/browser.mjs.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
[ -x /usr/bin/chromium ] || ob_fail "chromium is required (scripts/deps.sh test)"
N="$OB_SRC/tests/interop/node"
sh "$N/ensure.sh" || ob_fail "npm packages could not be installed"
port=$(ob_free_port)
(cd "$N" && timeout 180 node browser.mjs "$OB" "$port" "$T") || {
    tail -n 30 "$T/server.log" >&2
    ob_fail "browser test failed"
}
echo "sse_browser: ok"
