/*
 * bench/core.c — figures for the core and the store, printed, never asserted.
 *
 *   a  publish -> in-process subscribe throughput (16 B, 1 KiB; sync and async subs)
 *   b  durable append with fsync=always, against the disk's raw write+fdatasync ceiling
 *      measured in the same run and directory, with 1, 16 and 256 acks outstanding
 *   c  fan-out 1 -> 1000 subscribers (deliveries/s)
 *   d  recovery time of a large log (1 GiB by default) written with fsync=never
 *
 * Every figure is printed twice: a readable line, and a tab-separated "RESULT" line
 * (key, value, unit, note) that bench/core.sh turns into the summary table.
 *
 * Options (environment defaults in brackets):
 *   -s SECTIONS  which sections to run, e.g. "ab" [OB_BENCH_SECTIONS, "abcd"]
 *   -t SECONDS   length of one measurement [OB_BENCH_SECONDS, 0.5]
 *   -n REPS      repetitions of each measurement; the median is reported [OB_BENCH_REPS, 3]
 *   -r MB        size of the recovery log [OB_BENCH_RECOVERY_MB, 1024]
 *   -d DIR       parent of the temporary data dir [OB_BENCH_DIR, $TMPDIR, /tmp]
 * The data dir is created with mkdtemp and removed at the end, also after SIGINT.
 *
 * The fsync count comes from the store's replaceable I/O table (store/store.h), reached
 * through the bus internals: the public API has no counter for it, and counting inside
 * the storage thread is the only way to know the group-commit batch size.
 */
#include <omnibus.h>

#include "base/log.h"
#include "core/core.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define PUBLISH_BATCH        1024 /* publishes between clock reads and async drains */
#define FANOUT_SUBS          1000
#define RECOVERY_FLUSH_EVERY 4096 /* bounds the bytes queued for the storage thread */
#define DURABLE_PAYLOAD      128
#define MAX_REPS             15
#define MAX_CYCLES           256  /* durable: omnibus/raw alternations per window */
#define SLICE_SECS           0.1  /* durable: length of one slice of one kind */
#define DIR_LEN              1024 /* the temporary data dir; its subdirectories get a little more */
#define SUB_LEN              (DIR_LEN + 32)

static volatile sig_atomic_t g_stop;

struct opts {
    const char *sections;
    double secs;
    int reps;
    uint64_t recovery_mb;
    const char *parent;
};

/* ---- small helpers ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, rc < 0 ? ob_strerror(rc) : strerror(rc));
    exit(1);
}

/* One figure: a readable line and a machine line for bench/core.sh. */
static void result(const char *key, double value, const char *unit, const char *note)
{
    printf("  %-34s %14.2f %-10s %s\n", key, value, unit, note ? note : "");
    printf("RESULT\t%s\t%.2f\t%s\t%s\n", key, value, unit, note ? note : "");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorted in place): one slow run on a shared machine should not
 * move the figure. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of reps runs with the spread in the note. */
static void result_runs(const char *key, double *v, int n, const char *unit, const char *what)
{
    char note[160];
    double m = median(v, n);
    const char *fmt = m < 100 ? "%s%sruns %.2f..%.2f" : "%s%sruns %.0f..%.0f";
    snprintf(note, sizeof note, fmt, what ? what : "", what ? "; " : "", v[0], v[n - 1]);
    result(key, m, unit, note);
}

static struct ob_bus *open_bus(const char *data_dir)
{
    struct ob_bus_options o = {.data_dir = data_dir};
    struct ob_bus *bus;
    int rc = ob_bus_open(&bus, &o);
    if (rc) die("ob_bus_open", rc);
    return bus;
}

static struct ob_msg *new_msg(const char *subject, const uint8_t *payload, size_t n)
{
    struct ob_msg *m;
    int rc = ob_msg_new_simple(&m, subject, payload, n);
    if (rc) die("ob_msg_new_simple", rc);
    return m;
}

