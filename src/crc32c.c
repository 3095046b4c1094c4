/*
 * crc32c.c - CRC-32C, slicing by 8: eight 256-entry tables let the loop
 * take 8 bytes a step (about 1-2 GB/s), well ahead of the SHA-256 that
 * every upload computes over the same bytes.  Reflected polynomial
 * 0x82f63b78, initial value and final xor ~0, as iSCSI and S3 use it.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	uint32_t c;
	unsigned i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			table[k][i] = (table[k - 1][i] >> 8) ^
				      table[0][table[k - 1][i] & 0xff];
}

uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;
	uint64_t w;

	pthread_once(&table_once, table_init);
	while (len >= 8) {
		memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		w ^= c;
		c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		    table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		    table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		    table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return ~c;
}

void crc32c_base64(uint32_t crc, char out[9])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char b[4] = { (unsigned char)(crc >> 24),
			       (unsigned char)(crc >> 16),
			       (unsigned char)(crc >> 8), (unsigned char)crc };

	out[0] = b64[b[0] >> 2];
	out[1] = b64[((b[0] & 3) << 4) | (b[1] >> 4)];
	out[2] = b64[((b[1] & 15) << 2) | (b[2] >> 6)];
	out[3] = b64[b[2] & 63];
	out[4] = b64[b[3] >> 2];
	out[5] = b64[(b[3] & 3) << 4];
	out[6] = '=';
	out[7] = '=';
	out[8] = '\0';
}
