/*
 * wsconn.c — WebSocket connections (RFC 6455) on top of the codec in ws.c: the upgrade
 * (handshake check, the endpoint's own check, 101), then whole messages in and out.
 *
 * What the layer does so endpoints never have to: reassembly and control frames
 * between fragments (ws.c's reader), answering pings, optional server pings with a
 * pong deadline, the close handshake (echo the peer's code; when we close first, wait
 * up to CLOSE_WAIT_MS for the answer), failing the connection with the right code
 * (1002 framing and masking, 1007 invalid UTF-8, 1009 too big), and
 * permessage-deflate (RFC 7692) with zlib: raw deflate, the 00 00 FF FF tail stripped
 * on send and restored on receive, the inflated size bounded by max_message too (a
 * small compressed frame must not inflate into a huge one).
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "base/log.h"
#include "core/auth.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CLOSE_WAIT_MS 5000

struct ob_ws_conn {
    struct hconn *hc;
    const struct ob_ws_endpoint *ep;
    struct ob_ws_reader rd;
    bool deflate;
    struct ob_ws_deflate pmd;
    z_stream inf, def;
    struct ob_buf infl;
    const char *subprotocol;
    struct ob_principal *principal;
    void *data;
    uint64_t max_message;
    int64_t last_seen, ping_sent, close_deadline;
    bool close_sent, notified;
};

/* ---- sending ---------------------------------------------------------------------------- */

/* Deflates a message into out (RFC 7692 §7.2.1: sync flush, tail removed). */
static int compress_msg(struct ob_ws_conn *ws, const struct ob_slice *iov, size_t niov,
                        struct ob_buf *out)
{
    z_stream *z = &ws->def;
    for (size_t i = 0; i < niov; i++) {
        z->next_in = (Bytef *)(uintptr_t)iov[i].p;
        z->avail_in = (uInt)iov[i].n;
        int flush = i + 1 == niov ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            ob_buf_reserve(out, 4096 + z->avail_in / 2);
            z->next_out = out->p + out->len;
            z->avail_out = (uInt)(out->cap - out->len);
            int rc = deflate(z, flush);
            out->len = out->cap - z->avail_out;
            if (rc != Z_OK && rc != Z_BUF_ERROR) return OB_EIO;
        } while (z->avail_in || z->avail_out == 0);
    }
    if (!niov) {
        z->avail_in = 0;
        ob_buf_reserve(out, 16);
        z->next_out = out->p;
        z->avail_out = (uInt)out->cap;
        deflate(z, Z_SYNC_FLUSH);
        out->len = out->cap - z->avail_out;
    }
    if (out->len >= 4) out->len -= 4;
    if (ws->pmd.server_no_context_takeover) deflateReset(z);
    return 0;
}

struct frame {
    uint8_t hdr[OB_WS_HEADER_MAX];
    ob_release_fn release;
    void *arg;
};

static void frame_release(void *p)
{
    struct frame *f = p;
    if (f->release) f->release(f->arg);
    free(f);
}

/* Writes one frame: header + iov (borrowed until release). */
static int write_frame(struct ob_ws_conn *ws, unsigned opcode, unsigned flags,
                       const struct ob_slice *iov, size_t niov, ob_release_fn release, void *arg)
{
    struct hconn *hc = ws->hc;
    if (!hc->c || niov > 62) {
        if (release) release(arg);
        return OB_ECLOSED;
    }
    uint64_t len = 0;
    for (size_t i = 0; i < niov; i++)
        len += iov[i].n;
    struct frame *f = ob_xmalloc(sizeof *f);
    f->release = release;
    f->arg = arg;
    struct ob_slice v[64];
    v[0] = ob_slice_make(f->hdr, ob_ws_encode_header(f->hdr, opcode, flags, len, NULL));
    memcpy(v + 1, iov, niov * sizeof *iov);
    hc_enter(hc);
    int rc = ob_conn_write(hc->c, v, niov + 1, frame_release, f);
    hc_leave(hc);
    return rc;
}

static bool is_data(int opcode)
{
    return opcode == OB_WS_OP_TEXT || opcode == OB_WS_OP_BINARY;
}

int ob_ws_conn_send_zc(struct ob_ws_conn *ws, int opcode, const struct ob_slice *iov, size_t niov,
                       ob_release_fn release, void *arg)
{
    if (!is_data(opcode) || ws->close_sent || ws->notified || !ws->hc->c) {
        if (release) release(arg);
        return is_data(opcode) ? OB_ECLOSED : OB_EINVAL;
    }
    if (!ws->deflate) return write_frame(ws, (unsigned)opcode, OB_WS_FIN, iov, niov, release, arg);
    struct ob_buf z = OB_BUF_INIT;
    int rc = compress_msg(ws, iov, niov, &z);
    if (release) release(arg);
    if (rc) {
        ob_buf_release(&z);
        return rc;
    }
    struct ob_slice s = {z.p, z.len};
    return write_frame(ws, (unsigned)opcode, OB_WS_FIN | OB_WS_RSV1, &s, 1, free, z.p);
}

