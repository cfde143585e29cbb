/*
 * rest.c — the REST API module (/v1): module init, the shared JSON/problem helpers, and
 * publishing (POST /v1/subjects/{subject}, POST /v1/publish) with Idempotency-Key.
 *
 * A publish answers only after ob_publish's callback: 200 with {stream, seq} once every
 * capturing stream has the message durable per its fsync policy, 202 with stream null
 * when no stream captured it (accepted and routed to live subscribers only; nothing to
 * be durable). A client that goes away meanwhile does not stop the publish: the
 * callback still completes the Idempotency-Key entry, so a retry gets the real result.
 */
#include "http/modules.h"
#include "http/h1.h"
#include "http/metrics.h"
#include "http/openapi.h"
#include "http/rest_int.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/map.h"
#include "core/auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------------- */

int ob_rest_json(struct ob_http_req *req, int status, json_t *j)
{
    size_t len;
    char *s = ob_json_dump(j, &len);
    json_decref(j);
    static const struct ob_header ct = {{(const uint8_t *)"Content-Type", 12},
                                        {(const uint8_t *)"application/json", 16}};
    int rc = ob_http_respond(req, status, &ct, 1, s, len);
    free(s);
    return rc;
}

int ob_rest_problem(struct ob_http_req *req, int status, const char *slug, const char *detail)
{
    static const struct ob_header retry = {{(const uint8_t *)"Retry-After", 11},
                                           {(const uint8_t *)"1", 1}};
    return ob_http_problem_h(req, status, status == 429 ? &retry : NULL, status == 429, slug,
                             ob_h1_reason(status), detail);
}

int ob_rest_error(struct ob_http_req *req, int err, const char *detail)
{
    const char *slug;
    int status = ob_json_error_status(err, &slug, NULL);
    return ob_rest_problem(req, status, slug, detail ? detail : ob_strerror(err));
}

static bool is_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 16 && !strncasecmp(ct, "application/json", 16)) return true;
    return n > 17 && !strncasecmp(ct, "application/", 12) && !strncasecmp(ct + n - 5, "+json", 5);
}

