/*
 * auth.c — the authenticator and authorizer described in auth.h.
 *
 * Secrets that the config holds in clear (tokens, discouraged plain passwords) are kept
 * only as SHA-256 digests and compared with sodium_memcmp, so a comparison takes the
 * same time wherever the first differing byte is, and whatever the secret's length.
 */
#include "core/auth.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

typedef unsigned char digest_t[crypto_hash_sha256_BYTES];

/* An argon2id hash with the parameters `omnibus passwd` uses; checked (and ignored) for
 * unknown user names. */
static const char dummy_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=65536,t=2,p=1$nvWSCbsKCXpfFXxWqc+fVQ$MlqFJ+U4nVNvSQ1MGn6zOQKCOosRrMA/"
    "7h5ov2peJzg";

struct user {
    char *name;
    char *hash;       /* argon2 string or NULL */
    bool has_plain;   /* plain password given: compare its digest */
    digest_t plain;   /* SHA-256 of the plain password */
    digest_t *tokens; /* SHA-256 of each token */
    size_t ntokens;
};

struct rule {
    char *user;
    int effect;
    unsigned actions;
    char **subjects;
    size_t nsubjects;
};

struct ob_auth {
    atomic_uint refs;
    int anonymous;
    struct user *users;
    size_t nusers;
    struct rule *rules;
    size_t nrules;
};

struct ob_principal {
    bool anonymous;
    const char *name; /* "anonymous" for the anonymous principal */
    char buf[];       /* a user's name, which name points to */
};

/* Every anonymous client gets this one, never allocated nor freed: one allocation
 * less per connection where anonymous access is the rule. Immutable, so it may be
 * handed out by the auth thread pool too. */
static struct ob_principal anonymous_principal = {true, "anonymous"};

static void sha256(digest_t out, const void *p, size_t n)
{
    crypto_hash_sha256(out, (const unsigned char *)p, n);
}

/* ---- building ------------------------------------------------------------------- */

static bool user_config_valid(const struct ob_auth_user *u)
{
    if (!u->name || !*u->name || !strcmp(u->name, "*") || !strcmp(u->name, "anonymous"))
        return false;
    if (u->password_hash && strncmp(u->password_hash, "$argon2", 7) != 0) return false;
    return u->password_hash || u->password || u->ntokens > 0;
}

static bool rule_config_valid(const struct ob_auth_rule *r)
{
    if (!r->user || !*r->user || !r->actions || r->nsubjects == 0) return false;
    if (r->actions & ~(unsigned)(OB_ACT_PUBLISH | OB_ACT_SUBSCRIBE)) return false;
    for (size_t i = 0; i < r->nsubjects; i++)
        if (!r->subjects[i] || !ob_filter_valid(ob_slice_str(r->subjects[i]))) return false;
    return true;
}

static void copy_user(struct user *d, const struct ob_auth_user *s)
{
    d->name = ob_xstrdup(s->name);
    d->hash = s->password_hash ? ob_xstrdup(s->password_hash) : NULL;
    d->has_plain = s->password != NULL;
    if (s->password) sha256(d->plain, s->password, strlen(s->password));
    d->ntokens = s->ntokens;
    d->tokens = ob_xcalloc(s->ntokens, sizeof *d->tokens);
    for (size_t i = 0; i < s->ntokens; i++)
        sha256(d->tokens[i], s->tokens[i], strlen(s->tokens[i]));
}

static void copy_rule(struct rule *d, const struct ob_auth_rule *s)
{
    d->user = ob_xstrdup(s->user);
    d->effect = s->effect;
    d->actions = s->actions;
    d->nsubjects = s->nsubjects;
    d->subjects = ob_xcalloc(s->nsubjects, sizeof *d->subjects);
    for (size_t i = 0; i < s->nsubjects; i++)
        d->subjects[i] = ob_xstrdup(s->subjects[i]);
}

