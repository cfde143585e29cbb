/*
 * rest_query.c — decoded query parameters (see rest_query.h), on the HTTP/1 codec's
 * query splitter and percent-decoder.
 */
#include "http/rest_query.h"

#include "base/alloc.h"
#include "http/h1.h"

#include <stdlib.h>
#include <string.h>

static char *decode(struct ob_slice s)
{
    char *out = ob_xmalloc(s.n + 1);
    size_t n;
    if (ob_h1_pct_decode(s, (uint8_t *)out, &n, OB_H1_PCT_PLUS)) {
        free(out);
        return NULL;
    }
    out[n] = 0;
    return out;
}

void ob_qs_parse(struct ob_qs *q, struct ob_slice raw)
{
    memset(q, 0, sizeof *q);
    size_t cap = 0;
    struct ob_slice k, v;
    while (ob_h1_query_next(&raw, &k, &v)) {
        char *name = decode(k), *value = decode(v);
        if (!name || !value) {
            free(name);
            free(value);
            continue;
        }
        if (q->n == cap) {
            cap = cap ? cap * 2 : 8;
            q->names = ob_xrealloc(q->names, cap * sizeof *q->names);
            q->values = ob_xrealloc(q->values, cap * sizeof *q->values);
        }
        q->names[q->n] = name;
        q->values[q->n++] = value;
    }
}

const char *ob_qs_get(const struct ob_qs *q, const char *name, size_t index)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->names[i], name) && index-- == 0) return q->values[i];
    return NULL;
}

void ob_qs_release(struct ob_qs *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->names[i]);
        free(q->values[i]);
    }
    free(q->names);
    free(q->values);
    memset(q, 0, sizeof *q);
}
