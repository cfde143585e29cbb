/*
 * broker.h — internals shared by the MQTT broker's files (not for other modules).
 *
 * Three objects:
 *   struct ob_mqtt_broker  one per bus: the client-id registry, the broker's streams
 *                          ("mqtt_msgs", "mqtt_retained", "mqtt_sessions"), statistics,
 *                          one 1 s tick for session expiry, delayed wills and $SYS.
 *   struct msess           MQTT "session state": subscriptions, QoS 1/2 in flight both
 *                          ways; outlives connections when persistent.
 *   struct ob_mqtt_conn    one network connection: decoder, keepalive, topic aliases,
 *                          the ordered queue of publisher acks, the will.
 *
 * Durability (docs/mapping/mqtt.md): QoS 1/2 subscriptions of persistent sessions and
 * every shared subscription are durable consumers on "mqtt_msgs" (a stream capturing
 * ">" with interest retention, so only messages some consumer wants are written);
 * session metadata is a record per client id in "mqtt_sessions" (compacted by key).
 *
 * Ownership: the broker owns sessions (registry) and sessions own their subscriptions
 * and in-flight entries; each entry holds one message reference. A connection is kept
 * alive by `busy` holds (callbacks in progress, publisher acks awaiting the store) and
 * freed when the transport is gone and the last hold is dropped.
 */
#ifndef OB_PROTO_MQTT_BROKER_H
#define OB_PROTO_MQTT_BROKER_H

#include "base/buf.h"
#include "base/map.h"
#include "core/auth.h"
#include "proto/mqtt/codec.h"
#include "proto/mqtt/session.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define MQTT_STREAM_MSGS     "mqtt_msgs"
#define MQTT_STREAM_RETAINED "mqtt_retained"
#define MQTT_STREAM_SESSIONS "mqtt_sessions"
/* Internal subjects hold '#', which no MQTT topic maps to, so MQTT clients can neither
 * subscribe to them nor receive them through a wildcard; they start with '$', so no
 * bus subscriber, stream or consumer on ">" sees them (system subjects, omnibus.h). */
#define MQTT_RETAINED_PREFIX  "$mqtt#.retained."
#define MQTT_SESSIONS_SUBJECT "$mqtt#.sessions"

/* Internal message headers (never forwarded as v5 user properties). */
#define MQTT_H_QOS    "mqtt-qos"
#define MQTT_H_RETAIN "mqtt-retain"
#define MQTT_H_ORIGIN "mqtt-origin"
#define MQTT_H_FORMAT "mqtt-payload-format"

struct msess;
struct ob_mqtt_conn;

struct ob_mqtt_broker {
    struct ob_bus *bus;
    struct ob_auth *const *auth;
    const struct ob_net_limits *limits;
    struct ob_mqtt_options opt; /* copied at creation (config mqtt.*) */
    uv_loop_t *loop;
    unsigned refs;
    struct ob_stream *msgs, *retained, *sessions;
    struct ob_map clients; /* client id -> struct msess */
    struct ob_buf scratch; /* encoding space shared by every connection (one loop thread;
                              each packet is copied out before it is written) */
    struct ob_map groups;  /* group key ("g" + hash of group and filter) -> struct group */
    /* Consumers to delete at the next tick. Deleting one inside an I/O callback could
     * free it while the bus still has it queued to run (a kick from a commit or an
     * unbind earlier in the same loop turn); from the timer phase, the bus's idle pass
     * sees it marked deleting before the close callback frees it. */
    char **doomed;
    size_t ndoomed, doomed_cap;
    uint32_t next_gen;
    /* Records written for claimed shared QoS 2 messages (qos.c): broker-wide, so a
     * record's completion never releases a newer claim, even of a session that ended
     * and started again under the same client id meanwhile. */
    uint64_t claims;
    uv_timer_t tick;
    int64_t start_ns;
    int64_t last_sys_ns;
    unsigned nolocal_subs;
    unsigned depth; /* nesting of entry points (ob_mqtt_enter) */
    struct ob_mqtt_conn *deferred;
    /* connections closed inside an entry point */ /* while > 0, MQTT publishes carry
                                                      mqtt-origin */
    uint64_t next_auto_id;
    /* statistics for $SYS */
    uint64_t connected, msgs_in, msgs_out, bytes_in, bytes_out, dropped;
    struct ob_mqtt_broker *next_broker; /* the per-process list of brokers by bus */
};

