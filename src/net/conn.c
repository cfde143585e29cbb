/*
 * conn.c — one connection's life: accept, reads into the protocol, the zero-copy write
 * queue with back-pressure, the idle/linger deadline (in the net's wheel, wheel.c), and
 * the two ways to close.
 *
 * Teardown happens once (c->dead): the protocol's on_close runs, the deadline is
 * cleared, the transport closes, and the struct (with the transport state allocated
 * after it) is freed when the transport has reported closed. Write batches still in
 * flight come back through ob_conn__written (libuv cancels them) before the transport's
 * close completes, so every release callback runs exactly once.
 */
#include "net/net_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void teardown(struct ob_conn *c);
static void flush(struct ob_conn *c);

static struct ob_net *net_of(const struct ob_conn *c)
{
    return c->l->net;
}

static const struct ob_transport *tp_of(const struct ob_conn *c)
{
    return c->l->tp;
}

/* Idle timeouts are kept in 32 bits of ms (49 days); longer ones are as good as none. */
static uint32_t limit_ms(uint64_t ms)
{
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* The transport state follows the struct in the same allocation. */
#define TP_STATE_OFFSET                                                                            \
    ((sizeof(struct ob_conn) + alignof(max_align_t) - 1) / alignof(max_align_t) *                  \
     alignof(max_align_t))

/* Every idle connection of every protocol carries this struct: growing it shows in the
 * idle-memory row of bench/mqtt.sh (issue 5), so a change past this bound should be a
 * decision, not an accident. */
_Static_assert(sizeof(struct ob_conn) <= 176, "struct ob_conn grew: see bench/RESULTS.md");

/* ---- reading ------------------------------------------------------------------ */

/* Reads while nobody holds a pause: not congested, not paused by the protocol, not
 * closing. */
static void update_reading(struct ob_conn *c)
{
    bool want = !c->dead && !c->closing && !c->congested && !c->paused;
    if (want == c->reading) return;
    c->reading = want;
    if (want)
        tp_of(c)->read_start(c);
    else
        tp_of(c)->read_stop(c);
}

void conn_expired(struct ob_conn *c)
{
    if (c->closing) {
        teardown(c); /* linger expired: drop what could not be written */
        return;
    }
    OB_DEBUG("net", "idle timeout", "conn=%llu peer=%s", (unsigned long long)c->id,
             ob_conn_peer_name(c));
    ob_conn_close(c, OB_ETIMEDOUT);
}

static void arm_idle(struct ob_conn *c)
{
    if (c->dead || c->closing) return;
    wheel_set(c, c->idle_ms);
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
    *p = net_of(c)->readbuf;
    *n = sizeof net_of(c)->readbuf;
}

void *ob_conn__loop(struct ob_conn *c)
{
    return net_of(c)->loop;
}

void **ob_conn__tp_shared(struct ob_conn *c)
{
    return &net_of(c)->tp_shared;
}

void *ob_conn__tp_state(struct ob_conn *c)
{
    return (char *)c + TP_STATE_OFFSET;
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
    const struct ob_net_limits *l = &net_of(c)->limits;
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
    int rc = tp_of(c)->write(c, iov, n);
    free(iov);
    if (rc) ob_conn__written(c, rc);
}

static void dirty_unlink(struct ob_conn *c)
{
    if (!c->dirty) return;
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        net_of(c)->dirty = c->dnext;
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
    struct ob_net *net = net_of(c);
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
    if (c->dead) return; /* a write that completed at once may have closed c */
    if (c->congested && c->queued <= net_of(c)->limits.write_buffer / 2) {
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
                (unsigned long long)c->id, ob_conn_peer_name(c), c->queued);
        ob_conn_abort(c, OB_ELIMIT);
        return OB_ELIMIT;
    }
    if (c->queued > net_of(c)->limits.write_buffer && !c->congested) {
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

void ob_conn__closed(struct ob_conn *c)
{
    release_chunks(c->inflight);
    struct ob_net *net = net_of(c);
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
    if (c->linked) net_conn_unlink(net_of(c), c);
    if (c->accepted) {
        OB_DEBUG("net", "connection closed", "listener=%s conn=%llu peer=%s status=\"%s\"",
                 c->l->name, (unsigned long long)c->id, ob_conn_peer_name(c),
                 ob_strerror(c->status));
        if (c->l->proto->on_close) c->l->proto->on_close(c, c->status);
    }
    struct chunk *pending = c->pending;
    c->pending = NULL;
    c->pending_tail = &c->pending;
    for (struct chunk *ch = pending; ch; ch = ch->next)
        c->queued -= ch->bytes;
    release_chunks(pending);
    wheel_set(c, 0);
    if (c->tp_open)
        tp_of(c)->close(c);
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
    /* A linger of 0 (a shutdown that drops output) still waits for the next tick. */
    wheel_set(c, net_of(c)->linger_ms ? net_of(c)->linger_ms : 1);
}

void ob_conn_abort(struct ob_conn *c, int status)
{
    if (c->dead) return;
    if (!c->closing) c->status = status;
    teardown(c);
}

/* ---- accepting ------------------------------------------------------------------- */

/* Keeps the peer's address in the space its family needs. */
static void get_peer(struct ob_conn *c)
{
    struct sockaddr_storage ss;
    if (tp_of(c)->peer(c, &ss) != 0) return; /* family 0: unknown */
    if (ss.ss_family == AF_INET6)
        memcpy(&c->peer.in6, &ss, sizeof c->peer.in6);
    else if (ss.ss_family == AF_INET)
        memcpy(&c->peer.in, &ss, sizeof c->peer.in);
}

void conn_accept(struct listener *l)
{
    struct ob_net *net = l->net;
    struct ob_conn *c = ob_xcalloc(1, TP_STATE_OFFSET + l->tp->state_size);
    c->l = l;
    l->refs++;
    net->alive++;
    c->id = ++net->next_id;
    c->pending_tail = &c->pending;
    c->idle_ms = limit_ms(net->limits.idle_timeout_ms);
    int rc = tp_of(c)->accept(c, &l->handle);
    c->tp_open = true; /* initialized even when accept failed */
    if (rc == 0) get_peer(c);
    if (rc || !net_admit(net, c)) {
        teardown(c);
        return;
    }
    OB_DEBUG("net", "connection accepted", "listener=%s conn=%llu peer=%s", l->name,
             (unsigned long long)c->id, ob_conn_peer_name(c));
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
    c->idle_ms = limit_ms(ms);
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
    return &c->peer.sa;
}

/* Formatted on demand (only log lines want it) into the next of the net's buffers. */
const char *ob_conn_peer_name(const struct ob_conn *c)
{
    struct ob_net *net = net_of(c);
    char *out = net->peer_names[net->next_peer_name++ % 4];
    size_t cap = sizeof net->peer_names[0];
    char ip[INET6_ADDRSTRLEN] = "?";
    if (c->peer.sa.sa_family == AF_INET6) {
        uv_ip6_name(&c->peer.in6, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(c->peer.in6.sin6_port));
    } else if (c->peer.sa.sa_family == AF_INET) {
        uv_ip4_name(&c->peer.in, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(c->peer.in.sin_port));
    } else {
        snprintf(out, cap, "?:0");
    }
    return out;
}

const char *ob_conn_listener_name(const struct ob_conn *c)
{
    return c->l->name;
}

uint64_t ob_conn_id(const struct ob_conn *c)
{
    return c->id;
}
