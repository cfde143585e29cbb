/*
 * tcp.c — the plain TCP transport. Connections are plain non-blocking sockets in one
 * epoll set per net, which the libuv loop watches through a single uv_poll_t: a
 * connection costs its fd and a few words here instead of a uv_tcp_t (248 bytes), which
 * is most of what an idle connection weighed. Linux only, like the rest of the server.
 *
 * Reads go into the net's shared read buffer (the loop is single-threaded and protocols
 * consume bytes during on_data, so one buffer serves every connection); a batch is
 * written with sendmsg (MSG_NOSIGNAL: a vanished peer is an error, not a signal) at
 * once, and what the socket does not take waits for EPOLLOUT. The epoll set is
 * level-triggered and a socket is registered only for what is wanted, as libuv does.
 *
 * Connections arrive through the listener's uv_tcp_t: accepted into a short-lived
 * handle whose socket is duplicated, so only public libuv calls are used. A closed
 * connection is reported (ob_conn__closed frees it) from the next idle pass, never
 * from inside the call that closed it, as with libuv's own handles.
 */
#include "net/transport.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#define EVENTS_PER_PASS 128

struct tcp {
    int fd;      /* -1 once closed */
    uint8_t reg; /* events the fd is registered for in the epoll set (EPOLLIN|EPOLLOUT) */
    bool reading;
    uint32_t niov, idx; /* slices in the batch, the first not fully written */
    union {
        struct iovec *iov;           /* the batch being written (owned) */
        struct ob_conn *next_closed; /* once closed: the poller's list to report */
    } u;
};

/* Per net: the epoll set, its uv_poll_t, and the idle handle that reports closes. */
struct poller {
    int epfd;
    uv_poll_t poll;
    uv_idle_t idle;
    struct ob_conn *closed;
    size_t conns; /* open connections: the loop stays alive while there are any */
    int handles;  /* poll + idle until both have closed */
};

static struct tcp *tcp_of(struct ob_conn *c)
{
    return ob_conn__tp_state(c);
}

static struct poller *poller_of(struct ob_conn *c)
{
    return *ob_conn__tp_shared(c);
}

/* Registers exactly the events wanted: none at all removes the fd from the set, so a
 * paused connection whose peer hung up does not wake the loop again and again. */
static void update_events(struct ob_conn *c)
{
    struct tcp *t = tcp_of(c);
    if (t->fd < 0) return;
    uint8_t want = (t->reading ? EPOLLIN : 0) | (t->u.iov ? EPOLLOUT : 0);
    if (want == t->reg) return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    int op = !t->reg ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    if (epoll_ctl(poller_of(c)->epfd, op, t->fd, &ev) != 0)
        OB_WARN("net", "epoll_ctl failed", "error=\"%s\"", strerror(errno));
    t->reg = want;
}

static void write_done(struct ob_conn *c, int status)
{
    struct tcp *t = tcp_of(c);
    free(t->u.iov);
    t->u.iov = NULL;
    update_events(c);
    ob_conn__written(c, status);
}

/* Writes what the socket takes; the batch completes when all of it went (or failed). */
static void try_write(struct ob_conn *c)
{
    struct tcp *t = tcp_of(c);
    while (t->idx < t->niov) {
        size_t n = t->niov - t->idx;
        struct msghdr mh = {.msg_iov = t->u.iov + t->idx, .msg_iovlen = n};
        ssize_t w = sendmsg(t->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            update_events(c); /* EPOLLOUT */
            return;
        }
        if (w < 0) {
            write_done(c, OB_EIO);
            return;
        }
        size_t left = (size_t)w;
        while (t->idx < t->niov && left >= t->u.iov[t->idx].iov_len)
            left -= t->u.iov[t->idx++].iov_len;
        if (left) {
            t->u.iov[t->idx].iov_base = (char *)t->u.iov[t->idx].iov_base + left;
            t->u.iov[t->idx].iov_len -= left;
        }
    }
    write_done(c, 0);
}

static void do_read(struct ob_conn *c)
{
    struct tcp *t = tcp_of(c);
    uint8_t *p;
    size_t cap;
    ob_conn__read_buffer(c, &p, &cap);
    ssize_t n = read(t->fd, p, cap);
    if (n > 0)
        ob_conn__read(c, p, (size_t)n);
    else if (n == 0)
        ob_conn__eof(c, 0);
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        ob_conn__eof(c, OB_EIO);
}

