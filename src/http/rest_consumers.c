/*
 * rest_consumers.c — consumers under /v1/streams/{name}/consumers: list, create (POST;
 * PUT creates, or is a no-op for an identical config), info, delete, and the Google
 * Pub/Sub style pull protocol with leases: pull (long-poll), ack, nack, extend.
 *
 * A pull hands out messages with ack ids "stream:seq"; each is leased for the
 * consumer's ack_wait (extend renews it, nack gives it back, possibly after a delay).
 * The core has no way to cancel a fetch, so a pull whose client went away stays
 * registered until its max_wait expires; anything it is handed meanwhile is nak'd at
 * once (redelivered to the next pull, not after a lease). Waiting pulls per listener are
 * bounded (OB_REST_MAX_PULLS): beyond, 429 with Retry-After.
 */
#include "http/rest_int.h"
#include "http/rest_query.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/map.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* The consumer named by {consumer} of the stream {name}; NULL after answering 404. */
static struct ob_consumer *find_consumer(struct ob_http_req *req, struct ob_stream **stp)
{
    struct ob_stream *st = ob_rest_stream(req);
    if (!st) return NULL;
    struct ob_consumer *c = ob_consumer_lookup(st, ob_http_param(req, "consumer"));
    if (!c) ob_rest_problem(req, 404, "not-found", "no such consumer");
    *stp = st;
    return c;
}

struct list_ctx {
    json_t *arr;
    const char *stream;
};

static int collect_consumer(void *arg, struct ob_consumer *c)
{
    struct list_ctx *l = arg;
    json_array_append_new(l->arr, ob_json_consumer(c, l->stream));
    return 0;
}

static int list_consumers(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    if (!st) return OB_HTTP_DONE;
    struct list_ctx l = {json_array(), ob_stream_name(st)};
    ob_consumer_foreach(st, collect_consumer, &l);
    return ob_rest_json(req, 200, json_pack("{s:o}", "consumers", l.arr)), OB_HTTP_DONE;
}

static int create_in(struct ob_http_req *req, struct ob_stream *st, const char *name_override)
{
    json_t *body = ob_rest_body(req, false);
    if (!body) return OB_HTTP_DONE;
    struct ob_consumer_config cfg;
    const char *why;
    int rc = ob_json_parse_consumer_cfg(body, name_override, &cfg, &why);
    if (rc) {
        ob_rest_error(req, rc, why);
    } else {
        bool existed = ob_consumer_lookup(st, cfg.name) != NULL;
        struct ob_consumer *c;
        rc = ob_consumer_create(st, &cfg, &c);
        if (rc == OB_EEXIST)
            ob_rest_problem(req, 409, "conflict",
                            "a consumer of this name exists with another config");
        else if (rc)
            ob_rest_error(req, rc, "the consumer could not be created");
        else
            ob_rest_json(req, existed ? 200 : 201, ob_json_consumer(c, ob_stream_name(st)));
    }
    json_decref(body);
    return OB_HTTP_DONE;
}

static int create_consumer(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    return st ? create_in(req, st, NULL) : OB_HTTP_DONE;
}

static int put_consumer(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    return st ? create_in(req, st, ob_http_param(req, "consumer")) : OB_HTTP_DONE;
}

static int get_consumer(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st;
    struct ob_consumer *c = find_consumer(req, &st);
    if (c) ob_rest_json(req, 200, ob_json_consumer(c, ob_stream_name(st)));
    return OB_HTTP_DONE;
}

static int delete_consumer(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    if (!st) return OB_HTTP_DONE;
    int rc = ob_consumer_delete(st, ob_http_param(req, "consumer"));
    if (rc)
        ob_rest_error(req, rc, rc == OB_ENOENT ? "no such consumer" : NULL);
    else
        ob_http_respond_empty(req, 204);
    return OB_HTTP_DONE;
}

/* ---- pull ------------------------------------------------------------------------- */

/*
 * Pulls on one consumer are served one at a time: the first has the core fetch, the
 * others wait in a queue with their own max_wait timers. The core queues concurrent
 * fetches too, but (as of this writing) only the first one's expiry timer runs, so a
 * second concurrent long-poll would never end without a message; serializing here
 * keeps every max_wait exact whatever the core does.
 */
