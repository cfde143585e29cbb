/*
 * will.c — the will message: built at CONNECT (v5 will properties become headers as for
 * any publish), published when the connection ends without a normal DISCONNECT, or
 * after the v5 will delay (the session keeps it; a reconnect in time cancels it).
 *
 * A delayed will is written with its persistent session's record (broker.c), so that
 * a restart, graceful or kill -9, neither loses nor forgets it. Format (little-endian):
 *   i64 due (wall clock, ns since the epoch: monotonic time does not survive a
 *   restart), u8 qos, u8 retain, u32 delay s, u16 len, subject, u16 n,
 *   n x { u16 len, name, u32 len, value }, u32 len, payload
 */
#include "proto/mqtt/broker.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "proto/mqtt/map.h"

#include <stdlib.h>

struct will *ob_mqtt_will_new(struct ob_mqtt_broker *b, const char *origin,
                              const struct ob_mqtt_connect *cn, int *reason)
{
    struct ob_buf sb = OB_BUF_INIT;
    struct ob_msg *m = NULL;
    int rc = ob_mqtt_topic_to_subject(cn->will_topic, &sb);
    if (!rc)
        rc = ob_mqtt_build_msg(b, origin, ob_slice_make(sb.p, sb.len), cn->will_qos,
                               cn->will_retain, &cn->will_props, cn->will_payload, &m);
    ob_buf_release(&sb);
    if (rc) {
        *reason = OB_MQTT_RC_TOPIC_NAME_INVALID;
        return NULL;
    }
    struct will *w = ob_xcalloc(1, sizeof *w);
    w->msg = m;
    w->qos = cn->will_qos;
    w->retain = cn->will_retain;
    if (ob_mqtt_props_has(&cn->will_props, OB_MQTT_PROP_WILL_DELAY))
        w->delay_s = cn->will_props.will_delay;
    return w;
}

void ob_mqtt_will_publish(struct ob_mqtt_broker *b, struct will *w)
{
    ob_publish(b->bus, w->msg, NULL, NULL);
    if (w->retain) ob_mqtt_retain_store(b, w->msg, NULL, NULL);
}

void ob_mqtt_will_encode(struct ob_buf *b, const struct will *w)
{
    struct ob_slice subj = ob_msg_subject(w->msg), pl = ob_msg_payload(w->msg);
    size_t n = ob_msg_header_count(w->msg);
    ob_buf_put_u64le(b, (uint64_t)w->due_wall_ns);
    ob_buf_putc(b, w->qos);
    ob_buf_putc(b, w->retain);
    ob_buf_put_u32le(b, w->delay_s);
    ob_buf_put_u16le(b, (uint16_t)subj.n);
    ob_buf_append(b, subj.p, subj.n);
    ob_buf_put_u16le(b, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        const struct ob_header *h = ob_msg_header_at(w->msg, i);
        ob_buf_put_u16le(b, (uint16_t)h->name.n);
        ob_buf_append(b, h->name.p, h->name.n);
        ob_buf_put_u32le(b, (uint32_t)h->value.n);
        ob_buf_append(b, h->value.p, h->value.n);
    }
    ob_buf_put_u32le(b, (uint32_t)pl.n);
    ob_buf_append(b, pl.p, pl.n);
}

/* A bounds-checked reader over a record: once short, every read yields zeros. */
struct rd {
    const uint8_t *p, *end;
    bool ok;
};

static struct ob_slice rd_bytes(struct rd *r, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->p) < n) {
        r->ok = false;
        return ob_slice_make(NULL, 0);
    }
    struct ob_slice s = ob_slice_make(r->p, n);
    r->p += n;
    return s;
}

static uint64_t rd_le(struct rd *r, size_t n)
{
    struct ob_slice s = rd_bytes(r, n);
    uint64_t v = 0;
    for (size_t i = s.n; i-- > 0;)
        v = v << 8 | s.p[i];
    return v;
}

static struct ob_msg *decode_msg(struct rd *r)
{
    struct ob_msg_init mi = {.subject = rd_bytes(r, rd_le(r, 2))};
    size_t n = rd_le(r, 2);
    struct ob_header *h = ob_xcalloc(n ? n : 1, sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i].name = rd_bytes(r, rd_le(r, 2));
        h[i].value = rd_bytes(r, rd_le(r, 4));
    }
    mi.headers = h;
    mi.nheaders = n;
    mi.payload = rd_bytes(r, rd_le(r, 4));
    struct ob_msg *m = NULL;
    if (!r->ok || ob_msg_new(&m, &mi)) m = NULL;
    free(h);
    return m;
}

struct will *ob_mqtt_will_decode(const uint8_t **p, const uint8_t *end)
{
    struct rd r = {*p, end, true};
    int64_t due = (int64_t)rd_le(&r, 8);
    uint8_t qos = (uint8_t)rd_le(&r, 1), retain = (uint8_t)rd_le(&r, 1);
    uint32_t delay = (uint32_t)rd_le(&r, 4);
    struct ob_msg *m = decode_msg(&r);
    if (!m) return NULL;
    *p = r.p;
    struct will *w = ob_xcalloc(1, sizeof *w);
    w->msg = m;
    w->qos = qos & 3;
    w->retain = retain & 1;
    w->delay_s = delay;
    ob_mqtt_will_arm(w, due);
    return w;
}

void ob_mqtt_will_arm(struct will *w, int64_t due_wall_ns)
{
    int64_t left = due_wall_ns - ob_wall_ns();
    w->due_wall_ns = due_wall_ns;
    w->due_ns = ob_mono_ns() + (left > 0 ? left : 0);
}

void ob_mqtt_will_free(struct will *w)
{
    ob_msg_unref(w->msg);
    free(w);
}
