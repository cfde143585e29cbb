/* test_mqtt_session.c — the MQTT broker driven in-process through its transport-agnostic
 * interface (bytes in, a fake struct ob_mqtt_out collecting bytes out), on a durable bus
 * in a temp dir: CONNECT/CONNACK, the durability contract (PUBACK only once the capturing
 * stream has the message on disk), MQTT ⇄ event-bus headers both ways, byte-by-byte
 * input, malformed input, and a transport that closes itself inside a write. */
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
    return ob_test_mkdtemp("mqtt");
}

static int remove_dir(void **state)
{
    (void)state;
    return ob_test_rmtemp();
}

static void connect_ok(struct fake *f, uint8_t v, const char *id)
{
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNECT};
    p.connect.version = v;
    p.connect.clean_start = true;
    p.connect.keep_alive = 30;
    p.connect.client_id = ob_slice_str(id);
    send_pkt(f, v, &p);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    assert_true(next_pkt(f, v, &a, &k));
    assert_int_equal(a.type, OB_MQTT_CONNACK);
    assert_int_equal(a.connack.reason, 0);
    ob_buf_release(&k);
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

static void test_connect_and_ping(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *f = fake_new(&e);
    connect_ok(f, OB_MQTT_V5, "unit-1");
    struct ob_mqtt_packet p = {.type = OB_MQTT_PINGREQ}, a;
    send_pkt(f, OB_MQTT_V5, &p);
    struct ob_buf k = OB_BUF_INIT;
    assert_true(next_pkt(f, OB_MQTT_V5, &a, &k));
    assert_int_equal(a.type, OB_MQTT_PINGRESP);
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

/* PUBACK waits for the capturing stream's fsync (GUIDE §3). */
static void test_puback_after_durable(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    const char *subj[] = {"dur.>"};
    struct ob_stream_config sc = {.name = "unit_dur", .subjects = subj, .nsubjects = 1};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(e.bus, &sc, &st), 0);
    struct fake *f = fake_new(&e);
    connect_ok(f, OB_MQTT_V311, "unit-dur");
    struct ob_mqtt_packet p = {.type = OB_MQTT_PUBLISH}, a;
    p.publish.qos = 1;
    p.publish.packet_id = 42;
    p.publish.topic = ob_slice_str("dur/x");
    p.publish.payload = ob_slice_str("payload");
    send_pkt(f, OB_MQTT_V311, &p);
    struct ob_buf k = OB_BUF_INIT;
    assert_false(next_pkt(f, OB_MQTT_V311, &a, &k)); /* not yet durable */
    pump(&e);
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_PUBACK);
    assert_int_equal(a.ack.packet_id, 42);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 1);
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

struct seen {
    int n;
    char ct[32], corr[32], reply[32], user[32], subject[32];
};

static void copy_hdr(const struct ob_msg *m, const char *name, char *out)
{
    const struct ob_header *h = ob_msg_header_get(m, name);
    if (h) snprintf(out, 32, "%.*s", (int)h->value.n, (const char *)h->value.p);
}

static void on_bus(void *arg, const struct ob_delivery *d)
{
    struct seen *s = arg;
    s->n++;
    copy_hdr(d->msg, "content-type", s->ct);
    copy_hdr(d->msg, "correlation-id", s->corr);
    copy_hdr(d->msg, "reply-to", s->reply);
    copy_hdr(d->msg, "k1", s->user);
    struct ob_slice sj = ob_msg_subject(d->msg);
    snprintf(s->subject, 32, "%.*s", (int)sj.n, (const char *)sj.p);
}

/* v5 properties become canonical headers for every other protocol. */
static void test_mqtt_to_bus_headers(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct seen s = {0};
    struct ob_sub *sub;
    assert_int_equal(ob_subscribe(e.bus, "x2b.>", OB_SUB_SYNC, on_bus, &s, &sub), 0);
    struct fake *f = fake_new(&e);
    connect_ok(f, OB_MQTT_V5, "unit-x2b");
    struct ob_header up = {ob_slice_str("k1"), ob_slice_str("v1")};
    struct ob_mqtt_packet p = {.type = OB_MQTT_PUBLISH};
    p.publish.topic = ob_slice_str("x2b/a.b");
    p.publish.payload = ob_slice_str("hi");
    p.props.present = 1ull << OB_MQTT_PROP_CONTENT_TYPE | 1ull << OB_MQTT_PROP_CORRELATION_DATA |
                      1ull << OB_MQTT_PROP_RESPONSE_TOPIC | 1ull << OB_MQTT_PROP_USER;
    p.props.content_type = ob_slice_str("application/json");
    p.props.correlation_data = ob_slice_str("c-7");
    p.props.response_topic = ob_slice_str("x2b/reply");
    p.props.user = &up;
    p.props.nuser = 1;
    send_pkt(f, OB_MQTT_V5, &p);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.subject, "x2b.a//b");
    assert_string_equal(s.ct, "application/json");
    assert_string_equal(s.corr, "c-7");
    assert_string_equal(s.reply, "x2b.reply");
    assert_string_equal(s.user, "v1");
    ob_unsubscribe(sub);
    fake_free(f);
    env_close(&e);
}

