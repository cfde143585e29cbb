/*
 * rest_query.h — a request's query string parsed once into decoded name/value pairs,
 * for the gateway's handlers (REST, SSE) that read several parameters, some repeated
 * (subject=a&subject=b). Values are decoded ('+' is a space).
 *
 * Ownership: the strings belong to the struct until ob_qs_release.
 */
#ifndef OB_HTTP_REST_QUERY_H
#define OB_HTTP_REST_QUERY_H

#include <omnibus.h>
#include <stddef.h>

struct ob_qs {
    size_t n;
    char **names;
    char **values;
};

/* Parses raw (without '?'); pairs with a malformed escape are skipped. */
void ob_qs_parse(struct ob_qs *q, struct ob_slice raw);
/* The index-th value of name, or NULL. */
const char *ob_qs_get(const struct ob_qs *q, const char *name, size_t index);
void ob_qs_release(struct ob_qs *q);

#endif
