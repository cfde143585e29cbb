/*
 * metrics.h — process-wide counters for /metrics (Prometheus text format), so that any
 * protocol adapter can report what the server exposes without knowing HTTP:
 *
 *   ob_metrics_add("mqtt", "in", 1);            messages received from clients
 *   ob_metrics_add("mqtt", "out", n);           messages delivered to clients
 *   ob_metrics_add_bytes("mqtt", "in", bytes);  payload/wire bytes
 *   ob_metrics_conn("mqtt", +1) / (-1)          open connections, on accept / close
 *
 * Protocol and direction names must be string literals (kept by pointer; compared by
 * content). Up to 32 protocols. Counters are atomics: callable from any thread.
 *
 * Owner: the HTTP server layer (metrics.c); callers own nothing here.
 */
#ifndef OB_HTTP_METRICS_H
#define OB_HTTP_METRICS_H

#include "base/buf.h"

#include <stdint.h>

/* dir: "in" (from clients into the bus) or "out" (from the bus to clients). */
void ob_metrics_add(const char *protocol, const char *dir, uint64_t msgs);
void ob_metrics_add_bytes(const char *protocol, const char *dir, uint64_t bytes);
void ob_metrics_conn(const char *protocol, int delta);

/* HTTP requests answered, by status (the server calls it). */
void ob_metrics_http_status(int status);

/* A latency observation in nanoseconds for a named histogram ("fsync"; buckets from
 * 50 µs to 10 s). For stores and adapters that time something worth a histogram. */
void ob_metrics_observe_ns(const char *histogram, int64_t ns);

/* Appends the counters in Prometheus text exposition format (version 0.0.4). */
void ob_metrics_render(struct ob_buf *out);

/* Zeroes everything (tests). */
void ob_metrics_reset(void);

#endif
