/*
 * ops.c — the operations endpoints (module "ops"): GET /healthz (the loop answers),
 * GET /readyz (started and not shutting down), GET /metrics (Prometheus text format:
 * the counters of http/metrics.h plus stream sizes, consumer lag and the store's fsync
 * latency histogram read from the bus). And module "wsecho": a WebSocket echo at /v1/_echo, mounted
 * only when OB_HTTP_DEBUG_ECHO=1 is set, for interop tests of the WebSocket layer with real
 * clients.
 */
#include "http/metrics.h"
#include "http/modules.h"

#include "base/buf.h"
#include "http/ws.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_bool not_ready;

void ob_http_set_ready(bool ready)
{
    atomic_store(&not_ready, !ready);
}

static int healthz(struct ob_http_req *req, void *arg)
{
    (void)arg;
    return ob_http_respond_text(req, 200, "text/plain; charset=utf-8", "ok\n");
}

static int readyz(struct ob_http_req *req, void *arg)
{
    (void)arg;
    if (atomic_load(&not_ready))
        return ob_http_respond_text(req, 503, "text/plain; charset=utf-8", "shutting down\n");
    return ob_http_respond_text(req, 200, "text/plain; charset=utf-8", "ready\n");
}

struct render {
    struct ob_buf *out;
    const char *stream;
    int what; /* which family is being written */
};

static int render_consumer(void *arg, struct ob_consumer *c)
{
    struct render *r = arg;
    struct ob_consumer_info ci;
    ob_consumer_get_info(c, &ci);
    static const char *const fam[] = {"pending", "ack_pending", "redelivered_total",
                                      "dead_lettered_total"};
    uint64_t v[] = {ci.num_pending, ci.ack_pending, ci.redelivered, ci.dead_lettered};
    ob_buf_printf(r->out, "omnibus_consumer_%s{stream=\"%s\",consumer=\"%s\"} %llu\n", fam[r->what],
                  r->stream, ob_consumer_name(c), (unsigned long long)v[r->what]);
    return 0;
}

static int render_stream(void *arg, struct ob_stream *st)
{
    struct render *r = arg;
    if (r->what >= 4) {
        r->stream = ob_stream_name(st);
        r->what -= 4;
        ob_consumer_foreach(st, render_consumer, r);
        r->what += 4;
        return 0;
    }
    struct ob_stream_info si;
    ob_stream_get_info(st, &si);
    static const char *const fam[] = {"messages", "bytes", "first_seq", "last_seq"};
    uint64_t v[] = {si.msgs, si.bytes, si.first_seq, si.last_seq};
    ob_buf_printf(r->out, "omnibus_stream_%s{stream=\"%s\"} %llu\n", fam[r->what],
                  ob_stream_name(st), (unsigned long long)v[r->what]);
    return 0;
}

static void render_streams(struct ob_bus *bus, struct ob_buf *out)
{
    static const char *const fams[][3] = {
        {"stream_messages", "gauge", "Messages stored in the stream."},
        {"stream_bytes", "gauge", "Bytes stored in the stream."},
        {"stream_first_seq", "gauge", "First stored sequence (0 when empty)."},
        {"stream_last_seq", "gauge", "Last sequence assigned."},
        {"consumer_pending", "gauge", "Messages not yet delivered to the consumer (lag)."},
        {"consumer_ack_pending", "gauge", "Messages delivered and not yet acked."},
        {"consumer_redelivered_total", "counter", "Messages delivered more than once."},
        {"consumer_dead_lettered_total", "counter", "Messages sent to the dead-letter subject."},
    };
    for (int w = 0; w < 8; w++) {
        ob_buf_printf(out, "# HELP omnibus_%s %s\n# TYPE omnibus_%s %s\n", fams[w][0], fams[w][2],
                      fams[w][0], fams[w][1]);
        struct render r = {out, NULL, w};
        ob_stream_foreach(bus, render_stream, &r);
    }
}

