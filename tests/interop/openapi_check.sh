#!/bin/sh
# openapi_check.sh — keeps docs/openapi.json true: lints it with npm @redocly/cli
# (recommended rules; the few ignored problems are listed with reasons in
# tests/interop/node/.redocly.lint-ignore.yaml), then runs a scripted session against a
# real server and validates every response against the document (node + ajv), including
# that /v1/openapi.json serves exactly docs/openapi.json.
. "$OB_SRC/tests/lib/common.sh"
ob_setup
N="$OB_SRC/tests/interop/node"
sh "$N/ensure.sh" || ob_fail "npm packages could not be installed"
out=$(cd "$N" && timeout 120 npx --no-install redocly lint ../../../docs/openapi.json 2>&1) ||
    ob_fail "redocly lint failed: $out"
echo "$out" | grep -qi 'warning' && ob_fail "redocly lint warnings: $out"
port=$(ob_free_port)
cat >"$T/omnibus.yaml" <<EOF2
auth:
  users:
    - name: bob
      tokens: [bob-token]
  rules:
    - user: bob
      actions: [publish, subscribe]
      subjects: [public.>]
EOF2
ob_start --no-default-listeners -c "$T/omnibus.yaml" --set listeners.http=127.0.0.1:$port \
    --set limits.max_msg_size=64KiB
ob_wait_log 'msg="listeners up"' 10
(cd "$N" && timeout 120 node openapi_check.mjs "http://127.0.0.1:$port" "$OB_SRC/docs/openapi.json") ||
    ob_fail "responses do not match docs/openapi.json"
echo "openapi_check: ok"
