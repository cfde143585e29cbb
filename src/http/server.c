/*
 * server.c — the "http" adapter: per-listener server (router built from the module
 * table), per-connection state (struct hconn) and its guarded lifetime, protocol
 * detection on the first bytes (HTTP/2 preface or HTTP/1.1), and one timer per
 * listener that sweeps every connection's deadlines (header-read, keep-alive idle,
 * WebSocket pings) instead of one timer per connection.
 *
 * The net layer's own idle timeout is turned off on HTTP connections: it is reset by
 * reads only, which would kill a healthy SSE stream (whose client never writes) and
 * would let a slowloris client (one byte every few seconds) live forever. Our header
 * timeout counts from a request's first byte, whatever trickles in after it.
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "http/metrics.h"
#include "http/modules.h"

#include <stdlib.h>
#include <string.h>

/* ---- options and the module registry ------------------------------------------------ */

static struct ob_http_options g_opt;
static bool g_opt_set;
static char *g_cors; /* owned copy that g_opt.cors_origins points to */
static const struct ob_http_module *g_modules[32];
static size_t g_nmodules;

/* The running listeners, for live option changes and the shutdown hook. The lock only
 * guards the list: each listener is touched on its own loop thread. */
static struct ob_http_server *g_servers;
static uv_mutex_t g_servers_lock;
static uv_once_t g_servers_once = UV_ONCE_INIT;

static void servers_lock_init(void)
{
    uv_mutex_init(&g_servers_lock);
}

static void servers_lock(void)
{
    uv_once(&g_servers_once, servers_lock_init);
    uv_mutex_lock(&g_servers_lock);
}

static void default_options(struct ob_http_options *o)
{
    memset(o, 0, sizeof *o);
    o->header_timeout_ms = 10000;
    o->keepalive_timeout_ms = 60000;
    o->max_head = OB_H1_DEFAULT_MAX_HEAD;
    o->max_headers = OB_H1_DEFAULT_MAX_HEADERS;
    o->max_streams = 100;
    o->cors_origins = "*";
    const char *log = getenv("OB_HTTP_ACCESS_LOG");
    o->access_log = !(log && !strcmp(log, "0"));
    o->gzip = true;
}

/* Replaces *owned with a copy of s (NULL stays NULL) and returns it. */
static char *own_str(char **owned, const char *s)
{
    char *copy = s ? ob_xstrdup(s) : NULL;
    free(*owned);
    *owned = copy;
    return copy;
}

void ob_http_set_options(const struct ob_http_options *o)
{
    g_opt_set = o != NULL;
    if (!o) {
        own_str(&g_cors, NULL);
        return;
    }
    g_opt = *o;
    g_opt.cors_origins = own_str(&g_cors, o->cors_origins);
}

void ob_http_get_options(struct ob_http_options *o)
{
    if (g_opt_set)
        *o = g_opt;
    else
        default_options(o);
}

int ob_http_register_module(const struct ob_http_module *m)
{
    if (!m || !m->init) return OB_EINVAL;
    for (size_t i = 0; i < g_nmodules; i++)
        if (g_modules[i] == m) return 0; /* a second server in the same process */
    if (g_nmodules == sizeof g_modules / sizeof g_modules[0]) return OB_ELIMIT;
    g_modules[g_nmodules++] = m;
    return 0;
}

void ob_http_clear_modules(void)
{
    g_nmodules = 0;
}

int64_t http_now_ms(void)
{
    return ob_mono_ns() / OB_NS_PER_MS;
}

uint64_t http_max_body(const struct ob_http_server *srv)
{
    uint64_t m = srv->host->limits ? srv->host->limits->max_msg_size : 0;
    return m ? m : OB_H1_DEFAULT_MAX_BODY;
}

/* ---- the sweep timer ---------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct ob_http_server *srv = t->data;
    int64_t now = http_now_ms();
    struct hconn *next;
    for (struct hconn *hc = srv->conns; hc; hc = next) {
        next = hc->next;
        hc_enter(hc);
        if (hc->mode == HC_H1)
            h1_sweep(hc, now);
        else if (hc->mode == HC_WS)
            ws_sweep(hc, now);
        else
            h2_sweep(hc, now);
        next = hc->next; /* hc stays linked while busy */
        hc_leave(hc);
    }
}

/* A quarter of the shorter timeout (0 is none), within [50 ms, 1 s]. */
static uint64_t tick_interval(const struct ob_http_options *o)
{
    uint64_t m = o->header_timeout_ms ? o->header_timeout_ms : 4000;
    if (o->keepalive_timeout_ms && o->keepalive_timeout_ms < m) m = o->keepalive_timeout_ms;
    m /= 4;
    return m < 50 ? 50 : m > 1000 ? 1000 : m;
}

static void on_tick_closed(uv_handle_t *h)
{
    free(h);
}

/* ---- listener -------------------------------------------------------------------- */

