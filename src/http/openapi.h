/*
 * openapi.h — the OpenAPI 3.1 document of the HTTP API (docs/openapi.json), compiled in
 * by CMake (gen/openapi_doc.c) and served by the REST module at GET /v1/openapi.json.
 * Owner: the REST API. Static storage; NUL-terminated.
 */
#ifndef OB_HTTP_OPENAPI_H
#define OB_HTTP_OPENAPI_H

#include <stddef.h>

extern const unsigned char ob_openapi_doc[];
extern const size_t ob_openapi_doc_len;

#endif
