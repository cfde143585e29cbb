/*
 * broker.c — the MQTT broker of a bus: its streams, the client-id registry, persistent
 * session records, session expiry and delayed wills (one 1 s tick), and $SYS statistics.
 *
 * One broker per bus, shared by every MQTT listener of it (TCP now, WebSocket later),
 * so that a client id is unique across transports. Brokers are found through a short
 * per-process list keyed by bus: the network layer gives an adapter per-listener state
 * only, and the bus is the thing listeners share.
 *
 * A persistent session's record (stream "mqtt_sessions", compacted by key = client id)
 * holds what the core does not: the MQTT version, the session expiry interval and the
 * subscriptions with their options. Format (little-endian):
 *   u8 3 (format), u8 version, u32 expiry, u32 n, n x { u8 options, u32 subid,
 *   u32 consumer generation, u16 len, filter }, u16 m, m x u16 packet id,
 *   then tagged sections: [u8 1, delayed will (will.c)] [u8 2, released (qos.c)]
 *   [u8 3, claimed (qos.c)]
 * with options = qos | no_local<<2 | rap<<3 | rh<<4, and the packet ids those of inbound
 * QoS 2 messages published but not yet released (PUBREL): exactly once across a
 * restart, a resent PUBLISH with one of them is acknowledged, not published again.
 * The optional tail is the will waiting for its v5 will delay while the session is
 * offline (older records end before it): rewritten when it is set, published or
 * cancelled, re-armed at start with what is left of its delay. Section 2 lists the
 * outbound QoS 2 messages the client acknowledged with PUBREC (PUBREL pending), section
 * 3 the shared-subscription QoS 2 messages sent to it and not yet PUBREC'd, which no
 * other member may get (MQTT-4.8.2-4/-5); see qos.c for why they are recorded.
 * An empty payload deletes the session. The consumers named in subscribe.c hold the
 * queued messages and acks; at start-up, consumers no record refers to are deleted.
 */
#include "proto/mqtt/broker.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ob_mqtt_broker *brokers;
static struct ob_mqtt_options g_opt;
static bool g_opt_set;

void ob_mqtt_default_options(struct ob_mqtt_options *o)
{
    *o = (struct ob_mqtt_options){
        .max_inflight = 1000,
        .max_queued = 100000,
        .receive_maximum = 1024,
        .max_keepalive = 3600,
        .sys_interval_ms = 10000,
        .alias_max = 64,
        .max_packet = 0,
    };
}

void ob_mqtt_set_options(const struct ob_mqtt_options *o)
{
    g_opt_set = o != NULL;
    if (o) g_opt = *o;
}

/* ---- sessions ----------------------------------------------------------------------- */

struct msess *ob_mqtt_sess_find(struct ob_mqtt_broker *b, struct ob_slice id)
{
    return ob_map_get(&b->clients, id);
}

struct msess *ob_mqtt_sess_create(struct ob_mqtt_broker *b, struct ob_slice id)
{
    struct msess *s = ob_xcalloc(1, sizeof *s + id.n + 1);
    s->b = b;
    memcpy(s->id, id.p, id.n);
    ob_map_put(&b->clients, ob_slice_str(s->id), s);
    return s;
}

bool ob_mqtt_sess_persistent(const struct msess *s)
{
    return s->expiry > 0;
}

int ob_mqtt_publish_internal(struct ob_mqtt_broker *b, struct ob_msg *m, ob_publish_cb cb,
                             void *arg)
{
    int rc = ob_publish(b->bus, m, cb, arg);
    ob_msg_unref(m);
    return rc;
}

static int publish_record(struct msess *s, const struct ob_buf *body, ob_publish_cb cb, void *arg)
{
    struct ob_msg_init mi = {
        .subject = ob_slice_str(MQTT_SESSIONS_SUBJECT),
        .key = ob_slice_str(s->id),
        .payload = ob_slice_make(body->p, body->len),
    };
    struct ob_msg *m;
    int rc = ob_msg_new(&m, &mi);
    if (rc) return rc;
    return ob_mqtt_publish_internal(s->b, m, cb, arg);
}

