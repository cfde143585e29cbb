/*
 * store_int.h — private to src/store: the structures the loop thread (log.c, compact.c,
 * segment.c) and the storage thread (store.c, io.c) hand to each other.
 *
 * Ownership rule. Every field is owned by one thread, marked below. Work crosses
 * threads only as a `struct op` through the store's queue (loop -> storage) and done
 * list (storage -> loop), both under the store mutex, which is what orders the
 * handoff. Fields the storage thread reads that the loop thread set (fd, recs) are
 * written before the op is queued and not changed while it is in flight.
 */
#ifndef OB_STORE_STORE_INT_H
#define OB_STORE_STORE_INT_H

#include "base/fs.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

#define OB_SEG_INDEX_EVERY 4096u /* sparse index spacing in bytes */
#define OB_SEG_NAME_MAX    64

/* One sparse index entry: the record at off, and the largest ts of the records from off
 * up to the next entry (so a time lookup can skip spans without reading them). */
struct ob_idx {
    uint64_t seq;
    uint64_t off;
    int64_t max_ts;
};

struct ob_seg {
    uint64_t ordinal;
    int fd; /* loop thread opens and closes it; -1 while a sealed one is not cached */
    /* loop thread */
    struct ob_seg *lru_prev, *lru_next; /* the store's open sealed segments (fdcache.c) */
    bool in_lru;
    int pins;           /* a scan is inside: keep the descriptor */
    uint64_t size;      /* bytes of completed writes: readers stop here */
    uint64_t alloc;     /* size plus queued bytes: decides when to roll */
    size_t inflight;    /* write ops queued or running on this segment */
    bool busy;          /* a compaction or drop op holds it */
    bool dir_synced;    /* its directory entry is known durable */
    uint64_t first_seq; /* 0 when empty */
    uint64_t last_seq;
    int64_t max_ts;
    struct ob_idx *idx;
    size_t nidx, capidx;
    /* storage thread */
    uint64_t wr_off;      /* end of the last good write */
    uint64_t round_start; /* wr_off when this round first wrote here */
    bool in_round, round_sync, round_failed;
    bool tail_dirty; /* a truncate after a failed write failed too: retry first */
};

/* One encoded record waiting in a write op. */
struct ob_rec {
    uint8_t *p;
    size_t n;
    uint64_t seq;
    int64_t ts;
    ob_log_done_cb cb;
    void *arg;
};

enum ob_op_kind { OB_OP_WRITE, OB_OP_COMPACT, OB_OP_DROP, OB_OP_NOP, OB_OP_CLOSE };

struct ob_op {
    struct ob_op *next;
    enum ob_op_kind kind;
    struct ob_log *log;
    struct ob_seg *seg;
    int status;
    bool taken; /* under the store mutex: the storage thread has it, no more appends */
    /* OB_OP_WRITE */
    struct ob_rec *recs;
    size_t nrecs, caprecs;
    uint64_t bytes;
    uint64_t off; /* result: where the storage thread wrote it */
    enum ob_fsync policy;
    uint32_t interval_ms;
    bool sync_dir;
    uint64_t ticket; /* this write's number in its log (loop thread assigns) */
    /* OB_OP_COMPACT (drop is borrowed from the job) and OB_OP_DROP */
    const uint64_t *drop;
    size_t ndrop;
    uint64_t old_size; /* the sealed segment's length, fixed while the op runs */
    int new_fd;        /* result: the rewritten file, or -1 */
    uint64_t new_size;
    bool removed; /* result: the segment was left empty and unlinked */
    /* OB_OP_DROP: the log's write tickets at its previous drop call */
    uint64_t since;
    /* OB_OP_CLOSE */
    bool destroy;
};

struct ob_compact_job;

struct ob_log {
    struct ob_store *st;
    char *dir;
    struct ob_log_options opt;
    /* loop thread */
    struct ob_seg **segs;
    size_t nsegs, capsegs;
    bool roll_next;
    bool closing;
    uint64_t max_seq;   /* highest seq ever accepted, failed ones included */
    struct ob_op *open; /* write op still accepting records, if not yet taken */
    size_t ops_pending; /* ops queued and not yet dispatched */
    struct ob_compact_job *jobs;
    bool compacting;           /* a compaction op is in flight */
    int scanning;              /* ob_log_scan frames active: segments must not go away */
    uint64_t write_tickets;    /* write ops created so far */
    uint64_t last_drop_ticket; /* write_tickets at the last ob_log_drop_before */
    int in_cb;                 /* completion handlers active: freeing is deferred */
    bool dead;                 /* closed inside a callback; freed when in_cb drops to 0 */
    int close_status;
    /* storage thread */
    struct ob_seg *dirty_seg; /* written under OB_FSYNC_INTERVAL, not yet synced */
    int dirty_fd;             /* a dup of its descriptor: the loop may close the original */
    struct ob_log *dirty_next;
    bool in_dirty;
    int64_t last_sync_ns;
    /* The highest ticket of a failed write: a drop skips if a write submitted after the
     * previous drop call failed (io.c). Tickets rather than a flag, because the drops
     * of one call may be split over several rounds. */
    uint64_t failed_ticket;
    uint32_t dirty_interval_ms;
};

