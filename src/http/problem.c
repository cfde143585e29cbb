/*
 * problem.c — RFC 9457 problem details (application/problem+json), the one error
 * format of every HTTP module, and the mapping from OB_E* codes to HTTP statuses.
 * Type URIs are stable: OB_HTTP_PROBLEM_BASE + a suffix such as "not-found".
 */
#include "http/server_int.h"

#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>

/* Appends s as a JSON string (quotes included), escaping what JSON requires. */
static void json_str(struct ob_buf *b, const char *s)
{
    ob_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            ob_buf_putc(b, '\\');
            ob_buf_putc(b, *p);
        } else if (*p < 0x20) {
            ob_buf_printf(b, "\\u%04x", *p);
        } else {
            ob_buf_putc(b, *p);
        }
    }
    ob_buf_putc(b, '"');
}

int ob_http_problem_h(struct ob_http_req *req, int status, const struct ob_header *headers,
                      size_t nheaders, const char *type_suffix, const char *title,
                      const char *detail)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_printf(&b, "{\"type\":");
    struct ob_buf type = OB_BUF_INIT;
    ob_buf_printf(&type, "%s%s%c", OB_HTTP_PROBLEM_BASE, type_suffix ? type_suffix : "error", 0);
    json_str(&b, (const char *)type.p);
    ob_buf_release(&type);
    ob_buf_printf(&b, ",\"title\":");
    json_str(&b, title ? title : ob_h1_reason(status));
    ob_buf_printf(&b, ",\"status\":%d", status);
    if (detail) {
        ob_buf_printf(&b, ",\"detail\":");
        json_str(&b, detail);
    }
    ob_buf_printf(&b, ",\"instance\":");
    json_str(&b, req->path);
    ob_buf_printf(&b, "}\n");
    struct ob_header h[16];
    size_t n = 0;
    for (size_t i = 0; i < nheaders && n < 15; i++)
        h[n++] = headers[i];
    h[n].name = ob_slice_str("Content-Type");
    h[n++].value = ob_slice_str("application/problem+json");
    struct ob_slice s = {b.p, b.len};
    return respond_full(req, status, h, n, &s, 1, free, b.p);
}

int ob_http_problem(struct ob_http_req *req, int status, const char *type_suffix, const char *title,
                    const char *detail)
{
    return ob_http_problem_h(req, status, NULL, 0, type_suffix, title, detail);
}

int ob_http_status_for_error(int err)
{
    switch (err) {
    case OB_EINVAL:
    case OB_EBADSUBJECT:
    case OB_EPROTO:
        return 400;
    case OB_EAUTH:
        return 401;
    case OB_EPERM:
        return 403;
    case OB_ENOENT:
        return 404;
    case OB_EEXIST:
    case OB_EOVERLAP:
        return 409;
    case OB_ETOOBIG:
        return 413;
    case OB_ELIMIT:
    case OB_EAGAIN:
        return 429;
    case OB_ENOTSUP:
        return 501;
    case OB_ECLOSED:
    case OB_ENOSPC:
        return 503;
    case OB_ETIMEDOUT:
        return 504;
    default:
        return 500;
    }
}
