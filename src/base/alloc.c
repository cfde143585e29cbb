/* alloc.c — aborting allocators; see alloc.h for why. */
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "omnibus: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ob_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *ob_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *ob_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *ob_xstrdup(const char *s)
{
    return ob_xstrndup(s, strlen(s));
}

char *ob_xstrndup(const char *s, size_t n)
{
    char *p = ob_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *ob_xmemdup(const void *p, size_t n)
{
    void *q = ob_xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

void ob_grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap) return;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    *arr = ob_xrealloc(*arr, ncap * sz);
    *cap = ncap;
}
