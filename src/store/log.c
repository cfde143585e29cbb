/*
 * log.c — a log on the loop thread: opening and recovering its segments, appending
 * (encoding and handing records to the storage thread), reading and scanning with
 * pread, time lookups, rolling, dropping old segments, closing, and applying the
 * storage thread's completions. Segment files are `%020llu.seg` by ordinal; the last
 * one is where appends go and is never dropped or compacted, which also keeps the
 * highest sequence on disk across restarts.
 */
#include "store/store_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SEGMENT_BYTES (UINT64_C(64) << 20)

/* ---- opening and recovery ---------------------------------------------------------- */

/* A directory we create is made durable in its parent: a crash must not lose it, and
 * with it records that were acknowledged. */
static int mkdir_durable(const char *dir)
{
    if (mkdir(dir, 0755) != 0) return errno == EEXIST ? 0 : ob_io_errno(errno);
    return ob_fsync_parent(dir);
}

/* mkdir -p: a stream's log directory may be the first thing under a new data dir. */
static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0) return ob_fsync_parent(dir);
    if (errno == EEXIST) return 0;
    if (errno != ENOENT) return ob_io_errno(errno);
    char *parent = ob_xstrdup(dir);
    char *slash = strrchr(parent, '/');
    int rc = OB_EIO;
    if (slash && slash != parent) {
        *slash = '\0';
        rc = ensure_dir(parent);
    }
    free(parent);
    return rc ? rc : mkdir_durable(dir);
}

static bool parse_seg_name(const char *name, uint64_t *ord)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0) return false;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *ord = v;
    return v > 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists segment ordinals in order; removes compaction temp files a crash left. */
static int list_segments(struct ob_log *log, uint64_t **ords, size_t *n)
{
    DIR *d = opendir(log->dir);
    if (!d) return ob_io_errno(errno);
    size_t cap = 0;
    struct dirent *e;
    *ords = NULL;
    *n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        uint64_t ord;
        if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
            unlinkat(dirfd(d), e->d_name, 0);
        } else if (parse_seg_name(e->d_name, &ord)) {
            OB_GROW(*ords, cap, *n + 1);
            (*ords)[(*n)++] = ord;
        }
    }
    closedir(d);
    if (*n) qsort(*ords, *n, sizeof **ords, cmp_u64);
    return 0;
}

static void push_seg(struct ob_log *log, struct ob_seg *s)
{
    OB_GROW(log->segs, log->capsegs, log->nsegs + 1);
    log->segs[log->nsegs++] = s;
}

static int open_seg(struct ob_log *log, uint64_t ord, int flags, struct ob_seg **out)
{
    char path[PATH_MAX];
    ob_seg_path(path, sizeof path, log->dir, ord, ".seg");
    int fd = open(path, O_RDWR | O_CLOEXEC | flags, 0644);
    if (fd < 0) return ob_io_errno(errno);
    *out = ob_seg_new(ord, fd);
    push_seg(log, *out);
    return 0;
}

static int cut_segment(struct ob_log *log, struct ob_seg *s, uint64_t at, int err, bool last)
{
    if (last && err == OB_EAGAIN)
        OB_INFO("store", "truncating a torn tail", "dir=%s seg=%llu at=%llu", log->dir,
                (unsigned long long)s->ordinal, (unsigned long long)at);
    else
        OB_WARN("store", "corrupt record; cutting the segment there",
                "dir=%s seg=%llu at=%llu err=%s", log->dir, (unsigned long long)s->ordinal,
                (unsigned long long)at, ob_strerror(last ? err : OB_ECORRUPT));
    if (ftruncate(s->fd, (off_t)at) != 0 || fdatasync(s->fd) != 0) return ob_io_errno(errno);
    return 0;
}

/* Validates one segment, cutting it at the first bad record. */
static int recover_seg(struct ob_log *log, struct ob_seg *s, bool last, uint64_t *prev)
{
    struct stat sb;
    if (fstat(s->fd, &sb) != 0) return ob_io_errno(errno);
    int err;
    uint64_t good = ob_seg_scan(s, (uint64_t)sb.st_size, prev, &err);
    if (err == OB_EIO) return OB_EIO;
    if (good < (uint64_t)sb.st_size) {
        int rc = cut_segment(log, s, good, err, last);
        if (rc) return rc;
    }
    s->size = s->alloc = s->wr_off = good;
    s->dir_synced = true;
    return 0;
}

