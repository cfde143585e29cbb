/*
 * json.c — the gateway's JSON shapes (see json.h): messages, publish requests, stream and
 * consumer configurations, ack ids and problem details.
 */
#include "http/json.h"

#include "http/h1.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "http/utf8.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers -------------------------------------------------------------------- */

bool ob_json_utf8_ok(const uint8_t *p, size_t n)
{
    return ob_utf8_valid(p, n);
}

char *ob_json_b64_encode(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = ob_xmalloc(cap);
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

int ob_json_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    size_t cap = n / 4 * 3 + 3;
    uint8_t *buf = ob_xmalloc(cap);
    const char *end = NULL;
    if (sodium_base642bin(buf, cap, s, n, NULL, outlen, &end, sodium_base64_VARIANT_ORIGINAL) ||
        end != s + n) {
        free(buf);
        return OB_EINVAL;
    }
    *out = buf;
    return 0;
}

char *ob_json_dump(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) abort(); /* jansson fails only on allocation failure: abort like ob_xmalloc */
    if (len) *len = strlen(s);
    return s;
}

int ob_json_get_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) return OB_EINVAL;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

void ob_json_time(int64_t ts_ns, char *out, size_t n)
{
    time_t secs = (time_t)(ts_ns / OB_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%09" PRId64 "Z", date, ts_ns % OB_NS_PER_SEC);
}

/* ---- messages ------------------------------------------------------------------- */

static json_t *slice_string(struct ob_slice s)
{
    return json_stringn((const char *)s.p, s.n);
}

static json_t *slice_b64(struct ob_slice s)
{
    char *b = ob_json_b64_encode(s.p, s.n);
    json_t *j = json_string(b);
    free(b);
    return j;
}

/* Sets dst[name] = v, or appends ", " v to an existing value (a repeated header). */
static void set_joined(json_t *dst, const char *name, json_t *v)
{
    json_t *old = json_object_get(dst, name);
    if (!old) {
        json_object_set_new(dst, name, v);
        return;
    }
    size_t n1 = json_string_length(old), n2 = json_string_length(v);
    char *joined = ob_xmalloc(n1 + n2 + 2);
    memcpy(joined, json_string_value(old), n1);
    memcpy(joined + n1, ", ", 2);
    memcpy(joined + n1 + 2, json_string_value(v), n2);
    json_object_set_new(dst, name, json_stringn(joined, n1 + n2 + 2));
    free(joined);
    json_decref(v);
}

/* Adds one header to headers (or headers_base64 when not UTF-8). A name that is not
 * UTF-8 cannot be a JSON key at all: such a header is skipped (no adapter makes one). */
static void add_header(json_t *utf8, json_t *b64, const struct ob_header *h)
{
    if (!ob_utf8_valid(h->name.p, h->name.n)) return;
    char *name = ob_xstrndup((const char *)h->name.p, h->name.n);
    if (ob_utf8_valid(h->value.p, h->value.n))
        set_joined(utf8, name, slice_string(h->value));
    else
        set_joined(b64, name, slice_b64(h->value));
    free(name);
}

static void add_payload(json_t *o, struct ob_slice p, unsigned flags)
{
    if (!(flags & OB_JSON_MSG_BASE64) && ob_utf8_valid(p.p, p.n))
        json_object_set_new(o, "payload", slice_string(p));
    else
        json_object_set_new(o, "payload_base64", slice_b64(p));
}

json_t *ob_json_from_msg(const struct ob_msg *m, const char *stream, uint64_t seq, unsigned flags)
{
    json_t *o = json_object();
    json_object_set_new(o, "subject", slice_string(ob_msg_subject(m)));
    if (stream) {
        json_object_set_new(o, "stream", json_string(stream));
        json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    }
    char t[48];
    ob_json_time(ob_msg_timestamp(m), t, sizeof t);
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "timestamp_ns", json_integer(ob_msg_timestamp(m)));
    json_t *h = json_object(), *hb = json_object();
    for (size_t i = 0; i < ob_msg_header_count(m); i++)
        add_header(h, hb, ob_msg_header_at(m, i));
    json_object_set_new(o, "headers", h);
    if (json_object_size(hb))
        json_object_set_new(o, "headers_base64", hb);
    else
        json_decref(hb);
    struct ob_slice key = ob_msg_key(m);
    if (key.n)
        json_object_set_new(o, ob_utf8_valid(key.p, key.n) ? "key" : "key_base64",
                            ob_utf8_valid(key.p, key.n) ? slice_string(key) : slice_b64(key));
    if (!(flags & OB_JSON_MSG_NO_PAYLOAD)) add_payload(o, ob_msg_payload(m), flags);
    return o;
}

