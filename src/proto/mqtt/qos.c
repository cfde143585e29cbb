/*
 * qos.c — messages to a client: QoS downgrade, v5 properties from headers, outbound
 * topic aliases, the in-flight window (the client's receive maximum, capped by ours),
 * packet identifiers, PUBACK / PUBREC / PUBREL / PUBCOMP, and resending on reconnect.
 *
 * Packet ids across restarts (MQTT-4.4.0-1: resend with the original packet ids).
 * A delivery from a durable consumer gets a *stable* packet id, a function of what the
 * core already persists: 1 + (hash(consumer name) + stream sequence) mod 65535. After
 * a restart the consumer redelivers every unacked message and each gets the id it had,
 * with no write of ours per delivery. Consecutive messages of one consumer get
 * consecutive ids; if the id is still in use (another subscription's message, a
 * sequence 65535 further on), the queue waits for it rather than take another, since
 * another would break the guarantee; acks free ids in order, so the wait is short.
 *
 * A delivery from a durable consumer is acked on the consumer at PUBACK (QoS 1) or at
 * PUBREC (QoS 2): from PUBREC on the client owns the message and only the PUBREL /
 * PUBCOMP handshake remains. For a persistent session that state must survive a
 * restart too, or the client would wait for a PUBREL forever and take a later PUBLISH
 * with that id for a duplicate: so at PUBREC the session record is rewritten with the
 * message's (id, sequence, consumer hash) first, and only once it is durable is the
 * consumer acked and PUBREL sent. At start the record's entries come back as PUBREL
 * pending (and their consumers are acked again, in case the crash came between the
 * record and the ack). One record write per QoS 2 delivery; QoS 1 writes nothing.
 *
 * Shared subscriptions and QoS 2 (MQTT-4.8.2-4/-5). Once a QoS 2 message of a group
 * is sent to a member, it belongs to that member's session: completed to it when it
 * reconnects, and when its session ends, sent to no other member (the member may
 * already hold it; handing it on would break exactly once). The core's consumer would
 * hand it on twice over: at the member's unbind, and after a restart (the pending set
 * is redelivered to whichever member binds first). So:
 *   - a persistent member "claims" the message before its PUBLISH: the session record
 *     is rewritten with (packet id, sequence, consumer hash), and the PUBLISH leaves
 *     once that is durable (one more record write per shared QoS 2 delivery). From
 *     PUBREC on it is a released entry like any other (the claim is gone from the
 *     next record);
 *   - at disconnect, before the unbind, a persistent member's shared QoS 2 messages
 *     in flight are held in the consumer (ob_consumer_hold: still pending, so still
 *     stored, but outside leases and round-robin); at start, each claim of a loaded
 *     record is held again before anything binds, and comes back in flight (message
 *     read from the stream), to be resent with DUP and its packet id on reconnect;
 *   - when the session ends (expiry, clean start, a clean member's disconnect) or the
 *     member unsubscribes, they are terminated in the core: acked without going to
 *     anyone. (A clean member writes nothing, so its messages in flight at a kill -9
 *     are redelivered to another member after the restart: a known gap.)
 * The message stays in the consumer rather than being copied into the record: the
 * stream already stores it, and the consumer's pending set is what keeps it there
 * (interest retention). QoS 1, and QoS 2 still queued (never sent), go to another
 * member as before.
 */
#include "proto/mqtt/broker.h"
#include "http/metrics.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "proto/mqtt/map.h"

#include <stdlib.h>
#include <string.h>

struct ob_slice ob_mqtt_header(const struct ob_msg *m, const char *name)
{
    const struct ob_header *h = ob_msg_header_get(m, name);
    return h ? h->value : ob_slice_make(NULL, 0);
}

/* Messages from other protocols carry no mqtt-qos: they count as QoS 1 (at least once,
 * as the bus's durable consumers deliver them), so the subscription's QoS decides. */
static uint8_t msg_qos(const struct ob_msg *m)
{
    struct ob_slice q = ob_mqtt_header(m, MQTT_H_QOS);
    return q.n == 1 && q.p[0] >= '0' && q.p[0] <= '2' ? (uint8_t)(q.p[0] - '0') : 1;
}

