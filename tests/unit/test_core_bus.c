/* test_core_bus.c — the event bus in memory: publish/subscribe, streams with every
 * retention policy, compaction, purge, and consumers (acks, leases, redelivery,
 * dead letters, flow control, competing bindings, pull). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omnibus.h>

#include "base/buf.h"
#include "base/clock.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Collects deliveries. */
struct inbox {
    uint64_t seqs[4096];
    char payloads[4096][32];
    uint32_t counts[4096];
    size_t n;
    struct ob_consumer *c;
    bool ack; /* ack each delivery as it arrives */
};

static void collect(void *arg, const struct ob_delivery *d)
{
    struct inbox *in = arg;
    if (in->n < 4096) {
        in->seqs[in->n] = d->seq;
        in->counts[in->n] = d->delivery_count;
        struct ob_slice p = ob_msg_payload(d->msg);
        snprintf(in->payloads[in->n], 32, "%.*s", (int)p.n, (const char *)p.p);
        in->n++;
    }
    if (in->ack) ob_consumer_ack(d->consumer, d->seq, NULL, NULL);
}

static void pub(struct ob_bus *bus, const char *subject, const char *payload)
{
    struct ob_msg *m;
    assert_int_equal(ob_msg_new_simple(&m, subject, payload, strlen(payload)), 0);
    assert_int_equal(ob_publish(bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
}

static void pub_key(struct ob_bus *bus, const char *subject, const char *key, const char *payload)
{
    struct ob_msg_init in = {.subject = ob_slice_str(subject),
                             .key = ob_slice_str(key),
                             .payload = ob_slice_str(payload)};
    struct ob_msg *m;
    assert_int_equal(ob_msg_new(&m, &in), 0);
    assert_int_equal(ob_publish(bus, m, NULL, NULL), 0);
    ob_msg_unref(m);
}

/* Runs the loop for about ms milliseconds. */
static void spin(struct ob_bus *bus, int ms)
{
    int64_t end = ob_mono_ns() + (int64_t)ms * OB_NS_PER_MS;
    while (ob_mono_ns() < end) {
        ob_bus_run(bus, OB_RUN_NOWAIT);
        usleep(1000);
    }
    ob_bus_flush(bus);
}

/* Runs until *n reaches want or 3 s pass. */
static void spin_until(struct ob_bus *bus, size_t *n, size_t want)
{
    int64_t end = ob_mono_ns() + 3 * OB_NS_PER_SEC;
    while (*n < want && ob_mono_ns() < end) {
        ob_bus_run(bus, OB_RUN_NOWAIT);
        usleep(200);
    }
}

static struct ob_bus *mem_bus(void)
{
    struct ob_bus *bus;
    assert_int_equal(ob_bus_open(&bus, NULL), 0);
    return bus;
}

static struct ob_stream *mk_stream(struct ob_bus *bus, const char *name, const char *subject,
                                   enum ob_retention r)
{
    const char *subs[] = {subject};
    struct ob_stream_config cfg = {.name = name, .subjects = subs, .nsubjects = 1, .retention = r};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(bus, &cfg, &st), 0);
    return st;
}

static struct ob_consumer *mk_consumer(struct ob_stream *st, const char *name,
                                       enum ob_ack_policy ack, uint32_t ack_wait_ms)
{
    struct ob_consumer_config cc = {.name = name, .ack = ack, .ack_wait_ms = ack_wait_ms};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    return c;
}

static void test_msg(void **state)
{
    (void)state;
    struct ob_header h[] = {{ob_slice_str("Content-Type"), ob_slice_str("text/plain")},
                            {ob_slice_str("x-a"), ob_slice_str("1")}};
    struct ob_msg_init in = {ob_slice_str("a.b"),   h, 2, ob_slice_str("k"),
                             ob_slice_str("hello"), 42};
    struct ob_msg *m;
    assert_int_equal(ob_msg_new(&m, &in), 0);
    assert_true(ob_slice_eq_str(ob_msg_subject(m), "a.b"));
    assert_true(ob_slice_eq_str(ob_msg_payload(m), "hello"));
    assert_true(ob_slice_eq_str(ob_msg_key(m), "k"));
    assert_int_equal(ob_msg_timestamp(m), 42);
    assert_int_equal(ob_msg_header_count(m), 2);
    assert_true(ob_slice_eq_str(ob_msg_header_get(m, "content-type")->value, "text/plain"));
    assert_null(ob_msg_header_get(m, "nope"));
    assert_null(ob_msg_header_at(m, 2));
    ob_msg_ref(m);
    ob_msg_unref(m);
    ob_msg_unref(m);
    struct ob_msg_init bad = {.subject = ob_slice_str("a.*")};
    assert_int_equal(ob_msg_new(&m, &bad), OB_EBADSUBJECT);
}

static void test_pubsub(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct inbox sync_in = {0}, async_in = {0}, other = {0};
    struct ob_sub *s1, *s2, *s3;
    assert_int_equal(ob_subscribe(bus, "orders.*", OB_SUB_SYNC, collect, &sync_in, &s1), 0);
    assert_int_equal(ob_subscribe(bus, "orders.>", OB_SUB_ASYNC, collect, &async_in, &s2), 0);
    assert_int_equal(ob_subscribe(bus, "billing", OB_SUB_SYNC, collect, &other, &s3), 0);
    assert_int_equal(ob_subscribe(bus, "bad..filter", 0, collect, &other, NULL), OB_EBADSUBJECT);
    pub(bus, "orders.eu", "1");
    assert_int_equal(sync_in.n, 1); /* sync: delivered inside publish */
    assert_int_equal(async_in.n, 0);
    pub(bus, "orders.eu.x", "2");
    assert_int_equal(sync_in.n, 1);
    ob_bus_flush(bus);
    assert_int_equal(async_in.n, 2);
    assert_string_equal(async_in.payloads[1], "2");
    assert_int_equal(other.n, 0);
    ob_unsubscribe(s1);
    pub(bus, "orders.eu", "3");
    assert_int_equal(sync_in.n, 1);
    ob_unsubscribe(s2);
    ob_bus_flush(bus);
    assert_int_equal(async_in.n, 2); /* queued before unsubscribe: not delivered after */
    ob_bus_close(bus);
}

/* A sync callback that unsubscribes itself and publishes again must be safe. */
struct reentrant {
    struct ob_bus *bus;
    struct ob_sub *self;
    int calls;
};

static void reenter(void *arg, const struct ob_delivery *d)
{
    struct reentrant *r = arg;
    (void)d;
    r->calls++;
    ob_unsubscribe(r->self);
    pub(r->bus, "loop.x", "again");
}

static void test_reentrancy(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct reentrant r = {bus, NULL, 0};
    assert_int_equal(ob_subscribe(bus, "loop.*", OB_SUB_SYNC, reenter, &r, &r.self), 0);
    pub(bus, "loop.x", "first");
    assert_int_equal(r.calls, 1);
    ob_bus_flush(bus);
    ob_bus_close(bus);
}

struct ack_rec {
    int calls, status;
    uint64_t seq;
    size_t nstreams;
    char stream[32];
};

static void on_ack(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct ack_rec *a = arg;
    a->calls++;
    a->status = status;
    a->seq = ack->seq;
    a->nstreams = ack->nstreams;
    snprintf(a->stream, sizeof a->stream, "%s", ack->stream ? ack->stream : "");
}

static void test_stream_limits(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    const char *subs[] = {"t.>"};
    struct ob_stream_config cfg = {.name = "T", .subjects = subs, .nsubjects = 1, .max_msgs = 3};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(bus, &cfg, &st), 0);
    assert_int_equal(ob_stream_create(bus, &cfg, NULL), 0); /* identical: fine */
    cfg.max_msgs = 4;
    assert_int_equal(ob_stream_create(bus, &cfg, NULL), OB_EEXIST);
    cfg.max_msgs = 3;
    struct ack_rec a = {0};
    struct ob_msg *m;
    ob_msg_new_simple(&m, "t.1", "x", 1);
    assert_int_equal(ob_publish(bus, m, on_ack, &a), 0);
    ob_msg_unref(m);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.seq, 1);
    assert_string_equal(a.stream, "T");
    for (int i = 2; i <= 5; i++)
        pub(bus, "t.x", "y");
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 3);
    assert_int_equal(info.first_seq, 3);
    assert_int_equal(info.last_seq, 5);
    assert_int_equal(ob_stream_get(st, 2, &m), OB_ENOENT);
    assert_int_equal(ob_stream_get(st, 4, &m), 0);
    ob_msg_unref(m);
    /* bytes limit */
    cfg.max_msgs = 0;
    cfg.max_bytes = 10; /* each message is "t.x"+"y" = 4 bytes */
    assert_int_equal(ob_stream_update(st, &cfg), 0);
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 2);
    /* max_msg_size */
    cfg.max_msg_size = 5;
    assert_int_equal(ob_stream_update(st, &cfg), 0);
    ob_msg_new_simple(&m, "t.big", "too large", 9);
    a.calls = 0;
    ob_publish(bus, m, on_ack, &a);
    ob_msg_unref(m);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, OB_ETOOBIG);
    /* a subject nobody captures: ack with no stream */
    ob_msg_new_simple(&m, "elsewhere", "z", 1);
    ob_publish(bus, m, on_ack, &a);
    ob_msg_unref(m);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.nstreams, 0);
    assert_int_equal(ob_stream_delete(bus, "T"), 0);
    assert_null(ob_stream_lookup(bus, "T"));
    assert_int_equal(ob_stream_delete(bus, "T"), OB_ENOENT);
    ob_bus_close(bus);
}

