/*
 * mqtt.c — an MQTT 3.1.1 load generator on libmosquitto, used unchanged against omnibus
 * and mosquitto by bench/mqtt.sh. One thread drives every client with poll() and
 * libmosquitto's loop_read/loop_write/loop_misc, so a thousand subscribers cost sockets,
 * not threads.
 *
 *   bench_mqtt -p PORT -m MODE [-q QOS] [-n MSGS] [-P PUBS] [-S SUBS] [-s SIZE] [-w WINDOW]
 *     MODE flow:  PUBS publishers (topic bench/<i>) and SUBS subscribers on bench/#; each
 *                 publisher keeps at most WINDOW messages not yet seen by every
 *                 subscriber (and, at QoS 1/2, not yet acknowledged) in flight.
 *                 Prints: msgs/s (deliveries per second), p50/p99 latency (publish call to
 *                 delivery, µs) and messages lost (expected deliveries never seen within
 *                 2 s of the last progress).
 *     MODE idle:  opens SUBS idle connections (plain sockets, CONNECT with keepalive
 *                 600 s), prints "ready", waits for EOF on stdin, closes them.
 * Output is one line of key=value pairs for the script to parse.
 */
#include <mosquitto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
    struct mosquitto *m;
    int idx;
    bool pub;
    bool connected, subscribed;
    uint64_t sent, acked;
};

static struct {
    int port, qos, npub, nsub, size, window;
    long msgs;
    uint64_t received;     /* deliveries */
    uint64_t *recv_by_pub; /* deliveries of each publisher's messages */
    uint32_t *lat_us;      /* one per delivery */
    size_t nlat, cap_lat;
    int connected, subscribed;
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
    (void)m, (void)arg;
    if (msg->payloadlen < 16) return;
    int64_t t0;
    uint32_t pub;
    memcpy(&t0, msg->payload, 8);
    memcpy(&pub, (const char *)msg->payload + 8, 4);
    g.received++;
    if (pub < (uint32_t)g.npub) g.recv_by_pub[pub]++;
    if (g.nlat < g.cap_lat) g.lat_us[g.nlat++] = (uint32_t)((now_ns() - t0) / 1000);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m, (void)mid;
    ((struct client *)arg)->acked++;
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

/* One poll round over every client. */
static void step(struct client **sets, const int *counts, int nsets, struct pollfd *pfd, int ms)
{
    int k = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < counts[s]; i++, k++) {
            struct mosquitto *m = sets[s][i].m;
            pfd[k].fd = mosquitto_socket(m);
            pfd[k].events = POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0);
            pfd[k].revents = 0;
        }
    poll(pfd, (nfds_t)k, ms);
    k = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < counts[s]; i++, k++) {
            struct mosquitto *m = sets[s][i].m;
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) mosquitto_loop_read(m, 1);
            if (pfd[k].revents & POLLOUT) mosquitto_loop_write(m, 1);
            mosquitto_loop_misc(m);
        }
}

/* Publishes what publisher c's window allows. */
static void feed(struct client *c, uint8_t *payload)
{
    uint64_t seen = g.nsub ? g.recv_by_pub[c->idx] / (uint64_t)g.nsub : c->sent;
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
        step(sets, counts, nsets, pfd, 10);
    if (*what < want) {
        fprintf(stderr, "timed out: %d of %d\n", *what, want);
        exit(1);
    }
}

static void run_flow(void)
{
    struct client *subs = open_clients(g.nsub, false, 0);
    struct client *pubs = open_clients(g.npub, true, 0);
    struct client *sets[2] = {subs, pubs};
    int counts[2] = {g.nsub, g.npub};
    struct pollfd *pfd = calloc((size_t)(g.nsub + g.npub), sizeof *pfd);
    wait_until(sets, counts, 2, pfd, &g.connected, g.nsub + g.npub);
    wait_until(sets, counts, 2, pfd, &g.subscribed, g.nsub);
    uint64_t expected = (uint64_t)g.msgs * (uint64_t)g.npub * (uint64_t)g.nsub;
    g.cap_lat = expected;
    g.lat_us = malloc(expected * sizeof *g.lat_us);
    uint8_t *payload = calloc(1, (size_t)g.size);
    int64_t t0 = now_ns(), last_progress = t0;
    uint64_t last_received = 0;
    while (g.received < expected && now_ns() - last_progress < 2000000000LL) {
        for (int i = 0; i < g.npub; i++)
            feed(&pubs[i], payload);
        step(sets, counts, 2, pfd, 1);
        if (g.received != last_received) {
            last_received = g.received;
            last_progress = now_ns();
        }
    }
    int64_t t1 = g.received < expected ? last_progress : now_ns();
    double secs = (double)(t1 - t0) / 1e9;
    qsort(g.lat_us, g.nlat, sizeof *g.lat_us, cmp_u32);
    uint32_t p50 = g.nlat ? g.lat_us[g.nlat / 2] : 0;
    uint32_t p99 = g.nlat ? g.lat_us[g.nlat * 99 / 100] : 0;
    printf("msgs_per_s=%.0f p50_us=%u p99_us=%u lost=%llu delivered=%llu seconds=%.2f\n",
           (double)g.received / secs, p50, p99, (unsigned long long)(expected - g.received),
           (unsigned long long)g.received, secs);
    fflush(stdout);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s]; i++) {
            mosquitto_disconnect(sets[s][i].m);
            mosquitto_destroy(sets[s][i].m);
        }
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
    int o;
    while ((o = getopt(argc, argv, "p:m:q:n:P:S:s:w:")) != -1) {
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
        default:
            fprintf(stderr, "usage: see bench/mqtt.c\n");
            return 2;
        }
    }
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
