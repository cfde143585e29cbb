/*
 * metrics.c — process-wide counters behind /metrics: messages and bytes per protocol
 * and direction, open connections per protocol, HTTP responses by status class, and
 * latency histograms. Slots are claimed once per name (a short linear table; names
 * are few and fixed) and updated with relaxed atomics, so any thread may count.
 */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_PROTOS 32
#define NBUCKETS   16

struct proto_slot {
    _Atomic(const char *) name;
    atomic_uint_fast64_t msgs[2], bytes[2];
    atomic_int_fast64_t conns;
};

static const double bucket_s[NBUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                          0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                          0.5,     1,      2.5,     10};

struct hist_slot {
    _Atomic(const char *) name;
    atomic_uint_fast64_t buckets[NBUCKETS + 1]; /* the last one is +Inf */
    atomic_uint_fast64_t count, sum_ns;
};

static struct proto_slot protos[MAX_PROTOS];
static struct hist_slot hists[4];
static atomic_uint_fast64_t http_status[6]; /* 1xx..5xx, index by class */

static struct proto_slot *proto(const char *name)
{
    for (size_t i = 0; i < MAX_PROTOS; i++) {
        const char *n = atomic_load(&protos[i].name);
        if (n && !strcmp(n, name)) return &protos[i];
        const char *expected = NULL;
        if (!n && atomic_compare_exchange_strong(&protos[i].name, &expected, name))
            return &protos[i];
        if (!n && expected && !strcmp(expected, name)) return &protos[i];
    }
    return NULL;
}

static int dir_index(const char *dir)
{
    return dir && !strcmp(dir, "out");
}

void ob_metrics_add(const char *protocol, const char *dir, uint64_t msgs)
{
    struct proto_slot *p = proto(protocol);
    if (p) atomic_fetch_add_explicit(&p->msgs[dir_index(dir)], msgs, memory_order_relaxed);
}

void ob_metrics_add_bytes(const char *protocol, const char *dir, uint64_t bytes)
{
    struct proto_slot *p = proto(protocol);
    if (p) atomic_fetch_add_explicit(&p->bytes[dir_index(dir)], bytes, memory_order_relaxed);
}

void ob_metrics_conn(const char *protocol, int delta)
{
    struct proto_slot *p = proto(protocol);
    if (p) atomic_fetch_add_explicit(&p->conns, delta, memory_order_relaxed);
}

void ob_metrics_http_status(int status)
{
    int c = status / 100;
    if (c >= 1 && c <= 5) atomic_fetch_add_explicit(&http_status[c], 1, memory_order_relaxed);
}

static struct hist_slot *hist(const char *name)
{
    for (size_t i = 0; i < sizeof hists / sizeof hists[0]; i++) {
        const char *n = atomic_load(&hists[i].name), *expected = NULL;
        if (n && !strcmp(n, name)) return &hists[i];
        if (!n && atomic_compare_exchange_strong(&hists[i].name, &expected, name)) return &hists[i];
    }
    return NULL;
}

void ob_metrics_observe_ns(const char *histogram, int64_t ns)
{
    struct hist_slot *h = hist(histogram);
    if (!h || ns < 0) return;
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < NBUCKETS && s > bucket_s[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

static void render_protos(struct ob_buf *out)
{
    static const char *const dirs[2] = {"in", "out"};
    ob_buf_printf(out, "# HELP omnibus_connections Open client connections per protocol.\n"
                       "# TYPE omnibus_connections gauge\n");
    for (size_t i = 0; i < MAX_PROTOS && atomic_load(&protos[i].name); i++)
        ob_buf_printf(out, "omnibus_connections{protocol=\"%s\"} %lld\n",
                      atomic_load(&protos[i].name), (long long)atomic_load(&protos[i].conns));
    ob_buf_printf(out, "# HELP omnibus_messages_total Messages per protocol and direction.\n"
                       "# TYPE omnibus_messages_total counter\n");
    for (size_t i = 0; i < MAX_PROTOS && atomic_load(&protos[i].name); i++)
        for (int d = 0; d < 2; d++)
            ob_buf_printf(out, "omnibus_messages_total{protocol=\"%s\",direction=\"%s\"} %llu\n",
                          atomic_load(&protos[i].name), dirs[d],
                          (unsigned long long)atomic_load(&protos[i].msgs[d]));
    ob_buf_printf(out, "# HELP omnibus_bytes_total Bytes per protocol and direction.\n"
                       "# TYPE omnibus_bytes_total counter\n");
    for (size_t i = 0; i < MAX_PROTOS && atomic_load(&protos[i].name); i++)
        for (int d = 0; d < 2; d++)
            ob_buf_printf(out, "omnibus_bytes_total{protocol=\"%s\",direction=\"%s\"} %llu\n",
                          atomic_load(&protos[i].name), dirs[d],
                          (unsigned long long)atomic_load(&protos[i].bytes[d]));
}

static void render_hists(struct ob_buf *out)
{
    for (size_t i = 0; i < sizeof hists / sizeof hists[0]; i++) {
        struct hist_slot *h = &hists[i];
        const char *name = atomic_load(&h->name);
        if (!name) break;
        ob_buf_printf(out,
                      "# HELP omnibus_%s_seconds Latency of %s.\n"
                      "# TYPE omnibus_%s_seconds histogram\n",
                      name, name, name);
        uint64_t cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            cum += atomic_load(&h->buckets[b]);
            if (b < NBUCKETS)
                ob_buf_printf(out, "omnibus_%s_seconds_bucket{le=\"%g\"} %llu\n", name, bucket_s[b],
                              (unsigned long long)cum);
            else
                ob_buf_printf(out, "omnibus_%s_seconds_bucket{le=\"+Inf\"} %llu\n", name,
                              (unsigned long long)cum);
        }
        ob_buf_printf(out, "omnibus_%s_seconds_sum %.9f\nomnibus_%s_seconds_count %llu\n", name,
                      (double)atomic_load(&h->sum_ns) / 1e9, name,
                      (unsigned long long)atomic_load(&h->count));
    }
}

void ob_metrics_render(struct ob_buf *out)
{
    render_protos(out);
    ob_buf_printf(out, "# HELP omnibus_http_responses_total HTTP responses by status class.\n"
                       "# TYPE omnibus_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++)
        ob_buf_printf(out, "omnibus_http_responses_total{code=\"%dxx\"} %llu\n", c,
                      (unsigned long long)atomic_load(&http_status[c]));
    render_hists(out);
}

void ob_metrics_reset(void)
{
    for (size_t i = 0; i < MAX_PROTOS; i++) {
        atomic_store(&protos[i].name, NULL);
        for (int d = 0; d < 2; d++) {
            atomic_store(&protos[i].msgs[d], 0);
            atomic_store(&protos[i].bytes[d], 0);
        }
        atomic_store(&protos[i].conns, 0);
    }
    for (size_t i = 0; i < sizeof hists / sizeof hists[0]; i++) {
        atomic_store(&hists[i].name, NULL);
        for (size_t b = 0; b <= NBUCKETS; b++)
            atomic_store(&hists[i].buckets[b], 0);
        atomic_store(&hists[i].count, 0);
        atomic_store(&hists[i].sum_ns, 0);
    }
    for (int c = 0; c < 6; c++)
        atomic_store(&http_status[c], 0);
}
