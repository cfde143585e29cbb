/*
 * store.c — the storage thread and its two queues.
 *
 * The loop thread queues ops (writes, compactions, drops, closes); the storage thread
 * takes the whole queue at once — that is the group commit: every write that piled up
 * while the previous round was fsyncing goes out in the next round, with one fsync per
 * file (io.c). Finished ops go to the done list and an eventfd watched by a uv_poll
 * handle wakes the loop, which runs their callbacks (log.c). The handle is referenced
 * only while ops are outstanding, so an idle store does not keep uv_run(UV_RUN_DEFAULT)
 * alive.
 *
 * Why not uv_async: libuv 1.44's uv_async_send makes the woken loop spin (with
 * sched_yield) until the sending thread leaves the call; with one durable publish in
 * flight that hand-off cost about a fifth of the loop's time on two cores. A plain
 * eventfd written once per non-empty done list has no such wait.
 */
#include "store/store_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static ssize_t libc_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return pwritev(fd, iov, iovcnt, off);
}

static int libc_fdatasync(int fd)
{
    return fdatasync(fd);
}

static int libc_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static const struct ob_store_io libc_io = {libc_pwritev, libc_fdatasync, libc_ftruncate};

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* ---- storage thread ---------------------------------------------------------------- */

static void abs_deadline(struct timespec *ts, int64_t mono_ns)
{
    ts->tv_sec = (time_t)(mono_ns / OB_NS_PER_SEC);
    ts->tv_nsec = (long)(mono_ns % OB_NS_PER_SEC);
}

/* Waits for work or for the next interval fsync deadline; returns the taken ops. */
static struct ob_op *take_work(struct ob_store *st, int64_t deadline, bool *stop)
{
    pthread_mutex_lock(&st->mu);
    while (!st->queue && !st->stop) {
        if (!deadline) {
            pthread_cond_wait(&st->work_cv, &st->mu);
            continue;
        }
        struct timespec ts;
        abs_deadline(&ts, deadline);
        if (pthread_cond_timedwait(&st->work_cv, &st->mu, &ts) == ETIMEDOUT) break;
    }
    struct ob_op *ops = st->queue;
    for (struct ob_op *op = ops; op; op = op->next)
        op->taken = true;
    st->queue = NULL;
    st->queue_tail = &st->queue;
    st->tio = st->io;
    *stop = st->stop;
    pthread_mutex_unlock(&st->mu);
    return ops;
}

static void post_done(struct ob_store *st, struct ob_op *ops)
{
    if (!ops) return;
    struct ob_op *last = ops;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&st->mu);
    bool was_empty = st->done == NULL;
    *st->done_tail = ops;
    st->done_tail = &last->next;
    pthread_cond_broadcast(&st->done_cv);
    pthread_mutex_unlock(&st->mu);
    /* One wake-up per batch the loop has not taken yet is enough. */
    uint64_t one = 1;
    if (was_empty && write(st->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        OB_ERROR("store", "cannot wake the loop", "errno=%d", errno);
}

static void *storage_main(void *arg)
{
    struct ob_store *st = arg;
    int64_t deadline = 0;
    bool stop = false;
    while (!stop) {
        struct ob_op *ops = take_work(st, deadline, &stop);
        ob_io_round(st, ops);
        deadline = ob_io_interval(st, ob_mono_ns());
        post_done(st, ops);
    }
    return NULL;
}

/* ---- loop thread: dispatch --------------------------------------------------------- */

static void take_done(struct ob_store *st, bool wait)
{
    pthread_mutex_lock(&st->mu);
    while (wait && !st->done)
        pthread_cond_wait(&st->done_cv, &st->mu);
    if (st->done) {
        *st->ready_tail = st->done;
        st->ready_tail = st->done_tail;
        st->done = NULL;
        st->done_tail = &st->done;
    }
    pthread_mutex_unlock(&st->mu);
}

static void update_ref(struct ob_store *st)
{
    bool want = st->ops > 0;
    if (want == st->referenced) return;
    st->referenced = want;
    if (want)
        uv_ref((uv_handle_t *)st->wake);
    else
        uv_unref((uv_handle_t *)st->wake);
}

/* Handles ready ops one at a time from the head, so a callback that itself waits
 * (ob_log_close) continues the same queue and per-log order is kept. */
static void dispatch_ready(struct ob_store *st)
{
    while (st->ready) {
        struct ob_op *op = st->ready;
        st->ready = op->next;
        if (!st->ready) st->ready_tail = &st->ready;
        op->next = NULL;
        st->ops--;
        op->log->ops_pending--;
        if (op->status && !st->first_err) st->first_err = op->status;
        ob_log_op_done(op);
        update_ref(st);
    }
}

static void on_wake(uv_poll_t *h, int status, int events)
{
    struct ob_store *st = h->data;
    uint64_t n;
    (void)status;
    (void)events;
    while (read(st->efd, &n, sizeof n) > 0)
        continue;
    take_done(st, false);
    dispatch_ready(st);
}

void ob_store_wait_dispatch(struct ob_store *st)
{
    if (!st->ready) take_done(st, true);
    dispatch_ready(st);
}

/* ---- loop thread: submitting ------------------------------------------------------- */

struct ob_op *ob_op_new(struct ob_log *log, enum ob_op_kind kind, struct ob_seg *seg)
{
    struct ob_op *op = ob_xcalloc(1, sizeof *op);
    op->kind = kind;
    op->log = log;
    op->seg = seg;
    op->new_fd = -1;
    return op;
}

void ob_op_free(struct ob_op *op)
{
    for (size_t i = 0; i < op->nrecs; i++)
        free(op->recs[i].p);
    free(op->recs);
    free(op);
}

static void enqueue_locked(struct ob_store *st, struct ob_op *op)
{
    *st->queue_tail = op;
    st->queue_tail = &op->next;
    st->ops++;
    op->log->ops_pending++;
    update_ref(st);
    pthread_cond_signal(&st->work_cv);
}

void ob_store_submit(struct ob_store *st, struct ob_op *op)
{
    pthread_mutex_lock(&st->mu);
    enqueue_locked(st, op);
    pthread_mutex_unlock(&st->mu);
}

static struct ob_op *new_write_op(struct ob_log *log, struct ob_seg *seg)
{
    struct ob_op *op = ob_op_new(log, OB_OP_WRITE, seg);
    op->policy = log->opt.fsync;
    op->interval_ms = log->opt.fsync_interval_ms;
    op->sync_dir = !seg->dir_synced;
    op->ticket = ++log->write_tickets;
    seg->inflight++;
    return op;
}

/* The record joins the open op unless the storage thread already took it: then a new
 * op starts, which the next round picks up together with whatever else arrives. */
void ob_store_add_rec(struct ob_log *log, struct ob_seg *seg, const struct ob_rec *rec)
{
    struct ob_store *st = log->st;
    pthread_mutex_lock(&st->mu);
    struct ob_op *op = log->open;
    if (!op || op->taken || op->seg != seg) {
        op = new_write_op(log, seg);
        log->open = op;
        enqueue_locked(st, op);
    }
    OB_GROW(op->recs, op->caprecs, op->nrecs + 1);
    op->recs[op->nrecs++] = *rec;
    op->bytes += rec->n;
    pthread_mutex_unlock(&st->mu);
    seg->alloc += rec->n;
    st->appends++;
}

/* ---- public API -------------------------------------------------------------------- */

static void init_sync(struct ob_store *st)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines come from ob_mono_ns */
    pthread_cond_init(&st->work_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&st->done_cv, NULL);
    pthread_mutex_init(&st->mu, NULL);
}

