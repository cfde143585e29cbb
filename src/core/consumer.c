/*
 * consumer.c — durable cursors on a stream: delivery (push to competing bindings, or
 * pull), acks, leases with redelivery, max deliveries to a dead-letter subject, and
 * flow control (max ack pending).
 *
 * State is next_seq (everything below was delivered) plus the pending set (delivered,
 * not acked, with delivery counts). It is persisted as an op log in the consumer's
 * directory — DELIVERED(next_seq), ACK(seq), ACKUPTO(seq), REDELIVER(seq, count) —
 * with periodic SNAPSHOTs after which older segments are dropped. Ops share one log,
 * so a durable ack implies every earlier op is durable too. After a restart, every
 * pending message is redelivered at once (at-least-once).
 */
#include "core/core.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RUN_BUDGET     512   /* deliveries per pass: keeps the loop fair */
#define SCAN_BUDGET    16384 /* entries examined per pass for filtered consumers */
#define SNAPSHOT_EVERY 8192  /* ops between snapshots */

enum op { OP_DELIVERED = 1, OP_ACK = 2, OP_ACKUPTO = 3, OP_REDELIVER = 4, OP_SNAPSHOT = 5 };

static void persist_op(struct ob_consumer *c, enum op op, uint64_t a, uint32_t b, ob_done_cb done,
                       void *arg);

/* ---- pending set -------------------------------------------------------------------- */

static struct pending *pending_get(const struct ob_consumer *c, uint64_t seq)
{
    return ob_map_get(&c->pending, ob_slice_make(&seq, sizeof seq));
}

static struct pending *pending_add(struct ob_consumer *c, uint64_t seq)
{
    struct pending *p = ob_xcalloc(1, sizeof *p);
    p->seq = seq;
    ob_map_put(&c->pending, ob_slice_make(&p->seq, sizeof p->seq), p);
    return p;
}

static void pending_del(struct ob_consumer *c, struct pending *p)
{
    ob_map_del(&c->pending, ob_slice_make(&p->seq, sizeof p->seq));
    free(p);
}

/* Queues seq for redelivery, keeping the list ascending. */
static void park(struct ob_consumer *c, struct pending *p)
{
    p->deadline_ns = INT64_MAX;
    p->owner = NULL;
    size_t i = c->nredeliver;
    while (i > 0 && c->redeliver[i - 1] > p->seq)
        i--;
    if (i > 0 && c->redeliver[i - 1] == p->seq) return;
    OB_GROW(c->redeliver, c->redeliver_cap, c->nredeliver + 1);
    memmove(&c->redeliver[i + 1], &c->redeliver[i], (c->nredeliver - i) * sizeof(uint64_t));
    c->redeliver[i] = p->seq;
    c->nredeliver++;
}

static uint64_t ack_wait_ns(const struct ob_consumer *c)
{
    return (uint64_t)(c->cfg.ack_wait_ms ? c->cfg.ack_wait_ms : 30000) * (uint64_t)OB_NS_PER_MS;
}

static uint32_t max_ack_pending(const struct ob_consumer *c)
{
    return c->cfg.max_ack_pending ? c->cfg.max_ack_pending : 1000;
}

bool ob_consumer_wants(const struct ob_consumer *c, struct ob_slice subject)
{
    return !c->cfg.filter || !*c->cfg.filter ||
           ob_subject_matches(ob_slice_str(c->cfg.filter), subject);
}

bool ob_consumer_done_with(const struct ob_consumer *c, uint64_t seq)
{
    return seq < c->next_seq && !pending_get(c, seq);
}

/* ---- delivery ----------------------------------------------------------------------- */

/* Next new sequence for this consumer, advancing next_seq past what it skips.
 * Returns 0 when nothing committed is left (or the scan budget ran out: *more set). */
static uint64_t next_new(struct ob_consumer *c, bool *more)
{
    struct ob_stream *st = c->st;
    uint64_t head = st->base + st->tab_off;
    if (c->next_seq < head) c->next_seq = head;
    for (size_t scanned = 0; c->next_seq <= st->committed; scanned++) {
        if (scanned == SCAN_BUDGET) {
            *more = true;
            return 0;
        }
        uint64_t s = c->next_seq;
        struct ob_entry *e = ob_stream_entry(st, s);
        if (e && ob_consumer_wants(c, ob_slice_str(e->subject))) return s;
        c->next_seq++;
    }
    return 0;
}

