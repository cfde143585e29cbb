/*
 * wheel.c — one timer per net for every connection's deadline (the idle timeout, then
 * the linger while closing), instead of a uv_timer_t (152 bytes) in each connection.
 *
 * A hashed timing wheel: time is cut into ticks of OB_NET_TICK_MS counted from the
 * net's epoch, a connection due at tick t sits in bucket t % OB_NET_WHEEL_SLOTS, and the
 * net's timer, running once a tick while any connection is in the wheel, looks at the
 * buckets of the ticks that passed. Deadlines are rounded up to a tick: nothing fires
 * early, and at most a tick (plus loop latency) late — idle timeouts and lingers are
 * seconds, not milliseconds.
 *
 * Re-arming is lazy because the idle timeout is re-armed on every read: a later
 * deadline only updates c->due, and the connection moves on when the bucket it sits in
 * (tick c->at <= c->due) comes up. Only an earlier deadline relinks at once. A deadline
 * more than a turn away comes around once per turn and is relinked. Tick numbers are
 * 32 bits: they wrap after 13 years of uptime.
 */
#include "net/net_int.h"

#include "base/alloc.h"

#include <stddef.h>
#include <stdlib.h>

static void tl_init(struct tlink *l)
{
    l->prev = l->next = l;
}

static bool tl_empty(const struct tlink *l)
{
    return l->next == l;
}

static void tl_append(struct tlink *head, struct tlink *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static void tl_unlink(struct tlink *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

static struct ob_conn *conn_of(struct tlink *l)
{
    return (struct ob_conn *)(void *)((char *)l - offsetof(struct ob_conn, timer));
}

static uint32_t now_tick(const struct ob_net *net)
{
    return (uint32_t)((uv_now(net->loop) - net->epoch_ms) / OB_NET_TICK_MS);
}

/* Visits bucket t: connections due by now fire, the others move to their due tick. The
 * bucket is taken whole first, so what the callbacks link (always due later than now)
 * waits for its own tick. */
static void run_bucket(struct ob_net *net, uint32_t t, uint32_t now)
{
    struct tlink *b = &net->wheel[t % OB_NET_WHEEL_SLOTS], local;
    if (tl_empty(b)) return;
    local.next = b->next;
    local.prev = b->prev;
    local.next->prev = &local;
    local.prev->next = &local;
    tl_init(b);
    while (!tl_empty(&local)) {
        struct ob_conn *c = conn_of(local.next);
        tl_unlink(&c->timer);
        if (c->due <= now) {
            net->timed--;
            conn_expired(c);
        } else {
            c->at = c->due;
            tl_append(&net->wheel[c->at % OB_NET_WHEEL_SLOTS], &c->timer);
        }
    }
}

static void on_tick(uv_timer_t *h)
{
    struct ob_net *net = h->data;
    uint32_t now = now_tick(net);
    if ((int32_t)(now - net->tick) < 0) return;
    /* After a stall of more than a turn, one pass over every bucket sees everything:
     * what is due fires, the rest is due after now. */
    uint32_t n = now - net->tick + 1;
    if (n > OB_NET_WHEEL_SLOTS) n = OB_NET_WHEEL_SLOTS;
    for (uint32_t i = 0; i < n; i++)
        run_bucket(net, net->tick + i, now);
    net->tick = now + 1;
    if (!net->timed) uv_timer_stop(h);
}

/* Starts the net's timer for its first timed connection (created on first use, so a
 * net that never had a connection owns no loop handle). */
static void ticker_start(struct ob_net *net)
{
    if (!net->ticker) {
        net->ticker = ob_xmalloc(sizeof *net->ticker);
        uv_timer_init(net->loop, net->ticker);
        net->ticker->data = net;
        uv_unref((uv_handle_t *)net->ticker); /* connections keep the loop alive */
    }
    if (uv_is_active((uv_handle_t *)net->ticker)) return;
    net->tick = now_tick(net); /* the wheel is empty: no bucket is skipped */
    uv_timer_start(net->ticker, on_tick, OB_NET_TICK_MS, OB_NET_TICK_MS);
}

void wheel_init(struct ob_net *net)
{
    net->epoch_ms = uv_now(net->loop);
    for (size_t i = 0; i < OB_NET_WHEEL_SLOTS; i++)
        tl_init(&net->wheel[i]);
}

void wheel_set(struct ob_conn *c, uint64_t ms)
{
    struct ob_net *net = c->l->net;
    bool linked = c->timer.next != NULL;
    if (!ms) {
        if (linked) {
            tl_unlink(&c->timer);
            net->timed--;
        }
        return;
    }
    uint64_t since = uv_now(net->loop) - net->epoch_ms;
    c->due = (uint32_t)((since + ms + OB_NET_TICK_MS - 1) / OB_NET_TICK_MS);
    if (linked && c->at <= c->due) return; /* lazy: its bucket comes first */
    if (linked) {
        tl_unlink(&c->timer);
        net->timed--;
    }
    ticker_start(net);
    c->at = c->due;
    tl_append(&net->wheel[c->at % OB_NET_WHEEL_SLOTS], &c->timer);
    net->timed++;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void wheel_free(struct ob_net *net)
{
    if (net->ticker) uv_close((uv_handle_t *)net->ticker, free_handle);
    net->ticker = NULL;
}
