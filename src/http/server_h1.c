/*
 * server_h1.c — HTTP/1.1 connections: reading requests with the h1 parser, the
 * in-order queue that makes pipelining safe, and the deadlines against slow clients.
 *
 * Pipelining: every complete request is dispatched at once (up to MAX_PIPELINE per
 * connection; beyond, reading waits) and joins the connection's queue. Only the head
 * of the queue writes to the socket; output of a later request is held in its own
 * list until every earlier response is complete. So a slow asynchronous handler
 * delays the bytes, never their order.
 *
 * Upgrades (WebSocket, h2c) stop request parsing until the upgrade request's response
 * is out: the bytes after it belong to whichever protocol the answer chose.
 *
 * Errors in a request's framing are answered with the parser's status (400, 413, 414,
 * 431, 501, 505) and Connection: close: what follows cannot be framed.
 */
#include "http/server_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PIPELINE 16

static void enqueue(struct hconn *hc, struct ob_http_req *req)
{
    if (hc->q_tail)
        hc->q_tail->next = req;
    else
        hc->q_head = req;
    hc->q_tail = req;
    hc->nq++;
    hc->nreqs++;
}

/* Answers a framing error with a problem and closes after it; nothing more is read. */
static void h1_error(struct hconn *hc, int status, const char *why)
{
    struct ob_http_req *req = hc->cur;
    hc->cur = NULL;
    if (!req || req->state != RQ_BODY) {
        req = req_new(hc, 11);
        req->method = "GET";
        req->path = "/";
        enqueue(hc, req);
    }
    hc->stop_read = true;
    hc->in_head = false;
    req->keep_alive = false;
    req->expect_continue = false;
    req->state = RQ_HANDLER;
    const char *suffix = status == 413   ? "too-large"
                         : status == 431 ? "headers-too-large"
                         : status == 408 ? "timeout"
                         : status == 414 ? "uri-too-long"
                                         : "bad-request";
    ob_http_problem(req, status, suffix, ob_h1_reason(status), why);
}

/* Copies the parsed head into a new request and queues it. */
static struct ob_http_req *take_head(struct hconn *hc)
{
    const struct ob_h1_request *r = &hc->parser.req;
    struct ob_http_req *req = req_new(hc, r->version_minor ? 11 : 10);
    enqueue(hc, req);
    req->keep_alive = r->keep_alive;
    if (req_set_head(req, r->method, r->path, r->query, r->headers, r->nheaders)) return NULL;
    req->head_only = req->method_id == OB_HTTP_HEAD;
    if (r->upgrade && req->method_id == OB_HTTP_GET) {
        hc->upgrade_wait = true;
        req->upgrade_req = true;
        if (r->upgrade & OB_H1_UPGRADE_WEBSOCKET) {
            req->hs = ob_xcalloc(1, sizeof *req->hs);
            req->upgrade_ws = true;
        } else if ((r->upgrade & OB_H1_UPGRADE_H2C) && r->body == OB_H1_BODY_NONE) {
            const char *s = ob_http_header(req, "http2-settings");
            if (s) req->h2_settings = ob_xstrdup(s);
        }
    }
    if (r->expect_continue && r->body != OB_H1_BODY_NONE) req_out_copy(req, OB_H1_CONTINUE, 25);
    return req;
}

/* Parses the next head from hc->in; returns the bytes it took, 0 if incomplete or
 * failed. */
static size_t parse_head(struct hconn *hc)
{
    if (!hc->in_head) {
        hc->in_head = true;
        hc->head_start = http_now_ms();
    }
    int rc = ob_h1_parse_head(&hc->parser, hc->in.p, hc->in.len);
    if (rc == OB_EAGAIN) return 0;
    if (rc < 0) {
        h1_error(hc, hc->parser.status, hc->parser.error);
        return 0;
    }
    hc->in_head = false;
    size_t used = hc->parser.req.head_len;
    struct ob_http_req *req = take_head(hc);
    if (!req) {
        hc->cur = hc->q_tail;
        h1_error(hc, 400, "bad percent-encoding in the path");
        return 0;
    }
    hc->cur = req;
    return used;
}

