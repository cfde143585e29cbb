/* test_http_server_h2.c — HTTP/2 on the HTTP server layer, with an nghttp2 client over a
 * real loopback socket: prior knowledge and the h2c Upgrade, concurrent streams that
 * finish out of order, request bodies, streaming, HEAD, gzip, 404 problem, the body
 * limit (413), an oversized header list (stream reset), and a stream reset by the client
 * reaching the handler's cancel callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_http_server_fixture.h"

#include <nghttp2/nghttp2.h>
#include <sodium.h>

#define MAXS 16

struct stream {
    int32_t id;
    int status;
    bool closed, gzip;
    uint32_t error;
    char body[128 * 1024];
    size_t len;
    int order; /* completion order */
    const uint8_t *upload;
    size_t upload_len, upload_off;
};

struct client {
    int fd;
    nghttp2_session *s;
    struct stream st[MAXS];
    int n, done;
};

static struct stream *find(struct client *c, int32_t id)
{
    for (int i = 0; i < c->n; i++)
        if (c->st[i].id == id) return &c->st[i];
    return NULL;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)s, (void)flags, (void)vl;
    struct stream *st = find(ud, f->hd.stream_id);
    if (!st) return 0;
    if (nl == 7 && !memcmp(name, ":status", 7)) st->status = atoi((const char *)value);
    if (nl == 16 && !memcmp(name, "content-encoding", 16)) st->gzip = true;
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)s, (void)flags;
    struct stream *st = find(ud, id);
    if (st && st->len + len < sizeof st->body) {
        memcpy(st->body + st->len, data, len);
        st->len += len;
    }
    return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error, void *ud)
{
    (void)s;
    struct client *c = ud;
    struct stream *st = find(c, id);
    if (st) {
        st->closed = true;
        st->error = error;
        st->order = ++c->done;
    }
    return 0;
}

static void pump(struct client *c)
{
    const uint8_t *data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c->s, &data)) > 0)
        cl_send_n(c->fd, data, (size_t)n);
}

/* Runs the client until stream id closes (or every stream, id 0), at most 3 s. */
static void run_until(struct client *c, int32_t id)
{
    int64_t end = now_ms() + 3000;
    for (;;) {
        pump(c);
        struct stream *st = id ? find(c, id) : NULL;
        if (id ? st && st->closed : c->done == c->n) return;
        assert_true(now_ms() < end);
        if (!cl_poll(c->fd, 50)) continue;
        uint8_t buf[65536];
        ssize_t k = recv(c->fd, buf, sizeof buf, 0);
        assert_true(k > 0);
        assert_int_equal(nghttp2_session_mem_recv(c->s, buf, (size_t)k), k);
    }
}

static void client_open(struct client *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    assert_int_equal(nghttp2_session_client_new(&c->s, cb, c), 0);
    nghttp2_session_callbacks_del(cb);
}

