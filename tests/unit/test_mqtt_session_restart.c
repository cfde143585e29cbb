/* test_mqtt_session_restart.c — persistence across a bus restart, in-process: a
 * persistent session's subscription and the QoS 1 messages queued while it was offline,
 * retained messages, and a clean start discarding the stored session. The fake
 * transport and helpers are those of test_mqtt_session.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "core/auth.h"
#include "proto/mqtt/codec.h"
#include "proto/mqtt/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_mqtt_fixture.h"

static int make_dir(void **state)
{
    (void)state;
    return ob_test_mkdtemp("mqtt-restart");
}

static int remove_dir(void **state)
{
    (void)state;
    return ob_test_rmtemp();
}

static void subscribe(struct fake *f, uint8_t v, const char *filter, uint8_t qos)
{
    struct ob_mqtt_sub s = {.filter = ob_slice_str(filter), .qos = qos};
    struct ob_mqtt_packet p = {.type = OB_MQTT_SUBSCRIBE};
    p.subscribe.packet_id = 1;
    p.subscribe.subs = &s;
    p.subscribe.nsubs = 1;
    send_pkt(f, v, &p);
}

/* ---- cases ---------------------------------------------------------------------------- */

/* The next packet f received is of type t (decoded into *a, its bytes kept in *k). */
static void expect_pkt(struct fake *f, uint8_t v, struct ob_mqtt_packet *a, struct ob_buf *k,
                       uint8_t t)
{
    assert_true(next_pkt(f, v, a, k));
    assert_int_equal(a->type, t);
}

static struct fake *connect_v311(struct env *e, const char *id, bool clean, bool *present)
{
    struct fake *f = fake_new(e);
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNECT};
    p.connect.version = OB_MQTT_V311;
    p.connect.clean_start = clean;
    p.connect.keep_alive = 30;
    p.connect.client_id = ob_slice_str(id);
    send_pkt(f, OB_MQTT_V311, &p);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_CONNACK);
    assert_int_equal(a.connack.reason, 0);
    *present = a.connack.session_present;
    ob_buf_release(&k);
    return f;
}

static void publish_bus(struct env *e, const char *subject, const char *payload)
{
    struct ob_msg *m;
    assert_int_equal(ob_msg_new_simple(&m, subject, payload, strlen(payload)), 0);
    assert_int_equal(ob_publish(e->bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
}

/* Opens the environment again ("after a restart") and resumes persistent session id. */
static struct fake *reopen_session(struct env *e, const char *id)
{
    bool present;
    env_open(e);
    struct fake *f = connect_v311(e, id, false, &present);
    assert_true(present);
    pump(e);
    return f;
}

static void test_persistent_session_survives_restart(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *f = connect_v311(&e, "keeper", false, &present);
    assert_false(present);
    subscribe(f, OB_MQTT_V311, "keep/#", 1);
    pump(&e);
    fake_free(f); /* offline now */
    publish_bus(&e, "keep.a", "one");
    publish_bus(&e, "keep.b", "two");
    pump(&e);
    env_close(&e);

    f = reopen_session(&e, "keeper");
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    const char *want[] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_PUBLISH);
        assert_int_equal(a.publish.qos, 1);
        assert_true(ob_slice_eq_str(a.publish.payload, want[i]));
        struct ob_mqtt_packet ack = {.type = OB_MQTT_PUBACK};
        ack.ack.packet_id = a.publish.packet_id;
        send_pkt(f, OB_MQTT_V311, &ack);
    }
    pump(&e);
    assert_false(next_pkt(f, OB_MQTT_V311, &a, &k));
    fake_free(f);
    /* A clean start discards the session: after another restart it is gone. */
    f = connect_v311(&e, "keeper", true, &present);
    assert_false(present);
    fake_free(f);
    pump(&e);
    env_close(&e);

    env_open(&e);
    f = connect_v311(&e, "keeper", false, &present);
    assert_false(present);
    fake_free(f);
    ob_buf_release(&k);
    env_close(&e);
}

static void test_retained_survives_restart(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *f = connect_v311(&e, "retainer", true, &present);
    struct ob_mqtt_packet p = {.type = OB_MQTT_PUBLISH};
    p.publish.qos = 1;
    p.publish.packet_id = 3;
    p.publish.retain = true;
    p.publish.topic = ob_slice_str("ret/x");
    p.publish.payload = ob_slice_str("kept");
    send_pkt(f, OB_MQTT_V311, &p);
    pump(&e);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_PUBACK);
    fake_free(f);
    env_close(&e);

    env_open(&e);
    f = connect_v311(&e, "reader", true, &present);
    subscribe(f, OB_MQTT_V311, "ret/+", 0);
    pump(&e);
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_SUBACK);
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_PUBLISH);
    assert_true(a.publish.retain);
    assert_true(ob_slice_eq_str(a.publish.topic, "ret/x"));
    assert_true(ob_slice_eq_str(a.publish.payload, "kept"));
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

