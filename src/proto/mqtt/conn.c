/*
 * conn.c — one MQTT network connection: feeds bytes to the decoder, dispatches packets
 * to the handle_* functions, sends packets through the transport's struct ob_mqtt_out,
 * and manages the connection's lifetime.
 *
 * Lifetime: a transport's close may call ob_mqtt_conn_closed() before returning, and a
 * write into another client's connection can close it from inside a publish. So every
 * entry point holds the connection (busy), and it is freed only when the transport is
 * gone and no hold remains.
 */
#include "proto/mqtt/broker.h"
#include "http/metrics.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

void ob_mqtt_conn_hold(struct ob_mqtt_conn *c)
{
    c->busy++;
}

static void conn_free(struct ob_mqtt_conn *c)
{
    ob_mqtt_decoder_release(&c->dec);
    if (c->stash) ob_buf_release(c->stash);
    free(c->stash);
    if (c->alias) {
        for (size_t i = 0; i <= c->b->opt.alias_max; i++)
            free(c->alias->in[i]);
        for (size_t i = 0; i < c->alias->nout; i++)
            free(c->alias->out_keys[i]);
        free(c->alias->out_keys);
        ob_map_release(&c->alias->out);
        free(c->alias);
    }
    if (c->cid_owned) free(c->cid);
    if (c->will) ob_mqtt_will_free(c->will);
    if (c->who) ob_principal_free(c->who);
    free(c);
}

void ob_mqtt_conn_drop(struct ob_mqtt_conn *c)
{
    if (--c->busy == 0 && c->gone) conn_free(c);
}

struct aliases *ob_mqtt_conn_aliases(struct ob_mqtt_conn *c)
{
    if (!c->alias)
        c->alias = ob_xcalloc(1, sizeof *c->alias + (c->b->opt.alias_max + 1u) * sizeof(char *));
    return c->alias;
}

bool ob_mqtt_conn_usable(const struct ob_mqtt_conn *c)
{
    return !c->gone && !c->closing;
}

bool ob_mqtt_conn_live(const struct ob_mqtt_conn *c)
{
    return c && ob_mqtt_conn_usable(c) && c->state == C_LIVE;
}

static void release_buf(void *arg)
{
    free(arg);
}

static int write_bytes(struct ob_mqtt_conn *c, const void *p, size_t n)
{
    if (!ob_mqtt_conn_usable(c)) return OB_ECLOSED;
    void *copy = ob_xmemdup(p, n);
    struct ob_slice s = {copy, n};
    c->b->bytes_out += n;
    ob_metrics_add_bytes("mqtt", "out", n);
    return c->out->write(c->ctx, &s, 1, release_buf, copy);
}

int ob_mqtt_send_raw(struct ob_mqtt_conn *c, const struct ob_buf *b)
{
    return write_bytes(c, b->p, b->len);
}

int ob_mqtt_send(struct ob_mqtt_conn *c, struct ob_mqtt_packet *pkt)
{
    struct ob_buf *sb = &c->b->scratch;
    sb->len = 0;
    int rc = ob_mqtt_encode(sb, c->version ? c->version : OB_MQTT_V311, pkt);
    if (rc) {
        OB_WARN("mqtt", "cannot encode packet", "type=%s error=\"%s\"",
                ob_mqtt_type_name(pkt->type), ob_strerror(rc));
        return rc;
    }
    return ob_mqtt_send_raw(c, sb);
}

void ob_mqtt_conn_close(struct ob_mqtt_conn *c, int status)
{
    if (c->gone || c->closing) return;
    c->closing = true;
    ob_mqtt_conn_hold(c);
    c->out->close(c->ctx, status);
    ob_mqtt_conn_drop(c);
}

void ob_mqtt_conn_kick(struct ob_mqtt_conn *c, uint8_t reason)
{
    if (c->version == OB_MQTT_V5 && ob_mqtt_conn_live(c)) {
        struct ob_mqtt_packet p = {.type = OB_MQTT_DISCONNECT};
        p.disconnect.reason = reason;
        ob_mqtt_send(c, &p);
    }
    ob_mqtt_conn_close(c, reason ? OB_EPROTO : 0);
}

