/*
 * sse.c — Server-Sent Events at GET /v1/subscribe?subject=<filter>[&subject=…].
 *
 * Each message is one event: "id: <position>", "event: message", and "data: <JSON>"
 * (the message as in REST; format=raw sends the payload itself, one data line per
 * line of it). Positions are "stream:seq" when a stream captures every filter (the
 * feed then reads that stream, see sse_feed.h), so Last-Event-ID — the header a
 * browser sends on reconnect, or the lastEventId query parameter — resumes from the
 * durable log without a gap; otherwise positions are live counters.
 *
 * Also: "retry:" once at the start, a ": hb" comment every heartbeat interval (15 s;
 * OB_SSE_HEARTBEAT_MS overrides it, for tests), back-pressure (a stream-mode client
 * that cannot keep up is paused, which costs no memory; a live-mode client is cut off
 * with a final "event: cutoff" since live messages cannot wait), and until_seq: the
 * feed ends with "event: end" after that sequence, and a reconnect past it gets 204,
 * the status that tells EventSource to stop reconnecting.
 *
 * CORS (including Last-Event-ID in preflights) is the server layer's.
 */
#include "http/json.h"
#include "http/metrics.h"
#include "http/modules.h"
#include "http/rest_query.h"
#include "http/sse_feed.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define SSE_RETRY_MS     2000
#define SSE_HEARTBEAT_MS 15000
#define SSE_MAX_FILTERS  16

struct sse_client;

struct sse_mod {
    struct ob_bus *bus;
    struct ob_feed_live live;
    struct ob_json_msg_cache cache; /* one publish fans out to many clients in a row */
    uv_timer_t heartbeat;
    struct sse_client *clients;
    uint64_t heartbeat_ms;
};

struct sse_client {
    struct sse_mod *mod;
    struct ob_http_req *req;
    struct ob_feed *feed;
    struct sse_client *prev, *next;
    uint64_t until_seq; /* 0: none */
    bool raw, ended;
};

/* ---- writing events -------------------------------------------------------------- */

/* Appends "data: <line>\n" for each line of p (split on \n, \r\n or \r). */
static void put_data_lines(struct ob_buf *b, const uint8_t *p, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\n' && p[i] != '\r') continue;
        ob_buf_append(b, "data: ", 6);
        ob_buf_append(b, p + start, i - start);
        ob_buf_putc(b, '\n');
        if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') i++;
        start = i + 1;
    }
}

static void put_message(struct ob_buf *b, struct sse_client *c, struct ob_msg *m,
                        const char *stream, uint64_t seq, const char *id)
{
    ob_buf_printf(b, "id: %s\nevent: message\n", id);
    struct ob_slice p = ob_msg_payload(m);
    if (c->raw && ob_json_utf8_ok(p.p, p.n)) {
        put_data_lines(b, p.p, p.n);
    } else if (c->raw) {
        char *s = ob_json_b64_encode(p.p, p.n);
        put_data_lines(b, (const uint8_t *)s, strlen(s));
        free(s);
    } else {
        size_t len;
        const char *s = ob_json_msg_cached(&c->mod->cache, m, stream, seq, 0, &len);
        ob_buf_append(b, "data: ", 6); /* compact JSON: one line */
        ob_buf_append(b, s, len);
        ob_buf_putc(b, '\n');
    }
    ob_buf_putc(b, '\n');
}

static void client_unlink(struct sse_client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->mod->clients == c)
        c->mod->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Ends the response with a final event (NULL: none) and frees the client. */
static void client_end(struct sse_client *c, const char *event, const char *data)
{
    if (c->ended) return;
    c->ended = true;
    ob_feed_close(c->feed);
    c->feed = NULL;
    client_unlink(c);
    if (event) {
        struct ob_buf b = OB_BUF_INIT;
        ob_buf_printf(&b, "event: %s\ndata: %s\n\n", event, data);
        ob_http_stream_write(c->req, b.p, b.len);
        ob_buf_release(&b);
    }
    ob_http_req_on_cancel(c->req, NULL, NULL);
    ob_http_stream_on_writable(c->req, NULL, NULL);
    ob_http_stream_end(c->req);
    free(c);
}

