/*
 * json.h — the JSON shapes of the HTTP gateway (REST, SSE, WebSocket), on jansson:
 * messages, publish requests, stream and consumer configurations and infos, and RFC 9457
 * problem details. One place, so that REST, SSE and WebSocket agree on every field name
 * and docs/openapi.json has one schema per shape.
 *
 * Pure: no I/O, no bus calls (except reading a stream's or consumer's config and info).
 *
 * Ownership: functions returning json_t * return a new reference owned by the caller
 * (json_decref). Parsed configs hold pointers into the json_t they were parsed from
 * (strings) plus arrays they own: release them with the matching *_release before
 * dropping that json_t.
 */
#ifndef OB_HTTP_JSON_H
#define OB_HTTP_JSON_H

#include <jansson.h>
#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- messages ------------------------------------------------------------------- */

enum ob_json_msg_flags {
    OB_JSON_MSG_BASE64 = 1,     /* always payload_base64, even for UTF-8 payloads */
    OB_JSON_MSG_NO_PAYLOAD = 2, /* leave the payload out (it travels beside the JSON) */
};

/*
 * A message as JSON: {subject, stream?, seq?, time, timestamp_ns, headers{}, key?,
 * payload | payload_base64}. The payload goes as a string when it is valid UTF-8 (and
 * flags do not ask for base64), else base64. Header values that are not UTF-8 go to
 * "headers_base64" instead of "headers"; a repeated header name joins its values with
 * ", " (HTTP field semantics). stream NULL / seq 0: not from a stream.
 */
json_t *ob_json_from_msg(const struct ob_msg *m, const char *stream, uint64_t seq, unsigned flags);

/*
 * The last message serialized, for fan-out: one publish is delivered to many
 * subscribers in a row, and each would otherwise encode the same JSON again. Holds a
 * reference to the message (so its pointer cannot be reused while cached).
 */
struct ob_json_msg_cache {
    struct ob_msg *msg;
    char *stream;
    uint64_t seq;
    unsigned flags;
    char *json;
    size_t len;
};
/* The compact JSON of ob_json_from_msg(m, stream, seq, flags), from the cache when it
 * is the same; valid until the next call or the release. */
const char *ob_json_msg_cached(struct ob_json_msg_cache *c, struct ob_msg *m, const char *stream,
                               uint64_t seq, unsigned flags, size_t *len);
void ob_json_msg_cache_release(struct ob_json_msg_cache *c);

/* RFC 3339 UTC time with nanoseconds of ts_ns into out (at least 40 bytes). */
void ob_json_time(int64_t ts_ns, char *out, size_t n);

/*
 * A parsed publish request ({subject, headers, key, payload | payload_base64}), ready
 * for ob_msg_new. The slices point into the json_t (strings) or into decoded buffers
 * owned here.
 */
struct ob_json_pub {
    struct ob_msg_init init;
    struct ob_header *headers; /* owned */
    uint8_t *decoded;          /* owned: base64-decoded payload or key, or NULL */
    uint8_t *decoded_key;
};

/* Parses one publish object. OB_EINVAL (with a static reason in *why) for a shape
 * error, OB_EBADSUBJECT for a bad subject. On error nothing needs releasing. */
int ob_json_parse_pub(json_t *obj, struct ob_json_pub *out, const char **why);
void ob_json_pub_release(struct ob_json_pub *p);

/* ---- streams and consumers ------------------------------------------------------ */

struct ob_json_stream_cfg {
    struct ob_stream_config cfg;
    const char **subjects; /* owned array; strings borrowed from the json_t */
};

/* Parses a stream configuration object. name_override (the {name} of the URL), if
 * non-NULL, is used when the body has no name and must equal it when it has one.
 * Unknown fields are an error (a typo must not silently become a default).
 * Returns 0 or OB_EINVAL with *why set (a static string). */
int ob_json_parse_stream_cfg(json_t *obj, const char *name_override, struct ob_json_stream_cfg *out,
                             const char **why);
void ob_json_stream_cfg_release(struct ob_json_stream_cfg *c);
json_t *ob_json_stream_config(const struct ob_stream_config *cfg);
/* {name, config{}, state{msgs, bytes, first_seq, last_seq, consumers}} */
json_t *ob_json_stream(const struct ob_stream *st);

/* Parses a consumer configuration (same rules as streams). */
int ob_json_parse_consumer_cfg(json_t *obj, const char *name_override,
                               struct ob_consumer_config *out, const char **why);
json_t *ob_json_consumer_config(const struct ob_consumer_config *cfg);
/* {name, stream, config{}, state{delivered_seq, ack_floor, ack_pending, num_pending,
 * redelivered, dead_lettered, bindings}} */
json_t *ob_json_consumer(const struct ob_consumer *c, const char *stream);

/* ---- ack ids ---------------------------------------------------------------------- */

/* "stream:seq" — what pull hands out and ack/nack/extend take back. */
void ob_json_ack_id(const char *stream, uint64_t seq, char *out, size_t n);
/* Parses an ack id; the stream part must equal stream. OB_EINVAL otherwise. */
int ob_json_parse_ack_id(const char *id, const char *stream, uint64_t *seq);

/* ---- problem details (RFC 9457) ------------------------------------------------- */

/* The HTTP status, stable problem type slug (appended to OB_HTTP_PROBLEM_BASE by the
 * server's ob_http_problem) and title for an OB_E* code: EINVAL 400 "invalid-request",
 * EBADSUBJECT 400 "bad-subject", ENOENT 404 "not-found", EEXIST 409 "conflict",
 * EOVERLAP 409 "overlap", ETOOBIG 413 "too-large", ELIMIT 429 "limit", EPERM 403
 * "forbidden", EIO/ENOSPC/ECORRUPT/ECLOSED 503 "unavailable"… */
int ob_json_error_status(int err, const char **slug, const char **title);

/* ---- helpers -------------------------------------------------------------------- */

/* Serializes compactly into a malloc'd string (free()); *len gets its length. */
char *ob_json_dump(const json_t *j, size_t *len);
/* true if p[0..n) is valid UTF-8. */
bool ob_json_utf8_ok(const uint8_t *p, size_t n);
/* Base64 (standard alphabet, padded). encode: malloc'd NUL-terminated string.
 * decode: 0 or OB_EINVAL; *out malloc'd. */
char *ob_json_b64_encode(const uint8_t *p, size_t n);
int ob_json_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);
/* Reads an optional unsigned integer field (>= 0, an integer). 0 if absent.
 * OB_EINVAL if present and not a non-negative integer. */
int ob_json_get_u64(json_t *obj, const char *key, uint64_t *out);

#endif
