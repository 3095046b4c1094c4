/*
 * fuzz_sigv4.c - libFuzzer target for SigV4 canonicalisation (src/sigv4.c).
 *
 * Input layout: one flags byte, eight bytes of clock, then NUL-separated
 * fields: method, uri_path, query, payload_hash, access_key, secret_key,
 * region, service, then header name/value pairs (as many as the flags
 * say).  Checked besides memory errors:
 *   - sigv4_uri_encode gives only unreserved bytes, '/' (if kept) and %XX,
 *     and decodes back to its input;
 *   - sigv4_canonical_request has the shape AWS defines (one line per
 *     distinct header, sorted lower-case signed headers, the payload hash
 *     last), is deterministic, and canonicalising its own query again
 *     changes nothing;
 *   - sigv4_authorization fails exactly when the canonical request does
 *     (for a valid key and clock) and has the documented form;
 *   - sigv4_presign_query ends with a 64-hex signature.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_check.h"
#include "fuzz_split.h"
#include "sigv4.h"

#define MAX_HEADERS 7
/* 9999-12-31T23:59:59Z */
#define LAST_VALID_TIME 253402300799LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static int upper_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void check_uri_encode(const char *s, size_t len, int slash)
{
	char *e = sigv4_uri_encode(s, len, slash);
	size_t i, n = 0;
	int hi, lo;

	CHECK(e != NULL);
	for (i = 0; e[i]; i++) {
		unsigned char c = (unsigned char)e[i];

		CHECK(n < len);
		if (c == '%') {
			hi = upper_hex(e[i + 1]);
			lo = hi < 0 ? -1 : upper_hex(e[i + 2]);
			CHECK(hi >= 0 && lo >= 0);
			CHECK((unsigned char)s[n] == (hi << 4 | lo));
			/* only bytes that must be escaped are */
			CHECK(!is_unreserved((unsigned char)s[n]));
			CHECK(slash || s[n] != '/');
			i += 2;
		} else {
			CHECK(is_unreserved(c) || (c == '/' && !slash));
			CHECK(s[n] == e[i]);
		}
		n++;
	}
	CHECK(n == len);
	free(e);
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* The query line (third line) of a canonical request, malloc'd. */
static char *query_line(const char *creq)
{
	const char *a = strchr(creq, '\n'), *b;

	CHECK(a);
	a = strchr(a + 1, '\n');
	CHECK(a);
	b = strchr(a + 1, '\n');
	CHECK(b);
	return strndup(a + 1, (size_t)(b - a - 1));
}

static void check_signed_headers(const char *names, size_t *count)
{
	const char *p = names, *semi;
	char *prev = NULL, *cur;
	size_t n, i;

	*count = 0;
	while (*p) {
		semi = strchr(p, ';');
		n = semi ? (size_t)(semi - p) : strlen(p);
		CHECK(n > 0);
		cur = strndup(p, n);
		CHECK(cur);
		/* sorted, distinct, lower case */
		CHECK(!prev || strcmp(prev, cur) < 0);
		for (i = 0; i < n; i++)
			CHECK(!(cur[i] >= 'A' && cur[i] <= 'Z'));
		free(prev);
		prev = cur;
		(*count)++;
		p += n;
		if (*p) {
			p++;
			CHECK(*p); /* no trailing ';' */
		}
	}
	free(prev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigv4_header headers[MAX_HEADERS];
	struct sigv4_request req;
	struct sigv4_key key;
	struct fuzz_split s;
	char *creq = NULL, *creq2 = NULL, *names = NULL, *names2 = NULL;
	char *auth = NULL, *q = NULL, *creq3 = NULL, *pre = NULL;
	char date[SIGV4_AMZ_DATE_LEN];
	unsigned flags, nh, i;
	uint64_t raw = 0;
	int64_t now;
	int time_ok;
	size_t nnames, len;

	/* The whole input, NULs and all, through the encoder. */
	check_uri_encode((const char *)data, size, 0);
	check_uri_encode((const char *)data, size, 1);

	fuzz_split_init(&s, data, size);
	flags = fuzz_byte(&s);
	for (i = 0; i < 8; i++)
		raw = raw << 8 | fuzz_byte(&s);
	if (flags & 0x80) {
		now = (int64_t)raw;
	} else {
		now = (int64_t)(raw % (uint64_t)(LAST_VALID_TIME + 1));
	}
	time_ok = now >= -62167219200LL && now <= LAST_VALID_TIME;
	sigv4_amz_date((time_t)now, date);
	CHECK(strlen(date) == SIGV4_AMZ_DATE_LEN - 1);

	memset(&req, 0, sizeof(req));
	req.method = fuzz_next_str(&s);
	req.uri_path = fuzz_next(&s);
	req.query = fuzz_next(&s);
	req.payload_hash = fuzz_next_str(&s);
	if (flags & 0x40)
		req.uri_path = NULL;
	if (flags & 0x20)
		req.query = NULL;
	key.access_key = fuzz_next_str(&s);
	key.secret_key = fuzz_next_str(&s);
	key.region = fuzz_next_str(&s);
	key.service = fuzz_next_str(&s);
	nh = flags & 7;
	for (i = 0; i < nh; i++) {
		const char *n = fuzz_next(&s), *v = fuzz_next(&s);

		if (!n)
			break;
		headers[i].name = n;
		headers[i].value = v ? v : "";
	}
	nh = i;
	/* Most inputs should get past the "host is required" check. */
	if (nh < MAX_HEADERS && (flags & 0x08)) {
		headers[nh].name = "Host";
		headers[nh].value = "bucket.example.com";
		nh++;
	}
	req.headers = headers;
	req.nheaders = nh;

	check_uri_encode(req.method, strlen(req.method), 0);
	check_uri_encode(key.access_key, strlen(key.access_key), 1);

	creq = sigv4_canonical_request(&req, &names);
	if (creq) {
		CHECK(names != NULL);
		len = strlen(req.method);
		CHECK(!strncmp(creq, req.method, len) && creq[len] == '\n');
		len = strlen(creq) - strlen(req.payload_hash);
		CHECK(!strcmp(creq + len, req.payload_hash));
		CHECK(len > 0 && creq[len - 1] == '\n');
		check_signed_headers(names, &nnames);
		CHECK(nnames >= 1 && nnames <= nh);
		if (!strchr(req.method, '\n') &&
		    !(req.uri_path && strchr(req.uri_path, '\n')) &&
		    !strchr(req.payload_hash, '\n'))
			CHECK(count_char(creq, '\n') == nnames + 5);

		/* deterministic */
		creq2 = sigv4_canonical_request(&req, &names2);
		CHECK(creq2 && !strcmp(creq, creq2));
		CHECK(names2 && !strcmp(names, names2));
		free(creq2);
		creq2 = NULL;

		/* the canonical query is a fixed point */
		if (!strchr(req.method, '\n') &&
		    !(req.uri_path && strchr(req.uri_path, '\n'))) {
			q = query_line(creq);
			CHECK(q);
			req.query = q;
			creq3 = sigv4_canonical_request(&req, NULL);
			CHECK(creq3 && !strcmp(creq, creq3));
		}
	} else {
		CHECK(names == NULL);
	}

	auth = sigv4_authorization(&req, &key, (time_t)now);
	if (auth) {
		const char *sig;

		CHECK(creq != NULL && time_ok);
		CHECK(!strncmp(auth, "AWS4-HMAC-SHA256 Credential=", 28));
		CHECK(!strncmp(auth + 28, key.access_key,
			       strlen(key.access_key)));
		CHECK(strstr(auth, ", SignedHeaders="));
		len = strlen(auth);
		CHECK(len > 76);
		sig = auth + len - 76;
		CHECK(!strncmp(sig, ", Signature=", 12));
		for (i = 0; i < 64; i++)
			CHECK(sig[12 + i] && strchr("0123456789abcdef",
						    sig[12 + i]));
	} else if (creq && time_ok && key.access_key[0] && key.region[0] &&
		   key.service[0]) {
		CHECK(!"authorization failed for a valid request");
	}

	pre = sigv4_presign_query(req.method, req.uri_path ? req.uri_path : "",
				  nh ? headers[0].value : "h",
				  (flags & 0x10) ? key.region : NULL, &key,
				  (time_t)now, (unsigned)(raw & 0xfffff));
	if (pre) {
		const char *sig;

		CHECK(!strncmp(pre, "X-Amz-Algorithm=AWS4-HMAC-SHA256&"
				    "X-Amz-Credential=", 50));
		len = strlen(pre);
		CHECK(len > 81);
		sig = pre + len - 81;
		CHECK(!strncmp(sig, "&X-Amz-Signature=", 17));
		for (i = 0; i < 64; i++)
			CHECK(sig[17 + i] && strchr("0123456789abcdef",
						    sig[17 + i]));
	}

	free(pre);
	free(auth);
	free(creq3);
	free(q);
	free(creq);
	free(names);
	free(names2);
	fuzz_split_release(&s);
	return 0;
}
