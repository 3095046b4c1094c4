/*
 * test_util.c - unit tests for src/util.c: hex and percent-encoding round
 * trips and refusals, the bounded buffer's growth, maximum and sticky
 * errors, util_write_all to a pipe and a file, the endpoint host, and
 * that the monotonic clock never goes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static void test_hex(void)
{
	unsigned char all[256], back[256];
	char text[2 * 256 + 1], inplace[] = "48692021";
	size_t i;
	bool same;

	util_hex_encode("\x00\x01\x7f\x80\xab\xff", 6, text);
	TAP_STREQ(text, "00017f80abff", "hex: lower case, two digits a byte");
	util_hex_encode("", 0, text);
	TAP_STREQ(text, "", "hex: nothing is \"\"");

	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	util_hex_encode(all, sizeof(all), text);
	TAP_INTEQ(strlen(text), 512, "hex: 256 bytes are 512 digits");
	memset(back, 0xee, sizeof(back));
	TAP_INTEQ(util_hex_decode(text, strlen(text), back), 0,
		  "hex: every byte value decodes");
	TAP_OK(!memcmp(all, back, sizeof(all)), "hex: round trip");

	TAP_INTEQ(util_hex_decode("ABcdEF", 6, back), 0,
		  "hex: either case decodes");
	TAP_OK(back[0] == 0xab && back[1] == 0xcd && back[2] == 0xef,
	       "hex: either case, right values");
	TAP_INTEQ(util_hex_decode(inplace, 8, inplace), 0, "hex: in place");
	TAP_OK(!memcmp(inplace, "Hi !", 4), "hex: in place, right bytes");
	TAP_INTEQ(util_hex_decode("", 0, back), 0, "hex: \"\" is no bytes");

	TAP_INTEQ(util_hex_decode("abc", 3, back), -EINVAL,
		  "hex: odd length refused");
	TAP_INTEQ(util_hex_decode("abcd", 3, back), -EINVAL,
		  "hex: odd length refused, even among hex digits");
	TAP_INTEQ(util_hex_decode("0g", 2, back), -EINVAL, "hex: 'g' refused");
	/* the characters right after '9', before 'A' and before 'a' */
	TAP_INTEQ(util_hex_decode("3:", 2, back), -EINVAL, "hex: ':' refused");
	TAP_INTEQ(util_hex_decode("@1", 2, back), -EINVAL, "hex: '@' refused");
	TAP_INTEQ(util_hex_decode("`1", 2, back), -EINVAL, "hex: '`' refused");
	TAP_INTEQ(util_hex_decode("1 ", 2, back), -EINVAL, "hex: ' ' refused");
	TAP_INTEQ(util_hex_decode("0\0", 2, back), -EINVAL,
		  "hex: NUL refused");

	same = true;
	for (i = 0; i < 256; i++) {
		int want = -1;

		if (i >= '0' && i <= '9')
			want = (int)i - '0';
		else if (i >= 'a' && i <= 'f')
			want = (int)i - 'a' + 10;
		else if (i >= 'A' && i <= 'F')
			want = (int)i - 'A' + 10;
		if (util_hex_digit((int)i) != want)
			same = false;
	}
	TAP_OK(same, "hex: util_hex_digit right for all 256 bytes");
}

static char *uri(const char *s, size_t len, bool keep_slash)
{
	struct util_buf b;

	util_buf_init(&b, 1 << 20);
	util_buf_add_uri(&b, s, len, keep_slash);
	return util_buf_take(&b, NULL);
}

static void test_uri(void)
{
	char all[256], dec[256 * 3], *e;
	size_t i, n;

	e = uri("a b/c~d-e.f_g+h%", 16, false);
	TAP_STREQ(e, "a%20b%2Fc~d-e.f_g%2Bh%25", "uri: slash encoded");
	free(e);
	e = uri("a b/c", 5, true);
	TAP_STREQ(e, "a%20b/c", "uri: slash kept");
	free(e);
	e = uri("\xc3\xa9\x7f", 3, false);
	TAP_STREQ(e, "%C3%A9%7F", "uri: upper-case hex");
	free(e);
	e = uri(NULL, 0, false);
	TAP_STREQ(e, "", "uri: nothing is \"\"");
	free(e);

	for (i = 0; i < sizeof(all); i++)
		all[i] = (char)i;
	e = uri(all, sizeof(all), false);
	TAP_INTEQ(e ? strlen(e) : 0, 66 + 190 * 3,
		  "uri: 66 unreserved bytes kept, 190 escaped");
	n = e ? util_uri_decode(e, strlen(e), dec) : 0;
	TAP_OK(n == sizeof(all) && !memcmp(dec, all, n), "uri: round trip");
	free(e);

	n = util_uri_decode("a%2fb%2Fc+d", 11, dec);
	TAP_OK(n == 7 && !memcmp(dec, "a/b/c+d", 7),
	       "uri: decodes either case, '+' stays");
	n = util_uri_decode("%zz%4%", 6, dec);
	TAP_OK(n == 6 && !memcmp(dec, "%zz%4%", 6),
	       "uri: '%' without two hex digits stays");
	n = util_uri_decode("x%41", 3, dec);
	TAP_OK(n == 3 && !memcmp(dec, "x%4", 3),
	       "uri: a digit past len is not read");
	n = util_uri_decode("x%00y", 5, dec);
	TAP_OK(n == 3 && !memcmp(dec, "x\0y", 3), "uri: %00 is a NUL byte");
	memcpy(dec, "%41%42c", 7);
	n = util_uri_decode(dec, 7, dec);
	TAP_OK(n == 3 && !memcmp(dec, "ABc", 3), "uri: in place");
}

