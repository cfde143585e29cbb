/*
 * auth.h — identity and access: the one authenticator and authorizer every protocol
 * adapter calls, when a client connects (ob_auth_authenticate) and when it publishes or
 * subscribes (ob_auth_authorize).
 *
 * Authentication: a user name with a password (checked against an argon2id hash made by
 * `omnibus passwd`, or a plain password from the config, which is discouraged), or a
 * token (alone, or given as the password of its user). No credentials at all means the
 * anonymous principal, allowed per auth.anonymous: on loopback peers only (the
 * default), always, or never.
 *
 * Authorization: rules are tried in order; the first rule whose user matches the
 * principal, whose actions include the action and whose subjects match decides (allow
 * or deny). If no rule matches: allowed when no rule at all names this principal (by
 * name, "*" or "anonymous"), denied otherwise. So a config without rules is open, and a
 * user with rules gets exactly what the rules grant.
 * For a subscription the subject is a filter: an allow rule matches only if one of its
 * patterns covers the whole filter (every subject the filter matches, the pattern
 * matches too); a deny rule matches if one of its patterns overlaps the filter (some
 * subject matches both), so denying "secret.>" also refuses a subscription to ">".
 *
 * Ownership: ob_auth_new copies the config. An ob_auth is reference-counted so that a
 * reload can swap it while a connection or an off-loop password check still uses the
 * old one. Principals are owned by whoever got them (ob_principal_free) and do not
 * point into the ob_auth: they stay valid across a reload, and the rules of the
 * current ob_auth apply to them.
 */
#ifndef OB_CORE_AUTH_H
#define OB_CORE_AUTH_H

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

enum ob_anon_policy { OB_ANON_LOOPBACK = 0, OB_ANON_ALWAYS = 1, OB_ANON_NEVER = 2 };
enum ob_rule_effect { OB_RULE_DENY = 0, OB_RULE_ALLOW = 1 };

struct ob_auth_user {
    char *name;
    char *password_hash; /* "$argon2id$..." from `omnibus passwd`, or NULL */
    char *password;      /* plain text (warned about at load), or NULL */
    char **tokens;       /* bearer tokens of this user */
    size_t ntokens;
};

struct ob_auth_rule {
    char *user;       /* a user name, "*" (every principal) or "anonymous" */
    int effect;       /* enum ob_rule_effect */
    unsigned actions; /* OB_ACT_PUBLISH | OB_ACT_SUBSCRIBE bits */
    char **subjects;  /* filters (patterns) */
    size_t nsubjects;
};

struct ob_auth_config {
    int anonymous; /* enum ob_anon_policy */
    struct ob_auth_user *users;
    size_t nusers;
    struct ob_auth_rule *rules;
    size_t nrules;
};

struct ob_auth;
struct ob_principal;

/* Builds an authenticator from cfg (copied). OB_ECONFIG if a user has neither a hash,
 * a password nor a token, a hash is not an argon2 string, a name repeats, or a rule
 * has an invalid filter. */
int ob_auth_new(struct ob_auth **out, const struct ob_auth_config *cfg);
struct ob_auth *ob_auth_ref(struct ob_auth *a);
void ob_auth_unref(struct ob_auth *a);

/*
 * Authenticates a client connecting from peer (NULL: unknown, never loopback).
 *   user NULL or "", no secret      -> anonymous, if the policy allows it for peer
 *   user NULL or "", secret         -> the user owning the token secret
 *   user, secret                    -> that user's password or one of its tokens
 * On success *out is a new principal owned by the caller; otherwise OB_EAUTH and *out
 * is NULL. Checking an argon2id hash costs tens of milliseconds of CPU (an unknown user
 * name costs the same, so that timing does not reveal which names exist): adapters on
 * the loop should use ob_auth_authenticate_async.
 */
int ob_auth_authenticate(struct ob_auth *a, const char *user, const void *secret, size_t n,
                         const struct sockaddr *peer, struct ob_principal **out);

/* The same check on the libuv thread pool; cb runs on the loop with status 0 and a
 * principal the callee then owns, or OB_EAUTH and NULL. Copies its inputs. */
typedef void (*ob_auth_cb)(void *arg, int status, struct ob_principal *p);
int ob_auth_authenticate_async(struct ob_auth *a, void *uv_loop, const char *user,
                               const void *secret, size_t n, const struct sockaddr *peer,
                               ob_auth_cb cb, void *arg);

/* 0 if p may do act on subject (a concrete subject for publish, a filter for
 * subscribe), OB_EPERM if not, OB_EBADSUBJECT if subject is not valid for act. */
int ob_auth_authorize(const struct ob_auth *a, const struct ob_principal *p, enum ob_action act,
                      const char *subject);

const char *ob_principal_name(const struct ob_principal *p); /* "anonymous" if so */
bool ob_principal_is_anonymous(const struct ob_principal *p);
struct ob_principal *ob_principal_dup(const struct ob_principal *p);
void ob_principal_free(struct ob_principal *p);

/* Hashes a password with argon2id (libsodium's interactive limits) into out, a
 * NUL-terminated string of fewer than OB_AUTH_HASH_MAX bytes. OB_EINVAL on failure. */
#define OB_AUTH_HASH_MAX 128
int ob_auth_hash_password(const char *pw, size_t n, char out[OB_AUTH_HASH_MAX]);

/* Filter algebra on valid filters: covers means every subject matching filter also
 * matches pattern; overlaps means some subject matches both. */
bool ob_filter_covers(struct ob_slice pattern, struct ob_slice filter);
bool ob_filter_overlaps(struct ob_slice a, struct ob_slice b);

/* 127.0.0.0/8, ::1, IPv4-mapped 127.x and AF_UNIX peers. */
bool ob_sockaddr_is_loopback(const struct sockaddr *sa);

#endif
