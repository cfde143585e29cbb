#!/bin/sh
# rest_api.sh — the REST API (/v1) driven by curl against a running server: publish
# (single, batch, headers, key, Idempotency-Key), streams CRUD, reading and purging
# messages, consumers with pull/ack/nack/extend and a long-poll, and the problem+json
# errors (400, 403, 404, 409, 413, 415, 422, 429).
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v jq >/dev/null || ob_fail "jq is required (scripts/deps.sh test)"
port=$(ob_free_port)
cat >"$T/omnibus.yaml" <<EOF
auth:
  users:
    - name: alice
      tokens: [alice-token]
  rules:
    - user: alice
      actions: [publish, subscribe]
      subjects: [public.>]
EOF
OB_REST_MAX_PULLS=2 ob_start --no-default-listeners -c "$T/omnibus.yaml" \
    --set listeners.http=127.0.0.1:$port --set limits.max_msg_size=64KiB
ob_wait_log 'msg="listeners up"' 10
U=http://127.0.0.1:$port

# req METHOD PATH [curl args...]: sets $code and $body (bounded by -m).
req() {
    m=$1 p=$2
    shift 2
    out=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$U$p") || ob_fail "curl $m $p"
    code=$out
    body=$(cat "$T/body")
}
expect() { [ "$code" = "$1" ] || ob_fail "$m $p: expected $1, got $code: $body"; }
field() { printf '%s' "$body" | jq -r "$1"; }
check() { [ "$(field "$1")" = "$2" ] || ob_fail "$m $p: $1 is '$(field "$1")', want '$2': $body"; }
J="-H Content-Type:application/json"

# publish with no stream: accepted (202), nothing stored
req POST /v1/subjects/orders.eu -d hello
expect 202
check .stream null

# streams
req POST /v1/streams $J -d '{"name":"ORD","subjects":["orders.>"]}'
expect 201
check .config.fsync always
req POST /v1/streams $J -d '{"name":"ORD","subjects":["orders.>"]}'
expect 200
req POST /v1/streams $J -d '{"name":"ORD","subjects":["other.>"]}'
expect 409
check .type https://omnibus.dev/problems/conflict
req PUT /v1/streams/ORD $J -d '{"subjects":["orders.>"],"max_msgs":1000}'
expect 200
check .config.max_msgs 1000
req PUT /v1/streams/ORD $J -d '{"subjects":["orders.>"],"retention":"workqueue"}'
expect 409
req POST /v1/streams $J -d '{"name":"X","subjects":["x"],"typo":1}'
expect 400

# publish stored: 200 with the sequence; headers and key mapped
req POST /v1/subjects/orders.eu -d hello -H 'Content-Type: text/plain' \
    -H 'Omnibus-Header-Trace-Id: t-1' -H 'Omnibus-Key: k1'
expect 200
check .stream ORD
check .seq 1
check .duplicate false
req GET /v1/streams/ORD/messages/1
expect 200
check .payload hello
check .key k1
check '.headers["trace-id"]' t-1
check '.headers["content-type"]' text/plain
req GET '/v1/streams/ORD/messages/1?encoding=base64'
check .payload_base64 aGVsbG8=

# batch: all or nothing on validation, results in order
req POST /v1/publish $J -d '[{"subject":"orders.a","payload":"a"},{"subject":"orders.b","payload_base64":"AAE=","headers":{"h":"v"}}]'
expect 200
check '.results[0].seq' 2
check '.results[1].seq' 3
req POST /v1/publish $J -d '{"messages":[{"subject":"orders.c","payload":"c"},{"subject":"bad..s"}]}'
expect 400
check .type https://omnibus.dev/problems/bad-subject
req GET /v1/streams/ORD
check .state.msgs 3
check .state.last_seq 3
req POST /v1/publish -d '[]'
expect 415

# Idempotency-Key: a retry returns the first answer and publishes nothing
req POST /v1/subjects/orders.eu -d once -H 'Idempotency-Key: key-1'
expect 200
first=$(field .seq)
req POST /v1/subjects/orders.eu -d once -H 'Idempotency-Key: key-1'
expect 200
check .seq "$first"
check .duplicate true
req POST /v1/subjects/orders.eu -d twice -H 'Idempotency-Key: key-1'
expect 422
req GET /v1/streams/ORD
check .state.msgs 4

# reading: from_seq, limit, filter, from_time
req GET '/v1/streams/ORD/messages?from_seq=2&limit=2'
expect 200
check '.messages | length' 2
check '.messages[0].seq' 2
check .next_seq 4
req GET '/v1/streams/ORD/messages?filter=orders.b'
check '.messages | length' 1
check '.messages[0].headers.h' v
req GET '/v1/streams/ORD/messages?from_time=2000-01-01T00:00:00Z&limit=1'
check '.messages[0].seq' 1
req GET '/v1/streams/ORD/messages?from_time=2200-01-01T00:00:00.5%2B02:00'
check '.messages | length' 0
req GET '/v1/streams/ORD/messages?limit=0'
expect 400
req GET /v1/streams/ORD/messages/99
expect 404

