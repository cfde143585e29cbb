/*
 * conn.c — one connection's life: accept, reads into the protocol, the zero-copy write
 * queue with back-pressure, the idle/linger timer, and the two ways to close.
 *
 * Teardown happens once (c->dead): the protocol's on_close runs, the transport and the
 * timer close, and the struct is freed when both handles have reported closed. Write
 * batches still in flight come back through ob_conn__written (libuv cancels them)
 * before the transport's close completes, so every release callback runs exactly once.
 */
#include "net/net_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

static void teardown(struct ob_conn *c);
static void flush(struct ob_conn *c);

/* ---- reading ------------------------------------------------------------------ */

/* Reads while nobody holds a pause: not congested, not paused by the protocol, not
 * closing. */
static void update_reading(struct ob_conn *c)
{
    bool want = !c->dead && !c->closing && !c->congested && !c->paused;
    if (want == c->reading) return;
    c->reading = want;
    if (want)
        c->tp->read_start(c);
    else
        c->tp->read_stop(c);
}

static void on_timer(uv_timer_t *t)
{
    struct ob_conn *c = t->data;
    if (c->closing) {
        teardown(c); /* linger expired: drop what could not be written */
        return;
    }
    OB_DEBUG("net", "idle timeout", "conn=%llu peer=%s", (unsigned long long)c->id, c->peer_name);
    ob_conn_close(c, OB_ETIMEDOUT);
}

static void arm_idle(struct ob_conn *c)
{
    if (c->dead || c->closing) return;
    if (c->idle_ms)
        uv_timer_start(&c->timer, on_timer, c->idle_ms, 0);
    else
        uv_timer_stop(&c->timer);
}

void ob_conn__read(struct ob_conn *c, const uint8_t *p, size_t n)
{
    if (c->dead || c->closing) return;
    arm_idle(c);
    c->l->proto->on_data(c, p, n);
}

void ob_conn__eof(struct ob_conn *c, int status)
{
    if (status)
        ob_conn_abort(c, status);
    else
        ob_conn_close(c, 0); /* a half-close still gets the replies already queued */
}

void ob_conn__read_buffer(struct ob_conn *c, uint8_t **p, size_t *n)
{
    *p = c->net->readbuf;
    *n = sizeof c->net->readbuf;
}

void *ob_conn__loop(struct ob_conn *c)
{
    return c->net->loop;
}

void **ob_conn__tp_state(struct ob_conn *c)
{
    return &c->tp_state;
}

/* ---- writing ---------------------------------------------------------------------- */

static void release_chunks(struct chunk *ch)
{
    while (ch) {
        struct chunk *next = ch->next;
        if (ch->release) ch->release(ch->arg);
        free(ch);
        ch = next;
    }
}

/* The queue size at which a connection is dropped as a slow consumer. */
static size_t hard_limit(const struct ob_conn *c)
{
    const struct ob_net_limits *l = &c->net->limits;
    return (size_t)(2 * l->write_buffer + l->max_frame_size);
}

/* Hands every pending chunk (up to OB_NET_MAX_IOV slices) to the transport as one
 * batch, unless a batch is already in flight. */
static void flush(struct ob_conn *c)
{
    if (c->writing || c->dead || !c->pending) return;
    struct ob_slice *iov = ob_xmalloc(OB_NET_MAX_IOV * sizeof *iov);
    size_t n = 0;
    struct chunk **tail = &c->inflight;
    while (c->pending && n + c->pending->n <= OB_NET_MAX_IOV) {
        struct chunk *ch = c->pending;
        memcpy(iov + n, ch->iov, ch->n * sizeof *iov);
        n += ch->n;
        c->pending = ch->next;
        ch->next = NULL;
        *tail = ch;
        tail = &ch->next;
    }
    if (!c->pending) c->pending_tail = &c->pending;
    c->writing = true;
    int rc = c->tp->write(c, iov, n);
    free(iov);
    if (rc) ob_conn__written(c, rc);
}

static void dirty_unlink(struct ob_conn *c)
{
    if (!c->dirty) return;
    if (c->dprev) c->dprev->dnext = c->dnext;
    else c->net->dirty = c->dnext;
    if (c->dnext) c->dnext->dprev = c->dprev;
    c->dprev = c->dnext = NULL;
    c->dirty = false;
}

