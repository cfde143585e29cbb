/*
 * compact.c — removing chosen records from sealed segments.
 *
 * A job (one ob_log_compact call) walks the log's sealed segments in order and sends
 * the next one that holds a sequence to drop to the storage thread, one segment at a
 * time, so neither thread stalls on a large log. The storage thread copies the kept
 * records byte for byte into `<ordinal>.tmp`, fsyncs it, renames it over the segment
 * and fsyncs the directory: a crash leaves either the old or the new file, and a
 * leftover .tmp is removed by recovery. Readers on the loop thread keep using the old
 * file descriptor until the completion swaps in the new one and rebuilds its index.
 */
#include "store/store_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_BYTES (1u << 20)

struct ob_compact_job {
    struct ob_compact_job *next;
    uint64_t *drop;
    size_t n;
    ob_log_done_cb cb;
    void *arg;
    uint64_t next_ordinal; /* segments below this one are done */
    int status;
};

/* ---- storage thread ---------------------------------------------------------------- */

static bool in_drop(const uint64_t *drop, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (drop[mid] == seq) return true;
        if (drop[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

struct copy_state {
    struct ob_buf out;
    uint64_t out_off;
    size_t kept, dropped;
};

static int flush_out(struct ob_store *st, int fd, struct copy_state *cs)
{
    if (cs->out.len == 0) return 0;
    struct iovec iov = {cs->out.p, cs->out.len};
    int rc = ob_io_pwrite_all(st, fd, &iov, 1, (off_t)cs->out_off);
    cs->out_off += cs->out.len;
    cs->out.len = 0;
    return rc;
}

/* Copies every record not in the drop list from the old file to fd. A record that no
 * longer decodes fails the job: the old file is left as it is. */
static int copy_kept(struct ob_store *st, struct ob_op *op, int fd, struct copy_state *cs)
{
    struct ob_buf in = OB_BUF_INIT;
    struct ob_reader rd;
    struct ob_record r;
    uint64_t off;
    size_t n;
    int rc;
    ob_reader_init(&rd, op->seg->fd, 0, op->old_size, &in);
    while ((rc = ob_reader_next(&rd, &r, &off, &n)) == 0) {
        if (in_drop(op->drop, op->ndrop, r.seq)) {
            cs->dropped++;
            continue;
        }
        cs->kept++;
        ob_buf_append(&cs->out, in.p + (off - rd.base), n);
        if (cs->out.len >= FLUSH_BYTES && (rc = flush_out(st, fd, cs)) != 0) break;
    }
    ob_buf_release(&in);
    if (rc == 1) rc = flush_out(st, fd, cs);
    return rc == OB_EAGAIN ? OB_ECORRUPT : rc;
}

/* Puts the rewritten file in place (or removes the segment if nothing is left). */
static int install(struct ob_store *st, struct ob_op *op, int fd, const char *tmp,
                   const struct copy_state *cs)
{
    char path[PATH_MAX];
    ob_seg_path(path, sizeof path, op->log->dir, op->seg->ordinal, ".seg");
    if (cs->kept == 0) {
        unlink(tmp);
        if (unlink(path) != 0) return ob_io_errno(errno);
        op->removed = true;
        return ob_fsync_dir(op->log->dir);
    }
    int rc = ob_io_sync_fd(st, fd);
    if (rc) return rc;
    if (rename(tmp, path) != 0) return ob_io_errno(errno);
    op->new_fd = fd;
    op->new_size = cs->out_off;
    return ob_fsync_dir(op->log->dir);
}

void ob_io_compact(struct ob_store *st, struct ob_op *op)
{
    char tmp[PATH_MAX];
    ob_seg_path(tmp, sizeof tmp, op->log->dir, op->seg->ordinal, ".tmp");
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        op->status = ob_io_errno(errno);
        return;
    }
    struct copy_state cs = {OB_BUF_INIT, 0, 0, 0};
    int rc = copy_kept(st, op, fd, &cs);
    ob_buf_release(&cs.out);
    if (rc == 0 && cs.dropped > 0) rc = install(st, op, fd, tmp, &cs);
    if (op->new_fd < 0) { /* nothing installed: the old segment stays */
        close(fd);
        unlink(tmp);
    }
    if (rc && !op->removed)
        OB_WARN("store", "compaction failed", "dir=%s seg=%llu err=%s", op->log->dir,
                (unsigned long long)op->seg->ordinal, ob_strerror(rc));
    op->status = rc;
}

/* ---- loop thread ------------------------------------------------------------------- */

static bool seg_has_drop(const struct ob_seg *s, const struct ob_compact_job *job)
{
    size_t lo = 0, hi = job->n; /* first drop >= first_seq */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (job->drop[mid] < s->first_seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < job->n && job->drop[lo] <= s->last_seq;
}

/* 1: *out is the next segment to rewrite; 0: the job is done; -1: a candidate still has
 * writes in flight, try again when they complete. The last segment is never taken. */
static int next_candidate(struct ob_log *log, struct ob_compact_job *job, struct ob_seg **out)
{
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        struct ob_seg *s = log->segs[i];
        if (s->ordinal < job->next_ordinal) continue;
        if (s->inflight || s->busy) return -1;
        if (s->first_seq == 0 || !seg_has_drop(s, job)) continue;
        *out = s;
        return 1;
    }
    return 0;
}

static void start_op(struct ob_log *log, struct ob_compact_job *job, struct ob_seg *s)
{
    int rc = ob_seg_fd(log, s); /* the storage thread reads the old file through it */
    if (rc) {
        job->status = rc;
        job->next_ordinal = UINT64_MAX;
        ob_store_submit(log->st, ob_op_new(log, OB_OP_NOP, NULL)); /* ends the job */
        return;
    }
    struct ob_op *op = ob_op_new(log, OB_OP_COMPACT, s);
    op->drop = job->drop;
    op->ndrop = job->n;
    op->old_size = s->size;
    s->busy = true;
    log->compacting = true;
    job->next_ordinal = s->ordinal + 1;
    ob_store_submit(log->st, op);
}

static void job_free(struct ob_compact_job *job)
{
    free(job->drop);
    free(job);
}

void ob_compact_fail_all(struct ob_log *log, int status)
{
    struct ob_compact_job *job;
    while ((job = log->jobs) != NULL) {
        log->jobs = job->next;
        if (job->cb) job->cb(job->arg, status);
        job_free(job);
    }
}

void ob_compact_step(struct ob_log *log)
{
    struct ob_compact_job *job;
    while ((job = log->jobs) != NULL && !log->compacting) {
        if (log->closing) {
            ob_compact_fail_all(log, OB_ECLOSED);
            return;
        }
        struct ob_seg *s;
        int found = next_candidate(log, job, &s);
        if (found < 0) return;
        if (found > 0) {
            start_op(log, job, s);
            return;
        }
        log->jobs = job->next;
        if (job->cb) job->cb(job->arg, job->status);
        job_free(job);
    }
}

static void remove_seg(struct ob_log *log, struct ob_seg *s)
{
    for (size_t i = 0; i < log->nsegs; i++) {
        if (log->segs[i] != s) continue;
        memmove(&log->segs[i], &log->segs[i + 1], (log->nsegs - i - 1) * sizeof *log->segs);
        log->nsegs--;
        break;
    }
    ob_seg_free(log->st, s);
}

/* Swaps in the rewritten file and rebuilds its index from it. */
static void swap_file(struct ob_seg *s, const struct ob_op *op)
{
    close(s->fd); /* open since start_op: busy kept the cache from closing it */
    s->fd = op->new_fd;
    s->size = s->alloc = s->wr_off = op->new_size;
    uint64_t prev = 0;
    int err;
    uint64_t good = ob_seg_scan(s, s->size, &prev, &err);
    if (err)
        OB_ERROR("store", "compacted segment does not read back", "seg=%llu at=%llu err=%s",
                 (unsigned long long)s->ordinal, (unsigned long long)good, ob_strerror(err));
}

void ob_compact_done(struct ob_log *log, struct ob_op *op)
{
    struct ob_seg *s = op->seg;
    struct ob_compact_job *job = log->jobs;
    log->compacting = false;
    s->busy = false;
    if (op->removed)
        remove_seg(log, s);
    else if (op->new_fd >= 0)
        swap_file(s, op);
    if (!op->removed && s->in_lru) ob_fd_trim(log->st);
    if (op->status && job) { /* stop this job: report the first error */
        job->status = op->status;
        job->next_ordinal = UINT64_MAX;
    }
}

int ob_log_compact(struct ob_log *log, const uint64_t *drop, size_t n, ob_log_done_cb cb, void *arg)
{
    if (log->closing) return OB_ECLOSED;
    for (size_t i = 1; i < n; i++)
        if (drop[i] < drop[i - 1]) return OB_EINVAL;
    struct ob_compact_job *job = ob_xcalloc(1, sizeof *job);
    job->drop = n ? ob_xmemdup(drop, n * sizeof *drop) : NULL;
    job->n = n;
    job->cb = cb;
    job->arg = arg;
    struct ob_compact_job **pp = &log->jobs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = job;
    /* A round trip through the storage thread: the job starts, and cb runs, from a
     * completion, never inside this call. */
    ob_store_submit(log->st, ob_op_new(log, OB_OP_NOP, NULL));
    return 0;
}