int ob_mqtt_sess_save(struct msess *s, ob_publish_cb cb, void *arg)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_putc(&b, 3);
    ob_buf_putc(&b, s->version);
    ob_buf_put_u32le(&b, s->expiry);
    uint32_t n = 0;
    for (struct msub *u = s->subs; u; u = u->next)
        n++;
    ob_buf_put_u32le(&b, n);
    for (struct msub *u = s->subs; u; u = u->next) {
        ob_buf_putc(&b, (uint8_t)(u->qos | u->no_local << 2 | u->rap << 3 | u->rh << 4));
        ob_buf_put_u32le(&b, u->subid);
        ob_buf_put_u32le(&b, u->gen);
        size_t len = strlen(u->filter);
        ob_buf_put_u16le(&b, (uint16_t)len);
        ob_buf_append(&b, u->filter, len);
    }
    ob_buf_put_u16le(&b, (uint16_t)s->nq2in);
    for (size_t i = 0; i < s->nq2in; i++)
        ob_buf_put_u16le(&b, s->q2in[i]);
    if (s->will) {
        ob_buf_putc(&b, 1);
        ob_mqtt_will_encode(&b, s->will);
    }
    ob_buf_putc(&b, 2);
    ob_mqtt_out_encode_released(s, &b);
    ob_buf_putc(&b, 3);
    ob_mqtt_out_encode_claimed(s, &b);
    s->saved = true;
    int rc = publish_record(s, &b, cb, arg);
    ob_buf_release(&b);
    return rc;
}

/* A record write in flight for ob_mqtt_sess_save_then: the session is looked up again
 * by id when it completes, since it may have ended meanwhile. */
struct save_wait {
    struct ob_mqtt_broker *b;
    ob_mqtt_saved_fn done;
    char *id;
    max_align_t data[];
};

static void save_waited(void *arg, int status, const struct ob_pub_ack *ack)
{
    (void)ack;
    struct save_wait *w = arg;
    ob_mqtt_enter(w->b);
    w->done(ob_mqtt_sess_find(w->b, ob_slice_str(w->id)), w->id, status, w->data);
    ob_mqtt_leave(w->b);
    free(w->id);
    free(w);
}

void ob_mqtt_sess_save_then(struct msess *s, ob_mqtt_saved_fn done, const void *data, size_t len)
{
    struct save_wait *w = ob_xmalloc(sizeof *w + len);
    *w = (struct save_wait){s->b, done, ob_xstrdup(s->id)};
    if (len) memcpy(w->data, data, len);
    int rc = ob_mqtt_sess_save(s, save_waited, w);
    if (rc) save_waited(w, rc, NULL);
}

/* Frees a session's memory only (no bus calls: used when the bus may be gone). */
static void sess_free_memory(struct msess *s)
{
    struct msub *u, *next;
    for (u = s->subs; u; u = next) {
        next = u->next;
        free(u->filter);
        free(u->inner);
        free(u->group);
        free(u);
    }
    ob_mqtt_out_free(s);
    if (s->will) ob_mqtt_will_free(s->will);
    free(s->q2in);
    free(s);
}

void ob_mqtt_sess_destroy(struct msess *s)
{
    struct ob_mqtt_broker *b = s->b;
    ob_mqtt_out_end(s);
    while (s->subs) {
        struct msub *u = s->subs;
        s->subs = u->next;
        ob_mqtt_sub_free(u, true);
    }
    if (s->will) {
        ob_mqtt_will_publish(b, s->will);
        ob_mqtt_will_free(s->will);
        s->will = NULL;
    }
    if (s->saved) {
        struct ob_buf empty = OB_BUF_INIT;
        publish_record(s, &empty, NULL, NULL);
    }
    ob_map_del(&b->clients, ob_slice_str(s->id));
    sess_free_memory(s);
}

/* ---- loading persistent sessions ----------------------------------------------------- */

