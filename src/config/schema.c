/*
 * schema.c — the config schema as a table, and the generic walks over it: building
 * struct ob_config from a document tree (with an error per bad value, naming where it
 * came from and its key path), releasing, comparing for reload, and resolving a dotted
 * key for env/--set overlays.
 *
 * One table drives all of these so that a key added to the schema is validated,
 * freed, diffed and settable from the command line without further code.
 */
#include "config/internal.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum fkind {
    F_MAP,
    F_LIST,
    F_STRLIST,
    F_STR,
    F_ENUM,
    F_SIZE,
    F_UINT,
    F_DURATION,
    F_LISTEN,
    F_ACTIONS,
    F_BOOL
};

enum {
    F_REQUIRED = 1,   /* a list element must have this key */
    F_RELOAD = 2,     /* applied on SIGHUP (inherited by children) */
    F_EMPTY_NULL = 4, /* F_STR: "" is stored as NULL */
    F_RESTART = 8,    /* needs a restart even inside a reloadable section */
    F_ONE_OK = 16,    /* F_STRLIST: a single value is a list of one ("*" for ["*"]) */
};

struct ctx;

struct field {
    const char *name;
    enum fkind kind;
    size_t off;               /* of the value, or of the list pointer, in the enclosing struct */
    size_t count_off;         /* F_LIST, F_STRLIST: of the size_t count */
    const struct field *sub;  /* F_MAP, F_LIST: fields, ending with {NULL} */
    size_t elem_size;         /* F_LIST */
    const char *const *names; /* F_ENUM: the value is the index of the name */
    uint64_t min, max;        /* F_SIZE, F_UINT, F_DURATION */
    const char *(*check)(const char *s); /* F_STR, F_STRLIST items: error text or NULL */
    /* F_STRLIST: checks the items together (after each passed check): error or NULL */
    const char *(*list_check)(char *const *items, size_t n);
    void (*init)(void *elem); /* F_LIST: defaults of a new element */
    /* F_LIST: checks element i against the whole config built so far */
    void (*post)(struct ctx *c, const struct cfg_node *item, void *arr, size_t i, const char *path);
    unsigned flags;
};

struct ctx {
    struct ob_diag *diag;
    struct ob_config *cfg;
};

#define FIELD(T, m)     .off = offsetof(T, m)
#define LIST(T, m, cnt) .off = offsetof(T, m), .count_off = offsetof(T, cnt)

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"logfmt", "json", NULL};
static const char *const fsync_names[] = {"always", "interval", "never", NULL};
static const char *const retention_names[] = {"limits", "interest", "workqueue", NULL};
static const char *const compaction_names[] = {"none", "key", "subject", NULL};
static const char *const anon_names[] = {"loopback", "always", "never", NULL};
static const char *const effect_names[] = {"deny", "allow", NULL};

const char *const ob_listener_names[OB_NLISTENERS] = {
    "http", "mqtt", "amqp", "stomp", "kafka", "grpc", "ftp", "sftp", "echo",
};

/* ---- value checks --------------------------------------------------------------- */

static const char *check_filter(const char *s)
{
    return ob_filter_valid(ob_slice_str(s)) ? NULL : "not a valid subject filter";
}

static const char *check_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) return "must be 1 to 64 characters [A-Za-z0-9_-]";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return "must be 1 to 64 characters [A-Za-z0-9_-]";
    }
    return NULL;
}

static const char *check_user_name(const char *s)
{
    if (!*s) return "must not be empty";
    if (!strcmp(s, "*") || !strcmp(s, "anonymous")) return "is reserved for rules";
    return NULL;
}

static const char *check_hash(const char *s)
{
    return strncmp(s, "$argon2", 7) == 0 ? NULL : "expected an argon2id hash from `omnibus passwd`";
}

static const char *check_nonempty(const char *s)
{
    return *s ? NULL : "must not be empty";
}

/* A serialized origin as browsers send it (RFC 6454 §6.2): scheme "://" host
 * [":" port], no path, no trailing slash; compared byte for byte, so no upper case. */
