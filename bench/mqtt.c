/*
 * mqtt.c — an MQTT 3.1.1 load generator on libmosquitto, used unchanged against omnibus
 * and mosquitto by bench/mqtt.sh. Clients are driven with poll() and libmosquitto's
 * loop_read/loop_write/loop_misc, so a thousand subscribers cost sockets, not threads.
 * Publishers run on one thread and subscribers are split evenly over one thread per CPU
 * (-T N: N - 1 subscriber threads; -T 1 drives everything from one thread): libmosquitto
 * spends several system calls per packet (it reads a packet's header a byte at a time),
 * and one thread doing both sides, or every subscriber, was what set the pace, not the
 * broker. More threads than CPUs starve the broker under test instead.
 *
 *   bench_mqtt -p PORT -m MODE [-q QOS] [-n MSGS] [-P PUBS] [-S SUBS] [-s SIZE] [-w WINDOW]
 *              [-T THREADS]
 *     MODE flow:  PUBS publishers (topic bench/<i>) and SUBS subscribers on bench/#; each
 *                 publisher keeps at most WINDOW messages not yet seen by every
 *                 subscriber (and, at QoS 1/2, not yet acknowledged) in flight.
 *                 Prints: msgs/s (deliveries per second), p50/p99 latency (publish call to
 *                 delivery, µs) and messages lost (expected deliveries never seen within
 *                 2 s of the last progress).
 *     MODE idle:  opens SUBS idle connections (plain sockets, CONNECT with keepalive
 *                 600 s), prints "ready", waits for EOF on stdin, closes them.
 * Output is one line of key=value pairs for the script to parse; gen_cpu_us_per_msg is
 * the generator's own CPU time (user + system, connecting included) per delivery.
 */
#include <mosquitto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
    struct mosquitto *m;
    int idx;
    bool pub;
    bool connected, subscribed;
    uint64_t sent, acked;
    uint64_t events; /* messages and publish acks seen: progress of a read */
};

/* Counters written by the subscriber thread and read by the publisher thread (their
 * windows) and by main are atomics; the latencies have one writer, read after join. */
static struct {
    int port, qos, npub, nsub, size, window, threads;
    long msgs;
    _Atomic uint64_t received;     /* deliveries */
    _Atomic uint64_t *recv_by_pub; /* deliveries of each publisher's messages */
    uint32_t *lat_us;              /* one per delivery */
    _Atomic size_t nlat;           /* slots taken in lat_us (may pass cap_lat) */
    size_t cap_lat;
    int connected, subscribed;
    atomic_bool stop;
    atomic_bool pub_waiting; /* the publisher thread sleeps on wake_fd */
    int wake_fd;             /* eventfd, -1 single-threaded */
} g;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    struct client *c = arg;
    if (rc) {
        fprintf(stderr, "connect refused: %d\n", rc);
        exit(1);
    }
    c->connected = true;
    g.connected++;
    if (!c->pub && g.msgs > 0) mosquitto_subscribe(m, NULL, "bench/#", g.qos);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
    (void)m, (void)mid, (void)n, (void)granted;
    ((struct client *)arg)->subscribed = true;
    g.subscribed++;
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    ((struct client *)arg)->events++;
    if (msg->payloadlen < 16) return;
    int64_t t0;
    uint32_t pub;
    memcpy(&t0, msg->payload, 8);
    memcpy(&pub, (const char *)msg->payload + 8, 4);
    atomic_fetch_add_explicit(&g.received, 1, memory_order_relaxed);
    if (pub < (uint32_t)g.npub)
        atomic_fetch_add_explicit(&g.recv_by_pub[pub], 1, memory_order_relaxed);
    if (g.wake_fd >= 0 && atomic_exchange(&g.pub_waiting, false)) {
        uint64_t one = 1;
        if (write(g.wake_fd, &one, sizeof one) < 0) perror("eventfd");
    }
    size_t slot = atomic_fetch_add_explicit(&g.nlat, 1, memory_order_relaxed);
    if (slot < g.cap_lat) g.lat_us[slot] = (uint32_t)((now_ns() - t0) / 1000);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m, (void)mid;
    ((struct client *)arg)->acked++;
    ((struct client *)arg)->events++;
}

