/*
 * fuzz_record.c — libFuzzer target for the record codec. Decodes the input as a stream
 * of records until the first error, and checks that every decoded record re-encodes
 * to exactly the bytes it came from, and that a prefix of it decodes as incomplete.
 * The reserved flags bytes are not decoded (readers ignore them; the CRC covers them),
 * so the round trip compares with them cleared.
 */
#include "base/buf.h"
#include "store/record.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const uint8_t *p, size_t used, const struct ob_record *r)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_record_encode(&b, r);
    if (b.len != used) abort();
    bool reserved_zero = p[13] == 0 && p[14] == 0 && p[15] == 0;
    if (reserved_zero && memcmp(b.p, p, used) != 0) abort();
    /* Otherwise everything but the CRC and the reserved bytes must match. */
    if (memcmp(b.p, p, 8) != 0 || b.p[12] != p[12] || memcmp(b.p + 16, p + 16, used - 16) != 0)
        abort();
    ob_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct ob_record r;
        size_t used = 0;
        int rc = ob_record_decode(data + off, size - off, &r, &used);
        if (rc != 0) {
            if (rc != OB_EAGAIN && rc != OB_ECORRUPT) abort();
            break;
        }
        if (used < OB_RECORD_HEADER || used > size - off || r.type == 0) abort();
        if (r.body.p != data + off + OB_RECORD_HEADER || r.body.n != used - OB_RECORD_HEADER)
            abort();
        check_round_trip(data + off, used, &r);
        struct ob_record tmp;
        size_t u2;
        if (ob_record_decode(data + off, used - 1, &tmp, &u2) != OB_EAGAIN) abort();
        off += used;
    }
    return 0;
}
