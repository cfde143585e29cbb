/*
 * record.c — the on-disk record codec (layout in record.h). Pure: no I/O, no allocation
 * beyond the caller's output buffer, so it can be fuzzed and reused by recovery,
 * compaction and reads alike.
 */
#include "store/record.h"

#include "base/buf.h"
#include "base/crc32c.h"

/* Byte offsets of the header fields. */
enum { OFF_MAGIC = 0, OFF_LEN = 4, OFF_CRC = 8, OFF_TYPE = 12, OFF_SEQ = 16, OFF_TS = 24 };

static void put_u32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void ob_record_encode(struct ob_buf *out, const struct ob_record *r)
{
    size_t start = out->len;
    ob_buf_reserve(out, ob_record_size(r->body.n));
    ob_buf_put_u32le(out, OB_RECORD_MAGIC);
    ob_buf_put_u32le(out, (uint32_t)r->body.n);
    ob_buf_put_u32le(out, 0); /* CRC, filled in once the covered bytes exist */
    ob_buf_putc(out, r->type);
    ob_buf_putc(out, 0);
    ob_buf_put_u16le(out, 0);
    ob_buf_put_u64le(out, r->seq);
    ob_buf_put_u64le(out, (uint64_t)r->ts);
    ob_buf_append(out, r->body.p, r->body.n);
    uint8_t *h = out->p + start;
    put_u32_at(h + OFF_CRC, ob_crc32c(0, h + OFF_TYPE, out->len - start - OFF_TYPE));
}

/*
 * A prefix of a valid record must decode as OB_EAGAIN, so each header check runs only
 * once the bytes it looks at are present; the magic is compared byte by byte so that
 * garbage is reported as corruption as early as possible.
 */
static int check_header_prefix(const uint8_t *p, size_t n)
{
    static const uint8_t magic[4] = {0x31, 0x52, 0x42, 0x4F}; /* OB_RECORD_MAGIC, LE */
    for (size_t i = 0; i < 4 && i < n; i++)
        if (p[i] != magic[i]) return OB_ECORRUPT;
    if (n >= OFF_LEN + 4 && ob_get_u32le(p + OFF_LEN) > OB_RECORD_MAX) return OB_ECORRUPT;
    if (n > OFF_TYPE && p[OFF_TYPE] == 0) return OB_ECORRUPT;
    return 0;
}

int ob_record_decode(const uint8_t *p, size_t n, struct ob_record *r, size_t *used)
{
    int rc = check_header_prefix(p, n);
    if (rc) return rc;
    if (n < OB_RECORD_HEADER) return OB_EAGAIN;
    size_t len = ob_get_u32le(p + OFF_LEN);
    if (n - OB_RECORD_HEADER < len) return OB_EAGAIN;
    size_t total = ob_record_size(len);
    if (ob_crc32c(0, p + OFF_TYPE, total - OFF_TYPE) != ob_get_u32le(p + OFF_CRC))
        return OB_ECORRUPT;
    r->type = p[OFF_TYPE];
    r->seq = ob_get_u64le(p + OFF_SEQ);
    r->ts = (int64_t)ob_get_u64le(p + OFF_TS);
    r->body = ob_slice_make(p + OB_RECORD_HEADER, len);
    *used = total;
    return 0;
}