static int recover(struct ob_log *log)
{
    uint64_t *ords = NULL, prev = 0;
    size_t n = 0;
    int rc = list_segments(log, &ords, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct ob_seg *s;
        rc = open_seg(log, ords[i], 0, &s);
        if (rc == 0) rc = recover_seg(log, s, i + 1 == n, &prev);
        if (rc == 0 && i + 1 < n) ob_fd_sealed(log->st, s);
    }
    free(ords);
    if (rc == 0 && log->nsegs == 0) {
        struct ob_seg *s;
        rc = open_seg(log, 1, O_CREAT | O_EXCL, &s);
    }
    log->max_seq = prev;
    return rc;
}

static void release(struct ob_log *log)
{
    for (size_t i = 0; i < log->nsegs; i++)
        ob_seg_free(log->st, log->segs[i]);
    free(log->segs);
    log->segs = NULL;
    log->nsegs = 0;
    free(log->dir);
    log->dir = NULL;
}

void ob_log_set_options(struct ob_log *log, const struct ob_log_options *opt)
{
    struct ob_log_options o = {0, OB_FSYNC_ALWAYS, 0};
    if (opt) o = *opt;
    if (!o.segment_bytes) o.segment_bytes = DEFAULT_SEGMENT_BYTES;
    if (!o.fsync_interval_ms) o.fsync_interval_ms = 100;
    log->opt = o;
}

int ob_log_open(struct ob_store *st, const char *dir, const struct ob_log_options *opt,
                struct ob_log **out)
{
    struct ob_log *log = ob_xcalloc(1, sizeof *log);
    log->st = st;
    log->dir = ob_xstrdup(dir);
    log->dirty_fd = -1;
    ob_log_set_options(log, opt);
    int rc = ensure_dir(dir);
    if (rc == 0) rc = recover(log);
    if (rc) {
        OB_ERROR("store", "cannot open log", "dir=%s err=%s", dir, ob_strerror(rc));
        release(log);
        free(log);
        return rc;
    }
    *out = log;
    return 0;
}

/* ---- closing ----------------------------------------------------------------------- */

/* Waits for every op of the log (the close op last), runs their callbacks, then frees
 * it — or, if this runs inside one of the log's own callbacks, leaves the struct for
 * the dispatcher to free once that callback returns. */
static int close_log(struct ob_log *log, bool destroy)
{
    if (log->closing) return OB_ECLOSED;
    log->closing = true;
    struct ob_op *op = ob_op_new(log, OB_OP_CLOSE, NULL);
    op->destroy = destroy;
    ob_store_submit(log->st, op);
    while (log->ops_pending > 0)
        ob_store_wait_dispatch(log->st);
    ob_compact_fail_all(log, OB_ECLOSED);
    int status = log->close_status;
    release(log);
    if (log->in_cb)
        log->dead = true;
    else
        free(log);
    return status;
}

void ob_log_close(struct ob_log *log)
{
    if (log) close_log(log, false);
}

int ob_log_destroy(struct ob_log *log)
{
    return log ? close_log(log, true) : OB_EINVAL;
}

/* ---- queries ----------------------------------------------------------------------- */

uint64_t ob_log_first_seq(const struct ob_log *log)
{
    for (size_t i = 0; i < log->nsegs; i++)
        if (log->segs[i]->first_seq) return log->segs[i]->first_seq;
    return 0;
}

uint64_t ob_log_last_seq(const struct ob_log *log)
{
    for (size_t i = log->nsegs; i > 0; i--)
        if (log->segs[i - 1]->last_seq) return log->segs[i - 1]->last_seq;
    return 0;
}

uint64_t ob_log_bytes(const struct ob_log *log)
{
    uint64_t n = 0;
    for (size_t i = 0; i < log->nsegs; i++)
        n += log->segs[i]->size;
    return n;
}

size_t ob_log_segments(const struct ob_log *log)
{
    return log->nsegs;
}

/* ---- appending --------------------------------------------------------------------- */

/* The segment the next n bytes go to, rolling past segment_bytes or after
 * ob_log_roll. If the new file cannot be created the old segment takes the record:
 * an oversized segment is better than a failed append. */
