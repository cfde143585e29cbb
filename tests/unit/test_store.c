/*
 * test_store.c — the segmented log and its storage thread: append/read/scan, rolling,
 * reopening, recovery from torn tails at every byte, garbage and flipped bits, fault
 * injection through ob_store_set_io (ENOSPC, short writes, EIO on fdatasync), group
 * commit, fsync policies, time lookups, dropping and compaction, and closing with
 * writes in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/log.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* ---- fixture ------------------------------------------------------------------------ */

struct fx {
    uv_loop_t loop;
    struct ob_store *st;
    struct ob_log *log;
    char dir[1024];
};

static void mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(tmp, 0755);
        *p = '/';
    }
    mkdir(tmp, 0755);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    const char *base = getenv("OB_TEST_TMP");
    char tmpl[900];
    if (base && *base) {
        mkdirs(base);
        snprintf(tmpl, sizeof tmpl, "%s/store-XXXXXX", base);
    } else {
        snprintf(tmpl, sizeof tmpl, "/tmp/ob-store-XXXXXX");
    }
    assert_non_null(mkdtemp(tmpl));
    snprintf(f->dir, sizeof f->dir, "%s/log", tmpl);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(ob_store_open(&f->st, &f->loop), 0);
    *state = f;
    return 0;
}

/* For the fork test: no storage thread exists when the child is forked. */
static int setup_nostore(void **state)
{
    int rc = setup(state);
    struct fx *f = *state;
    ob_store_close(f->st);
    f->st = NULL;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return rc;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->st) {
        ob_store_set_io(f->st, NULL);
        ob_log_close(f->log);
        ob_store_close(f->st);
    }
    /* uv_run returning at all shows an idle store keeps no handle referenced. */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    char *slash = strrchr(f->dir, '/');
    *slash = '\0';
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void open_log(struct fx *f, uint64_t segment_bytes, enum ob_fsync fs)
{
    struct ob_log_options o = {segment_bytes, fs, 20};
    assert_int_equal(ob_log_open(f->st, f->dir, &o, &f->log), 0);
}

static void reopen(struct fx *f, uint64_t segment_bytes)
{
    ob_log_close(f->log);
    f->log = NULL;
    open_log(f, segment_bytes, OB_FSYNC_ALWAYS);
}

/* ---- records ------------------------------------------------------------------------ */

/* Bodies are a function of the seq, so any record read back can be checked alone. */
static size_t body_len(uint64_t seq)
{
    return (size_t)((seq * 37) % 300);
}

static void body_fill(uint64_t seq, uint8_t *p)
{
    for (size_t i = 0; i < body_len(seq); i++)
        p[i] = (uint8_t)(seq * 31 + i);
}

static void check_record(const struct ob_record *r)
{
    uint8_t want[300];
    assert_int_equal(r->type, OB_REC_MSG);
    assert_true(r->ts == (int64_t)r->seq * 1000);
    assert_int_equal(r->body.n, body_len(r->seq));
    body_fill(r->seq, want);
    if (r->body.n) assert_memory_equal(r->body.p, want, r->body.n);
}

struct acks {
    int ok, fail, last_err;
};

static void on_done(void *arg, int status)
{
    struct acks *a = arg;
    if (status) {
        a->fail++;
        a->last_err = status;
    } else {
        a->ok++;
    }
}

static int append_ts(struct ob_log *log, uint64_t seq, int64_t ts, struct acks *a)
{
    uint8_t body[300];
    body_fill(seq, body);
    struct ob_record r = {OB_REC_MSG, seq, ts, ob_slice_make(body, body_len(seq))};
    return ob_log_append(log, &r, a ? on_done : NULL, a);
}

static void append(struct ob_log *log, uint64_t seq, struct acks *a)
{
    assert_int_equal(append_ts(log, seq, (int64_t)seq * 1000, a), 0);
}

static void append_range(struct fx *f, uint64_t from, uint64_t to, struct acks *a)
{
    for (uint64_t s = from; s <= to; s++)
        append(f->log, s, a);
}

struct seqs {
    uint64_t v[1 << 16];
    size_t n;
};

static int collect(void *arg, const struct ob_record *r)
{
    struct seqs *s = arg;
    check_record(r);
    assert_true(s->n < (1 << 16));
    s->v[s->n++] = r->seq;
    return 0;
}

static void scan_all(struct ob_log *log, uint64_t from, struct seqs *s)
{
    s->n = 0;
    assert_int_equal(ob_log_scan(log, from, collect, s), 0);
}

/* Asserts the log holds exactly the seqs in [from, to] for which keep(seq) is true. */
static void expect_range(struct ob_log *log, uint64_t from, uint64_t to, bool (*keep)(uint64_t))
{
    static struct seqs s;
    scan_all(log, 0, &s);
    size_t k = 0;
    for (uint64_t q = from; q <= to; q++) {
        if (keep && !keep(q)) continue;
        assert_true(k < s.n);
        assert_true(s.v[k] == q);
        k++;
    }
    assert_int_equal(k, s.n);
}

static size_t count_files(const char *dir, const char *ext)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > strlen(ext) && strcmp(e->d_name + len - strlen(ext), ext) == 0) n++;
    }
    closedir(d);
    return n;
}

static void seg_path(const struct fx *f, uint64_t ord, char *out)
{
    snprintf(out, PATH_MAX, "%s/%020llu.seg", f->dir, (unsigned long long)ord);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    *n = (size_t)file_size(path);
    uint8_t *p = malloc(*n + 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, p, *n, 0), (ssize_t)*n);
    close(fd);
    return p;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
    close(fd);
}

