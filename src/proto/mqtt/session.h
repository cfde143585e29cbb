/*
 * session.h — the MQTT broker's public face inside omnibus: a broker per bus and one
 * connection object per client, driven by bytes in and a small output interface out.
 *
 * The connection is transport-agnostic on purpose: the TCP adapter (adapter.c) and a
 * WebSocket mount (/mqtt on the HTTP listener) are thin shims that feed
 * ob_mqtt_conn_input() and implement struct ob_mqtt_out.
 *
 * Ownership: the broker is reference-counted per bus (ob_mqtt_broker_acquire/release);
 * a connection belongs to its transport, which must call ob_mqtt_conn_closed() exactly
 * once (after which neither the connection nor the out/ctx pair is used again).
 * Threading: the bus loop thread only.
 */
#ifndef OB_PROTO_MQTT_SESSION_H
#define OB_PROTO_MQTT_SESSION_H

#include "net/net.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a transport offers a connection. Every callback gets the ctx given to
 * ob_mqtt_conn_new. close may call ob_mqtt_conn_closed before it returns. */
struct ob_mqtt_out {
    /* Queues bytes; release(arg) runs once they are written or dropped. 0 or OB_E*. */
    int (*write)(void *ctx, const struct ob_slice *iov, size_t n, ob_release_fn release, void *arg);
    /* Flushes queued output, then closes (status 0 or OB_E*). */
    void (*close)(void *ctx, int status);
    /* True while output is backed up (QoS 0 is then dropped, QoS 1/2 queued). */
    bool (*congested)(void *ctx);
    void (*pause)(void *ctx);
    void (*resume)(void *ctx);
    /* Closes the connection after ms of silence (0: never): keepalive x 1.5. */
    void (*set_idle_timeout)(void *ctx, uint64_t ms);
    /* The peer's address for the anonymous-on-loopback rule, or NULL. */
    const struct sockaddr *(*peer)(void *ctx);
    /* Optional: who the transport already authenticated (WebSocket: the upgrade
     * request); used for a CONNECT without user name and password. */
    const struct ob_principal *(*principal)(void *ctx);
};

struct ob_mqtt_broker;
struct ob_mqtt_conn;

/* The broker's limits (config keys mqtt.*, docs/configuration.md). */
struct ob_mqtt_options {
    uint32_t max_inflight;    /* unacked QoS 1/2 deliveries per client (1..65535) */
    uint32_t max_queued;      /* deliveries waiting for the window, per clean session */
    uint16_t receive_maximum; /* v5 Receive Maximum we announce; publisher acks awaiting
                                 the store before we pause reading */
    uint16_t max_keepalive;   /* s; v5 asking for more (or 0) gets Server Keep Alive */
    uint32_t sys_interval_ms; /* $SYS publishing period; 0: never */
    uint16_t alias_max;       /* topic aliases accepted from a client; 0: none */
    uint32_t max_packet;      /* bytes; 0: limits.max_frame_size */
};

/* Sets the options brokers created afterwards take (the server calls it before it
 * starts its listeners; NULL: the defaults). Process-wide, like the http layer's
 * options; a running broker keeps what it was created with. */
void ob_mqtt_set_options(const struct ob_mqtt_options *o);
void ob_mqtt_default_options(struct ob_mqtt_options *o);

/* The broker of host->bus (created on first use: declares its streams and reloads the
 * persistent sessions); one reference per call. */
int ob_mqtt_broker_acquire(struct ob_mqtt_broker **out, const struct ob_proto_host *host);
/* Drops a reference. The last one frees the broker's memory without touching the bus,
 * which may already be closed (the server closes the bus before its listeners). */
void ob_mqtt_broker_release(struct ob_mqtt_broker *b);
/* Publishes the $SYS statistics now (the broker also does so every sys_interval). */
void ob_mqtt_broker_publish_sys(struct ob_mqtt_broker *b);

struct ob_mqtt_conn *ob_mqtt_conn_new(struct ob_mqtt_broker *b, const struct ob_mqtt_out *out,
                                      void *ctx);
/* Bytes from the peer; valid only during the call. */
void ob_mqtt_conn_input(struct ob_mqtt_conn *c, const uint8_t *p, size_t n);
/* The transport's output drained: queued QoS 1/2 deliveries may go on. */
void ob_mqtt_conn_writable(struct ob_mqtt_conn *c);
/* The transport is gone (0: orderly, else OB_E*); the connection frees itself once
 * nothing refers to it any more. */
void ob_mqtt_conn_closed(struct ob_mqtt_conn *c, int status);

/* The "mqtt" adapter for the network layer. */
extern const struct ob_protocol ob_mqtt_protocol;
/* MQTT over WebSocket (ws.c): the http module mounting /mqtt on every http listener
 * started after it is registered (ob_http_register_module; the server does so). */
struct ob_http_module;
extern const struct ob_http_module ob_mqtt_ws_module;

#endif
