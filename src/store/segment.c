/*
 * segment.c — one segment file's in-memory side: its sparse index (seq, ts) -> offset,
 * and a forward record reader over the file used by reads, recovery and compaction.
 * The reader keeps no state outside the caller's struct, so both threads can use it on
 * their own buffers.
 */
#include "store/store_int.h"

#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64u * 1024u)

struct ob_seg *ob_seg_new(uint64_t ordinal, int fd)
{
    struct ob_seg *s = ob_xcalloc(1, sizeof *s);
    s->ordinal = ordinal;
    s->fd = fd;
    s->max_ts = INT64_MIN;
    return s;
}

void ob_seg_free(struct ob_store *st, struct ob_seg *s)
{
    if (!s) return;
    ob_fd_forget(st, s);
    if (s->fd >= 0) close(s->fd);
    free(s->idx);
    free(s);
}

void ob_seg_path(char *out, size_t n, const char *dir, uint64_t ordinal, const char *ext)
{
    snprintf(out, n, "%s/%020llu%s", dir, (unsigned long long)ordinal, ext);
}

void ob_seg_index_reset(struct ob_seg *s)
{
    s->nidx = 0;
    s->first_seq = s->last_seq = 0;
    s->max_ts = INT64_MIN;
}

/* Called for every record in file order; adds an entry only every ~4 KiB so the index
 * stays small (a 64 MiB segment needs ~16 Ki entries) while a lookup reads little. */
void ob_seg_index_add(struct ob_seg *s, uint64_t seq, int64_t ts, uint64_t off, size_t n)
{
    (void)n;
    if (s->nidx == 0 || off - s->idx[s->nidx - 1].off >= OB_SEG_INDEX_EVERY) {
        OB_GROW(s->idx, s->capidx, s->nidx + 1);
        s->idx[s->nidx++] = (struct ob_idx){seq, off, ts};
    } else if (ts > s->idx[s->nidx - 1].max_ts) {
        s->idx[s->nidx - 1].max_ts = ts;
    }
    if (s->first_seq == 0) s->first_seq = seq;
    s->last_seq = seq;
    if (ts > s->max_ts) s->max_ts = ts;
}

size_t ob_seg_index_find_seq(const struct ob_seg *s, uint64_t seq)
{
    size_t lo = 0, hi = s->nidx; /* answer in [lo, hi); entry 0 when seq precedes all */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The parent by name, not "path/..": path may just have been removed. */
int ob_fsync_parent(const char *path)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        slash[slash == parent] = '\0'; /* "/x" keeps "/" */
    return ob_fsync_dir(parent);
}

void ob_reader_init(struct ob_reader *rd, int fd, uint64_t from, uint64_t end, struct ob_buf *buf)
{
    rd->fd = fd;
    rd->end = end;
    rd->base = from;
    rd->pos = 0;
    rd->buf = buf;
    buf->len = 0;
}

/* Reads want bytes at off into buf (replacing its contents). A short read means the file
 * is shorter than the caller believed: end moves there, so the record reads as torn. */
static int refill(struct ob_reader *rd, uint64_t off, size_t want)
{
    rd->buf->len = 0;
    ob_buf_reserve(rd->buf, want);
    rd->base = off;
    rd->pos = 0;
    while (rd->buf->len < want) {
        ssize_t got = pread(rd->fd, rd->buf->p + rd->buf->len, want - rd->buf->len,
                            (off_t)(off + rd->buf->len));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return OB_EIO;
        if (got == 0) {
            rd->end = off + rd->buf->len;
            break;
        }
        rd->buf->len += (size_t)got;
    }
    return 0;
}

/* Bytes needed to decode the record at the current position: the whole record once
 * its length field is buffered, else just the header. */
static size_t need_bytes(const struct ob_reader *rd)
{
    size_t have = rd->buf->len - rd->pos;
    if (have >= 8) return ob_record_size(ob_get_u32le(rd->buf->p + rd->pos + 4));
    return OB_RECORD_HEADER;
}

int ob_reader_next(struct ob_reader *rd, struct ob_record *r, uint64_t *off, size_t *n)
{
    for (;;) {
        size_t used;
        uint64_t at = ob_reader_pos(rd);
        if (at >= rd->end) return 1;
        size_t avail = rd->buf->len - rd->pos;
        if (avail > rd->end - at) avail = (size_t)(rd->end - at);
        int rc = ob_record_decode(rd->buf->p + rd->pos, avail, r, &used);
        if (rc == 0) {
            *off = at;
            *n = used;
            rd->pos += used;
            return 0;
        }
        if (rc != OB_EAGAIN) return rc;
        size_t need = need_bytes(rd);
        if (avail >= need || rd->end - at < need) return OB_EAGAIN; /* torn before end */
        size_t want = need > READ_CHUNK ? need : READ_CHUNK;
        if (want > rd->end - at) want = (size_t)(rd->end - at);
        rc = refill(rd, at, want);
        if (rc) return rc;
    }
}

uint64_t ob_seg_scan(struct ob_seg *s, uint64_t end, uint64_t *prev_seq, int *err)
{
    struct ob_buf buf = OB_BUF_INIT;
    struct ob_reader rd;
    struct ob_record r;
    uint64_t off;
    size_t n;
    ob_seg_index_reset(s);
    ob_reader_init(&rd, s->fd, 0, end, &buf);
    int rc;
    while ((rc = ob_reader_next(&rd, &r, &off, &n)) == 0) {
        if (r.seq <= *prev_seq) { /* valid CRC but out of order: a stale tail */
            rd.pos -= n;
            rc = OB_ECORRUPT;
            break;
        }
        *prev_seq = r.seq;
        ob_seg_index_add(s, r.seq, r.ts, off, n);
    }
    *err = rc == 1 ? 0 : rc;
    uint64_t good = ob_reader_pos(&rd);
    ob_buf_release(&buf);
    return good;
}
