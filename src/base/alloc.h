/*
 * alloc.h — allocation that never returns NULL. A broker that cannot allocate cannot
 * keep its promises, so running out of memory aborts with a message (git's xmalloc).
 * Memory limits that clients can hit are enforced explicitly, never by malloc failing.
 */
#ifndef OB_BASE_ALLOC_H
#define OB_BASE_ALLOC_H

#include <stddef.h>

void *ob_xmalloc(size_t n);
void *ob_xcalloc(size_t count, size_t size);
void *ob_xrealloc(void *p, size_t n);
/* Copies of strings and bytes; the caller owns the result. */
char *ob_xstrdup(const char *s);
char *ob_xstrndup(const char *s, size_t n);
void *ob_xmemdup(const void *p, size_t n);

/* Grows *arr (of *cap elements of size sz) to hold at least need elements. */
void ob_grow(void **arr, size_t *cap, size_t need, size_t sz);
#define OB_GROW(arr, cap, need) ob_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

#endif
