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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_core: %s: %s\n", what, rc < 0 ? ob_strerror(rc) : strerror(rc));
    exit(1);
}

/* One figure: a readable line and a machine line for bench/core.sh. */
static void result(const char *key, double value, const char *unit, const char *note) {
    printf("  %-34s %14.2f %-10s %s\n", key, value, unit, note ? note : "");
    printf("RESULT\t%s\t%.2f\t%s\t%s\n", key, value, unit, note ? note : "");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorted in place): one slow run on a shared machine should not
 * move the figure. */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of reps runs with the spread in the note. */
static void result_runs(const char *key, double *v, int n, const char *unit, const char *what) {
    char note[160];
    double m = median(v, n);
    const char *fmt = m < 100 ? "%s%sruns %.2f..%.2f" : "%s%sruns %.0f..%.0f";
    snprintf(note, sizeof note, fmt, what ? what : "", what ? "; " : "", v[0], v[n - 1]);
    result(key, m, unit, note);
}

static struct ob_bus *open_bus(const char *data_dir) {
    struct ob_bus_options o = {.data_dir = data_dir};
    struct ob_bus *bus;
    int rc = ob_bus_open(&bus, &o);
    if (rc) die("ob_bus_open", rc);
    return bus;
}

static struct ob_msg *new_msg(const char *subject, const uint8_t *payload, size_t n) {
    struct ob_msg *m;
    int rc = ob_msg_new_simple(&m, subject, payload, n);
    if (rc) die("ob_msg_new_simple", rc);
    return m;
}

