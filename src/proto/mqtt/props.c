/*
 * props.c — MQTT 5.0 properties: one table says, for every identifier, its wire type,
 * the packets it may appear in and the value rule; decoding, checking, writing and
 * comparing all walk that table, so a property's rules live in exactly one place.
 */
#include "proto/mqtt/codec.h"

#include "base/alloc.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum ptype { P_NONE, P_BYTE, P_U16, P_U32, P_VBI, P_STR, P_BIN, P_PAIR };

/* Value rules beyond the wire type (section 3.x "It is a Protocol Error to ..."). */
enum prule { R_ANY, R_BOOL, R_NONZERO, R_ALIAS, R_TOPIC };

struct pdef {
    uint8_t type;
    uint8_t rule;
    uint32_t where; /* bit per packet type, and OB_MQTT_PROPS_WILL */
    size_t off;
};

#define W(t)   (1u << OB_MQTT_##t)
#define W_WILL (1u << OB_MQTT_PROPS_WILL)
#define W_MSG  (W(PUBLISH) | W_WILL)
#define W_ACKS (W(PUBACK) | W(PUBREC) | W(PUBREL) | W(PUBCOMP))
#define W_USER                                                                                     \
    (W(CONNECT) | W(CONNACK) | W_MSG | W_ACKS | W(SUBSCRIBE) | W(SUBACK) | W(UNSUBSCRIBE) |        \
     W(UNSUBACK) | W(DISCONNECT) | W(AUTH))
#define F(name) offsetof(struct ob_mqtt_props, name)

static const struct pdef defs[] = {
    [0x01] = {P_BYTE, R_BOOL, W_MSG, F(payload_format)},
    [0x02] = {P_U32, R_ANY, W_MSG, F(message_expiry)},
    [0x03] = {P_STR, R_ANY, W_MSG, F(content_type)},
    [0x08] = {P_STR, R_TOPIC, W_MSG, F(response_topic)},
    [0x09] = {P_BIN, R_ANY, W_MSG, F(correlation_data)},
    [0x0B] = {P_VBI, R_NONZERO, W(PUBLISH) | W(SUBSCRIBE), 0},
    [0x11] = {P_U32, R_ANY, W(CONNECT) | W(CONNACK) | W(DISCONNECT), F(session_expiry)},
    [0x12] = {P_STR, R_ANY, W(CONNACK), F(assigned_client_id)},
    [0x13] = {P_U16, R_ANY, W(CONNACK), F(server_keep_alive)},
    [0x15] = {P_STR, R_ANY, W(CONNECT) | W(CONNACK) | W(AUTH), F(auth_method)},
    [0x16] = {P_BIN, R_ANY, W(CONNECT) | W(CONNACK) | W(AUTH), F(auth_data)},
    [0x17] = {P_BYTE, R_BOOL, W(CONNECT), F(request_problem_info)},
    [0x18] = {P_U32, R_ANY, W_WILL, F(will_delay)},
    [0x19] = {P_BYTE, R_BOOL, W(CONNECT), F(request_response_info)},
    [0x1A] = {P_STR, R_ANY, W(CONNACK), F(response_info)},
    [0x1C] = {P_STR, R_ANY, W(CONNACK) | W(DISCONNECT), F(server_reference)},
    [0x1F] = {P_STR, R_ANY, W(CONNACK) | W_ACKS | W(SUBACK) | W(UNSUBACK) | W(DISCONNECT) | W(AUTH),
              F(reason_string)},
    [0x21] = {P_U16, R_NONZERO, W(CONNECT) | W(CONNACK), F(receive_maximum)},
    [0x22] = {P_U16, R_ANY, W(CONNECT) | W(CONNACK), F(topic_alias_maximum)},
    [0x23] = {P_U16, R_ALIAS, W(PUBLISH), F(topic_alias)},
    [0x24] = {P_BYTE, R_BOOL, W(CONNACK), F(maximum_qos)},
    [0x25] = {P_BYTE, R_BOOL, W(CONNACK), F(retain_available)},
    [0x26] = {P_PAIR, R_ANY, W_USER, 0},
    [0x27] = {P_U32, R_NONZERO, W(CONNECT) | W(CONNACK), F(maximum_packet_size)},
    [0x28] = {P_BYTE, R_BOOL, W(CONNACK), F(wildcard_sub_available)},
    [0x29] = {P_BYTE, R_BOOL, W(CONNACK), F(sub_id_available)},
    [0x2A] = {P_BYTE, R_BOOL, W(CONNACK), F(shared_sub_available)},
};
#define NDEFS (sizeof defs / sizeof defs[0])

