#!/bin/sh
# Cross-protocol: MQTT (mosquitto clients, v5) <-> HTTP (REST publish, SSE subscribe).
# Content type, correlation data and user properties must survive the crossing in both
# directions (docs/mapping/mqtt.md: content-type, correlation-id, user properties as
# headers).
. "$OB_SRC/tests/lib/common.sh"
ob_setup
hp=$(ob_free_port)
mp=$(ob_free_port)
ob_start --no-default-listeners --set listeners.http=127.0.0.1:$hp --set listeners.mqtt=127.0.0.1:$mp
ob_wait_log 'msg="listeners up"' 10

# An SSE subscriber on ">" (every subject) for the whole test: it must never see the
# MQTT broker's internal records ($mqtt#.retained.*, $mqtt#.sessions; system subjects).
curl -sN --max-time 30 "http://127.0.0.1:$hp/v1/subscribe?subject=>" >"$T/all.out" 2>&1 &
all=$!

# MQTT -> SSE
curl -sN --max-time 15 "http://127.0.0.1:$hp/v1/subscribe?subject=matrix.>" >"$T/sse.out" 2>&1 &
sse=$!
i=0
until grep -q '^retry:' "$T/sse.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && ob_fail "SSE stream did not start"; sleep 0.1
done
mosquitto_pub -V mqttv5 -p "$mp" -q 1 -t matrix/from/mqtt -m 'hello from mqtt' \
    -D PUBLISH content-type text/plain -D PUBLISH correlation-data cid-1 \
    -D PUBLISH user-property colour blue || ob_fail "mosquitto_pub failed"
i=0
until grep -q 'hello from mqtt' "$T/sse.out"; do
    i=$((i + 1)); [ $i -gt 100 ] && ob_fail "SSE never got the MQTT message: $(cat "$T/sse.out")"; sleep 0.1
done
line=$(grep '^data:' "$T/sse.out" | grep 'hello from mqtt')
for want in '"subject":"matrix.from.mqtt"' '"content-type":"text/plain"' \
    '"correlation-id":"cid-1"' '"colour":"blue"'; do
    echo "$line" | grep -qF "$want" || ob_fail "SSE event lacks $want: $line"
done
kill "$sse" 2>/dev/null

# REST -> MQTT
timeout 15 mosquitto_sub -V mqttv5 -p "$mp" -q 1 -t 'matrix/from/#' -C 1 -F '%j' >"$T/sub.out" 2>&1 &
sub=$!
sleep 0.5 # mosquitto_sub has no "subscribed" signal; a retry loop below covers a slow start
n=0
until [ -s "$T/sub.out" ]; do
    n=$((n + 1)); [ $n -gt 20 ] && ob_fail "mosquitto_sub never got the REST message"
    curl -sf -d 'hello from rest' -H 'Content-Type: text/plain' \
        -H 'Omnibus-Header-correlation-id: cid-2' -H 'Omnibus-Header-colour: red' \
        "http://127.0.0.1:$hp/v1/subjects/matrix.from.rest" >/dev/null || ob_fail "REST publish failed"
    sleep 0.5
done
wait "$sub"
out=$(cat "$T/sub.out")
for want in '"topic":"matrix/from/rest"' '"payload":"hello from rest"' \
    '"content-type":"text/plain"' '"correlation-data":"cid-2"' '"colour":"red"'; do
    echo "$out" | grep -qF "$want" || ob_fail "MQTT message lacks $want: $out"
done
# Records the broker writes: a retained message and a persistent session's record.
mosquitto_pub -V mqttv5 -p "$mp" -q 1 -r -t matrix/kept -m 'retained one' ||
    ob_fail "retained publish failed"
timeout 10 mosquitto_sub -V mqttv5 -p "$mp" -q 1 -i keeper -x 600 -c -t 'matrix/none' -W 1 \
    >/dev/null 2>&1
curl -sf -d 'marker' "http://127.0.0.1:$hp/v1/subjects/matrix.marker" >/dev/null ||
    ob_fail "REST marker publish failed"
i=0
until grep -q '"subject":"matrix.marker"' "$T/all.out"; do
    i=$((i + 1)); [ $i -gt 100 ] && ob_fail "SSE on > never got the marker: $(cat "$T/all.out")"; sleep 0.1
done
grep -q '"subject":"matrix.kept"' "$T/all.out" || ob_fail "SSE on > missed the retained publish"
if grep -qF '$mqtt#' "$T/all.out"; then
    ob_fail "SSE on > saw internal records: $(grep -F '$mqtt#' "$T/all.out" | head -3)"
fi
kill "$all" 2>/dev/null

# /metrics counted what crossed: messages in and out per protocol.
metrics=$(curl -sf "http://127.0.0.1:$hp/metrics") || ob_fail "/metrics failed"
for fam in 'omnibus_messages_total{protocol="mqtt",direction="in"}' \
    'omnibus_messages_total{protocol="mqtt",direction="out"}' \
    'omnibus_messages_total{protocol="rest",direction="in"}' \
    'omnibus_messages_total{protocol="sse",direction="out"}'; do
    v=$(echo "$metrics" | grep -F "$fam" | awk '{print $2}')
    [ -n "$v" ] && [ "$v" -ge 1 ] || ob_fail "metric $fam is '${v:-missing}'"
done
echo "$metrics" | grep -q '^omnibus_fsync_duration_seconds_count ' || ob_fail "no fsync histogram"
ob_stop TERM
[ "$OB_STATUS" = 0 ] || ob_fail "server exit status $OB_STATUS"
echo "PASS: MQTT <-> REST/SSE with content type, correlation data and user properties"
