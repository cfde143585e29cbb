/*
 * net.h — listeners and connections on libuv, the layer every protocol adapter plugs
 * into. An adapter fills a struct ob_protocol (callbacks for accept, data, writable,
 * close); the server binds each configured listener to the adapter of the same name.
 *
 * Connections run over a transport (struct ob_transport): plain TCP today, TLS later,
 * chosen per listener as a table of operations (Redis' connection types) so that no
 * code outside the transport asks "is this TLS?".
 *
 * Output is queued without copying: ob_conn_write takes byte ranges plus a release
 * callback that runs once the kernel has the bytes (or the connection died), so a
 * message shared by a thousand subscribers is referenced, never copied. Output queued
 * during a loop turn is written once, just before the loop polls again (one writev per
 * connection per turn, however many messages it got).
 *
 * Limits (struct ob_net_limits): total and per-IP connection counts (a connection over
 * either is accepted and closed at once), a per-connection write buffer (above it the
 * connection is "congested": reading pauses, so a peer cannot make us queue output
 * without bound, and on_writable fires once the queue drains below half; a queue
 * beyond twice the buffer plus one max frame closes the connection as a slow
 * consumer), and an idle timeout reset by every read.
 *
 * Threading: everything runs on the loop thread of the uv_loop_t given to ob_net_new.
 * Ownership: the net owns listeners and connections; a protocol owns what it hangs on
 * a connection (ob_conn_set_data) and frees it in on_close, after which the connection
 * pointer must not be used.
 */
#ifndef OB_NET_NET_H
#define OB_NET_NET_H

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct ob_net;
struct ob_conn;
struct ob_auth;

struct ob_net_limits {
    uint64_t max_connections;        /* 0: unlimited */
    uint64_t max_connections_per_ip; /* 0: unlimited */
    uint64_t write_buffer;           /* bytes queued before back-pressure; 0: 1 MiB */
    uint64_t max_frame_size;         /* for protocols; also sizes the slow-consumer cap */
    uint64_t max_msg_size;           /* for protocols */
    uint64_t idle_timeout_ms;        /* 0: none */
};

/* What an adapter is given for each listener: the bus, the authenticator in force
 * (read *auth at each use: a reload swaps it) and the limits (also updated in place on
 * reload). All borrowed from the server for the listener's lifetime. */
struct ob_proto_host {
    struct ob_bus *bus;
    struct ob_auth *const *auth;
    const struct ob_net_limits *limits;
};

struct ob_protocol {
    const char *name; /* matches listeners.<name> in the config */
    /* Optional: per-listener adapter state, reachable with ob_conn_proto_state. */
    int (*listener_init)(void **state, const struct ob_proto_host *host);
    void (*listener_free)(void *state);
    /* A connection arrived; return nonzero to refuse (it is closed at once, without
     * on_close: free what was hung on it before returning). */
    int (*on_accept)(struct ob_conn *c);
    /* Bytes read; valid only during the call (parsers copy what they keep). */
    void (*on_data)(struct ob_conn *c, const uint8_t *p, size_t n);
    /* Optional: a congested connection's output drained below half the buffer. */
    void (*on_writable)(struct ob_conn *c);
    /* The connection is going away (status 0 for an orderly close or EOF, else an
     * OB_E* code); last callback for c. Queued releases may still run after it. */
    void (*on_close)(struct ob_conn *c, int status);
};

/* Transports (struct ob_transport, see transport.h): plain TCP today; a TLS transport
 * will wrap it behind the same operations. */
struct ob_transport;
extern const struct ob_transport ob_transport_tcp;

/* The built-in line echo protocol ("echo"): each line comes back; "quit" says "bye" and
 * closes gracefully. A diagnostic for the network layer and its tests. */
extern const struct ob_protocol ob_echo_protocol;