static void on_feed(void *arg, struct ob_msg *m, const char *stream, uint64_t seq, const char *id)
{
    struct sse_client *c = arg;
    if (!m) {
        client_end(c, "end", "{\"reason\":\"stream deleted\"}");
        return;
    }
    struct ob_buf b = OB_BUF_INIT;
    put_message(&b, c, m, stream, seq, id);
    ob_http_stream_write(c->req, b.p, b.len);
    ob_buf_release(&b);
    ob_metrics_add("sse", "out", 1);
    if (c->until_seq && seq >= c->until_seq) {
        client_end(c, "end", "{\"reason\":\"until_seq reached\"}");
    } else if (ob_http_stream_congested(c->req)) {
        if (stream) {
            ob_feed_pause(c->feed); /* resumes from the log when the client drained */
        } else {
            OB_WARN("sse", "slow client cut off", "peer=%s", ob_http_req_peer_name(c->req));
            client_end(c, "cutoff", "{\"reason\":\"slow consumer\"}");
        }
    }
}

static void on_writable(struct ob_http_req *req, void *arg)
{
    (void)req;
    struct sse_client *c = arg;
    if (c->feed) ob_feed_resume(c->feed);
}

static void on_cancel(void *arg)
{
    struct sse_client *c = arg;
    c->ended = true;
    ob_feed_close(c->feed);
    client_unlink(c);
    free(c);
}

/* ---- heartbeats ------------------------------------------------------------------- */

/* A heartbeat comment to each client; a stream-backed client whose stream was deleted
 * meanwhile gets its "end" here (nothing else would wake its feed). */
static void on_heartbeat(uv_timer_t *t)
{
    struct sse_mod *mod = t->data;
    static const char hb[] = ": hb\n\n";
    struct sse_client *next;
    for (struct sse_client *c = mod->clients; c; c = next) {
        next = c->next;
        const char *st = ob_feed_stream(c->feed);
        if (st && !ob_stream_lookup(mod->bus, st))
            client_end(c, "end", "{\"reason\":\"stream deleted\"}");
        else if (!ob_http_stream_congested(c->req))
            ob_http_stream_write(c->req, hb, sizeof hb - 1);
    }
}

/* ---- the request ------------------------------------------------------------------ */

struct sub_args {
    const char *filters[SSE_MAX_FILTERS];
    size_t n;
    struct ob_feed_opts opts;
    char stream[128];
    uint64_t until_seq;
    bool raw;
    struct ob_qs qs; /* owns the strings above until the feed copied them */
};

static bool accepts_sse(struct ob_http_req *req)
{
    const char *a = ob_http_header(req, "Accept");
    return !a || strstr(a, "text/event-stream") || strstr(a, "*/*");
}

/* The resume position: Last-Event-ID header, else lastEventId, else from_seq. */
static void parse_resume(struct ob_http_req *req, struct sub_args *a)
{
    const char *id = ob_http_header(req, "Last-Event-ID");
    if (!id || !*id) id = ob_qs_get(&a->qs, "lastEventId", 0);
    uint64_t seq;
    if (id && ob_feed_parse_id(id, a->stream, sizeof a->stream, &seq) &&
        ob_stream_lookup(ob_http_req_bus(req), a->stream)) {
        a->opts.stream = a->stream;
        a->opts.resume = true;
        a->opts.from_seq = seq + 1;
        return;
    }
    const char *fs = ob_qs_get(&a->qs, "from_seq", 0);
    if (fs) {
        a->opts.resume = true;
        a->opts.from_seq = strtoull(fs, NULL, 10);
    }
}

/* Reads the query; answers and returns 1 on a bad request. */
static int sub_args(struct ob_http_req *req, struct sub_args *a)
{
    memset(a, 0, sizeof *a);
    ob_qs_parse(&a->qs, ob_http_req_query(req));
    const char *f;
    while (a->n < SSE_MAX_FILTERS && (f = ob_qs_get(&a->qs, "subject", a->n))) {
        if (!ob_filter_valid(ob_slice_str(f)))
            return ob_http_problem(req, 400, "bad-subject", "Bad Request", "invalid filter"), 1;
        int rc = ob_http_authorize(req, OB_ACT_SUBSCRIBE, f);
        if (rc)
            return ob_http_problem(req, 403, "forbidden", "Forbidden", "not allowed to subscribe"),
                   1;
        a->filters[a->n++] = f;
    }
    if (!a->n)
        return ob_http_problem(req, 400, "invalid-request", "Bad Request", "subject is required"),
               1;
    const char *fmt = ob_qs_get(&a->qs, "format", 0), *st = ob_qs_get(&a->qs, "stream", 0);
    const char *until = ob_qs_get(&a->qs, "until_seq", 0);
    a->raw = fmt && !strcmp(fmt, "raw");
    a->until_seq = until ? strtoull(until, NULL, 10) : 0;
    a->opts.filters = a->filters;
    a->opts.nfilters = a->n;
    a->opts.stream = st;
    parse_resume(req, a);
    return 0;
}

