/*
 * bus.c — the bus: router (subject -> subscribers and streams), direct subscriptions,
 * publish with durable-ack callbacks, and the deferred-work pass.
 *
 * Publishing matches the subject once in the sublist and hands the message to every
 * matching item: sync subscribers are called at once, async subscribers are queued,
 * streams append it. A publish callback waits on every stream that stored the message
 * (struct ob_pubctx counts them down).
 *
 * Deferred work (async deliveries, consumer deliveries, freeing unsubscribed subs) runs
 * from one uv_idle handle that is active only while there is work, so an idle bus
 * costs nothing and a busy one never blocks the loop for long: each pass is bounded.
 */
#include "core/core.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_MSG (UINT32_C(8) << 20)
#define ASYNC_PER_PASS  4096

_Static_assert(OB_STATS_FSYNC_BUCKETS == OB_FSYNC_BUCKETS, "one histogram shape");

static void on_idle(uv_idle_t *h);

static void want_idle(struct ob_bus *bus)
{
    if (bus->idle_on) return;
    bus->idle_on = true;
    uv_idle_start(&bus->idle, on_idle);
}

void ob_bus_note_error(struct ob_bus *bus, int err)
{
    if (err && !bus->first_error) bus->first_error = err;
}

void ob_bus_kick(struct ob_bus *bus, struct ob_consumer *c)
{
    if (c->kicked) return;
    c->kicked = true;
    OB_GROW(bus->kick, bus->kick_cap, bus->nkick + 1);
    bus->kick[bus->nkick++] = c;
    want_idle(bus);
}

void ob_bus_unkick(struct ob_bus *bus, struct ob_consumer *c)
{
    if (!c->kicked) return;
    c->kicked = false;
    for (size_t i = 0; i < bus->nkick; i++) {
        if (bus->kick[i] != c) continue;
        memmove(&bus->kick[i], &bus->kick[i + 1], (bus->nkick - i - 1) * sizeof *bus->kick);
        bus->nkick--;
        return;
    }
}

/* ---- open / close ------------------------------------------------------------------ */

static int open_loop(struct ob_bus *bus, const struct ob_bus_options *opt)
{
    if (opt && opt->uv_loop) {
        bus->loop = opt->uv_loop;
        return 0;
    }
    if (uv_loop_init(&bus->own_loop) != 0) return OB_EIO;
    bus->loop = &bus->own_loop;
    bus->owns_loop = true;
    return 0;
}

int ob_bus_open(struct ob_bus **out, const struct ob_bus_options *opt)
{
    struct ob_bus *bus = ob_xcalloc(1, sizeof *bus);
    int rc = open_loop(bus, opt);
    if (rc) {
        free(bus);
        return rc;
    }
    bus->max_msg_size = opt && opt->max_msg_size ? opt->max_msg_size : DEFAULT_MAX_MSG;
    ob_sublist_init(&bus->subs);
    uv_idle_init(bus->loop, &bus->idle);
    bus->idle.data = bus;
    if (opt && opt->data_dir) {
        bus->data_dir = ob_xstrdup(opt->data_dir);
        rc = ob_store_open(&bus->store, bus->loop);
        if (!rc) rc = ob_streams_recover(bus);
    }
    if (rc) {
        ob_bus_close(bus);
        return rc;
    }
    *out = bus;
    return 0;
}

static void free_sub(struct ob_sub *s)
{
    free(s->filter);
    free(s);
}

static void drop_sub_ref(struct ob_sub *s)
{
    if (--s->refs == 0) free_sub(s);
}

static void close_streams(struct ob_bus *bus)
{
    size_t n;
    void **list = ob_map_values(&bus->streams, &n);
    for (size_t k = 0; k < n; k++)
        ob_stream_close(list[k]);
    free(list);
    ob_map_release(&bus->streams);
}

static void drain_async_queue(struct ob_bus *bus)
{
    for (; bus->aq_len; bus->aq_len--) {
        struct async_item *it = &bus->aq[bus->aq_head];
        bus->aq_head = (bus->aq_head + 1) % bus->aq_cap;
        ob_msg_unref(it->msg);
        drop_sub_ref(it->sub);
    }
}

void ob_bus_close(struct ob_bus *bus)
{
    if (!bus) return;
    ob_bus_flush(bus);
    bus->closing = true;
    close_streams(bus);
    if (bus->store) ob_store_close(bus->store);
    drain_async_queue(bus);
    for (size_t i = 0; i < bus->ngrave; i++)
        drop_sub_ref(bus->graveyard[i]);
    /* Subscriptions never unsubscribed are freed with the bus. */
    while (bus->live_subs) {
        struct ob_sub *s = bus->live_subs;
        bus->live_subs = s->next;
        drop_sub_ref(s);
    }
    ob_sublist_release(&bus->subs);
    uv_close((uv_handle_t *)&bus->idle, NULL);
    /* One more turn runs the close callbacks of our handles before their memory goes. */
    uv_run(bus->loop, UV_RUN_NOWAIT);
    if (bus->owns_loop) uv_loop_close(bus->loop);
    free(bus->aq);
    free(bus->kick);
    free(bus->graveyard);
    free(bus->data_dir);
    free(bus);
}

