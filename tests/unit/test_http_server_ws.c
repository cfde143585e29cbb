/* test_http_server_ws.c — WebSocket connections on the HTTP server layer, over real
 * loopback sockets with a hand-rolled client (frames built with the codec's client
 * side): upgrade and subprotocols, echo, fragmentation with control frames between
 * fragments, ping/pong, both close handshakes, the failure codes (1002 framing and
 * masking, 1007 invalid UTF-8 including fail-fast inside a fragmented message, 1009
 * too big, also after inflating), permessage-deflate round trip, server pings with a
 * pong deadline, and refusals (426). The Autobahn test-case list is the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_http_server_fixture.h"

#include <zlib.h>

static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};

static int ws_open_with(const char *path, const char *extra, char *head, size_t cap)
{
    int fd = cl_connect();
    char req[1024];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, extra ? extra : "");
    cl_send(fd, req);
    assert_true(cl_read_until(fd, head, cap, "\r\n\r\n") > 0);
    return fd;
}

static int ws_open(const char *path, const char *extra)
{
    char head[2048];
    int fd = ws_open_with(path, extra, head, sizeof head);
    assert_memory_equal(head, "HTTP/1.1 101", 12);
    assert_non_null(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    return fd;
}

static void ws_send(int fd, unsigned opcode, unsigned flags, const void *p, size_t n)
{
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_ws_encode_frame(&b, opcode, flags, p, n, mask), 0);
    cl_send_n(fd, b.p, b.len);
    ob_buf_release(&b);
}

/* A raw frame header (for frames the encoder refuses to build) + masked payload. */
static void ws_send_raw(int fd, uint8_t b0, bool masked, const char *payload)
{
    size_t n = strlen(payload);
    uint8_t f[140];
    f[0] = b0;
    f[1] = (uint8_t)((masked ? 0x80 : 0) | n);
    size_t k = 2;
    if (masked) memcpy(f + k, mask, 4), k += 4;
    memcpy(f + k, payload, n);
    if (masked) ob_ws_mask(f + k, n, mask, 0);
    cl_send_n(fd, f, k + n);
}

struct frame {
    uint8_t opcode;
    bool fin, rsv1;
    uint8_t *data;
    size_t len;
    uint16_t code; /* close frames */
};

static int ws_recv(int fd, struct frame *f)
{
    uint8_t h[8];
    memset(f, 0, sizeof *f);
    if (!cl_read_n(fd, h, 2)) return -1;
    f->fin = h[0] & 0x80;
    f->rsv1 = h[0] & 0x40;
    f->opcode = h[0] & 0x0f;
    assert_false(h[1] & 0x80); /* the server never masks */
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        if (!cl_read_n(fd, h, 2)) return -1;
        n = (uint64_t)h[0] << 8 | h[1];
    } else if (n == 127) {
        if (!cl_read_n(fd, h, 8)) return -1;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | h[i];
    }
    f->data = malloc(n + 1);
    if (n && !cl_read_n(fd, f->data, n)) return -1;
    f->len = n;
    f->data[n] = 0;
    if (f->opcode == OB_WS_OP_CLOSE && n >= 2) f->code = (uint16_t)(f->data[0] << 8 | f->data[1]);
    return 0;
}

static void expect_close(int fd, uint16_t code)
{
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, OB_WS_OP_CLOSE);
    assert_int_equal(f.code, code);
    free(f.data);
    assert_true(cl_eof(fd));
}

static void expect_msg(int fd, uint8_t opcode, const char *text)
{
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, opcode);
    assert_true(f.fin);
    assert_int_equal(f.len, strlen(text));
    assert_memory_equal(f.data, text, f.len);
    free(f.data);
}

/* ---- cases ------------------------------------------------------------------------- */

static void test_echo_and_subprotocol(void **state)
{
    (void)state;
    char head[2048];
    int fd = ws_open_with("/ws", "Sec-WebSocket-Protocol: mqtt, chat\r\n", head, sizeof head);
    assert_non_null(strstr(head, "Sec-WebSocket-Protocol: chat"));
    ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN, "hello", 5);
    expect_msg(fd, OB_WS_OP_TEXT, "hello");
    ws_send(fd, OB_WS_OP_BINARY, OB_WS_FIN, "\x00\x01\x02", 3);
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, OB_WS_OP_BINARY);
    assert_int_equal(f.len, 3);
    free(f.data);
    ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN, "", 0);
    expect_msg(fd, OB_WS_OP_TEXT, "");
    ws_send(fd, OB_WS_OP_CLOSE, OB_WS_FIN, "\x03\xe8", 2);
    expect_close(fd, 1000);
    close(fd);
}

