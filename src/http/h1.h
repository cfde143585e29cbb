/*
 * h1.h — HTTP/1.1 request parser and response encoder (RFC 9110, RFC 9112). Pure: bytes
 * in, a parsed request out; no I/O, no globals. The connection code (src/net, the HTTP
 * server) owns the sockets and buffers and drives this.
 *
 * Parsing one request has two phases:
 *
 *  1. The head (request line + header section) with ob_h1_parse_head(). It is zero-copy:
 *     method, target and header names/values are slices into the caller's read buffer.
 *     The head must therefore be contiguous in that buffer, and the caller passes the
 *     whole of it from its first byte on every call; the parser remembers how far it got
 *     (as an offset, never a pointer), so a head split at any byte costs no rescan and
 *     parses exactly as if it had arrived whole. Between calls the buffer may move
 *     (realloc) and grow, as long as the bytes already passed are unchanged.
 *     Once the head is complete the slices point into the buffer passed to that last
 *     call; if the caller moves those bytes afterwards (compacting its read buffer), it
 *     calls ob_h1_parser_rebase() with their new address, and every slice is rebuilt.
 *     The slices stay valid until the caller frees or overwrites those bytes, or calls
 *     ob_h1_parser_reset()/ob_h1_parser_release().
 *
 *  2. The body with ob_h1_parse_body(), streamed: Content-Length or chunked framing is
 *     decoded, and each piece of body comes back as a slice into the buffer of that call
 *     (valid as long as those bytes are). Unlike the head, body bytes need not be kept:
 *     each call reports how many bytes it consumed. Chunked trailers are validated and
 *     bounded, then discarded (RFC 9110 §6.5.1 lets a recipient do so).
 *
 * When the body is complete, the number of bytes consumed tells where the next
 * pipelined request starts; ob_h1_parser_reset() readies the parser for it.
 *
 * Errors: a malformed request or one over a limit makes the parse functions return a
 * negative OB_E* code and set status to the HTTP status to answer (400, 413, 414, 417,
 * 431, 501, 505) and error to a static description. The connection must then be closed
 * after answering: the framing of anything that follows is unknown.
 *
 * Strictness (against request smuggling): lines end in CRLF only (a bare CR or bare LF
 * is a 400), no obs-fold, no whitespace before a colon or before the first header, no
 * NUL or other control character in a value, Content-Length digits only (repeats must
 * agree), Content-Length together with Transfer-Encoding is a 400 (RFC 9112 §6.3), and
 * Transfer-Encoding must end with chunked (400); any other transfer coding is 501.
 */
#ifndef OB_HTTP_H1_H
#define OB_HTTP_H1_H

#include "base/buf.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OB_H1_DEFAULT_MAX_HEAD    (16u * 1024)
#define OB_H1_DEFAULT_MAX_HEADERS 100u
#define OB_H1_DEFAULT_MAX_BODY    (8u * 1024 * 1024)
#define OB_H1_DEFAULT_MAX_TRAILER 4096u
/* Upper bound on max_head: offsets inside the head are kept in 32 bits. */
#define OB_H1_MAX_HEAD_LIMIT (64u * 1024 * 1024)

/* Zero fields take the defaults above. */
struct ob_h1_limits {
    uint32_t max_head;    /* request line + header section, bytes (431; 414 in the line) */
    uint32_t max_headers; /* header field lines (431) */
    uint64_t max_body;    /* decoded body bytes (413) */
    uint32_t max_trailer; /* chunked trailer section, bytes; its field count is bounded
                             by max_headers too (431) */
};

/* How a message body is delimited. */
enum ob_h1_body {
    OB_H1_BODY_NONE = 0, /* no body (no framing header, or Content-Length: 0) */
    OB_H1_BODY_LENGTH,   /* Content-Length bytes */
    OB_H1_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
    OB_H1_BODY_CLOSE,    /* responses only: raw until the connection closes */
};

/* Protocols named in an Upgrade header that Connection: upgrade makes effective. */
enum ob_h1_upgrade {
    OB_H1_UPGRADE_WEBSOCKET = 1,
    OB_H1_UPGRADE_H2C = 2,
    OB_H1_UPGRADE_OTHER = 4,
};