static bool same_stream(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

const char *ob_json_msg_cached(struct ob_json_msg_cache *c, struct ob_msg *m, const char *stream,
                               uint64_t seq, unsigned flags, size_t *len)
{
    if (c->msg != m || c->seq != seq || c->flags != flags || !same_stream(c->stream, stream)) {
        ob_json_msg_cache_release(c);
        json_t *j = ob_json_from_msg(m, stream, seq, flags);
        c->json = ob_json_dump(j, &c->len);
        json_decref(j);
        c->msg = ob_msg_ref(m);
        c->stream = stream ? ob_xstrdup(stream) : NULL;
        c->seq = seq;
        c->flags = flags;
    }
    *len = c->len;
    return c->json;
}

void ob_json_msg_cache_release(struct ob_json_msg_cache *c)
{
    if (c->msg) ob_msg_unref(c->msg);
    free(c->stream);
    free(c->json);
    memset(c, 0, sizeof *c);
}

/* ---- publish requests ----------------------------------------------------------- */

static bool only_keys(json_t *obj, const char *const *allowed, const char **bad)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(k, allowed[i]);
        if (!ok) {
            *bad = k;
            return false;
        }
    }
    return true;
}

static struct ob_slice jslice(json_t *s)
{
    return ob_slice_make(json_string_value(s), json_string_length(s));
}

static int parse_pub_headers(json_t *obj, struct ob_json_pub *out, const char **why)
{
    json_t *h = json_object_get(obj, "headers");
    if (!h || json_is_null(h)) return 0;
    if (!json_is_object(h)) return *why = "headers must be an object of strings", OB_EINVAL;
    out->headers = ob_xcalloc(json_object_size(h) + 1, sizeof *out->headers);
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(h, k, v)
    {
        if (!json_is_string(v) || !*k)
            return *why = "headers must be an object of strings", OB_EINVAL;
        out->headers[i].name = ob_slice_str(k);
        out->headers[i++].value = jslice(v);
    }
    out->init.headers = out->headers;
    out->init.nheaders = i;
    return 0;
}

/* Reads name (string) or name_base64 into *dst; *owned gets a decoded buffer. */
static int parse_bytes(json_t *obj, const char *name, struct ob_slice *dst, uint8_t **owned,
                       const char **why)
{
    char b64name[32];
    snprintf(b64name, sizeof b64name, "%s_base64", name);
    json_t *s = json_object_get(obj, name), *b = json_object_get(obj, b64name);
    if (s && b) return *why = "give either the string or the _base64 form, not both", OB_EINVAL;
    if (s) {
        if (!json_is_string(s)) return *why = "payload and key must be strings", OB_EINVAL;
        *dst = jslice(s);
    } else if (b) {
        size_t n;
        if (!json_is_string(b) ||
            ob_json_b64_decode(json_string_value(b), json_string_length(b), owned, &n))
            return *why = "invalid base64", OB_EINVAL;
        *dst = ob_slice_make(*owned, n);
    }
    return 0;
}

int ob_json_parse_pub(json_t *obj, struct ob_json_pub *out, const char **why)
{
    static const char *const keys[] = {"subject", "headers",        "key", "key_base64",
                                       "payload", "payload_base64", NULL};
    const char *bad;
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj)) return *why = "a message must be a JSON object", OB_EINVAL;
    if (!only_keys(obj, keys, &bad)) return *why = "unknown field in message", OB_EINVAL;
    json_t *subj = json_object_get(obj, "subject");
    if (!json_is_string(subj)) return *why = "subject (a string) is required", OB_EINVAL;
    out->init.subject = jslice(subj);
    if (!ob_subject_valid(out->init.subject)) return *why = "invalid subject", OB_EBADSUBJECT;
    int rc = parse_pub_headers(obj, out, why);
    if (!rc) rc = parse_bytes(obj, "payload", &out->init.payload, &out->decoded, why);
    if (!rc) rc = parse_bytes(obj, "key", &out->init.key, &out->decoded_key, why);
    if (rc) ob_json_pub_release(out);
    return rc;
}

