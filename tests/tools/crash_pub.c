/*
 * crash_pub.c — the publisher half of the kill -9 crash test.
 *
 *   crash_pub publish DIR ACKLOG ROUND   publish forever with fsync=always; after each
 *                                        durable ack append "ROUND I SEQ" to ACKLOG
 *   crash_pub verify DIR ACKLOG          reopen DIR and check every acked message is
 *                                        present with its exact payload; exit 1 if not
 *
 * A line reaches ACKLOG only after the publish callback reported the message durable,
 * so every line is a promise the store made. The payload is derived from (round, i) so
 * the verifier can check content, not just presence.
 */
#include <omnibus.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM "crash"

struct state {
    int ackfd;
    long round;
    uint64_t acked;
};

struct pending_pub {
    struct state *s;
    long i;
};

static size_t make_payload(char *buf, size_t cap, long round, long i)
{
    /* Varying sizes put record boundaries everywhere in the file. */
    size_t n = (size_t)snprintf(buf, cap, "r%ld-i%ld:", round, i);
    size_t want = 16 + (size_t)((round * 7919 + i * 104729) % 3000);
    while (n < want && n < cap) {
        buf[n] = (char)('a' + (n + (size_t)i) % 26);
        n++;
    }
    return n;
}

static void on_ack(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct pending_pub *p = arg;
    if (status == 0 && ack->seq) {
        char line[96];
        int n = snprintf(line, sizeof line, "%ld %ld %" PRIu64 "\n", p->s->round, p->i, ack->seq);
        if (write(p->s->ackfd, line, (size_t)n) != n) abort();
        p->s->acked++;
    }
    free(p);
}

static int open_bus(struct ob_bus **bus, const char *dir, struct ob_stream **st)
{
    struct ob_bus_options o = {.data_dir = dir};
    int rc = ob_bus_open(bus, &o);
    if (rc) return rc;
    const char *subs[] = {"crash.>"};
    struct ob_stream_config c = {.name = STREAM,
                                 .subjects = subs,
                                 .nsubjects = 1,
                                 .fsync = OB_FSYNC_ALWAYS,
                                 .segment_bytes = 256 * 1024};
    return ob_stream_create(*bus, &c, st);
}

static int publish(const char *dir, const char *acklog, long round)
{
    struct ob_bus *bus;
    struct ob_stream *st;
    int rc = open_bus(&bus, dir, &st);
    if (rc) {
        fprintf(stderr, "crash_pub: open: %s\n", ob_strerror(rc));
        return 1;
    }
    struct state s = {open(acklog, O_WRONLY | O_APPEND | O_CREAT, 0644), round, 0};
    char payload[4096];
    for (long i = 0;; i++) {
        struct pending_pub *p = malloc(sizeof *p);
        *p = (struct pending_pub){&s, i};
        struct ob_msg *m;
        size_t n = make_payload(payload, sizeof payload, round, i);
        ob_msg_new_simple(&m, "crash.data", payload, n);
        ob_publish(bus, m, on_ack, p);
        ob_msg_unref(m);
        /* Keep a window of writes in flight so group commit and torn tails both occur. */
        if (i % 8 == 7) ob_bus_run(bus, OB_RUN_NOWAIT);
        if (i % 64 == 63) ob_bus_flush(bus);
    }
}

static int verify(const char *dir, const char *acklog)
{
    struct ob_bus *bus;
    struct ob_stream *st;
    int rc = open_bus(&bus, dir, &st);
    if (rc) {
        fprintf(stderr, "crash_pub: reopen: %s\n", ob_strerror(rc));
        return 1;
    }
    FILE *f = fopen(acklog, "r");
    long round, i, bad = 0, total = 0;
    uint64_t seq;
    char want[4096];
    while (f && fscanf(f, "%ld %ld %" SCNu64, &round, &i, &seq) == 3) {
        total++;
        struct ob_msg *m;
        size_t n = make_payload(want, sizeof want, round, i);
        if (ob_stream_get(st, seq, &m) != 0) {
            fprintf(stderr, "LOST round=%ld i=%ld seq=%" PRIu64 "\n", round, i, seq);
            bad++;
            continue;
        }
        struct ob_slice p = ob_msg_payload(m);
        if (p.n != n || memcmp(p.p, want, n) != 0) {
            fprintf(stderr, "CORRUPT round=%ld i=%ld seq=%" PRIu64 "\n", round, i, seq);
            bad++;
        }
        ob_msg_unref(m);
    }
    if (f) fclose(f);
    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    printf("verified %ld acked messages, %ld lost or corrupt; stream holds %" PRIu64 "\n", total,
           bad, info.msgs);
    ob_bus_close(bus);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "publish")) return publish(argv[2], argv[3], atol(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "verify")) return verify(argv[2], argv[3]);
    fprintf(stderr, "usage: crash_pub publish DIR ACKLOG ROUND | verify DIR ACKLOG\n");
    return 2;
}