static struct client *open_clients(int n, bool pub, int first)
{
    struct client *cs = calloc((size_t)n, sizeof *cs);
    for (int i = 0; i < n; i++) {
        struct client *c = &cs[i];
        char id[64];
        snprintf(id, sizeof id, "bench-%s-%d-%d", pub ? "p" : "s", (int)getpid(), first + i);
        c->idx = i;
        c->pub = pub;
        c->m = mosquitto_new(id, true, c);
        mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, g.window);
        mosquitto_connect_callback_set(c->m, on_connect);
        mosquitto_subscribe_callback_set(c->m, on_subscribe);
        mosquitto_message_callback_set(c->m, on_message);
        mosquitto_publish_callback_set(c->m, on_publish);
        if (mosquitto_connect(c->m, "127.0.0.1", g.port, g.msgs > 0 ? 60 : 600) !=
            MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "connect %d failed: %s\n", i, strerror(errno));
            exit(1);
        }
    }
    return cs;
}

/* libmosquitto reads one packet per loop_read when nothing is queued, so a poll per
 * packet would be most of a subscriber's cost: read on while a read made progress (a
 * message or an ack arrived); the read that finds the socket empty costs what another
 * poll would. */
static void read_some(struct client *c)
{
    for (int r = 0; r < 64; r++) {
        uint64_t before = c->events;
        if (mosquitto_loop_read(c->m, 1) != MOSQ_ERR_SUCCESS || c->events == before) break;
    }
}

/* One poll round over every client (and wake_fd, an eventfd, when not -1). */
static void step(struct client **sets, const int *counts, int nsets, struct pollfd *pfd, int ms,
                 int wake_fd)
{
    int k = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < counts[s]; i++, k++) {
            struct mosquitto *m = sets[s][i].m;
            pfd[k].fd = mosquitto_socket(m);
            pfd[k].events = POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0);
            pfd[k].revents = 0;
        }
    if (wake_fd >= 0) pfd[k++] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
    poll(pfd, (nfds_t)k, ms);
    if (wake_fd >= 0 && (pfd[k - 1].revents & POLLIN)) {
        uint64_t v;
        if (read(wake_fd, &v, sizeof v) < 0) v = 0;
    }
    k = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < counts[s]; i++, k++) {
            struct mosquitto *m = sets[s][i].m;
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) read_some(&sets[s][i]);
            if (pfd[k].revents & POLLOUT) mosquitto_loop_write(m, 1);
            mosquitto_loop_misc(m);
        }
}

