/*
 * ws.c — the WebSocket codec (RFC 6455): frame parser, message reader, frame encoder
 * and opening-handshake checks. See ws.h for the layering and ownership.
 *
 * The frame parser copies only the frame header (2 to 14 bytes) into its own state, so
 * a header split at any byte resumes; payload is never copied by it, only unmasked in
 * the caller's buffer. Every rule it can check from the header alone it checks as soon
 * as the first two bytes are in ("fail fast": a reserved opcode or an unmasked client
 * frame is refused before its length or payload arrives).
 */
#include "http/ws.h"

#include "http/sha1.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

enum { P_HEADER, P_PAYLOAD, P_FAILED };

static bool is_control(unsigned opcode)
{
    return (opcode & 0x8) != 0;
}

static bool opcode_known(unsigned op)
{
    return op <= OB_WS_OP_BINARY || (op >= OB_WS_OP_CLOSE && op <= OB_WS_OP_PONG);
}

static int pfail(struct ob_ws_parser *p, uint16_t code, const char *error)
{
    p->state = P_FAILED;
    p->close_code = code;
    p->error = error;
    return code == OB_WS_CLOSE_TOO_BIG ? OB_ETOOBIG : OB_EPROTO;
}

void ob_ws_parser_init(struct ob_ws_parser *p, const struct ob_ws_config *cfg)
{
    memset(p, 0, sizeof *p);
    if (cfg) p->cfg = *cfg;
    if (!p->cfg.max_message) p->cfg.max_message = OB_WS_DEFAULT_MAX_MESSAGE;
    p->state = P_HEADER;
    p->hdr_need = 2;
}

/* ---- frame parser ---------------------------------------------------------------- */

/* Checks what the first two header bytes decide and sets how long the header is. */
static int check_start(struct ob_ws_parser *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    unsigned op = b0 & 0x0F, len7 = b1 & 0x7F;
    bool masked = (b1 & 0x80) != 0;
    if (b0 & 0x30) return pfail(p, OB_WS_CLOSE_PROTOCOL, "RSV2 or RSV3 set");
    if (!opcode_known(op)) return pfail(p, OB_WS_CLOSE_PROTOCOL, "reserved opcode");
    /* RFC 7692 §6: RSV1 marks a compressed message, on its first frame only. */
    if ((b0 & 0x40) && (!p->cfg.deflate || is_control(op) || op == OB_WS_OP_CONT))
        return pfail(p, OB_WS_CLOSE_PROTOCOL, "RSV1 set");
    if (is_control(op) && !(b0 & 0x80))
        return pfail(p, OB_WS_CLOSE_PROTOCOL, "fragmented control frame");
    if (is_control(op) && len7 > 125)
        return pfail(p, OB_WS_CLOSE_PROTOCOL, "control frame over 125 bytes");
    if (masked != (p->cfg.role == OB_WS_SERVER))
        return pfail(p, OB_WS_CLOSE_PROTOCOL,
                     masked ? "masked frame from the server" : "unmasked frame from the client");
    if (op == OB_WS_OP_CONT && !p->in_message)
        return pfail(p, OB_WS_CLOSE_PROTOCOL, "continuation without a message");
    if ((op == OB_WS_OP_TEXT || op == OB_WS_OP_BINARY) && p->in_message)
        return pfail(p, OB_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
    p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0));
    return 0;
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Decodes the payload length, refusing encodings that are not the shortest
 * (RFC 6455 §5.2) and 64-bit lengths with the most significant bit set. */
static int decode_length(struct ob_ws_parser *p, size_t *k)
{
    unsigned len7 = p->hdr[1] & 0x7F;
    struct ob_ws_frame *f = &p->frame;
    *k = 2;
    if (len7 < 126) {
        f->len = len7;
        return 0;
    }
    size_t n = len7 == 126 ? 2 : 8;
    f->len = get_be(p->hdr + 2, n);
    *k += n;
    if (f->len >> 63) return pfail(p, OB_WS_CLOSE_PROTOCOL, "64-bit length with MSB set");
    if (f->len < (n == 2 ? 126u : 65536u))
        return pfail(p, OB_WS_CLOSE_PROTOCOL, "length not minimally encoded");
    return 0;
}