/* Next parked redelivery that is still pending. */
static struct pending *next_redelivery(struct ob_consumer *c)
{
    while (c->nredeliver) {
        uint64_t s = c->redeliver[0];
        memmove(c->redeliver, c->redeliver + 1, --c->nredeliver * sizeof(uint64_t));
        struct pending *p = pending_get(c, s);
        if (p && p->deadline_ns == INT64_MAX && !p->held) return p;
    }
    return NULL;
}

static bool has_receiver(const struct ob_consumer *c)
{
    return c->nbindings > 0 || c->fetches != NULL;
}

static void fetch_finish(struct fetch_req *f, int status);

static void hand_over(struct ob_consumer *c, struct ob_delivery *d, struct ob_binding **owner)
{
    struct fetch_req *f = c->fetches;
    if (f) {
        *owner = NULL;
        f->got++;
        f->cb(f->arg, d);
        if (f->got >= f->max && c->fetches == f) fetch_finish(f, (int)f->got);
        return;
    }
    struct ob_binding *b = c->rr ? c->rr : c->bindings;
    c->rr = b->next;
    *owner = b;
    b->cb(b->arg, d);
}

static void dead_letter(struct ob_consumer *c, struct pending *p);

/* Delivers one sequence. Returns false if the message vanished (removed meanwhile). */
static bool deliver_one(struct ob_consumer *c, uint64_t seq, struct pending *p)
{
    struct ob_msg *m;
    if (ob_stream_load(c->st, seq, &m) != 0) {
        if (p) pending_del(c, p);
        return false;
    }
    bool tracked = c->cfg.ack != OB_ACK_NONE;
    if (tracked && !p) p = pending_add(c, seq);
    uint32_t count = p ? ++p->deliveries : 1;
    if (p) p->deadline_ns = ob_mono_ns() + (int64_t)ack_wait_ns(c);
    if (count > 1) {
        c->redelivered++;
        /* Delivery counts survive a restart, so max_deliver does too. */
        persist_op(c, OP_REDELIVER, seq, count, NULL, NULL);
    }
    struct ob_delivery d = {m, c->st->name, seq, count, 0, c};
    d.pending = c->st->last_seq > seq ? c->st->last_seq - seq : 0;
    struct ob_binding *owner = NULL;
    hand_over(c, &d, &owner);
    p = tracked ? pending_get(c, seq) : NULL; /* the callback may have acked it */
    if (p) p->owner = owner;
    ob_msg_unref(m);
    return true;
}

static bool full(const struct ob_consumer *c)
{
    return c->cfg.ack != OB_ACK_NONE && c->pending.count >= max_ack_pending(c);
}

/* Redeliveries go first and are not held back by max_ack_pending: they are already
 * counted in it. New messages wait for room. */
void ob_consumer_run(struct ob_consumer *c)
{
    bool more = false;
    uint64_t before = c->next_seq;
    for (int budget = RUN_BUDGET; budget > 0 && !c->deleting && has_receiver(c); budget--) {
        more = budget == 1;
        struct pending *p = next_redelivery(c);
        if (p) {
            if (c->cfg.max_deliver && p->deliveries >= c->cfg.max_deliver)
                dead_letter(c, p);
            else
                deliver_one(c, p->seq, p);
            continue;
        }
        uint64_t s = full(c) ? 0 : next_new(c, &more);
        if (!s) break;
        c->next_seq = s + 1;
        deliver_one(c, s, NULL);
    }
    if (c->deleting) return;
    if (c->next_seq != before && c->next_seq != c->persisted_next)
        persist_op(c, OP_DELIVERED, c->next_seq, 0, NULL, NULL);
    if (more) ob_bus_kick(c->st->bus, c);
}

/* ---- acks --------------------------------------------------------------------------- */

struct done_ctx {
    ob_done_cb done;
    void *arg;
};

static void on_op_written(void *arg, int status)
{
    struct done_ctx *d = arg;
    d->done(d->arg, status);
    free(d);
}

static void snapshot(struct ob_consumer *c);

