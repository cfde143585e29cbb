/* test_net.c — the network layer with real sockets on 127.0.0.1: echo through the line
 * protocol, write back-pressure, connection limits, idle timeout, a peer vanishing
 * mid-frame, oversized frames, port in use, and shutdown. The server loop runs on its
 * own thread; the test thread is the client with blocking sockets and timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* ---- the server under test ---------------------------------------------------------- */

static struct {
    atomic_int accepted, closed, writable, congested_seen, last_status;
    atomic_size_t max_queued;
} stats;

static int t_accept(struct ob_conn *c)
{
    atomic_fetch_add(&stats.accepted, 1);
    return ob_echo_protocol.on_accept(c);
}

static void t_data(struct ob_conn *c, const uint8_t *p, size_t n)
{
    ob_echo_protocol.on_data(c, p, n);
    size_t q = ob_conn_queued_bytes(c);
    if (q > atomic_load(&stats.max_queued)) atomic_store(&stats.max_queued, q);
    if (ob_conn_congested(c)) atomic_store(&stats.congested_seen, 1);
}

static void t_writable(struct ob_conn *c)
{
    (void)c;
    atomic_fetch_add(&stats.writable, 1);
}

static void t_close(struct ob_conn *c, int status)
{
    atomic_store(&stats.last_status, status);
    ob_echo_protocol.on_close(c, status);
    atomic_fetch_add(&stats.closed, 1);
}

static const struct ob_protocol tproto = {
    .name = "techo",
    .on_accept = t_accept,
    .on_data = t_data,
    .on_writable = t_writable,
    .on_close = t_close,
};

/* Writes one message's subject and payload straight from the message (no copy) and
 * closes: the queued reference must be dropped after the write (ASan reports a leak
 * otherwise). */
static int m_accept(struct ob_conn *c)
{
    struct ob_msg *m;
    if (ob_msg_new_simple(&m, "greeting", "hello from a message\n", 21)) return -1;
    struct ob_slice iov[2] = {ob_msg_subject(m), ob_msg_payload(m)};
    ob_conn_write(c, iov, 2, ob_conn_release_msg, ob_msg_ref(m));
    ob_msg_unref(m);
    ob_conn_close(c, 0);
    return 0;
}

static void m_data(struct ob_conn *c, const uint8_t *p, size_t n)
{
    (void)c, (void)p, (void)n;
}

static const struct ob_protocol mproto = {.name = "msg", .on_accept = m_accept, .on_data = m_data};

struct server {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t thread;
    struct ob_net *net;
    struct ob_net_limits limits;
    struct ob_proto_host host;
    uint16_t port;
};

static void on_net_done(void *arg)
{
    struct server *s = arg;
    uv_close((uv_handle_t *)&s->stop, NULL);
}

static void on_stop(uv_async_t *a)
{
    struct server *s = a->data;
    ob_net_shutdown(s->net, 1000, on_net_done, s);
}

static void run_loop(void *arg)
{
    struct server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

static struct server *server_start_with(const struct ob_net_limits *limits,
                                        const struct ob_protocol *proto)
{
    memset(&stats, 0, sizeof stats);
    struct server *s = calloc(1, sizeof *s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    s->limits = *limits;
    assert_int_equal(ob_net_new(&s->net, &s->loop, &s->limits), 0);
    s->host.limits = ob_net_limits(s->net);
    char err[256];
    assert_int_equal(
        ob_net_listen(s->net, "echo", proto, &s->host, "127.0.0.1", 0, err, sizeof err), 0);
    s->port = ob_net_listener_port(s->net, "echo");
    assert_true(s->port > 0);
    uv_async_init(&s->loop, &s->stop, on_stop);
    s->stop.data = s;
    assert_int_equal(uv_thread_create(&s->thread, run_loop, s), 0);
    return s;
}

static struct server *server_start(const struct ob_net_limits *limits)
{
    return server_start_with(limits, &tproto);
}

static void server_stop(struct server *s)
{
    uv_async_send(&s->stop);
    uv_thread_join(&s->thread);
    assert_int_equal(ob_net_connection_count(s->net), 0);
    ob_net_free(s->net);
    uv_run(&s->loop, UV_RUN_NOWAIT); /* the net's flush handle closes */
    assert_int_equal(uv_loop_close(&s->loop), 0);
    free(s);
}

/* ---- the client side -------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int client(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        c += w;
        n -= (size_t)w;
    }
}

static void recv_exact(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = recv(fd, c, n, 0);
        if (r <= 0) fail_msg("recv: %zd (%s) with %zu bytes missing", r, strerror(errno), n);
        c += r;
        n -= (size_t)r;
    }
}

static void expect_reply(int fd, const char *want)
{
    char buf[256];
    size_t n = strlen(want);
    assert_true(n < sizeof buf);
    recv_exact(fd, buf, n);
    assert_memory_equal(buf, want, n);
}

/* true if the server closed the connection (EOF or reset) within ms. */
static bool closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        if (poll(&p, 1, (int)(end - now_ms())) <= 0) continue;
        char b[4096];
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN)) return true;
    }
    return false;
}

