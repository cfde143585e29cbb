/*
 * core.h — the core's internal structures, shared by bus.c (router, subscriptions,
 * deferred work), stream.c (durable logs of messages) and consumer.c (cursors with
 * acks). Nothing outside src/core includes this: adapters use include/omnibus.h.
 *
 * Ownership: the bus owns its streams (by name), a stream owns its consumers and its
 * message table; the table holds one reference on each cached message.
 */
#ifndef OB_CORE_CORE_H
#define OB_CORE_CORE_H

#include <omnibus.h>
#include <uv.h>

#include "base/map.h"
#include "core/msg.h"
#include "core/sublist.h"
#include "store/store.h"

/* What a sublist item is: every item starts with this tag. */
enum ob_item_kind { OB_ITEM_SUB = 1, OB_ITEM_STREAM = 2 };

struct ob_sub {
    enum ob_item_kind kind;
    struct ob_bus *bus;
    char *filter;
    unsigned flags;
    ob_deliver_cb cb;
    void *arg;
    bool dead;
    unsigned refs;              /* the bus's own + each queued async delivery */
    struct ob_sub *prev, *next; /* the bus's list of live subscriptions */
};

/* One async delivery waiting for the loop. */
struct async_item {
    struct ob_sub *sub;
    struct ob_msg *msg;
};

struct ob_bus {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool owns_loop;
    char *data_dir; /* NULL: in-memory */
    uint32_t max_msg_size;
    struct ob_store *store;
    struct ob_sublist subs;
    struct ob_map streams;    /* name -> struct ob_stream */
    struct ob_sub *live_subs; /* freed at close if never unsubscribed */
    /* Deferred work, run from an idle handle: async deliveries, consumer kicks, frees. */
    uv_idle_t idle;
    bool idle_on;
    struct async_item *aq;
    size_t aq_head, aq_len, aq_cap;
    struct ob_consumer **kick;
    size_t nkick, kick_cap;
    struct ob_sub **graveyard;
    size_t ngrave, grave_cap;
    unsigned dispatch_depth;
    uint64_t publish_gen;
    int first_error;
    bool closing;
};

/* One publish waiting for its capturing streams to make the message durable. */
struct ob_pubctx {
    struct ob_bus *bus;
    ob_publish_cb cb;
    void *arg;
    unsigned waiting;
    int status;
    size_t nstreams;
    char *first_stream;
    uint64_t first_seq;
};

/* A stream's message table entry, one per sequence from base to last. */
enum entry_flags { E_LIVE = 1, E_COMMITTED = 2 };
struct ob_entry {
    struct ob_msg *msg;  /* cached reference or NULL (then read from the log) */
    const char *subject; /* interned in the stream's subject table */
    int64_t ts;
    uint32_t size;
    uint8_t flags;
};

struct interned {
    char *s;
    size_t n;
    size_t refs;
};

struct ob_stream {
    enum ob_item_kind kind;
    struct ob_bus *bus;
    char *name;
    struct ob_stream_config cfg; /* deep copy: name and subjects owned */
    char *dir;                   /* NULL when not on disk */
    struct ob_log *log;          /* messages */
    struct ob_log *dels;         /* purges and deletions */
    uint64_t dels_seq;
    struct ob_entry *tab;             /* tab[i] is sequence base + i */
    size_t tab_len, tab_cap, tab_off; /* live window is tab[tab_off .. tab_len) */
    uint64_t base;                    /* sequence of tab[0] */
    uint64_t last_seq;                /* last sequence assigned */
    uint64_t committed;               /* every seq <= this is durable (or failed) */
    uint64_t msgs, bytes;
    struct ob_map subjects; /* interned subject strings */
    struct ob_map last_by;  /* compaction: key or subject -> seq (boxed) */
    struct ob_map consumers;
    uint64_t seen_gen; /* dedupes multiple matching filters per publish */
    uv_timer_t age_timer;
    bool age_timer_on;
    size_t cached_bytes;
    uint64_t cache_floor; /* entries below this are uncached first */
    struct ob_buf scratch;
    bool deleting;
    bool compacting;  /* a log compaction job is running */
    uint64_t removed; /* removals since the write path last reclaimed space */
};

