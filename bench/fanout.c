/*
 * fanout.c — the fan-out load generator for bench/sse_ws.sh: N subscribers over SSE or
 * WebSocket on one libuv loop, plus one publisher issuing HTTP POSTs on a keep-alive
 * connection, with up to --pipeline requests in flight (HTTP/1.1 pipelining; 1: each
 * waits for its answer), so the publisher goes as fast as the server takes messages.
 * The same program drives omnibus and nginx+nchan; only the paths (and, for omnibus
 * WebSocket, the subscribe message) differ.
 *
 *   bench_fanout --port P --mode sse|ws --sub-path PATH --pub-path PATH
 *                [--ws-sub JSON] [--conns 1000] [--msgs 200] [--size 100] [--pipeline 1]
 *                [--timeout 60]
 *
 * Counting: SSE events are counted by their "data:" lines (each message is one line of
 * data), WebSocket messages by data frames (the reply to --ws-sub is not counted).
 * Prints one line: subscribers, messages, deliveries expected and received, lost, the
 * time from the first publish to the last delivery, and deliveries per second.
 */
#include "base/alloc.h"
#include "base/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct sub {
    uv_tcp_t tcp;
    uv_connect_t conn;
    int state;       /* 0 head, 1 body */
    char head[4096]; /* response head until the blank line */
    size_t hlen;
    size_t match;       /* SSE: progress through "\ndata:" */
    uint64_t ws_need;   /* WS: payload bytes left in the current frame */
    uint8_t ws_hdr[14]; /* WS: a partial frame header */
    size_t ws_hlen;
    bool ws_skip_first; /* WS: the subscribe reply is not a message */
    long got;
};

static struct {
    uv_loop_t *loop;
    int port;
    bool ws;
    const char *sub_path, *pub_path, *ws_sub;
    long conns, msgs, size, timeout_s, pipeline, inflight;
    struct sub *subs;
    long ready, done_subs, delivered;
    int64_t t_first_pub, t_last;
    /* publisher */
    uv_tcp_t pub;
    uv_connect_t pub_conn;
    long published;
    bool pub_ready;
    char *pub_req;
    size_t pub_req_len;
    char resp[8192];
    size_t resp_len;
    uv_timer_t deadline;
} B;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    static char slab[256 * 1024];
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_copy(uv_stream_t *s, const void *p, size_t n)
{
    uv_write_t *w = ob_xmalloc(sizeof *w);
    w->data = ob_xmemdup(p, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    uv_write(w, s, &b, 1, write_done);
}

static void publish_next(void);

/* Publishing starts once every subscriber is subscribed and the publisher connected. */
static void maybe_start(void)
{
    if (B.ready == B.conns && B.pub_ready && !B.published) publish_next();
}

static void finished_check(void)
{
    if (B.done_subs == B.conns) uv_stop(B.loop);
}

static void count(struct sub *s, long n)
{
    s->got += n;
    B.delivered += n;
    B.t_last = ob_mono_ns();
    if (s->got >= B.msgs && s->got - n < B.msgs) {
        B.done_subs++;
        finished_check();
    }
}

/* SSE: counts "\ndata:" occurrences across reads (events never split a data line's
 * prefix across chunk framing: each event is written whole). */
static void sse_body(struct sub *s, const char *p, size_t n)
{
    static const char pat[] = "\ndata:";
    long found = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == pat[s->match]) {
            if (++s->match == sizeof pat - 1) found++, s->match = 0;
        } else {
            s->match = p[i] == '\n' ? 1 : 0;
        }
    }
    if (found) count(s, found);
}

