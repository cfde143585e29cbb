/*
 * embed.c — omnibus as a library inside your own program.
 *
 * What it shows, in order:
 *   1. open a bus with a data directory (durable streams live there);
 *   2. create a stream that captures the subjects "orders.>" and a durable consumer
 *      on it that wants an ack for each message;
 *   3. subscribe directly (no durability: a plain in-process event listener);
 *   4. publish a few messages, each with a callback that runs once the message is
 *      safely on disk (fsync=always: the callback is the "accepted" signal);
 *   5. receive them from the consumer, ack each ack durably;
 *   6. close — and on the next run with the same directory, find them again.
 *
 * Build against an installed omnibus:
 *     cc -o embed embed.c $(pkg-config --cflags --libs omnibus)
 *     ./embed ./embed-data          # run it twice to see recovery
 *
 * Everything here runs on one thread: a bus is single-threaded, and its callbacks run
 * from inside ob_publish (sync subscribers) or from the bus loop (ob_bus_run /
 * ob_bus_flush). The library does its disk writes on an internal thread.
 */
#include <omnibus.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSGS 3

/* What the callbacks report back to main. One struct, passed as the callbacks' arg,
 * instead of globals: that is how the API expects state to travel. */
struct app {
    struct ob_consumer *consumer;
    int published; /* publish callbacks that said "durable" */
    int received;  /* consumer deliveries */
    int acked;     /* acks that became durable */
    int errors;
};

/* Runs once per publish, after every stream that captured the message has it on disk
 * (or with an error). Only now may a producer be told "accepted". */
static void on_published(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct app *app = arg;
    if (status) {
        fprintf(stderr, "publish failed: %s\n", ob_strerror(status));
        app->errors++;
        return;
    }
    app->published++;
    printf("durable:    stored in stream %s at seq %llu\n", ack->stream ? ack->stream : "-",
           (unsigned long long)ack->seq);
}

/* A direct subscriber: called inside ob_publish (OB_SUB_SYNC), before the message is
 * durable. Nothing is retried for it; use a consumer when delivery must survive. */
static void on_event(void *arg, const struct ob_delivery *d)
{
    (void)arg;
    struct ob_slice subj = ob_msg_subject(d->msg), body = ob_msg_payload(d->msg);
    printf("subscriber: %.*s %.*s\n", (int)subj.n, (const char *)subj.p, (int)body.n,
           (const char *)body.p);
}

/* Runs when the consumer's ack is on disk: the message will not be redelivered. */
static void on_ack_durable(void *arg, int status)
{
    struct app *app = arg;
    if (status) {
        fprintf(stderr, "ack failed: %s\n", ob_strerror(status));
        app->errors++;
        return;
    }
    app->acked++;
}

/* The consumer hands over stored messages in sequence order. Ack when the work is done;
 * an unacked message is delivered again after ack_wait (or after a restart). */
static void on_consume(void *arg, const struct ob_delivery *d)
{
    struct app *app = arg;
    struct ob_slice body = ob_msg_payload(d->msg);
    const struct ob_header *ct = ob_msg_header_get(d->msg, "content-type");
    app->received++;
    struct ob_slice type = ct ? ct->value : (struct ob_slice){(const uint8_t *)"-", 1};
    /* Slices are not NUL-terminated: print them with a length. */
    printf("consumer:   %s seq %llu (delivery %u, %.*s) %.*s\n", d->stream,
           (unsigned long long)d->seq, d->delivery_count, (int)type.n, (const char *)type.p,
           (int)body.n, (const char *)body.p);
    int rc = ob_consumer_ack(d->consumer, d->seq, on_ack_durable, app);
    if (rc) {
        fprintf(stderr, "ack: %s\n", ob_strerror(rc));
        app->errors++;
    }
}

