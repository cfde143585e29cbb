/* test_core_durable.c — the bus on disk: everything acked survives close/reopen
 * (messages, purges, limits, compaction, consumer acks and pending state, work-queue
 * removals), and disk-full / I/O errors reach the publisher without damaging what was
 * already acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omnibus.h>

#include "base/buf.h"
#include "base/clock.h"
#include "core/core.h"
#include "test_tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int make_dir(void **state)
{
    (void)state;
    return ob_test_mkdtemp("durable");
}

static int remove_dir(void **state)
{
    (void)state;
    return ob_test_rmtemp();
}

static struct ob_bus *open_bus(void)
{
    struct ob_bus_options o = {.data_dir = g_dir};
    struct ob_bus *bus;
    assert_int_equal(ob_bus_open(&bus, &o), 0);
    return bus;
}

struct acks {
    int ok, failed, last_status;
    uint64_t last_seq;
};

static void on_ack(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct acks *a = arg;
    a->last_status = status;
    if (status)
        a->failed++;
    else {
        a->ok++;
        a->last_seq = ack->seq;
    }
}

static void pub(struct ob_bus *bus, const char *subject, const char *key, const char *payload,
                struct acks *a)
{
    struct ob_msg_init in = {.subject = ob_slice_str(subject),
                             .key = ob_slice_str(key),
                             .payload = ob_slice_str(payload)};
    struct ob_msg *m;
    assert_int_equal(ob_msg_new(&m, &in), 0);
    assert_int_equal(ob_publish(bus, m, a ? on_ack : NULL, a), 0);
    ob_msg_unref(m);
}

static struct ob_stream *stream(struct ob_bus *bus, const char *name, const char *subject,
                                enum ob_retention r, enum ob_compaction comp, uint64_t max_msgs)
{
    const char *subs[] = {subject};
    struct ob_stream_config c = {.name = name,
                                 .subjects = subs,
                                 .nsubjects = 1,
                                 .retention = r,
                                 .compaction = comp,
                                 .max_msgs = max_msgs,
                                 .segment_bytes = 4096};
    struct ob_stream *st;
    assert_int_equal(ob_stream_create(bus, &c, &st), 0);
    return st;
}

static void expect_payload(struct ob_stream *st, uint64_t seq, const char *want)
{
    struct ob_msg *m;
    assert_int_equal(ob_stream_get(st, seq, &m), 0);
    struct ob_slice p = ob_msg_payload(m);
    assert_int_equal(p.n, strlen(want));
    assert_memory_equal(p.p, want, p.n);
    ob_msg_unref(m);
}

static void test_messages_survive(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    struct ob_stream *st = stream(bus, "orders", "orders.>", OB_RETAIN_LIMITS, 0, 0);
    struct acks a = {0};
    char payload[64];
    for (int i = 1; i <= 500; i++) {
        snprintf(payload, sizeof payload, "order-%d", i);
        pub(bus, "orders.eu", NULL, payload, &a);
    }
    assert_int_equal(ob_bus_flush(bus), 0);
    assert_int_equal(a.ok, 500);
    assert_int_equal(a.last_seq, 500);
    assert_int_equal(ob_stream_purge(st, NULL, 101), 100);
    ob_bus_close(bus);

    bus = open_bus();
    st = ob_stream_lookup(bus, "orders");
    assert_non_null(st);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 400);
    assert_int_equal(info.first_seq, 101);
    assert_int_equal(info.last_seq, 500);
    expect_payload(st, 101, "order-101");
    expect_payload(st, 500, "order-500");
    struct ob_msg *m;
    assert_int_equal(ob_stream_get(st, 100, &m), OB_ENOENT);
    /* sequences continue, never reused */
    pub(bus, "orders.us", NULL, "next", &a);
    ob_bus_flush(bus);
    assert_int_equal(a.last_seq, 501);
    assert_int_equal(ob_stream_delete(bus, "orders"), 0);
    ob_bus_close(bus);
    bus = open_bus();
    assert_null(ob_stream_lookup(bus, "orders"));
    ob_bus_close(bus);
}

