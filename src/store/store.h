/*
 * store.h — durable storage: segmented append-only logs of CRC-checked records, written
 * by one storage thread with group-commit fsync.
 *
 * Model. A `struct ob_store` owns the storage thread. A `struct ob_log` is one log in
 * one directory: segment files named by ordinal (`00000000000000000001.seg`, …), each a
 * sequence of records (record.h). Record sequence numbers in a log strictly increase;
 * the log keeps, per segment, a sparse in-memory index (seq, ts) -> file offset every
 * ~4 KiB so reads by sequence or time seek close and scan forward.
 *
 * Users: a stream keeps its messages in one log and its deletions (tombstones) in
 * another; a consumer keeps its state ops (acks, snapshots) in a third. The store knows
 * nothing of messages: record bodies are opaque bytes.
 *
 * Threads. Every ob_log_* / ob_store_* function is called on the loop thread only. The
 * storage thread does write/fsync/ftruncate/rename/unlink; it reports completions through
 * uv_async, and callbacks run on the loop thread. Reads (pread) run on the loop thread
 * against bytes that are already written.
 *
 * Durability. ob_log_append copies the encoded record into the pending batch. The
 * storage thread writes every pending batch with writev, then per log policy:
 *   OB_FSYNC_ALWAYS    fdatasync before the callbacks run (group commit: one fsync per
 *                      batch per file, however many records it holds);
 *   OB_FSYNC_INTERVAL  callbacks run after the write; fsync at most every interval_ms;
 *   OB_FSYNC_NEVER     callbacks run after the write; the OS decides.
 * A failed write (ENOSPC, EIO, …) truncates the segment back to its last good length,
 * fails every record of that batch with OB_ENOSPC / OB_EIO, and leaves the log usable:
 * the next append tries again (so writing resumes when space returns). Records that
 * were acknowledged are never touched by a later failure.
 *
 * Recovery (ob_log_open) scans every segment, validates each record's length and CRC,
 * and truncates the last segment at the first torn or corrupt record. A corrupt record
 * in a sealed (non-last) segment is reported (OB_ECORRUPT logged) and that segment is
 * cut there; later segments are kept.
 */
#ifndef OB_STORE_STORE_H
#define OB_STORE_STORE_H

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/buf.h"
#include "store/record.h"

struct ob_store;
struct ob_log;

/* The I/O the storage thread performs, replaceable for fault injection in tests.
 * Each returns what the libc call returns and sets errno on failure. */
struct ob_store_io {
    ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt, off_t off);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
};

/* Starts the storage thread. loop is a uv_loop_t * (the bus loop). */
int ob_store_open(struct ob_store **out, void *loop);
/* Waits for every pending write, stops the thread, frees the store. Every log must
 * have been closed first. The store's uv_async handle is closed here and freed by the
 * loop's next iteration: run the loop (uv_run) before uv_loop_close. */
void ob_store_close(struct ob_store *st);
/* Replaces the I/O functions (NULL restores libc). Tests only; call while idle. */
void ob_store_set_io(struct ob_store *st, const struct ob_store_io *io);
/* How many sealed segments' files the store keeps open at most (least recently used
 * are closed and reopened on demand); 0: the default, 256. Every log's last segment
 * stays open regardless. */
void ob_store_set_fd_limit(struct ob_store *st, size_t n);
/* I/O statistics, updated by the storage thread (read with ob_store_get_stats). The
 * fsync histogram uses OB_FSYNC_BUCKETS upper bounds (ob_store_fsync_bounds_ns). */
#define OB_FSYNC_BUCKETS 12
struct ob_store_stats {
    uint64_t fsyncs;
    uint64_t fsync_ns_sum;
    uint64_t fsync_bucket[OB_FSYNC_BUCKETS]; /* counts per bucket, not cumulative */
    uint64_t bytes_written;
    uint64_t write_errors;
};
void ob_store_get_stats(const struct ob_store *st, struct ob_store_stats *out);
/* Upper bound (ns) of each bucket; the last is UINT64_MAX. */
const uint64_t *ob_store_fsync_bounds_ns(void);

/* Number of submitted appends whose callbacks have not run yet. */
size_t ob_store_pending(const struct ob_store *st);
/* Runs the loop until nothing is pending. Returns the first error seen since the last
 * call, or 0. */