static void on_flush(uv_prepare_t *h)
{
    struct ob_net *net = h->data;
    while (net->dirty) {
        struct ob_conn *c = net->dirty;
        dirty_unlink(c);
        flush(c);
    }
    uv_prepare_stop(h);
    net->flusher_on = false;
}

/* Queues c for the flush before the loop next polls (see net_int.h). */
static void mark_dirty(struct ob_conn *c)
{
    struct ob_net *net = c->net;
    if (!c->dirty) {
        c->dirty = true;
        c->dprev = NULL;
        c->dnext = net->dirty;
        if (net->dirty) net->dirty->dprev = c;
        net->dirty = c;
    }
    if (!net->flusher) {
        net->flusher = ob_xmalloc(sizeof *net->flusher);
        uv_prepare_init(net->loop, net->flusher);
        net->flusher->data = net;
        uv_unref((uv_handle_t *)net->flusher);
    }
    if (!net->flusher_on) {
        uv_prepare_start(net->flusher, on_flush);
        net->flusher_on = true;
    }
}

static void drained(struct ob_conn *c)
{
    if (c->congested && c->queued <= c->net->limits.write_buffer / 2) {
        c->congested = false;
        update_reading(c);
        if (c->l->proto->on_writable) c->l->proto->on_writable(c);
    }
    if (c->closing && !c->dead && c->queued == 0) teardown(c);
}

void ob_conn__written(struct ob_conn *c, int status)
{
    struct chunk *done = c->inflight;
    c->inflight = NULL;
    c->writing = false;
    for (struct chunk *ch = done; ch; ch = ch->next)
        c->queued -= ch->bytes;
    release_chunks(done);
    if (c->dead) return;
    if (status) {
        ob_conn_abort(c, status);
        return;
    }
    flush(c);
    drained(c);
}

int ob_conn_write(struct ob_conn *c, const struct ob_slice *iov, size_t n, ob_release_fn release,
                  void *arg)
{
    if (c->dead || c->closing || n > OB_NET_MAX_IOV) {
        if (release) release(arg);
        return n > OB_NET_MAX_IOV ? OB_EINVAL : OB_ECLOSED;
    }
    struct chunk *ch = ob_xmalloc(sizeof *ch + n * sizeof *iov);
    ch->next = NULL;
    ch->release = release;
    ch->arg = arg;
    ch->n = 0;
    ch->bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (iov[i].n) ch->iov[ch->n++] = iov[i], ch->bytes += iov[i].n;
    if (!ch->bytes) { /* nothing to write: done already */
        free(ch);
        if (release) release(arg);
        return 0;
    }
    *c->pending_tail = ch;
    c->pending_tail = &ch->next;
    c->queued += ch->bytes;
    if (c->queued > hard_limit(c)) {
        OB_WARN("net", "slow consumer: closing", "conn=%llu peer=%s queued=%zu",
                (unsigned long long)c->id, c->peer_name, c->queued);
        ob_conn_abort(c, OB_ELIMIT);
        return OB_ELIMIT;
    }
    if (c->queued > c->net->limits.write_buffer && !c->congested) {
        c->congested = true;
        update_reading(c);
    }
    mark_dirty(c);
    return 0;
}

int ob_conn_write_copy(struct ob_conn *c, const void *p, size_t n)
{
    void *copy = ob_xmemdup(p, n);
    struct ob_slice s = {copy, n};
    return ob_conn_write(c, &s, 1, free, copy);
}

void ob_conn_release_msg(void *msg)
{
    ob_msg_unref(msg);
}

