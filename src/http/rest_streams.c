/*
 * rest_streams.c — streams under /v1/streams: list, create (POST; PUT creates or
 * updates), info, delete, purge, and reading stored messages by sequence or time.
 *
 * Creating a stream that exists with the same configuration is idempotent (200 instead
 * of 201); with another configuration it is a 409 (OB_EEXIST). PUT on an existing
 * stream updates what the core lets change (subjects, limits, fsync, sizes); retention,
 * compaction and memory cannot change (409).
 */
#include "http/rest_int.h"
#include "http/rest_query.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int collect_stream(void *arg, struct ob_stream *st)
{
    json_array_append_new(arg, ob_json_stream(st));
    return 0;
}

static int list_streams(struct ob_http_req *req, void *arg)
{
    (void)arg;
    json_t *a = json_array();
    ob_stream_foreach(ob_http_req_bus(req), collect_stream, a);
    return ob_rest_json(req, 200, json_pack("{s:o}", "streams", a)), OB_HTTP_DONE;
}

/* Creates the stream of a parsed config; 201 new, 200 identical existing, else error. */
static int create_from(struct ob_http_req *req, struct ob_json_stream_cfg *c)
{
    struct ob_bus *bus = ob_http_req_bus(req);
    bool existed = ob_stream_lookup(bus, c->cfg.name) != NULL;
    struct ob_stream *st;
    int rc = ob_stream_create(bus, &c->cfg, &st);
    if (rc == OB_EEXIST)
        ob_rest_problem(req, 409, "conflict", "a stream of this name exists with another config");
    else if (rc == OB_EOVERLAP || rc == OB_EINVAL || rc == OB_EBADSUBJECT)
        ob_rest_error(req, rc, "invalid stream configuration");
    else if (rc)
        ob_rest_error(req, rc, NULL);
    else
        ob_rest_json(req, existed ? 200 : 201, ob_json_stream(st));
    return OB_HTTP_DONE;
}

static int create_stream(struct ob_http_req *req, void *arg)
{
    (void)arg;
    json_t *body = ob_rest_body(req, false);
    if (!body) return OB_HTTP_DONE;
    struct ob_json_stream_cfg c;
    const char *why;
    int rc = ob_json_parse_stream_cfg(body, NULL, &c, &why);
    if (rc)
        ob_rest_error(req, rc, why);
    else
        create_from(req, &c);
    ob_json_stream_cfg_release(&c);
    json_decref(body);
    return OB_HTTP_DONE;
}

static int get_stream(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    if (st) ob_rest_json(req, 200, ob_json_stream(st));
    return OB_HTTP_DONE;
}

static int update_from(struct ob_http_req *req, struct ob_stream *st, struct ob_json_stream_cfg *c)
{
    const struct ob_stream_config *old = ob_stream_config(st);
    if (old->retention != c->cfg.retention || old->compaction != c->cfg.compaction ||
        old->memory != c->cfg.memory)
        return ob_rest_problem(req, 409, "conflict",
                               "retention, compaction and memory cannot change"),
               OB_HTTP_DONE;
    int rc = ob_stream_update(st, &c->cfg);
    if (rc)
        ob_rest_error(req, rc, "the update was refused");
    else
        ob_rest_json(req, 200, ob_json_stream(st));
    return OB_HTTP_DONE;
}

static int put_stream(struct ob_http_req *req, void *arg)
{
    (void)arg;
    json_t *body = ob_rest_body(req, false);
    if (!body) return OB_HTTP_DONE;
    struct ob_json_stream_cfg c;
    const char *why;
    int rc = ob_json_parse_stream_cfg(body, ob_http_param(req, "name"), &c, &why);
    struct ob_stream *st = ob_stream_lookup(ob_http_req_bus(req), ob_http_param(req, "name"));
    if (rc)
        ob_rest_error(req, rc, why);
    else if (st)
        update_from(req, st, &c);
    else
        create_from(req, &c);
    ob_json_stream_cfg_release(&c);
    json_decref(body);
    return OB_HTTP_DONE;
}

