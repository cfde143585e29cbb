/*
 * server.c — start-up, signals, reload and shutdown of the omnibus server (see
 * server.h for the sequence). The server owns the uv loop and hands it to the bus, so
 * that the bus, the listeners and the signal handlers share one thread.
 */
#include "server/server.h"

#include "http/server.h"
#include "proto/mqtt/session.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/auth.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define LINGER_MS 5000

struct ob_server {
    uv_loop_t loop;
    struct ob_config cfg;
    struct ob_config_source src; /* copied, for reloads */
    char **sets;
    struct ob_bus *bus;
    struct ob_auth *auth; /* swapped on reload; adapters read it through host.auth */
    struct ob_net *net;
    struct ob_proto_host host;
    uv_signal_t sigterm, sigint, sighup;
    bool signals_open, stopping, net_done;
};

/* ---- configuration ------------------------------------------------------------------ */

static void copy_source(struct ob_server *s, const struct ob_config_source *src)
{
    s->src = *src;
    s->src.text = NULL; /* a reload re-reads the file; in-memory text is not kept */
    s->src.file = src->file ? ob_xstrdup(src->file) : NULL;
    s->src.data_dir = src->data_dir ? ob_xstrdup(src->data_dir) : NULL;
    s->sets = ob_xcalloc(src->nsets + 1, sizeof *s->sets);
    for (size_t i = 0; i < src->nsets; i++)
        s->sets[i] = ob_xstrdup(src->sets[i]);
    s->src.sets = (const char *const *)s->sets;
}

static void free_source(struct ob_server *s)
{
    for (size_t i = 0; i < s->src.nsets; i++)
        free(s->sets[i]);
    free(s->sets);
    free((char *)s->src.file);
    free((char *)s->src.data_dir);
}

static void apply_log(const struct ob_config *cfg)
{
    ob_log_set_level((enum ob_log_level)cfg->log.level);
    ob_log_set_json(cfg->log.format == OB_LOG_JSON);
}

static struct ob_net_limits net_limits(const struct ob_config *cfg)
{
    struct ob_net_limits l = {
        .max_connections = cfg->limits.max_connections,
        .max_connections_per_ip = cfg->limits.max_connections_per_ip,
        .write_buffer = cfg->limits.conn_write_buffer,
        .max_frame_size = cfg->limits.max_frame_size,
        .max_msg_size = cfg->limits.max_msg_size,
        .idle_timeout_ms = cfg->limits.idle_timeout_ms,
    };
    return l;
}

/* Applies the http section to the HTTP layer: at start-up (before the listeners) and,
 * for its live fields, on reload. OB_HTTP_ACCESS_LOG=0 in the environment still turns
 * the access log off, whatever the config says (benchmarks set it). */
static void apply_http(const struct ob_server *s, const struct ob_config *cfg, bool live)
{
    const struct ob_http_config *h = &cfg->http;
    struct ob_buf cors = OB_BUF_INIT;
    for (size_t i = 0; i < h->ncors_origins; i++)
        ob_buf_printf(&cors, "%s%s", i ? "," : "", h->cors_origins[i]);
    ob_buf_putc(&cors, 0);
    const char *env = getenv("OB_HTTP_ACCESS_LOG");
    struct ob_http_options o = {
        .header_timeout_ms = (uint32_t)h->header_timeout_ms,
        .keepalive_timeout_ms = (uint32_t)h->keepalive_timeout_ms,
        .max_head = (uint32_t)h->max_header_bytes,
        .max_headers = (uint32_t)h->max_headers,
        .max_streams = (uint32_t)h->h2_max_streams,
        .cors_origins = (const char *)cors.p, /* "" when the list is empty: CORS off */
        .access_log = h->access_log && !(env && !strcmp(env, "0")),
        .gzip = h->gzip,
    };
    if (live)
        ob_http_update_options(&s->host, &o);
    else
        ob_http_set_options(&o); /* copies the string */
    ob_buf_release(&cors);
}

