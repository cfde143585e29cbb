/* test_http_h1.c — the HTTP/1.1 request parser and response encoder: a table of good
 * and bad requests with the status each must get, every request re-parsed with its
 * bytes arriving split at every point (and one byte at a time) through buffers that
 * move, pipelining, request-smuggling cases, limits, rebasing, helpers, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "base/buf.h"
#include "http/h1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a driver that feeds a parser the way a connection would -------------------- */

/* What one parsed request looked like, flattened so two parses compare with memcmp. */
struct snap {
    char method[32], target[128], path[128], query[128];
    char headers[1024]; /* "name: value\n" per header */
    size_t nheaders, head_len, used;
    int minor, body_kind;
    uint64_t cl;
    bool ka, expect;
    unsigned upgrade;
    char body[2048];
    size_t body_len;
};

#define MAXREQ 6

struct run {
    int rc;     /* 0: input ended on a request boundary; OB_EAGAIN: mid-request; error */
    int status; /* after an error */
    size_t nreq;
    struct snap req[MAXREQ];
};

static void copy_slice(char *dst, size_t cap, struct ob_slice s)
{
    assert_true(s.n < cap);
    if (s.n) memcpy(dst, s.p, s.n);
    dst[s.n] = 0;
}

static void take_head(struct snap *s, const struct ob_h1_request *r)
{
    copy_slice(s->method, sizeof s->method, r->method);
    copy_slice(s->target, sizeof s->target, r->target);
    copy_slice(s->path, sizeof s->path, r->path);
    copy_slice(s->query, sizeof s->query, r->query);
    struct ob_buf b = OB_BUF_INIT;
    for (size_t k = 0; k < r->nheaders; k++) {
        ob_buf_append(&b, r->headers[k].name.p, r->headers[k].name.n);
        ob_buf_append(&b, ": ", 2);
        ob_buf_append(&b, r->headers[k].value.p, r->headers[k].value.n);
        ob_buf_putc(&b, '\n');
    }
    copy_slice(s->headers, sizeof s->headers, ob_slice_make(b.p, b.len));
    ob_buf_release(&b);
    s->nheaders = r->nheaders;
    s->head_len = r->head_len;
    s->minor = r->version_minor;
    s->body_kind = (int)r->body;
    s->cl = r->content_length;
    s->ka = r->keep_alive;
    s->expect = r->expect_continue;
    s->upgrade = r->upgrade;
}

static void consume(uint8_t *b, size_t *len, size_t n)
{
    assert_true(n <= *len);
    memmove(b, b + n, *len - n);
    *len -= n;
}

/* Appends in[from..to) to the read buffer, always into a new allocation of exactly
 * the needed size, so the head moves between calls and reads past the end trip ASan. */
static uint8_t *arrive(uint8_t *rb, size_t *rlen, const uint8_t *in, size_t from, size_t to)
{
    uint8_t *nb = malloc(*rlen + (to - from) + 1);
    assert_non_null(nb);
    if (*rlen) memcpy(nb, rb, *rlen);
    if (to > from) memcpy(nb + *rlen, in + from, to - from);
    free(rb);
    *rlen += to - from;
    return nb;
}

/* Parses what is in the read buffer; false once the run is over (error or full). */
static bool drain(struct ob_h1_parser *p, uint8_t *rb, size_t *rlen, bool *in_body, struct run *r)
{
    for (;;) {
        struct snap *s = &r->req[r->nreq];
        if (!*in_body) {
            int rc = ob_h1_parse_head(p, rb, *rlen);
            if (rc == OB_EAGAIN) return true;
            if (rc) {
                r->rc = rc;
                r->status = p->status;
                return false;
            }
            take_head(s, &p->req);
            s->used = p->req.head_len;
            consume(rb, rlen, p->req.head_len);
            *in_body = true;
        }
        struct ob_slice d;
        size_t used = 0;
        int rc = ob_h1_parse_body(p, rb, *rlen, &d, &used);
        assert_true(used <= *rlen);
        if (rc == 1) {
            assert_true(s->body_len + d.n <= sizeof s->body);
            memcpy(s->body + s->body_len, d.p, d.n);
            s->body_len += d.n;
        }
        s->used += used;
        consume(rb, rlen, used);
        if (rc == 1) continue;
        if (rc == OB_EAGAIN) {
            assert_int_equal(*rlen, 0);
            return true;
        }
        if (rc) {
            r->rc = rc;
            r->status = p->status;
            return false;
        }
        *in_body = false;
        ob_h1_parser_reset(p);
        if (++r->nreq == MAXREQ) return false;
    }
}

/* Runs in[0..n) through one parser, arriving in pieces that end at cuts[]. */
static void run_cuts(const struct ob_h1_limits *lim, const uint8_t *in, size_t n,
                     const size_t *cuts, size_t ncuts, struct run *r)
{
    memset(r, 0, sizeof *r);
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, lim);
    uint8_t *rb = NULL;
    size_t rlen = 0, fed = 0;
    bool in_body = false, going = true;
    for (size_t k = 0; k <= ncuts && going; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        rb = arrive(rb, &rlen, in, fed, to);
        fed = to;
        going = drain(&p, rb, &rlen, &in_body, r);
    }
    if (going) r->rc = (in_body || rlen) ? OB_EAGAIN : 0;
    free(rb);
    ob_h1_parser_release(&p);
}

static void run_whole(const struct ob_h1_limits *lim, const uint8_t *in, size_t n, struct run *r)
{
    run_cuts(lim, in, n, NULL, 0, r);
}

