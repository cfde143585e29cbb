/*
 * buf.h — a growable byte buffer (owned storage) and slice helpers (borrowed views).
 */
#ifndef OB_BASE_BUF_H
#define OB_BASE_BUF_H

#include <omnibus.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Owns p (allocated with ob_xmalloc); len bytes used of cap. */
struct ob_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

#define OB_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void ob_buf_release(struct ob_buf *b);
void ob_buf_reserve(struct ob_buf *b, size_t extra);
void ob_buf_append(struct ob_buf *b, const void *p, size_t n);
void ob_buf_putc(struct ob_buf *b, uint8_t c);
void ob_buf_printf(struct ob_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ob_buf_vprintf(struct ob_buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void ob_buf_consume(struct ob_buf *b, size_t n);
/* Little-endian fixed-width appends, used by the store's record format. */
void ob_buf_put_u16le(struct ob_buf *b, uint16_t v);
void ob_buf_put_u32le(struct ob_buf *b, uint32_t v);
void ob_buf_put_u64le(struct ob_buf *b, uint64_t v);

static inline struct ob_slice ob_slice_make(const void *p, size_t n)
{
    struct ob_slice s = {(const uint8_t *)p, n};
    return s;
}
static inline struct ob_slice ob_slice_str(const char *s)
{
    return ob_slice_make(s, s ? strlen(s) : 0);
}
static inline bool ob_slice_eq(struct ob_slice a, struct ob_slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}
static inline bool ob_slice_eq_str(struct ob_slice a, const char *s)
{
    return ob_slice_eq(a, ob_slice_str(s));
}
/* ASCII case-insensitive comparison, for header names. */
bool ob_slice_eq_nocase(struct ob_slice a, struct ob_slice b);
/* A NUL-terminated copy owned by the caller. */
char *ob_slice_dup(struct ob_slice s);

static inline uint16_t ob_get_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t ob_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ob_get_u64le(const uint8_t *p)
{
    return (uint64_t)ob_get_u32le(p) | ((uint64_t)ob_get_u32le(p + 4) << 32);
}

#endif
