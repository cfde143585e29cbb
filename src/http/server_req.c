/*
 * server_req.c — the request object shared by HTTP/1.1 and HTTP/2: its copy of the
 * head, getters, dispatch (preflight, routing, 404/405, authentication, handler), the
 * ordered output path and the end of its life (finish, cancel, access log).
 *
 * A request copies its head (method, path, query, headers) into one allocation, so
 * the connection's read buffer can move on, and HTTP/2 (whose headers arrive one by
 * one from nghttp2) fills the same structure.
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/auth.h"
#include "http/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ob_http_req *req_new(struct hconn *hc, int version)
{
    struct ob_http_req *req = ob_xcalloc(1, sizeof *req);
    req->hc = hc;
    req->version = version;
    req->state = RQ_BODY;
    req->keep_alive = true;
    req->out_tail = &req->out;
    req->t_start = ob_mono_ns();
    req->method = "";
    req->path = "";
    req->raw_path = "";
    return req;
}

static void release_out(struct ob_http_req *req)
{
    struct outseg *s = req->out;
    while (s) {
        struct outseg *next = s->next;
        if (s->release) s->release(s->arg);
        free(s);
        s = next;
    }
    req->out = NULL;
    req->out_tail = &req->out;
    req->out_bytes = 0;
}

void req_free(struct ob_http_req *req)
{
    if (req->authwait) auth_cancel(req);
    release_out(req);
    for (size_t i = 0; i < OB_HTTP_MAX_PARAMS; i++)
        free(req->params[i]);
    for (size_t i = 0; i < req->nqcache; i++)
        free(req->qcache[i]);
    free(req->qcache);
    free(req->strings);
    free(req->headers);
    ob_buf_release(&req->body);
    ob_buf_release(&req->h2raw);
    if (req->principal) ob_principal_free(req->principal);
    free(req->hs);
    free(req->h2_settings);
    free(req);
}

void req_cancel(struct ob_http_req *req)
{
    void (*cancel)(void *) = req->cancel;
    req->cancel = NULL;
    if (cancel && req->state != RQ_DONE) cancel(req->cancel_arg);
    if (req->state != RQ_DONE) {
        req->status = 499; /* nginx's "client closed request", for the log only */
        req_log(req);
    }
    req_free(req);
}

/* ---- the head ----------------------------------------------------------------------- */

static char *put(char **at, const void *p, size_t n)
{
    char *s = *at;
    memcpy(s, p, n);
    s[n] = '\0';
    *at += n + 1;
    return s;
}

int req_set_head(struct ob_http_req *req, struct ob_slice method, struct ob_slice path,
                 struct ob_slice query, const struct ob_header *h, size_t n)
{
    size_t total = method.n + 2 * path.n + query.n + 4;
    for (size_t i = 0; i < n; i++)
        total += h[i].name.n + h[i].value.n + 2;
    char *at = req->strings = ob_xmalloc(total);
    req->method = put(&at, method.p, method.n);
    req->method_id = method_id(method);
    req->raw_path = put(&at, path.p, path.n);
    req->path = put(&at, path.p, path.n);
    char *q = put(&at, query.p, query.n);
    req->query = ob_slice_make(q, query.n);
    req->headers = ob_xmalloc((n ? n : 1) * sizeof *req->headers);
    req->nheaders = n;
    for (size_t i = 0; i < n; i++) {
        req->headers[i].name = ob_slice_make(put(&at, h[i].name.p, h[i].name.n), h[i].name.n);
        req->headers[i].value = ob_slice_make(put(&at, h[i].value.p, h[i].value.n), h[i].value.n);
    }
    size_t len;
    if (ob_h1_pct_decode(path, (uint8_t *)req->path, &len, 0)) return OB_EINVAL;
    req->path[len] = '\0';
    return 0;
}

/* ---- getters ------------------------------------------------------------------------ */

unsigned ob_http_req_method_id(const struct ob_http_req *req)
{
    return req->method_id;
}

const char *ob_http_req_method(const struct ob_http_req *req)
{
    return req->method;
}

const char *ob_http_req_path(const struct ob_http_req *req)
{
    return req->path;
}

struct ob_slice ob_http_req_query(const struct ob_http_req *req)
{
    return req->query;
}

const char *ob_http_param(const struct ob_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->m.nparams; i++)
        if (ob_slice_eq_str(req->m.names[i], name)) return req->params[i];
    return NULL;
}

static char *decode_dup(struct ob_slice s, unsigned flags)
{
    char *out = ob_xmalloc(s.n + 1);
    size_t len;
    if (ob_h1_pct_decode(s, (uint8_t *)out, &len, flags)) {
        free(out);
        return NULL;
    }
    out[len] = '\0';
    return out;
}