/* The repeatable properties live in arrays; their bits mirror "array non-empty". */
#define ARRAY_BITS                                                                                 \
    ((UINT64_C(1) << OB_MQTT_PROP_SUBSCRIPTION_ID) | (UINT64_C(1) << OB_MQTT_PROP_USER))

static const struct pdef *lookup(uint32_t id, unsigned where)
{
    if (id >= NDEFS || defs[id].type == P_NONE) return NULL;
    if (!(defs[id].where & (1u << where))) return NULL;
    return &defs[id];
}

static uint32_t scalar_get(const struct ob_mqtt_props *p, const struct pdef *d)
{
    const char *f = (const char *)p + d->off;
    switch (d->type) {
    case P_BYTE:
        return *(const uint8_t *)(const void *)f;
    case P_U16:
        return *(const uint16_t *)(const void *)f;
    case P_U32:
        return *(const uint32_t *)(const void *)f;
    default:
        return 0;
    }
}

static void scalar_set(struct ob_mqtt_props *p, const struct pdef *d, uint32_t v)
{
    char *f = (char *)p + d->off;
    switch (d->type) {
    case P_BYTE:
        *(uint8_t *)(void *)f = (uint8_t)v;
        break;
    case P_U16:
        *(uint16_t *)(void *)f = (uint16_t)v;
        break;
    case P_U32:
        *(uint32_t *)(void *)f = v;
        break;
    default:
        break;
    }
}

static struct ob_slice *slice_at(struct ob_mqtt_props *p, const struct pdef *d)
{
    return (struct ob_slice *)(void *)((char *)p + d->off);
}

static const struct ob_slice *cslice_at(const struct ob_mqtt_props *p, const struct pdef *d)
{
    return (const struct ob_slice *)(const void *)((const char *)p + d->off);
}

/* The reason code a broken value rule earns, or 0 when the value is fine. */
static uint8_t rule_violation(const struct pdef *d, uint32_t v, struct ob_slice s)
{
    switch (d->rule) {
    case R_BOOL:
        return v > 1 ? OB_MQTT_RC_PROTOCOL_ERROR : 0;
    case R_NONZERO:
        return v == 0 ? OB_MQTT_RC_PROTOCOL_ERROR : 0;
    case R_ALIAS:
        return v == 0 ? OB_MQTT_RC_TOPIC_ALIAS_INVALID : 0;
    case R_TOPIC:
        return ob_mqtt_topic_valid(s) ? 0 : OB_MQTT_RC_PROTOCOL_ERROR;
    default:
        return 0;
    }
}

/* Reads one value of a non-repeatable property into out. */
static int read_single(struct ob_mqtt_rd *r, const struct pdef *d, struct ob_mqtt_props *out)
{
    uint8_t b;
    uint16_t h;
    uint32_t v = 0;
    struct ob_slice s = {NULL, 0};
    int rc = 0;
    switch (d->type) {
    case P_BYTE:
        rc = ob_mqtt_rd_u8(r, &b), v = b;
        break;
    case P_U16:
        rc = ob_mqtt_rd_u16(r, &h), v = h;
        break;
    case P_U32:
        rc = ob_mqtt_rd_u32(r, &v);
        break;
    case P_STR:
        rc = ob_mqtt_rd_str(r, &s);
        break;
    case P_BIN:
        rc = ob_mqtt_rd_bin(r, &s);
        break;
    default:
        break;
    }
    if (rc) return rc;
    uint8_t bad = rule_violation(d, v, s);
    if (bad) return ob_mqtt_rd_fail(r, bad, "property value not allowed");
    if (d->type == P_STR || d->type == P_BIN)
        *slice_at(out, d) = s;
    else
        scalar_set(out, d, v);
    return 0;
}

static int read_user(struct ob_mqtt_rd *r, struct ob_mqtt_scratch *s, size_t *n)
{
    struct ob_header h;
    int rc = ob_mqtt_rd_str(r, &h.name);
    if (!rc) rc = ob_mqtt_rd_str(r, &h.value);
    if (rc) return rc;
    OB_GROW(s->user, s->user_cap, *n + 1);
    s->user[(*n)++] = h;
    return 0;
}