int ob_ws_conn_send(struct ob_ws_conn *ws, int opcode, const void *data, size_t len)
{
    void *copy = len ? ob_xmemdup(data, len) : NULL;
    struct ob_slice s = {copy, len};
    return ob_ws_conn_send_zc(ws, opcode, &s, 1, free, copy);
}

static void send_control(struct ob_ws_conn *ws, unsigned opcode, const void *p, size_t n)
{
    void *copy = n ? ob_xmemdup(p, n) : NULL;
    struct ob_slice s = {copy, n};
    write_frame(ws, opcode, OB_WS_FIN, &s, 1, free, copy);
}

static void send_close(struct ob_ws_conn *ws, uint16_t code, const char *reason)
{
    if (ws->close_sent) return;
    ws->close_sent = true;
    struct ob_buf b = OB_BUF_INIT;
    size_t rn = reason ? strlen(reason) : 0;
    if (rn > 123) rn = 123;
    if (ob_ws_encode_close(&b, code, reason, rn, NULL) < 0) {
        b.len = 0;
        ob_ws_encode_close(&b, code == OB_WS_CLOSE_NO_STATUS ? 0 : OB_WS_CLOSE_NORMAL, NULL, 0,
                           NULL);
    }
    struct ob_slice s = {b.p, b.len};
    if (ws->hc->c) {
        hc_enter(ws->hc);
        ob_conn_write(ws->hc->c, &s, 1, free, b.p);
        hc_leave(ws->hc);
    } else {
        ob_buf_release(&b);
    }
}

/* The endpoint hears about the end once. */
static void notify(struct ob_ws_conn *ws, uint16_t code)
{
    if (ws->notified) return;
    ws->notified = true;
    if (ws->ep->on_close) ws->ep->on_close(ws, code);
}

/* Fails the connection: our close frame with code, then the TCP close. */
static void fail(struct ob_ws_conn *ws, uint16_t code, const char *why)
{
    OB_DEBUG("http", "websocket failed", "code=%u reason=\"%s\"", code, why ? why : "");
    send_close(ws, code, why);
    if (ws->hc->c) ob_conn_close(ws->hc->c, OB_EPROTO);
    notify(ws, code);
}

void ob_ws_conn_close(struct ob_ws_conn *ws, uint16_t code, const char *reason)
{
    if (ws->close_sent || ws->notified) return;
    send_close(ws, code, reason);
    ws->close_deadline = http_now_ms() + CLOSE_WAIT_MS;
}

/* ---- receiving -------------------------------------------------------------------------- */

static int inflate_msg(struct ob_ws_conn *ws, struct ob_slice in)
{
    static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
    z_stream *z = &ws->inf;
    ws->infl.len = 0;
    for (int part = 0; part < 2; part++) {
        z->next_in = (Bytef *)(uintptr_t)(part ? tail : in.p);
        z->avail_in = (uInt)(part ? 4 : in.n);
        while (z->avail_in || z->avail_out == 0) {
            ob_buf_reserve(&ws->infl, 16384);
            z->next_out = ws->infl.p + ws->infl.len;
            z->avail_out = (uInt)(ws->infl.cap - ws->infl.len);
            int rc = inflate(z, Z_SYNC_FLUSH);
            ws->infl.len = ws->infl.cap - z->avail_out;
            if (rc != Z_OK && rc != Z_BUF_ERROR) return OB_EPROTO;
            if (ws->infl.len > ws->max_message) return OB_ETOOBIG;
            if (rc == Z_BUF_ERROR && z->avail_out) break;
        }
    }
    return 0;
}

static void on_data_message(struct ob_ws_conn *ws, const struct ob_ws_message *m)
{
    struct ob_slice p = m->payload;
    if (m->compressed) {
        int rc = ws->deflate ? inflate_msg(ws, p) : OB_EPROTO;
        if (rc) {
            fail(ws, rc == OB_ETOOBIG ? OB_WS_CLOSE_TOO_BIG : OB_WS_CLOSE_PROTOCOL,
                 rc == OB_ETOOBIG ? "message too big" : "bad deflate data");
            return;
        }
        p = ob_slice_make(ws->infl.p, ws->infl.len);
        if (m->opcode == OB_WS_OP_TEXT && !ob_utf8_valid(p.p, p.n)) {
            fail(ws, OB_WS_CLOSE_INVALID_DATA, "text is not UTF-8");
            return;
        }
    }
    if (ws->close_sent) return; /* closing: data after our close frame is dropped */
    ws->ep->on_message(ws, m->opcode, p.p, p.n);
}

