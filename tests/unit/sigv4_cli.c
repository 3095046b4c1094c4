/*
 * sigv4_cli.c - drive sigv4.c from a line protocol, for sigv4_botocore.py.
 *
 * One request per input line, fields separated by TAB.  Strings are
 * hex-encoded bytes (so no escaping is ever needed; an empty field is the
 * empty string), numbers are decimal.  The first field picks the mode:
 *
 *   A method path query host access secret region service now payload
 *     [hname hvalue]...
 *	Authorization header.  payload is "-" for UNSIGNED-PAYLOAD, else
 *	the body, whose SHA-256 we compute.  Like r2fs's S3 client, we add
 *	host, x-amz-date (from now) and x-amz-content-sha256 to the headers
 *	given.  Prints "<Authorization>\t<hex canonical request>".
 *   P method path host content_type access secret region service now
 *     expires
 *	Presigned query string; content_type "-" means none.  Prints it.
 *   E bytes encode_slash
 *	sigv4_uri_encode(bytes, encode_slash).  Prints the result.
 *
 * A line that cannot be parsed or signed prints "ERROR <why>".  Output is
 * flushed per line so a caller may also talk to us interactively.
 */
#include "sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_FIELDS 256

struct field {
	char *s;    /* decoded bytes, NUL-terminated (owned) */
	size_t len;
};

/* Hex-decodes s[0..len) into f; -EINVAL on bad hex, -ENOMEM. */
static int unhex(const char *s, size_t len, struct field *f)
{
	int rc;

	if (len % 2)
		return -EINVAL;
	f->s = malloc(len / 2 + 1);
	if (!f->s)
		return -ENOMEM;
	rc = util_hex_decode(s, len, f->s);
	if (rc) {
		free(f->s);
		f->s = NULL;
		return rc;
	}
	f->len = len / 2;
	f->s[f->len] = '\0';
	return 0;
}

static void print_hex(const char *s)
{
	for (; *s; s++)
		printf("%02x", (unsigned char)*s);
}

/* Decimal in [min, max] from a raw field; -EINVAL otherwise. */
static int parse_num(const char *s, long long min, long long max,
		     long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A decoded field usable as a C string: valid hex without NUL bytes. */
static int is_str(const struct field *f)
{
	return f->s && strlen(f->s) == f->len;
}

static int do_auth(char **raw, struct field *f, size_t n)
{
	struct sigv4_header h[3 + MAX_FIELDS / 2];
	char date[SIGV4_AMZ_DATE_LEN], hash[65];
	struct sigv4_request req;
	struct sigv4_key key;
	char *authz, *creq;
	long long now;
	size_t i, nh;

	if (n < 11 || (n - 11) % 2)
		return -EINVAL;
	for (i = 1; i < n; i++)
		if (i != 9 && i != 10 && !is_str(&f[i]))
			return -EINVAL;
	if (parse_num(raw[9], 0, 253402300799LL, &now))
		return -EINVAL;
	if (strcmp(raw[10], "-") && !f[10].s)
		return -EINVAL;
	if (!strcmp(raw[10], "-"))
		memcpy(hash, SIGV4_UNSIGNED_PAYLOAD,
		       sizeof(SIGV4_UNSIGNED_PAYLOAD));
	else
		sigv4_sha256_hex(f[10].s, f[10].len, hash);
	sigv4_amz_date((time_t)now, date);

	h[0].name = "host";
	h[0].value = f[4].s;
	h[1].name = "x-amz-date";
	h[1].value = date;
	h[2].name = "x-amz-content-sha256";
	h[2].value = hash;
	nh = 3;
	for (i = 11; i + 1 < n; i += 2, nh++) {
		h[nh].name = f[i].s;
		h[nh].value = f[i + 1].s;
	}

	req.method = f[1].s;
	req.uri_path = f[2].s;
	req.query = f[3].s;
	req.headers = h;
	req.nheaders = nh;
	req.payload_hash = hash;
	key.access_key = f[5].s;
	key.secret_key = f[6].s;
	key.region = f[7].s;
	key.service = f[8].s;

	authz = sigv4_authorization(&req, &key, (time_t)now);
	creq = sigv4_canonical_request(&req, NULL);
	if (!authz || !creq) {
		free(authz);
		free(creq);
		return -EINVAL;
	}
	printf("%s\t", authz);
	print_hex(creq);
	putchar('\n');
	free(authz);
	free(creq);
	return 0;
}

static int do_presign(char **raw, struct field *f, size_t n)
{
	const char *ctype = NULL;
	struct sigv4_key key;
	long long now, expires;
	char *q;
	size_t i;

	if (n != 11)
		return -EINVAL;
	for (i = 1; i < 9; i++)
		if (!(i == 4 && !strcmp(raw[i], "-")) && !is_str(&f[i]))
			return -EINVAL;
	if (parse_num(raw[9], 0, 253402300799LL, &now) ||
	    parse_num(raw[10], 0, 0xffffffffLL, &expires))
		return -EINVAL;
	if (strcmp(raw[4], "-"))
		ctype = f[4].s;
	key.access_key = f[5].s;
	key.secret_key = f[6].s;
	key.region = f[7].s;
	key.service = f[8].s;

	q = sigv4_presign_query(f[1].s, f[2].s, f[3].s, ctype, &key,
				(time_t)now, (unsigned)expires);
	if (!q)
		return -EINVAL;
	printf("%s\n", q);
	free(q);
	return 0;
}

static int do_encode(char **raw, struct field *f, size_t n)
{
	long long slash;
	char *e;

	if (n != 3 || !f[1].s || parse_num(raw[2], 0, 1, &slash))
		return -EINVAL;
	e = sigv4_uri_encode(f[1].s, f[1].len, (int)slash);
	if (!e)
		return -ENOMEM;
	printf("%s\n", e);
	free(e);
	return 0;
}

/* Splits line in place on TABs and decodes every field that is hex. */
static int handle_line(char *line)
{
	struct field f[MAX_FIELDS];
	char *raw[MAX_FIELDS];
	size_t n = 0, i;
	char *p = line, *tab;
	int ret;

	for (;;) {
		if (n == MAX_FIELDS)
			return -E2BIG;
		raw[n++] = p;
		tab = strchr(p, '\t');
		if (!tab)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	/* Fields that are not valid hex ("-", numbers) decode to NULL. */
	for (i = 0; i < n; i++) {
		f[i].s = NULL;
		f[i].len = 0;
		if (i)
			unhex(raw[i], strlen(raw[i]), &f[i]);
	}

	if (!strcmp(raw[0], "A"))
		ret = do_auth(raw, f, n);
	else if (!strcmp(raw[0], "P"))
		ret = do_presign(raw, f, n);
	else if (!strcmp(raw[0], "E"))
		ret = do_encode(raw, f, n);
	else
		ret = -EINVAL;

	for (i = 0; i < n; i++)
		free(f[i].s);
	return ret;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ret;

	for (;;) {
		len = getline(&line, &cap, stdin);
		if (len < 0)
			break;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		ret = handle_line(line);
		if (ret)
			printf("ERROR %s\n", strerror(-ret));
		fflush(stdout);
	}
	free(line);
	return 0;
}