struct pending {
    uint64_t seq; /* map key points here */
    uint32_t deliveries;
    int64_t deadline_ns; /* lease end; INT64_MAX while parked for redelivery */
    struct ob_binding *owner;
    bool held; /* ob_consumer_hold: no lease, no owner, never redelivered by the core */
};

struct fetch_req {
    struct fetch_req *next;
    size_t max, got;
    ob_deliver_cb cb;
    ob_fetch_done_cb done;
    void *arg;
    uv_timer_t timer;
    struct ob_consumer *c;
};

struct ob_binding {
    struct ob_consumer *c;
    ob_deliver_cb cb;
    void *arg;
    struct ob_binding *next;
};

struct ob_consumer {
    struct ob_stream *st;
    char *name;
    struct ob_consumer_config cfg; /* deep copy */
    struct ob_log *log;            /* state ops; NULL in memory */
    uint64_t log_seq, ops_since_snapshot;
    uint64_t next_seq;     /* next stream sequence to consider */
    struct ob_map pending; /* seq -> struct pending */
    uint64_t *redeliver;   /* seqs due for redelivery, ascending */
    size_t nredeliver, redeliver_cap;
    struct ob_binding *bindings, *rr;
    size_t nbindings;
    struct fetch_req *fetches;
    uv_timer_t timer; /* ack-wait scanning */
    bool timer_on, kicked, deleting;
    uint64_t redelivered, dead_lettered;
    uint64_t persisted_next; /* next_seq last written to the log */
};

/* bus.c */
void ob_bus_kick(struct ob_bus *bus, struct ob_consumer *c);
/* Forgets a pending kick: a consumer being closed must not be run after it is freed. */
void ob_bus_unkick(struct ob_bus *bus, struct ob_consumer *c);
void ob_bus_note_error(struct ob_bus *bus, int err);
struct ob_pubctx *ob_pubctx_new(struct ob_bus *bus, ob_publish_cb cb, void *arg);
void ob_pubctx_hold(struct ob_pubctx *pc);
void ob_pubctx_done(struct ob_pubctx *pc, struct ob_stream *st, uint64_t seq, int status);

/* stream.c */
int ob_stream_capture(struct ob_stream *st, struct ob_msg *msg, struct ob_pubctx *pc);
int ob_streams_recover(struct ob_bus *bus);
void ob_stream_close(struct ob_stream *st);
/* The entry for seq or NULL if outside the table or not live. */
struct ob_entry *ob_stream_entry(struct ob_stream *st, uint64_t seq);
/* Loads the message (cached or from the log); a new reference. */
int ob_stream_load(struct ob_stream *st, uint64_t seq, struct ob_msg **out);
/* Called after consumer c acked (or terminated) seq: retention may remove it. */
void ob_stream_acked(struct ob_stream *st, uint64_t seq);
/* Removes seq from the stream (not persisted: callers persist the reason). */
void ob_stream_remove(struct ob_stream *st, uint64_t seq);
/* Re-applies interest / work-queue retention over every stored message. */
void ob_stream_apply_interest(struct ob_stream *st);
int ob_meta_write(const char *path, struct ob_slice body);
int ob_meta_read(const char *path, struct ob_buf *out);
/* Calls fn for each "key=value" line of a meta body (lines without '=' are skipped). */
void ob_meta_each(struct ob_slice body, void (*fn)(void *arg, const char *key, const char *value),
                  void *arg);
bool ob_name_valid(const char *name);

/* consumer.c */
int ob_consumer_recover(struct ob_stream *st, const char *dir, struct ob_consumer **out);
void ob_consumer_close(struct ob_consumer *c);
/* Delivers what it can now; called from the bus idle pass. */
void ob_consumer_run(struct ob_consumer *c);
/* Did c (whose filter matches seq's subject) finish with seq? */
bool ob_consumer_done_with(const struct ob_consumer *c, uint64_t seq);
bool ob_consumer_wants(const struct ob_consumer *c, struct ob_slice subject);
void ob_consumer_stream_purged(struct ob_consumer *c);

#endif