static struct ob_stream *make_stream(struct ob_bus *bus, const char *name, const char *subject,
                                     enum ob_fsync fsync)
{
    const char *subjects[] = {subject};
    struct ob_stream_config cfg = {
        .name = name, .subjects = subjects, .nsubjects = 1, .fsync = fsync};
    struct ob_stream *st;
    int rc = ob_stream_create(bus, &cfg, &st);
    if (rc) die("ob_stream_create", rc);
    return st;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- machine notes ------------------------------------------------------------------ */

static const char *fs_name(const char *dir)
{
    struct statfs s;
    if (statfs(dir, &s) != 0) return "unknown";
    switch ((unsigned long)s.f_type) {
    case 0xEF53:
        return "ext2/3/4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs (fsync is a no-op: durable figures are meaningless)";
    case 0x794C7630:
        return "overlayfs";
    default:
        return "other";
    }
}

static void print_header(const struct opts *o, const char *dir)
{
    struct utsname u;
    char date[64];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
    uname(&u);
    printf("omnibus %s core bench, %s\n", OB_VERSION_STRING, date);
    printf("  host: %s %s %s, %ld CPUs online\n", u.sysname, u.release, u.machine,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("  data dir: %s (%s)\n", dir, fs_name(dir));
    printf("  %.2f s per measurement, median of %d, recovery log %llu MiB, sections %s\n", o->secs,
           o->reps, (unsigned long long)o->recovery_mb, o->sections);
}

/* ---- a: publish -> subscribe ---------------------------------------------------------- */

static void count_delivery(void *arg, const struct ob_delivery *d)
{
    (void)d;
    (*(uint64_t *)arg)++;
}

/* Publishes new messages (created per publish, as a real producer does) for secs;
 * returns deliveries per second. Async deliveries are drained after every batch, so
 * the figure counts delivered messages, not queued ones. */
static double publish_loop(struct ob_bus *bus, const char *subject, size_t payload, double secs,
                           const uint64_t *delivered)
{
    uint8_t *buf = calloc(1, payload);
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < PUBLISH_BATCH; i++) {
            struct ob_msg *m = new_msg(subject, buf, payload);
            ob_publish(bus, m, NULL, NULL);
            ob_msg_unref(m);
        }
        ob_bus_flush(bus);
        t = now_s();
    } while (t - t0 < secs && !g_stop);
    free(buf);
    return (double)*delivered / (t - t0);
}

/* Deliveries per second to nsubs subscribers of one subject on an in-memory bus. */
static double pubsub_rate(size_t payload, unsigned flags, int nsubs, double secs)
{
    struct ob_bus *bus = open_bus(NULL);
    uint64_t delivered = 0;
    for (int i = 0; i < nsubs; i++) {
        int rc = ob_subscribe(bus, "bench.sub", flags, count_delivery, &delivered, NULL);
        if (rc) die("ob_subscribe", rc);
    }
    double rate = publish_loop(bus, "bench.sub", payload, secs, &delivered);
    ob_bus_close(bus);
    return rate;
}

static void section_pubsub(const struct opts *o)
{
    static const size_t sizes[] = {16, 1024};
    printf("\n[a] publish -> in-process subscribe, 1 subscriber, in-memory bus\n");
    for (size_t i = 0; i < 2 && !g_stop; i++) {
        for (unsigned flags = OB_SUB_SYNC; flags <= OB_SUB_ASYNC && !g_stop; flags++) {
            char key[64];
            double v[MAX_REPS];
            snprintf(key, sizeof key, "pubsub.%s.%zuB", flags ? "async" : "sync", sizes[i]);
            for (int k = 0; k < o->reps; k++)
                v[k] = pubsub_rate(sizes[i], flags, 1, o->secs);
            result_runs(key, v, o->reps, "msgs/s", "ob_msg_new per publish");
        }
    }
}

/* ---- b: durable append vs raw fsync ------------------------------------------------- */

