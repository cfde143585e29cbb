/*
 * omnibus.h — the public embedding API: the in-process event bus.
 *
 * A bus routes messages by subject to subscribers and captures them into durable
 * streams, from which consumers (durable cursors with acks) deliver them. The omnibus
 * server is built on exactly this API; every protocol adapter uses it.
 *
 * Threading: a bus is single-threaded. Every function here must be called from the
 * thread that runs the bus loop (ob_bus_run), or from any one thread before the loop
 * runs. Storage I/O happens on an internal thread; its completions (durable-ack
 * callbacks) are delivered on the loop thread by ob_bus_run / ob_bus_flush.
 *
 * Ownership: strings and buffers passed in are copied unless said otherwise. Pointers
 * handed to callbacks are borrowed for the duration of the callback; take a reference
 * (ob_msg_ref) to keep a message longer.
 *
 * Errors: functions returning int return 0 (or a count) on success and a negative
 * OB_E* code on failure; ob_strerror() names them.
 */
#ifndef OMNIBUS_H
#define OMNIBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OB_VERSION_STRING "0.1.0"

/* ---- errors ---------------------------------------------------------------------- */
enum ob_error {
    OB_OK = 0,
    OB_EINVAL = -1,      /* bad argument, malformed input */
    OB_ENOMEM = -2,      /* a configured memory limit was hit (allocation aborts) */
    OB_ENOENT = -3,      /* no such stream / consumer / message */
    OB_EEXIST = -4,      /* exists with a different configuration */
    OB_EIO = -5,         /* I/O error from the store */
    OB_ENOSPC = -6,      /* disk full; writing resumes when space returns */
    OB_ETOOBIG = -7,     /* message or frame over a configured limit */
    OB_ELIMIT = -8,      /* a count limit (streams, pending acks, connections…) was hit */
    OB_EBADSUBJECT = -9, /* subject or filter is not valid */
    OB_ECORRUPT = -10,   /* stored data failed its checksum */
    OB_ECLOSED = -11,    /* the bus, stream or consumer is closing or gone */
    OB_EPERM = -12,      /* not authorized */
    OB_EAUTH = -13,      /* authentication failed */
    OB_EAGAIN = -14,     /* nothing available now; try later */
    OB_EPROTO = -15,     /* protocol violation by a peer */
    OB_ECONFIG = -16,    /* invalid configuration */
    OB_EADDRINUSE = -17, /* a listener's address is in use */
    OB_ETIMEDOUT = -18,  /* a wait expired */
    OB_ENOTSUP = -19,    /* not supported */
    OB_EOVERLAP = -20,   /* work-queue consumers' filters overlap */
    OB_ERROR_MIN = -20
};

/* A static English description of an OB_E* code ("unknown error" otherwise). */
const char *ob_strerror(int err);

/* ---- byte strings ---------------------------------------------------------------- */
/* A borrowed view of bytes; never owns p. */
struct ob_slice {
    const uint8_t *p;
    size_t n;
};

/* ---- messages -------------------------------------------------------------------- */
/*
 * A message is immutable once created and reference-counted; one message is shared by
 * every delivery. Canonical header names shared by several protocols: content-type,
 * content-encoding, correlation-id, reply-to, message-id, expires-at, priority.
 */
struct ob_msg;

struct ob_header {
    struct ob_slice name;
    struct ob_slice value;
};

struct ob_msg_init {
    struct ob_slice subject;         /* required, a concrete subject (no wildcards) */
    const struct ob_header *headers; /* copied */
    size_t nheaders;
    struct ob_slice key;     /* optional: partitioning and compaction key (copied) */
    struct ob_slice payload; /* copied */
    int64_t timestamp_ns;    /* wall clock; 0 = now */
};

/* Creates a message with one reference owned by the caller. OB_EBADSUBJECT for a bad
 * subject, OB_ETOOBIG over 64 MiB in total. */
