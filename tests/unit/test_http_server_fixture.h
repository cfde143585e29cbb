/* test_http_server_fixture.h — the server under test for test_http_server*.c: an
 * in-memory bus and the "http" adapter on 127.0.0.1:<any port>, on a loop thread, with a
 * test module (fast, slow asynchronous, echo, big, streaming, param and private routes;
 * WebSocket echo endpoints), plus a blocking-socket HTTP client with timeouts. Included
 * once per test program; everything is static. */
#ifndef TEST_HTTP_SERVER_FIXTURE_H
#define TEST_HTTP_SERVER_FIXTURE_H

#include "core/auth.h"
#include "http/server.h"
#include "http/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static struct {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t thread;
    struct ob_net *net;
    struct ob_bus *bus;
    struct ob_auth *auth;
    struct ob_net_limits limits;
    struct ob_proto_host host;
    uint16_t port;
    atomic_int cancelled, ws_closed, ws_last_code, flood_congested, flood_writable;
    atomic_int ws_closed_4001; /* closes with the app code 4001 (earlier tests' late 1006s
                                  must not hide it) */
} fx;

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handlers ------------------------------------------------------------------------ */

static inline int h_fast(struct ob_http_req *req, void *arg)
{
    (void)arg;
    return ob_http_respond_text(req, 200, "text/plain", "fast");
}

struct slow {
    uv_timer_t t;
    struct ob_http_req *req;
    int ms;
};

static inline void slow_closed(uv_handle_t *h)
{
    free(h->data);
}

static inline void slow_fire(uv_timer_t *t)
{
    struct slow *s = t->data;
    char text[32];
    snprintf(text, sizeof text, "slow-%d", s->ms);
    ob_http_respond_text(s->req, 200, "text/plain", text);
    uv_close((uv_handle_t *)&s->t, slow_closed);
}

static inline void slow_cancel(void *arg)
{
    struct slow *s = arg;
    atomic_fetch_add(&fx.cancelled, 1);
    uv_timer_stop(&s->t);
    uv_close((uv_handle_t *)&s->t, slow_closed);
}

static inline int h_slow(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct slow *s = calloc(1, sizeof *s);
    s->req = req;
    s->ms = atoi(ob_http_param(req, "ms"));
    uv_timer_init(&fx.loop, &s->t);
    s->t.data = s;
    uv_timer_start(&s->t, slow_fire, (uint64_t)s->ms, 0);
    ob_http_req_on_cancel(req, slow_cancel, s);
    return OB_HTTP_PENDING;
}

static inline int h_echo(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_slice b = ob_http_req_body(req);
    struct ob_header h = {ob_slice_str("Content-Type"), ob_slice_str("text/plain")};
    return ob_http_respond(req, 200, &h, 1, b.p, b.n);
}

static inline int h_big(struct ob_http_req *req, void *arg)
{
    (void)arg;
    char *b = malloc(4096);
    for (int i = 0; i < 4096; i++)
        b[i] = (char)('a' + i % 26);
    struct ob_header h = {ob_slice_str("Content-Type"), ob_slice_str("text/plain")};
    struct ob_slice s = {(const uint8_t *)b, 4096};
    return ob_http_respond_zc(req, 200, &h, 1, &s, 1, free, b);
}

static inline int h_stream(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_header h = {ob_slice_str("Content-Type"), ob_slice_str("text/plain")};
    ob_http_stream_start(req, 200, &h, 1);
    for (int i = 0; i < 3; i++) {
        char line[16];
        snprintf(line, sizeof line, "part%d\n", i);
        ob_http_stream_write(req, line, strlen(line));
    }
    ob_http_stream_end(req);
    return OB_HTTP_DONE;
}

static inline int h_params(struct ob_http_req *req, void *arg)
{
    (void)arg;
    char out[256];
    const char *v[4] = {ob_http_param(req, "one"), ob_http_param(req, "two"),
                        ob_http_query(req, "name", 0), ob_http_query(req, "name", 1)};
    for (int i = 0; i < 4; i++)
        if (!v[i]) v[i] = "-";
    snprintf(out, sizeof out, "one=%s two=%s name0=%s name1=%s", v[0], v[1], v[2], v[3]);
    return ob_http_respond_text(req, 200, "text/plain", out);
}

static inline int h_literal(struct ob_http_req *req, void *arg)
{
    (void)arg;
    return ob_http_respond_text(req, 200, "text/plain", "literal");
}

static inline int h_rest(struct ob_http_req *req, void *arg)
{
    (void)arg;
    char out[256];
    snprintf(out, sizeof out, "rest=%s", ob_http_param(req, "*"));
    return ob_http_respond_text(req, 200, "text/plain", out);
}

static inline int h_private(struct ob_http_req *req, void *arg)
{
    (void)arg;
    char out[128];
    snprintf(out, sizeof out, "hello %s", ob_principal_name(ob_http_req_principal(req)));
    return ob_http_respond_text(req, 200, "text/plain", out);
}

/* Streams 64 KiB chunks until the client falls behind (congested), then waits for
 * on_writable to finish with "END\n". */