static int64_t parse_ll(struct ob_slice s)
{
    int64_t v = 0;
    for (size_t i = 0; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++)
        v = v * 10 + (s.p[i] - '0');
    return v;
}

/* Seconds left before expires-at (at least 1), 0 without one, -1 when expired. */
static int64_t expiry_left(const struct ob_msg *m)
{
    struct ob_slice e = ob_mqtt_header(m, "expires-at");
    if (!e.n) return 0;
    int64_t left = parse_ll(e) - ob_wall_ns() / OB_NS_PER_MS;
    if (left <= 0) return -1;
    return (left + 999) / 1000;
}

static void key_of(uint8_t key[2], uint16_t pid)
{
    key[0] = (uint8_t)(pid >> 8);
    key[1] = (uint8_t)pid;
}

static struct outmsg *inflight_get(const struct msess *s, uint16_t pid)
{
    if (!s->win) return NULL;
    uint8_t k[2];
    key_of(k, pid);
    return ob_map_get(&s->win->inflight, ob_slice_make(k, 2));
}

/* The session's window, created for a message to queue or restore. */
static struct window *win_get(struct msess *s)
{
    if (!s->win) {
        s->win = ob_xcalloc(1, sizeof *s->win);
        s->win->qtail = &s->win->qhead;
    }
    return s->win;
}

/* Frees the window once nothing is queued or in flight. Only from the outermost
 * callers (an ack, going offline): the loops below keep pointers into it. */
static void win_trim(struct msess *s)
{
    struct window *w = s->win;
    if (!w || w->ninflight || w->qhead) return;
    ob_map_release(&w->inflight);
    free(w);
    s->win = NULL;
}

static void out_release(struct outmsg *o)
{
    if (o->msg) ob_msg_unref(o->msg);
    free(o);
}

/* ---- encoding one PUBLISH ------------------------------------------------------------ */

struct wr {
    struct ob_msg *m;
    size_t n;
    uint8_t bytes[];
};

static void wr_release(void *arg)
{
    struct wr *w = arg;
    ob_msg_unref(w->m);
    free(w);
}

static bool canonical(struct ob_slice name)
{
    static const char *const skip[] = {"content-type", "correlation-id", "reply-to", "expires-at"};
    if (name.n >= 5 && !memcmp(name.p, "mqtt-", 5)) return true;
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (ob_slice_eq_nocase(name, ob_slice_str(skip[i]))) return true;
    return false;
}

/* Outbound topic alias (v5): the first use sends topic and alias, later ones the alias. */
static void apply_alias(struct ob_mqtt_conn *c, struct ob_mqtt_packet *p, struct ob_slice topic)
{
    if (!c->alias_max) return;
    struct aliases *al = ob_mqtt_conn_aliases(c);
    uintptr_t a = (uintptr_t)ob_map_get(&al->out, topic);
    if (a) {
        p->publish.topic = ob_slice_make(NULL, 0);
    } else if (al->nout < c->alias_max) {
        al->out_keys = ob_xrealloc(al->out_keys, (al->nout + 1) * sizeof(char *));
        char *k = ob_slice_dup(topic);
        al->out_keys[al->nout++] = k;
        a = al->nout;
        ob_map_put(&al->out, ob_slice_str(k), (void *)a);
    } else {
        return;
    }
    p->props.present |= 1ull << OB_MQTT_PROP_TOPIC_ALIAS;
    p->props.topic_alias = (uint16_t)a;
}

