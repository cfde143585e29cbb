/*
 * server_int.h — private structures of the HTTP server layer, shared by server.c (the
 * adapter, connections, timers), server_h1.c (HTTP/1.1), h2.c (HTTP/2), server_req.c
 * (requests and responses), router.c, wsconn.c (WebSocket), auth, CORS and gzip.
 *
 * Lifetimes: a struct hconn lives from accept to the later of on_close and the end of
 * the outermost callback running on it (hc->busy), so that a close triggered deep in
 * a handler (a write that found a slow consumer) never frees what a caller still
 * holds. A request lives until its response is complete *and* written out in order,
 * or until it is cancelled when its connection dies.
 */
#ifndef OB_HTTP_SERVER_INT_H
#define OB_HTTP_SERVER_INT_H

#include "base/buf.h"
#include "http/h1.h"
#include "http/server.h"
#include "http/ws.h"

#include <uv.h>

struct hconn;
struct h2sess;

/* ---- router ----------------------------------------------------------------------- */

enum seg_kind { SEG_LIT = 2, SEG_PARAM = 1, SEG_REST = 0 };

struct seg {
    uint8_t kind;
    const char *text; /* literal text or parameter name (owned) */
    size_t len;
};

struct route {
    unsigned methods;
    unsigned flags;
    ob_http_handler handler;
    void *arg;
    struct ob_ws_endpoint *ws; /* a WebSocket endpoint (owned copy), or NULL */
    struct seg *segs;
    size_t nsegs;
    char *pattern;
};

struct ob_http_router {
    struct route *routes;
    size_t nroutes, cap;
    const struct ob_proto_host *host;
    struct {
        void (*fn)(void *);
        void *arg;
    } frees[32];
    size_t nfrees;
};

/* A route match: captures are slices of the raw (still encoded) path. */
#define OB_HTTP_MAX_PARAMS 8
struct match {
    const struct route *route;
    unsigned allowed; /* methods of every route whose pattern matched the path */
    size_t nparams;
    struct ob_slice names[OB_HTTP_MAX_PARAMS];
    struct ob_slice values[OB_HTTP_MAX_PARAMS];
};

void router_init(struct ob_http_router *r, const struct ob_proto_host *host);
void router_release(struct ob_http_router *r);
/* Finds the best route for method on the encoded path; m->route NULL if none (then
 * m->allowed says whether another method would have matched). */
void router_match(const struct ob_http_router *r, unsigned method, struct ob_slice path,
                  struct match *m);
unsigned method_id(struct ob_slice m);

/* ---- server (per listener) ------------------------------------------------------- */

struct ob_http_server {
    const struct ob_proto_host *host;
    struct ob_http_router router;
    struct ob_http_options opt;
    uv_loop_t *loop;
    uv_timer_t *tick; /* sweeps deadlines; freed in its close callback */
    char *cors;       /* owned copy that opt.cors_origins points to */
    struct hconn *conns;
    size_t nconns;
    struct ob_http_server *next_srv; /* the running listeners (server.c) */
};

/* ---- requests --------------------------------------------------------------------- */

/* Output bytes held back until a request's turn comes (HTTP/1.1 pipelining) or until
 * HTTP/2 sends them (stream data). */
struct outseg {
    struct outseg *next;
    struct ob_slice s;
    ob_release_fn release;
    void *arg;
};

enum req_state {
    RQ_BODY,      /* head in, body still arriving */
    RQ_AUTH,      /* waiting for an off-loop password check */
    RQ_HANDLER,   /* dispatched, no response yet */
    RQ_STREAMING, /* streaming response started */
    RQ_DONE,      /* response complete (may still wait for its turn to be written) */
};

struct authwait;

struct ob_http_req {
    struct hconn *hc;
    struct ob_http_req *next; /* HTTP/1.1: the connection's in-order queue */
    int32_t stream_id;        /* HTTP/2 */
    enum req_state state;
    int version; /* 10, 11, 20 */
    unsigned method_id;
    char *method, *path, *raw_path;
    struct ob_slice query;
    struct ob_header *headers;
    size_t nheaders;
    char *strings; /* one allocation holding every string above */
    struct ob_buf body;
    struct match m;
    char *params[OB_HTTP_MAX_PARAMS]; /* decoded captures */
    char **qcache;                    /* decoded query values handed out */
    size_t nqcache, capqcache;
    struct ob_principal *principal;
    struct authwait *authwait;
    void *data;
    void (*cancel)(void *);
    void *cancel_arg;
    void (*writable)(struct ob_http_req *, void *);
    void *writable_arg;

    /* response */
    int status;
    bool keep_alive;      /* HTTP/1.1: connection persists after this response */
    bool head_only;       /* HEAD: no body */
    bool chunked;         /* HTTP/1.1 streaming with chunked framing */
    bool close_after;     /* close the connection once this response is out */
    bool expect_continue; /* 100 Continue still owed */
    bool in_handler;      /* the handler is running: do not free */
    bool upgrade_req;     /* asked to upgrade: parsing waits for its answer */
    bool upgrade_ws;      /* switch to WebSocket once written */
    bool upgrade_h2;      /* switch to HTTP/2 once written (h2c Upgrade) */
    bool h2_started;      /* HTTP/2: response submitted */
    bool h2_eof;          /* HTTP/2: no more data after out */
    bool logged;          /* access log line written */
    bool h2_notify;       /* HTTP/2: output drained, on_writable owed */
    struct ob_ws_handshake *hs;
    char *h2_settings;   /* HTTP2-Settings of an h2c upgrade */
    struct ob_buf h2raw; /* HTTP/2: header fields as they arrive (len, name, len, value) */
    size_t h2n;
    bool h2_rejected;               /* HTTP/2: answered before the body ended (413) */
    struct outseg *out, **out_tail; /* held-back output */
    size_t out_bytes;
    uint64_t bytes_out;
    int64_t t_start;
};