/* A shared subscription group: one durable consumer per (group, filter). */
struct group {
    char key[24]; /* the map key points here */
    uint32_t gen; /* generation in the consumer's name */
    unsigned members;
};

/* One subscription of a session. */
struct msub {
    struct msub *next;
    struct msess *s;
    char *filter; /* as subscribed, "$share/g/f" included */
    char *inner;  /* the MQTT filter without the share prefix */
    char *group;  /* shared group name or NULL */
    uint8_t qos;
    bool no_local, rap;
    uint8_t rh;
    uint32_t subid;
    uint32_t gen;                /* consumer name generation: a recreated consumer is a new one */
    bool durable;                /* consumer-backed */
    struct ob_sub *sub[2];       /* direct: filter and "a/#"'s parent */
    struct ob_consumer *cons[2]; /* durable */
    struct ob_binding *bind[2];
};

/* An outbound QoS 1/2 message: queued (pid 0) or in flight. */
struct outmsg {
    struct outmsg *next;
    struct ob_msg *msg; /* NULL once PUBREC arrived (only PUBREL/PUBCOMP left) */
    struct ob_consumer *cons;
    uint64_t seq;
    uint32_t subid;
    uint8_t qos;
    bool retain, dup, shared;
    uint8_t state;      /* 0: PUBLISH sent, 1: PUBREL sent */
    uint64_t seq_order; /* send order, for resending in order */
    uint16_t pid;
    uint8_t key[2];    /* the inflight map key: pid big-endian */
    uint32_t chash;    /* consumer-backed: hash of the consumer's name (stable packet id) */
    bool kept;         /* state 1 recorded in the session record (survives a restart) */
    bool saving;       /* that record is being written: PUBREL waits for it */
    bool claimed;      /* shared QoS 2 of a persistent session: state 0 recorded (qos.c) */
    bool unsent;       /* claimed: the PUBLISH waits for that record */
    uint64_t claim_at; /* the broker's claim count when it was claimed */
};

/* A will waiting in a session (delay) or on a connection. */
struct will {
    struct ob_msg *msg;
    uint8_t qos;
    bool retain;
    uint32_t delay_s;
    int64_t due_ns;      /* monotonic: what the tick compares */
    int64_t due_wall_ns; /* the same instant on the wall clock: what is persisted */
};

/* A session's outbound QoS 1/2 window and queue (qos.c), allocated by the first QoS 1/2
 * delivery and freed once both are empty again: most sessions are idle most of the
 * time, and a map of packet ids keeps its slots after use. */
struct window {
    struct ob_map inflight; /* pid key -> struct outmsg */
    size_t ninflight;
    struct outmsg *qhead, **qtail;
    size_t nqueued;
    uint64_t order;
    uint16_t next_pid;
};

struct msess {
    struct ob_mqtt_broker *b;
    struct ob_mqtt_conn *conn; /* NULL while offline */
    struct msub *subs;
    struct window *win; /* NULL while nothing is queued or in flight */
    struct will *will;  /* delayed will of the last connection */
    int64_t expires_ns; /* offline: when the session ends; 0 none */
    uint16_t *q2in;     /* inbound QoS 2 packet ids awaiting PUBREL */
    size_t nq2in, q2in_cap;
    uint32_t expiry; /* session expiry interval, s; UINT32_MAX never */
    uint8_t version;
    bool saved; /* a record exists in mqtt_sessions */
    char id[];  /* the client id, in the same allocation */
};

