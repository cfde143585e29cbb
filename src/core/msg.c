/* msg.c — creating, sharing and (de)serializing immutable messages. */
#include "core/msg.h"

#include "base/alloc.h"
#include "base/clock.h"

#include <stdlib.h>
#include <string.h>

/* Total bytes of variable data, or SIZE_MAX if over the limit. */
static size_t data_size(const struct ob_msg_init *in)
{
    size_t n = in->subject.n + in->key.n + in->payload.n;
    for (size_t i = 0; i < in->nheaders; i++) {
        n += in->headers[i].name.n + in->headers[i].value.n;
        if (in->headers[i].name.n > UINT16_MAX) return SIZE_MAX;
    }
    return n > OB_MSG_MAX_TOTAL ? SIZE_MAX : n;
}

static struct ob_slice copy_in(uint8_t **cursor, struct ob_slice s)
{
    struct ob_slice out = {*cursor, s.n};
    if (s.n) memcpy(*cursor, s.p, s.n);
    *cursor += s.n;
    return out;
}

int ob_msg_new(struct ob_msg **out, const struct ob_msg_init *in)
{
    if (!ob_subject_valid(in->subject)) return OB_EBADSUBJECT;
    if (in->nheaders > OB_MSG_MAX_HEADERS) return OB_ETOOBIG;
    size_t data = data_size(in);
    if (data == SIZE_MAX || in->subject.n > UINT16_MAX) return OB_ETOOBIG;
    size_t hdrs = in->nheaders * sizeof(struct ob_header);
    struct ob_msg *m = ob_xmalloc(sizeof *m + hdrs + data);
    atomic_init(&m->refs, 1);
    m->ts = in->timestamp_ns ? in->timestamp_ns : ob_wall_ns();
    m->nheaders = in->nheaders;
    uint8_t *cur = (uint8_t *)m->headers + hdrs;
    m->subject = copy_in(&cur, in->subject);
    for (size_t i = 0; i < in->nheaders; i++) {
        m->headers[i].name = copy_in(&cur, in->headers[i].name);
        m->headers[i].value = copy_in(&cur, in->headers[i].value);
    }
    m->key = copy_in(&cur, in->key);
    m->payload = copy_in(&cur, in->payload);
    *out = m;
    return 0;
}

int ob_msg_new_simple(struct ob_msg **out, const char *subject, const void *payload, size_t n)
{
    struct ob_msg_init in = {.subject = ob_slice_str(subject),
                             .payload = ob_slice_make(payload, n)};
    return ob_msg_new(out, &in);
}

struct ob_msg *ob_msg_ref(struct ob_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void ob_msg_unref(struct ob_msg *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) free(m);
}

struct ob_slice ob_msg_subject(const struct ob_msg *m)
{
    return m->subject;
}
struct ob_slice ob_msg_payload(const struct ob_msg *m)
{
    return m->payload;
}
struct ob_slice ob_msg_key(const struct ob_msg *m)
{
    return m->key;
}
int64_t ob_msg_timestamp(const struct ob_msg *m)
{
    return m->ts;
}
size_t ob_msg_header_count(const struct ob_msg *m)
{
    return m->nheaders;
}

const struct ob_header *ob_msg_header_at(const struct ob_msg *m, size_t i)
{
    return i < m->nheaders ? &m->headers[i] : NULL;
}

const struct ob_header *ob_msg_header_get(const struct ob_msg *m, const char *name)
{
    struct ob_slice n = ob_slice_str(name);
    for (size_t i = 0; i < m->nheaders; i++)
        if (ob_slice_eq_nocase(m->headers[i].name, n)) return &m->headers[i];
    return NULL;
}

size_t ob_msg_size(const struct ob_msg *m)
{
    size_t n = m->subject.n + m->key.n + m->payload.n;
    for (size_t i = 0; i < m->nheaders; i++)
        n += m->headers[i].name.n + m->headers[i].value.n;
    return n;
}

void ob_msg_encode(struct ob_buf *out, const struct ob_msg *m)
{
    ob_buf_reserve(out, 16 + ob_msg_size(m) + m->nheaders * 6);
    ob_buf_put_u16le(out, (uint16_t)m->subject.n);
    ob_buf_append(out, m->subject.p, m->subject.n);
    ob_buf_put_u16le(out, (uint16_t)m->nheaders);
    for (size_t i = 0; i < m->nheaders; i++) {
        ob_buf_put_u16le(out, (uint16_t)m->headers[i].name.n);
        ob_buf_append(out, m->headers[i].name.p, m->headers[i].name.n);
        ob_buf_put_u32le(out, (uint32_t)m->headers[i].value.n);
        ob_buf_append(out, m->headers[i].value.p, m->headers[i].value.n);
    }
    ob_buf_put_u32le(out, (uint32_t)m->key.n);
    ob_buf_append(out, m->key.p, m->key.n);
    ob_buf_put_u32le(out, (uint32_t)m->payload.n);
    ob_buf_append(out, m->payload.p, m->payload.n);
}

/* A bounds-checked reader over an encoded body. */
struct reader {
    const uint8_t *p;
    size_t n;
    int bad;
};

static uint32_t take_uint(struct reader *r, size_t width)
{
    if (r->bad || r->n < width) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = width == 2 ? ob_get_u16le(r->p) : ob_get_u32le(r->p);
    r->p += width;
    r->n -= width;
    return v;
}

static struct ob_slice take_bytes(struct reader *r, size_t len)
{
    struct ob_slice s = {NULL, 0};
    if (r->bad || r->n < len) {
        r->bad = 1;
        return s;
    }
    s.p = r->p;
    s.n = len;
    r->p += len;
    r->n -= len;
    return s;
}

int ob_msg_decode(struct ob_slice body, int64_t ts, struct ob_msg **out)
{
    struct reader r = {body.p, body.n, 0};
    struct ob_msg_init in = {.timestamp_ns = ts ? ts : 1};
    in.subject = take_bytes(&r, take_uint(&r, 2));
    in.nheaders = take_uint(&r, 2);
    if (r.bad || in.nheaders > OB_MSG_MAX_HEADERS) return OB_ECORRUPT;
    struct ob_header *h = ob_xcalloc(in.nheaders, sizeof *h);
    for (size_t i = 0; i < in.nheaders; i++) {
        h[i].name = take_bytes(&r, take_uint(&r, 2));
        h[i].value = take_bytes(&r, take_uint(&r, 4));
    }
    in.headers = h;
    in.key = take_bytes(&r, take_uint(&r, 4));
    in.payload = take_bytes(&r, take_uint(&r, 4));
    int rc = (r.bad || r.n) ? OB_ECORRUPT : ob_msg_new(out, &in);
    free(h);
    return rc == OB_ETOOBIG ? OB_ECORRUPT : rc;
}
