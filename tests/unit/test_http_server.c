/* test_http_server.c — the HTTP server layer over real loopback sockets: keep-alive,
 * pipelining order with a slow asynchronous handler, chunked uploads, 100-continue,
 * limits (413, 431), the header-read timeout against slowloris, a malformed request
 * (400 and close) next to a healthy connection, HEAD, 404/405, CORS preflight, gzip,
 * streaming, cancellation of a pending request, authentication (401, Bearer), and the
 * ops endpoints. The server loop runs on its own thread with an in-memory bus; the
 * test thread is the client, with blocking sockets and timeouts.
 * WebSocket cases are in test_http_server_ws.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_http_server_fixture.h"

#include <zlib.h>

/* ---- cases ------------------------------------------------------------------------ */

static void test_keepalive(void **state)
{
    (void)state;
    int fd = cl_connect();
    for (int i = 0; i < 3; i++) {
        cl_send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
        struct resp r;
        assert_int_equal(cl_response(fd, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "fast");
        assert_null(strstr(r.head, "Connection: close"));
        assert_non_null(strstr(r.head, "Date: "));
        assert_non_null(strstr(r.head, "Server: omnibus"));
        resp_free(&r);
    }
    close(fd);
}

/* Reads n responses from fd: each 200 with the body want[i], in order. */
static void expect_bodies(int fd, const char *const *want, int n)
{
    for (int i = 0; i < n; i++) {
        struct resp r;
        assert_int_equal(cl_response(fd, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want[i]);
        resp_free(&r);
    }
}

static void test_pipelining_order(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /slow/300 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /slow/50 HTTP/1.1\r\nHost: t\r\n\r\n"
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody");
    const char *want[] = {"slow-300", "fast", "slow-50", "body"};
    expect_bodies(fd, want, 4);
    close(fd);
}

/* More pipelined requests than may be in flight (16): the rest wait in the input and
 * are taken up as responses complete, still in order. */
static void test_pipelining_depth(void **state)
{
    (void)state;
    int fd = cl_connect();
    char req[64];
    for (int i = 0; i < 40; i++) {
        snprintf(req, sizeof req, "GET /slow/%d HTTP/1.1\r\nHost: t\r\n\r\n", 40 - i);
        cl_send(fd, req);
    }
    for (int i = 0; i < 40; i++) {
        struct resp r;
        char want[32];
        snprintf(want, sizeof want, "slow-%d", 40 - i);
        assert_int_equal(cl_response(fd, &r), 0);
        assert_string_equal(r.body, want);
        resp_free(&r);
    }
    close(fd);
}

static void test_chunked_upload(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n");
    usleep(50000);
    cl_send(fd, "6;ext=1\r\n world\r\n0\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    resp_free(&r);
    close(fd);
}

static void test_expect_continue(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\n\r\n");
    char buf[64];
    assert_int_equal(cl_read_until(fd, buf, sizeof buf, "\r\n\r\n"), 25);
    assert_memory_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    cl_send(fd, "12345");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "12345");
    resp_free(&r);
    /* Too large: refused at once, before the client sends the body. */
    cl_send(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9999999\r\n"
                "Expect: 100-continue\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    close(fd);
}

static void test_limits(void **state)
{
    (void)state;
    struct resp r;
    int fd = cl_connect();
    char *big = malloc(70 * 1024 + 100);
    int n = sprintf(big, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", 70 * 1024);
    memset(big + n, 'x', 70 * 1024);
    big[n + 70 * 1024] = '\0';
    cl_send(fd, big);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.head, "application/problem+json"));
    assert_non_null(strstr(r.body, "\"status\":413"));
    resp_free(&r);
    assert_true(cl_eof(fd));
    close(fd);

    fd = cl_connect();
    n = sprintf(big, "GET /fast HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + n, 'a', 20000);
    strcpy(big + n + 20000, "\r\n\r\n");
    cl_send(fd, big);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 431);
    resp_free(&r);
    close(fd);

    fd = cl_connect();
    n = sprintf(big, "GET /fast HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 150; i++)
        n += sprintf(big + n, "X-H%d: v\r\n", i);
    strcpy(big + n, "\r\n");
    cl_send(fd, big);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 431);
    resp_free(&r);
    close(fd);
    free(big);
}

static void test_slowloris(void **state)
{
    (void)state;
    int fd = cl_connect();
    int64_t t0 = now_ms();
    cl_send(fd, "GET /fast HTTP/1.1\r\n");
    struct resp r = {0};
    int got = -1;
    for (int i = 0; i < 40 && got < 0; i++) { /* one byte every 50 ms: never complete */
        if (send(fd, "X", 1, MSG_NOSIGNAL) != 1) break;
        if (cl_poll(fd, 50)) got = cl_response(fd, &r);
    }
    if (got < 0) got = cl_response(fd, &r);
    assert_int_equal(got, 0);
    assert_int_equal(r.status, 408);
    assert_true(now_ms() - t0 < 1500); /* header timeout is 400 ms in this test */
    resp_free(&r);
    assert_true(cl_eof(fd));
    close(fd);
}

static void test_idle_connection_closed(void **state)
{
    (void)state;
    int fd = cl_connect(); /* never sends: the header timeout applies to the first request */
    int64_t t0 = now_ms();
    assert_true(cl_eof(fd));
    assert_true(now_ms() - t0 < 1500);
    close(fd);
}

static void test_malformed_isolated(void **state)
{
    (void)state;
    int good = cl_connect();
    cl_send(good, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(good, &r), 0);
    resp_free(&r);
    const char *bad[] = {
        "GARBAGE\r\n\r\n", "GET / HTTP/1.1\nHost: t\n\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = cl_connect();
        cl_send(fd, bad[i]);
        assert_int_equal(cl_response(fd, &r), 0);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.head, "Connection: close"));
        resp_free(&r);
        assert_true(cl_eof(fd));
        close(fd);
    }
    cl_send(good, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cl_response(good, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(good);
}

static void test_head_404_405(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "HEAD /big HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response_head_only(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Length: 4096"));
    resp_free(&r);
    assert_int_equal(cl_response(fd, &r), 0); /* no body bytes came in between */
    assert_string_equal(r.body, "fast");
    resp_free(&r);
    cl_send(fd, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\nDELETE /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "https://omnibus.dev/problems/not-found"));
    resp_free(&r);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET, HEAD, OPTIONS"));
    resp_free(&r);
    close(fd);
}

