/*
 * server.h — the shared HTTP server layer: one adapter ("http", listeners.http) that
 * speaks HTTP/1.1 (src/http/h1.c) and HTTP/2 (nghttp2: h2c with prior knowledge or
 * Upgrade: h2c), routes requests to handlers, and upgrades to WebSocket (src/http/ws.c)
 * for endpoints that ask for it. REST, SSE, WebSocket pub/sub, GraphQL, gRPC and
 * MQTT-over-WebSocket are all *modules* mounted on this layer; none of them sees a
 * socket, a parser or a protocol version.
 *
 * Owner: the HTTP server layer (server*.c, router*.c, h2*.c, wsconn*.c, modules*,
 * cors*, gzip*, problem*, ops*, metrics*). Modules own only their handlers' state.
 *
 * ---- Mounting a module ---------------------------------------------------------------
 * A module is one init function that registers routes on a router:
 *     int ob_http_mod_rest(struct ob_http_router *r, const struct ob_proto_host *host);
 * Built-in modules are listed in ONE place, the OB_HTTP_MODULE_LIST X-macro in
 * src/http/modules.h: adding `X(rest)` there declares ob_http_mod_rest and calls it for
 * every http listener (include "http/modules.h" in your module for the prototype).
 * Embedding applications and tests add modules at run time with
 * ob_http_register_module() before the listener starts.
 * Init runs once per listener (at listener_init); state a module needs per listener
 * goes in the arg of its routes (freed through ob_http_router_on_free).
 *
 * ---- Requests ------------------------------------------------------------------------
 * A handler runs once the whole request is in: head parsed, body decoded (chunked or
 * not, 100-continue answered) and buffered up to limits.max_msg_size (413 beyond),
 * the client authenticated (see Authentication). The same request object serves
 * HTTP/1.1 and HTTP/2. Everything a getter returns is owned by the request and valid
 * until the response is complete or the request is cancelled.
 *
 * A handler returns OB_HTTP_DONE after it responded, or OB_HTTP_PENDING to respond
 * later (after a durable publish ack, a long-poll, or to stream). A negative OB_E*
 * return without a response becomes a problem+json 500 (413 for OB_ETOOBIG, 404 for
 * OB_ENOENT, 403 for OB_EPERM, 400 for OB_EINVAL/OB_EBADSUBJECT). Returning
 * OB_HTTP_DONE without responding is a bug answered with 500.
 *
 * Pending requests: if the client goes away (or the server shuts down) before the
 * response is complete, the cancel callback (ob_http_req_on_cancel) runs once; after
 * it, the request pointer is dead. Without a cancel callback a pending request that
 * loses its client is freed silently, so a handler holding it MUST set one.
 * HTTP/1.1 pipelining: requests are dispatched as they arrive (up to 16 in flight per
 * connection) and their responses are written in request order, whatever order the
 * handlers finish in.
 *
 * ---- Responses -----------------------------------------------------------------------
 * Exactly one of: ob_http_respond* (full response), ob_http_problem (RFC 9457 error),
 * or ob_http_stream_start .. ob_http_stream_end (streaming). Framing headers
 * (Content-Length, Transfer-Encoding, Connection) are the server's: do not pass them.
 * The server adds Date, Server, CORS headers, and gzips a full response when the
 * client accepts it, the body is over 1 KiB and its Content-Type is compressible
 * (text/ types, application/json, +json, application/javascript, xml types); HEAD gets the
 * headers of the GET without the body.
 *
 * Streaming (SSE, long responses): chunked on HTTP/1.1, DATA frames on HTTP/2, never
 * compressed. ob_http_stream_queued/congested expose the bytes not yet written so a
 * module can cut off a slow client; the on_writable callback fires when a congested
 * stream's output drained below half the connection's write buffer.
 *
 * ---- WebSocket -----------------------------------------------------------------------
 * ob_http_ws_route mounts an endpoint: a GET with a valid RFC 6455 upgrade at that
 * path becomes a struct ob_ws_conn (HTTP/1.1 only; RFC 8441 over HTTP/2 is not
 * supported). The layer does the whole protocol: fragmentation reassembly, control
 * frames between fragments, answers pings, optional server pings with a pong timeout,
 * the close handshake (1000 echo, 1002 protocol, 1007 bad UTF-8, 1009 too big, 1011
 * internal), permessage-deflate (zlib) when the endpoint allows it. A module sees only
 * whole messages and sends whole messages.
 *
 * ---- Authentication ------------------------------------------------------------------
 * Authorization: Basic (user:password) or Bearer (token) is checked through
 * core/auth.h (argon2 checks run off-loop and are cached per connection for the same
 * header value); no credentials means the anonymous principal if auth.anonymous
 * allows it for the peer. Failure is 401 with WWW-Authenticate (Basic and Bearer).
 * Routes flagged OB_HTTP_PUBLIC skip authentication (health checks). Authorization of
 * an action (publish/subscribe a subject) is the module's: ob_http_authorize.
 *
 * Threading: everything runs on the bus loop thread. Ownership: strings passed to the
 * registration functions must stay valid for the router's life (string literals);
 * bodies passed to ob_http_respond are copied, those passed to the _zc variants are
 * borrowed until their release callback runs.
 */