static int delete_stream(struct ob_http_req *req, void *arg)
{
    (void)arg;
    int rc = ob_stream_delete(ob_http_req_bus(req), ob_http_param(req, "name"));
    if (rc)
        ob_rest_error(req, rc, rc == OB_ENOENT ? "no such stream" : NULL);
    else
        ob_http_respond_empty(req, 204);
    return OB_HTTP_DONE;
}

static int purge_stream(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    if (!st) return OB_HTTP_DONE;
    json_t *body = ob_rest_body(req, true);
    if (!body) return OB_HTTP_DONE;
    uint64_t upto = 0;
    json_t *f = json_object_get(body, "filter");
    const char *filter = json_is_string(f) ? json_string_value(f) : NULL;
    if ((f && !json_is_null(f) && !filter) || ob_json_get_u64(body, "upto", &upto))
        ob_rest_problem(req, 400, "invalid-request", "filter must be a string, upto an integer");
    else if (filter && !ob_filter_valid(ob_slice_str(filter)))
        ob_rest_problem(req, 400, "bad-subject", "filter is not a valid subject filter");
    else {
        int64_t n = ob_stream_purge(st, filter, upto);
        if (n < 0)
            ob_rest_error(req, (int)n, NULL);
        else
            ob_rest_json(req, 200, json_pack("{s:I}", "purged", (json_int_t)n));
    }
    json_decref(body);
    return OB_HTTP_DONE;
}

/* ---- reading messages ----------------------------------------------------------- */

/* A decimal unsigned integer, all of s. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || *s == '-' || *s == '+') return false;
    *out = v;
    return true;
}

/* A time: nanoseconds since the epoch, or RFC 3339 ("2026-01-02T03:04:05.123Z",
 * an offset like +02:00 allowed). */
static bool parse_time(const char *s, int64_t *out)
{
    uint64_t ns;
    if (parse_u64(s, &ns)) return ns <= INT64_MAX ? (*out = (int64_t)ns, true) : false;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p) return false;
    int64_t frac = 0, scale = OB_NS_PER_SEC;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) scale /= 10, frac += (*p - '0') * scale;
    int64_t off = 0;
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
        if (*p == '-') off = -off;
        p += 6;
    } else if (*p == 'Z' || *p == 'z') {
        p++;
    }
    if (*p) return false;
    int64_t secs = (int64_t)timegm(&tm) - off;
    if (secs < 0 || secs >= INT64_MAX / OB_NS_PER_SEC) return false; /* 1970 .. 2262 */
    *out = secs * OB_NS_PER_SEC + frac;
    return true;
}

static unsigned msg_flags(struct ob_http_req *req)
{
    struct ob_qs qs;
    ob_qs_parse(&qs, ob_http_req_query(req));
    const char *enc = ob_qs_get(&qs, "encoding", 0);
    unsigned flags = enc && !strcmp(enc, "base64") ? OB_JSON_MSG_BASE64 : 0;
    ob_qs_release(&qs);
    return flags;
}

static int get_message(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    uint64_t seq;
    if (!st) return OB_HTTP_DONE;
    if (!parse_u64(ob_http_param(req, "seq"), &seq) || !seq)
        return ob_rest_problem(req, 400, "invalid-request", "seq must be a positive integer"),
               OB_HTTP_DONE;
    struct ob_msg *m;
    int rc = ob_stream_get(st, seq, &m);
    if (rc) return ob_rest_error(req, rc, rc == OB_ENOENT ? "no such message" : NULL), OB_HTTP_DONE;
    char *subj = ob_xstrndup((const char *)ob_msg_subject(m).p, ob_msg_subject(m).n);
    rc = ob_http_authorize(req, OB_ACT_SUBSCRIBE, subj);
    free(subj);
    if (rc)
        ob_rest_error(req, rc, "not allowed to read this subject");
    else
        ob_rest_json(req, 200, ob_json_from_msg(m, ob_stream_name(st), seq, msg_flags(req)));
    ob_msg_unref(m);
    return OB_HTTP_DONE;
}