/* Counters fed by the storage thread through the store's I/O table. */
static atomic_ullong g_fsyncs, g_write_bytes;

static ssize_t counting_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    ssize_t w = pwritev(fd, iov, iovcnt, off);
    if (w > 0) atomic_fetch_add(&g_write_bytes, (unsigned long long)w);
    return w;
}

static int counting_fdatasync(int fd)
{
    atomic_fetch_add(&g_fsyncs, 1);
    return fdatasync(fd);
}

static int plain_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static const struct ob_store_io counting_io = {counting_pwritev, counting_fdatasync,
                                               plain_ftruncate};

/* What one kind of measurement (omnibus, or a raw loop) added up over its slices. */
struct tally {
    double secs;
    uint64_t recs;   /* records made durable (acked, for omnibus) */
    uint64_t syncs;  /* fdatasyncs */
    uint64_t bytes;  /* bytes written */
    uint64_t failed; /* omnibus acks with an error */
};

static double tally_rate(const struct tally *t)
{
    return t->secs > 0 ? (double)t->recs / t->secs : 0;
}

static void tally_add(struct tally *sum, const struct tally *t)
{
    sum->secs += t->secs;
    sum->recs += t->recs;
    sum->syncs += t->syncs;
    sum->bytes += t->bytes;
    sum->failed += t->failed;
}

/* The raw file lives next to the store's segments and grows like one. */
struct raw_file {
    char path[SUB_LEN + 32];
    int fd;
    uint8_t *buf;
    size_t cap;
};

