/*
 * cors.c — Cross-Origin Resource Sharing (Fetch standard): the Access-Control-* headers
 * on responses to cross-origin requests, and the answer to preflights (OPTIONS with
 * Access-Control-Request-Method). Allowed origins come from ob_http_options
 * (cors_origins: "*" by default, a comma-separated list, or "" for no CORS).
 * Request headers a browser may send: Last-Event-ID (SSE resume), Content-Type,
 * Authorization, Idempotency-Key and every Omnibus-* header.
 */
#include "http/server_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const allowed_headers[] = {"last-event-id",   "content-type", "authorization",
                                              "idempotency-key", "accept",       "cache-control"};

/* "*" for any origin, origin itself if listed, NULL if not allowed. */
static const char *allow_origin(const struct ob_http_req *req, const char *origin)
{
    const char *list = req->hc->srv->opt.cors_origins;
    if (!list || !*list || !origin) return NULL;
    if (!strcmp(list, "*")) return "*";
    struct ob_slice l = ob_slice_str(list), e;
    while (ob_h1_list_next(&l, &e))
        if (ob_slice_eq(e, ob_slice_str(origin))) return origin;
    return NULL;
}

size_t cors_headers(struct ob_http_req *req, struct ob_header *h, size_t max)
{
    const char *o = allow_origin(req, ob_http_header(req, "origin"));
    if (!o || max < 3) return 0;
    size_t k = 0;
    h[k].name = ob_slice_str("Access-Control-Allow-Origin");
    h[k++].value = ob_slice_str(o);
    h[k].name = ob_slice_str("Access-Control-Expose-Headers");
    h[k++].value = ob_slice_str("*");
    if (strcmp(o, "*") != 0) {
        h[k].name = ob_slice_str("Vary");
        h[k++].value = ob_slice_str("Origin");
    }
    return k;
}

static bool header_allowed(struct ob_slice name)
{
    if (name.n >= 8 && !strncasecmp((const char *)name.p, "omnibus-", 8)) return true;
    for (size_t i = 0; i < sizeof allowed_headers / sizeof allowed_headers[0]; i++)
        if (ob_slice_eq_nocase(name, ob_slice_str(allowed_headers[i]))) return true;
    return false;
}

/* The requested headers we allow, comma-separated, into out (at most n bytes). */
static void filter_requested(const char *req_headers, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    struct ob_slice l = ob_slice_str(req_headers), e;
    while (ob_h1_list_next(&l, &e)) {
        if (!header_allowed(e) || len + e.n + 3 > n) continue;
        if (len) memcpy(out + len, ", ", 2), len += 2;
        memcpy(out + len, e.p, e.n);
        len += e.n;
        out[len] = '\0';
    }
}

bool cors_preflight(struct ob_http_req *req)
{
    const char *origin = ob_http_header(req, "origin");
    const char *method = ob_http_header(req, "access-control-request-method");
    if (!origin || !method) return false;
    const char *o = allow_origin(req, origin);
    if (!o) {
        ob_http_problem(req, 403, "cors-origin", "Forbidden", "origin not allowed");
        return true;
    }
    char hdrs[512];
    const char *want = ob_http_header(req, "access-control-request-headers");
    filter_requested(want ? want : "", hdrs, sizeof hdrs);
    struct ob_header h[4];
    size_t k = 0;
    h[k].name = ob_slice_str("Access-Control-Allow-Methods");
    h[k++].value = ob_slice_str("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    if (hdrs[0]) {
        h[k].name = ob_slice_str("Access-Control-Allow-Headers");
        h[k++].value = ob_slice_str(hdrs);
    }
    h[k].name = ob_slice_str("Access-Control-Max-Age");
    h[k++].value = ob_slice_str("600");
    respond_full(req, 204, h, k, NULL, 0, NULL, NULL); /* ACAO comes with cors_headers */
    return true;
}
