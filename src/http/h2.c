/*
 * h2.c — HTTP/2 (RFC 9113) with nghttp2, for cleartext connections: prior knowledge
 * (the client's first bytes are the connection preface) and the HTTP/1.1
 * "Upgrade: h2c" (RFC 7540 §3.2; the upgrading request becomes stream 1). TLS with
 * ALPN "h2" comes with the TLS transport.
 *
 * nghttp2 does the framing, HPACK, flow control and stream states; we feed it the
 * connection's bytes (mem_recv) and write what it produces (mem_send). Each stream is
 * one struct ob_http_req, filled from the header callbacks and dispatched to the same
 * handlers as HTTP/1.1 once the request ends. A response body is the request's output
 * list, pulled by nghttp2's data source; an empty list of a response that is not
 * complete defers the stream until the handler writes more (streaming, SSE).
 *
 * Output is produced in hc_leave (see server.c), outside handlers, because
 * serializing can close streams and so free requests.
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS (options.max_streams; nghttp2 refuses
 * streams beyond it), SETTINGS_MAX_HEADER_LIST_SIZE (options.max_head; a larger header
 * list resets the stream), the body limit (413 then the stream's input is ignored).
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct h2sess {
    nghttp2_session *s;
    struct hconn *hc;
};

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

bool h2_is_preface(const uint8_t *p, size_t n)
{
    size_t k = n < sizeof preface - 1 ? n : sizeof preface - 1;
    return memcmp(p, preface, k) == 0;
}

/* ---- the request list (for cancellation on close) ---------------------------------- */

static void link_req(struct hconn *hc, struct ob_http_req *req)
{
    req->next = NULL;
    if (hc->q_tail)
        hc->q_tail->next = req;
    else
        hc->q_head = req;
    hc->q_tail = req;
}

static void unlink_req(struct hconn *hc, struct ob_http_req *req)
{
    struct ob_http_req **pp = &hc->q_head, *prev = NULL;
    while (*pp && *pp != req)
        prev = *pp, pp = &(*pp)->next;
    if (!*pp) return;
    *pp = req->next;
    if (hc->q_tail == req) hc->q_tail = prev;
}

/* ---- receiving requests --------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct h2sess *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct ob_http_req *req = req_new(h->hc, 20);
    req->stream_id = f->hd.stream_id;
    link_req(h->hc, req);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, req);
    return 0;
}

static void put_field(struct ob_buf *b, const uint8_t *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    ob_buf_append(b, &len, sizeof len);
    ob_buf_append(b, p, n);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    struct h2sess *h = ud;
    struct ob_http_req *req = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!req || req->state != RQ_BODY) return 0;
    if (req->h2raw.len + namelen + valuelen + 32 > h->hc->srv->opt.max_head)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    put_field(&req->h2raw, name, namelen);
    put_field(&req->h2raw, value, valuelen);
    req->h2n++;
    return 0;
}

static struct ob_slice get_field(const uint8_t **p)
{
    uint32_t len;
    memcpy(&len, *p, sizeof len);
    struct ob_slice s = {*p + sizeof len, len};
    *p += sizeof len + len;
    return s;
}

/* Turns the collected fields into the request head. */
static int finish_head(struct ob_http_req *req)
{
    struct ob_header *hs = ob_xmalloc((req->h2n + 1) * sizeof *hs);
    struct ob_slice method = {0}, path = {0};
    size_t n = 0;
    const uint8_t *p = req->h2raw.p;
    for (size_t i = 0; i < req->h2n; i++) {
        struct ob_slice name = get_field(&p), value = get_field(&p);
        if (ob_slice_eq_str(name, ":method"))
            method = value;
        else if (ob_slice_eq_str(name, ":path"))
            path = value;
        else if (ob_slice_eq_str(name, ":authority"))
            hs[n].name = ob_slice_str("host"), hs[n++].value = value;
        else if (name.n && name.p[0] != ':')
            hs[n].name = name, hs[n++].value = value;
    }
    int rc = OB_EINVAL;
    if (method.n && path.n && path.p[0] == '/') {
        const uint8_t *q = memchr(path.p, '?', path.n);
        struct ob_slice query = {(const uint8_t *)"", 0};
        if (q) {
            query = ob_slice_make(q + 1, (size_t)(path.p + path.n - q - 1));
            path.n = (size_t)(q - path.p);
        }
        rc = req_set_head(req, method, path, query, hs, n);
    }
    free(hs);
    ob_buf_release(&req->h2raw);
    req->head_only = req->method_id == OB_HTTP_HEAD;
    return rc;
}