enum pull_state { PULL_QUEUED, PULL_ACTIVE, PULL_DONE };

struct pullq;

struct pull {
    struct ob_rest *rest;
    struct ob_http_req *req; /* NULL once the client went away */
    struct pullq *q;
    struct pull *next; /* in the queue */
    char *stream, *consumer;
    json_t *msgs;
    uint64_t max;
    int64_t deadline_ns;
    uv_timer_t timer; /* max_wait while queued */
    unsigned flags;
    enum pull_state state;
    bool in_handler;
};

struct pullq {
    char *key; /* "stream/consumer": the map key */
    struct pull *active, *head, *tail;
};

static void pull_closed(uv_handle_t *h)
{
    struct pull *p = h->data;
    ob_rest_drop(p->rest);
    json_decref(p->msgs);
    free(p->stream);
    free(p->consumer);
    free(p);
}

/* Ends a pull: answers its client (if still there) and frees it. */
static void pull_end(struct pull *p, int err)
{
    if (p->req) {
        ob_http_req_on_cancel(p->req, NULL, NULL);
        if (err)
            ob_rest_error(p->req, err, err == OB_ENOENT ? "no such consumer" : "the pull failed");
        else
            ob_rest_json(p->req, 200, json_pack("{s:O}", "messages", p->msgs));
        p->req = NULL;
    }
    p->state = PULL_DONE;
    p->rest->pulls--;
    uv_timer_stop(&p->timer);
    if (!p->in_handler) uv_close((uv_handle_t *)&p->timer, pull_closed);
}

static void queue_remove(struct pullq *q, struct pull *p)
{
    for (struct pull **pp = &q->head; *pp; pp = &(*pp)->next) {
        if (*pp != p) continue;
        *pp = p->next;
        if (q->tail == p) {
            q->tail = NULL;
            for (struct pull *t = q->head; t; t = t->next)
                q->tail = t;
        }
        return;
    }
}

static void queue_drop_if_idle(struct ob_rest *rest, struct pullq *q)
{
    if (q->active || q->head) return;
    ob_map_del(&rest->pullqs, ob_slice_str(q->key));
    free(q->key);
    free(q);
}

static void pull_deliver(void *arg, const struct ob_delivery *d)
{
    struct pull *p = arg;
    if (!p->req) {
        ob_consumer_nak(d->consumer, d->seq, 0); /* nobody will ack it: give it back now */
        return;
    }
    char id[96];
    ob_json_ack_id(p->stream, d->seq, id, sizeof id);
    json_array_append_new(p->msgs,
                          json_pack("{s:s, s:i, s:o}", "ack_id", id, "delivery_count",
                                    (int)d->delivery_count, "message",
                                    ob_json_from_msg(d->msg, p->stream, d->seq, p->flags)));
}

static void pull_activate(struct pull *p);

/* The active pull's fetch ended: answer it, then hand the fetch to the next in line. */
static void pull_done(void *arg, int count)
{
    struct pull *p = arg;
    struct pullq *q = p->q;
    struct ob_rest *rest = p->rest;
    q->active = NULL;
    pull_end(p, count < 0 && !json_array_size(p->msgs) ? count : 0);
    struct pull *next = q->head;
    if (next) {
        queue_remove(q, next);
        uv_timer_stop(&next->timer);
        pull_activate(next);
    } else {
        queue_drop_if_idle(rest, q);
    }
}

static void pull_activate(struct pull *p)
{
    struct ob_stream *st = ob_stream_lookup(p->rest->bus, p->stream);
    struct ob_consumer *c = st ? ob_consumer_lookup(st, p->consumer) : NULL;
    p->state = PULL_ACTIVE;
    p->q->active = p;
    int64_t left = (p->deadline_ns - ob_mono_ns()) / OB_NS_PER_MS;
    int rc =
        c ? ob_consumer_fetch(c, p->max, left > 0 ? (uint32_t)left : 0, pull_deliver, pull_done, p)
          : OB_ENOENT;
    if (rc) pull_done(p, rc);
}

