/* crc32c.c — CRC-32C over ISA-L's crc32_iscsi, with the standard pre/post inversion. */
#include "base/crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t ob_crc32c(uint32_t crc, const void *p, size_t n)
{
    /* ISA-L leaves the initial and final inversion to the caller. */
    uint32_t c = ~crc;
    const unsigned char *b = p;
    while (n > 0) {
        int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        c = crc32_iscsi((unsigned char *)b, chunk, c);
        b += chunk;
        n -= (size_t)chunk;
    }
    return ~c;
}