static void test_stream_age(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    const char *subs[] = {"age"};
    struct ob_stream_config cfg = {.name = "A", .subjects = subs, .nsubjects = 1, .max_age_ms = 50};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(bus, &cfg, &st), 0);
    pub(bus, "age", "old");
    spin(bus, 200);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 0);
    ob_bus_close(bus);
}

static void test_compaction(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    const char *subs[] = {"kv.>"};
    struct ob_stream_config cfg = {
        .name = "KV", .subjects = subs, .nsubjects = 1, .compaction = OB_COMPACT_KEY};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(bus, &cfg, &st), 0);
    pub_key(bus, "kv.a", "k1", "v1");
    pub_key(bus, "kv.a", "k2", "v2");
    pub_key(bus, "kv.b", "k1", "v3");
    pub(bus, "kv.c", "nokey"); /* no key: never compacted */
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 3);
    struct ob_msg *m;
    assert_int_equal(ob_stream_get(st, 1, &m), OB_ENOENT);
    assert_int_equal(ob_stream_get(st, 3, &m), 0);
    assert_true(ob_slice_eq_str(ob_msg_payload(m), "v3"));
    ob_msg_unref(m);

    const char *subs2[] = {"last.>"};
    struct ob_stream_config c2 = {
        .name = "LAST", .subjects = subs2, .nsubjects = 1, .compaction = OB_COMPACT_SUBJECT};
    assert_int_equal(ob_stream_create(bus, &c2, &st), 0);
    pub(bus, "last.x", "1");
    pub(bus, "last.y", "2");
    pub(bus, "last.x", "3");
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 2);
    assert_int_equal(info.first_seq, 2);
    ob_bus_close(bus);
}