void ob_mqtt_conn_fail(struct ob_mqtt_conn *c, uint8_t reason, const char *why)
{
    OB_DEBUG("mqtt", "closing connection", "reason=0x%02x why=\"%s\" client=%s", reason, why,
             c->s ? c->s->id : "-");
    if (c->version == OB_MQTT_V5 && ob_mqtt_conn_live(c)) {
        struct ob_mqtt_packet p = {.type = OB_MQTT_DISCONNECT};
        p.disconnect.reason = reason;
        if (c->problem_info && why) {
            p.props.present |= 1ull << OB_MQTT_PROP_REASON_STRING;
            p.props.reason_string = ob_slice_str(why);
        }
        ob_mqtt_send(c, &p);
    }
    ob_mqtt_conn_close(c, OB_EPROTO);
}

/* A decoding error: v5 DISCONNECT (or CONNACK for a bad CONNECT), 3.1.1 close. */
static void decode_failed(struct ob_mqtt_conn *c, int rc)
{
    const struct ob_mqtt_error *e = ob_mqtt_decoder_error(&c->dec);
    if (c->state == C_NEW) {
        struct ob_mqtt_packet p = {.type = OB_MQTT_CONNACK};
        if (rc == OB_ENOTSUP) {
            /* Unknown level: answer in 3.1.1 form, "unacceptable protocol version". */
            c->version = OB_MQTT_V311;
            p.connack.reason = 0x01;
            ob_mqtt_send(c, &p);
        } else if (e->type == OB_MQTT_CONNECT && c->dec.version == OB_MQTT_V5) {
            c->version = OB_MQTT_V5;
            p.connack.reason = e->reason;
            ob_mqtt_send(c, &p);
        }
        ob_mqtt_conn_close(c, OB_EPROTO);
        return;
    }
    ob_mqtt_conn_fail(c, e->reason, e->what);
}

static void dispatch(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    if (c->state == C_NEW) {
        if (pkt->type == OB_MQTT_CONNECT)
            ob_mqtt_handle_connect(c, pkt);
        else
            ob_mqtt_conn_close(c, OB_EPROTO);
        return;
    }
    switch (pkt->type) {
    case OB_MQTT_PUBLISH:
        ob_mqtt_handle_publish(c, pkt);
        break;
    case OB_MQTT_PUBACK:
    case OB_MQTT_PUBREC:
    case OB_MQTT_PUBCOMP:
        ob_mqtt_handle_ack(c, pkt);
        break;
    case OB_MQTT_PUBREL:
        ob_mqtt_handle_pubrel(c, pkt);
        break;
    case OB_MQTT_SUBSCRIBE:
        ob_mqtt_handle_subscribe(c, pkt);
        break;
    case OB_MQTT_UNSUBSCRIBE:
        ob_mqtt_handle_unsubscribe(c, pkt);
        break;
    case OB_MQTT_PINGREQ: {
        struct ob_mqtt_packet p = {.type = OB_MQTT_PINGRESP};
        ob_mqtt_send(c, &p);
        break;
    }
    case OB_MQTT_DISCONNECT:
        ob_mqtt_handle_disconnect(c, pkt);
        break;
    case OB_MQTT_CONNECT:
        ob_mqtt_conn_fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "second CONNECT");
        break;
    case OB_MQTT_AUTH:
        /* No enhanced authentication was negotiated, so AUTH is a protocol error. */
        ob_mqtt_conn_fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "AUTH without an authentication method");
        break;
    default:
        ob_mqtt_conn_fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "unexpected packet type");
        break;
    }
}

/* Decodes and dispatches until the input is used up, the connection stops, or it is
 * authenticating (then the rest is stashed for later). */
