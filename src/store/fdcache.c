/*
 * fdcache.c — a bound on the file descriptors a store keeps for sealed segments.
 *
 * Every log keeps its last segment open (appends go there). Sealed segments are only
 * read — by consumers catching up, time lookups, compaction — so a store keeps at most
 * fd_limit of them open, least recently used first out, and reopens one on demand by
 * its name. Without this a few large streams (one descriptor per 64 MiB) would use up
 * the process' descriptors that sockets need. A segment is never closed while the
 * storage thread may use its descriptor: with writes in flight, while a compaction or
 * drop holds it, or while a scan is inside it (pinned). The storage thread's interval
 * fsync uses its own dup of the descriptor (io.c), so it needs no such guard.
 */
#include "store/store_int.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

static void lru_unlink(struct ob_store *st, struct ob_seg *s)
{
    if (!s->in_lru) return;
    if (s->lru_prev)
        s->lru_prev->lru_next = s->lru_next;
    else
        st->lru_head = s->lru_next;
    if (s->lru_next)
        s->lru_next->lru_prev = s->lru_prev;
    else
        st->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
    s->in_lru = false;
    st->nlru--;
}

static void lru_push_head(struct ob_store *st, struct ob_seg *s)
{
    s->lru_prev = NULL;
    s->lru_next = st->lru_head;
    if (st->lru_head) st->lru_head->lru_prev = s;
    st->lru_head = s;
    if (!st->lru_tail) st->lru_tail = s;
    s->in_lru = true;
    st->nlru++;
}

static bool evictable(const struct ob_seg *s)
{
    return !s->busy && !s->inflight && !s->pins;
}

/* Closes least recently used sealed segments until the store is within its limit
 * (or only segments in use are left). */
void ob_fd_trim(struct ob_store *st)
{
    struct ob_seg *s = st->lru_tail;
    while (st->nlru > st->fd_limit && s) {
        struct ob_seg *prev = s->lru_prev;
        if (evictable(s)) {
            lru_unlink(st, s);
            close(s->fd);
            s->fd = -1;
        }
        s = prev;
    }
}

void ob_fd_sealed(struct ob_store *st, struct ob_seg *s)
{
    if (s->fd < 0 || s->in_lru) return;
    lru_push_head(st, s);
    ob_fd_trim(st);
}

int ob_seg_fd(struct ob_log *log, struct ob_seg *s)
{
    struct ob_store *st = log->st;
    if (s->in_lru) { /* most recently used */
        lru_unlink(st, s);
        lru_push_head(st, s);
        return 0;
    }
    if (s->fd >= 0) return 0; /* the last segment: always open, never in the cache */
    char path[PATH_MAX];
    ob_seg_path(path, sizeof path, log->dir, s->ordinal, ".seg");
    s->fd = open(path, O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        OB_WARN("store", "cannot reopen a segment", "dir=%s seg=%llu errno=%d", log->dir,
                (unsigned long long)s->ordinal, errno);
        return ob_io_errno(errno);
    }
    s->pins++; /* not the one to evict while making room for itself */
    ob_fd_sealed(st, s);
    s->pins--;
    return 0;
}

void ob_fd_forget(struct ob_store *st, struct ob_seg *s)
{
    lru_unlink(st, s);
}

void ob_store_set_fd_limit(struct ob_store *st, size_t n)
{
    st->fd_limit = n ? n : OB_STORE_FD_LIMIT;
    ob_fd_trim(st);
}