struct ob_store {
    uv_loop_t *loop;
    uv_poll_t *wake; /* watches efd */
    int efd;         /* eventfd the storage thread writes when ops are done */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* queue non-empty or stop */
    pthread_cond_t done_cv; /* done list grew */
    /* under mu */
    struct ob_op *queue, **queue_tail;
    struct ob_op *done, **done_tail;
    bool stop;
    struct ob_store_io io;
    /* loop thread */
    struct ob_op *ready, **ready_tail; /* taken from done, not yet handled */
    size_t ops;                        /* ops submitted, not yet dispatched */
    size_t appends;                    /* records whose callbacks have not run */
    int first_err;
    bool referenced;
    struct ob_seg *lru_head, *lru_tail; /* open sealed segments, most recent first */
    size_t nlru, fd_limit;
    /* storage thread writes, any thread reads (relaxed atomics) */
    _Atomic uint64_t st_fsyncs, st_fsync_ns, st_bytes, st_errors;
    _Atomic uint64_t st_bucket[OB_FSYNC_BUCKETS];
    /* storage thread */
    struct ob_store_io tio; /* copy of io taken with each round */
    struct ob_log *dirty;   /* logs with an OB_FSYNC_INTERVAL sync owed */
    struct ob_seg **round;
    size_t nround, capround;
};

/* store.c (loop thread) */
struct ob_op *ob_op_new(struct ob_log *log, enum ob_op_kind kind, struct ob_seg *seg);
void ob_store_submit(struct ob_store *st, struct ob_op *op);
/* Adds one encoded record to log's open write op for seg, creating and queueing one
 * if needed. */
void ob_store_add_rec(struct ob_log *log, struct ob_seg *seg, const struct ob_rec *rec);
/* Waits for at least one completion and handles every ready one. */
void ob_store_wait_dispatch(struct ob_store *st);
void ob_op_free(struct ob_op *op);

/* io.c (storage thread) */
void ob_io_round(struct ob_store *st, struct ob_op *ops);
/* Syncs the logs whose OB_FSYNC_INTERVAL deadline passed; returns the next deadline
 * (CLOCK_MONOTONIC ns) or 0 if none is owed. */
int64_t ob_io_interval(struct ob_store *st, int64_t now);
int ob_io_errno(int err);
/* Writes all of iov (advanced in place) at off, IOV_MAX vectors per call. */
int ob_io_pwrite_all(struct ob_store *st, int fd, struct iovec *iov, int cnt, off_t off);
int ob_io_sync_fd(struct ob_store *st, int fd);

/* compact.c */
void ob_io_compact(struct ob_store *st, struct ob_op *op); /* storage thread */
void ob_compact_done(struct ob_log *log, struct ob_op *op);
void ob_compact_step(struct ob_log *log);
void ob_compact_fail_all(struct ob_log *log, int status);

/* log.c (loop thread) */
void ob_log_op_done(struct ob_op *op);

/* fdcache.c (loop thread) */
#define OB_STORE_FD_LIMIT 256
/* s was just sealed (or recovered as sealed) with an open descriptor: cache it. */
void ob_fd_sealed(struct ob_store *st, struct ob_seg *s);
/* Makes s->fd valid, reopening the file if the cache closed it. */
int ob_seg_fd(struct ob_log *log, struct ob_seg *s);
void ob_fd_forget(struct ob_store *st, struct ob_seg *s);
/* Closes what is over the limit; called again when a cached segment stops being in use
 * (its writes completed, its compaction ended). */
void ob_fd_trim(struct ob_store *st);

/* segment.c */
struct ob_seg *ob_seg_new(uint64_t ordinal, int fd);
void ob_seg_free(struct ob_store *st, struct ob_seg *s);
void ob_seg_path(char *out, size_t n, const char *dir, uint64_t ordinal, const char *ext);
void ob_seg_index_add(struct ob_seg *s, uint64_t seq, int64_t ts, uint64_t off, size_t n);
void ob_seg_index_reset(struct ob_seg *s);
/* Index of the entry to start a search for seq from (the last with seq <= it). */
size_t ob_seg_index_find_seq(const struct ob_seg *s, uint64_t seq);

/* A forward reader over records in [base, end) of a file, refilled by pread. */
struct ob_reader {
    int fd;
    uint64_t end;
    uint64_t base; /* file offset of buf->p[0] */
    size_t pos;    /* next record in buf */
    struct ob_buf *buf;
};
void ob_reader_init(struct ob_reader *rd, int fd, uint64_t from, uint64_t end, struct ob_buf *buf);
/* 0: *r (body in buf) at file offset *off, *n bytes; 1: clean end; OB_EAGAIN: a
 * partial record before end; OB_ECORRUPT; OB_EIO. */
int ob_reader_next(struct ob_reader *rd, struct ob_record *r, uint64_t *off, size_t *n);
/* Offset of the next undecoded byte (where a cut would go). */
static inline uint64_t ob_reader_pos(const struct ob_reader *rd)
{
    return rd->base + rd->pos;
}
/*
 * Rebuilds s's index and seq range from its file up to end, requiring seqs above
 * *prev_seq (updated). Returns the offset of the first bad byte (== end if clean) and
 * sets *err to the reason (0, OB_EAGAIN, OB_ECORRUPT, OB_EIO).
 */
uint64_t ob_seg_scan(struct ob_seg *s, uint64_t end, uint64_t *prev_seq, int *err);
/* fsyncs the directory holding path (after creating or removing path itself). */
int ob_fsync_parent(const char *path);

#endif
