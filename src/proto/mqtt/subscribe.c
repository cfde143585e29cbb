/*
 * subscribe.c — SUBSCRIBE / UNSUBSCRIBE and what a subscription is in the core.
 *
 *   clean session, QoS 0 anywhere   a direct ob_subscribe (nothing to keep)
 *   persistent session, QoS 1/2     a durable consumer on "mqtt_msgs" named after the
 *                                   client id and filter ("s" + hash); the session's
 *                                   record lists the subscription, so both survive a
 *                                   restart and the consumer queues while offline
 *   shared "$share/g/f"             one durable consumer per (group, filter) ("g" +
 *                                   hash), each member a binding on it: messages go
 *                                   round-robin, and a member leaving hands its unacked
 *                                   ones to the others (ob_consumer_unbind)
 * An MQTT filter "a/#" also matches "a": such subscriptions get a second direct sub or
 * consumer for the parent subject (docs/mapping/mqtt.md).
 */
#include "proto/mqtt/broker.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "proto/mqtt/map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_direct(void *arg, const struct ob_delivery *d)
{
    struct msub *u = arg;
    struct ob_mqtt_broker *b = u->s->b;
    ob_mqtt_enter(b);
    ob_mqtt_deliver(u->s, u, d->msg, NULL, 0, 1, false);
    ob_mqtt_leave(b);
}

static void on_consumer(void *arg, const struct ob_delivery *d)
{
    struct msub *u = arg;
    struct ob_mqtt_broker *b = u->s->b;
    ob_mqtt_enter(b);
    ob_mqtt_deliver(u->s, u, d->msg, d->consumer, d->seq, d->delivery_count, false);
    ob_mqtt_leave(b);
}

/* The subject filter of u (part 1: the parent of "a/#"); false if there is none. */
static bool subject_of(const struct msub *u, int part, struct ob_buf *out)
{
    int rc = ob_mqtt_filter_to_subject(ob_slice_str(u->inner), out);
    if (rc < 0 || (part == 1 && rc != 1)) return false;
    if (part == 1) out->len -= 2; /* drop ".>" */
    ob_buf_putc(out, 0);
    return true;
}

/* "s"/"g" + hash of (client id or group, filter): the map key of a group. */
static void base_name(const struct msub *u, char out[24])
{
    struct ob_buf k = OB_BUF_INIT;
    const char *owner = u->group ? u->group : u->s->id;
    ob_buf_append(&k, owner, strlen(owner) + 1);
    ob_buf_append(&k, u->inner, strlen(u->inner));
    unsigned long long h = (unsigned long long)ob_hash_bytes(k.p, k.len);
    ob_buf_release(&k);
    snprintf(out, 24, "%s%016llx", u->group ? "g" : "s", h);
}

/* The consumer's name: base, generation, and "p" for the parent of "a/#". */
static void consumer_name(const struct msub *u, int part, char out[48])
{
    char base[24];
    base_name(u, base);
    snprintf(out, 48, "%s_%08x%s", base, (unsigned)u->gen, part ? "p" : "");
}

/* Generations start from the clock, so a restart does not reuse a recent one. */
static uint32_t new_gen(struct ob_mqtt_broker *b)
{
    if (!b->next_gen) b->next_gen = (uint32_t)(ob_wall_ns() / 1000);
    if (++b->next_gen == 0) b->next_gen = 1;
    return b->next_gen;
}

/* A shared subscription joins its group (whose generation it takes). */
static void join_group(struct msub *u)
{
    struct ob_mqtt_broker *b = u->s->b;
    char key[24];
    base_name(u, key);
    struct group *g = ob_map_get(&b->groups, ob_slice_str(key));
    if (!g) {
        g = ob_xcalloc(1, sizeof *g);
        memcpy(g->key, key, sizeof g->key);
        g->gen = u->gen ? u->gen : new_gen(b);
        ob_map_put(&b->groups, ob_slice_str(g->key), g);
    }
    g->members++;
    u->gen = g->gen;
}