static const char *check_origin(const char *s)
{
    static const char *const want =
        "expected \"*\" or an origin scheme://host[:port] in lower case without a path, "
        "like https://app.example.com";
    if (!strcmp(s, "*")) return NULL;
    size_t scheme = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    if (scheme == 0 || strncmp(s + scheme, "://", 3) != 0) return want;
    const char *host = s + scheme + 3;
    size_t hn = host[0] == '[' ? strcspn(host, "]") + 1
                               : strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-_");
    if (hn == 0 || (host[0] == '[' && host[hn - 1] != ']')) return want;
    const char *rest = host + hn;
    if (*rest == ':' && rest[1] && strspn(rest + 1, "0123456789") == strlen(rest + 1)) return NULL;
    return *rest ? want : NULL;
}

static const char *check_origin_list(char *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (items[i] && !strcmp(items[i], "*") && n > 1) return "\"*\" must be the only entry";
    return NULL;
}

/* ---- list element defaults and cross-checks ------------------------------------- */

static void stream_init(void *elem)
{
    struct ob_stream_decl *s = elem;
    s->fsync = OB_STREAM_FSYNC_DEFAULT;
}

static void rule_init(void *elem)
{
    struct ob_auth_rule *r = elem;
    r->effect = OB_RULE_ALLOW;
}

