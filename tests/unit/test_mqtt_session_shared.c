/* test_mqtt_session_shared.c — shared subscriptions and QoS 2 (MQTT 5.0 §4.8.2,
 * MQTT-4.8.2-4/-5): a QoS 2 message sent to a member stays with that member's session
 * (resent with DUP and its packet id, or as PUBREL, when it reconnects, also after a
 * restart) and goes to no other member, even when the session ends; QoS 1 and QoS 2 not
 * yet sent still go to another member when one leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/clock.h"
#include "core/auth.h"
#include "proto/mqtt/codec.h"
#include "proto/mqtt/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_mqtt_fixture.h"

#define V5 OB_MQTT_V5

static int make_dir(void **state)
{
    (void)state;
    return ob_test_mkdtemp("mqtt-shared");
}

static int remove_dir(void **state)
{
    (void)state;
    return ob_test_rmtemp();
}

/* The next packet f received is of type t (decoded into *a, its bytes kept in *k). */
static void expect_pkt(struct fake *f, struct ob_mqtt_packet *a, struct ob_buf *k, uint8_t t)
{
    assert_true(next_pkt(f, V5, a, k));
    assert_int_equal(a->type, t);
}

static void expect_nothing(struct env *e, struct fake *f)
{
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    pump(e);
    assert_false(next_pkt(f, V5, &a, &k));
    ob_buf_release(&k);
}

/* A v5 client: session expiry in s (0: the session ends at disconnect), receive
 * maximum rmax (0: not sent). Returns whether a session was present. */
static struct fake *connect5(struct env *e, const char *id, bool clean, uint32_t expiry,
                             uint16_t rmax, bool *present)
{
    struct fake *f = fake_new(e);
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNECT};
    p.connect.version = V5;
    p.connect.clean_start = clean;
    p.connect.keep_alive = 30;
    p.connect.client_id = ob_slice_str(id);
    if (expiry) {
        p.props.present |= 1ull << OB_MQTT_PROP_SESSION_EXPIRY;
        p.props.session_expiry = expiry;
    }
    if (rmax) {
        p.props.present |= 1ull << OB_MQTT_PROP_RECEIVE_MAXIMUM;
        p.props.receive_maximum = rmax;
    }
    send_pkt(f, V5, &p);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, &a, &k, OB_MQTT_CONNACK);
    assert_int_equal(a.connack.reason, 0);
    if (present) *present = a.connack.session_present;
    ob_buf_release(&k);
    return f;
}

static void subscribe(struct env *e, struct fake *f, const char *filter, uint8_t qos)
{
    struct ob_mqtt_sub s = {.filter = ob_slice_str(filter), .qos = qos};
    struct ob_mqtt_packet p = {.type = OB_MQTT_SUBSCRIBE};
    p.subscribe.packet_id = 1;
    p.subscribe.subs = &s;
    p.subscribe.nsubs = 1;
    send_pkt(f, V5, &p);
    pump(e);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, &a, &k, OB_MQTT_SUBACK);
    assert_int_equal(a.suback.reasons.p[0], qos);
    ob_buf_release(&k);
}

static void publish_qos(struct env *e, const char *subject, const char *payload, const char *qos)
{
    env_publish_qos(e, subject, payload, qos);
    pump(e);
}

static void send_ack(struct env *e, struct fake *f, uint8_t type, uint16_t pid)
{
    struct ob_mqtt_packet p = {.type = type};
    p.ack.packet_id = pid;
    send_pkt(f, V5, &p);
    pump(e);
}

/* The next packet is a QoS q PUBLISH of payload with DUP dup (-1: either); returns its
 * packet id. */
static uint16_t expect_publish(struct fake *f, const char *payload, uint8_t q, int dup)
{
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, &a, &k, OB_MQTT_PUBLISH);
    assert_int_equal(a.publish.qos, q);
    assert_true(ob_slice_eq_str(a.publish.payload, payload));
    if (dup >= 0) assert_int_equal(a.publish.dup, dup);
    uint16_t pid = a.publish.packet_id;
    ob_buf_release(&k);
    return pid;
}