static void reject(struct ob_http_req *req, int status, const char *suffix, const char *why)
{
    req->h2_rejected = true;
    req->state = RQ_HANDLER;
    ob_http_problem(req, status, suffix, NULL, why);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    struct ob_http_req *req = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!req) return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
        finish_head(req) != 0) {
        reject(req, 400, "bad-request", "malformed request head");
        return 0;
    }
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !req->h2_rejected && req->state == RQ_BODY)
        req_dispatch(req);
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    struct h2sess *h = ud;
    struct ob_http_req *req = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!req || req->h2_rejected || req->state != RQ_BODY) return 0;
    if (req->body.len + len > http_max_body(h->hc->srv)) {
        reject(req, 413, "too-large", "request body too large");
        return 0;
    }
    ob_buf_append(&req->body, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    (void)error_code;
    struct h2sess *h = ud;
    struct ob_http_req *req = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!req) return 0;
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    unlink_req(h->hc, req);
    req_cancel(req); /* a complete response is only freed */
    return 0;
}

/* ---- responses ------------------------------------------------------------------------- */

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    (void)s, (void)stream_id, (void)ud;
    struct ob_http_req *req = src->ptr;
    size_t n = 0;
    while (req->out && n < length) {
        struct outseg *seg = req->out;
        size_t take = seg->s.n < length - n ? seg->s.n : length - n;
        memcpy(buf + n, seg->s.p, take);
        n += take;
        seg->s.p += take;
        seg->s.n -= take;
        req->out_bytes -= take;
        if (seg->s.n) break;
        req->out = seg->next;
        if (!req->out) req->out_tail = &req->out;
        if (seg->release) seg->release(seg->arg);
        free(seg);
    }
    /* A stream held back by flow control drains here, not on the socket: tell the
     * module after this send round (h2_flush), not from inside nghttp2. */
    if (n && req->writable && req->state == RQ_STREAMING && !ob_http_stream_congested(req))
        req->h2_notify = true;
    if (!req->out && req->h2_eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

static bool hop_by_hop(struct ob_slice name)
{
    static const char *const names[] = {"connection", "keep-alive",       "transfer-encoding",
                                        "upgrade",    "proxy-connection", "content-length"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ob_slice_eq_nocase(name, ob_slice_str(names[i]))) return true;
    return false;
}

int h2_submit(struct ob_http_req *req, int status, const struct ob_header *h, size_t n, bool body)
{
    struct h2sess *hs = req->hc->h2;
    if (!hs) return OB_ECLOSED;
    char st[4];
    snprintf(st, sizeof st, "%03d", status < 100 || status > 999 ? 500 : status);
    nghttp2_nv *nv = ob_xmalloc((n + 1) * sizeof *nv);
    struct ob_buf names = OB_BUF_INIT;
    ob_buf_reserve(&names, 1);
    size_t k = 0;
    nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE};
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i].name.n;
    ob_buf_reserve(&names, total + 1); /* no realloc below: pointers stay valid */
    for (size_t i = 0; i < n; i++) {
        if (hop_by_hop(h[i].name)) continue;
        uint8_t *lower = names.p + names.len;
        for (size_t j = 0; j < h[i].name.n; j++)
            lower[j] = (uint8_t)tolower(h[i].name.p[j]);
        names.len += h[i].name.n;
        nv[k++] = (nghttp2_nv){lower, (uint8_t *)(uintptr_t)h[i].value.p, h[i].name.n, h[i].value.n,
                               NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = req, .read_callback = read_body};
    int rc = nghttp2_submit_response(hs->s, req->stream_id, nv, k, body ? &prd : NULL);
    free(nv);
    ob_buf_release(&names);
    if (rc) return OB_EINVAL;
    req->h2_started = true;
    return 0;
}

void h2_resume(struct ob_http_req *req)
{
    struct h2sess *hs = req->hc->h2;
    if (hs && req->h2_started) nghttp2_session_resume_data(hs->s, req->stream_id);
}

size_t h2_queued(const struct ob_http_req *req)
{
    (void)req;
    return 0; /* what nghttp2 holds is bounded by the flow-control window */
}

void h2_writable(struct hconn *hc)
{
    struct ob_http_req *next;
    for (struct ob_http_req *r = hc->q_head; r; r = next) {
        next = r->next;
        if (r->state == RQ_STREAMING && r->writable && !ob_http_stream_congested(r))
            r->writable(r, r->writable_arg);
    }
}

/* ---- the session ----------------------------------------------------------------------- */

