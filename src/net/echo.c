/*
 * echo.c — the "echo" line protocol: every line received is written back; "quit"
 * answers "bye" and closes gracefully. It exists to exercise and diagnose the network
 * layer (limits, back-pressure, timeouts) with nothing but a socket, in the unit tests
 * and through listeners.echo in a running server. A line longer than max_frame_size
 * is a protocol error: the connection gets "error: line too long" and is closed.
 */
#include "net/net.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

struct echo {
    struct ob_buf partial; /* bytes of a line not yet terminated */
};

static int echo_accept(struct ob_conn *c)
{
    ob_conn_set_data(c, ob_xcalloc(1, sizeof(struct echo)));
    return 0;
}

static size_t max_line(struct ob_conn *c)
{
    uint64_t m = ob_conn_host(c)->limits ? ob_conn_host(c)->limits->max_frame_size : 0;
    return m ? (size_t)m : (size_t)1 << 20;
}

/* Handles one complete line (without its '\n'). */
static void echo_line(struct ob_conn *c, const uint8_t *p, size_t n)
{
    size_t len = n && p[n - 1] == '\r' ? n - 1 : n;
    if (len == 4 && !memcmp(p, "quit", 4)) {
        ob_conn_write_copy(c, "bye\n", 4);
        ob_conn_close(c, 0);
        return;
    }
    uint8_t *copy = ob_xmalloc(n + 1);
    memcpy(copy, p, n);
    copy[n] = '\n';
    struct ob_slice s = {copy, n + 1};
    ob_conn_write(c, &s, 1, free, copy);
}

static void echo_data(struct ob_conn *c, const uint8_t *p, size_t n)
{
    struct echo *e = ob_conn_data(c);
    while (n) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (e->partial.len + take > max_line(c)) {
            ob_conn_write_copy(c, "error: line too long\n", 21);
            ob_conn_close(c, OB_ETOOBIG);
            return;
        }
        if (!nl) {
            ob_buf_append(&e->partial, p, n);
            return;
        }
        if (e->partial.len) {
            ob_buf_append(&e->partial, p, take);
            echo_line(c, e->partial.p, e->partial.len);
            e->partial.len = 0;
        } else {
            echo_line(c, p, take);
        }
        p += take + 1;
        n -= take + 1;
    }
}

static void echo_close(struct ob_conn *c, int status)
{
    (void)status;
    struct echo *e = ob_conn_data(c);
    ob_buf_release(&e->partial);
    free(e);
}

const struct ob_protocol ob_echo_protocol = {
    .name = "echo",
    .on_accept = echo_accept,
    .on_data = echo_data,
    .on_close = echo_close,
};