static void test_buf_growth(void)
{
	struct util_buf b;
	char piece[37], *want, *s;
	size_t i, len = 0, n = 100000;
	bool ok = true;

	want = malloc(n);
	util_buf_init(&b, n);
	TAP_OK(!b.p && !b.len && !b.err, "buf: starts empty, unallocated");
	for (i = 0; i < sizeof(piece); i++)
		piece[i] = (char)('a' + i % 26);
	for (i = 0; want && len + sizeof(piece) <= n; i++) {
		piece[0] = (char)('A' + i % 26);
		if (util_buf_add(&b, piece, sizeof(piece)) ||
		    b.p[b.len] != '\0' || b.cap > n + 1)
			ok = false;
		memcpy(want + len, piece, sizeof(piece));
		len += sizeof(piece);
	}
	TAP_OK(ok, "buf: every add below max works, NUL after, cap <= max+1");
	TAP_INTEQ(b.len, len, "buf: len counts every byte");
	TAP_OK(want && b.p && !memcmp(b.p, want, len), "buf: the bytes");
	TAP_INTEQ(util_buf_adds(&b, ""), 0, "buf: adding \"\" works");
	s = util_buf_take(&b, &i);
	TAP_OK(s && i == len && !memcmp(s, want, len) && !s[len],
	       "buf: take hands over the bytes and a NUL");
	TAP_OK(!b.p && !b.len && !b.cap && b.max == n,
	       "buf: take leaves it empty, max kept");
	free(s);
	free(want);

	TAP_INTEQ(util_buf_adds(&b, "again"), 0, "buf: usable after take");
	TAP_STREQ(b.p, "again", "buf: reused");
	util_buf_release(&b);
	util_buf_release(&b);
	TAP_OK(!b.p && !b.len && b.max == n, "buf: release empties, twice");

	s = util_buf_take(&b, &i);
	TAP_STREQ(s, "", "buf: take of nothing is \"\"");
	TAP_INTEQ(i, 0, "buf: of length 0");
	free(s);
}

static void test_buf_max(void)
{
	struct util_buf b, z = { 0 };
	char *s;
	size_t len = 99;

	util_buf_init(&b, 10);
	TAP_INTEQ(util_buf_adds(&b, "0123456"), 0, "max: 7 of 10 bytes");
	TAP_INTEQ(b.cap, 11, "max: never more than max + 1 allocated");
	TAP_INTEQ(util_buf_adds(&b, "7890"), -E2BIG,
		  "max: 11 of 10 is -E2BIG");
	TAP_INTEQ(b.len, 7, "max: nothing of the failed add went in");
	TAP_STREQ(b.p, "0123456", "max: the bytes before it stay");
	TAP_INTEQ(util_buf_adds(&b, "7"), -E2BIG,
		  "max: the error sticks, even for an add that would fit");
	TAP_INTEQ(util_buf_reserve(&b, 0), -E2BIG, "max: reserve too");
	TAP_INTEQ(b.len, 7, "max: a stuck buffer takes nothing");
	errno = 0;
	s = util_buf_take(&b, &len);
	TAP_OK(!s && errno == E2BIG && len == 0,
	       "max: take gives NULL, errno E2BIG");
	TAP_OK(!b.p && !b.err, "max: take clears the error");

	TAP_INTEQ(util_buf_adds(&b, "0123456789"), 0, "max: exactly max fits");
	TAP_INTEQ(util_buf_add(&b, "x", 0), 0, "max: a full buffer takes 0");
	TAP_INTEQ(util_buf_add(&b, "x", 1), -E2BIG, "max: not one more");
	util_buf_release(&b);

	TAP_INTEQ(util_buf_reserve(&b, 10), 0, "reserve: up to max");
	TAP_OK(b.p && b.cap >= 11 && !b.len && !b.p[0],
	       "reserve: room, nothing added, still a string");
	TAP_INTEQ(util_buf_reserve(&b, 11), -E2BIG, "reserve: beyond max");
	TAP_INTEQ(util_buf_adds(&b, "a"), -E2BIG, "reserve: failure sticks");
	util_buf_release(&b);

	TAP_INTEQ(util_buf_add(&z, NULL, 0), 0, "zeroed: max 0 takes 0");
	TAP_INTEQ(util_buf_adds(&z, "a"), -E2BIG, "zeroed: takes no byte");
	util_buf_release(&z);

	util_buf_init(&b, SIZE_MAX);
	TAP_INTEQ(util_buf_adds(&b, "big"), 0, "max SIZE_MAX: works");
	TAP_INTEQ(util_buf_add(&b, "x", SIZE_MAX), -E2BIG,
		  "max SIZE_MAX: no overflow past it");
	util_buf_release(&b);
}

