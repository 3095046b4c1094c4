/*
 * sigv4.c - AWS Signature Version 4 (header auth and presigned URLs).
 *
 * Signing follows AWS's recipe step by step, one function per step:
 *
 *   canonical request -> string to sign -> signing key -> signature
 *
 * The canonical request is built from three canonical pieces: the path
 * exactly as the caller encoded it (S3 neither normalizes nor double-encodes
 * paths), the query split into name/value pairs that are percent-decoded,
 * re-encoded and sorted, and the headers lower-cased, trimmed, folded,
 * merged by name and sorted.
 *
 * Every string is built in a bounded growable buffer (struct util_buf,
 * capped at SIGV4_MAX_TEXT): its first failure sticks, so the builders
 * append without checking each step and look once at the end.
 * Nothing is kept between calls; secret-derived keys are wiped on return.
 * SHA-256 and HMAC-SHA256 come from OpenSSL 3 (EVP_Digest, EVP_Q_mac).
 */
#include "sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util.h"

/* Upper bound for any string we build (canonical request, query, ...). */
#define SIGV4_MAX_TEXT (1024 * 1024)
#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SHA256_LEN 32

char *sigv4_uri_encode(const char *s, size_t len, int encode_slash)
{
	struct util_buf b = { .max = SIGV4_MAX_TEXT };

	if (!s && len)
		return NULL;
	util_buf_add_uri(&b, s, len, !encode_slash);
	return util_buf_take(&b, NULL);
}

/* Decodes then AWS-encodes (slash too) s[0..len); a new string or NULL. */
static char *query_reencode(const char *s, size_t len)
{
	char *tmp, *res;
	size_t n;

	tmp = malloc(len + 1);
	if (!tmp)
		return NULL;
	n = util_uri_decode(s, len, tmp);
	res = sigv4_uri_encode(tmp, n, 1);
	free(tmp);
	return res;
}

struct qparam {
	char *name;  /* canonical (AWS-encoded) */
	char *value; /* canonical; "" when the pair had no '=' */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->value, y->value);
}

/*
 * Appends the canonical form of query to b: pairs split on '&' (empty ones
 * skipped) and the first '=', re-encoded, sorted by name then value.
 */
static int add_canonical_query(struct util_buf *b, const char *query)
{
	struct qparam *params = NULL;
	const char *seg, *end, *eq;
	size_t n = 0, max = 1, i;
	int ret = -ENOMEM;

	if (!query || !*query)
		return 0;
	for (seg = query; *seg; seg++)
		if (*seg == '&')
			max++;
	params = calloc(max, sizeof(*params));
	if (!params)
		goto out;

	for (seg = query; *seg; seg = *end ? end + 1 : end) {
		end = strchr(seg, '&');
		if (!end)
			end = seg + strlen(seg);
		if (end == seg)
			continue;
		eq = memchr(seg, '=', (size_t)(end - seg));
		if (!eq)
			eq = end;
		params[n].name = query_reencode(seg, (size_t)(eq - seg));
		params[n].value = eq < end ?
			query_reencode(eq + 1, (size_t)(end - eq - 1)) :
			sigv4_uri_encode("", 0, 1);
		n++;
		if (!params[n - 1].name || !params[n - 1].value)
			goto out;
	}

	qsort(params, n, sizeof(*params), qparam_cmp);
	for (i = 0; i < n; i++) {
		if (i)
			util_buf_adds(b, "&");
		util_buf_adds(b, params[i].name);
		util_buf_adds(b, "=");
		util_buf_adds(b, params[i].value);
	}
	ret = 0;
out:
	if (params) {
		for (i = 0; i < n; i++) {
			free(params[i].name);
			free(params[i].value);
		}
		free(params);
	}
	return ret;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

struct chdr {
	char *name;   /* lower-cased */
	char *value;  /* trimmed, inner whitespace runs folded to one space */
	size_t index; /* position in the request: keeps duplicates in order */
};

static int chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * RFC 9110 tchar.  Anything else in a name (';' above all, the separator
 * of the signed-headers list) would make the signature ambiguous.
 */
static int is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Lower-cased copy of a header name: -EINVAL if empty or not a token. */
static int header_name(const char *s, char **out)
{
	size_t i, len = strlen(s);
	char *p;

	if (!len)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return -EINVAL;
	p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < len; i++)
		p[i] = s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i];
	p[len] = '\0';
	*out = p;
	return 0;
}