/* ---- fault-injecting I/O ------------------------------------------------------------ */

static atomic_int g_syncs;       /* fdatasync calls seen */
static atomic_int g_writes;      /* pwritev calls seen */
static atomic_int g_write_errno; /* nonzero: pwritev fails with it */
static atomic_int g_sync_errno;  /* nonzero: fdatasync fails with it */
static atomic_int g_partial;     /* 1: next pwritev writes a few bytes, then g_write_errno */
static atomic_int g_max_write;   /* nonzero: every pwritev writes at most this many bytes */

static ssize_t t_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    atomic_fetch_add(&g_writes, 1);
    if (atomic_exchange(&g_partial, 0)) {
        size_t n = iov[0].iov_len / 2;
        return pwrite(fd, iov[0].iov_base, n, off);
    }
    if (g_write_errno) {
        errno = g_write_errno;
        return -1;
    }
    if (g_max_write) {
        size_t n = iov[0].iov_len < (size_t)g_max_write ? iov[0].iov_len : (size_t)g_max_write;
        return pwrite(fd, iov[0].iov_base, n, off);
    }
    return pwritev(fd, iov, cnt, off);
}

static int t_fdatasync(int fd)
{
    atomic_fetch_add(&g_syncs, 1);
    if (g_sync_errno) {
        errno = g_sync_errno;
        return -1;
    }
    return fdatasync(fd);
}

static int t_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static const struct ob_store_io test_io = {t_pwritev, t_fdatasync, t_ftruncate};

static void reset_faults(void)
{
    g_syncs = g_writes = g_write_errno = g_sync_errno = g_partial = g_max_write = 0;
}

/* ---- basic append / read / scan ------------------------------------------------------ */

static void test_append_read_scan(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_ALWAYS);
    assert_true(ob_log_first_seq(f->log) == 0 && ob_log_last_seq(f->log) == 0);
    struct acks a = {0};
    append_range(f, 1, 1000, &a);
    assert_int_equal(ob_store_pending(f->st), 1000 - (size_t)a.ok);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 1000);
    assert_int_equal(ob_store_pending(f->st), 0);
    assert_true(ob_log_first_seq(f->log) == 1 && ob_log_last_seq(f->log) == 1000);
    uint64_t bytes = 0;
    for (uint64_t s = 1; s <= 1000; s++)
        bytes += 32 + body_len(s);
    assert_true(ob_log_bytes(f->log) == bytes);
    struct ob_buf scratch = OB_BUF_INIT;
    struct ob_record r;
    for (uint64_t s = 1; s <= 1000; s++) {
        assert_int_equal(ob_log_read(f->log, s, &scratch, &r), 0);
        assert_true(r.seq == s);
        check_record(&r);
    }
    assert_int_equal(ob_log_read(f->log, 1001, &scratch, &r), OB_ENOENT);
    assert_int_equal(ob_log_read(f->log, 0, &scratch, &r), OB_ENOENT);
    ob_buf_release(&scratch);
    expect_range(f->log, 1, 1000, NULL);
    static struct seqs s;
    scan_all(f->log, 777, &s);
    assert_int_equal(s.n, 224);
    assert_true(s.v[0] == 777);
}

static int stop_at_five(void *arg, const struct ob_record *r)
{
    (void)arg;
    return r->seq == 5 ? 42 : 0;
}

static void test_scan_stops_and_gaps(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_NEVER);
    for (uint64_t s = 2; s <= 40; s += 3)
        append(f->log, s, NULL); /* 2, 5, 8, ... */
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(ob_log_scan(f->log, 0, stop_at_five, NULL), 42);
    struct ob_buf scratch = OB_BUF_INIT;
    struct ob_record r;
    assert_int_equal(ob_log_read(f->log, 3, &scratch, &r), OB_ENOENT);
    assert_int_equal(ob_log_read(f->log, 38, &scratch, &r), 0);
    ob_buf_release(&scratch);
    static struct seqs s;
    scan_all(f->log, 6, &s);
    assert_true(s.v[0] == 8);
}

static void test_append_errors(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_NEVER);
    append(f->log, 10, NULL);
    assert_int_equal(append_ts(f->log, 10, 0, NULL), OB_EINVAL); /* not increasing */
    assert_int_equal(append_ts(f->log, 9, 0, NULL), OB_EINVAL);
    uint8_t b = 0;
    struct ob_record big = {OB_REC_MSG, 11, 0, ob_slice_make(&b, (size_t)OB_RECORD_MAX + 1)};
    assert_int_equal(ob_log_append(f->log, &big, NULL, NULL), OB_ETOOBIG);
    struct ob_record notype = {0, 12, 0, ob_slice_make(&b, 1)};
    assert_int_equal(ob_log_append(f->log, &notype, NULL, NULL), OB_EINVAL);
    assert_int_equal(ob_store_drain(f->st), 0);
}