static int check_config(const struct ob_auth_config *cfg)
{
    if (cfg->anonymous < OB_ANON_LOOPBACK || cfg->anonymous > OB_ANON_NEVER) return OB_ECONFIG;
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (!user_config_valid(&cfg->users[i])) return OB_ECONFIG;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->users[i].name, cfg->users[j].name)) return OB_ECONFIG;
    }
    for (size_t i = 0; i < cfg->nrules; i++)
        if (!rule_config_valid(&cfg->rules[i])) return OB_ECONFIG;
    return 0;
}

int ob_auth_new(struct ob_auth **out, const struct ob_auth_config *cfg)
{
    *out = NULL;
    if (sodium_init() < 0) return OB_EINVAL;
    int rc = check_config(cfg);
    if (rc) return rc;
    struct ob_auth *a = ob_xcalloc(1, sizeof *a);
    atomic_init(&a->refs, 1);
    a->anonymous = cfg->anonymous;
    a->nusers = cfg->nusers;
    a->users = ob_xcalloc(cfg->nusers, sizeof *a->users);
    for (size_t i = 0; i < cfg->nusers; i++)
        copy_user(&a->users[i], &cfg->users[i]);
    a->nrules = cfg->nrules;
    a->rules = ob_xcalloc(cfg->nrules, sizeof *a->rules);
    for (size_t i = 0; i < cfg->nrules; i++)
        copy_rule(&a->rules[i], &cfg->rules[i]);
    *out = a;
    return 0;
}

struct ob_auth *ob_auth_ref(struct ob_auth *a)
{
    atomic_fetch_add(&a->refs, 1);
    return a;
}

void ob_auth_unref(struct ob_auth *a)
{
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
    for (size_t i = 0; i < a->nusers; i++) {
        free(a->users[i].name);
        free(a->users[i].hash);
        free(a->users[i].tokens);
    }
    for (size_t i = 0; i < a->nrules; i++) {
        for (size_t j = 0; j < a->rules[i].nsubjects; j++)
            free(a->rules[i].subjects[j]);
        free(a->rules[i].subjects);
        free(a->rules[i].user);
    }
    sodium_memzero(a->users, a->nusers * sizeof *a->users);
    free(a->users);
    free(a->rules);
    free(a);
}

/* ---- authentication ----------------------------------------------------------------- */

static struct ob_principal *principal_new(const char *name, bool anonymous)
{
    if (anonymous) return &anonymous_principal;
    size_t n = strlen(name);
    struct ob_principal *p = ob_xmalloc(sizeof *p + n + 1);
    p->anonymous = false;
    memcpy(p->buf, name, n + 1);
    p->name = p->buf;
    return p;
}

bool ob_sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (!sa) return false;
    if (sa->sa_family == AF_UNIX) return true;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a6)) return true;
        return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
    }
    return false;
}

/* Index of the user owning the token, or -1. Every token is compared, so the time
 * taken does not tell which user (or whether any) matched. */
static long find_token_owner(const struct ob_auth *a, const void *secret, size_t n)
{
    digest_t d;
    sha256(d, secret, n);
    long owner = -1;
    for (size_t i = 0; i < a->nusers; i++)
        for (size_t j = 0; j < a->users[i].ntokens; j++)
            if (sodium_memcmp(d, a->users[i].tokens[j], sizeof d) == 0) owner = (long)i;
    return owner;
}

static const struct user *find_user(const struct ob_auth *a, const char *name)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (!strcmp(a->users[i].name, name)) return &a->users[i];
    return NULL;
}

static bool user_secret_ok(const struct user *u, const void *secret, size_t n)
{
    digest_t d;
    sha256(d, secret, n);
    bool ok = false;
    for (size_t j = 0; j < u->ntokens; j++)
        if (sodium_memcmp(d, u->tokens[j], sizeof d) == 0) ok = true;
    if (u->has_plain && sodium_memcmp(d, u->plain, sizeof d) == 0) ok = true;
    if (!ok && u->hash && crypto_pwhash_str_verify(u->hash, secret, n) == 0) ok = true;
    return ok;
}