# consumers, pull with leases
req POST /v1/streams/ORD/consumers $J -d '{"name":"work","ack_wait_ms":30000}'
expect 201
req PUT /v1/streams/ORD/consumers/work $J -d '{"ack_wait_ms":30000}'
expect 200
req PUT /v1/streams/ORD/consumers/work $J -d '{"ack_wait_ms":1000}'
expect 409
req POST /v1/streams/ORD/consumers/work/pull $J -d '{"max_messages":2}'
expect 200
check '.messages | length' 2
check '.messages[0].ack_id' ORD:1
check '.messages[1].message.subject' orders.a
req POST /v1/streams/ORD/consumers/work/ack $J -d '{"ack_ids":["ORD:1","ORD:77"]}'
expect 200
check .acked 1
check '.failed[0].ack_id' ORD:77
req POST /v1/streams/ORD/consumers/work/extend $J -d '{"ack_ids":["ORD:2"],"ms":60000}'
expect 200
check .extended 1
req POST /v1/streams/ORD/consumers/work/nack $J -d '{"ack_ids":["ORD:2"]}'
expect 200
check .nacked 1
req POST /v1/streams/ORD/consumers/work/pull $J -d '{"max_messages":1}'
check '.messages[0].ack_id' ORD:2
check '.messages[0].delivery_count' 2
req POST /v1/streams/ORD/consumers/work/ack $J -d '{"ack_ids":["other:2"]}'
expect 400
check .type https://omnibus.dev/problems/invalid-ack-id
req GET /v1/streams/ORD/consumers/work
check .state.ack_floor 1
req GET /v1/streams/ORD/consumers
check '.consumers | length' 1

# long-poll: a pull waits until a message arrives
req POST /v1/streams/ORD/consumers $J -d '{"name":"lp","deliver":"new"}'
expect 201
curl -s -m 20 -X POST $J -d '{"max_messages":1,"max_wait_ms":10000}' \
    "$U/v1/streams/ORD/consumers/lp/pull" >"$T/lp" &
lp=$!
sleep 0.5
req POST /v1/subjects/orders.late -d late
expect 200
wait $lp || ob_fail "long-poll curl failed"
[ "$(jq -r '.messages[0].message.payload' "$T/lp")" = late ] || ob_fail "long-poll got $(cat "$T/lp")"
# an empty long-poll returns an empty list after max_wait
req POST /v1/streams/ORD/consumers/lp/pull $J -d '{"max_wait_ms":200}'
expect 200
check '.messages | length' 0

# a pull whose client gives up is cancelled: what it is handed afterwards goes back at
# once (nak), so the next pull gets it now rather than after the 30 s lease
curl -s -m 1 -o /dev/null -X POST $J -d '{"max_wait_ms":4000}' "$U/v1/streams/ORD/consumers/lp/pull"
req POST /v1/subjects/orders.abandoned -d gone-client
expect 200
req POST /v1/streams/ORD/consumers/lp/pull $J -d '{"max_wait_ms":8000}'
expect 200
check '.messages[0].message.payload' gone-client
check '.messages[0].delivery_count' 2
req POST /v1/streams/ORD/consumers/lp/ack $J -d "{\"ack_ids\":[\"$(field '.messages[0].ack_id')\"]}"
check .acked 1

# 429: at most OB_REST_MAX_PULLS (2 here) pulls wait at once
pulls=""
for i in 1 2; do
    curl -s -m 20 -X POST $J -d '{"max_wait_ms":3000}' "$U/v1/streams/ORD/consumers/lp/pull" >"$T/p$i" &
    pulls="$pulls $!"
done
sleep 0.5
out=$(curl -s -m 10 -D "$T/h429" -o "$T/b429" -w '%{http_code}' -X POST $J -d '{"max_wait_ms":3000}' \
    "$U/v1/streams/ORD/consumers/lp/pull")
[ "$out" = 429 ] || ob_fail "expected 429 for a third waiting pull, got $out"
grep -qi '^Retry-After: 1' "$T/h429" || ob_fail "429 without Retry-After"
grep -q 'problem+json' "$T/h429" || ob_fail "429 is not problem+json"
wait $pulls || ob_fail "a waiting pull failed"
for i in 1 2; do
    [ "$(jq -r '.messages | length' "$T/p$i")" = 0 ] || ob_fail "pull $i: $(cat "$T/p$i")"
done

# purge
req POST /v1/streams/ORD/purge $J -d '{"filter":"orders.a"}'
expect 200
check .purged 1
req POST /v1/streams/ORD/purge
expect 200
req GET /v1/streams/ORD
check .state.msgs 0

# errors
req POST /v1/subjects/bad..subject -d x
expect 400
check .status 400
req GET /v1/streams/NOPE
expect 404
req POST /v1/streams/ORD/consumers/nope/pull $J -d '{}'
expect 404
req POST /v1/streams $J -d '{not json'
expect 400
check .type https://omnibus.dev/problems/invalid-json
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
req POST /v1/subjects/orders.big --data-binary @"$T/big"
expect 413
# authorization: alice may only use public.>; anonymous has no rule and stays open
req POST /v1/subjects/orders.eu -d x -H 'Authorization: Bearer alice-token'
expect 403
req POST /v1/subjects/public.x -d x -H 'Authorization: Bearer alice-token'
expect 202
req GET '/v1/subscribe?subject=orders.>' -H 'Authorization: Bearer alice-token'
expect 403

# the same API over HTTP/2 (h2c, prior knowledge)
req POST /v1/subjects/orders.h2 -d over-h2 --http2-prior-knowledge
expect 200
h2seq=$(field .seq)
req GET "/v1/streams/ORD/messages/$h2seq" --http2-prior-knowledge
check .payload over-h2
req POST /v1/publish --http2-prior-knowledge -d '[]'
expect 415

# delete
req DELETE /v1/streams/ORD/consumers/lp
expect 204
req DELETE /v1/streams/ORD
expect 204
req DELETE /v1/streams/ORD
expect 404
echo "rest_api: ok"
