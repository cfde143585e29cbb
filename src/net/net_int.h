/*
 * net_int.h — private structures shared by net.c (listeners, limits, shutdown) and
 * conn.c (one connection's life: reads, write queue, timers, close).
 */
#ifndef OB_NET_NET_INT_H
#define OB_NET_NET_INT_H

#include "net/transport.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#define OB_NET_READ_BUFFER (64u * 1024)
#define OB_NET_MAX_IOV     1024 /* slices in one ob_conn_write, and in one batch */
#define OB_NET_LINGER_MS   5000
/* Idle timeouts and linger share one timer per net (wheel.c): deadlines are rounded up
 * to a tick, so a connection is never closed early and at most one tick late. */
#define OB_NET_TICK_MS     100u
#define OB_NET_WHEEL_SLOTS 512u /* ticks in one turn of the wheel */

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

/* A node of a circular doubly-linked list (the wheel's buckets have a sentinel each). */
struct tlink {
    struct tlink *prev, *next;
};

/* A peer address in the space it needs (a sockaddr_storage is 128 bytes). */
union peer_addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/*
 * One connection. Every idle connection carries this struct and its transport state
 * (allocated with it, right after it), so it is kept small: the net and the transport
 * are reached through the listener, the timer is a link into the net's wheel, the peer
 * name is formatted when asked for.
 */
struct ob_conn {
    struct listener *l;
    void *data;
    uint64_t id;
    struct ob_conn *prev, *next; /* the net's list of live connections */
    struct ipcount *ip;
    struct tlink timer; /* in a wheel bucket while a deadline is set (wheel.c) */
    uint32_t due, at;   /* deadline and the tick whose bucket holds c, in ticks */
    uint32_t idle_ms;   /* 0: none */
    int status;         /* for on_close */
    struct chunk *pending, **pending_tail; /* queued, not yet handed to the transport */
    struct chunk *inflight;                /* the batch being written */
    size_t queued;                         /* bytes in pending + inflight */
    struct ob_conn *dprev, *dnext;         /* the net's list of conns with output to flush */
    union peer_addr peer;
    bool tp_open; /* the transport state is initialized and must be closed */
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
    size_t alive;    /* listeners + connections not yet freed */
    void *tp_shared; /* the transport's per-net state (tcp.c: the epoll set) */
    /* The timer wheel (wheel.c): bucket t % OB_NET_WHEEL_SLOTS holds the connections
     * to look at in tick t; ticks count from epoch_ms (loop time). */
    uv_timer_t *ticker; /* heap, like the flusher */
    uint64_t epoch_ms;
    uint32_t tick; /* the next tick to process */
    size_t timed;  /* connections in the wheel */
    struct tlink wheel[OB_NET_WHEEL_SLOTS];
    /* ob_conn_peer_name formats into these in turn (loop thread only). */
    char peer_names[4][64];
    unsigned next_peer_name;
    void (*done)(void *arg);
    void *done_arg;
    uint8_t readbuf[OB_NET_READ_BUFFER];
};

/* conn.c */
void conn_accept(struct listener *l);
/* c's deadline passed: an idle timeout, or the end of the linger while closing. */
void conn_expired(struct ob_conn *c);
/* wheel.c */
void wheel_init(struct ob_net *net);
/* Sets c's one deadline to ms from now (replacing any), or clears it (ms 0). */
void wheel_set(struct ob_conn *c, uint64_t ms);
void wheel_free(struct ob_net *net);
/* net.c */
void net_conn_unlink(struct ob_net *net, struct ob_conn *c);
void net_release_listener(struct listener *l);
void net_check_done(struct ob_net *net);
/* Counts c against the limits; false (and a log line) if it must be refused. */
bool net_admit(struct ob_net *net, struct ob_conn *c);

#endif
