/*
 * server.h — the omnibus server process: owns the configuration, the bus (through the
 * public API only), the authenticator, the network layer and its listeners, and the
 * signal handling (SIGTERM/SIGINT: graceful shutdown; SIGHUP: reload).
 *
 * Start-up: load config -> open the bus on the data dir -> create the predeclared
 * streams -> build the authenticator -> start each enabled listener whose protocol has
 * an adapter in this build (a warning names each that has none) -> log one line with
 * the listeners that are up.
 * Shutdown: /readyz turns 503, WebSocket clients get a 1001 close frame, listeners stop
 * accepting, connections close (queued output flushed for up to 5 s), then ob_bus_close,
 * which flushes and fsyncs.
 * Reload: re-reads the same sources (file, environment, --set, --data-dir) and applies
 * log.*, limits.* (but max_msg_size), auth.* and http.* (but max_header_bytes,
 * max_headers, h2_max_streams); other changed keys are logged as needing a restart.
 *
 * Ownership: ob_server_open copies what it keeps from the source.
 */
#ifndef OB_SERVER_SERVER_H
#define OB_SERVER_SERVER_H

#include "config/config.h"
#include "net/net.h"

struct ob_server;

/* Every protocol adapter in this build, NULL-terminated; listeners.<name> binds to the
 * adapter whose name matches. */
extern const struct ob_protocol *const ob_server_protocols[];
/* HTTP modules of adapters (e.g. MQTT over WebSocket at /mqtt), NULL-terminated;
 * registered with the http layer before any listener starts. */
struct ob_http_module;
extern const struct ob_http_module *const ob_server_http_modules[];

/* Loads the config and starts everything. Config errors go to diag (OB_ECONFIG);
 * start-up errors (a port in use, a data dir that cannot be opened) are logged and
 * returned (OB_EADDRINUSE, OB_EIO...). */
int ob_server_open(struct ob_server **out, const struct ob_config_source *src,
                   struct ob_diag *diag);
/* Runs until SIGTERM/SIGINT (or ob_server_shutdown) has completed the graceful
 * shutdown; returns 0. */
int ob_server_run(struct ob_server *s);
/* Starts the graceful shutdown from inside the loop (what SIGTERM does). */
void ob_server_shutdown(struct ob_server *s);
/* Re-reads the config and applies what can be applied live (what SIGHUP does).
 * OB_ECONFIG (the running config is kept) if the new one is invalid. */
int ob_server_reload(struct ob_server *s);
/* Closes the bus (flush + fsync) and frees everything. */
void ob_server_close(struct ob_server *s);

const struct ob_config *ob_server_config(const struct ob_server *s);
struct ob_bus *ob_server_bus(struct ob_server *s);
/* The bound port of a listener that is up, 0 otherwise. */
uint16_t ob_server_listener_port(const struct ob_server *s, const char *name);

#endif