/* "mqtt_msgs" captures ">", which does not reach '$' subjects: a durable subscription to
 * "$app/#" still queues what is published while its session is offline, across a
 * restart (the stream is told to capture "$app.>"). */
static void test_dollar_topic_queued_offline(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *f = connect_v311(&e, "dollar", false, &present);
    subscribe(f, OB_MQTT_V311, "$app/#", 1);
    pump(&e);
    fake_free(f);
    publish_bus(&e, "$app.x", "system one");
    pump(&e);
    env_close(&e);

    f = reopen_session(&e, "dollar");
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_PUBLISH);
    assert_true(ob_slice_eq_str(a.publish.topic, "$app/x"));
    assert_true(ob_slice_eq_str(a.publish.payload, "system one"));
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

static void send_ack(struct fake *f, uint8_t type, uint16_t pid)
{
    struct ob_mqtt_packet p = {.type = type};
    p.ack.packet_id = pid;
    send_pkt(f, OB_MQTT_V311, &p);
}

/* An unacked QoS 1 PUBLISH comes back after a restart with its packet id (DUP), and a
 * QoS 2 message the client answered with PUBREC comes back as a PUBREL, not a PUBLISH
 * (docs/mapping/mqtt.md, "Outbound packet ids across restarts"). */
static void test_outbound_ids_survive_restart(void **state)
{
    (void)state;
    struct env e;
    bool present;
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    env_open(&e);
    struct fake *f = connect_v311(&e, "ids", false, &present);
    subscribe(f, OB_MQTT_V311, "q/#", 2);
    pump(&e);
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_SUBACK);
    env_publish_qos(&e, "q.a", "one", "1");
    env_publish_qos(&e, "q.b", "two", "2");
    pump(&e);
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_true(a.type == OB_MQTT_PUBLISH && a.publish.qos == 1);
    uint16_t p1 = a.publish.packet_id;
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_true(a.type == OB_MQTT_PUBLISH && a.publish.qos == 2);
    uint16_t p2 = a.publish.packet_id;
    send_ack(f, OB_MQTT_PUBREC, p2);
    pump(&e); /* the PUBREL waits for the session record */
    expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_PUBREL);
    assert_int_equal(a.ack.packet_id, p2);
    fake_free(f);
    env_close(&e);

    f = reopen_session(&e, "ids");
    bool got_publish = false, got_pubrel = false;
    while (next_pkt(f, OB_MQTT_V311, &a, &k)) {
        if (a.type == OB_MQTT_PUBLISH) {
            assert_false(got_publish);
            assert_true(ob_slice_eq_str(a.publish.payload, "one"));
            assert_int_equal(a.publish.packet_id, p1);
            assert_true(a.publish.dup);
            got_publish = true;
        } else {
            assert_int_equal(a.type, OB_MQTT_PUBREL);
            assert_int_equal(a.ack.packet_id, p2);
            assert_false(got_pubrel);
            got_pubrel = true;
        }
    }
    assert_true(got_publish && got_pubrel);
    send_ack(f, OB_MQTT_PUBACK, p1);
    send_ack(f, OB_MQTT_PUBCOMP, p2);
    pump(&e);
    assert_false(next_pkt(f, OB_MQTT_V311, &a, &k));
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

/* Two durable subscriptions of one session matching the same messages: each copy gets
 * its stable packet id; ids in use at once differ, and no copy is held back for good by
 * an id in use (the queue waits for it to be released). */