static void errorf(struct ctx *c, const struct cfg_node *n, bool at_key, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void errorf(struct ctx *c, const struct cfg_node *n, bool at_key, const char *path,
                   const char *fmt, ...)
{
    char where[512];
    struct ob_buf b = OB_BUF_INIT;
    va_list ap;
    cfg_where(n, at_key, where, sizeof where);
    va_start(ap, fmt);
    ob_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ob_buf_putc(&b, 0);
    diag_error(c->diag, "%s: %s: %s", where, *path ? path : "(top level)", (const char *)b.p);
    ob_buf_release(&b);
}

static void user_post(struct ctx *c, const struct cfg_node *item, void *arr, size_t i,
                      const char *path)
{
    struct ob_auth_user *users = arr, *u = &users[i];
    char where[512];
    if (!u->name) return; /* already reported as missing */
    for (size_t j = 0; j < i; j++)
        if (users[j].name && !strcmp(users[j].name, u->name))
            errorf(c, item, false, path, "duplicate user \"%s\"", u->name);
    if (!u->password_hash && !u->password && !u->ntokens)
        errorf(c, item, false, path, "needs password_hash, password or tokens");
    if (u->password_hash && u->password)
        errorf(c, item, false, path, "has both password_hash and password");
    if (u->password) {
        cfg_where(cfg_get(item, "password"), false, where, sizeof where);
        diag_warn(c->diag,
                  "%s: %s.password: plain-text password; store a hash from `omnibus passwd` "
                  "in password_hash instead",
                  where, path);
    }
}

static void rule_post(struct ctx *c, const struct cfg_node *item, void *arr, size_t i,
                      const char *path)
{
    const struct ob_auth_rule *r = (const struct ob_auth_rule *)arr + i;
    const struct ob_auth_config *a = &c->cfg->auth;
    if (!r->user || !strcmp(r->user, "*") || !strcmp(r->user, "anonymous")) return;
    for (size_t j = 0; j < a->nusers; j++)
        if (a->users[j].name && !strcmp(a->users[j].name, r->user)) return;
    errorf(c, cfg_get(item, "user"), false, path,
           "user \"%s\" is not in auth.users (use \"*\" or \"anonymous\" for those)", r->user);
}

static void stream_post(struct ctx *c, const struct cfg_node *item, void *arr, size_t i,
                        const char *path)
{
    const struct ob_stream_decl *s = (const struct ob_stream_decl *)arr;
    if (!s[i].name) return;
    for (size_t j = 0; j < i; j++)
        if (s[j].name && !strcmp(s[j].name, s[i].name))
            errorf(c, item, false, path, "duplicate stream \"%s\"", s[i].name);
}

/* ---- the schema ------------------------------------------------------------------- */

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

static const struct field log_fields[] = {
    {.name = "level", .kind = F_ENUM, FIELD(struct ob_log_config, level), .names = level_names},
    {.name = "format", .kind = F_ENUM, FIELD(struct ob_log_config, format), .names = format_names},
    {0},
};

/* Names as in ob_listener_names, in enum ob_listener_id order (test_config checks). */
#define LISTENER(i, n)                                                                             \
    {                                                                                              \
        .name = n, .kind = F_LISTEN, .off = (i) * sizeof(struct ob_listen_config)                  \
    }
static const struct field listener_fields[OB_NLISTENERS + 1] = {
    LISTENER(OB_LISTEN_HTTP, "http"),   LISTENER(OB_LISTEN_MQTT, "mqtt"),
    LISTENER(OB_LISTEN_AMQP, "amqp"),   LISTENER(OB_LISTEN_STOMP, "stomp"),
    LISTENER(OB_LISTEN_KAFKA, "kafka"), LISTENER(OB_LISTEN_GRPC, "grpc"),
    LISTENER(OB_LISTEN_FTP, "ftp"),     LISTENER(OB_LISTEN_SFTP, "sftp"),
    LISTENER(OB_LISTEN_ECHO, "echo"),   {0},
};

static const struct field limits_fields[] = {
    {.name = "max_connections",
     .kind = F_UINT,
     FIELD(struct ob_limits_config, max_connections),
     .max = 10000000},
    {.name = "max_connections_per_ip",
     .kind = F_UINT,
     FIELD(struct ob_limits_config, max_connections_per_ip),
     .max = 10000000},
    {.name = "max_msg_size",
     .kind = F_SIZE,
     FIELD(struct ob_limits_config, max_msg_size),
     .min = 1,
     .max = 64 * MiB,
     .flags = F_RESTART}, /* the bus takes it at open */
    {.name = "max_frame_size",
     .kind = F_SIZE,
     FIELD(struct ob_limits_config, max_frame_size),
     .min = 1 * KiB,
     .max = 1 * GiB},
    {.name = "conn_write_buffer",
     .kind = F_SIZE,
     FIELD(struct ob_limits_config, conn_write_buffer),
     .min = 4 * KiB,
     .max = 1 * GiB},
    {.name = "idle_timeout",
     .kind = F_DURATION,
     FIELD(struct ob_limits_config, idle_timeout_ms),
     .max = 7 * 86400000ull},
    {0},
};

/* Timeouts, CORS, the access log and gzip apply to running listeners on SIGHUP; the
 * parser limits and HTTP/2 settings are fixed when a listener starts. */
static const struct field http_fields[] = {
    {.name = "header_timeout",
     .kind = F_DURATION,
     FIELD(struct ob_http_config, header_timeout_ms),
     .max = 3600000},
    {.name = "keepalive_timeout",
     .kind = F_DURATION,
     FIELD(struct ob_http_config, keepalive_timeout_ms),
     .max = 86400000},
    {.name = "max_header_bytes",
     .kind = F_SIZE,
     FIELD(struct ob_http_config, max_header_bytes),
     .min = 1 * KiB,
     .max = 1 * MiB,
     .flags = F_RESTART},
    {.name = "max_headers",
     .kind = F_UINT,
     FIELD(struct ob_http_config, max_headers),
     .min = 1,
     .max = 10000,
     .flags = F_RESTART},
    {.name = "h2_max_streams",
     .kind = F_UINT,
     FIELD(struct ob_http_config, h2_max_streams),
     .min = 1,
     .max = 100000,
     .flags = F_RESTART},
    {.name = "cors_origins",
     .kind = F_STRLIST,
     LIST(struct ob_http_config, cors_origins, ncors_origins),
     .check = check_origin,
     .list_check = check_origin_list,
     .flags = F_ONE_OK},
    {.name = "access_log", .kind = F_BOOL, FIELD(struct ob_http_config, access_log)},
    {.name = "gzip", .kind = F_BOOL, FIELD(struct ob_http_config, gzip)},
    {0},
};

/* MQTT broker limits (docs/mqtt.md); all fixed when the broker starts. Ranges follow
 * the protocol's field widths (u16 for windows, aliases and keepalive; packet size as
 * the codec's maximum). */
static const struct field mqtt_fields[] = {
    {.name = "max_inflight_messages",
     .kind = F_UINT,
     FIELD(struct ob_mqtt_config, max_inflight_messages),
     .min = 1,
     .max = 65535},
    {.name = "max_queued_messages",
     .kind = F_UINT,
     FIELD(struct ob_mqtt_config, max_queued_messages),
     .min = 1,
     .max = 100000000},
    {.name = "receive_maximum",
     .kind = F_UINT,
     FIELD(struct ob_mqtt_config, receive_maximum),
     .min = 1,
     .max = 65535},
    {.name = "max_keepalive",
     .kind = F_UINT,
     FIELD(struct ob_mqtt_config, max_keepalive),
     .min = 1,
     .max = 65535},
    {.name = "sys_interval",
     .kind = F_DURATION,
     FIELD(struct ob_mqtt_config, sys_interval_ms),
     .max = 86400000},
    {.name = "topic_alias_maximum",
     .kind = F_UINT,
     FIELD(struct ob_mqtt_config, topic_alias_maximum),
     .max = 65535},
    {.name = "max_packet_size",
     .kind = F_SIZE,
     FIELD(struct ob_mqtt_config, max_packet_size),
     .max = 268435460},
    {0},
};

static const struct field store_fields[] = {
    {.name = "fsync", .kind = F_ENUM, FIELD(struct ob_store_config, fsync), .names = fsync_names},
    {.name = "fsync_interval_ms",
     .kind = F_UINT,
     FIELD(struct ob_store_config, fsync_interval_ms),
     .min = 1,
     .max = 60000},
    {.name = "segment_bytes",
     .kind = F_SIZE,
     FIELD(struct ob_store_config, segment_bytes),
     .min = 64 * KiB,
     .max = 16 * GiB},
    {0},
};

static const struct field user_fields[] = {
    {.name = "name",
     .kind = F_STR,
     FIELD(struct ob_auth_user, name),
     .check = check_user_name,
     .flags = F_REQUIRED},
    {.name = "password_hash",
     .kind = F_STR,
     FIELD(struct ob_auth_user, password_hash),
     .check = check_hash},
    {.name = "password",
     .kind = F_STR,
     FIELD(struct ob_auth_user, password),
     .check = check_nonempty},
    {.name = "tokens",
     .kind = F_STRLIST,
     LIST(struct ob_auth_user, tokens, ntokens),
     .check = check_nonempty},
    {0},
};

static const struct field rule_fields[] = {
    {.name = "user",
     .kind = F_STR,
     FIELD(struct ob_auth_rule, user),
     .check = check_nonempty,
     .flags = F_REQUIRED},
    {.name = "effect", .kind = F_ENUM, FIELD(struct ob_auth_rule, effect), .names = effect_names},
    {.name = "actions",
     .kind = F_ACTIONS,
     FIELD(struct ob_auth_rule, actions),
     .flags = F_REQUIRED},
    {.name = "subjects",
     .kind = F_STRLIST,
     LIST(struct ob_auth_rule, subjects, nsubjects),
     .check = check_filter,
     .flags = F_REQUIRED},
    {0},
};

static const struct field auth_fields[] = {
    {.name = "anonymous",
     .kind = F_ENUM,
     FIELD(struct ob_auth_config, anonymous),
     .names = anon_names},
    {.name = "users",
     .kind = F_LIST,
     LIST(struct ob_auth_config, users, nusers),
     .sub = user_fields,
     .elem_size = sizeof(struct ob_auth_user),
     .post = user_post},
    {.name = "rules",
     .kind = F_LIST,
     LIST(struct ob_auth_config, rules, nrules),
     .sub = rule_fields,
     .elem_size = sizeof(struct ob_auth_rule),
     .init = rule_init,
     .post = rule_post},
    {0},
};

static const struct field stream_fields[] = {
    {.name = "name",
     .kind = F_STR,
     FIELD(struct ob_stream_decl, name),
     .check = check_name,
     .flags = F_REQUIRED},
    {.name = "subjects",
     .kind = F_STRLIST,
     LIST(struct ob_stream_decl, subjects, nsubjects),
     .check = check_filter,
     .flags = F_REQUIRED},
    {.name = "retention",
     .kind = F_ENUM,
     FIELD(struct ob_stream_decl, retention),
     .names = retention_names},
    {.name = "max_msgs", .kind = F_UINT, FIELD(struct ob_stream_decl, max_msgs), .max = UINT64_MAX},
    {.name = "max_bytes",
     .kind = F_SIZE,
     FIELD(struct ob_stream_decl, max_bytes),
     .max = UINT64_MAX},
    {.name = "max_age",
     .kind = F_DURATION,
     FIELD(struct ob_stream_decl, max_age_ms),
     .max = INT64_MAX / 1000000},
    {.name = "fsync", .kind = F_ENUM, FIELD(struct ob_stream_decl, fsync), .names = fsync_names},
    {.name = "compaction",
     .kind = F_ENUM,
     FIELD(struct ob_stream_decl, compaction),
     .names = compaction_names},
    {0},
};

static const struct field root_fields[] = {
    {.name = "data_dir", .kind = F_STR, FIELD(struct ob_config, data_dir), .flags = F_EMPTY_NULL},
    {.name = "log",
     .kind = F_MAP,
     FIELD(struct ob_config, log),
     .sub = log_fields,
     .flags = F_RELOAD},
    {.name = "listeners",
     .kind = F_MAP,
     FIELD(struct ob_config, listeners),
     .sub = listener_fields},
    {.name = "limits",
     .kind = F_MAP,
     FIELD(struct ob_config, limits),
     .sub = limits_fields,
     .flags = F_RELOAD},
    {.name = "http",
     .kind = F_MAP,
     FIELD(struct ob_config, http),
     .sub = http_fields,
     .flags = F_RELOAD},
    {.name = "mqtt", .kind = F_MAP, FIELD(struct ob_config, mqtt), .sub = mqtt_fields},
    {.name = "store", .kind = F_MAP, FIELD(struct ob_config, store), .sub = store_fields},
    {.name = "auth",
     .kind = F_MAP,
     FIELD(struct ob_config, auth),
     .sub = auth_fields,
     .flags = F_RELOAD},
    {.name = "streams",
     .kind = F_LIST,
     LIST(struct ob_config, streams, nstreams),
     .sub = stream_fields,
     .elem_size = sizeof(struct ob_stream_decl),
     .init = stream_init,
     .post = stream_post},
    {0},
};

static const struct field *root_schema(void)
{
    return root_fields;
}

/* ---- building ------------------------------------------------------------------------ */

/* Digits only: a list index, or a whole number. */
static bool is_index(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

static void build_map(struct ctx *c, const struct cfg_node *n, const struct field *fields,
                      char *base, const char *path);

static char *join_path(const char *path, const char *key)
{
    struct ob_buf b = OB_BUF_INIT;
    if (*path)
        ob_buf_printf(&b, "%s.%s", path, key);
    else
        ob_buf_printf(&b, "%s", key);
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

static char *index_path(const char *path, size_t i)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_printf(&b, "%s[%zu]", path, i);
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

static const char *kind_name(const struct cfg_node *n)
{
    return n->kind == CFG_MAP ? "a mapping" : n->kind == CFG_SEQ ? "a list" : "a single value";
}

/* A scalar without NUL bytes, or an error naming what was found instead. */
static const char *scalar_of(struct ctx *c, const struct cfg_node *n, const char *path,
                             const char *want)
{
    if (n->kind != CFG_SCALAR) {
        errorf(c, n, false, path, "expected %s, not %s", want, kind_name(n));
        return NULL;
    }
    if (strlen(n->str) != n->len) {
        errorf(c, n, false, path, "contains a NUL byte");
        return NULL;
    }
    return n->str;
}

static void build_str(struct ctx *c, const struct field *f, const struct cfg_node *n, char *at,
                      const char *path)
{
    const char *s = scalar_of(c, n, path, "a string");
    const char *bad = s && f->check ? f->check(s) : NULL;
    if (!s) return;
    if (bad) {
        errorf(c, n, false, path, "%s", bad);
        return;
    }
    char **dst = (char **)at;
    free(*dst);
    *dst = (f->flags & F_EMPTY_NULL) && !*s ? NULL : ob_xstrdup(s);
}

static void names_list(struct ob_buf *b, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        ob_buf_printf(b, "%s%s", i ? "|" : "", names[i]);
    ob_buf_putc(b, 0);
}

static void build_enum(struct ctx *c, const struct field *f, const struct cfg_node *n, char *at,
                       const char *path)
{
    const char *s = scalar_of(c, n, path, "a single value");
    if (!s) return;
    for (int i = 0; f->names[i]; i++) {
        if (strcmp(s, f->names[i]) != 0) continue;
        *(int *)at = i;
        return;
    }
    struct ob_buf b = OB_BUF_INIT;
    names_list(&b, f->names);
    errorf(c, n, false, path, "expected one of %s, got \"%s\"", (const char *)b.p, s);
    ob_buf_release(&b);
}

static void build_number(struct ctx *c, const struct field *f, const struct cfg_node *n, char *at,
                         const char *path)
{
    static const char *const want[] = {
        [F_SIZE] = "a size like 65536, 64KiB or 8MiB",
        [F_UINT] = "a whole number",
        [F_DURATION] = "a duration like 500ms, 30s, 5m, 24h or 7d",
    };
    const char *s = scalar_of(c, n, path, want[f->kind]);
    uint64_t v;
    if (!s) return;
    int rc;
    if (f->kind == F_SIZE)
        rc = ob_parse_size(s, &v);
    else if (f->kind == F_DURATION)
        rc = ob_parse_duration_ms(s, &v);
    else
        rc = is_index(s) ? ob_parse_size(s, &v) : OB_EINVAL;
    if (rc) {
        errorf(c, n, false, path, "expected %s, got \"%s\"", want[f->kind], s);
        return;
    }
    uint64_t max = f->max ? f->max : UINT64_MAX;
    if (v < f->min || v > max) {
        errorf(c, n, false, path, "%s is out of range [%llu, %llu]", s, (unsigned long long)f->min,
               (unsigned long long)max);
        return;
    }
    *(uint64_t *)at = v;
}

/* YAML 1.2 core schema booleans; yes/no/on/off are strings there, so refused. */
static void build_bool(struct ctx *c, const struct cfg_node *n, char *at, const char *path)
{
    static const char *const t[] = {"true", "True", "TRUE"};
    static const char *const f[] = {"false", "False", "FALSE"};
    const char *s = scalar_of(c, n, path, "true or false");
    if (!s) return;
    for (size_t i = 0; i < 3; i++) {
        if (!strcmp(s, t[i]) || !strcmp(s, f[i])) {
            *(bool *)at = !strcmp(s, t[i]);
            return;
        }
    }
    errorf(c, n, false, path, "expected true or false, got \"%s\"", s);
}

static void build_listen(struct ctx *c, const struct cfg_node *n, char *at, const char *path)
{
    const char *s = scalar_of(c, n, path, "host:port or \"off\"");
    struct ob_listen_config l;
    if (!s) return;
    if (ob_parse_listen(s, &l)) {
        errorf(c, n, false, path, "expected host:port or \"off\"");
        return;
    }
    struct ob_listen_config *dst = (struct ob_listen_config *)at;
    free(dst->host);
    *dst = l;
}

static void build_actions(struct ctx *c, const struct cfg_node *n, char *at, const char *path)
{
    unsigned bits = 0;
    if (n->kind != CFG_SEQ || n->n == 0) {
        errorf(c, n, false, path, "expected a non-empty list of publish|subscribe");
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const char *s = scalar_of(c, n->kids[i], path, "publish or subscribe");
        if (!s) continue;
        if (!strcmp(s, "publish"))
            bits |= OB_ACT_PUBLISH;
        else if (!strcmp(s, "subscribe"))
            bits |= OB_ACT_SUBSCRIBE;
        else
            errorf(c, n->kids[i], false, path, "expected publish or subscribe, got \"%s\"", s);
    }
    *(unsigned *)at = bits;
}

static void build_strlist(struct ctx *c, const struct field *f, const struct cfg_node *n,
                          char *base, const char *path)
{
    char ***arr = (char ***)(base + f->off);
    size_t *count = (size_t *)(base + f->count_off);
    if (n->kind == CFG_SCALAR && (f->flags & F_ONE_OK)) {
        *arr = ob_xcalloc(1, sizeof **arr);
        *count = 1;
        build_str(c, f, n, (char *)&(*arr)[0], path);
    } else if (n->kind != CFG_SEQ) {
        errorf(c, n, false, path, "expected a list, not %s", kind_name(n));
        return;
    } else {
        *arr = ob_xcalloc(n->n, sizeof **arr);
        *count = n->n;
        for (size_t i = 0; i < n->n; i++) {
            char *p = index_path(path, i);
            build_str(c, f, n->kids[i], (char *)&(*arr)[i], p);
            free(p);
        }
    }
    const char *bad = f->list_check ? f->list_check(*arr, *count) : NULL;
    if (bad) errorf(c, n, false, path, "%s", bad);
}

static void build_list(struct ctx *c, const struct field *f, const struct cfg_node *n, char *base,
                       const char *path)
{
    char **arr = (char **)(base + f->off);
    size_t *count = (size_t *)(base + f->count_off);
    if (n->kind != CFG_SEQ) {
        errorf(c, n, false, path, "expected a list, not %s", kind_name(n));
        return;
    }
    *arr = ob_xcalloc(n->n, f->elem_size);
    *count = n->n;
    for (size_t i = 0; i < n->n; i++) {
        char *elem = *arr + i * f->elem_size, *p = index_path(path, i);
        if (f->init) f->init(elem);
        build_map(c, n->kids[i], f->sub, elem, p);
        if (f->post && n->kids[i]->kind == CFG_MAP) f->post(c, n->kids[i], *arr, i, p);
        free(p);
    }
}

static void build_field(struct ctx *c, const struct field *f, const struct cfg_node *n, char *base,
                        const char *path)
{
    char *at = base + f->off;
    switch (f->kind) {
    case F_MAP:
        build_map(c, n, f->sub, at, path);
        break;
    case F_LIST:
        build_list(c, f, n, base, path);
        break;
    case F_STRLIST:
        build_strlist(c, f, n, base, path);
        break;
    case F_STR:
        build_str(c, f, n, at, path);
        break;
    case F_ENUM:
        build_enum(c, f, n, at, path);
        break;
    case F_SIZE:
    case F_UINT:
    case F_DURATION:
        build_number(c, f, n, at, path);
        break;
    case F_LISTEN:
        build_listen(c, n, at, path);
        break;
    case F_ACTIONS:
        build_actions(c, n, at, path);
        break;
    case F_BOOL:
        build_bool(c, n, at, path);
        break;
    }
}

static const struct field *find_field(const struct field *fields, const char *name)
{
    for (; fields->name; fields++)
        if (!strcmp(fields->name, name)) return fields;
    return NULL;
}

static void build_map(struct ctx *c, const struct cfg_node *n, const struct field *fields,
                      char *base, const char *path)
{
    if (n->kind != CFG_MAP) {
        errorf(c, n, false, path, "expected a mapping, not %s", kind_name(n));
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct cfg_node *kid = n->kids[i];
        char *p = join_path(path, kid->key);
        const struct field *f = find_field(fields, kid->key);
        if (f)
            build_field(c, f, kid, base, p);
        else
            errorf(c, kid, true, p, "unknown key");
        free(p);
    }
    for (const struct field *f = fields; f->name; f++)
        if ((f->flags & F_REQUIRED) && !cfg_get(n, f->name))
            errorf(c, n, false, path, "missing required key \"%s\"", f->name);
}

/* ---- releasing and comparing ------------------------------------------------------ */

static void release_map(const struct field *fields, char *base);

static void release_field(const struct field *f, char *base)
{
    char *at = base + f->off;
    switch (f->kind) {
    case F_MAP:
        release_map(f->sub, at);
        break;
    case F_STR:
        free(*(char **)at);
        break;
    case F_LISTEN:
        free(((struct ob_listen_config *)at)->host);
        break;
    case F_STRLIST: {
        char **arr = *(char ***)at;
        size_t n = *(size_t *)(base + f->count_off);
        for (size_t i = 0; i < n; i++)
            free(arr[i]);
        free(arr);
        break;
    }
    case F_LIST: {
        char *arr = *(char **)at;
        size_t n = *(size_t *)(base + f->count_off);
        for (size_t i = 0; i < n; i++)
            release_map(f->sub, arr + i * f->elem_size);
        free(arr);
        break;
    }
    default:
        break;
    }
}

static void release_map(const struct field *fields, char *base)
{
    for (; fields->name; fields++)
        release_field(fields, base);
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool map_equal(const struct field *fields, const char *a, const char *b);

static bool field_equal(const struct field *f, const char *a, const char *b)
{
    const char *x = a + f->off, *y = b + f->off;
    size_t na = 0, nb = 0;
    if (f->kind == F_LIST || f->kind == F_STRLIST) {
        na = *(const size_t *)(a + f->count_off);
        nb = *(const size_t *)(b + f->count_off);
        if (na != nb) return false;
    }
    switch (f->kind) {
    case F_MAP:
        return map_equal(f->sub, x, y);
    case F_STR:
        return str_eq(*(char *const *)x, *(char *const *)y);
    case F_ENUM:
        return *(const int *)x == *(const int *)y;
    case F_ACTIONS:
        return *(const unsigned *)x == *(const unsigned *)y;
    case F_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case F_SIZE:
    case F_UINT:
    case F_DURATION:
        return *(const uint64_t *)x == *(const uint64_t *)y;
    case F_LISTEN: {
        const struct ob_listen_config *l = (const void *)x, *r = (const void *)y;
        return l->enabled == r->enabled && l->port == r->port && str_eq(l->host, r->host);
    }
    case F_STRLIST:
        for (size_t i = 0; i < na; i++)
            if (!str_eq((*(char **const *)x)[i], (*(char **const *)y)[i])) return false;
        return true;
    case F_LIST:
        for (size_t i = 0; i < na; i++)
            if (!map_equal(f->sub, *(char *const *)x + i * f->elem_size,
                           *(char *const *)y + i * f->elem_size))
                return false;
        return true;
    }
    return false;
}

static bool map_equal(const struct field *fields, const char *a, const char *b)
{
    for (; fields->name; fields++)
        if (!field_equal(fields, a, b)) return false;
    return true;
}

static size_t diff_map(const struct field *fields, const char *a, const char *b, const char *path,
                       bool reload, ob_config_change_fn fn, void *arg)
{
    size_t n = 0;
    for (; fields->name; fields++) {
        char *p = join_path(path, fields->name);
        bool r = (reload || (fields->flags & F_RELOAD)) && !(fields->flags & F_RESTART);
        if (fields->kind == F_MAP) {
            n += diff_map(fields->sub, a + fields->off, b + fields->off, p, r, fn, arg);
        } else if (!field_equal(fields, a, b)) {
            n++;
            if (fn) fn(arg, p, r);
        }
        free(p);
    }
    return n;
}

size_t ob_config_diff(const struct ob_config *a, const struct ob_config *b, ob_config_change_fn fn,
                      void *arg)
{
    return diff_map(root_schema(), (const char *)a, (const char *)b, "", false, fn, arg);
}

/* ---- paths ------------------------------------------------------------------------- */

static enum cfg_expect expect_of(const struct field *f)
{
    switch (f->kind) {
    case F_MAP:
        return EXPECT_MAP;
    case F_LIST:
        return EXPECT_SEQ;
    case F_STRLIST:
    case F_ACTIONS:
        return EXPECT_SCALAR_SEQ;
    default:
        return EXPECT_SCALAR;
    }
}

/* Walks path; *reload tells whether any field on the way is reloadable. */
static int lookup(const char *path, enum cfg_expect *out, const char **bad, bool *reload)
{
    char seg[256];
    const struct field *fields = root_schema(), *f = NULL;
    bool in_list = false; /* the previous segment was an F_LIST: an index comes next */
    *reload = false;
    for (const char *p = path;;) {
        size_t len = strcspn(p, ".");
        if (len == 0 || len >= sizeof seg) return OB_ENOENT;
        memcpy(seg, p, len);
        seg[len] = 0;
        *bad = p;
        if (in_list) {
            if (!is_index(seg)) return OB_ENOENT;
            in_list = false;
            fields = f->sub;
            *out = EXPECT_MAP;
        } else {
            f = fields ? find_field(fields, seg) : NULL;
            if (!f) return OB_ENOENT;
            *reload = (*reload || (f->flags & F_RELOAD)) && !(f->flags & F_RESTART);
            *out = expect_of(f);
            in_list = f->kind == F_LIST;
            fields = f->kind == F_MAP ? f->sub : NULL;
        }
        if (!p[len]) return 0;
        p += len + 1;
    }
}

int schema_lookup(const char *path, enum cfg_expect *out, const char **bad)
{
    bool reload;
    return lookup(path, out, bad, &reload);
}

bool ob_config_key_reloadable(const char *key)
{
    enum cfg_expect e;
    const char *bad;
    bool reload;
    return lookup(key, &e, &bad, &reload) == 0 && reload;
}

/* ---- entry points ------------------------------------------------------------------ */

bool schema_build(const struct cfg_node *root, struct ob_config *cfg, struct ob_diag *diag)
{
    struct ctx c = {.diag = diag, .cfg = cfg};
    size_t before = diag->nerrors;
    memset(cfg, 0, sizeof *cfg);
    build_map(&c, root, root_schema(), (char *)cfg, "");
    return diag->nerrors == before;
}

void schema_release(struct ob_config *cfg)
{
    release_map(root_schema(), (char *)cfg);
}