static void test_roll_and_reopen(void **state)
{
    struct fx *f = *state;
    open_log(f, 4096, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 300, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    size_t nseg = ob_log_segments(f->log);
    assert_true(nseg > 5);
    assert_int_equal(count_files(f->dir, ".seg"), nseg);
    ob_log_roll(f->log);
    ob_log_roll(f->log); /* a second roll with nothing written adds no empty segment */
    append_range(f, 301, 310, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(ob_log_segments(f->log), nseg + 1);
    expect_range(f->log, 1, 310, NULL);
    reopen(f, 4096);
    assert_int_equal(ob_log_segments(f->log), nseg + 1);
    assert_true(ob_log_first_seq(f->log) == 1 && ob_log_last_seq(f->log) == 310);
    expect_range(f->log, 1, 310, NULL);
    assert_int_equal(append_ts(f->log, 310, 0, NULL), OB_EINVAL);
    append_range(f, 311, 400, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 400);
    reopen(f, 4096);
    expect_range(f->log, 1, 400, NULL);
}

static void test_many_records_one_batch(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 5000, &a); /* more than IOV_MAX records in one pwritev batch */
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 5000);
    reopen(f, 0);
    expect_range(f->log, 1, 5000, NULL);
}

static void test_short_writes(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    g_max_write = 7; /* every pwritev is short: the writer must resume mid-vector */
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 200, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 200);
    g_max_write = 0;
    reopen(f, 0);
    expect_range(f->log, 1, 200, NULL);
}

/* ---- recovery ----------------------------------------------------------------------- */

