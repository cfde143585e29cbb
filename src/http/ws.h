/*
 * ws.h — WebSocket (RFC 6455) codec: frame parser, message reader, frame encoder, and
 * the opening handshake's checks. Pure: no I/O, no clock, no randomness; the
 * connection code owns sockets and buffers. permessage-deflate (RFC 7692) is only
 * negotiated and flagged here (RSV1, "compressed"); inflating and deflating belong to
 * the layer above, with zlib.
 *
 * Three layers, each usable alone:
 *  - ob_ws_parse: frames, streamed. Each call returns the next piece of the current
 *    frame's payload as a slice of the caller's buffer, unmasked in place (so the
 *    buffer is writable). It enforces every per-frame rule of RFC 6455 §5 (masking
 *    direction, RSV bits, opcodes, minimal length encoding, control frame size and
 *    fragmentation) plus message sequencing and the message size limit, failing with
 *    the close code to send (1002, 1009).
 *  - ob_ws_read: whole messages. Reassembles fragmented data messages into a buffer it
 *    owns (an unfragmented message entirely present in the caller's buffer is returned
 *    in place, without a copy), hands out control frames as they come (also between
 *    the fragments of a data message), validates text as UTF-8 as the fragments arrive
 *    (failing fast with 1007 on the first bad byte), and parses close frames.
 *  - ob_ws_encode_*: frames for the server side (unmasked) and the client side (masked
 *    with a key the caller draws from a strong random source, RFC 6455 §5.3, e.g.
 *    libsodium's randombytes_buf; the client side exists for tests and benchmarks).
 *
 * Errors: a negative OB_E* return (OB_EPROTO, OB_ETOOBIG) with close_code set to the
 * status code to put in our close frame before closing the connection, and error to a
 * static description. A parser or reader that failed stays failed.
 */
#ifndef OB_HTTP_WS_H
#define OB_HTTP_WS_H

#include "base/buf.h"
#include "http/h1.h"
#include "http/utf8.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ob_ws_opcode {
    OB_WS_OP_CONT = 0x0,
    OB_WS_OP_TEXT = 0x1,
    OB_WS_OP_BINARY = 0x2,
    OB_WS_OP_CLOSE = 0x8,
    OB_WS_OP_PING = 0x9,
    OB_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 §7.4.1, IANA registry). 1005 and 1006 are never sent:
 * they stand for "no code in the frame" and "closed without a close frame". */
enum ob_ws_close_code {
    OB_WS_CLOSE_NORMAL = 1000,
    OB_WS_CLOSE_GOING_AWAY = 1001,
    OB_WS_CLOSE_PROTOCOL = 1002,
    OB_WS_CLOSE_UNSUPPORTED = 1003,
    OB_WS_CLOSE_NO_STATUS = 1005,
    OB_WS_CLOSE_ABNORMAL = 1006,
    OB_WS_CLOSE_INVALID_DATA = 1007,
    OB_WS_CLOSE_POLICY = 1008,
    OB_WS_CLOSE_TOO_BIG = 1009,
    OB_WS_CLOSE_EXTENSION = 1010,
    OB_WS_CLOSE_INTERNAL = 1011,
};

/* Which end we are: a server parses masked frames and sends unmasked ones. */
enum ob_ws_role { OB_WS_SERVER = 0, OB_WS_CLIENT = 1 };

#define OB_WS_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)

struct ob_ws_config {
    enum ob_ws_role role;
    bool deflate;         /* permessage-deflate agreed: RSV1 may mark a data message */
    uint64_t max_message; /* payload bytes of one data message as received (before any
                             inflate); over it is 1009. 0: the default */
};

/* A frame header as received. */
struct ob_ws_frame {
    bool fin;
    bool rsv1;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;
};

/* One piece of a frame's payload. */
struct ob_ws_piece {
    struct ob_slice data; /* unmasked, in the caller's buffer; may be empty */
    bool first;           /* the frame's first piece: frame was just parsed */
    bool last;            /* the frame's last piece */
};

struct ob_ws_parser {
    struct ob_ws_frame frame; /* the current frame's header, valid with each piece */
    uint16_t close_code;      /* after an error: the code to close with */
    const char *error;        /* after an error: a static description */

    /* private */
    struct ob_ws_config cfg;
    uint8_t state;
    uint8_t hdr[14]; /* header bytes gathered so far */
    uint8_t nhdr, hdr_need;
    bool in_message;  /* a fragmented data message is in progress */
    uint64_t msg_len; /* payload bytes of the data message so far */
    uint64_t offset;  /* payload bytes of this frame already returned */
};

void ob_ws_parser_init(struct ob_ws_parser *p, const struct ob_ws_config *cfg);

/*
 * Parses buf[0..len). Sets *consumed to the bytes used, always. Returns 1 with *out set
 * to the next piece of payload (a frame with an empty payload gives one empty piece
 * that is both first and last; a frame's header may be consumed by one call and its
 * first piece returned by the next); OB_EAGAIN when everything was consumed without
 * completing a piece; or OB_EPROTO (1002) / OB_ETOOBIG (1009).
 */
int ob_ws_parse(struct ob_ws_parser *p, uint8_t *buf, size_t len, struct ob_ws_piece *out,
                size_t *consumed);

/* A complete message or control frame. Everything is borrowed until the next
 * ob_ws_read (or release) call. */
struct ob_ws_message {
    uint8_t opcode;               /* TEXT, BINARY, CLOSE, PING or PONG */
    bool compressed;              /* RSV1 was set: payload is deflated; text was not UTF-8
                                     checked (check it after inflating) */
    struct ob_slice payload;      /* the whole payload (for CLOSE, code and reason too) */
    uint16_t close_code;          /* CLOSE: the code, or 1005 if the frame had none */
    struct ob_slice close_reason; /* CLOSE: the reason, valid UTF-8 */
};