/* WS: walks frames; counts complete data frames (FIN set, text or binary). */
static void ws_body(struct sub *s, const uint8_t *p, size_t n)
{
    while (n) {
        if (s->ws_need) {
            size_t k = n < s->ws_need ? n : (size_t)s->ws_need;
            s->ws_need -= k, p += k, n -= k;
            continue;
        }
        s->ws_hdr[s->ws_hlen++] = *p++, n--;
        if (s->ws_hlen < 2) continue;
        size_t need = 2 + ((s->ws_hdr[1] & 0x7f) == 126 ? 2 : (s->ws_hdr[1] & 0x7f) == 127 ? 8 : 0);
        if (s->ws_hlen < need) continue;
        uint64_t len = s->ws_hdr[1] & 0x7f;
        if (len >= 126) {
            len = 0;
            for (size_t i = 2; i < need; i++)
                len = len << 8 | s->ws_hdr[i];
        }
        int op = s->ws_hdr[0] & 0x0f;
        bool data = (op == 1 || op == 2 || op == 0) && (s->ws_hdr[0] & 0x80);
        s->ws_hlen = 0;
        s->ws_need = len;
        if (!data) continue;
        if (s->ws_skip_first) {
            s->ws_skip_first = false;
            B.ready++;
            maybe_start();
            continue;
        }
        count(s, 1);
    }
}

static void on_head_done(struct sub *s)
{
    s->state = 1;
    if (B.ws && B.ws_sub) {
        /* masked (zero key) text frame with the subscribe message */
        size_t n = strlen(B.ws_sub);
        uint8_t h[8] = {0x81, (uint8_t)(0x80 | n), 0, 0, 0, 0};
        send_copy((uv_stream_t *)&s->tcp, h, 6);
        send_copy((uv_stream_t *)&s->tcp, B.ws_sub, n);
        s->ws_skip_first = true;
        return;
    }
    B.ready++;
    maybe_start();
}

static void sub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct sub *s = st->data;
    if (n < 0) {
        fprintf(stderr, "subscriber closed: %s\n", uv_strerror((int)n));
        uv_close((uv_handle_t *)st, NULL);
        return;
    }
    const char *p = buf->base;
    size_t len = (size_t)n;
    while (s->state == 0 && len) {
        if (s->hlen < sizeof s->head - 1) s->head[s->hlen++] = *p;
        p++, len--;
        if (s->hlen >= 4 && !memcmp(s->head + s->hlen - 4, "\r\n\r\n", 4)) {
            if (!strstr(s->head, B.ws ? " 101 " : " 200 ")) {
                fprintf(stderr, "subscribe refused: %.*s\n", (int)s->hlen, s->head);
                exit(1);
            }
            on_head_done(s);
        }
    }
    if (!len) return;
    if (B.ws)
        ws_body(s, (const uint8_t *)p, len);
    else
        sse_body(s, p, len);
}

static void sub_connected(uv_connect_t *c, int status)
{
    struct sub *s = c->data;
    if (status) {
        fprintf(stderr, "connect: %s\n", uv_strerror(status));
        exit(1);
    }
    char req[1024];
    int n =
        B.ws ? snprintf(req, sizeof req,
                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n",
                        B.sub_path)
             : snprintf(req, sizeof req,
                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
                        B.sub_path);
    send_copy((uv_stream_t *)&s->tcp, req, (size_t)n);
    uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, sub_read);
}

static void connect_tcp(uv_tcp_t *t, uv_connect_t *c, void *data, uv_connect_cb cb)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", B.port, &a);
    uv_tcp_init(B.loop, t);
    uv_tcp_nodelay(t, 1);
    t->data = data;
    c->data = data;
    uv_tcp_connect(c, t, (const struct sockaddr *)&a, cb);
}

/* ---- publisher ------------------------------------------------------------------------ */

/* Reads responses; a response is complete after its head plus Content-Length bytes. */
static void pub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)st;
    if (n < 0) {
        fprintf(stderr, "publisher closed: %s\n", uv_strerror((int)n));
        exit(1);
    }
    if (B.resp_len + (size_t)n >= sizeof B.resp) {
        fprintf(stderr, "publisher: answers too large\n");
        exit(1);
    }
    memcpy(B.resp + B.resp_len, buf->base, (size_t)n);
    B.resp_len += (size_t)n;
    B.resp[B.resp_len] = 0;
    char *end = strstr(B.resp, "\r\n\r\n");
    if (!end) return;
    char *cl = strcasestr(B.resp, "content-length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    size_t total = (size_t)(end + 4 - B.resp) + body;
    if (B.resp_len < total) return;
    if (strncmp(B.resp + 9, "2", 1)) {
        fprintf(stderr, "publish refused: %.80s\n", B.resp);
        exit(1);
    }
    memmove(B.resp, B.resp + total, B.resp_len - total);
    B.resp_len -= total;
    B.inflight--;
    publish_next();
    if (B.resp_len) pub_read(st, 0, buf); /* more answers in this read */
}

