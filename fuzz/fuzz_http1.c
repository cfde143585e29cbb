/*
 * fuzz_http1.c — libFuzzer target for the HTTP/1.1 request parser (src/http/h1.c).
 *
 * The first bytes choose limits and split points; the rest is the stream a client
 * sent (possibly several pipelined requests). The stream is parsed twice: whole, and
 * arriving in pieces through a read buffer reallocated on every arrival (so the head
 * moves between calls). Invariants checked:
 *  - consumption never exceeds what was offered; slices lie inside the buffer;
 *  - every header name is a token, no value holds CR, LF or NUL, counts obey limits;
 *  - an error always carries one of the statuses the parser documents;
 *  - both runs produce the same digest of requests, bodies and outcome (a request
 *    split at any byte parses identically);
 *  - the helpers (percent-decoding, query and list iteration, WebSocket handshake
 *    check, response encoding of the parsed headers) stay in bounds.
 */
#include "base/buf.h"
#include "base/crc32c.h"
#include "http/h1.h"
#include "http/ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

struct digest {
    uint32_t crc;
    size_t requests;
};

static void mix(struct digest *d, const void *p, size_t n)
{
    d->crc = ob_crc32c(d->crc, p, n);
}

static void mix_slice(struct digest *d, struct ob_slice s)
{
    mix(d, &s.n, sizeof s.n);
    if (s.n) mix(d, s.p, s.n);
}

static bool inside(struct ob_slice s, const uint8_t *buf, size_t len)
{
    return s.n == 0 || (s.p >= buf && s.p + s.n <= buf + len);
}

static void check_helpers(const struct ob_h1_request *r)
{
    uint8_t out[512];
    size_t n;
    if (r->path.n <= sizeof out && ob_h1_pct_decode(r->path, out, &n, 0) == 0)
        CHECK(n <= r->path.n);
    struct ob_slice q = r->query, k, v;
    size_t pairs = 0;
    while (ob_h1_query_next(&q, &k, &v)) {
        CHECK(k.n + v.n <= r->query.n);
        CHECK(++pairs <= r->query.n);
    }
    for (size_t h = 0; h < r->nheaders; h++) {
        struct ob_slice list = r->headers[h].value, e;
        while (ob_h1_list_next(&list, &e))
            CHECK(e.n > 0 && e.n <= r->headers[h].value.n);
    }
}

/* The parsed headers, echoed in a response, must encode unless they are framing ones. */
static void check_encode(const struct ob_h1_request *r)
{
    struct ob_buf b = OB_BUF_INIT;
    struct ob_h1_response resp = {.status = 200,
                                  .headers = r->headers,
                                  .nheaders = r->nheaders,
                                  .version_minor = r->version_minor,
                                  .keep_alive = r->keep_alive};
    int rc = ob_h1_encode_head(&b, &resp);
    bool framing = ob_h1_header_get(r, "content-length") ||
                   ob_h1_header_get(r, "transfer-encoding") || ob_h1_header_get(r, "connection");
    CHECK(framing ? rc == OB_EINVAL : rc == OB_H1_BODY_NONE);
    ob_buf_release(&b);
}

static void check_websocket(const struct ob_h1_request *r)
{
    static const char *const protos[] = {"mqtt", "chat"};
    struct ob_ws_server_opts opts = {.subprotocols = protos, .nsubprotocols = 2, .deflate = true};
    struct ob_ws_handshake hs;
    int rc = ob_ws_handshake_check(r, &opts, &hs);
    CHECK(rc == 0 ? hs.status == 101 : (hs.status == 400 || hs.status == 426));
    if (rc == 0) CHECK(strlen(hs.accept) == OB_WS_ACCEPT_LEN);
    struct ob_buf b = OB_BUF_INIT;
    ob_ws_handshake_response(&b, &hs);
    CHECK(b.len > 0);
    ob_buf_release(&b);
}