#ifndef OB_HTTP_SERVER_H
#define OB_HTTP_SERVER_H

#include "net/net.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct ob_principal;
struct ob_http_router;
struct ob_http_req;
struct ob_ws_conn;

/* The adapter, name "http": listeners.http binds to it. */
extern const struct ob_protocol ob_http_protocol;

/* ---- modules -------------------------------------------------------------------- */

typedef int (*ob_http_module_init)(struct ob_http_router *r, const struct ob_proto_host *host);

struct ob_http_module {
    const char *name;
    ob_http_module_init init; /* nonzero return: the listener fails to start */
};

/* Adds a module for listeners started after this call (the server, embedders, tests).
 * m is borrowed (static storage); adding one already added does nothing. Up to 32;
 * OB_ELIMIT beyond. Not thread-safe: call before the loop runs. */
int ob_http_register_module(const struct ob_http_module *m);
/* Removes every run-time module (tests). */
void ob_http_clear_modules(void);

/* ---- routes --------------------------------------------------------------------- */

enum ob_http_method {
    OB_HTTP_GET = 1 << 0,
    OB_HTTP_HEAD = 1 << 1, /* GET routes also answer HEAD; body suppressed */
    OB_HTTP_POST = 1 << 2,
    OB_HTTP_PUT = 1 << 3,
    OB_HTTP_DELETE = 1 << 4,
    OB_HTTP_PATCH = 1 << 5,
    OB_HTTP_OPTIONS = 1 << 6, /* CORS preflights are answered by the server itself */
    OB_HTTP_OTHER = 1 << 7,
    OB_HTTP_ANY = 0xff,
};

enum ob_http_route_flags {
    OB_HTTP_PUBLIC = 1, /* no authentication (no principal) */
};

enum ob_http_result {
    OB_HTTP_DONE = 0,    /* the handler responded */
    OB_HTTP_PENDING = 1, /* the handler will respond (or stream) later */
};

typedef int (*ob_http_handler)(struct ob_http_req *req, void *arg);

/*
 * Adds a route. pattern is a path: literal segments, "{name}" segments (one segment,
 * captured percent-decoded, read with ob_http_param), and an optional final "*" that
 * matches any rest (possibly empty; captured as param "*"), e.g.
 *   "/v1/subjects/{subject}", "/v1/streams/{name}/consumers/{consumer}", "/static/" + star.
 * Literal matches beat captures, captures beat "*"; among equals, the first added
 * wins. A path that matches with another method gets 405 with Allow. OB_EINVAL for a
 * bad pattern.
 */
int ob_http_route(struct ob_http_router *r, unsigned methods, const char *pattern, unsigned flags,
                  ob_http_handler h, void *arg);
/* Runs free_fn(arg) when the router (the listener) goes away: per-listener module state. */
void ob_http_router_on_free(struct ob_http_router *r, void (*free_fn)(void *arg), void *arg);
/* The listener's host (bus, auth, limits). */
const struct ob_proto_host *ob_http_router_host(const struct ob_http_router *r);

/* ---- requests ------------------------------------------------------------------- */

unsigned ob_http_req_method_id(const struct ob_http_req *req);    /* one enum ob_http_method bit */
const char *ob_http_req_method(const struct ob_http_req *req);    /* "GET" */
const char *ob_http_req_path(const struct ob_http_req *req);      /* percent-decoded */
struct ob_slice ob_http_req_query(const struct ob_http_req *req); /* raw, without '?' */
/* A route capture, decoded ("subject"), or NULL. */
const char *ob_http_param(const struct ob_http_req *req, const char *name);
/* The index-th (0-based) query parameter called name, decoded ('+' is a space), or
 * NULL; repeatable parameters: loop index until NULL. */