static void test_purge_and_reads(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "P", "p.>", OB_RETAIN_LIMITS);
    for (int i = 0; i < 10; i++)
        pub(bus, i % 2 ? "p.odd" : "p.even", "x");
    uint64_t s;
    assert_int_equal(ob_stream_next_seq(st, 1, "p.odd", &s), 0);
    assert_int_equal(s, 2);
    assert_int_equal(ob_stream_next_seq(st, 3, NULL, &s), 0);
    assert_int_equal(s, 3);
    assert_int_equal(ob_stream_seq_for_time(st, 0, &s), 0);
    assert_int_equal(s, 1);
    assert_int_equal(ob_stream_seq_for_time(st, INT64_MAX, &s), OB_ENOENT);
    assert_int_equal(ob_stream_purge(st, "p.odd", 0), 5);
    assert_int_equal(ob_stream_purge(st, NULL, 5), 2); /* seqs 1 and 3 */
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 3);
    assert_int_equal(info.first_seq, 5);
    assert_int_equal(ob_stream_purge(st, "bad..f", 0), OB_EBADSUBJECT);
    assert_int_equal(ob_stream_purge(st, NULL, 0), 3);
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 0);
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 10);
    ob_bus_close(bus);
}

static void test_consumer_ack_each_and_redelivery(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "s.>", OB_RETAIN_LIMITS);
    for (int i = 0; i < 5; i++)
        pub(bus, "s.x", "m");
    struct ob_consumer *c = mk_consumer(st, "c1", OB_ACK_EACH, 60);
    struct inbox in = {0};
    struct ob_binding *b;
    assert_int_equal(ob_consumer_bind(c, collect, &in, &b), 0);
    spin_until(bus, &in.n, 5);
    assert_int_equal(in.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(in.seqs[i], i + 1);
    /* ack 1, 2, 4; 3 and 5 come back after the lease */
    assert_int_equal(ob_consumer_ack(c, 1, NULL, NULL), 0);
    assert_int_equal(ob_consumer_ack(c, 2, NULL, NULL), 0);
    assert_int_equal(ob_consumer_ack(c, 4, NULL, NULL), 0);
    assert_int_equal(ob_consumer_ack(c, 4, NULL, NULL), OB_ENOENT);
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_floor, 2);
    assert_int_equal(ci.ack_pending, 2);
    spin_until(bus, &in.n, 7);
    assert_int_equal(in.n, 7);
    assert_int_equal(in.seqs[5], 3);
    assert_int_equal(in.counts[5], 2);
    assert_int_equal(in.seqs[6], 5);
    /* extend keeps it from coming back; then ack */
    assert_int_equal(ob_consumer_extend(c, 3, 500), 0);
    ob_consumer_ack(c, 5, NULL, NULL);
    spin(bus, 150);
    assert_int_equal(in.n, 7);
    ob_consumer_ack(c, 3, NULL, NULL);
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 0);
    assert_int_equal(ci.ack_floor, 5);
    assert_int_equal(ci.num_pending, 0);
    assert_true(ci.redelivered >= 2);
    /* nak: immediate redelivery */
    pub(bus, "s.x", "six");
    spin_until(bus, &in.n, 8);
    assert_int_equal(ob_consumer_nak(c, 6, 0), 0);
    spin_until(bus, &in.n, 9);
    assert_int_equal(in.seqs[8], 6);
    assert_int_equal(in.counts[8], 2);
    assert_int_equal(ob_consumer_term(c, 6), 0);
    spin(bus, 150);
    assert_int_equal(in.n, 9);
    ob_consumer_unbind(b);
    ob_bus_close(bus);
}