/* A publisher ack (PUBACK/PUBREC) or SUBACK waiting for the store, in packet order. */
struct pend {
    struct pend *next;
    struct ob_mqtt_conn *c;
    uint8_t type;
    uint16_t pid;
    uint8_t reason;
    int waits;            /* publish callbacks outstanding */
    struct ob_buf body;   /* SUBACK: encoded packet; retained deliveries follow */
    struct msub **resend; /* SUBACK: subscriptions to send retained messages for */
    size_t nresend;
};

enum conn_state { C_NEW, C_AUTH, C_LIVE, C_DEAD };

/* v5 topic aliases, both ways (allocated at the first one either way). */
struct aliases {
    struct ob_map out; /* ours: topic -> alias number (as uintptr_t) */
    char **out_keys;
    uint16_t nout;
    char *in[]; /* the client's, opt.alias_max + 1 entries: alias number -> topic */
};

/*
 * Every idle connection carries one of these, so what only some connections use
 * (topic aliases, bytes stashed during authentication, the decoder's arrays) hangs off
 * a pointer allocated on first use, and the fields are ordered to pack.
 */
struct ob_mqtt_conn {
    struct ob_mqtt_broker *b;
    const struct ob_mqtt_out *out;
    void *ctx;
    struct msess *s;
    struct ob_principal *who;
    struct ob_mqtt_conn *next_deferred;
    /* The client id: until the session is attached an own copy, then the session's
     * (s->id), and an own copy again once detached. */
    char *cid;
    bool cid_owned;
    bool gone;    /* transport closed: out must not be used */
    bool closing; /* we asked the transport to close */
    bool clean_disconnect;
    bool paused;
    uint8_t state; /* enum conn_state */
    uint8_t version;
    /* from CONNECT */
    bool cid_assigned;
    bool clean_start;
    bool has_credentials;
    bool problem_info;
    uint16_t server_keepalive; /* v5: sent in CONNACK when nonzero */
    uint16_t keepalive;
    uint16_t recv_max;
    uint16_t alias_max;
    uint32_t expiry;
    uint32_t max_packet;
    uint32_t idle_ms; /* 1.5 x keepalive; the tick enforces it for transports
                         without an idle timeout (WebSocket) */
    unsigned busy;
    uint32_t npend; /* acks queued in phead */
    int64_t last_rx_ns;
    struct will *will;
    struct ob_buf *stash; /* bytes that arrived after CONNECT while authenticating */
    struct aliases *alias;
    /* ordered acks */
    struct pend *phead, **ptail;
    struct ob_mqtt_decoder dec;
};

/* ---- broker.c -------------------------------------------------------------------- */
struct msess *ob_mqtt_sess_find(struct ob_mqtt_broker *b, struct ob_slice id);
struct msess *ob_mqtt_sess_create(struct ob_mqtt_broker *b, struct ob_slice id);
/* Ends a session: subscriptions and consumers go, the record is deleted, a pending
 * will is published. */
void ob_mqtt_sess_destroy(struct msess *s);
/* Writes the session's record (persistent sessions); cb as for ob_publish (may be NULL). */
int ob_mqtt_sess_save(struct msess *s, ob_publish_cb cb, void *arg);
/* Called once a record written by ob_mqtt_sess_save_then is durable (status 0) or has
 * failed, between ob_mqtt_enter and ob_mqtt_leave. s is the session found again by id:
 * NULL if it ended meanwhile, and possibly a newer session of the same id, which the
 * caller's data must tell apart. data is the caller's copy (len bytes, max-aligned). */
typedef void (*ob_mqtt_saved_fn)(struct msess *s, const char *id, int status, const void *data);
/* Writes s's record, then calls done exactly once (at once if the write cannot start). */
void ob_mqtt_sess_save_then(struct msess *s, ob_mqtt_saved_fn done, const void *data, size_t len);
bool ob_mqtt_sess_persistent(const struct msess *s);
/* Makes "mqtt_msgs" capture a system subject filter ("$x.>") a durable sub needs. */
int ob_mqtt_msgs_capture(struct ob_mqtt_broker *b, const char *filter);
int ob_mqtt_publish_internal(struct ob_mqtt_broker *b, struct ob_msg *m, ob_publish_cb cb,
                             void *arg);