static int finish_header(struct ob_ws_parser *p)
{
    struct ob_ws_frame *f = &p->frame;
    size_t k;
    int rc = decode_length(p, &k);
    if (rc) return rc;
    f->fin = (p->hdr[0] & 0x80) != 0;
    f->rsv1 = (p->hdr[0] & 0x40) != 0;
    f->opcode = p->hdr[0] & 0x0F;
    f->masked = (p->hdr[1] & 0x80) != 0;
    memset(f->mask, 0, sizeof f->mask);
    if (f->masked) memcpy(f->mask, p->hdr + k, 4);
    if (!is_control(f->opcode)) {
        if (f->opcode != OB_WS_OP_CONT) p->msg_len = 0;
        if (f->len > p->cfg.max_message - p->msg_len)
            return pfail(p, OB_WS_CLOSE_TOO_BIG, "message too big");
        p->msg_len += f->len;
        p->in_message = !f->fin;
    }
    p->offset = 0;
    p->state = P_PAYLOAD;
    return 0;
}

/* Gathers header bytes from buf[*ip..len); 0 once the header is complete. */
static int read_header(struct ob_ws_parser *p, const uint8_t *buf, size_t len, size_t *ip)
{
    size_t i = *ip;
    for (;;) {
        while (p->nhdr < p->hdr_need && i < len)
            p->hdr[p->nhdr++] = buf[i++];
        *ip = i;
        if (p->nhdr < p->hdr_need) return OB_EAGAIN;
        if (p->nhdr == 2) {
            int rc = check_start(p);
            if (rc) return rc;
            if (p->hdr_need > 2) continue;
        }
        return finish_header(p);
    }
}

int ob_ws_parse(struct ob_ws_parser *p, uint8_t *buf, size_t len, struct ob_ws_piece *out,
                size_t *consumed)
{
    size_t i = 0;
    *consumed = 0;
    if (p->state == P_FAILED) return p->close_code == OB_WS_CLOSE_TOO_BIG ? OB_ETOOBIG : OB_EPROTO;
    if (p->state == P_HEADER) {
        int rc = read_header(p, buf, len, &i);
        *consumed = i;
        if (rc) return rc;
    }
    uint64_t left = p->frame.len - p->offset;
    if (left && i == len) return OB_EAGAIN;
    size_t n = left < len - i ? (size_t)left : len - i;
    out->data = ob_slice_make(n ? buf + i : NULL, n);
    if (n && p->frame.masked) ob_ws_mask(buf + i, n, p->frame.mask, p->offset);
    out->first = p->offset == 0;
    p->offset += n;
    out->last = p->offset == p->frame.len;
    if (out->last) {
        p->state = P_HEADER;
        p->nhdr = 0;
        p->hdr_need = 2;
    }
    *consumed = i + n;
    return 1;
}

void ob_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    /* The key rotated to this offset, twice: XOR 8 bytes at a time. memcpy keeps the
     * loads unaligned-safe and byte-order independent; compilers make them plain
     * 64-bit loads and stores. */
    uint8_t m[8];
    for (int k = 0; k < 8; k++)
        m[k] = mask[(offset + (uint64_t)k) & 3];
    uint64_t m64;
    memcpy(&m64, m, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= m64;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= m[i & 7];
}

/* ---- close frames ---------------------------------------------------------------- */

