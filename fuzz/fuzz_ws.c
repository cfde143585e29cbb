/*
 * fuzz_ws.c — libFuzzer target for the WebSocket codec (src/http/ws.c, utf8.c).
 *
 * The first bytes choose the role, permessage-deflate, the message limit and split
 * points; the rest is the byte stream from the peer. It is read twice by a message
 * reader, whole and in pieces (each piece in its own allocation; payloads are unmasked
 * in place, so each run gets its own copy). Invariants checked:
 *  - consumption never exceeds what was offered, and OB_EAGAIN consumed everything;
 *  - control payloads are at most 125 bytes, data messages at most the limit,
 *    uncompressed text is valid UTF-8, close codes are valid (or 1005);
 *  - an error carries close code 1002, 1007 or 1009;
 *  - both runs produce the same digest of messages and outcome.
 * Then the stream is used as a payload: encoded as client frames (masked, split in
 * fragments with a ping between) and read back by a server reader, it must come back
 * unchanged.
 */
#include "base/buf.h"
#include "base/crc32c.h"
#include "http/utf8.h"
#include "http/ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

struct digest {
    uint32_t crc;
    size_t messages;
    int outcome;
};

static void check_message(const struct ob_ws_config *cfg, const struct ob_ws_message *m,
                          struct digest *d)
{
    if (m->opcode & 0x8) {
        CHECK(m->payload.n <= 125 && !m->compressed);
        if (m->opcode == OB_WS_OP_CLOSE)
            CHECK(m->close_code == OB_WS_CLOSE_NO_STATUS || ob_ws_close_code_valid(m->close_code));
    } else {
        CHECK(m->opcode == OB_WS_OP_TEXT || m->opcode == OB_WS_OP_BINARY);
        CHECK(m->payload.n <= cfg->max_message);
        if (m->opcode == OB_WS_OP_TEXT && !m->compressed)
            CHECK(ob_utf8_valid(m->payload.p, m->payload.n));
        CHECK(cfg->deflate || !m->compressed);
    }
    uint8_t head[2] = {m->opcode, m->compressed};
    d->crc = ob_crc32c(d->crc, head, 2);
    d->crc = ob_crc32c(d->crc, &m->payload.n, sizeof m->payload.n);
    if (m->payload.n) d->crc = ob_crc32c(d->crc, m->payload.p, m->payload.n);
    d->messages++;
}

/* Reads one piece; false once the reader failed. */
static bool read_piece(struct ob_ws_reader *r, const struct ob_ws_config *cfg, uint8_t *piece,
                       size_t m, struct digest *d)
{
    size_t off = 0;
    for (;;) {
        struct ob_ws_message msg;
        size_t used = 0;
        int rc = ob_ws_read(r, piece + off, m - off, &msg, &used);
        CHECK(used <= m - off);
        off += used;
        if (rc == 1) {
            check_message(cfg, &msg, d);
            continue;
        }
        if (rc == OB_EAGAIN) {
            CHECK(off == m);
            return true;
        }
        uint16_t code = r->parser.close_code;
        CHECK(code == 1002 || code == 1007 || code == 1009);
        CHECK(rc == (code == 1009 ? OB_ETOOBIG : OB_EPROTO));
        d->outcome = code;
        return false;
    }
}

static struct digest run(const struct ob_ws_config *cfg, const uint8_t *in, size_t n,
                         const size_t *cuts, size_t ncuts)
{
    struct digest d = {0, 0, 0};
    struct ob_ws_reader r;
    ob_ws_reader_init(&r, cfg);
    size_t fed = 0;
    bool going = true;
    for (size_t k = 0; k <= ncuts && going; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        uint8_t *piece = malloc(to - fed + 1);
        if (to > fed) memcpy(piece, in + fed, to - fed);
        going = read_piece(&r, cfg, piece, to - fed, &d);
        fed = to;
        free(piece);
    }
    ob_ws_reader_release(&r);
    return d;
}

/* data as the payload of a fragmented binary message with a ping in the middle. */
static void roundtrip(const uint8_t *data, size_t size, const uint8_t mask[4])
{
    struct ob_buf b = OB_BUF_INIT;
    size_t half = size / 2;
    CHECK(ob_ws_encode_frame(&b, OB_WS_OP_BINARY, 0, data, half, mask) == 0);
    CHECK(ob_ws_encode_frame(&b, OB_WS_OP_PING, OB_WS_FIN, data, size < 125 ? size : 125, mask) ==
          0);
    CHECK(ob_ws_encode_frame(&b, OB_WS_OP_CONT, OB_WS_FIN, data + half, size - half, mask) == 0);
    struct ob_ws_config cfg = {OB_WS_SERVER, false, size + 1};
    struct ob_ws_reader r;
    ob_ws_reader_init(&r, &cfg);
    struct ob_ws_message m;
    size_t used, off = 0;
    CHECK(ob_ws_read(&r, b.p, b.len, &m, &used) == 1 && m.opcode == OB_WS_OP_PING);
    off += used;
    CHECK(ob_ws_read(&r, b.p + off, b.len - off, &m, &used) == 1);
    CHECK(m.opcode == OB_WS_OP_BINARY && m.payload.n == size);
    CHECK(size == 0 || memcmp(m.payload.p, data, size) == 0);
    CHECK(off + used == b.len);
    ob_ws_reader_release(&r);
    ob_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    struct ob_ws_config cfg = {(data[0] & 1) ? OB_WS_CLIENT : OB_WS_SERVER, (data[0] & 2) != 0,
                               (uint64_t)1 << (data[1] % 24)};
    unsigned seed = data[0] | (unsigned)data[2] << 8 | (unsigned)data[3] << 16;
    uint8_t mask[4] = {data[1], data[2], data[3], data[0]};
    data += 4;
    size -= 4;
    size_t cuts[16], ncuts = 0;
    for (size_t k = 0; k < 16 && size; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t c = (seed >> 8) % (size + 1);
        if (ncuts == 0 || c >= cuts[ncuts - 1]) cuts[ncuts++] = c;
    }
    struct digest whole = run(&cfg, data, size, NULL, 0);
    struct digest split = run(&cfg, data, size, cuts, ncuts);
    CHECK(whole.crc == split.crc && whole.messages == split.messages &&
          whole.outcome == split.outcome);
    roundtrip(data, size, mask);
    return 0;
}