/* A stream is created once and found again on later runs (same config: no error). */
static int setup(struct ob_bus *bus, struct app *app)
{
    static const char *const subjects[] = {"orders.>"};
    struct ob_stream_config scfg = {
        .name = "orders",
        .subjects = subjects,
        .nsubjects = 1,
        .retention = OB_RETAIN_LIMITS,
        .max_msgs = 10000,
        .fsync = OB_FSYNC_ALWAYS, /* acks wait for fsync (group commit) */
    };
    struct ob_stream *st;
    int rc = ob_stream_create(bus, &scfg, &st);
    if (rc) return rc;

    struct ob_stream_info info;
    ob_stream_get_info(st, &info);
    printf("stream:     orders holds %llu messages from earlier runs\n",
           (unsigned long long)info.msgs);

    struct ob_consumer_config ccfg = {
        .name = "billing",
        .deliver = OB_DELIVER_ALL,
        .ack = OB_ACK_EACH,
        .ack_wait_ms = 30000,
    };
    rc = ob_consumer_create(st, &ccfg, &app->consumer);
    if (rc) return rc;
    return ob_subscribe(bus, "orders.*", OB_SUB_SYNC, on_event, NULL, NULL);
}

/* Messages are immutable and reference-counted: ob_publish takes its own reference, so
 * we drop ours right after. */
static int publish_orders(struct ob_bus *bus, struct app *app)
{
    static const char ct_name[] = "content-type", ct_value[] = "application/json";
    struct ob_header hdr = {{(const uint8_t *)ct_name, strlen(ct_name)},
                            {(const uint8_t *)ct_value, strlen(ct_value)}};
    static const char *const regions[NMSGS] = {"eu", "us", "asia"};
    for (int i = 0; i < NMSGS; i++) {
        char subject[32], body[64];
        snprintf(subject, sizeof subject, "orders.%s", regions[i]);
        int n = snprintf(body, sizeof body, "{\"order\":%d,\"qty\":%d}", i + 1, (i + 1) * 10);
        struct ob_msg_init init = {
            .subject = {(const uint8_t *)subject, strlen(subject)},
            .headers = &hdr,
            .nheaders = 1,
            .payload = {(const uint8_t *)body, (size_t)n},
        };
        struct ob_msg *m;
        int rc = ob_msg_new(&m, &init);
        if (rc) return rc;
        rc = ob_publish(bus, m, on_published, app);
        ob_msg_unref(m);
        if (rc) return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "./embed-data";
    struct ob_bus_options opt = {.data_dir = dir};
    struct ob_bus *bus;
    int rc = ob_bus_open(&bus, &opt); /* recovers streams and consumers found in dir */
    if (rc) {
        fprintf(stderr, "ob_bus_open(%s): %s\n", dir, ob_strerror(rc));
        return 1;
    }
    struct app app = {0};
    struct ob_binding *binding = NULL;
    rc = setup(bus, &app);
    if (!rc) rc = ob_consumer_bind(app.consumer, on_consume, &app, &binding);
    if (!rc) rc = publish_orders(bus, &app);
    /* Runs the loop until every write so far is durable and its callbacks ran: the
     * publish acks, the consumer deliveries and their acks. A long-running program
     * calls ob_bus_run(bus, OB_RUN_DEFAULT) instead and ob_bus_stop() to leave. */
    if (!rc) rc = ob_bus_flush(bus);
    if (rc) fprintf(stderr, "error: %s\n", ob_strerror(rc));

    struct ob_consumer_info ci = {0};
    if (app.consumer) ob_consumer_get_info(app.consumer, &ci);
    printf("done:       %d published, %d received, %d acked; consumer ack floor %llu, "
           "%llu pending\n",
           app.published, app.received, app.acked, (unsigned long long)ci.ack_floor,
           (unsigned long long)ci.ack_pending);
    ob_consumer_unbind(binding);
    ob_bus_close(bus); /* flushes, then frees everything; the data stays in dir */
    return rc || app.errors || app.published != NMSGS ? 1 : 0;
}
