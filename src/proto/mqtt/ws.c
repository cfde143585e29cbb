/*
 * ws.c — MQTT over WebSocket at /mqtt on the HTTP listener (subprotocol "mqtt"): a thin
 * shim from the HTTP layer's WebSocket endpoint (src/http/server.h) to the transport-
 * agnostic connection in session.h. Binary messages carry MQTT bytes in any framing
 * (a message may hold part of a packet or several); every packet we send is one
 * binary message.
 *
 * The module is ob_mqtt_ws_module: the HTTP layer's built-in table (src/http/modules.h)
 * lives in the http library, which cannot link the MQTT library (MQTT stands on HTTP),
 * so the server registers it (src/server/protocols.c) before it starts any listener.
 *
 * Authentication: a CONNECT with a user name or password is checked like over TCP; one
 * without credentials gets the principal the HTTP layer authenticated for the upgrade
 * request (Authorization header, or anonymous per policy for the real peer address).
 */
#include "proto/mqtt/broker.h"

#include "http/server.h"
#include "http/ws.h"

#include <stdlib.h>

struct wsc {
    struct ob_ws_conn *ws;
    struct ob_mqtt_conn *c;
};

static int ws_write(void *ctx, const struct ob_slice *iov, size_t n, ob_release_fn release,
                    void *arg)
{
    struct wsc *w = ctx;
    return ob_ws_conn_send_zc(w->ws, OB_WS_OP_BINARY, iov, n, release, arg);
}

static void ws_close(void *ctx, int status)
{
    struct wsc *w = ctx;
    ob_ws_conn_close(w->ws, status ? 1002 : 1000, NULL);
}

static bool ws_congested(void *ctx)
{
    return ob_ws_conn_congested(((struct wsc *)ctx)->ws);
}

static const struct ob_principal *ws_principal(void *ctx)
{
    return ob_ws_conn_principal(((struct wsc *)ctx)->ws);
}

static const struct ob_mqtt_out ws_out = {
    .write = ws_write,
    .close = ws_close,
    .congested = ws_congested,
    .principal = ws_principal,
};

static void on_open(struct ob_ws_conn *ws, struct ob_http_req *req)
{
    (void)req;
    struct ob_mqtt_broker *b = ob_ws_conn_endpoint_arg(ws);
    struct wsc *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->ws = ws;
    w->c = ob_mqtt_conn_new(b, &ws_out, w);
    ob_ws_conn_set_data(ws, w);
}

static void on_message(struct ob_ws_conn *ws, int opcode, const uint8_t *data, size_t len)
{
    (void)opcode;
    struct wsc *w = ob_ws_conn_data(ws);
    if (w) ob_mqtt_conn_input(w->c, data, len);
}

static void on_writable(struct ob_ws_conn *ws)
{
    struct wsc *w = ob_ws_conn_data(ws);
    if (w) ob_mqtt_conn_writable(w->c);
}

static void on_close(struct ob_ws_conn *ws, uint16_t code)
{
    struct wsc *w = ob_ws_conn_data(ws);
    if (!w) return;
    ob_ws_conn_set_data(ws, NULL);
    ob_mqtt_conn_closed(w->c, code == 1000 ? 0 : OB_ECLOSED);
    free(w);
}

static void release_broker(void *arg)
{
    ob_mqtt_broker_release(arg);
}

static int mod_init(struct ob_http_router *r, const struct ob_proto_host *host)
{
    static const char *const subprotocols[] = {"mqtt"};
    struct ob_mqtt_broker *b = NULL;
    int rc = ob_mqtt_broker_acquire(&b, host);
    if (rc) return rc;
    struct ob_ws_endpoint ep = {
        .subprotocols = subprotocols,
        .nsubprotocols = 1,
        .on_open = on_open,
        .on_message = on_message,
        .on_writable = on_writable,
        .on_close = on_close,
        .arg = b,
    };
    rc = ob_http_ws_route(r, "/mqtt", 0, &ep);
    ob_http_router_on_free(r, release_broker, b);
    return rc;
}

const struct ob_http_module ob_mqtt_ws_module = {"mqtt", mod_init};