static void persist_op(struct ob_consumer *c, enum op op, uint64_t a, uint32_t b, ob_done_cb done,
                       void *arg)
{
    if (!c->log) {
        if (done) done(arg, 0);
        return;
    }
    /* An ack can come from inside a delivery callback, before ob_consumer_run records
     * how far it delivered; the DELIVERED op must precede the ack in the log, or replay
     * would ignore the ack and redeliver an acked message. */
    if ((op == OP_ACK || op == OP_ACKUPTO || op == OP_REDELIVER) && a >= c->persisted_next &&
        c->next_seq > c->persisted_next)
        persist_op(c, OP_DELIVERED, c->next_seq, 0, NULL, NULL);
    uint8_t body[13];
    body[0] = (uint8_t)op;
    for (int i = 0; i < 8; i++)
        body[1 + i] = (uint8_t)(a >> (8 * i));
    for (int i = 0; i < 4; i++)
        body[9 + i] = (uint8_t)(b >> (8 * i));
    struct ob_record r = {OB_REC_CONSUMER, ++c->log_seq, ob_wall_ns(), ob_slice_make(body, 13)};
    struct done_ctx *d = NULL;
    if (done) {
        d = ob_xmalloc(sizeof *d);
        *d = (struct done_ctx){done, arg};
    }
    int rc = ob_log_append(c->log, &r, d ? on_op_written : NULL, d);
    if (rc && d) on_op_written(d, rc);
    if (op == OP_DELIVERED) c->persisted_next = a;
    if (++c->ops_since_snapshot >= SNAPSHOT_EVERY) snapshot(c);
}

/* Removes a finished message from the pending set and lets retention see it. */
static void finish(struct ob_consumer *c, struct pending *p)
{
    uint64_t seq = p->seq;
    pending_del(c, p);
    ob_stream_acked(c->st, seq);
}

int ob_consumer_ack(struct ob_consumer *c, uint64_t seq, ob_done_cb done, void *arg)
{
    if (c->cfg.ack == OB_ACK_CUMULATIVE) {
        size_t n, acked = 0;
        void **all = ob_map_values(&c->pending, &n);
        for (size_t k = 0; k < n; k++) {
            struct pending *p = all[k];
            if (p->seq > seq) continue;
            finish(c, p);
            acked++;
        }
        free(all);
        if (!acked) return OB_ENOENT;
        persist_op(c, OP_ACKUPTO, seq, 0, done, arg);
    } else {
        struct pending *p = pending_get(c, seq);
        if (!p) return OB_ENOENT;
        finish(c, p);
        persist_op(c, OP_ACK, seq, 0, done, arg);
    }
    ob_bus_kick(c->st->bus, c);
    return 0;
}

int ob_consumer_term(struct ob_consumer *c, uint64_t seq)
{
    struct pending *p = pending_get(c, seq);
    if (!p) return OB_ENOENT;
    finish(c, p);
    persist_op(c, OP_ACK, seq, 0, NULL, NULL);
    ob_bus_kick(c->st->bus, c);
    return 0;
}

int ob_consumer_nak(struct ob_consumer *c, uint64_t seq, uint32_t delay_ms)
{
    struct pending *p = pending_get(c, seq);
    if (!p) return OB_ENOENT;
    p->held = false;
    if (delay_ms) {
        p->deadline_ns = ob_mono_ns() + (int64_t)delay_ms * OB_NS_PER_MS;
        return 0;
    }
    park(c, p);
    ob_bus_kick(c->st->bus, c);
    return 0;
}

int ob_consumer_extend(struct ob_consumer *c, uint64_t seq, uint32_t ms)
{
    struct pending *p = pending_get(c, seq);
    if (!p || p->deadline_ns == INT64_MAX || p->held) return OB_ENOENT;
    int64_t span = ms ? (int64_t)ms * OB_NS_PER_MS : (int64_t)ack_wait_ns(c);
    p->deadline_ns = ob_mono_ns() + span;
    return 0;
}

/* Not persisted: after a restart the message is pending like any other, and whoever
 * held it holds it again before anything is bound (see omnibus.h). */
int ob_consumer_hold(struct ob_consumer *c, uint64_t seq)
{
    struct pending *p = pending_get(c, seq);
    if (!p) return OB_ENOENT;
    p->held = true;
    p->owner = NULL;
    p->deadline_ns = INT64_MAX - 1; /* no lease; not INT64_MAX, which means parked */
    return 0;
}

/* ---- dead letters and lease expiry --------------------------------------------------- */

static struct ob_header header_str(const char *name, const char *value)
{
    struct ob_header h = {ob_slice_str(name), ob_slice_str(value)};
    return h;
}