/* Trimmed copy of a header value with whitespace runs folded to ' '. */
static char *header_value(const char *s)
{
	size_t n = 0;
	int space = 0;
	char *p;

	p = malloc(strlen(s) + 1);
	if (!p)
		return NULL;
	for (; *s; s++) {
		if (is_space(*s)) {
			space = 1;
			continue;
		}
		if (space && n)
			p[n++] = ' ';
		space = 0;
		p[n++] = *s;
	}
	p[n] = '\0';
	return p;
}

/*
 * Appends "name:v1,v2\n" per distinct header name to canon and
 * "name;name" to names.  Fails with -EINVAL without a host header.
 */
static int add_canonical_headers(struct util_buf *canon,
				 struct util_buf *names,
				 const struct sigv4_header *headers, size_t n)
{
	struct chdr *h = NULL;
	int have_host = 0, ret;
	size_t i;

	if (!n || !headers)
		return -EINVAL;
	h = calloc(n, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ret = -EINVAL;
		if (!headers[i].name || !headers[i].value)
			goto out;
		ret = header_name(headers[i].name, &h[i].name);
		if (ret)
			goto out;
		ret = -ENOMEM;
		h[i].value = header_value(headers[i].value);
		if (!h[i].value)
			goto out;
		h[i].index = i;
		if (!strcmp(h[i].name, "host"))
			have_host = 1;
	}
	ret = -EINVAL;
	if (!have_host)
		goto out;

	qsort(h, n, sizeof(*h), chdr_cmp);
	for (i = 0; i < n; i++) {
		if (i && !strcmp(h[i].name, h[i - 1].name)) {
			util_buf_adds(canon, ",");
			util_buf_adds(canon, h[i].value);
			continue;
		}
		if (i) {
			util_buf_adds(canon, "\n");
			util_buf_adds(names, ";");
		}
		util_buf_adds(canon, h[i].name);
		util_buf_adds(canon, ":");
		util_buf_adds(canon, h[i].value);
		util_buf_adds(names, h[i].name);
	}
	util_buf_adds(canon, "\n");
	ret = 0;
out:
	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	return ret;
}

char *sigv4_canonical_request(const struct sigv4_request *req,
			      char **signed_headers)
{
	struct util_buf b = { .max = SIGV4_MAX_TEXT };
	struct util_buf names = { .max = SIGV4_MAX_TEXT };
	char *res = NULL;

	if (signed_headers)
		*signed_headers = NULL;
	if (!req || !req->method || !*req->method || !req->payload_hash)
		goto out;

	util_buf_adds(&b, req->method);
	util_buf_adds(&b, "\n");
	util_buf_adds(&b, req->uri_path && *req->uri_path ? req->uri_path
							    : "/");
	util_buf_adds(&b, "\n");
	if (add_canonical_query(&b, req->query))
		goto out;
	util_buf_adds(&b, "\n");
	if (add_canonical_headers(&b, &names, req->headers, req->nheaders))
		goto out;
	util_buf_adds(&b, "\n");
	util_buf_add(&b, names.p ? names.p : "", names.len);
	util_buf_adds(&b, "\n");
	util_buf_adds(&b, req->payload_hash);

	if (b.err || names.err)
		goto out;
	if (signed_headers) {
		*signed_headers = util_buf_take(&names, NULL);
		if (!*signed_headers)
			goto out;
	}
	res = util_buf_take(&b, NULL);
out:
	util_buf_release(&b);
	util_buf_release(&names);
	return res;
}

