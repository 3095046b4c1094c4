/*
 * s3_bucket.c - the r2 tool's requests beyond the object store: the
 * service (ListBuckets), bucket subresources and presigned URLs.
 *
 * They go through s3.c's request path (s3_i.h), so signing, retries and
 * request counts are the store's, but they differ from store calls in how
 * they fail: transport errnos are kept (raw_errors) and what the server
 * said is copied into a struct s3_error, so that r2 can print a precise
 * sentence (s3_error_sentence) instead of store.h's bare -EIO.  Nothing
 * here is reached by the mount.
 */
#include "s3_bucket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/md5.h>

#include "log.h"
#include "s3_i.h"
#include "sigv4.h"
#include "xml.h"

static void error_clear(struct s3_error *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

/* Fill e from a transport failure (rc) or a non-2xx answer; returns the
 * errno to give back. */
static int tool_error(struct s3 *s, const struct s3_call *c, int rc,
		      const struct http_response *resp, struct s3_error *e)
{
	struct xml_error xe = { 0 };

	if (rc) {
		if (e)
			snprintf(e->message, sizeof(e->message), "%s",
				 resp->errmsg);
		return rc;
	}
	if (resp->err_body && resp->err_len)
		xml_parse_error(resp->err_body, resp->err_len, &xe);
	rc = s3_error_to_errno(resp->status, xe.code);
	log_debug("%s %s?%s: HTTP %ld %s", c->method, s->bucket,
		  c->query ? c->query : "", resp->status,
		  xe.code ? xe.code : "");
	if (e) {
		e->status = resp->status;
		snprintf(e->code, sizeof(e->code), "%s",
			 xe.code ? xe.code : "");
		snprintf(e->message, sizeof(e->message), "%s",
			 xe.message ? xe.message : "");
	}
	xml_error_release(&xe);
	return rc;
}

/* ---- the service ---- */

void s3_buckets_free(struct s3_bucket *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(b[i].name);
	free(b);
}

int s3_list_buckets(struct s3 *s, struct s3_bucket **out, size_t *n,
		    struct s3_error *err)
{
	struct xml_bucket_list xl = { 0 };
	struct http_response resp;
	struct s3_bucket *all = NULL, *grown;
	char query[4096], *token = NULL;
	size_t count = 0, i;
	unsigned pages;
	int rc = 0;

	*out = NULL;
	*n = 0;
	error_clear(err);
	/* A server that keeps sending tokens must not keep us forever. */
	for (pages = 0; pages < 10000; pages++) {
		struct s3_call c;

		s3_call_init(&c, "GET", NULL);
		c.service = true;
		c.raw_errors = true;
		if (token) {
			query[0] = '\0';
			rc = s3_query_add(query, sizeof(query),
					  "continuation-token", token);
			if (rc)
				break;
			c.query = query;
		}
		http_response_init(&resp, HTTP_SINK_BUFFER);
		resp.max_body = S3_LIST_BODY_MAX;
		rc = s3_request(s, &c, &resp);
		if (rc || resp.status != 200) {
			rc = tool_error(s, &c, rc, &resp, err);
			http_response_release(&resp);
			break;
		}
		rc = xml_parse_list_buckets(resp.body, resp.body_len, &xl);
		http_response_release(&resp);
		if (rc) {
			if (rc == -EPROTO && err)
				snprintf(err->message, sizeof(err->message),
					 "unparsable ListBuckets answer");
			break;
		}
		grown = realloc(all, (count + xl.n + 1) * sizeof(*all));
		if (!grown) {
			rc = -ENOMEM;
			break;
		}
		all = grown;
		for (i = 0; i < xl.n; i++) {
			all[count].name = xl.buckets[i].name;
			all[count++].created = xl.buckets[i].created;
			xl.buckets[i].name = NULL;
		}
		free(token);
		token = xl.next_token;
		xl.next_token = NULL;
		xml_bucket_list_release(&xl);
		if (!token)
			break;
	}
	xml_bucket_list_release(&xl);
	free(token);
	if (rc) {
		s3_buckets_free(all, count);
		return rc;
	}
	*out = all;
	*n = count;
	return 0;
}

/* ---- bucket subresources ---- */

/* base64 of the MD5 of data (24 characters + NUL). */
static void content_md5(const void *data, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) ||
	    mdlen != MD5_DIGEST_LENGTH)
		return;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

/*
 * method ("GET", "PUT" with body and content_type, "DELETE") on the
 * bucket's subresource name (?name=, letters only, else -EINVAL).  resp
 * is set up here and released by the caller, also after an error.  0 for
 * a 200 (or a 204, but for GET), else the errno, with err filled.
 */
