/*
 * codec.c — MQTT packet decoding and encoding, one function per packet type each way
 * (mosquitto's layout), around a resumable decoder that reassembles split packets.
 *
 * Decoding order of checks: the first byte alone (type, reserved flags, QoS 3) rejects a
 * bad packet before its length is even read; the remaining length rejects an oversized
 * packet before its body is buffered; then the body is parsed in place and every field
 * checked. A packet entirely inside the caller's input is never copied.
 */
#include "proto/mqtt/codec.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- reason-code sets (what each packet may carry) ----------------------------------- */

static const uint8_t rc_connack_v5[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                        0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                        0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t rc_connack_v3[] = {0, 1, 2, 3, 4, 5};
static const uint8_t rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t rc_pubrel[] = {0x00, 0x92};
static const uint8_t rc_suback_v5[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                       0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t rc_suback_v3[] = {0x00, 0x01, 0x02, 0x80};
static const uint8_t rc_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t rc_disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                        0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                        0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t rc_auth[] = {0x00, 0x18, 0x19};

struct rcset {
    const uint8_t *p;
    size_t n;
};
#define RCSET(a) ((struct rcset){a, sizeof a})

static struct rcset reasons_for(uint8_t type, uint8_t version)
{
    bool v5 = version == OB_MQTT_V5;
    switch (type) {
    case OB_MQTT_CONNACK:
        return v5 ? RCSET(rc_connack_v5) : RCSET(rc_connack_v3);
    case OB_MQTT_PUBACK:
    case OB_MQTT_PUBREC:
        return RCSET(rc_puback);
    case OB_MQTT_PUBREL:
    case OB_MQTT_PUBCOMP:
        return RCSET(rc_pubrel);
    case OB_MQTT_SUBACK:
        return v5 ? RCSET(rc_suback_v5) : RCSET(rc_suback_v3);
    case OB_MQTT_UNSUBACK:
        return RCSET(rc_unsuback);
    case OB_MQTT_DISCONNECT:
        return RCSET(rc_disconnect);
    case OB_MQTT_AUTH:
        return RCSET(rc_auth);
    default:
        return (struct rcset){NULL, 0};
    }
}

static bool reason_ok(uint8_t type, uint8_t version, uint8_t rc)
{
    struct rcset s = reasons_for(type, version);
    return s.n && memchr(s.p, rc, s.n) != NULL;
}

static bool reasons_ok(uint8_t type, uint8_t version, struct ob_slice rcs)
{
    for (size_t i = 0; i < rcs.n; i++)
        if (!reason_ok(type, version, rcs.p[i])) return false;
    return true;
}

/* ---- primitives ---------------------------------------------------------------------- */

static int code_for(uint8_t reason)
{
    if (reason == OB_MQTT_RC_PACKET_TOO_LARGE) return OB_ETOOBIG;
    if (reason == OB_MQTT_RC_UNSUPPORTED_VERSION) return OB_ENOTSUP;
    return OB_EPROTO;
}

int ob_mqtt_rd_fail(struct ob_mqtt_rd *r, uint8_t reason, const char *what)
{
    r->err->reason = reason;
    r->err->what = what;
    return code_for(reason);
}

static int need(struct ob_mqtt_rd *r, size_t k)
{
    if (r->n - r->off >= k) return 0;
    return ob_mqtt_rd_fail(r, OB_MQTT_RC_MALFORMED, "field runs past end of packet");
}

int ob_mqtt_rd_u8(struct ob_mqtt_rd *r, uint8_t *v)
{
    int rc = need(r, 1);
    if (!rc) *v = r->p[r->off++];
    return rc;
}

int ob_mqtt_rd_u16(struct ob_mqtt_rd *r, uint16_t *v)
{
    int rc = need(r, 2);
    if (rc) return rc;
    *v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
    r->off += 2;
    return 0;
}

int ob_mqtt_rd_u32(struct ob_mqtt_rd *r, uint32_t *v)
{
    int rc = need(r, 4);
    if (rc) return rc;
    const uint8_t *p = r->p + r->off;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    r->off += 4;
    return 0;
}

int ob_mqtt_vbi_decode(const uint8_t *p, size_t n, uint32_t *value)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i == n) return 0;
        v |= (uint32_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0) return -1; /* a zero last byte: not minimal */
            *value = v;
            return (int)i + 1;
        }
    }
    return -1;
}

