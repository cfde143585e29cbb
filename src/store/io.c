/*
 * io.c — what the storage thread does with one round of ops: write every queued batch
 * with pwritev at the segment's end, then fdatasync each file written under
 * OB_FSYNC_ALWAYS once (group commit), then let store.c post the completions.
 *
 * Failure policy. A failed write is cut off with ftruncate at the last good length and
 * only that batch fails. A failed fdatasync fails every batch written to that file in
 * this round and truncates the file back to where the round started: after a failed
 * fsync the kernel may have dropped the dirty pages and marked them clean, so a retry
 * could "succeed" without the data (PostgreSQL's fsyncgate). Bytes before the round
 * start were synced by an earlier successful fsync and are never touched. Interval
 * syncs that fail are logged; their records were already acknowledged under a policy
 * that promised no durability.
 */
#include "store/store_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ob_io_errno(int err)
{
    return err == ENOSPC || err == EDQUOT ? OB_ENOSPC : OB_EIO;
}

/* Writes all of iov at off in calls of at most IOV_MAX vectors, resuming after short
 * writes. iov is consumed (advanced in place). */
int ob_io_pwrite_all(struct ob_store *st, int fd, struct iovec *iov, int cnt, off_t off)
{
    int i = 0;
    while (i < cnt) {
        int n = cnt - i < IOV_MAX ? cnt - i : IOV_MAX;
        ssize_t w = st->tio.pwritev(fd, iov + i, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            atomic_fetch_add_explicit(&st->st_errors, 1, memory_order_relaxed);
            return w < 0 ? ob_io_errno(errno) : OB_EIO;
        }
        atomic_fetch_add_explicit(&st->st_bytes, (uint64_t)w, memory_order_relaxed);
        off += w;
        size_t left = (size_t)w;
        while (i < cnt && left >= iov[i].iov_len)
            left -= iov[i++].iov_len;
        if (left > 0) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + left;
            iov[i].iov_len -= left;
        }
    }
    return 0;
}

static void truncate_tail(struct ob_store *st, struct ob_seg *seg)
{
    seg->tail_dirty = st->tio.ftruncate(seg->fd, (off_t)seg->wr_off) != 0;
    if (seg->tail_dirty)
        OB_WARN("store", "cannot truncate a failed write", "seg=%llu errno=%d",
                (unsigned long long)seg->ordinal, errno);
}

static const uint64_t fsync_bounds[OB_FSYNC_BUCKETS] = {100000,   250000,    500000,    1000000,
                                                        2500000,  5000000,   10000000,  25000000,
                                                        50000000, 100000000, 250000000, UINT64_MAX};

const uint64_t *ob_store_fsync_bounds_ns(void)
{
    return fsync_bounds;
}

static void note_fsync(struct ob_store *st, int64_t ns)
{
    size_t b = 0;
    while (b + 1 < OB_FSYNC_BUCKETS && (uint64_t)ns > fsync_bounds[b])
        b++;
    atomic_fetch_add_explicit(&st->st_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->st_fsyncs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->st_fsync_ns, (uint64_t)ns, memory_order_relaxed);
}

int ob_io_sync_fd(struct ob_store *st, int fd)
{
    int64_t t0 = ob_mono_ns();
    while (st->tio.fdatasync(fd) != 0)
        if (errno != EINTR) return ob_io_errno(errno);
    note_fsync(st, ob_mono_ns() - t0);
    return 0;
}

static void forget_dirty(struct ob_log *log)
{
    if (log->dirty_fd >= 0) close(log->dirty_fd);
    log->dirty_fd = -1;
    log->dirty_seg = NULL;
}

static void sync_interval(struct ob_store *st, struct ob_log *log)
{
    if (log->dirty_fd >= 0 && ob_io_sync_fd(st, log->dirty_fd) != 0)
        OB_WARN("store", "interval fsync failed", "dir=%s errno=%d", log->dir, errno);
    forget_dirty(log);
    log->last_sync_ns = ob_mono_ns();
}

/* Under OB_FSYNC_INTERVAL the log owes a sync of seg. A log has at most one such
 * segment: moving on to a new one (a roll) syncs the old one first. */
static void mark_dirty(struct ob_store *st, struct ob_log *log, struct ob_seg *seg,
                       uint32_t interval_ms)
{
    if (log->dirty_seg && log->dirty_seg != seg) sync_interval(st, log);
    if (!log->dirty_seg) {
        log->dirty_fd = dup(seg->fd); /* fdcache.c may close seg->fd once sealed */
        if (log->dirty_fd < 0) {
            ob_io_sync_fd(st, seg->fd); /* cannot defer it: sync now */
            return;
        }
        log->dirty_seg = seg;
    }
    log->dirty_interval_ms = interval_ms ? interval_ms : 100;
    if (!log->in_dirty) {
        log->in_dirty = true;
        log->dirty_next = st->dirty;
        st->dirty = log;
    }
}

static void unlist_dirty(struct ob_store *st, struct ob_log *log)
{
    for (struct ob_log **pp = &st->dirty; *pp; pp = &(*pp)->dirty_next) {
        if (*pp == log) {
            *pp = log->dirty_next;
            break;
        }
    }
    log->in_dirty = false;
    log->dirty_next = NULL;
}

int64_t ob_io_interval(struct ob_store *st, int64_t now)
{
    int64_t next = 0;
    struct ob_log **pp = &st->dirty;
    while (*pp) {
        struct ob_log *log = *pp;
        int64_t due = log->last_sync_ns + (int64_t)log->dirty_interval_ms * OB_NS_PER_MS;
        if (log->dirty_seg && due > now) {
            if (!next || due < next) next = due;
            pp = &log->dirty_next;
            continue;
        }
        sync_interval(st, log);
        *pp = log->dirty_next;
        log->in_dirty = false;
    }
    return next;
}