/* A bus message with canonical headers reaches a v5 subscriber as properties. */
static void test_bus_to_mqtt_properties(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *f = fake_new(&e);
    connect_ok(f, OB_MQTT_V5, "unit-b2x");
    subscribe(f, OB_MQTT_V5, "b2x/#", 1);
    pump(&e);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    assert_true(next_pkt(f, OB_MQTT_V5, &a, &k));
    assert_int_equal(a.type, OB_MQTT_SUBACK);
    struct ob_header h[] = {{ob_slice_str("content-type"), ob_slice_str("text/plain")},
                            {ob_slice_str("correlation-id"), ob_slice_str("id-9")},
                            {ob_slice_str("reply-to"), ob_slice_str("b2x.answers")},
                            {ob_slice_str("tenant"), ob_slice_str("acme")}};
    struct ob_msg_init mi = {.subject = ob_slice_str("b2x.orders"),
                             .headers = h,
                             .nheaders = 4,
                             .payload = ob_slice_str("{}")};
    struct ob_msg *m;
    assert_int_equal(ob_msg_new(&m, &mi), 0);
    assert_int_equal(ob_publish(e.bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
    pump(&e);
    assert_true(next_pkt(f, OB_MQTT_V5, &a, &k));
    assert_int_equal(a.type, OB_MQTT_PUBLISH);
    assert_int_equal(a.publish.qos, 1); /* foreign messages count as QoS 1 */
    assert_true(ob_slice_eq_str(a.publish.topic, "b2x/orders"));
    assert_true(ob_slice_eq_str(a.props.content_type, "text/plain"));
    assert_true(ob_slice_eq_str(a.props.correlation_data, "id-9"));
    assert_true(ob_slice_eq_str(a.props.response_topic, "b2x/answers"));
    assert_int_equal(a.props.nuser, 1);
    assert_true(ob_slice_eq_str(a.props.user[0].name, "tenant"));
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

/* Every split of the input parses the same: feed a CONNECT + SUBSCRIBE byte by byte. */
static void test_byte_by_byte(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *f = fake_new(&e);
    struct ob_buf in = OB_BUF_INIT;
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNECT};
    p.connect.version = OB_MQTT_V311;
    p.connect.clean_start = true;
    p.connect.client_id = ob_slice_str("unit-bytes");
    assert_int_equal(ob_mqtt_encode(&in, OB_MQTT_V311, &p), 0);
    struct ob_mqtt_packet q = {.type = OB_MQTT_PINGREQ};
    assert_int_equal(ob_mqtt_encode(&in, OB_MQTT_V311, &q), 0);
    for (size_t i = 0; i < in.len; i++)
        ob_mqtt_conn_input(f->c, in.p + i, 1);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_CONNACK);
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_PINGRESP);
    ob_buf_release(&k);
    ob_buf_release(&in);
    fake_free(f);
    env_close(&e);
}

static void test_malformed_v5_disconnects(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *f = fake_new(&e);
    connect_ok(f, OB_MQTT_V5, "unit-bad");
    const uint8_t bad[] = {0x30, 0x05, 0x00, 0x09, 'a', 'b', 'c'};
    ob_mqtt_conn_input(f->c, bad, sizeof bad);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    assert_true(next_pkt(f, OB_MQTT_V5, &a, &k));
    assert_int_equal(a.type, OB_MQTT_DISCONNECT);
    assert_int_equal(a.disconnect.reason, OB_MQTT_RC_MALFORMED);
    assert_true(f->closed);
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

/* A subscriber whose transport dies inside a write, during another client's publish, is
 * detached only after the publish is done (no use after free under ASan). */
static void test_close_inside_write(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    struct fake *sub = fake_new(&e), *pub = fake_new(&e);
    connect_ok(sub, OB_MQTT_V311, "unit-victim");
    subscribe(sub, OB_MQTT_V311, "die/#", 0);
    pump(&e);
    connect_ok(pub, OB_MQTT_V311, "unit-killer");
    sub->die_on_write = true;
    for (int i = 0; i < 3; i++) {
        struct ob_mqtt_packet p = {.type = OB_MQTT_PUBLISH};
        p.publish.topic = ob_slice_str("die/now");
        p.publish.payload = ob_slice_str("x");
        send_pkt(pub, OB_MQTT_V311, &p);
    }
    pump(&e);
    assert_true(sub->closed);
    fake_free(sub);
    fake_free(pub);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_ping),    cmocka_unit_test(test_puback_after_durable),
        cmocka_unit_test(test_mqtt_to_bus_headers), cmocka_unit_test(test_bus_to_mqtt_properties),
        cmocka_unit_test(test_byte_by_byte),        cmocka_unit_test(test_malformed_v5_disconnects),
        cmocka_unit_test(test_close_inside_write),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