static void v5_props(struct ob_mqtt_conn *c, struct ob_mqtt_packet *p, const struct ob_msg *m,
                     const uint32_t *subid, struct ob_buf *tmp, struct ob_header **user)
{
    struct ob_mqtt_props *pr = &p->props;
    struct ob_slice v;
    int64_t left = expiry_left(m);
    if (left > 0) {
        pr->present |= 1ull << OB_MQTT_PROP_MESSAGE_EXPIRY;
        pr->message_expiry = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    }
    if (ob_mqtt_header(m, MQTT_H_FORMAT).n) {
        pr->present |= 1ull << OB_MQTT_PROP_PAYLOAD_FORMAT;
        pr->payload_format = 1;
    }
    if ((v = ob_mqtt_header(m, "content-type")).n) {
        pr->present |= 1ull << OB_MQTT_PROP_CONTENT_TYPE;
        pr->content_type = v;
    }
    if ((v = ob_mqtt_header(m, "correlation-id")).n) {
        pr->present |= 1ull << OB_MQTT_PROP_CORRELATION_DATA;
        pr->correlation_data = v;
    }
    if ((v = ob_mqtt_header(m, "reply-to")).n) {
        tmp->len = 0;
        if (ob_mqtt_subject_to_topic(v, tmp) == 0) {
            pr->present |= 1ull << OB_MQTT_PROP_RESPONSE_TOPIC;
            pr->response_topic = ob_slice_make(tmp->p, tmp->len);
        }
    }
    if (subid && *subid) {
        pr->present |= 1ull << OB_MQTT_PROP_SUBSCRIPTION_ID;
        pr->sub_ids = subid;
        pr->nsub_ids = 1;
    }
    size_t nh = ob_msg_header_count(m), nu = 0;
    for (size_t i = 0; i < nh; i++) {
        const struct ob_header *h = ob_msg_header_at(m, i);
        if (canonical(h->name)) continue;
        if (!*user) *user = ob_xmalloc(nh * sizeof **user);
        (*user)[nu++] = *h;
    }
    if (nu) {
        pr->present |= 1ull << OB_MQTT_PROP_USER;
        pr->user = *user;
        pr->nuser = nu;
    }
    (void)c;
}

/* Queues one PUBLISH (header encoded, payload referenced). OB_ETOOBIG if over the
 * client's maximum packet size: the caller then drops the message (MQTT-3.1.2-25). */
static int send_publish(struct ob_mqtt_conn *c, struct ob_msg *m, uint8_t qos, bool retain,
                        bool dup, uint16_t pid, uint32_t subid)
{
    struct ob_buf topic = OB_BUF_INIT, tmp = OB_BUF_INIT;
    struct ob_header *user = NULL;
    if (!ob_mqtt_conn_usable(c)) return OB_ECLOSED;
    if (ob_mqtt_subject_to_topic(ob_msg_subject(m), &topic)) {
        ob_buf_release(&topic);
        return OB_EBADSUBJECT;
    }
    struct ob_mqtt_packet p = {.type = OB_MQTT_PUBLISH};
    p.publish.qos = qos;
    p.publish.retain = retain;
    p.publish.dup = dup && qos;
    p.publish.packet_id = pid;
    p.publish.topic = ob_slice_make(topic.p, topic.len);
    p.publish.payload = ob_msg_payload(m);
    if (c->version == OB_MQTT_V5) {
        v5_props(c, &p, m, &subid, &tmp, &user);
        apply_alias(c, &p, ob_slice_make(topic.p, topic.len));
    }
    struct ob_buf *sb = &c->b->scratch;
    sb->len = 0;
    int rc = ob_mqtt_encode_publish_header(sb, c->version, &p);
    free(user);
    ob_buf_release(&tmp);
    ob_buf_release(&topic);
    if (rc) return rc;
    if (c->max_packet && sb->len + p.publish.payload.n > c->max_packet) return OB_ETOOBIG;
    struct wr *w = ob_xmalloc(sizeof *w + sb->len);
    w->m = ob_msg_ref(m);
    w->n = sb->len;
    memcpy(w->bytes, sb->p, w->n);
    struct ob_slice iov[2] = {{w->bytes, w->n}, ob_msg_payload(m)};
    c->b->msgs_out++;
    ob_metrics_add("mqtt", "out", 1);
    c->b->bytes_out += w->n + iov[1].n;
    return c->out->write(c->ctx, iov, iov[1].n ? 2 : 1, wr_release, w);
}

/* ---- the window ---------------------------------------------------------------------- */

static uint32_t consumer_hash(const struct ob_consumer *cons)
{
    const char *name = ob_consumer_name(cons);
    return (uint32_t)ob_hash_bytes(name, strlen(name));
}

static uint16_t stable_pid(const struct outmsg *o)
{
    return (uint16_t)(1 + (o->chash + o->seq) % 65535);
}