struct drain {
	int fd;
	char *got;
	size_t len, cap;
};

static void *drain_pipe(void *arg)
{
	struct drain *d = arg;
	ssize_t r;

	for (;;) {
		r = read(d->fd, d->got + d->len, d->cap - d->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		d->len += (size_t)r;
	}
	return NULL;
}

static void test_write_all(void)
{
	char path[] = "/tmp/r2fs-test-util.XXXXXX", *data, *back;
	size_t n = 1 << 20, i;
	struct drain d = { 0 };
	pthread_t t;
	int p[2], fd;

	data = malloc(n);
	back = malloc(n);
	d.got = malloc(n + 1);
	d.cap = n + 1;
	if (!data || !back || !d.got || pipe(p)) {
		TAP_OK(0, "write_all: setup");
		goto out;
	}
	for (i = 0; i < n; i++)
		data[i] = (char)(i * 7 + i / 251);

	/* 1 MiB into a pipe of 64 KiB: many short writes */
	d.fd = p[0];
	pthread_create(&t, NULL, drain_pipe, &d);
	TAP_INTEQ(util_write_all(p[1], data, n), 0, "write_all: pipe");
	close(p[1]);
	pthread_join(t, NULL);
	close(p[0]);
	TAP_OK(d.len == n && !memcmp(d.got, data, n),
	       "write_all: the pipe got every byte, in order");

	fd = mkstemp(path);
	TAP_INTEQ(util_write_all(fd, data, n), 0, "write_all: file");
	TAP_INTEQ(util_write_all(fd, data, 0), 0, "write_all: 0 bytes");
	TAP_OK(fd >= 0 && pread(fd, back, n, 0) == (ssize_t)n &&
	       !memcmp(back, data, n) && lseek(fd, 0, SEEK_END) == (off_t)n,
	       "write_all: the file holds the bytes");
	if (fd >= 0)
		close(fd);
	unlink(path);

	fd = open("/dev/null", O_RDONLY);
	TAP_INTEQ(util_write_all(fd, data, 10), -EBADF,
		  "write_all: a read-only fd is -EBADF");
	close(fd);
	if (!pipe(p)) {
		close(p[0]);
		TAP_INTEQ(util_write_all(p[1], data, 10), -EPIPE,
			  "write_all: a pipe nobody reads is -EPIPE");
		close(p[1]);
	}
out:
	free(data);
	free(back);
	free(d.got);
}

static void test_endpoint_host(void)
{
	char host[16];

	TAP_INTEQ(util_endpoint_host("https://r2.example:8443", host,
				     sizeof(host)), 0, "host: with port");
	TAP_STREQ(host, "r2.example:8443", "host: host:port");
	TAP_INTEQ(util_endpoint_host("http://h", host, sizeof(host)), 0,
		  "host: http");
	TAP_STREQ(host, "h", "host: h");
	TAP_INTEQ(util_endpoint_host("ftp://h", host, sizeof(host)), -EINVAL,
		  "host: another scheme");
	TAP_INTEQ(util_endpoint_host("https://", host, sizeof(host)), -EINVAL,
		  "host: none");
	TAP_INTEQ(util_endpoint_host("https://h/", host, sizeof(host)),
		  -EINVAL, "host: a path");
	TAP_INTEQ(util_endpoint_host("https://h?x", host, sizeof(host)),
		  -EINVAL, "host: a query");
	TAP_INTEQ(util_endpoint_host("https://u@h", host, sizeof(host)),
		  -EINVAL, "host: user info");
	TAP_INTEQ(util_endpoint_host("https://0123456789abcdef", host,
				     sizeof(host)), -EINVAL,
		  "host: longer than the buffer");
	TAP_INTEQ(util_endpoint_host("https://0123456789abcde", host,
				     sizeof(host)), 0, "host: just fits");
}

static void test_now_mono(void)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 }, ts;
	double first, prev, t;
	bool back = false;
	int i;

	first = prev = util_now_mono();
	TAP_OK(first > 0, "mono: a positive reading");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	TAP_OK(t >= first && t - first < 1, "mono: CLOCK_MONOTONIC's seconds");
	for (i = 0; i < 100000; i++) {
		t = util_now_mono();
		if (t < prev)
			back = true;
		prev = t;
	}
	TAP_OK(!back, "mono: 100000 readings never go back");
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
	t = util_now_mono();
	TAP_OK(t - first >= 0.02, "mono: a 20 ms sleep shows");
	/* a loaded machine may stall a while, but not for an hour */
	TAP_OK(t - first < 3600, "mono: and in seconds");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_hex();
	test_uri();
	test_buf_growth();
	test_buf_max();
	test_write_all();
	test_endpoint_host();
	test_now_mono();
	return tap_done();
}
