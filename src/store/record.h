/*
 * record.h — the on-disk record codec. Pure: bytes in, records out; no I/O, no
 * allocation (decoded bodies point into the input).
 *
 * Layout (little-endian), 32-byte header then the body:
 *   0  u32 magic    0x4F425231 ("OBR1")
 *   4  u32 len      body length in bytes
 *   8  u32 crc      CRC-32C of bytes 12 .. 32+len (type through the end of the body)
 *  12  u8  type     owner-defined (OB_REC_*), never 0
 *  13  u8  flags    0 (reserved)
 *  14  u16 reserved 0
 *  16  u64 seq
 *  24  i64 ts       nanoseconds since the epoch
 *  32  body[len]
 * A zeroed or short header at the end of a file is a torn tail, not corruption.
 * Decoding ignores flags and reserved (they are covered by the CRC, and left for a
 * later version); encoding writes them as 0.
 */
#ifndef OB_STORE_RECORD_H
#define OB_STORE_RECORD_H

#include <omnibus.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define OB_RECORD_MAGIC  0x4F425231u
#define OB_RECORD_HEADER 32u
#define OB_RECORD_MAX    (UINT32_C(256) << 20) /* body limit: 256 MiB */

/* Record types used by the core; the store treats them alike. */
enum ob_record_type {
    OB_REC_MSG = 1,      /* stream message: body is ob_msg_encode() */
    OB_REC_DELETE = 2,   /* stream tombstone: body lists deleted sequences */
    OB_REC_CONSUMER = 3, /* consumer state op: body defined by consumer.c */
    OB_REC_META = 4,     /* configuration snapshot (stream / consumer config) */
};

struct ob_record {
    uint8_t type;
    uint64_t seq;
    int64_t ts;
    struct ob_slice body;
};

/* Appends the encoded record to out. */
void ob_record_encode(struct ob_buf *out, const struct ob_record *r);
/* Encoded size of a record with a body of n bytes. */
static inline size_t ob_record_size(size_t n)
{
    return OB_RECORD_HEADER + n;
}

/*
 * Decodes one record from p[0..n). On success returns 0, fills *r (body points into p)
 * and sets *used to the bytes consumed. Returns OB_EAGAIN if p holds only a prefix of
 * a record (a torn tail when at end of file), OB_ECORRUPT for a bad magic, a length
 * over OB_RECORD_MAX, a zero type or a CRC mismatch.
 */
int ob_record_decode(const uint8_t *p, size_t n, struct ob_record *r, size_t *used);

#endif
