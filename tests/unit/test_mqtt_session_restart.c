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

static char g_dir[640];

static int make_dir(void **state)
{
    (void)state;
    const char *base = getenv("OB_TEST_TMP");
    char tmpl[600];
    if (base) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", base);
        if (system(cmd) != 0) return -1;
    }
    snprintf(tmpl, sizeof tmpl, "%s/mqtt-restart-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl)) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- a fake transport ----------------------------------------------------------------- */

struct fake {
    struct ob_mqtt_conn *c;
    struct ob_buf out;
    bool closed;
    int close_status;
    bool die_on_write;          /* simulates a slow consumer closed inside a write */
    struct ob_mqtt_decoder dec; /* the client side, for what the server sent */
    bool dec_ready;
};

static int f_write(void *ctx, const struct ob_slice *iov, size_t n, ob_release_fn rel, void *arg)
{
    struct fake *f = ctx;
    if (f->closed) {
        rel(arg);
        return OB_ECLOSED;
    }
    for (size_t i = 0; i < n; i++)
        ob_buf_append(&f->out, iov[i].p, iov[i].n);
    rel(arg);
    if (f->die_on_write) {
        f->closed = true;
        ob_mqtt_conn_closed(f->c, OB_ELIMIT);
        return OB_ELIMIT;
    }
    return 0;
}

static void f_close(void *ctx, int status)
{
    struct fake *f = ctx;
    if (f->closed) return;
    f->closed = true;
    f->close_status = status;
    ob_mqtt_conn_closed(f->c, status);
}

static bool f_congested(void *ctx)
{
    (void)ctx;
    return false;
}

static const struct ob_mqtt_out fake_out = {
    .write = f_write,
    .close = f_close,
    .congested = f_congested,
};

/* ---- fixture -------------------------------------------------------------------------- */

struct env {
    struct ob_bus *bus;
    struct ob_auth *auth;
    struct ob_net_limits limits;
    struct ob_proto_host host;
    struct ob_mqtt_broker *b;
};

static void env_open(struct env *e)
{
    memset(e, 0, sizeof *e);
    struct ob_bus_options o = {.data_dir = g_dir};
    assert_int_equal(ob_bus_open(&e->bus, &o), 0);
    struct ob_auth_config ac = {.anonymous = OB_ANON_ALWAYS};
    assert_int_equal(ob_auth_new(&e->auth, &ac), 0);
    e->host = (struct ob_proto_host){e->bus, &e->auth, &e->limits};
    assert_int_equal(ob_mqtt_broker_acquire(&e->b, &e->host), 0);
}

static void env_close(struct env *e)
{
    ob_mqtt_broker_release(e->b);
    ob_bus_run(e->bus, OB_RUN_NOWAIT); /* the broker's timer closes */
    ob_bus_close(e->bus);
    ob_auth_unref(e->auth);
}

static void pump(struct env *e)
{
    ob_bus_flush(e->bus);
    for (int i = 0; i < 20; i++)
        ob_bus_run(e->bus, OB_RUN_NOWAIT);
}

static struct fake *fake_new(struct env *e)
{
    struct fake *f = calloc(1, sizeof *f);
    f->c = ob_mqtt_conn_new(e->b, &fake_out, f);
    return f;
}

static void fake_free(struct fake *f)
{
    if (!f->closed) f_close(f, 0);
    if (f->dec_ready) ob_mqtt_decoder_release(&f->dec);
    ob_buf_release(&f->out);
    free(f);
}

static void send_pkt(struct fake *f, uint8_t v, struct ob_mqtt_packet *p)
{
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_mqtt_encode(&b, v, p), 0);
    ob_mqtt_conn_input(f->c, b.p, b.len);
    ob_buf_release(&b);
}

/* Decodes the next packet the server wrote; false if none is complete. The packet's
 * slices point into keep and into the fake's decoder (valid until the next call). */
static bool next_pkt(struct fake *f, uint8_t v, struct ob_mqtt_packet *p, struct ob_buf *keep)
{
    struct ob_mqtt_decoder probe;
    ob_mqtt_decoder_init(&probe, v, 0);
    size_t used = 0;
    int rc = ob_mqtt_decode(&probe, f->out.p, f->out.len, &used, p);
    ob_mqtt_decoder_release(&probe);
    if (rc != 1) return false;
    keep->len = 0;
    ob_buf_append(keep, f->out.p, used);
    ob_buf_consume(&f->out, used);
    if (f->dec_ready) ob_mqtt_decoder_release(&f->dec);
    ob_mqtt_decoder_init(&f->dec, v, 0);
    f->dec_ready = true;
    used = 0;
    return ob_mqtt_decode(&f->dec, keep->p, keep->len, &used, p) == 1;
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
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_CONNACK);
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

    env_open(&e);
    f = connect_v311(&e, "keeper", false, &present);
    assert_true(present);
    pump(&e);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    const char *want[] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
        assert_int_equal(a.type, OB_MQTT_PUBLISH);
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
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_PUBACK);
    fake_free(f);
    env_close(&e);

    env_open(&e);
    f = connect_v311(&e, "reader", true, &present);
    subscribe(f, OB_MQTT_V311, "ret/+", 0);
    pump(&e);
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_SUBACK);
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_PUBLISH);
    assert_true(a.publish.retain);
    assert_true(ob_slice_eq_str(a.publish.topic, "ret/x"));
    assert_true(ob_slice_eq_str(a.publish.payload, "kept"));
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persistent_session_survives_restart),
        cmocka_unit_test(test_retained_survives_restart),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