static int open_part(struct msub *u, int part, const char *filter)
{
    struct ob_mqtt_broker *b = u->s->b;
    char name[48];
    consumer_name(u, part, name);
    struct ob_consumer *cons = ob_consumer_lookup(b->msgs, name);
    int rc = 0;
    if (!cons) {
        struct ob_consumer_config cc = {
            .name = name,
            .filter = filter,
            .deliver = OB_DELIVER_NEW,
            .ack = OB_ACK_EACH,
            .ack_wait_ms = UINT32_MAX, /* MQTT resends only on reconnect */
            .max_ack_pending = b->opt.max_inflight,
        };
        rc = ob_mqtt_msgs_capture(b, filter);
        if (!rc) rc = ob_consumer_create(b->msgs, &cc, &cons);
    }
    if (rc)
        OB_WARN("mqtt", "cannot create consumer", "name=%s error=\"%s\"", name, ob_strerror(rc));
    u->cons[part] = rc ? NULL : cons;
    return rc;
}

int ob_mqtt_sub_open(struct msub *u)
{
    if (u->group)
        join_group(u);
    else if (!u->gen)
        u->gen = new_gen(u->s->b);
    int rc = 0;
    for (int part = 0; part < 2 && !rc; part++) {
        struct ob_buf f = OB_BUF_INIT;
        if (subject_of(u, part, &f)) rc = open_part(u, part, (const char *)f.p);
        ob_buf_release(&f);
    }
    return rc;
}

int ob_mqtt_sub_attach(struct msub *u)
{
    struct ob_mqtt_broker *b = u->s->b;
    for (int part = 0; part < 2; part++) {
        if (u->durable) {
            if (u->cons[part] && !u->bind[part])
                ob_consumer_bind(u->cons[part], on_consumer, u, &u->bind[part]);
            continue;
        }
        struct ob_buf f = OB_BUF_INIT;
        if (!u->sub[part] && subject_of(u, part, &f))
            ob_subscribe(b->bus, (const char *)f.p, OB_SUB_SYNC, on_direct, u, &u->sub[part]);
        ob_buf_release(&f);
    }
    return 0;
}

void ob_mqtt_sub_detach(struct msub *u)
{
    for (int part = 0; part < 2; part++) {
        if (u->sub[part]) ob_unsubscribe(u->sub[part]);
        u->sub[part] = NULL;
        if (u->bind[part]) ob_consumer_unbind(u->bind[part]);
        u->bind[part] = NULL;
    }
}

static void delete_consumers(struct msub *u)
{
    struct ob_mqtt_broker *b = u->s->b;
    for (int part = 0; part < 2; part++) {
        if (!u->cons[part]) continue;
        ob_mqtt_out_forget(u->s, u->cons[part]);
        char name[48];
        consumer_name(u, part, name);
        ob_grow((void **)&b->doomed, &b->doomed_cap, b->ndoomed + 1, sizeof *b->doomed);
        b->doomed[b->ndoomed++] = ob_xstrdup(name);
        u->cons[part] = NULL;
    }
}

void ob_mqtt_delete_doomed(struct ob_mqtt_broker *b)
{
    for (size_t i = 0; i < b->ndoomed; i++) {
        ob_consumer_delete(b->msgs, b->doomed[i]);
        free(b->doomed[i]);
    }
    b->ndoomed = 0;
}

void ob_mqtt_sub_free(struct msub *u, bool delete_state)
{
    struct ob_mqtt_broker *b = u->s->b;
    /* Before the unbind: a member's QoS 2 messages in flight end with it (qos.c). */
    for (int part = 0; part < 2 && u->group; part++)
        if (u->cons[part]) ob_mqtt_out_forget(u->s, u->cons[part]);
    ob_mqtt_sub_detach(u);
    if (u->group) {
        char key[24];
        base_name(u, key);
        struct group *g = ob_map_get(&b->groups, ob_slice_str(key));
        if (g && --g->members == 0) {
            ob_map_del(&b->groups, ob_slice_str(key));
            free(g);
            delete_consumers(u); /* the last member: nobody is left to queue for */
        }
    } else if (u->durable && delete_state) {
        delete_consumers(u);
    }
    if (u->no_local) b->nolocal_subs--;
    free(u->filter);
    free(u->inner);
    free(u->group);
    free(u);
}

