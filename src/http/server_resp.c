/*
 * server_resp.c — responses: full ones (with the headers every response gets: Date,
 * Server, CORS, and gzip when it pays), streaming ones (chunked on HTTP/1.1, DATA
 * frames on HTTP/2) and the helpers modules use (text, empty, problem+json).
 *
 * Every entry point holds the connection (hc_enter/hc_leave): a write can find a slow
 * consumer and close the connection under us, and HTTP/2 output is produced when the
 * outermost holder lets go.
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "base/log.h"
#include "http/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HEADERS 64
#define INLINE_BODY 8192 /* bodies up to this are copied behind their head */

/* The Date header value, formatted once per second (RFC 9110 §5.6.7 IMF-fixdate). */
static const char *http_date(void)
{
    static char buf[40];
    static time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

/* Builds the final header list: the caller's, then Date, Server and CORS. */
static size_t common_headers(struct ob_http_req *req, const struct ob_header *h, size_t n,
                             struct ob_header *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < MAX_HEADERS - 8; i++)
        out[k++] = h[i];
    out[k].name = ob_slice_str("Date");
    out[k++].value = ob_slice_str(http_date());
    out[k].name = ob_slice_str("Server");
    out[k++].value = ob_slice_str("omnibus/" OB_VERSION_STRING);
    k += cors_headers(req, out + k, 4);
    return k;
}

static bool claim(struct ob_http_req *req)
{
    if (req->state == RQ_HANDLER || req->state == RQ_BODY || req->state == RQ_AUTH) return true;
    OB_ERROR("http", "second response to one request", "path=%s", req->path);
    return false;
}