static inline void flood_drained(struct ob_http_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&fx.flood_writable, 1);
    ob_http_stream_on_writable(req, NULL, NULL);
    ob_http_stream_write(req, "END\n", 4);
    ob_http_stream_end(req);
}

static inline int h_flood(struct ob_http_req *req, void *arg)
{
    (void)arg;
    static char chunk[65536];
    memset(chunk, 'f', sizeof chunk);
    ob_http_stream_start(req, 200, NULL, 0);
    for (int i = 0; i < 256 && !ob_http_stream_congested(req); i++)
        ob_http_stream_write(req, chunk, sizeof chunk);
    if (!ob_http_stream_congested(req)) {
        ob_http_stream_end(req);
        return OB_HTTP_DONE;
    }
    atomic_store(&fx.flood_congested, (int)(ob_http_stream_queued(req) >> 10));
    ob_http_stream_on_writable(req, flood_drained, NULL);
    return OB_HTTP_PENDING;
}

/* ---- WebSocket endpoints ------------------------------------------------------------- */

static inline void ws_msg(struct ob_ws_conn *ws, int opcode, const uint8_t *data, size_t len)
{
    if (opcode == OB_WS_OP_TEXT && len == 8 && !memcmp(data, "close-me", 8)) {
        ob_ws_conn_close(ws, 4001, "bye");
        return;
    }
    ob_ws_conn_send(ws, opcode, data, len);
}

static inline void ws_closed(struct ob_ws_conn *ws, uint16_t code)
{
    (void)ws;
    atomic_store(&fx.ws_last_code, code);
    if (code == 4001) atomic_fetch_add(&fx.ws_closed_4001, 1);
    atomic_fetch_add(&fx.ws_closed, 1);
}

static const char *const fx_subprotocols[] = {"echo", "chat"};