int ob_msg_new(struct ob_msg **out, const struct ob_msg_init *init);
/* Shorthand: subject as a C string, payload bytes, no headers or key. */
int ob_msg_new_simple(struct ob_msg **out, const char *subject, const void *payload, size_t n);
struct ob_msg *ob_msg_ref(struct ob_msg *m);
void ob_msg_unref(struct ob_msg *m);

/* Accessors return views into the message, valid while a reference is held. */
struct ob_slice ob_msg_subject(const struct ob_msg *m);
struct ob_slice ob_msg_payload(const struct ob_msg *m);
struct ob_slice ob_msg_key(const struct ob_msg *m); /* n == 0: no key */
int64_t ob_msg_timestamp(const struct ob_msg *m);   /* ns since the epoch */
size_t ob_msg_header_count(const struct ob_msg *m);
const struct ob_header *ob_msg_header_at(const struct ob_msg *m, size_t i);
/* First header with this name (ASCII case-insensitive) or NULL. */
const struct ob_header *ob_msg_header_get(const struct ob_msg *m, const char *name);

/* ---- subjects -------------------------------------------------------------------- */
/*
 * Subjects are tokens separated by '.', each token non-empty, of bytes other than
 * '.', ' ', NUL and (in concrete subjects) the wildcards. In filters, '*' matches
 * exactly one token and '>' (last token only) one or more tokens.
 * A subject whose first token begins with '$' is a system subject ($SYS..., internal
 * records): a filter starting with a wildcard ('>', '*.x') does not match it, one that
 * names its first token ('$SYS.>') does. This holds for subscriptions, stream subjects
 * and consumer filters alike.
 */
bool ob_subject_valid(struct ob_slice subject);
bool ob_filter_valid(struct ob_slice filter);
bool ob_subject_matches(struct ob_slice filter, struct ob_slice subject);
bool ob_subject_is_system(struct ob_slice subject);
/* Token matching without the system-subject rule (permission patterns: '>' is all). */
bool ob_subject_matches_all(struct ob_slice filter, struct ob_slice subject);

/* ---- the bus --------------------------------------------------------------------- */
struct ob_bus;

enum ob_log_level { OB_LOG_DEBUG, OB_LOG_INFO, OB_LOG_WARN, OB_LOG_ERROR, OB_LOG_OFF };

/* Process-wide threshold for the library's log lines (logfmt on stderr); default
 * OB_LOG_INFO. */
void ob_log_set_level(enum ob_log_level level);

struct ob_bus_options {
    const char *data_dir;  /* NULL: in-memory only (streams are not durable) */
    void *uv_loop;         /* a uv_loop_t to run on; NULL: the bus creates its own */
    uint32_t max_msg_size; /* 0: 8 MiB */
};

/* Opens a bus; with a data_dir, recovers every stream and consumer found there. */
int ob_bus_open(struct ob_bus **out, const struct ob_bus_options *opt);
/* Flushes pending writes (fsync per policy), closes everything, frees the bus. */
void ob_bus_close(struct ob_bus *bus);

enum ob_run_mode { OB_RUN_DEFAULT = 0, OB_RUN_ONCE = 1, OB_RUN_NOWAIT = 2 };
/* Runs the bus loop (uv_run semantics); returns nonzero if work remains. Streams with
 * an age limit and consumers with acks keep timers, so OB_RUN_DEFAULT runs until
 * ob_bus_stop() while any exist. */
int ob_bus_run(struct ob_bus *bus, enum ob_run_mode mode);
/* Runs the loop until every write submitted so far is durable and its callbacks ran.
 * Returns the first storage error seen, or 0. */
int ob_bus_flush(struct ob_bus *bus);
/* Makes ob_bus_run(OB_RUN_DEFAULT) return soon. */
void ob_bus_stop(struct ob_bus *bus);
/* The uv_loop_t the bus runs on (as void * so this header needs no uv.h). */
void *ob_bus_uv_loop(struct ob_bus *bus);