static void test_cumulative_and_none(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "s.>", OB_RETAIN_LIMITS);
    for (int i = 0; i < 4; i++)
        pub(bus, "s.x", "m");
    struct ob_consumer *c = mk_consumer(st, "cum", OB_ACK_CUMULATIVE, 10000);
    struct inbox in = {0};
    ob_consumer_bind(c, collect, &in, NULL);
    spin_until(bus, &in.n, 4);
    assert_int_equal(ob_consumer_ack(c, 3, NULL, NULL), 0);
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 1);
    assert_int_equal(ci.ack_floor, 3);
    struct ob_consumer *n = mk_consumer(st, "none", OB_ACK_NONE, 0);
    struct inbox in2 = {0};
    ob_consumer_bind(n, collect, &in2, NULL);
    spin_until(bus, &in2.n, 4);
    ob_consumer_get_info(n, &ci);
    assert_int_equal(ci.ack_pending, 0);
    assert_int_equal(ci.ack_floor, 4);
    assert_int_equal(ob_consumer_ack(n, 1, NULL, NULL), OB_ENOENT);
    ob_bus_close(bus);
}

static void test_dead_letter(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "work", OB_RETAIN_LIMITS);
    struct inbox dlq = {0};
    ob_subscribe(bus, "dlq.work", OB_SUB_SYNC, collect, &dlq, NULL);
    struct ob_consumer_config cc = {.name = "w",
                                    .ack = OB_ACK_EACH,
                                    .ack_wait_ms = 20,
                                    .max_deliver = 3,
                                    .dead_letter = "dlq.work"};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    struct inbox in = {0};
    ob_consumer_bind(c, collect, &in, NULL);
    pub(bus, "work", "poison");
    spin_until(bus, &dlq.n, 1);
    assert_int_equal(in.n, 3);
    assert_int_equal(dlq.n, 1);
    assert_string_equal(dlq.payloads[0], "poison");
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.dead_lettered, 1);
    assert_int_equal(ci.ack_pending, 0);
    ob_bus_close(bus);
}

