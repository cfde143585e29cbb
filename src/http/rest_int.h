/*
 * rest_int.h — private to the REST module (rest*.c): per-listener state and the helpers
 * every handler uses to read JSON bodies and answer JSON or problem+json.
 *
 * Owner: the REST API (rest*.c). The module's state (struct ob_rest) belongs to the
 * router and is freed with it (ob_http_router_on_free).
 */
#ifndef OB_HTTP_REST_INT_H
#define OB_HTTP_REST_INT_H

#include "base/map.h"
#include "http/idempotency.h"
#include "http/json.h"
#include "http/server.h"

#include <jansson.h>
#include <omnibus.h>
#include <stdbool.h>

/* Limits of the REST API (documented in docs/rest.md and docs/openapi.json). */
#define OB_REST_MAX_BATCH    1000   /* messages in one POST /v1/publish */
#define OB_REST_MAX_PULL     1000   /* max_messages of one pull */
#define OB_REST_MAX_WAIT_MS  60000  /* max_wait_ms of one pull */
#define OB_REST_MAX_PULLS    256    /* pulls waiting at once per listener (429 beyond) */
#define OB_REST_MAX_READ     1000   /* limit of GET .../messages */
#define OB_REST_IDEM_ENTRIES 10000  /* Idempotency-Key table size */
#define OB_REST_IDEM_TTL_MS  300000 /* how long a key is remembered: 5 min */

struct ob_rest {
    struct ob_bus *bus;
    struct ob_idem *idem;
    size_t pulls;         /* long-polls waiting now */
    size_t max_pulls;     /* OB_REST_MAX_PULLS, or OB_REST_MAX_PULLS in the environment (tests) */
    size_t inflight;      /* publishes and pulls whose core callback has not run yet */
    struct ob_map pullqs; /* "stream/consumer" -> struct pullq (rest_consumers.c) */
    bool closed;          /* the router went away; freed when inflight drops to 0 */
};

/* Core callbacks (durable acks, fetch completions) may run after the listener is gone
 * (ob_bus_close flushes them): every operation that waits for one holds the state. */
void ob_rest_hold(struct ob_rest *rest);
void ob_rest_drop(struct ob_rest *rest);

/* Answers a JSON document (takes the reference of j). */
int ob_rest_json(struct ob_http_req *req, int status, json_t *j);
/* Answers a problem for an OB_E* code; 429 carries Retry-After: 1. */
int ob_rest_error(struct ob_http_req *req, int err, const char *detail);
/* Answers a problem with an explicit status and type slug. */
int ob_rest_problem(struct ob_http_req *req, int status, const char *slug, const char *detail);

/*
 * Reads the request body as a JSON object. An empty body is {} when allow_empty (pull,
 * purge), else 400. A body with a Content-Type other than application/json or *+json
 * is 415. On failure the problem was answered and NULL returned (the handler returns
 * OB_HTTP_DONE).
 */
json_t *ob_rest_body(struct ob_http_req *req, bool allow_empty);

/* The stream named by the {name} capture, or NULL after answering 404. */
struct ob_stream *ob_rest_stream(struct ob_http_req *req);

/* Route registration of each part. */
int ob_rest_mount_publish(struct ob_http_router *r, struct ob_rest *rest);
int ob_rest_mount_streams(struct ob_http_router *r, struct ob_rest *rest);
int ob_rest_mount_consumers(struct ob_http_router *r, struct ob_rest *rest);

/* Authorizes subscribe access to what a stream (or a filter inside it) holds: filter
 * if non-empty, else every subject filter of the stream. 0 or OB_EPERM. */
int ob_rest_authorize_read(struct ob_http_req *req, struct ob_stream *st, const char *filter);

#endif