const char *ob_http_query(struct ob_http_req *req, const char *name, size_t index)
{
    struct ob_slice q = req->query, k, v;
    while (ob_h1_query_next(&q, &k, &v)) {
        char *key = decode_dup(k, OB_H1_PCT_PLUS);
        bool hit = key && !strcmp(key, name);
        free(key);
        if (!hit || index-- > 0) continue;
        char *val = decode_dup(v, OB_H1_PCT_PLUS);
        if (!val) return NULL;
        OB_GROW(req->qcache, req->capqcache, req->nqcache + 1);
        req->qcache[req->nqcache++] = val;
        return val;
    }
    return NULL;
}

const char *ob_http_header(const struct ob_http_req *req, const char *name)
{
    struct ob_slice n = ob_slice_str(name);
    for (size_t i = 0; i < req->nheaders; i++)
        if (ob_slice_eq_nocase(req->headers[i].name, n))
            return (const char *)req->headers[i].value.p;
    return NULL;
}

const struct ob_header *ob_http_req_headers(const struct ob_http_req *req, size_t *n)
{
    *n = req->nheaders;
    return req->headers;
}

struct ob_slice ob_http_req_body(const struct ob_http_req *req)
{
    return ob_slice_make(req->body.p, req->body.len);
}

int ob_http_req_version(const struct ob_http_req *req)
{
    return req->version;
}

const struct sockaddr *ob_http_req_peer(const struct ob_http_req *req)
{
    return req->hc->c ? ob_conn_peer(req->hc->c) : NULL;
}

const char *ob_http_req_peer_name(const struct ob_http_req *req)
{
    return req->hc->c ? ob_conn_peer_name(req->hc->c) : "?";
}

const struct ob_principal *ob_http_req_principal(const struct ob_http_req *req)
{
    return req->principal;
}

const struct ob_proto_host *ob_http_req_host(const struct ob_http_req *req)
{
    return req->hc->srv->host;
}

struct ob_bus *ob_http_req_bus(const struct ob_http_req *req)
{
    return req->hc->srv->host->bus;
}

int ob_http_authorize(const struct ob_http_req *req, enum ob_action act, const char *subject)
{
    const struct ob_proto_host *h = req->hc->srv->host;
    if (!h->auth || !*h->auth) return 0;
    return ob_auth_authorize(*h->auth, req->principal, act, subject);
}

void *ob_http_req_data(const struct ob_http_req *req)
{
    return req->data;
}

void ob_http_req_set_data(struct ob_http_req *req, void *data)
{
    req->data = data;
}

void ob_http_req_on_cancel(struct ob_http_req *req, void (*cancel)(void *arg), void *arg)
{
    req->cancel = cancel;
    req->cancel_arg = arg;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static int decode_params(struct ob_http_req *req)
{
    for (size_t i = 0; i < req->m.nparams; i++) {
        req->params[i] = decode_dup(req->m.values[i], 0);
        if (!req->params[i]) return OB_EINVAL;
    }
    return 0;
}

static void allow_header(unsigned allowed, char *out, size_t n)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    size_t len = 0;
    out[0] = '\0';
    allowed |= OB_HTTP_OPTIONS;
    for (unsigned i = 0; i < 7; i++)
        if (allowed & (1u << i))
            len += (size_t)snprintf(out + len, n - len, "%s%s", len ? ", " : "", names[i]);
}

/* No route for this method: OPTIONS lists the methods, others get 405 or 404. */
static void no_route(struct ob_http_req *req)
{
    char allow[64];
    allow_header(req->m.allowed, allow, sizeof allow);
    struct ob_header h = {ob_slice_str("Allow"), ob_slice_str(allow)};
    if (req->m.allowed && req->method_id == OB_HTTP_OPTIONS)
        respond_full(req, 204, &h, 1, NULL, 0, NULL, NULL);
    else if (req->m.allowed)
        ob_http_problem_h(req, 405, &h, 1, "method-not-allowed", "Method Not Allowed", NULL);
    else
        ob_http_problem(req, 404, "not-found", "Not Found", "no such resource");
}

/* Answers 101 to an h2c upgrade: the request continues as HTTP/2 stream 1. */
static void upgrade_h2c(struct ob_http_req *req)
{
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    req_out_copy(req, resp, sizeof resp - 1);
    req->status = 101;
    req->upgrade_h2 = true;
    req->state = RQ_DONE;
    h1_pump(req->hc);
}

