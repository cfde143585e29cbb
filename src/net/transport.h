/*
 * transport.h — the connection-type table (Redis' ConnectionType): how bytes move on a
 * connection. The connection code calls only these operations; a transport reports
 * back through the ob_conn__* functions below. Plain TCP is tcp.c; TLS will be another
 * table wrapping it, chosen per listener.
 */
#ifndef OB_NET_TRANSPORT_H
#define OB_NET_TRANSPORT_H

#include "net/net.h"

#include <sys/socket.h>

struct ob_transport {
    const char *name;
    /* Bytes of per-connection state, allocated with the connection (one allocation
     * per connection: an idle one costs one malloc header, not two). */
    size_t state_size;
    /* Accepts the pending connection on the listening uv_stream_t into c, initializing
     * the state (ob_conn__tp_state) even when it fails: close is called either way. */
    int (*accept)(struct ob_conn *c, void *listen_stream);
    int (*read_start)(struct ob_conn *c);
    int (*read_stop)(struct ob_conn *c);
    /* Writes one batch (the connection keeps at most one in flight) and calls
     * ob_conn__written once. The slices stay valid until then. */
    int (*write)(struct ob_conn *c, const struct ob_slice *bufs, size_t n);
    /* Closes the transport state, then calls ob_conn__closed (which frees it). */
    void (*close)(struct ob_conn *c);
    int (*peer)(struct ob_conn *c, struct sockaddr_storage *out);
    /* Frees the per-net state kept in *ob_conn__tp_shared (ob_net_free). */
    void (*free_shared)(void *shared);
};

/* Transport -> connection. */
void ob_conn__read(struct ob_conn *c, const uint8_t *p, size_t n);
void ob_conn__eof(struct ob_conn *c, int status); /* 0: orderly EOF */
void ob_conn__written(struct ob_conn *c, int status);
void ob_conn__closed(struct ob_conn *c);
/* The loop-wide read buffer a transport reads into. */
void ob_conn__read_buffer(struct ob_conn *c, uint8_t **p, size_t *n);
void *ob_conn__loop(struct ob_conn *c);
/* A slot in the net for the transport's per-net state (NULL until it sets it). */
void **ob_conn__tp_shared(struct ob_conn *c);
/* The transport's state_size bytes (zeroed at accept). */
void *ob_conn__tp_state(struct ob_conn *c);

#endif
