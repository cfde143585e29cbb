/*
 * modules.h — THE table of HTTP modules built into omnibus. Every http listener calls
 * each module's init function, in this order, to register its routes (see server.h,
 * "Mounting a module").
 *
 * To add a module: add one line `X(name)` to OB_HTTP_MODULE_LIST below and define
 *     int ob_http_mod_name(struct ob_http_router *r, const struct ob_proto_host *host)
 * in your own file, which includes this header for the prototype. Nothing else.
 *
 * Owner: the HTTP server layer; every module owner may add its one line.
 */
#ifndef OB_HTTP_MODULES_H
#define OB_HTTP_MODULES_H

#include "http/server.h"

/* ops: /healthz, /readyz, /metrics (ops.c). wsecho: /v1/_echo WebSocket echo, mounted
 * only when OB_HTTP_DEBUG_ECHO=1 is in the environment (ops.c; interop tests). */
#define OB_HTTP_MODULE_LIST(X)                                                                     \
    X(ops)                                                                                         \
    X(wsecho)                                                                                      \
    X(rest)                                                                                        \
    X(sse)                                                                                         \
    X(wspubsub)

#define OB_HTTP_MODULE_DECLARE(name)                                                               \
    int ob_http_mod_##name(struct ob_http_router *r, const struct ob_proto_host *host);
OB_HTTP_MODULE_LIST(OB_HTTP_MODULE_DECLARE)
#undef OB_HTTP_MODULE_DECLARE

/* The built-in modules, in list order, terminated by {NULL, NULL}. */
extern const struct ob_http_module ob_http_builtin_modules[];

#endif
