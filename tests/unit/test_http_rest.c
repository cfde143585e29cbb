/*
 * test_http_rest.c — the event bus API on one side, real HTTP on the other, in one
 * process: the bus loop (and every bus call) runs on the main thread, a client thread
 * speaks HTTP/1.1, SSE and WebSocket over loopback sockets with timeouts.
 *
 *  - a message published with ob_publish arrives over SSE (live and stream-backed, with
 *    a resume from Last-Event-ID) and over the WebSocket protocol;
 *  - messages published over REST and WebSocket reach an ob_subscribe callback with
 *    their headers and key;
 *  - a consumer created with the API is pulled and acked over REST, and the ack is
 *    visible through ob_consumer_get_info.
 */
#include "core/auth.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static struct {
    struct ob_bus *bus;
    struct ob_net *net;
    struct ob_auth *auth;
    struct ob_net_limits limits;
    struct ob_proto_host host;
    uint16_t port;
} fx;

/* What the client thread reports back; the main thread reads it after the join. */
struct client {
    atomic_int ready; /* the client is subscribed: the main thread may publish */
    atomic_int done;
    char got[4096];
    int ok;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until *flag is set or 5 s passed; true if it was set. */
static bool run_until(atomic_int *flag)
{
    int64_t end = now_ms() + 5000;
    while (!atomic_load(flag) && now_ms() < end) {
        ob_bus_run(fx.bus, OB_RUN_NOWAIT);
        usleep(500);
    }
    return atomic_load(flag);
}

/* ---- client helpers (client thread only) -------------------------------------------- */

static int cl_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(fx.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void cl_send(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

/* Reads into buf (NUL-terminated) until it contains needle; the length, or -1. */
static int cl_read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle)
{
    while (!memmem(buf, *len, needle, strlen(needle))) {
        if (*len + 1 >= cap) return -1;
        ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (r <= 0) return -1;
        *len += (size_t)r;
        buf[*len] = 0;
    }
    return (int)*len;
}

/* Sends a masked WebSocket text frame (mask 0: legal, and keeps the bytes readable). */
static void ws_send_text(int fd, const char *text)
{
    size_t n = strlen(text);
    uint8_t h[8] = {0x81};
    size_t hl;
    if (n < 126) {
        h[1] = (uint8_t)(0x80 | n);
        hl = 2;
    } else {
        h[1] = 0x80 | 126, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n;
        hl = 4;
    }
    memset(h + hl, 0, 4);
    cl_send(fd, h, hl + 4);
    cl_send(fd, text, n);
}

/* Reads one unmasked server text frame into out (NUL-terminated); its length or -1. */
static int ws_recv_text(int fd, char *out, size_t cap)
{
    uint8_t h[4];
    if (recv(fd, h, 2, MSG_WAITALL) != 2) return -1;
    size_t n = h[1] & 0x7f;
    if (n == 126) {
        if (recv(fd, h + 2, 2, MSG_WAITALL) != 2) return -1;
        n = (size_t)h[2] << 8 | h[3];
    }
    if (n >= cap || n == 127) return -1;
    if (n && recv(fd, out, n, MSG_WAITALL) != (ssize_t)n) return -1;
    out[n] = 0;
    return (int)n;
}

static int ws_open(void)
{
    int fd = cl_connect();
    const char *req = "GET /v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    cl_send(fd, req, strlen(req));
    char buf[1024] = "";
    size_t len = 0;
    if (cl_read_until(fd, buf, sizeof buf, &len, "\r\n\r\n") < 0 || !strstr(buf, " 101 ")) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- bus side (main thread) ------------------------------------------------------------ */

static void publish(const char *subject, const char *payload)
{
    struct ob_msg *m;
    assert_int_equal(ob_msg_new_simple(&m, subject, payload, strlen(payload)), 0);
    assert_int_equal(ob_publish(fx.bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
}

struct capture {
    atomic_int n;
    char payload[256], header[256], key[64];
};

static void on_capture(void *arg, const struct ob_delivery *d)
{
    struct capture *c = arg;
    struct ob_slice p = ob_msg_payload(d->msg), k = ob_msg_key(d->msg);
    snprintf(c->payload, sizeof c->payload, "%.*s", (int)p.n, (const char *)p.p);
    snprintf(c->key, sizeof c->key, "%.*s", (int)k.n, (const char *)k.p);
    const struct ob_header *h = ob_msg_header_get(d->msg, "x-test");
    if (h) snprintf(c->header, sizeof c->header, "%.*s", (int)h->value.n, (const char *)h->value.p);
    atomic_fetch_add(&c->n, 1);
}

/* ---- cases ------------------------------------------------------------------------------ */

struct sse_args {
    struct client *cl;
    const char *path;
    const char *want; /* a line the event stream must contain */
};

static void *sse_client(void *arg)
{
    struct sse_args *a = arg;
    int fd = cl_connect();
    char req[512], buf[4096] = "";
    size_t len = 0;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n",
             a->path);
    cl_send(fd, req, strlen(req));
    if (cl_read_until(fd, buf, sizeof buf, &len, "retry: ") >= 0) {
        atomic_store(&a->cl->ready, 1);
        a->cl->ok = cl_read_until(fd, buf, sizeof buf, &len, a->want) >= 0;
    }
    snprintf(a->cl->got, sizeof a->cl->got, "%s", buf);
    close(fd);
    atomic_store(&a->cl->done, 1);
    return NULL;
}

static void run_sse(const char *path, const char *subject, const char *payload, const char *want)
{
    struct client cl = {0};
    struct sse_args a = {&cl, path, want};
    pthread_t t;
    pthread_create(&t, NULL, sse_client, &a);
    assert_true(run_until(&cl.ready));
    publish(subject, payload);
    assert_true(run_until(&cl.done));
    pthread_join(t, NULL);
    if (!cl.ok) fprintf(stderr, "SSE got:\n%s\n", cl.got);
    assert_true(cl.ok);
}

static void test_bus_to_sse_live(void **state)
{
    (void)state;
    run_sse("/v1/subscribe?subject=live.*", "live.x", "from the bus",
            "\"payload\":\"from the bus\"");
}

static void test_bus_to_sse_stream_resume(void **state)
{
    (void)state;
    const char *subs[] = {"dur.>"};
    struct ob_stream_config cfg = {.name = "DUR", .subjects = subs, .nsubjects = 1, .memory = true};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(fx.bus, &cfg, &st), 0);
    run_sse("/v1/subscribe?subject=dur.>", "dur.a", "one", "id: DUR:1");
    publish("dur.b", "two");
    publish("dur.c", "three");
    ob_bus_flush(fx.bus);
    /* a resume from DUR:1 gets 2 and 3 from the log, then the live 4 */
    run_sse("/v1/subscribe?subject=dur.>&lastEventId=DUR:1", "dur.d", "four",
            "id: DUR:4\nevent: message\ndata: {\"subject\":\"dur.d\"");
}

struct ws_args {
    struct client *cl;
};

static void *ws_sub_client(void *arg)
{
    struct client *cl = arg;
    int fd = ws_open();
    char buf[4096];
    if (fd >= 0) {
        ws_send_text(fd, "{\"op\":\"sub\",\"id\":\"a\",\"subject\":\"wsin.>\"}");
        if (ws_recv_text(fd, buf, sizeof buf) > 0 && strstr(buf, "\"subscribed\"")) {
            atomic_store(&cl->ready, 1);
            cl->ok = ws_recv_text(fd, buf, sizeof buf) > 0 && strstr(buf, "\"op\":\"msg\"") &&
                     strstr(buf, "\"payload\":\"to ws\"");
            snprintf(cl->got, sizeof cl->got, "%s", buf);
        }
        close(fd);
    }
    atomic_store(&cl->done, 1);
    return NULL;
}

static void test_bus_to_ws(void **state)
{
    (void)state;
    struct client cl = {0};
    pthread_t t;
    pthread_create(&t, NULL, ws_sub_client, &cl);
    assert_true(run_until(&cl.ready));
    publish("wsin.x", "to ws");
    assert_true(run_until(&cl.done));
    pthread_join(t, NULL);
    if (!cl.ok) fprintf(stderr, "WS got: %s\n", cl.got);
    assert_true(cl.ok);
}

static void *rest_pub_client(void *arg)
{
    struct client *cl = arg;
    int fd = cl_connect();
    const char *req =
        "POST /v1/subjects/in.rest HTTP/1.1\r\nHost: t\r\nOmnibus-Header-X-Test: hv\r\n"
        "Omnibus-Key: k9\r\nContent-Length: 9\r\n\r\nfrom rest";
    char buf[2048] = "";
    size_t len = 0;
    cl_send(fd, req, strlen(req));
    cl->ok = cl_read_until(fd, buf, sizeof buf, &len, "\"duplicate\":false}") >= 0 &&
             strstr(buf, "HTTP/1.1 202");
    snprintf(cl->got, sizeof cl->got, "%s", buf);
    close(fd);
    atomic_store(&cl->done, 1);
    return NULL;
}

static void *ws_pub_client(void *arg)
{
    struct client *cl = arg;
    int fd = ws_open();
    char buf[2048];
    if (fd >= 0) {
        ws_send_text(fd, "{\"op\":\"pub\",\"subject\":\"in.ws\",\"payload\":\"from ws\","
                         "\"headers\":{\"x-test\":\"wv\"},\"key\":\"k8\",\"req\":1}");
        cl->ok = ws_recv_text(fd, buf, sizeof buf) > 0 && strstr(buf, "\"op\":\"ack\"");
        snprintf(cl->got, sizeof cl->got, "%s", buf);
        close(fd);
    }
    atomic_store(&cl->done, 1);
    return NULL;
}

static void run_into_bus(void *(*fn)(void *), const char *payload, const char *hv, const char *key)
{
    struct capture cap = {0};
    struct ob_sub *sub;
    assert_int_equal(ob_subscribe(fx.bus, "in.>", OB_SUB_SYNC, on_capture, &cap, &sub), 0);
    struct client cl = {0};
    pthread_t t;
    pthread_create(&t, NULL, fn, &cl);
    assert_true(run_until(&cl.done));
    pthread_join(t, NULL);
    ob_unsubscribe(sub);
    if (!cl.ok) fprintf(stderr, "client got: %s\n", cl.got);
    assert_true(cl.ok);
    assert_int_equal(atomic_load(&cap.n), 1);
    assert_string_equal(cap.payload, payload);
    assert_string_equal(cap.header, hv);
    assert_string_equal(cap.key, key);
}

static void test_rest_to_bus(void **state)
{
    (void)state;
    run_into_bus(rest_pub_client, "from rest", "hv", "k9");
}

static void test_ws_to_bus(void **state)
{
    (void)state;
    run_into_bus(ws_pub_client, "from ws", "wv", "k8");
}

static void *pull_client(void *arg)
{
    struct client *cl = arg;
    int fd = cl_connect();
    char buf[4096] = "";
    size_t len = 0;
    const char *pull = "POST /v1/streams/Q/consumers/W/pull HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\nContent-Length: 18\r\n\r\n"
                       "{\"max_messages\":2}";
    cl_send(fd, pull, strlen(pull));
    bool got = cl_read_until(fd, buf, sizeof buf, &len, "\"ack_id\":\"Q:2\"") >= 0;
    len = 0;
    buf[0] = 0;
    const char *ack = "POST /v1/streams/Q/consumers/W/ack HTTP/1.1\r\nHost: t\r\n"
                      "Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
                      "{\"ack_ids\":[\"Q:1\",\"Q:2\"]}  ";
    cl_send(fd, ack, strlen(ack));
    cl->ok = got && cl_read_until(fd, buf, sizeof buf, &len, "\"acked\":2") >= 0;
    snprintf(cl->got, sizeof cl->got, "%s", buf);
    close(fd);
    atomic_store(&cl->done, 1);
    return NULL;
}

static void test_bus_consumer_over_rest(void **state)
{
    (void)state;
    const char *subs[] = {"q.>"};
    struct ob_stream_config scfg = {.name = "Q", .subjects = subs, .nsubjects = 1, .memory = true};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(fx.bus, &scfg, &st), 0);
    struct ob_consumer_config ccfg = {.name = "W", .ack = OB_ACK_EACH};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &ccfg, &c), 0);
    publish("q.1", "a");
    publish("q.2", "b");
    ob_bus_flush(fx.bus);
    struct client cl = {0};
    pthread_t t;
    pthread_create(&t, NULL, pull_client, &cl);
    assert_true(run_until(&cl.done));
    pthread_join(t, NULL);
    if (!cl.ok) fprintf(stderr, "pull/ack got: %s\n", cl.got);
    assert_true(cl.ok);
    struct ob_consumer_info in;
    ob_consumer_get_info(c, &in);
    assert_int_equal(in.ack_floor, 2);
    assert_int_equal(in.ack_pending, 0);
}