size_t ob_mqtt_vbi_size(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

int ob_mqtt_rd_vbi(struct ob_mqtt_rd *r, uint32_t *v)
{
    int len = ob_mqtt_vbi_decode(r->p + r->off, r->n - r->off, v);
    if (len <= 0) return ob_mqtt_rd_fail(r, OB_MQTT_RC_MALFORMED, "bad variable byte integer");
    r->off += (size_t)len;
    return 0;
}

int ob_mqtt_rd_bin(struct ob_mqtt_rd *r, struct ob_slice *s)
{
    uint16_t len;
    int rc = ob_mqtt_rd_u16(r, &len);
    if (!rc) rc = need(r, len);
    if (rc) return rc;
    *s = ob_slice_make(r->p + r->off, len);
    r->off += len;
    return 0;
}

int ob_mqtt_rd_str(struct ob_mqtt_rd *r, struct ob_slice *s)
{
    int rc = ob_mqtt_rd_bin(r, s);
    if (rc) return rc;
    if (!ob_mqtt_utf8_valid(*s)) return ob_mqtt_rd_fail(r, OB_MQTT_RC_MALFORMED, "invalid UTF-8");
    return 0;
}

static bool rd_more(const struct ob_mqtt_rd *r)
{
    return r->off < r->n;
}

static int rd_end(struct ob_mqtt_rd *r)
{
    if (rd_more(r)) return ob_mqtt_rd_fail(r, OB_MQTT_RC_MALFORMED, "trailing bytes in packet");
    return 0;
}

static int rd_packet_id(struct ob_mqtt_rd *r, uint16_t *id)
{
    int rc = ob_mqtt_rd_u16(r, id);
    if (!rc && *id == 0) return ob_mqtt_rd_fail(r, OB_MQTT_RC_PROTOCOL_ERROR, "packet id 0");
    return rc;
}

void ob_mqtt_wr_raw(struct ob_mqtt_wr *w, struct ob_slice s)
{
    if (w->b) ob_buf_append(w->b, s.p, s.n);
    w->n += s.n;
}

void ob_mqtt_wr_u8(struct ob_mqtt_wr *w, uint8_t v)
{
    ob_mqtt_wr_raw(w, ob_slice_make(&v, 1));
}

void ob_mqtt_wr_u16(struct ob_mqtt_wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    ob_mqtt_wr_raw(w, ob_slice_make(b, 2));
}

void ob_mqtt_wr_u32(struct ob_mqtt_wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    ob_mqtt_wr_raw(w, ob_slice_make(b, 4));
}

void ob_mqtt_wr_vbi(struct ob_mqtt_wr *w, uint32_t v)
{
    uint8_t b[4];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v && n < 4);
    ob_mqtt_wr_raw(w, ob_slice_make(b, n));
}

void ob_mqtt_wr_bin(struct ob_mqtt_wr *w, struct ob_slice s)
{
    if (s.n > 65535) {
        w->err = OB_EINVAL;
        return;
    }
    ob_mqtt_wr_u16(w, (uint16_t)s.n);
    ob_mqtt_wr_raw(w, s);
}

/* ---- packet decoders ----------------------------------------------------------------- */

/* What a body decoder works with: the cursor, the packet's header flags and version. */
struct ob_mqtt_dec_arrays {
    struct ob_mqtt_scratch props_scratch, will_scratch;
    struct ob_mqtt_sub *subs;
    size_t subs_cap;
    struct ob_slice *filters;
    size_t filters_cap;
};

struct dctx {
    struct ob_mqtt_rd r;
    struct ob_mqtt_decoder *d;
    uint8_t flags;
    uint8_t version;
};

static int fail(struct dctx *c, uint8_t reason, const char *what)
{
    return ob_mqtt_rd_fail(&c->r, reason, what);
}

/* The decoder's arrays, allocated on first use. */
static struct ob_mqtt_dec_arrays *arrays(struct ob_mqtt_decoder *d)
{
    if (!d->arrays) d->arrays = ob_xcalloc(1, sizeof *d->arrays);
    return d->arrays;
}

static int props(struct dctx *c, unsigned where, struct ob_mqtt_props *out)
{
    if (c->version != OB_MQTT_V5) return 0;
    /* An empty block (length byte 0) needs no arrays. */
    if (c->r.off < c->r.n && c->r.p[c->r.off] == 0) {
        struct ob_mqtt_scratch none = {0};
        return ob_mqtt_props_decode(&c->r, where, out, &none);
    }
    struct ob_mqtt_dec_arrays *a = arrays(c->d);
    return ob_mqtt_props_decode(&c->r, where, out,
                                where == OB_MQTT_PROPS_WILL ? &a->will_scratch : &a->props_scratch);
}