static bool no_body_status(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* HTTP/1.1 head of a response, written in request order, with the body bytes of iov
 * copied after it when given (a small body: one write instead of two). */
static int h1_head(struct ob_http_req *req, int status, const struct ob_header *h, size_t n,
                   enum ob_h1_body body, uint64_t len, const struct ob_slice *iov, size_t niov)
{
    struct ob_h1_response r = {.status = status,
                               .headers = h,
                               .nheaders = n,
                               .body = body,
                               .content_length = len,
                               .version_minor = req->version == 10 ? 0 : 1,
                               .keep_alive = req->keep_alive && !req->close_after};
    struct ob_buf head = OB_BUF_INIT;
    int rc = ob_h1_encode_head(&head, &r);
    if (rc < 0) {
        ob_buf_release(&head);
        return rc;
    }
    if (!r.keep_alive) req->keep_alive = false;
    for (size_t i = 0; i < niov; i++)
        ob_buf_append(&head, iov[i].p, iov[i].n);
    struct ob_slice s = {head.p, head.len};
    req_out(req, &s, 1, free, head.p);
    return rc;
}

static void release_iov(ob_release_fn release, void *arg)
{
    if (release) release(arg);
}

/* Sends head and body; the body is replaced by its gzip form when that qualifies. */
static int send_full(struct ob_http_req *req, int status, struct ob_header *hh, size_t k,
                     const struct ob_slice *iov, size_t niov, ob_release_fn release, void *arg)
{
    size_t len = 0;
    for (size_t i = 0; i < niov; i++)
        len += iov[i].n;
    struct ob_buf gz = OB_BUF_INIT;
    if (!no_body_status(status) && gzip_wanted(req, hh, k, len) &&
        gzip_compress(iov, niov, &gz) == 0) {
        release_iov(release, arg);
        hh[k].name = ob_slice_str("Content-Encoding");
        hh[k++].value = ob_slice_str("gzip");
        hh[k].name = ob_slice_str("Vary");
        hh[k++].value = ob_slice_str("Accept-Encoding");
        struct ob_slice s = {gz.p, gz.len};
        return send_full(req, status, hh, k, &s, 1, free, gz.p);
    }
    bool nobody = no_body_status(status);
    int rc;
    if (req->hc->mode == HC_H2 && req->stream_id) {
        rc = h2_submit(req, status, hh, k, !nobody && !req->head_only && len > 0);
    } else {
        bool inl = !nobody && !req->head_only && len <= INLINE_BODY;
        rc = h1_head(req, status, hh, k, nobody ? OB_H1_BODY_NONE : OB_H1_BODY_LENGTH, len,
                     inl ? iov : NULL, inl ? niov : 0);
        if (inl) len = 0; /* sent */
    }
    if (rc < 0 || nobody || req->head_only || !len) {
        release_iov(release, arg);
        return rc < 0 ? rc : 0;
    }
    req_out(req, iov, niov, release, arg);
    return 0;
}

int respond_full(struct ob_http_req *req, int status, const struct ob_header *h, size_t n,
                 const struct ob_slice *iov, size_t niov, ob_release_fn release, void *arg)
{
    if (!claim(req)) {
        release_iov(release, arg);
        return OB_EINVAL;
    }
    struct hconn *hc = req->hc;
    hc_enter(hc);
    struct ob_header hh[MAX_HEADERS];
    size_t k = common_headers(req, h, n, hh);
    int rc = send_full(req, status, hh, k, iov, niov, release, arg);
    if (rc < 0) {
        OB_ERROR("http", "invalid response", "path=%s status=%d", req->path, status);
        static const char msg[] = "invalid response";
        struct ob_slice s = {(const uint8_t *)msg, sizeof msg - 1};
        k = common_headers(req, NULL, 0, hh);
        status = 500;
        send_full(req, status, hh, k, &s, 1, NULL, NULL);
    }
    req->status = status;
    req->state = RQ_DONE;
    req->h2_eof = true;
    req_finish(req);
    hc_leave(hc);
    return rc < 0 ? rc : 0;
}

int ob_http_respond(struct ob_http_req *req, int status, const struct ob_header *headers,
                    size_t nheaders, const void *body, size_t len)
{
    void *copy = len ? ob_xmemdup(body, len) : NULL;
    struct ob_slice s = {copy, len};
    return respond_full(req, status, headers, nheaders, &s, 1, free, copy);
}

int ob_http_respond_zc(struct ob_http_req *req, int status, const struct ob_header *headers,
                       size_t nheaders, const struct ob_slice *iov, size_t niov,
                       ob_release_fn release, void *arg)
{
    return respond_full(req, status, headers, nheaders, iov, niov, release, arg);
}

int ob_http_respond_text(struct ob_http_req *req, int status, const char *content_type,
                         const char *text)
{
    struct ob_header h = {ob_slice_str("Content-Type"), ob_slice_str(content_type)};
    return ob_http_respond(req, status, &h, 1, text, strlen(text));
}

int ob_http_respond_empty(struct ob_http_req *req, int status)
{
    return respond_full(req, status, NULL, 0, NULL, 0, NULL, NULL);
}

/* ---- streaming ------------------------------------------------------------------------ */

int ob_http_stream_start(struct ob_http_req *req, int status, const struct ob_header *headers,
                         size_t nheaders)
{
    if (!claim(req)) return OB_EINVAL;
    struct hconn *hc = req->hc;
    hc_enter(hc);
    struct ob_header hh[MAX_HEADERS];
    size_t k = common_headers(req, headers, nheaders, hh);
    int rc;
    if (hc->mode == HC_H2 && req->stream_id) {
        rc = h2_submit(req, status, hh, k, true);
    } else {
        rc = h1_head(req, status, hh, k, OB_H1_BODY_CHUNKED, 0, NULL, 0);
        if (rc == OB_H1_BODY_CLOSE) req->close_after = true; /* HTTP/1.0: raw until close */
        req->chunked = rc == OB_H1_BODY_CHUNKED;
    }
    if (rc >= 0) {
        req->status = status;
        req->state = RQ_STREAMING;
        req_finish(req);
    }
    hc_leave(hc);
    return rc < 0 ? rc : 0;
}

/* The chunk prefix of one write, freed with the caller's release. */
struct chunkhdr {
    uint8_t prefix[OB_H1_CHUNK_PREFIX_MAX];
    ob_release_fn release;
    void *arg;
};

static void chunkhdr_release(void *p)
{
    struct chunkhdr *ch = p;
    if (ch->release) ch->release(ch->arg);
    free(ch);
}

int ob_http_stream_write_zc(struct ob_http_req *req, const struct ob_slice *iov, size_t niov,
                            ob_release_fn release, void *arg)
{
    size_t len = 0;
    for (size_t i = 0; i < niov; i++)
        len += iov[i].n;
    if (req->state != RQ_STREAMING || req->hc->dead || niov > 64) {
        release_iov(release, arg);
        return req->state != RQ_STREAMING ? OB_EINVAL : OB_ECLOSED;
    }
    if (!len || req->head_only) {
        release_iov(release, arg);
        return 0;
    }
    struct hconn *hc = req->hc;
    hc_enter(hc);
    if (!req->chunked) {
        req_out(req, iov, niov, release, arg);
    } else {
        struct chunkhdr *ch = ob_xmalloc(sizeof *ch);
        ch->release = release;
        ch->arg = arg;
        struct ob_slice v[66];
        v[0] = ob_slice_make(ch->prefix, ob_h1_chunk_prefix(ch->prefix, len));
        memcpy(v + 1, iov, niov * sizeof *iov);
        v[niov + 1] = ob_slice_str("\r\n");
        req_out(req, v, niov + 2, chunkhdr_release, ch);
    }
    req_finish(req);
    hc_leave(hc);
    return 0;
}

int ob_http_stream_write(struct ob_http_req *req, const void *p, size_t n)
{
    void *copy = n ? ob_xmemdup(p, n) : NULL;
    struct ob_slice s = {copy, n};
    return ob_http_stream_write_zc(req, &s, 1, free, copy);
}

int ob_http_stream_end(struct ob_http_req *req)
{
    if (req->state != RQ_STREAMING) return OB_EINVAL;
    struct hconn *hc = req->hc;
    hc_enter(hc);
    if (req->chunked && !req->head_only) req_out_copy(req, OB_H1_CHUNK_END, 5);
    req->state = RQ_DONE;
    req->h2_eof = true;
    req->cancel = NULL;
    req_finish(req);
    hc_leave(hc);
    return 0;
}

size_t ob_http_stream_queued(const struct ob_http_req *req)
{
    const struct hconn *hc = req->hc;
    size_t q = req->out_bytes;
    if (hc->c && (hc->mode == HC_H2 || hc->q_head == req)) q += ob_conn_queued_bytes(hc->c);
    if (hc->mode == HC_H2) q += h2_queued(req);
    return q;
}

bool ob_http_stream_congested(const struct ob_http_req *req)
{
    const struct hconn *hc = req->hc;
    if (!hc->c) return true;
    const struct ob_net_limits *l = hc->srv->host->limits;
    size_t wb = l && l->write_buffer ? (size_t)l->write_buffer : (size_t)1 << 20;
    return ob_conn_congested(hc->c) || ob_http_stream_queued(req) > wb;
}

void ob_http_stream_on_writable(struct ob_http_req *req,
                                void (*cb)(struct ob_http_req *req, void *arg), void *arg)
{
    req->writable = cb;
    req->writable_arg = arg;
}