static void client_start(struct client *c)
{
    client_open(c, cl_connect());
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void client_free(struct client *c)
{
    nghttp2_session_del(c->s);
    close(c->fd);
}

static ssize_t upload_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s, (void)id, (void)ud;
    struct stream *st = src->ptr;
    size_t n = st->upload_len - st->upload_off;
    if (n > length) n = length;
    memcpy(buf, st->upload + st->upload_off, n);
    st->upload_off += n;
    if (st->upload_off == st->upload_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

static struct stream *request(struct client *c, const char *method, const char *path,
                              const nghttp2_nv *extra, size_t nextra, const void *body, size_t len)
{
    nghttp2_nv nv[24] = {NV(":method", method), NV(":scheme", "http"), NV(":authority", "t"),
                         NV(":path", path)};
    if (nextra) memcpy(nv + 4, extra, nextra * sizeof *nv);
    struct stream *st = &c->st[c->n++];
    memset(st, 0, sizeof *st);
    st->upload = body;
    st->upload_len = len;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = upload_read};
    st->id = nghttp2_submit_request(c->s, NULL, nv, 4 + nextra, body ? &prd : NULL, NULL);
    assert_true(st->id > 0);
    return st;
}

/* ---- cases ------------------------------------------------------------------------- */

static void test_concurrent_streams(void **state)
{
    (void)state;
    static struct client c;
    client_start(&c);
    struct stream *slow = request(&c, "GET", "/slow/200", NULL, 0, NULL, 0);
    struct stream *fast = request(&c, "GET", "/fast", NULL, 0, NULL, 0);
    struct stream *mid = request(&c, "GET", "/slow/50", NULL, 0, NULL, 0);
    struct stream *echo = request(&c, "POST", "/echo", NULL, 0, "h2 body", 7);
    struct stream *nf = request(&c, "GET", "/nowhere", NULL, 0, NULL, 0);
    run_until(&c, 0);
    assert_int_equal(slow->status, 200);
    assert_string_equal(slow->body, "slow-200");
    assert_string_equal(fast->body, "fast");
    assert_string_equal(mid->body, "slow-50");
    assert_string_equal(echo->body, "h2 body");
    assert_int_equal(nf->status, 404);
    assert_non_null(strstr(nf->body, "problems/not-found"));
    assert_true(fast->order < mid->order && mid->order < slow->order); /* no head-of-line */
    client_free(&c);
}

static void test_streaming_head_gzip(void **state)
{
    (void)state;
    static struct client c;
    client_start(&c);
    struct stream *s1 = request(&c, "GET", "/stream", NULL, 0, NULL, 0);
    struct stream *s2 = request(&c, "HEAD", "/big", NULL, 0, NULL, 0);
    nghttp2_nv ae[] = {NV("accept-encoding", "gzip")};
    struct stream *s3 = request(&c, "GET", "/big", ae, 1, NULL, 0);
    struct stream *s4 = request(&c, "GET", "/flood", NULL, 0, NULL, 0);
    run_until(&c, 0);
    assert_string_equal(s1->body, "part0\npart1\npart2\n");
    assert_int_equal(s2->status, 200);
    assert_int_equal(s2->len, 0);
    assert_true(s3->gzip);
    assert_true(s3->len < 4096);
    assert_int_equal(s4->status, 200); /* flow control holds it; the client drains it all */
    assert_int_equal(s4->error, 0);
    assert_int_equal(atomic_load(&fx.flood_writable), 1); /* drained through flow control */
    client_free(&c);
}

static void test_limits(void **state)
{
    (void)state;
    static struct client c;
    client_start(&c);
    static uint8_t big[70 * 1024];
    struct stream *s1 = request(&c, "POST", "/echo", NULL, 0, big, sizeof big);
    run_until(&c, s1->id);
    assert_int_equal(s1->status, 413);
    static char huge[20000];
    memset(huge, 'h', sizeof huge - 1);
    nghttp2_nv hv[] = {NV("x-huge", huge)};
    struct stream *s2 = request(&c, "GET", "/fast", hv, 1, NULL, 0);
    run_until(&c, s2->id);
    assert_int_not_equal(s2->status, 200);
    struct stream *s3 = request(&c, "GET", "/fast", NULL, 0, NULL, 0); /* the connection lives */
    run_until(&c, s3->id);
    assert_string_equal(s3->body, "fast");
    client_free(&c);
}

static void test_reset_cancels(void **state)
{
    (void)state;
    int before = atomic_load(&fx.cancelled);
    static struct client c;
    client_start(&c);
    struct stream *s = request(&c, "GET", "/slow/5000", NULL, 0, NULL, 0);
    pump(&c);
    usleep(100000);
    nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    pump(&c);
    for (int i = 0; i < 100 && atomic_load(&fx.cancelled) == before; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&fx.cancelled), before + 1);
    client_free(&c);
}

static void test_h2c_upgrade(void **state)
{
    (void)state;
    int fd = cl_connect();
    uint8_t settings[64];
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    ssize_t n = nghttp2_pack_settings_payload(settings, sizeof settings, iv, 1);
    assert_true(n > 0);
    char b64[128];
    sodium_bin2base64(b64, sizeof b64, settings, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char req[512];
    snprintf(req, sizeof req,
             "GET /slow/20 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
             "Upgrade: h2c\r\nHTTP2-Settings: %s\r\n\r\n",
             b64);
    cl_send(fd, req);
    char head[512];
    assert_true(cl_read_until(fd, head, sizeof head, "\r\n\r\n") > 0);
    assert_memory_equal(head, "HTTP/1.1 101", 12);
    static struct client c;
    client_open(&c, fd);
    assert_int_equal(nghttp2_session_upgrade2(c.s, settings, (size_t)n, 0, NULL), 0);
    c.st[0].id = 1;
    c.n = 1;
    struct stream *s2 = request(&c, "GET", "/fast", NULL, 0, NULL, 0);
    run_until(&c, 0);
    assert_int_equal(c.st[0].status, 200);
    assert_string_equal(c.st[0].body, "slow-20");
    assert_string_equal(s2->body, "fast");
    client_free(&c);
}

static void test_idle_goaway(void **state)
{
    (void)state;
    static struct client c;
    client_start(&c);
    struct stream *s = request(&c, "GET", "/fast", NULL, 0, NULL, 0);
    run_until(&c, s->id);
    int64_t t0 = now_ms(); /* keep-alive is 1 s in this test */
    uint8_t buf[4096];
    ssize_t k;
    while ((k = recv(c.fd, buf, sizeof buf, 0)) > 0)
        nghttp2_session_mem_recv(c.s, buf, (size_t)k);
    assert_int_equal(k, 0); /* closed by the server */
    assert_true(now_ms() - t0 < 2500);
    assert_false(nghttp2_session_want_read(c.s)); /* after a GOAWAY */
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_streams),
        cmocka_unit_test(test_streaming_head_gzip),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_reset_cancels),
        cmocka_unit_test(test_h2c_upgrade),
        cmocka_unit_test(test_idle_goaway),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