/* Every single split point, and one byte at a time, must give the same result. */
static void check_splits(const struct ob_h1_limits *lim, const uint8_t *in, size_t n,
                         const char *name)
{
    struct run *whole = malloc(sizeof *whole), *split = malloc(sizeof *split);
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    run_whole(lim, in, n, whole);
    for (size_t k = 0; k <= n; k++) {
        run_cuts(lim, in, n, &k, 1, split);
        if (memcmp(whole, split, sizeof *whole) != 0) fail_msg("%s: split at %zu differs", name, k);
    }
    for (size_t k = 0; k < n; k++)
        cuts[k] = k + 1;
    run_cuts(lim, in, n, cuts, n, split);
    if (memcmp(whole, split, sizeof *whole) != 0) fail_msg("%s: bytewise differs", name);
    free(cuts);
    free(whole);
    free(split);
}

/* ---- good requests --------------------------------------------------------------- */

#define R(s) (const uint8_t *)(s), sizeof(s) - 1

struct good {
    const char *name;
    const uint8_t *raw;
    size_t n;
    const char *method, *path, *query, *body;
    int minor, ka, expect;
    unsigned upgrade;
    int kind;
};

#define NONE         OB_H1_BODY_NONE
#define LEN          OB_H1_BODY_LENGTH
#define CHUNKED      OB_H1_BODY_CHUNKED
#define WS           OB_H1_UPGRADE_WEBSOCKET
#define H2C          OB_H1_UPGRADE_H2C
#define OTHER        OB_H1_UPGRADE_OTHER
#define CHUNKED_POST "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