/* ---- running ------------------------------------------------------------------------ */

int ob_bus_run(struct ob_bus *bus, enum ob_run_mode mode)
{
    uv_run_mode m = mode == OB_RUN_ONCE     ? UV_RUN_ONCE
                    : mode == OB_RUN_NOWAIT ? UV_RUN_NOWAIT
                                            : UV_RUN_DEFAULT;
    return uv_run(bus->loop, m);
}

void ob_bus_stop(struct ob_bus *bus)
{
    uv_stop(bus->loop);
}

void *ob_bus_uv_loop(struct ob_bus *bus)
{
    return bus->loop;
}

int ob_bus_flush(struct ob_bus *bus)
{
    for (;;) {
        bool work = bus->aq_len || bus->nkick || bus->ngrave;
        size_t pend = bus->store ? ob_store_pending(bus->store) : 0;
        if (!work && !pend) break;
        uv_run(bus->loop, work ? UV_RUN_NOWAIT : UV_RUN_ONCE);
    }
    int rc = bus->store ? ob_store_drain(bus->store) : 0;
    if (!rc) rc = bus->first_error;
    bus->first_error = 0;
    return rc;
}

void ob_bus_get_stats(struct ob_bus *bus, struct ob_bus_stats *out)
{
    memset(out, 0, sizeof *out);
    out->streams = bus->streams.count;
    const uint64_t *bounds = ob_store_fsync_bounds_ns();
    for (size_t i = 0; i < OB_STATS_FSYNC_BUCKETS; i++)
        out->fsync_bound_ns[i] = bounds[i];
    if (!bus->store) return;
    struct ob_store_stats s;
    ob_store_get_stats(bus->store, &s);
    out->fsyncs = s.fsyncs;
    out->fsync_ns_sum = s.fsync_ns_sum;
    memcpy(out->fsync_bucket, s.fsync_bucket, sizeof out->fsync_bucket);
    out->bytes_written = s.bytes_written;
    out->write_errors = s.write_errors;
}

/* ---- publish ------------------------------------------------------------------------ */

struct ob_pubctx *ob_pubctx_new(struct ob_bus *bus, ob_publish_cb cb, void *arg)
{
    struct ob_pubctx *pc = ob_xcalloc(1, sizeof *pc);
    pc->bus = bus;
    pc->cb = cb;
    pc->arg = arg;
    pc->waiting = 1; /* the publish call itself */
    return pc;
}

void ob_pubctx_hold(struct ob_pubctx *pc)
{
    pc->waiting++;
}

void ob_pubctx_done(struct ob_pubctx *pc, struct ob_stream *st, uint64_t seq, int status)
{
    if (status && !pc->status) pc->status = status;
    if (!status && st && seq) {
        if (!pc->nstreams++) {
            pc->first_stream = ob_xstrdup(st->name);
            pc->first_seq = seq;
        }
    }
    if (--pc->waiting) return;
    struct ob_pub_ack ack = {pc->first_stream, pc->first_seq, pc->nstreams};
    pc->cb(pc->arg, pc->status, &ack);
    free(pc->first_stream);
    free(pc);
}

static void enqueue_async(struct ob_bus *bus, struct ob_sub *s, struct ob_msg *m)
{
    if (bus->aq_len == bus->aq_cap) {
        size_t ncap = bus->aq_cap ? bus->aq_cap * 2 : 64;
        struct async_item *n = ob_xmalloc(ncap * sizeof *n);
        for (size_t i = 0; i < bus->aq_len; i++)
            n[i] = bus->aq[(bus->aq_head + i) % bus->aq_cap];
        free(bus->aq);
        bus->aq = n;
        bus->aq_cap = ncap;
        bus->aq_head = 0;
    }
    bus->aq[(bus->aq_head + bus->aq_len++) % bus->aq_cap] = (struct async_item){s, ob_msg_ref(m)};
    s->refs++;
    want_idle(bus);
}

static void deliver_direct(struct ob_bus *bus, struct ob_sub *s, struct ob_msg *m)
{
    if (s->dead) return;
    if (s->flags & OB_SUB_ASYNC) {
        enqueue_async(bus, s, m);
        return;
    }
    struct ob_delivery d = {.msg = m, .delivery_count = 1};
    s->cb(s->arg, &d);
}

/* Copies the match result: callbacks may subscribe or unsubscribe, which invalidates
 * the sublist's cached array. */
static void **snapshot_matches(struct ob_bus *bus, struct ob_slice subject, size_t *n,
                               void **stackbuf, size_t stackn)
{
    struct ob_sublist_result r = ob_sublist_match(&bus->subs, subject);
    *n = r.n;
    void **items = r.n <= stackn ? stackbuf : ob_xmalloc(r.n * sizeof(void *));
    if (r.n) memcpy(items, r.items, r.n * sizeof(void *));
    return items;
}