static void test_routes_params(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /p/a%2Fb/x/c%20d?q=1&name=v+w&name=z HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "one=a/b two=c d name0=v w name1=z");
    resp_free(&r);
    cl_send(fd, "GET /p/lit/x/y HTTP/1.1\r\nHost: t\r\n\r\n"); /* literal beats capture */
    assert_int_equal(cl_response(fd, &r), 0);
    assert_string_equal(r.body, "literal");
    resp_free(&r);
    cl_send(fd, "GET /files/a/b/c HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_string_equal(r.body, "rest=a/b/c");
    resp_free(&r);
    close(fd);
}

static void test_cors(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(
        fd,
        "OPTIONS /echo HTTP/1.1\r\nHost: t\r\nOrigin: http://app.example\r\n"
        "Access-Control-Request-Method: POST\r\n"
        "Access-Control-Request-Headers: Content-Type, Last-Event-ID, Omnibus-Key, X-Evil\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(strstr(r.head, "Access-Control-Allow-Origin: *"));
    assert_non_null(strstr(r.head, "Access-Control-Allow-Methods: "));
    assert_non_null(strstr(
        r.head, "Access-Control-Allow-Headers: Content-Type, Last-Event-ID, Omnibus-Key\r\n"));
    resp_free(&r);
    cl_send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\nOrigin: http://app.example\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_non_null(strstr(r.head, "Access-Control-Allow-Origin: *"));
    resp_free(&r);
    close(fd);
}

static void test_gzip(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Encoding: gzip"));
    assert_true(r.len < 4096);
    uint8_t out[8192];
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)r.body;
    z.avail_in = (uInt)r.len;
    z.next_out = out;
    z.avail_out = sizeof out;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, 4096);
    inflateEnd(&z);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(out[i], 'a' + i % 26);
    resp_free(&r);
    cl_send(fd, "GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_null(strstr(r.head, "Content-Encoding"));
    assert_int_equal(r.len, 4096);
    resp_free(&r);
    close(fd);
}