/* Hands the mqtt section to the MQTT broker, which takes it when it is created (the
 * first MQTT listener or /mqtt mount on the bus): every key needs a restart. */
static void apply_mqtt(const struct ob_config *cfg)
{
    const struct ob_mqtt_config *m = &cfg->mqtt;
    struct ob_mqtt_options o = {
        .max_inflight = (uint32_t)m->max_inflight_messages,
        .max_queued = (uint32_t)m->max_queued_messages,
        .receive_maximum = (uint16_t)m->receive_maximum,
        .max_keepalive = (uint16_t)m->max_keepalive,
        .sys_interval_ms = (uint32_t)m->sys_interval_ms,
        .alias_max = (uint16_t)m->topic_alias_maximum,
        .max_packet = (uint32_t)m->max_packet_size,
    };
    ob_mqtt_set_options(&o);
}

/* ---- streams --------------------------------------------------------------------------- */

static void stream_config(const struct ob_config *cfg, const struct ob_stream_decl *d,
                          struct ob_stream_config *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->name = d->name;
    sc->subjects = (const char *const *)d->subjects;
    sc->nsubjects = d->nsubjects;
    sc->retention = (enum ob_retention)d->retention;
    sc->max_msgs = d->max_msgs;
    sc->max_bytes = d->max_bytes;
    sc->max_age_ms = (int64_t)d->max_age_ms;
    sc->compaction = (enum ob_compaction)d->compaction;
    sc->fsync = (enum ob_fsync)(d->fsync == OB_STREAM_FSYNC_DEFAULT ? cfg->store.fsync : d->fsync);
    sc->fsync_interval_ms = (uint32_t)cfg->store.fsync_interval_ms;
    sc->segment_bytes = cfg->store.segment_bytes;
}