static void dispatch(struct ob_bus *bus, struct ob_msg *msg, struct ob_pubctx *pc)
{
    void *stackbuf[32];
    size_t n;
    void **items = snapshot_matches(bus, msg->subject, &n, stackbuf, 32);
    uint64_t gen = ++bus->publish_gen;
    bus->dispatch_depth++;
    for (size_t i = 0; i < n; i++) {
        enum ob_item_kind kind = *(enum ob_item_kind *)items[i];
        if (kind == OB_ITEM_SUB) {
            deliver_direct(bus, items[i], msg);
            continue;
        }
        struct ob_stream *st = items[i];
        if (st->seen_gen == gen) continue; /* several of its filters matched */
        st->seen_gen = gen;
        int rc = ob_stream_capture(st, msg, pc);
        if (rc && !pc)
            OB_DEBUG("bus", "stream rejected message", "stream=%s err=\"%s\"", st->name,
                     ob_strerror(rc));
    }
    bus->dispatch_depth--;
    if (items != stackbuf) free(items);
}

int ob_publish(struct ob_bus *bus, struct ob_msg *msg, ob_publish_cb cb, void *arg)
{
    if (bus->closing) return OB_ECLOSED;
    if (ob_msg_size(msg) > bus->max_msg_size) return OB_ETOOBIG;
    struct ob_pubctx *pc = cb ? ob_pubctx_new(bus, cb, arg) : NULL;
    ob_msg_ref(msg);
    dispatch(bus, msg, pc);
    ob_msg_unref(msg);
    if (pc) ob_pubctx_done(pc, NULL, 0, 0);
    return 0;
}

/* ---- subscriptions ------------------------------------------------------------------ */

int ob_subscribe(struct ob_bus *bus, const char *filter, unsigned flags, ob_deliver_cb cb,
                 void *arg, struct ob_sub **out)
{
    if (!filter || !cb || !ob_filter_valid(ob_slice_str(filter))) return OB_EBADSUBJECT;
    struct ob_sub *s = ob_xcalloc(1, sizeof *s);
    s->kind = OB_ITEM_SUB;
    s->bus = bus;
    s->filter = ob_xstrdup(filter);
    s->flags = flags;
    s->cb = cb;
    s->arg = arg;
    s->refs = 1;
    s->next = bus->live_subs;
    if (s->next) s->next->prev = s;
    bus->live_subs = s;
    ob_sublist_insert(&bus->subs, ob_slice_str(s->filter), s);
    if (out) *out = s;
    return 0;
}

void ob_unsubscribe(struct ob_sub *s)
{
    if (!s || s->dead) return;
    struct ob_bus *bus = s->bus;
    s->dead = true;
    if (s->prev)
        s->prev->next = s->next;
    else
        bus->live_subs = s->next;
    if (s->next) s->next->prev = s->prev;
    ob_sublist_remove(&bus->subs, ob_slice_str(s->filter), s);
    /* Freed from the idle pass: a dispatch in progress may still hold the pointer. */
    OB_GROW(bus->graveyard, bus->grave_cap, bus->ngrave + 1);
    bus->graveyard[bus->ngrave++] = s;
    want_idle(bus);
}

/* ---- the deferred-work pass --------------------------------------------------------- */

static void run_async(struct ob_bus *bus)
{
    for (size_t k = 0; k < ASYNC_PER_PASS && bus->aq_len; k++) {
        struct async_item it = bus->aq[bus->aq_head];
        bus->aq_head = (bus->aq_head + 1) % bus->aq_cap;
        bus->aq_len--;
        if (!it.sub->dead) {
            struct ob_delivery d = {.msg = it.msg, .delivery_count = 1};
            it.sub->cb(it.sub->arg, &d);
        }
        ob_msg_unref(it.msg);
        drop_sub_ref(it.sub);
    }
}

static void run_kicks(struct ob_bus *bus)
{
    size_t n = bus->nkick;
    struct ob_consumer **list = ob_xmemdup(bus->kick, n * sizeof *list);
    memmove(bus->kick, bus->kick + n, (bus->nkick - n) * sizeof *list);
    bus->nkick -= n;
    for (size_t i = 0; i < n; i++)
        list[i]->kicked = false;
    for (size_t i = 0; i < n; i++)
        ob_consumer_run(list[i]);
    free(list);
}

static void run_graveyard(struct ob_bus *bus)
{
    if (bus->dispatch_depth) return;
    for (size_t i = 0; i < bus->ngrave; i++)
        drop_sub_ref(bus->graveyard[i]);
    bus->ngrave = 0;
}

static void on_idle(uv_idle_t *h)
{
    struct ob_bus *bus = h->data;
    run_async(bus);
    if (bus->nkick) run_kicks(bus);
    run_graveyard(bus);
    if (!bus->aq_len && !bus->nkick && !bus->ngrave) {
        uv_idle_stop(&bus->idle);
        bus->idle_on = false;
    }
}
