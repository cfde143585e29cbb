/*
 * wspubsub.c — the WebSocket pub/sub protocol at /v1/ws (docs/websocket.md).
 *
 * JSON operations in text frames: sub / unsub / pub / ping from the client; subscribed,
 * unsubscribed, msg, ack, pong and error from the server. The binary variant (binary
 * frames: a 4-byte big-endian length, that many bytes of the same JSON header, then the
 * raw payload) works in both directions; a connection that negotiated the subprotocol
 * "omnibus.v1.bin" receives its deliveries that way.
 *
 * Subscriptions are feeds (sse_feed.h): with a stream capturing the filters they
 * resume from a sequence ("from_seq") and pause while the socket is congested; live
 * ones are cut off (close 1008) when the client cannot keep up. A publish is acked
 * ({op: "ack"}) once durable, when the client gave a "req" id to correlate.
 *
 * Lifetime: a connection's state lives until the socket closed and every publish
 * callback it waits for ran (refs).
 */
#include "http/json.h"
#include "http/metrics.h"
#include "http/modules.h"
#include "http/sse_feed.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/auth.h"
#include "http/ws.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WS_MAX_SUBS         256  /* subscriptions per connection */
#define WS_MAX_PENDING_PUBS 1024 /* publishes waiting for their durable ack */
#define WS_MAX_FILTERS      16
#define WS_MAX_ID           128

struct wsmod {
    struct ob_bus *bus;
    struct ob_feed_live live;
    struct ob_json_msg_cache cache; /* one publish fans out to many clients in a row */
};

struct wsub;

struct wsc {
    struct wsmod *mod;
    struct ob_ws_conn *ws; /* NULL once closed */
    struct wsub *subs;
    size_t nsubs, pending, refs;
    bool binary;
};

struct wsub {
    struct wsc *c;
    struct wsub *next;
    char *id;
    char *id_json; /* id as a JSON string, escaped once */
    struct ob_feed *feed;
    bool live;
    bool raw; /* "format":"raw": each delivery is the payload alone */
};

static const char *const subprotocols[] = {"omnibus.v1", "omnibus.v1.bin"};

/* ---- sending ---------------------------------------------------------------------- */

static void send_json(struct wsc *c, json_t *j)
{
    if (c->ws) {
        size_t len;
        char *s = ob_json_dump(j, &len);
        ob_ws_conn_send(c->ws, OB_WS_OP_TEXT, s, len);
        free(s);
    }
    json_decref(j);
}

static int send_error(struct wsc *c, json_t *req, int status, const char *type, const char *detail)
{
    json_t *e = json_pack("{s:s, s:i, s:s, s:s}", "op", "error", "status", status, "type", type,
                          "detail", detail);
    if (req) json_object_set(e, "req", req);
    send_json(c, e);
    return 0;
}

static int send_err_code(struct wsc *c, json_t *req, int err, const char *detail)
{
    const char *slug;
    int status = ob_json_error_status(err, &slug, NULL);
    return send_error(c, req, status, slug, detail ? detail : ob_strerror(err));
}

/* ---- subscriptions ---------------------------------------------------------------- */

static void sub_free(struct wsub *s)
{
    ob_feed_close(s->feed);
    free(s->id);
    free(s->id_json);
    free(s);
}

static struct wsub **sub_find(struct wsc *c, const char *id)
{
    struct wsub **pp = &c->subs;
    while (*pp && strcmp((*pp)->id, id))
        pp = &(*pp)->next;
    return pp;
}

/* {"op":"msg","sub":..,"id":..,"message":..} around the cached message JSON: the
 * message is encoded once per publish, not once per subscriber. */
static void put_delivery(struct ob_buf *b, struct wsub *s, const char *id, const char *msg,
                         size_t n)
{
    ob_buf_printf(b, "{\"op\":\"msg\",\"sub\":%s,\"id\":\"%s\",\"message\":", s->id_json, id);
    ob_buf_append(b, msg, n);
    ob_buf_putc(b, '}');
}

/* The payload alone, without a copy: a text frame when it is UTF-8, else binary. */
static void send_raw(struct wsc *c, struct ob_msg *m)
{
    struct ob_slice p = ob_msg_payload(m);
    int op = ob_json_utf8_ok(p.p, p.n) ? OB_WS_OP_TEXT : OB_WS_OP_BINARY;
    ob_ws_conn_send_zc(c->ws, op, &p, 1, ob_conn_release_msg, ob_msg_ref(m));
    ob_metrics_add("ws", "out", 1);
}