static void publish_next(void)
{
    if (B.published == 0) B.t_first_pub = ob_mono_ns();
    while (B.published < B.msgs && B.inflight < B.pipeline) {
        B.published++;
        B.inflight++;
        send_copy((uv_stream_t *)&B.pub, B.pub_req, B.pub_req_len);
    }
}

static void pub_connected(uv_connect_t *c, int status)
{
    (void)c;
    if (status) {
        fprintf(stderr, "publisher connect: %s\n", uv_strerror(status));
        exit(1);
    }
    uv_read_start((uv_stream_t *)&B.pub, alloc_cb, pub_read);
    B.pub_ready = true;
    maybe_start();
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "timeout: %ld of %ld subscribers complete\n", B.done_subs, B.conns);
    uv_stop(B.loop);
}

static void build_pub_request(void)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %ld\r\n\r\n",
                     B.pub_path, B.size);
    B.pub_req_len = (size_t)n + (size_t)B.size;
    B.pub_req = ob_xmalloc(B.pub_req_len);
    memcpy(B.pub_req, head, (size_t)n);
    memset(B.pub_req + n, 'x', (size_t)B.size);
}

static void parse_args(int argc, char **argv)
{
    B.conns = 1000, B.msgs = 200, B.size = 100, B.timeout_s = 60, B.pipeline = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port"))
            B.port = atoi(v);
        else if (!strcmp(k, "--mode"))
            B.ws = !strcmp(v, "ws");
        else if (!strcmp(k, "--sub-path"))
            B.sub_path = v;
        else if (!strcmp(k, "--pub-path"))
            B.pub_path = v;
        else if (!strcmp(k, "--ws-sub"))
            B.ws_sub = v;
        else if (!strcmp(k, "--conns"))
            B.conns = atol(v);
        else if (!strcmp(k, "--msgs"))
            B.msgs = atol(v);
        else if (!strcmp(k, "--size"))
            B.size = atol(v);
        else if (!strcmp(k, "--timeout"))
            B.timeout_s = atol(v);
        else if (!strcmp(k, "--pipeline"))
            B.pipeline = atol(v) > 0 ? atol(v) : 1;
        else {
            fprintf(stderr, "unknown option %s\n", k);
            exit(2);
        }
    }
    if (!B.port || !B.sub_path || !B.pub_path || (B.ws_sub && strlen(B.ws_sub) > 125)) {
        fprintf(stderr,
                "usage: bench_fanout --port P --mode sse|ws --sub-path P --pub-path P "
                "[--ws-sub JSON(<126 B)] [--conns N] [--msgs N] [--size B] [--timeout S]\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    B.loop = uv_default_loop();
    build_pub_request();
    B.subs = ob_xcalloc((size_t)B.conns, sizeof *B.subs);
    connect_tcp(&B.pub, &B.pub_conn, NULL, pub_connected);
    for (long i = 0; i < B.conns; i++)
        connect_tcp(&B.subs[i].tcp, &B.subs[i].conn, &B.subs[i], sub_connected);
    uv_timer_init(B.loop, &B.deadline);
    uv_timer_start(&B.deadline, on_deadline, (uint64_t)B.timeout_s * 1000, 0);
    uv_run(B.loop, UV_RUN_DEFAULT);
    long expected = B.conns * B.msgs;
    double secs = B.t_last > B.t_first_pub ? (double)(B.t_last - B.t_first_pub) / 1e9 : 0;
    printf("subscribers=%ld messages=%ld expected=%ld delivered=%ld lost=%ld secs=%.3f "
           "rate=%.0f\n",
           B.conns, B.msgs, expected, B.delivered, expected - B.delivered, secs,
           secs > 0 ? (double)B.delivered / secs : 0.0);
    return B.delivered == expected ? 0 : 1;
}
