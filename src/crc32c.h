/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum S3's and R2's
 * x-amz-checksum-crc32c header carries (big-endian, base64).
 *
 * Pure and thread-safe; the tables are built once, on first use.
 */
#ifndef R2FS_CRC32C_H
#define R2FS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of buf after crc (0 to start): crc32c_update(0, "123456789", 9)
 * is 0xe3069283. */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

/* The header value of crc: base64 of its 4 bytes, big-endian ("mnG7TA=="
 * for "hello"); out holds 9 bytes. */
void crc32c_base64(uint32_t crc, char out[9]);

#endif