static void wait_for(atomic_int *v, int want, int ms)
{
    int64_t end = now_ms() + ms;
    while (atomic_load(v) < want && now_ms() < end)
        usleep(2000);
    assert_true(atomic_load(v) >= want);
}

static const struct ob_net_limits default_limits = {.write_buffer = 1 << 20,
                                                    .max_frame_size = 1 << 20};

/* ---- tests -------------------------------------------------------------------------- */

static void test_echo(void **state)
{
    (void)state;
    struct server *s = server_start(&default_limits);
    int fd = client(s->port, 0);
    send_all(fd, "hello\nwor", 9);
    send_all(fd, "ld\r\n\n", 5);
    expect_reply(fd, "hello\nworld\r\n\n");
    send_all(fd, "quit\nignored\n", 13);
    expect_reply(fd, "bye\n");
    assert_true(closed_within(fd, 2000));
    close(fd);
    wait_for(&stats.closed, 1, 2000);
    assert_int_equal(atomic_load(&stats.last_status), 0);
    server_stop(s);
}

static void test_many_lines(void **state)
{
    (void)state;
    struct server *s = server_start(&default_limits);
    int fd = client(s->port, 0);
    size_t n = 20000 * 8;
    char *out = malloc(n + 1), *in = malloc(n); /* +1: snprintf's last NUL */
    for (size_t i = 0; i < 20000; i++)
        snprintf(out + i * 8, 9, "%07zu\n", i);
    send_all(fd, out, n);
    recv_exact(fd, in, n);
    assert_memory_equal(in, out, n);
    free(out);
    free(in);
    close(fd);
    server_stop(s);
}

/* Byte pos of the back-pressure stream: 999 letters and a newline per line. */
static char gen(size_t pos)
{
    return pos % 1000 == 999 ? '\n' : (char)('a' + pos % 26);
}

/* The client writes without reading: the server's queue passes the buffer, it stops
 * reading (so its queue stays bounded), and once the client drains, on_writable fires
 * and every byte comes back intact. */