/* ---- conn.c ---------------------------------------------------------------------- */
/* Every entry point (bytes in, a delivery, a store completion, a timer) runs between
 * enter and leave. A connection whose transport closes meanwhile (a write into a slow
 * consumer closes it synchronously) is detached from its session only at the outermost
 * leave, so no session or subscription disappears under a caller's feet. */
void ob_mqtt_enter(struct ob_mqtt_broker *b);
void ob_mqtt_leave(struct ob_mqtt_broker *b);
void ob_mqtt_conn_hold(struct ob_mqtt_conn *c);
void ob_mqtt_conn_drop(struct ob_mqtt_conn *c);
/* Encodes and queues one packet. */
int ob_mqtt_send(struct ob_mqtt_conn *c, struct ob_mqtt_packet *pkt);
int ob_mqtt_send_raw(struct ob_mqtt_conn *c, const struct ob_buf *b);
/* v5: DISCONNECT with reason, then close; 3.1.1: close. */
void ob_mqtt_conn_fail(struct ob_mqtt_conn *c, uint8_t reason, const char *why);
void ob_mqtt_conn_kick(struct ob_mqtt_conn *c, uint8_t reason);
/* Closes without a DISCONNECT (after the peer's own, or in 3.1.1). */
void ob_mqtt_conn_close(struct ob_mqtt_conn *c, int status);
bool ob_mqtt_conn_usable(const struct ob_mqtt_conn *c);
/* Usable and past CONNECT/authentication: may be sent publishes and acks (c may be NULL). */
bool ob_mqtt_conn_live(const struct ob_mqtt_conn *c);
/* The connection's topic aliases, allocated on first use. */
struct aliases *ob_mqtt_conn_aliases(struct ob_mqtt_conn *c);
/* Authentication finished: process the bytes that arrived meanwhile. */
void ob_mqtt_conn_unstash(struct ob_mqtt_conn *c);