/* Storage statistics of a durable bus (all zero in memory). fsync_bucket[i] counts
 * fsyncs that took at most fsync_bound_ns[i] (and more than the bound before it); the
 * last bound is UINT64_MAX. */
#define OB_STATS_FSYNC_BUCKETS 12
struct ob_bus_stats {
    uint64_t fsyncs;
    uint64_t fsync_ns_sum;
    uint64_t fsync_bound_ns[OB_STATS_FSYNC_BUCKETS];
    uint64_t fsync_bucket[OB_STATS_FSYNC_BUCKETS];
    uint64_t bytes_written;
    uint64_t write_errors;
    size_t streams;
};
void ob_bus_get_stats(struct ob_bus *bus, struct ob_bus_stats *out);

/* ---- publish --------------------------------------------------------------------- */
struct ob_pub_ack {
    const char *stream; /* first stream that stored the message, or NULL if none did */
    uint64_t seq;       /* its sequence in that stream, 0 if not stored */
    size_t nstreams;    /* how many streams stored it */
};

/* status is 0 or an OB_E* code; ack is valid only during the call. */
typedef void (*ob_publish_cb)(void *arg, int status, const struct ob_pub_ack *ack);

/*
 * Publishes msg (the bus takes its own reference; the caller keeps its own). Direct
 * subscribers with OB_SUB_SYNC run before this returns. With cb, it is called exactly
 * once: after every capturing stream has the message durable per its fsync policy, or
 * with an error. cb may run before ob_publish returns when no stream needs a write.
 * Returns 0, or an error (and then cb is not called).
 */
int ob_publish(struct ob_bus *bus, struct ob_msg *msg, ob_publish_cb cb, void *arg);

/* ---- subscriptions (direct, not durable) ----------------------------------------- */
struct ob_sub;
struct ob_consumer;

/* What a subscriber or consumer callback receives; all pointers borrowed. */
struct ob_delivery {
    struct ob_msg *msg;
    const char *stream;           /* NULL for a direct subscription */
    uint64_t seq;                 /* stream sequence, 0 for direct */
    uint32_t delivery_count;      /* 1 on first delivery */
    uint64_t pending;             /* consumer: messages left after this one (lag) */
    struct ob_consumer *consumer; /* NULL for a direct subscription */
};

typedef void (*ob_deliver_cb)(void *arg, const struct ob_delivery *d);

enum ob_sub_flags {
    OB_SUB_SYNC = 0,  /* callback runs inside ob_publish */
    OB_SUB_ASYNC = 1, /* callback runs later on the bus loop, in publish order */
};

int ob_subscribe(struct ob_bus *bus, const char *filter, unsigned flags, ob_deliver_cb cb,
                 void *arg, struct ob_sub **out);
/* Stops deliveries; no callback runs for this sub after it returns. */
void ob_unsubscribe(struct ob_sub *sub);

/* ---- streams --------------------------------------------------------------------- */
struct ob_stream;

enum ob_retention {
    OB_RETAIN_LIMITS = 0, /* kept until a limit (count, bytes, age) drops the oldest */
    OB_RETAIN_INTEREST,   /* kept until every consumer whose filter matches acked it */
    OB_RETAIN_WORKQUEUE,  /* removed once its (single, non-overlapping) consumer acked it */
};
enum ob_fsync { OB_FSYNC_ALWAYS = 0, OB_FSYNC_INTERVAL, OB_FSYNC_NEVER };
enum ob_compaction { OB_COMPACT_NONE = 0, OB_COMPACT_KEY, OB_COMPACT_SUBJECT };