static void expect_ack(struct fake *f, uint8_t type, uint16_t pid)
{
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    expect_pkt(f, &a, &k, type);
    assert_int_equal(a.ack.packet_id, pid);
    ob_buf_release(&k);
}

/* The full QoS 2 handshake for a PUBLISH the client got with pid. */
static void complete_q2(struct env *e, struct fake *f, uint16_t pid)
{
    send_ack(e, f, OB_MQTT_PUBREC, pid);
    expect_ack(f, OB_MQTT_PUBREL, pid);
    send_ack(e, f, OB_MQTT_PUBCOMP, pid);
}

struct count {
    const char *prefix;
    uint64_t n;
};

static int sum_pending(void *arg, struct ob_consumer *c)
{
    struct count *n = arg;
    const char *f = ob_consumer_config(c)->filter;
    if (!f || strncmp(f, n->prefix, strlen(n->prefix))) return 0;
    struct ob_consumer_info info;
    ob_consumer_get_info(c, &info);
    n->n += info.ack_pending;
    return 0;
}

/* Messages delivered and not acked by the MQTT consumers whose filter starts with
 * prefix (each test uses its own topics). */
static uint64_t consumers_pending(struct env *e, const char *prefix)
{
    struct count n = {prefix, 0};
    ob_consumer_foreach(ob_stream_lookup(e->bus, "mqtt_msgs"), sum_pending, &n);
    return n.n;
}

/* A (persistent, receive maximum 1) gets m1 in flight, m2 queued behind it; then B
 * joins and A drops before PUBREC: B gets m2 (never sent to A) but not m1; new
 * messages go to B; A reconnects and gets m1 with DUP and its packet id. */