static void send_delivery(struct wsc *c, struct wsub *s, struct ob_msg *m, const char *stream,
                          uint64_t seq, const char *id)
{
    size_t n;
    unsigned flags = c->binary ? OB_JSON_MSG_NO_PAYLOAD : 0;
    const char *msg = ob_json_msg_cached(&c->mod->cache, m, stream, seq, flags, &n);
    struct ob_buf b = OB_BUF_INIT;
    if (c->binary) ob_buf_append(&b, "\0\0\0\0", 4);
    put_delivery(&b, s, id, msg, n);
    if (c->binary) {
        size_t hl = b.len - 4;
        b.p[0] = (uint8_t)(hl >> 24), b.p[1] = (uint8_t)(hl >> 16);
        b.p[2] = (uint8_t)(hl >> 8), b.p[3] = (uint8_t)hl;
        struct ob_slice p = ob_msg_payload(m);
        ob_buf_append(&b, p.p, p.n);
    }
    ob_ws_conn_send(c->ws, c->binary ? OB_WS_OP_BINARY : OB_WS_OP_TEXT, b.p, b.len);
    ob_buf_release(&b);
    ob_metrics_add("ws", "out", 1);
}

static void on_feed(void *arg, struct ob_msg *m, const char *stream, uint64_t seq, const char *id)
{
    struct wsub *s = arg;
    struct wsc *c = s->c;
    if (!c->ws) return;
    if (!m) { /* the stream was deleted: this subscription is over */
        struct wsub **pp = sub_find(c, s->id);
        *pp = s->next;
        c->nsubs--;
        send_error(c, NULL, 410, "stream-deleted", s->id);
        sub_free(s);
        return;
    }
    if (s->raw)
        send_raw(c, m);
    else
        send_delivery(c, s, m, stream, seq, id);
    if (!ob_ws_conn_congested(c->ws)) return;
    if (s->live) {
        OB_WARN("ws", "slow client cut off", "peer=%s", ob_ws_conn_peer_name(c->ws));
        ob_ws_conn_close(c->ws, OB_WS_CLOSE_POLICY, "slow consumer");
        c->ws = NULL; /* nothing more is sent; on_close frees */
    } else {
        ob_feed_pause(s->feed);
    }
}

/* Reads "subject" (a string) or "subjects" (an array) into filters. */
static int sub_filters(json_t *op, const char **filters, size_t *n)
{
    json_t *one = json_object_get(op, "subject"), *many = json_object_get(op, "subjects");
    *n = 0;
    if (json_is_string(one)) filters[(*n)++] = json_string_value(one);
    size_t i;
    json_t *v;
    json_array_foreach(many, i, v)
    {
        if (!json_is_string(v) || *n >= WS_MAX_FILTERS) return OB_EINVAL;
        filters[(*n)++] = json_string_value(v);
    }
    return *n ? 0 : OB_EINVAL;
}

static int sub_authorize(struct wsc *c, const char **filters, size_t n)
{
    struct ob_ws_conn *ws = c->ws;
    for (size_t i = 0; i < n; i++) {
        if (!ob_filter_valid(ob_slice_str(filters[i]))) return OB_EBADSUBJECT;
        const struct ob_proto_host *h = ob_ws_conn_host(ws);
        int rc =
            ob_auth_authorize(*h->auth, ob_ws_conn_principal(ws), OB_ACT_SUBSCRIBE, filters[i]);
        if (rc) return rc;
    }
    return 0;
}

/* The resume position of a sub: "after" (a delivery id "<stream>:<seq>", as SSE's
 * Last-Event-ID) or "from_seq" (with an optional "stream"). 0 or OB_EINVAL. */
static int sub_position(json_t *op, struct ob_feed_opts *o, char *stream, size_t n)
{
    json_t *fs = json_object_get(op, "from_seq"), *st = json_object_get(op, "stream");
    json_t *after = json_object_get(op, "after");
    uint64_t seq;
    if ((st && !json_is_string(st)) || (after && fs)) return OB_EINVAL;
    o->stream = json_string_value(st);
    if (after) {
        if (!json_is_string(after) || !ob_feed_parse_id(json_string_value(after), stream, n, &seq))
            return OB_EINVAL;
        if (o->stream && strcmp(o->stream, stream)) return OB_EINVAL;
        o->stream = stream;
        o->resume = true;
        o->from_seq = seq + 1;
    } else if (fs) {
        if (!json_is_integer(fs) || json_integer_value(fs) < 1) return OB_EINVAL;
        o->resume = true;
        o->from_seq = (uint64_t)json_integer_value(fs);
    }
    return 0;
}

static int sub_open(struct wsc *c, struct wsub *s, json_t *op, const char **filters, size_t n)
{
    struct ob_feed_opts o = {.filters = filters, .nfilters = n, .live_ids = &c->mod->live};
    char stream[128];
    int rc = sub_position(op, &o, stream, sizeof stream);
    if (!rc) rc = ob_feed_open(&s->feed, c->mod->bus, &o, on_feed, s);
    if (!rc) s->live = ob_feed_stream(s->feed) == NULL;
    if (!rc && s->live && o.resume) {
        ob_feed_close(s->feed);
        return OB_EINVAL; /* a resume needs a stream; refusing beats a silent gap */
    }
    return rc;
}