void ob_json_pub_release(struct ob_json_pub *p)
{
    free(p->headers);
    free(p->decoded);
    free(p->decoded_key);
    memset(p, 0, sizeof *p);
}

/* ---- enums as strings ----------------------------------------------------------- */

static const char *const retention_names[] = {"limits", "interest", "workqueue", NULL};
static const char *const fsync_names[] = {"always", "interval", "never", NULL};
static const char *const compaction_names[] = {"none", "key", "subject", NULL};
static const char *const deliver_names[] = {"all", "new", "last", "seq", "time", NULL};
static const char *const ack_names[] = {"none", "each", "cumulative", NULL};

/* Reads an optional enum field; absent leaves *out unchanged. */
static int get_enum(json_t *obj, const char *key, const char *const *names, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_string(v)) return OB_EINVAL;
    for (int i = 0; names[i]; i++)
        if (!strcmp(json_string_value(v), names[i])) {
            *out = i;
            return 0;
        }
    return OB_EINVAL;
}

static int get_u32(json_t *obj, const char *key, uint32_t *out)
{
    uint64_t v;
    if (ob_json_get_u64(obj, key, &v) || v > UINT32_MAX) return OB_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int get_bool(json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return OB_EINVAL;
    *out = json_is_true(v);
    return 0;
}

/* Optional string field; absent or null leaves *out NULL. */
static int get_str(json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return OB_EINVAL;
    *out = json_string_value(v);
    return 0;
}

/* The object's "name", reconciled with the URL's {name}. */
static int get_name(json_t *obj, const char *override, const char **out, const char **why)
{
    if (get_str(obj, "name", out)) return *why = "name must be a string", OB_EINVAL;
    if (override && *out && strcmp(*out, override))
        return *why = "name in the body differs from the URL", OB_EINVAL;
    if (!*out) *out = override;
    if (!*out) return *why = "name is required", OB_EINVAL;
    return 0;
}

/* ---- streams -------------------------------------------------------------------- */

static int parse_subjects(json_t *obj, struct ob_json_stream_cfg *out, const char **why)
{
    json_t *a = json_object_get(obj, "subjects");
    if (!a) return 0;
    if (!json_is_array(a)) return *why = "subjects must be an array of filters", OB_EINVAL;
    out->subjects = ob_xcalloc(json_array_size(a) + 1, sizeof *out->subjects);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !ob_filter_valid(jslice(v)))
            return *why = "subjects must be an array of valid filters", OB_EBADSUBJECT;
        out->subjects[i] = json_string_value(v);
    }
    out->cfg.subjects = out->subjects;
    out->cfg.nsubjects = json_array_size(a);
    return 0;
}

static int parse_stream_fields(json_t *o, struct ob_stream_config *c, const char **why)
{
    int ret = 0, comp = 0, fs = 0;
    uint64_t age;
    if (get_enum(o, "retention", retention_names, &ret) ||
        get_enum(o, "compaction", compaction_names, &comp) ||
        get_enum(o, "fsync", fsync_names, &fs))
        return *why = "retention, compaction or fsync has an unknown value", OB_EINVAL;
    c->retention = (enum ob_retention)ret;
    c->compaction = (enum ob_compaction)comp;
    c->fsync = (enum ob_fsync)fs;
    if (ob_json_get_u64(o, "max_msgs", &c->max_msgs) ||
        ob_json_get_u64(o, "max_bytes", &c->max_bytes) || ob_json_get_u64(o, "max_age_ms", &age) ||
        age > INT64_MAX || get_u32(o, "max_msg_size", &c->max_msg_size) ||
        get_u32(o, "fsync_interval_ms", &c->fsync_interval_ms) ||
        ob_json_get_u64(o, "segment_bytes", &c->segment_bytes) || get_bool(o, "memory", &c->memory))
        return *why = "a limit is not a non-negative integer (or memory not a boolean)", OB_EINVAL;
    c->max_age_ms = (int64_t)age;
    return 0;
}