static void test_q2_in_flight_stays_with_member(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *a = connect5(&e, "sh-a", true, 600, 1, NULL);
    subscribe(&e, a, "$share/g/s1/#", 2);
    publish_qos(&e, "s1.x", "m1", "2");
    publish_qos(&e, "s1.x", "m2", "2");
    uint16_t pid = expect_publish(a, "m1", 2, false);
    expect_nothing(&e, a); /* m2 waits for the window */
    struct fake *b = connect5(&e, "sh-b", true, 0, 0, NULL);
    subscribe(&e, b, "$share/g/s1/#", 2);
    fake_free(a); /* the connection breaks */
    pump(&e);
    uint16_t pb = expect_publish(b, "m2", 2, -1); /* DUP: the core delivered it before */
    complete_q2(&e, b, pb);
    expect_nothing(&e, b);
    publish_qos(&e, "s1.x", "m3", "2");
    complete_q2(&e, b, expect_publish(b, "m3", 2, false));
    expect_nothing(&e, b);

    a = connect5(&e, "sh-a", false, 600, 1, &present);
    assert_true(present);
    pump(&e);
    assert_int_equal(expect_publish(a, "m1", 2, true), pid);
    complete_q2(&e, a, pid);
    expect_nothing(&e, a);
    expect_nothing(&e, b);
    assert_int_equal(consumers_pending(&e, "s1."), 0);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* The same, with PUBREC received before the break: A gets PUBREL again. */
static void test_q2_released_stays_with_member(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *a = connect5(&e, "rel-a", true, 600, 0, NULL);
    subscribe(&e, a, "$share/g/s2/#", 2);
    publish_qos(&e, "s2.x", "m1", "2");
    uint16_t pid = expect_publish(a, "m1", 2, false);
    send_ack(&e, a, OB_MQTT_PUBREC, pid);
    expect_ack(a, OB_MQTT_PUBREL, pid);
    struct fake *b = connect5(&e, "rel-b", true, 0, 0, NULL);
    subscribe(&e, b, "$share/g/s2/#", 2);
    fake_free(a);
    expect_nothing(&e, b);
    a = connect5(&e, "rel-a", false, 600, 0, &present);
    assert_true(present);
    pump(&e);
    expect_ack(a, OB_MQTT_PUBREL, pid);
    send_ack(&e, a, OB_MQTT_PUBCOMP, pid);
    expect_nothing(&e, a);
    expect_nothing(&e, b);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* A's session expires while it is offline: the message is terminated, B never gets it. */
static void test_q2_session_expires(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *a = connect5(&e, "exp-a", true, 1, 0, NULL);
    subscribe(&e, a, "$share/g/s3/#", 2);
    publish_qos(&e, "s3.x", "m1", "2");
    expect_publish(a, "m1", 2, false);
    struct fake *b = connect5(&e, "exp-b", true, 0, 0, NULL);
    subscribe(&e, b, "$share/g/s3/#", 2);
    fake_free(a);
    expect_nothing(&e, b);
    assert_int_equal(consumers_pending(&e, "s3."), 1);
    int64_t until = ob_mono_ns() + 2600 * OB_NS_PER_MS; /* expiry 1 s, a 1 s tick */
    while (ob_mono_ns() < until)
        ob_bus_run(e.bus, OB_RUN_ONCE);
    expect_nothing(&e, b);
    assert_int_equal(consumers_pending(&e, "s3."), 0);
    bool present;
    a = connect5(&e, "exp-a", false, 0, 0, &present);
    assert_false(present);
    expect_nothing(&e, a);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* A comes back with a clean start (its session ends), or is a clean member whose
 * session ends at the disconnect: B gets neither message. */
static void test_q2_session_ends(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *a = connect5(&e, "end-a", true, 600, 0, NULL);
    struct fake *c = connect5(&e, "end-c", true, 0, 0, NULL);
    subscribe(&e, a, "$share/g/s4/#", 2);
    publish_qos(&e, "s4.x", "m1", "2");
    expect_publish(a, "m1", 2, false);
    subscribe(&e, c, "$share/g/s4/#", 2);
    publish_qos(&e, "s4.x", "m2", "2");
    publish_qos(&e, "s4.x", "m3", "2");
    /* round-robin: one of m2, m3 to each */
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet p;
    expect_pkt(c, &p, &k, OB_MQTT_PUBLISH);
    struct fake *b = connect5(&e, "end-b", true, 0, 0, NULL);
    subscribe(&e, b, "$share/g/s4/#", 2);
    fake_free(c); /* clean member: its session ends now */
    fake_free(a);
    pump(&e);
    /* only the one A had queued behind m1, if any, may reach B */
    int got = 0;
    while (next_pkt(b, V5, &p, &k)) {
        assert_int_equal(p.type, OB_MQTT_PUBLISH);
        assert_false(ob_slice_eq_str(p.publish.payload, "m1"));
        got++;
        complete_q2(&e, b, p.publish.packet_id);
    }
    assert_true(got <= 1);
    bool present;
    a = connect5(&e, "end-a", true, 600, 0, &present);
    assert_false(present);
    expect_nothing(&e, a);
    expect_nothing(&e, b);
    assert_int_equal(consumers_pending(&e, "s4."), 0);
    ob_buf_release(&k);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* A member unsubscribing with a QoS 2 message in flight completes it; no other member
 * gets it. */
static void test_q2_unsubscribe(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *a = connect5(&e, "un-a", true, 600, 0, NULL);
    subscribe(&e, a, "$share/g/s7/#", 2);
    publish_qos(&e, "s7.x", "m1", "2");
    uint16_t pid = expect_publish(a, "m1", 2, false);
    struct fake *b = connect5(&e, "un-b", true, 0, 0, NULL);
    subscribe(&e, b, "$share/g/s7/#", 2);
    struct ob_mqtt_packet p = {.type = OB_MQTT_UNSUBSCRIBE};
    struct ob_slice f = ob_slice_str("$share/g/s7/#");
    p.unsubscribe.packet_id = 2;
    p.unsubscribe.filters = &f;
    p.unsubscribe.nfilters = 1;
    send_pkt(a, V5, &p);
    pump(&e);
    expect_ack(a, OB_MQTT_UNSUBACK, 2);
    expect_nothing(&e, b);
    complete_q2(&e, a, pid);
    expect_nothing(&e, a);
    expect_nothing(&e, b);
    assert_int_equal(consumers_pending(&e, "s7."), 0);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* QoS 1 keeps the hand-over: A drops before PUBACK, B gets the message. */
static void test_q1_handed_over(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *a = connect5(&e, "q1-a", true, 600, 0, NULL);
    subscribe(&e, a, "$share/g/s5/#", 1);
    publish_qos(&e, "s5.x", "m1", "1");
    expect_publish(a, "m1", 1, false);
    struct fake *b = connect5(&e, "q1-b", true, 0, 0, NULL);
    subscribe(&e, b, "$share/g/s5/#", 1);
    fake_free(a);
    pump(&e);
    uint16_t pid = expect_publish(b, "m1", 1, true);
    send_ack(&e, b, OB_MQTT_PUBACK, pid);
    expect_nothing(&e, b);
    bool present;
    a = connect5(&e, "q1-a", false, 600, 0, &present);
    assert_true(present);
    expect_nothing(&e, a);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* Across a restart (nothing is written at the disconnect, so a kill -9 is the same): the
 * claim in A's record keeps the message from B, which reconnects first, and A gets it
 * with DUP and its packet id. */
static void test_q2_claim_survives_restart(void **state)
{
    (void)state;
    struct env e;
    bool present;
    env_open(&e);
    struct fake *a = connect5(&e, "rs-a", true, 600, 0, NULL);
    struct fake *b = connect5(&e, "rs-b", true, 600, 0, NULL);
    subscribe(&e, a, "$share/g/s6/#", 2);
    publish_qos(&e, "s6.x", "m1", "2");
    uint16_t pid = expect_publish(a, "m1", 2, false);
    subscribe(&e, b, "$share/g/s6/#", 2);
    fake_free(b);
    fake_free(a);
    pump(&e);
    env_close(&e);

    env_open(&e);
    b = connect5(&e, "rs-b", false, 600, 0, &present);
    assert_true(present);
    expect_nothing(&e, b);
    publish_qos(&e, "s6.x", "m2", "2");
    uint16_t pb = expect_publish(b, "m2", 2, false);
    complete_q2(&e, b, pb);
    expect_nothing(&e, b);
    a = connect5(&e, "rs-a", false, 600, 0, &present);
    assert_true(present);
    pump(&e);
    assert_int_equal(expect_publish(a, "m1", 2, true), pid);
    /* released before the next restart: it comes back as PUBREL */
    send_ack(&e, a, OB_MQTT_PUBREC, pid);
    expect_ack(a, OB_MQTT_PUBREL, pid);
    fake_free(a);
    fake_free(b);
    pump(&e);
    env_close(&e);

    env_open(&e);
    b = connect5(&e, "rs-b", false, 600, 0, &present);
    pump(&e);
    /* the record is not rewritten at PUBCOMP: B may get its PUBREL again (qos.c) */
    expect_ack(b, OB_MQTT_PUBREL, pb);
    send_ack(&e, b, OB_MQTT_PUBCOMP, pb);
    expect_nothing(&e, b);
    a = connect5(&e, "rs-a", false, 600, 0, &present);
    pump(&e);
    expect_ack(a, OB_MQTT_PUBREL, pid);
    send_ack(&e, a, OB_MQTT_PUBCOMP, pid);
    expect_nothing(&e, a);
    expect_nothing(&e, b);
    assert_int_equal(consumers_pending(&e, "s6."), 0);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q2_in_flight_stays_with_member),
        cmocka_unit_test(test_q2_released_stays_with_member),
        cmocka_unit_test(test_q2_session_expires),
        cmocka_unit_test(test_q2_session_ends),
        cmocka_unit_test(test_q2_unsubscribe),
        cmocka_unit_test(test_q1_handed_over),
        cmocka_unit_test(test_q2_claim_survives_restart),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