static void test_backpressure(void **state)
{
    (void)state;
    struct ob_net_limits lim = default_limits;
    lim.write_buffer = 64 * 1024;
    struct server *s = server_start(&lim);
    int fd = client(s->port, 16 * 1024);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char chunk[4096];
    size_t total = 32u << 20, sent = 0;
    int64_t stuck_since = now_ms();
    while (sent < total && now_ms() - stuck_since < 300) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = gen(sent + i);
        ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            stuck_since = now_ms();
        } else {
            usleep(1000);
        }
    }
    assert_true(sent < total); /* the server stopped reading */
    assert_int_equal(atomic_load(&stats.congested_seen), 1);
    assert_true(atomic_load(&stats.max_queued) <= lim.write_buffer + 64 * 1024 + 1000);
    /* now drain, sending the rest of the last line so that everything echoes */
    size_t tail = (1000 - sent % 1000) % 1000;
    char *pad = malloc(tail + 1);
    for (size_t i = 0; i < tail; i++)
        pad[i] = gen(sent + i);
    size_t expect = sent + tail, got = 0, padded = 0;
    char buf[65536];
    int64_t end = now_ms() + 20000;
    while (got < expect && now_ms() < end) {
        if (padded < tail) {
            ssize_t w = send(fd, pad + padded, tail - padded, MSG_NOSIGNAL);
            if (w > 0) padded += (size_t)w;
        }
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
            for (ssize_t i = 0; i < r; i++) {
                size_t pos = got + (size_t)i;
                if (buf[i] != gen(pos)) fail_msg("byte %zu: got %d", pos, buf[i]);
            }
            got += (size_t)r;
        } else {
            usleep(500);
        }
    }
    assert_int_equal(got, expect);
    assert_true(atomic_load(&stats.writable) >= 1);
    free(pad);
    close(fd);
    server_stop(s);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct ob_net_limits lim = default_limits;
    lim.max_connections = 2;
    struct server *s = server_start(&lim);
    int a = client(s->port, 0), b = client(s->port, 0);
    send_all(a, "a\n", 2);
    expect_reply(a, "a\n");
    send_all(b, "b\n", 2);
    expect_reply(b, "b\n");
    int c = client(s->port, 0); /* the kernel accepts; the server closes it */
    assert_true(closed_within(c, 2000));
    close(c);
    close(a);
    wait_for(&stats.closed, 1, 2000);
    int d = client(s->port, 0);
    send_all(d, "d\n", 2);
    expect_reply(d, "d\n");
    assert_int_equal(atomic_load(&stats.accepted), 3);
    close(b);
    close(d);
    server_stop(s);
}

static void test_max_connections_per_ip(void **state)
{
    (void)state;
    struct ob_net_limits lim = default_limits;
    lim.max_connections_per_ip = 1;
    struct server *s = server_start(&lim);
    int a = client(s->port, 0);
    send_all(a, "a\n", 2);
    expect_reply(a, "a\n");
    int b = client(s->port, 0);
    assert_true(closed_within(b, 2000));
    close(b);
    close(a);
    wait_for(&stats.closed, 1, 2000);
    int c = client(s->port, 0);
    send_all(c, "c\n", 2);
    expect_reply(c, "c\n");
    close(c);
    server_stop(s);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct ob_net_limits lim = default_limits;
    lim.idle_timeout_ms = 150;
    struct server *s = server_start(&lim);
    int busy = client(s->port, 0);
    for (int i = 0; i < 6; i++) { /* activity keeps it open past the timeout */
        send_all(busy, "x\n", 2);
        expect_reply(busy, "x\n");
        usleep(60 * 1000);
    }
    int idle = client(s->port, 0);
    int64_t t0 = now_ms();
    assert_true(closed_within(idle, 3000));
    assert_true(now_ms() - t0 >= 100);
    wait_for(&stats.closed, 1, 2000);
    assert_int_equal(atomic_load(&stats.last_status), OB_ETIMEDOUT);
    close(idle);
    close(busy);
    server_stop(s);
}

/* A client sends half a line and resets the connection: the protocol's on_close runs
 * and its partial buffer is freed (ASan would report a leak otherwise). */
static void test_peer_vanishes_mid_frame(void **state)
{
    (void)state;
    struct server *s = server_start(&default_limits);
    int fd = client(s->port, 0);
    send_all(fd, "complete\nhalf a li", 18);
    expect_reply(fd, "complete\n");
    struct linger lg = {1, 0}; /* close with RST */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    wait_for(&stats.closed, 1, 2000);
    fd = client(s->port, 0); /* the server is fine */
    send_all(fd, "again\n", 6);
    expect_reply(fd, "again\n");
    send_all(fd, "unterminated", 12);
    close(fd); /* orderly EOF mid-frame */
    wait_for(&stats.closed, 2, 2000);
    server_stop(s);
}

