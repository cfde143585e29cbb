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

#include <stdlib.h>
#include <string.h>

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

struct pull {
    struct ob_rest *rest;
    struct ob_http_req *req; /* NULL once the client went away */
    char *stream;
    json_t *msgs;
    unsigned flags;
    bool in_handler, finished;
};

static void pull_cancel(void *arg)
{
    ((struct pull *)arg)->req = NULL;
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

static void pull_free(struct pull *p)
{
    p->rest->pulls--;
    ob_rest_drop(p->rest);
    json_decref(p->msgs);
    free(p->stream);
    free(p);
}

static void pull_done(void *arg, int count)
{
    struct pull *p = arg;
    if (p->req) {
        ob_http_req_on_cancel(p->req, NULL, NULL);
        if (count < 0 && !json_array_size(p->msgs))
            ob_rest_error(p->req, count, "the consumer went away");
        else
            ob_rest_json(p->req, 200, json_pack("{s:O}", "messages", p->msgs));
    }
    p->finished = true;
    if (!p->in_handler) pull_free(p);
}

/* Reads {max_messages, max_wait_ms} into p; 1 after answering 400. */
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

static int pull_start(struct ob_rest *rest, struct ob_http_req *req, struct ob_stream *st,
                      struct ob_consumer *c, json_t *body)
{
    uint64_t max, wait;
    if (pull_args(req, body, &max, &wait)) return OB_HTTP_DONE;
    if (rest->pulls >= OB_REST_MAX_PULLS)
        return ob_rest_problem(req, 429, "limit", "too many pulls waiting"), OB_HTTP_DONE;
    struct ob_qs qs;
    ob_qs_parse(&qs, ob_http_req_query(req));
    const char *enc = ob_qs_get(&qs, "encoding", 0);
    struct pull *p = ob_xcalloc(1, sizeof *p);
    p->rest = rest;
    p->req = req;
    p->stream = ob_xstrdup(ob_stream_name(st));
    p->msgs = json_array();
    p->flags = enc && !strcmp(enc, "base64") ? OB_JSON_MSG_BASE64 : 0;
    ob_qs_release(&qs);
    p->in_handler = true;
    rest->pulls++;
    ob_rest_hold(rest);
    int rc = ob_consumer_fetch(c, max, (uint32_t)wait, pull_deliver, pull_done, p);
    p->in_handler = false;
    if (rc) {
        ob_rest_error(req, rc, "the pull was refused");
        pull_free(p);
        return OB_HTTP_DONE;
    }
    if (p->finished) {
        pull_free(p);
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
    rc = pull_start(arg, req, st, c, body);
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