/* ---- retained messages on subscribe --------------------------------------------------- */

struct rctx {
    struct msess *s;
    struct msub *u;
};

static void send_one_retained(void *arg, struct ob_msg *m)
{
    struct rctx *r = arg;
    ob_mqtt_deliver(r->s, r->u, m, NULL, 0, 1, true);
}

void ob_mqtt_send_retained(struct msess *s, struct msub *u)
{
    struct rctx r = {s, u};
    ob_mqtt_retain_each(s->b, u->inner, send_one_retained, &r);
    ob_mqtt_sys_each(s->b, u->inner, send_one_retained, &r);
}

/* ---- SUBSCRIBE ------------------------------------------------------------------------ */

static struct msub *find_sub(struct msess *s, struct ob_slice filter, struct msub ***link)
{
    for (struct msub **pp = &s->subs; *pp; pp = &(*pp)->next)
        if (ob_slice_eq_str(filter, (*pp)->filter)) {
            if (link) *link = pp;
            return *pp;
        }
    return NULL;
}

static uint8_t refuse(const struct ob_mqtt_conn *c, uint8_t v5)
{
    return c->version == OB_MQTT_V5 ? v5 : 0x80;
}

/* Checks the filter and the ACL; 0 or a refusal reason code. */
static uint8_t check_filter(struct ob_mqtt_conn *c, const struct ob_mqtt_sub *x,
                            struct ob_slice *group, struct ob_slice *inner)
{
    int sh = ob_mqtt_shared_split(x->filter, group, inner);
    if (sh < 0) return refuse(c, OB_MQTT_RC_TOPIC_FILTER_INVALID);
    if (sh == 0) {
        *inner = x->filter;
        group->n = 0;
    }
    struct ob_buf f = OB_BUF_INIT;
    if (ob_mqtt_filter_to_subject(*inner, &f) < 0) {
        ob_buf_release(&f);
        return refuse(c, OB_MQTT_RC_TOPIC_FILTER_INVALID);
    }
    ob_buf_putc(&f, 0);
    int rc = ob_auth_authorize(*c->b->auth, c->who, OB_ACT_SUBSCRIBE, (const char *)f.p);
    ob_buf_release(&f);
    if (rc == OB_EBADSUBJECT) /* valid MQTT, but its subject is over the core's limit */
        return refuse(c, OB_MQTT_RC_TOPIC_FILTER_INVALID);
    return rc ? refuse(c, OB_MQTT_RC_NOT_AUTHORIZED) : 0;
}

static void set_options(struct msub *u, const struct ob_mqtt_sub *x, uint32_t subid)
{
    u->qos = x->qos;
    if (x->no_local && !u->no_local) u->s->b->nolocal_subs++;
    if (!x->no_local && u->no_local) u->s->b->nolocal_subs--;
    u->no_local = x->no_local;
    u->rap = x->retain_as_published;
    u->rh = x->retain_handling;
    u->subid = subid;
}