static void raw_open(struct raw_file *rf, const char *dir)
{
    snprintf(rf->path, sizeof rf->path, "%s/raw-fsync.dat", dir);
    rf->fd = open(rf->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (rf->fd < 0) die("open raw file", errno);
    rf->buf = NULL;
    rf->cap = 0;
}

static void raw_close(struct raw_file *rf)
{
    close(rf->fd);
    unlink(rf->path);
    free(rf->buf);
}

/*
 * The disk's ceiling: append `batch` records of rec bytes with one write, then
 * fdatasync, for secs — what the store does per round, minus everything else.
 */
static void raw_slice(struct raw_file *rf, size_t rec, size_t batch, double secs, struct tally *t)
{
    size_t n = rec * batch;
    if (n > rf->cap) {
        rf->buf = realloc(rf->buf, n);
        if (!rf->buf) die("realloc", ENOMEM);
        memset(rf->buf, 'x', n);
        rf->cap = n;
    }
    double t0 = now_s(), el;
    do {
        if (write(rf->fd, rf->buf, n) != (ssize_t)n) die("raw write", errno);
        if (fdatasync(rf->fd) != 0) die("raw fdatasync", errno);
        t->recs += batch;
        t->syncs++;
        t->bytes += n;
        el = now_s() - t0;
    } while (el < secs && !g_stop);
    t->secs = el;
}

struct durable {
    uint64_t acked, failed;
    unsigned outstanding;
};

static void on_pub_ack(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct durable *d = arg;
    (void)ack;
    d->outstanding--;
    if (status)
        d->failed++;
    else
        d->acked++;
}

/* Keeps `window` publishes unacknowledged for secs, then waits for the rest (the clock
 * stops at the last ack), so that no write of ours overlaps the next raw slice. */
static void omnibus_slice(struct ob_bus *bus, unsigned window, double secs, struct tally *t)
{
    uint8_t payload[DURABLE_PAYLOAD];
    memset(payload, 'p', sizeof payload);
    struct durable d = {0};
    unsigned long long syncs0 = atomic_load(&g_fsyncs), bytes0 = atomic_load(&g_write_bytes);
    double t0 = now_s();
    while (now_s() - t0 < secs && !g_stop) {
        while (d.outstanding < window) {
            struct ob_msg *m = new_msg("bench.durable", payload, sizeof payload);
            d.outstanding++; /* first: the ack may come before ob_publish returns */
            int rc = ob_publish(bus, m, on_pub_ack, &d);
            ob_msg_unref(m);
            if (rc) die("ob_publish", rc);
        }
        ob_bus_run(bus, OB_RUN_ONCE);
    }
    int rc = ob_bus_flush(bus);
    if (rc) fprintf(stderr, "bench_core: ob_bus_flush: %s\n", ob_strerror(rc));
    t->secs = now_s() - t0;
    t->recs = d.acked;
    t->failed = d.failed;
    t->syncs = atomic_load(&g_fsyncs) - syncs0;
    t->bytes = atomic_load(&g_write_bytes) - bytes0;
}

/* All three kinds of a window, summed over their slices, and the per-cycle ratios. The
 * ratio reported is the median of the per-cycle ratios: a disk stall lands in one slice
 * of one kind and would tilt a ratio of sums; the ratio of the sums is printed too. */
struct window_run {
    struct tally omni, raw1, rawb;
    double ratio1[MAX_CYCLES], ratiob[MAX_CYCLES];
    int cycles;
};

/*
 * One cycle: an omnibus slice, then raw slices with records of the size omnibus wrote,
 * one per fsync and as many per fsync as omnibus batched so far. The disk of a shared
 * VM changes speed from one second to the next (300 to 6000 fsyncs/s was seen), so the
 * kinds alternate every SLICE_SECS: each sees the same mix of good and bad moments.
 */
static void durable_cycle(struct ob_bus *bus, struct raw_file *rf, unsigned window,
                          struct window_run *w)
{
    struct tally o = {0}, r1 = {0}, rb = {0};
    omnibus_slice(bus, window, SLICE_SECS, &o);
    tally_add(&w->omni, &o);
    const struct tally *om = &w->omni;
    size_t rec = om->recs ? (size_t)((double)om->bytes / (double)om->recs + 0.5) : 1;
    size_t batch = om->syncs ? (size_t)((double)om->recs / (double)om->syncs + 0.5) : 1;
    raw_slice(rf, rec ? rec : 1, 1, SLICE_SECS, &r1);
    tally_add(&w->raw1, &r1);
    double rate_b = tally_rate(&r1);
    if (window > 1 && batch > 1) {
        raw_slice(rf, rec ? rec : 1, batch, SLICE_SECS, &rb);
        tally_add(&w->rawb, &rb);
        rate_b = tally_rate(&rb);
    }
    w->ratio1[w->cycles] = tally_rate(&o) / tally_rate(&r1);
    w->ratiob[w->cycles] = tally_rate(&o) / rate_b;
    w->cycles++;
}

static void durable_report(unsigned window, struct window_run *w)
{
    char key[64], note[160];
    const struct tally *o = &w->omni;
    double batch = o->syncs ? (double)o->recs / (double)o->syncs : 0;
    double rate = tally_rate(o), raw1 = tally_rate(&w->raw1), rawb = tally_rate(&w->rawb);
    snprintf(key, sizeof key, "durable.w%u", window);
    snprintf(note, sizeof note, "%.0f fsyncs/s, %.1f msgs/fsync, %.0f B/record%s",
             (double)o->syncs / o->secs, batch, o->recs ? (double)o->bytes / (double)o->recs : 0,
             o->failed ? ", SOME ACKS FAILED" : "");
    result(key, rate, "msgs/s", note);
    snprintf(key, sizeof key, "durable.w%u.raw1", window);
    result(key, raw1, "recs/s", "raw write+fdatasync, 1 record each");
    snprintf(key, sizeof key, "durable.w%u.ratio_vs_raw1", window);
    snprintf(note, sizeof note, "goal >= 0.8; > 1: group commit; of the sums %.2f",
             raw1 > 0 ? rate / raw1 : 0);
    result(key, median(w->ratio1, w->cycles), "x", note);
    if (w->rawb.syncs == 0) return;
    snprintf(key, sizeof key, "durable.w%u.raw_batch", window);
    snprintf(note, sizeof note, "raw write+fdatasync, %.1f records each",
             (double)w->rawb.recs / (double)w->rawb.syncs);
    result(key, rawb, "recs/s", note);
    snprintf(key, sizeof key, "durable.w%u.ratio_vs_batch", window);
    snprintf(note, sizeof note, "goal >= 0.8, same batch; of the sums %.2f",
             rawb > 0 ? rate / rawb : 0);
    result(key, median(w->ratiob, w->cycles), "x", note);
}

/* reps x secs of each kind, in interleaved slices. */
static void durable_window(struct ob_bus *bus, const char *dir, unsigned window,
                           const struct opts *o)
{
    int cycles = (int)(o->secs * o->reps / SLICE_SECS + 0.5);
    if (cycles < 1) cycles = 1;
    if (cycles > MAX_CYCLES) cycles = MAX_CYCLES;
    struct window_run w = {0};
    struct raw_file rf;
    raw_open(&rf, dir);
    while (w.cycles < cycles && !g_stop)
        durable_cycle(bus, &rf, window, &w);
    raw_close(&rf);
    if (w.cycles) durable_report(window, &w);
}

static void section_durable(const struct opts *o, const char *dir)
{
    static const unsigned windows[] = {1, 16, 256};
    printf("\n[b] durable publish, fsync=always, %d B payload, N acks outstanding; "
           "raw loop interleaved every %.2f s\n",
           DURABLE_PAYLOAD, SLICE_SECS);
    char data[SUB_LEN];
    snprintf(data, sizeof data, "%s/durable", dir);
    struct ob_bus *bus = open_bus(data);
    make_stream(bus, "durable", "bench.durable", OB_FSYNC_ALWAYS);
    ob_store_set_io(bus->store, &counting_io);
    for (size_t i = 0; i < 3 && !g_stop; i++)
        durable_window(bus, data, windows[i], o);
    ob_bus_close(bus);
    rm_rf(data);
}

/* ---- c: fan-out --------------------------------------------------------------------- */

static void section_fanout(const struct opts *o)
{
    printf("\n[c] fan-out 1 -> %d subscribers of one subject, 16 B, in-memory bus\n", FANOUT_SUBS);
    for (unsigned flags = OB_SUB_SYNC; flags <= OB_SUB_ASYNC && !g_stop; flags++) {
        char key[64];
        double v[MAX_REPS];
        snprintf(key, sizeof key, "fanout%d.%s", FANOUT_SUBS, flags ? "async" : "sync");
        for (int k = 0; k < o->reps; k++)
            v[k] = pubsub_rate(16, flags, FANOUT_SUBS, o->secs);
        result_runs(key, v, o->reps, "deliv/s", NULL);
    }
}

/* ---- d: recovery -------------------------------------------------------------------- */

/* Writes n messages of 1 KiB with fsync=never; returns the seconds it took. */
static double fill_log(const char *data, uint64_t n)
{
    struct ob_bus *bus = open_bus(data);
    make_stream(bus, "recovery", "bench.recovery", OB_FSYNC_NEVER);
    uint8_t payload[1024];
    memset(payload, 'r', sizeof payload);
    double t0 = now_s();
    for (uint64_t i = 0; i < n && !g_stop; i++) {
        struct ob_msg *m = new_msg("bench.recovery", payload, sizeof payload);
        int rc = ob_publish(bus, m, NULL, NULL);
        ob_msg_unref(m);
        if (rc) die("ob_publish", rc);
        if (i % RECOVERY_FLUSH_EVERY == RECOVERY_FLUSH_EVERY - 1) ob_bus_flush(bus);
    }
    ob_bus_close(bus);
    return now_s() - t0;
}

static uint64_t g_du_bytes;

/* Syncs and evicts one file from the page cache, so the next open reads the disk. */
static int evict_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F) return 0;
    g_du_bytes += (uint64_t)sb->st_size;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    (void)fdatasync(fd);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}