static void test_fragmentation_with_ping(void **state)
{
    (void)state;
    int fd = ws_open("/ws", NULL);
    ws_send(fd, OB_WS_OP_TEXT, 0, "Hel", 3);
    ws_send(fd, OB_WS_OP_PING, OB_WS_FIN, "p1", 2);
    ws_send(fd, OB_WS_OP_CONT, 0, "lo ", 3);
    ws_send(fd, OB_WS_OP_CONT, 0, "", 0);
    ws_send(fd, OB_WS_OP_CONT, OB_WS_FIN, "w\xc3\xb6rld", 6);
    expect_msg(fd, OB_WS_OP_PONG, "p1");
    expect_msg(fd, OB_WS_OP_TEXT, "Hello w\xc3\xb6rld");
    ws_send(fd, OB_WS_OP_PING, OB_WS_FIN, NULL, 0);
    expect_msg(fd, OB_WS_OP_PONG, "");
    ws_send(fd, OB_WS_OP_PONG, OB_WS_FIN, "unsolicited", 11); /* ignored */
    ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN, "after", 5);
    expect_msg(fd, OB_WS_OP_TEXT, "after");
    close(fd);
}

static void test_server_close(void **state)
{
    (void)state;
    int before = atomic_load(&fx.ws_closed_4001);
    int fd = ws_open("/ws", NULL);
    ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN, "close-me", 8);
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, OB_WS_OP_CLOSE);
    assert_int_equal(f.code, 4001);
    assert_memory_equal(f.data + 2, "bye", 3);
    free(f.data);
    ws_send(fd, OB_WS_OP_CLOSE, OB_WS_FIN, "\x0f\xa1", 2); /* the answer */
    assert_true(cl_eof(fd));
    close(fd);
    for (int i = 0; i < 100 && atomic_load(&fx.ws_closed_4001) == before; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&fx.ws_closed_4001), before + 1);
}

static void test_close_codes(void **state)
{
    (void)state;
    int fd = ws_open("/ws", NULL); /* invalid UTF-8 in a text message */
    ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN,
            "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14);
    expect_close(fd, 1007);
    close(fd);

    fd = ws_open("/ws", NULL); /* fail fast: the first fragment is already invalid */
    ws_send(fd, OB_WS_OP_TEXT, 0, "ok\xff", 3);
    expect_close(fd, 1007);
    close(fd);

    fd = ws_open("/ws", NULL); /* over max_message (1024) */
    char big[2000];
    memset(big, 'x', sizeof big);
    ws_send(fd, OB_WS_OP_BINARY, OB_WS_FIN, big, sizeof big);
    expect_close(fd, 1009);
    close(fd);

    fd = ws_open("/ws", NULL); /* over max_message across fragments */
    ws_send(fd, OB_WS_OP_BINARY, 0, big, 700);
    ws_send(fd, OB_WS_OP_CONT, OB_WS_FIN, big, 700);
    expect_close(fd, 1009);
    close(fd);

    fd = ws_open("/ws", NULL); /* a client frame must be masked */
    ws_send_raw(fd, 0x81, false, "unmasked");
    expect_close(fd, 1002);
    close(fd);

    fd = ws_open("/ws", NULL); /* reserved opcode */
    ws_send_raw(fd, 0x83, true, "x");
    expect_close(fd, 1002);
    close(fd);

    fd = ws_open("/ws", NULL); /* RSV2 without an extension for it */
    ws_send_raw(fd, 0xa1, true, "x");
    expect_close(fd, 1002);
    close(fd);

    fd = ws_open("/ws", NULL); /* continuation without a message */
    ws_send_raw(fd, 0x80, true, "x");
    expect_close(fd, 1002);
    close(fd);

    fd = ws_open("/ws", NULL); /* fragmented control frame */
    ws_send_raw(fd, 0x09, true, "x");
    expect_close(fd, 1002);
    close(fd);

    fd = ws_open("/ws", NULL);                             /* a close code that may not be sent */
    ws_send(fd, OB_WS_OP_CLOSE, OB_WS_FIN, "\x03\xed", 2); /* 1005 */
    expect_close(fd, 1002);
    close(fd);

    fd = ws_open("/ws", NULL); /* an empty close is answered with an empty close */
    ws_send(fd, OB_WS_OP_CLOSE, OB_WS_FIN, NULL, 0);
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, OB_WS_OP_CLOSE);
    assert_int_equal(f.len, 0);
    free(f.data);
    assert_true(cl_eof(fd));
    close(fd);
}

/* Raw deflate with a sync flush, tail removed (RFC 7692 §7.2.1). */
static size_t deflate_msg(const void *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    assert_memory_equal(out + len - 4, "\x00\x00\xff\xff", 4);
    return len - 4;
}

static size_t inflate_msg(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    uint8_t buf[4096];
    memcpy(buf, in, n);
    memcpy(buf + n, "\x00\x00\xff\xff", 4);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
    z.next_in = buf;
    z.avail_in = (uInt)(n + 4);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
    size_t len = cap - z.avail_out;
    inflateEnd(&z);
    return len;
}