static struct ob_seg *write_seg(struct ob_log *log, size_t n)
{
    struct ob_seg *cur = log->segs[log->nsegs - 1];
    bool full = cur->alloc > 0 && cur->alloc + n > log->opt.segment_bytes;
    if (!full && !log->roll_next) return cur;
    struct ob_seg *s;
    int rc = open_seg(log, cur->ordinal + 1, O_CREAT | O_EXCL, &s);
    if (rc) {
        OB_WARN("store", "cannot create a segment; writing on", "dir=%s err=%s", log->dir,
                ob_strerror(rc));
        return cur;
    }
    log->roll_next = false;
    ob_fd_sealed(log->st, cur);
    return s;
}

int ob_log_append(struct ob_log *log, const struct ob_record *r, ob_log_done_cb cb, void *arg)
{
    if (log->closing) return OB_ECLOSED;
    if (r->body.n > OB_RECORD_MAX) return OB_ETOOBIG;
    if (r->type == 0 || r->seq <= log->max_seq) return OB_EINVAL;
    size_t n = ob_record_size(r->body.n);
    struct ob_seg *seg = write_seg(log, n);
    struct ob_buf b = {ob_xmalloc(n), 0, n};
    ob_record_encode(&b, r);
    struct ob_rec rec = {b.p, b.len, r->seq, r->ts, cb, arg};
    log->max_seq = r->seq;
    ob_store_add_rec(log, seg, &rec);
    return 0;
}

void ob_log_roll(struct ob_log *log)
{
    log->roll_next = log->segs[log->nsegs - 1]->alloc > 0;
}

/* ---- completions ------------------------------------------------------------------- */

static void write_done(struct ob_log *log, struct ob_op *op)
{
    struct ob_seg *s = op->seg;
    s->inflight--;
    if (log->open == op) log->open = NULL;
    if (op->status == 0) {
        uint64_t off = op->off;
        for (size_t i = 0; i < op->nrecs; i++) {
            ob_seg_index_add(s, op->recs[i].seq, op->recs[i].ts, off, op->recs[i].n);
            off += op->recs[i].n;
        }
        s->size = off;
        if (op->sync_dir) s->dir_synced = true;
    } else {
        s->alloc -= op->bytes;
    }
    if (s->in_lru && s->inflight == 0) ob_fd_trim(log->st);
    /* The segment is not touched below: a callback may close the log. */
    for (size_t i = 0; i < op->nrecs; i++) {
        log->st->appends--;
        if (op->recs[i].cb) op->recs[i].cb(op->recs[i].arg, op->status);
    }
}

void ob_log_op_done(struct ob_op *op)
{
    struct ob_log *log = op->log;
    log->in_cb++;
    switch (op->kind) {
    case OB_OP_WRITE:
        write_done(log, op);
        break;
    case OB_OP_COMPACT:
        ob_compact_done(log, op);
        break;
    case OB_OP_DROP:
        ob_seg_free(log->st, op->seg);
        break;
    case OB_OP_CLOSE:
        log->close_status = op->status;
        break;
    case OB_OP_NOP:
        break;
    }
    ob_op_free(op);
    if (!log->dead) ob_compact_step(log);
    if (--log->in_cb == 0 && log->dead) free(log);
}

/* ---- reading ----------------------------------------------------------------------- */

/* Index of the first segment whose records reach seq (nsegs if none). Segments are in
 * seq order; an empty one sorts as its predecessor. */