/* Opens the bus (recovering everything); returns seconds, *msgs the stream's count. */
static double time_open(const char *data, uint64_t *msgs)
{
    double t0 = now_s();
    struct ob_bus *bus = open_bus(data);
    double el = now_s() - t0;
    struct ob_stream *st = ob_stream_lookup(bus, "recovery");
    struct ob_stream_info info = {0};
    if (st) ob_stream_get_info(st, &info);
    *msgs = info.msgs;
    ob_bus_close(bus);
    return el;
}

static void report_open(const char *key, double secs, uint64_t msgs, uint64_t want)
{
    char note[128];
    snprintf(note, sizeof note, "%llu msgs recovered%s", (unsigned long long)msgs,
             msgs == want ? "" : " -- MISMATCH with written");
    result(key, secs, "s", note);
}

static void section_recovery(const struct opts *o, const char *dir)
{
    uint64_t n = o->recovery_mb * 1024; /* 1 KiB payloads */
    printf("\n[d] recovery of a %llu MiB log (1 KiB messages, fsync=never)\n",
           (unsigned long long)o->recovery_mb);
    char data[SUB_LEN];
    snprintf(data, sizeof data, "%s/recovery", dir);
    double wr = fill_log(data, n);
    if (g_stop) return;
    g_du_bytes = 0;
    nftw(data, evict_entry, 16, FTW_PHYS);
    char note[96];
    snprintf(note, sizeof note, "%.1f MiB on disk, %.0f MiB/s", (double)g_du_bytes / 1048576.0,
             (double)g_du_bytes / 1048576.0 / wr);
    result("recovery.write", (double)n / wr, "msgs/s", note);
    uint64_t msgs;
    double secs = time_open(data, &msgs);
    report_open("recovery.open_cold", secs, msgs, n);
    secs = time_open(data, &msgs);
    report_open("recovery.open_warm", secs, msgs, n);
    rm_rf(data);
}