static int read_sub_id(struct ob_mqtt_rd *r, const struct pdef *d, struct ob_mqtt_scratch *s,
                       size_t *n)
{
    uint32_t v;
    int rc = ob_mqtt_rd_vbi(r, &v);
    if (rc) return rc;
    if (rule_violation(d, v, ob_slice_make(NULL, 0)))
        return ob_mqtt_rd_fail(r, OB_MQTT_RC_PROTOCOL_ERROR, "subscription identifier 0");
    OB_GROW(s->ids, s->ids_cap, *n + 1);
    s->ids[(*n)++] = v;
    return 0;
}

/* Only user properties repeat freely; a PUBLISH may carry one subscription identifier per
 * matching subscription (3.3.2.3.8); anything else twice is a Protocol Error. */
static bool may_repeat(uint32_t id, unsigned where)
{
    return id == OB_MQTT_PROP_USER ||
           (id == OB_MQTT_PROP_SUBSCRIPTION_ID && where == OB_MQTT_PUBLISH);
}

static int read_one(struct ob_mqtt_rd *r, unsigned where, struct ob_mqtt_props *out,
                    struct ob_mqtt_scratch *s)
{
    uint32_t id;
    int rc = ob_mqtt_rd_vbi(r, &id);
    if (rc) return rc;
    const struct pdef *d = lookup(id, where);
    if (!d) return ob_mqtt_rd_fail(r, OB_MQTT_RC_MALFORMED, "property not valid in this packet");
    if (((out->present >> id) & 1u) && !may_repeat(id, where))
        return ob_mqtt_rd_fail(r, OB_MQTT_RC_PROTOCOL_ERROR, "property included twice");
    out->present |= UINT64_C(1) << id;
    if (d->type == P_PAIR) return read_user(r, s, &out->nuser);
    if (d->type == P_VBI) return read_sub_id(r, d, s, &out->nsub_ids);
    return read_single(r, d, out);
}

int ob_mqtt_props_decode(struct ob_mqtt_rd *r, unsigned where, struct ob_mqtt_props *out,
                         struct ob_mqtt_scratch *scratch)
{
    memset(out, 0, sizeof *out);
    uint32_t len;
    int rc = ob_mqtt_rd_vbi(r, &len);
    if (rc) return rc;
    if (len > r->n - r->off)
        return ob_mqtt_rd_fail(r, OB_MQTT_RC_MALFORMED, "property length past end of packet");
    struct ob_mqtt_rd pr = {r->p + r->off, len, 0, r->err};
    r->off += len;
    while (pr.off < pr.n)
        if ((rc = read_one(&pr, where, out, scratch))) return rc;
    out->user = out->nuser ? scratch->user : NULL;
    out->sub_ids = out->nsub_ids ? scratch->ids : NULL;
    if (ob_mqtt_props_has(out, OB_MQTT_PROP_AUTH_DATA) &&
        !ob_mqtt_props_has(out, OB_MQTT_PROP_AUTH_METHOD))
        return ob_mqtt_rd_fail(r, OB_MQTT_RC_PROTOCOL_ERROR, "authentication data without method");
    return 0;
}

void ob_mqtt_scratch_release(struct ob_mqtt_scratch *s)
{
    free(s->user);
    free(s->ids);
    memset(s, 0, sizeof *s);
}

static int check_arrays(const struct ob_mqtt_props *p, unsigned where)
{
    if (p->nuser && !lookup(OB_MQTT_PROP_USER, where)) return OB_EINVAL;
    if (!p->nsub_ids) return 0;
    const struct pdef *d = lookup(OB_MQTT_PROP_SUBSCRIPTION_ID, where);
    if (!d || (p->nsub_ids > 1 && where != OB_MQTT_PUBLISH)) return OB_EINVAL;
    for (size_t i = 0; i < p->nsub_ids; i++)
        if (p->sub_ids[i] == 0 || p->sub_ids[i] > OB_MQTT_MAX_REMAINING) return OB_EINVAL;
    return 0;
}

