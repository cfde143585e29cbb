/*
 * test_mqtt_fixture.h — shared by the MQTT session tests: a fake transport (a struct
 * ob_mqtt_out collecting what the broker writes, with a client-side decoder to read it
 * back) and a durable bus in the test's temp dir (test_tmpdir.h) to run sessions on.
 * Header-only (static inline) so each test program takes what it uses.
 */
#ifndef OB_TEST_MQTT_FIXTURE_H
#define OB_TEST_MQTT_FIXTURE_H

#include "test_tmpdir.h"

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

static inline int f_write(void *ctx, const struct ob_slice *iov, size_t n, ob_release_fn rel,
                          void *arg)
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

static inline void f_close(void *ctx, int status)
{
    struct fake *f = ctx;
    if (f->closed) return;
    f->closed = true;
    f->close_status = status;
    ob_mqtt_conn_closed(f->c, status);
}

static inline bool f_congested(void *ctx)
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

static inline void env_open(struct env *e)
{
    memset(e, 0, sizeof *e);
    struct ob_bus_options o = {.data_dir = g_dir};
    assert_int_equal(ob_bus_open(&e->bus, &o), 0);
    struct ob_auth_config ac = {.anonymous = OB_ANON_ALWAYS};
    assert_int_equal(ob_auth_new(&e->auth, &ac), 0);
    e->host = (struct ob_proto_host){e->bus, &e->auth, &e->limits};
    assert_int_equal(ob_mqtt_broker_acquire(&e->b, &e->host), 0);
}

static inline void env_close(struct env *e)
{
    ob_mqtt_broker_release(e->b);
    ob_bus_run(e->bus, OB_RUN_NOWAIT); /* the broker's timer closes */
    ob_bus_close(e->bus);
    ob_auth_unref(e->auth);
}

static inline void pump(struct env *e)
{
    ob_bus_flush(e->bus);
    for (int i = 0; i < 20; i++)
        ob_bus_run(e->bus, OB_RUN_NOWAIT);
}

/* Publishes payload on subject to the bus as an MQTT publish of QoS qos ("0".."2") would
 * arrive from another protocol: the mqtt-qos header sets the delivery QoS. */
static inline void env_publish_qos(struct env *e, const char *subject, const char *payload,
                                   const char *qos)
{
    struct ob_header h = {ob_slice_str("mqtt-qos"), ob_slice_str(qos)};
    struct ob_msg_init mi = {.subject = ob_slice_str(subject),
                             .headers = &h,
                             .nheaders = 1,
                             .payload = ob_slice_str(payload)};
    struct ob_msg *m;
    assert_int_equal(ob_msg_new(&m, &mi), 0);
    assert_int_equal(ob_publish(e->bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
}

static inline struct fake *fake_new(struct env *e)
{
    struct fake *f = calloc(1, sizeof *f);
    f->c = ob_mqtt_conn_new(e->b, &fake_out, f);
    return f;
}

static inline void fake_free(struct fake *f)
{
    if (!f->closed) f_close(f, 0);
    if (f->dec_ready) ob_mqtt_decoder_release(&f->dec);
    ob_buf_release(&f->out);
    free(f);
}

static inline void send_pkt(struct fake *f, uint8_t v, struct ob_mqtt_packet *p)
{
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_mqtt_encode(&b, v, p), 0);
    ob_mqtt_conn_input(f->c, b.p, b.len);
    ob_buf_release(&b);
}

/* Decodes the next packet the server wrote; false if none is complete. The packet's
 * slices point into keep and into the fake's decoder (valid until the next call). */
static inline bool next_pkt(struct fake *f, uint8_t v, struct ob_mqtt_packet *p,
                            struct ob_buf *keep)
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

#endif
