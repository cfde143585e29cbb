/*
 * server_auth.c — authentication of HTTP requests through core/auth.h:
 *   Authorization: Basic base64(user:password)  -> password or token of that user
 *   Authorization: Bearer <token>               -> the token's owner
 *   no Authorization                            -> anonymous, per auth.anonymous
 * Password hashes (argon2id) are checked on the thread pool; the result is cached on
 * the connection for the same header value and the same authenticator (a reload
 * swaps it), so a keep-alive client pays the hash once, not per request.
 * Failure: 401 with WWW-Authenticate for both schemes.
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "core/auth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct authwait {
    struct ob_http_req *req; /* NULL once the request is gone */
    char *value;             /* the Authorization value being checked */
};

void hc_auth_release(struct hconn *hc)
{
    free(hc->auth_value);
    hc->auth_value = NULL;
    if (hc->auth_principal) ob_principal_free(hc->auth_principal);
    hc->auth_principal = NULL;
    hc->auth_ptr = NULL;
}

static void cache(struct hconn *hc, struct ob_auth *a, const char *value,
                  const struct ob_principal *p)
{
    hc_auth_release(hc);
    hc->auth_value = ob_xstrdup(value ? value : "");
    hc->auth_principal = ob_principal_dup(p);
    hc->auth_ptr = a;
}

static void unauthorized(struct ob_http_req *req, const char *why)
{
    static const struct ob_header h[2] = {
        {{(const uint8_t *)"WWW-Authenticate", 16},
         {(const uint8_t *)"Basic realm=\"omnibus\", charset=\"UTF-8\"", 38}},
        {{(const uint8_t *)"WWW-Authenticate", 16},
         {(const uint8_t *)"Bearer realm=\"omnibus\"", 22}},
    };
    ob_http_problem_h(req, 401, h, 2, "unauthorized", "Unauthorized", why);
}

static void on_checked(void *arg, int status, struct ob_principal *p)
{
    struct authwait *w = arg;
    struct ob_http_req *req = w->req;
    if (req) {
        req->authwait = NULL;
        struct hconn *hc = req->hc;
        hc_enter(hc);
        if (status == 0) {
            cache(hc, *hc->srv->host->auth, w->value, p);
            req->principal = p;
            p = NULL;
            req_dispatch_authed(req);
        } else {
            unauthorized(req, "invalid credentials");
        }
        hc_leave(hc);
    }
    if (p) ob_principal_free(p);
    free(w->value);
    free(w);
}

void auth_cancel(struct ob_http_req *req)
{
    req->authwait->req = NULL; /* the pool thread's callback finds nothing to do */
    req->authwait = NULL;
}

/* Basic: decodes "user:password" and checks it off-loop. */
static int basic(struct ob_http_req *req, struct ob_auth *a, const char *value, const char *b64)
{
    size_t blen = strlen(b64), n = 0;
    char *bin = ob_xmalloc(blen + 1);
    if (sodium_base642bin((unsigned char *)bin, blen, b64, blen, " ", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(bin);
        unauthorized(req, "malformed Basic credentials");
        return OB_EAUTH;
    }
    bin[n] = '\0';
    char *colon = memchr(bin, ':', n);
    if (!colon) {
        free(bin);
        unauthorized(req, "malformed Basic credentials");
        return OB_EAUTH;
    }
    *colon = '\0';
    struct authwait *w = ob_xcalloc(1, sizeof *w);
    w->req = req;
    w->value = ob_xstrdup(value);
    req->authwait = w;
    req->state = RQ_AUTH;
    const char *pw = colon + 1;
    int rc = ob_auth_authenticate_async(a, req->hc->srv->loop, bin, pw, strlen(pw),
                                        ob_http_req_peer(req), on_checked, w);
    sodium_memzero(bin, n);
    free(bin);
    if (rc) {
        req->authwait = NULL;
        free(w->value);
        free(w);
        unauthorized(req, "authentication unavailable");
        return OB_EAUTH;
    }
    return OB_EAGAIN;
}

int http_authenticate(struct ob_http_req *req)
{
    struct hconn *hc = req->hc;
    const struct ob_proto_host *host = hc->srv->host;
    struct ob_auth *a = host->auth ? *host->auth : NULL;
    if (!a) return 0; /* no authenticator (embedded use): open */
    const char *value = ob_http_header(req, "authorization");
    if (hc->auth_ptr == a && hc->auth_value && !strcmp(hc->auth_value, value ? value : "")) {
        req->principal = ob_principal_dup(hc->auth_principal);
        return 0;
    }
    struct ob_principal *p = NULL;
    int rc;
    if (!value) {
        rc = ob_auth_authenticate(a, NULL, NULL, 0, ob_http_req_peer(req), &p);
    } else if (!strncasecmp(value, "Bearer ", 7)) {
        const char *tok = value + 7;
        rc = ob_auth_authenticate(a, NULL, tok, strlen(tok), ob_http_req_peer(req), &p);
    } else if (!strncasecmp(value, "Basic ", 6)) {
        return basic(req, a, value, value + 6);
    } else {
        unauthorized(req, "unsupported authorization scheme");
        return OB_EAUTH;
    }
    if (rc) {
        unauthorized(req, value ? "invalid credentials" : "authentication required");
        return OB_EAUTH;
    }
    cache(hc, a, value, p);
    req->principal = p;
    return 0;
}