/* Reads body bytes into hc->cur; returns bytes used; sets *done at the body's end. */
static size_t read_body(struct hconn *hc, bool *done)
{
    size_t off = 0;
    *done = hc->parser.req.body == OB_H1_BODY_NONE;
    while (!*done) {
        struct ob_slice piece;
        size_t used = 0;
        int rc = ob_h1_parse_body(&hc->parser, hc->in.p + off, hc->in.len - off, &piece, &used);
        off += used;
        if (rc == 1)
            ob_buf_append(&hc->cur->body, piece.p, piece.n);
        else if (rc == 0)
            *done = true;
        else if (rc == OB_EAGAIN)
            break;
        else {
            h1_error(hc, hc->parser.status, hc->parser.error);
            break;
        }
    }
    return off;
}

static bool can_parse(const struct hconn *hc)
{
    return !hc->dead && !hc->stop_read && !hc->upgrade_wait && hc->mode == HC_H1 &&
           (hc->cur || hc->nq < MAX_PIPELINE);
}

void h1_process(struct hconn *hc)
{
    while (can_parse(hc) && hc->in.len) {
        if (!hc->cur) {
            size_t used = parse_head(hc);
            if (!used) break;
            ob_buf_consume(&hc->in, used);
        }
        bool done = false;
        size_t used = read_body(hc, &done);
        ob_buf_consume(&hc->in, used);
        if (!done || !hc->cur) break;
        struct ob_http_req *req = hc->cur;
        hc->cur = NULL;
        ob_h1_parser_reset(&hc->parser);
        if (!req->keep_alive) hc->stop_read = true;
        req_dispatch(req);
    }
}

/* Hands a request's held-back output to the socket. */
static void flush_out(struct hconn *hc, struct ob_http_req *req)
{
    struct outseg *s = req->out;
    req->out = NULL;
    req->out_tail = &req->out;
    req->out_bytes = 0;
    while (s) {
        struct outseg *next = s->next;
        if (hc->c)
            ob_conn_write(hc->c, &s->s, 1, s->release, s->arg);
        else if (s->release)
            s->release(s->arg);
        free(s);
        s = next;
    }
}

/* The head request is complete and written: drop it, switch protocols if it asked. */
static void retire_head(struct hconn *hc, struct ob_http_req *req)
{
    hc->q_head = req->next;
    if (!hc->q_head) hc->q_tail = NULL;
    hc->nq--;
    bool close = !req->keep_alive || req->close_after;
    if (req->upgrade_req) hc->upgrade_wait = false;
    if (req->upgrade_ws && req->status == 101) {
        ws_start(hc, req);
        close = false;
    } else if (req->upgrade_h2 && req->status == 101) {
        req->upgrade_h2 = false;
        if (h2_start(hc, req) == 0) return; /* the request lives on as stream 1 */
        close = true;
    }
    req_free(req);
    if (close && hc->c) {
        hc->stop_read = true;
        ob_conn_close(hc->c, 0);
    }
}

void h1_pump(struct hconn *hc)
{
    struct ob_http_req *req;
    while ((req = hc->q_head)) {
        flush_out(hc, req);
        if (req->state != RQ_DONE || req->in_handler) break;
        retire_head(hc, req);
        if (hc->mode != HC_H1) break;
    }
    if (!hc->q_head) hc->idle_since = http_now_ms();
    if (!hc->dead && (hc->in.len || hc->read_paused)) hc_input(hc);
}

void h1_sweep(struct hconn *hc, int64_t now)
{
    const struct ob_http_options *o = &hc->srv->opt;
    if (hc->dead || !hc->c || hc->stop_read) return;
    if (hc->in_head && o->header_timeout_ms && now - hc->head_start > o->header_timeout_ms) {
        OB_DEBUG("http", "request header timeout", "peer=%s", ob_conn_peer_name(hc->c));
        h1_error(hc, 408, "the request head took too long");
        return;
    }
    if (hc->cur && o->keepalive_timeout_ms && now - hc->last_read > o->keepalive_timeout_ms) {
        h1_error(hc, 408, "the request body stalled");
        return;
    }
    uint64_t idle = hc->nreqs ? o->keepalive_timeout_ms : o->header_timeout_ms;
    if (!hc->q_head && !hc->cur && !hc->in_head && idle && now - hc->idle_since > (int64_t)idle)
        ob_conn_close(hc->c, OB_ETIMEDOUT);
}