static uint16_t next_pid(struct msess *s)
{
    struct window *w = s->win;
    for (;;) {
        if (++w->next_pid == 0) w->next_pid = 1;
        if (!inflight_get(s, w->next_pid)) return w->next_pid;
    }
}

static void finish(struct msess *s, struct outmsg *o)
{
    ob_map_del(&s->win->inflight, ob_slice_make(o->key, 2));
    s->win->ninflight--;
    if (o->cons) ob_consumer_ack(o->cons, o->seq, NULL, NULL);
    out_release(o);
}

static void claim_save(struct msess *s);

/* A shared QoS 2 message to a persistent session: recorded before it is sent. */
static bool must_claim(const struct msess *s, const struct outmsg *o)
{
    return o->shared && o->qos == 2 && o->cons && ob_mqtt_sess_persistent(s);
}

void ob_mqtt_pump(struct msess *s)
{
    struct ob_mqtt_conn *c = s->conn;
    struct window *w = s->win;
    if (!w || !ob_mqtt_conn_live(c)) return;
    size_t max = c->b->opt.max_inflight;
    size_t window = c->recv_max < max ? c->recv_max : max;
    bool claimed = false;
    while (w->qhead && w->ninflight < window) {
        if (c->out->congested && c->out->congested(c->ctx)) break;
        struct outmsg *o = w->qhead;
        /* MQTT-3.3.2-5: one that expired while waiting for the window is not sent; a
         * redelivery (dup) had its onward delivery started and must go on. */
        bool expired = !o->dup && expiry_left(o->msg) < 0;
        uint16_t pid = o->cons && !expired ? stable_pid(o) : 0;
        if (pid && inflight_get(s, pid)) break; /* wait for that id (see the top) */
        w->qhead = o->next;
        if (!w->qhead) w->qtail = &w->qhead;
        w->nqueued--;
        o->next = NULL;
        if (expired) {
            if (o->cons) ob_consumer_ack(o->cons, o->seq, NULL, NULL);
            out_release(o);
            continue;
        }
        o->pid = pid ? pid : next_pid(s);
        key_of(o->key, o->pid);
        o->seq_order = ++w->order;
        ob_map_put(&w->inflight, ob_slice_make(o->key, 2), o);
        w->ninflight++;
        if (must_claim(s, o)) {
            o->claimed = o->unsent = claimed = true;
            o->claim_at = s->b->claims + 1;
            continue;
        }
        if (send_publish(c, o->msg, o->qos, o->retain, o->dup, o->pid, o->subid) == OB_ETOOBIG)
            finish(s, o);
        if (!ob_mqtt_conn_usable(c)) break; /* the write closed the connection */
    }
    if (claimed) claim_save(s);
}

static bool already_inflight(struct msess *s, struct ob_consumer *cons, uint64_t seq)
{
    size_t i = 0;
    void *v;
    while (s->win && ob_map_next(&s->win->inflight, &i, NULL, &v)) {
        struct outmsg *o = v;
        if (o->cons == cons && o->seq == seq) return true;
    }
    return false;
}

static bool wanted(struct msess *s, struct msub *u, struct ob_msg *m, struct ob_slice topic)
{
    if (!ob_mqtt_filter_matches(ob_slice_str(u->inner), topic)) return false;
    if (u->no_local) {
        struct ob_slice o = ob_mqtt_header(m, MQTT_H_ORIGIN);
        if (ob_slice_eq_str(o, s->id)) return false;
    }
    return true;
}