static void join_round(struct ob_store *st, struct ob_seg *seg)
{
    if (seg->in_round) return;
    seg->in_round = true;
    seg->round_start = seg->wr_off;
    OB_GROW(st->round, st->capround, st->nround + 1);
    st->round[st->nround++] = seg;
}

static int write_recs(struct ob_store *st, struct ob_op *op)
{
    struct iovec *iov = ob_xmalloc(op->nrecs * sizeof *iov);
    for (size_t i = 0; i < op->nrecs; i++)
        iov[i] = (struct iovec){op->recs[i].p, op->recs[i].n};
    int rc = ob_io_pwrite_all(st, op->seg->fd, iov, (int)op->nrecs, (off_t)op->seg->wr_off);
    free(iov);
    return rc;
}

static void do_write(struct ob_store *st, struct ob_op *op)
{
    struct ob_seg *seg = op->seg;
    if (op->sync_dir && (op->status = ob_fsync_dir(op->log->dir)) != 0) return;
    if (seg->tail_dirty) truncate_tail(st, seg);
    join_round(st, seg);
    op->status = write_recs(st, op);
    if (op->status) {
        OB_WARN("store", "write failed", "dir=%s seg=%llu err=%s", op->log->dir,
                (unsigned long long)seg->ordinal, ob_strerror(op->status));
        truncate_tail(st, seg);
        return;
    }
    op->off = seg->wr_off;
    seg->wr_off += op->bytes;
    if (op->policy == OB_FSYNC_ALWAYS)
        seg->round_sync = true;
    else if (op->policy == OB_FSYNC_INTERVAL)
        mark_dirty(st, op->log, seg, op->interval_ms);
}

static void note_failure(struct ob_op *op)
{
    if (op->status && op->ticket > op->log->failed_ticket) op->log->failed_ticket = op->ticket;
}

/* One fdatasync per file however many batches the round wrote to it. */
static void sync_round(struct ob_store *st, struct ob_op *ops)
{
    for (size_t i = 0; i < st->nround; i++) {
        struct ob_seg *seg = st->round[i];
        if (!seg->round_sync || ob_io_sync_fd(st, seg->fd) == 0) continue;
        OB_ERROR("store", "fdatasync failed; failing the round's writes", "seg=%llu errno=%d",
                 (unsigned long long)seg->ordinal, errno);
        seg->round_failed = true;
        seg->wr_off = seg->round_start;
        truncate_tail(st, seg);
    }
    for (struct ob_op *op = ops; op; op = op->next) {
        if (op->kind != OB_OP_WRITE) continue;
        if (op->status == 0 && op->seg->round_failed) op->status = OB_EIO;
        note_failure(op);
    }
    for (size_t i = 0; i < st->nround; i++)
        st->round[i]->in_round = st->round[i]->round_sync = st->round[i]->round_failed = false;
    st->nround = 0;
}

/* A drop is skipped when a write submitted since the previous drop call failed: callers
 * drop the segments that a record just appended (a consumer snapshot) makes redundant,
 * and must not lose both. The file stays; the segment is back when the log is next
 * opened. */
static void do_drop(struct ob_op *op)
{
    char path[PATH_MAX];
    if (op->log->dirty_seg == op->seg) forget_dirty(op->log);
    if (op->log->failed_ticket > op->since) {
        OB_WARN("store", "not dropping a segment after a failed write", "dir=%s seg=%llu",
                op->log->dir, (unsigned long long)op->seg->ordinal);
        return;
    }
    ob_seg_path(path, sizeof path, op->log->dir, op->seg->ordinal, ".seg");
    if (unlink(path) != 0 && errno != ENOENT) {
        op->status = ob_io_errno(errno);
        return;
    }
    op->status = ob_fsync_dir(op->log->dir);
}

static bool is_store_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".seg") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".tmp") == 0);
}

/* Removes the log's files and its directory, and makes the removal durable. */
static int destroy_dir(struct ob_log *log)
{
    DIR *d = opendir(log->dir);
    if (!d) return ob_io_errno(errno);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (is_store_file(e->d_name)) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    if (rmdir(log->dir) != 0) return ob_io_errno(errno);
    return ob_fsync_parent(log->dir);
}

static void do_close(struct ob_store *st, struct ob_op *op)
{
    struct ob_log *log = op->log;
    if (log->in_dirty) {
        sync_interval(st, log);
        unlist_dirty(st, log);
    }
    if (op->destroy) op->status = destroy_dir(log);
}

/*
 * Writes and compactions first, then the group fsync, then drops and closes. Removing
 * files only after the round's writes are durable keeps "append a snapshot, then drop
 * what it replaces" safe across a crash: the old segments go only once the snapshot
 * is on disk. Closes come last so they see (and flush) everything before them.
 */
void ob_io_round(struct ob_store *st, struct ob_op *ops)
{
    for (struct ob_op *op = ops; op; op = op->next) {
        if (op->kind == OB_OP_WRITE) {
            do_write(st, op);
            note_failure(op);
        } else if (op->kind == OB_OP_COMPACT) {
            /* The rewrite may keep the file as it is, so it must not stay unsynced. */
            if (op->log->dirty_seg == op->seg) sync_interval(st, op->log);
            ob_io_compact(st, op);
        }
    }
    sync_round(st, ops);
    for (struct ob_op *op = ops; op; op = op->next) {
        if (op->kind == OB_OP_DROP)
            do_drop(op);
        else if (op->kind == OB_OP_CLOSE)
            do_close(st, op);
    }
}