/* Protocol name and level: "MQTT" 4 or 5, or 3.1's "MQIsdp" 3. */
static int connect_version(struct dctx *c, struct ob_mqtt_connect *m)
{
    struct ob_slice name;
    int rc = ob_mqtt_rd_str(&c->r, &name);
    if (!rc) rc = ob_mqtt_rd_u8(&c->r, &m->version);
    if (rc) return rc;
    bool ok = (ob_slice_eq_str(name, "MQTT") &&
               (m->version == OB_MQTT_V311 || m->version == OB_MQTT_V5)) ||
              (ob_slice_eq_str(name, "MQIsdp") && m->version == OB_MQTT_V31);
    if (!ok) return fail(c, OB_MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol name or level");
    c->version = m->version;
    return 0;
}

static int connect_flags(struct dctx *c, struct ob_mqtt_connect *m)
{
    uint8_t f;
    int rc = ob_mqtt_rd_u8(&c->r, &f);
    if (rc) return rc;
    if (f & 0x01) return fail(c, OB_MQTT_RC_MALFORMED, "CONNECT reserved flag set");
    m->clean_start = f & 0x02;
    m->will = f & 0x04;
    m->will_qos = (f >> 3) & 3;
    m->will_retain = f & 0x20;
    m->has_password = f & 0x40;
    m->has_username = f & 0x80;
    if (m->will_qos == 3) return fail(c, OB_MQTT_RC_MALFORMED, "will QoS 3");
    if (!m->will && (m->will_qos || m->will_retain))
        return fail(c, OB_MQTT_RC_MALFORMED, "will QoS or retain without will");
    /* 3.1.1 ties the password to a user name; v5 dropped that rule (3.1.2.9). */
    if (c->version != OB_MQTT_V5 && m->has_password && !m->has_username)
        return fail(c, OB_MQTT_RC_MALFORMED, "password without user name");
    return 0;
}

static int connect_will(struct dctx *c, struct ob_mqtt_connect *m)
{
    int rc = props(c, OB_MQTT_PROPS_WILL, &m->will_props);
    if (!rc) rc = ob_mqtt_rd_str(&c->r, &m->will_topic);
    if (!rc) rc = ob_mqtt_rd_bin(&c->r, &m->will_payload);
    if (rc) return rc;
    if (!ob_mqtt_topic_valid(m->will_topic))
        return fail(c, OB_MQTT_RC_TOPIC_NAME_INVALID, "invalid will topic");
    return 0;
}

static int decode_connect(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_connect *m = &pkt->connect;
    int rc = connect_version(c, m);
    if (!rc) rc = connect_flags(c, m);
    if (!rc) rc = ob_mqtt_rd_u16(&c->r, &m->keep_alive);
    if (!rc) rc = props(c, OB_MQTT_CONNECT, &pkt->props);
    if (!rc) rc = ob_mqtt_rd_str(&c->r, &m->client_id);
    if (!rc && m->will) rc = connect_will(c, m);
    if (!rc && m->has_username) rc = ob_mqtt_rd_str(&c->r, &m->username);
    if (!rc && m->has_password) rc = ob_mqtt_rd_bin(&c->r, &m->password);
    return rc ? rc : rd_end(&c->r);
}

static int decode_connack(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_connack *m = &pkt->connack;
    uint8_t f;
    int rc = ob_mqtt_rd_u8(&c->r, &f);
    if (!rc) rc = ob_mqtt_rd_u8(&c->r, &m->reason);
    if (rc) return rc;
    if (f & 0xFE) return fail(c, OB_MQTT_RC_MALFORMED, "CONNACK reserved flags set");
    m->session_present = f & 1;
    if (!reason_ok(OB_MQTT_CONNACK, c->version, m->reason))
        return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "invalid CONNACK reason code");
    if (m->session_present && m->reason)
        return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "session present on a refused connection");
    rc = props(c, OB_MQTT_CONNACK, &pkt->props);
    return rc ? rc : rd_end(&c->r);
}

/* Topic name rules, after properties (an empty topic is fine when an alias stands in). */
static int publish_topic(struct dctx *c, const struct ob_mqtt_packet *pkt)
{
    struct ob_slice t = pkt->publish.topic;
    if (t.n == 0) {
        if (c->version == OB_MQTT_V5 && ob_mqtt_props_has(&pkt->props, OB_MQTT_PROP_TOPIC_ALIAS))
            return 0;
        return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "empty topic name");
    }
    if (!ob_mqtt_topic_valid(t)) return fail(c, OB_MQTT_RC_TOPIC_NAME_INVALID, "wildcard in topic");
    return 0;
}

static int decode_publish(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_publish *m = &pkt->publish;
    m->dup = c->flags & 0x08;
    m->qos = (c->flags >> 1) & 3;
    m->retain = c->flags & 0x01;
    int rc = ob_mqtt_rd_str(&c->r, &m->topic);
    if (!rc && m->qos) rc = rd_packet_id(&c->r, &m->packet_id);
    if (!rc) rc = props(c, OB_MQTT_PUBLISH, &pkt->props);
    if (!rc) rc = publish_topic(c, pkt);
    if (rc) return rc;
    m->payload = ob_slice_make(c->r.p + c->r.off, c->r.n - c->r.off);
    c->r.off = c->r.n;
    return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: v5 may drop the reason (then 0) and the properties. */
static int decode_ack(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_ack *m = &pkt->ack;
    int rc = rd_packet_id(&c->r, &m->packet_id);
    if (rc || c->version != OB_MQTT_V5) return rc ? rc : rd_end(&c->r);
    if (rd_more(&c->r)) {
        rc = ob_mqtt_rd_u8(&c->r, &m->reason);
        if (!rc && !reason_ok(pkt->type, c->version, m->reason))
            rc = fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "invalid reason code");
    }
    if (!rc && rd_more(&c->r)) rc = props(c, pkt->type, &pkt->props);
    return rc ? rc : rd_end(&c->r);
}

static int sub_options(struct dctx *c, uint8_t o, struct ob_mqtt_sub *s)
{
    uint8_t reserved = c->version == OB_MQTT_V5 ? 0xC0 : 0xFC;
    if (o & reserved) return fail(c, OB_MQTT_RC_MALFORMED, "subscription options reserved bits");
    s->qos = o & 3;
    s->no_local = o & 0x04;
    s->retain_as_published = o & 0x08;
    s->retain_handling = (o >> 4) & 3;
    if (s->qos == 3) return fail(c, OB_MQTT_RC_MALFORMED, "subscription QoS 3");
    if (s->retain_handling == 3) return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "retain handling 3");
    struct ob_slice g, f;
    if (s->no_local && ob_mqtt_shared_split(s->filter, &g, &f) != 0)
        return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "no local on a shared subscription");
    return 0;
}

static int read_filter(struct dctx *c, struct ob_slice *f)
{
    int rc = ob_mqtt_rd_str(&c->r, f);
    if (!rc && !ob_mqtt_filter_valid(*f))
        rc = fail(c, OB_MQTT_RC_TOPIC_FILTER_INVALID, "invalid topic filter");
    return rc;
}

