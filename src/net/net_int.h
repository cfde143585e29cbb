/*
 * net_int.h — private structures shared by net.c (listeners, limits, shutdown) and
 * conn.c (one connection's life: reads, write queue, timers, close).
 */
#ifndef OB_NET_NET_INT_H
#define OB_NET_NET_INT_H

#include "net/transport.h"

#include <sys/socket.h>
#include <uv.h>

#define OB_NET_READ_BUFFER (64u * 1024)
#define OB_NET_MAX_IOV     1024 /* slices in one ob_conn_write, and in one batch */
#define OB_NET_LINGER_MS   5000

struct listener {
    struct listener *next;
    struct ob_net *net;
    char *name;
    const struct ob_protocol *proto;
    const struct ob_transport *tp;
    struct ob_proto_host host;
    void *state;
    uv_tcp_t handle;
    uint16_t port;
    size_t refs; /* 1 while listening + one per connection */
};

/* Connections per source address, for max_connections_per_ip. */
struct ipcount {
    struct ipcount *next;
    uint8_t key[17]; /* family byte + address */
    size_t bucket;
    uint64_t n;
};

/* One ob_conn_write: its slices and its release callback. */
struct chunk {
    struct chunk *next;
    size_t bytes;
    ob_release_fn release;
    void *arg;
    size_t n;
    struct ob_slice iov[];
};

struct ob_conn {
    struct ob_net *net;
    struct listener *l;
    const struct ob_transport *tp;
    void *tp_state;
    void *data;
    uint64_t id;
    struct ob_conn *prev, *next; /* the net's list of live connections */
    struct ipcount *ip;
    struct sockaddr_storage peer;
    char peer_name[64];
    uv_timer_t timer; /* idle timeout, then linger while closing */
    uint64_t idle_ms;
    struct chunk *pending, **pending_tail; /* queued, not yet handed to the transport */
    struct chunk *inflight;                /* the batch being written */
    size_t queued;                         /* bytes in pending + inflight */
    int status;                            /* for on_close */
    int handles;                           /* transport + timer, until both have closed */
    struct ob_conn *dprev, *dnext;         /* the net's list of conns with output to flush */
    bool linked, accepted, reading, writing, congested, paused, closing, dead, dirty;
};

struct ob_net {
    uv_loop_t *loop;
    struct ob_net_limits limits;
    struct listener *listeners;
    struct ob_conn *conns;
    size_t nconns;
    uint64_t next_id;
    struct ipcount *ips[256];
    uint32_t linger_ms;
    bool shutting_down;
    /* Output is flushed once per loop turn, just before the loop polls (Redis'
     * beforeSleep): every message queued to a connection during the turn leaves in one
     * writev, so a fan-out of many messages costs one system call per subscriber. */
    uv_prepare_t *flusher; /* heap: it may outlive the net until its close callback */
    struct ob_conn *dirty;
    bool flusher_on;
    size_t alive; /* listeners + connections not yet freed */
    void (*done)(void *arg);
    void *done_arg;
    uint8_t readbuf[OB_NET_READ_BUFFER];
};

/* conn.c */
void conn_accept(struct listener *l);
/* net.c */
void net_conn_unlink(struct ob_net *net, struct ob_conn *c);
void net_release_listener(struct listener *l);
void net_check_done(struct ob_net *net);
/* Counts c against the limits; false (and a log line) if it must be refused. */
bool net_admit(struct ob_net *net, struct ob_conn *c);

#endif
