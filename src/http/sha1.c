/*
 * sha1.c — a compact, portable SHA-1 (FIPS 180-4 §6.1). Speed is irrelevant here (one
 * 60-byte input per WebSocket handshake), so it favours being short and obviously right.
 */
#include "http/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void compress(uint32_t h[5], const uint8_t block[64])
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = get_be32(block + 4 * t);
    for (int t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t tmp = rol(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void ob_sha1_init(struct ob_sha1 *s)
{
    static const uint32_t iv[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->nblock = 0;
}

void ob_sha1_update(struct ob_sha1 *s, const void *p, size_t n)
{
    const uint8_t *in = p;
    s->total += n;
    while (n > 0) {
        size_t take = 64 - s->nblock;
        if (take > n) take = n;
        memcpy(s->block + s->nblock, in, take);
        s->nblock += take;
        in += take;
        n -= take;
        if (s->nblock == 64) {
            compress(s->h, s->block);
            s->nblock = 0;
        }
    }
}

void ob_sha1_final(struct ob_sha1 *s, uint8_t out[OB_SHA1_LEN])
{
    uint64_t bits = s->total * 8;
    static const uint8_t pad[64] = {0x80};
    /* Pad to 56 mod 64, then the 64-bit big-endian message length. */
    size_t padlen = s->nblock < 56 ? 56 - s->nblock : 120 - s->nblock;
    ob_sha1_update(s, pad, padlen);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    ob_sha1_update(s, len, 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void ob_sha1(const void *p, size_t n, uint8_t out[OB_SHA1_LEN])
{
    struct ob_sha1 s;
    ob_sha1_init(&s);
    ob_sha1_update(&s, p, n);
    ob_sha1_final(&s, out);
}