/* Writes 1..n, closes, and returns the file bytes and where record n starts. */
static uint8_t *write_and_capture(struct fx *f, uint64_t n, size_t *len, size_t *last_off)
{
    open_log(f, 0, OB_FSYNC_ALWAYS);
    append_range(f, 1, n, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    ob_log_close(f->log);
    f->log = NULL;
    char path[PATH_MAX];
    seg_path(f, 1, path);
    uint8_t *p = read_file(path, len);
    *last_off = *len - (32 + body_len(n));
    return p;
}

static void test_torn_tail_every_offset(void **state)
{
    struct fx *f = *state;
    size_t len, last_off;
    uint8_t *img = write_and_capture(f, 6, &len, &last_off);
    char path[PATH_MAX];
    seg_path(f, 1, path);
    for (size_t cut = last_off; cut < len; cut++) {
        write_file(path, img, len);
        assert_int_equal(truncate(path, (off_t)cut), 0);
        open_log(f, 0, OB_FSYNC_ALWAYS);
        expect_range(f->log, 1, 5, NULL);
        assert_true(ob_log_last_seq(f->log) == 5);
        assert_int_equal(file_size(path), (off_t)last_off);
        struct acks a = {0};
        append(f->log, 6, &a); /* the log takes the lost seq again */
        assert_int_equal(ob_store_drain(f->st), 0);
        assert_int_equal(a.ok, 1);
        reopen(f, 0);
        expect_range(f->log, 1, 6, NULL);
        ob_log_close(f->log);
        f->log = NULL;
    }
    free(img);
}

static void test_garbage_after_tail(void **state)
{
    struct fx *f = *state;
    size_t len, last_off;
    uint8_t *img = write_and_capture(f, 20, &len, &last_off);
    char path[PATH_MAX];
    seg_path(f, 1, path);
    static const size_t junk_sizes[] = {1, 7, 31, 32, 33, 4096};
    for (size_t k = 0; k < sizeof junk_sizes / sizeof *junk_sizes; k++) {
        for (int zero = 0; zero < 2; zero++) {
            size_t n = len + junk_sizes[k];
            uint8_t *p = malloc(n);
            memcpy(p, img, len);
            for (size_t i = len; i < n; i++)
                p[i] = zero ? 0 : (uint8_t)(i * 131 + 7);
            write_file(path, p, n);
            free(p);
            open_log(f, 0, OB_FSYNC_ALWAYS);
            expect_range(f->log, 1, 20, NULL);
            assert_int_equal(file_size(path), (off_t)len);
            append(f->log, 21, NULL);
            assert_int_equal(ob_store_drain(f->st), 0);
            reopen(f, 0);
            expect_range(f->log, 1, 21, NULL);
            ob_log_close(f->log);
            f->log = NULL;
        }
    }
    free(img);
}

/* A stale but valid record after the tail (left by a failed write whose truncate also
 * failed) must not come back: it repeats an earlier seq. */
static void test_stale_record_after_tail(void **state)
{
    struct fx *f = *state;
    size_t len, last_off;
    uint8_t *img = write_and_capture(f, 10, &len, &last_off);
    char path[PATH_MAX];
    seg_path(f, 1, path);
    uint8_t *p = malloc(len + 32 + body_len(3));
    memcpy(p, img, len);
    memcpy(p + len, img + (32 + body_len(1)) + (32 + body_len(2)), 32 + body_len(3));
    write_file(path, p, len + 32 + body_len(3));
    open_log(f, 0, OB_FSYNC_ALWAYS);
    expect_range(f->log, 1, 10, NULL);
    assert_int_equal(file_size(path), (off_t)len);
    free(p);
    free(img);
}

static void test_flipped_bit_in_last_record(void **state)
{
    struct fx *f = *state;
    size_t len, last_off;
    uint8_t *img = write_and_capture(f, 9, &len, &last_off);
    char path[PATH_MAX];
    seg_path(f, 1, path);
    /* Every header bit, and every 5th bit of the body. */
    for (size_t bit = last_off * 8; bit < len * 8; bit += bit < (last_off + 32) * 8 ? 1 : 5) {
        img[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        write_file(path, img, len);
        img[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        open_log(f, 0, OB_FSYNC_NEVER);
        expect_range(f->log, 1, 8, NULL);
        assert_int_equal(file_size(path), (off_t)last_off);
        ob_log_close(f->log);
        f->log = NULL;
    }
    free(img);
}

static bool not_in_seg2(uint64_t q);
static uint64_t g_cut_from, g_cut_to;

static bool not_in_seg2(uint64_t q)
{
    return q < g_cut_from || q > g_cut_to;
}

/* Corruption inside a sealed segment cuts that segment there; later ones survive. */
static void test_corrupt_sealed_segment(void **state)
{
    struct fx *f = *state;
    open_log(f, 2048, OB_FSYNC_ALWAYS);
    append_range(f, 1, 100, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_true(ob_log_segments(f->log) >= 3);
    ob_log_close(f->log);
    f->log = NULL;
    char path[PATH_MAX];
    seg_path(f, 2, path);
    size_t len;
    uint8_t *p = read_file(path, &len);
    struct ob_record r;
    size_t used, off = 0;
    assert_int_equal(ob_record_decode(p, len, &r, &used), 0);
    uint64_t first = r.seq;
    off += used;
    assert_int_equal(ob_record_decode(p + off, len - off, &r, &used), 0);
    g_cut_from = r.seq; /* the second record of segment 2 and everything after it there */
    while (off + used < len) {
        off += used;
        assert_int_equal(ob_record_decode(p + off, len - off, &r, &used), 0);
    }
    g_cut_to = r.seq;
    p[32 + body_len(first) + 16] ^= 0xff; /* the seq of its second record */
    write_file(path, p, len);
    free(p);
    open_log(f, 2048, OB_FSYNC_ALWAYS);
    expect_range(f->log, 1, 100, not_in_seg2);
    assert_int_equal(file_size(path), (off_t)(32 + body_len(first)));
    append(f->log, 101, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
}

static void test_leftover_tmp_removed(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_ALWAYS);
    append_range(f, 1, 3, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/00000000000000000001.tmp", f->dir);
    int fd = open(tmp, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "junk", 4), 4);
    close(fd);
    reopen(f, 0);
    assert_int_equal(count_files(f->dir, ".tmp"), 0);
    expect_range(f->log, 1, 3, NULL);
}

/* A writer process killed with SIGKILL mid-stream: every record whose callback
 * reported success is there after recovery, and the log takes appends again. (A
 * process kill keeps the page cache; power loss is what fdatasync is for.) */
struct child_ctx {
    int wfd;
    uint64_t next;
};

static void child_ack(void *arg, int status)
{
    struct child_ctx *c = arg;
    if (status) _exit(3);
    uint64_t seq = c->next++; /* callbacks of one log run in append order */
    if (write(c->wfd, &seq, sizeof seq) != (ssize_t)sizeof seq) _exit(4);
}

static void child_writer(const char *dir, int wfd)
{
    uv_loop_t loop;
    struct ob_store *st;
    struct ob_log *log;
    struct ob_log_options o = {8192, OB_FSYNC_ALWAYS, 0};
    if (uv_loop_init(&loop) || ob_store_open(&st, &loop) || ob_log_open(st, dir, &o, &log))
        _exit(2);
    struct child_ctx c = {wfd, 1};
    for (uint64_t seq = 1;;) {
        for (int i = 0; i < 20; i++, seq++) {
            uint8_t body[300];
            body_fill(seq, body);
            struct ob_record r = {OB_REC_MSG, seq, (int64_t)seq * 1000,
                                  ob_slice_make(body, body_len(seq))};
            if (ob_log_append(log, &r, child_ack, &c)) _exit(5);
        }
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void test_kill9_keeps_acked(void **state)
{
    struct fx *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_writer(f->dir, p[1]);
    }
    close(p[1]);
    uint64_t acked = 0, seq;
    while (acked < 3000 && read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq)
        acked = seq;
    kill(pid, SIGKILL);
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst)); /* it was still writing, not failing */
    while (read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq)
        acked = seq;
    close(p[0]);
    assert_int_equal(ob_store_open(&f->st, &f->loop), 0);
    open_log(f, 8192, OB_FSYNC_ALWAYS);
    uint64_t last = ob_log_last_seq(f->log);
    print_message("kill -9: %llu acked, %llu recovered\n", (unsigned long long)acked,
                  (unsigned long long)last);
    assert_true(acked >= 3000);
    assert_true(last >= acked);
    expect_range(f->log, 1, last, NULL);
    append(f->log, last + 1, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
}

/* ---- fault injection ---------------------------------------------------------------- */

static bool skip_11_15(uint64_t q)
{
    return q < 11 || q > 15;
}

static void check_enospc(struct fx *f, bool partial)
{
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 10, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    char path[PATH_MAX];
    seg_path(f, 1, path);
    off_t good = file_size(path);
    g_write_errno = ENOSPC;
    g_partial = partial;
    struct acks b = {0};
    append_range(f, 11, 15, &b);
    assert_int_equal(ob_store_drain(f->st), OB_ENOSPC);
    assert_int_equal(b.fail, 5);
    assert_int_equal(b.last_err, OB_ENOSPC);
    assert_int_equal(file_size(path), good); /* the failed bytes were cut off */
    assert_true(ob_log_last_seq(f->log) == 10);
    g_write_errno = 0; /* space returns */
    append_range(f, 16, 20, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 15);
    expect_range(f->log, 1, 20, skip_11_15);
    reopen(f, 0);
    expect_range(f->log, 1, 20, skip_11_15);
}

static void test_enospc(void **state)
{
    check_enospc(*state, false);
}

static void test_enospc_after_partial_write(void **state)
{
    check_enospc(*state, true);
}

static void test_edquot_and_eio_on_write(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_NEVER);
    struct acks a = {0};
    g_write_errno = EDQUOT;
    append(f->log, 1, &a);
    assert_int_equal(ob_store_drain(f->st), OB_ENOSPC);
    g_write_errno = EIO;
    append(f->log, 2, &a);
    assert_int_equal(ob_store_drain(f->st), OB_EIO);
    assert_int_equal(a.fail, 2);
    g_write_errno = 0;
    append(f->log, 3, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 1);
    assert_true(ob_log_first_seq(f->log) == 3);
}

static bool skip_21_30(uint64_t q)
{
    return q < 21 || q > 30;
}

static void test_fdatasync_eio(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 20, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    char path[PATH_MAX];
    seg_path(f, 1, path);
    off_t good = file_size(path);
    g_sync_errno = EIO;
    struct acks b = {0};
    append_range(f, 21, 30, &b);
    assert_int_equal(ob_store_drain(f->st), OB_EIO);
    assert_int_equal(b.fail, 10);
    assert_int_equal(b.last_err, OB_EIO);
    /* Not retried and reported as success: the unsynced bytes are cut off. */
    assert_int_equal(file_size(path), good);
    expect_range(f->log, 1, 20, NULL);
    g_sync_errno = 0;
    append_range(f, 31, 40, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 30);
    reopen(f, 0);
    expect_range(f->log, 1, 40, skip_21_30);
}

/* ---- group commit and fsync policies ------------------------------------------------ */

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 500, &a); /* all in one loop tick */
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 500);
    int syncs = g_syncs;
    print_message("group commit: 500 records, %d fdatasync, %d pwritev\n", syncs, (int)g_writes);
    assert_true(syncs >= 1);
    assert_true(syncs < 50);
}