/* Republishes the message to the dead-letter subject with where it came from. */
static void publish_dead_letter(struct ob_consumer *c, struct ob_msg *m, struct pending *p)
{
    char seq[24], count[16];
    snprintf(seq, sizeof seq, "%" PRIu64, p->seq);
    snprintf(count, sizeof count, "%u", p->deliveries);
    size_t nh = m->nheaders + 5;
    struct ob_header *h = ob_xcalloc(nh, sizeof *h);
    memcpy(h, m->headers, m->nheaders * sizeof *h);
    char *subject = ob_slice_dup(m->subject);
    h[m->nheaders] = header_str("omnibus-dlq-stream", c->st->name);
    h[m->nheaders + 1] = header_str("omnibus-dlq-consumer", c->name);
    h[m->nheaders + 2] = header_str("omnibus-dlq-seq", seq);
    h[m->nheaders + 3] = header_str("omnibus-dlq-subject", subject);
    h[m->nheaders + 4] = header_str("omnibus-dlq-deliveries", count);
    struct ob_msg_init in = {ob_slice_str(c->cfg.dead_letter), h, nh, m->key, m->payload, 0};
    struct ob_msg *dl;
    if (ob_msg_new(&dl, &in) == 0) {
        ob_publish(c->st->bus, dl, NULL, NULL);
        ob_msg_unref(dl);
    }
    free(subject);
    free(h);
}

static void dead_letter(struct ob_consumer *c, struct pending *p)
{
    struct ob_msg *m;
    if (c->cfg.dead_letter && ob_stream_load(c->st, p->seq, &m) == 0) {
        publish_dead_letter(c, m, p);
        ob_msg_unref(m);
    }
    OB_DEBUG("consumer", "dead-lettered", "stream=%s consumer=%s seq=%" PRIu64, c->st->name,
             c->name, p->seq);
    c->dead_lettered++;
    uint64_t seq = p->seq;
    finish(c, p);
    persist_op(c, OP_ACK, seq, 0, NULL, NULL);
}

static void on_ack_timer(uv_timer_t *t)
{
    struct ob_consumer *c = t->data;
    int64_t now = ob_mono_ns();
    size_t i = 0, due = 0;
    void *v;
    while (ob_map_next(&c->pending, &i, NULL, &v)) {
        struct pending *p = v;
        if (p->deadline_ns > now || p->held) continue;
        park(c, p);
        due++;
    }
    if (due) ob_bus_kick(c->st->bus, c);
}

static void arm_timer(struct ob_consumer *c)
{
    if (c->cfg.ack == OB_ACK_NONE) return;
    uint64_t every = ack_wait_ns(c) / (uint64_t)OB_NS_PER_MS / 4;
    if (every < 5) every = 5;
    if (every > 1000) every = 1000;
    uv_timer_start(&c->timer, on_ack_timer, every, every);
    c->timer_on = true;
}

/* ---- push bindings and pull requests ------------------------------------------------- */

int ob_consumer_bind(struct ob_consumer *c, ob_deliver_cb cb, void *arg, struct ob_binding **out)
{
    if (!cb) return OB_EINVAL;
    struct ob_binding *b = ob_xcalloc(1, sizeof *b);
    *b = (struct ob_binding){c, cb, arg, c->bindings};
    c->bindings = b;
    c->nbindings++;
    ob_bus_kick(c->st->bus, c);
    if (out) *out = b;
    return 0;
}

void ob_consumer_unbind(struct ob_binding *b)
{
    if (!b) return;
    struct ob_consumer *c = b->c;
    for (struct ob_binding **pp = &c->bindings; *pp; pp = &(*pp)->next) {
        if (*pp != b) continue;
        *pp = b->next;
        break;
    }
    if (c->rr == b) c->rr = b->next;
    c->nbindings--;
    /* What this binding held goes back to the others at once. */
    size_t i = 0;
    void *v;
    while (ob_map_next(&c->pending, &i, NULL, &v)) {
        struct pending *p = v;
        if (p->owner == b) park(c, p);
    }
    free(b);
    ob_bus_kick(c->st->bus, c);
}

static void fetch_unlink(struct fetch_req *f)
{
    struct ob_consumer *c = f->c;
    for (struct fetch_req **pp = &c->fetches; *pp; pp = &(*pp)->next) {
        if (*pp != f) continue;
        *pp = f->next;
        return;
    }
}

static void on_fetch_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fetch_finish(struct fetch_req *f, int status)
{
    fetch_unlink(f);
    if (f->done) f->done(f->arg, status);
    uv_close((uv_handle_t *)&f->timer, on_fetch_closed);
}

static void on_fetch_timer(uv_timer_t *t)
{
    struct fetch_req *f = t->data;
    fetch_finish(f, (int)f->got);
}