static int subresource(struct s3 *s, const char *method, const char *name,
		       const char *content_type, const void *body,
		       size_t len, struct http_response *resp,
		       struct s3_error *err)
{
	bool put = !strcmp(method, "PUT"), get = !strcmp(method, "GET");
	size_t i, n = strlen(name);
	char query[64], md5[32];
	struct s3_call c;
	int rc;

	http_response_init(resp, HTTP_SINK_BUFFER);
	resp->max_body = S3_SMALL_BODY_MAX;
	error_clear(err);
	if (n == 0 || n + 2 > sizeof(query))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z')))
			return -EINVAL;
	snprintf(query, sizeof(query), "%s=", name);
	s3_call_init(&c, method, NULL);
	c.query = query;
	c.raw_errors = true;
	if (put) {
		content_md5(body, len, md5);
		if (!md5[0])
			return -ENOMEM; /* libcrypto failed: not in practice */
		c.has_body = true;
		c.body = body;
		c.body_len = len;
		sigv4_sha256_hex(body, len, c.payload_hash);
		s3_call_add(&c, "content-md5", md5);
		if (content_type)
			s3_call_add(&c, "content-type", content_type);
	}
	rc = s3_request(s, &c, resp);
	if (rc || (resp->status != 200 && (get || resp->status != 204)))
		rc = tool_error(s, &c, rc, resp, err);
	return rc;
}

int s3_bucket_get_subresource(struct s3 *s, const char *name, char **body,
			      size_t *len, struct s3_error *err)
{
	struct http_response resp;
	int rc;

	*body = NULL;
	*len = 0;
	rc = subresource(s, "GET", name, NULL, NULL, 0, &resp, err);
	if (rc)
		goto out;
	*body = resp.body ? resp.body : strdup("");
	resp.body = NULL;
	if (!*body) {
		rc = -ENOMEM;
		goto out;
	}
	*len = resp.body_len;
out:
	http_response_release(&resp);
	return rc;
}

int s3_bucket_put_subresource(struct s3 *s, const char *name,
			      const char *content_type, const void *body,
			      size_t len, struct s3_error *err)
{
	struct http_response resp;
	int rc;

	rc = subresource(s, "PUT", name, content_type, body, len, &resp,
			 err);
	http_response_release(&resp);
	return rc;
}

int s3_bucket_delete_subresource(struct s3 *s, const char *name,
				 struct s3_error *err)
{
	struct http_response resp;
	int rc;

	rc = subresource(s, "DELETE", name, NULL, NULL, 0, &resp, err);
	http_response_release(&resp);
	return rc;
}

/* ---- presigned URLs ---- */

char *s3_presign_url(struct s3 *s, const char *method, const char *key,
		     const char *content_type, time_t now, unsigned expires)
{
	struct sigv4_key skey = { s->creds.access_key, s->creds.secret_key, s->region,
				  "s3" };
	char *path = NULL, *query = NULL, *url = NULL;
	size_t len;

	if (s->creds.session_token) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!key || !*key || !s->bucket[0] || expires < 1 ||
	    expires > SIGV4_MAX_EXPIRES) {
		errno = EINVAL;
		return NULL;
	}
	path = s3_build_path(s, key);
	if (path)
		query = sigv4_presign_query(method, path, s->host,
					    content_type, &skey, now,
					    expires);
	if (query) {
		len = strlen(s->endpoint) + strlen(path) + strlen(query) + 2;
		url = malloc(len);
		if (url)
			snprintf(url, len, "%s%s?%s", s->endpoint, path,
				 query);
	}
	free(path);
	free(query);
	if (!url)
		errno = ENOMEM;
	return url;
}

/* ---- sentences ---- */

void s3_error_sentence(const struct s3 *s, int rc, const struct s3_error *e,
		       const char *what, char *buf, size_t len)
{
	const char *code = e ? e->code : "";
	const char *msg = e ? e->message : "";

	if (!e || e->status == 0) {
		if (s3_transport_sentence(s, rc, buf, len))
			return;
		if (rc == -ECONNRESET || rc == -EPROTO || rc == -EOVERFLOW)
			snprintf(buf, len, "cannot talk to %s: %s",
				 s->endpoint, msg[0] ? msg : strerror(-rc));
		else
			snprintf(buf, len, "%s failed: %s", what,
				 msg[0] ? msg : strerror(-rc));
		return;
	}
	if (s3_code_sentence(s, e->status, code, "--region", buf, len))
		return;
	if (!strcmp(code, "AccessDenied"))
		snprintf(buf, len, "%s was denied for this key "
			 "(AccessDenied)", what);
	else if (code[0])
		snprintf(buf, len, "%s failed: the server answered HTTP %ld "
			 "%s%s%s", what, e->status, code, msg[0] ? ": " : "",
			 msg);
	else
		snprintf(buf, len, "%s failed: %s answered HTTP %ld, which is "
			 "not an S3 answer", what, s->endpoint, e->status);
}