int ob_store_drain(struct ob_store *st);

struct ob_log_options {
    uint64_t segment_bytes;     /* roll to a new segment past this size; 0: 64 MiB */
    enum ob_fsync fsync;        /* from omnibus.h */
    uint32_t fsync_interval_ms; /* 0: 100 */
};

/* Opens (creating if needed, with parents) the log in dir, recovering as described
 * above. The caller reads back what it needs with ob_log_scan. */
int ob_log_open(struct ob_store *st, const char *dir, const struct ob_log_options *opt,
                struct ob_log **out);
/* Flushes and closes; pending callbacks still run (during the close). */
void ob_log_close(struct ob_log *log);
/* Closes the log and removes its files and directory. */
int ob_log_destroy(struct ob_log *log);
void ob_log_set_options(struct ob_log *log, const struct ob_log_options *opt);

/* Sequence range present in the log (0, 0 when empty). */
uint64_t ob_log_first_seq(const struct ob_log *log);
uint64_t ob_log_last_seq(const struct ob_log *log);
/* Bytes on disk over all segments, and the number of segments. */
uint64_t ob_log_bytes(const struct ob_log *log);
size_t ob_log_segments(const struct ob_log *log);

/* Status of an append or other asynchronous operation: 0 or OB_E*. */
typedef void (*ob_log_done_cb)(void *arg, int status);

/*
 * Appends r (r->seq must exceed every seq appended before, including failed ones).
 * The encoded bytes are copied; r may be freed on return. cb (may be NULL) runs on the
 * loop thread when the record is durable per policy, or failed; callbacks of one log
 * run in append order. Returns OB_ETOOBIG if the record exceeds OB_RECORD_MAX,
 * OB_ECLOSED after close, OB_EINVAL if r->seq does not increase or r->type is 0; else 0.
 */
int ob_log_append(struct ob_log *log, const struct ob_record *r, ob_log_done_cb cb, void *arg);

/* Calls fn for each record with seq >= from, in order, until fn returns nonzero (that
 * value is returned) or the end (0). Only records whose write completed are seen.
 * r and its body are valid during the call only. fn may append, but must not close
 * this log or wait on the store (ob_store_drain); ob_log_drop_before does nothing
 * while a scan runs. Read errors: OB_ECORRUPT, OB_EIO. */
int ob_log_scan(struct ob_log *log, uint64_t from, int (*fn)(void *arg, const struct ob_record *r),
                void *arg);
/* Reads the record with exactly this seq. The body points into *scratch (reused).
 * OB_ENOENT if absent, OB_ECORRUPT on checksum failure, OB_EIO on read failure. */
int ob_log_read(struct ob_log *log, uint64_t seq, struct ob_buf *scratch, struct ob_record *out);
/* Sequence of the first record with ts >= ts_ns (via the sparse index); OB_ENOENT. */
int ob_log_seq_for_time(struct ob_log *log, int64_t ts_ns, uint64_t *out);

/* Seals the current segment: the next append starts a new one. */
void ob_log_roll(struct ob_log *log);
/* Removes every whole segment whose records all have seq < seq (never the segment
 * being written: the last one, which also keeps ob_log_last_seq across a reopen, nor
 * one being compacted). Returns how many segments were dropped; they leave the log at
 * once, their files are unlinked on the storage thread after every write queued
 * before the call is durable. If one of those writes failed the files are kept (and
 * come back at the next ob_log_open): dropping what a failed snapshot was to replace
 * would lose both. */
size_t ob_log_drop_before(struct ob_log *log, uint64_t seq);
/*
 * Compaction: rewrites, on the storage thread, each sealed segment that holds any of
 * the drop[0..n) sequences (sorted ascending; copied), keeping every other record
 * byte-for-byte, then atomically renames the new file over the old one and fsyncs the
 * directory. A segment left empty is removed. cb runs when done (never inside this
 * call) with 0 or the first error (the segment that failed is left as it was), or
 * OB_ECLOSED if the log is closed first. Incremental: one segment is rewritten at a
 * time so the loop never stalls. The last segment (the one appends go to) is not
 * compacted; its records in drop stay. OB_EINVAL if drop is not sorted.
 */
int ob_log_compact(struct ob_log *log, const uint64_t *drop, size_t n, ob_log_done_cb cb,
                   void *arg);

#endif
