/*
 * publish.c — PUBLISH from a client: topic aliases, authorization, the bus message with
 * v5 properties as headers, and the publisher's acknowledgement.
 *
 * PUBACK / PUBREC go out only once every stream capturing the message (and the retained
 * store, for a retained publish) has it durable: ob_publish's callback (GUIDE §3). The
 * callbacks may complete out of order, so acks wait in a per-connection queue and leave
 * in the order the PUBLISH packets came (MQTT-4.6.0-2). QoS 2 is exactly-once towards
 * the bus: the packet id is remembered in the session (surviving reconnects) from the
 * PUBLISH until PUBREL, and a resent PUBLISH with that id is acknowledged, not
 * published again.
 */
#include "proto/mqtt/broker.h"
#include "http/metrics.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "proto/mqtt/map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the ordered acknowledgement queue -------------------------------------------- */

struct pend *ob_mqtt_pend_new(struct ob_mqtt_conn *c, uint8_t type, uint16_t pid)
{
    struct pend *p = ob_xcalloc(1, sizeof *p);
    p->c = c;
    p->type = type;
    p->pid = pid;
    p->waits = 1; /* a guard, dropped by pend_ready once every publish was started */
    ob_mqtt_conn_hold(c);
    *c->ptail = p;
    c->ptail = &p->next;
    c->npend++;
    return p;
}

static void pend_free(struct pend *p)
{
    ob_buf_release(&p->body);
    free(p->resend);
    free(p);
}

static void q2_remove(struct msess *s, uint16_t pid)
{
    for (size_t i = 0; s && i < s->nq2in; i++)
        if (s->q2in[i] == pid) {
            s->q2in[i] = s->q2in[--s->nq2in];
            return;
        }
}

static bool q2_has(const struct msess *s, uint16_t pid)
{
    for (size_t i = 0; s && i < s->nq2in; i++)
        if (s->q2in[i] == pid) return true;
    return false;
}

static void q2_add(struct msess *s, uint16_t pid)
{
    if (q2_has(s, pid)) return;
    ob_grow((void **)&s->q2in, &s->q2in_cap, s->nq2in + 1, sizeof *s->q2in);
    s->q2in[s->nq2in++] = pid;
}

static void pend_send(struct ob_mqtt_conn *c, struct pend *p)
{
    if (p->type == OB_MQTT_SUBACK || p->type == OB_MQTT_UNSUBACK) {
        ob_mqtt_send_raw(c, &p->body);
        for (size_t i = 0; i < p->nresend && c->s; i++)
            for (struct msub *u = c->s->subs; u; u = u->next)
                if (u == p->resend[i]) ob_mqtt_send_retained(c->s, u); /* still there */
        return;
    }
    if (p->reason >= 0x80 && c->version != OB_MQTT_V5) {
        /* 3.1.1 has no way to say the store failed: closing makes the client resend. */
        ob_mqtt_conn_close(c, OB_EIO);
        return;
    }
    if (p->type == OB_MQTT_PUBREC && p->reason >= 0x80) q2_remove(c->s, p->pid);
    struct ob_mqtt_packet a = {.type = p->type};
    a.ack.packet_id = p->pid;
    a.ack.reason = p->reason;
    ob_mqtt_send(c, &a);
}

void ob_mqtt_pend_flush(struct ob_mqtt_conn *c)
{
    while (c->phead && c->phead->waits == 0) {
        struct pend *p = c->phead;
        c->phead = p->next;
        if (!c->phead) c->ptail = &c->phead;
        c->npend--;
        if (ob_mqtt_conn_live(c)) pend_send(c, p);
        pend_free(p);
        ob_mqtt_conn_drop(c);
    }
    /* Resume at half the window; "<=" so that a receive maximum of 1 resumes at 0. */
    if (c->paused && c->state == C_LIVE && c->npend <= c->b->opt.receive_maximum / 2u &&
        ob_mqtt_conn_usable(c)) {
        c->paused = false;
        if (c->out->resume) c->out->resume(c->ctx);
    }
}

