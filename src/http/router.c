/*
 * router.c — the routing table: method bits + path patterns of literal segments,
 * "{name}" captures and a final "*" rest. Matching walks every route (tables hold tens
 * of routes, not thousands) and keeps the most specific match, segment by segment:
 * a literal beats a capture, a capture beats the rest; ties go to the route added
 * first. Patterns are matched against the still-encoded path so that an encoded '/'
 * (%2F) inside a subject stays inside its segment; captures are decoded afterwards.
 */
#include "http/server_int.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

void router_init(struct ob_http_router *r, const struct ob_proto_host *host)
{
    memset(r, 0, sizeof *r);
    r->host = host;
}

void router_release(struct ob_http_router *r)
{
    for (size_t i = r->nfrees; i-- > 0;)
        r->frees[i].fn(r->frees[i].arg);
    for (size_t i = 0; i < r->nroutes; i++) {
        struct route *rt = &r->routes[i];
        for (size_t j = 0; j < rt->nsegs; j++)
            free((char *)rt->segs[j].text);
        free(rt->segs);
        free(rt->pattern);
        free(rt->ws);
    }
    free(r->routes);
    memset(r, 0, sizeof *r);
}

void ob_http_router_on_free(struct ob_http_router *r, void (*free_fn)(void *arg), void *arg)
{
    if (r->nfrees < sizeof r->frees / sizeof r->frees[0]) {
        r->frees[r->nfrees].fn = free_fn;
        r->frees[r->nfrees].arg = arg;
        r->nfrees++;
    } else {
        free_fn(arg); /* cannot keep it: better now than never */
    }
}

const struct ob_proto_host *ob_http_router_host(const struct ob_http_router *r)
{
    return r->host;
}

/* Splits pattern into segments; OB_EINVAL for a malformed one. */
static int parse_pattern(const char *pattern, struct route *rt)
{
    if (pattern[0] != '/') return OB_EINVAL;
    const char *p = pattern + 1;
    size_t cap = 0;
    while (1) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct seg s = {SEG_LIT, NULL, len};
        if (len == 1 && p[0] == '*') {
            if (end) return OB_EINVAL; /* "*" only last */
            s.kind = SEG_REST;
            s.text = ob_xstrdup("*");
            s.len = 1;
        } else if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            s.kind = SEG_PARAM;
            s.text = ob_xstrndup(p + 1, len - 2);
            s.len = len - 2;
            if (!s.len || memchr(s.text, '{', s.len)) return free((char *)s.text), OB_EINVAL;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len)) return OB_EINVAL;
            s.text = ob_xstrndup(p, len);
        }
        OB_GROW(rt->segs, cap, rt->nsegs + 1);
        rt->segs[rt->nsegs++] = s;
        if (!end) return 0;
        p = end + 1;
    }
}

static int add_route(struct ob_http_router *r, struct route *rt, const char *pattern)
{
    size_t params = 0;
    int rc = parse_pattern(pattern, rt);
    for (size_t i = 0; i < rt->nsegs; i++)
        params += rt->segs[i].kind != SEG_LIT;
    if (rc == 0 && params > OB_HTTP_MAX_PARAMS) rc = OB_EINVAL;
    if (rc) {
        for (size_t j = 0; j < rt->nsegs; j++)
            free((char *)rt->segs[j].text);
        free(rt->segs);
        free(rt->ws);
        return rc;
    }
    rt->pattern = ob_xstrdup(pattern);
    OB_GROW(r->routes, r->cap, r->nroutes + 1);
    r->routes[r->nroutes++] = *rt;
    return 0;
}

int ob_http_route(struct ob_http_router *r, unsigned methods, const char *pattern, unsigned flags,
                  ob_http_handler h, void *arg)
{
    if (!r || !pattern || !h || !methods) return OB_EINVAL;
    if (methods & OB_HTTP_GET) methods |= OB_HTTP_HEAD;
    struct route rt = {.methods = methods, .flags = flags, .handler = h, .arg = arg};
    return add_route(r, &rt, pattern);
}

int ob_http_ws_route(struct ob_http_router *r, const char *path, unsigned flags,
                     const struct ob_ws_endpoint *ep)
{
    if (!r || !path || !ep || !ep->on_message) return OB_EINVAL;
    struct route rt = {.methods = OB_HTTP_GET, .flags = flags, .handler = ws_upgrade_handler};
    rt.ws = ob_xmemdup(ep, sizeof *ep);
    rt.arg = rt.ws;
    return add_route(r, &rt, path);
}

unsigned method_id(struct ob_slice m)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ob_slice_eq_str(m, names[i])) return 1u << i;
    return OB_HTTP_OTHER;
}

/* Matches rt against the path's segments; fills rank (kind per segment) and captures. */
static bool match_route(const struct route *rt, const struct ob_slice *segs, size_t nsegs,
                        uint8_t *rank, struct match *m)
{
    size_t np = 0;
    for (size_t i = 0; i < rt->nsegs; i++) {
        const struct seg *s = &rt->segs[i];
        rank[i] = s->kind;
        if (s->kind == SEG_REST) {
            struct ob_slice rest = {(const uint8_t *)"", 0};
            if (i < nsegs) {
                rest.p = segs[i].p;
                rest.n = (size_t)(segs[nsegs - 1].p + segs[nsegs - 1].n - segs[i].p);
            }
            m->names[np] = ob_slice_make(s->text, s->len);
            m->values[np++] = rest;
            m->nparams = np;
            return true;
        }
        if (i >= nsegs) return false;
        if (s->kind == SEG_LIT) {
            if (!ob_slice_eq(segs[i], ob_slice_make(s->text, s->len))) return false;
        } else {
            if (!segs[i].n) return false;
            m->names[np] = ob_slice_make(s->text, s->len);
            m->values[np++] = segs[i];
        }
    }
    m->nparams = np;
    return rt->nsegs == nsegs;
}

/* Splits "/a/b" into {"a","b"}; "/" is one empty segment. */
static size_t split_path(struct ob_slice path, struct ob_slice *segs, size_t max)
{
    size_t n = 0;
    const uint8_t *p = path.p + 1, *end = path.p + path.n;
    while (n < max) {
        const uint8_t *slash = memchr(p, '/', (size_t)(end - p));
        const uint8_t *e = slash ? slash : end;
        segs[n++] = ob_slice_make(p, (size_t)(e - p));
        if (!slash) break;
        p = slash + 1;
    }
    return n;
}

#define MAX_SEGS 32

void router_match(const struct ob_http_router *r, unsigned method, struct ob_slice path,
                  struct match *m)
{
    memset(m, 0, sizeof *m);
    if (!path.n || path.p[0] != '/') return;
    struct ob_slice segs[MAX_SEGS];
    size_t nsegs = split_path(path, segs, MAX_SEGS);
    uint8_t best[MAX_SEGS + 1] = {0}, rank[MAX_SEGS + 1];
    size_t best_n = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        const struct route *rt = &r->routes[i];
        struct match cand = {0};
        if (rt->nsegs > MAX_SEGS || !match_route(rt, segs, nsegs, rank, &cand)) continue;
        m->allowed |= rt->methods;
        if (!(rt->methods & method)) continue;
        size_t n = rt->nsegs;
        if (m->route) {
            size_t k = 0;
            while (k < n && k < best_n && rank[k] == best[k])
                k++;
            bool better = k < n && k < best_n ? rank[k] > best[k] : n > best_n;
            if (!better) continue;
        }
        unsigned allowed = m->allowed;
        *m = cand;
        m->allowed = allowed;
        m->route = rt;
        memcpy(best, rank, n);
        best_n = n;
    }
}