bool ob_ws_close_code_valid(unsigned code)
{
    /* 1004-1006 and 1015 are reserved or never sent; 1012-1014 are registered with
     * IANA (service restart, try again later, bad gateway) after RFC 6455 and accepted,
     * as common servers do; 1016-2999 are reserved for future standards. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int ob_ws_parse_close(struct ob_slice payload, uint16_t *code, struct ob_slice *reason)
{
    *reason = ob_slice_make(payload.p, 0);
    if (payload.n == 0) {
        *code = OB_WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (payload.n == 1) return OB_EPROTO;
    *code = (uint16_t)get_be(payload.p, 2);
    if (!ob_ws_close_code_valid(*code)) return OB_EPROTO;
    *reason = ob_slice_make(payload.p + 2, payload.n - 2);
    return ob_utf8_valid(reason->p, reason->n) ? 0 : OB_EINVAL;
}

/* ---- message reader -------------------------------------------------------------- */

void ob_ws_reader_init(struct ob_ws_reader *r, const struct ob_ws_config *cfg)
{
    memset(r, 0, sizeof *r);
    ob_ws_parser_init(&r->parser, cfg);
}

void ob_ws_reader_release(struct ob_ws_reader *r)
{
    ob_buf_release(&r->msg);
}

/* A control frame's piece; 1 with *out once the frame is complete. */
static int on_control(struct ob_ws_reader *r, const struct ob_ws_piece *pc,
                      struct ob_ws_message *out)
{
    const struct ob_ws_frame *f = &r->parser.frame;
    struct ob_slice payload = pc->data;
    if (!(pc->first && pc->last)) {
        /* Split across reads: gather it (the parser bounds it to 125 bytes). */
        if (pc->first) r->nctl = 0;
        if (pc->data.n) memcpy(r->ctl + r->nctl, pc->data.p, pc->data.n);
        r->nctl = (uint8_t)(r->nctl + pc->data.n);
        if (!pc->last) return 0;
        payload = ob_slice_make(r->ctl, r->nctl);
    }
    memset(out, 0, sizeof *out);
    out->opcode = f->opcode;
    out->payload = payload;
    if (f->opcode != OB_WS_OP_CLOSE) return 1;
    int rc = ob_ws_parse_close(payload, &out->close_code, &out->close_reason);
    if (rc == OB_EPROTO) return pfail(&r->parser, OB_WS_CLOSE_PROTOCOL, "invalid close frame");
    if (rc) return pfail(&r->parser, OB_WS_CLOSE_INVALID_DATA, "close reason not UTF-8");
    return 1;
}

/* A data frame's piece; 1 with *out once the message is complete. */
static int on_data(struct ob_ws_reader *r, const struct ob_ws_piece *pc, struct ob_ws_message *out)
{
    const struct ob_ws_frame *f = &r->parser.frame;
    bool starts = pc->first && f->opcode != OB_WS_OP_CONT;
    if (starts) {
        r->msg_opcode = f->opcode;
        r->msg_compressed = f->rsv1;
        ob_utf8_init(&r->utf8);
        r->msg.len = 0;
    }
    /* Compressed text can only be checked once inflated, by the layer above. */
    bool check = r->msg_opcode == OB_WS_OP_TEXT && !r->msg_compressed;
    if (check && ob_utf8_feed(&r->utf8, pc->data.p, pc->data.n, NULL))
        return pfail(&r->parser, OB_WS_CLOSE_INVALID_DATA, "text message not UTF-8");
    bool done = f->fin && pc->last;
    if (done && check && !ob_utf8_done(&r->utf8))
        return pfail(&r->parser, OB_WS_CLOSE_INVALID_DATA, "text message ends mid-character");
    struct ob_slice payload = pc->data; /* the whole message, when it is one piece */
    if (!(done && starts)) {
        ob_buf_append(&r->msg, pc->data.p, pc->data.n);
        if (!done) return 0;
        payload = ob_slice_make(r->msg.p, r->msg.len);
        r->msg_delivered = true;
    }
    memset(out, 0, sizeof *out);
    out->opcode = r->msg_opcode;
    out->compressed = r->msg_compressed;
    out->payload = payload;
    return 1;
}

int ob_ws_read(struct ob_ws_reader *r, uint8_t *buf, size_t len, struct ob_ws_message *out,
               size_t *consumed)
{
    size_t used = 0;
    if (r->msg_delivered) {
        r->msg.len = 0;
        r->msg_delivered = false;
    }
    for (;;) {
        /* With nothing left no piece can complete: a header with an empty payload
         * yields its piece in the call that consumed the header. */
        if (used == len && r->parser.state != P_FAILED) {
            *consumed = used;
            return OB_EAGAIN;
        }
        struct ob_ws_piece pc;
        size_t n;
        int rc = ob_ws_parse(&r->parser, buf + used, len - used, &pc, &n);
        used += n;
        if (rc == 1)
            rc =
                is_control(r->parser.frame.opcode) ? on_control(r, &pc, out) : on_data(r, &pc, out);
        if (rc != 0) {
            *consumed = used;
            return rc;
        }
    }
}

/* ---- encoder --------------------------------------------------------------------- */

size_t ob_ws_encode_header(uint8_t out[OB_WS_HEADER_MAX], unsigned opcode, unsigned flags,
                           uint64_t len, const uint8_t *mask)
{
    size_t k = 0;
    uint8_t m = mask ? 0x80 : 0;
    out[k++] = (uint8_t)((flags & (OB_WS_FIN | OB_WS_RSV1)) | (opcode & 0x0F));
    if (len < 126) {
        out[k++] = (uint8_t)(m | len);
    } else if (len <= 0xFFFF) {
        out[k++] = m | 126;
        out[k++] = (uint8_t)(len >> 8);
        out[k++] = (uint8_t)len;
    } else {
        out[k++] = m | 127;
        for (int s = 56; s >= 0; s -= 8)
            out[k++] = (uint8_t)(len >> s);
    }
    if (mask) {
        memcpy(out + k, mask, 4);
        k += 4;
    }
    return k;
}

int ob_ws_encode_frame(struct ob_buf *out, unsigned opcode, unsigned flags, const void *payload,
                       size_t n, const uint8_t *mask)
{
    if (!opcode_known(opcode) || (flags & ~(OB_WS_FIN | OB_WS_RSV1))) return OB_EINVAL;
    if (is_control(opcode) && (n > 125 || !(flags & OB_WS_FIN) || (flags & OB_WS_RSV1)))
        return OB_EINVAL;
    if (opcode == OB_WS_OP_CONT && (flags & OB_WS_RSV1)) return OB_EINVAL;
    uint8_t hdr[OB_WS_HEADER_MAX];
    size_t k = ob_ws_encode_header(hdr, opcode, flags, n, mask);
    ob_buf_reserve(out, k + n);
    ob_buf_append(out, hdr, k);
    size_t start = out->len;
    ob_buf_append(out, payload, n);
    if (mask && n) ob_ws_mask(out->p + start, n, mask, 0);
    return 0;
}

int ob_ws_encode_close(struct ob_buf *out, unsigned code, const void *reason, size_t n,
                       const uint8_t *mask)
{
    if (code == 0)
        return n ? OB_EINVAL : ob_ws_encode_frame(out, OB_WS_OP_CLOSE, OB_WS_FIN, NULL, 0, mask);
    if (!ob_ws_close_code_valid(code) || n > 123 || !ob_utf8_valid(reason, n)) return OB_EINVAL;
    uint8_t pl[125];
    pl[0] = (uint8_t)(code >> 8);
    pl[1] = (uint8_t)code;
    if (n) memcpy(pl + 2, reason, n);
    return ob_ws_encode_frame(out, OB_WS_OP_CLOSE, OB_WS_FIN, pl, n + 2, mask);
}

/* ---- opening handshake ----------------------------------------------------------- */

void ob_ws_accept_key(struct ob_slice key, char out[OB_WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t d[OB_SHA1_LEN];
    struct ob_sha1 s;
    ob_sha1_init(&s);
    ob_sha1_update(&s, key.p, key.n);
    ob_sha1_update(&s, guid, sizeof guid - 1);
    ob_sha1_final(&s, d);
    sodium_bin2base64(out, OB_WS_ACCEPT_LEN + 1, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
}

static int refuse(struct ob_ws_handshake *hs, int status, const char *error)
{
    hs->status = status;
    hs->error = error;
    return OB_EPROTO;
}

/* The only header called name: NULL if absent or repeated (*count says which). */
static const struct ob_header *sole_header(const struct ob_h1_request *req, const char *name,
                                           size_t *count)
{
    const struct ob_header *found = NULL;
    *count = 0;
    for (size_t k = 0; k < req->nheaders; k++) {
        if (!ob_slice_eq_nocase(req->headers[k].name, ob_slice_str(name))) continue;
        found = &req->headers[k];
        ++*count;
    }
    return *count == 1 ? found : NULL;
}

/* Sec-WebSocket-Key: base64 of 16 bytes (RFC 6455 §4.2.1 item 5). */
static bool key_ok(struct ob_slice key)
{
    uint8_t bin[18];
    size_t n = 0;
    if (key.n != 24) return false;
    if (sodium_base642bin(bin, sizeof bin, (const char *)key.p, key.n, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    return n == 16;
}

/* Picks the first of our subprotocols that the client listed. */
static void choose_subprotocol(const struct ob_h1_request *req,
                               const struct ob_ws_server_opts *opts, struct ob_ws_handshake *hs)
{
    for (size_t s = 0; s < opts->nsubprotocols; s++) {
        struct ob_slice want = ob_slice_str(opts->subprotocols[s]);
        if (!ob_h1_is_token(want)) continue;
        for (size_t k = 0; k < req->nheaders; k++) {
            if (!ob_slice_eq_nocase(req->headers[k].name, ob_slice_str("sec-websocket-protocol")))
                continue;
            struct ob_slice v = req->headers[k].value, e;
            while (ob_h1_list_next(&v, &e)) {
                if (!ob_slice_eq(e, want)) continue;
                hs->subprotocol = opts->subprotocols[s];
                return;
            }
        }
    }
}

/* ---- permessage-deflate negotiation (RFC 7692 §5, §7.1) ---------------------------- */

/* One permessage-deflate offer; window bits 0 = parameter absent. */
struct pmd_offer {
    bool snct, cnct;    /* server_/client_no_context_takeover */
    uint8_t smwb, cmwb; /* server_/client_max_window_bits values */
    bool cmwb_present;  /* client_max_window_bits present (its value is optional) */
    unsigned seen;      /* bit per parameter name, to refuse duplicates */
};

/* Splits the next delim-separated part off *s, trimmed; false when *s is used up. */
static bool next_part(struct ob_slice *s, uint8_t delim, struct ob_slice *part)
{
    if (!s->p) return false;
    const uint8_t *d = s->n ? memchr(s->p, delim, s->n) : NULL;
    size_t n = d ? (size_t)(d - s->p) : s->n;
    struct ob_slice t = ob_slice_make(s->p, n);
    while (t.n && (t.p[0] == ' ' || t.p[0] == '\t'))
        t.p++, t.n--;
    while (t.n && (t.p[t.n - 1] == ' ' || t.p[t.n - 1] == '\t'))
        t.n--;
    *part = t;
    if (d) {
        s->p = d + 1;
        s->n -= n + 1;
    } else {
        s->p = NULL;
        s->n = 0;
    }
    return true;
}

/* "8".."15", optionally quoted (RFC 7692 §7.1.2: 1*DIGIT, no leading zero). */
static bool window_bits(struct ob_slice v, uint8_t *bits)
{
    if (v.n >= 2 && v.p[0] == '"' && v.p[v.n - 1] == '"') v = ob_slice_make(v.p + 1, v.n - 2);
    if (v.n == 1 && v.p[0] >= '8' && v.p[0] <= '9') {
        *bits = (uint8_t)(v.p[0] - '0');
        return true;
    }
    if (v.n == 2 && v.p[0] == '1' && v.p[1] >= '0' && v.p[1] <= '5') {
        *bits = (uint8_t)(10 + v.p[1] - '0');
        return true;
    }
    return false;
}

/* One parameter of an offer; false makes the whole offer declined (RFC 7692 §5). */
static bool offer_param(struct ob_slice param, struct pmd_offer *o)
{
    static const char *const names[] = {"server_no_context_takeover", "client_no_context_takeover",
                                        "server_max_window_bits", "client_max_window_bits"};
    struct ob_slice name, value = {NULL, 0};
    bool has_value = false;
    next_part(&param, '=', &name);
    if (param.p) has_value = next_part(&param, '=', &value) && !param.p;
    if (param.p) return false; /* a second '=' */
    for (unsigned k = 0; k < 4; k++) {
        if (!ob_slice_eq_nocase(name, ob_slice_str(names[k]))) continue;
        if (o->seen & (1u << k)) return false;
        o->seen |= 1u << k;
        switch (k) {
        case 0:
            o->snct = true;
            return !has_value;
        case 1:
            o->cnct = true;
            return !has_value;
        case 2:
            return has_value && window_bits(value, &o->smwb);
        default:
            o->cmwb_present = true;
            return !has_value || window_bits(value, &o->cmwb);
        }
    }
    return false;
}

/* Parses one Sec-WebSocket-Extensions element; true if it is a valid
 * permessage-deflate offer. */
static bool parse_offer(struct ob_slice ext, struct pmd_offer *o)
{
    struct ob_slice part;
    memset(o, 0, sizeof *o);
    next_part(&ext, ';', &part);
    if (!ob_slice_eq_nocase(part, ob_slice_str("permessage-deflate"))) return false;
    while (next_part(&ext, ';', &part))
        if (!offer_param(part, o)) return false;
    return true;
}

static uint8_t clamp_bits(uint8_t b, uint8_t lo)
{
    return b == 0 || b > 15 ? 15 : b < lo ? lo : b;
}

/* Agrees on an offer, writing the parameters and the answer line; false declines it. */
static bool agree(const struct pmd_offer *o, const struct ob_ws_server_opts *opts,
                  struct ob_ws_handshake *hs)
{
    struct ob_ws_deflate *d = &hs->pmd;
    uint8_t our_s = clamp_bits(opts->server_max_window_bits, 9);
    uint8_t our_c = clamp_bits(opts->client_max_window_bits, 8);
    uint8_t s = o->smwb && o->smwb < our_s ? o->smwb : our_s;
    /* zlib cannot deflate with a 256-byte window (it silently uses 512, which the
     * client would then fail to inflate): decline an offer that insists on 8. */
    if (s < 9) return false;
    d->server_no_context_takeover = o->snct || opts->server_no_context_takeover;
    d->client_no_context_takeover = o->cnct || opts->client_no_context_takeover;
    d->server_max_window_bits = s;
    /* client_max_window_bits may be answered only if offered (§7.1.2.2). */
    uint8_t c = o->cmwb && o->cmwb < our_c ? o->cmwb : our_c;
    d->client_max_window_bits = o->cmwb_present ? c : 15;
    int n = snprintf(hs->extensions, sizeof hs->extensions, "permessage-deflate%s%s",
                     d->server_no_context_takeover ? "; server_no_context_takeover" : "",
                     d->client_no_context_takeover ? "; client_no_context_takeover" : "");
    size_t at = (size_t)n;
    if (o->smwb || s < 15)
        at += (size_t)snprintf(hs->extensions + at, sizeof hs->extensions - at,
                               "; server_max_window_bits=%u", (unsigned)s);
    if (o->cmwb_present)
        snprintf(hs->extensions + at, sizeof hs->extensions - at, "; client_max_window_bits=%u",
                 (unsigned)c);
    return true;
}

static void negotiate_deflate(const struct ob_h1_request *req, const struct ob_ws_server_opts *opts,
                              struct ob_ws_handshake *hs)
{
    for (size_t k = 0; k < req->nheaders; k++) {
        if (!ob_slice_eq_nocase(req->headers[k].name, ob_slice_str("sec-websocket-extensions")))
            continue;
        struct ob_slice v = req->headers[k].value, e;
        struct pmd_offer o;
        while (ob_h1_list_next(&v, &e)) {
            if (!parse_offer(e, &o) || !agree(&o, opts, hs)) continue;
            hs->deflate = true;
            return;
        }
    }
}

int ob_ws_handshake_check(const struct ob_h1_request *req, const struct ob_ws_server_opts *opts,
                          struct ob_ws_handshake *hs)
{
    static const struct ob_ws_server_opts none;
    size_t count;
    memset(hs, 0, sizeof *hs);
    if (!opts) opts = &none;
    if (!ob_slice_eq_str(req->method, "GET")) return refuse(hs, 400, "WebSocket upgrade needs GET");
    if (req->version_minor < 1) return refuse(hs, 400, "WebSocket upgrade needs HTTP/1.1");
    if (!(req->upgrade & OB_H1_UPGRADE_WEBSOCKET))
        return refuse(hs, 426, "not a WebSocket upgrade");
    if (req->body != OB_H1_BODY_NONE) return refuse(hs, 400, "upgrade request with a body");
    const struct ob_header *ver = sole_header(req, "sec-websocket-version", &count);
    if (!ver || !ob_slice_eq_str(ver->value, "13"))
        return refuse(hs, 426, "unsupported WebSocket version");
    const struct ob_header *key = sole_header(req, "sec-websocket-key", &count);
    if (!key || !key_ok(key->value)) return refuse(hs, 400, "invalid Sec-WebSocket-Key");
    ob_ws_accept_key(key->value, hs->accept);
    choose_subprotocol(req, opts, hs);
    if (opts->deflate) negotiate_deflate(req, opts, hs);
    hs->status = 101;
    return 0;
}

void ob_ws_handshake_response(struct ob_buf *out, const struct ob_ws_handshake *hs)
{
    if (hs->status == 101) {
        ob_buf_printf(out,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                      hs->accept);
        if (hs->subprotocol) ob_buf_printf(out, "Sec-WebSocket-Protocol: %s\r\n", hs->subprotocol);
        if (hs->deflate) ob_buf_printf(out, "Sec-WebSocket-Extensions: %s\r\n", hs->extensions);
        ob_buf_append(out, "\r\n", 2);
        return;
    }
    struct ob_header h[2] = {{ob_slice_str("Sec-WebSocket-Version"), ob_slice_str("13")},
                             {ob_slice_str("Upgrade"), ob_slice_str("websocket")}};
    struct ob_h1_response r;
    memset(&r, 0, sizeof r);
    r.status = hs->status;
    r.headers = h;
    r.nheaders = hs->status == 426 ? 2 : 0;
    r.version_minor = 1;
    ob_h1_encode_head(out, &r);
}
