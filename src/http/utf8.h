/*
 * utf8.h — an incremental UTF-8 validator (RFC 3629), for WebSocket text messages and
 * close reasons. It is fed a message in pieces (fragments, partial reads) and fails at
 * the first byte that cannot start or continue a valid sequence ("fail fast", as RFC 6455
 * §8.1 and Autobahn section 6 expect), not only at the end of the message.
 *
 * Rejected: overlong forms (C0, C1, E0 80..9F, F0 80..8F), UTF-16 surrogates
 * (ED A0..BF), code points above U+10FFFF (F4 90.., F5..FF), stray continuation bytes,
 * and (at the end, see ob_utf8_done) a truncated sequence.
 *
 * No allocation; the state is one small integer owned by the caller.
 */
#ifndef OB_HTTP_UTF8_H
#define OB_HTTP_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ob_utf8 {
    uint8_t state; /* private; 0 = between code points */
};

#define OB_UTF8_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

static inline void ob_utf8_init(struct ob_utf8 *v)
{
    v->state = 0;
}

/* Validates the next n bytes. Returns 0 if everything so far can still be (the prefix
 * of) valid UTF-8, OB_EINVAL as soon as it cannot; once invalid, it stays invalid. If
 * bad is not NULL and the result is OB_EINVAL, *bad is the offset in p of the byte that
 * made the input invalid. */
int ob_utf8_feed(struct ob_utf8 *v, const uint8_t *p, size_t n, size_t *bad);

/* true if the input so far ends on a code point boundary (no truncated sequence) and
 * was never invalid. */
bool ob_utf8_done(const struct ob_utf8 *v);

/* One-shot: true if p[0..n) is complete, valid UTF-8. */
bool ob_utf8_valid(const uint8_t *p, size_t n);

#endif