static int op_sub(struct wsc *c, json_t *op, json_t *req)
{
    json_t *idj = json_object_get(op, "id");
    const char *filters[WS_MAX_FILTERS];
    size_t n;
    if (!json_is_string(idj) || !json_string_length(idj) || json_string_length(idj) > WS_MAX_ID)
        return send_error(c, req, 400, "invalid-request", "sub needs an id (1-128 chars)");
    const char *id = json_string_value(idj);
    if (*sub_find(c, id)) return send_error(c, req, 409, "conflict", "subscription id in use");
    if (c->nsubs >= WS_MAX_SUBS) return send_error(c, req, 429, "limit", "too many subscriptions");
    if (sub_filters(op, filters, &n))
        return send_error(c, req, 400, "invalid-request", "sub needs subject or subjects");
    int rc = sub_authorize(c, filters, n);
    if (rc) return send_err_code(c, req, rc, "not allowed to subscribe to this filter");
    json_t *fmt = json_object_get(op, "format");
    if (fmt && (!json_is_string(fmt) ||
                (strcmp(json_string_value(fmt), "raw") && strcmp(json_string_value(fmt), "json"))))
        return send_error(c, req, 400, "invalid-request", "format is json or raw");
    struct wsub *s = ob_xcalloc(1, sizeof *s);
    s->c = c;
    s->raw = fmt && !strcmp(json_string_value(fmt), "raw");
    s->id = ob_xstrdup(id);
    s->id_json = json_dumps(idj, JSON_ENCODE_ANY);
    rc = sub_open(c, s, op, filters, n);
    if (rc) {
        free(s->id);
        free(s->id_json);
        free(s);
        return send_err_code(c, req, rc,
                             rc == OB_EINVAL ? "bad resume position (from_seq/after), or no "
                                               "stream captures the filters"
                                             : NULL);
    }
    s->next = c->subs;
    c->subs = s;
    c->nsubs++;
    const char *stream = ob_feed_stream(s->feed);
    json_t *ok = json_pack("{s:s, s:s}", "op", "subscribed", "id", id);
    json_object_set_new(ok, "stream", stream ? json_string(stream) : json_null());
    if (stream)
        json_object_set_new(ok, "cursor", json_integer((json_int_t)ob_feed_cursor(s->feed)));
    if (req) json_object_set(ok, "req", req);
    send_json(c, ok);
    return 0;
}

static int op_unsub(struct wsc *c, json_t *op, json_t *req)
{
    json_t *idj = json_object_get(op, "id");
    struct wsub **pp = json_is_string(idj) ? sub_find(c, json_string_value(idj)) : NULL;
    if (!pp || !*pp) return send_error(c, req, 404, "not-found", "no such subscription");
    struct wsub *s = *pp;
    *pp = s->next;
    c->nsubs--;
    json_t *ok = json_pack("{s:s, s:s}", "op", "unsubscribed", "id", s->id);
    if (req) json_object_set(ok, "req", req);
    sub_free(s);
    send_json(c, ok);
    return 0;
}

/* ---- publish ---------------------------------------------------------------------- */

struct wpub {
    struct wsc *c;
    json_t *req; /* NULL: no ack wanted */
};

static void conn_unref(struct wsc *c)
{
    if (--c->refs == 0) free(c);
}

static void pub_done(void *arg, int status, const struct ob_pub_ack *ack)
{
    struct wpub *p = arg;
    struct wsc *c = p->c;
    c->pending--;
    if (p->req && status) {
        send_err_code(c, p->req, status, NULL);
    } else if (p->req) {
        json_t *a =
            json_pack("{s:s, s:O, s:I}", "op", "ack", "req", p->req, "seq", (json_int_t)ack->seq);
        json_object_set_new(a, "stream", ack->stream ? json_string(ack->stream) : json_null());
        send_json(c, a);
    }
    json_decref(p->req);
    free(p);
    conn_unref(c);
}