static void test_fsync_never(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_NEVER);
    struct acks a = {0};
    append_range(f, 1, 100, &a);
    assert_int_equal(ob_store_drain(f->st), 0);
    ob_log_close(f->log);
    f->log = NULL;
    assert_int_equal(a.ok, 100);
    assert_int_equal(g_syncs, 0);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_fsync_interval(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_INTERVAL); /* 20 ms */
    struct acks a = {0};
    /* 40 ticks of 5 appends, 5 ms apart: about 200 ms, so about 10 syncs, and never one
     * per tick. */
    for (uint64_t t = 0; t < 40; t++) {
        append_range(f, t * 5 + 1, t * 5 + 5, &a);
        assert_int_equal(ob_store_drain(f->st), 0);
        sleep_ms(5);
    }
    assert_int_equal(a.ok, 200);
    sleep_ms(60); /* the owed sync happens without any further write */
    int syncs = g_syncs;
    print_message("interval: 40 ticks, %d fdatasync\n", syncs);
    assert_true(syncs >= 2);
    assert_true(syncs <= 20);
    ob_store_set_io(f->st, NULL);
    reopen(f, 0);
    expect_range(f->log, 1, 200, NULL);
}

static void test_set_options(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_NEVER);
    append_range(f, 1, 10, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(g_syncs, 0);
    struct ob_log_options o = {1024, OB_FSYNC_ALWAYS, 0};
    ob_log_set_options(f->log, &o);
    append_range(f, 11, 60, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_true(g_syncs >= 1);
    assert_true(ob_log_segments(f->log) > 2);
}

static void test_interval_sync_on_close(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    struct ob_log_options o = {0, OB_FSYNC_INTERVAL, 60000};
    assert_int_equal(ob_log_open(f->st, f->dir, &o, &f->log), 0);
    append_range(f, 1, 5, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    int first = g_syncs; /* a log that never synced is due at once */
    append_range(f, 6, 10, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(g_syncs, first); /* the next one is a minute away... */
    ob_log_close(f->log);
    f->log = NULL;
    assert_int_equal(g_syncs, first + 1); /* ...but closing flushes it */
}

struct order {
    uint64_t seen[400];
    size_t n;
};

struct order_arg {
    struct order *o;
    uint64_t tag;
};

static void on_order(void *arg, int status)
{
    struct order_arg *a = arg;
    assert_int_equal(status, 0);
    a->o->seen[a->o->n++] = a->tag;
}

/* Two logs in one store: one group commit syncs each file once per round, and each
 * log's callbacks run in its append order. */
static void test_two_logs(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 0, OB_FSYNC_ALWAYS);
    char dir2[1100];
    snprintf(dir2, sizeof dir2, "%s2", f->dir);
    struct ob_log *log2;
    struct ob_log_options o = {0, OB_FSYNC_ALWAYS, 0};
    assert_int_equal(ob_log_open(f->st, dir2, &o, &log2), 0);
    static struct order ord;
    static struct order_arg args[400];
    ord.n = 0;
    for (uint64_t s = 1; s <= 200; s++) {
        args[s - 1] = (struct order_arg){&ord, s};
        args[199 + s] = (struct order_arg){&ord, 1000 + s};
        uint8_t body[300];
        body_fill(s, body);
        struct ob_record r = {OB_REC_MSG, s, (int64_t)s * 1000, ob_slice_make(body, body_len(s))};
        assert_int_equal(ob_log_append(f->log, &r, on_order, &args[s - 1]), 0);
        assert_int_equal(ob_log_append(log2, &r, on_order, &args[199 + s]), 0);
    }
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(ord.n, 400);
    uint64_t next1 = 1, next2 = 1001;
    for (size_t i = 0; i < ord.n; i++) {
        if (ord.seen[i] < 1000)
            assert_true(ord.seen[i] == next1++);
        else
            assert_true(ord.seen[i] == next2++);
    }
    print_message("two logs: 400 records, %d fdatasync\n", (int)g_syncs);
    assert_true(g_syncs >= 2 && g_syncs < 40);
    expect_range(log2, 1, 200, NULL);
    assert_int_equal(ob_log_destroy(log2), 0);
}

/* ---- time lookups ------------------------------------------------------------------- */

static void test_seq_for_time(void **state)
{
    struct fx *f = *state;
    open_log(f, 4096, OB_FSYNC_NEVER);
    append_range(f, 1, 1000, NULL); /* ts = seq * 1000 */
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_true(ob_log_segments(f->log) > 5);
    uint64_t seq;
    assert_int_equal(ob_log_seq_for_time(f->log, INT64_MIN, &seq), 0);
    assert_true(seq == 1);
    for (uint64_t s = 1; s <= 1000; s += 7) {
        assert_int_equal(ob_log_seq_for_time(f->log, (int64_t)s * 1000, &seq), 0);
        assert_true(seq == s);
        assert_int_equal(ob_log_seq_for_time(f->log, (int64_t)s * 1000 - 999, &seq), 0);
        assert_true(seq == s);
    }
    assert_int_equal(ob_log_seq_for_time(f->log, 1000 * 1000 + 1, &seq), OB_ENOENT);
    reopen(f, 4096);
    assert_int_equal(ob_log_seq_for_time(f->log, 500500, &seq), 0);
    assert_true(seq == 501);
}

static void test_seq_for_time_unordered(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_NEVER);
    /* Clock steps back: ts 100, 200, ..., then 50; the first record at or after 150
     * is seq 2, and the first at or after 40 is seq 1. */
    static const int64_t ts[] = {100, 200, 300, 50, 400};
    for (uint64_t s = 1; s <= 5; s++)
        assert_int_equal(append_ts(f->log, s, ts[s - 1], NULL), 0);
    assert_int_equal(ob_store_drain(f->st), 0);
    uint64_t seq;
    assert_int_equal(ob_log_seq_for_time(f->log, 150, &seq), 0);
    assert_true(seq == 2);
    assert_int_equal(ob_log_seq_for_time(f->log, 40, &seq), 0);
    assert_true(seq == 1);
    assert_int_equal(ob_log_seq_for_time(f->log, 350, &seq), 0);
    assert_true(seq == 5);
}

/* ---- dropping and compaction -------------------------------------------------------- */

static bool from_drop(uint64_t q);
static uint64_t g_first_kept;
static bool from_drop(uint64_t q)
{
    return q >= g_first_kept;
}

static void test_drop_before(void **state)
{
    struct fx *f = *state;
    open_log(f, 4096, OB_FSYNC_ALWAYS);
    append_range(f, 1, 500, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    size_t nseg = ob_log_segments(f->log);
    assert_int_equal(ob_log_drop_before(f->log, 1), 0);
    size_t dropped = ob_log_drop_before(f->log, 250);
    assert_true(dropped > 0);
    assert_int_equal(ob_log_segments(f->log), nseg - dropped);
    g_first_kept = ob_log_first_seq(f->log);
    assert_true(g_first_kept > 1 && g_first_kept <= 250);
    assert_int_equal(ob_store_drain(f->st), 0); /* the unlinks ran on the storage thread */
    assert_int_equal(count_files(f->dir, ".seg"), nseg - dropped);
    expect_range(f->log, 1, 500, from_drop);
    /* Everything but the segment being written. */
    dropped = ob_log_drop_before(f->log, UINT64_MAX);
    assert_int_equal(ob_log_segments(f->log), 1);
    assert_int_equal(ob_store_drain(f->st), 0);
    g_first_kept = ob_log_first_seq(f->log);
    reopen(f, 4096);
    assert_int_equal(ob_log_segments(f->log), 1);
    assert_true(ob_log_last_seq(f->log) == 500);
    expect_range(f->log, 1, 500, from_drop);
}

/* The consumer-snapshot pattern: roll, append a snapshot, drop what it replaces. When
 * the snapshot fails, the old segments must stay on disk. */
static void test_drop_after_failed_write(void **state)
{
    struct fx *f = *state;
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    open_log(f, 2048, OB_FSYNC_ALWAYS);
    append_range(f, 1, 100, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    size_t nseg = ob_log_segments(f->log);
    ob_log_roll(f->log);
    g_write_errno = ENOSPC;
    struct acks a = {0};
    append(f->log, 101, &a);
    assert_true(ob_log_drop_before(f->log, 101) > 0);
    assert_int_equal(ob_store_drain(f->st), OB_ENOSPC);
    assert_int_equal(a.fail, 1);
    assert_int_equal(count_files(f->dir, ".seg"), nseg + 1); /* nothing unlinked */
    g_write_errno = 0;
    reopen(f, 2048);
    expect_range(f->log, 1, 100, NULL); /* the old state is all there */
    ob_log_roll(f->log);
    append(f->log, 102, &a);
    size_t dropped = ob_log_drop_before(f->log, 102);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(a.ok, 1);
    assert_int_equal(dropped, nseg); /* 102 went to the empty segment 101 left */
    assert_int_equal(count_files(f->dir, ".seg"), 1);
    assert_int_equal(ob_log_segments(f->log), 1);
    reopen(f, 2048);
    expect_range(f->log, 102, 102, NULL);
}

struct done {
    int calls, status;
};

static void on_compact(void *arg, int status)
{
    struct done *d = arg;
    d->calls++;
    d->status = status;
}

static void wait_done(struct fx *f, struct done *d)
{
    for (int i = 0; i < 10000 && d->calls == 0; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(d->calls, 1);
}

static uint64_t g_last_sealed;
static bool compact_keep(uint64_t q)
{
    if (q > g_last_sealed) return true; /* the last segment is not compacted */
    if (q >= 100 && q <= 180) return false;
    return q % 3 != 0;
}

static void test_compaction(void **state)
{
    struct fx *f = *state;
    open_log(f, 4096, OB_FSYNC_ALWAYS);
    append_range(f, 1, 600, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    ob_log_roll(f->log);
    append_range(f, 601, 620, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    g_last_sealed = 600;
    size_t nseg = ob_log_segments(f->log);
    uint64_t drop[700];
    size_t n = 0;
    for (uint64_t q = 1; q <= 620; q++)
        if (!compact_keep(q) || (q > 600 && q % 3 == 0)) drop[n++] = q;
    struct done d = {0, 99};
    assert_int_equal(ob_log_compact(f->log, drop, n, on_compact, &d), 0);
    assert_int_equal(d.calls, 0); /* never inside the call */
    wait_done(f, &d);
    assert_int_equal(d.status, 0);
    assert_true(ob_log_segments(f->log) < nseg); /* segments wholly in 100..180 are gone */
    assert_int_equal(count_files(f->dir, ".seg"), ob_log_segments(f->log));
    assert_int_equal(count_files(f->dir, ".tmp"), 0);
    expect_range(f->log, 1, 620, compact_keep);
    struct ob_buf scratch = OB_BUF_INIT;
    struct ob_record r;
    assert_int_equal(ob_log_read(f->log, 3, &scratch, &r), OB_ENOENT);
    assert_int_equal(ob_log_read(f->log, 4, &scratch, &r), 0);
    check_record(&r);
    ob_buf_release(&scratch);
    uint64_t seq;
    assert_int_equal(ob_log_seq_for_time(f->log, 150 * 1000, &seq), 0);
    assert_true(seq == 181);
    append_range(f, 621, 630, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    reopen(f, 4096);
    expect_range(f->log, 1, 630, compact_keep);
}

static void test_compaction_nothing_to_do(void **state)
{
    struct fx *f = *state;
    open_log(f, 4096, OB_FSYNC_ALWAYS);
    append_range(f, 1, 100, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    struct done d = {0, 99};
    uint64_t none = 100000;
    assert_int_equal(ob_log_compact(f->log, &none, 1, on_compact, &d), 0);
    wait_done(f, &d);
    assert_int_equal(d.status, 0);
    uint64_t unsorted[2] = {5, 4};
    assert_int_equal(ob_log_compact(f->log, unsorted, 2, on_compact, &d), OB_EINVAL);
    expect_range(f->log, 1, 100, NULL);
}

static void test_compaction_write_failure(void **state)
{
    struct fx *f = *state;
    open_log(f, 2048, OB_FSYNC_ALWAYS);
    append_range(f, 1, 100, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    reset_faults();
    ob_store_set_io(f->st, &test_io);
    g_write_errno = ENOSPC;
    uint64_t drop[] = {2, 3};
    struct done d = {0, 0};
    assert_int_equal(ob_log_compact(f->log, drop, 2, on_compact, &d), 0);
    wait_done(f, &d);
    assert_int_equal(d.status, OB_ENOSPC);
    assert_int_equal(count_files(f->dir, ".tmp"), 0);
    expect_range(f->log, 1, 100, NULL); /* the old segment stays as it was */
    g_write_errno = 0;
    d.calls = 0;
    assert_int_equal(ob_log_compact(f->log, drop, 2, on_compact, &d), 0);
    wait_done(f, &d);
    assert_int_equal(d.status, 0);
    struct ob_buf scratch = OB_BUF_INIT;
    struct ob_record r;
    assert_int_equal(ob_log_read(f->log, 2, &scratch, &r), OB_ENOENT);
    ob_buf_release(&scratch);
    ob_store_drain(f->st);
}

static void test_compaction_closed_early(void **state)
{
    struct fx *f = *state;
    open_log(f, 2048, OB_FSYNC_NEVER);
    append_range(f, 1, 200, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    uint64_t drop[200];
    for (uint64_t q = 1; q <= 200; q++)
        drop[q - 1] = q;
    struct done d = {0, 0};
    assert_int_equal(ob_log_compact(f->log, drop, 200, on_compact, &d), 0);
    ob_log_close(f->log); /* before the job ran: it ends with OB_ECLOSED */
    f->log = NULL;
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, OB_ECLOSED);
}

static size_t open_fds(void)
{
    return count_files("/proc/self/fd", "") - 2; /* less "." and ".." */
}

struct nested {
    struct ob_log *log;
    struct ob_buf scratch;
    uint64_t n, last;
};

/* Reads a far-away record from inside a scan: that opens other segments, which must
 * not close the one the scan is reading. */
static int scan_and_read(void *arg, const struct ob_record *r)
{
    struct nested *ns = arg;
    check_record(r);
    assert_true(r->seq == ns->last + 1);
    ns->last = r->seq;
    ns->n++;
    struct ob_record other;
    uint64_t far = (r->seq * 7919) % 600 + 1;
    assert_int_equal(ob_log_read(ns->log, far, &ns->scratch, &other), 0);
    assert_true(other.seq == far);
    return 0;
}

static void test_fd_limit(void **state)
{
    struct fx *f = *state;
    ob_store_set_fd_limit(f->st, 3);
    size_t base = open_fds();
    open_log(f, 1024, OB_FSYNC_INTERVAL);
    append_range(f, 1, 600, NULL);
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_true(ob_log_segments(f->log) > 50);
    print_message("fds: base %zu now %zu\n", base, open_fds());
    assert_true(open_fds() <= base + 3 + 2); /* 3 sealed, the last, the interval dup */
    struct ob_buf scratch = OB_BUF_INIT;
    struct ob_record r;
    for (uint64_t i = 0; i < 600; i++) {
        uint64_t seq = (i * 389) % 600 + 1;
        assert_int_equal(ob_log_read(f->log, seq, &scratch, &r), 0);
        check_record(&r);
    }
    ob_buf_release(&scratch);
    assert_true(open_fds() <= base + 3 + 2);
    struct nested ns = {f->log, OB_BUF_INIT, 0, 0};
    assert_int_equal(ob_log_scan(f->log, 1, scan_and_read, &ns), 0);
    assert_true(ns.n == 600);
    ob_buf_release(&ns.scratch);
    uint64_t drop[] = {5, 6, 300, 301, 302};
    struct done d = {0, 99};
    assert_int_equal(ob_log_compact(f->log, drop, 5, on_compact, &d), 0);
    wait_done(f, &d);
    assert_int_equal(d.status, 0);
    assert_true(open_fds() <= base + 3 + 2);
    reopen(f, 1024);
    assert_true(open_fds() <= base + 3 + 1);
    uint64_t seq;
    assert_int_equal(ob_log_seq_for_time(f->log, 2000, &seq), 0);
    assert_true(seq == 2);
    assert_int_equal(ob_log_scan(f->log, 0, stop_at_five, NULL), 0); /* 5 is gone */
    ob_store_set_fd_limit(f->st, 0);
}

/* ---- closing ------------------------------------------------------------------------ */

static void test_close_runs_pending_callbacks(void **state)
{
    struct fx *f = *state;
    open_log(f, 1024, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 300, &a);
    ob_log_close(f->log); /* the loop never ran */
    f->log = NULL;
    assert_int_equal(a.ok, 300);
    assert_int_equal(ob_store_pending(f->st), 0);
    open_log(f, 1024, OB_FSYNC_ALWAYS);
    expect_range(f->log, 1, 300, NULL);
}

struct closer {
    struct ob_log **log;
    int calls;
};

static void close_in_cb(void *arg, int status)
{
    struct closer *c = arg;
    assert_int_equal(status, 0);
    if (c->calls++ == 0) {
        ob_log_close(*c->log);
        *c->log = NULL;
    }
}

static void test_close_inside_callback(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct closer c = {&f->log, 0};
    for (uint64_t s = 1; s <= 50; s++) {
        uint8_t body[300];
        body_fill(s, body);
        struct ob_record r = {OB_REC_MSG, s, (int64_t)s * 1000, ob_slice_make(body, body_len(s))};
        assert_int_equal(ob_log_append(f->log, &r, close_in_cb, &c), 0);
    }
    assert_int_equal(ob_store_drain(f->st), 0);
    assert_int_equal(c.calls, 50);
    assert_null(f->log);
    open_log(f, 0, OB_FSYNC_ALWAYS);
    expect_range(f->log, 1, 50, NULL);
}

static void test_loop_delivers_callbacks(void **state)
{
    struct fx *f = *state;
    open_log(f, 0, OB_FSYNC_ALWAYS);
    struct acks a = {0};
    append_range(f, 1, 20, &a);
    /* The bus runs the loop; the async handle keeps it alive until all callbacks ran. */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(a.ok, 20);
    assert_int_equal(ob_store_pending(f->st), 0);
}

static void test_destroy(void **state)
{
    struct fx *f = *state;
    open_log(f, 1024, OB_FSYNC_ALWAYS);
    append_range(f, 1, 100, NULL);
    assert_int_equal(ob_log_destroy(f->log), 0);
    f->log = NULL;
    struct stat sb;
    assert_int_equal(stat(f->dir, &sb), -1);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    ob_log_set_level(OB_LOG_ERROR);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_append_read_scan),
        T(test_scan_stops_and_gaps),
        T(test_append_errors),
        T(test_roll_and_reopen),
        T(test_many_records_one_batch),
        T(test_short_writes),
        T(test_torn_tail_every_offset),
        T(test_garbage_after_tail),
        T(test_stale_record_after_tail),
        T(test_flipped_bit_in_last_record),
        T(test_corrupt_sealed_segment),
        T(test_leftover_tmp_removed),
        cmocka_unit_test_setup_teardown(test_kill9_keeps_acked, setup_nostore, teardown),
        T(test_enospc),
        T(test_enospc_after_partial_write),
        T(test_edquot_and_eio_on_write),
        T(test_fdatasync_eio),
        T(test_group_commit),
        T(test_fsync_never),
        T(test_fsync_interval),
        T(test_set_options),
        T(test_interval_sync_on_close),
        T(test_two_logs),
        T(test_seq_for_time),
        T(test_seq_for_time_unordered),
        T(test_drop_before),
        T(test_drop_after_failed_write),
        T(test_compaction),
        T(test_compaction_nothing_to_do),
        T(test_compaction_write_failure),
        T(test_compaction_closed_early),
        T(test_fd_limit),
        T(test_close_runs_pending_callbacks),
        T(test_close_inside_callback),
        T(test_loop_delivers_callbacks),
        T(test_destroy),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