struct read_args {
    uint64_t from, limit;
    const char *filter;
    struct ob_qs qs; /* owns filter */
};

/* Parses from_seq / from_time / limit / filter; answers 400 and returns 1 on error. */
static int read_args(struct ob_http_req *req, struct ob_stream *st, struct read_args *a)
{
    const char *fs = ob_qs_get(&a->qs, "from_seq", 0), *ft = ob_qs_get(&a->qs, "from_time", 0);
    const char *lim = ob_qs_get(&a->qs, "limit", 0);
    int64_t t = 0;
    a->from = 1;
    a->limit = 100;
    a->filter = ob_qs_get(&a->qs, "filter", 0);
    if (fs && !parse_u64(fs, &a->from))
        return ob_rest_problem(req, 400, "invalid-request", "from_seq: an integer"), 1;
    if (ft && !parse_time(ft, &t))
        return ob_rest_problem(req, 400, "invalid-request", "from_time: ns or RFC 3339"), 1;
    if (lim && (!parse_u64(lim, &a->limit) || !a->limit || a->limit > OB_REST_MAX_READ))
        return ob_rest_problem(req, 400, "invalid-request", "limit: 1 to 1000"), 1;
    if (a->filter && (!*a->filter || !ob_filter_valid(ob_slice_str(a->filter))))
        return ob_rest_problem(req, 400, "bad-subject", "filter is not a valid filter"), 1;
    if (ft) {
        uint64_t s;
        if (ob_stream_seq_for_time(st, t, &s)) s = UINT64_MAX; /* nothing that late */
        if (s > a->from) a->from = s;
    }
    return 0;
}

static int list_messages(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_stream *st = ob_rest_stream(req);
    struct read_args a;
    if (!st) return OB_HTTP_DONE;
    ob_qs_parse(&a.qs, ob_http_req_query(req));
    int rc = read_args(req, st, &a) ? 1 : ob_rest_authorize_read(req, st, a.filter);
    if (rc < 0) ob_rest_error(req, rc, "not allowed to read this stream");
    if (rc) {
        ob_qs_release(&a.qs);
        return OB_HTTP_DONE;
    }
    json_t *msgs = json_array();
    uint64_t seq = a.from, next = a.from;
    unsigned flags = msg_flags(req);
    while (json_array_size(msgs) < a.limit && seq != UINT64_MAX &&
           !ob_stream_next_seq(st, seq, a.filter, &seq)) {
        struct ob_msg *m;
        if (!ob_stream_get(st, seq, &m)) {
            json_array_append_new(msgs, ob_json_from_msg(m, ob_stream_name(st), seq, flags));
            ob_msg_unref(m);
        }
        next = ++seq;
    }
    return ob_rest_json(req, 200,
                        json_pack("{s:o, s:I}", "messages", msgs, "next_seq", (json_int_t)next)),
           OB_HTTP_DONE;
}

int ob_rest_mount_streams(struct ob_http_router *r, struct ob_rest *rest)
{
    static const struct {
        unsigned methods;
        const char *pattern;
        ob_http_handler h;
    } routes[] = {
        {OB_HTTP_GET, "/v1/streams", list_streams},
        {OB_HTTP_POST, "/v1/streams", create_stream},
        {OB_HTTP_GET, "/v1/streams/{name}", get_stream},
        {OB_HTTP_PUT, "/v1/streams/{name}", put_stream},
        {OB_HTTP_DELETE, "/v1/streams/{name}", delete_stream},
        {OB_HTTP_POST, "/v1/streams/{name}/purge", purge_stream},
        {OB_HTTP_GET, "/v1/streams/{name}/messages", list_messages},
        {OB_HTTP_GET, "/v1/streams/{name}/messages/{seq}", get_message},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = ob_http_route(r, routes[i].methods, routes[i].pattern, 0, routes[i].h, rest);
        if (rc) return rc;
    }
    return 0;
}