/* Creates each predeclared stream; one that exists with other limits is updated. */
static int create_streams(struct ob_server *s)
{
    for (size_t i = 0; i < s->cfg.nstreams; i++) {
        struct ob_stream_config sc;
        struct ob_stream *st;
        stream_config(&s->cfg, &s->cfg.streams[i], &sc);
        int rc = ob_stream_create(s->bus, &sc, &st);
        if (rc == OB_EEXIST) {
            st = ob_stream_lookup(s->bus, sc.name);
            rc = st ? ob_stream_update(st, &sc) : OB_ENOENT;
        }
        if (rc) {
            OB_ERROR("server", "cannot create stream", "stream=%s error=\"%s\"", sc.name,
                     ob_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* ---- listeners --------------------------------------------------------------------- */

static const struct ob_protocol *find_protocol(const char *name)
{
    for (size_t i = 0; ob_server_protocols[i]; i++)
        if (!strcmp(ob_server_protocols[i]->name, name)) return ob_server_protocols[i];
    return NULL;
}

static void describe(struct ob_buf *b, const char *name, const char *host, uint16_t port)
{
    const char *fmt = strchr(host, ':') ? "%s%s=[%s]:%u" : "%s%s=%s:%u";
    ob_buf_printf(b, fmt, b->len ? " " : "", name, host, (unsigned)port);
}

static int start_listeners(struct ob_server *s)
{
    struct ob_buf up = OB_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; ob_server_http_modules[i] && !rc; i++)
        rc = ob_http_register_module(ob_server_http_modules[i]);
    for (int i = 0; i < OB_NLISTENERS && !rc; i++) {
        const struct ob_listen_config *l = &s->cfg.listeners[i];
        const char *name = ob_listener_names[i];
        if (!l->enabled) continue;
        const struct ob_protocol *proto = find_protocol(name);
        if (!proto) {
            char msg[128];
            snprintf(msg, sizeof msg, "listener %s: no adapter in this build, not started", name);
            OB_WARN("server", msg, NULL);
            continue;
        }
        char err[256];
        rc = ob_net_listen(s->net, name, proto, &s->host, l->host, l->port, err, sizeof err);
        if (rc)
            OB_ERROR("server", err, NULL);
        else
            describe(&up, name, l->host, ob_net_listener_port(s->net, name));
    }
    ob_buf_putc(&up, 0);
    if (!rc) {
        ob_http_set_ready(true);
        OB_INFO("server", "listeners up", "listeners=\"%s\"",
                up.len > 1 ? (const char *)up.p : "none");
    }
    ob_buf_release(&up);
    return rc;
}

/* ---- signals, shutdown ------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct ob_server *s = h->data;
    if (signum == SIGHUP) {
        ob_server_reload(s);
        return;
    }
    OB_INFO("server", "shutting down", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
    ob_server_shutdown(s);
}

static void open_signals(struct ob_server *s)
{
    uv_signal_t *hs[] = {&s->sigterm, &s->sigint, &s->sighup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&s->loop, hs[i]);
        hs[i]->data = s;
        uv_signal_start(hs[i], on_signal, nums[i]);
    }
    s->signals_open = true;
}

static void close_signals(struct ob_server *s)
{
    if (!s->signals_open) return;
    s->signals_open = false;
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
}

static void on_net_closed(void *arg)
{
    struct ob_server *s = arg;
    s->net_done = true;
    close_signals(s);
    ob_bus_stop(s->bus);
}

void ob_server_shutdown(struct ob_server *s)
{
    if (s->stopping) return;
    s->stopping = true;
    /* /readyz answers 503 from now on, so load balancers stop sending work. */
    ob_http_set_ready(false);
    /* WebSocket clients hear 1001 (going away) and may reconnect elsewhere, instead of
     * seeing the TCP close as an abnormal 1006. */
    ob_http_shutdown_all(&s->host);
    ob_net_shutdown(s->net, LINGER_MS, on_net_closed, s);
}

/* ---- reload ------------------------------------------------------------------------ */

struct changes {
    struct ob_buf applied, restart;
};

static void on_change(void *arg, const char *key, bool reloadable)
{
    struct changes *c = arg;
    struct ob_buf *b = reloadable ? &c->applied : &c->restart;
    ob_buf_printf(b, "%s%s", b->len ? " " : "", key);
}

/* Applies the reloadable sections of next; false if the new authenticator fails. */
static bool apply_reloadable(struct ob_server *s, const struct ob_config *next)
{
    struct ob_auth *auth;
    if (ob_auth_new(&auth, &next->auth) != 0) return false;
    ob_auth_unref(s->auth);
    s->auth = auth;
    struct ob_net_limits l = net_limits(next);
    ob_net_set_limits(s->net, &l);
    apply_http(s, next, true);
    apply_log(next);
    return true;
}

int ob_server_reload(struct ob_server *s)
{
    struct ob_config next;
    struct ob_diag d = {0};
    int rc = ob_config_load(&next, &s->src, &d);
    for (size_t i = 0; i < d.nerrors; i++)
        OB_ERROR("config", d.errors[i], NULL);
    for (size_t i = 0; i < d.nwarnings; i++)
        OB_WARN("config", d.warnings[i], NULL);
    ob_diag_release(&d);
    if (rc) {
        OB_ERROR("server", "reload failed: keeping the running configuration", NULL);
        return rc;
    }
    struct changes c = {OB_BUF_INIT, OB_BUF_INIT};
    ob_config_diff(&s->cfg, &next, on_change, &c);
    ob_buf_putc(&c.applied, 0);
    ob_buf_putc(&c.restart, 0);
    OB_INFO("server", "config reloaded", "applied=\"%s\" needs_restart=\"%s\"",
            (const char *)c.applied.p, (const char *)c.restart.p);
    if (c.restart.len > 1)
        OB_WARN("server", "changed keys take effect only after a restart", "keys=\"%s\"",
                (const char *)c.restart.p);
    ob_buf_release(&c.applied);
    ob_buf_release(&c.restart);
    if (!apply_reloadable(s, &next)) {
        OB_ERROR("server", "reload failed: invalid auth section", NULL);
        ob_config_release(&next);
        return OB_ECONFIG;
    }
    ob_config_release(&s->cfg);
    s->cfg = next;
    OB_DEBUG("server", "reload applied", "log_level=%s",
             (const char *[]){"debug", "info", "warn", "error"}[s->cfg.log.level]);
    return 0;
}

/* ---- open / run / close ------------------------------------------------------------- */

static int open_bus(struct ob_server *s)
{
    struct ob_bus_options o = {
        .data_dir = s->cfg.data_dir,
        .uv_loop = &s->loop,
        .max_msg_size = (uint32_t)s->cfg.limits.max_msg_size,
    };
    int rc = ob_bus_open(&s->bus, &o);
    if (rc)
        OB_ERROR("server", "cannot open the bus", "data_dir=\"%s\" error=\"%s\"",
                 s->cfg.data_dir ? s->cfg.data_dir : "(memory)", ob_strerror(rc));
    return rc;
}

static int start(struct ob_server *s)
{
    int rc = open_bus(s);
    if (!rc) rc = create_streams(s);
    if (!rc) rc = ob_auth_new(&s->auth, &s->cfg.auth);
    if (rc) return rc;
    struct ob_net_limits l = net_limits(&s->cfg);
    ob_net_new(&s->net, &s->loop, &l);
    s->host.bus = s->bus;
    s->host.auth = &s->auth;
    s->host.limits = ob_net_limits(s->net);
    /* Handlers first: a client that sees the listeners line may signal at once (and a
     * shell's background job starts with SIGINT ignored until a handler is set). */
    open_signals(s);
    apply_http(s, &s->cfg, false);
    apply_mqtt(&s->cfg);
    rc = start_listeners(s);
    if (rc) return rc;
    OB_INFO("server", "omnibus started", "version=%s data_dir=\"%s\"", OB_VERSION_STRING,
            s->cfg.data_dir ? s->cfg.data_dir : "(memory)");
    return 0;
}

int ob_server_open(struct ob_server **out, const struct ob_config_source *src, struct ob_diag *diag)
{
    *out = NULL;
    struct ob_server *s = ob_xcalloc(1, sizeof *s);
    int rc = ob_config_load(&s->cfg, src, diag);
    if (rc) {
        free(s);
        return rc;
    }
    apply_log(&s->cfg);
    for (size_t i = 0; i < diag->nwarnings; i++)
        OB_WARN("config", diag->warnings[i], NULL);
    copy_source(s, src);
    signal(SIGPIPE, SIG_IGN); /* a peer that vanishes mid-write is an EPIPE, not a death */
    uv_loop_init(&s->loop);
    rc = start(s);
    if (rc) {
        ob_server_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int ob_server_run(struct ob_server *s)
{
    while (!s->stopping || s->signals_open)
        ob_bus_run(s->bus, OB_RUN_DEFAULT);
    return 0;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void ob_server_close(struct ob_server *s)
{
    if (!s) return;
    if (s->net) {
        ob_server_shutdown(s);
        while (!s->net_done)
            uv_run(&s->loop, UV_RUN_ONCE);
    }
    close_signals(s);
    ob_bus_close(s->bus); /* flushes and fsyncs */
    ob_net_free(s->net);
    ob_auth_unref(s->auth);
    /* Nothing should be left open; close stragglers so the loop can be freed. */
    uv_walk(&s->loop, on_walk_close, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    ob_config_release(&s->cfg);
    free_source(s);
    free(s);
    OB_INFO("server", "stopped", NULL);
}

const struct ob_config *ob_server_config(const struct ob_server *s)
{
    return &s->cfg;
}

struct ob_bus *ob_server_bus(struct ob_server *s)
{
    return s->bus;
}

uint16_t ob_server_listener_port(const struct ob_server *s, const char *name)
{
    return s->net ? ob_net_listener_port(s->net, name) : 0;
}
