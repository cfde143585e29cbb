/*
 * utf8.c — incremental UTF-8 validation as a small state machine.
 *
 * The state records what the next byte must be. Most states accept any continuation
 * byte (80..BF); four states exist only for the second byte of the lead bytes whose
 * valid ranges are narrower (E0, ED, F0, F4): that is where overlongs, surrogates and
 * code points above U+10FFFF are caught, at their second byte, which is what makes the
 * validator fail fast. Runs of ASCII between code points are skipped 8 bytes at a time.
 */
#include "http/utf8.h"

#include <omnibus.h>
#include <string.h>

enum {
    ACCEPT = 0, /* between code points */
    CONT1,      /* one more 80..BF */
    CONT2,      /* two more 80..BF */
    CONT3,      /* three more 80..BF */
    AFTER_E0,   /* A0..BF, then one more (no overlong 3-byte forms) */
    AFTER_ED,   /* 80..9F, then one more (no surrogates D800..DFFF) */
    AFTER_F0,   /* 90..BF, then two more (no overlong 4-byte forms) */
    AFTER_F4,   /* 80..8F, then two more (nothing above U+10FFFF) */
    INVALID
};

/* The state after a lead byte; INVALID for bytes that can never start a sequence
 * (80..BF continuation, C0/C1 overlong, F5..FF beyond Unicode). */
static uint8_t lead_state(uint8_t c)
{
    if (c < 0x80) return ACCEPT;
    if (c < 0xC2) return INVALID;
    if (c < 0xE0) return CONT1;
    if (c == 0xE0) return AFTER_E0;
    if (c == 0xED) return AFTER_ED;
    if (c < 0xF0) return CONT2;
    if (c == 0xF0) return AFTER_F0;
    if (c < 0xF4) return CONT3;
    if (c == 0xF4) return AFTER_F4;
    return INVALID;
}

static uint8_t step(uint8_t state, uint8_t c)
{
    switch (state) {
    case ACCEPT:
        return lead_state(c);
    case CONT1:
        return (c & 0xC0) == 0x80 ? ACCEPT : INVALID;
    case CONT2:
        return (c & 0xC0) == 0x80 ? CONT1 : INVALID;
    case CONT3:
        return (c & 0xC0) == 0x80 ? CONT2 : INVALID;
    case AFTER_E0:
        return c >= 0xA0 && c <= 0xBF ? CONT1 : INVALID;
    case AFTER_ED:
        return c >= 0x80 && c <= 0x9F ? CONT1 : INVALID;
    case AFTER_F0:
        return c >= 0x90 && c <= 0xBF ? CONT2 : INVALID;
    case AFTER_F4:
        return c >= 0x80 && c <= 0x8F ? CONT2 : INVALID;
    default:
        return INVALID;
    }
}

/* Length of the run of ASCII bytes at p, checked a word at a time. */
static size_t ascii_run(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & UINT64_C(0x8080808080808080)) break;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

int ob_utf8_feed(struct ob_utf8 *v, const uint8_t *p, size_t n, size_t *bad)
{
    if (v->state == INVALID) {
        if (bad) *bad = 0;
        return OB_EINVAL;
    }
    uint8_t st = v->state;
    size_t i = 0;
    while (i < n) {
        if (st == ACCEPT && p[i] < 0x80) {
            i += ascii_run(p + i, n - i);
            continue;
        }
        st = step(st, p[i]);
        if (st == INVALID) {
            v->state = INVALID;
            if (bad) *bad = i;
            return OB_EINVAL;
        }
        i++;
    }
    v->state = st;
    return 0;
}

bool ob_utf8_done(const struct ob_utf8 *v)
{
    return v->state == ACCEPT;
}

bool ob_utf8_valid(const uint8_t *p, size_t n)
{
    struct ob_utf8 v = OB_UTF8_INIT;
    return ob_utf8_feed(&v, p, n, NULL) == 0 && ob_utf8_done(&v);
}