const char *ob_http_query(struct ob_http_req *req, const char *name, size_t index);
/* The first header called name (case-insensitive), NUL-terminated, or NULL. */
const char *ob_http_header(const struct ob_http_req *req, const char *name);
/* All headers as received (names lower-case on HTTP/2). */
const struct ob_header *ob_http_req_headers(const struct ob_http_req *req, size_t *n);
struct ob_slice ob_http_req_body(const struct ob_http_req *req);
int ob_http_req_version(const struct ob_http_req *req); /* 10, 11 or 20 */
const struct sockaddr *ob_http_req_peer(const struct ob_http_req *req);
const char *ob_http_req_peer_name(const struct ob_http_req *req);
/* The authenticated principal (anonymous included); NULL on OB_HTTP_PUBLIC routes. */
const struct ob_principal *ob_http_req_principal(const struct ob_http_req *req);
const struct ob_proto_host *ob_http_req_host(const struct ob_http_req *req);
struct ob_bus *ob_http_req_bus(const struct ob_http_req *req);
/* ob_auth_authorize with the current authenticator and this request's principal. */
int ob_http_authorize(const struct ob_http_req *req, enum ob_action act, const char *subject);
void *ob_http_req_data(const struct ob_http_req *req);
void ob_http_req_set_data(struct ob_http_req *req, void *data);
/* A pending request lost its client or the server is shutting down: cancel(arg) runs
 * once, the request is freed after it returns. Pass NULL to clear. */
void ob_http_req_on_cancel(struct ob_http_req *req, void (*cancel)(void *arg), void *arg);

/* ---- full responses ------------------------------------------------------------- */

/* Copies body. */
int ob_http_respond(struct ob_http_req *req, int status, const struct ob_header *headers,
                    size_t nheaders, const void *body, size_t len);
/* Zero-copy: iov stays borrowed until release(arg) runs (also on error). */
int ob_http_respond_zc(struct ob_http_req *req, int status, const struct ob_header *headers,
                       size_t nheaders, const struct ob_slice *iov, size_t niov,
                       ob_release_fn release, void *arg);
/* Shorthands: body is a NUL-terminated string with this Content-Type; no body. */
int ob_http_respond_text(struct ob_http_req *req, int status, const char *content_type,
                         const char *text);
int ob_http_respond_empty(struct ob_http_req *req, int status);

/*
 * RFC 9457 problem details: application/problem+json with
 *   {"type":"https://omnibus.dev/problems/<type_suffix>","title":..,"status":..,
 *    "detail":..,"instance":"<request path>"}
 * detail may be NULL. extra headers (e.g. Retry-After for 429) may be NULL.
 */
#define OB_HTTP_PROBLEM_BASE "https://omnibus.dev/problems/"
int ob_http_problem(struct ob_http_req *req, int status, const char *type_suffix, const char *title,
                    const char *detail);
int ob_http_problem_h(struct ob_http_req *req, int status, const struct ob_header *headers,
                      size_t nheaders, const char *type_suffix, const char *title,
                      const char *detail);
/* The HTTP status the server answers for an OB_E* code (500 for unknown ones). */
int ob_http_status_for_error(int err);

/* ---- streaming responses -------------------------------------------------------- */

int ob_http_stream_start(struct ob_http_req *req, int status, const struct ob_header *headers,
                         size_t nheaders);
int ob_http_stream_write(struct ob_http_req *req, const void *p, size_t n); /* copies */
int ob_http_stream_write_zc(struct ob_http_req *req, const struct ob_slice *iov, size_t niov,
                            ob_release_fn release, void *arg);
/* Ends the response; the request is freed (no cancel callback after this). */
int ob_http_stream_end(struct ob_http_req *req);
/* Bytes of this response not yet handed to the kernel (includes the connection's queue). */
size_t ob_http_stream_queued(const struct ob_http_req *req);
bool ob_http_stream_congested(const struct ob_http_req *req);
/* cb(req, arg) runs when a congested stream's output drained (NULL clears). */
void ob_http_stream_on_writable(struct ob_http_req *req,
                                void (*cb)(struct ob_http_req *req, void *arg), void *arg);

/* ---- WebSocket endpoints -------------------------------------------------------- */

struct ob_ws_endpoint {
    const char *const *subprotocols; /* in preference order; NULL: none */
    size_t nsubprotocols;
    bool require_subprotocol;  /* refuse (400) a client that offers none of ours */
    bool deflate;              /* accept permessage-deflate */
    uint64_t max_message;      /* 0: limits.max_msg_size */
    uint32_t ping_interval_ms; /* 0: the server never pings */
    uint32_t pong_timeout_ms;  /* 0: 2 × ping_interval */
    /* Optional, before the 101: inspect the request (query, principal); respond (e.g.
     * ob_http_problem 403) and return nonzero to refuse. */
    int (*on_request)(struct ob_http_req *req, void *arg);
    /* The connection is open; req (valid during the call) is the upgrade request. */
    void (*on_open)(struct ob_ws_conn *ws, struct ob_http_req *req);
    /* A whole message: OB_WS_OP_TEXT (valid UTF-8) or OB_WS_OP_BINARY, inflated.
     * data is valid during the call only. */
    void (*on_message)(struct ob_ws_conn *ws, int opcode, const uint8_t *data, size_t len);
    /* Optional: output drained after ob_ws_conn_congested was true. */
    void (*on_writable)(struct ob_ws_conn *ws);
    /* The last callback: code received or sent (1006: the connection just died). */
    void (*on_close)(struct ob_ws_conn *ws, uint16_t code);
    void *arg;
};