/* A parsed request head. Every slice points into the caller's buffer (see above). */
struct ob_h1_request {
    struct ob_slice method; /* case-sensitive token: "GET", "POST"… */
    struct ob_slice target; /* the request-target as sent */
    /* Split from target, still percent-encoded: path ("/a/b"; "*" for OPTIONS *, empty
     * for an authority-form CONNECT target or an absolute-form one without a path) and
     * query (after '?', without it; empty if none). */
    struct ob_slice path;
    struct ob_slice query;
    uint8_t version_minor;     /* 0 or 1; HTTP/1.2+ is handled as 1.1 (RFC 9110 §2.5) */
    struct ob_header *headers; /* in received order; owned by the parser */
    size_t nheaders;
    enum ob_h1_body body;    /* NONE, LENGTH or CHUNKED */
    uint64_t content_length; /* for OB_H1_BODY_LENGTH */
    bool keep_alive;         /* persistent per version and Connection tokens */
    bool expect_continue;    /* Expect: 100-continue (HTTP/1.1 only) */
    unsigned upgrade;        /* OB_H1_UPGRADE_* bits; 0 unless Connection: upgrade */
    size_t head_len;         /* bytes of the head, leading empty lines included */
};

struct ob_h1_fieldpos; /* private: where a header field line's parts are */

/*
 * Parser state. Embed it (e.g. in a connection); the public fields are the outputs,
 * the rest is private. Owns the header array (grown up to max_headers).
 */
struct ob_h1_parser {
    struct ob_h1_request req; /* valid once ob_h1_parse_head() returned 0 */
    int status;               /* HTTP status to answer after an error, else 0 */
    const char *error;        /* static description of the error, else NULL */

    /* private */
    struct ob_h1_limits lim;
    uint8_t state;
    size_t pos;          /* head bytes examined so far */
    uint32_t line_start; /* request line's first byte (after leading CRLFs) */
    uint32_t method_end, target_start, target_end, version_start;
    uint32_t fstate; /* field-line grammar state */
    uint32_t name_start, name_end, value_start, value_end;
    struct ob_h1_fieldpos *fields; /* offsets of each header field line */
    size_t cap_fields;
    size_t cap_headers;
    uint64_t remaining;  /* body: bytes left in the body or in the current chunk */
    uint64_t received;   /* body: decoded bytes so far */
    uint32_t line_bytes; /* chunked: bytes of the current size line or trailers */
    uint32_t ntrailers;
};

void ob_h1_parser_init(struct ob_h1_parser *p, const struct ob_h1_limits *lim);
/* Readies the parser for the next request on the same connection. */
void ob_h1_parser_reset(struct ob_h1_parser *p);
void ob_h1_parser_release(struct ob_h1_parser *p);

/*
 * Parses the head in buf[0..len) (the request from its first byte; see the contract
 * above). Returns 0 when it is complete: req is filled and the body, if any, starts at
 * buf + req.head_len. OB_EAGAIN: incomplete, call again with more bytes. Otherwise an
 * error: OB_EPROTO (400, 505), OB_ETOOBIG (413, 414, 431), OB_ENOTSUP (417, 501), with
 * status and error set.
 */
int ob_h1_parse_head(struct ob_h1_parser *p, const uint8_t *buf, size_t len);

/* Rebuilds every slice of req after the head's bytes moved to head (its first byte). */
void ob_h1_parser_rebase(struct ob_h1_parser *p, const uint8_t *head);

/*
 * Decodes body bytes from buf[0..len) after a complete head. Sets *consumed to the
 * bytes used, always. Returns 1 with *data set to the next piece of body (a slice of
 * buf); 0 when the body is complete (the next request starts at buf + *consumed);
 * OB_EAGAIN when every byte was consumed without completing a piece; or an error as
 * for ob_h1_parse_head (400 for bad chunk framing, 413 over max_body, 431 for
 * oversized trailers).
 */
int ob_h1_parse_body(struct ob_h1_parser *p, const uint8_t *buf, size_t len, struct ob_slice *data,
                     size_t *consumed);