static void on_epoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct poller *pl = h->data;
    struct epoll_event ev[EVENTS_PER_PASS];
    int n = epoll_wait(pl->epfd, ev, EVENTS_PER_PASS, 0);
    for (int i = 0; i < n; i++) {
        struct ob_conn *c = ev[i].data.ptr;
        struct tcp *t = tcp_of(c);
        /* A connection closed earlier in this pass stays allocated until the idle
         * pass, so its events are skipped here. */
        if (t->fd >= 0 && t->u.iov && (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            try_write(c);
        if (t->fd >= 0 && t->reading && (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            do_read(c);
    }
}

static void on_idle(uv_idle_t *h)
{
    struct poller *pl = h->data;
    while (pl->closed) {
        struct ob_conn *c = pl->closed;
        pl->closed = tcp_of(c)->u.next_closed;
        if (--pl->conns == 0) uv_unref((uv_handle_t *)&pl->poll);
        ob_conn__closed(c);
    }
    uv_idle_stop(h);
}

static struct poller *poller_get(struct ob_conn *c)
{
    void **slot = ob_conn__tp_shared(c);
    if (*slot) return *slot;
    struct poller *pl = ob_xcalloc(1, sizeof *pl);
    pl->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (pl->epfd < 0) { /* out of descriptors at the very first connection */
        OB_ERROR("net", "epoll_create1 failed", "error=\"%s\"", strerror(errno));
        abort();
    }
    uv_loop_t *loop = ob_conn__loop(c);
    uv_poll_init(loop, &pl->poll, pl->epfd);
    uv_idle_init(loop, &pl->idle);
    pl->poll.data = pl->idle.data = pl;
    pl->handles = 2;
    uv_poll_start(&pl->poll, UV_READABLE, on_epoll);
    uv_unref((uv_handle_t *)&pl->poll); /* referenced while connections exist */
    *slot = pl;
    return pl;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* Takes the accepted socket out of a throwaway uv_tcp_t (a duplicate, since closing the
 * handle closes its descriptor). */
static int accept_fd(struct ob_conn *c, void *listen_stream)
{
    uv_tcp_t *catcher = ob_xmalloc(sizeof *catcher);
    uv_tcp_init(ob_conn__loop(c), catcher);
    uv_os_fd_t ufd;
    int fd = -1;
    if (uv_accept(listen_stream, (uv_stream_t *)catcher) == 0 &&
        uv_fileno((uv_handle_t *)catcher, &ufd) == 0)
        fd = fcntl(ufd, F_DUPFD_CLOEXEC, 0);
    uv_close((uv_handle_t *)catcher, free_handle);
    return fd;
}

static int tcp_accept(struct ob_conn *c, void *listen_stream)
{
    struct tcp *t = tcp_of(c);
    struct poller *pl = poller_get(c);
    if (pl->conns++ == 0) uv_ref((uv_handle_t *)&pl->poll);
    t->fd = accept_fd(c, listen_stream);
    if (t->fd < 0) return OB_EIO;
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static int tcp_read_start(struct ob_conn *c)
{
    tcp_of(c)->reading = true;
    update_events(c);
    return 0;
}

static int tcp_read_stop(struct ob_conn *c)
{
    tcp_of(c)->reading = false;
    update_events(c);
    return 0;
}

/* May complete (ob_conn__written) before it returns when the socket takes it all. */
static int tcp_write(struct ob_conn *c, const struct ob_slice *bufs, size_t n)
{
    struct tcp *t = tcp_of(c);
    if (t->fd < 0) return OB_EIO;
    t->u.iov = ob_xmalloc(n * sizeof *t->u.iov);
    for (size_t i = 0; i < n; i++)
        t->u.iov[i] = (struct iovec){(void *)bufs[i].p, bufs[i].n};
    t->niov = (uint32_t)n;
    t->idx = 0;
    try_write(c);
    return 0;
}

static void tcp_close(struct ob_conn *c)
{
    struct tcp *t = tcp_of(c);
    struct poller *pl = poller_of(c);
    if (t->fd >= 0) {
        t->reading = false;
        if (t->reg) epoll_ctl(pl->epfd, EPOLL_CTL_DEL, t->fd, NULL);
        t->reg = 0;
        close(t->fd);
        t->fd = -1;
    }
    if (t->u.iov) write_done(c, OB_EIO); /* cancelled, as libuv cancels a uv_write */
    t->u.next_closed = pl->closed;
    pl->closed = c;
    uv_idle_start(&pl->idle, on_idle);
}

static int tcp_peer(struct ob_conn *c, struct sockaddr_storage *out)
{
    socklen_t len = sizeof *out;
    return getpeername(tcp_of(c)->fd, (struct sockaddr *)out, &len) ? OB_EIO : 0;
}

static void on_poller_closed(uv_handle_t *h)
{
    struct poller *pl = h->data;
    if (--pl->handles) return;
    close(pl->epfd);
    free(pl);
}

static void tcp_free_shared(void *shared)
{
    struct poller *pl = shared;
    uv_close((uv_handle_t *)&pl->poll, on_poller_closed);
    uv_close((uv_handle_t *)&pl->idle, on_poller_closed);
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
    .free_shared = tcp_free_shared,
};