/* The store's fsync latency as a Prometheus histogram (cumulative buckets). */
static void render_store(struct ob_bus *bus, struct ob_buf *out)
{
    struct ob_bus_stats st;
    ob_bus_get_stats(bus, &st);
    ob_buf_printf(out, "# HELP omnibus_fsync_duration_seconds Time the store spent in fdatasync.\n"
                       "# TYPE omnibus_fsync_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < OB_STATS_FSYNC_BUCKETS; i++) {
        cum += st.fsync_bucket[i];
        if (st.fsync_bound_ns[i] == UINT64_MAX)
            ob_buf_printf(out, "omnibus_fsync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
        else
            ob_buf_printf(out, "omnibus_fsync_duration_seconds_bucket{le=\"%g\"} %llu\n",
                          (double)st.fsync_bound_ns[i] / 1e9, (unsigned long long)cum);
    }
    ob_buf_printf(out,
                  "omnibus_fsync_duration_seconds_sum %.9f\n"
                  "omnibus_fsync_duration_seconds_count %llu\n"
                  "# HELP omnibus_store_written_bytes_total Bytes the store wrote to its logs.\n"
                  "# TYPE omnibus_store_written_bytes_total counter\n"
                  "omnibus_store_written_bytes_total %llu\n"
                  "# HELP omnibus_store_write_errors_total Failed log writes (ENOSPC, EIO).\n"
                  "# TYPE omnibus_store_write_errors_total counter\n"
                  "omnibus_store_write_errors_total %llu\n",
                  (double)st.fsync_ns_sum / 1e9, (unsigned long long)st.fsyncs,
                  (unsigned long long)st.bytes_written, (unsigned long long)st.write_errors);
}

static int metrics(struct ob_http_req *req, void *arg)
{
    (void)arg;
    struct ob_buf b = OB_BUF_INIT;
    ob_metrics_render(&b);
    if (ob_http_req_bus(req)) {
        render_streams(ob_http_req_bus(req), &b);
        render_store(ob_http_req_bus(req), &b);
    }
    struct ob_header h = {ob_slice_str("Content-Type"),
                          ob_slice_str("text/plain; version=0.0.4; charset=utf-8")};
    struct ob_slice s = {b.p, b.len};
    return ob_http_respond_zc(req, 200, &h, 1, &s, 1, free, b.p);
}

int ob_http_mod_ops(struct ob_http_router *r, const struct ob_proto_host *host)
{
    (void)host;
    int rc = ob_http_route(r, OB_HTTP_GET, "/healthz", OB_HTTP_PUBLIC, healthz, NULL);
    if (!rc) rc = ob_http_route(r, OB_HTTP_GET, "/readyz", OB_HTTP_PUBLIC, readyz, NULL);
    if (!rc) rc = ob_http_route(r, OB_HTTP_GET, "/metrics", 0, metrics, NULL);
    return rc;
}

/* ---- WebSocket echo (debug) ------------------------------------------------------------ */

static void echo_message(struct ob_ws_conn *ws, int opcode, const uint8_t *data, size_t len)
{
    ob_ws_conn_send(ws, opcode, data, len);
}

static void echo_close(struct ob_ws_conn *ws, uint16_t code)
{
    (void)ws, (void)code;
}

static const char *const echo_protocols[] = {"echo"};

int ob_http_mod_wsecho(struct ob_http_router *r, const struct ob_proto_host *host)
{
    (void)host;
    const char *on = getenv("OB_HTTP_DEBUG_ECHO");
    if (!on || strcmp(on, "1") != 0) return 0;
    struct ob_ws_endpoint ep = {.subprotocols = echo_protocols,
                                .nsubprotocols = 1,
                                .deflate = true,
                                .ping_interval_ms = 20000,
                                .on_message = echo_message,
                                .on_close = echo_close};
    return ob_http_ws_route(r, "/v1/_echo", 0, &ep);
}