static bool load_sub(struct msess *s, const uint8_t **p, const uint8_t *end)
{
    if (end - *p < 11) return false;
    uint8_t o = (*p)[0];
    uint32_t subid = ob_get_u32le(*p + 1);
    uint32_t gen = ob_get_u32le(*p + 5);
    uint16_t len = ob_get_u16le(*p + 9);
    *p += 11;
    if (end - *p < len) return false;
    struct ob_slice f = ob_slice_make(*p, len), group, inner;
    *p += len;
    int sh = ob_mqtt_shared_split(f, &group, &inner);
    if (sh < 0) return false;
    struct msub *u = ob_xcalloc(1, sizeof *u);
    u->s = s;
    u->filter = ob_slice_dup(f);
    u->inner = ob_slice_dup(sh ? inner : f);
    u->group = sh ? ob_slice_dup(group) : NULL;
    u->qos = o & 3;
    u->no_local = o >> 2 & 1;
    u->rap = o >> 3 & 1;
    u->rh = o >> 4 & 3;
    u->subid = subid;
    u->gen = gen;
    u->durable = u->group || (u->qos > 0 && s->expiry > 0);
    if (u->no_local) s->b->nolocal_subs++;
    if (u->durable) ob_mqtt_sub_open(u);
    u->next = s->subs;
    s->subs = u;
    return true;
}

/* After the subscriptions: inbound QoS 2 packet ids, then the tagged sections. */
static void load_tail(struct msess *s, const uint8_t *p, const uint8_t *end)
{
    if (end - p < 2) return;
    uint16_t nq2 = ob_get_u16le(p);
    p += 2;
    if (end - p < 2 * (ptrdiff_t)nq2) return;
    if (nq2) {
        s->q2in = ob_xmalloc(nq2 * sizeof *s->q2in);
        s->q2in_cap = s->nq2in = nq2;
        for (uint16_t i = 0; i < nq2; i++)
            s->q2in[i] = ob_get_u16le(p + 2 * i);
    }
    p += 2 * (ptrdiff_t)nq2;
    while (end - p >= 1) {
        uint8_t tag = *p++;
        if (tag == 1 && !s->will) {
            s->will = ob_mqtt_will_decode(&p, end);
            if (!s->will) break;
        } else if (tag == 2) {
            if (!ob_mqtt_out_restore_released(s, &p, end)) break;
        } else if (tag != 3 || !ob_mqtt_out_restore_claimed(s, &p, end)) {
            break;
        }
    }
    if (p < end) OB_WARN("mqtt", "session record tail not understood", "client=%s", s->id);
}

static void load_record(struct ob_mqtt_broker *b, struct ob_msg *m)
{
    struct ob_slice key = ob_msg_key(m), body = ob_msg_payload(m);
    if (!key.n || body.n < 10 || body.p[0] != 3) return;
    struct msess *s = ob_mqtt_sess_find(b, key);
    if (s) return; /* compaction keeps the newest; the scan sees each key once */
    s = ob_mqtt_sess_create(b, key);
    s->saved = true;
    s->version = body.p[1];
    s->expiry = ob_get_u32le(body.p + 2);
    uint32_t n = ob_get_u32le(body.p + 6);
    const uint8_t *p = body.p + 10, *end = body.p + body.n;
    uint32_t i = 0;
    while (i < n && load_sub(s, &p, end))
        i++;
    if (i == n) load_tail(s, p, end);
    if (s->expiry != UINT32_MAX) s->expires_ns = ob_mono_ns() + (int64_t)s->expiry * OB_NS_PER_SEC;
}

static void load_sessions(struct ob_mqtt_broker *b)
{
    uint64_t seq = 1, found;
    size_t n = 0;
    /* Newest first would be ideal; compaction already leaves one record per key. */
    while (ob_stream_next_seq(b->sessions, seq, NULL, &found) == 0) {
        seq = found + 1;
        struct ob_msg *m;
        if (ob_stream_get(b->sessions, found, &m)) continue;
        if (ob_msg_payload(m).n) {
            load_record(b, m);
            n++;
        }
        ob_msg_unref(m);
    }
    if (n) OB_INFO("mqtt", "persistent sessions loaded", "sessions=%zu", n);
}