static int start_stream(struct ob_http_req *req, struct sse_client *c)
{
    static const struct ob_header h[] = {
        {{(const uint8_t *)"Content-Type", 12}, {(const uint8_t *)"text/event-stream", 17}},
        {{(const uint8_t *)"Cache-Control", 13}, {(const uint8_t *)"no-cache", 8}},
        {{(const uint8_t *)"X-Accel-Buffering", 17}, {(const uint8_t *)"no", 2}},
    };
    int rc = ob_http_stream_start(req, 200, h, sizeof h / sizeof h[0]);
    if (rc) return rc;
    struct ob_buf b = OB_BUF_INIT;
    const char *st = ob_feed_stream(c->feed);
    ob_buf_printf(&b, "retry: %d\n: omnibus stream=%s\n\n", SSE_RETRY_MS, st ? st : "-");
    rc = ob_http_stream_write(req, b.p, b.len);
    ob_buf_release(&b);
    return rc;
}

static int subscribe_go(struct ob_http_req *req, struct sse_mod *mod, struct sub_args *a)
{
    if (a->until_seq && a->opts.resume && a->opts.from_seq > a->until_seq)
        return ob_http_respond_empty(req, 204), OB_HTTP_DONE; /* asked to stop: done */
    struct sse_client *c = ob_xcalloc(1, sizeof *c);
    c->mod = mod;
    c->req = req;
    c->raw = a->raw;
    c->until_seq = a->until_seq;
    a->opts.live_ids = &mod->live;
    int rc = ob_feed_open(&c->feed, mod->bus, &a->opts, on_feed, c);
    if (rc) {
        free(c);
        bool nf = rc == OB_ENOENT;
        return ob_http_problem(req, nf ? 404 : 400, nf ? "not-found" : "invalid-request",
                               nf ? "Not Found" : "Bad Request",
                               nf ? "no such stream" : "the stream does not capture the filters"),
               OB_HTTP_DONE;
    }
    if (start_stream(req, c)) {
        ob_feed_close(c->feed);
        free(c);
        return OB_ECLOSED;
    }
    c->next = mod->clients;
    if (c->next) c->next->prev = c;
    mod->clients = c;
    ob_http_req_on_cancel(req, on_cancel, c);
    ob_http_stream_on_writable(req, on_writable, c);
    return OB_HTTP_PENDING;
}

static int subscribe(struct ob_http_req *req, void *arg)
{
    if (!accepts_sse(req))
        return ob_http_problem(req, 406, "not-acceptable", "Not Acceptable",
                               "this endpoint sends text/event-stream"),
               OB_HTTP_DONE;
    struct sub_args a;
    int rc = sub_args(req, &a) ? OB_HTTP_DONE : subscribe_go(req, arg, &a);
    ob_qs_release(&a.qs);
    return rc;
}

/* ---- the module ------------------------------------------------------------------- */

static void mod_free_cb(uv_handle_t *h)
{
    struct sse_mod *mod = h->data;
    ob_feed_live_release(&mod->live);
    ob_json_msg_cache_release(&mod->cache);
    free(mod);
}

static void mod_free(void *arg)
{
    struct sse_mod *mod = arg;
    uv_timer_stop(&mod->heartbeat);
    uv_close((uv_handle_t *)&mod->heartbeat, mod_free_cb);
}

int ob_http_mod_sse(struct ob_http_router *r, const struct ob_proto_host *host)
{
    struct sse_mod *mod = ob_xcalloc(1, sizeof *mod);
    mod->bus = host->bus;
    const char *hb = getenv("OB_SSE_HEARTBEAT_MS");
    mod->heartbeat_ms = hb && atoi(hb) > 0 ? (uint64_t)atoi(hb) : SSE_HEARTBEAT_MS;
    uv_timer_init(ob_bus_uv_loop(host->bus), &mod->heartbeat);
    mod->heartbeat.data = mod;
    uv_timer_start(&mod->heartbeat, on_heartbeat, mod->heartbeat_ms, mod->heartbeat_ms);
    uv_unref((uv_handle_t *)&mod->heartbeat); /* never keeps the loop alive by itself */
    ob_http_router_on_free(r, mod_free, mod);
    return ob_http_route(r, OB_HTTP_GET, "/v1/subscribe", 0, subscribe, mod);
}