static bool anonymous_allowed(const struct ob_auth *a, const struct sockaddr *peer)
{
    switch (a->anonymous) {
    case OB_ANON_ALWAYS:
        return true;
    case OB_ANON_LOOPBACK:
        return ob_sockaddr_is_loopback(peer);
    default:
        return false;
    }
}

int ob_auth_authenticate(struct ob_auth *a, const char *user, const void *secret, size_t n,
                         const struct sockaddr *peer, struct ob_principal **out)
{
    *out = NULL;
    bool no_user = !user || !*user;
    if (no_user && !secret) {
        if (!anonymous_allowed(a, peer)) return OB_EAUTH;
        *out = principal_new("anonymous", true);
        return 0;
    }
    if (!secret) return OB_EAUTH;
    if (no_user) {
        long i = find_token_owner(a, secret, n);
        if (i < 0) return OB_EAUTH;
        *out = principal_new(a->users[i].name, false);
        return 0;
    }
    const struct user *u = find_user(a, user);
    if (!u) {
        /* Costs what a real check costs, so timing does not tell which users exist. */
        int ignored = crypto_pwhash_str_verify(dummy_hash, secret, n);
        (void)ignored;
        return OB_EAUTH;
    }
    if (!user_secret_ok(u, secret, n)) return OB_EAUTH;
    *out = principal_new(u->name, false);
    return 0;
}

/* ---- asynchronous authentication on the thread pool ------------------------------ */

struct auth_work {
    uv_work_t req;
    struct ob_auth *auth;
    char *user;
    void *secret;
    size_t n;
    bool has_secret;
    bool has_peer;
    struct sockaddr_storage peer;
    ob_auth_cb cb;
    void *arg;
    int status;
    struct ob_principal *principal;
};

static void auth_work_run(uv_work_t *req)
{
    struct auth_work *w = (struct auth_work *)req;
    w->status =
        ob_auth_authenticate(w->auth, w->user, w->has_secret ? w->secret : NULL, w->n,
                             w->has_peer ? (struct sockaddr *)&w->peer : NULL, &w->principal);
}

static void auth_work_done(uv_work_t *req, int status)
{
    struct auth_work *w = (struct auth_work *)req;
    if (status == UV_ECANCELED && !w->status) w->status = OB_EAUTH;
    if (w->status && w->principal) {
        ob_principal_free(w->principal);
        w->principal = NULL;
    }
    w->cb(w->arg, w->status, w->principal);
    ob_auth_unref(w->auth);
    if (w->secret) sodium_memzero(w->secret, w->n);
    free(w->secret);
    free(w->user);
    free(w);
}

static socklen_t sockaddr_len(const struct sockaddr *sa)
{
    switch (sa->sa_family) {
    case AF_INET:
        return sizeof(struct sockaddr_in);
    case AF_INET6:
        return sizeof(struct sockaddr_in6);
    default:
        return sizeof(struct sockaddr_storage);
    }
}

int ob_auth_authenticate_async(struct ob_auth *a, void *uv_loop, const char *user,
                               const void *secret, size_t n, const struct sockaddr *peer,
                               ob_auth_cb cb, void *arg)
{
    struct auth_work *w = ob_xcalloc(1, sizeof *w);
    w->auth = ob_auth_ref(a);
    w->user = user ? ob_xstrdup(user) : NULL;
    w->has_secret = secret != NULL;
    w->secret = secret ? ob_xmemdup(secret, n) : NULL;
    w->n = n;
    if (peer) {
        w->has_peer = true;
        memcpy(&w->peer, peer, sockaddr_len(peer));
    }
    w->cb = cb;
    w->arg = arg;
    int rc = uv_queue_work(uv_loop, &w->req, auth_work_run, auth_work_done);
    if (rc) {
        ob_auth_unref(w->auth);
        free(w->secret);
        free(w->user);
        free(w);
        return OB_EINVAL;
    }
    return 0;
}

const char *ob_principal_name(const struct ob_principal *p)
{
    return p->name;
}

bool ob_principal_is_anonymous(const struct ob_principal *p)
{
    return p->anonymous;
}