struct gc {
    struct ob_map keep;
    char **drop;
    size_t ndrop, cap;
};

static int gc_visit(void *arg, struct ob_consumer *c)
{
    struct gc *g = arg;
    if (ob_map_get(&g->keep, ob_slice_str(ob_consumer_name(c)))) return 0;
    ob_grow((void **)&g->drop, &g->cap, g->ndrop + 1, sizeof *g->drop);
    g->drop[g->ndrop++] = ob_xstrdup(ob_consumer_name(c));
    return 0;
}

/* Deletes consumers no session refers to (a crash between creating one and writing the
 * record, clean members of a shared group, sessions that ended). */
static void gc_consumers(struct ob_mqtt_broker *b)
{
    struct gc g = {OB_MAP_INIT, NULL, 0, 0};
    size_t i = 0;
    void *v;
    while (ob_map_next(&b->clients, &i, NULL, &v))
        for (struct msub *u = ((struct msess *)v)->subs; u; u = u->next)
            for (int k = 0; k < 2; k++)
                if (u->cons[k]) ob_map_put(&g.keep, ob_slice_str(ob_consumer_name(u->cons[k])), u);
    ob_consumer_foreach(b->msgs, gc_visit, &g);
    for (i = 0; i < g.ndrop; i++) {
        ob_consumer_delete(b->msgs, g.drop[i]);
        free(g.drop[i]);
    }
    if (g.ndrop) OB_INFO("mqtt", "stale consumers deleted", "count=%zu", g.ndrop);
    free(g.drop);
    ob_map_release(&g.keep);
}

/* ---- streams ----------------------------------------------------------------------- */

static int open_stream(struct ob_mqtt_broker *b, const struct ob_stream_config *sc,
                       struct ob_stream **out)
{
    int rc = ob_stream_create(b->bus, sc, out);
    if (rc == OB_EEXIST) {
        *out = ob_stream_lookup(b->bus, sc->name);
        rc = *out ? 0 : OB_ENOENT;
    }
    if (rc)
        OB_ERROR("mqtt", "cannot open stream", "stream=%s error=\"%s\"", sc->name, ob_strerror(rc));
    return rc;
}

static int open_streams(struct ob_mqtt_broker *b)
{
    /* Every subject, interest retention: only what a durable MQTT subscription wants
     * is written, and it goes once all those consumers acked it. */
    const char *all[] = {">"};
    struct ob_stream_config msgs = {.name = MQTT_STREAM_MSGS,
                                    .subjects = all,
                                    .nsubjects = 1,
                                    .retention = OB_RETAIN_INTEREST,
                                    .fsync = OB_FSYNC_ALWAYS};
    const char *ss[] = {MQTT_SESSIONS_SUBJECT};
    struct ob_stream_config sess = {.name = MQTT_STREAM_SESSIONS,
                                    .subjects = ss,
                                    .nsubjects = 1,
                                    .compaction = OB_COMPACT_KEY,
                                    .fsync = OB_FSYNC_ALWAYS};
    int rc = open_stream(b, &msgs, &b->msgs);
    if (!rc) rc = open_stream(b, &sess, &b->sessions);
    if (!rc) rc = ob_mqtt_retain_open(b);
    return rc;
}

/* "mqtt_msgs" captures ">", which does not reach system subjects ('$' first, see
 * omnibus.h): a durable subscription to "$x/..." adds its filter to the stream's
 * subjects (kept in the stream's meta, so across restarts; never removed: with interest
 * retention a filter no consumer wants stores nothing). */
int ob_mqtt_msgs_capture(struct ob_mqtt_broker *b, const char *filter)
{
    if (!ob_subject_is_system(ob_slice_str(filter))) return 0;
    const struct ob_stream_config *cur = ob_stream_config(b->msgs);
    for (size_t i = 0; i < cur->nsubjects; i++)
        if (!strcmp(cur->subjects[i], filter)) return 0;
    struct ob_stream_config sc = *cur;
    const char **subjects = ob_xmalloc((cur->nsubjects + 1) * sizeof *subjects);
    memcpy(subjects, cur->subjects, cur->nsubjects * sizeof *subjects);
    subjects[cur->nsubjects] = filter;
    sc.subjects = subjects;
    sc.nsubjects = cur->nsubjects + 1;
    int rc = ob_stream_update(b->msgs, &sc);
    free(subjects);
    return rc;
}