/* Publishes what publisher c's window allows; true if the window stopped it. */
static bool feed(struct client *c, uint8_t *payload)
{
    uint64_t got = atomic_load_explicit(&g.recv_by_pub[c->idx], memory_order_relaxed);
    uint64_t seen = g.nsub ? got / (uint64_t)g.nsub : c->sent;
    uint64_t done = g.qos ? (c->acked < seen ? c->acked : seen) : seen;
    while (c->sent < (uint64_t)g.msgs && c->sent - done < (uint64_t)g.window) {
        int64_t t = now_ns();
        uint32_t idx = (uint32_t)c->idx;
        memcpy(payload, &t, 8);
        memcpy(payload + 8, &idx, 4);
        char topic[32];
        snprintf(topic, sizeof topic, "bench/%d", c->idx);
        int rc = mosquitto_publish(c->m, NULL, topic, g.size, payload, g.qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            static bool told;
            if (!told) fprintf(stderr, "publish: %s\n", mosquitto_strerror(rc));
            told = true;
            break;
        }
        c->sent++;
    }
    return c->sent < (uint64_t)g.msgs && c->sent - done >= (uint64_t)g.window;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void wait_until(struct client **sets, const int *counts, int nsets, struct pollfd *pfd,
                       int *what, int want)
{
    int64_t deadline = now_ns() + 60 * 1000000000LL;
    while (*what < want && now_ns() < deadline)
        step(sets, counts, nsets, pfd, 10, -1);
    if (*what < want) {
        fprintf(stderr, "timed out: %d of %d\n", *what, want);
        exit(1);
    }
}

/* One poll loop over a set of clients until g.stop; publishers are fed first. */
struct driver {
    struct client *cs;
    int n;
    bool pub;
    uint8_t *payload;
    struct pollfd *pfd;
};

/* A publisher blocked on its window waits for deliveries seen by the other thread,
 * which no socket of its own reports: it raises pub_waiting and sleeps on wake_fd, and
 * the subscriber thread signals the eventfd when it counts a delivery. The flag is raised
 * before the windows are looked at once more, so no wake-up is missed. */
static void drive_once(struct driver *d)
{
    int wake = -1;
    if (d->pub) {
        bool blocked = false;
        for (int i = 0; i < d->n; i++)
            blocked |= feed(&d->cs[i], d->payload);
        if (blocked && g.wake_fd >= 0) {
            atomic_store(&g.pub_waiting, true);
            blocked = false;
            for (int i = 0; i < d->n; i++)
                blocked |= feed(&d->cs[i], d->payload);
            if (blocked)
                wake = g.wake_fd;
            else
                atomic_store(&g.pub_waiting, false);
        }
    }
    step(&d->cs, &d->n, 1, d->pfd, 1, wake);
}

static void *drive(void *arg)
{
    struct driver *d = arg;
    while (!atomic_load(&g.stop))
        drive_once(d);
    return NULL;
}

static void run_flow(void)
{
    struct client *subs = open_clients(g.nsub, false, 0);
    struct client *pubs = open_clients(g.npub, true, 0);
    struct client *sets[2] = {subs, pubs};
    int counts[2] = {g.nsub, g.npub};
    struct pollfd *pfd = calloc((size_t)(g.nsub + g.npub + 1), sizeof *pfd);
    wait_until(sets, counts, 2, pfd, &g.connected, g.nsub + g.npub);
    wait_until(sets, counts, 2, pfd, &g.subscribed, g.nsub);
    uint64_t expected = (uint64_t)g.msgs * (uint64_t)g.npub * (uint64_t)g.nsub;
    g.cap_lat = expected;
    g.lat_us = malloc(expected * sizeof *g.lat_us);
    struct driver pd = {pubs, g.npub, true, calloc(1, (size_t)g.size), pfd};
    /* Subscribers are split over threads - 1 threads, in contiguous slices. */
    int nth = g.threads > 1 ? (g.threads - 1 < g.nsub ? g.threads - 1 : g.nsub) : 0;
    struct driver *sd = calloc((size_t)(nth ? nth : 1), sizeof *sd);
    pthread_t *th = calloc((size_t)(nth ? nth : 1), sizeof *th);
    g.wake_fd = nth ? eventfd(0, EFD_NONBLOCK) : -1;
    int started = 0;
    for (int i = 0, first = 0; g.wake_fd >= 0 && i < nth; i++) {
        int n = g.nsub / nth + (i < g.nsub % nth);
        sd[i] = (struct driver){subs + first, n, false, NULL, pfd + g.npub + 1 + first};
        first += n;
        if (pthread_create(&th[i], NULL, drive, &sd[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
        started++;
    }
    bool threaded = started > 0;
    int64_t t0 = now_ns(), last_progress = t0;
    uint64_t last_received = 0, received = 0;
    while ((received = atomic_load(&g.received)) < expected &&
           now_ns() - last_progress < 2000000000LL) {
        if (threaded) {
            drive_once(&pd);
        } else { /* one poll over both sets, as a single-threaded client would */
            for (int i = 0; i < g.npub; i++)
                feed(&pubs[i], pd.payload);
            step(sets, counts, 2, pfd, 1, -1);
        }
        if (received != last_received) {
            last_received = received;
            last_progress = now_ns();
        }
    }
    int64_t t1 = received < expected ? last_progress : now_ns();
    atomic_store(&g.stop, true);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    free(sd);
    double secs = (double)(t1 - t0) / 1e9;
    size_t nlat = g.nlat < g.cap_lat ? g.nlat : g.cap_lat;
    qsort(g.lat_us, nlat, sizeof *g.lat_us, cmp_u32);
    uint32_t p50 = nlat ? g.lat_us[nlat / 2] : 0;
    uint32_t p99 = nlat ? g.lat_us[nlat * 99 / 100] : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("msgs_per_s=%.0f p50_us=%u p99_us=%u lost=%llu delivered=%llu seconds=%.2f "
           "gen_cpu_us_per_msg=%.2f\n",
           (double)received / secs, p50, p99, (unsigned long long)(expected - received),
           (unsigned long long)received, secs, received ? cpu_us / (double)received : 0.0);
    fflush(stdout);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s]; i++) {
            mosquitto_disconnect(sets[s][i].m);
            mosquitto_destroy(sets[s][i].m);
        }
    free(pd.payload);
    free(pfd);
}

/* Idle connections are plain sockets with a hand-made CONNECT: libmosquitto spends
 * three descriptors per client, which would cap the count below the target. */
static int idle_connect(int i)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    char id[32];
    int n = snprintf(id, sizeof id, "idle-%d-%d", (int)getpid(), i);
    uint8_t pkt[64] = {0x10, (uint8_t)(12 + n), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0x02, 0x58,
                       0,    (uint8_t)n};
    memcpy(pkt + 14, id, (size_t)n);
    uint8_t ack[4];
    if (write(fd, pkt, (size_t)(14 + n)) != 14 + n || read(fd, ack, 4) != 4 || ack[3] != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void run_idle(void)
{
    int *fds = calloc((size_t)g.nsub, sizeof *fds);
    for (int i = 0; i < g.nsub; i++) {
        fds[i] = idle_connect(i);
        if (fds[i] < 0) {
            fprintf(stderr, "idle connection %d failed: %s\n", i, strerror(errno));
            exit(1);
        }
    }
    printf("ready connections=%d\n", g.nsub);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    for (int i = 0; i < g.nsub; i++)
        close(fds[i]);
    free(fds);
}

int main(int argc, char **argv)
{
    const char *mode = "flow";
    g.port = 1883;
    g.qos = 0;
    g.msgs = 100000;
    g.npub = 1;
    g.nsub = 1;
    g.size = 64;
    g.window = 100;
    g.threads = 0; /* one subscriber thread per CPU */
    int o;
    while ((o = getopt(argc, argv, "p:m:q:n:P:S:s:w:T:")) != -1) {
        switch (o) {
        case 'p':
            g.port = atoi(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'q':
            g.qos = atoi(optarg);
            break;
        case 'n':
            g.msgs = atol(optarg);
            break;
        case 'P':
            g.npub = atoi(optarg);
            break;
        case 'S':
            g.nsub = atoi(optarg);
            break;
        case 's':
            g.size = atoi(optarg) < 16 ? 16 : atoi(optarg);
            break;
        case 'w':
            g.window = atoi(optarg);
            break;
        case 'T':
            g.threads = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: see bench/mqtt.c\n");
            return 2;
        }
    }
    g.wake_fd = -1;
    if (g.threads <= 0) g.threads = 1 + (int)sysconf(_SC_NPROCESSORS_ONLN);
    mosquitto_lib_init();
    g.recv_by_pub = calloc((size_t)g.npub, sizeof *g.recv_by_pub);
    if (!strcmp(mode, "idle")) {
        g.msgs = 0;
        run_idle();
    } else {
        run_flow();
    }
    mosquitto_lib_cleanup();
    return 0;
}