int ob_json_parse_stream_cfg(json_t *obj, const char *name_override, struct ob_json_stream_cfg *out,
                             const char **why)
{
    static const char *const keys[] = {
        "name",       "subjects",      "retention",  "max_msgs", "max_bytes",
        "max_age_ms", "max_msg_size",  "compaction", "fsync",    "fsync_interval_ms",
        "memory",     "segment_bytes", NULL};
    const char *bad;
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj)) return *why = "the body must be a JSON object", OB_EINVAL;
    if (!only_keys(obj, keys, &bad)) return *why = "unknown field in stream config", OB_EINVAL;
    int rc = get_name(obj, name_override, &out->cfg.name, why);
    if (!rc) rc = parse_subjects(obj, out, why);
    if (!rc) rc = parse_stream_fields(obj, &out->cfg, why);
    if (rc) ob_json_stream_cfg_release(out);
    return rc;
}

void ob_json_stream_cfg_release(struct ob_json_stream_cfg *c)
{
    free(c->subjects);
    memset(c, 0, sizeof *c);
}

static json_t *u64(uint64_t v)
{
    return json_integer((json_int_t)v);
}

json_t *ob_json_stream_config(const struct ob_stream_config *c)
{
    json_t *subs = json_array();
    for (size_t i = 0; i < c->nsubjects; i++)
        json_array_append_new(subs, json_string(c->subjects[i]));
    return json_pack("{s:s, s:o, s:s, s:o, s:o, s:I, s:I, s:s, s:s, s:I, s:b, s:o}", "name",
                     c->name, "subjects", subs, "retention", retention_names[c->retention],
                     "max_msgs", u64(c->max_msgs), "max_bytes", u64(c->max_bytes), "max_age_ms",
                     (json_int_t)c->max_age_ms, "max_msg_size", (json_int_t)c->max_msg_size,
                     "compaction", compaction_names[c->compaction], "fsync", fsync_names[c->fsync],
                     "fsync_interval_ms", (json_int_t)c->fsync_interval_ms, "memory", c->memory,
                     "segment_bytes", u64(c->segment_bytes));
}

json_t *ob_json_stream(const struct ob_stream *st)
{
    struct ob_stream_info in;
    ob_stream_get_info(st, &in);
    json_t *state = json_pack("{s:o, s:o, s:o, s:o, s:o}", "msgs", u64(in.msgs), "bytes",
                              u64(in.bytes), "first_seq", u64(in.first_seq), "last_seq",
                              u64(in.last_seq), "consumers", u64(in.consumers));
    return json_pack("{s:s, s:o, s:o}", "name", ob_stream_name(st), "config",
                     ob_json_stream_config(ob_stream_config(st)), "state", state);
}

/* ---- consumers ------------------------------------------------------------------ */

static int parse_consumer_fields(json_t *o, struct ob_consumer_config *c, const char **why)
{
    int dp = 0, ap = 1;
    uint64_t start_time = 0;
    if (get_enum(o, "deliver", deliver_names, &dp) || get_enum(o, "ack", ack_names, &ap))
        return *why = "deliver or ack has an unknown value", OB_EINVAL;
    c->deliver = (enum ob_deliver_policy)dp;
    c->ack = (enum ob_ack_policy)ap;
    if (ob_json_get_u64(o, "start_seq", &c->start_seq) ||
        ob_json_get_u64(o, "start_time_ns", &start_time) || start_time > INT64_MAX ||
        get_u32(o, "ack_wait_ms", &c->ack_wait_ms) || get_u32(o, "max_deliver", &c->max_deliver) ||
        get_u32(o, "max_ack_pending", &c->max_ack_pending))
        return *why = "a number field is not a non-negative integer in range", OB_EINVAL;
    c->start_time_ns = (int64_t)start_time;
    if (get_str(o, "filter", &c->filter) ||
        (c->filter && *c->filter && !ob_filter_valid(ob_slice_str(c->filter))))
        return *why = "filter is not a valid subject filter", OB_EBADSUBJECT;
    if (get_str(o, "dead_letter", &c->dead_letter) ||
        (c->dead_letter && !ob_subject_valid(ob_slice_str(c->dead_letter))))
        return *why = "dead_letter is not a valid subject", OB_EBADSUBJECT;
    return 0;
}

