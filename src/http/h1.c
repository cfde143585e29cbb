/*
 * h1.c — HTTP/1.1 request parsing (a resumable state machine, picohttpparser/nginx
 * style) and response-head encoding. See h1.h for the buffer contract.
 *
 * The head is scanned once: positions are kept as offsets from the head's first byte,
 * so a call with more bytes (possibly at a new address) resumes where the last one
 * stopped. Only when the empty line ending the header section is seen are the
 * offsets turned into slices and the headers that decide framing and connection
 * handling (Host, Content-Length, Transfer-Encoding, Connection, Upgrade, Expect)
 * examined: the grammar is checked per byte, the semantics per message.
 */
#include "http/h1.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where one header field line's name and value are, as offsets in the head. The value
 * excludes leading and trailing whitespace (RFC 9112 §5.1). */
struct ob_h1_fieldpos {
    uint32_t name, name_end, value, value_end;
};

/* Character classes, one bit each, for the grammar of RFC 9110 §5.6 and RFC 9112. */
enum {
    C_TCHAR = 1,  /* token character */
    C_FVCHAR = 2, /* field-vchar: VCHAR or obs-text (value content besides SP/HTAB) */
    C_TARGET = 4, /* allowed in a request-target: VCHAR except '#' (no fragments) */
    C_WS = 8,     /* SP or HTAB */
    C_HEX = 16,   /* hexadecimal digit */
};

static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  0, 0, 0, 0, 0, 0, /* 00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, 0, 0, /* 10 */
    8,  7,  6,  3,  7,  7,  7,  7,  6,  6,  7, 7, 6, 7, 7, 6, /* 20 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 6, 6, 6, 6, 6, 6, /* 30 */
    6,  23, 23, 23, 23, 23, 23, 7,  7,  7,  7, 7, 7, 7, 7, 7, /* 40 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 6, 6, 6, 7, 7, /* 50 */
    7,  23, 23, 23, 23, 23, 23, 7,  7,  7,  7, 7, 7, 7, 7, 7, /* 60 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 6, 7, 6, 7, 0, /* 70 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 80 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 90 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* a0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* b0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* c0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* d0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* e0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* f0 */
};

/* Parser states: the head, then the body. */
enum {
    S_START,        /* before the request line; empty lines are skipped */
    S_START_LF,     /* CR of an empty line before the request line */
    S_METHOD,       /* in the method token */
    S_TARGET_START, /* after the method's SP */
    S_TARGET,       /* in the request-target */
    S_VERSION,      /* after the target's SP, up to CR */
    S_LINE_LF,      /* CR ending the request line seen */
    S_FIELDS,       /* in the header section (fstate has the detail) */
    B_LENGTH,       /* Content-Length body */
    B_SIZE,         /* chunk-size hex digits */
    B_SIZE_BWS,     /* whitespace after the chunk size, before ';' */
    B_EXT,          /* chunk extensions, ignored up to CR */
    B_SIZE_LF,      /* CR ending the chunk-size line seen */
    B_DATA,         /* chunk data */
    B_DATA_CR,      /* CRLF after chunk data */
    B_DATA_LF,
    B_TRAILERS, /* trailer section (fstate has the detail) */
    B_DONE,     /* request complete */
    S_FAILED,
};

/* Field-line grammar states (RFC 9112 §5), shared by headers and trailers. */
enum { F_LINE, F_NAME, F_OWS, F_VALUE, F_VALUE_LF, F_END_LF };
/* What one byte of a field section produced. */
enum { FS_MORE, FS_FIELD, FS_END, FS_BAD };

/* A chunk-size line (digits and extensions) longer than this is a 400: extensions are
 * ignored, so there is no reason to accept much of them. */
#define MAX_CHUNK_LINE 4096

static int status_error(int status)
{
    switch (status) {
    case 413:
    case 414:
    case 431:
        return OB_ETOOBIG;
    case 417:
    case 501:
        return OB_ENOTSUP;
    default:
        return OB_EPROTO;
    }
}

static int fail(struct ob_h1_parser *p, int status, const char *error)
{
    p->state = S_FAILED;
    p->status = status;
    p->error = error;
    return status_error(status);
}

void ob_h1_parser_init(struct ob_h1_parser *p, const struct ob_h1_limits *lim)
{
    memset(p, 0, sizeof *p);
    if (lim) p->lim = *lim;
    if (!p->lim.max_head) p->lim.max_head = OB_H1_DEFAULT_MAX_HEAD;
    if (p->lim.max_head > OB_H1_MAX_HEAD_LIMIT) p->lim.max_head = OB_H1_MAX_HEAD_LIMIT;
    if (!p->lim.max_headers) p->lim.max_headers = OB_H1_DEFAULT_MAX_HEADERS;
    if (!p->lim.max_body) p->lim.max_body = OB_H1_DEFAULT_MAX_BODY;
    if (!p->lim.max_trailer) p->lim.max_trailer = OB_H1_DEFAULT_MAX_TRAILER;
    p->state = S_START;
}

