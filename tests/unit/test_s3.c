/* Unit tests for s3.c's pure decisions: what a failed conditional PUT
 * turns out to be once a HEAD has looked (s3_put_verdict), and when the
 * next write of a key may go (s3_pace_*, R2's one write per second). */
#include <errno.h>
#include <string.h>

#include "crc32c.h"
#include "s3.h"
#include "s3_i.h"
#include "tap.h"

#define OURS_MD5 "0cc175b9c0f1b6a831c399e269772661"

static struct store_meta mode_600[] = { { "mode", "33152" } };
static struct store_meta mode_644[] = { { "mode", "33188" } };
static struct s3_pace pace; /* 64 KiB: not on the stack */

int main(void)
{
	struct store_object obj = { 0 };
	struct store_put_opts if_match = {
		.meta = mode_600, .nmeta = 1, .if_match = OURS_MD5,
	};
	struct store_put_opts if_none = {
		.meta = mode_600, .nmeta = 1, .if_none_match = true,
	};

	/* touch(1) of an uploaded file: same bytes, new metadata, over the
	 * version we named; a server that wants the ETag bare said 412 */
	snprintf(obj.etag, sizeof(obj.etag), "%s", OURS_MD5);
	obj.meta = mode_644;
	obj.nmeta = 1;
	TAP_INTEQ(s3_put_verdict(0, &obj, &if_match, OURS_MD5, false),
		  S3_PUT_RETRY_BARE,
		  "the version we named is there: retry with a bare ETag, "
		  "even when it holds our bytes");
	TAP_INTEQ(s3_put_verdict(0, &obj, &if_match, OURS_MD5, true),
		  S3_PUT_STALE,
		  "already bare: same bytes, other metadata is not ours");
	obj.meta = mode_600;
	TAP_INTEQ(s3_put_verdict(0, &obj, &if_match, OURS_MD5, true),
		  S3_PUT_OURS,
		  "our bytes and our metadata: an attempt whose answer was "
		  "lost");
	TAP_INTEQ(s3_put_verdict(0, &obj, &if_none, OURS_MD5, false),
		  S3_PUT_OURS, "If-None-Match, ours already there: ours");
	obj.meta = mode_644;
	TAP_INTEQ(s3_put_verdict(0, &obj, &if_none, OURS_MD5, false),
		  S3_PUT_STALE,
		  "If-None-Match, another client's identical bytes with other "
		  "metadata: a conflict");
	snprintf(obj.etag, sizeof(obj.etag), "ffff");
	TAP_INTEQ(s3_put_verdict(0, &obj, &if_match, OURS_MD5, false),
		  S3_PUT_STALE, "another version in the way: stale");
	TAP_INTEQ(s3_put_verdict(-ENOENT, &obj, &if_match, OURS_MD5, false),
		  S3_PUT_NO_OBJECT, "If-Match found no object");
	TAP_INTEQ(s3_put_verdict(-ENOENT, &obj, &if_none, OURS_MD5, false),
		  S3_PUT_STALE, "If-None-Match, gone again: stale");
	TAP_INTEQ(s3_put_verdict(-EIO, &obj, &if_match, OURS_MD5, false),
		  S3_PUT_ERROR, "the HEAD failed: its error");

	s3_pace_init(&pace, 1.0);
	TAP_OK(s3_pace_delay(&pace, "/b/k", 100.0) == 0,
	       "a key never written goes at once");
	s3_pace_note(&pace, "/b/k", 100.0);
	TAP_OK(s3_pace_delay(&pace, "/b/k", 100.25) > 0.74 &&
	       s3_pace_delay(&pace, "/b/k", 100.25) < 0.76,
	       "a write 0.25 s after the last waits the rest of the second");
	TAP_OK(s3_pace_delay(&pace, "/b/other", 100.25) == 0,
	       "another key goes at once");
	TAP_OK(s3_pace_delay(&pace, "/b/k", 101.0) == 0,
	       "a second later the key goes at once");
	s3_pace_release(&pace);

	/* two writes of one key at once are two within a second for R2:
	 * the second waits until the first ended, and a second more */
	s3_pace_init(&pace, 1.0);
	TAP_OK(s3_pace_begin(&pace, "/b/k", 200.0) == 0,
	       "begin: the first write of a key goes at once");
	TAP_OK(s3_pace_begin(&pace, "/b/k", 200.5) > 0,
	       "begin: a second write while the first is in flight waits");
	TAP_OK(s3_pace_begin(&pace, "/b/other", 200.5) == 0,
	       "begin: another key goes at once");
	s3_pace_end(&pace, "/b/other", true, 200.6);
	s3_pace_end(&pace, "/b/k", true, 203.0);
	TAP_OK(s3_pace_begin(&pace, "/b/k", 203.5) > 0.49 &&
	       s3_pace_begin(&pace, "/b/k", 203.5) < 0.51,
	       "begin: once it ended, the rest of the second after its end");
	TAP_OK(s3_pace_begin(&pace, "/b/k", 204.0) == 0,
	       "begin: then it goes");
	s3_pace_end(&pace, "/b/k", false, 204.2);
	TAP_OK(s3_pace_begin(&pace, "/b/k", 204.3) == 0,
	       "begin: a write that failed does not count as one");
	s3_pace_end(&pace, "/b/k", true, 204.4);
	s3_pace_release(&pace);
	s3_pace_init(&pace, 0);
	TAP_OK(s3_pace_begin(&pace, "/b/k", 1.0) == 0 &&
	       s3_pace_begin(&pace, "/b/k", 1.0) == 0,
	       "key_write_interval=0: no pacing at all");
	s3_pace_release(&pace);

	/* CRC-32C: RFC 3720's check value, and its test vectors */
	unsigned char zeros[32] = { 0 }, ones[32], inc[32];
	char b64[9];
	size_t i;

	for (i = 0; i < 32; i++) {
		ones[i] = 0xff;
		inc[i] = (unsigned char)i;
	}
	TAP_INTEQ(crc32c_update(0, "123456789", 9), 0xe3069283,
		  "crc32c of 123456789");
	TAP_INTEQ(crc32c_update(0, zeros, 32), 0x8a9136aa,
		  "crc32c of 32 zeros");
	TAP_INTEQ(crc32c_update(0, ones, 32), 0x62a8ab43,
		  "crc32c of 32 0xff");
	TAP_INTEQ(crc32c_update(0, inc, 32), 0x46dd794e,
		  "crc32c of 0..31");
	TAP_INTEQ(crc32c_update(crc32c_update(0, inc, 13), inc + 13, 19),
		  0x46dd794e, "crc32c in two pieces");
	crc32c_base64(crc32c_update(0, "hello", 5), b64);
	TAP_STREQ(b64, "mnG7TA==", "the header value of hello");
	return tap_done();
}
