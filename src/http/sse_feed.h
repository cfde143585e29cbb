/*
 * sse_feed.h — a resumable subscription for the HTTP gateway's push transports (SSE at
 * /v1/subscribe and the WebSocket pub/sub protocol at /v1/ws): messages matching a set
 * of filters, each with a position id.
 *
 * Two modes, chosen at open:
 *  - stream mode, when a stream captures every filter (each filter is covered by one
 *    of the stream's subjects; the narrowest such stream with limits retention, so
 *    "orders.>" beats a catch-all ">", and interest / work-queue streams, which do not
 *    keep what was consumed, are never chosen) or the caller names the stream: messages
 *    are read from
 *    the stream in sequence order, so the id "stream:seq" is a durable position and a
 *    reconnect resumes from it without gaps. Only committed (durable) messages are read.
 *    The feed wakes on a direct subscription to the filters and then reads what the
 *    stream committed; since the commit comes after the publish (fsync), it re-polls
 *    briefly with a growing delay until the stream caught up. Pausing costs nothing:
 *    the cursor just stops, so a slow reader never makes the server buffer.
 *  - live mode otherwise: direct subscriptions; ids are decimal numbers from a counter
 *    shared by the listener, one per message (every subscriber sees the same id for
 *    the same message; monotonic, not resumable). A live feed cannot pause: the caller
 *    decides what to do with a slow reader (cut it off).
 *
 * Threading: the bus loop. Ownership: the feed copies its options; the message given
 * to the callback is borrowed for the call (ob_msg_ref to keep it); id is valid for the
 * call. The callback may call ob_feed_pause or ob_feed_close (not free other feeds).
 */
#ifndef OB_HTTP_SSE_FEED_H
#define OB_HTTP_SSE_FEED_H

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ob_feed;

/* Live ids shared by the feeds of one listener: a message delivered to many feeds in a
 * row (one publish fans out consecutively) keeps one id. Zero-initialize; release with
 * ob_feed_live_release. */
struct ob_feed_live {
    uint64_t counter;
    struct ob_msg *last; /* a reference, so the pointer cannot be reused meanwhile */
    char id[24];
};
void ob_feed_live_release(struct ob_feed_live *l);

typedef void (*ob_feed_fn)(void *arg, struct ob_msg *m, const char *stream, uint64_t seq,
                           const char *id);

struct ob_feed_opts {
    const char *const *filters; /* at least one valid filter */
    size_t nfilters;
    const char *stream; /* force stream mode on this stream (must cover the filters);
                           NULL: the first covering stream by name, else live mode */
    bool live;          /* force live mode */
    bool resume;        /* stream mode: start at from_seq instead of new messages only */
    uint64_t from_seq;
    struct ob_feed_live *live_ids; /* where live ids come from; required */
};

/* 0, OB_EBADSUBJECT for a bad filter, OB_ENOENT if opts->stream does not exist,
 * OB_EINVAL if it does not capture every filter. */
int ob_feed_open(struct ob_feed **out, struct ob_bus *bus, const struct ob_feed_opts *opts,
                 ob_feed_fn fn, void *arg);
/* The stream in stream mode, NULL in live mode. */
const char *ob_feed_stream(const struct ob_feed *f);
/* Stream mode: the next sequence the feed will look at. */
uint64_t ob_feed_cursor(const struct ob_feed *f);
/* Stream mode only; no-ops in live mode. */
void ob_feed_pause(struct ob_feed *f);
void ob_feed_resume(struct ob_feed *f);
/* No callback after this returns. */
void ob_feed_close(struct ob_feed *f);

/* Parses a "stream:seq" id (seq >= 1). false if it is not one. */
bool ob_feed_parse_id(const char *id, char *stream, size_t n, uint64_t *seq);

#endif