int ob_mqtt_props_check(const struct ob_mqtt_props *p, unsigned where)
{
    uint64_t singles = p->present & ~ARRAY_BITS;
    for (uint32_t id = 0; id < 64; id++) {
        if (!((singles >> id) & 1u)) continue;
        const struct pdef *d = lookup(id, where);
        if (!d) return OB_EINVAL;
        bool is_slice = d->type == P_STR || d->type == P_BIN;
        struct ob_slice s = is_slice ? *cslice_at(p, d) : ob_slice_make(NULL, 0);
        if (rule_violation(d, is_slice ? 0 : scalar_get(p, d), s)) return OB_EINVAL;
    }
    if (ob_mqtt_props_has(p, OB_MQTT_PROP_AUTH_DATA) &&
        !ob_mqtt_props_has(p, OB_MQTT_PROP_AUTH_METHOD))
        return OB_EINVAL;
    return check_arrays(p, where);
}

static void write_one(struct ob_mqtt_wr *w, const struct ob_mqtt_props *p, uint32_t id)
{
    const struct pdef *d = &defs[id];
    if (d->type == P_PAIR) {
        for (size_t i = 0; i < p->nuser; i++) {
            ob_mqtt_wr_u8(w, (uint8_t)id);
            ob_mqtt_wr_bin(w, p->user[i].name);
            ob_mqtt_wr_bin(w, p->user[i].value);
        }
        return;
    }
    if (d->type == P_VBI) {
        for (size_t i = 0; i < p->nsub_ids; i++) {
            ob_mqtt_wr_u8(w, (uint8_t)id);
            ob_mqtt_wr_vbi(w, p->sub_ids[i]);
        }
        return;
    }
    if (!ob_mqtt_props_has(p, id)) return;
    ob_mqtt_wr_u8(w, (uint8_t)id);
    switch (d->type) {
    case P_BYTE:
        ob_mqtt_wr_u8(w, (uint8_t)scalar_get(p, d));
        break;
    case P_U16:
        ob_mqtt_wr_u16(w, (uint16_t)scalar_get(p, d));
        break;
    case P_U32:
        ob_mqtt_wr_u32(w, scalar_get(p, d));
        break;
    default:
        ob_mqtt_wr_bin(w, *cslice_at(p, d));
        break;
    }
}

static void write_block(struct ob_mqtt_wr *w, const struct ob_mqtt_props *p)
{
    for (uint32_t id = 1; id < NDEFS; id++)
        if (defs[id].type != P_NONE) write_one(w, p, id);
}

void ob_mqtt_props_write(struct ob_mqtt_wr *w, const struct ob_mqtt_props *p)
{
    struct ob_mqtt_wr count = {NULL, 0, 0};
    write_block(&count, p);
    if (count.err) w->err = count.err;
    ob_mqtt_wr_vbi(w, (uint32_t)count.n);
    write_block(w, p);
}

bool ob_mqtt_props_empty(const struct ob_mqtt_props *p)
{
    return !(p->present & ~ARRAY_BITS) && !p->nuser && !p->nsub_ids;
}

static bool users_equal(const struct ob_mqtt_props *a, const struct ob_mqtt_props *b)
{
    if (a->nuser != b->nuser) return false;
    for (size_t i = 0; i < a->nuser; i++)
        if (!ob_slice_eq(a->user[i].name, b->user[i].name) ||
            !ob_slice_eq(a->user[i].value, b->user[i].value))
            return false;
    return true;
}

bool ob_mqtt_props_equal(const struct ob_mqtt_props *a, const struct ob_mqtt_props *b)
{
    uint64_t singles = a->present & ~ARRAY_BITS;
    if (singles != (b->present & ~ARRAY_BITS)) return false;
    for (uint32_t id = 1; id < NDEFS; id++) {
        const struct pdef *d = &defs[id];
        if (!((singles >> id) & 1u) || d->type == P_NONE) continue;
        if (d->type == P_STR || d->type == P_BIN) {
            if (!ob_slice_eq(*cslice_at(a, d), *cslice_at(b, d))) return false;
        } else if (scalar_get(a, d) != scalar_get(b, d)) {
            return false;
        }
    }
    if (a->nsub_ids != b->nsub_ids) return false;
    for (size_t i = 0; i < a->nsub_ids; i++)
        if (a->sub_ids[i] != b->sub_ids[i]) return false;
    return users_equal(a, b);
}