/* Mounts ep at the exact path (copied struct; its strings borrowed). Non-upgrade
 * requests there get 426. */
int ob_http_ws_route(struct ob_http_router *r, const char *path, unsigned flags,
                     const struct ob_ws_endpoint *ep);

/* opcode OB_WS_OP_TEXT (data must be UTF-8; not checked) or OB_WS_OP_BINARY. Copies.
 * OB_ECLOSED once closing. */
int ob_ws_conn_send(struct ob_ws_conn *ws, int opcode, const void *data, size_t len);
/* Zero-copy when uncompressed; with permessage-deflate the payload is compressed into
 * a new buffer and released at once. */
int ob_ws_conn_send_zc(struct ob_ws_conn *ws, int opcode, const struct ob_slice *iov, size_t niov,
                       ob_release_fn release, void *arg);
/* Starts the close handshake (code 1000, 1001, 1008, 1011, 3000-4999…; reason UTF-8,
 * at most 123 bytes); on_close follows once the peer answers or a timeout. */
void ob_ws_conn_close(struct ob_ws_conn *ws, uint16_t code, const char *reason);
void *ob_ws_conn_data(const struct ob_ws_conn *ws);
void ob_ws_conn_set_data(struct ob_ws_conn *ws, void *data);
void *ob_ws_conn_endpoint_arg(const struct ob_ws_conn *ws);
const char *ob_ws_conn_subprotocol(const struct ob_ws_conn *ws); /* NULL if none */
const struct ob_principal *ob_ws_conn_principal(const struct ob_ws_conn *ws);
const struct ob_proto_host *ob_ws_conn_host(const struct ob_ws_conn *ws);
const char *ob_ws_conn_peer_name(const struct ob_ws_conn *ws);
uint64_t ob_ws_conn_id(const struct ob_ws_conn *ws);
size_t ob_ws_conn_queued(const struct ob_ws_conn *ws);
bool ob_ws_conn_congested(const struct ob_ws_conn *ws);

/* ---- options (defaults in code; embedders and tests may change them) ------------- */

struct ob_http_options {
    uint32_t header_timeout_ms;    /* a request head must complete within; 408. 10 s */
    uint32_t keepalive_timeout_ms; /* idle between requests; closed. 60 s */
    uint32_t max_head;             /* request line + headers bytes; 431. 16 KiB */
    uint32_t max_headers;          /* header count; 431. 100 */
    uint32_t max_streams;          /* HTTP/2 concurrent streams. 100 */
    const char *cors_origins;      /* comma-separated, or "*" (default); "" disables CORS */
    bool access_log;               /* one info line per request. true */
    bool gzip;                     /* compress eligible responses. true */
};
/* Process-wide; applies to listeners started afterwards. NULL restores the defaults.
 * cors_origins is copied. OB_HTTP_ACCESS_LOG=0 in the environment turns the access log
 * off by default. The strings ob_http_get_options returns are valid until the next set. */
void ob_http_set_options(const struct ob_http_options *o);
void ob_http_get_options(struct ob_http_options *o);
/* ob_http_set_options, and also applies what can change live to the running listeners
 * of host (those on host->bus; NULL: every listener): the two timeouts (and the sweep
 * interval), CORS origins, the access log and gzip, from their next request on.
 * max_head, max_headers and max_streams stay as the listener started them (the
 * server's reload on SIGHUP). Call on the loop thread of those listeners. */
void ob_http_update_options(const struct ob_proto_host *host, const struct ob_http_options *o);

/* Graceful shutdown, before the net layer closes the connections: every open WebSocket
 * on the listeners of host (those on host->bus; NULL: every listener) gets a close
 * frame with 1001 (going away), its endpoint's on_close(1001), and a graceful TCP close
 * (the frame is flushed first). Connections already closing are left alone. Call on
 * the loop thread. */
void ob_http_shutdown_all(const struct ob_proto_host *host);

/* /readyz answers 503 once this is false (the server calls it when shutting down). */
void ob_http_set_ready(bool ready);

#endif
