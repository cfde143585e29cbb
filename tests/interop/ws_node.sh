#!/bin/sh
# ws_node.sh — the WebSocket pub/sub protocol with npm `ws` (see node/ws_client.mjs):
# permessage-deflate, fragmented messages, ping/pong, resume, binary frames, unsubscribe.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
N="$OB_SRC/tests/interop/node"
sh "$N/ensure.sh" || ob_fail "npm packages could not be installed"
port=$(ob_free_port)
ob_start --no-default-listeners --set listeners.http=127.0.0.1:$port
ob_wait_log 'msg="listeners up"' 10
curl -s -m 5 -o /dev/null -X PUT -H 'Content-Type: application/json' \
    -d '{"subjects":["node.>"]}' "http://127.0.0.1:$port/v1/streams/NODE"
(cd "$N" && timeout 60 node ws_client.mjs "$port") || ob_fail "ws client failed"
echo "ws_node: ok"