static struct ob_stream *make_stream(struct ob_bus *bus, const char *name, const char *subject,
                                     enum ob_fsync fsync) {
    const char *subjects[] = {subject};
    struct ob_stream_config cfg = {
        .name = name, .subjects = subjects, .nsubjects = 1, .fsync = fsync};
    struct ob_stream *st;
    int rc = ob_stream_create(bus, &cfg, &st);
    if (rc) die("ob_stream_create", rc);
    return st;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path) {
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- machine notes ------------------------------------------------------------------ */

static const char *fs_name(const char *dir) {
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

static void print_header(const struct opts *o, const char *dir) {
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

static void count_delivery(void *arg, const struct ob_delivery *d) {
    (void)d;
    (*(uint64_t *)arg)++;
}

/* Publishes new messages (created per publish, as a real producer does) for secs;
 * returns deliveries per second. Async deliveries are drained after every batch, so
 * the figure counts delivered messages, not queued ones. */
static double publish_loop(struct ob_bus *bus, const char *subject, size_t payload, double secs,
                           const uint64_t *delivered) {
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
static double pubsub_rate(size_t payload, unsigned flags, int nsubs, double secs) {
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

static void section_pubsub(const struct opts *o) {
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

static ssize_t counting_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off) {
    ssize_t w = pwritev(fd, iov, iovcnt, off);
    if (w > 0) atomic_fetch_add(&g_write_bytes, (unsigned long long)w);
    return w;
}

static int counting_fdatasync(int fd) {
    atomic_fetch_add(&g_fsyncs, 1);
    return fdatasync(fd);
}

static int plain_ftruncate(int fd, off_t len) {
    return ftruncate(fd, len);
}

static const struct ob_store_io counting_io = {counting_pwritev, counting_fdatasync,
                                               plain_ftruncate};

/*
 * The disk's ceiling: append `batch` records of rec bytes with one write, then
 * fdatasync, for secs — what the store does per round, minus everything else.
 * Returns records per second; *syncs_per_s gets fdatasyncs per second.
 */
static double raw_fsync_rate(const char *dir, size_t rec, size_t batch, double secs,
                             double *syncs_per_s) {
    char path[SUB_LEN];
    snprintf(path, sizeof path, "%s/raw-fsync.dat", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) die("open raw file", errno);
    size_t n = rec * batch;
    uint8_t *buf = malloc(n);
    memset(buf, 'x', n);
    uint64_t syncs = 0;
    double t0 = now_s(), t;
    do {
        if (write(fd, buf, n) != (ssize_t)n) die("raw write", errno);
        if (fdatasync(fd) != 0) die("raw fdatasync", errno);
        syncs++;
        t = now_s();
    } while (t - t0 < secs && !g_stop);
    close(fd);
    unlink(path);
    free(buf);
    *syncs_per_s = (double)syncs / (t - t0);
    return *syncs_per_s * (double)batch;
}

struct durable {
    uint64_t acked, failed;
    unsigned outstanding;
};

struct durable_result {
    double rate;      /* acked msgs/s */
    double fsyncs;    /* fdatasyncs/s */
    double batch;     /* records per fdatasync */
    double rec_bytes; /* bytes written per record (encoding overhead included) */
    uint64_t failed;
};

static void on_pub_ack(void *arg, int status, const struct ob_pub_ack *ack) {
    struct durable *d = arg;
    (void)ack;
    d->outstanding--;
    if (status)
        d->failed++;
    else
        d->acked++;
}

/* Keeps `window` publishes unacknowledged for secs, then waits for the rest; the clock
 * stops when the last ack arrived. */
static void durable_run(struct ob_bus *bus, unsigned window, double secs,
                        struct durable_result *r) {
    uint8_t payload[DURABLE_PAYLOAD];
    memset(payload, 'p', sizeof payload);
    struct durable d = {0};
    atomic_store(&g_fsyncs, 0);
    atomic_store(&g_write_bytes, 0);
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
    double el = now_s() - t0;
    if (rc) fprintf(stderr, "bench_core: ob_bus_flush: %s\n", ob_strerror(rc));
    uint64_t fs = atomic_load(&g_fsyncs);
    r->rate = (double)d.acked / el;
    r->fsyncs = (double)fs / el;
    r->batch = fs ? (double)(d.acked + d.failed) / (double)fs : 0;
    r->rec_bytes = d.acked ? (double)atomic_load(&g_write_bytes) / (double)d.acked : 0;
    r->failed = d.failed;
}

/* One round's figures, one array slot per round; the medians are reported. */
enum { D_RATE, D_FSYNCS, D_BATCH, D_RECB, D_RAW1, D_RAWB, D_RATIO1, D_RATIOB, D_N };

/* Omnibus, then the raw ceiling with records of the size omnibus wrote, one per fsync
 * and as many per fsync as omnibus batched: back to back, so that each ratio compares
 * measurements taken moments apart on a disk whose speed drifts. */
static void durable_round(struct ob_bus *bus, const char *dir, unsigned window, double secs,
                          double (*v)[MAX_REPS], int k, uint64_t *failed) {
    double syncs;
    struct durable_result r;
    durable_run(bus, window, secs, &r);
    size_t batch = r.batch > 1 ? (size_t)(r.batch + 0.5) : 1;
    size_t rec = r.rec_bytes > 0 ? (size_t)(r.rec_bytes + 0.5) : DURABLE_PAYLOAD;
    double raw1 = raw_fsync_rate(dir, rec, 1, secs, &syncs);
    double rawb = batch > 1 ? raw_fsync_rate(dir, rec, batch, secs, &syncs) : raw1;
    v[D_RATE][k] = r.rate;
    v[D_FSYNCS][k] = r.fsyncs;
    v[D_BATCH][k] = r.batch;
    v[D_RECB][k] = r.rec_bytes;
    v[D_RAW1][k] = raw1;
    v[D_RAWB][k] = rawb;
    v[D_RATIO1][k] = raw1 > 0 ? r.rate / raw1 : 0;
    v[D_RATIOB][k] = rawb > 0 ? r.rate / rawb : 0;
    *failed += r.failed;
}

static void durable_report(unsigned window, double (*v)[MAX_REPS], int n, uint64_t failed) {
    char key[64], note[160];
    double batch = median(v[D_BATCH], n);
    snprintf(key, sizeof key, "durable.w%u", window);
    snprintf(note, sizeof note, "%.0f fsyncs/s, %.1f msgs/fsync, %.0f B/record%s",
             median(v[D_FSYNCS], n), batch, median(v[D_RECB], n),
             failed ? ", SOME ACKS FAILED" : "");
    result(key, median(v[D_RATE], n), "msgs/s", note);
    snprintf(key, sizeof key, "durable.w%u.raw1", window);
    result(key, median(v[D_RAW1], n), "recs/s", "raw write+fdatasync, 1 record each");
    snprintf(key, sizeof key, "durable.w%u.ratio_vs_raw1", window);
    result_runs(key, v[D_RATIO1], n, "x", "goal >= 0.8; > 1: group commit");
    if (batch < 1.5) return;
    snprintf(key, sizeof key, "durable.w%u.raw_batch", window);
    snprintf(note, sizeof note, "raw write+fdatasync, %.0f records each", batch);
    result(key, median(v[D_RAWB], n), "recs/s", note);
    snprintf(key, sizeof key, "durable.w%u.ratio_vs_batch", window);
    result_runs(key, v[D_RATIOB], n, "x", "goal >= 0.8, same batch");
}

static void durable_window(struct ob_bus *bus, const char *dir, unsigned window,
                           const struct opts *o) {
    double v[D_N][MAX_REPS];
    uint64_t failed = 0;
    int k = 0;
    for (; k < o->reps && !g_stop; k++)
        durable_round(bus, dir, window, o->secs, v, k, &failed);
    if (k) durable_report(window, v, k, failed);
}

static void section_durable(const struct opts *o, const char *dir) {
    static const unsigned windows[] = {1, 16, 256};
    printf("\n[b] durable publish, fsync=always, %d B payload, N acks outstanding\n",
           DURABLE_PAYLOAD);
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

static void section_fanout(const struct opts *o) {
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
static double fill_log(const char *data, uint64_t n) {
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
static int evict_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
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
static double time_open(const char *data, uint64_t *msgs) {
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

static void report_open(const char *key, double secs, uint64_t msgs, uint64_t want) {
    char note[128];
    snprintf(note, sizeof note, "%llu msgs recovered%s", (unsigned long long)msgs,
             msgs == want ? "" : " -- MISMATCH with written");
    result(key, secs, "s", note);
}

static void section_recovery(const struct opts *o, const char *dir) {
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
    snprintf(note, sizeof note, "%.1f MiB on disk", (double)g_du_bytes / 1048576.0);
    result("recovery.write", (double)n / wr, "msgs/s", note);
    uint64_t msgs;
    double secs = time_open(data, &msgs);
    report_open("recovery.open_cold", secs, msgs, n);
    secs = time_open(data, &msgs);
    report_open("recovery.open_warm", secs, msgs, n);
    rm_rf(data);
}

/* ---- main --------------------------------------------------------------------------- */

static const char *env_or(const char *name, const char *def) {
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_core [-s abcd] [-t seconds] [-n reps] [-r recovery_mb] [-d dir]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o) {
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

static void catch_signals(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* If whoever reads our output goes away, keep running to the cleanup. */
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv) {
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