void req_dispatch(struct ob_http_req *req)
{
    struct hconn *hc = req->hc;
    hc_enter(hc);
    req->state = RQ_HANDLER;
    if (req->h2_settings && req->version == 11 && hc->mode == HC_H1) {
        upgrade_h2c(req);
    } else if (req->method_id == OB_HTTP_OPTIONS && cors_preflight(req)) {
        /* answered */
    } else {
        router_match(&hc->srv->router, req->method_id, ob_slice_str(req->raw_path), &req->m);
        if (!req->m.route)
            no_route(req);
        else if (decode_params(req))
            ob_http_problem(req, 400, "bad-request", "Bad Request", "bad percent-encoding");
        else if ((req->m.route->flags & OB_HTTP_PUBLIC) || http_authenticate(req) == 0)
            req_dispatch_authed(req);
    }
    hc_leave(hc);
}

/* The problem type of an error a handler returned, by its status. */
static const char *problem_suffix(int status)
{
    switch (status) {
    case 400:
        return "bad-request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not-found";
    case 409:
        return "conflict";
    case 413:
        return "too-large";
    case 429:
        return "too-many-requests";
    case 501:
        return "not-implemented";
    case 503:
        return "unavailable";
    case 504:
        return "timeout";
    default:
        return "internal";
    }
}

void req_dispatch_authed(struct ob_http_req *req)
{
    struct hconn *hc = req->hc;
    hc_enter(hc);
    req->state = RQ_HANDLER;
    req->in_handler = true;
    int rc = req->m.route->handler(req, req->m.route->arg);
    req->in_handler = false;
    if (req->state == RQ_HANDLER && rc != OB_HTTP_PENDING) {
        if (rc < 0) {
            int st = ob_http_status_for_error(rc);
            ob_http_problem(req, st, problem_suffix(st), ob_h1_reason(st), ob_strerror(rc));
        } else {
            OB_ERROR("http", "handler returned without a response", "path=%s", req->path);
            ob_http_problem(req, 500, "internal", "Internal Server Error", "no response");
        }
    } else if (req->state != RQ_HANDLER) {
        req_finish(req); /* in_handler held it back */
    }
    hc_leave(hc);
}

/* ---- output ------------------------------------------------------------------------- */

static void out_append(struct ob_http_req *req, struct ob_slice s, ob_release_fn release, void *arg)
{
    struct outseg *seg = ob_xmalloc(sizeof *seg);
    seg->next = NULL;
    seg->s = s;
    seg->release = release;
    seg->arg = arg;
    *req->out_tail = seg;
    req->out_tail = &seg->next;
    req->out_bytes += s.n;
}

void req_out(struct ob_http_req *req, const struct ob_slice *iov, size_t n, ob_release_fn release,
             void *arg)
{
    struct hconn *hc = req->hc;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += iov[i].n;
    req->bytes_out += total;
    ob_metrics_add_bytes("http", "out", total);
    if (hc->mode == HC_H1 && hc->q_head == req && !req->out && hc->c) {
        ob_conn_write(hc->c, iov, n, release, arg);
        return;
    }
    if (hc->dead) {
        if (release) release(arg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out_append(req, iov[i], i + 1 == n ? release : NULL, i + 1 == n ? arg : NULL);
    if (!n && release) release(arg);
}

void req_out_copy(struct ob_http_req *req, const void *p, size_t n)
{
    void *copy = ob_xmemdup(p, n);
    struct ob_slice s = {copy, n};
    req_out(req, &s, 1, free, copy);
}

void req_finish(struct ob_http_req *req)
{
    struct hconn *hc = req->hc;
    if (req->state == RQ_DONE && !req->logged) {
        req->logged = true;
        req_log(req);
    }
    if (req->in_handler) return;
    if (hc->mode == HC_H2 && req->stream_id)
        h2_resume(req);
    else if (hc->mode == HC_H1)
        h1_pump(hc);
}

void req_log(struct ob_http_req *req)
{
    ob_metrics_http_status(req->status);
    if (!req->hc->srv->opt.access_log) return;
    double ms = (double)(ob_mono_ns() - req->t_start) / 1e6;
    OB_INFO("http", "request",
            "method=%s path=\"%s\" status=%d bytes=%llu duration_ms=%.3f "
            "proto=%s peer=%s",
            req->method, req->path, req->status, (unsigned long long)req->bytes_out, ms,
            req->version == 20   ? "h2"
            : req->version == 11 ? "http/1.1"
                                 : "http/1.0",
            req->hc->c ? ob_conn_peer_name(req->hc->c) : "?");
}

void req_writable(struct hconn *hc)
{
    if (hc->mode == HC_H2) {
        h2_writable(hc);
        return;
    }
    struct ob_http_req *r = hc->q_head; /* only the head request writes to the socket */
    if (r && r->state == RQ_STREAMING && r->writable && !ob_http_stream_congested(r))
        r->writable(r, r->writable_arg);
}
