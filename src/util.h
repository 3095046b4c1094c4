/*
 * util.h - the small helpers that several layers need and none owns: hex
 * digits, percent-encoding, the monotonic clock, writing a whole buffer
 * to a file, an endpoint URL's host, and one bounded growable buffer.
 *
 * Nothing here keeps state or takes a lock: every function is safe to
 * call from any thread on arguments that thread owns.  Functions that
 * return int return 0 or a negative errno; which ones is said below.
 * Nothing here logs.
 */
#ifndef R2FS_UTIL_H
#define R2FS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* ---- the bounded buffer ---- */

/*
 * A growable byte buffer that never holds more than max bytes (curl's
 * dynbuf).  Set it up with util_buf_init() or { .max = N }: a zeroed
 * buffer has max 0 and takes nothing.  p is NULL until the first add or
 * reserve; from then on p[len] is a NUL, so a buffer of text is a C
 * string.  The buffer owns p: util_buf_take() hands it to the caller,
 * util_buf_release() frees it.  Callers read p and len, never write them.
 *
 * Errors stick: the first failed call stores its errno in err, and every
 * later add or reserve fails at once with the same value and changes
 * nothing.  So a builder may append without looking and check once, at
 * util_buf_take() or in err.  The errors are -E2BIG (len would pass max;
 * nothing of that call is added) and -ENOMEM.
 */
struct util_buf {
	char *p;    /* the bytes, then a NUL; NULL before the first add */
	size_t len; /* bytes in p, the NUL not counted; never above max */
	size_t cap; /* bytes allocated at p (at most max + 1) */
	size_t max; /* the most bytes the buffer will hold */
	int err;    /* the first failure (-E2BIG, -ENOMEM), or 0 */
};

/* An empty buffer of at most max bytes (nothing allocated yet). */
void util_buf_init(struct util_buf *b, size_t max);

/* Append n bytes of data (NULL when n is 0).  0, -E2BIG or -ENOMEM. */
int util_buf_add(struct util_buf *b, const void *data, size_t n);

/* Append the string s, without its NUL.  As util_buf_add. */
int util_buf_adds(struct util_buf *b, const char *s);

/*
 * Make room for n more bytes, so that adds of n bytes in all cannot fail
 * afterwards; nothing is added.  0, -E2BIG or -ENOMEM (which stick).
 */
int util_buf_reserve(struct util_buf *b, size_t n);

/*
 * Hand the bytes over: a malloc'd NUL-terminated string that the caller
 * frees ("" when nothing was added), its length in *len when len is not
 * NULL.  NULL with errno E2BIG or ENOMEM when the buffer failed (*len 0).
 * Either way b is left empty, with its max, and may be used again.
 */
char *util_buf_take(struct util_buf *b, size_t *len);

/* Free the bytes and empty b (err cleared, max kept).  Safe twice. */
void util_buf_release(struct util_buf *b);

/* ---- hex ---- */

/* The value of the hex digit c (0-9, a-f, A-F), or -1. */
int util_hex_digit(int c);

/* len bytes of in as 2 * len lower-case hex digits and a NUL in out
 * (2 * len + 1 bytes). */
void util_hex_encode(const void *in, size_t len, char *out);

/*
 * hexlen hex digits (either case) at hex into hexlen / 2 bytes at out; no
 * NUL is added.  out may be hex itself (decoding in place).  0, or
 * -EINVAL for an odd hexlen or a character that is not a hex digit (out
 * then holds a part of the result).
 */
int util_hex_decode(const char *hex, size_t hexlen, void *out);

/* ---- percent-encoding (RFC 3986; AWS SigV4's UriEncode) ---- */

/*
 * Append s[0..len) to b with every byte other than A-Z a-z 0-9 - . _ ~
 * (and '/' when keep_slash) written as %XX, upper-case hex.  As
 * util_buf_add.
 */
int util_buf_add_uri(struct util_buf *b, const char *s, size_t len,
		     bool keep_slash);

/*
 * Percent-decode s[0..len) into out (len bytes at least; out may be s)
 * and return the decoded length; no NUL is added.  Lenient, for text
 * that is not ours to judge: a '%' without two hex digits after it stays
 * as it is, '+' stays '+' (this is not form decoding), and %00 gives a
 * NUL byte.
 */
size_t util_uri_decode(const char *s, size_t len, char *out);

/* ---- time, files, URLs ---- */

/* Seconds on CLOCK_MONOTONIC: only differences between readings mean
 * anything. */
double util_now_mono(void);

/*
 * Write all len bytes of buf to fd, going on after short writes and
 * EINTR.  0, or the failed write's -errno (-EIO should write ever
 * return 0 for a non-empty buffer).  A failure may leave a part written.
 */
int util_write_all(int fd, const void *buf, size_t len);

/* Is path ("a/b/c") dir itself or below it?  Every path is below "". */
bool util_path_below(const char *path, const char *dir);

/* Parse Unix seconds with an optional fraction ("1700000000.123456789",
 * the x-amz-meta-mtime form, also the journal's) into ts.  false, ts
 * untouched, unless s is exactly that. */
bool util_parse_time(const char *s, struct timespec *ts);

/*
 * The authority (host, or host:port) of an endpoint URL
 * "http[s]://host[:port]" into out (outlen bytes).  0, or -EINVAL for
 * another scheme, no host, user info ('@'), anything after the authority
 * (a path, even "/"; a query; a fragment), or a host of outlen bytes or
 * more.
 */
int util_endpoint_host(const char *url, char *out, size_t outlen);

#endif