static void check_head(const struct ob_h1_parser *p, const uint8_t *buf, size_t len,
                       struct digest *d)
{
    const struct ob_h1_request *r = &p->req;
    CHECK(r->head_len <= len);
    CHECK(r->nheaders <= p->lim.max_headers);
    CHECK(inside(r->method, buf, len) && ob_h1_is_token(r->method));
    CHECK(inside(r->target, buf, len) && inside(r->path, buf, len) && inside(r->query, buf, len));
    mix_slice(d, r->method);
    mix_slice(d, r->target);
    for (size_t h = 0; h < r->nheaders; h++) {
        struct ob_slice name = r->headers[h].name, value = r->headers[h].value;
        CHECK(inside(name, buf, len) && inside(value, buf, len) && ob_h1_is_token(name));
        for (size_t i = 0; i < value.n; i++)
            CHECK(value.p[i] != '\r' && value.p[i] != '\n' && value.p[i] != 0);
        mix_slice(d, name);
        mix_slice(d, value);
    }
    uint8_t facts[5] = {r->version_minor, (uint8_t)r->body, r->keep_alive, r->expect_continue,
                        (uint8_t)r->upgrade};
    mix(d, facts, sizeof facts);
    if (r->body == OB_H1_BODY_LENGTH) CHECK(r->content_length <= p->lim.max_body);
    check_helpers(r);
    check_encode(r);
    check_websocket(r);
}

static void check_error(const struct ob_h1_parser *p, int rc, struct digest *d)
{
    static const int statuses[] = {400, 413, 414, 417, 431, 501, 505};
    bool known = false;
    for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++)
        known |= p->status == statuses[k];
    CHECK(known && p->error != NULL);
    mix(d, &rc, sizeof rc);
    mix(d, &p->status, sizeof p->status);
}

/* Parses what the read buffer holds; false when the run is over. */
static bool drain(struct ob_h1_parser *p, uint8_t *rb, size_t *rlen, bool *in_body,
                  struct digest *d)
{
    for (;;) {
        if (!*in_body) {
            int rc = ob_h1_parse_head(p, rb, *rlen);
            if (rc == OB_EAGAIN) return true;
            if (rc) {
                check_error(p, rc, d);
                return false;
            }
            check_head(p, rb, *rlen, d);
            memmove(rb, rb + p->req.head_len, *rlen - p->req.head_len);
            *rlen -= p->req.head_len;
            *in_body = true;
        }
        struct ob_slice data;
        size_t used = 0;
        int rc = ob_h1_parse_body(p, rb, *rlen, &data, &used);
        CHECK(used <= *rlen);
        if (rc == 1) {
            CHECK(inside(data, rb, *rlen) && data.n <= used);
            if (data.n) mix(d, data.p, data.n); /* bytes only: pieces differ per split */
        }
        memmove(rb, rb + used, *rlen - used);
        *rlen -= used;
        if (rc == 1) continue;
        if (rc == OB_EAGAIN) {
            CHECK(*rlen == 0);
            return true;
        }
        if (rc) {
            check_error(p, rc, d);
            return false;
        }
        *in_body = false;
        d->requests++;
        mix(d, "|", 1);
        ob_h1_parser_reset(p);
    }
}

static struct digest run(const struct ob_h1_limits *lim, const uint8_t *in, size_t n,
                         const size_t *cuts, size_t ncuts)
{
    struct digest d = {0, 0};
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, lim);
    uint8_t *rb = NULL;
    size_t rlen = 0, fed = 0;
    bool in_body = false, going = true;
    for (size_t k = 0; k <= ncuts && going; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        uint8_t *nb = malloc(rlen + (to - fed) + 1);
        if (rlen) memcpy(nb, rb, rlen);
        if (to > fed) memcpy(nb + rlen, in + fed, to - fed);
        free(rb);
        rb = nb;
        rlen += to - fed;
        fed = to;
        going = drain(&p, rb, &rlen, &in_body, &d);
    }
    free(rb);
    ob_h1_parser_release(&p);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    /* Byte 0 picks small or default limits (small ones reach every limit path). */
    struct ob_h1_limits small = {.max_head = 64u + data[1],
                                 .max_headers = 1u + (data[2] & 7),
                                 .max_body = 1u + data[3],
                                 .max_trailer = 1u + data[3]};
    const struct ob_h1_limits *lim = (data[0] & 1) ? &small : NULL;
    unsigned seed = data[0] | (unsigned)data[1] << 8 | (unsigned)data[2] << 16;
    data += 4;
    size -= 4;
    size_t cuts[16], ncuts = 0;
    for (size_t k = 0; k < 16 && size; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t c = (seed >> 8) % (size + 1);
        if (ncuts == 0 || c >= cuts[ncuts - 1]) cuts[ncuts++] = c;
    }
    struct digest whole = run(lim, data, size, NULL, 0);
    struct digest split = run(lim, data, size, cuts, ncuts);
    CHECK(whole.crc == split.crc && whole.requests == split.requests);
    return 0;
}
