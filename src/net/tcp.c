/*
 * tcp.c — the plain TCP transport: a uv_tcp_t per connection, reads into the net's
 * shared read buffer (the loop is single-threaded and protocols consume bytes during
 * on_data, so one buffer serves every connection), writes with uv_write's iovecs.
 */
#include "net/transport.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct tcp {
    uv_tcp_t handle;
};

/* One write in flight: allocated per batch rather than kept in struct tcp, so an idle
 * connection does not carry a uv_write_t (~200 bytes). */
struct write_req {
    uv_write_t req;
    uv_buf_t iov[];
};

static struct tcp *tcp_of(struct ob_conn *c)
{
    return ob_conn__tp_state(c);
}

static int tcp_accept(struct ob_conn *c, void *listen_stream)
{
    struct tcp *t = tcp_of(c);
    uv_tcp_init(ob_conn__loop(c), &t->handle);
    t->handle.data = c;
    int rc = uv_accept(listen_stream, (uv_stream_t *)&t->handle);
    if (rc == 0) uv_tcp_nodelay(&t->handle, 1);
    return rc ? OB_EIO : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    uint8_t *p;
    size_t n;
    ob_conn__read_buffer(h->data, &p, &n);
    *buf = uv_buf_init((char *)p, (unsigned)n);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ob_conn *c = s->data;
    if (nread > 0)
        ob_conn__read(c, (const uint8_t *)buf->base, (size_t)nread);
    else if (nread == UV_EOF)
        ob_conn__eof(c, 0);
    else if (nread < 0)
        ob_conn__eof(c, OB_EIO);
}

static int tcp_read_start(struct ob_conn *c)
{
    return uv_read_start((uv_stream_t *)&tcp_of(c)->handle, on_alloc, on_read) ? OB_EIO : 0;
}

static int tcp_read_stop(struct ob_conn *c)
{
    uv_read_stop((uv_stream_t *)&tcp_of(c)->handle);
    return 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct ob_conn *c = req->data;
    free(req); /* the struct write_req it heads */
    ob_conn__written(c, status ? OB_EIO : 0);
}

static int tcp_write(struct ob_conn *c, const struct ob_slice *bufs, size_t n)
{
    struct tcp *t = tcp_of(c);
    struct write_req *w = ob_xmalloc(sizeof *w + n * sizeof(uv_buf_t));
    for (size_t i = 0; i < n; i++)
        w->iov[i] = uv_buf_init((char *)bufs[i].p, (unsigned)bufs[i].n);
    w->req.data = c;
    int rc = uv_write(&w->req, (uv_stream_t *)&t->handle, w->iov, (unsigned)n, on_write);
    if (rc) {
        free(w);
        return OB_EIO;
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    ob_conn__closed(h->data);
}

static void tcp_close(struct ob_conn *c)
{
    uv_close((uv_handle_t *)&tcp_of(c)->handle, on_closed);
}

static int tcp_peer(struct ob_conn *c, struct sockaddr_storage *out)
{
    int len = sizeof *out;
    return uv_tcp_getpeername(&tcp_of(c)->handle, (struct sockaddr *)out, &len) ? OB_EIO : 0;
}

const struct ob_transport ob_transport_tcp = {
    .name = "tcp",
    .state_size = sizeof(struct tcp),
    .accept = tcp_accept,
    .read_start = tcp_read_start,
    .read_stop = tcp_read_stop,
    .write = tcp_write,
    .close = tcp_close,
    .peer = tcp_peer,
};