struct ob_stream_config {
    const char *name;            /* [A-Za-z0-9_-]{1,64} */
    const char *const *subjects; /* filters this stream captures */
    size_t nsubjects;
    enum ob_retention retention;
    uint64_t max_msgs;             /* 0: unlimited */
    uint64_t max_bytes;            /* 0: unlimited */
    int64_t max_age_ms;            /* 0: unlimited */
    uint32_t max_msg_size;         /* 0: the bus limit */
    enum ob_compaction compaction; /* keep only the newest message per key / subject */
    enum ob_fsync fsync;
    uint32_t fsync_interval_ms; /* for OB_FSYNC_INTERVAL; 0: 100 ms */
    bool memory;                /* never written to disk, even on a durable bus */
    uint64_t segment_bytes;     /* 0: 64 MiB */
};

struct ob_stream_info {
    uint64_t msgs;
    uint64_t bytes;
    uint64_t first_seq; /* 0 when empty */
    uint64_t last_seq;  /* last sequence ever assigned */
    size_t consumers;
};

/* Creates a stream, or returns the existing one if its config is identical
 * (OB_EEXIST if different). *out is owned by the bus. */
int ob_stream_create(struct ob_bus *bus, const struct ob_stream_config *cfg,
                     struct ob_stream **out);
/* Changes limits/retention-independent settings (limits, fsync, max_msg_size). */
int ob_stream_update(struct ob_stream *st, const struct ob_stream_config *cfg);
struct ob_stream *ob_stream_lookup(struct ob_bus *bus, const char *name);
/* Deletes a stream, its consumers and files. */
int ob_stream_delete(struct ob_bus *bus, const char *name);
const char *ob_stream_name(const struct ob_stream *st);
const struct ob_stream_config *ob_stream_config(const struct ob_stream *st);
void ob_stream_get_info(const struct ob_stream *st, struct ob_stream_info *info);
/* Calls fn for each stream in name order; stops early if fn returns nonzero. */
void ob_stream_foreach(struct ob_bus *bus, int (*fn)(void *arg, struct ob_stream *st), void *arg);

/* Reads one stored message; *out gets a new reference. OB_ENOENT if absent. */
int ob_stream_get(struct ob_stream *st, uint64_t seq, struct ob_msg **out);
/* First stored sequence >= seq (optionally matching filter); OB_ENOENT if none. */
int ob_stream_next_seq(struct ob_stream *st, uint64_t seq, const char *filter, uint64_t *out);
/* First stored sequence whose timestamp is >= ts_ns; OB_ENOENT if none. */
int ob_stream_seq_for_time(struct ob_stream *st, int64_t ts_ns, uint64_t *out);
/* Removes stored messages with sequence < upto (0: all) and, if filter is non-NULL,
 * only those matching it. Returns how many were removed, or an error. */
int64_t ob_stream_purge(struct ob_stream *st, const char *filter, uint64_t upto);

/* ---- consumers ------------------------------------------------------------------- */
enum ob_deliver_policy {
    OB_DELIVER_ALL = 0, /* from the first stored message */
    OB_DELIVER_NEW,     /* only messages stored after creation */
    OB_DELIVER_LAST,    /* from the last stored message */
    OB_DELIVER_SEQ,     /* from start_seq */
    OB_DELIVER_TIME,    /* from the first message at or after start_time_ns */
};
enum ob_ack_policy {
    OB_ACK_NONE = 0,   /* delivered = done */
    OB_ACK_EACH,       /* every message acked individually */
    OB_ACK_CUMULATIVE, /* acking seq acks everything delivered up to seq */
};

struct ob_consumer_config {
    const char *name;   /* [A-Za-z0-9_-]{1,64}; durable */
    const char *filter; /* NULL or "": everything the stream holds */
    enum ob_deliver_policy deliver;
    uint64_t start_seq;
    int64_t start_time_ns;
    enum ob_ack_policy ack;
    uint32_t ack_wait_ms;     /* lease; 0: 30 s */
    uint32_t max_deliver;     /* 0: unlimited */
    const char *dead_letter;  /* subject for messages over max_deliver; NULL: drop */
    uint32_t max_ack_pending; /* 0: 1000 */
};