static void test_stable_ids_overlapping_subs(void **state)
{
    (void)state;
    struct env e;
    bool present;
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    env_open(&e);
    struct fake *f = connect_v311(&e, "overlap", false, &present);
    subscribe(f, OB_MQTT_V311, "o/#", 1);
    subscribe(f, OB_MQTT_V311, "o/x", 1);
    pump(&e);
    for (int i = 0; i < 2; i++) {
        expect_pkt(f, OB_MQTT_V311, &a, &k, OB_MQTT_SUBACK);
    }
    enum { N = 300 };
    for (int i = 0; i < N; i++)
        env_publish_qos(&e, "o.x", "m", "1");
    int got = 0;
    for (int round = 0; round < 200 && got < 2 * N; round++) {
        pump(&e);
        uint16_t seen[2 * N];
        int n = 0;
        while (next_pkt(f, OB_MQTT_V311, &a, &k)) {
            assert_int_equal(a.type, OB_MQTT_PUBLISH);
            for (int j = 0; j < n; j++) /* unacked ids are distinct */
                assert_int_not_equal(seen[j], a.publish.packet_id);
            seen[n++] = a.publish.packet_id;
        }
        for (int j = 0; j < n; j++)
            send_ack(f, OB_MQTT_PUBACK, seen[j]);
        got += n;
    }
    assert_int_equal(got, 2 * N);
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

/* Reads what arrived, acks all but the message "first"; returns how many PUBLISH came,
 * and the packet ids of "first" and "last" when they do. */
static int drain_acking(struct fake *f, uint16_t *first, uint16_t *last)
{
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    int n = 0;
    while (next_pkt(f, OB_MQTT_V311, &a, &k)) {
        assert_int_equal(a.type, OB_MQTT_PUBLISH);
        n++;
        if (ob_slice_eq_str(a.publish.payload, "first")) {
            *first = a.publish.packet_id;
            continue;
        }
        if (ob_slice_eq_str(a.publish.payload, "last")) *last = a.publish.packet_id;
        send_ack(f, OB_MQTT_PUBACK, a.publish.packet_id);
    }
    ob_buf_release(&k);
    return n;
}

/* A message 65535 sequences after one still unacked maps to the same stable id: it
 * waits for that id instead of taking another, and goes out once it is released. */
static void test_stable_id_waits_for_release(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *f = connect_v311(&e, "waiter", false, &present);
    subscribe(f, OB_MQTT_V311, "h/#", 1);
    pump(&e);
    ob_buf_consume(&f->out, f->out.len); /* the SUBACK */
    enum { N = 65536 };
    uint16_t first = 0, last = 0;
    int got = 0;
    for (int i = 0; i < N; i++) {
        env_publish_qos(&e, "h.x", i == 0 ? "first" : i == N - 1 ? "last" : "m", "1");
        if (i % 500 == 499 || i == N - 1) {
            pump(&e);
            got += drain_acking(f, &first, &last);
        }
    }
    for (int round = 0; round < 50 && got < N - 1; round++) {
        pump(&e);
        got += drain_acking(f, &first, &last);
    }
    assert_int_equal(got, N - 1); /* all but "last", which waits for first's id */
    assert_int_equal(last, 0);
    send_ack(f, OB_MQTT_PUBACK, first);
    pump(&e);
    got += drain_acking(f, &first, &last);
    assert_int_equal(got, N);
    assert_int_equal(last, first);
    fake_free(f);
    env_close(&e);
}

static void count_delivery(void *arg, const struct ob_delivery *d)
{
    assert_true(ob_slice_eq_str(ob_msg_payload(d->msg), "gone"));
    (*(int *)arg)++;
}

/* A v5 will waiting for its will delay is in the session record: after a restart it is
 * published once its delay has passed, once. */
static void test_delayed_will_survives_restart(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *f = fake_new(&e);
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNECT};
    p.connect.version = OB_MQTT_V5;
    p.connect.keep_alive = 30;
    p.connect.client_id = ob_slice_str("willer");
    p.props.present = 1ull << OB_MQTT_PROP_SESSION_EXPIRY;
    p.props.session_expiry = 600;
    p.connect.will = true;
    p.connect.will_qos = 1;
    p.connect.will_topic = ob_slice_str("w/t");
    p.connect.will_payload = ob_slice_str("gone");
    p.connect.will_props.present = 1ull << OB_MQTT_PROP_WILL_DELAY;
    p.connect.will_props.will_delay = 1;
    send_pkt(f, OB_MQTT_V5, &p);
    pump(&e);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, OB_MQTT_V5, &a, &k, OB_MQTT_CONNACK);
    assert_int_equal(a.connack.reason, 0);
    ob_buf_release(&k);
    fake_free(f); /* no DISCONNECT: the will is due in 1 s */
    pump(&e);
    env_close(&e);

    env_open(&e);
    int got = 0;
    struct ob_sub *sub;
    assert_int_equal(ob_subscribe(e.bus, "w.t", OB_SUB_SYNC, count_delivery, &got, &sub), 0);
    /* The broker's tick is once a second and unref'd: poll the loop, bounded. */
    for (int i = 0; i < 400 && !got; i++) {
        ob_bus_run(e.bus, OB_RUN_NOWAIT);
        usleep(10000);
    }
    assert_int_equal(got, 1);
    for (int i = 0; i < 150; i++) { /* past another tick: not published twice */
        ob_bus_run(e.bus, OB_RUN_NOWAIT);
        usleep(10000);
    }
    assert_int_equal(got, 1);
    ob_unsubscribe(sub);
    env_close(&e);
    /* Published, the will is gone from the record. */
    env_open(&e);
    got = 0;
    assert_int_equal(ob_subscribe(e.bus, "w.t", OB_SUB_SYNC, count_delivery, &got, &sub), 0);
    for (int i = 0; i < 150; i++) {
        ob_bus_run(e.bus, OB_RUN_NOWAIT);
        usleep(10000);
    }
    assert_int_equal(got, 0);
    ob_unsubscribe(sub);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persistent_session_survives_restart),
        cmocka_unit_test(test_retained_survives_restart),
        cmocka_unit_test(test_dollar_topic_queued_offline),
        cmocka_unit_test(test_outbound_ids_survive_restart),
        cmocka_unit_test(test_delayed_will_survives_restart),
        cmocka_unit_test(test_stable_ids_overlapping_subs),
        cmocka_unit_test(test_stable_id_waits_for_release),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