static int op_pub(struct wsc *c, json_t *op, json_t *req, const uint8_t *payload, size_t plen,
                  bool has_payload)
{
    json_object_del(op, "op");
    json_object_del(op, "req");
    struct ob_json_pub pub;
    const char *why = NULL;
    int rc = ob_json_parse_pub(op, &pub, &why);
    if (rc) return send_err_code(c, req, rc, why);
    if (has_payload) pub.init.payload = ob_slice_make(payload, plen);
    char *subj = ob_xstrndup((const char *)pub.init.subject.p, pub.init.subject.n);
    const struct ob_proto_host *h = ob_ws_conn_host(c->ws);
    rc = ob_auth_authorize(*h->auth, ob_ws_conn_principal(c->ws), OB_ACT_PUBLISH, subj);
    free(subj);
    struct ob_msg *m = NULL;
    if (!rc && c->pending >= WS_MAX_PENDING_PUBS) rc = OB_ELIMIT;
    if (!rc) rc = ob_msg_new(&m, &pub.init);
    ob_json_pub_release(&pub);
    if (rc) return send_err_code(c, req, rc, NULL);
    struct wpub *p = ob_xcalloc(1, sizeof *p);
    p->c = c;
    p->req = req ? json_incref(req) : NULL;
    c->refs++;
    c->pending++;
    rc = ob_publish(c->mod->bus, m, pub_done, p);
    ob_msg_unref(m);
    if (!rc) ob_metrics_add("ws", "in", 1);
    if (rc) pub_done(p, rc, NULL);
    return 0;
}

/* ---- dispatch --------------------------------------------------------------------- */

static void dispatch(struct wsc *c, json_t *op, const uint8_t *payload, size_t plen,
                     bool has_payload)
{
    json_t *name = json_object_get(op, "op"), *req = json_incref(json_object_get(op, "req"));
    const char *o = json_string_value(name);
    if (!o)
        send_error(c, req, 400, "invalid-request", "every operation needs \"op\"");
    else if (!strcmp(o, "pub"))
        op_pub(c, op, req, payload, plen, has_payload);
    else if (!strcmp(o, "sub"))
        op_sub(c, op, req);
    else if (!strcmp(o, "unsub"))
        op_unsub(c, op, req);
    else if (!strcmp(o, "ping")) {
        json_t *p = json_pack("{s:s}", "op", "pong");
        if (req) json_object_set(p, "req", req);
        send_json(c, p);
    } else
        send_error(c, req, 400, "invalid-request", "unknown op");
    json_decref(req);
}

static void on_message(struct ob_ws_conn *ws, int opcode, const uint8_t *data, size_t len)
{
    struct wsc *c = ob_ws_conn_data(ws);
    if (!c || !c->ws) return; /* cut off: ignore what is still in flight */
    size_t hlen = len;
    const uint8_t *payload = NULL;
    if (opcode == OB_WS_OP_BINARY) {
        hlen = len >= 4
                   ? (size_t)data[0] << 24 | (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]
                   : SIZE_MAX;
        if (hlen > len - 4) {
            send_error(c, NULL, 400, "invalid-frame", "bad binary header length");
            return;
        }
        payload = data + 4 + hlen;
        data += 4;
    }
    json_error_t e;
    json_t *op = json_loadb((const char *)data, hlen, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(op))
        send_error(c, NULL, 400, "invalid-json", op ? "an operation is a JSON object" : e.text);
    else
        dispatch(c, op, payload, payload ? len - 4 - hlen : 0, payload != NULL);
    json_decref(op);
}

static void on_open(struct ob_ws_conn *ws, struct ob_http_req *req)
{
    (void)req;
    struct wsc *c = ob_xcalloc(1, sizeof *c);
    c->mod = ob_ws_conn_endpoint_arg(ws);
    c->ws = ws;
    c->refs = 1;
    const char *sp = ob_ws_conn_subprotocol(ws);
    c->binary = sp && !strcmp(sp, "omnibus.v1.bin");
    ob_ws_conn_set_data(ws, c);
}

static void on_writable(struct ob_ws_conn *ws)
{
    struct wsc *c = ob_ws_conn_data(ws);
    for (struct wsub *s = c->subs; s; s = s->next)
        ob_feed_resume(s->feed);
}

static void on_close(struct ob_ws_conn *ws, uint16_t code)
{
    (void)code;
    struct wsc *c = ob_ws_conn_data(ws);
    if (!c) return;
    c->ws = NULL;
    while (c->subs) {
        struct wsub *s = c->subs;
        c->subs = s->next;
        sub_free(s);
    }
    conn_unref(c);
}

static void mod_free(void *arg)
{
    struct wsmod *mod = arg;
    ob_feed_live_release(&mod->live);
    ob_json_msg_cache_release(&mod->cache);
    free(mod);
}

int ob_http_mod_wspubsub(struct ob_http_router *r, const struct ob_proto_host *host)
{
    struct wsmod *mod = ob_xcalloc(1, sizeof *mod);
    mod->bus = host->bus;
    ob_http_router_on_free(r, mod_free, mod);
    struct ob_ws_endpoint ep = {
        .subprotocols = subprotocols,
        .nsubprotocols = 2,
        .deflate = true,
        .ping_interval_ms = 30000,
        .on_open = on_open,
        .on_message = on_message,
        .on_writable = on_writable,
        .on_close = on_close,
        .arg = mod,
    };
    return ob_http_ws_route(r, "/v1/ws", 0, &ep);
}
