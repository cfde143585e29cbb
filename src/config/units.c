/*
 * units.c — parsers for the value syntaxes the config accepts: sizes with binary or
 * decimal suffixes, durations with a unit, and listen addresses.
 */
#include "config/config.h"

#include "base/alloc.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reads a decimal number without sign or overflow; *end points past its digits. */
static int parse_u64(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return OB_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return OB_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    *end = p;
    return 0;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static int scale(const char *s, const struct unit *units, uint64_t *out)
{
    uint64_t v;
    const char *u;
    if (parse_u64(s, &v, &u)) return OB_EINVAL;
    while (*u == ' ')
        u++;
    for (; units->name; units++) {
        if (strcmp(u, units->name) != 0) continue;
        if (units->mult && v > UINT64_MAX / units->mult) return OB_EINVAL;
        *out = v * units->mult;
        return 0;
    }
    return OB_EINVAL;
}

int ob_parse_size(const char *s, uint64_t *out)
{
    static const struct unit units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", 1u << 10},
        {"MiB", 1u << 20},
        {"GiB", UINT64_C(1) << 30},
        {"TiB", UINT64_C(1) << 40},
        {"KB", 1000},
        {"MB", 1000000},
        {"GB", UINT64_C(1000000000)},
        {"TB", UINT64_C(1000000000000)},
        {NULL, 0},
    };
    return scale(s, units, out);
}

int ob_parse_duration_ms(const char *s, uint64_t *out)
{
    static const struct unit units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
    };
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return scale(s, units, out);
}

static int parse_port(const char *s, uint16_t *out)
{
    uint64_t v;
    const char *end;
    if (parse_u64(s, &v, &end) || *end || v > 65535) return OB_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

/* Splits "[v6]:port" or "v4:port" into a host copy and the port text. */
static int split_host_port(const char *s, char **host, const char **port, int *family)
{
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') return OB_EINVAL;
        *host = ob_xstrndup(s + 1, (size_t)(close - s - 1));
        *port = close + 2;
        *family = AF_INET6;
        return 0;
    }
    colon = strrchr(s, ':');
    if (!colon || memchr(s, ':', (size_t)(colon - s))) return OB_EINVAL;
    *host = ob_xstrndup(s, (size_t)(colon - s));
    *port = colon + 1;
    *family = AF_INET;
    return 0;
}

/* "localhost" and "*" are the only names: anything else must be an IP literal, so
 * start-up never waits on DNS. */
static char *normalize_host(char *host, int family)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (family == AF_INET && !strcmp(host, "localhost")) {
        free(host);
        return ob_xstrdup("127.0.0.1");
    }
    if (family == AF_INET && !strcmp(host, "*")) {
        free(host);
        return ob_xstrdup("0.0.0.0");
    }
    if (inet_pton(family, host, buf) != 1) {
        free(host);
        return NULL;
    }
    return host;
}

int ob_parse_listen(const char *s, struct ob_listen_config *out)
{
    memset(out, 0, sizeof *out);
    if (!strcasecmp(s, "off") || !strcasecmp(s, "false")) return 0;
    char *host;
    const char *port;
    int family;
    if (split_host_port(s, &host, &port, &family)) return OB_EINVAL;
    host = normalize_host(host, family);
    if (!host) return OB_EINVAL;
    if (parse_port(port, &out->port)) {
        free(host);
        return OB_EINVAL;
    }
    out->enabled = true;
    out->host = host;
    return 0;
}