/* ---- $SYS -------------------------------------------------------------------------- */

static void sys_values(struct ob_mqtt_broker *b, const char *topic[], char val[][32], size_t *n)
{
    static const char *const names[] = {
        "$SYS/broker/version",           "$SYS/broker/uptime",
        "$SYS/broker/clients/connected", "$SYS/broker/clients/total",
        "$SYS/broker/messages/received", "$SYS/broker/messages/sent",
        "$SYS/broker/messages/dropped",  "$SYS/broker/bytes/received",
        "$SYS/broker/bytes/sent",
    };
    unsigned long long v[] = {0,
                              (unsigned long long)((ob_mono_ns() - b->start_ns) / OB_NS_PER_SEC),
                              b->connected,
                              b->clients.count,
                              b->msgs_in,
                              b->msgs_out,
                              b->dropped,
                              b->bytes_in,
                              b->bytes_out};
    *n = sizeof names / sizeof *names;
    for (size_t i = 0; i < *n; i++) {
        topic[i] = names[i];
        if (i == 0)
            snprintf(val[i], 32, "omnibus %s", OB_VERSION_STRING);
        else if (i == 1)
            snprintf(val[i], 32, "%llu seconds", v[i]);
        else
            snprintf(val[i], 32, "%llu", v[i]);
    }
}

static struct ob_msg *sys_msg(const char *topic, const char *value)
{
    char subject[64];
    snprintf(subject, sizeof subject, "%s", topic);
    for (char *p = subject; *p; p++)
        if (*p == '/') *p = '.';
    struct ob_header h = {ob_slice_str(MQTT_H_QOS), ob_slice_str("0")};
    struct ob_msg_init mi = {.subject = ob_slice_str(subject),
                             .headers = &h,
                             .nheaders = 1,
                             .payload = ob_slice_str(value)};
    struct ob_msg *m = NULL;
    ob_msg_new(&m, &mi);
    return m;
}

void ob_mqtt_sys_each(struct ob_mqtt_broker *b, const char *filter,
                      void (*fn)(void *arg, struct ob_msg *m), void *arg)
{
    const char *topic[16];
    char val[16][32];
    size_t n;
    if (filter[0] != '$') return; /* wildcards never match $ topics (MQTT-4.7.2-1) */
    sys_values(b, topic, val, &n);
    for (size_t i = 0; i < n; i++) {
        if (!ob_mqtt_filter_matches(ob_slice_str(filter), ob_slice_str(topic[i]))) continue;
        struct ob_msg *m = sys_msg(topic[i], val[i]);
        if (!m) continue;
        fn(arg, m);
        ob_msg_unref(m);
    }
}

void ob_mqtt_broker_publish_sys(struct ob_mqtt_broker *b)
{
    const char *topic[16];
    char val[16][32];
    size_t n;
    sys_values(b, topic, val, &n);
    for (size_t i = 0; i < n; i++) {
        struct ob_msg *m = sys_msg(topic[i], val[i]);
        if (m) ob_mqtt_publish_internal(b, m, NULL, NULL);
    }
    b->last_sys_ns = ob_mono_ns();
}

/* ---- the tick ------------------------------------------------------------------------ */

/* Keepalive for transports that have no idle timeout of their own (WebSocket). */
static void check_keepalive(struct ob_mqtt_conn *c, int64_t now)
{
    if (c->out->set_idle_timeout || !c->idle_ms || c->state != C_LIVE) return;
    if (now - c->last_rx_ns > (int64_t)c->idle_ms * OB_NS_PER_MS)
        ob_mqtt_conn_kick(c, OB_MQTT_RC_KEEP_ALIVE_TIMEOUT);
}

/* Published first, then the record without it: a crash in between publishes it again
 * after the restart (at least once) rather than never. */
