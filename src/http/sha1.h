/*
 * sha1.h — SHA-1 (FIPS 180-4), used only to compute the WebSocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 §4.2.2), where SHA-1 is part of the wire protocol, not a
 * security choice. Never use it for anything that needs collision resistance.
 *
 * Why our own: libsodium (the crypto library the build links) has no SHA-1, and linking
 * OpenSSL's libcrypto for one hash of 60 bytes per connection is not worth a new
 * dependency of the HTTP library. Tested with the RFC 3174 / FIPS 180 vectors.
 */
#ifndef OB_HTTP_SHA1_H
#define OB_HTTP_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define OB_SHA1_LEN 20

struct ob_sha1 {
    uint32_t h[5];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t nblock; /* bytes waiting in block */
};

void ob_sha1_init(struct ob_sha1 *s);
void ob_sha1_update(struct ob_sha1 *s, const void *p, size_t n);
void ob_sha1_final(struct ob_sha1 *s, uint8_t out[OB_SHA1_LEN]);
/* One-shot digest of p[0..n). */
void ob_sha1(const void *p, size_t n, uint8_t out[OB_SHA1_LEN]);

#endif