void ob_mqtt_pend_ready(struct pend *p)
{
    struct ob_mqtt_conn *c = p->c;
    if (--p->waits > 0) return;
    ob_mqtt_conn_hold(c);
    ob_mqtt_pend_flush(c);
    ob_mqtt_conn_drop(c);
}

void ob_mqtt_pend_cb(void *arg, int status, const struct ob_pub_ack *ack)
{
    (void)ack;
    struct pend *p = arg;
    struct ob_mqtt_broker *b = p->c->b;
    ob_mqtt_enter(b);
    if (status && !p->reason) {
        OB_WARN("mqtt", "publish not stored", "error=\"%s\"", ob_strerror(status));
        p->reason = status == OB_ETOOBIG  ? OB_MQTT_RC_PACKET_TOO_LARGE
                    : status == OB_ENOSPC ? OB_MQTT_RC_QUOTA_EXCEEDED
                                          : OB_MQTT_RC_UNSPECIFIED;
    }
    ob_mqtt_pend_ready(p);
    ob_mqtt_leave(b);
}

/* Starts one publish counted in p. */
static void pend_publish(struct ob_mqtt_broker *b, struct pend *p, struct ob_msg *m, bool retained)
{
    p->waits++;
    int rc = retained ? ob_mqtt_retain_store(b, m, ob_mqtt_pend_cb, p)
                      : ob_publish(b->bus, m, ob_mqtt_pend_cb, p);
    if (rc) ob_mqtt_pend_cb(p, rc, NULL);
}

/* A persistent session's record (with its inbound QoS 2 packet ids) written before p
 * leaves: exactly-once survives a restart. */
static void pend_save(struct ob_mqtt_conn *c, struct pend *p)
{
    if (!c->s || !ob_mqtt_sess_persistent(c->s)) return;
    p->waits++;
    int rc = ob_mqtt_sess_save(c->s, ob_mqtt_pend_cb, p);
    if (rc) ob_mqtt_pend_cb(p, rc, NULL);
}

/* ---- the bus message ---------------------------------------------------------------- */

static struct ob_header hdr(const char *name, struct ob_slice v)
{
    struct ob_header h = {ob_slice_str(name), v};
    return h;
}

int ob_mqtt_build_msg(struct ob_mqtt_broker *b, const char *origin, struct ob_slice subject,
                      uint8_t qos, bool retain, const struct ob_mqtt_props *pr,
                      struct ob_slice payload, struct ob_msg **out)
{
    static const char *const qs[] = {"0", "1", "2"};
    size_t cap = 8 + (pr ? pr->nuser : 0), n = 0;
    struct ob_header *h = ob_xmalloc(cap * sizeof *h);
    struct ob_buf reply = OB_BUF_INIT;
    char exp[32];
    h[n++] = hdr(MQTT_H_QOS, ob_slice_str(qs[qos > 2 ? 2 : qos]));
    if (retain) h[n++] = hdr(MQTT_H_RETAIN, ob_slice_str("1"));
    if (origin && b->nolocal_subs) h[n++] = hdr(MQTT_H_ORIGIN, ob_slice_str(origin));
    if (pr && ob_mqtt_props_has(pr, OB_MQTT_PROP_CONTENT_TYPE))
        h[n++] = hdr("content-type", pr->content_type);
    if (pr && ob_mqtt_props_has(pr, OB_MQTT_PROP_CORRELATION_DATA))
        h[n++] = hdr("correlation-id", pr->correlation_data);
    if (pr && ob_mqtt_props_has(pr, OB_MQTT_PROP_RESPONSE_TOPIC)) {
        if (ob_mqtt_topic_to_subject(pr->response_topic, &reply) == 0)
            h[n++] = hdr("reply-to", ob_slice_make(reply.p, reply.len));
        else
            h[n++] = hdr("reply-to", pr->response_topic);
    }
    if (pr && ob_mqtt_props_has(pr, OB_MQTT_PROP_MESSAGE_EXPIRY)) {
        long long at = ob_wall_ns() / OB_NS_PER_MS + (long long)pr->message_expiry * 1000;
        snprintf(exp, sizeof exp, "%lld", at);
        h[n++] = hdr("expires-at", ob_slice_str(exp));
    }
    if (pr && ob_mqtt_props_has(pr, OB_MQTT_PROP_PAYLOAD_FORMAT) && pr->payload_format)
        h[n++] = hdr(MQTT_H_FORMAT, ob_slice_str("1"));
    for (size_t i = 0; pr && i < pr->nuser; i++)
        h[n++] = pr->user[i];
    struct ob_msg_init mi = {.subject = subject, .headers = h, .nheaders = n, .payload = payload};
    int rc = ob_msg_new(out, &mi);
    free(h);
    ob_buf_release(&reply);
    return rc;
}