/* What SUBSCRIBE and UNSUBSCRIBE share before their list: packet id, properties, and at
 * least one filter (MQTT-3.8.3-2, 3.10.3-2). */
static int list_head(struct dctx *c, struct ob_mqtt_packet *pkt, uint16_t *packet_id)
{
    int rc = rd_packet_id(&c->r, packet_id);
    if (!rc) rc = props(c, pkt->type, &pkt->props);
    if (!rc && !rd_more(&c->r))
        rc = fail(c, OB_MQTT_RC_PROTOCOL_ERROR,
                  pkt->type == OB_MQTT_SUBSCRIBE ? "SUBSCRIBE without filter"
                                                 : "UNSUBSCRIBE without filter");
    return rc;
}

static int decode_subscribe(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_decoder *d = c->d;
    size_t n = 0;
    int rc = list_head(c, pkt, &pkt->subscribe.packet_id);
    while (!rc && rd_more(&c->r)) {
        struct ob_mqtt_sub s = {0};
        uint8_t o;
        rc = read_filter(c, &s.filter);
        if (!rc) rc = ob_mqtt_rd_u8(&c->r, &o);
        if (!rc) rc = sub_options(c, o, &s);
        if (rc) break;
        struct ob_mqtt_dec_arrays *a = arrays(d);
        OB_GROW(a->subs, a->subs_cap, n + 1);
        a->subs[n++] = s;
    }
    pkt->subscribe.subs = n ? d->arrays->subs : NULL;
    pkt->subscribe.nsubs = n;
    return rc;
}

static int decode_unsubscribe(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_decoder *d = c->d;
    size_t n = 0;
    int rc = list_head(c, pkt, &pkt->unsubscribe.packet_id);
    while (!rc && rd_more(&c->r)) {
        struct ob_slice f;
        if ((rc = read_filter(c, &f))) break;
        struct ob_mqtt_dec_arrays *a = arrays(d);
        OB_GROW(a->filters, a->filters_cap, n + 1);
        a->filters[n++] = f;
    }
    pkt->unsubscribe.filters = n ? d->arrays->filters : NULL;
    pkt->unsubscribe.nfilters = n;
    return rc;
}

/* SUBACK, and UNSUBACK, which has reason codes only in v5. */
static int decode_suback(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    struct ob_mqtt_suback *m = &pkt->suback;
    int rc = rd_packet_id(&c->r, &m->packet_id);
    if (!rc) rc = props(c, pkt->type, &pkt->props);
    if (rc) return rc;
    if (pkt->type == OB_MQTT_UNSUBACK && c->version != OB_MQTT_V5) return rd_end(&c->r);
    m->reasons = ob_slice_make(c->r.p + c->r.off, c->r.n - c->r.off);
    c->r.off = c->r.n;
    if (m->reasons.n == 0) return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "no reason codes");
    if (!reasons_ok(pkt->type, c->version, m->reasons))
        return fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "invalid reason code");
    return 0;
}

/* DISCONNECT and AUTH: in v5 an empty body means reason 0 without properties. */
static int decode_reason_only(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    if (c->version != OB_MQTT_V5) return rd_end(&c->r);
    struct ob_mqtt_reason_only *m = &pkt->disconnect;
    int rc = 0;
    if (rd_more(&c->r)) {
        rc = ob_mqtt_rd_u8(&c->r, &m->reason);
        if (!rc && !reason_ok(pkt->type, c->version, m->reason))
            rc = fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "invalid reason code");
    }
    if (!rc && rd_more(&c->r)) rc = props(c, pkt->type, &pkt->props);
    return rc ? rc : rd_end(&c->r);
}

static int decode_body(struct dctx *c, struct ob_mqtt_packet *pkt)
{
    switch (pkt->type) {
    case OB_MQTT_CONNECT:
        return decode_connect(c, pkt);
    case OB_MQTT_CONNACK:
        return decode_connack(c, pkt);
    case OB_MQTT_PUBLISH:
        return decode_publish(c, pkt);
    case OB_MQTT_PUBACK:
    case OB_MQTT_PUBREC:
    case OB_MQTT_PUBREL:
    case OB_MQTT_PUBCOMP:
        return decode_ack(c, pkt);
    case OB_MQTT_SUBSCRIBE:
        return decode_subscribe(c, pkt);
    case OB_MQTT_SUBACK:
    case OB_MQTT_UNSUBACK:
        return decode_suback(c, pkt);
    case OB_MQTT_UNSUBSCRIBE:
        return decode_unsubscribe(c, pkt);
    case OB_MQTT_DISCONNECT:
    case OB_MQTT_AUTH:
        return decode_reason_only(c, pkt);
    default:
        return rd_end(&c->r); /* PINGREQ, PINGRESP: empty in every version */
    }
}

/* ---- the resumable decoder ------------------------------------------------------------ */

void ob_mqtt_decoder_init(struct ob_mqtt_decoder *d, uint8_t version, uint32_t max_packet_size)
{
    memset(d, 0, sizeof *d);
    d->version = version;
    d->max_packet_size = max_packet_size ? max_packet_size : OB_MQTT_MAX_PACKET;
}