int ob_consumer_fetch(struct ob_consumer *c, size_t max, uint32_t expires_ms, ob_deliver_cb cb,
                      ob_fetch_done_cb done, void *arg)
{
    if (!cb || !max) return OB_EINVAL;
    if (c->deleting) return OB_ECLOSED;
    struct fetch_req *f = ob_xcalloc(1, sizeof *f);
    *f = (struct fetch_req){NULL, max, 0, cb, done, arg, {0}, c};
    uv_timer_init(c->st->bus->loop, &f->timer);
    f->timer.data = f;
    struct fetch_req **tail = &c->fetches;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
    ob_consumer_run(c);
    /* Still queued (not filled by the run above): finish now or wait for messages.
     * A finished request is unlinked; its memory lives until its timer handle closes. */
    for (struct fetch_req *q = c->fetches; q; q = q->next) {
        if (q != f) continue;
        if (!expires_ms || f->got)
            fetch_finish(f, (int)f->got);
        else
            uv_timer_start(&f->timer, on_fetch_timer, expires_ms, 0);
        return 0;
    }
    return 0;
}

/* ---- state persistence -------------------------------------------------------------- */

/* SNAPSHOT body: op, u64 next_seq, u32 n, then n × (u64 seq, u32 deliveries). */
static void snapshot(struct ob_consumer *c)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_putc(&b, OP_SNAPSHOT);
    ob_buf_put_u64le(&b, c->next_seq);
    ob_buf_put_u32le(&b, (uint32_t)c->pending.count);
    size_t i = 0;
    void *v;
    while (ob_map_next(&c->pending, &i, NULL, &v)) {
        ob_buf_put_u64le(&b, ((struct pending *)v)->seq);
        ob_buf_put_u32le(&b, ((struct pending *)v)->deliveries);
    }
    ob_log_roll(c->log);
    uint64_t snap_seq = ++c->log_seq;
    struct ob_record r = {OB_REC_CONSUMER, snap_seq, ob_wall_ns(), ob_slice_make(b.p, b.len)};
    if (ob_log_append(c->log, &r, NULL, NULL) == 0) {
        /* The store runs operations in order: older segments go only after the snapshot
         * that replaces them is written. */
        ob_log_drop_before(c->log, snap_seq);
    }
    c->ops_since_snapshot = 0;
    ob_buf_release(&b);
}

/* Replay: DELIVERED marks every wanted live sequence below it as pending (acks that
 * follow remove them); a snapshot replaces the state wholesale. */
static void replay_delivered(struct ob_consumer *c, uint64_t upto)
{
    for (uint64_t s = c->next_seq; s < upto; s++) {
        struct ob_entry *e = ob_stream_entry(c->st, s);
        if (!e || !ob_consumer_wants(c, ob_slice_str(e->subject))) continue;
        if (c->cfg.ack != OB_ACK_NONE && !pending_get(c, s)) pending_add(c, s)->deliveries = 1;
    }
    if (upto > c->next_seq) c->next_seq = upto;
}

static void clear_pending(struct ob_consumer *c)
{
    size_t i = 0;
    void *v;
    while (ob_map_next(&c->pending, &i, NULL, &v))
        free(v);
    ob_map_clear(&c->pending);
}

static void replay_ackupto(struct ob_consumer *c, uint64_t seq)
{
    size_t n;
    void **all = ob_map_values(&c->pending, &n);
    for (size_t k = 0; k < n; k++)
        if (((struct pending *)all[k])->seq <= seq) pending_del(c, all[k]);
    free(all);
}

static void replay_snapshot(struct ob_consumer *c, struct ob_slice body)
{
    if (body.n < 13) return;
    clear_pending(c);
    c->next_seq = ob_get_u64le(body.p + 1);
    uint32_t n = ob_get_u32le(body.p + 9);
    for (uint32_t k = 0; k < n && 13 + (size_t)(k + 1) * 12 <= body.n; k++) {
        const uint8_t *q = body.p + 13 + (size_t)k * 12;
        pending_add(c, ob_get_u64le(q))->deliveries = ob_get_u32le(q + 8);
    }
}

static int replay_op(void *arg, const struct ob_record *r)
{
    struct ob_consumer *c = arg;
    c->log_seq = r->seq;
    c->ops_since_snapshot++;
    if (r->type != OB_REC_CONSUMER || r->body.n < 1) return 0;
    if (r->body.p[0] == OP_SNAPSHOT) {
        replay_snapshot(c, r->body);
        c->ops_since_snapshot = 0;
        return 0;
    }
    if (r->body.n < 13) return 0;
    uint64_t a = ob_get_u64le(r->body.p + 1);
    uint32_t b = ob_get_u32le(r->body.p + 9);
    struct pending *p = pending_get(c, a);
    switch (r->body.p[0]) {
    case OP_DELIVERED:
        replay_delivered(c, a);
        break;
    case OP_ACK:
        if (p) pending_del(c, p);
        break;
    case OP_ACKUPTO:
        replay_ackupto(c, a);
        break;
    case OP_REDELIVER:
        if (p) p->deliveries = b;
        break;
    default:
        break;
    }
    return 0;
}