/* ---- PUBLISH ------------------------------------------------------------------------ */

/* Resolves a v5 topic alias (MQTT-3.3.2-7..12); false if the connection was failed. */
static bool resolve_topic(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt,
                          struct ob_slice *topic)
{
    *topic = pkt->publish.topic;
    if (!ob_mqtt_props_has(&pkt->props, OB_MQTT_PROP_TOPIC_ALIAS)) return true;
    uint16_t a = pkt->props.topic_alias;
    if (a == 0 || a > c->b->opt.alias_max) {
        ob_mqtt_conn_fail(c, OB_MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias out of range");
        return false;
    }
    char **in = ob_mqtt_conn_aliases(c)->in;
    if (topic->n) {
        free(in[a]);
        in[a] = ob_slice_dup(*topic);
        return true;
    }
    if (!in[a]) {
        ob_mqtt_conn_fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "unknown topic alias");
        return false;
    }
    *topic = ob_slice_str(in[a]);
    return true;
}

/* An ack that needs no store: refusals and QoS 2 duplicates. */
static void ack_now(struct ob_mqtt_conn *c, uint8_t qos, uint16_t pid, uint8_t reason)
{
    struct pend *p = ob_mqtt_pend_new(c, qos == 1 ? OB_MQTT_PUBACK : OB_MQTT_PUBREC, pid);
    p->reason = c->version == OB_MQTT_V5 ? reason : 0;
    ob_mqtt_pend_ready(p);
}

/* v5 flow control: a client may have at most our receive maximum QoS 1/2 PUBLISH without
 * PUBACK/PUBCOMP. Acks waiting for the store (npend) and QoS 2 ids awaiting PUBREL (q2in)
 * overlap, so the larger of the two is a lower bound of that count: never a false alarm,
 * and a client that leaves QoS 2 unreleased is caught too (MQTT-3.3.4-9 analogue, 0x93). */
static bool flow_ok(struct ob_mqtt_conn *c, const struct ob_mqtt_publish *pub)
{
    size_t n = c->npend;
    if (c->s && !(pub->qos == 2 && q2_has(c->s, pub->packet_id)) && c->s->nq2in > n)
        n = c->s->nq2in; /* a resent QoS 2 PUBLISH is no new one */
    if (n < c->b->opt.receive_maximum) return true;
    if (c->version == OB_MQTT_V5) { /* the client ignored our receive maximum */
        ob_mqtt_conn_fail(c, OB_MQTT_RC_RECEIVE_MAX_EXCEEDED, "receive maximum exceeded");
        return false;
    }
    return true;
}

static void publish_msg(struct ob_mqtt_conn *c, const struct ob_mqtt_publish *pub, struct ob_msg *m)
{
    struct ob_mqtt_broker *b = c->b;
    if (pub->qos == 0) {
        ob_publish(b->bus, m, NULL, NULL);
        if (pub->retain) ob_mqtt_retain_store(b, m, NULL, NULL);
        return;
    }
    struct pend *p =
        ob_mqtt_pend_new(c, pub->qos == 1 ? OB_MQTT_PUBACK : OB_MQTT_PUBREC, pub->packet_id);
    if (pub->qos == 2) q2_add(c->s, pub->packet_id);
    pend_publish(b, p, m, false);
    if (pub->retain) pend_publish(b, p, m, true);
    if (pub->qos == 2) pend_save(c, p); /* the packet id, durable with the message */
    ob_mqtt_pend_ready(p);
    if (c->npend >= c->b->opt.receive_maximum && !c->paused && c->out->pause) {
        c->paused = true;
        c->out->pause(c->ctx);
    }
}