static int format_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN])
{
	struct tm tm;
	int n;

	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900)
		return -ERANGE;
	n = snprintf(out, SIGV4_AMZ_DATE_LEN, "%04d%02d%02dT%02d%02d%02dZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec);
	if (n != SIGV4_AMZ_DATE_LEN - 1)
		return -ERANGE;
	return 0;
}

void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN])
{
	if (format_amz_date(t, out))
		memcpy(out, "00000000T000000Z", SIGV4_AMZ_DATE_LEN);
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != SHA256_LEN)
		return -EIO;
	util_hex_encode(md, SHA256_LEN, out);
	return 0;
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	sha256_hex(data, len, out);
}

char *sigv4_string_to_sign(const char *canonical_request,
			   const char *amz_date, const char *scope)
{
	struct util_buf b = { .max = SIGV4_MAX_TEXT };
	char hash[65];

	if (!canonical_request || !amz_date || !scope)
		return NULL;
	if (sha256_hex(canonical_request, strlen(canonical_request), hash))
		return NULL;
	util_buf_adds(&b, SIGV4_ALGORITHM "\n");
	util_buf_adds(&b, amz_date);
	util_buf_adds(&b, "\n");
	util_buf_adds(&b, scope);
	util_buf_adds(&b, "\n");
	util_buf_adds(&b, hash);
	return util_buf_take(&b, NULL);
}

static int hmac_sha256(const void *key, size_t keylen, const void *data,
		       size_t len, unsigned char out[SHA256_LEN])
{
	size_t outlen = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
		       data, len, out, SHA256_LEN, &outlen) ||
	    outlen != SHA256_LEN)
		return -EIO;
	return 0;
}

static int key_valid(const struct sigv4_key *key)
{
	return key && key->access_key && *key->access_key && key->secret_key &&
	       key->region && *key->region && key->service && *key->service;
}

/*
 * Hex signature of string_to_sign: HMAC with the key derived from the
 * secret, the date (first 8 characters of amz_date), region and service.
 */
static int signature(const struct sigv4_key *key, const char *amz_date,
		     const char *string_to_sign, char out[65])
{
	unsigned char k1[SHA256_LEN], k2[SHA256_LEN];
	size_t slen = strlen(key->secret_key);
	char *secret;
	int ret;

	secret = malloc(slen + 4);
	if (!secret)
		return -ENOMEM;
	memcpy(secret, "AWS4", 4);
	memcpy(secret + 4, key->secret_key, slen);

	ret = hmac_sha256(secret, slen + 4, amz_date, 8, k1);
	if (!ret)
		ret = hmac_sha256(k1, sizeof(k1), key->region,
				  strlen(key->region), k2);
	if (!ret)
		ret = hmac_sha256(k2, sizeof(k2), key->service,
				  strlen(key->service), k1);
	if (!ret)
		ret = hmac_sha256(k1, sizeof(k1), "aws4_request", 12, k2);
	if (!ret)
		ret = hmac_sha256(k2, sizeof(k2), string_to_sign,
				  strlen(string_to_sign), k1);
	if (!ret)
		util_hex_encode(k1, sizeof(k1), out);

	OPENSSL_cleanse(secret, slen + 4);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	free(secret);
	return ret;
}

/* "YYYYMMDD/region/service/aws4_request" for amz_date; NULL on ENOMEM. */
static char *credential_scope(const struct sigv4_key *key,
			      const char *amz_date)
{
	struct util_buf b = { .max = SIGV4_MAX_TEXT };

	util_buf_add(&b, amz_date, 8);
	util_buf_adds(&b, "/");
	util_buf_adds(&b, key->region);
	util_buf_adds(&b, "/");
	util_buf_adds(&b, key->service);
	util_buf_adds(&b, "/aws4_request");
	return util_buf_take(&b, NULL);
}

/*
 * Canonical request, string to sign and signature of req; on success
 * *sig holds the hex signature and, if wanted, *signed_headers the list.
 */