/* ---- main --------------------------------------------------------------------------- */

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_core [-s abcd] [-t seconds] [-n reps] [-r recovery_mb] [-d dir]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    o->sections = env_or("OB_BENCH_SECTIONS", "abcd");
    o->secs = atof(env_or("OB_BENCH_SECONDS", "0.5"));
    o->reps = atoi(env_or("OB_BENCH_REPS", "3"));
    o->recovery_mb = strtoull(env_or("OB_BENCH_RECOVERY_MB", "1024"), NULL, 10);
    o->parent = env_or("OB_BENCH_DIR", env_or("TMPDIR", "/tmp"));
    int c;
    while ((c = getopt(argc, argv, "s:t:n:r:d:h")) != -1) {
        switch (c) {
        case 's':
            o->sections = optarg;
            break;
        case 't':
            o->secs = atof(optarg);
            break;
        case 'n':
            o->reps = atoi(optarg);
            break;
        case 'r':
            o->recovery_mb = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            o->parent = optarg;
            break;
        default:
            usage();
        }
    }
    if (o->secs <= 0 || o->reps < 1 || o->reps > MAX_REPS || o->recovery_mb == 0) usage();
}

static void catch_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* If whoever reads our output goes away, keep running to the cleanup. */
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_opts(argc, argv, &o);
    catch_signals();
    ob_log_set_level(OB_LOG_WARN); /* the store's info lines would interleave the figures */
    char dir[DIR_LEN];
    if (snprintf(dir, sizeof dir, "%s/ob-bench-XXXXXX", o.parent) >= (int)sizeof dir) usage();
    if (!mkdtemp(dir)) die("mkdtemp", errno);
    print_header(&o, dir);
    if (strchr(o.sections, 'a')) section_pubsub(&o);
    if (strchr(o.sections, 'b') && !g_stop) section_durable(&o, dir);
    if (strchr(o.sections, 'c') && !g_stop) section_fanout(&o);
    if (strchr(o.sections, 'd') && !g_stop) section_recovery(&o, dir);
    rm_rf(dir);
    return g_stop ? 130 : 0;
}