/* ---- connect.c ------------------------------------------------------------------- */
void ob_mqtt_handle_connect(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
void ob_mqtt_handle_disconnect(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
/* The connection ended: detaches from its session (will, expiry, direct subs). */
void ob_mqtt_conn_detach(struct ob_mqtt_conn *c);

/* ---- publish.c (inbound) --------------------------------------------------------- */
void ob_mqtt_handle_publish(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
void ob_mqtt_handle_pubrel(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
struct pend *ob_mqtt_pend_new(struct ob_mqtt_conn *c, uint8_t type, uint16_t pid);
void ob_mqtt_pend_flush(struct ob_mqtt_conn *c);
/* Drops the guard wait of a new pend: it leaves once its publishes are durable. */
void ob_mqtt_pend_ready(struct pend *p);
void ob_mqtt_pend_cb(void *arg, int status, const struct ob_pub_ack *ack);
/* Builds the bus message for an MQTT publish (headers from v5 properties). */
int ob_mqtt_build_msg(struct ob_mqtt_broker *b, const char *origin, struct ob_slice subject,
                      uint8_t qos, bool retain, const struct ob_mqtt_props *props,
                      struct ob_slice payload, struct ob_msg **out);

/* ---- qos.c (outbound) ------------------------------------------------------------ */
/* Delivers m to the session through sub (NULL: a retained/$SYS message with qos). */
void ob_mqtt_deliver(struct msess *s, struct msub *sub, struct ob_msg *m, struct ob_consumer *cons,
                     uint64_t seq, uint32_t count, bool retained);
void ob_mqtt_handle_ack(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
/* Sends what the window allows from the queue. */
void ob_mqtt_pump(struct msess *s);
/* On reconnect: resend in-flight PUBLISH (DUP) and PUBREL with their packet ids. */
void ob_mqtt_resend(struct msess *s);
/* On disconnect, before the consumers are unbound: drop queued deliveries and shared
 * QoS 1 in flight (the core redelivers them); hold shared QoS 2 in flight for this
 * session if it persists, else terminate them (MQTT-4.8.2-4/-5). */
void ob_mqtt_out_offline(struct msess *s);
/* The session ends: its shared QoS 2 messages in flight are terminated in the core,
 * never handed to another member (MQTT-4.8.2-5). */
void ob_mqtt_out_end(struct msess *s);
void ob_mqtt_out_free(struct msess *s);
/* A consumer is going away for this session (unsubscribe, session end): entries
 * referring to it forget it; shared QoS 2 ones in flight are terminated in it first. */
void ob_mqtt_out_forget(struct msess *s, struct ob_consumer *cons);
/* The session record's list of outbound QoS 2 messages released by PUBREC (PUBREL
 * pending): written by ob_mqtt_sess_save, restored at start (format in qos.c). */
void ob_mqtt_out_encode_released(const struct msess *s, struct ob_buf *b);
bool ob_mqtt_out_restore_released(struct msess *s, const uint8_t **p, const uint8_t *end);
/* The same for claimed shared QoS 2 messages (PUBLISH sent, PUBREC not yet). */
void ob_mqtt_out_encode_claimed(const struct msess *s, struct ob_buf *b);
bool ob_mqtt_out_restore_claimed(struct msess *s, const uint8_t **p, const uint8_t *end);
struct ob_slice ob_mqtt_header(const struct ob_msg *m, const char *name);

/* ---- subscribe.c ----------------------------------------------------------------- */
void ob_mqtt_handle_subscribe(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
void ob_mqtt_handle_unsubscribe(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt);
/* Makes a subscription live for its online session (direct subs, consumer binds). */
int ob_mqtt_sub_attach(struct msub *u);
/* Stops live delivery (direct subs removed, consumers unbound). */
void ob_mqtt_sub_detach(struct msub *u);
/* Creates the consumers of a durable subscription (idempotent). */
int ob_mqtt_sub_open(struct msub *u);
/* Removes a subscription for good: consumers deleted (or the group member dropped). */
void ob_mqtt_sub_free(struct msub *u, bool delete_state);
void ob_mqtt_send_retained(struct msess *s, struct msub *u);
/* Deletes the consumers queued by ob_mqtt_sub_free (from the broker's tick). */
void ob_mqtt_delete_doomed(struct ob_mqtt_broker *b);

/* ---- retain.c -------------------------------------------------------------------- */
int ob_mqtt_retain_open(struct ob_mqtt_broker *b);
/* Stores (or with an empty payload clears) the retained message for m's subject. */
int ob_mqtt_retain_store(struct ob_mqtt_broker *b, struct ob_msg *m, ob_publish_cb cb, void *arg);
/* Calls fn for each retained message whose topic matches the MQTT filter. */
void ob_mqtt_retain_each(struct ob_mqtt_broker *b, const char *filter,
                         void (*fn)(void *arg, struct ob_msg *m), void *arg);

/* ---- broker.c: $SYS ---------------------------------------------------------------- */
/* Calls fn with a message for each $SYS topic the MQTT filter matches (current values). */
void ob_mqtt_sys_each(struct ob_mqtt_broker *b, const char *filter,
                      void (*fn)(void *arg, struct ob_msg *m), void *arg);

/* ---- will.c ---------------------------------------------------------------------- */
struct will *ob_mqtt_will_new(struct ob_mqtt_broker *b, const char *origin,
                              const struct ob_mqtt_connect *cn, int *reason);
void ob_mqtt_will_publish(struct ob_mqtt_broker *b, struct will *w);
void ob_mqtt_will_free(struct will *w);
/* Sets when a delayed will is due (wall clock; a past instant means at the next tick). */
void ob_mqtt_will_arm(struct will *w, int64_t due_wall_ns);
/* The persisted form of a delayed will (format in will.c). decode advances *p; NULL if
 * the bytes are short or the message is invalid. */
void ob_mqtt_will_encode(struct ob_buf *b, const struct will *w);
struct will *ob_mqtt_will_decode(const uint8_t **p, const uint8_t *end);

#endif