static const struct good goods[] = {
    {"simple get", R("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "GET", "/", "", "", 1, 1, 0, 0, NONE},
    {"1.0 defaults to close", R("GET /a/b?c=d&e HTTP/1.0\r\n\r\n"), "GET", "/a/b", "c=d&e", "", 0,
     0, 0, 0, NONE},
    {"1.0 keep-alive", R("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), "GET", "/", "", "", 0,
     1, 0, 0, NONE},
    {"1.0 keep-alive, close wins", R("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
     "GET", "/", "", "", 0, 0, 0, 0, NONE},
    {"1.1 close", R("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "GET", "/", "", "",
     1, 0, 0, 0, NONE},
    {"1.1 close among tokens", R("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo ,  CLOSE\r\n\r\n"),
     "GET", "/", "", "", 1, 0, 0, 0, NONE},
    {"content-length", R("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), "POST",
     "/p", "", "hello", 1, 1, 0, 0, LEN},
    {"content-length zero", R("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), "POST",
     "/p", "", "", 1, 1, 0, 0, NONE},
    {"identical content-lengths",
     R("PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"), "PUT",
     "/p", "", "abc", 1, 1, 0, 0, LEN},
    {"content-length list", R("PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc"),
     "PUT", "/p", "", "abc", 1, 1, 0, 0, LEN},
    {"content-length leading zeros",
     R("PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\nabc"), "PUT", "/p", "", "abc", 1,
     1, 0, 0, LEN},
    {"chunked", R(CHUNKED_POST "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "POST", "/c", "",
     "hello world", 1, 1, 0, 0, CHUNKED},
    {"chunked extensions and trailers",
     R(CHUNKED_POST "5;a=b;c=\"d;e\"\r\nhello\r\n0;x\r\nX-Trailer: t\r\nY: \r\n\r\n"), "POST", "/c",
     "", "hello", 1, 1, 0, 0, CHUNKED},
    {"chunk sizes in any case, leading zeros",
     R(CHUNKED_POST "a\r\n0123456789\r\n00A\r\n0123456789\r\n0000\r\n\r\n"), "POST", "/c", "",
     "01234567890123456789", 1, 1, 0, 0, CHUNKED},
    {"chunk size, whitespace, extension", R(CHUNKED_POST "5 \t;ext\r\nhello\r\n0\r\n\r\n"), "POST",
     "/c", "", "hello", 1, 1, 0, 0, CHUNKED},
    {"chunked empty body", R(CHUNKED_POST "0\r\n\r\n"), "POST", "/c", "", "", 1, 1, 0, 0, CHUNKED},
    {"chunked, case-insensitive",
     R("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChUnKeD\r\n\r\n1\r\nz\r\n0\r\n\r\n"),
     "POST", "/c", "", "z", 1, 1, 0, 0, CHUNKED},
    {"expect 100-continue",
     R("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nhi"), "POST",
     "/", "", "hi", 1, 1, 1, 0, LEN},
    {"expect ignored in 1.0",
     R("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"), "POST", "/", "",
     "hi", 0, 0, 0, 0, LEN},
    {"unknown expectation ignored in 1.0", R("GET / HTTP/1.0\r\nExpect: foo\r\n\r\n"), "GET", "/",
     "", "", 0, 0, 0, 0, NONE},
    {"websocket upgrade",
     R("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
       "WebSocket\r\n\r\n"),
     "GET", "/ws", "", "", 1, 1, 0, WS, NONE},
    {"upgrade without connection token",
     R("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"), "GET", "/", "", "", 1, 1, 0, 0,
     NONE},
    {"h2c upgrade",
     R("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: "
       "h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"),
     "GET", "/", "", "", 1, 1, 0, H2C, NONE},
    {"upgrade list",
     R("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo/2, websocket\r\n\r\n"),
     "GET", "/", "", "", 1, 1, 0, WS | OTHER, NONE},
    {"upgrade ignored in 1.0",
     R("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"), "GET", "/", "", "",
     0, 0, 0, 0, NONE},
    {"leading empty lines", R("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), "GET", "/", "", "", 1,
     1, 0, 0, NONE},
    {"absolute-form",
     R("GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), "GET",
     "/a/b", "q=1", "", 1, 1, 0, 0, NONE},
    {"absolute-form without path",
     R("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), "GET", "", "", "", 1, 1, 0,
     0, NONE},
    {"absolute-form with query only", R("GET https://e.com?x HTTP/1.1\r\nHost: e.com\r\n\r\n"),
     "GET", "", "x", "", 1, 1, 0, 0, NONE},
    {"OPTIONS *", R("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), "OPTIONS", "*", "", "", 1, 1, 0, 0,
     NONE},
    {"CONNECT authority", R("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
     "CONNECT", "", "", "", 1, 1, 0, 0, NONE},
    {"HTTP/1.2 served as 1.1", R("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), "GET", "/", "", "", 1, 1, 0,
     0, NONE},
    {"extension method", R("M-SEARCH /x HTTP/1.1\r\nHost: x\r\n\r\n"), "M-SEARCH", "/x", "", "", 1,
     1, 0, 0, NONE},
    {"empty query", R("GET /p? HTTP/1.1\r\nHost: x\r\n\r\n"), "GET", "/p", "", "", 1, 1, 0, 0,
     NONE},
    {"IPv6 host", R("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), "GET", "/", "", "", 1, 1, 0, 0,
     NONE},
    {"empty host", R("GET / HTTP/1.1\r\nHost:\r\n\r\n"), "GET", "/", "", "", 1, 1, 0, 0, NONE},
    {"percent-encoded target", R("GET /a%20b?x=%41 HTTP/1.1\r\nHost: x\r\n\r\n"), "GET", "/a%20b",
     "x=%41", "", 1, 1, 0, 0, NONE},
    {"header names in any case", R("PUT / HTTP/1.1\r\nhOsT: x\r\ncOnTeNt-LeNgTh: 1\r\n\r\nz"),
     "PUT", "/", "", "z", 1, 1, 0, 0, LEN},
};

static void test_good_requests(void **state)
{
    (void)state;
    struct run *r = malloc(sizeof *r);
    for (size_t c = 0; c < sizeof goods / sizeof goods[0]; c++) {
        const struct good *g = &goods[c];
        run_whole(NULL, g->raw, g->n, r);
        if (r->rc != 0 || r->nreq != 1)
            fail_msg("%s: rc %d status %d nreq %zu", g->name, r->rc, r->status, r->nreq);
        const struct snap *s = &r->req[0];
        if (strcmp(s->method, g->method) || strcmp(s->path, g->path) || strcmp(s->query, g->query))
            fail_msg("%s: got %s %s ? %s", g->name, s->method, s->path, s->query);
        if (s->body_len != strlen(g->body) || memcmp(s->body, g->body, s->body_len))
            fail_msg("%s: body %.*s", g->name, (int)s->body_len, s->body);
        if (s->minor != g->minor || s->ka != (g->ka != 0) || s->expect != (g->expect != 0) ||
            s->upgrade != g->upgrade || s->body_kind != g->kind)
            fail_msg("%s: minor %d ka %d expect %d upgrade %u kind %d", g->name, s->minor, s->ka,
                     s->expect, s->upgrade, s->body_kind);
        assert_int_equal(s->used, g->n);
    }
    free(r);
}

/* Header lines keep their order; values lose surrounding whitespace only. */
static void test_header_values(void **state)
{
    (void)state;
    struct run r;
    run_whole(NULL,
              R("GET / HTTP/1.1\r\nHost: x\r\nX-A:   a  b \t\r\nX-E:\r\nX-F: \r\n"
                "X-U: caf\xc3\xa9\r\nX-T: a\tb\r\nX-Q: \"q\" (c)\r\n\r\n"),
              &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.req[0].headers, "Host: x\nX-A: a  b\nX-E: \nX-F: \nX-U: caf\xc3\xa9\n"
                                          "X-T: a\tb\nX-Q: \"q\" (c)\n");
    assert_int_equal(r.req[0].nheaders, 7);
}

/* ---- bad requests ---------------------------------------------------------------- */

struct bad {
    const char *name;
    const uint8_t *raw;
    size_t n;
    int status;
};

#define GET_HOST  "GET / HTTP/1.1\r\nHost: x\r\n"
#define POST_HOST "POST / HTTP/1.1\r\nHost: x\r\n"

static const struct bad bads[] = {
    /* Host (RFC 9112 §3.2) */
    {"no Host", R("GET / HTTP/1.1\r\n\r\n"), 400},
    {"two Hosts", R(GET_HOST "Host: x\r\n\r\n"), 400},
    {"two Hosts in 1.0", R("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400},
    {"Host with space", R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400},
    {"Host with slash", R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400},
    {"Host with userinfo", R("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400},
    /* smuggling: framing headers (RFC 9112 §6) */
    {"CL and TE", R(POST_HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"TE and CL", R(POST_HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400},
    {"TE: chunked, gzip", R(POST_HOST "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400},
    {"TE: gzip, chunked", R(POST_HOST "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501},
    {"TE: gzip", R(POST_HOST "Transfer-Encoding: gzip\r\n\r\n"), 400},
    {"TE: identity", R(POST_HOST "Transfer-Encoding: identity\r\n\r\n"), 400},
    {"TE: chunked twice",
     R(POST_HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"TE: chunked, then gzip on a second line",
     R(POST_HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), 400},
    {"TE: chunked with parameters", R(POST_HOST "Transfer-Encoding: chunked;q=1\r\n\r\n"), 400},
    {"TE: empty", R(POST_HOST "Transfer-Encoding: \r\n\r\n"), 400},
    {"TE: quoted", R(POST_HOST "Transfer-Encoding: \"chunked\"\r\n\r\n"), 400},
    {"TE: xchunked", R(POST_HOST "Transfer-Encoding: xchunked\r\n\r\n"), 400},
    {"TE: chunked-false", R(POST_HOST "Transfer-Encoding: chunked-false\r\n\r\n"), 400},
    {"TE in HTTP/1.0", R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400},
    {"CL values differ", R(POST_HOST "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), 400},
    {"CL list differs", R(POST_HOST "Content-Length: 3, 4\r\n\r\nabcd"), 400},
    {"CL negative", R(POST_HOST "Content-Length: -1\r\n\r\n"), 400},
    {"CL with plus", R(POST_HOST "Content-Length: +3\r\n\r\nabc"), 400},
    {"CL with inner space", R(POST_HOST "Content-Length: 3 3\r\n\r\nabc"), 400},
    {"CL in hex", R(POST_HOST "Content-Length: 0x10\r\n\r\n"), 400},
    {"CL empty", R(POST_HOST "Content-Length: \r\n\r\n"), 400},
    {"CL overflow", R(POST_HOST "Content-Length: 99999999999999999999\r\n\r\n"), 400},
    {"CL 2^64", R(POST_HOST "Content-Length: 18446744073709551616\r\n\r\n"), 400},
    {"CL over max body", R(POST_HOST "Content-Length: 9000000\r\n\r\n"), 413},
    /* version (RFC 9112 §2.3) */
    {"HTTP/2.0", R("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505},
    {"HTTP/0.9", R("GET / HTTP/0.9\r\nHost: x\r\n\r\n"), 505},
    {"HTTP/3.0", R("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505},
    {"HTTP/1.10", R("GET / HTTP/1.10\r\nHost: x\r\n\r\n"), 400},
    {"lowercase http", R("GET / http/1.1\r\nHost: x\r\n\r\n"), 400},
    {"HTTP/1", R("GET / HTTP/1\r\nHost: x\r\n\r\n"), 400},
    {"space after version", R("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400},
    {"no version", R("GET /\r\nHost: x\r\n\r\n"), 400},
    /* request line */
    {"double space", R("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"bare LF line ends", R("GET / HTTP/1.1\nHost: x\n\n"), 400},
    {"bare LF between headers", R("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"), 400},
    {"bare CR in request line", R("GET / HTTP/1.1\rHost: x\r\n\r\n"), 400},
    {"bare CR before request line", R("\rGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"NUL in target", R("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"fragment in target", R("GET /a#f HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"leading space", R(" GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"DEL in target", R("GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"raw UTF-8 in target", R("GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"bad method character", R("G@T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"tab separator", R("GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"CR CR LF", R("GET / HTTP/1.1\r\r\nHost: x\r\n\r\n"), 400},
    {"asterisk with GET", R("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"authority-form with GET", R("GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"origin-form with CONNECT", R("CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"relative target", R("GET a/b HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    /* header grammar (RFC 9112 §5) */
    {"obs-fold", R(GET_HOST "X: a\r\n b\r\n\r\n"), 400},
    {"obs-fold with tab", R(GET_HOST "X: a\r\n\tb\r\n\r\n"), 400},
    {"space before colon", R(GET_HOST "X : a\r\n\r\n"), 400},
    {"tab before colon", R(GET_HOST "X\t: a\r\n\r\n"), 400},
    {"whitespace before first header", R("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400},
    {"NUL in value", R(GET_HOST "X: a\0b\r\n\r\n"), 400},
    {"bare CR in value", R(GET_HOST "X: a\rb\r\n\r\n"), 400},
    {"DEL in value", R(GET_HOST "X: a\x7f\r\n\r\n"), 400},
    {"control in value", R(GET_HOST "X: a\x1b[0m\r\n\r\n"), 400},
    {"control in name", R(GET_HOST "X\x01: a\r\n\r\n"), 400},
    {"empty name", R(GET_HOST ": a\r\n\r\n"), 400},
    {"no colon", R(GET_HOST "X\r\n\r\n"), 400},
    {"non-token name", R(GET_HOST "X(y): a\r\n\r\n"), 400},
    {"head ends with bare LF", R(GET_HOST "\n"), 400},
    {"head ends with CR CR", R(GET_HOST "\r\r"), 400},
    /* chunked framing (RFC 9112 §7.1) */
    {"chunk size not hex", R(CHUNKED_POST "z\r\n"), 400},
    {"chunk data too long", R(CHUNKED_POST "5\r\nhelloX\r\n0\r\n\r\n"), 400},
    {"chunk data LF only", R(CHUNKED_POST "5\r\nhello\n0\r\n\r\n"), 400},
    {"chunk size overflow", R(CHUNKED_POST "10000000000000000\r\n"), 400},
    {"chunk size over max body", R(CHUNKED_POST "ffffffffffffffff\r\n"), 413},
    {"chunk size with junk", R(CHUNKED_POST "5x\r\nhello\r\n0\r\n\r\n"), 400},
    {"chunk size empty", R(CHUNKED_POST "\r\n"), 400},
    {"chunk size, whitespace, no extension", R(CHUNKED_POST "5 \r\nhello\r\n0\r\n\r\n"), 400},
    {"chunk size bare LF", R(CHUNKED_POST "5\nhello\r\n0\r\n\r\n"), 400},
    {"chunk size negative", R(CHUNKED_POST "-5\r\n"), 400},
    {"chunk size with 0x", R(CHUNKED_POST "0x5\r\nhello\r\n0\r\n\r\n"), 400},
    {"NUL in chunk extension", R(CHUNKED_POST "5;a\0\r\nhello\r\n0\r\n\r\n"), 400},
    {"bare LF in chunk extension", R(CHUNKED_POST "5;a\nhello\r\n0\r\n\r\n"), 400},
    {"trailer obs-fold", R(CHUNKED_POST "0\r\nX: a\r\n b\r\n\r\n"), 400},
    {"trailer bare LF", R(CHUNKED_POST "0\r\nX: a\n\r\n"), 400},
    {"trailer space before colon", R(CHUNKED_POST "0\r\nX : a\r\n\r\n"), 400},
    /* expectations (RFC 9110 §10.1.1) */
    {"unknown expectation", R(GET_HOST "Expect: 200-ok\r\n\r\n"), 417},
};

static int status_code(int status)
{
    switch (status) {
    case 413:
    case 414:
    case 431:
        return OB_ETOOBIG;
    case 417:
    case 501:
        return OB_ENOTSUP;
    default:
        return OB_EPROTO;
    }
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct run *r = malloc(sizeof *r);
    for (size_t c = 0; c < sizeof bads / sizeof bads[0]; c++) {
        const struct bad *b = &bads[c];
        run_whole(NULL, b->raw, b->n, r);
        if (r->rc >= 0 || r->status != b->status)
            fail_msg("%s: rc %d status %d, expected %d", b->name, r->rc, r->status, b->status);
        if (r->rc != status_code(b->status)) fail_msg("%s: rc %d", b->name, r->rc);
    }
    free(r);
}

static void test_split_every_byte(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof goods / sizeof goods[0]; c++)
        check_splits(NULL, goods[c].raw, goods[c].n, goods[c].name);
    for (size_t c = 0; c < sizeof bads / sizeof bads[0]; c++)
        check_splits(NULL, bads[c].raw, bads[c].n, bads[c].name);
}

/* Two cut points everywhere, on a request with every chunked feature. */
static void test_split_two_cuts(void **state)
{
    (void)state;
    static const char raw[] = CHUNKED_POST "5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n";
    size_t n = sizeof raw - 1;
    struct run whole, split;
    run_whole(NULL, (const uint8_t *)raw, n, &whole);
    assert_int_equal(whole.rc, 0);
    assert_string_equal(whole.req[0].body, "hello world");
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            size_t cuts[2] = {a, b};
            run_cuts(NULL, (const uint8_t *)raw, n, cuts, 2, &split);
            if (memcmp(&whole, &split, sizeof whole)) fail_msg("cuts %zu %zu", a, b);
        }
    }
}

/* Every proper prefix of a good request is incomplete, never an error. */
static void test_prefixes_incomplete(void **state)
{
    (void)state;
    struct run r;
    for (size_t c = 0; c < sizeof goods / sizeof goods[0]; c++) {
        for (size_t k = 1; k < goods[c].n; k++) {
            run_whole(NULL, goods[c].raw, k, &r);
            if (r.rc != OB_EAGAIN) fail_msg("%s: prefix %zu gives %d", goods[c].name, k, r.rc);
        }
    }
}

/* ---- pipelining ------------------------------------------------------------------ */

static void test_pipelining(void **state)
{
    (void)state;
    static const char raw[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                              "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n0\r\n\r\n"
                              "GET /4?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                              "GET /5 HTTP/1.1\r\nHo";
    size_t n = sizeof raw - 1;
    struct run r;
    run_whole(NULL, (const uint8_t *)raw, n, &r);
    assert_int_equal(r.rc, OB_EAGAIN); /* the fifth request is incomplete */
    assert_int_equal(r.nreq, 4);
    assert_string_equal(r.req[0].path, "/1");
    assert_string_equal(r.req[1].path, "/2");
    assert_string_equal(r.req[1].body, "hello");
    assert_string_equal(r.req[2].body, "abc");
    assert_string_equal(r.req[3].query, "q");
    assert_false(r.req[3].ka);
    size_t total = 0;
    for (size_t k = 0; k < r.nreq; k++)
        total += r.req[k].used;
    assert_int_equal(total, n - strlen("GET /5 HTTP/1.1\r\nHo"));
    check_splits(NULL, (const uint8_t *)raw, n, "pipeline");
}

/* Bytes after a complete request are left alone, whatever they are. */
static void test_stops_at_request_end(void **state)
{
    (void)state;
    static const char raw[] =
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\x01garbage";
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, NULL);
    assert_int_equal(ob_h1_parse_head(&p, (const uint8_t *)raw, sizeof raw - 1), 0);
    const uint8_t *body = (const uint8_t *)raw + p.req.head_len;
    size_t left = sizeof raw - 1 - p.req.head_len, used;
    struct ob_slice d;
    assert_int_equal(ob_h1_parse_body(&p, body, left, &d, &used), 1);
    assert_int_equal(used, 2);
    assert_int_equal(ob_h1_parse_body(&p, body + 2, left - 2, &d, &used), 0);
    assert_int_equal(used, 0);
    /* Calling again after completion keeps answering "complete". */
    assert_int_equal(ob_h1_parse_head(&p, (const uint8_t *)raw, sizeof raw - 1), 0);
    ob_h1_parser_reset(&p);
    assert_int_equal(ob_h1_parse_head(&p, body + 2, left - 2), OB_EPROTO);
    assert_int_equal(p.status, 400);
    /* A failed parser stays failed. */
    assert_int_equal(ob_h1_parse_head(&p, (const uint8_t *)raw, sizeof raw - 1), OB_EPROTO);
    assert_int_equal(ob_h1_parse_body(&p, body, left, &d, &used), OB_EPROTO);
    ob_h1_parser_release(&p);
}

/* ---- limits ---------------------------------------------------------------------- */

static void build(struct ob_buf *b, const char *line, size_t nheaders, size_t pad)
{
    b->len = 0;
    ob_buf_printf(b, "%sHost: x\r\n", line);
    for (size_t k = 1; k < nheaders; k++)
        ob_buf_printf(b, "X-%zu: v\r\n", k);
    if (pad) {
        ob_buf_append(b, "X-Pad: ", 7);
        for (size_t k = 0; k < pad; k++)
            ob_buf_putc(b, 'p');
        ob_buf_append(b, "\r\n", 2);
    }
    ob_buf_append(b, "\r\n", 2);
}

static void test_limits_headers(void **state)
{
    (void)state;
    struct ob_h1_limits lim = {.max_head = 256, .max_headers = 4};
    struct ob_buf b = OB_BUF_INIT;
    struct run r;
    build(&b, "GET / HTTP/1.1\r\n", 4, 0);
    run_whole(&lim, b.p, b.len, &r);
    assert_int_equal(r.rc, 0);
    build(&b, "GET / HTTP/1.1\r\n", 5, 0);
    run_whole(&lim, b.p, b.len, &r);
    assert_int_equal(r.rc, OB_ETOOBIG);
    assert_int_equal(r.status, 431);
    check_splits(&lim, b.p, b.len, "too many headers");
    /* A head of exactly max_head bytes passes; one more byte is a 431. */
    build(&b, "GET / HTTP/1.1\r\n", 1, 0);
    size_t pad = 256 - b.len - 9;
    build(&b, "GET / HTTP/1.1\r\n", 1, pad);
    assert_int_equal(b.len, 256);
    run_whole(&lim, b.p, b.len, &r);
    assert_int_equal(r.rc, 0);
    build(&b, "GET / HTTP/1.1\r\n", 1, pad + 1);
    run_whole(&lim, b.p, b.len, &r);
    assert_int_equal(r.status, 431);
    check_splits(&lim, b.p, b.len, "head too large");
    /* The limit holds even when the bytes never end. */
    b.len = 0;
    ob_buf_append(&b, "GET / HTTP/1.1\r\nX: ", 19);
    for (int k = 0; k < 1000; k++)
        ob_buf_putc(&b, 'a');
    run_whole(&lim, b.p, b.len, &r);
    assert_int_equal(r.status, 431);
    /* A request line over the limit is a 414. */
    b.len = 0;
    ob_buf_append(&b, "GET /", 5);
    for (int k = 0; k < 300; k++)
        ob_buf_putc(&b, 'a');
    run_whole(&lim, b.p, b.len, &r);
    assert_int_equal(r.status, 414);
    ob_buf_release(&b);
}

static void test_limits_body(void **state)
{
    (void)state;
    struct ob_h1_limits lim = {.max_body = 10, .max_trailer = 16};
    struct run r;
    run_whole(&lim, R(POST_HOST "Content-Length: 10\r\n\r\n0123456789"), &r);
    assert_int_equal(r.rc, 0);
    run_whole(&lim, R(POST_HOST "Content-Length: 11\r\n\r\n0123456789a"), &r);
    assert_int_equal(r.status, 413);
    run_whole(&lim, R(CHUNKED_POST "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"), &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.req[0].body, "0123456789");
    run_whole(&lim, R(CHUNKED_POST "5\r\n01234\r\n6\r\n56789a\r\n0\r\n\r\n"), &r);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.rc, OB_ETOOBIG);
    /* Trailers (the final CRLF included): 16 bytes pass, 17 are a 431. */
    run_whole(&lim, R(CHUNKED_POST "0\r\nX: 012345678\r\n\r\n"), &r);
    assert_int_equal(r.rc, 0);
    run_whole(&lim, R(CHUNKED_POST "0\r\nX: 0123456789\r\n\r\n"), &r);
    assert_int_equal(r.status, 431);
    /* A chunk-size line bloated with extensions is refused. */
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_append(&b, CHUNKED_POST "1;", sizeof CHUNKED_POST + 1);
    for (int k = 0; k < 5000; k++)
        ob_buf_putc(&b, 'e');
    ob_buf_append(&b, "\r\nz\r\n0\r\n\r\n", 10);
    run_whole(NULL, b.p, b.len, &r);
    assert_int_equal(r.status, 400);
    ob_buf_release(&b);
    /* Many trailer fields count against max_headers. */
    struct ob_h1_limits few = {.max_headers = 3};
    run_whole(&few, R(CHUNKED_POST "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &r);
    assert_int_equal(r.rc, 0);
    run_whole(&few, R(CHUNKED_POST "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), &r);
    assert_int_equal(r.status, 431);
}

/* ---- zero-copy contract ---------------------------------------------------------- */

static void test_rebase(void **state)
{
    (void)state;
    static const char raw[] = "GET /a?b HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n";
    size_t n = sizeof raw - 1;
    uint8_t *one = malloc(n), *two = malloc(n);
    memcpy(one, raw, n);
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, NULL);
    assert_int_equal(ob_h1_parse_head(&p, one, n), 0);
    assert_ptr_equal(p.req.method.p, one);
    assert_ptr_equal(p.req.headers[1].value.p, one + n - 5);
    memcpy(two, one, n);
    memset(one, '#', n);
    free(one);
    ob_h1_parser_rebase(&p, two);
    assert_ptr_equal(p.req.method.p, two);
    assert_true(ob_slice_eq_str(p.req.path, "/a"));
    assert_true(ob_slice_eq_str(p.req.query, "b"));
    assert_true(ob_slice_eq_str(p.req.headers[1].name, "X-Y"));
    assert_true(ob_slice_eq_str(p.req.headers[1].value, "z"));
    ob_h1_parser_release(&p);
    free(two);
}

/* ---- helpers --------------------------------------------------------------------- */

static void test_header_helpers(void **state)
{
    (void)state;
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, NULL);
    static const char raw[] = "GET / HTTP/1.1\r\nHost: x\r\nAccept: a/b, c/d;q=0.5\r\n"
                              "Accept: e/f\r\nX-L: , one ,, two,\r\n\r\n";
    assert_int_equal(ob_h1_parse_head(&p, (const uint8_t *)raw, sizeof raw - 1), 0);
    const struct ob_header *h = ob_h1_header_get(&p.req, "accept");
    assert_non_null(h);
    assert_true(ob_slice_eq_str(h->value, "a/b, c/d;q=0.5"));
    assert_null(ob_h1_header_get(&p.req, "missing"));
    assert_true(ob_h1_header_has_token(&p.req, "ACCEPT", "e/f") == false); /* not a token */
    assert_true(ob_h1_header_has_token(&p.req, "x-l", "TWO"));
    assert_false(ob_h1_header_has_token(&p.req, "x-l", "three"));
    struct ob_slice list = ob_h1_header_get(&p.req, "x-l")->value, e;
    assert_true(ob_h1_list_next(&list, &e));
    assert_true(ob_slice_eq_str(e, "one"));
    assert_true(ob_h1_list_next(&list, &e));
    assert_true(ob_slice_eq_str(e, "two"));
    assert_false(ob_h1_list_next(&list, &e));
    assert_true(ob_h1_is_token(ob_slice_str("x-y_z~!")));
    assert_false(ob_h1_is_token(ob_slice_str("")));
    assert_false(ob_h1_is_token(ob_slice_str("a b")));
    assert_false(ob_h1_is_token(ob_slice_str("a:b")));
    ob_h1_parser_release(&p);
}

static void check_decode(const char *in, unsigned flags, const char *expect)
{
    uint8_t out[128];
    size_t n = 999;
    int rc = ob_h1_pct_decode(ob_slice_str(in), out, &n, flags);
    if (!expect) {
        if (rc != OB_EINVAL) fail_msg("%s: decoded", in);
        return;
    }
    if (rc != 0 || n != strlen(expect) || memcmp(out, expect, n)) fail_msg("%s: bad decode", in);
}

static void test_pct_decode(void **state)
{
    (void)state;
    check_decode("", 0, "");
    check_decode("abc", 0, "abc");
    check_decode("a%20b", 0, "a b");
    check_decode("%41%62%2f%2F", 0, "Ab//");
    check_decode("a+b", 0, "a+b");
    check_decode("a+b", OB_H1_PCT_PLUS, "a b");
    check_decode("%2B", OB_H1_PCT_PLUS, "+");
    check_decode("%e2%82%ac", 0, "\xe2\x82\xac");
    check_decode("%", 0, NULL);
    check_decode("%4", 0, NULL);
    check_decode("a%4", 0, NULL);
    check_decode("%zz", 0, NULL);
    check_decode("%4g", 0, NULL);
    check_decode("%00", 0, NULL);
    /* In place. */
    char buf[] = "x%3Dy%26z";
    size_t n;
    assert_int_equal(ob_h1_pct_decode(ob_slice_str(buf), (uint8_t *)buf, &n, 0), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "x=y&z", 5);
}

static void test_query_next(void **state)
{
    (void)state;
    struct ob_slice q = ob_slice_str("a=1&&b=&c&d=x=y&=v&"), k, v;
    static const char *const want[][2] = {
        {"a", "1"}, {"b", ""}, {"c", ""}, {"d", "x=y"}, {"", "v"}};
    for (size_t i = 0; i < 5; i++) {
        assert_true(ob_h1_query_next(&q, &k, &v));
        assert_true(ob_slice_eq_str(k, want[i][0]));
        assert_true(ob_slice_eq_str(v, want[i][1]));
    }
    assert_false(ob_h1_query_next(&q, &k, &v));
    q = ob_slice_str("");
    assert_false(ob_h1_query_next(&q, &k, &v));
    q = ob_slice_str("subject=orders.%2A&subject=a.%3E");
    assert_true(ob_h1_query_next(&q, &k, &v));
    uint8_t out[32];
    size_t n;
    assert_int_equal(ob_h1_pct_decode(v, out, &n, OB_H1_PCT_PLUS), 0);
    assert_memory_equal(out, "orders.*", n);
}

/* ---- response encoding ----------------------------------------------------------- */

static void expect_head(const struct ob_h1_response *r, int framing, const char *text)
{
    struct ob_buf b = OB_BUF_INIT;
    int rc = ob_h1_encode_head(&b, r);
    if (rc != framing) fail_msg("framing %d, expected %d", rc, framing);
    if (text) {
        ob_buf_putc(&b, 0);
        assert_string_equal((const char *)b.p, text);
    } else {
        assert_int_equal(b.len, 0);
    }
    ob_buf_release(&b);
}

static void test_encode_head(void **state)
{
    (void)state;
    struct ob_header hs[] = {{ob_slice_str("Content-Type"), ob_slice_str("text/plain")}};
    struct ob_h1_response r = {.status = 200,
                               .headers = hs,
                               .nheaders = 1,
                               .body = OB_H1_BODY_LENGTH,
                               .content_length = 5,
                               .version_minor = 1,
                               .keep_alive = true};
    expect_head(&r, OB_H1_BODY_LENGTH,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
    r.body = OB_H1_BODY_CHUNKED;
    expect_head(
        &r, OB_H1_BODY_CHUNKED,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
    r.version_minor = 0; /* an HTTP/1.0 client cannot dechunk: close-delimited */
    expect_head(&r, OB_H1_BODY_CLOSE,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
    r.body = OB_H1_BODY_NONE;
    expect_head(&r, OB_H1_BODY_NONE,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
                "Connection: keep-alive\r\n\r\n");
    struct ob_h1_response e = {.status = 404, .reason = "Nope", .version_minor = 1};
    expect_head(&e, OB_H1_BODY_NONE,
                "HTTP/1.1 404 Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    struct ob_h1_response nc = {.status = 204, .version_minor = 1, .keep_alive = true};
    expect_head(&nc, OB_H1_BODY_NONE, "HTTP/1.1 204 No Content\r\n\r\n");
    nc.body = OB_H1_BODY_LENGTH;
    expect_head(&nc, OB_EINVAL, NULL);
    struct ob_header up[] = {{ob_slice_str("Connection"), ob_slice_str("Upgrade")},
                             {ob_slice_str("Upgrade"), ob_slice_str("h2c")}};
    struct ob_h1_response sw = {.status = 101, .headers = up, .nheaders = 2, .version_minor = 1};
    expect_head(&sw, OB_H1_BODY_NONE,
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    struct ob_h1_response odd = {.status = 599, .version_minor = 1, .keep_alive = true};
    expect_head(&odd, OB_H1_BODY_NONE, "HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n\r\n");
    assert_string_equal(ob_h1_reason(431), "Request Header Fields Too Large");
}

static void test_encode_head_refuses(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"X", "a\r\nSet-Cookie: evil"},
        {"X", "a\nb"},
        {"X", "a\rb"},
        {"X Y", "v"},
        {"", "v"},
        {"X:", "v"},
        {"Content-Length", "1"},
        {"transfer-encoding", "chunked"},
        {"Connection", "close"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct ob_header h = {ob_slice_str(bad[k][0]), ob_slice_str(bad[k][1])};
        struct ob_h1_response r = {.status = 200, .headers = &h, .nheaders = 1, .version_minor = 1};
        expect_head(&r, OB_EINVAL, NULL);
    }
    struct ob_header nul = {ob_slice_str("X"), ob_slice_make("a\0b", 3)};
    struct ob_h1_response r = {.status = 200, .headers = &nul, .nheaders = 1};
    expect_head(&r, OB_EINVAL, NULL);
    struct ob_h1_response s = {.status = 99};
    expect_head(&s, OB_EINVAL, NULL);
    s.status = 600;
    expect_head(&s, OB_EINVAL, NULL);
    s.status = 200;
    s.reason = "OK\r\nX: y";
    expect_head(&s, OB_EINVAL, NULL);
    struct ob_h1_response cont = {.status = 100, .body = OB_H1_BODY_CHUNKED};
    expect_head(&cont, OB_EINVAL, NULL);
}

/* Chunks written by the encoder parse back to the same body, at any size. */
static void test_chunked_roundtrip(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT, body = OB_BUF_INIT;
    uint32_t seed = 12345;
    uint8_t data[70000];
    for (size_t k = 0; k < sizeof data; k++) {
        seed = seed * 1103515245u + 12345u;
        data[k] = (uint8_t)(seed >> 16);
    }
    ob_buf_append(&b, CHUNKED_POST, sizeof CHUNKED_POST - 1);
    static const size_t sizes[] = {1, 15, 16, 17, 255, 256, 4095, 4096, 65535, 65536, 0, 7};
    size_t off = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0] && off < sizeof data; k++) {
        size_t n = sizes[k] < sizeof data - off ? sizes[k] : sizeof data - off;
        ob_h1_encode_chunk(&b, data + off, n);
        off += n;
    }
    ob_h1_encode_chunk_end(&b);
    struct ob_h1_limits lim = {.max_body = 1 << 20};
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, &lim);
    assert_int_equal(ob_h1_parse_head(&p, b.p, b.len), 0);
    size_t at = p.req.head_len, used;
    struct ob_slice d;
    int rc;
    while ((rc = ob_h1_parse_body(&p, b.p + at, b.len - at, &d, &used)) == 1) {
        ob_buf_append(&body, d.p, d.n);
        at += used;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(at + used, b.len);
    assert_int_equal(body.len, off);
    assert_memory_equal(body.p, data, off);
    uint8_t pre[OB_H1_CHUNK_PREFIX_MAX];
    assert_int_equal(ob_h1_chunk_prefix(pre, 0x1f), 4);
    assert_memory_equal(pre, "1f\r\n", 4);
    assert_int_equal(ob_h1_chunk_prefix(pre, UINT64_MAX), 18);
    assert_memory_equal(pre, "ffffffffffffffff\r\n", 18);
    ob_h1_parser_release(&p);
    ob_buf_release(&b);
    ob_buf_release(&body);
}

/* Random bytes and mutations of good requests: never a crash, consumption in bounds,
 * and a status on every error. */
static void test_mutations(void **state)
{
    (void)state;
    uint32_t seed = 99;
    struct run r;
    for (size_t c = 0; c < sizeof goods / sizeof goods[0]; c++) {
        uint8_t buf[512];
        for (int round = 0; round < 300; round++) {
            size_t n = goods[c].n < sizeof buf ? goods[c].n : sizeof buf;
            memcpy(buf, goods[c].raw, n);
            for (int m = 0; m < 1 + round % 4; m++) {
                seed = seed * 1103515245u + 12345u;
                buf[(seed >> 8) % n] = (uint8_t)(seed >> 20);
            }
            run_whole(NULL, buf, n, &r);
            if (r.rc < 0 && r.rc != OB_EAGAIN) assert_true(r.status >= 400 && r.status <= 505);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_requests),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_split_every_byte),
        cmocka_unit_test(test_split_two_cuts),
        cmocka_unit_test(test_prefixes_incomplete),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_stops_at_request_end),
        cmocka_unit_test(test_limits_headers),
        cmocka_unit_test(test_limits_body),
        cmocka_unit_test(test_rebase),
        cmocka_unit_test(test_header_helpers),
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_query_next),
        cmocka_unit_test(test_encode_head),
        cmocka_unit_test(test_encode_head_refuses),
        cmocka_unit_test(test_chunked_roundtrip),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