struct ob_principal *ob_principal_dup(const struct ob_principal *p)
{
    return principal_new(p->name, p->anonymous);
}

void ob_principal_free(struct ob_principal *p)
{
    if (p != &anonymous_principal) free(p);
}

int ob_auth_hash_password(const char *pw, size_t n, char out[OB_AUTH_HASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= OB_AUTH_HASH_MAX, "hash buffer too small");
    if (sodium_init() < 0) return OB_EINVAL;
    if (crypto_pwhash_str_alg(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return OB_EINVAL;
    return 0;
}

/* ---- filter algebra ------------------------------------------------------------- */

/* Splits the next '.'-separated token off *s; false when *s is exhausted. */
static bool next_token(struct ob_slice *s, struct ob_slice *tok)
{
    if (s->n == 0) return false;
    const uint8_t *dot = memchr(s->p, '.', s->n);
    size_t len = dot ? (size_t)(dot - s->p) : s->n;
    *tok = ob_slice_make(s->p, len);
    s->p += dot ? len + 1 : len;
    s->n -= dot ? len + 1 : len;
    return true;
}

static bool is_tok(struct ob_slice t, char c)
{
    return t.n == 1 && t.p[0] == (uint8_t)c;
}

bool ob_filter_covers(struct ob_slice pattern, struct ob_slice filter)
{
    struct ob_slice pt, ft;
    for (;;) {
        bool hp = next_token(&pattern, &pt), hf = next_token(&filter, &ft);
        if (!hp) return !hf;
        if (is_tok(pt, '>')) return hf; /* '>' needs at least one more token */
        if (!hf || is_tok(ft, '>')) return false;
        if (is_tok(pt, '*')) continue;
        if (is_tok(ft, '*') || !ob_slice_eq(pt, ft)) return false;
    }
}

bool ob_filter_overlaps(struct ob_slice a, struct ob_slice b)
{
    struct ob_slice at, bt;
    for (;;) {
        bool ha = next_token(&a, &at), hb = next_token(&b, &bt);
        if (!ha || !hb) return ha == hb;
        if (is_tok(at, '>') || is_tok(bt, '>')) return true;
        if (is_tok(at, '*') || is_tok(bt, '*')) continue;
        if (!ob_slice_eq(at, bt)) return false;
    }
}

/* ---- authorization ---------------------------------------------------------------- */

static bool rule_names(const struct rule *r, const struct ob_principal *p)
{
    if (!strcmp(r->user, "*")) return true;
    if (p->anonymous) return !strcmp(r->user, "anonymous");
    return !strcmp(r->user, p->name);
}

static bool rule_matches(const struct rule *r, enum ob_action act, struct ob_slice subject)
{
    for (size_t i = 0; i < r->nsubjects; i++) {
        struct ob_slice pat = ob_slice_str(r->subjects[i]);
        bool m;
        if (act == OB_ACT_PUBLISH)
            m = ob_subject_matches_all(pat, subject);
        else if (r->effect == OB_RULE_ALLOW)
            m = ob_filter_covers(pat, subject);
        else
            m = ob_filter_overlaps(pat, subject);
        if (m) return true;
    }
    return false;
}

int ob_auth_authorize(const struct ob_auth *a, const struct ob_principal *p, enum ob_action act,
                      const char *subject)
{
    struct ob_slice s = ob_slice_str(subject);
    if (act == OB_ACT_PUBLISH ? !ob_subject_valid(s) : !ob_filter_valid(s)) return OB_EBADSUBJECT;
    if (act != OB_ACT_PUBLISH && act != OB_ACT_SUBSCRIBE) return OB_EINVAL;
    bool named = false;
    for (size_t i = 0; i < a->nrules; i++) {
        const struct rule *r = &a->rules[i];
        if (!rule_names(r, p)) continue;
        named = true;
        if (!(r->actions & (unsigned)act) || !rule_matches(r, act, s)) continue;
        return r->effect == OB_RULE_ALLOW ? 0 : OB_EPERM;
    }
    return named ? OB_EPERM : 0;
}
