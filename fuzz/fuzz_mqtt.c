/*
 * fuzz_mqtt.c — libFuzzer target for the MQTT codec.
 *
 * Input: one control byte, then the byte stream a peer would send. The control byte
 * picks the protocol version the decoder starts with (0 = before CONNECT, then the level
 * a decoded CONNECT carries, as a session would do), a maximum packet size, and how the
 * stream is cut into feeds. Checked for every packet decoded:
 *   - it re-encodes (whatever the decoder accepts, the encoder accepts), the encoding
 *     decodes to an equal packet, and encoding that again gives the same bytes;
 *   - the PUBLISH header encoder plus the payload equals the whole encoding;
 * and for the whole stream, the chunked feed yields exactly what one feed yields.
 */
#include "base/buf.h"
#include "proto/mqtt/codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t version_of(const struct ob_mqtt_decoder *d, const struct ob_mqtt_packet *pkt)
{
    return pkt->type == OB_MQTT_CONNECT ? pkt->connect.version : d->version;
}

/* Re-encodes pkt and checks the encoding decodes back to it; appends it to log. */
static void check_packet(uint8_t v, const struct ob_mqtt_packet *pkt, struct ob_buf *log)
{
    struct ob_buf a = OB_BUF_INIT, b = OB_BUF_INIT;
    CHECK(ob_mqtt_encode(&a, v, pkt) == 0);
    CHECK(a.len <= pkt->wire_size);
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet again;
    size_t used;
    ob_mqtt_decoder_init(&d, pkt->type == OB_MQTT_CONNECT ? 0 : v, 0);
    CHECK(ob_mqtt_decode(&d, a.p, a.len, &used, &again) == 1);
    CHECK(used == a.len);
    CHECK(ob_mqtt_packet_equal(pkt, &again));
    CHECK(ob_mqtt_encode(&b, v, &again) == 0);
    CHECK(b.len == a.len && memcmp(a.p, b.p, a.len) == 0);
    if (pkt->type == OB_MQTT_PUBLISH) {
        struct ob_buf h = OB_BUF_INIT;
        CHECK(ob_mqtt_encode_publish_header(&h, v, pkt) == 0);
        CHECK(h.len + pkt->publish.payload.n == a.len && memcmp(h.p, a.p, h.len) == 0);
        ob_buf_release(&h);
    }
    ob_buf_append(log, a.p, a.len);
    ob_mqtt_decoder_release(&d);
    ob_buf_release(&a);
    ob_buf_release(&b);
}

/* Chunk sizes: whole, byte by byte, small primes, or sizes read from the input. */
static size_t chunk_size(unsigned pattern, size_t i, const uint8_t *p, size_t left)
{
    static const size_t fixed[] = {SIZE_MAX, 1, 2, 3, 7, 64};
    size_t n = pattern < 6 ? fixed[pattern] : 1 + (p[i % left] & (pattern == 6 ? 7 : 127));
    return n < left ? n : left;
}

/* Feeds the stream as the control byte says; logs every packet's re-encoding and returns
 * the decoder's last result (negative on error) followed by its reason in *reason. */
static int run(const uint8_t *p, size_t n, uint8_t ctl, unsigned pattern, struct ob_buf *log,
               uint8_t *reason)
{
    static const uint32_t limits[] = {0, 16, 300, 70000};
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    ob_mqtt_decoder_init(&d, (ctl & 3) ? (uint8_t)(2 + (ctl & 3)) : 0, limits[(ctl >> 2) & 3]);
    int rc = 0;
    for (size_t off = 0, i = 0; off < n && rc >= 0; i++) {
        size_t len = chunk_size(pattern, i, p + off, n - off), used;
        const uint8_t *c = p + off;
        off += len;
        while (rc >= 0 && (rc = ob_mqtt_decode(&d, c, len, &used, &pkt)) == 1) {
            uint8_t v = version_of(&d, &pkt);
            check_packet(v, &pkt, log);
            if (pkt.type == OB_MQTT_CONNECT && d.version == 0) ob_mqtt_decoder_set_version(&d, v);
            c += used;
            len -= used;
        }
        if (rc == 0) CHECK(used == len);
    }
    *reason = rc < 0 ? d.err.reason : 0;
    ob_mqtt_decoder_release(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    struct ob_buf whole = OB_BUF_INIT, chunked = OB_BUF_INIT;
    uint8_t r1, r2;
    int rc1 = run(data + 1, size - 1, ctl, 0, &whole, &r1);
    int rc2 = run(data + 1, size - 1, ctl, (ctl >> 4) % 8, &chunked, &r2);
    CHECK(rc1 == rc2 && r1 == r2);
    CHECK(whole.len == chunked.len && (!whole.len || memcmp(whole.p, chunked.p, whole.len) == 0));
    ob_buf_release(&whole);
    ob_buf_release(&chunked);
    return 0;
}
