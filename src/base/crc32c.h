/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum on every stored record.
 * Backed by ISA-L (Debian libisal), which picks SSE4.2/PCLMUL code at run time.
 */
#ifndef OB_BASE_CRC32C_H
#define OB_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of p[0..n), continuing from crc (pass 0 to start): the value RFC 3720
 * specifies, so ob_crc32c(0, 32 zero bytes) == 0x8A9136AA. */
uint32_t ob_crc32c(uint32_t crc, const void *p, size_t n);

#endif