static void on_queued_timeout(uv_timer_t *t)
{
    struct pull *p = t->data;
    struct pullq *q = p->q;
    queue_remove(q, p);
    pull_end(p, 0); /* nothing arrived for this pull within its max_wait */
    queue_drop_if_idle(p->rest, q);
}

static void pull_cancel(void *arg)
{
    struct pull *p = arg;
    p->req = NULL;
    if (p->state != PULL_QUEUED) return; /* the fetch runs on; deliveries are nak'd */
    struct pullq *q = p->q;
    queue_remove(q, p);
    pull_end(p, 0);
    queue_drop_if_idle(p->rest, q);
}

static struct pullq *queue_for(struct ob_rest *rest, const char *stream, const char *consumer)
{
    struct ob_buf k = OB_BUF_INIT;
    ob_buf_printf(&k, "%s/%s", stream, consumer);
    struct pullq *q = ob_map_get(&rest->pullqs, ob_slice_make(k.p, k.len));
    if (!q) {
        q = ob_xcalloc(1, sizeof *q);
        q->key = ob_xstrndup((const char *)k.p, k.len);
        ob_map_put(&rest->pullqs, ob_slice_str(q->key), q);
    }
    ob_buf_release(&k);
    return q;
}

/* Reads {max_messages, max_wait_ms}; 1 after answering 400. */
static int pull_args(struct ob_http_req *req, json_t *body, uint64_t *max, uint64_t *wait)
{
    static const char *const keys[] = {"max_messages", "max_wait_ms", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        bool ok = false;
        for (size_t i = 0; keys[i]; i++)
            ok |= !strcmp(k, keys[i]);
        if (!ok) return ob_rest_problem(req, 400, "invalid-request", "unknown field"), 1;
    }
    if (ob_json_get_u64(body, "max_messages", max) || *max > OB_REST_MAX_PULL ||
        ob_json_get_u64(body, "max_wait_ms", wait) || *wait > OB_REST_MAX_WAIT_MS)
        return ob_rest_problem(req, 400, "invalid-request",
                               "max_messages: 1 to 1000, max_wait_ms: 0 to 60000"),
               1;
    if (!*max) *max = 1;
    return 0;
}

static struct pull *pull_new(struct ob_rest *rest, struct ob_http_req *req, struct ob_stream *st,
                             uint64_t max, uint64_t wait)
{
    struct ob_qs qs;
    ob_qs_parse(&qs, ob_http_req_query(req));
    const char *enc = ob_qs_get(&qs, "encoding", 0);
    struct pull *p = ob_xcalloc(1, sizeof *p);
    p->rest = rest;
    p->req = req;
    p->stream = ob_xstrdup(ob_stream_name(st));
    p->consumer = ob_xstrdup(ob_http_param(req, "consumer"));
    p->msgs = json_array();
    p->max = max;
    p->deadline_ns = ob_mono_ns() + (int64_t)wait * OB_NS_PER_MS;
    p->flags = enc && !strcmp(enc, "base64") ? OB_JSON_MSG_BASE64 : 0;
    ob_qs_release(&qs);
    uv_timer_init(ob_bus_uv_loop(rest->bus), &p->timer);
    p->timer.data = p;
    p->q = queue_for(rest, p->stream, p->consumer);
    rest->pulls++;
    ob_rest_hold(rest);
    return p;
}

static int pull_start(struct ob_rest *rest, struct ob_http_req *req, struct ob_stream *st,
                      json_t *body)
{
    uint64_t max, wait;
    if (pull_args(req, body, &max, &wait)) return OB_HTTP_DONE;
    if (rest->pulls >= rest->max_pulls)
        return ob_rest_problem(req, 429, "limit", "too many pulls waiting"), OB_HTTP_DONE;
    struct pull *p = pull_new(rest, req, st, max, wait);
    p->in_handler = true;
    if (!p->q->active) {
        pull_activate(p);
    } else if (!wait) {
        pull_end(p, 0); /* another pull holds the messages right now: nothing for us */
    } else {
        p->state = PULL_QUEUED;
        if (p->q->tail)
            p->q->tail->next = p;
        else
            p->q->head = p;
        p->q->tail = p;
        uv_timer_start(&p->timer, on_queued_timeout, wait, 0);
    }
    p->in_handler = false;
    if (p->state == PULL_DONE) { /* the queue was settled by pull_done already */
        uv_close((uv_handle_t *)&p->timer, pull_closed);
        return OB_HTTP_DONE;
    }
    ob_http_req_on_cancel(req, pull_cancel, p);
    return OB_HTTP_PENDING;
}