static void feed(struct ob_mqtt_conn *c, const uint8_t *p, size_t n)
{
    while (n && ob_mqtt_conn_usable(c)) {
        if (c->state == C_AUTH) {
            if (!c->stash) {
                c->stash = ob_xmalloc(sizeof *c->stash);
                *c->stash = (struct ob_buf)OB_BUF_INIT;
            }
            ob_buf_append(c->stash, p, n);
            return;
        }
        size_t used = 0;
        struct ob_mqtt_packet pkt;
        int rc = ob_mqtt_decode(&c->dec, p, n, &used, &pkt);
        if (rc < 0) {
            decode_failed(c, rc);
            return;
        }
        p += used;
        n -= used;
        if (rc == 0) return;
        dispatch(c, &pkt);
    }
}

void ob_mqtt_conn_input(struct ob_mqtt_conn *c, const uint8_t *p, size_t n)
{
    struct ob_mqtt_broker *b = c->b;
    ob_mqtt_enter(b);
    ob_mqtt_conn_hold(c);
    b->bytes_in += n;
    ob_metrics_add_bytes("mqtt", "in", n);
    c->last_rx_ns = ob_mono_ns();
    feed(c, p, n);
    ob_mqtt_conn_drop(c);
    ob_mqtt_leave(b);
}

void ob_mqtt_conn_unstash(struct ob_mqtt_conn *c)
{
    struct ob_buf *b = c->stash;
    if (!b) return;
    c->stash = NULL;
    feed(c, b->p, b->len);
    ob_buf_release(b);
    free(b);
}

void ob_mqtt_conn_writable(struct ob_mqtt_conn *c)
{
    struct ob_mqtt_broker *b = c->b;
    ob_mqtt_enter(b);
    ob_mqtt_conn_hold(c);
    if (c->s && c->s->conn == c) ob_mqtt_pump(c->s);
    ob_mqtt_conn_drop(c);
    ob_mqtt_leave(b);
}

/* Every idle MQTT client carries one (and a struct msess): see the idle-memory row of
 * bench/mqtt.sh before letting either grow. */
_Static_assert(sizeof(struct ob_mqtt_conn) <= 224,
               "struct ob_mqtt_conn grew: see bench/RESULTS.md");
_Static_assert(sizeof(struct msess) <= 88, "struct msess grew: see bench/RESULTS.md");

struct ob_mqtt_conn *ob_mqtt_conn_new(struct ob_mqtt_broker *b, const struct ob_mqtt_out *out,
                                      void *ctx)
{
    struct ob_mqtt_conn *c = ob_xcalloc(1, sizeof *c);
    c->b = b;
    c->out = out;
    c->ctx = ctx;
    c->recv_max = 65535;
    uint64_t limit = b->opt.max_packet ? b->opt.max_packet
                     : b->limits       ? b->limits->max_frame_size
                                       : 0;
    ob_mqtt_decoder_init(&c->dec, 0, limit && limit < OB_MQTT_MAX_PACKET ? (uint32_t)limit : 0);
    c->ptail = &c->phead;
    c->last_rx_ns = ob_mono_ns();
    /* A client has 10 s to send CONNECT. */
    if (out->set_idle_timeout) out->set_idle_timeout(ctx, 10000);
    return c;
}

static void finish_close(struct ob_mqtt_conn *c)
{
    ob_mqtt_conn_detach(c);
    c->state = C_DEAD;
    ob_mqtt_conn_drop(c);
}

void ob_mqtt_enter(struct ob_mqtt_broker *b)
{
    b->depth++;
}

void ob_mqtt_leave(struct ob_mqtt_broker *b)
{
    if (b->depth > 1) {
        b->depth--;
        return;
    }
    /* Still "inside" while detaching: a detach publishes wills and may close more. */
    while (b->deferred) {
        struct ob_mqtt_conn *c = b->deferred;
        b->deferred = c->next_deferred;
        finish_close(c);
    }
    b->depth--;
}

void ob_mqtt_conn_closed(struct ob_mqtt_conn *c, int status)
{
    (void)status;
    struct ob_mqtt_broker *b = c->b;
    ob_mqtt_conn_hold(c);
    c->gone = true;
    if (b->depth) {
        c->next_deferred = b->deferred;
        b->deferred = c;
        return;
    }
    ob_mqtt_enter(b);
    finish_close(c);
    ob_mqtt_leave(b);
}