void ob_mqtt_deliver(struct msess *s, struct msub *u, struct ob_msg *m, struct ob_consumer *cons,
                     uint64_t seq, uint32_t count, bool retained)
{
    struct ob_mqtt_conn *c = s->conn;
    if (!c || c->state != C_LIVE) return; /* not bound while offline; a consumer redelivers */
    if (cons && count > 1 && already_inflight(s, cons, seq)) return;
    struct ob_buf topic = OB_BUF_INIT;
    bool ok = ob_mqtt_subject_to_topic(ob_msg_subject(m), &topic) == 0 &&
              (retained || wanted(s, u, m, ob_slice_make(topic.p, topic.len))) &&
              expiry_left(m) >= 0;
    ob_buf_release(&topic);
    uint8_t qos = msg_qos(m);
    if (qos > u->qos) qos = u->qos;
    bool retain = retained || (u->rap && ob_mqtt_header(m, MQTT_H_RETAIN).n);
    if (ok && qos == 0) {
        if (c->out->congested && c->out->congested(c->ctx))
            c->b->dropped++; /* QoS 0 to a backed-up client: dropped, and counted */
        else
            send_publish(c, m, 0, retain, false, 0, u->subid);
    }
    if (!ok || qos == 0) {
        if (cons) ob_consumer_ack(cons, seq, NULL, NULL);
        return;
    }
    struct window *w = win_get(s);
    if (w->nqueued >= c->b->opt.max_queued && !cons) {
        /* Counted in $SYS/broker/messages/dropped; logged once per 1000, not per message. */
        if (c->b->dropped++ % 1000 == 0)
            OB_WARN("mqtt", "session queue full, messages dropped", "client=%s dropped=%llu", s->id,
                    (unsigned long long)c->b->dropped);
        return;
    }
    struct outmsg *o = ob_xcalloc(1, sizeof *o);
    o->msg = ob_msg_ref(m);
    o->cons = cons;
    o->seq = seq;
    o->chash = cons ? consumer_hash(cons) : 0;
    o->subid = u->subid;
    o->qos = qos;
    o->retain = retain;
    o->dup = count > 1;
    o->shared = u->group != NULL;
    *w->qtail = o;
    w->qtail = &o->next;
    w->nqueued++;
    ob_mqtt_pump(s);
}

static void send_ack(struct ob_mqtt_conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
    struct ob_mqtt_packet p = {.type = type};
    p.ack.packet_id = pid;
    p.ack.reason = c->version == OB_MQTT_V5 ? reason : 0;
    ob_mqtt_send(c, &p);
}

/* Identifies a released message across the record write. */
struct relsave {
    uint16_t pid;
    uint64_t seq;
};

static void released_stored(struct msess *s, const char *id, int status, const void *data)
{
    const struct relsave *r = data;
    struct outmsg *o = s ? inflight_get(s, r->pid) : NULL;
    if (!o || !o->saving || o->seq != r->seq) return;
    /* On a failed write, go on as before this record existed: a restart then resends
     * the PUBLISH (same id), which the client answers with PUBREC again. */
    if (status)
        OB_WARN("mqtt", "released QoS 2 state not stored", "client=%s error=\"%s\"", id,
                ob_strerror(status));
    o->saving = false;
    if (o->cons) ob_consumer_ack(o->cons, o->seq, NULL, NULL);
    o->cons = NULL;
    struct ob_mqtt_conn *c = s->conn;
    if (ob_mqtt_conn_live(c)) send_ack(c, OB_MQTT_PUBREL, o->pid, 0);
}

static void keep_released(struct msess *s, struct outmsg *o)
{
    o->kept = o->saving = true;
    struct relsave r = {o->pid, o->seq};
    ob_mqtt_sess_save_then(s, released_stored, &r, sizeof r);
}