/* ---- fixture ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    setenv("OB_HTTP_ACCESS_LOG", "0", 1);
    signal(SIGPIPE, SIG_IGN); /* clients close mid-stream; the server must not die of it */
    struct ob_bus_options bo = {0};
    if (ob_bus_open(&fx.bus, &bo)) return -1;
    struct ob_auth_config ac = {.anonymous = OB_ANON_ALWAYS};
    if (ob_auth_new(&fx.auth, &ac)) return -1;
    fx.limits.max_msg_size = 1 << 20;
    fx.limits.max_frame_size = 1 << 20;
    fx.host = (struct ob_proto_host){fx.bus, &fx.auth, &fx.limits};
    if (ob_net_new(&fx.net, ob_bus_uv_loop(fx.bus), &fx.limits)) return -1;
    char err[256];
    if (ob_net_listen(fx.net, "http", &ob_http_protocol, &fx.host, "127.0.0.1", 0, err,
                      sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    fx.port = ob_net_listener_port(fx.net, "http");
    return 0;
}

static void on_shutdown(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
}

static int teardown(void **state)
{
    (void)state;
    atomic_int down = 0;
    ob_net_shutdown(fx.net, 100, on_shutdown, &down);
    run_until(&down);
    ob_net_free(fx.net);
    ob_bus_close(fx.bus);
    ob_auth_unref(fx.auth);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_to_sse_live), cmocka_unit_test(test_bus_to_sse_stream_resume),
        cmocka_unit_test(test_bus_to_ws),       cmocka_unit_test(test_rest_to_bus),
        cmocka_unit_test(test_ws_to_bus),       cmocka_unit_test(test_bus_consumer_over_rest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
