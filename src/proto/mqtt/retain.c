/*
 * retain.c — retained messages as a core stream: "mqtt_retained" captures
 * "$mqtt#.retained.>" with compaction by subject, so the stream holds the newest
 * message per topic and recovery keeps exactly that. A retained PUBLISH is published
 * twice: as itself (live subscribers) and as a copy under the internal prefix (the
 * store). An empty payload is stored too and means "no retained message" (MQTT-3.3.1-10):
 * compaction makes it replace the old one, durably.
 */
#include "proto/mqtt/broker.h"

#include "base/alloc.h"
#include "base/log.h"
#include "proto/mqtt/map.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX_LEN (sizeof MQTT_RETAINED_PREFIX - 1)

int ob_mqtt_retain_open(struct ob_mqtt_broker *b)
{
    const char *subjects[] = {MQTT_RETAINED_PREFIX ">"};
    struct ob_stream_config sc = {
        .name = MQTT_STREAM_RETAINED,
        .subjects = subjects,
        .nsubjects = 1,
        .retention = OB_RETAIN_LIMITS,
        .compaction = OB_COMPACT_SUBJECT,
        .fsync = OB_FSYNC_ALWAYS,
    };
    int rc = ob_stream_create(b->bus, &sc, &b->retained);
    if (rc == OB_EEXIST) { /* kept as the operator changed it */
        b->retained = ob_stream_lookup(b->bus, MQTT_STREAM_RETAINED);
        rc = b->retained ? 0 : OB_ENOENT;
    }
    return rc;
}

/* A copy of m under another subject (headers and payload kept). */
static int copy_as(struct ob_msg *m, struct ob_slice subject, struct ob_msg **out)
{
    size_t n = ob_msg_header_count(m);
    struct ob_header *h = ob_xmalloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = *ob_msg_header_at(m, i);
    struct ob_msg_init mi = {.subject = subject,
                             .headers = h,
                             .nheaders = n,
                             .payload = ob_msg_payload(m),
                             .timestamp_ns = ob_msg_timestamp(m)};
    int rc = ob_msg_new(out, &mi);
    free(h);
    return rc;
}

int ob_mqtt_retain_store(struct ob_mqtt_broker *b, struct ob_msg *m, ob_publish_cb cb, void *arg)
{
    struct ob_buf s = OB_BUF_INIT;
    ob_buf_append(&s, MQTT_RETAINED_PREFIX, PREFIX_LEN);
    struct ob_slice subj = ob_msg_subject(m);
    ob_buf_append(&s, subj.p, subj.n);
    struct ob_msg *r = NULL;
    int rc = copy_as(m, ob_slice_make(s.p, s.len), &r);
    ob_buf_release(&s);
    if (rc) return rc;
    rc = ob_publish(b->bus, r, cb, arg);
    ob_msg_unref(r);
    return rc;
}

static void scan(struct ob_mqtt_broker *b, const char *filter, const char *sfilter,
                 void (*fn)(void *arg, struct ob_msg *m), void *arg)
{
    uint64_t seq = 1, found;
    while (ob_stream_next_seq(b->retained, seq, sfilter, &found) == 0) {
        seq = found + 1;
        struct ob_msg *m = NULL, *out = NULL;
        if (ob_stream_get(b->retained, found, &m)) continue;
        struct ob_slice subj = ob_msg_subject(m);
        struct ob_slice inner = ob_slice_make(subj.p + PREFIX_LEN, subj.n - PREFIX_LEN);
        struct ob_buf topic = OB_BUF_INIT;
        if (ob_msg_payload(m).n && subj.n > PREFIX_LEN &&
            ob_mqtt_subject_to_topic(inner, &topic) == 0 &&
            ob_mqtt_filter_matches(ob_slice_str(filter), ob_slice_make(topic.p, topic.len)) &&
            copy_as(m, inner, &out) == 0) {
            fn(arg, out);
            ob_msg_unref(out);
        }
        ob_buf_release(&topic);
        ob_msg_unref(m);
    }
}

void ob_mqtt_retain_each(struct ob_mqtt_broker *b, const char *filter,
                         void (*fn)(void *arg, struct ob_msg *m), void *arg)
{
    if (!b->retained) return;
    struct ob_buf f = OB_BUF_INIT;
    ob_buf_append(&f, MQTT_RETAINED_PREFIX, PREFIX_LEN);
    int rc = ob_mqtt_filter_to_subject(ob_slice_str(filter), &f);
    if (rc < 0) {
        ob_buf_release(&f);
        return;
    }
    size_t full = f.len;
    ob_buf_putc(&f, 0);
    scan(b, filter, (const char *)f.p, fn, arg);
    if (rc == 1) { /* "a/#" also matches "a" */
        f.p[full - 2] = 0;
        scan(b, filter, (const char *)f.p, fn, arg);
    }
    ob_buf_release(&f);
}