int ob_json_parse_consumer_cfg(json_t *obj, const char *name_override,
                               struct ob_consumer_config *out, const char **why)
{
    static const char *const keys[] = {
        "name", "filter",      "deliver",     "start_seq",   "start_time_ns",
        "ack",  "ack_wait_ms", "max_deliver", "dead_letter", "max_ack_pending",
        NULL};
    const char *bad;
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj)) return *why = "the body must be a JSON object", OB_EINVAL;
    if (!only_keys(obj, keys, &bad)) return *why = "unknown field in consumer config", OB_EINVAL;
    int rc = get_name(obj, name_override, &out->name, why);
    return rc ? rc : parse_consumer_fields(obj, out, why);
}

json_t *ob_json_consumer_config(const struct ob_consumer_config *c)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:I, s:I, s:I}", "name", c->name, "filter",
                  c->filter ? c->filter : "", "deliver", deliver_names[c->deliver], "start_seq",
                  u64(c->start_seq), "start_time_ns", (json_int_t)c->start_time_ns, "ack",
                  ack_names[c->ack], "ack_wait_ms", (json_int_t)c->ack_wait_ms, "max_deliver",
                  (json_int_t)c->max_deliver, "max_ack_pending", (json_int_t)c->max_ack_pending);
    json_object_set_new(o, "dead_letter",
                        c->dead_letter ? json_string(c->dead_letter) : json_null());
    return o;
}

json_t *ob_json_consumer(const struct ob_consumer *c, const char *stream)
{
    struct ob_consumer_info in;
    ob_consumer_get_info(c, &in);
    json_t *state =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "delivered_seq", u64(in.delivered_seq),
                  "ack_floor", u64(in.ack_floor), "ack_pending", u64(in.ack_pending), "num_pending",
                  u64(in.num_pending), "redelivered", u64(in.redelivered), "dead_lettered",
                  u64(in.dead_lettered), "bindings", u64(in.bindings));
    return json_pack("{s:s, s:s, s:o, s:o}", "name", ob_consumer_name(c), "stream", stream,
                     "config", ob_json_consumer_config(ob_consumer_config(c)), "state", state);
}

/* ---- ack ids ---------------------------------------------------------------------- */

void ob_json_ack_id(const char *stream, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s:%" PRIu64, stream, seq);
}

int ob_json_parse_ack_id(const char *id, const char *stream, uint64_t *seq)
{
    size_t sl = strlen(stream);
    if (strncmp(id, stream, sl) || id[sl] != ':') return OB_EINVAL;
    const char *d = id + sl + 1;
    if (*d < '1' || *d > '9') return OB_EINVAL;
    uint64_t v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > (UINT64_MAX - 9) / 10) return OB_EINVAL;
        v = v * 10 + (uint64_t)(*d - '0');
    }
    *seq = v;
    return 0;
}

/* ---- problem details ------------------------------------------------------------ */

static const char *error_slug(int err, int *status)
{
    switch (err) {
    case OB_EBADSUBJECT:
        return *status = 400, "bad-subject";
    case OB_ENOENT:
        return *status = 404, "not-found";
    case OB_EEXIST:
        return *status = 409, "conflict";
    case OB_EOVERLAP:
        return *status = 409, "overlap";
    case OB_ETOOBIG:
        return *status = 413, "too-large";
    case OB_ELIMIT:
        return *status = 429, "limit";
    case OB_EPERM:
        return *status = 403, "forbidden";
    case OB_EAUTH:
        return *status = 401, "unauthorized";
    case OB_ENOTSUP:
        return *status = 501, "not-supported";
    case OB_ETIMEDOUT:
        return *status = 504, "timeout";
    case OB_EIO:
    case OB_ENOSPC:
    case OB_ECORRUPT:
    case OB_ECLOSED:
        return *status = 503, "unavailable";
    default:
        return *status = 400, "invalid-request";
    }
}

int ob_json_error_status(int err, const char **slug, const char **title)
{
    int status;
    *slug = error_slug(err, &status);
    if (title) *title = ob_h1_reason(status);
    return status;
}