void ob_mqtt_handle_publish(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_publish *pub = &pkt->publish;
    struct ob_slice topic;
    c->b->msgs_in++;
    ob_metrics_add("mqtt", "in", 1);
    if (c->version == OB_MQTT_V5 && ob_mqtt_props_has(&pkt->props, OB_MQTT_PROP_SUBSCRIPTION_ID)) {
        /* MQTT-3.3.4-6: only the server puts subscription identifiers in a PUBLISH */
        ob_mqtt_conn_fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "subscription identifier from a client");
        return;
    }
    if (!resolve_topic(c, pkt, &topic)) return;
    if (pub->qos && !flow_ok(c, pub)) return;
    if (pub->qos == 2 && q2_has(c->s, pub->packet_id)) {
        ack_now(c, 2, pub->packet_id, 0); /* a resend: already published once */
        return;
    }
    struct ob_buf sb = OB_BUF_INIT;
    if (ob_mqtt_topic_to_subject(topic, &sb)) {
        ob_buf_release(&sb);
        ob_mqtt_conn_fail(c, OB_MQTT_RC_TOPIC_NAME_INVALID, "topic cannot be mapped");
        return;
    }
    struct ob_slice subject = ob_slice_make(sb.p, sb.len);
    ob_buf_putc(&sb, 0);
    int az = ob_auth_authorize(*c->b->auth, c->who, OB_ACT_PUBLISH, (const char *)sb.p);
    if (az == OB_EBADSUBJECT) { /* valid MQTT, but its subject is over the core's limit */
        ob_buf_release(&sb);
        ob_mqtt_conn_fail(c, OB_MQTT_RC_TOPIC_NAME_INVALID, "topic too long for a subject");
        return;
    }
    if (az) {
        OB_DEBUG("mqtt", "publish denied", "client=%s subject=%s", c->cid, (const char *)sb.p);
        /* v5: reason 0x87; 3.1.1: acknowledged as usual but dropped (MQTT-3.3.5-2). */
        if (pub->qos) ack_now(c, pub->qos, pub->packet_id, OB_MQTT_RC_NOT_AUTHORIZED);
        if (pub->qos == 2 && c->version != OB_MQTT_V5) q2_add(c->s, pub->packet_id);
        ob_buf_release(&sb);
        return;
    }
    struct ob_msg *m = NULL;
    int rc = ob_mqtt_build_msg(c->b, c->cid, subject, pub->qos, pub->retain, &pkt->props,
                               pub->payload, &m);
    ob_buf_release(&sb);
    if (rc) {
        if (pub->qos) ack_now(c, pub->qos, pub->packet_id, OB_MQTT_RC_TOPIC_NAME_INVALID);
        return;
    }
    publish_msg(c, pub, m);
    ob_msg_unref(m);
}

void ob_mqtt_handle_pubrel(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    uint16_t pid = pkt->ack.packet_id;
    struct ob_mqtt_packet a = {.type = OB_MQTT_PUBCOMP};
    a.ack.packet_id = pid;
    bool had = q2_has(c->s, pid);
    if (had)
        q2_remove(c->s, pid);
    else if (c->version == OB_MQTT_V5)
        a.ack.reason = OB_MQTT_RC_PACKET_ID_NOT_FOUND;
    bool save = had && c->s && ob_mqtt_sess_persistent(c->s);
    /* Behind any ack still waiting for the store, so the order holds; and for a
     * persistent session only once the released id is durable (the client may reuse
     * it at once, and a stale one would swallow the next message after a restart). */
    if (c->phead || save) {
        struct pend *p = ob_mqtt_pend_new(c, OB_MQTT_PUBCOMP, pid);
        p->reason = a.ack.reason;
        if (save) pend_save(c, p);
        ob_mqtt_pend_ready(p);
        return;
    }
    ob_mqtt_send(c, &a);
}