/* ---- connections ------------------------------------------------------------------ */

enum hc_mode { HC_H1 = 0, HC_H2, HC_WS };

struct hconn {
    struct ob_conn *c; /* NULL once the net closed it */
    struct ob_http_server *srv;
    struct hconn *prev, *next;
    enum hc_mode mode;
    int busy;
    bool dead;         /* on_close ran */
    bool stop_read;    /* HTTP/1.1: no more requests on this connection */
    bool sniffed;      /* first bytes checked for the HTTP/2 preface */
    bool inputting;    /* hc_input is running */
    bool read_paused;  /* too much unparsed input: reading paused */
    bool upgrade_wait; /* HTTP/1.1: an upgrade request decides what follows */
    uint64_t nreqs;    /* requests seen */
    struct ob_buf in;  /* unconsumed input */
    /* HTTP/1.1 */
    struct ob_h1_parser parser;
    bool in_head;            /* parser has a head in progress (or done, body pending) */
    struct ob_http_req *cur; /* request whose body is arriving */
    struct ob_http_req *q_head, *q_tail;
    size_t nq;
    int64_t head_start, last_read, idle_since;
    /* auth cache: last Authorization value and its principal */
    char *auth_value;
    struct ob_principal *auth_principal;
    struct ob_auth *auth_ptr; /* the authenticator that produced it */
    /* HTTP/2 and WebSocket */
    struct h2sess *h2;
    struct ob_ws_conn *ws;
};

/* server.c */
void hc_enter(struct hconn *hc);
void hc_leave(struct hconn *hc);
int64_t http_now_ms(void);
uint64_t http_max_body(const struct ob_http_server *srv);

void hc_input(struct hconn *hc);

/* server_h1.c */
void h1_process(struct hconn *hc);
void h1_pump(struct hconn *hc);
void h1_sweep(struct hconn *hc, int64_t now);

/* server_req.c */
struct ob_http_req *req_new(struct hconn *hc, int version);
void req_free(struct ob_http_req *req);
/* Copies method, path (encoded), query and headers into the request; 400 on a bad
 * path encoding (OB_EINVAL). */
int req_set_head(struct ob_http_req *req, struct ob_slice method, struct ob_slice path,
                 struct ob_slice query, const struct ob_header *h, size_t n);
/* Route, authenticate, run the handler. */
void req_dispatch(struct ob_http_req *req);
/* Cancels (callback) and frees a request whose connection died. */
void req_cancel(struct ob_http_req *req);
/* Queues output in request order (H1) or to the HTTP/2 stream. */
void req_out(struct ob_http_req *req, const struct ob_slice *iov, size_t n, ob_release_fn release,
             void *arg);
void req_out_copy(struct ob_http_req *req, const void *p, size_t n);
void req_finish(struct ob_http_req *req);
void req_log(struct ob_http_req *req);
void req_writable(struct hconn *hc);

/* auth (server_auth.c): 0 with req->principal set, OB_EAGAIN when an off-loop check
 * will call req_dispatch_authed later, or an error after answering 401. */
int http_authenticate(struct ob_http_req *req);
void req_dispatch_authed(struct ob_http_req *req);
void auth_cancel(struct ob_http_req *req);
void hc_auth_release(struct hconn *hc);

/* cors.c: headers to add to a response (appended to *h, strings static or owned by
 * req); answers a preflight (returns true) */
size_t cors_headers(struct ob_http_req *req, struct ob_header *h, size_t max);
bool cors_preflight(struct ob_http_req *req);

/* gzip.c: true if the response qualifies; gzip_compress fills out. */
bool gzip_wanted(const struct ob_http_req *req, const struct ob_header *h, size_t n, size_t len);
int gzip_compress(const struct ob_slice *iov, size_t niov, struct ob_buf *out);

/* h2.c */
bool h2_is_preface(const uint8_t *p, size_t n);
int h2_start(struct hconn *hc, struct ob_http_req *upgraded);
void h2_process(struct hconn *hc);
void h2_free(struct hconn *hc);
int h2_submit(struct ob_http_req *req, int status, const struct ob_header *h, size_t n, bool body);
void h2_resume(struct ob_http_req *req);
void h2_flush(struct hconn *hc);
size_t h2_queued(const struct ob_http_req *req);
void h2_writable(struct hconn *hc);
void h2_sweep(struct hconn *hc, int64_t now);

/* wsconn.c */
void ws_start(struct hconn *hc, struct ob_http_req *req);
void ws_process(struct hconn *hc);
void ws_on_close(struct hconn *hc);
void ws_sweep(struct hconn *hc, int64_t now);
void ws_writable(struct hconn *hc);
/* Close frame 1001, on_close(1001), graceful close (ob_http_shutdown_all). */
void ws_going_away(struct hconn *hc);
int ws_upgrade_handler(struct ob_http_req *req, void *arg);

/* responses built by the layer itself */
int respond_full(struct ob_http_req *req, int status, const struct ob_header *h, size_t n,
                 const struct ob_slice *iov, size_t niov, ob_release_fn release, void *arg);

#endif