void ob_h1_parser_reset(struct ob_h1_parser *p)
{
    struct ob_h1_fieldpos *fields = p->fields;
    struct ob_header *headers = p->req.headers;
    size_t cap_fields = p->cap_fields, cap_headers = p->cap_headers;
    struct ob_h1_limits lim = p->lim;
    memset(p, 0, sizeof *p);
    p->lim = lim;
    p->fields = fields;
    p->cap_fields = cap_fields;
    p->req.headers = headers;
    p->cap_headers = cap_headers;
    p->state = S_START;
}

void ob_h1_parser_release(struct ob_h1_parser *p)
{
    free(p->fields);
    free(p->req.headers);
    memset(p, 0, sizeof *p);
    p->state = S_FAILED;
}

/* ---- field lines ----------------------------------------------------------------- */

/* Advances the field-section grammar by one byte at offset pos (meaningful for the
 * head only; trailers pass 0). On FS_BAD, *err says why. */
static int field_step(struct ob_h1_parser *p, uint8_t c, uint32_t pos, const char **err)
{
    switch (p->fstate) {
    case F_LINE:
        if (c == '\r') {
            p->fstate = F_END_LF;
        } else if (cls[c] & C_TCHAR) {
            p->name_start = pos;
            p->fstate = F_NAME;
        } else {
            *err = (cls[c] & C_WS) ? "obsolete line folding" : "invalid header name";
            return FS_BAD;
        }
        return FS_MORE;
    case F_NAME:
        if (cls[c] & C_TCHAR) return FS_MORE;
        if (c != ':') {
            *err = (cls[c] & C_WS) ? "whitespace before colon" : "invalid header name";
            return FS_BAD;
        }
        p->name_end = pos;
        p->fstate = F_OWS;
        return FS_MORE;
    case F_OWS:
        if (cls[c] & C_WS) return FS_MORE;
        p->value_start = p->value_end = pos;
        p->fstate = F_VALUE;
        return field_step(p, c, pos, err); /* this byte is the value's first */
    case F_VALUE:
        if (cls[c] & C_FVCHAR) {
            p->value_end = pos + 1;
        } else if (c == '\r') {
            p->fstate = F_VALUE_LF;
        } else if (!(cls[c] & C_WS)) {
            *err = "invalid character in header value";
            return FS_BAD;
        }
        return FS_MORE;
    case F_VALUE_LF:
        p->fstate = F_LINE;
        if (c == '\n') return FS_FIELD;
        *err = "bare CR in header section";
        return FS_BAD;
    default: /* F_END_LF */
        if (c == '\n') return FS_END;
        *err = "bare CR in header section";
        return FS_BAD;
    }
}

static void push_field(struct ob_h1_parser *p, size_t n)
{
    if (n == p->cap_fields) OB_GROW(p->fields, p->cap_fields, n + 1);
    struct ob_h1_fieldpos *f = &p->fields[n];
    f->name = p->name_start;
    f->name_end = p->name_end;
    f->value = p->value_start;
    f->value_end = p->value_end;
}

/* Scans header field lines from *ip to end. FS_END when the header section is
 * complete (*ip just past it), FS_MORE when more bytes are needed, or an error. */
static int scan_fields(struct ob_h1_parser *p, const uint8_t *buf, size_t *ip, size_t end)
{
    size_t i = *ip;
    while (i < end) {
        /* Fast paths over the long runs: name characters and value characters. */
        if (p->fstate == F_NAME) {
            while (i < end && (cls[buf[i]] & C_TCHAR))
                i++;
            if (i == end) break;
        } else if (p->fstate == F_VALUE) {
            while (i < end && (cls[buf[i]] & C_FVCHAR))
                p->value_end = (uint32_t)++i;
            if (i == end) break;
        }
        const char *err = NULL;
        int r = field_step(p, buf[i], (uint32_t)i, &err);
        i++;
        if (r == FS_BAD) return fail(p, 400, err);
        if (r == FS_END) {
            *ip = i;
            return FS_END;
        }
        if (r == FS_FIELD) {
            if (p->req.nheaders == p->lim.max_headers) return fail(p, 431, "too many headers");
            push_field(p, p->req.nheaders++);
        }
    }
    *ip = i;
    return FS_MORE;
}

/* ---- request line ---------------------------------------------------------------- */