static int run_module(struct ob_http_server *srv, const struct ob_http_module *m)
{
    int rc = m->init(&srv->router, srv->host);
    if (rc)
        OB_ERROR("http", "module failed to start", "module=%s error=\"%s\"", m->name,
                 ob_strerror(rc));
    return rc;
}

static int load_modules(struct ob_http_server *srv)
{
    for (size_t i = 0; ob_http_builtin_modules[i].init; i++) {
        int rc = run_module(srv, &ob_http_builtin_modules[i]);
        if (rc) return rc;
    }
    for (size_t i = 0; i < g_nmodules; i++) {
        int rc = run_module(srv, g_modules[i]);
        if (rc) return rc;
    }
    return 0;
}

static void servers_add(struct ob_http_server *srv)
{
    servers_lock();
    srv->next_srv = g_servers;
    g_servers = srv;
    uv_mutex_unlock(&g_servers_lock);
}

static void servers_remove(struct ob_http_server *srv)
{
    servers_lock();
    for (struct ob_http_server **p = &g_servers; *p; p = &(*p)->next_srv) {
        if (*p != srv) continue;
        *p = srv->next_srv;
        break;
    }
    uv_mutex_unlock(&g_servers_lock);
}

static void listener_free(void *state)
{
    struct ob_http_server *srv = state;
    if (!srv) return;
    servers_remove(srv);
    router_release(&srv->router);
    free(srv->cors);
    if (srv->tick) {
        uv_timer_stop(srv->tick);
        uv_close((uv_handle_t *)srv->tick, on_tick_closed);
    }
    free(srv);
}

static int listener_init(void **state, const struct ob_proto_host *host)
{
    struct ob_http_server *srv = ob_xcalloc(1, sizeof *srv);
    srv->host = host;
    ob_http_get_options(&srv->opt);
    srv->opt.cors_origins = own_str(&srv->cors, srv->opt.cors_origins);
    router_init(&srv->router, host);
    if (!host->bus) {
        OB_ERROR("http", "listener needs a bus", NULL);
        listener_free(srv);
        return OB_EINVAL;
    }
    srv->loop = ob_bus_uv_loop(host->bus);
    int rc = load_modules(srv);
    if (rc) {
        listener_free(srv);
        return rc;
    }
    srv->tick = ob_xmalloc(sizeof *srv->tick);
    uv_timer_init(srv->loop, srv->tick);
    srv->tick->data = srv;
    uint64_t iv = tick_interval(&srv->opt);
    uv_timer_start(srv->tick, on_tick, iv, iv);
    uv_unref((uv_handle_t *)srv->tick); /* never keeps the loop alive by itself */
    servers_add(srv);
    *state = srv;
    return 0;
}

/* ---- live changes and shutdown ------------------------------------------------------ */

/* Whether srv is one of host's listeners (NULL: any). The net layer gives each
 * listener its own copy of the host, so the bus tells whose it is. */
static bool serves(const struct ob_http_server *srv, const struct ob_proto_host *host)
{
    return !host || srv->host->bus == host->bus;
}

/* The fields read per request or per sweep; the rest were used at start (h2 settings)
 * or are baked into each connection's parser. */
static void apply_live(struct ob_http_server *srv, const struct ob_http_options *o)
{
    uint64_t old_iv = tick_interval(&srv->opt);
    srv->opt.header_timeout_ms = o->header_timeout_ms;
    srv->opt.keepalive_timeout_ms = o->keepalive_timeout_ms;
    srv->opt.cors_origins = own_str(&srv->cors, o->cors_origins);
    srv->opt.access_log = o->access_log;
    srv->opt.gzip = o->gzip;
    uint64_t iv = tick_interval(&srv->opt);
    if (iv != old_iv) uv_timer_start(srv->tick, on_tick, iv, iv);
}

void ob_http_update_options(const struct ob_proto_host *host, const struct ob_http_options *o)
{
    ob_http_set_options(o);
    struct ob_http_options cur;
    ob_http_get_options(&cur);
    servers_lock();
    for (struct ob_http_server *srv = g_servers; srv; srv = srv->next_srv)
        if (serves(srv, host)) apply_live(srv, &cur);
    uv_mutex_unlock(&g_servers_lock);
}

static void going_away(struct ob_http_server *srv)
{
    struct hconn *next;
    for (struct hconn *hc = srv->conns; hc; hc = next) {
        hc_enter(hc);
        if (hc->mode == HC_WS) ws_going_away(hc);
        next = hc->next; /* hc stays linked while busy */
        hc_leave(hc);
    }
}

void ob_http_shutdown_all(const struct ob_proto_host *host)
{
    servers_lock();
    for (struct ob_http_server *srv = g_servers; srv; srv = srv->next_srv)
        if (serves(srv, host)) going_away(srv);
    uv_mutex_unlock(&g_servers_lock);
}