struct ob_consumer_info {
    uint64_t delivered_seq; /* highest stream sequence delivered */
    uint64_t ack_floor;     /* every sequence <= this is acked */
    uint64_t ack_pending;   /* delivered, not yet acked */
    uint64_t num_pending;   /* matching messages not yet delivered (lag) */
    uint64_t redelivered;   /* messages delivered more than once, in total */
    uint64_t dead_lettered;
    size_t bindings;
};

/* Creates a durable consumer, or returns the existing one with an identical config
 * (OB_EEXIST if different). *out is owned by its stream. */
int ob_consumer_create(struct ob_stream *st, const struct ob_consumer_config *cfg,
                       struct ob_consumer **out);
struct ob_consumer *ob_consumer_lookup(struct ob_stream *st, const char *name);
int ob_consumer_delete(struct ob_stream *st, const char *name);
const char *ob_consumer_name(const struct ob_consumer *c);
const struct ob_consumer_config *ob_consumer_config(const struct ob_consumer *c);
void ob_consumer_get_info(const struct ob_consumer *c, struct ob_consumer_info *info);
void ob_consumer_foreach(struct ob_stream *st, int (*fn)(void *arg, struct ob_consumer *c),
                         void *arg);

/* Push delivery: messages go round-robin to the bound callbacks (competing consumers),
 * up to max_ack_pending unacked. Unbinding hands that binding's unacked messages back
 * for immediate redelivery to the others. Deliveries happen on the bus loop. */
struct ob_binding;
int ob_consumer_bind(struct ob_consumer *c, ob_deliver_cb cb, void *arg, struct ob_binding **out);
void ob_consumer_unbind(struct ob_binding *b);

/* Pull: delivers up to max available messages through cb. With expires_ms > 0 and
 * nothing available, waits up to that long on the loop. done runs once at the end
 * with the number delivered (or OB_ECLOSED). Returns 0 or an error. */
typedef void (*ob_fetch_done_cb)(void *arg, int count);
int ob_consumer_fetch(struct ob_consumer *c, size_t max, uint32_t expires_ms, ob_deliver_cb cb,
                      ob_fetch_done_cb done, void *arg);

/* Completion of a durable consumer-state change; status 0 or OB_E*. */
typedef void (*ob_done_cb)(void *arg, int status);

/* Acks seq (per the ack policy, cumulative acks everything delivered up to seq); done
 * (optional) runs once the ack is durable. OB_ENOENT if seq is not pending. */
int ob_consumer_ack(struct ob_consumer *c, uint64_t seq, ob_done_cb done, void *arg);
/* Negative ack: redeliver seq after delay_ms (0: at once). */
int ob_consumer_nak(struct ob_consumer *c, uint64_t seq, uint32_t delay_ms);
/* Extends seq's lease by a fresh ack_wait (or ms if nonzero): "in progress". */
int ob_consumer_extend(struct ob_consumer *c, uint64_t seq, uint32_t ms);
/* Terminates seq: never redelivered, counts as acked. */
int ob_consumer_term(struct ob_consumer *c, uint64_t seq);
/* Holds seq for its current receiver, which keeps it outside the consumer: it stays
 * pending (unacked, stored) but has no lease and no binding, so neither an unbind nor
 * ack wait hands it to anyone else, until ack, term or nak (which releases it for
 * redelivery). In memory only: after a restart it is pending and redelivered like any
 * other unless held again before a receiver binds. OB_ENOENT if seq is not pending. */
int ob_consumer_hold(struct ob_consumer *c, uint64_t seq);

/* ---- identity and access ----------------------------------------------------------- */
struct ob_auth;
struct ob_principal;

enum ob_action { OB_ACT_PUBLISH = 1, OB_ACT_SUBSCRIBE = 2 };

#ifdef __cplusplus
}
#endif
#endif