void ob_mqtt_decoder_release(struct ob_mqtt_decoder *d)
{
    ob_buf_release(&d->buf);
    if (d->arrays) {
        ob_mqtt_scratch_release(&d->arrays->props_scratch);
        ob_mqtt_scratch_release(&d->arrays->will_scratch);
        free(d->arrays->subs);
        free(d->arrays->filters);
        free(d->arrays);
    }
    memset(d, 0, sizeof *d);
}

void ob_mqtt_decoder_set_version(struct ob_mqtt_decoder *d, uint8_t version)
{
    d->version = version;
}

const struct ob_mqtt_error *ob_mqtt_decoder_error(const struct ob_mqtt_decoder *d)
{
    return &d->err;
}

static int dfail(struct ob_mqtt_decoder *d, uint8_t reason, const char *what)
{
    d->err.reason = reason;
    d->err.what = what;
    return d->failed = code_for(reason);
}

/* Rules the first byte alone can break (2.1.3 reserved flags, 3.3.1 QoS and DUP). */
static int check_first_byte(struct ob_mqtt_decoder *d, uint8_t b)
{
    uint8_t type = b >> 4, flags = b & 0x0F;
    d->err.type = type;
    if (type == 0) return dfail(d, OB_MQTT_RC_MALFORMED, "reserved packet type 0");
    if (d->version == 0 && type != OB_MQTT_CONNECT)
        return dfail(d, OB_MQTT_RC_PROTOCOL_ERROR, "first packet is not CONNECT");
    if (type == OB_MQTT_AUTH && d->version != OB_MQTT_V5)
        return dfail(d, OB_MQTT_RC_MALFORMED, "AUTH before MQTT 5");
    if (type == OB_MQTT_PUBLISH) {
        if (((flags >> 1) & 3) == 3) return dfail(d, OB_MQTT_RC_MALFORMED, "PUBLISH QoS 3");
        if ((flags & 0x08) && !(flags & 0x06))
            return dfail(d, OB_MQTT_RC_MALFORMED, "DUP set on QoS 0 PUBLISH");
        return 0;
    }
    bool two = type == OB_MQTT_PUBREL || type == OB_MQTT_SUBSCRIBE || type == OB_MQTT_UNSUBSCRIBE;
    /* 3.1 sent these three as QoS 1 messages and set DUP on a resend; later versions
     * fixed the flags at 0010. */
    if (two && d->version == OB_MQTT_V31 && flags == 0x0A) return 0;
    if (flags != (two ? 2 : 0)) return dfail(d, OB_MQTT_RC_MALFORMED, "reserved header flags");
    return 0;
}

/* Parses a fixed header from p; returns its length, 0 if incomplete, or an error. */
static int parse_header(struct ob_mqtt_decoder *d, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    int rc = check_first_byte(d, p[0]);
    if (rc) return rc;
    uint32_t rem;
    int len = ob_mqtt_vbi_decode(p + 1, n - 1, &rem);
    if (len < 0) return dfail(d, OB_MQTT_RC_MALFORMED, "bad remaining length");
    if (len == 0) return 0;
    if ((uint64_t)1 + (uint64_t)len + rem > d->max_packet_size)
        return dfail(d, OB_MQTT_RC_PACKET_TOO_LARGE, "packet larger than maximum packet size");
    d->first_byte = p[0];
    d->header_len = (uint8_t)(1 + len);
    d->remaining = rem;
    return 1 + len;
}

/* Decodes a complete packet starting at p (fixed header included). */
static int finish(struct ob_mqtt_decoder *d, const uint8_t *p, struct ob_mqtt_packet *pkt)
{
    memset(pkt, 0, sizeof *pkt);
    pkt->type = d->first_byte >> 4;
    pkt->wire_size = (size_t)d->header_len + d->remaining;
    struct dctx c = {
        {p + d->header_len, d->remaining, 0, &d->err}, d, d->first_byte & 0x0F, d->version};
    int rc = decode_body(&c, pkt);
    if (rc) return d->failed = rc;
    return 1;
}

/* Collects header bytes one at a time so that no byte of the next packet is taken. */
static int buffer_header(struct ob_mqtt_decoder *d, const uint8_t *in, size_t n, size_t *used)
{
    while (!d->have_header) {
        if (*used == n) return 0;
        ob_buf_putc(&d->buf, in[(*used)++]);
        int rc = parse_header(d, d->buf.p, d->buf.len);
        if (rc < 0) return rc;
        d->have_header = rc > 0;
    }
    return 1;
}

int ob_mqtt_decode(struct ob_mqtt_decoder *d, const uint8_t *in, size_t n, size_t *consumed,
                   struct ob_mqtt_packet *pkt)
{
    size_t used = 0;
    *consumed = 0;
    if (d->failed) return d->failed;
    if (d->reset_buf) {
        d->buf.len = 0;
        d->reset_buf = false;
    }
    if (n == 0) return 0;
    if (d->buf.len == 0) {
        /* Fast path: a whole packet in the input is decoded in place, no copy. */
        int rc = parse_header(d, in, n);
        if (rc < 0) return rc;
        if (rc > 0 && n >= (size_t)rc + d->remaining) {
            *consumed = (size_t)rc + d->remaining;
            return finish(d, in, pkt);
        }
        d->have_header = rc > 0;
    }
    int rc = buffer_header(d, in, n, &used);
    if (rc <= 0) {
        *consumed = used;
        return rc;
    }
    size_t total = (size_t)d->header_len + d->remaining;
    size_t take = total - d->buf.len < n - used ? total - d->buf.len : n - used;
    ob_buf_append(&d->buf, in + used, take);
    *consumed = used + take;
    if (d->buf.len < total) return 0;
    d->have_header = false;
    d->reset_buf = true; /* the packet's slices point into buf until the next call */
    return finish(d, d->buf.p, pkt);
}