int ob_net_new(struct ob_net **out, void *uv_loop, const struct ob_net_limits *limits);
/* Replaces the limits (on reload). The write buffer applies to every connection at
 * once; the idle timeout and the connection counts to connections accepted after. */
void ob_net_set_limits(struct ob_net *net, const struct ob_net_limits *limits);
const struct ob_net_limits *ob_net_limits(const struct ob_net *net);

/* Starts a listener name on ip:port (port 0: any; IPv6 without brackets) for proto.
 * On failure writes "listener NAME: IP:PORT: reason" to err and returns OB_EADDRINUSE,
 * OB_EINVAL or OB_EIO. */
int ob_net_listen(struct ob_net *net, const char *name, const struct ob_protocol *proto,
                  const struct ob_proto_host *host, const char *ip, uint16_t port, char *err,
                  size_t errlen);
/* The bound port of listener name (useful with port 0), or 0. */
uint16_t ob_net_listener_port(const struct ob_net *net, const char *name);
size_t ob_net_connection_count(const struct ob_net *net);

/* Stops accepting, closes every connection gracefully (queued output is flushed for up
 * to linger_ms, then they are aborted), and calls done once every handle is closed.
 * The loop must keep running until then; ob_net_free after. */
void ob_net_shutdown(struct ob_net *net, uint32_t linger_ms, void (*done)(void *arg), void *arg);
/* Frees the net. It closes the net's own loop handle: run the loop once more (e.g.
 * UV_RUN_NOWAIT) before uv_loop_close. */
void ob_net_free(struct ob_net *net);

/* ---- connections ---------------------------------------------------------------- */
typedef void (*ob_release_fn)(void *arg);

/* Queues n byte ranges; release(arg) runs once they are written or dropped (also on
 * error, before this returns). 0, OB_ECLOSED if closing, OB_ELIMIT if this write made
 * the connection a slow consumer (it is then being closed). */
int ob_conn_write(struct ob_conn *c, const struct ob_slice *iov, size_t n, ob_release_fn release,
                  void *arg);
/* Queues a copy of p[0..n): for small protocol frames. */
int ob_conn_write_copy(struct ob_conn *c, const void *p, size_t n);
/* Release function for ob_conn_write that drops one message reference, so a payload
 * can be queued straight from the message: ob_conn_write(c, iov, n, ob_conn_release_msg,
 * ob_msg_ref(m)). */
void ob_conn_release_msg(void *msg);

bool ob_conn_congested(const struct ob_conn *c);
size_t ob_conn_queued_bytes(const struct ob_conn *c);
/* The protocol's own read pause (e.g. while waiting on durable acks); independent of
 * the congestion pause: reading resumes when neither holds. */
void ob_conn_pause(struct ob_conn *c);
void ob_conn_resume(struct ob_conn *c);
/* Overrides the idle timeout for this connection (0: none), e.g. from a keepalive. */
void ob_conn_set_idle_timeout(struct ob_conn *c, uint64_t ms);
/* Graceful close: stop reading, flush queued output (bounded by the linger time), close.
 * status is passed to on_close. Safe to call more than once and from callbacks. */
void ob_conn_close(struct ob_conn *c, int status);
/* Immediate close: queued output is dropped (released). */
void ob_conn_abort(struct ob_conn *c, int status);

void *ob_conn_data(const struct ob_conn *c);
void ob_conn_set_data(struct ob_conn *c, void *data);
void *ob_conn_proto_state(const struct ob_conn *c);
const struct ob_proto_host *ob_conn_host(const struct ob_conn *c);
const struct sockaddr *ob_conn_peer(const struct ob_conn *c);
/* "ip:port" or "[ip6]:port", formatted on demand into one of four buffers of the net:
 * valid until the fourth call after this one (enough for a log line). */
const char *ob_conn_peer_name(const struct ob_conn *c);
const char *ob_conn_listener_name(const struct ob_conn *c);
uint64_t ob_conn_id(const struct ob_conn *c);

#endif