/* ---- closing ----------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    ob_conn__closed(h->data);
}

void ob_conn__closed(struct ob_conn *c)
{
    if (--c->handles > 0) return;
    release_chunks(c->inflight);
    struct ob_net *net = c->net;
    net_release_listener(c->l);
    free(c);
    net->alive--;
    net_check_done(net);
}

static void teardown(struct ob_conn *c)
{
    if (c->dead) return;
    c->dead = true;
    c->reading = false;
    dirty_unlink(c);
    if (c->linked) net_conn_unlink(c->net, c);
    if (c->accepted) {
        OB_DEBUG("net", "connection closed", "listener=%s conn=%llu peer=%s status=\"%s\"",
                 c->l->name, (unsigned long long)c->id, c->peer_name, ob_strerror(c->status));
        if (c->l->proto->on_close) c->l->proto->on_close(c, c->status);
    }
    struct chunk *pending = c->pending;
    c->pending = NULL;
    c->pending_tail = &c->pending;
    for (struct chunk *ch = pending; ch; ch = ch->next)
        c->queued -= ch->bytes;
    release_chunks(pending);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    if (c->tp_state)
        c->tp->close(c);
    else
        ob_conn__closed(c);
}

void ob_conn_close(struct ob_conn *c, int status)
{
    if (c->dead || c->closing) return;
    c->closing = true;
    c->status = status;
    update_reading(c);
    if (c->queued == 0) {
        teardown(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, c->net->linger_ms, 0);
}

void ob_conn_abort(struct ob_conn *c, int status)
{
    if (c->dead) return;
    if (!c->closing) c->status = status;
    teardown(c);
}

/* ---- accepting ------------------------------------------------------------------- */

static void name_peer(struct ob_conn *c)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (c->tp->peer(c, &c->peer) == 0 && c->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&c->peer;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(c->peer_name, sizeof c->peer_name, "[%s]:%u", ip, port);
        return;
    }
    if (c->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&c->peer;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
    }
    snprintf(c->peer_name, sizeof c->peer_name, "%s:%u", ip, port);
}

void conn_accept(struct listener *l)
{
    struct ob_net *net = l->net;
    struct ob_conn *c = ob_xcalloc(1, sizeof *c);
    c->net = net;
    c->l = l;
    l->refs++;
    net->alive++;
    c->tp = l->tp;
    c->id = ++net->next_id;
    c->pending_tail = &c->pending;
    c->idle_ms = net->limits.idle_timeout_ms;
    c->handles = 1;
    uv_timer_init(net->loop, &c->timer);
    c->timer.data = c;
    int rc = c->tp->accept(c, &l->handle);
    if (c->tp_state) c->handles++;
    if (rc == 0) name_peer(c);
    if (rc || !net_admit(net, c)) {
        teardown(c);
        return;
    }
    OB_DEBUG("net", "connection accepted", "listener=%s conn=%llu peer=%s", l->name,
             (unsigned long long)c->id, c->peer_name);
    /* Accepted before on_accept runs, so that a close from inside on_accept still
     * reaches on_close; a refusal (nonzero) means the protocol kept nothing. */
    c->accepted = true;
    if (l->proto->on_accept && l->proto->on_accept(c) != 0) {
        c->accepted = false;
        teardown(c);
        return;
    }
    if (c->dead) return;
    update_reading(c);
    arm_idle(c);
}

/* ---- accessors and per-connection settings --------------------------------------- */

bool ob_conn_congested(const struct ob_conn *c)
{
    return c->congested;
}

size_t ob_conn_queued_bytes(const struct ob_conn *c)
{
    return c->queued;
}

void ob_conn_pause(struct ob_conn *c)
{
    c->paused = true;
    update_reading(c);
}

void ob_conn_resume(struct ob_conn *c)
{
    c->paused = false;
    update_reading(c);
}

void ob_conn_set_idle_timeout(struct ob_conn *c, uint64_t ms)
{
    c->idle_ms = ms;
    arm_idle(c);
}

void *ob_conn_data(const struct ob_conn *c)
{
    return c->data;
}

void ob_conn_set_data(struct ob_conn *c, void *data)
{
    c->data = data;
}

void *ob_conn_proto_state(const struct ob_conn *c)
{
    return c->l->state;
}

const struct ob_proto_host *ob_conn_host(const struct ob_conn *c)
{
    return &c->l->host;
}

const struct sockaddr *ob_conn_peer(const struct ob_conn *c)
{
    return (const struct sockaddr *)&c->peer;
}

const char *ob_conn_peer_name(const struct ob_conn *c)
{
    return c->peer_name;
}

const char *ob_conn_listener_name(const struct ob_conn *c)
{
    return c->l->name;
}

uint64_t ob_conn_id(const struct ob_conn *c)
{
    return c->id;
}