/* ---- packet encoders ----------------------------------------------------------------- */

static void put_props(struct ob_mqtt_wr *w, uint8_t version, const struct ob_mqtt_props *p)
{
    if (version == OB_MQTT_V5) ob_mqtt_props_write(w, p);
}

static void enc_connect(struct ob_mqtt_wr *w, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_connect *m = &pkt->connect;
    uint8_t f = (uint8_t)((m->clean_start ? 0x02 : 0) | (m->will ? 0x04 : 0) | (m->will_qos << 3) |
                          (m->will_retain ? 0x20 : 0) | (m->has_password ? 0x40 : 0) |
                          (m->has_username ? 0x80 : 0));
    ob_mqtt_wr_bin(w, ob_slice_str(m->version == OB_MQTT_V31 ? "MQIsdp" : "MQTT"));
    ob_mqtt_wr_u8(w, m->version);
    ob_mqtt_wr_u8(w, f);
    ob_mqtt_wr_u16(w, m->keep_alive);
    put_props(w, m->version, &pkt->props);
    ob_mqtt_wr_bin(w, m->client_id);
    if (m->will) {
        put_props(w, m->version, &m->will_props);
        ob_mqtt_wr_bin(w, m->will_topic);
        ob_mqtt_wr_bin(w, m->will_payload);
    }
    if (m->has_username) ob_mqtt_wr_bin(w, m->username);
    if (m->has_password) ob_mqtt_wr_bin(w, m->password);
}

static void enc_connack(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    ob_mqtt_wr_u8(w, pkt->connack.session_present ? 1 : 0);
    ob_mqtt_wr_u8(w, pkt->connack.reason);
    put_props(w, v, &pkt->props);
}

static void enc_publish(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    ob_mqtt_wr_bin(w, pkt->publish.topic);
    if (pkt->publish.qos) ob_mqtt_wr_u16(w, pkt->publish.packet_id);
    put_props(w, v, &pkt->props);
}

/* The shortest form: v5 drops a 0 reason and empty properties (3.4.2.1, 3.14.2.1). */
static void enc_reason_tail(struct ob_mqtt_wr *w, uint8_t reason, const struct ob_mqtt_props *p)
{
    bool has_props = !ob_mqtt_props_empty(p);
    if (reason || has_props) ob_mqtt_wr_u8(w, reason);
    if (has_props) ob_mqtt_props_write(w, p);
}

static void enc_ack(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    ob_mqtt_wr_u16(w, pkt->ack.packet_id);
    if (v == OB_MQTT_V5) enc_reason_tail(w, pkt->ack.reason, &pkt->props);
}

static uint8_t sub_options_byte(uint8_t v, const struct ob_mqtt_sub *s)
{
    if (v != OB_MQTT_V5) return s->qos;
    return (uint8_t)(s->qos | (s->no_local ? 0x04 : 0) | (s->retain_as_published ? 0x08 : 0) |
                     (s->retain_handling << 4));
}

static void enc_subscribe(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_subscribe *m = &pkt->subscribe;
    ob_mqtt_wr_u16(w, m->packet_id);
    put_props(w, v, &pkt->props);
    for (size_t i = 0; i < m->nsubs; i++) {
        ob_mqtt_wr_bin(w, m->subs[i].filter);
        ob_mqtt_wr_u8(w, sub_options_byte(v, &m->subs[i]));
    }
}

static void enc_suback(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    ob_mqtt_wr_u16(w, pkt->suback.packet_id);
    put_props(w, v, &pkt->props);
    if (pkt->type == OB_MQTT_SUBACK || v == OB_MQTT_V5) ob_mqtt_wr_raw(w, pkt->suback.reasons);
}

static void enc_unsubscribe(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_unsubscribe *m = &pkt->unsubscribe;
    ob_mqtt_wr_u16(w, m->packet_id);
    put_props(w, v, &pkt->props);
    for (size_t i = 0; i < m->nfilters; i++)
        ob_mqtt_wr_bin(w, m->filters[i]);
}

/* Everything after the fixed header, except a PUBLISH payload. */
static void enc_body(struct ob_mqtt_wr *w, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    switch (pkt->type) {
    case OB_MQTT_CONNECT:
        enc_connect(w, pkt);
        break;
    case OB_MQTT_CONNACK:
        enc_connack(w, v, pkt);
        break;
    case OB_MQTT_PUBLISH:
        enc_publish(w, v, pkt);
        break;
    case OB_MQTT_PUBACK:
    case OB_MQTT_PUBREC:
    case OB_MQTT_PUBREL:
    case OB_MQTT_PUBCOMP:
        enc_ack(w, v, pkt);
        break;
    case OB_MQTT_SUBSCRIBE:
        enc_subscribe(w, v, pkt);
        break;
    case OB_MQTT_SUBACK:
    case OB_MQTT_UNSUBACK:
        enc_suback(w, v, pkt);
        break;
    case OB_MQTT_UNSUBSCRIBE:
        enc_unsubscribe(w, v, pkt);
        break;
    case OB_MQTT_DISCONNECT:
    case OB_MQTT_AUTH:
        if (v == OB_MQTT_V5) enc_reason_tail(w, pkt->disconnect.reason, &pkt->props);
        break;
    default:
        break; /* PINGREQ, PINGRESP */
    }
}