static int pull(struct ob_http_req *req, void *arg)
{
    struct ob_stream *st;
    struct ob_consumer *c = find_consumer(req, &st);
    if (!c) return OB_HTTP_DONE;
    int rc = ob_rest_authorize_read(req, st, ob_consumer_config(c)->filter);
    if (rc) return ob_rest_error(req, rc, "not allowed to read this consumer"), OB_HTTP_DONE;
    json_t *body = ob_rest_body(req, true);
    if (!body) return OB_HTTP_DONE;
    rc = pull_start(arg, req, st, body);
    json_decref(body);
    return rc;
}

/* ---- ack / nack / extend ------------------------------------------------------------ */

enum lease_op { OP_ACK, OP_NACK, OP_EXTEND };

/* An ack request: answered once every ack's durable completion ran. */
struct acks {
    struct ob_http_req *req;
    json_t *failed; /* [{ack_id, type}] */
    size_t left, done_ok;
    bool in_handler;
};

static void acks_answer(struct acks *a)
{
    if (a->req) {
        ob_http_req_on_cancel(a->req, NULL, NULL);
        ob_rest_json(a->req, 200,
                     json_pack("{s:I, s:O}", "acked", (json_int_t)a->done_ok, "failed", a->failed));
    }
    json_decref(a->failed);
    free(a);
}

static void acks_cancel(void *arg)
{
    ((struct acks *)arg)->req = NULL;
}

struct ack_one {
    struct acks *a;
    char *id;
};

static void ack_failed(struct acks *a, const char *id, int err)
{
    const char *slug;
    ob_json_error_status(err, &slug, NULL);
    json_array_append_new(a->failed, json_pack("{s:s, s:s}", "ack_id", id, "type", slug));
}

static void ack_done(void *arg, int status)
{
    struct ack_one *o = arg;
    struct acks *a = o->a;
    if (status)
        ack_failed(a, o->id, status);
    else
        a->done_ok++;
    free(o->id);
    free(o);
    if (--a->left == 0 && !a->in_handler) acks_answer(a);
}

/* Parses {ack_ids: [...], <num_field>} into seqs; 1 after answering 400. */
static int lease_args(struct ob_http_req *req, json_t *body, const char *stream,
                      const char *num_field, uint64_t *num, uint64_t **seqs, size_t *n)
{
    json_t *ids = json_object_get(body, "ack_ids");
    *n = json_array_size(ids);
    if (!json_is_array(ids) || !*n || *n > OB_REST_MAX_PULL)
        return ob_rest_problem(req, 400, "invalid-request", "ack_ids: 1 to 1000 ack ids"), 1;
    if (num_field && (ob_json_get_u64(body, num_field, num) || *num > UINT32_MAX))
        return ob_rest_problem(req, 400, "invalid-request", "a time in ms is out of range"), 1;
    *seqs = ob_xcalloc(*n, sizeof **seqs);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || ob_json_parse_ack_id(json_string_value(v), stream, &(*seqs)[i])) {
            free(*seqs);
            return ob_rest_problem(req, 400, "invalid-ack-id",
                                   "ack ids look like <stream>:<seq> for this stream"),
                   1;
        }
    }
    return 0;
}