static void test_max_ack_pending_and_competing(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "q", OB_RETAIN_LIMITS);
    for (int i = 0; i < 20; i++)
        pub(bus, "q", "m");
    struct ob_consumer_config cc = {
        .name = "w", .ack = OB_ACK_EACH, .ack_wait_ms = 60000, .max_ack_pending = 4};
    struct ob_consumer *c;
    ob_consumer_create(st, &cc, &c);
    struct inbox a = {0}, b = {0};
    struct ob_binding *ba, *bb;
    ob_consumer_bind(c, collect, &a, &ba);
    ob_consumer_bind(c, collect, &b, &bb);
    spin(bus, 30);
    assert_int_equal(a.n + b.n, 4); /* flow control */
    assert_int_equal(a.n, 2);       /* round robin */
    /* b leaves: its two come back to a at once */
    ob_consumer_unbind(bb);
    spin_until(bus, &a.n, 4);
    assert_int_equal(a.n, 4);
    a.ack = true;
    for (size_t i = 0; i < a.n; i++)
        ob_consumer_ack(c, a.seqs[i], NULL, NULL);
    spin_until(bus, &a.n, 20 + 2);
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 0);
    assert_int_equal(ci.delivered_seq, 20);
    ob_consumer_unbind(ba);
    ob_bus_close(bus);
}

/* A held message outlives its binding and its lease: no unbind, lease expiry or other
 * binding gets it; ack/term finish it, nak releases it. */
static void test_hold(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "h", OB_RETAIN_LIMITS);
    struct ob_consumer *c = mk_consumer(st, "w", OB_ACK_EACH, 30);
    struct inbox a = {0}, b = {0};
    struct ob_binding *ba;
    ob_consumer_bind(c, collect, &a, &ba);
    for (int i = 0; i < 3; i++)
        pub(bus, "h", "m");
    spin_until(bus, &a.n, 3);
    assert_int_equal(ob_consumer_hold(c, 1), 0);
    assert_int_equal(ob_consumer_hold(c, 2), 0);
    assert_int_equal(ob_consumer_hold(c, 9), OB_ENOENT);
    assert_int_equal(ob_consumer_extend(c, 1, 0), OB_ENOENT); /* no lease to extend */
    ob_consumer_unbind(ba);
    ob_consumer_bind(c, collect, &b, NULL);
    spin(bus, 150); /* several leases: 3 comes back (again and again), 1 and 2 never */
    assert_true(b.n >= 1);
    for (size_t i = 0; i < b.n; i++)
        assert_int_equal(b.seqs[i], 3);
    ob_consumer_ack(c, 3, NULL, NULL);
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 2); /* held ones are still pending */
    assert_int_equal(ob_consumer_term(c, 1), 0);
    size_t before = b.n;
    assert_int_equal(ob_consumer_nak(c, 2, 0), 0);
    spin_until(bus, &b.n, before + 1);
    assert_int_equal(b.seqs[before], 2);
    ob_consumer_ack(c, 2, NULL, NULL);
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 0);
    ob_bus_close(bus);
}

struct fetch_box {
    struct inbox in;
    int done, count;
};

static void fetch_collect(void *arg, const struct ob_delivery *d)
{
    collect(&((struct fetch_box *)arg)->in, d);
}