static uint8_t first_byte(const struct ob_mqtt_packet *pkt)
{
    uint8_t t = (uint8_t)(pkt->type << 4);
    switch (pkt->type) {
    case OB_MQTT_PUBLISH:
        return (uint8_t)(t | (pkt->publish.dup ? 0x08 : 0) | (pkt->publish.qos << 1) |
                         (pkt->publish.retain ? 1 : 0));
    case OB_MQTT_PUBREL:
    case OB_MQTT_SUBSCRIBE:
    case OB_MQTT_UNSUBSCRIBE:
        return (uint8_t)(t | 2);
    default:
        return t;
    }
}

/* ---- encoder input checks: refuse what the decoder would refuse ---------------------- */

static int check_connect(const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_connect *m = &pkt->connect;
    if (m->version < OB_MQTT_V31 || m->version > OB_MQTT_V5 || m->will_qos > 2) return OB_EINVAL;
    if (!m->will && (m->will_qos || m->will_retain)) return OB_EINVAL;
    if (m->version != OB_MQTT_V5) return m->has_password && !m->has_username ? OB_EINVAL : 0;
    if (m->will && ob_mqtt_props_check(&m->will_props, OB_MQTT_PROPS_WILL)) return OB_EINVAL;
    return ob_mqtt_props_check(&pkt->props, OB_MQTT_CONNECT);
}

static int check_publish(uint8_t v, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_publish *m = &pkt->publish;
    if (m->qos > 2 || (m->qos && !m->packet_id) || (!m->qos && m->dup)) return OB_EINVAL;
    bool alias = v == OB_MQTT_V5 && ob_mqtt_props_has(&pkt->props, OB_MQTT_PROP_TOPIC_ALIAS);
    if (m->topic.n == 0 && !alias) return OB_EINVAL;
    return 0;
}

static int check_subscribe(uint8_t v, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_subscribe *m = &pkt->subscribe;
    if (!m->packet_id || !m->nsubs) return OB_EINVAL;
    for (size_t i = 0; i < m->nsubs; i++) {
        const struct ob_mqtt_sub *s = &m->subs[i];
        struct ob_slice g, f;
        if (s->qos > 2) return OB_EINVAL;
        if (v != OB_MQTT_V5) continue;
        if (s->retain_handling > 2) return OB_EINVAL;
        if (s->no_local && ob_mqtt_shared_split(s->filter, &g, &f) != 0) return OB_EINVAL;
    }
    return 0;
}

/* Type-specific rules other than properties. */
static int check_fields(uint8_t v, const struct ob_mqtt_packet *pkt)
{
    bool v5 = v == OB_MQTT_V5;
    switch (pkt->type) {
    case OB_MQTT_CONNACK:
        if (pkt->connack.session_present && pkt->connack.reason) return OB_EINVAL;
        return reason_ok(pkt->type, v, pkt->connack.reason) ? 0 : OB_EINVAL;
    case OB_MQTT_PUBLISH:
        return check_publish(v, pkt);
    case OB_MQTT_PUBACK:
    case OB_MQTT_PUBREC:
    case OB_MQTT_PUBREL:
    case OB_MQTT_PUBCOMP:
        if (!pkt->ack.packet_id) return OB_EINVAL;
        return !v5 || reason_ok(pkt->type, v, pkt->ack.reason) ? 0 : OB_EINVAL;
    case OB_MQTT_SUBSCRIBE:
        return check_subscribe(v, pkt);
    case OB_MQTT_SUBACK:
    case OB_MQTT_UNSUBACK:
        if (!pkt->suback.packet_id) return OB_EINVAL;
        if (pkt->type == OB_MQTT_UNSUBACK && !v5) return 0;
        if (!pkt->suback.reasons.n) return OB_EINVAL;
        return reasons_ok(pkt->type, v, pkt->suback.reasons) ? 0 : OB_EINVAL;
    case OB_MQTT_UNSUBSCRIBE:
        return pkt->unsubscribe.packet_id && pkt->unsubscribe.nfilters ? 0 : OB_EINVAL;
    case OB_MQTT_DISCONNECT:
    case OB_MQTT_AUTH:
        return !v5 || reason_ok(pkt->type, v, pkt->disconnect.reason) ? 0 : OB_EINVAL;
    default:
        return 0;
    }
}

static int check_packet(uint8_t v, const struct ob_mqtt_packet *pkt)
{
    if (pkt->type == OB_MQTT_CONNECT) return check_connect(pkt);
    if (pkt->type < OB_MQTT_CONNACK || pkt->type > OB_MQTT_AUTH) return OB_EINVAL;
    if (v < OB_MQTT_V31 || v > OB_MQTT_V5) return OB_EINVAL;
    if (pkt->type == OB_MQTT_AUTH && v != OB_MQTT_V5) return OB_EINVAL;
    int rc = check_fields(v, pkt);
    if (rc || v != OB_MQTT_V5) return rc;
    /* PINGREQ/PINGRESP carry no properties; the table allows none for them. */
    return ob_mqtt_props_check(&pkt->props, pkt->type);
}

