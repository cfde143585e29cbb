# mqtt_clients.sh — mosquitto's own command-line clients (mosquitto-clients) against
# omnibus: 3.1, 3.1.1 and 5.0 publish/subscribe at QoS 0, 1 and 2, retained messages, a
# persistent session (-c) collecting QoS 1 messages while offline, v5 user properties,
# and request/response with mosquitto_rr (Paho responder). Fails without the clients (scripts/deps.sh test).
. "$OB_SRC/tests/lib/common.sh"
ob_setup
command -v mosquitto_sub >/dev/null || ob_fail "mosquitto-clients missing (scripts/deps.sh test)"
port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.mqtt=127.0.0.1:$port"
ob_wait_log 'msg="listeners up"'
P="-h 127.0.0.1 -p $port"

# sub_bg OUT ARGS...: a subscriber in the background that is subscribed on return.
sub_bg() {
    out=$1
    shift
    timeout 10 mosquitto_sub $P "$@" >"$out" 2>"$out.err" &
    SUBPID=$!
    sleep 0.4
}

for v in mqttv31 mqttv311 mqttv5; do
    for q in 0 1 2; do
        sub_bg "$T/s" -V $v -q $q -t "c/$v/$q" -C 3 -F '%t %q %p'
        for i in 1 2 3; do
            mosquitto_pub $P -V $v -q $q -t "c/$v/$q" -m "m$i" || ob_fail "pub $v q$q"
        done
        wait $SUBPID
        want=$(printf 'c/%s/%s %s m1\nc/%s/%s %s m2\nc/%s/%s %s m3' $v $q $q $v $q $q $v $q $q)
        [ "$(cat "$T/s")" = "$want" ] || ob_fail "$v QoS $q: got '$(cat "$T/s")'"
    done
done
echo "pub/sub 3.1, 3.1.1 and 5.0 at QoS 0/1/2: ok"

mosquitto_pub $P -t c/ret -m kept -r -q 1 || ob_fail "retained pub"
got=$(timeout 5 mosquitto_sub $P -t c/ret -C 1 -F '%r %p')
[ "$got" = "1 kept" ] || ob_fail "retained: '$got'"
mosquitto_pub $P -t c/ret -n -r -q 1
got=$(timeout 2 mosquitto_sub $P -t c/ret -C 1 -W 1 2>/dev/null)
[ -z "$got" ] || ob_fail "retained not cleared: '$got'"
echo "retained set/clear: ok"

timeout 5 mosquitto_sub $P -c -i c-pers -q 1 -t c/pers -W 1 >/dev/null 2>&1
for i in 1 2 3 4 5; do mosquitto_pub $P -q 1 -t c/pers -m "p$i"; done
got=$(timeout 5 mosquitto_sub $P -c -i c-pers -q 1 -t c/pers -C 5 | tr '\n' ' ')
[ "$got" = "p1 p2 p3 p4 p5 " ] || ob_fail "persistent session: '$got'"
timeout 2 mosquitto_sub $P -i c-pers -t c/none -W 1 >/dev/null 2>&1 # clean it up
echo "persistent session (-c): ok"

sub_bg "$T/u" -V mqttv5 -t c/up -C 1 -F '%p|%P'
mosquitto_pub $P -V mqttv5 -t c/up -m hi -D PUBLISH user-property k1 v1 \
    -D PUBLISH user-property k2 v2
wait $SUBPID
[ "$(cat "$T/u")" = "hi|k1:v1 k2:v2" ] || ob_fail "user properties: '$(cat "$T/u")'"
echo "v5 user properties: ok"

if /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null; then
    MQTT_PORT=$port /usr/bin/python3 "$OB_SRC/tests/interop/mqtt/responder.py" c/req >"$T/r" &
    rpid=$!
    tries=50
    while ! grep -q ready "$T/r" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
    got=$(timeout 5 mosquitto_rr $P -t c/req -e c/resp -m ask)
    wait $rpid
    [ "$got" = "re:ask" ] || ob_fail "mosquitto_rr: '$got'"
    echo "request/response (mosquitto_rr): ok"
fi
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
echo "ok"
