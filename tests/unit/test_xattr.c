/* Unit tests for xattr.c: the list and its s3fs header encoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "tap.h"
#include "xattr.h"

int main(void)
{
	struct xattrs x = { 0 }, y = { 0 };
	char buf[64], *enc;
	const char bin[] = { 0, 1, 2, (char)0xff, 'z' };

	TAP_INTEQ(xattrs_set(&x, "user.a", "hello", 5, 0), 0, "set");
	TAP_INTEQ(xattrs_set(&x, "user.a", "x", 1, XATTR_CREATE), -EEXIST,
		  "XATTR_CREATE on existing");
	TAP_INTEQ(xattrs_set(&x, "user.b", "x", 1, XATTR_REPLACE), -ENODATA,
		  "XATTR_REPLACE on missing");
	TAP_INTEQ(xattrs_set(&x, "user.bin", bin, sizeof(bin), 0), 0,
		  "binary value");
	TAP_INTEQ(xattrs_set(&x, "user.empty", "", 0, 0), 0, "empty value");
	TAP_INTEQ(xattrs_get(&x, "user.a", NULL, 0), 5, "size query");
	TAP_INTEQ(xattrs_get(&x, "user.a", buf, 2), -ERANGE, "ERANGE");
	TAP_INTEQ(xattrs_list(&x, NULL, 0), 7 + 9 + 11, "list size");
	enc = xattrs_encode(&x);
	TAP_OK(enc && strncmp(enc, "%7B%22user.a%22%3A%22aGVsbG8%3D%22", 34)
		   == 0, "s3fs encoding: url-encoded JSON, base64 values");
	TAP_INTEQ(xattrs_decode(enc, &y), 0, "decode");
	TAP_INTEQ(y.n, 3, "three attributes back");
	TAP_INTEQ(xattrs_get(&y, "user.bin", buf, sizeof(buf)), 5,
		  "binary length back");
	TAP_OK(!memcmp(buf, bin, 5), "binary bytes back");
	TAP_INTEQ(xattrs_get(&y, "user.empty", buf, sizeof(buf)), 0,
		  "empty value back");
	TAP_INTEQ(xattrs_get(&y, "user.a", buf, sizeof(buf)), 5, "a back");
	TAP_OK(!memcmp(buf, "hello", 5), "a's bytes back");
	xattrs_release(&y);
	TAP_INTEQ(xattrs_decode("%7Bnot json", &y), -EINVAL, "junk refused");
	TAP_INTEQ(xattrs_remove(&x, "user.a"), 0, "remove");
	TAP_INTEQ(xattrs_get(&x, "user.a", NULL, 0), -ENODATA, "removed");
	free(enc);
	xattrs_release(&x);
	enc = xattrs_encode(&x);
	TAP_STREQ(enc, "", "no attributes: no header");
	free(enc);
	return tap_done();
}