/* ---- request helpers ----------------------------------------------------------- */

/* The first header with this name (ASCII case-insensitive), or NULL. */
const struct ob_header *ob_h1_header_get(const struct ob_h1_request *r, const char *name);
/* Splits the next element off a comma-separated list (RFC 9110 §5.6.1), trimmed of
 * whitespace; empty elements are skipped. Returns false when the list is exhausted. */
bool ob_h1_list_next(struct ob_slice *list, struct ob_slice *elem);
/* true if some header called name lists token (both ASCII case-insensitive). Only the
 * element's leading token counts, so "websocket" matches "websocket; q=1". */
bool ob_h1_header_has_token(const struct ob_h1_request *r, const char *name, const char *token);
/* true if s is a non-empty RFC 9110 token. */
bool ob_h1_is_token(struct ob_slice s);

/* Decoding options for ob_h1_pct_decode. */
enum ob_h1_pct_flags {
    OB_H1_PCT_PLUS = 1, /* '+' means space (query strings, forms) */
};
/* Decodes %XX escapes of in into out, which has room for in.n bytes and may be in.p
 * itself (decoding never grows). Sets *outlen. OB_EINVAL for a malformed escape or an
 * encoded NUL (%00), which no path or parameter here may contain. */
int ob_h1_pct_decode(struct ob_slice in, uint8_t *out, size_t *outlen, unsigned flags);
/* Splits the next "key=value" pair off a raw query string *q ('&'-separated; empty
 * pairs skipped; no '=' gives an empty value). key and value are still encoded.
 * Returns false when *q is exhausted. */
bool ob_h1_query_next(struct ob_slice *q, struct ob_slice *key, struct ob_slice *value);

/* ---- response encoding --------------------------------------------------------- */

struct ob_h1_response {
    int status;         /* 100..599 */
    const char *reason; /* NULL: the standard phrase for status */
    /* Written as given, in order. Must not contain Content-Length, Transfer-Encoding
     * or (except in a 1xx response) Connection: the encoder writes those. */
    const struct ob_header *headers;
    size_t nheaders;
    enum ob_h1_body body;    /* NONE, LENGTH or CHUNKED */
    uint64_t content_length; /* for OB_H1_BODY_LENGTH */
    uint8_t version_minor;   /* the request's; 0 means an HTTP/1.0 client */
    bool keep_alive;         /* false: Connection: close */
};

/*
 * Appends the status line and header section of r to out. Returns the framing the body
 * must then use: r->body, except OB_H1_BODY_CLOSE when a chunked body goes to an
 * HTTP/1.0 client (which cannot dechunk: write the body raw and close after it).
 * OB_EINVAL, with out unchanged, for a bad status, a header name that is not a token, a
 * value with CR, LF or NUL (response splitting), a framing header among headers, or a
 * body on a 1xx/204/304.
 */
int ob_h1_encode_head(struct ob_buf *out, const struct ob_h1_response *r);
/* The standard reason phrase ("Not Found"), or "Unknown". */
const char *ob_h1_reason(int status);

/* The interim response that answers Expect: 100-continue. */
#define OB_H1_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Chunked body encoding. For writev without copying the payload: the chunk is
 * prefix (ob_h1_chunk_prefix), payload, "\r\n"; the body ends with OB_H1_CHUNK_END. */
#define OB_H1_CHUNK_PREFIX_MAX 18 /* 16 hex digits + CRLF */
#define OB_H1_CHUNK_END        "0\r\n\r\n"
/* Writes "<hex n>\r\n" into prefix; returns its length. n must be > 0. */
size_t ob_h1_chunk_prefix(uint8_t prefix[OB_H1_CHUNK_PREFIX_MAX], uint64_t n);
/* Appends one chunk holding p[0..n); nothing when n == 0 (a zero chunk would end the
 * body). */
void ob_h1_encode_chunk(struct ob_buf *out, const void *p, size_t n);
/* Appends the last chunk (no trailers). */
void ob_h1_encode_chunk_end(struct ob_buf *out);

#endif