json_t *ob_rest_body(struct ob_http_req *req, bool allow_empty)
{
    struct ob_slice b = ob_http_req_body(req);
    const char *ct = ob_http_header(req, "Content-Type");
    if (b.n == 0 && allow_empty) return json_object();
    if (ct && !is_json_type(ct)) {
        ob_rest_problem(req, 415, "unsupported-media-type", "send application/json");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)b.p, b.n, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        ob_rest_problem(req, 400, "invalid-json", e.text);
        return NULL;
    }
    if (!json_is_object(j) && !json_is_array(j)) {
        json_decref(j);
        ob_rest_problem(req, 400, "invalid-json", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

struct ob_stream *ob_rest_stream(struct ob_http_req *req)
{
    struct ob_stream *st = ob_stream_lookup(ob_http_req_bus(req), ob_http_param(req, "name"));
    if (!st) ob_rest_problem(req, 404, "not-found", "no such stream");
    return st;
}

int ob_rest_authorize_read(struct ob_http_req *req, struct ob_stream *st, const char *filter)
{
    if (filter && *filter) return ob_http_authorize(req, OB_ACT_SUBSCRIBE, filter);
    const struct ob_stream_config *c = ob_stream_config(st);
    for (size_t i = 0; i < c->nsubjects; i++) {
        int rc = ob_http_authorize(req, OB_ACT_SUBSCRIBE, c->subjects[i]);
        if (rc) return rc;
    }
    return 0;
}

/* ---- publish context -------------------------------------------------------------- */

/*
 * One publish request in flight: one or more messages (the batch form), the request
 * (NULL once the client went away) and the Idempotency-Key entry to complete. Freed
 * when the last publish callback ran.
 */
struct pubctx {
    struct ob_rest *rest;
    struct ob_http_req *req;
    struct ob_idem_entry *idem;
    bool batch;
    size_t n, left;
    json_t *results; /* array of {stream, seq} or problem objects, by position */
    int first_err;
    bool in_handler, answered;
};

struct pubitem {
    struct pubctx *ctx;
    size_t index;
};

static void pub_cancel(void *arg)
{
    ((struct pubctx *)arg)->req = NULL;
}

static json_t *ack_json(const struct ob_pub_ack *ack)
{
    json_t *o = json_object();
    json_object_set_new(o, "stream", ack->stream ? json_string(ack->stream) : json_null());
    json_object_set_new(o, "seq", json_integer((json_int_t)ack->seq));
    json_object_set_new(o, "duplicate", json_false());
    return o;
}

static json_t *error_json(int err)
{
    const char *slug, *title;
    int status = ob_json_error_status(err, &slug, &title);
    char type[128];
    snprintf(type, sizeof type, "%s%s", OB_HTTP_PROBLEM_BASE, slug);
    return json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status,
                     "detail", ob_strerror(err));
}

/* The final answer: a single result, or {results: [...]} for a batch. A failed single
 * publish is a problem; a batch with failures is a problem carrying the results too. */
static void pub_answer(struct pubctx *ctx)
{
    json_t *body;
    int status;
    if (ctx->first_err) {
        const char *slug;
        status = ob_json_error_status(ctx->first_err, &slug, NULL);
        body = error_json(ctx->first_err);
        if (ctx->batch) json_object_set(body, "results", ctx->results);
    } else if (ctx->batch) {
        status = 200;
        body = json_pack("{s:O}", "results", ctx->results);
    } else {
        json_t *r = json_array_get(ctx->results, 0);
        status = json_is_null(json_object_get(r, "stream")) ? 202 : 200;
        body = json_incref(r);
    }
    size_t len;
    char *s = ob_json_dump(body, &len);
    bool keep = ctx->first_err != OB_EIO && ctx->first_err != OB_ENOSPC &&
                ctx->first_err != OB_ECLOSED && ctx->first_err != OB_ECORRUPT;
    if (ctx->idem && keep)
        ob_idem_finish(ctx->rest->idem, ctx->idem, status, s, len, ob_mono_ns());
    else if (ctx->idem)
        ob_idem_abort(ctx->rest->idem, ctx->idem); /* a storage failure may be retried */
    if (ctx->req) {
        static const struct ob_header ct[] = {
            {{(const uint8_t *)"Content-Type", 12}, {(const uint8_t *)"application/json", 16}},
            {{(const uint8_t *)"Content-Type", 12},
             {(const uint8_t *)"application/problem+json", 24}}};
        ob_http_req_on_cancel(ctx->req, NULL, NULL);
        ob_http_respond(ctx->req, status, &ct[ctx->first_err ? 1 : 0], 1, s, len);
    }
    free(s);
    json_decref(body);
}

static void pub_free(struct pubctx *ctx)
{
    ob_rest_drop(ctx->rest);
    json_decref(ctx->results);
    free(ctx);
}

static void pub_done(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct pubitem *it = arg;
    struct pubctx *ctx = it->ctx;
    json_array_set_new(ctx->results, it->index, status ? error_json(status) : ack_json(ack));
    if (status && !ctx->first_err) ctx->first_err = status;
    free(it);
    if (--ctx->left) return;
    ctx->answered = true;
    pub_answer(ctx);
    if (!ctx->in_handler) pub_free(ctx);
}

/* Publishes one prepared message as item index of ctx. */
static void pub_one(struct pubctx *ctx, size_t index, const struct ob_msg_init *init)
{
    struct ob_msg *m;
    int rc = ob_msg_new(&m, init);
    struct pubitem *it = ob_xcalloc(1, sizeof *it);
    it->ctx = ctx;
    it->index = index;
    if (!rc) {
        rc = ob_publish(ctx->rest->bus, m, pub_done, it);
        ob_msg_unref(m);
        if (!rc) ob_metrics_add("rest", "in", 1);
    }
    if (rc) pub_done(it, rc, NULL);
}

static struct pubctx *pub_new(struct ob_rest *rest, struct ob_http_req *req, size_t n, bool batch)
{
    struct pubctx *ctx = ob_xcalloc(1, sizeof *ctx);
    ctx->rest = rest;
    ob_rest_hold(rest);
    ctx->req = req;
    ctx->batch = batch;
    ctx->n = ctx->left = n;
    ctx->results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(ctx->results, json_null());
    ctx->in_handler = true;
    return ctx;
}

/* After the publishes were started: pending unless every callback already ran. */
static int pub_settle(struct pubctx *ctx)
{
    ctx->in_handler = false;
    if (ctx->answered) {
        pub_free(ctx);
        return OB_HTTP_DONE;
    }
    ob_http_req_on_cancel(ctx->req, pub_cancel, ctx);
    return OB_HTTP_PENDING;
}

/* ---- Idempotency-Key ------------------------------------------------------------ */

static uint64_t fingerprint(struct ob_http_req *req)
{
    struct ob_buf b = OB_BUF_INIT;
    const char *ct = ob_http_header(req, "Content-Type");
    ob_buf_printf(&b, "%s %s\n%s\n", ob_http_req_method(req), ob_http_req_path(req), ct ? ct : "");
    size_t n;
    const struct ob_header *h = ob_http_req_headers(req, &n);
    for (size_t i = 0; i < n; i++)
        if (h[i].name.n > 8 && !strncasecmp((const char *)h[i].name.p, "omnibus-", 8)) {
            ob_buf_append(&b, h[i].name.p, h[i].name.n);
            ob_buf_append(&b, h[i].value.p, h[i].value.n);
        }
    struct ob_slice body = ob_http_req_body(req);
    ob_buf_append(&b, body.p, body.n);
    uint64_t f = ob_hash_bytes(b.p, b.len);
    ob_buf_release(&b);
    return f;
}

/* Replays a stored answer, marked as such (duplicate: true and Idempotent-Replayed). */
static void idem_replay(struct ob_http_req *req, struct ob_idem_entry *e)
{
    size_t len;
    const char *body = ob_idem_body(e, &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    if (j && json_is_object(j) && json_object_get(j, "seq"))
        json_object_set_new(j, "duplicate", json_true());
    json_t *results = j ? json_object_get(j, "results") : NULL;
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r) if (json_object_get(r, "seq"))
        json_object_set_new(r, "duplicate", json_true());
    char *s = j ? ob_json_dump(j, &len) : ob_xstrndup(body, len);
    int status = ob_idem_status(e);
    struct ob_header h[2] = {
        {{(const uint8_t *)"Content-Type", 12},
         ob_slice_str(status >= 400 ? "application/problem+json" : "application/json")},
        {{(const uint8_t *)"Idempotent-Replayed", 19}, {(const uint8_t *)"true", 4}}};
    ob_http_respond(req, status, h, 2, s, len);
    free(s);
    json_decref(j);
}

/*
 * Checks Idempotency-Key. Returns 1 after answering (a replay or an error), 0 to go on
 * (*entry is the new entry, or NULL without a key).
 */
static int idem_check(struct ob_rest *rest, struct ob_http_req *req, struct ob_idem_entry **entry)
{
    *entry = NULL;
    const char *key = ob_http_header(req, "Idempotency-Key");
    if (!key) return 0;
    size_t kl = strlen(key);
    if (kl >= 2 && key[0] == '"' && key[kl - 1] == '"') kl -= 2, key++; /* sf-string form */
    if (!kl || kl > OB_IDEM_MAX_KEY)
        return ob_rest_problem(req, 400, "invalid-idempotency-key", "1 to 255 characters"), 1;
    char *k = ob_xstrndup(key, kl);
    const struct ob_principal *p = ob_http_req_principal(req);
    struct ob_idem_entry *e;
    enum ob_idem_result r = ob_idem_begin(rest->idem, p ? ob_principal_name(p) : "", k,
                                          fingerprint(req), ob_mono_ns(), &e);
    free(k);
    if (r == OB_IDEM_NEW) return *entry = e, 0;
    if (r == OB_IDEM_PENDING)
        ob_rest_problem(req, 409, "idempotency-in-progress", "a request with this key is running");
    else if (r == OB_IDEM_MISMATCH)
        ob_rest_problem(req, 422, "idempotency-key-reused",
                        "this key was used for another request");
    else if (r == OB_IDEM_FULL)
        ob_rest_problem(req, 429, "limit", "too many requests in flight with Idempotency-Key");
    else
        idem_replay(req, e);
    return 1;
}

/* ---- POST /v1/subjects/{subject} -------------------------------------------------- */

#define HEADER_PREFIX "omnibus-header-"

/* Message headers from the request: Content-Type, and Omnibus-Header-<name> as <name>
 * lower-cased (HTTP/2 lower-cases names anyway; one spelling round-trips both ways).
 * *out and *names (the lower-cased copies) are allocated for every request header (the
 * server bounds their count); free both, and each name, after use. */
static size_t collect_headers(struct ob_http_req *req, struct ob_header **out, char ***names)
{
    size_t n, k = 0, plen = strlen(HEADER_PREFIX);
    const struct ob_header *h = ob_http_req_headers(req, &n);
    *out = ob_xcalloc(n + 1, sizeof **out);
    *names = ob_xcalloc(n + 1, sizeof **names);
    for (size_t i = 0; i < n; i++) {
        struct ob_slice nm = h[i].name;
        if (ob_slice_eq_nocase(nm, ob_slice_str("content-type"))) {
            (*out)[k].name = ob_slice_str("content-type");
        } else if (nm.n > plen && !strncasecmp((const char *)nm.p, HEADER_PREFIX, plen)) {
            char *lc = ob_xstrndup((const char *)nm.p + plen, nm.n - plen);
            for (char *c = lc; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            (*names)[k] = lc;
            (*out)[k].name = ob_slice_str(lc);
        } else {
            continue;
        }
        (*out)[k++].value = h[i].value;
    }
    return k;
}

static int publish_one(struct ob_http_req *req, void *arg)
{
    struct ob_rest *rest = arg;
    const char *subject = ob_http_param(req, "subject");
    if (!subject || !ob_subject_valid(ob_slice_str(subject)))
        return ob_rest_problem(req, 400, "bad-subject", "not a valid subject"), OB_HTTP_DONE;
    int rc = ob_http_authorize(req, OB_ACT_PUBLISH, subject);
    if (rc) return ob_rest_error(req, rc, "not allowed to publish to this subject"), OB_HTTP_DONE;
    struct ob_idem_entry *idem;
    if (idem_check(rest, req, &idem)) return OB_HTTP_DONE;
    struct ob_header *headers;
    char **names;
    const char *key = ob_http_header(req, "Omnibus-Key");
    struct ob_msg_init init = {
        .subject = ob_slice_str(subject),
        .nheaders = collect_headers(req, &headers, &names),
        .key = key ? ob_slice_str(key) : ob_slice_make(NULL, 0),
        .payload = ob_http_req_body(req),
    };
    init.headers = headers;
    struct pubctx *ctx = pub_new(rest, req, 1, false);
    ctx->idem = idem;
    pub_one(ctx, 0, &init);
    for (size_t i = 0; i < init.nheaders; i++)
        free(names[i]);
    free(names);
    free(headers);
    return pub_settle(ctx);
}

/* ---- POST /v1/publish ------------------------------------------------------------- */

/* Parses and authorizes every message before publishing any: a batch with one bad
 * message publishes nothing. Returns 0, or answered the problem (1). */
static int batch_prepare(struct ob_http_req *req, json_t *arr, struct ob_json_pub *pubs)
{
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        const char *why = NULL;
        char detail[160];
        int rc = ob_json_parse_pub(m, &pubs[i], &why);
        if (!rc) {
            char *subj = ob_xstrndup((const char *)pubs[i].init.subject.p, pubs[i].init.subject.n);
            rc = ob_http_authorize(req, OB_ACT_PUBLISH, subj);
            free(subj);
            why = rc ? "not allowed to publish to this subject" : NULL;
        }
        if (rc) {
            snprintf(detail, sizeof detail, "messages[%zu]: %s", i, why);
            ob_rest_error(req, rc, detail);
            for (size_t k = 0; k <= i; k++)
                ob_json_pub_release(&pubs[k]);
            return 1;
        }
    }
    return 0;
}

static int publish_batch_go(struct ob_rest *rest, struct ob_http_req *req, json_t *arr, size_t n)
{
    struct ob_json_pub *pubs = ob_xcalloc(n, sizeof *pubs);
    if (batch_prepare(req, arr, pubs)) {
        free(pubs);
        return OB_HTTP_DONE;
    }
    struct ob_idem_entry *idem;
    if (idem_check(rest, req, &idem)) {
        for (size_t i = 0; i < n; i++)
            ob_json_pub_release(&pubs[i]);
        free(pubs);
        return OB_HTTP_DONE;
    }
    struct pubctx *ctx = pub_new(rest, req, n, true);
    ctx->idem = idem;
    for (size_t i = 0; i < n; i++) {
        pub_one(ctx, i, &pubs[i].init);
        ob_json_pub_release(&pubs[i]);
    }
    free(pubs);
    return pub_settle(ctx);
}

static int publish_batch(struct ob_http_req *req, void *arg)
{
    struct ob_rest *rest = arg;
    json_t *body = ob_rest_body(req, false);
    if (!body) return OB_HTTP_DONE;
    json_t *arr = json_is_array(body) ? body : json_object_get(body, "messages");
    size_t n = json_array_size(arr);
    int rc = OB_HTTP_DONE;
    if (!json_is_array(arr) || !n)
        ob_rest_problem(req, 400, "invalid-request", "expected a non-empty array of messages");
    else if (n > OB_REST_MAX_BATCH)
        ob_rest_problem(req, 413, "too-large", "at most 1000 messages per batch");
    else
        rc = publish_batch_go(rest, req, arr, n);
    json_decref(body);
    return rc;
}

static int openapi(struct ob_http_req *req, void *arg)
{
    (void)arg;
    static const struct ob_header ct = {{(const uint8_t *)"Content-Type", 12},
                                        {(const uint8_t *)"application/json", 16}};
    struct ob_slice doc = {ob_openapi_doc, ob_openapi_doc_len};
    return ob_http_respond_zc(req, 200, &ct, 1, &doc, 1, NULL, NULL), OB_HTTP_DONE;
}

int ob_rest_mount_publish(struct ob_http_router *r, struct ob_rest *rest)
{
    int rc = ob_http_route(r, OB_HTTP_GET, "/v1/openapi.json", OB_HTTP_PUBLIC, openapi, NULL);
    if (!rc) rc = ob_http_route(r, OB_HTTP_POST, "/v1/subjects/{subject}", 0, publish_one, rest);
    return rc ? rc : ob_http_route(r, OB_HTTP_POST, "/v1/publish", 0, publish_batch, rest);
}

/* ---- the module ------------------------------------------------------------------- */

void ob_rest_hold(struct ob_rest *rest)
{
    rest->inflight++;
}

static void rest_destroy(struct ob_rest *rest)
{
    ob_idem_free(rest->idem);
    ob_map_release(&rest->pullqs);
    free(rest);
}

void ob_rest_drop(struct ob_rest *rest)
{
    if (--rest->inflight == 0 && rest->closed) rest_destroy(rest);
}

static void rest_free(void *arg)
{
    struct ob_rest *rest = arg;
    rest->closed = true;
    if (!rest->inflight) rest_destroy(rest);
}

int ob_http_mod_rest(struct ob_http_router *r, const struct ob_proto_host *host)
{
    struct ob_rest *rest = ob_xcalloc(1, sizeof *rest);
    rest->bus = host->bus;
    rest->idem = ob_idem_new(OB_REST_IDEM_ENTRIES, OB_REST_IDEM_TTL_MS);
    const char *mp = getenv("OB_REST_MAX_PULLS");
    rest->max_pulls = mp && atoi(mp) > 0 ? (size_t)atoi(mp) : OB_REST_MAX_PULLS;
    ob_http_router_on_free(r, rest_free, rest);
    int rc = ob_rest_mount_publish(r, rest);
    if (!rc) rc = ob_rest_mount_streams(r, rest);
    if (!rc) rc = ob_rest_mount_consumers(r, rest);
    return rc;
}