static int do_acks(struct ob_http_req *req, struct ob_stream *st, struct ob_consumer *c,
                   const uint64_t *seqs, size_t n)
{
    struct acks *a = ob_xcalloc(1, sizeof *a);
    a->req = req;
    a->failed = json_array();
    a->left = n + 1; /* +1: held by this function until every ack was started */
    a->in_handler = true;
    for (size_t i = 0; i < n; i++) {
        char id[96];
        ob_json_ack_id(ob_stream_name(st), seqs[i], id, sizeof id);
        struct ack_one *o = ob_xcalloc(1, sizeof *o);
        o->a = a;
        o->id = ob_xstrdup(id);
        int rc = ob_consumer_ack(c, seqs[i], ack_done, o);
        if (rc) ack_done(o, rc);
    }
    a->in_handler = false;
    if (--a->left == 0) {
        acks_answer(a);
        return OB_HTTP_DONE;
    }
    ob_http_req_on_cancel(req, acks_cancel, a);
    return OB_HTTP_PENDING;
}

static int do_sync(struct ob_http_req *req, struct ob_stream *st, struct ob_consumer *c,
                   enum lease_op op, uint32_t ms, const uint64_t *seqs, size_t n)
{
    json_t *failed = json_array();
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        int rc =
            op == OP_NACK ? ob_consumer_nak(c, seqs[i], ms) : ob_consumer_extend(c, seqs[i], ms);
        if (!rc) {
            ok++;
            continue;
        }
        char id[96];
        const char *slug;
        ob_json_ack_id(ob_stream_name(st), seqs[i], id, sizeof id);
        ob_json_error_status(rc, &slug, NULL);
        json_array_append_new(failed, json_pack("{s:s, s:s}", "ack_id", id, "type", slug));
    }
    const char *key = op == OP_NACK ? "nacked" : "extended";
    ob_rest_json(req, 200, json_pack("{s:I, s:o}", key, (json_int_t)ok, "failed", failed));
    return OB_HTTP_DONE;
}

static int lease_op(struct ob_http_req *req, enum lease_op op)
{
    struct ob_stream *st;
    struct ob_consumer *c = find_consumer(req, &st);
    if (!c) return OB_HTTP_DONE;
    json_t *body = ob_rest_body(req, false);
    if (!body) return OB_HTTP_DONE;
    uint64_t num = 0, *seqs;
    size_t n;
    const char *field = op == OP_NACK ? "delay_ms" : op == OP_EXTEND ? "ms" : NULL;
    int rc = OB_HTTP_DONE;
    if (!lease_args(req, body, ob_stream_name(st), field, &num, &seqs, &n)) {
        rc = op == OP_ACK ? do_acks(req, st, c, seqs, n)
                          : do_sync(req, st, c, op, (uint32_t)num, seqs, n);
        free(seqs);
    }
    json_decref(body);
    return rc;
}

static int ack(struct ob_http_req *req, void *arg)
{
    (void)arg;
    return lease_op(req, OP_ACK);
}

static int nack(struct ob_http_req *req, void *arg)
{
    (void)arg;
    return lease_op(req, OP_NACK);
}

static int extend(struct ob_http_req *req, void *arg)
{
    (void)arg;
    return lease_op(req, OP_EXTEND);
}

int ob_rest_mount_consumers(struct ob_http_router *r, struct ob_rest *rest)
{
#define C "/v1/streams/{name}/consumers"
    static const struct {
        unsigned methods;
        const char *pattern;
        ob_http_handler h;
    } routes[] = {
        {OB_HTTP_GET, C, list_consumers},
        {OB_HTTP_POST, C, create_consumer},
        {OB_HTTP_GET, C "/{consumer}", get_consumer},
        {OB_HTTP_PUT, C "/{consumer}", put_consumer},
        {OB_HTTP_DELETE, C "/{consumer}", delete_consumer},
        {OB_HTTP_POST, C "/{consumer}/pull", pull},
        {OB_HTTP_POST, C "/{consumer}/ack", ack},
        {OB_HTTP_POST, C "/{consumer}/nack", nack},
        {OB_HTTP_POST, C "/{consumer}/extend", extend},
    };
#undef C
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = ob_http_route(r, routes[i].methods, routes[i].pattern, 0, routes[i].h, rest);
        if (rc) return rc;
    }
    return 0;
}