struct ob_ws_reader {
    struct ob_ws_parser parser; /* close_code and error are set here on failure */

    /* private */
    struct ob_buf msg;  /* reassembly of a fragmented data message (owned) */
    bool msg_delivered; /* msg was handed out: clear it on the next call */
    uint8_t msg_opcode; /* TEXT or BINARY of the message in progress */
    bool msg_compressed;
    struct ob_utf8 utf8; /* the text message in progress */
    uint8_t ctl[125];    /* a control frame whose payload arrived in pieces */
    uint8_t nctl;
};

void ob_ws_reader_init(struct ob_ws_reader *r, const struct ob_ws_config *cfg);
void ob_ws_reader_release(struct ob_ws_reader *r);

/*
 * Reads from buf[0..len) (writable: payloads are unmasked in place). Sets *consumed
 * always. Returns 1 with *out set to the next complete message or control frame;
 * OB_EAGAIN when everything was consumed without completing one; or an error with
 * parser.close_code set: 1002 (framing, bad close frame), 1007 (text or close reason
 * not UTF-8), 1009 (message too big).
 */
int ob_ws_read(struct ob_ws_reader *r, uint8_t *buf, size_t len, struct ob_ws_message *out,
               size_t *consumed);

/* Parses a close frame's payload: code (1005 if empty) and reason. OB_EPROTO for a
 * 1-byte payload or a code that may not appear on the wire (RFC 6455 §7.4), OB_EINVAL
 * for a reason that is not UTF-8 (close with 1007). */
int ob_ws_parse_close(struct ob_slice payload, uint16_t *code, struct ob_slice *reason);
/* true if code may be sent in a close frame: 1000-1003, 1007-1014, 3000-4999. */
bool ob_ws_close_code_valid(unsigned code);

/* XORs p[0..n) with the masking key, starting at payload offset (so a payload can be
 * unmasked in pieces). Masking and unmasking are the same operation. */
void ob_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* ---- encoding ------------------------------------------------------------------- */

#define OB_WS_FIN        0x80u /* flags: final fragment */
#define OB_WS_RSV1       0x40u /* flags: compressed message (first fragment only) */
#define OB_WS_HEADER_MAX 14

/* Writes a frame header; returns its length. mask NULL: unmasked (server side);
 * otherwise the 4-byte masking key, which the payload must then be masked with. */
size_t ob_ws_encode_header(uint8_t out[OB_WS_HEADER_MAX], unsigned opcode, unsigned flags,
                           uint64_t len, const uint8_t *mask);
/* Appends a whole frame, masking the copied payload if mask is given. OB_EINVAL for an
 * unknown opcode, a control frame over 125 bytes or not FIN, or RSV1 on a control or
 * continuation frame. */
int ob_ws_encode_frame(struct ob_buf *out, unsigned opcode, unsigned flags, const void *payload,
                       size_t n, const uint8_t *mask);
/* Appends a close frame: code 0 sends none (empty payload); otherwise the code and a
 * reason of at most 123 bytes of UTF-8. OB_EINVAL for a code that may not be sent or a
 * bad reason. */
int ob_ws_encode_close(struct ob_buf *out, unsigned code, const void *reason, size_t n,
                       const uint8_t *mask);

/* ---- opening handshake (RFC 6455 §4.2, RFC 7692 §5-7) ------------------------------ */

#define OB_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */
#define OB_WS_EXT_MAX    160

/* Writes Sec-WebSocket-Accept for key (as sent, RFC 6455 §4.2.2) into out, NUL-
 * terminated. Clients use it to check the server's answer. */
void ob_ws_accept_key(struct ob_slice key, char out[OB_WS_ACCEPT_LEN + 1]);

/* permessage-deflate parameters as agreed; window bits 8..15 (15: no limit). */
struct ob_ws_deflate {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
};

/* What the server accepts. */
struct ob_ws_server_opts {
    const char *const *subprotocols; /* in our order of preference; may be NULL */
    size_t nsubprotocols;
    bool deflate; /* accept permessage-deflate offers */
    /* Our own preferences for permessage-deflate, applied on top of the client's:
     * context takeover off saves a compressor per connection; 0 bits means 15. */
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
};

/* The outcome of checking an upgrade request. */
struct ob_ws_handshake {
    int status;        /* 101 to accept; 400 or 426 to refuse */
    const char *error; /* why it was refused, or NULL */
    char accept[OB_WS_ACCEPT_LEN + 1];
    const char *subprotocol; /* one of opts->subprotocols, or NULL */
    bool deflate;            /* permessage-deflate agreed, with pmd: */
    struct ob_ws_deflate pmd;
    char extensions[OB_WS_EXT_MAX]; /* the Sec-WebSocket-Extensions answer, or "" */
};

/*
 * Checks a parsed request against RFC 6455 §4.2.1 (GET, HTTP/1.1, Upgrade: websocket
 * with Connection: upgrade, one Sec-WebSocket-Key of 16 base64-encoded bytes,
 * Sec-WebSocket-Version: 13) and negotiates the subprotocol and permessage-deflate.
 * Returns 0 (hs->status 101) or OB_EPROTO (hs->status 400, or 426 for a missing upgrade
 * or another version). Origin checks are the caller's policy.
 */
int ob_ws_handshake_check(const struct ob_h1_request *req, const struct ob_ws_server_opts *opts,
                          struct ob_ws_handshake *hs);
/* Appends the answer: 101 with the agreed headers, or the refusal (426 carries
 * Sec-WebSocket-Version: 13 and Upgrade: websocket) with Connection: close. */
void ob_ws_handshake_response(struct ob_buf *out, const struct ob_ws_handshake *hs);

#endif