/* Streams whose held-back output drained during the last send round. */
static bool notify_drained(struct hconn *hc)
{
    bool any = false;
    struct ob_http_req *next;
    for (struct ob_http_req *r = hc->q_head; r; r = next) {
        next = r->next;
        if (!r->h2_notify) continue;
        r->h2_notify = false;
        if (r->state == RQ_STREAMING && r->writable) {
            r->writable(r, r->writable_arg);
            any = true;
        }
    }
    return any;
}

static void send_round(struct hconn *hc)
{
    struct ob_buf b = OB_BUF_INIT;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(hc->h2->s, &data);
        if (n <= 0) break;
        ob_buf_append(&b, data, (size_t)n); /* bounded by the peer's flow-control windows */
    }
    if (b.len && hc->c) {
        struct ob_slice s = {b.p, b.len};
        ob_conn_write(hc->c, &s, 1, free, b.p);
    } else {
        ob_buf_release(&b);
    }
}

void h2_flush(struct hconn *hc)
{
    struct h2sess *hs = hc->h2;
    if (!hs || !hc->c) return;
    hc_enter(hc);
    for (int round = 0; round < 64 && hc->c && hc->h2; round++) {
        send_round(hc);
        if (!notify_drained(hc)) break;
    }
    if (hc->c && hc->h2 && !nghttp2_session_want_read(hs->s) && !nghttp2_session_want_write(hs->s))
        ob_conn_close(hc->c, 0);
    hc_leave(hc);
}

/* An HTTP/2 connection without streams for the keep-alive time is told GOAWAY. */
void h2_sweep(struct hconn *hc, int64_t now)
{
    uint32_t idle = hc->srv->opt.keepalive_timeout_ms;
    if (!hc->h2 || !hc->c || hc->q_head || !idle || now - hc->last_read <= (int64_t)idle) return;
    nghttp2_session_terminate_session(hc->h2->s, NGHTTP2_NO_ERROR);
    h2_flush(hc); /* nothing left to read or write: the connection closes */
}

void h2_process(struct hconn *hc)
{
    struct h2sess *hs = hc->h2;
    if (!hc->in.len) return;
    ssize_t rv = nghttp2_session_mem_recv(hs->s, hc->in.p, hc->in.len);
    if (rv < 0) {
        OB_DEBUG("http", "http/2 error", "error=\"%s\"", nghttp2_strerror((int)rv));
        hc->in.len = 0;
        if (hc->c) ob_conn_close(hc->c, OB_EPROTO);
        return;
    }
    ob_buf_consume(&hc->in, (size_t)rv);
}

void h2_free(struct hconn *hc)
{
    if (!hc->h2) return;
    nghttp2_session_del(hc->h2->s);
    free(hc->h2);
    hc->h2 = NULL;
}

static nghttp2_session_callbacks *callbacks(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    return cb;
}

/* Stream 1 of an h2c upgrade: the HTTP/1.1 request, dispatched again as HTTP/2. */
static int adopt_upgrade(struct h2sess *hs, struct ob_http_req *req)
{
    uint8_t settings[256];
    size_t n = 0;
    const char *b64 = req->h2_settings;
    if (sodium_base642bin(settings, sizeof settings, b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return OB_EPROTO;
    if (nghttp2_session_upgrade2(hs->s, settings, n, req->method_id == OB_HTTP_HEAD, req) != 0)
        return OB_EPROTO;
    req->stream_id = 1;
    req->version = 20;
    req->state = RQ_BODY;
    req->status = 0;
    req->logged = false;
    req->out = NULL;
    req->out_tail = &req->out;
    req->out_bytes = 0;
    link_req(hs->hc, req);
    return 0;
}

int h2_start(struct hconn *hc, struct ob_http_req *upgraded)
{
    struct h2sess *hs = ob_xcalloc(1, sizeof *hs);
    hs->hc = hc;
    nghttp2_session_callbacks *cb = callbacks();
    int rc = nghttp2_session_server_new(&hs->s, cb, hs);
    nghttp2_session_callbacks_del(cb);
    if (rc) {
        free(hs);
        return OB_EIO;
    }
    hc->h2 = hs;
    if (upgraded && adopt_upgrade(hs, upgraded) != 0) {
        h2_free(hc);
        return OB_EPROTO;
    }
    const struct ob_http_options *o = &hc->srv->opt;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o->max_streams},
                                   {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, o->max_head}};
    nghttp2_submit_settings(hs->s, NGHTTP2_FLAG_NONE, iv, 2);
    hc->mode = HC_H2;
    if (upgraded) req_dispatch(upgraded);
    return 0;
}