static void test_streaming(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Transfer-Encoding: chunked"));
    assert_string_equal(r.body, "part0\npart1\npart2\n");
    resp_free(&r);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_string_equal(r.body, "fast");
    resp_free(&r);
    /* HTTP/1.0 cannot dechunk: raw body, then close. */
    close(fd);
    fd = cl_connect();
    cl_send(fd, "GET /stream HTTP/1.0\r\n\r\n");
    char buf[4096];
    ssize_t n = cl_read_all(fd, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\r\n\r\npart0\npart1\npart2\n"));
    close(fd);
}

static void test_stream_backpressure(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /flood HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 300 && !atomic_load(&fx.flood_congested); i++)
        usleep(10000);
    assert_true(atomic_load(&fx.flood_congested) >= 1024); /* KiB queued, over 1 MiB */
    usleep(100000);                                        /* the client still reads nothing */
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 1024 * 1024);
    assert_memory_equal(r.body + r.len - 4, "END\n", 4);
    assert_int_equal(atomic_load(&fx.flood_writable), 1);
    resp_free(&r);
    close(fd);
}

/* Every byte in its own segment: heads, chunked framing and pipelined requests split
 * at every position must parse as if whole. */
static void test_split_everywhere(void **state)
{
    (void)state;
    const char *reqs = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n"
                       "GET /p/a/x/b?name=n HTTP/1.1\r\nHost: t\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz";
    int fd = cl_connect();
    for (const char *p = reqs; *p; p++) {
        cl_send_n(fd, p, 1);
        if ((p - reqs) % 16 == 0) usleep(1000); /* let some bytes arrive alone */
    }
    const char *want[] = {"abcde", "one=a two=b name0=n name1=-", "xyz"};
    expect_bodies(fd, want, 3);
    close(fd);
}

/* Clients vanishing mid-head, mid-body and mid-pipeline leave nothing behind (ASan). */
static void test_vanishing_clients(void **state)
{
    (void)state;
    const char *partial[] = {
        "GET /fast HTT",
        "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ("GET /slow/50 HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\n"
         "Content-Length: 5\r\n\r\nab"),
    };
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        int fd = cl_connect();
        cl_send(fd, partial[i]);
        usleep(20000);
        close(fd);
    }
    usleep(100000);
    int fd = cl_connect();
    cl_send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_string_equal(r.body, "fast");
    resp_free(&r);
    close(fd);
}

static void test_cancel_pending(void **state)
{
    (void)state;
    int before = atomic_load(&fx.cancelled);
    int fd = cl_connect();
    cl_send(fd, "GET /slow/5000 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(100000);
    close(fd);
    for (int i = 0; i < 100 && atomic_load(&fx.cancelled) == before; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&fx.cancelled), before + 1);
}

static void test_auth(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /private HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.head, "WWW-Authenticate: Basic"));
    assert_non_null(strstr(r.head, "WWW-Authenticate: Bearer"));
    resp_free(&r);
    cl_send(fd, "GET /private HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    cl_send(fd, "GET /private HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello alice");
    resp_free(&r);
    /* Basic with alice:pw (a plain password: checked on the thread pool). */
    cl_send(fd, "GET /private HTTP/1.1\r\nHost: t\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\r\n"
                "GET /private HTTP/1.1\r\nHost: t\r\nAuthorization: Basic YWxpY2U6YmFk\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* public routes need nothing */
    cl_send(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    resp_free(&r);
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(fd);
}

static void test_metrics(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "omnibus_connections{protocol=\"http\"}"));
    assert_non_null(strstr(r.body, "omnibus_http_responses_total{code=\"2xx\"}"));
    assert_non_null(strstr(r.body, "omnibus_stream_messages{stream=\"TEST\"} 1"));
    assert_non_null(strstr(r.body, "omnibus_stream_last_seq{stream=\"TEST\"} 1"));
    assert_non_null(strstr(r.body, "omnibus_consumer_pending{stream=\"TEST\",consumer=\"C\"} 1"));
    resp_free(&r);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_pipelining_order),
        cmocka_unit_test(test_pipelining_depth),
        cmocka_unit_test(test_chunked_upload),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_idle_connection_closed),
        cmocka_unit_test(test_malformed_isolated),
        cmocka_unit_test(test_head_404_405),
        cmocka_unit_test(test_routes_params),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_stream_backpressure),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_vanishing_clients),
        cmocka_unit_test(test_cancel_pending),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
