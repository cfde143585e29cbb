/*
 * client_bench.c — `omnibus bench http`: publish load over REST with libcurl's multi
 * interface: --concurrency connections (keep-alive), each with one request in flight,
 * until --count messages of --size bytes were published. On a terminal a progress line
 * is redrawn every 250 ms; at the end one summary line: messages/s, latency
 * percentiles, errors.
 */
#include "cli/client.h"

#include "base/alloc.h"
#include "base/clock.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bench {
    struct ob_cli_opts o;
    long count, size, conc;
    const char *subject;
    char *url, *payload;
    long started, done, errors;
    int64_t *lat; /* ns per finished request */
};

struct conn {
    CURL *c;
    int64_t t0;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static void start_one(struct bench *b, CURLM *m, struct conn *k)
{
    curl_multi_remove_handle(m, k->c);
    k->t0 = ob_mono_ns();
    b->started++;
    curl_multi_add_handle(m, k->c);
}

static void conn_init(struct bench *b, struct conn *k, struct curl_slist *h)
{
    k->c = curl_easy_init();
    curl_easy_setopt(k->c, CURLOPT_URL, b->url);
    curl_easy_setopt(k->c, CURLOPT_POSTFIELDS, b->payload);
    curl_easy_setopt(k->c, CURLOPT_POSTFIELDSIZE, b->size);
    curl_easy_setopt(k->c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k->c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(k->c, CURLOPT_PRIVATE, k);
    curl_easy_setopt(k->c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(k->c, CURLOPT_TIMEOUT, 60L);
    if (b->o.user) ob_cli_auth(k->c, &b->o, &h); /* Basic is per handle; a token is in h */
}

static void progress(const struct bench *b, int64_t t0, bool final)
{
    double s = (double)(ob_mono_ns() - t0) / 1e9;
    fprintf(stderr, "\r  %ld/%ld published, %.0f msg/s, %ld errors%s", b->done, b->count,
            s > 0 ? (double)b->done / s : 0.0, b->errors, final ? "\n" : "   ");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Reaps finished transfers and starts new ones while messages remain. */
static void reap(struct bench *b, CURLM *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct conn *k;
        long status = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&k);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (msg->data.result != CURLE_OK || status / 100 != 2) b->errors++;
        b->lat[b->done++] = ob_mono_ns() - k->t0;
        if (b->started < b->count)
            start_one(b, m, k);
        else
            curl_multi_remove_handle(m, k->c);
    }
}

static void run(struct bench *b)
{
    CURLM *m = curl_multi_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    h = curl_slist_append(h, "Expect:");
    ob_cli_auth(NULL, &b->o, &h);
    struct conn *ks = ob_xcalloc((size_t)b->conc, sizeof *ks);
    for (long i = 0; i < b->conc && b->started < b->count; i++) {
        conn_init(b, &ks[i], h);
        start_one(b, m, &ks[i]);
    }
    bool tty = isatty(STDERR_FILENO);
    int64_t t0 = ob_mono_ns(), last = t0;
    int running = 1;
    while (b->done < b->count && running >= 0) {
        curl_multi_perform(m, &running);
        reap(b, m);
        if (b->done < b->count) curl_multi_poll(m, NULL, 0, 100, NULL);
        if (tty && ob_mono_ns() - last > 250 * OB_NS_PER_MS) {
            progress(b, t0, false);
            last = ob_mono_ns();
        }
    }
    double secs = (double)(ob_mono_ns() - t0) / 1e9;
    if (tty) progress(b, t0, true);
    qsort(b->lat, (size_t)b->done, sizeof *b->lat, cmp_i64);
    printf("bench http: %ld messages of %ld B over %ld connections in %.2f s: %.0f msg/s, "
           "latency p50 %.2f ms p99 %.2f ms, %ld errors\n",
           b->done, b->size, b->conc, secs, secs > 0 ? (double)b->done / secs : 0.0,
           b->done ? (double)b->lat[b->done / 2] / 1e6 : 0.0,
           b->done ? (double)b->lat[(b->done * 99) / 100] / 1e6 : 0.0, b->errors);
    for (long i = 0; i < b->conc; i++)
        if (ks[i].c) curl_easy_cleanup(ks[i].c);
    free(ks);
    curl_slist_free_all(h);
    curl_multi_cleanup(m);
}

int ob_cli_bench(int argc, char **argv)
{
    struct bench b = {.count = 10000, .size = 100, .conc = 16, .subject = "bench.http"};
    if (argc < 1 || strcmp(argv[0], "http")) {
        fprintf(stderr, "omnibus bench: only 'bench http' exists\n%s", ob_cli_client_usage);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (ob_cli_common_opt(&b.o, argc, argv, &i)) continue;
        long *dst = !strcmp(argv[i], "--count")         ? &b.count
                    : !strcmp(argv[i], "--size")        ? &b.size
                    : !strcmp(argv[i], "--concurrency") ? &b.conc
                                                        : NULL;
        if (dst && i + 1 < argc)
            *dst = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--subject") && i + 1 < argc)
            b.subject = argv[++i];
        else {
            fprintf(stderr, "omnibus bench http: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    if (b.count < 1 || b.size < 0 || b.conc < 1 || b.conc > 10000) {
        fprintf(stderr, "omnibus bench http: --count >= 1, --size >= 0, --concurrency 1..10000\n");
        return 1;
    }
    const char *base = b.o.url ? b.o.url : getenv("OMNIBUS_URL");
    if (!base || !*base) base = "http://127.0.0.1:8080";
    char *esc = ob_cli_escape(b.subject);
    size_t ul = strlen(base) + strlen(esc) + 32;
    b.url = ob_xmalloc(ul);
    snprintf(b.url, ul, "%s/v1/subjects/%s", base, esc);
    free(esc);
    b.payload = ob_xmalloc((size_t)b.size + 1);
    memset(b.payload, 'x', (size_t)b.size);
    b.lat = ob_xcalloc((size_t)b.count, sizeof *b.lat);
    run(&b);
    int rc = b.errors ? 1 : 0;
    free(b.url);
    free(b.payload);
    free(b.lat);
    return rc;
}