int ob_store_open(struct ob_store **out, void *loop)
{
    struct ob_store *st = ob_xcalloc(1, sizeof *st);
    st->loop = loop;
    st->queue_tail = &st->queue;
    st->done_tail = &st->done;
    st->ready_tail = &st->ready;
    st->io = libc_io;
    st->fd_limit = OB_STORE_FD_LIMIT;
    init_sync(st);
    st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    st->wake = ob_xcalloc(1, sizeof *st->wake);
    if (st->efd < 0 || uv_poll_init(st->loop, st->wake, st->efd) != 0) {
        if (st->efd >= 0) close(st->efd);
        free(st->wake);
        free(st);
        return OB_EIO;
    }
    st->wake->data = st;
    uv_poll_start(st->wake, UV_READABLE, on_wake);
    uv_unref((uv_handle_t *)st->wake);
    if (pthread_create(&st->thread, NULL, storage_main, st) != 0) {
        OB_ERROR("store", "cannot start the storage thread", "errno=%d", errno);
        uv_close((uv_handle_t *)st->wake, free_handle);
        close(st->efd);
        free(st);
        return OB_EIO;
    }
    *out = st;
    return 0;
}

void ob_store_close(struct ob_store *st)
{
    if (!st) return;
    ob_store_drain(st);
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_signal(&st->work_cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    /* The handle is freed by its close callback, on the loop's next iteration. */
    uv_close((uv_handle_t *)st->wake, free_handle);
    close(st->efd); /* uv_close stopped watching it */
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->work_cv);
    pthread_cond_destroy(&st->done_cv);
    free(st->round);
    free(st);
}

void ob_store_set_io(struct ob_store *st, const struct ob_store_io *io)
{
    pthread_mutex_lock(&st->mu);
    st->io = io ? *io : libc_io;
    pthread_mutex_unlock(&st->mu);
}

void ob_store_get_stats(const struct ob_store *st, struct ob_store_stats *out)
{
    struct ob_store *m = (struct ob_store *)st; /* atomics are read, not changed */
    out->fsyncs = atomic_load_explicit(&m->st_fsyncs, memory_order_relaxed);
    out->fsync_ns_sum = atomic_load_explicit(&m->st_fsync_ns, memory_order_relaxed);
    out->bytes_written = atomic_load_explicit(&m->st_bytes, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&m->st_errors, memory_order_relaxed);
    for (size_t i = 0; i < OB_FSYNC_BUCKETS; i++)
        out->fsync_bucket[i] = atomic_load_explicit(&m->st_bucket[i], memory_order_relaxed);
}

size_t ob_store_pending(const struct ob_store *st)
{
    return st->appends;
}

int ob_store_drain(struct ob_store *st)
{
    while (st->ops > 0)
        ob_store_wait_dispatch(st);
    int err = st->first_err;
    st->first_err = 0;
    return err;
}