static void on_close_frame(struct ob_ws_conn *ws, const struct ob_ws_message *m)
{
    uint16_t code = m->close_code;
    if (!ws->close_sent) {
        /* Echo the peer's code (RFC 6455 §5.5.1); none received, none sent. */
        send_close(ws, code == OB_WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    }
    if (ws->hc->c) ob_conn_close(ws->hc->c, 0);
    notify(ws, code);
}

static void on_message(struct ob_ws_conn *ws, const struct ob_ws_message *m)
{
    ws->last_seen = http_now_ms();
    ws->ping_sent = 0;
    switch (m->opcode) {
    case OB_WS_OP_TEXT:
    case OB_WS_OP_BINARY:
        on_data_message(ws, m);
        break;
    case OB_WS_OP_PING:
        if (!ws->close_sent) send_control(ws, OB_WS_OP_PONG, m->payload.p, m->payload.n);
        break;
    case OB_WS_OP_CLOSE:
        on_close_frame(ws, m);
        break;
    default: /* PONG: liveness only */
        break;
    }
}

void ws_process(struct hconn *hc)
{
    struct ob_ws_conn *ws = hc->ws;
    size_t off = 0;
    while (off < hc->in.len && !hc->dead && hc->c && !ws->notified) {
        struct ob_ws_message m;
        size_t used = 0;
        int rc = ob_ws_read(&ws->rd, hc->in.p + off, hc->in.len - off, &m, &used);
        off += used;
        if (rc == OB_EAGAIN) break;
        if (rc < 0) {
            fail(ws, ws->rd.parser.close_code, ws->rd.parser.error);
            break;
        }
        on_message(ws, &m);
    }
    if (ws->notified)
        hc->in.len = 0;
    else
        ob_buf_consume(&hc->in, off);
}

/* ---- life ------------------------------------------------------------------------------- */

void ws_sweep(struct hconn *hc, int64_t now)
{
    struct ob_ws_conn *ws = hc->ws;
    if (!hc->c || ws->notified) return;
    if (ws->close_sent) {
        if (ws->close_deadline && now > ws->close_deadline) ob_conn_abort(hc->c, OB_ETIMEDOUT);
        return;
    }
    uint32_t iv = ws->ep->ping_interval_ms;
    if (!iv) return;
    uint32_t timeout = ws->ep->pong_timeout_ms ? ws->ep->pong_timeout_ms : 2 * iv;
    if (ws->ping_sent && now - ws->ping_sent > timeout) {
        fail(ws, OB_WS_CLOSE_GOING_AWAY, "ping timeout");
        if (hc->c) ob_conn_abort(hc->c, OB_ETIMEDOUT); /* a silent peer reads nothing */
    } else if (!ws->ping_sent && now - ws->last_seen > iv) {
        ws->ping_sent = now;
        send_control(ws, OB_WS_OP_PING, "omnibus", 7);
    }
}

void ws_writable(struct hconn *hc)
{
    struct ob_ws_conn *ws = hc->ws;
    if (ws && !ws->notified && ws->ep->on_writable) ws->ep->on_writable(ws);
}

void ws_going_away(struct hconn *hc)
{
    struct ob_ws_conn *ws = hc->ws;
    if (!ws || ws->notified || ws->close_sent || !hc->c) return;
    hc_enter(hc);
    send_close(ws, OB_WS_CLOSE_GOING_AWAY, "server shutting down");
    /* The endpoint hears it now, while the server is still whole: the peer's answer
     * would arrive after the net layer stopped reading. */
    notify(ws, OB_WS_CLOSE_GOING_AWAY);
    if (hc->c) ob_conn_close(hc->c, 0);
    hc_leave(hc);
}

void ws_on_close(struct hconn *hc)
{
    struct ob_ws_conn *ws = hc->ws;
    if (!ws) return;
    notify(ws, OB_WS_CLOSE_ABNORMAL);
    ob_ws_reader_release(&ws->rd);
    if (ws->deflate) {
        inflateEnd(&ws->inf);
        deflateEnd(&ws->def);
    }
    ob_buf_release(&ws->infl);
    if (ws->principal) ob_principal_free(ws->principal);
    free(ws);
    hc->ws = NULL;
}

static void init_deflate(struct ob_ws_conn *ws)
{
    int bits = ws->pmd.server_max_window_bits ? ws->pmd.server_max_window_bits : 15;
    if (bits < 9) bits = 9; /* zlib's raw deflate has no 256-byte window */
    deflateInit2(&ws->def, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
    inflateInit2(&ws->inf, -15); /* a 32 KiB window reads any smaller one */
}

/* The upgrade request's 101 is out: the connection now speaks WebSocket. */
void ws_start(struct hconn *hc, struct ob_http_req *req)
{
    struct ob_ws_conn *ws = ob_xcalloc(1, sizeof *ws);
    ws->hc = hc;
    ws->ep = req->m.route->ws;
    ws->subprotocol = req->hs->subprotocol;
    ws->deflate = req->hs->deflate;
    ws->pmd = req->hs->pmd;
    ws->principal = req->principal;
    req->principal = NULL;
    ws->max_message = ws->ep->max_message ? ws->ep->max_message : http_max_body(hc->srv);
    ws->last_seen = http_now_ms();
    struct ob_ws_config cfg = {OB_WS_SERVER, ws->deflate, ws->max_message};
    ob_ws_reader_init(&ws->rd, &cfg);
    if (ws->deflate) init_deflate(ws);
    hc->ws = ws;
    hc->mode = HC_WS;
    if (ws->ep->on_open) ws->ep->on_open(ws, req);
}

/* The route handler of a WebSocket endpoint: checks the upgrade and answers 101. */
int ws_upgrade_handler(struct ob_http_req *req, void *arg)
{
    const struct ob_ws_endpoint *ep = arg;
    static const struct ob_header h426[2] = {
        {{(const uint8_t *)"Upgrade", 7}, {(const uint8_t *)"websocket", 9}},
        {{(const uint8_t *)"Sec-WebSocket-Version", 21}, {(const uint8_t *)"13", 2}}};
    if (!req->hs || req->version != 11)
        return ob_http_problem_h(req, 426, h426, 2, "upgrade-required", "Upgrade Required",
                                 "this endpoint speaks WebSocket (HTTP/1.1 upgrade)");
    struct ob_h1_request r = {.method = ob_slice_str(req->method),
                              .version_minor = 1,
                              .headers = req->headers,
                              .nheaders = req->nheaders,
                              .body = req->body.len ? OB_H1_BODY_LENGTH : OB_H1_BODY_NONE,
                              .upgrade = OB_H1_UPGRADE_WEBSOCKET};
    struct ob_ws_server_opts o = {.subprotocols = ep->subprotocols,
                                  .nsubprotocols = ep->nsubprotocols,
                                  .deflate = ep->deflate};
    if (ob_ws_handshake_check(&r, &o, req->hs) != 0) {
        int st = req->hs->status;
        return ob_http_problem_h(req, st, h426, st == 426 ? 2 : 0, "websocket-handshake",
                                 ob_h1_reason(st), req->hs->error);
    }
    if (ep->require_subprotocol && ep->nsubprotocols && !req->hs->subprotocol)
        return ob_http_problem(req, 400, "websocket-subprotocol", "Bad Request",
                               "no supported subprotocol offered");
    if (ep->on_request && ep->on_request(req, ep->arg) != 0) {
        if (req->state == RQ_HANDLER)
            ob_http_problem(req, 403, "forbidden", "Forbidden", "upgrade refused");
        return OB_HTTP_DONE;
    }
    struct ob_buf b = OB_BUF_INIT;
    ob_ws_handshake_response(&b, req->hs);
    struct ob_slice s = {b.p, b.len};
    req_out(req, &s, 1, free, b.p);
    req->status = 101;
    req->state = RQ_DONE;
    return OB_HTTP_DONE;
}

/* ---- accessors -------------------------------------------------------------------------- */

void *ob_ws_conn_data(const struct ob_ws_conn *ws)
{
    return ws->data;
}

void ob_ws_conn_set_data(struct ob_ws_conn *ws, void *data)
{
    ws->data = data;
}

void *ob_ws_conn_endpoint_arg(const struct ob_ws_conn *ws)
{
    return ws->ep->arg;
}

const char *ob_ws_conn_subprotocol(const struct ob_ws_conn *ws)
{
    return ws->subprotocol;
}

const struct ob_principal *ob_ws_conn_principal(const struct ob_ws_conn *ws)
{
    return ws->principal;
}

const struct ob_proto_host *ob_ws_conn_host(const struct ob_ws_conn *ws)
{
    return ws->hc->srv->host;
}

const char *ob_ws_conn_peer_name(const struct ob_ws_conn *ws)
{
    return ws->hc->c ? ob_conn_peer_name(ws->hc->c) : "?";
}

uint64_t ob_ws_conn_id(const struct ob_ws_conn *ws)
{
    return ws->hc->c ? ob_conn_id(ws->hc->c) : 0;
}

size_t ob_ws_conn_queued(const struct ob_ws_conn *ws)
{
    return ws->hc->c ? ob_conn_queued_bytes(ws->hc->c) : 0;
}

bool ob_ws_conn_congested(const struct ob_ws_conn *ws)
{
    return !ws->hc->c || ob_conn_congested(ws->hc->c);
}
