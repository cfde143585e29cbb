/*
 * protocols.c — the table of protocol adapters built into this server. An adapter
 * (src/proto/<name>/) exports a `const struct ob_protocol` and is listed here; the
 * server starts listeners.<name> only when an adapter of that name is listed.
 * An adapter that also mounts an endpoint on the http listener (MQTT over WebSocket)
 * exports a `struct ob_http_module`, listed in ob_server_http_modules: the http library
 * cannot name adapters that stand on it, so the server registers them at start-up.
 */
#include "server/server.h"
#include "http/server.h"
#include "proto/mqtt/session.h"

#include <stddef.h>

const struct ob_protocol *const ob_server_protocols[] = {
    &ob_echo_protocol,
    &ob_http_protocol,
    &ob_mqtt_protocol,
    NULL,
};

const struct ob_http_module *const ob_server_http_modules[] = {
    &ob_mqtt_ws_module,
    NULL,
};