static void on_pubrec(struct ob_mqtt_conn *c, struct msess *s, struct outmsg *o,
                      const struct ob_mqtt_packet *pkt)
{
    uint16_t pid = pkt->ack.packet_id;
    if (!o || o->qos != 2) {
        send_ack(c, OB_MQTT_PUBREL, pid, OB_MQTT_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    if (c->version == OB_MQTT_V5 && pkt->ack.reason >= 0x80) {
        finish(s, o); /* the client refused it: the flow ends here */
        return;
    }
    if (o->state == 0) {
        ob_msg_unref(o->msg);
        o->msg = NULL;
        o->state = 1;
        if (o->cons && ob_mqtt_sess_persistent(s)) {
            keep_released(s, o); /* PUBREL once the record is durable */
            return;
        }
        if (o->cons) ob_consumer_ack(o->cons, o->seq, NULL, NULL);
        o->cons = NULL;
    } else if (o->saving) {
        return; /* a repeated PUBREC: the PUBREL follows the record */
    }
    send_ack(c, OB_MQTT_PUBREL, pid, 0);
}

void ob_mqtt_handle_ack(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    struct msess *s = c->s;
    struct outmsg *o = inflight_get(s, pkt->ack.packet_id);
    switch (pkt->type) {
    case OB_MQTT_PUBACK:
        if (o && o->qos == 1) finish(s, o);
        break;
    case OB_MQTT_PUBREC:
        on_pubrec(c, s, o, pkt);
        break;
    case OB_MQTT_PUBCOMP:
        if (o && o->state == 1) finish(s, o);
        break;
    }
    ob_mqtt_pump(s);
    win_trim(s);
}

static int by_order(const void *a, const void *b)
{
    const struct outmsg *x = *(struct outmsg *const *)a, *y = *(struct outmsg *const *)b;
    return x->seq_order < y->seq_order ? -1 : x->seq_order > y->seq_order;
}

/* The in-flight entries in send order (caller frees); *n their number. */
static struct outmsg **inflight_sorted(const struct msess *s, size_t *n)
{
    *n = 0;
    if (!s->win || !s->win->ninflight) return NULL;
    struct outmsg **v = ob_xmalloc(s->win->ninflight * sizeof *v);
    size_t i = 0;
    void *val;
    while (ob_map_next(&s->win->inflight, &i, NULL, &val))
        v[(*n)++] = val;
    qsort(v, *n, sizeof *v, by_order);
    return v;
}

void ob_mqtt_resend(struct msess *s)
{
    struct ob_mqtt_conn *c = s->conn;
    size_t n;
    struct outmsg **v = c ? inflight_sorted(s, &n) : NULL;
    for (size_t i = 0; v && i < n && ob_mqtt_conn_usable(c); i++) {
        struct outmsg *o = v[i];
        if (o->state == 1) {
            if (!o->saving) send_ack(c, OB_MQTT_PUBREL, o->pid, 0);
        } else if (o->unsent) {
            continue; /* its claim is being written: sent after that */
        } else if (send_publish(c, o->msg, o->qos, o->retain, true, o->pid, o->subid) == OB_ETOOBIG)
            finish(s, o);
    }
    free(v);
}

/* ---- shared QoS 2: claims (see the top) --------------------------------------------------- */

/* The record with claims up to *at is durable: their PUBLISH may leave. */
static void claim_stored(struct msess *s, const char *id, int status, const void *data)
{
    uint64_t at = *(const uint64_t *)data;
    if (status)
        OB_WARN("mqtt", "shared QoS 2 claim not stored", "client=%s error=\"%s\"", id,
                ob_strerror(status));
    if (!s) return;
    size_t n;
    struct outmsg **v = inflight_sorted(s, &n);
    struct ob_mqtt_conn *c = s->conn;
    bool live = ob_mqtt_conn_live(c);
    for (size_t i = 0; v && i < n; i++) {
        struct outmsg *o = v[i];
        if (!o->unsent || o->claim_at > at) continue;
        o->unsent = false;
        if (!live || o->state != 0 || !ob_mqtt_conn_usable(c)) continue; /* resent later */
        if (send_publish(c, o->msg, o->qos, o->retain, o->dup, o->pid, o->subid) == OB_ETOOBIG)
            finish(s, o);
    }
    free(v);
    win_trim(s);
}

static void claim_save(struct msess *s)
{
    uint64_t at = ++s->b->claims;
    ob_mqtt_sess_save_then(s, claim_stored, &at, sizeof at);
}

void ob_mqtt_out_offline(struct msess *s)
{
    struct window *w = s->win;
    if (!w) return;
    struct outmsg *keep = NULL, **kt = &keep, *o, *next;
    size_t nkeep = 0;
    for (o = w->qhead; o; o = next) {
        next = o->next;
        if (o->cons) { /* the consumer redelivers it after the rebind */
            out_release(o);
            continue;
        }
        o->next = NULL;
        *kt = o;
        kt = &o->next;
        nkeep++;
    }
    w->qhead = keep;
    w->qtail = keep ? kt : &w->qhead;
    w->nqueued = nkeep;
    /* A shared subscription's QoS 1 messages in flight go to another member (the core
     * redelivers them when this member's binding leaves): forget them here. QoS 2 ones
     * stay with this session (held in the consumer) while it lives; a session ending
     * now terminates them (MQTT-4.8.2-4/-5, see the top). */
    bool persists = ob_mqtt_sess_persistent(s);
    size_t i = 0;
    void *v;
    struct outmsg *drop = NULL;
    while (ob_map_next(&w->inflight, &i, NULL, &v)) {
        o = v;
        if (o->shared && o->qos == 2 && o->cons) {
            if (persists) {
                ob_consumer_hold(o->cons, o->seq);
                continue;
            }
            ob_consumer_term(o->cons, o->seq);
            o->cons = NULL;
        }
        if (o->shared && o->state == 0) {
            o->next = drop;
            drop = o;
        }
    }
    for (o = drop; o; o = next) {
        next = o->next;
        ob_map_del(&w->inflight, ob_slice_make(o->key, 2));
        w->ninflight--;
        out_release(o);
    }
    win_trim(s);
}

void ob_mqtt_out_end(struct msess *s)
{
    size_t i = 0;
    void *v;
    while (s->win && ob_map_next(&s->win->inflight, &i, NULL, &v)) {
        struct outmsg *o = v;
        if (!o->shared || o->qos != 2 || !o->cons) continue;
        ob_consumer_term(o->cons, o->seq);
        o->cons = NULL;
    }
}

void ob_mqtt_out_free(struct msess *s)
{
    struct window *w = s->win;
    if (!w) return;
    struct outmsg *o, *next;
    for (o = w->qhead; o; o = next) {
        next = o->next;
        out_release(o);
    }
    size_t i = 0;
    void *v;
    while (ob_map_next(&w->inflight, &i, NULL, &v))
        out_release(v);
    ob_map_release(&w->inflight);
    free(w);
    s->win = NULL;
}

void ob_mqtt_out_forget(struct msess *s, struct ob_consumer *cons)
{
    struct window *w = s->win;
    if (!w) return;
    for (struct outmsg *o = w->qhead; o; o = o->next)
        if (o->cons == cons) o->cons = NULL;
    size_t i = 0;
    void *v;
    while (ob_map_next(&w->inflight, &i, NULL, &v)) {
        struct outmsg *o = v;
        if (o->cons != cons) continue;
        /* A shared QoS 2 message in flight is this member's to complete (or not): it
         * goes to no other member (MQTT-4.8.2-5), so it is finished in the core now. */
        if (o->shared && o->qos == 2) ob_consumer_term(cons, o->seq);
        o->cons = NULL;
    }
}

/* ---- PUBREL pending across restarts ---------------------------------------------------- */

/* In the session record: u16 n, n x { u16 packet id, u64 sequence, u32 consumer hash }. */
void ob_mqtt_out_encode_released(const struct msess *s, struct ob_buf *b)
{
    size_t at = b->len, i = 0;
    uint16_t n = 0;
    void *v;
    ob_buf_put_u16le(b, 0);
    while (s->win && ob_map_next(&s->win->inflight, &i, NULL, &v)) {
        const struct outmsg *o = v;
        if (o->state != 1 || !o->kept) continue;
        ob_buf_put_u16le(b, o->pid);
        ob_buf_put_u64le(b, o->seq);
        ob_buf_put_u32le(b, o->chash);
        n++;
    }
    b->p[at] = (uint8_t)n;
    b->p[at + 1] = (uint8_t)(n >> 8);
}

/* The consumer was acked right after the record was written; a crash in between left
 * the message pending there, and it must not come back as a new PUBLISH. */
static void ack_again(struct msess *s, uint32_t chash, uint64_t seq)
{
    for (struct msub *u = s->subs; u; u = u->next)
        for (int k = 0; k < 2; k++)
            if (u->cons[k] && consumer_hash(u->cons[k]) == chash)
                ob_consumer_ack(u->cons[k], seq, NULL, NULL); /* OB_ENOENT: was acked */
}

bool ob_mqtt_out_restore_released(struct msess *s, const uint8_t **p, const uint8_t *end)
{
    if (end - *p < 2) return false;
    uint16_t n = ob_get_u16le(*p);
    if ((size_t)(end - *p - 2) < (size_t)n * 14) return false;
    const uint8_t *q = *p + 2;
    for (uint16_t i = 0; i < n; i++, q += 14) {
        struct outmsg *o = ob_xcalloc(1, sizeof *o);
        o->pid = ob_get_u16le(q);
        o->seq = ob_get_u64le(q + 2);
        o->chash = ob_get_u32le(q + 10);
        o->qos = 2;
        o->state = 1;
        o->kept = true;
        struct window *w = win_get(s);
        o->seq_order = ++w->order;
        key_of(o->key, o->pid);
        if (o->pid == 0 || inflight_get(s, o->pid)) {
            free(o);
            continue;
        }
        ob_map_put(&w->inflight, ob_slice_make(o->key, 2), o);
        w->ninflight++;
        ack_again(s, o->chash, o->seq);
    }
    *p = q;
    return true;
}

/* ---- claimed shared QoS 2 across restarts ---------------------------------------------- */

/* In the session record: u16 n, n x { u16 packet id, u64 sequence, u32 consumer hash }. */
void ob_mqtt_out_encode_claimed(const struct msess *s, struct ob_buf *b)
{
    size_t at = b->len, i = 0;
    uint16_t n = 0;
    void *v;
    ob_buf_put_u16le(b, 0);
    while (s->win && ob_map_next(&s->win->inflight, &i, NULL, &v)) {
        const struct outmsg *o = v;
        if (o->state != 0 || !o->claimed || !o->cons) continue;
        ob_buf_put_u16le(b, o->pid);
        ob_buf_put_u64le(b, o->seq);
        ob_buf_put_u32le(b, o->chash);
        n++;
    }
    b->p[at] = (uint8_t)n;
    b->p[at + 1] = (uint8_t)(n >> 8);
}

/* The shared subscription whose consumer has this hash, and that consumer. */
static struct msub *shared_sub_of(struct msess *s, uint32_t chash, struct ob_consumer **cons)
{
    for (struct msub *u = s->subs; u; u = u->next)
        for (int k = 0; k < 2; k++)
            if (u->group && u->cons[k] && consumer_hash(u->cons[k]) == chash) {
                *cons = u->cons[k];
                return u;
            }
    return NULL;
}

/* One claim: held in its consumer before anything binds, back in flight with its
 * message. Dropped if the consumer no longer has it pending (completed or refused
 * before the crash: the record is not rewritten for those). */
static void restore_claim(struct msess *s, uint16_t pid, uint64_t seq, uint32_t chash)
{
    struct ob_consumer *cons = NULL;
    struct msub *u = shared_sub_of(s, chash, &cons);
    struct ob_msg *m = NULL;
    if (!u || pid == 0 || inflight_get(s, pid)) return;
    if (ob_consumer_hold(cons, seq) || ob_stream_get(s->b->msgs, seq, &m)) return;
    struct outmsg *o = ob_xcalloc(1, sizeof *o);
    o->msg = m;
    o->cons = cons;
    o->seq = seq;
    o->chash = chash;
    o->pid = pid;
    o->subid = u->subid;
    o->qos = 2;
    o->retain = u->rap && ob_mqtt_header(m, MQTT_H_RETAIN).n;
    o->dup = o->shared = o->claimed = true;
    struct window *w = win_get(s);
    o->seq_order = ++w->order;
    key_of(o->key, pid);
    ob_map_put(&w->inflight, ob_slice_make(o->key, 2), o);
    w->ninflight++;
}

bool ob_mqtt_out_restore_claimed(struct msess *s, const uint8_t **p, const uint8_t *end)
{
    if (end - *p < 2) return false;
    uint16_t n = ob_get_u16le(*p);
    if ((size_t)(end - *p - 2) < (size_t)n * 14) return false;
    const uint8_t *q = *p + 2;
    for (uint16_t i = 0; i < n; i++, q += 14)
        restore_claim(s, ob_get_u16le(q), ob_get_u64le(q + 2), ob_get_u32le(q + 10));
    *p = q;
    return true;
}