static inline int fx_module(struct ob_http_router *r, const struct ob_proto_host *host)
{
    (void)host;
    int rc = 0;
    rc |= ob_http_route(r, OB_HTTP_GET, "/fast", OB_HTTP_PUBLIC, h_fast, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/slow/{ms}", OB_HTTP_PUBLIC, h_slow, NULL);
    rc |= ob_http_route(r, OB_HTTP_POST, "/echo", OB_HTTP_PUBLIC, h_echo, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/big", OB_HTTP_PUBLIC, h_big, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/stream", OB_HTTP_PUBLIC, h_stream, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/p/{one}/x/{two}", OB_HTTP_PUBLIC, h_params, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/p/lit/x/{two}", OB_HTTP_PUBLIC, h_literal, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/files/*", OB_HTTP_PUBLIC, h_rest, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/private", 0, h_private, NULL);
    rc |= ob_http_route(r, OB_HTTP_GET, "/flood", OB_HTTP_PUBLIC, h_flood, NULL);
    struct ob_ws_endpoint ep = {.subprotocols = fx_subprotocols,
                                .nsubprotocols = 2,
                                .deflate = true,
                                .max_message = 1024,
                                .on_message = ws_msg,
                                .on_close = ws_closed};
    rc |= ob_http_ws_route(r, "/ws", OB_HTTP_PUBLIC, &ep);
    ep.ping_interval_ms = 150;
    ep.pong_timeout_ms = 300;
    ep.deflate = false;
    rc |= ob_http_ws_route(r, "/ws-ping", OB_HTTP_PUBLIC, &ep);
    return rc;
}

static const struct ob_http_module fx_mod = {"test", fx_module};

/* ---- server life ----------------------------------------------------------------------- */

static inline void fx_net_done(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&fx.stop, NULL);
    uv_stop(&fx.loop);
}

static inline void fx_on_stop(uv_async_t *a)
{
    (void)a;
    ob_net_shutdown(fx.net, 1000, fx_net_done, NULL);
}

static inline void fx_run(void *arg)
{
    (void)arg;
    uv_run(&fx.loop, UV_RUN_DEFAULT);
}

static inline void fx_auth(void)
{
    char *tokens[] = {"s3cret"};
    struct ob_auth_user u = {.name = "alice", .password = "pw", .tokens = tokens, .ntokens = 1};
    struct ob_auth_config ac = {.anonymous = OB_ANON_NEVER, .users = &u, .nusers = 1};
    assert_int_equal(ob_auth_new(&fx.auth, &ac), 0);
}

static inline void fx_stream(void)
{
    const char *subjects[] = {"test.>"};
    struct ob_stream_config sc = {.name = "TEST", .subjects = subjects, .nsubjects = 1};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(fx.bus, &sc, &st), 0);
    struct ob_consumer_config cc = {.name = "C", .ack = OB_ACK_EACH};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    struct ob_msg *m;
    assert_int_equal(ob_msg_new_simple(&m, "test.one", "x", 1), 0);
    assert_int_equal(ob_publish(fx.bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
    ob_bus_flush(fx.bus);
}

/* The test module, a bus, the authenticator and an http listener on a free port, all on
 * fx.loop, which is not running yet. The HTTP options must be set before. */
static inline void fx_open_server(void)
{
    ob_http_clear_modules();
    ob_http_register_module(&fx_mod);
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    struct ob_bus_options bo = {.uv_loop = &fx.loop};
    assert_int_equal(ob_bus_open(&fx.bus, &bo), 0);
    fx_auth();
    fx.limits = (struct ob_net_limits){.max_msg_size = 64 * 1024, .max_frame_size = 1 << 20};
    assert_int_equal(ob_net_new(&fx.net, &fx.loop, &fx.limits), 0);
    fx.host.bus = fx.bus;
    fx.host.auth = &fx.auth;
    fx.host.limits = ob_net_limits(fx.net);
    char err[256];
    assert_int_equal(
        ob_net_listen(fx.net, "http", &ob_http_protocol, &fx.host, "127.0.0.1", 0, err, sizeof err),
        0);
    fx.port = ob_net_listener_port(fx.net, "http");
}

static inline int fx_setup(void **state)
{
    (void)state;
    struct ob_http_options o;
    ob_http_set_options(NULL);
    ob_http_get_options(&o);
    o.header_timeout_ms = 400;
    o.keepalive_timeout_ms = 1000;
    o.access_log = false;
    ob_http_set_options(&o);
    fx_open_server();
    fx_stream();
    uv_async_init(&fx.loop, &fx.stop, fx_on_stop);
    assert_int_equal(uv_thread_create(&fx.thread, fx_run, NULL), 0);
    return 0;
}

static inline void fx_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static inline int fx_teardown(void **state)
{
    (void)state;
    uv_async_send(&fx.stop);
    uv_thread_join(&fx.thread);
    ob_net_free(fx.net);
    ob_bus_close(fx.bus);
    ob_auth_unref(fx.auth);
    uv_walk(&fx.loop, fx_walk_close, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx.loop);
    ob_http_clear_modules();
    ob_http_set_options(NULL);
    return 0;
}

/* ---- the client ---------------------------------------------------------------------- */

static inline int cl_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(fx.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static inline void cl_send_n(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) return; /* the server may close first: the reads will tell */
        c += k;
        n -= (size_t)k;
    }
}

static inline void cl_send(int fd, const char *s)
{
    cl_send_n(fd, s, strlen(s));
}

static inline bool cl_poll(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) > 0;
}

/* Reads exactly n bytes; false on EOF or timeout. */
static inline bool cl_read_n(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t k = recv(fd, p, n, 0);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads byte by byte until pat ends what was read; returns the length or -1. */
static inline int cl_read_until(int fd, char *buf, size_t cap, const char *pat)
{
    size_t n = 0, pl = strlen(pat);
    while (n + 1 < cap) {
        if (!cl_read_n(fd, buf + n, 1)) return -1;
        n++;
        if (n >= pl && !memcmp(buf + n - pl, pat, pl)) {
            buf[n] = '\0';
            return (int)n;
        }
    }
    return -1;
}

struct resp {
    int status;
    char head[8192];
    char *body;
    size_t len;
};

static inline void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

static inline const char *hdr_value(const char *head, const char *name)
{
    const char *p = strstr(head, name);
    return p ? p + strlen(name) : NULL;
}

static inline int cl_read_chunked(int fd, struct resp *r)
{
    for (;;) {
        char line[64];
        if (cl_read_until(fd, line, sizeof line, "\r\n") < 0) return -1;
        size_t n = strtoul(line, NULL, 16);
        if (n == 0) return cl_read_until(fd, line, sizeof line, "\r\n") < 0 ? -1 : 0;
        r->body = realloc(r->body, r->len + n + 1);
        if (!cl_read_n(fd, r->body + r->len, n)) return -1;
        r->len += n;
        r->body[r->len] = '\0';
        if (cl_read_until(fd, line, sizeof line, "\r\n") < 0) return -1;
    }
}

static inline int cl_head(int fd, struct resp *r)
{
    memset(r, 0, sizeof *r);
    if (cl_read_until(fd, r->head, sizeof r->head, "\r\n\r\n") < 0) return -1;
    r->status = atoi(r->head + 9);
    r->body = calloc(1, 1);
    return 0;
}

static inline int cl_response(int fd, struct resp *r)
{
    if (cl_head(fd, r)) return -1;
    if (strstr(r->head, "Transfer-Encoding: chunked")) return cl_read_chunked(fd, r);
    const char *cl = hdr_value(r->head, "Content-Length: ");
    size_t n = cl ? strtoul(cl, NULL, 10) : 0;
    r->body = realloc(r->body, n + 1);
    if (n && !cl_read_n(fd, r->body, n)) return -1;
    r->len = n;
    r->body[n] = '\0';
    return 0;
}

static inline int cl_response_head_only(int fd, struct resp *r)
{
    return cl_head(fd, r);
}

/* true if the server closes the connection within 3 s (EOF or reset). */
static inline bool cl_eof(int fd)
{
    char c;
    for (;;) {
        ssize_t k = recv(fd, &c, 1, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET)) return true;
        if (k < 0) return false;
    }
}

static inline ssize_t cl_read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t k = recv(fd, buf + n, cap - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
    }
    return (ssize_t)n;
}

#endif