static void fetch_done(void *arg, int count)
{
    struct fetch_box *f = arg;
    f->done++;
    f->count = count;
}

static void test_pull(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "p", OB_RETAIN_LIMITS);
    for (int i = 0; i < 3; i++)
        pub(bus, "p", "m");
    struct ob_consumer *c = mk_consumer(st, "pull", OB_ACK_EACH, 60000);
    struct fetch_box f = {0};
    assert_int_equal(ob_consumer_fetch(c, 2, 0, fetch_collect, fetch_done, &f), 0);
    assert_int_equal(f.done, 1);
    assert_int_equal(f.count, 2);
    struct fetch_box g = {0};
    ob_consumer_fetch(c, 5, 0, fetch_collect, fetch_done, &g);
    assert_int_equal(g.count, 1);
    /* long poll: waits, then a publish satisfies it */
    struct fetch_box h = {0};
    ob_consumer_fetch(c, 1, 2000, fetch_collect, fetch_done, &h);
    assert_int_equal(h.done, 0);
    pub(bus, "p", "late");
    int64_t end = ob_mono_ns() + OB_NS_PER_SEC;
    while (!h.done && ob_mono_ns() < end)
        ob_bus_run(bus, OB_RUN_NOWAIT);
    assert_int_equal(h.done, 1);
    assert_int_equal(h.count, 1);
    assert_string_equal(h.in.payloads[0], "late");
    /* two long polls waiting at once: both are served or expire */
    struct fetch_box w1 = {0}, w2 = {0};
    ob_consumer_fetch(c, 1, 300, fetch_collect, fetch_done, &w1);
    ob_consumer_fetch(c, 1, 60, fetch_collect, fetch_done, &w2);
    end = ob_mono_ns() + OB_NS_PER_SEC;
    while (!w2.done && ob_mono_ns() < end)
        ob_bus_run(bus, OB_RUN_ONCE);
    assert_int_equal(w2.done, 1);
    assert_int_equal(w2.count, 0);
    pub(bus, "p", "for-w1");
    end = ob_mono_ns() + OB_NS_PER_SEC;
    while (!w1.done && ob_mono_ns() < end)
        ob_bus_run(bus, OB_RUN_ONCE);
    assert_int_equal(w1.count, 1);
    assert_string_equal(w1.in.payloads[0], "for-w1");
    /* expiry with nothing: done(0) */
    struct fetch_box e = {0};
    ob_consumer_fetch(c, 1, 30, fetch_collect, fetch_done, &e);
    end = ob_mono_ns() + OB_NS_PER_SEC;
    while (!e.done && ob_mono_ns() < end)
        ob_bus_run(bus, OB_RUN_ONCE);
    assert_int_equal(e.count, 0);
    ob_bus_close(bus);
}

static void test_workqueue(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "WQ", "jobs.>", OB_RETAIN_WORKQUEUE);
    for (int i = 0; i < 3; i++)
        pub(bus, "jobs.a", "j");
    struct ob_consumer_config cc = {.name = "w1", .filter = "jobs.a", .ack = OB_ACK_EACH};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    struct ob_consumer_config overlap = {.name = "w2", .filter = "jobs.*", .ack = OB_ACK_EACH};
    assert_int_equal(ob_consumer_create(st, &overlap, NULL), OB_EOVERLAP);
    struct ob_consumer_config disjoint = {.name = "w3", .filter = "jobs.b", .ack = OB_ACK_EACH};
    assert_int_equal(ob_consumer_create(st, &disjoint, NULL), 0);
    struct inbox in = {.ack = true};
    ob_consumer_bind(c, collect, &in, NULL);
    spin_until(bus, &in.n, 3);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 0); /* acked work is gone */
    pub(bus, "jobs.b", "waits");    /* w3 has no binding: stays */
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 1);
    ob_bus_close(bus);
}