static void test_permessage_deflate(void **state)
{
    (void)state;
    char head[2048];
    int fd = ws_open_with(
        "/ws", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n", head,
        sizeof head);
    assert_memory_equal(head, "HTTP/1.1 101", 12);
    assert_non_null(strstr(head, "Sec-WebSocket-Extensions: permessage-deflate"));
    const char *text = "hello hello hello hello hello hello hello \xe2\x82\xac";
    uint8_t z[512], out[512];
    size_t zn = deflate_msg(text, strlen(text), z, sizeof z);
    assert_true(zn < strlen(text));
    for (int round = 0; round < 2; round++) { /* context takeover on both sides */
        ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN | OB_WS_RSV1, z, zn);
        struct frame f;
        assert_int_equal(ws_recv(fd, &f), 0);
        assert_int_equal(f.opcode, OB_WS_OP_TEXT);
        assert_true(f.rsv1);
        if (round == 0) {
            size_t n = inflate_msg(f.data, f.len, out, sizeof out);
            assert_int_equal(n, strlen(text));
            assert_memory_equal(out, text, n);
        }
        free(f.data);
    }
    ws_send(fd, OB_WS_OP_TEXT, OB_WS_FIN, "plain", 5); /* uncompressed still allowed */
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_true(f.rsv1);
    free(f.data);
    /* A small frame that inflates beyond max_message (1024) is 1009. */
    char zeros[8000];
    memset(zeros, 0, sizeof zeros);
    uint8_t bomb[512];
    size_t bn = deflate_msg(zeros, sizeof zeros, bomb, sizeof bomb);
    assert_true(bn < 1024);
    ws_send(fd, OB_WS_OP_BINARY, OB_WS_FIN | OB_WS_RSV1, bomb, bn);
    expect_close(fd, 1009);
    close(fd);

    fd = ws_open("/ws", NULL); /* RSV1 without the extension agreed */
    ws_send_raw(fd, 0xc1, true, "x");
    expect_close(fd, 1002);
    close(fd);
}

static void test_server_ping(void **state)
{
    (void)state;
    int fd = ws_open("/ws-ping", NULL);
    int64_t t0 = now_ms();
    struct frame f;
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, OB_WS_OP_PING);
    assert_true(now_ms() - t0 < 1000);
    ws_send(fd, OB_WS_OP_PONG, OB_WS_FIN, f.data, f.len);
    free(f.data);
    /* Answered: the next ping comes, and this time nobody answers. */
    assert_int_equal(ws_recv(fd, &f), 0);
    assert_int_equal(f.opcode, OB_WS_OP_PING);
    free(f.data);
    t0 = now_ms();
    struct frame c;
    int rc = ws_recv(fd, &c); /* a close frame (1001) or just the end */
    if (rc == 0) {
        assert_int_equal(c.opcode, OB_WS_OP_CLOSE);
        free(c.data);
    }
    assert_true(cl_eof(fd));
    assert_true(now_ms() - t0 < 1500);
    close(fd);
}

static void test_refusals(void **state)
{
    (void)state;
    int fd = cl_connect();
    cl_send(fd, "GET /ws HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_int_equal(r.status, 426);
    assert_non_null(strstr(r.head, "Upgrade: websocket"));
    resp_free(&r);
    close(fd);
    char head[2048];
    fd = cl_connect();
    cl_send(fd, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    assert_true(cl_read_until(fd, head, sizeof head, "\r\n\r\n") > 0);
    assert_memory_equal(head, "HTTP/1.1 426", 12);
    assert_non_null(strstr(head, "Sec-WebSocket-Version: 13"));
    close(fd);
    fd = cl_connect();
    cl_send(fd, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert_true(cl_read_until(fd, head, sizeof head, "\r\n\r\n") > 0);
    assert_memory_equal(head, "HTTP/1.1 400", 12);
    close(fd);
    fd = cl_connect(); /* an upgrade to a non-WebSocket route is an ordinary request */
    cl_send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                "GET /fast HTTP/1.1\r\nHost: t\r\nUpgrade: foo/2\r\nConnection: Upgrade\r\n\r\n"
                "GET /fast HTTP/1.1\r\nHost: t\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
                "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cl_response(fd, &r), 0);
        assert_string_equal(r.body, "fast");
        resp_free(&r);
    }
    close(fd);
}

static void test_pipelined_upgrade(void **state)
{
    (void)state;
    /* A request, then an upgrade, then a frame, all in one write: the frame must wait
     * for the switch and the slow response must come first. */
    int fd = cl_connect();
    struct ob_buf b = OB_BUF_INIT;
    const char *reqs =
        "GET /slow/100 HTTP/1.1\r\nHost: t\r\n\r\n"
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ob_buf_append(&b, reqs, strlen(reqs));
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, OB_WS_FIN, "early", 5, mask), 0);
    cl_send_n(fd, b.p, b.len);
    ob_buf_release(&b);
    struct resp r;
    assert_int_equal(cl_response(fd, &r), 0);
    assert_string_equal(r.body, "slow-100");
    resp_free(&r);
    char head[2048];
    assert_true(cl_read_until(fd, head, sizeof head, "\r\n\r\n") > 0);
    assert_memory_equal(head, "HTTP/1.1 101", 12);
    expect_msg(fd, OB_WS_OP_TEXT, "early");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_and_subprotocol),
        cmocka_unit_test(test_fragmentation_with_ping),
        cmocka_unit_test(test_server_close),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_permessage_deflate),
        cmocka_unit_test(test_server_ping),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_pipelined_upgrade),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