/* One filter of a SUBSCRIBE: returns the reason code; *out the subscription if granted. */
static uint8_t subscribe_one(struct ob_mqtt_conn *c, const struct ob_mqtt_sub *x, uint32_t subid,
                             struct msub **out, bool *isnew)
{
    struct msess *s = c->s;
    struct ob_slice group, inner;
    uint8_t reason = check_filter(c, x, &group, &inner);
    if (reason) return reason;
    bool durable = group.n || (ob_mqtt_sess_persistent(s) && x->qos > 0);
    struct msub **link, *u = find_sub(s, x->filter, &link);
    *isnew = u == NULL;
    if (u && u->durable == durable) { /* MQTT-3.8.4-3: replace the options */
        set_options(u, x, subid);
        *out = u;
        return x->qos;
    }
    if (u) {
        *link = u->next;
        ob_mqtt_sub_free(u, true);
    }
    u = ob_xcalloc(1, sizeof *u);
    u->s = s;
    u->filter = ob_slice_dup(x->filter);
    u->inner = ob_slice_dup(inner);
    u->group = group.n ? ob_slice_dup(group) : NULL;
    u->durable = durable;
    set_options(u, x, subid);
    if (durable && ob_mqtt_sub_open(u)) {
        ob_mqtt_sub_free(u, true);
        return OB_MQTT_RC_UNSPECIFIED;
    }
    u->next = s->subs;
    s->subs = u;
    ob_mqtt_sub_attach(u);
    *out = u;
    return x->qos;
}

/* Queues an encoded SUBACK/UNSUBACK behind pending acks; persistent sessions first
 * make their record durable, so an acknowledged subscription survives a restart. */
static void queue_answer(struct ob_mqtt_conn *c, struct ob_mqtt_packet *a, bool save,
                         struct msub **resend, size_t nresend)
{
    struct pend *p = ob_mqtt_pend_new(c, a->type, 0);
    ob_mqtt_encode(&p->body, c->version, a);
    p->resend = resend;
    p->nresend = nresend;
    if (save && ob_mqtt_sess_persistent(c->s)) {
        p->waits++;
        int rc = ob_mqtt_sess_save(c->s, ob_mqtt_pend_cb, p);
        if (rc) ob_mqtt_pend_cb(p, rc, NULL);
    }
    ob_mqtt_pend_ready(p);
}

void ob_mqtt_handle_subscribe(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_subscribe *sp = &pkt->subscribe;
    uint32_t subid = pkt->props.nsub_ids ? pkt->props.sub_ids[0] : 0;
    uint8_t *reasons = ob_xmalloc(sp->nsubs);
    struct msub **resend = ob_xmalloc(sp->nsubs * sizeof *resend);
    size_t nresend = 0;
    for (size_t i = 0; i < sp->nsubs; i++) {
        struct msub *u = NULL;
        bool isnew = false;
        reasons[i] = subscribe_one(c, &sp->subs[i], subid, &u, &isnew);
        /* Retained messages: not for shared subscriptions (MQTT-4.8.2-?), per v5's
         * retain handling otherwise (0 always, 1 if new, 2 never). */
        if (u && !u->group && (u->rh == 0 || (u->rh == 1 && isnew))) {
            bool dup = false;
            for (size_t k = 0; k < nresend; k++)
                dup |= resend[k] == u;
            if (!dup) resend[nresend++] = u;
        }
    }
    struct ob_mqtt_packet a = {.type = OB_MQTT_SUBACK};
    a.suback.packet_id = sp->packet_id;
    a.suback.reasons = ob_slice_make(reasons, sp->nsubs);
    queue_answer(c, &a, true, resend, nresend);
    free(reasons);
}

void ob_mqtt_handle_unsubscribe(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_unsubscribe *up = &pkt->unsubscribe;
    uint8_t *reasons = ob_xmalloc(up->nfilters);
    for (size_t i = 0; i < up->nfilters; i++) {
        struct msub **link, *u = find_sub(c->s, up->filters[i], &link);
        reasons[i] = u ? 0 : OB_MQTT_RC_NO_SUBSCRIPTION_EXISTED;
        if (!u) continue;
        *link = u->next;
        ob_mqtt_sub_free(u, true);
    }
    struct ob_mqtt_packet a = {.type = OB_MQTT_UNSUBACK};
    a.suback.packet_id = up->packet_id;
    a.suback.reasons = ob_slice_make(reasons, up->nfilters);
    queue_answer(c, &a, true, NULL, 0);
    free(reasons);
}
