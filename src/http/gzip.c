/*
 * gzip.c — gzip content coding (RFC 9110 §8.4.1.3) of full responses with zlib, when
 * the client accepts it (Accept-Encoding lists gzip without q=0), the body is over
 * 1 KiB (below, the header costs more than it saves) and the type compresses (text,
 * JSON, JavaScript, XML). Streams are never compressed: SSE must not be buffered.
 */
#include "http/server_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define GZIP_MIN 1024

static bool accepts_gzip(const struct ob_http_req *req)
{
    const char *ae = ob_http_header(req, "accept-encoding");
    if (!ae) return false;
    struct ob_slice l = ob_slice_str(ae), e;
    while (ob_h1_list_next(&l, &e)) {
        if (e.n < 4 || strncasecmp((const char *)e.p, "gzip", 4)) continue;
        if (e.n == 4 || e.p[4] == ';' || e.p[4] == ' ') {
            const char *q = memchr(e.p, '=', e.n);
            return !(q && strtod(q + 1, NULL) == 0.0);
        }
    }
    return false;
}

static bool compressible(struct ob_slice ct)
{
    char t[96];
    size_t n = ct.n < sizeof t - 1 ? ct.n : sizeof t - 1;
    memcpy(t, ct.p, n);
    t[n] = '\0';
    char *semi = strchr(t, ';');
    if (semi) *semi = '\0';
    return !strncasecmp(t, "text/", 5) || !strcasecmp(t, "application/json") ||
           strstr(t, "+json") || strstr(t, "javascript") || strstr(t, "xml");
}

bool gzip_wanted(const struct ob_http_req *req, const struct ob_header *h, size_t n, size_t len)
{
    if (!req->hc->srv->opt.gzip || len <= GZIP_MIN || !accepts_gzip(req)) return false;
    bool ok = false;
    for (size_t i = 0; i < n; i++) {
        if (ob_slice_eq_nocase(h[i].name, ob_slice_str("content-encoding"))) return false;
        if (ob_slice_eq_nocase(h[i].name, ob_slice_str("content-type")))
            ok = compressible(h[i].value);
    }
    return ok;
}

int gzip_compress(const struct ob_slice *iov, size_t niov, struct ob_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return OB_EIO;
    size_t total = 0;
    for (size_t i = 0; i < niov; i++)
        total += iov[i].n;
    ob_buf_reserve(out, deflateBound(&z, (uLong)total) + 64);
    z.next_out = out->p;
    z.avail_out = (uInt)(out->cap);
    int rc = Z_OK;
    for (size_t i = 0; i < niov && rc == Z_OK; i++) {
        z.next_in = (Bytef *)(uintptr_t)iov[i].p;
        z.avail_in = (uInt)iov[i].n;
        rc = deflate(&z, i + 1 == niov ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    if (!niov) rc = deflate(&z, Z_FINISH);
    out->len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        ob_buf_release(out);
        return OB_EIO;
    }
    return 0;
}