static void publish_delayed_will(struct msess *s)
{
    OB_DEBUG("mqtt", "delayed will published", "client=%s", s->id);
    ob_mqtt_will_publish(s->b, s->will);
    ob_mqtt_will_free(s->will);
    s->will = NULL;
    if (s->saved) ob_mqtt_sess_save(s, NULL, NULL);
}

static void expire_sessions(struct ob_mqtt_broker *b, int64_t now)
{
    struct msess **end = NULL;
    size_t n = 0, cap = 0, i = 0;
    void *v;
    while (ob_map_next(&b->clients, &i, NULL, &v)) {
        struct msess *s = v;
        if (s->conn) {
            check_keepalive(s->conn, now);
            continue;
        }
        if (s->will && now >= s->will->due_ns) publish_delayed_will(s);
        if (s->expires_ns && now >= s->expires_ns) {
            ob_grow((void **)&end, &cap, n + 1, sizeof *end);
            end[n++] = s;
        }
    }
    for (i = 0; i < n; i++) {
        OB_DEBUG("mqtt", "session expired", "client=%s", end[i]->id);
        ob_mqtt_sess_destroy(end[i]);
    }
    free(end);
}

static void on_tick(uv_timer_t *t)
{
    struct ob_mqtt_broker *b = t->data;
    int64_t now = ob_mono_ns();
    ob_mqtt_enter(b);
    ob_mqtt_delete_doomed(b); /* before expiring: what that dooms waits a tick */
    expire_sessions(b, now);
    if (b->opt.sys_interval_ms &&
        now - b->last_sys_ns >= (int64_t)b->opt.sys_interval_ms * OB_NS_PER_MS)
        ob_mqtt_broker_publish_sys(b);
    ob_mqtt_leave(b);
}

/* ---- the broker ------------------------------------------------------------------------ */

int ob_mqtt_broker_acquire(struct ob_mqtt_broker **out, const struct ob_proto_host *host)
{
    for (struct ob_mqtt_broker *b = brokers; b; b = b->next_broker)
        if (b->bus == host->bus) {
            b->refs++;
            *out = b;
            return 0;
        }
    struct ob_mqtt_broker *b = ob_xcalloc(1, sizeof *b);
    b->bus = host->bus;
    b->auth = host->auth;
    b->limits = host->limits;
    if (g_opt_set)
        b->opt = g_opt;
    else
        ob_mqtt_default_options(&b->opt);
    b->loop = ob_bus_uv_loop(host->bus);
    b->start_ns = ob_mono_ns();
    b->last_sys_ns = b->start_ns;
    b->next_auto_id = (uint64_t)ob_wall_ns();
    int rc = open_streams(b);
    if (rc) {
        free(b);
        return rc;
    }
    load_sessions(b);
    gc_consumers(b);
    uv_timer_init(b->loop, &b->tick);
    b->tick.data = b;
    uv_timer_start(&b->tick, on_tick, 1000, 1000);
    uv_unref((uv_handle_t *)&b->tick); /* never keeps a loop alive by itself */
    b->refs = 1;
    b->next_broker = brokers;
    brokers = b;
    *out = b;
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    free(h->data);
}

void ob_mqtt_broker_release(struct ob_mqtt_broker *b)
{
    if (!b || --b->refs) return;
    for (struct ob_mqtt_broker **pp = &brokers; *pp; pp = &(*pp)->next_broker)
        if (*pp == b) {
            *pp = b->next_broker;
            break;
        }
    size_t i = 0;
    void *v;
    while (ob_map_next(&b->clients, &i, NULL, &v))
        sess_free_memory(v);
    ob_map_release(&b->clients);
    i = 0;
    while (ob_map_next(&b->groups, &i, NULL, &v))
        free(v);
    ob_map_release(&b->groups);
    ob_buf_release(&b->scratch);
    for (i = 0; i < b->ndoomed; i++) /* left on disk: the next start collects them */
        free(b->doomed[i]);
    free(b->doomed);
    uv_close((uv_handle_t *)&b->tick, on_tick_closed);
}