static int encode(struct ob_buf *out, uint8_t v, const struct ob_mqtt_packet *pkt, bool payload)
{
    int rc = check_packet(v, pkt);
    if (rc) return rc;
    if (pkt->type == OB_MQTT_CONNECT) v = pkt->connect.version;
    struct ob_mqtt_wr count = {NULL, 0, 0};
    enc_body(&count, v, pkt);
    if (count.err) return count.err;
    uint64_t rem = count.n;
    if (pkt->type == OB_MQTT_PUBLISH) rem += pkt->publish.payload.n;
    if (rem > OB_MQTT_MAX_REMAINING) return OB_ETOOBIG;
    struct ob_mqtt_wr w = {out, 0, 0};
    ob_mqtt_wr_u8(&w, first_byte(pkt));
    ob_mqtt_wr_vbi(&w, (uint32_t)rem);
    enc_body(&w, v, pkt);
    if (payload && pkt->type == OB_MQTT_PUBLISH) ob_mqtt_wr_raw(&w, pkt->publish.payload);
    return 0;
}

int ob_mqtt_encode(struct ob_buf *out, uint8_t version, const struct ob_mqtt_packet *pkt)
{
    return encode(out, version, pkt, true);
}

int ob_mqtt_encode_publish_header(struct ob_buf *out, uint8_t version,
                                  const struct ob_mqtt_packet *pkt)
{
    if (pkt->type != OB_MQTT_PUBLISH) return OB_EINVAL;
    return encode(out, version, pkt, false);
}

/* ---- equality and names --------------------------------------------------------------- */

static bool connect_equal(const struct ob_mqtt_connect *a, const struct ob_mqtt_connect *b)
{
    return a->version == b->version && a->clean_start == b->clean_start &&
           a->keep_alive == b->keep_alive && ob_slice_eq(a->client_id, b->client_id) &&
           a->will == b->will && a->will_qos == b->will_qos && a->will_retain == b->will_retain &&
           ob_mqtt_props_equal(&a->will_props, &b->will_props) &&
           ob_slice_eq(a->will_topic, b->will_topic) &&
           ob_slice_eq(a->will_payload, b->will_payload) && a->has_username == b->has_username &&
           a->has_password == b->has_password && ob_slice_eq(a->username, b->username) &&
           ob_slice_eq(a->password, b->password);
}

static bool publish_equal(const struct ob_mqtt_publish *a, const struct ob_mqtt_publish *b)
{
    return a->dup == b->dup && a->qos == b->qos && a->retain == b->retain &&
           ob_slice_eq(a->topic, b->topic) && a->packet_id == b->packet_id &&
           ob_slice_eq(a->payload, b->payload);
}

static bool subscribe_equal(const struct ob_mqtt_subscribe *a, const struct ob_mqtt_subscribe *b)
{
    if (a->packet_id != b->packet_id || a->nsubs != b->nsubs) return false;
    for (size_t i = 0; i < a->nsubs; i++) {
        const struct ob_mqtt_sub *x = &a->subs[i], *y = &b->subs[i];
        if (!ob_slice_eq(x->filter, y->filter) || x->qos != y->qos || x->no_local != y->no_local ||
            x->retain_as_published != y->retain_as_published ||
            x->retain_handling != y->retain_handling)
            return false;
    }
    return true;
}

static bool unsubscribe_equal(const struct ob_mqtt_unsubscribe *a,
                              const struct ob_mqtt_unsubscribe *b)
{
    if (a->packet_id != b->packet_id || a->nfilters != b->nfilters) return false;
    for (size_t i = 0; i < a->nfilters; i++)
        if (!ob_slice_eq(a->filters[i], b->filters[i])) return false;
    return true;
}

bool ob_mqtt_packet_equal(const struct ob_mqtt_packet *a, const struct ob_mqtt_packet *b)
{
    if (a->type != b->type || !ob_mqtt_props_equal(&a->props, &b->props)) return false;
    switch (a->type) {
    case OB_MQTT_CONNECT:
        return connect_equal(&a->connect, &b->connect);
    case OB_MQTT_CONNACK:
        return a->connack.session_present == b->connack.session_present &&
               a->connack.reason == b->connack.reason;
    case OB_MQTT_PUBLISH:
        return publish_equal(&a->publish, &b->publish);
    case OB_MQTT_PUBACK:
    case OB_MQTT_PUBREC:
    case OB_MQTT_PUBREL:
    case OB_MQTT_PUBCOMP:
        return a->ack.packet_id == b->ack.packet_id && a->ack.reason == b->ack.reason;
    case OB_MQTT_SUBSCRIBE:
        return subscribe_equal(&a->subscribe, &b->subscribe);
    case OB_MQTT_SUBACK:
    case OB_MQTT_UNSUBACK:
        return a->suback.packet_id == b->suback.packet_id &&
               ob_slice_eq(a->suback.reasons, b->suback.reasons);
    case OB_MQTT_UNSUBSCRIBE:
        return unsubscribe_equal(&a->unsubscribe, &b->unsubscribe);
    case OB_MQTT_DISCONNECT:
    case OB_MQTT_AUTH:
        return a->disconnect.reason == b->disconnect.reason;
    default:
        return true;
    }
}

const char *ob_mqtt_type_name(uint8_t type)
{
    static const char *const names[] = {"RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
                                        "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                        "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                        "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
    return type < 16 ? names[type] : "INVALID";
}