/* Checks "HTTP/x.y" in buf[version_start..end). HTTP/1.x is fine (x > 1 is served as
 * 1.1, RFC 9110 §2.5); another major version is a 505; anything else a 400. */
static int check_version(struct ob_h1_parser *p, const uint8_t *buf, size_t end)
{
    const uint8_t *v = buf + p->version_start;
    if (end - p->version_start != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return fail(p, 400, "invalid HTTP version");
    if (v[5] != '1') return fail(p, 505, "unsupported HTTP version");
    p->req.version_minor = v[7] == '0' ? 0 : 1;
    return 0;
}

/* Scans the method or the target (a run of one character class) up to the SP that
 * ends it; *ip is left at the end of what was scanned. Returns 0 or an error. */
static int line_run(struct ob_h1_parser *p, const uint8_t *buf, size_t *ip, size_t end)
{
    bool method = p->state == S_METHOD;
    uint8_t want = method ? C_TCHAR : C_TARGET;
    size_t i = *ip;
    while (i < end && (cls[buf[i]] & want))
        i++;
    *ip = i;
    if (i == end) return 0;
    if (buf[i] != ' ') return fail(p, 400, method ? "invalid method" : "invalid request target");
    if (method) {
        p->method_end = (uint32_t)i;
        p->state = S_TARGET_START;
    } else {
        p->target_end = (uint32_t)i;
        p->version_start = (uint32_t)i + 1;
        p->state = S_VERSION;
    }
    *ip = i + 1;
    return 0;
}

/* Advances through the request line by one byte, or one run of bytes, at *ip (< end).
 * Returns 0 to continue, or an error. */
static int line_step(struct ob_h1_parser *p, const uint8_t *buf, size_t *ip, size_t end)
{
    size_t i = *ip;
    uint8_t c = buf[i];
    switch (p->state) {
    case S_START:
        if (c == '\r') {
            p->state = S_START_LF;
            break;
        }
        if (!(cls[c] & C_TCHAR)) return fail(p, 400, "invalid method");
        p->line_start = (uint32_t)i;
        p->state = S_METHOD;
        break;
    case S_START_LF:
        if (c != '\n') return fail(p, 400, "bare CR before request line");
        p->state = S_START;
        break;
    case S_METHOD:
    case S_TARGET:
        return line_run(p, buf, ip, end);
    case S_TARGET_START:
        if (!(cls[c] & C_TARGET)) return fail(p, 400, "invalid request target");
        p->target_start = (uint32_t)i;
        p->state = S_TARGET;
        break;
    case S_VERSION:
        if (c != '\r') {
            if (i - p->version_start >= 8) return fail(p, 400, "invalid HTTP version");
            break;
        }
        if (check_version(p, buf, i)) return status_error(p->status);
        p->state = S_LINE_LF;
        break;
    default: /* S_LINE_LF */
        if (c != '\n') return fail(p, 400, "bare CR in request line");
        p->state = S_FIELDS;
        p->fstate = F_LINE;
        break;
    }
    *ip = i + 1;
    return 0;
}

/* ---- target ---------------------------------------------------------------------- */

enum target_form { T_ORIGIN, T_ABSOLUTE, T_ASTERISK, T_AUTHORITY };

/* Length of "scheme://" at the start of t, or 0 if t does not start with one. */
static size_t scheme_len(struct ob_slice t)
{
    size_t i = 0;
    while (i < t.n && ((t.p[i] | 0x20) >= 'a' && (t.p[i] | 0x20) <= 'z'))
        i++;
    if (i == 0) return 0;
    while (i < t.n && (cls[t.p[i]] & C_TCHAR) && t.p[i] != ':')
        i++;
    if (t.n - i < 3 || memcmp(t.p + i, "://", 3) != 0) return 0;
    return i + 3;
}

static enum target_form target_form(struct ob_slice t)
{
    if (t.p[0] == '/') return T_ORIGIN;
    if (t.n == 1 && t.p[0] == '*') return T_ASTERISK;
    if (scheme_len(t)) return T_ABSOLUTE;
    return T_AUTHORITY;
}

/* Sets req.path and req.query from req.target (RFC 9112 §3.2). */
static void split_target(struct ob_h1_request *r)
{
    struct ob_slice t = r->target, rest = t;
    enum target_form form = target_form(t);
    r->query = ob_slice_make(t.p + t.n, 0);
    if (form == T_ASTERISK) {
        r->path = t;
        return;
    }
    if (form == T_AUTHORITY) {
        r->path = ob_slice_make(t.p + t.n, 0);
        return;
    }
    if (form == T_ABSOLUTE) {
        /* Skip scheme://authority; the path starts at the next '/' or '?'. */
        size_t i = scheme_len(t);
        while (i < t.n && t.p[i] != '/' && t.p[i] != '?')
            i++;
        rest = ob_slice_make(t.p + i, t.n - i);
    }
    const uint8_t *q = memchr(rest.p, '?', rest.n);
    if (!q) {
        r->path = rest;
        return;
    }
    r->path = ob_slice_make(rest.p, (size_t)(q - rest.p));
    r->query = ob_slice_make(q + 1, rest.n - r->path.n - 1);
}

/* Turns the recorded offsets into slices of head. */
static void materialize(struct ob_h1_parser *p, const uint8_t *head)
{
    struct ob_h1_request *r = &p->req;
    r->method = ob_slice_make(head + p->line_start, p->method_end - p->line_start);
    r->target = ob_slice_make(head + p->target_start, p->target_end - p->target_start);
    split_target(r);
    if (r->nheaders > p->cap_headers) OB_GROW(r->headers, p->cap_headers, r->nheaders);
    for (size_t k = 0; k < r->nheaders; k++) {
        const struct ob_h1_fieldpos *f = &p->fields[k];
        r->headers[k].name = ob_slice_make(head + f->name, f->name_end - f->name);
        r->headers[k].value = ob_slice_make(head + f->value, f->value_end - f->value);
    }
}

void ob_h1_parser_rebase(struct ob_h1_parser *p, const uint8_t *head)
{
    if (p->state >= B_LENGTH && p->state != S_FAILED) materialize(p, head);
}

/* ---- the headers that matter to framing ------------------------------------------ */

/* What the header section says about framing and connection handling. */
struct facts {
    unsigned hosts;
    bool has_cl, has_te;
    uint64_t cl;
    unsigned te_chunked;  /* how often chunked was listed */
    bool te_last_chunked; /* the final coding is chunked */
    bool te_other;        /* some other coding was listed */
    bool conn_close, conn_keep_alive, conn_upgrade;
    unsigned upgrade;
    bool expect_continue, expect_other;
};

static bool name_is(struct ob_slice name, const char *s)
{
    return ob_slice_eq_nocase(name, ob_slice_str(s));
}

/* The leading token of a list element; *rest gets what follows it, trimmed. */
static struct ob_slice leading_token(struct ob_slice e, struct ob_slice *rest)
{
    size_t i = 0;
    while (i < e.n && (cls[e.p[i]] & C_TCHAR))
        i++;
    size_t j = i;
    while (j < e.n && (cls[e.p[j]] & C_WS))
        j++;
    *rest = ob_slice_make(e.p + j, e.n - j);
    return ob_slice_make(e.p, i);
}

/* Content-Length: 1*DIGIT; repeated values (lines or list elements) must agree. */
static int parse_cl(struct ob_h1_parser *p, struct ob_slice v, struct facts *f)
{
    struct ob_slice e;
    bool any = false;
    while (ob_h1_list_next(&v, &e)) {
        uint64_t n = 0;
        for (size_t i = 0; i < e.n; i++) {
            if (e.p[i] < '0' || e.p[i] > '9') return fail(p, 400, "invalid Content-Length");
            if (n > (UINT64_MAX - 9) / 10) return fail(p, 400, "Content-Length overflow");
            n = n * 10 + (uint64_t)(e.p[i] - '0');
        }
        if (f->has_cl && f->cl != n) return fail(p, 400, "conflicting Content-Length");
        f->has_cl = any = true;
        f->cl = n;
    }
    return any ? 0 : fail(p, 400, "empty Content-Length");
}

/* Transfer-Encoding: a list of codings; chunked may not have parameters. */
static int parse_te(struct ob_h1_parser *p, struct ob_slice v, struct facts *f)
{
    struct ob_slice e, rest;
    bool any = false;
    while (ob_h1_list_next(&v, &e)) {
        struct ob_slice coding = leading_token(e, &rest);
        if (!coding.n || (rest.n && rest.p[0] != ';'))
            return fail(p, 400, "invalid Transfer-Encoding");
        bool chunked = name_is(coding, "chunked");
        if (chunked && rest.n) return fail(p, 400, "chunked with parameters");
        f->te_chunked += chunked;
        f->te_other |= !chunked;
        f->te_last_chunked = chunked;
        any = true;
    }
    f->has_te = true;
    return any ? 0 : fail(p, 400, "empty Transfer-Encoding");
}

static void parse_connection(struct ob_slice v, struct facts *f)
{
    struct ob_slice e;
    while (ob_h1_list_next(&v, &e)) {
        f->conn_close |= name_is(e, "close");
        f->conn_keep_alive |= name_is(e, "keep-alive");
        f->conn_upgrade |= name_is(e, "upgrade");
    }
}

/* Upgrade: protocol names, optionally with "/version". */
static void parse_upgrade(struct ob_slice v, struct facts *f)
{
    struct ob_slice e, rest;
    while (ob_h1_list_next(&v, &e)) {
        struct ob_slice proto = leading_token(e, &rest);
        if (name_is(proto, "websocket") && !rest.n)
            f->upgrade |= OB_H1_UPGRADE_WEBSOCKET;
        else if (name_is(proto, "h2c") && !rest.n)
            f->upgrade |= OB_H1_UPGRADE_H2C;
        else
            f->upgrade |= OB_H1_UPGRADE_OTHER;
    }
}

static void parse_expect(struct ob_slice v, struct facts *f)
{
    struct ob_slice e;
    while (ob_h1_list_next(&v, &e)) {
        if (name_is(e, "100-continue"))
            f->expect_continue = true;
        else
            f->expect_other = true;
    }
}

/* Host: uri-host [":" port], or empty; no userinfo, path, or whitespace. */
static bool host_ok(struct ob_slice v)
{
    for (size_t i = 0; i < v.n; i++) {
        uint8_t c = v.p[i];
        if (!(cls[c] & C_TARGET) || c == '/' || c == '?' || c == '@' || c == '"' || c == '<' ||
            c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
            return false;
    }
    return true;
}

static int collect(struct ob_h1_parser *p, const struct ob_header *h, struct facts *f)
{
    if (name_is(h->name, "host")) {
        f->hosts++;
        return host_ok(h->value) ? 0 : fail(p, 400, "invalid Host");
    }
    if (name_is(h->name, "content-length")) return parse_cl(p, h->value, f);
    if (name_is(h->name, "transfer-encoding")) return parse_te(p, h->value, f);
    if (name_is(h->name, "connection")) parse_connection(h->value, f);
    if (name_is(h->name, "upgrade")) parse_upgrade(h->value, f);
    if (name_is(h->name, "expect")) parse_expect(h->value, f);
    return 0;
}

/* Body framing per RFC 9112 §6.3, refusing every ambiguous case. */
static int decide_body(struct ob_h1_parser *p, const struct facts *f)
{
    struct ob_h1_request *r = &p->req;
    if (f->has_te) {
        if (r->version_minor == 0) return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
        if (f->has_cl) return fail(p, 400, "both Content-Length and Transfer-Encoding");
        if (!f->te_last_chunked || f->te_chunked > 1)
            return fail(p, 400, "chunked is not the final transfer coding");
        if (f->te_other) return fail(p, 501, "unsupported transfer coding");
        r->body = OB_H1_BODY_CHUNKED;
        p->state = B_SIZE;
        return 0;
    }
    if (f->has_cl && f->cl > p->lim.max_body) return fail(p, 413, "body too large");
    r->content_length = f->has_cl ? f->cl : 0;
    r->body = r->content_length ? OB_H1_BODY_LENGTH : OB_H1_BODY_NONE;
    p->remaining = r->content_length;
    p->state = r->body == OB_H1_BODY_LENGTH ? B_LENGTH : B_DONE;
    return 0;
}

/* Checks the finished head as a whole and fills the rest of req. */
static int analyze(struct ob_h1_parser *p, const uint8_t *head)
{
    struct ob_h1_request *r = &p->req;
    materialize(p, head);
    enum target_form form = target_form(r->target);
    bool is_connect = ob_slice_eq_str(r->method, "CONNECT");
    if ((form == T_AUTHORITY) != is_connect ||
        (form == T_ASTERISK && !ob_slice_eq_str(r->method, "OPTIONS")))
        return fail(p, 400, "request target does not fit the method");
    struct facts f;
    memset(&f, 0, sizeof f);
    for (size_t k = 0; k < r->nheaders; k++) {
        int rc = collect(p, &r->headers[k], &f);
        if (rc) return rc;
    }
    if (f.hosts > 1 || (r->version_minor == 1 && f.hosts == 0))
        return fail(p, 400, "missing or repeated Host");
    int rc = decide_body(p, &f);
    if (rc) return rc;
    if (r->version_minor == 1) {
        /* RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored; so is its Upgrade
         * (§7.8), since 1.0 intermediaries cannot be trusted to have removed it. */
        if (f.expect_other) return fail(p, 417, "unsupported expectation");
        r->expect_continue = f.expect_continue;
        r->upgrade = f.conn_upgrade ? f.upgrade : 0;
        r->keep_alive = !f.conn_close;
    } else {
        r->keep_alive = f.conn_keep_alive && !f.conn_close;
    }
    return 0;
}

int ob_h1_parse_head(struct ob_h1_parser *p, const uint8_t *buf, size_t len)
{
    if (p->state == S_FAILED) return status_error(p->status);
    if (p->state >= B_LENGTH) return 0;
    size_t end = len < p->lim.max_head ? len : p->lim.max_head;
    size_t i = p->pos;
    while (i < end) {
        if (p->state != S_FIELDS) {
            int rc = line_step(p, buf, &i, end);
            if (rc) return rc;
            continue;
        }
        int r = scan_fields(p, buf, &i, end);
        if (r == FS_END) {
            p->pos = p->req.head_len = i;
            return analyze(p, buf);
        }
        if (r != FS_MORE) return r;
    }
    p->pos = i;
    if (i < p->lim.max_head) return OB_EAGAIN;
    if (p->state <= S_TARGET) return fail(p, 414, "request line too long");
    return fail(p, 431, "request head too large");
}

/* ---- body ------------------------------------------------------------------------ */

static int hexval(uint8_t c)
{
    if (c <= '9') return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* One byte of a chunk-size line: size [BWS] [; extensions] CRLF (RFC 9112 §7.1). */
static int size_line_step(struct ob_h1_parser *p, uint8_t c)
{
    if (++p->line_bytes > MAX_CHUNK_LINE) return fail(p, 400, "chunk-size line too long");
    switch (p->state) {
    case B_SIZE:
        if (cls[c] & C_HEX) {
            if (p->remaining >> 60) return fail(p, 400, "chunk size overflow");
            p->remaining = (p->remaining << 4) | (uint64_t)hexval(c);
            return 0;
        }
        if (p->line_bytes == 1) return fail(p, 400, "invalid chunk size");
        break;
    case B_SIZE_BWS:
        break;
    default: /* B_EXT: any field-vchar or whitespace up to CR */
        if (c == '\r')
            p->state = B_SIZE_LF;
        else if (!(cls[c] & (C_FVCHAR | C_WS)))
            return fail(p, 400, "invalid chunk extension");
        return 0;
    }
    if (c == '\r' && p->state == B_SIZE)
        p->state = B_SIZE_LF;
    else if (c == ';')
        p->state = B_EXT;
    else if (cls[c] & C_WS)
        p->state = B_SIZE_BWS;
    else
        return fail(p, 400, "invalid chunk size");
    return 0;
}

/* The LF ending a chunk-size line: data follows, or the trailers after the last. */
static int size_line_end(struct ob_h1_parser *p, uint8_t c)
{
    if (c != '\n') return fail(p, 400, "bare CR in chunk size");
    p->line_bytes = 0;
    if (p->remaining == 0) {
        p->state = B_TRAILERS;
        p->fstate = F_LINE;
        return 0;
    }
    if (p->remaining > p->lim.max_body - p->received) return fail(p, 413, "body too large");
    p->state = B_DATA;
    return 0;
}

/* One byte of the trailer section; returns 1 when it (and so the body) ends. */
static int trailer_step(struct ob_h1_parser *p, uint8_t c)
{
    if (++p->line_bytes > p->lim.max_trailer) return fail(p, 431, "trailers too large");
    const char *err = NULL;
    int r = field_step(p, c, 0, &err);
    if (r == FS_BAD) return fail(p, 400, err);
    if (r == FS_FIELD && ++p->ntrailers > p->lim.max_headers)
        return fail(p, 431, "too many trailers");
    if (r != FS_END) return 0;
    p->state = B_DONE;
    return 1;
}

/* One framing byte outside chunk data. Returns 1 when the body is complete. */
static int chunk_framing_step(struct ob_h1_parser *p, uint8_t c)
{
    switch (p->state) {
    case B_SIZE:
    case B_SIZE_BWS:
    case B_EXT:
        return size_line_step(p, c);
    case B_SIZE_LF:
        return size_line_end(p, c);
    case B_DATA_CR:
        if (c != '\r') return fail(p, 400, "missing CRLF after chunk data");
        p->state = B_DATA_LF;
        return 0;
    case B_DATA_LF:
        if (c != '\n') return fail(p, 400, "missing CRLF after chunk data");
        p->state = B_SIZE;
        p->remaining = 0;
        return 0;
    default:
        return trailer_step(p, c);
    }
}

static int parse_chunked(struct ob_h1_parser *p, const uint8_t *buf, size_t len,
                         struct ob_slice *data, size_t *consumed)
{
    size_t i = 0;
    while (i < len) {
        if (p->state == B_DATA) {
            size_t n = p->remaining < len - i ? (size_t)p->remaining : len - i;
            *data = ob_slice_make(buf + i, n);
            p->remaining -= n;
            p->received += n;
            if (!p->remaining) p->state = B_DATA_CR;
            *consumed = i + n;
            return 1;
        }
        int rc = chunk_framing_step(p, buf[i++]);
        if (rc < 0) {
            *consumed = i;
            return rc;
        }
        if (rc == 1) break;
    }
    *consumed = i;
    return p->state == B_DONE ? 0 : OB_EAGAIN;
}

int ob_h1_parse_body(struct ob_h1_parser *p, const uint8_t *buf, size_t len, struct ob_slice *data,
                     size_t *consumed)
{
    *consumed = 0;
    *data = ob_slice_make(buf, 0);
    switch (p->state) {
    case S_FAILED:
        return status_error(p->status);
    case B_DONE:
        return 0;
    case B_LENGTH:
        if (!p->remaining) {
            p->state = B_DONE;
            return 0;
        }
        if (!len) return OB_EAGAIN;
        *data = ob_slice_make(buf, p->remaining < len ? (size_t)p->remaining : len);
        p->remaining -= data->n;
        p->received += data->n;
        *consumed = data->n;
        return 1;
    default:
        if (p->state < B_LENGTH) return OB_EINVAL; /* the head is not complete */
        return parse_chunked(p, buf, len, data, consumed);
    }
}

/* ---- request helpers ------------------------------------------------------------- */

const struct ob_header *ob_h1_header_get(const struct ob_h1_request *r, const char *name)
{
    for (size_t k = 0; k < r->nheaders; k++)
        if (name_is(r->headers[k].name, name)) return &r->headers[k];
    return NULL;
}

static struct ob_slice trim_ws(struct ob_slice s)
{
    while (s.n && (cls[s.p[0]] & C_WS))
        s.p++, s.n--;
    while (s.n && (cls[s.p[s.n - 1]] & C_WS))
        s.n--;
    return s;
}

bool ob_h1_list_next(struct ob_slice *list, struct ob_slice *elem)
{
    while (list->n) {
        const uint8_t *comma = memchr(list->p, ',', list->n);
        size_t n = comma ? (size_t)(comma - list->p) : list->n;
        struct ob_slice e = trim_ws(ob_slice_make(list->p, n));
        size_t skip = comma ? n + 1 : n;
        list->p += skip;
        list->n -= skip;
        if (e.n) {
            *elem = e;
            return true;
        }
    }
    return false;
}

bool ob_h1_header_has_token(const struct ob_h1_request *r, const char *name, const char *token)
{
    for (size_t k = 0; k < r->nheaders; k++) {
        if (!name_is(r->headers[k].name, name)) continue;
        struct ob_slice v = r->headers[k].value, e, rest;
        while (ob_h1_list_next(&v, &e))
            if (name_is(leading_token(e, &rest), token)) return true;
    }
    return false;
}

bool ob_h1_is_token(struct ob_slice s)
{
    if (!s.n) return false;
    for (size_t i = 0; i < s.n; i++)
        if (!(cls[s.p[i]] & C_TCHAR)) return false;
    return true;
}

int ob_h1_pct_decode(struct ob_slice in, uint8_t *out, size_t *outlen, unsigned flags)
{
    size_t o = 0;
    for (size_t i = 0; i < in.n; i++) {
        uint8_t c = in.p[i];
        if (c == '%') {
            if (in.n - i < 3 || !(cls[in.p[i + 1]] & C_HEX) || !(cls[in.p[i + 2]] & C_HEX))
                return OB_EINVAL;
            c = (uint8_t)(hexval(in.p[i + 1]) << 4 | hexval(in.p[i + 2]));
            if (!c) return OB_EINVAL;
            i += 2;
        } else if (c == '+' && (flags & OB_H1_PCT_PLUS)) {
            c = ' ';
        }
        out[o++] = c;
    }
    *outlen = o;
    return 0;
}

bool ob_h1_query_next(struct ob_slice *q, struct ob_slice *key, struct ob_slice *value)
{
    while (q->n) {
        const uint8_t *amp = memchr(q->p, '&', q->n);
        size_t n = amp ? (size_t)(amp - q->p) : q->n;
        struct ob_slice pair = ob_slice_make(q->p, n);
        size_t skip = amp ? n + 1 : n;
        q->p += skip;
        q->n -= skip;
        if (!n) continue;
        const uint8_t *eq = memchr(pair.p, '=', n);
        size_t kn = eq ? (size_t)(eq - pair.p) : n;
        *key = ob_slice_make(pair.p, kn);
        *value = eq ? ob_slice_make(eq + 1, n - kn - 1) : ob_slice_make(pair.p + n, 0);
        return true;
    }
    return false;
}

/* ---- response encoding ----------------------------------------------------------- */

const char *ob_h1_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* true if every byte of s may appear in a field value (or reason phrase). */
static bool value_ok(struct ob_slice s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!(cls[s.p[i]] & (C_FVCHAR | C_WS))) return false;
    return true;
}

static bool headers_ok(const struct ob_h1_response *r)
{
    bool interim = r->status < 200;
    for (size_t k = 0; k < r->nheaders; k++) {
        const struct ob_header *h = &r->headers[k];
        if (!ob_h1_is_token(h->name) || !value_ok(h->value)) return false;
        if (name_is(h->name, "content-length") || name_is(h->name, "transfer-encoding"))
            return false;
        if (!interim && name_is(h->name, "connection")) return false;
    }
    return true;
}

/* The framing the body will use, or OB_EINVAL. */
static int response_framing(const struct ob_h1_response *r)
{
    if (r->status < 100 || r->status > 599) return OB_EINVAL;
    if (r->reason && !value_ok(ob_slice_str(r->reason))) return OB_EINVAL;
    if (!headers_ok(r)) return OB_EINVAL;
    bool bodiless = r->status < 200 || r->status == 204 || r->status == 304;
    switch (r->body) {
    case OB_H1_BODY_NONE:
        return OB_H1_BODY_NONE;
    case OB_H1_BODY_LENGTH:
        return bodiless ? OB_EINVAL : OB_H1_BODY_LENGTH;
    case OB_H1_BODY_CHUNKED:
        if (bodiless) return OB_EINVAL;
        return r->version_minor == 0 ? OB_H1_BODY_CLOSE : OB_H1_BODY_CHUNKED;
    default:
        return OB_EINVAL;
    }
}

static void put_framing(struct ob_buf *out, const struct ob_h1_response *r, int body)
{
    if (r->status < 200) return; /* interim: no framing, no Connection of ours */
    if (body == OB_H1_BODY_LENGTH)
        ob_buf_printf(out, "Content-Length: %" PRIu64 "\r\n", r->content_length);
    else if (body == OB_H1_BODY_CHUNKED)
        ob_buf_append(out, "Transfer-Encoding: chunked\r\n", 28);
    else if (body == OB_H1_BODY_NONE && r->status != 204 && r->status != 304)
        ob_buf_append(out, "Content-Length: 0\r\n", 19);
    if (!r->keep_alive || body == OB_H1_BODY_CLOSE)
        ob_buf_append(out, "Connection: close\r\n", 19);
    else if (r->version_minor == 0)
        ob_buf_append(out, "Connection: keep-alive\r\n", 24);
}

int ob_h1_encode_head(struct ob_buf *out, const struct ob_h1_response *r)
{
    int body = response_framing(r);
    if (body < 0) return body;
    ob_buf_printf(out, "HTTP/1.1 %d %s\r\n", r->status,
                  r->reason ? r->reason : ob_h1_reason(r->status));
    for (size_t k = 0; k < r->nheaders; k++) {
        const struct ob_header *h = &r->headers[k];
        ob_buf_reserve(out, h->name.n + h->value.n + 4);
        ob_buf_append(out, h->name.p, h->name.n);
        ob_buf_append(out, ": ", 2);
        ob_buf_append(out, h->value.p, h->value.n);
        ob_buf_append(out, "\r\n", 2);
    }
    put_framing(out, r, body);
    ob_buf_append(out, "\r\n", 2);
    return body;
}

size_t ob_h1_chunk_prefix(uint8_t prefix[OB_H1_CHUNK_PREFIX_MAX], uint64_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t digits = 1;
    while (digits < 16 && (n >> (4 * digits)))
        digits++;
    for (size_t k = 0; k < digits; k++)
        prefix[k] = (uint8_t)hex[(n >> (4 * (digits - 1 - k))) & 15];
    prefix[digits] = '\r';
    prefix[digits + 1] = '\n';
    return digits + 2;
}

void ob_h1_encode_chunk(struct ob_buf *out, const void *p, size_t n)
{
    if (!n) return;
    uint8_t prefix[OB_H1_CHUNK_PREFIX_MAX];
    size_t k = ob_h1_chunk_prefix(prefix, n);
    ob_buf_reserve(out, k + n + 2);
    ob_buf_append(out, prefix, k);
    ob_buf_append(out, p, n);
    ob_buf_append(out, "\r\n", 2);
}

void ob_h1_encode_chunk_end(struct ob_buf *out)
{
    ob_buf_append(out, OB_H1_CHUNK_END, sizeof OB_H1_CHUNK_END - 1);
}
