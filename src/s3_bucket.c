/*
 * s3_bucket.c - the r2 tool's requests beyond the object store: the
 * service (ListBuckets), buckets made and removed, bucket subresources,
 * DeleteObjects (many keys in one request) and presigned URLs.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/md5.h>

#include "log.h"
#include "s3_i.h"
#include "sigv4.h"
#include "util.h"
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

/* ---- buckets ---- */

/* method on the bucket itself with an optional XML body; resp is set up
 * here and released by the caller. */
static int bucket_call(struct s3 *s, const char *method, const char *query,
		       const char *body, struct http_response *resp,
		       struct s3_error *err)
{
	size_t len = body ? strlen(body) : 0;
	struct s3_call c;
	char md5[32];
	int rc;

	http_response_init(resp, HTTP_SINK_BUFFER);
	resp->max_body = S3_LIST_BODY_MAX;
	error_clear(err);
	s3_call_init(&c, method, NULL);
	c.query = query;
	c.raw_errors = true;
	if (body) {
		content_md5(body, len, md5);
		if (!md5[0])
			return -ENOMEM;
		c.has_body = true;
		c.body = body;
		c.body_len = len;
		sigv4_sha256_hex(body, len, c.payload_hash);
		s3_call_add(&c, "content-md5", md5);
		s3_call_add(&c, "content-type", "application/xml");
	}
	rc = s3_request(s, &c, resp);
	if (rc || resp->status < 200 || resp->status > 299) {
		rc = tool_error(s, &c, rc, resp, err);
		if (err && !strcmp(err->code, "BucketNotEmpty"))
			rc = -ENOTEMPTY;
		else if (err && (!strcmp(err->code, "BucketAlreadyExists") ||
				 !strcmp(err->code,
					 "BucketAlreadyOwnedByYou")))
			rc = -EEXIST;
	}
	return rc;
}

int s3_bucket_create(struct s3 *s, struct s3_error *err)
{
	struct http_response resp;
	char body[512];
	bool located = strcmp(s->region, "auto") &&
		       strcmp(s->region, "us-east-1");
	int rc;

	snprintf(body, sizeof(body),
		 "<CreateBucketConfiguration xmlns=\"" XML_S3_NS "\">"
		 "<LocationConstraint>%s</LocationConstraint>"
		 "</CreateBucketConfiguration>", s->region);
	rc = bucket_call(s, "PUT", NULL, located ? body : NULL, &resp, err);
	http_response_release(&resp);
	return rc;
}

int s3_bucket_delete(struct s3 *s, struct s3_error *err)
{
	struct http_response resp;
	int rc;

	rc = bucket_call(s, "DELETE", NULL, NULL, &resp, err);
	http_response_release(&resp);
	return rc;
}

void s3_delete_failures_free(struct s3_delete_failure *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(f[i].key);
	free(f);
}

/* Can XML 1.0 carry s as text (no control character but tab, CR, LF,
 * which S3 keys may hold but a parser would normalise)? */
static bool xml_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* The <Error> entries of a DeleteResult into *out. */
static int parse_delete_result(const char *doc, size_t len,
			       struct s3_delete_failure **out, size_t *n)
{
	struct s3_delete_failure *v = NULL, *grown;
	xmlDoc *tree = NULL;
	xmlNode *root, *e, *f;
	size_t count = 0;
	int rc;

	rc = xml_read_root(doc, len, "DeleteResult", &tree, &root);
	for (e = rc ? NULL : root->children; e; e = e->next) {
		char *key = NULL, *code = NULL, *msg = NULL;

		if (!xml_is(e, "Error"))
			continue;
		for (f = e->children; f && !rc; f = f->next) {
			if (xml_is(f, "Key"))
				rc = xml_text_once(f, false, &key);
			else if (xml_is(f, "Code"))
				rc = xml_text_once(f, true, &code);
			else if (xml_is(f, "Message"))
				rc = xml_text_once(f, true, &msg);
		}
		grown = rc || !key ? NULL
				   : realloc(v, (count + 1) * sizeof(*v));
		if (grown) {
			v = grown;
			v[count].key = key;
			key = NULL;
			snprintf(v[count].code, sizeof(v[count].code), "%s",
				 code ? code : "");
			snprintf(v[count].message, sizeof(v[count].message),
				 "%s", msg ? msg : "");
			count++;
		} else if (!rc) {
			rc = key ? -ENOMEM : -EPROTO;
		}
		free(key);
		free(code);
		free(msg);
		if (rc)
			break;
	}
	xmlFreeDoc(tree);
	if (rc) {
		s3_delete_failures_free(v, count);
		return rc;
	}
	*out = v;
	*n = count;
	return 0;
}

int s3_delete_objects(struct s3 *s, const char *const *keys, size_t n,
		      struct s3_delete_failure **failed, size_t *nfailed,
		      struct s3_error *err)
{
	struct http_response resp;
	struct util_buf b;
	size_t i, sent = 0;
	char *body = NULL;
	int rc = 0;

	*failed = NULL;
	*nfailed = 0;
	error_clear(err);
	if (n > S3_DELETE_BATCH)
		return -EINVAL;
	util_buf_init(&b, XML_MAX_BUILD);
	util_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<Delete xmlns=\"" XML_S3_NS "\"><Quiet>true</Quiet>");
	for (i = 0; i < n; i++) {
		if (!xml_safe(keys[i])) {
			rc = s3_remove(&s->base, keys[i]);
			if (rc)
				goto out;
			continue;
		}
		util_buf_adds(&b, "<Object><Key>");
		xml_add_escaped(&b, keys[i], strlen(keys[i]));
		util_buf_adds(&b, "</Key></Object>");
		sent++;
	}
	util_buf_adds(&b, "</Delete>");
	body = util_buf_take(&b, NULL);
	if (!body) {
		rc = -errno;
		goto out;
	}
	if (sent == 0)
		goto out;
	rc = bucket_call(s, "POST", "delete=", body, &resp, err);
	if (!rc)
		rc = parse_delete_result(resp.body ? resp.body : "",
					 resp.body_len, failed, nfailed);
	if (rc == -EPROTO && err)
		snprintf(err->message, sizeof(err->message),
			 "unparsable DeleteObjects answer");
	http_response_release(&resp);
out:
	free(body);
	util_buf_release(&b);
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