static void test_limits_and_compaction_survive(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    stream(bus, "lim", "lim", OB_RETAIN_LIMITS, 0, 10);
    stream(bus, "kv", "kv.>", OB_RETAIN_LIMITS, OB_COMPACT_KEY, 0);
    char p[32];
    for (int i = 0; i < 100; i++) {
        snprintf(p, sizeof p, "v%d", i);
        pub(bus, "lim", NULL, p, NULL);
        pub(bus, "kv.x", i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c", p, NULL);
    }
    assert_int_equal(ob_bus_flush(bus), 0);
    ob_bus_close(bus);
    bus = open_bus();
    struct ob_stream_info info;
    struct ob_stream *lim = ob_stream_lookup(bus, "lim"), *kv = ob_stream_lookup(bus, "kv");
    ob_stream_get_info(lim, &info);
    assert_int_equal(info.msgs, 10);
    assert_int_equal(info.first_seq, 91);
    expect_payload(lim, 100, "v99");
    ob_stream_get_info(kv, &info);
    assert_int_equal(info.msgs, 3);
    expect_payload(kv, 100, "v99"); /* key a: 99 % 3 == 0 */
    expect_payload(kv, 99, "v98");
    expect_payload(kv, 98, "v97");
    ob_bus_close(bus);
}

/* Superseded keys and limit removals give their disk space back while writing. */
static void test_disk_space_reclaimed(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    const char *kv_subs[] = {"kv"}, *lim_subs[] = {"lim"};
    struct ob_stream_config kvc = {.name = "kv",
                                   .subjects = kv_subs,
                                   .nsubjects = 1,
                                   .compaction = OB_COMPACT_KEY,
                                   .fsync = OB_FSYNC_NEVER,
                                   .segment_bytes = 64 * 1024};
    struct ob_stream_config limc = {.name = "lim",
                                    .subjects = lim_subs,
                                    .nsubjects = 1,
                                    .max_msgs = 100,
                                    .fsync = OB_FSYNC_NEVER,
                                    .segment_bytes = 64 * 1024};
    struct ob_stream *kv, *lim;
    assert_int_equal(ob_stream_create(bus, &kvc, &kv), 0);
    assert_int_equal(ob_stream_create(bus, &limc, &lim), 0);
    char payload[1024];
    memset(payload, 'x', sizeof payload - 1);
    payload[sizeof payload - 1] = 0;
    const char *keys[] = {"a", "b", "c"};
    for (int i = 0; i < 20000; i++) { /* ~20 MiB written to each stream */
        pub(bus, "kv", keys[i % 3], payload, NULL);
        pub(bus, "lim", NULL, payload, NULL);
        if (i % 1000 == 999) ob_bus_flush(bus);
    }
    assert_int_equal(ob_bus_flush(bus), 0);
    struct ob_stream_info info;
    ob_stream_get_info(kv, &info);
    assert_int_equal(info.msgs, 3);
    assert_true(ob_log_bytes(kv->log) < (UINT64_C(8) << 20));
    assert_true(ob_log_bytes(lim->log) < (UINT64_C(3) << 20)); /* reclaimed every 1024 removals */
    ob_bus_close(bus);
    bus = open_bus();
    ob_stream_get_info(ob_stream_lookup(bus, "kv"), &info);
    assert_int_equal(info.msgs, 3);
    assert_int_equal(info.last_seq, 20000);
    ob_stream_get_info(ob_stream_lookup(bus, "lim"), &info);
    assert_int_equal(info.msgs, 100);
    assert_int_equal(info.first_seq, 19901);
    ob_bus_close(bus);
}

struct inbox {
    uint64_t seqs[1024];
    uint32_t counts[1024];
    size_t n;
};

static void collect(void *arg, const struct ob_delivery *d)
{
    struct inbox *in = arg;
    in->seqs[in->n] = d->seq;
    in->counts[in->n++] = d->delivery_count;
}

static void spin_until(struct ob_bus *bus, size_t *n, size_t want)
{
    int64_t end = ob_mono_ns() + 5 * OB_NS_PER_SEC;
    while (*n < want && ob_mono_ns() < end) {
        ob_bus_run(bus, OB_RUN_NOWAIT);
        usleep(200);
    }
}

static int ack_done_status = 1;
static void on_ack_done(void *arg, int status)
{
    (void)arg;
    ack_done_status = status;
}

static void test_consumer_state_survives(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    struct ob_stream *st = stream(bus, "jobs", "jobs", OB_RETAIN_WORKQUEUE, 0, 0);
    for (int i = 0; i < 10; i++)
        pub(bus, "jobs", NULL, "j", NULL);
    struct ob_consumer_config cc = {.name = "worker", .ack = OB_ACK_EACH, .ack_wait_ms = 60000};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    struct inbox in = {0};
    ob_consumer_bind(c, collect, &in, NULL);
    spin_until(bus, &in.n, 10);
    assert_int_equal(in.n, 10);
    /* ack the odd ones; 2,4,..,10 stay pending */
    for (uint64_t s = 1; s <= 10; s += 2)
        ob_consumer_ack(c, s, s == 9 ? on_ack_done : NULL, NULL);
    assert_int_equal(ob_bus_flush(bus), 0);
    assert_int_equal(ack_done_status, 0);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 5);
    ob_bus_close(bus);

    bus = open_bus();
    st = ob_stream_lookup(bus, "jobs");
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 5); /* acked work stays gone */
    c = ob_consumer_lookup(st, "worker");
    assert_non_null(c);
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 5);
    assert_int_equal(ci.delivered_seq, 10);
    struct inbox again = {0};
    ob_consumer_bind(c, collect, &again, NULL);
    spin_until(bus, &again.n, 5);
    assert_int_equal(again.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(again.seqs[i], 2 * (i + 1));
        assert_true(again.counts[i] >= 2);
        ob_consumer_ack(c, again.seqs[i], NULL, NULL);
    }
    ob_bus_flush(bus);
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 0);
    ob_bus_close(bus);
}