static size_t seg_for_seq(const struct ob_log *log, uint64_t seq)
{
    size_t lo = 0, hi = log->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, k = mid;
        while (k > 0 && log->segs[k]->last_seq == 0)
            k--;
        if (log->segs[k]->last_seq >= seq)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static uint64_t start_offset(const struct ob_seg *s, uint64_t seq)
{
    if (s->nidx == 0 || seq <= s->first_seq) return 0;
    return s->idx[ob_seg_index_find_seq(s, seq)].off;
}

/* Reader errors on data the log says is complete: a short record there is damage. */
static int read_error(int rc)
{
    return rc == OB_EAGAIN ? OB_ECORRUPT : rc;
}

int ob_log_read(struct ob_log *log, uint64_t seq, struct ob_buf *scratch, struct ob_record *out)
{
    size_t i = seg_for_seq(log, seq);
    if (i == log->nsegs || log->segs[i]->first_seq > seq) return OB_ENOENT;
    struct ob_seg *s = log->segs[i];
    struct ob_reader rd;
    uint64_t off;
    size_t n;
    int rc = ob_seg_fd(log, s);
    if (rc) return rc;
    ob_reader_init(&rd, s->fd, start_offset(s, seq), s->size, scratch);
    while ((rc = ob_reader_next(&rd, out, &off, &n)) == 0) {
        if (out->seq == seq) return 0;
        if (out->seq > seq) return OB_ENOENT;
    }
    return rc == 1 ? OB_ENOENT : read_error(rc);
}

/* s is pinned while fn runs: fn may read other segments, which must not close this
 * one's descriptor under the reader. */
static int scan_seg(struct ob_log *log, struct ob_seg *s, uint64_t from, struct ob_buf *buf,
                    int (*fn)(void *arg, const struct ob_record *r), void *arg)
{
    struct ob_reader rd;
    struct ob_record r;
    uint64_t off;
    size_t n;
    int rc = ob_seg_fd(log, s);
    if (rc) return rc;
    int stop = 0;
    s->pins++;
    ob_reader_init(&rd, s->fd, start_offset(s, from), s->size, buf);
    while (!stop && (rc = ob_reader_next(&rd, &r, &off, &n)) == 0)
        if (r.seq >= from) stop = fn(arg, &r);
    s->pins--;
    if (stop) return stop;
    return rc == 1 ? 0 : read_error(rc);
}

int ob_log_scan(struct ob_log *log, uint64_t from, int (*fn)(void *arg, const struct ob_record *r),
                void *arg)
{
    struct ob_buf buf = OB_BUF_INIT;
    int rc = 0;
    log->scanning++;
    for (size_t i = seg_for_seq(log, from); rc == 0 && i < log->nsegs; i++)
        if (log->segs[i]->first_seq) rc = scan_seg(log, log->segs[i], from, &buf, fn, arg);
    log->scanning--;
    ob_buf_release(&buf);
    return rc;
}

/* First record with ts >= ts_ns inside s, starting from the first index span whose
 * largest timestamp reaches it (timestamps need not be monotonic). */
static int time_in_seg(struct ob_log *log, struct ob_seg *s, int64_t ts_ns, uint64_t *out)
{
    size_t j = 0;
    while (j < s->nidx && s->idx[j].max_ts < ts_ns)
        j++;
    if (j == s->nidx) return OB_ENOENT;
    int rc = ob_seg_fd(log, s);
    if (rc) return rc;
    struct ob_buf buf = OB_BUF_INIT;
    struct ob_reader rd;
    struct ob_record r;
    uint64_t off;
    size_t n;
    ob_reader_init(&rd, s->fd, s->idx[j].off, s->size, &buf);
    while ((rc = ob_reader_next(&rd, &r, &off, &n)) == 0 && r.ts < ts_ns)
        continue;
    if (rc == 0) *out = r.seq;
    ob_buf_release(&buf);
    return rc == 0 ? 0 : rc == 1 ? OB_ENOENT : read_error(rc);
}

int ob_log_seq_for_time(struct ob_log *log, int64_t ts_ns, uint64_t *out)
{
    for (size_t i = 0; i < log->nsegs; i++) {
        struct ob_seg *s = log->segs[i];
        if (s->first_seq && s->max_ts >= ts_ns) return time_in_seg(log, s, ts_ns, out);
    }
    return OB_ENOENT;
}

/* ---- dropping ---------------------------------------------------------------------- */

size_t ob_log_drop_before(struct ob_log *log, uint64_t seq)
{
    if (log->closing || log->scanning) return 0;
    size_t k = 0;
    while (k + 1 < log->nsegs) {
        struct ob_seg *s = log->segs[k];
        if (s->busy || s->inflight || (s->first_seq && s->last_seq >= seq)) break;
        k++;
    }
    for (size_t i = 0; i < k; i++) {
        log->segs[i]->busy = true;
        struct ob_op *op = ob_op_new(log, OB_OP_DROP, log->segs[i]);
        op->since = log->last_drop_ticket;
        ob_store_submit(log->st, op);
    }
    if (k) log->last_drop_ticket = log->write_tickets;
    memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *log->segs);
    log->nsegs -= k;
    return k;
}