static void test_interest(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "I", "ev.>", OB_RETAIN_INTEREST);
    pub(bus, "ev.x", "nobody"); /* no consumer: not kept */
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 0);
    struct ob_consumer *a = mk_consumer(st, "a", OB_ACK_EACH, 60000);
    struct ob_consumer *b = mk_consumer(st, "b", OB_ACK_EACH, 60000);
    pub(bus, "ev.x", "both");
    struct inbox ia = {0}, ib = {0};
    ob_consumer_bind(a, collect, &ia, NULL);
    ob_consumer_bind(b, collect, &ib, NULL);
    spin_until(bus, &ib.n, 1);
    spin_until(bus, &ia.n, 1);
    ob_consumer_ack(a, ia.seqs[0], NULL, NULL);
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 1); /* b has not acked */
    ob_consumer_ack(b, ib.seqs[0], NULL, NULL);
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 0);
    ob_bus_close(bus);
}

struct del_ctx {
    struct ob_stream *st;
    const char *name;
    int rc;
};

static void delete_in_check(uv_check_t *h)
{
    struct del_ctx *dc = h->data;
    if (dc->rc) return;
    /* Kick the consumer (a publish does), then delete it, in the same callback. */
    pub(dc->st->bus, "s", "late");
    dc->rc = ob_consumer_delete(dc->st, dc->name) == 0 ? 1 : -1;
    uv_check_stop(h);
}

static void test_start_positions(void **state)
{
    (void)state;
    struct ob_bus *bus = mem_bus();
    struct ob_stream *st = mk_stream(bus, "S", "s", OB_RETAIN_LIMITS);
    for (int i = 0; i < 5; i++)
        pub(bus, "s", "m");
    struct ob_consumer_config cc = {.name = "new", .deliver = OB_DELIVER_NEW, .ack = OB_ACK_NONE};
    struct ob_consumer *c;
    ob_consumer_create(st, &cc, &c);
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.num_pending, 0);
    cc.name = "last";
    cc.deliver = OB_DELIVER_LAST;
    ob_consumer_create(st, &cc, &c);
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.num_pending, 1);
    cc.name = "seq";
    cc.deliver = OB_DELIVER_SEQ;
    cc.start_seq = 4;
    ob_consumer_create(st, &cc, &c);
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.num_pending, 2);
    cc.name = "time";
    cc.deliver = OB_DELIVER_TIME;
    cc.start_time_ns = 1;
    ob_consumer_create(st, &cc, &c);
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.num_pending, 5);
    cc.name = "bad name!";
    assert_int_equal(ob_consumer_create(st, &cc, &c), OB_EINVAL);
    /* Deleting a consumer that has a delivery pass queued, from a loop phase after the
     * idle pass (a check handle, like a socket callback): the consumer is freed by the
     * closing phase, and the next idle pass must not run it. */
    struct inbox in = {0};
    ob_consumer_bind(ob_consumer_lookup(st, "seq"), collect, &in, NULL);
    uv_check_t check;
    struct del_ctx dc = {st, "seq", 0};
    uv_check_init(ob_bus_uv_loop(bus), &check);
    check.data = &dc;
    uv_check_start(&check, delete_in_check);
    ob_bus_run(bus, OB_RUN_NOWAIT);
    uv_close((uv_handle_t *)&check, NULL);
    spin(bus, 20);
    assert_int_equal(dc.rc, 1);
    assert_int_equal(ob_consumer_delete(st, "time"), 0);
    assert_int_equal(ob_consumer_delete(st, "time"), OB_ENOENT);
    assert_null(ob_consumer_lookup(st, "time"));
    ob_bus_close(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg),
        cmocka_unit_test(test_pubsub),
        cmocka_unit_test(test_reentrancy),
        cmocka_unit_test(test_stream_limits),
        cmocka_unit_test(test_stream_age),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_purge_and_reads),
        cmocka_unit_test(test_consumer_ack_each_and_redelivery),
        cmocka_unit_test(test_cumulative_and_none),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_max_ack_pending_and_competing),
        cmocka_unit_test(test_pull),
        cmocka_unit_test(test_workqueue),
        cmocka_unit_test(test_interest),
        cmocka_unit_test(test_start_positions),
        cmocka_unit_test(test_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