static void ack_inside(void *arg, const struct ob_delivery *d)
{
    collect(arg, d);
    assert_int_equal(ob_consumer_ack(d->consumer, d->seq, NULL, NULL), 0);
}

/* Acks made inside the delivery callback (before the consumer logs how far it
 * delivered) must survive a restart; so must delivery counts. */
static void test_acks_inside_callback_survive(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    struct ob_stream *st = stream(bus, "cb", "cb", OB_RETAIN_LIMITS, 0, 0);
    for (int i = 0; i < 5; i++)
        pub(bus, "cb", NULL, "m", NULL);
    struct ob_consumer_config cc = {.name = "c", .ack = OB_ACK_EACH, .ack_wait_ms = 60000};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    struct inbox in = {0};
    ob_consumer_bind(c, ack_inside, &in, NULL);
    spin_until(bus, &in.n, 5);
    assert_int_equal(in.n, 5);
    /* one more, left unacked and redelivered once by nak */
    pub(bus, "cb", NULL, "m", NULL);
    struct inbox keep = {0};
    ob_consumer_unbind(c->bindings);
    ob_consumer_bind(c, collect, &keep, NULL);
    spin_until(bus, &keep.n, 1);
    assert_int_equal(ob_consumer_nak(c, 6, 0), 0);
    spin_until(bus, &keep.n, 2);
    assert_int_equal(keep.counts[1], 2);
    assert_int_equal(ob_bus_flush(bus), 0);
    ob_bus_close(bus);

    bus = open_bus();
    c = ob_consumer_lookup(ob_stream_lookup(bus, "cb"), "c");
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.ack_pending, 1);
    assert_int_equal(ci.ack_floor, 5);
    struct inbox again = {0};
    ob_consumer_bind(c, collect, &again, NULL);
    spin_until(bus, &again.n, 1);
    assert_int_equal(again.n, 1);
    assert_int_equal(again.seqs[0], 6);
    assert_int_equal(again.counts[0], 3);
    ob_bus_close(bus);
}

