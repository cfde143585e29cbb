/* buf.c — growable byte buffers. */
#include "base/buf.h"

#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>

void ob_buf_release(struct ob_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void ob_buf_reserve(struct ob_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < b->len + extra)
        ncap *= 2;
    b->p = ob_xrealloc(b->p, ncap);
    b->cap = ncap;
}

void ob_buf_append(struct ob_buf *b, const void *p, size_t n)
{
    if (!n) return;
    ob_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void ob_buf_putc(struct ob_buf *b, uint8_t c)
{
    ob_buf_reserve(b, 1);
    b->p[b->len++] = c;
}

void ob_buf_vprintf(struct ob_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0) return;
    ob_buf_reserve(b, (size_t)n + 1);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void ob_buf_printf(struct ob_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ob_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ob_buf_consume(struct ob_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void ob_buf_put_u16le(struct ob_buf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    ob_buf_append(b, t, 2);
}

void ob_buf_put_u32le(struct ob_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ob_buf_append(b, t, 4);
}

void ob_buf_put_u64le(struct ob_buf *b, uint64_t v)
{
    ob_buf_put_u32le(b, (uint32_t)v);
    ob_buf_put_u32le(b, (uint32_t)(v >> 32));
}

bool ob_slice_eq_nocase(struct ob_slice a, struct ob_slice b)
{
    if (a.n != b.n) return false;
    for (size_t i = 0; i < a.n; i++) {
        uint8_t x = a.p[i], y = b.p[i];
        if (x >= 'A' && x <= 'Z') x = (uint8_t)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (uint8_t)(y + 32);
        if (x != y) return false;
    }
    return true;
}

char *ob_slice_dup(struct ob_slice s)
{
    return ob_xstrndup((const char *)s.p, s.n);
}