static void test_frame_too_long(void **state)
{
    (void)state;
    struct ob_net_limits lim = default_limits;
    lim.max_frame_size = 1024;
    struct server *s = server_start(&lim);
    int fd = client(s->port, 0);
    char big[2000];
    memset(big, 'z', sizeof big);
    send_all(fd, big, sizeof big);
    expect_reply(fd, "error: line too long\n");
    assert_true(closed_within(fd, 2000));
    wait_for(&stats.closed, 1, 2000);
    assert_int_equal(atomic_load(&stats.last_status), OB_ETOOBIG);
    close(fd);
    server_stop(s);
}

static void test_port_in_use(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct ob_net *net;
    struct ob_net_limits lim = default_limits;
    assert_int_equal(ob_net_new(&net, &loop, &lim), 0);
    char err[256];
    assert_int_equal(ob_net_listen(net, "first", &tproto, NULL, "127.0.0.1", 0, err, sizeof err),
                     0);
    uint16_t port = ob_net_listener_port(net, "first");
    assert_int_equal(ob_net_listen(net, "http", &tproto, NULL, "127.0.0.1", port, err, sizeof err),
                     OB_EADDRINUSE);
    char want[128];
    snprintf(want, sizeof want, "listener http: 127.0.0.1:%u: address already in use", port);
    assert_string_equal(err, want);
    ob_net_shutdown(net, 0, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ob_net_free(net);
    uv_run(&loop, UV_RUN_NOWAIT); /* the net's flush handle closes */
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_write_message_zero_copy(void **state)
{
    (void)state;
    struct server *s = server_start_with(&default_limits, &mproto);
    int fd = client(s->port, 0);
    expect_reply(fd, "greetinghello from a message\n");
    assert_true(closed_within(fd, 2000));
    close(fd);
    server_stop(s);
}

/* Shutdown with a connection open: the client sees its reply and then EOF. */
static void test_shutdown_closes_connections(void **state)
{
    (void)state;
    struct server *s = server_start(&default_limits);
    int fd = client(s->port, 0);
    send_all(fd, "x\n", 2);
    expect_reply(fd, "x\n");
    server_stop(s);
    assert_true(closed_within(fd, 2000));
    close(fd);
}

/* Queues far more than the socket buffers take to a client that never reads. */
#define FLOOD_BYTES (24u << 20)
static atomic_int flood_released;

static void flood_release(void *arg)
{
    free(arg);
    atomic_fetch_add(&flood_released, 1);
}

static int f_accept(struct ob_conn *c)
{
    atomic_fetch_add(&stats.accepted, 1);
    void *p = calloc(1, FLOOD_BYTES);
    struct ob_slice iov = {p, FLOOD_BYTES};
    return ob_conn_write(c, &iov, 1, flood_release, p) == 0 ? 0 : -1;
}

static void f_close(struct ob_conn *c, int status)
{
    (void)c;
    atomic_store(&stats.last_status, status);
    atomic_fetch_add(&stats.closed, 1);
}

static const struct ob_protocol fproto = {
    .name = "flood", .on_accept = f_accept, .on_data = m_data, .on_close = f_close};

/* Shutdown while a peer reads nothing: the connection lingers, then the net's timer
 * ends it (the shutdown completes, the queued write is released once). */
static void test_shutdown_linger_expires(void **state)
{
    (void)state;
    atomic_store(&flood_released, 0);
    struct ob_net_limits lim = {.write_buffer = 32u << 20, .max_frame_size = 1 << 20};
    struct server *s = server_start_with(&lim, &fproto);
    int fd = client(s->port, 4096);
    wait_for(&stats.accepted, 1, 2000);
    server_stop(s); /* returns once every connection is gone */
    assert_int_equal(atomic_load(&stats.closed), 1);
    assert_int_equal(atomic_load(&stats.last_status), OB_ECLOSED);
    assert_int_equal(atomic_load(&flood_released), 1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_many_lines),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_max_connections_per_ip),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_peer_vanishes_mid_frame),
        cmocka_unit_test(test_frame_too_long),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_shutdown_closes_connections),
        cmocka_unit_test(test_shutdown_linger_expires),
        cmocka_unit_test(test_write_message_zero_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