/* ---- connections ------------------------------------------------------------------ */

static void hc_destroy(struct hconn *hc)
{
    struct ob_http_server *srv = hc->srv;
    if (hc->mode == HC_WS) ws_on_close(hc);
    if (hc->h2) h2_free(hc);
    while (hc->q_head) {
        struct ob_http_req *r = hc->q_head;
        hc->q_head = r->next;
        req_cancel(r);
    }
    hc->cur = NULL; /* it was in the queue too */
    hc_auth_release(hc);
    ob_h1_parser_release(&hc->parser);
    ob_buf_release(&hc->in);
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        srv->conns = hc->next;
    if (hc->next) hc->next->prev = hc->prev;
    srv->nconns--;
    ob_metrics_conn("http", -1);
    free(hc);
}

void hc_enter(struct hconn *hc)
{
    hc->busy++;
}

/* HTTP/2 output is produced here, when the outermost callback on the connection
 * ends, never inside a handler: nghttp2 may close streams (and so free requests)
 * while it serializes, which must not happen under a caller that holds one. */
void hc_leave(struct hconn *hc)
{
    if (hc->busy == 1 && !hc->dead && hc->mode == HC_H2) h2_flush(hc);
    if (--hc->busy == 0 && hc->dead) hc_destroy(hc);
}

static int http_accept(struct ob_conn *c)
{
    struct ob_http_server *srv = ob_conn_proto_state(c);
    struct hconn *hc = ob_xcalloc(1, sizeof *hc);
    hc->c = c;
    hc->srv = srv;
    struct ob_h1_limits lim = {.max_head = srv->opt.max_head,
                               .max_headers = srv->opt.max_headers,
                               .max_body = http_max_body(srv)};
    ob_h1_parser_init(&hc->parser, &lim);
    hc->idle_since = http_now_ms();
    hc->next = srv->conns;
    if (srv->conns) srv->conns->prev = hc;
    srv->conns = hc;
    srv->nconns++;
    ob_metrics_conn("http", 1);
    ob_conn_set_data(c, hc);
    ob_conn_set_idle_timeout(c, 0);
    return 0;
}

/* Feeds hc->in to the connection's current protocol, again after a switch (an
 * upgrade to WebSocket or h2c hands the bytes after the request to the new one). */
/* Input that cannot be parsed yet (16 pipelined requests in flight, an upgrade
 * pending) stays in hc->in; past this much, reading pauses until it is worked off. */
#define MAX_UNPARSED (256u * 1024)

/* Feeds hc->in to the connection's current protocol, again after a switch (an
 * upgrade to WebSocket or h2c hands the bytes after the request to the new one). */
void hc_input(struct hconn *hc)
{
    if (hc->inputting) return; /* a nested call: the outer loop sees the new mode */
    hc->inputting = true;
    enum hc_mode mode;
    do {
        mode = hc->mode;
        if (hc->dead) break;
        if (mode == HC_H1)
            h1_process(hc);
        else if (mode == HC_H2)
            h2_process(hc);
        else
            ws_process(hc);
    } while (hc->mode != mode);
    hc->inputting = false;
    bool full = hc->in.len > MAX_UNPARSED + hc->srv->opt.max_head;
    if (hc->c && full != hc->read_paused) {
        hc->read_paused = full;
        if (full)
            ob_conn_pause(hc->c);
        else
            ob_conn_resume(hc->c);
    }
}

static void http_data(struct ob_conn *c, const uint8_t *p, size_t n)
{
    struct hconn *hc = ob_conn_data(c);
    ob_metrics_add_bytes("http", "in", n);
    hc_enter(hc);
    ob_buf_append(&hc->in, p, n);
    hc->last_read = http_now_ms();
    if (!hc->sniffed) {
        /* The HTTP/2 preface starts "PRI * HTTP/2.0": decide once 3 bytes are in. */
        if (hc->in.len >= 3) {
            hc->sniffed = true;
            if (h2_is_preface(hc->in.p, hc->in.len)) h2_start(hc, NULL);
        }
        if (!hc->sniffed) goto out;
    }
    hc_input(hc);
out:
    hc_leave(hc);
}

static void http_writable(struct ob_conn *c)
{
    struct hconn *hc = ob_conn_data(c);
    hc_enter(hc);
    if (hc->mode == HC_WS)
        ws_writable(hc);
    else
        req_writable(hc);
    hc_leave(hc);
}

static void http_close(struct ob_conn *c, int status)
{
    (void)status;
    struct hconn *hc = ob_conn_data(c);
    hc->c = NULL;
    hc->dead = true;
    hc_enter(hc);
    hc_leave(hc);
}

const struct ob_protocol ob_http_protocol = {
    .name = "http",
    .listener_init = listener_init,
    .listener_free = listener_free,
    .on_accept = http_accept,
    .on_data = http_data,
    .on_writable = http_writable,
    .on_close = http_close,
};
