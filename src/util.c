/*
 * util.c - helpers shared by layers that must not depend on each other.
 *
 * Each of these used to exist in two to five copies with their own
 * conventions (hex with and without case, write_all returning -1 or
 * -errno, four growable buffers with four ways to fail).  The rules kept
 * here are the ones the copies agreed on; util.h states them.
 *
 * The buffer follows curl's dynbuf: it always carries a maximum, so no
 * input can make it grow without bound, and it grows by doubling up to
 * max + 1 bytes (the NUL included), never beyond.  Its first error
 * sticks, which lets builders append a run of pieces and check once.
 */
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UTIL_BUF_FIRST 256 /* bytes of the first allocation */

/* ---- the bounded buffer ---- */

void util_buf_init(struct util_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static int buf_fail(struct util_buf *b, int err)
{
	b->err = err;
	return err;
}

/* Grow p to hold need bytes (the NUL included; need <= max + 1). */
static int buf_grow(struct util_buf *b, size_t need)
{
	size_t limit = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX;
	size_t cap = b->cap ? b->cap : UTIL_BUF_FIRST;
	char *p;

	while (cap < need && cap <= limit / 2)
		cap *= 2;
	if (cap < need || cap > limit)
		cap = limit;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	if (!b->p)
		p[0] = '\0';
	b->p = p;
	b->cap = cap;
	return 0;
}

int util_buf_reserve(struct util_buf *b, size_t n)
{
	if (b->err)
		return b->err;
	if (n > b->max - b->len)
		return buf_fail(b, -E2BIG);
	if (b->len + n + 1 > b->cap && buf_grow(b, b->len + n + 1))
		return buf_fail(b, -ENOMEM);
	return 0;
}

int util_buf_add(struct util_buf *b, const void *data, size_t n)
{
	int rc = util_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int util_buf_adds(struct util_buf *b, const char *s)
{
	return util_buf_add(b, s, strlen(s));
}

char *util_buf_take(struct util_buf *b, size_t *len)
{
	char *p = NULL;
	int err;

	if (!b->p)
		util_buf_reserve(b, 0); /* "" for a buffer never added to */
	err = b->err;
	if (!err) {
		p = b->p;
		b->p = NULL;
	}
	if (len)
		*len = p ? b->len : 0;
	util_buf_release(b);
	if (err)
		errno = -err;
	return p;
}

void util_buf_release(struct util_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

/* ---- hex ---- */

int util_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void util_hex_encode(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int util_hex_decode(const char *hex, size_t hexlen, void *out)
{
	unsigned char *o = out;
	size_t i;
	int hi, lo;

	if (hexlen % 2)
		return -EINVAL;
	for (i = 0; i < hexlen; i += 2) {
		hi = util_hex_digit((unsigned char)hex[i]);
		lo = util_hex_digit((unsigned char)hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* ---- percent-encoding ---- */

static bool uri_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

int util_buf_add_uri(struct util_buf *b, const char *s, size_t len,
		     bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	char esc[3] = { '%' };
	size_t i = 0, run;
	unsigned char c;

	if (!len)
		return util_buf_add(b, NULL, 0);
	while (i < len) {
		/* A run of bytes that need no escaping goes in one add. */
		run = i;
		while (run < len && (uri_unreserved((unsigned char)s[run]) ||
				     (s[run] == '/' && keep_slash)))
			run++;
		util_buf_add(b, s + i, run - i);
		if (run == len)
			break;
		c = (unsigned char)s[run];
		esc[1] = digits[c >> 4];
		esc[2] = digits[c & 15];
		util_buf_add(b, esc, 3);
		i = run + 1;
	}
	return b->err;
}

size_t util_uri_decode(const char *s, size_t len, char *out)
{
	size_t i, n = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len) {
			hi = util_hex_digit((unsigned char)s[i + 1]);
			lo = util_hex_digit((unsigned char)s[i + 2]);
			if (hi >= 0 && lo >= 0) {
				out[n++] = (char)(hi << 4 | lo);
				i += 2;
				continue;
			}
		}
		out[n++] = s[i];
	}
	return n;
}

/* ---- time, files, URLs ---- */

double util_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int util_endpoint_host(const char *url, char *out, size_t outlen)
{
	const char *h, *end;
	size_t n;

	if (!strncmp(url, "https://", 8))
		h = url + 8;
	else if (!strncmp(url, "http://", 7))
		h = url + 7;
	else
		return -EINVAL;
	end = h + strcspn(h, "/?#");
	n = (size_t)(end - h);
	if (n == 0 || n >= outlen || memchr(h, '@', n) || *end)
		return -EINVAL;
	memcpy(out, h, n);
	out[n] = '\0';
	return 0;
}

bool util_parse_time(const char *s, struct timespec *ts)
{
	char *end;
	long long sec;
	long nsec = 0;
	int digits = 0;

	if (!s || !*s)
		return false;
	errno = 0;
	sec = strtoll(s, &end, 10);
	if (errno || end == s)
		return false;
	if (*end == '.') {
		end++;
		while (*end >= '0' && *end <= '9') {
			if (digits < 9) {
				nsec = nsec * 10 + (*end - '0');
				digits++;
			}
			end++;
		}
		while (digits < 9 && digits > 0) {
			nsec *= 10;
			digits++;
		}
	}
	if (*end)
		return false;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = nsec;
	return true;
}

bool util_path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return n == 0 || (!strncmp(path, dir, n) &&
			  (path[n] == '/' || path[n] == '\0'));
}