/* ---- configuration ------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s && *s ? ob_xstrdup(s) : NULL;
}

static void cfg_copy(struct ob_consumer_config *dst, const struct ob_consumer_config *src)
{
    *dst = *src;
    dst->name = ob_xstrdup(src->name);
    dst->filter = dup_or_null(src->filter);
    dst->dead_letter = dup_or_null(src->dead_letter);
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a && *a ? a : "", b && *b ? b : "") == 0;
}

static bool cfg_equal(const struct ob_consumer_config *a, const struct ob_consumer_config *b)
{
    return str_eq(a->filter, b->filter) && a->deliver == b->deliver &&
           a->start_seq == b->start_seq && a->start_time_ns == b->start_time_ns &&
           a->ack == b->ack && a->ack_wait_ms == b->ack_wait_ms &&
           a->max_deliver == b->max_deliver && str_eq(a->dead_letter, b->dead_letter) &&
           a->max_ack_pending == b->max_ack_pending;
}

/* Two filters overlap if some subject matches both. */
static bool filters_overlap(const char *a, const char *b)
{
    if (!a || !*a || !b || !*b) return true;
    for (;;) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        bool wa = la == 1 && *a == '*', wb = lb == 1 && *b == '*';
        if ((la == 1 && *a == '>') || (lb == 1 && *b == '>')) return true;
        if (!wa && !wb && (la != lb || memcmp(a, b, la) != 0)) return false;
        a += la;
        b += lb;
        if (!*a || !*b) return !*a && !*b;
        a++;
        b++;
    }
}

static int cfg_check(struct ob_stream *st, const struct ob_consumer_config *cfg)
{
    if (!ob_name_valid(cfg->name)) return OB_EINVAL;
    if (cfg->filter && *cfg->filter && !ob_filter_valid(ob_slice_str(cfg->filter)))
        return OB_EBADSUBJECT;
    if (cfg->dead_letter && *cfg->dead_letter && !ob_subject_valid(ob_slice_str(cfg->dead_letter)))
        return OB_EBADSUBJECT;
    if (cfg->deliver > OB_DELIVER_TIME || cfg->ack > OB_ACK_CUMULATIVE) return OB_EINVAL;
    if (st->cfg.retention == OB_RETAIN_WORKQUEUE && cfg->ack == OB_ACK_NONE) return OB_EINVAL;
    if (st->cfg.retention != OB_RETAIN_WORKQUEUE) return 0;
    size_t i = 0;
    void *v;
    while (ob_map_next(&st->consumers, &i, NULL, &v))
        if (filters_overlap(((struct ob_consumer *)v)->cfg.filter, cfg->filter)) return OB_EOVERLAP;
    return 0;
}

static void cfg_encode(struct ob_buf *b, const struct ob_consumer_config *c, uint64_t start)
{
    ob_buf_printf(b,
                  "name=%s\nfilter=%s\ndeliver=%d\nstart_seq=%" PRIu64 "\nstart_time_ns=%" PRId64
                  "\nack=%d\nack_wait_ms=%u\nmax_deliver=%u\ndead_letter=%s\nmax_ack_pending=%u\n"
                  "next_seq=%" PRIu64 "\n",
                  c->name, c->filter ? c->filter : "", (int)c->deliver, c->start_seq,
                  c->start_time_ns, (int)c->ack, c->ack_wait_ms, c->max_deliver,
                  c->dead_letter ? c->dead_letter : "", c->max_ack_pending, start);
}

struct decode {
    struct ob_consumer_config *c;
    uint64_t *start;
};

static void cfg_set(void *arg, const char *k, const char *v)
{
    struct decode *d = arg;
    struct ob_consumer_config *c = d->c;
    uint64_t *start = d->start;
    if (!strcmp(k, "name"))
        c->name = ob_xstrdup(v);
    else if (!strcmp(k, "filter"))
        c->filter = dup_or_null(v);
    else if (!strcmp(k, "deliver"))
        c->deliver = (enum ob_deliver_policy)atoi(v);
    else if (!strcmp(k, "start_seq"))
        c->start_seq = strtoull(v, NULL, 10);
    else if (!strcmp(k, "start_time_ns"))
        c->start_time_ns = strtoll(v, NULL, 10);
    else if (!strcmp(k, "ack"))
        c->ack = (enum ob_ack_policy)atoi(v);
    else if (!strcmp(k, "ack_wait_ms"))
        c->ack_wait_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "max_deliver"))
        c->max_deliver = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "dead_letter"))
        c->dead_letter = dup_or_null(v);
    else if (!strcmp(k, "max_ack_pending"))
        c->max_ack_pending = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "next_seq"))
        *start = strtoull(v, NULL, 10);
}