/* More ops than the snapshot interval: the state log is compacted and still right. */
static void test_consumer_snapshots(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    struct ob_stream *st = stream(bus, "snap", "snap", OB_RETAIN_LIMITS, 0, 0);
    struct ob_consumer_config cc = {
        .name = "c", .ack = OB_ACK_EACH, .ack_wait_ms = 60000, .max_ack_pending = 100000};
    struct ob_consumer *c;
    assert_int_equal(ob_consumer_create(st, &cc, &c), 0);
    enum { N = 20000 };
    for (int i = 0; i < N; i++)
        pub(bus, "snap", NULL, "s", NULL);
    ob_bus_flush(bus);
    size_t got = 0;
    for (int round = 0; round < 100 && got < N; round++) {
        struct inbox in = {0};
        ob_consumer_fetch(c, 1000, 0, collect, NULL, &in);
        for (size_t i = 0; i < in.n; i++)
            if (in.seqs[i] != N - 7) ob_consumer_ack(c, in.seqs[i], NULL, NULL);
        got += in.n;
        ob_bus_flush(bus);
    }
    assert_int_equal(got, N);
    ob_bus_close(bus);
    bus = open_bus();
    c = ob_consumer_lookup(ob_stream_lookup(bus, "snap"), "c");
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    assert_int_equal(ci.delivered_seq, N);
    assert_int_equal(ci.ack_pending, 1);
    assert_int_equal(ci.ack_floor, N - 8);
    ob_bus_close(bus);
}

/* ---- fault injection: the store's I/O fails on demand ----------------------------------- */

static int g_fail_errno;

static ssize_t failing_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    if (g_fail_errno) {
        /* Write half of the first buffer, as a full disk does, then fail. */
        if (n > 0 && iov[0].iov_len > 1) {
            ssize_t w = pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off);
            (void)w;
        }
        errno = g_fail_errno;
        return -1;
    }
    return pwritev(fd, iov, n, off);
}

static int plain_fdatasync(int fd)
{
    return fdatasync(fd);
}

static int plain_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static void test_disk_full(void **state)
{
    (void)state;
    struct ob_bus *bus = open_bus();
    struct ob_stream *st = stream(bus, "df", "df", OB_RETAIN_LIMITS, 0, 0);
    struct acks a = {0};
    pub(bus, "df", NULL, "before-1", &a);
    pub(bus, "df", NULL, "before-2", &a);
    assert_int_equal(ob_bus_flush(bus), 0);
    assert_int_equal(a.ok, 2);
    struct ob_store_io io = {failing_pwritev, plain_fdatasync, plain_ftruncate};
    ob_store_set_io(bus->store, &io);
    g_fail_errno = ENOSPC;
    pub(bus, "df", NULL, "lost-1", &a);
    pub(bus, "df", NULL, "lost-2", &a);
    assert_int_equal(ob_bus_flush(bus), OB_ENOSPC);
    assert_int_equal(a.failed, 2);
    assert_int_equal(a.last_status, OB_ENOSPC);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 2); /* failed writes are not in the stream */
    g_fail_errno = 0;               /* space returns */
    pub(bus, "df", NULL, "after", &a);
    assert_int_equal(ob_bus_flush(bus), 0);
    assert_int_equal(a.ok, 3);
    uint64_t after_seq = a.last_seq;
    g_fail_errno = EIO;
    pub(bus, "df", NULL, "lost-3", &a);
    assert_int_equal(ob_bus_flush(bus), OB_EIO);
    g_fail_errno = 0;
    ob_store_set_io(bus->store, NULL);
    struct ob_bus_stats stats;
    ob_bus_get_stats(bus, &stats);
    assert_true(stats.fsyncs >= 2); /* before-1/2 (one group commit or two), after */
    assert_true(stats.bytes_written > 0);
    assert_true(stats.write_errors >= 2); /* ENOSPC (one or two rounds) and EIO */
    uint64_t sum = 0;
    for (size_t i = 0; i < OB_STATS_FSYNC_BUCKETS; i++)
        sum += stats.fsync_bucket[i];
    assert_int_equal(sum, stats.fsyncs);
    assert_true(stats.fsync_bound_ns[OB_STATS_FSYNC_BUCKETS - 1] == UINT64_MAX);
    ob_bus_close(bus);
    bus = open_bus();
    st = ob_stream_lookup(bus, "df");
    ob_stream_get_info(st, &info);
    assert_int_equal(info.msgs, 3);
    expect_payload(st, 1, "before-1");
    expect_payload(st, 2, "before-2");
    expect_payload(st, after_seq, "after");
    ob_bus_close(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_messages_survive, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_limits_and_compaction_survive, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_consumer_state_survives, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_consumer_snapshots, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_acks_inside_callback_survive, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_disk_full, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_disk_space_reclaimed, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
