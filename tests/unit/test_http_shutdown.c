/* test_http_shutdown.c — the HTTP layer's part of a graceful server shutdown and of a
 * reload, over real loopback sockets: ob_http_shutdown_all sends every open WebSocket
 * a close frame 1001 (and tells its endpoint) before the net layer closes the
 * connections, leaves a WebSocket already closing alone; ob_http_update_options
 * changes CORS origins on a running listener (and only on the listeners of its host).
 * The server is test_http_server_fixture.h's, stopped through the same hook order as
 * ob_server_shutdown: ob_http_shutdown_all, then ob_net_shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_http_server_fixture.h"

static struct {
    uv_async_t update;
    struct ob_http_options opt;
    const struct ob_proto_host *host;
    atomic_int updated;
    bool stopped;
} sd;

/* ---- server life: the fixture's, with the shutdown hook and a live update ------------ */

static void sd_on_stop(uv_async_t *a)
{
    (void)a;
    uv_close((uv_handle_t *)&sd.update, NULL);
    ob_http_shutdown_all(&fx.host);
    ob_net_shutdown(fx.net, 1000, fx_net_done, NULL);
}

static void sd_on_update(uv_async_t *a)
{
    (void)a;
    ob_http_update_options(sd.host, &sd.opt);
    atomic_store(&sd.updated, 1);
}

static int sd_setup(void **state)
{
    (void)state;
    struct ob_http_options o;
    ob_http_set_options(NULL);
    ob_http_get_options(&o);
    o.access_log = false;
    ob_http_set_options(&o);
    fx_open_server();
    atomic_store(&fx.ws_closed, 0);
    atomic_store(&fx.ws_last_code, 0);
    sd.stopped = false;
    uv_async_init(&fx.loop, &fx.stop, sd_on_stop);
    uv_async_init(&fx.loop, &sd.update, sd_on_update);
    assert_int_equal(uv_thread_create(&fx.thread, fx_run, NULL), 0);
    return 0;
}

/* What ob_server_shutdown does, on the loop thread; returns once the loop has ended. */
static void sd_stop(void)
{
    if (sd.stopped) return;
    sd.stopped = true;
    uv_async_send(&fx.stop);
    uv_thread_join(&fx.thread);
}

static int sd_teardown(void **state)
{
    (void)state;
    sd_stop();
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

/* ---- a minimal WebSocket client -------------------------------------------------------- */

static int ws_connect(void)
{
    int fd = cl_connect();
    cl_send(fd, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    char head[2048];
    assert_true(cl_read_until(fd, head, sizeof head, "\r\n\r\n") > 0);
    assert_memory_equal(head, "HTTP/1.1 101", 12);
    return fd;
}

static void ws_send_text(int fd, const char *text)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, OB_WS_FIN, text, strlen(text), mask), 0);
    cl_send_n(fd, b.p, b.len);
    ob_buf_release(&b);
}

/* Reads one unmasked server frame with a payload under 126 bytes into payload (NUL
 * terminated); returns the opcode, or -1 on EOF or timeout. */
static int ws_read_frame(int fd, char *payload, size_t cap)
{
    uint8_t h[2];
    if (!cl_read_n(fd, h, 2)) return -1;
    size_t n = h[1] & 0x7f;
    assert_true(n < 126 && n < cap);
    if (n && !cl_read_n(fd, payload, n)) return -1;
    payload[n] = '\0';
    return h[0] & 0x0f;
}

static void expect_echo(int fd, const char *text)
{
    char p[128];
    ws_send_text(fd, text);
    assert_int_equal(ws_read_frame(fd, p, sizeof p), OB_WS_OP_TEXT);
    assert_string_equal(p, text);
}

static uint16_t close_code(const char *payload)
{
    return (uint16_t)((uint8_t)payload[0] << 8 | (uint8_t)payload[1]);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_websockets_hear_going_away(void **state)
{
    (void)state;
    int a = ws_connect(), b = ws_connect();
    expect_echo(a, "one");
    expect_echo(b, "two");
    int plain = cl_connect(); /* an idle HTTP/1.1 keep-alive connection */
    cl_send(plain, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(plain, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    sd_stop();
    int fds[] = {a, b};
    for (int i = 0; i < 2; i++) {
        char p[128];
        assert_int_equal(ws_read_frame(fds[i], p, sizeof p), OB_WS_OP_CLOSE);
        assert_int_equal(close_code(p), 1001);
        assert_string_equal(p + 2, "server shutting down");
        assert_true(cl_eof(fds[i]));
        close(fds[i]);
    }
    assert_int_equal(atomic_load(&fx.ws_closed), 2);
    assert_int_equal(atomic_load(&fx.ws_last_code), 1001);
    assert_true(cl_eof(plain)); /* closed by the net layer, nothing written */
    close(plain);
}

/* A WebSocket already in its close handshake keeps its own code: no second frame. */
static void test_closing_websocket_left_alone(void **state)
{
    (void)state;
    int fd = ws_connect();
    char p[128];
    ws_send_text(fd, "close-me");
    assert_int_equal(ws_read_frame(fd, p, sizeof p), OB_WS_OP_CLOSE);
    assert_int_equal(close_code(p), 4001);
    sd_stop();
    assert_int_equal(ws_read_frame(fd, p, sizeof p), -1);
    close(fd);
    assert_int_equal(atomic_load(&fx.ws_closed), 1);
    assert_int_not_equal(atomic_load(&fx.ws_last_code), 1001);
}

static const char *acao(const char *origin)
{
    static char head[8192];
    int fd = cl_connect();
    char req[256];
    snprintf(req, sizeof req, "GET /fast HTTP/1.1\r\nHost: t\r\nOrigin: %s\r\n\r\n", origin);
    cl_send(fd, req);
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    close(fd);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    memcpy(head, r.head, sizeof head);
    const char *v = hdr_value(head, "Access-Control-Allow-Origin: ");
    if (!v) return NULL;
    *strchr(v, '\r') = '\0';
    return v;
}

static void update_live(const struct ob_proto_host *host, const char *origins)
{
    ob_http_get_options(&sd.opt);
    sd.opt.cors_origins = origins;
    sd.host = host;
    atomic_store(&sd.updated, 0);
    uv_async_send(&sd.update);
    for (int i = 0; i < 300 && !atomic_load(&sd.updated); i++)
        usleep(10000);
    assert_true(atomic_load(&sd.updated));
}

static void test_update_options_live(void **state)
{
    (void)state;
    assert_string_equal(acao("https://a.example"), "*");

    static const struct ob_proto_host other;
    update_live(&other, "https://b.example"); /* another server's listeners: not ours */
    assert_string_equal(acao("https://a.example"), "*");

    update_live(&fx.host, "https://b.example,https://c.example");
    assert_null(acao("https://a.example"));
    assert_string_equal(acao("https://c.example"), "https://c.example");

    update_live(NULL, ""); /* every listener; "" turns CORS off */
    assert_null(acao("https://c.example"));

    struct ob_http_options o;
    ob_http_get_options(&o); /* the process-wide options follow (a copy) */
    assert_string_equal(o.cors_origins, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_websockets_hear_going_away, sd_setup, sd_teardown),
        cmocka_unit_test_setup_teardown(test_closing_websocket_left_alone, sd_setup, sd_teardown),
        cmocka_unit_test_setup_teardown(test_update_options_live, sd_setup, sd_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
