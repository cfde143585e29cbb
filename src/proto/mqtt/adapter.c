/*
 * adapter.c — the "mqtt" protocol for the network layer: a thin shim from struct
 * ob_protocol callbacks to the transport-agnostic connection in session.h. The broker
 * is the listener's state (shared by every listener on the same bus).
 */
#include "proto/mqtt/session.h"
#include "http/metrics.h"

static int out_write(void *ctx, const struct ob_slice *iov, size_t n, ob_release_fn release,
                     void *arg)
{
    return ob_conn_write(ctx, iov, n, release, arg);
}

static void out_close(void *ctx, int status)
{
    ob_conn_close(ctx, status);
}

static bool out_congested(void *ctx)
{
    return ob_conn_congested(ctx);
}

static void out_pause(void *ctx)
{
    ob_conn_pause(ctx);
}

static void out_resume(void *ctx)
{
    ob_conn_resume(ctx);
}

static void out_idle(void *ctx, uint64_t ms)
{
    ob_conn_set_idle_timeout(ctx, ms);
}

static const struct sockaddr *out_peer(void *ctx)
{
    return ob_conn_peer(ctx);
}

static const struct ob_mqtt_out tcp_out = {
    .write = out_write,
    .close = out_close,
    .congested = out_congested,
    .pause = out_pause,
    .resume = out_resume,
    .set_idle_timeout = out_idle,
    .peer = out_peer,
};

static int listener_init(void **state, const struct ob_proto_host *host)
{
    struct ob_mqtt_broker *b = NULL;
    int rc = ob_mqtt_broker_acquire(&b, host);
    *state = b;
    return rc;
}

static void listener_free(void *state)
{
    ob_mqtt_broker_release(state);
}

static int on_accept(struct ob_conn *c)
{
    ob_metrics_conn("mqtt", 1);
    ob_conn_set_data(c, ob_mqtt_conn_new(ob_conn_proto_state(c), &tcp_out, c));
    return 0;
}

static void on_data(struct ob_conn *c, const uint8_t *p, size_t n)
{
    ob_mqtt_conn_input(ob_conn_data(c), p, n);
}

static void on_writable(struct ob_conn *c)
{
    ob_mqtt_conn_writable(ob_conn_data(c));
}

static void on_close(struct ob_conn *c, int status)
{
    ob_metrics_conn("mqtt", -1);
    ob_mqtt_conn_closed(ob_conn_data(c), status);
}

const struct ob_protocol ob_mqtt_protocol = {
    .name = "mqtt",
    .listener_init = listener_init,
    .listener_free = listener_free,
    .on_accept = on_accept,
    .on_data = on_data,
    .on_writable = on_writable,
    .on_close = on_close,
};