static void cfg_decode(struct ob_slice body, struct ob_consumer_config *c, uint64_t *start)
{
    memset(c, 0, sizeof *c);
    struct decode d = {c, start};
    ob_meta_each(body, cfg_set, &d);
}

static void cfg_free(struct ob_consumer_config *c)
{
    free((char *)c->name);
    free((char *)c->filter);
    free((char *)c->dead_letter);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static uint64_t start_seq(struct ob_stream *st, const struct ob_consumer_config *cfg)
{
    uint64_t first = st->msgs ? st->base + st->tab_off : st->last_seq + 1;
    uint64_t s;
    switch (cfg->deliver) {
    case OB_DELIVER_NEW:
        return st->last_seq + 1;
    case OB_DELIVER_LAST:
        return st->last_seq ? st->last_seq : 1;
    case OB_DELIVER_SEQ:
        return cfg->start_seq > first ? cfg->start_seq : first;
    case OB_DELIVER_TIME:
        return ob_stream_seq_for_time(st, cfg->start_time_ns, &s) == 0 ? s : st->last_seq + 1;
    default:
        return first ? first : 1;
    }
}

/* <stream dir>/consumers/<name>; the caller frees it. */
static char *consumer_dir(struct ob_stream *st, const char *name)
{
    char *parent = ob_path_join(st->dir, "consumers");
    char *dir = ob_path_join(parent, name);
    free(parent);
    return dir;
}

static struct ob_consumer *consumer_alloc(struct ob_stream *st,
                                          const struct ob_consumer_config *cfg)
{
    struct ob_consumer *c = ob_xcalloc(1, sizeof *c);
    c->st = st;
    cfg_copy(&c->cfg, cfg);
    c->name = (char *)c->cfg.name;
    uv_timer_init(st->bus->loop, &c->timer);
    c->timer.data = c;
    return c;
}

static int open_state(struct ob_consumer *c, const char *dir, bool create, uint64_t start)
{
    char *meta = ob_path_join(dir, "consumer.meta"), *ops = ob_path_join(dir, "ops");
    struct ob_buf b = OB_BUF_INIT;
    int rc = 0;
    if (create) {
        cfg_encode(&b, &c->cfg, start);
        rc = ob_mkdir_p(dir);
        if (!rc) rc = ob_meta_write(meta, ob_slice_make(b.p, b.len));
    }
    struct ob_log_options o = {0, c->st->cfg.fsync, c->st->cfg.fsync_interval_ms};
    if (!rc) rc = ob_log_open(c->st->bus->store, ops, &o, &c->log);
    ob_buf_release(&b);
    free(meta);
    free(ops);
    return rc;
}

static void consumer_free(struct ob_consumer *c)
{
    clear_pending(c);
    ob_map_release(&c->pending);
    free(c->redeliver);
    cfg_free(&c->cfg);
    free(c);
}

static void on_consumer_timer_closed(uv_handle_t *h)
{
    consumer_free(h->data);
}

void ob_consumer_close(struct ob_consumer *c)
{
    c->deleting = true;
    ob_bus_unkick(c->st->bus, c);
    ob_map_del(&c->st->consumers, ob_slice_str(c->name));
    while (c->fetches)
        fetch_finish(c->fetches, OB_ECLOSED);
    while (c->bindings) {
        struct ob_binding *b = c->bindings;
        c->bindings = b->next;
        free(b);
    }
    c->nbindings = 0;
    if (c->log) ob_log_close(c->log);
    c->log = NULL;
    uv_close((uv_handle_t *)&c->timer, on_consumer_timer_closed);
}

static void consumer_register(struct ob_consumer *c)
{
    ob_map_put(&c->st->consumers, ob_slice_str(c->name), c);
    arm_timer(c);
    ob_bus_kick(c->st->bus, c);
}

int ob_consumer_create(struct ob_stream *st, const struct ob_consumer_config *cfg,
                       struct ob_consumer **out)
{
    struct ob_consumer *c = cfg->name ? ob_consumer_lookup(st, cfg->name) : NULL;
    if (c) {
        if (!cfg_equal(&c->cfg, cfg)) return OB_EEXIST;
        if (out) *out = c;
        return 0;
    }
    int rc = cfg_check(st, cfg);
    if (rc) return rc;
    c = consumer_alloc(st, cfg);
    c->next_seq = c->persisted_next = start_seq(st, cfg);
    if (st->dir) {
        char *dir = consumer_dir(st, cfg->name);
        rc = open_state(c, dir, true, c->next_seq);
        free(dir);
    }
    if (rc) {
        ob_consumer_close(c);
        return rc;
    }
    consumer_register(c);
    if (out) *out = c;
    return 0;
}

int ob_consumer_recover(struct ob_stream *st, const char *dir, struct ob_consumer **out)
{
    struct ob_buf b = OB_BUF_INIT;
    char *meta = ob_path_join(dir, "consumer.meta");
    int rc = ob_meta_read(meta, &b);
    free(meta);
    if (rc) {
        ob_buf_release(&b);
        return rc;
    }
    struct ob_consumer_config cfg;
    uint64_t start = 1;
    cfg_decode(ob_slice_make(b.p, b.len), &cfg, &start);
    ob_buf_release(&b);
    struct ob_consumer *c = consumer_alloc(st, &cfg);
    cfg_free(&cfg);
    c->next_seq = start;
    rc = open_state(c, dir, false, start);
    if (!rc) rc = ob_log_scan(c->log, 0, replay_op, c);
    if (rc || !ob_name_valid(c->name)) {
        ob_consumer_close(c);
        return rc ? rc : OB_ECORRUPT;
    }
    c->persisted_next = c->next_seq;
    /* Whatever was in flight when we stopped is redelivered now. */
    size_t i = 0;
    void *v;
    while (ob_map_next(&c->pending, &i, NULL, &v))
        park(c, v);
    consumer_register(c);
    *out = c;
    return 0;
}

int ob_consumer_delete(struct ob_stream *st, const char *name)
{
    struct ob_consumer *c = ob_consumer_lookup(st, name);
    if (!c) return OB_ENOENT;
    bool on_disk = c->log != NULL;
    if (on_disk) {
        ob_log_destroy(c->log);
        c->log = NULL;
    }
    char *dir = on_disk ? consumer_dir(st, name) : NULL;
    ob_consumer_close(c);
    if (dir) {
        ob_rm_rf(dir); /* the meta file; the log removed its own files */
        free(dir);
    }
    ob_stream_apply_interest(st);
    return 0;
}

struct ob_consumer *ob_consumer_lookup(struct ob_stream *st, const char *name)
{
    return name ? ob_map_get(&st->consumers, ob_slice_str(name)) : NULL;
}

const char *ob_consumer_name(const struct ob_consumer *c)
{
    return c->name;
}

const struct ob_consumer_config *ob_consumer_config(const struct ob_consumer *c)
{
    return &c->cfg;
}

static uint64_t ack_floor(const struct ob_consumer *c)
{
    uint64_t floor = c->next_seq - 1;
    size_t i = 0;
    void *v;
    while (ob_map_next(&c->pending, &i, NULL, &v))
        if (((struct pending *)v)->seq <= floor) floor = ((struct pending *)v)->seq - 1;
    return floor;
}

static uint64_t count_undelivered(const struct ob_consumer *c)
{
    const struct ob_stream *st = c->st;
    uint64_t n = 0;
    uint64_t s = c->next_seq > st->base + st->tab_off ? c->next_seq : st->base + st->tab_off;
    for (; s <= st->committed && s < st->base + st->tab_len; s++) {
        const struct ob_entry *e = &st->tab[s - st->base];
        if ((e->flags & E_LIVE) && ob_consumer_wants(c, ob_slice_str(e->subject))) n++;
    }
    return n;
}

void ob_consumer_get_info(const struct ob_consumer *c, struct ob_consumer_info *info)
{
    info->delivered_seq = c->next_seq - 1;
    info->ack_floor = ack_floor(c);
    info->ack_pending = c->pending.count;
    info->num_pending = count_undelivered(c);
    info->redelivered = c->redelivered;
    info->dead_lettered = c->dead_lettered;
    info->bindings = c->nbindings;
}

void ob_consumer_foreach(struct ob_stream *st, int (*fn)(void *arg, struct ob_consumer *c),
                         void *arg)
{
    size_t n;
    void **list = ob_map_values(&st->consumers, &n);
    for (size_t k = 0; k < n && !fn(arg, list[k]); k++)
        continue;
    free(list);
}

void ob_consumer_stream_purged(struct ob_consumer *c)
{
    size_t n;
    void **all = ob_map_values(&c->pending, &n);
    for (size_t k = 0; k < n; k++)
        if (!ob_stream_entry(c->st, ((struct pending *)all[k])->seq)) pending_del(c, all[k]);
    free(all);
    ob_bus_kick(c->st->bus, c);
}