static int sign_request(const struct sigv4_request *req,
			const struct sigv4_key *key, const char *date,
			const char *scope, char **signed_headers,
			char sig[65])
{
	char *creq = NULL, *sts = NULL;
	int ret = -EINVAL;

	creq = sigv4_canonical_request(req, signed_headers);
	if (!creq)
		goto out;
	ret = -ENOMEM;
	sts = sigv4_string_to_sign(creq, date, scope);
	if (!sts)
		goto out;
	ret = signature(key, date, sts, sig);
out:
	if (ret && signed_headers) {
		free(*signed_headers);
		*signed_headers = NULL;
	}
	free(creq);
	free(sts);
	return ret;
}

char *sigv4_authorization(const struct sigv4_request *req,
			  const struct sigv4_key *key, time_t now)
{
	char date[SIGV4_AMZ_DATE_LEN], sig[65];
	char *scope = NULL, *names = NULL;
	struct util_buf b = { .max = SIGV4_MAX_TEXT };
	char *res = NULL;

	if (!req || !key_valid(key) || format_amz_date(now, date))
		return NULL;
	scope = credential_scope(key, date);
	if (!scope)
		goto out;
	if (sign_request(req, key, date, scope, &names, sig))
		goto out;

	util_buf_adds(&b, SIGV4_ALGORITHM " Credential=");
	util_buf_adds(&b, key->access_key);
	util_buf_adds(&b, "/");
	util_buf_adds(&b, scope);
	util_buf_adds(&b, ", SignedHeaders=");
	util_buf_adds(&b, names);
	util_buf_adds(&b, ", Signature=");
	util_buf_adds(&b, sig);
	res = util_buf_take(&b, NULL);
out:
	free(scope);
	free(names);
	return res;
}

char *sigv4_presign_query(const char *method, const char *uri_path,
			  const char *host, const char *content_type,
			  const struct sigv4_key *key, time_t now,
			  unsigned expires)
{
	struct sigv4_header headers[2];
	struct sigv4_request req;
	char date[SIGV4_AMZ_DATE_LEN], sig[65], num[16];
	struct util_buf q = { .max = SIGV4_MAX_TEXT };
	struct util_buf cred = { .max = SIGV4_MAX_TEXT };
	char *scope = NULL, *res = NULL;
	size_t n = 0;

	if (!method || !*method || !uri_path || !host || !*host ||
	    !key_valid(key) || expires < 1 || expires > SIGV4_MAX_EXPIRES ||
	    format_amz_date(now, date))
		return NULL;
	scope = credential_scope(key, date);
	if (!scope)
		goto out;
	util_buf_adds(&cred, key->access_key);
	util_buf_adds(&cred, "/");
	util_buf_adds(&cred, scope);
	if (cred.err)
		goto out;
	snprintf(num, sizeof(num), "%u", expires);

	if (content_type) {
		headers[n].name = "content-type";
		headers[n++].value = content_type;
	}
	headers[n].name = "host";
	headers[n++].value = host;

	/* Already in canonical order; X-Amz-Signature goes last. */
	util_buf_adds(&q, "X-Amz-Algorithm=" SIGV4_ALGORITHM
			  "&X-Amz-Credential=");
	util_buf_add_uri(&q, cred.p, cred.len, false);
	util_buf_adds(&q, "&X-Amz-Date=");
	util_buf_adds(&q, date);
	util_buf_adds(&q, "&X-Amz-Expires=");
	util_buf_adds(&q, num);
	util_buf_adds(&q, content_type ?
			  "&X-Amz-SignedHeaders=content-type%3Bhost" :
			  "&X-Amz-SignedHeaders=host");
	if (q.err)
		goto out;

	req.method = method;
	req.uri_path = uri_path;
	req.query = q.p;
	req.headers = headers;
	req.nheaders = n;
	req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	if (sign_request(&req, key, date, scope, NULL, sig))
		goto out;
	util_buf_adds(&q, "&X-Amz-Signature=");
	util_buf_adds(&q, sig);
	res = util_buf_take(&q, NULL);
out:
	free(scope);
	util_buf_release(&cred);
	util_buf_release(&q);
	return res;
}
