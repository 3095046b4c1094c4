/*
 * s3.c - the S3 object store over HTTP.
 *
 * Every request goes through s3_request(): build the path-style URL, sign
 * it (SigV4, payload hash in x-amz-content-sha256), perform it on a pooled
 * connection, and retry with jittered exponential backoff on network
 * errors, 429 and 5xx (honouring Retry-After).  Non-2xx answers become an
 * errno in exactly one place, s3_error_to_errno().
 *
 * Bodies are streamed from and to files, so memory does not depend on
 * object size.  Upload payloads are hashed in full (SHA-256) so the server
 * verifies every byte; aws-chunked signing is never used (R2 lacks it).
 *
 * struct s3 (s3_i.h) is the client; its first member is the struct store
 * the mount sees, and only this file's store ops cast back from it.  The
 * r2 tool's requests beyond the store (ListBuckets, bucket subresources,
 * presigned URLs) are in s3_bucket.c and take the struct s3 itself; they
 * share s3_request() and the sentences that explain failures, which the
 * mount check (s3_probe) uses too.
 */
#include "s3.h"
#include "s3_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "creds.h"
#include "http.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"
#include "xml.h"

/* The store ops are only ever installed on a struct s3 (s3_ops). */
static struct s3 *to_s3(struct store *s)
{
	return (struct s3 *)s;
}

void store_object_release(struct store_object *obj)
{
	size_t i;

	for (i = 0; i < obj->nmeta; i++) {
		free(obj->meta[i].name);
		free(obj->meta[i].value);
	}
	free(obj->meta);
	free(obj->content_type);
	memset(obj, 0, sizeof(*obj));
}

const char *store_object_meta(const struct store_object *obj,
			      const char *name)
{
	size_t i;

	for (i = 0; i < obj->nmeta; i++)
		if (!strcmp(obj->meta[i].name, name))
			return obj->meta[i].value;
	return NULL;
}

void store_list_release(struct store_list *l)
{
	size_t i;

	for (i = 0; i < l->nentries; i++) {
		free(l->entries[i].key);
		free(l->entries[i].etag);
	}
	for (i = 0; i < l->nprefixes; i++)
		free(l->prefixes[i]);
	free(l->entries);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int s3_error_to_errno(long status, const char *code)
{
	if (code) {
		if (!strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload"))
			return -ENOENT;
		if (!strcmp(code, "KeyTooLongError"))
			return -ENAMETOOLONG;
		if (!strcmp(code, "EntityTooLarge"))
			return -EFBIG;
		if (!strcmp(code, "PreconditionFailed"))
			return -ESTALE;
		if (!strcmp(code, "AccessDenied") ||
		    !strcmp(code, "InvalidAccessKeyId") ||
		    !strcmp(code, "SignatureDoesNotMatch") ||
		    !strcmp(code, "RequestTimeTooSkewed"))
			return -EACCES;
		if (!strcmp(code, "NotImplemented"))
			return -EOPNOTSUPP;
		if (!strcmp(code, "InvalidArgument") ||
		    !strcmp(code, "InvalidRequest"))
			return -EINVAL;
	}
	switch (status) {
	case 404:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 412:
		return -ESTALE;
	case 413:
		return -EFBIG;
	case 501:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

static bool status_is_transient(long status)
{
	return status == 429 || status == 500 || status == 502 ||
	       status == 503 || status == 504;
}

static void backoff_sleep(unsigned attempt, const char *retry_after)
{
	double base = 0.1, cap = 10.0, d;
	struct timespec ts;

	d = base * (double)(1u << (attempt < 10 ? attempt : 10));
	if (d > cap)
		d = cap;
	/* full jitter in [d/2, d): spreads retries of parallel workers */
	d = d / 2 + (d / 2) * ((double)random() / ((double)RAND_MAX + 1));
	if (retry_after) {
		char *end;
		long ra = strtol(retry_after, &end, 10);

		if (end != retry_after && ra > 0 && ra <= 60 && ra > d)
			d = (double)ra;
	}
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int s3_call_add(struct s3_call *c, const char *name, const char *value)
{
	if (c->nextra >= S3_MAX_EXTRA)
		return -E2BIG;
	c->extra[c->nextra].name = name;
	c->extra[c->nextra].value = value;
	c->nextra++;
	return 0;
}

char *s3_build_path(const struct s3 *s, const char *key)
{
	char *enc = NULL, *path;
	size_t len;

	if (key) {
		enc = sigv4_uri_encode(key, strlen(key), 0);
		if (!enc)
			return NULL;
	}
	len = strlen(s->bucket) + (enc ? strlen(enc) : 0) + 3;
	path = malloc(len);
	if (path)
		snprintf(path, len, "/%s%s%s", s->bucket, enc ? "/" : "",
			 enc ? enc : "");
	free(enc);
	return path;
}

static void add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/*
 * Count one attempt by R2's billing class: Class A for writes and
 * listings (PUT, POST, COPY, LIST, multipart), Class B for reads (GET,
 * HEAD); DELETE is free.
 */
static void count_request(struct s3 *s, const struct s3_call *c,
			  const struct http_request *req,
			  const struct http_response *resp, int rc,
			  unsigned attempt)
{
	const char *m = c->method;
	bool list = !c->key && c->query && strstr(c->query, "list-type");

	if (!strcmp(m, "GET") && !list)
		add(&s->n.class_b, 1);
	else if (!strcmp(m, "HEAD"))
		add(&s->n.class_b, 1);
	else if (strcmp(m, "DELETE"))
		add(&s->n.class_a, 1);
	if (attempt > 0)
		add(&s->n.retries, 1);
	if (!rc && resp->status == 429)
		add(&s->n.throttled, 1);
	if (rc || resp->status >= 500)
		add(&s->n.failures, 1);
	if (req->has_body)
		add(&s->n.bytes_up, req->body_len);
	if (!rc && resp->status >= 200 && resp->status < 300)
		add(&s->n.bytes_down, resp->body_len);
}

static void s3_stats(struct store *st, struct store_stats *out)
{
	struct s3 *s = (struct s3 *)st;

	out->class_a = __atomic_load_n(&s->n.class_a, __ATOMIC_RELAXED);
	out->class_b = __atomic_load_n(&s->n.class_b, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&s->n.retries, __ATOMIC_RELAXED);
	out->throttled = __atomic_load_n(&s->n.throttled, __ATOMIC_RELAXED);
	out->failures = __atomic_load_n(&s->n.failures, __ATOMIC_RELAXED);
	out->bytes_up = __atomic_load_n(&s->n.bytes_up, __ATOMIC_RELAXED);
	out->bytes_down = __atomic_load_n(&s->n.bytes_down, __ATOMIC_RELAXED);
}


/* s3_i.h */
int s3_request(struct s3 *s, struct s3_call *c, struct http_response *resp)
{
	struct sigv4_header hdrs[S3_MAX_EXTRA + 4];
	struct sigv4_request sreq;
	struct sigv4_key skey = { s->access_key, s->secret_key, s->region,
				  "s3" };
	struct http_response tmpl = *resp;
	struct curl_slist *list = NULL;
	struct http_request hreq;
	char amz_date[SIGV4_AMZ_DATE_LEN];
	char *path = NULL, *url = NULL, *authz = NULL;
	unsigned attempt, attempts;
	size_t n, i, urllen;
	int rc = 0;

	path = c->service ? strdup("/") : s3_build_path(s, c->key);
	if (!path)
		return -ENOMEM;
	urllen = strlen(s->endpoint) + strlen(path) +
		 (c->query ? strlen(c->query) : 0) + 2;
	url = malloc(urllen);
	if (!url) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(url, urllen, "%s%s%s%s", s->endpoint, path,
		 c->query && c->query[0] ? "?" : "", c->query ? c->query : "");
	if (!c->payload_hash[0])
		snprintf(c->payload_hash, sizeof(c->payload_hash), "%s",
			 SIGV4_UNSIGNED_PAYLOAD);
	attempts = c->max_attempts ? c->max_attempts : 1 + s->retries;

	for (attempt = 0;; attempt++) {
		time_t now = time(NULL); /* one reading: header and signature
					    must agree */

		*resp = tmpl;
		rc = 0; /* the failed attempt's error must not stick */
		n = 0;
		sigv4_amz_date(now, amz_date);
		hdrs[n++] = (struct sigv4_header){ "host", s->host };
		hdrs[n++] = (struct sigv4_header){ "x-amz-date", amz_date };
		hdrs[n++] = (struct sigv4_header){ "x-amz-content-sha256",
						   c->payload_hash };
		if (s->session_token)
			hdrs[n++] = (struct sigv4_header){
				"x-amz-security-token", s->session_token };
		for (i = 0; i < c->nextra; i++)
			hdrs[n++] = c->extra[i];
		sreq = (struct sigv4_request){
			.method = c->method,
			.uri_path = path,
			.query = c->query,
			.headers = hdrs,
			.nheaders = n,
			.payload_hash = c->payload_hash,
		};
		authz = sigv4_authorization(&sreq, &skey, now);
		if (!authz) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < n; i++)
			if (!http_add_header(&list, hdrs[i].name,
					     hdrs[i].value))
				rc = -ENOMEM;
		if (!http_add_header(&list, "Authorization", authz))
			rc = -ENOMEM;
		explicit_bzero(authz, strlen(authz));
		free(authz);
		authz = NULL;
		if (rc)
			goto out;

		hreq = (struct http_request){
			.method = c->method,
			.url = url,
			.headers = list,
			.body = c->body,
			.body_len = c->body_fd >= 0 ? c->body_fd_len
						    : c->body_len,
			.body_fd = c->body_fd,
			.body_off = (off_t)c->body_fd_off,
			.has_body = c->has_body,
		};
		rc = http_perform(s->pool, &hreq, resp);
		curl_slist_free_all(list);
		list = NULL;
		count_request(s, c, &hreq, resp, rc, attempt);

		if (attempt + 1 >= attempts)
			break;
		if (rc && http_error_is_transient(rc)) {
			log_debug("%s %s: %s; retrying", c->method, path,
				  resp->errmsg);
		} else if (!rc && status_is_transient(resp->status)) {
			log_debug("%s %s: HTTP %ld; retrying", c->method, path,
				  resp->status);
		} else {
			break;
		}
		backoff_sleep(attempt,
			      rc ? NULL : http_response_header(resp,
							       "retry-after"));
		http_response_release(resp);
	}
	if (rc) {
		log_debug("%s %s failed: %s", c->method, path, resp->errmsg);
		/* the store's contract: network failures are EIO */
		if (!c->raw_errors && (http_error_is_transient(rc) ||
				       rc == -EPROTO || rc == -EOVERFLOW))
			rc = -EIO;
	}
out:
	curl_slist_free_all(list);
	free(url);
	free(path);
	return rc;
}

/* errno for a completed non-2xx answer, logging the S3 code. */
static int s3_status_error(struct s3 *s, const struct s3_call *c,
			   const struct http_response *resp)
{
	struct xml_error xe = { 0 };
	int err;

	if (resp->err_body && resp->err_len)
		xml_parse_error(resp->err_body, resp->err_len, &xe);
	err = s3_error_to_errno(resp->status, xe.code);
	if (err != -ENOENT)
		log_debug("%s %s/%s: HTTP %ld %s", c->method, s->bucket,
			  c->key ? c->key : "", resp->status,
			  xe.code ? xe.code : "");
	xml_error_release(&xe);
	return err;
}

static void strip_quotes(const char *in, char *out, size_t outlen)
{
	size_t n;

	if (!in) {
		out[0] = '\0';
		return;
	}
	if (in[0] == '"')
		in++;
	n = strlen(in);
	if (n > 0 && in[n - 1] == '"')
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, in, n);
	out[n] = '\0';
}

void s3_call_init(struct s3_call *c, const char *method, const char *key)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->key = key;
	c->body_fd = -1;
}

static int s3_head(struct store *st, const char *key, struct store_object *out)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	const char *v;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	s3_call_init(&c, "HEAD", key);
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = 0;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	v = http_response_header(&resp, "content-length");
	out->size = v ? strtoull(v, NULL, 10) : 0;
	strip_quotes(http_response_header(&resp, "etag"), out->etag,
		     sizeof(out->etag));
	v = http_response_header(&resp, "last-modified");
	out->last_modified = v ? curl_getdate(v, NULL) : 0;
	if (out->last_modified < 0)
		out->last_modified = 0;
	v = http_response_header(&resp, "date");
	out->date = v ? curl_getdate(v, NULL) : 0;
	if (out->date < 0)
		out->date = 0;
	v = http_response_header(&resp, "content-type");
	if (v) {
		out->content_type = strdup(v);
		if (!out->content_type) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < resp.nheaders; i++) {
		struct store_meta *m;

		if (strncmp(resp.headers[i].name, "x-amz-meta-", 11))
			continue;
		m = realloc(out->meta, (out->nmeta + 1) * sizeof(*m));
		if (!m) {
			rc = -ENOMEM;
			goto out;
		}
		out->meta = m;
		m[out->nmeta].name = strdup(resp.headers[i].name + 11);
		m[out->nmeta].value = strdup(resp.headers[i].value);
		out->nmeta++;
		if (!m[out->nmeta - 1].name || !m[out->nmeta - 1].value) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	if (rc)
		store_object_release(out);
	http_response_release(&resp);
	return rc;
}

/*
 * A GET of key: of len bytes at off when range is given (its buffer), and
 * only of the version with ETag if_match (NULL or "": any), sent quoted
 * as HTTP wants it (cond: its buffer).
 */
static void get_call_init(struct s3_call *c, const char *key, uint64_t off,
			  uint64_t len, const char *if_match, char range[64],
			  char cond[140])
{
	s3_call_init(c, "GET", key);
	if (range) {
		snprintf(range, 64, "bytes=%llu-%llu",
			 (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
		s3_call_add(c, "range", range);
	}
	if (if_match && if_match[0]) {
		snprintf(cond, 140, "\"%s\"", if_match);
		s3_call_add(c, "if-match", cond);
	}
}

static int s3_get_range(struct store *st, const char *key, uint64_t off,
			size_t len, const char *if_match, void *buf,
			size_t *got)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	char range[64], cond[140];
	int rc;

	*got = 0;
	if (len == 0)
		return 0;
	get_call_init(&c, key, off, len, if_match, range, cond);
	http_response_init(&resp, HTTP_SINK_MEMORY);
	resp.mem = buf;
	resp.mem_cap = len;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status == 416) {
		rc = 0; /* at or past the end */
	} else if (resp.status == 200 && off != 0) {
		rc = -EIO; /* server ignored Range: never return wrong bytes */
	} else if (resp.status == 200 || resp.status == 206) {
		*got = resp.body_len;
	} else {
		rc = s3_status_error(s, &c, &resp);
	}
out:
	http_response_release(&resp);
	return rc;
}

static int s3_get_range_to_fd(struct store *st, const char *key,
			      uint64_t off, uint64_t len,
			      const char *if_match, int fd)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	char range[64], cond[140];
	int rc;

	if (len == 0)
		return 0;
	get_call_init(&c, key, off, len, if_match, range, cond);
	http_response_init(&resp, HTTP_SINK_FD);
	resp.fd = fd;
	resp.fd_off = (off_t)off;
	resp.fd_max = len; /* never a byte past the range into fd */
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status == 206 || (resp.status == 200 && off == 0)) {
		/* (a 200 from 0 ignored Range: right if the whole object
		 * is exactly the range) */
		if (resp.body_len != len)
			rc = -EIO;
	} else if (resp.status == 200 || resp.status == 416) {
		rc = -EIO; /* Range ignored, or the object is shorter */
	} else {
		rc = s3_status_error(s, &c, &resp);
	}
out:
	http_response_release(&resp);
	return rc;
}

static int s3_get_to_fd(struct store *st, const char *key,
			const char *if_match, int fd, uint64_t *size)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	char cond[140];
	int rc;

	get_call_init(&c, key, 0, 0, if_match, NULL, cond);
	http_response_init(&resp, HTTP_SINK_FD);
	resp.fd = fd;
	resp.fd_off = 0;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	if (ftruncate(fd, (off_t)resp.body_len) < 0) {
		rc = -errno;
		goto out;
	}
	*size = resp.body_len;
out:
	http_response_release(&resp);
	return rc;
}

/*
 * Hex SHA-256 of the size bytes of fd at offset start, and with md5 (not
 * NULL) their MD5 as well, in the same pass over the file.
 */
static int hash_fd(int fd, uint64_t start, uint64_t size, char out[65],
		   unsigned char md5[16])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD_CTX *mctx = md5 ? EVP_MD_CTX_new() : NULL;
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	uint64_t off = 0;
	ssize_t r;
	int rc = 0;

	if (!ctx || !buf || (md5 && !mctx)) {
		rc = -ENOMEM;
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	if (mctx)
		EVP_DigestInit_ex(mctx, EVP_md5(), NULL);
	while (off < size) {
		size_t want = size - off < bufsz ? (size_t)(size - off) : bufsz;

		r = pread(fd, buf, want, (off_t)(start + off));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		if (mctx)
			EVP_DigestUpdate(mctx, buf, (size_t)r);
		off += (uint64_t)r;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	util_hex_encode(md, mdlen, out);
	if (mctx)
		EVP_DigestFinal_ex(mctx, md5, NULL);
out:
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(mctx);
	free(buf);
	return rc;
}

/* Add content-type and x-amz-meta-* of opts; names are built in names. */
static int add_put_headers(struct s3_call *c,
			   const struct store_put_opts *opts, char **names)
{
	size_t i;
	int rc;

	rc = s3_call_add(c, "content-type",
		      opts && opts->content_type ? opts->content_type
						 : "application/octet-stream");
	if (rc || !opts)
		return rc;
	for (i = 0; i < opts->nmeta; i++) {
		size_t len = strlen(opts->meta[i].name) + 12;

		names[i] = malloc(len);
		if (!names[i])
			return -ENOMEM;
		snprintf(names[i], len, "x-amz-meta-%s", opts->meta[i].name);
		rc = s3_call_add(c, names[i], opts->meta[i].value);
		if (rc)
			return rc;
	}
	return 0;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
}

/* Add the write conditions of opts (If-Match / If-None-Match). */
static int add_conditions(struct s3 *s, struct s3_call *c,
			  const struct store_put_opts *opts, char *buf,
			  size_t len)
{
	if (!opts)
		return 0;
	if (opts->if_none_match)
		return s3_call_add(c, "if-none-match", "*");
	if (!opts->if_match || !opts->if_match[0])
		return 0;
	/* HTTP wants a quoted entity-tag; Ceph RGW only matches a bare one
	 * (noticed on a 412 whose HEAD shows the very ETag we sent). */
	if (__atomic_load_n(&s->bare_if_match, __ATOMIC_RELAXED))
		snprintf(buf, len, "%s", opts->if_match);
	else
		snprintf(buf, len, "\"%s\"", opts->if_match);
	return s3_call_add(c, "if-match", buf);
}

/* One PUT of fd with the given conditions. */
static int put_once(struct s3 *s, const char *key, int fd,
		    uint64_t size, const struct store_put_opts *opts,
		    const char *payload_hash, const char *md5_b64,
		    char *etag_out)
{
	char *names[S3_MAX_EXTRA] = { 0 };
	size_t nnames = opts ? opts->nmeta : 0;
	struct http_response resp;
	struct s3_call c;
	char cond[140];
	int rc;

	s3_call_init(&c, "PUT", key);
	c.has_body = true;
	c.body_fd = size ? fd : -1;
	c.body_fd_len = size;
	snprintf(c.payload_hash, sizeof(c.payload_hash), "%s", payload_hash);
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	rc = add_put_headers(&c, opts, names);
	if (!rc)
		rc = s3_call_add(&c, "content-md5", md5_b64);
	if (!rc)
		rc = add_conditions(s, &c, opts, cond, sizeof(cond));
	if (rc)
		goto out;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	if (etag_out)
		strip_quotes(http_response_header(&resp, "etag"), etag_out,
			     128);
out:
	free_names(names, nnames);
	http_response_release(&resp);
	return rc;
}

/* Does obj carry every x-amz-meta-* header of opts, with our value? */
static bool meta_matches(const struct store_object *obj,
			 const struct store_put_opts *opts)
{
	const char *v;
	size_t i;

	for (i = 0; i < opts->nmeta; i++) {
		v = store_object_meta(obj, opts->meta[i].name);
		if (!v || strcmp(v, opts->meta[i].value))
			return false;
	}
	return true;
}

enum s3_put_verdict s3_put_verdict(int hrc, const struct store_object *obj,
				   const struct store_put_opts *opts,
				   const char *md5_hex, bool was_bare)
{
	if (hrc == 0 && opts->if_match && opts->if_match[0] && !was_bare &&
	    !strcmp(obj->etag, opts->if_match))
		/* the very version we named: asked first, since it also
		 * holds our bytes when only the metadata changes (touch) */
		return S3_PUT_RETRY_BARE;
	if (hrc == 0 && !strcmp(obj->etag, md5_hex) &&
	    meta_matches(obj, opts))
		return S3_PUT_OURS; /* an attempt whose answer was lost */
	if (hrc == -ENOENT && !opts->if_none_match)
		return S3_PUT_NO_OBJECT;
	if (hrc == 0 || hrc == -ENOENT)
		return S3_PUT_STALE;
	return S3_PUT_ERROR;
}

/*
 * PUT with conditions.  A failed condition is looked at once more with a
 * HEAD before it is reported (-ESTALE, or -ENOENT when If-Match found no
 * object): the object may be our own body, landed by an attempt whose
 * answer was lost, or the server may want its ETag unquoted.
 */
static int s3_put_fd(struct store *st, const char *key, int fd,
		     uint64_t size, const struct store_put_opts *opts,
		     char *etag_out)
{
	struct s3 *s = to_s3(st);
	struct store_object obj = { 0 };
	unsigned char md5[16];
	char hash[65], md5_hex[33], md5_b64[32];
	bool conditional = opts && (opts->if_none_match ||
				    (opts->if_match && opts->if_match[0]));
	bool was_bare;
	int rc, hrc;

	if (opts && opts->nmeta > S3_MAX_EXTRA - 6)
		return -E2BIG;
	rc = hash_fd(fd, 0, size, hash, md5);
	if (rc)
		return rc;
	util_hex_encode(md5, 16, md5_hex);
	EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16);
	was_bare = __atomic_load_n(&s->bare_if_match, __ATOMIC_RELAXED);
	rc = put_once(s, key, fd, size, opts, hash, md5_b64, etag_out);
	if (!conditional || (rc != -ESTALE && rc != -ENOENT))
		return rc;
	hrc = s3_head(st, key, &obj);
	switch (s3_put_verdict(hrc, &obj, opts, md5_hex, was_bare)) {
	case S3_PUT_RETRY_BARE:
		log_info("%s matches If-Match only with a bare ETag; "
			 "sending it so from now on", s->endpoint);
		__atomic_store_n(&s->bare_if_match, true, __ATOMIC_RELAXED);
		rc = put_once(s, key, fd, size, opts, hash, md5_b64,
			      etag_out);
		break;
	case S3_PUT_OURS:
		if (etag_out)
			snprintf(etag_out, 128, "%s", obj.etag);
		rc = 0;
		break;
	case S3_PUT_NO_OBJECT:
		rc = -ENOENT;
		break;
	case S3_PUT_STALE:
		rc = -ESTALE;
		break;
	default:
		rc = hrc;
	}
	store_object_release(&obj);
	return rc;
}

/* Append "name=enc(value)" to a query being built. */
int s3_query_add(char *q, size_t qlen, const char *name, const char *value)
{
	char *enc = sigv4_uri_encode(value, strlen(value), 1);
	size_t used = strlen(q);
	int n;

	if (!enc)
		return -ENOMEM;
	n = snprintf(q + used, qlen - used, "%s%s=%s", used ? "&" : "", name,
		     enc);
	free(enc);
	return (n < 0 || (size_t)n >= qlen - used) ? -ENAMETOOLONG : 0;
}

static int s3_list_page(struct store *st, const char *prefix,
			const char *delimiter, const char *token,
			const char *start_after, unsigned max_keys,
			struct store_list *out)
{
	struct s3 *s = to_s3(st);
	struct xml_list_result xr = { 0 };
	struct http_response resp;
	struct s3_call c;
	char query[8192] = "", num[16];
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* Parameters in sorted order, as the canonical request wants. */
	if (token)
		rc = s3_query_add(query, sizeof(query), "continuation-token",
				  token);
	if (!rc && delimiter)
		rc = s3_query_add(query, sizeof(query), "delimiter",
				  delimiter);
	snprintf(num, sizeof(num), "%u", max_keys ? max_keys : 1000);
	if (!rc)
		rc = s3_query_add(query, sizeof(query), "encoding-type", "url");
	if (!rc)
		rc = s3_query_add(query, sizeof(query), "list-type", "2");
	if (!rc)
		rc = s3_query_add(query, sizeof(query), "max-keys", num);
	if (!rc)
		rc = s3_query_add(query, sizeof(query), "prefix",
				  prefix ? prefix : "");
	if (!rc && start_after)
		rc = s3_query_add(query, sizeof(query), "start-after",
				  start_after);
	if (rc)
		return rc;
	s3_call_init(&c, "GET", NULL);
	c.query = query;
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_LIST_BODY_MAX;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	rc = xml_parse_list(resp.body, resp.body_len, &xr);
	if (rc) {
		log_warn("unparsable listing from %s (prefix '%s')",
			 s->endpoint, prefix ? prefix : "");
		rc = -EIO;
		goto out;
	}
	out->entries = calloc(xr.nentries ? xr.nentries : 1,
			      sizeof(*out->entries));
	if (!out->entries) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < xr.nentries; i++) {
		/* move the strings over instead of copying them */
		out->entries[i].key = xr.entries[i].key;
		out->entries[i].size = xr.entries[i].size;
		out->entries[i].mtime = xr.entries[i].mtime;
		out->entries[i].etag = xr.entries[i].etag;
		xr.entries[i].key = NULL;
		xr.entries[i].etag = NULL;
	}
	out->nentries = xr.nentries;
	out->prefixes = xr.prefixes;
	out->nprefixes = xr.nprefixes;
	out->truncated = xr.is_truncated;
	out->next_token = xr.next_token;
	xr.prefixes = NULL;
	xr.nprefixes = 0;
	xr.next_token = NULL;
	if (out->truncated && !out->next_token) {
		store_list_release(out);
		rc = -EIO;
	}
out:
	xml_list_result_release(&xr);
	http_response_release(&resp);
	return rc;
}

static int s3_list(struct store *st, const char *prefix,
		   const char *delimiter, const char *token,
		   unsigned max_keys, struct store_list *out)
{
	return s3_list_page(st, prefix, delimiter, token, NULL, max_keys,
			    out);
}

static int s3_list_after(struct store *st, const char *prefix,
			 const char *delimiter, const char *start_after,
			 unsigned max_keys, struct store_list *out)
{
	return s3_list_page(st, prefix, delimiter, NULL, start_after,
			    max_keys, out);
}

static int s3_remove(struct store *st, const char *key)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	int rc;

	s3_call_init(&c, "DELETE", key);
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	rc = s3_request(s, &c, &resp);
	if (!rc && resp.status != 204 && resp.status != 200)
		rc = s3_status_error(s, &c, &resp);
	http_response_release(&resp);
	return rc;
}

static int s3_copy(struct store *st, const char *src, const char *dst,
		   const struct store_put_opts *opts)
{
	struct s3 *s = to_s3(st);
	char *names[S3_MAX_EXTRA] = { 0 };
	size_t nnames = opts ? opts->nmeta : 0;
	struct http_response resp;
	struct s3_call c;
	char *source = NULL;
	int rc;

	if (nnames > S3_MAX_EXTRA - 6)
		return -E2BIG;
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	s3_call_init(&c, "PUT", dst);
	source = s3_build_path(s, src);
	if (!source) {
		rc = -ENOMEM;
		goto out;
	}
	s3_call_add(&c, "x-amz-copy-source", source);
	if (opts) {
		s3_call_add(&c, "x-amz-metadata-directive", "REPLACE");
		rc = add_put_headers(&c, opts, names);
		if (rc)
			goto out;
	}
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	/* S3 may report a failed copy inside a 200 answer. */
	rc = xml_parse_copy_result(resp.body ? resp.body : "", resp.body_len,
				   NULL, NULL);
	if (rc)
		rc = -EIO;
out:
	free(source);
	free_names(names, nnames);
	http_response_release(&resp);
	return rc;
}

/*
 * Multipart uploads.  Queries are written in the canonical (sorted) order
 * the signer produces, and "uploads=" with its '=' as the canonical form
 * has it.  Each part is hashed in full like a PUT, read from the caller's
 * file at its offset; nothing is buffered in memory.
 */
#define S3_MP_QUERY_MAX 2048

static int s3_mp_create(struct store *st, const char *key,
			const struct store_put_opts *opts, char **upload_id)
{
	struct s3 *s = to_s3(st);
	char *names[S3_MAX_EXTRA] = { 0 };
	size_t nnames = opts ? opts->nmeta : 0;
	struct http_response resp;
	struct s3_call c;
	int rc;

	*upload_id = NULL;
	if (nnames > S3_MAX_EXTRA - 4)
		return -E2BIG;
	s3_call_init(&c, "POST", key);
	c.query = "uploads=";
	c.has_body = true; /* empty, but with Content-Length: 0 */
	sigv4_sha256_hex("", 0, c.payload_hash);
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	rc = add_put_headers(&c, opts, names);
	if (rc)
		goto out;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	rc = xml_parse_initiate_multipart(resp.body ? resp.body : "",
					  resp.body_len, upload_id);
	if (rc == -EPROTO) {
		log_warn("unparsable InitiateMultipartUpload answer from %s "
			 "for '%s'", s->endpoint, key);
		rc = -EIO;
	}
out:
	free_names(names, nnames);
	http_response_release(&resp);
	return rc;
}

static int s3_mp_upload_part(struct store *st, const char *key,
			     const char *upload_id, unsigned part_number,
			     int fd, uint64_t offset, uint64_t len,
			     char *etag_out)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	char query[S3_MP_QUERY_MAX] = "", num[16];
	const char *etag;
	int rc;

	etag_out[0] = '\0';
	if (part_number < 1 || part_number > 10000)
		return -EINVAL;
	snprintf(num, sizeof(num), "%u", part_number);
	rc = s3_query_add(query, sizeof(query), "partNumber", num);
	if (!rc)
		rc = s3_query_add(query, sizeof(query), "uploadId", upload_id);
	if (rc)
		return rc;
	s3_call_init(&c, "PUT", key);
	c.query = query;
	c.has_body = true;
	if (len == 0) {
		sigv4_sha256_hex("", 0, c.payload_hash);
	} else {
		c.body_fd = fd;
		c.body_fd_off = offset;
		c.body_fd_len = len;
		rc = hash_fd(fd, offset, len, c.payload_hash, NULL);
		if (rc)
			return rc;
	}
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	/* Complete needs every part's ETag: an answer without one is no
	 * use. */
	etag = http_response_header(&resp, "etag");
	if (!etag || !etag[0] || !strcmp(etag, "\"\"")) {
		log_warn("%s gave no ETag for part %u of '%s'", s->endpoint,
			 part_number, key);
		rc = -EIO;
		goto out;
	}
	strip_quotes(etag, etag_out, 128);
out:
	http_response_release(&resp);
	return rc;
}

static int s3_mp_complete(struct store *st, const char *key,
			  const char *upload_id,
			  const struct store_part *parts, size_t nparts,
			  char *etag_out)
{
	struct s3 *s = to_s3(st);
	struct xml_part *xp = NULL;
	struct xml_error xe = { 0 };
	struct http_response resp;
	struct s3_call c;
	char query[S3_MP_QUERY_MAX] = "";
	char *doc = NULL, *etag = NULL;
	size_t doclen = 0, i;
	int rc;

	if (etag_out)
		etag_out[0] = '\0';
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	if (nparts == 0 || nparts > 10000) {
		rc = -EINVAL;
		goto out;
	}
	xp = calloc(nparts, sizeof(*xp));
	if (!xp) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nparts; i++) {
		xp[i].number = parts[i].number;
		xp[i].etag = parts[i].etag;
	}
	doc = xml_build_complete_multipart(xp, nparts, &doclen);
	if (!doc) {
		rc = errno == EINVAL ? -EINVAL : -ENOMEM;
		goto out;
	}
	rc = s3_query_add(query, sizeof(query), "uploadId", upload_id);
	if (rc)
		goto out;
	s3_call_init(&c, "POST", key);
	c.query = query;
	c.has_body = true;
	c.body = doc;
	c.body_len = doclen;
	sigv4_sha256_hex(doc, doclen, c.payload_hash);
	s3_call_add(&c, "content-type", "application/xml");
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	/* S3 may report a failed completion inside a 200 answer. */
	rc = xml_parse_copy_result(resp.body ? resp.body : "", resp.body_len,
				   &etag, NULL);
	if (rc == -ENOMEM)
		goto out;
	if (rc) {
		if (resp.body)
			xml_parse_error(resp.body, resp.body_len, &xe);
		log_warn("completing the upload of '%s' failed: %s", key,
			 xe.code ? xe.code : "unparsable answer");
		rc = -EIO;
		goto out;
	}
	if (etag_out)
		strip_quotes(etag, etag_out, 128);
out:
	xml_error_release(&xe);
	free(etag);
	free(doc);
	free(xp);
	http_response_release(&resp);
	return rc;
}

static int s3_mp_abort(struct store *st, const char *key,
		       const char *upload_id)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	char query[S3_MP_QUERY_MAX] = "";
	int rc;

	rc = s3_query_add(query, sizeof(query), "uploadId", upload_id);
	if (rc)
		return rc;
	s3_call_init(&c, "DELETE", key);
	c.query = query;
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	rc = s3_request(s, &c, &resp);
	if (!rc && resp.status != 204 && resp.status != 200)
		rc = s3_status_error(s, &c, &resp);
	http_response_release(&resp);
	return rc;
}

static void s3_destroy(struct store *st)
{
	struct s3 *s = to_s3(st);

	if (!s)
		return;
	http_pool_free(s->pool);
	free(s->endpoint);
	free(s->bucket);
	free(s->region);
	if (s->secret_key)
		explicit_bzero(s->secret_key, strlen(s->secret_key));
	if (s->session_token)
		explicit_bzero(s->session_token, strlen(s->session_token));
	free(s->access_key);
	free(s->secret_key);
	free(s->session_token);
	free(s);
}

static const struct store_ops s3_ops = {
	.head = s3_head,
	.get_range = s3_get_range,
	.get_range_to_fd = s3_get_range_to_fd,
	.get_to_fd = s3_get_to_fd,
	.put_fd = s3_put_fd,
	.list = s3_list,
	.list_after = s3_list_after,
	.remove = s3_remove,
	.copy = s3_copy,
	.mp_create = s3_mp_create,
	.mp_upload_part = s3_mp_upload_part,
	.mp_complete = s3_mp_complete,
	.mp_abort = s3_mp_abort,
	.stats = s3_stats,
	.destroy = s3_destroy,
};

struct s3 *s3_new(const struct s3_opts *o)
{
	struct s3 *s = calloc(1, sizeof(*s));
	struct http_pool_opts po = {
		.size = o->handles,
		.connect_timeout_ms = o->connect_timeout_ms,
		.low_speed_time_s = 60,
		.verbose = o->verbose_http,
		.progress = o->progress,
		.progress_arg = o->progress_arg,
	};

	if (!s)
		return NULL;
	s->base.ops = &s3_ops;
	s->retries = o->retries;
	s->connect_timeout_ms = o->connect_timeout_ms;
	s->endpoint = strdup(o->endpoint);
	s->bucket = strdup(o->bucket);
	s->region = strdup(o->region);
	s->access_key = strdup(o->creds->access_key);
	s->secret_key = strdup(o->creds->secret_key);
	if (o->creds->session_token)
		s->session_token = strdup(o->creds->session_token);
	s->pool = http_pool_new(&po);
	if (!s->endpoint || !s->bucket || !s->region || !s->access_key ||
	    !s->secret_key || !s->pool ||
	    (o->creds->session_token && !s->session_token) ||
	    util_endpoint_host(s->endpoint, s->host, sizeof(s->host))) {
		s3_destroy(&s->base);
		return NULL;
	}
	return s;
}

struct store *s3_store(struct s3 *s)
{
	return &s->base;
}

void s3_free(struct s3 *s)
{
	if (s)
		s3_destroy(&s->base);
}

struct store *s3_store_new(const struct s3_opts *o)
{
	struct s3 *s = s3_new(o);

	return s ? s3_store(s) : NULL;
}

bool s3_transport_sentence(const struct s3 *s, int rc, char *buf,
			   size_t len)
{
	switch (rc) {
	case -ECONNREFUSED:
		snprintf(buf, len, "cannot connect to %s: connection refused",
			 s->endpoint);
		return true;
	case -EHOSTUNREACH:
		snprintf(buf, len, "cannot resolve the host of %s",
			 s->endpoint);
		return true;
	case -ETIMEDOUT:
		snprintf(buf, len, "%s did not answer within %ld s",
			 s->endpoint, s->connect_timeout_ms / 1000);
		return true;
	default:
		return false;
	}
}

int s3_code_sentence(const struct s3 *s, long status, const char *code,
		     const char *region_option, char *buf, size_t len)
{
	if (!strcmp(code, "NoSuchBucket")) {
		snprintf(buf, len, "bucket '%s' does not exist at %s",
			 s->bucket, s->endpoint);
		return -ENOENT;
	}
	if (!strcmp(code, "AuthorizationHeaderMalformed") ||
	    !strcmp(code, "PermanentRedirect")) {
		snprintf(buf, len, "bucket '%s' is in another region than "
			 "'%s' (%s); set %s", s->bucket, s->region, code,
			 region_option);
		return -EINVAL;
	}
	if (!strcmp(code, "InvalidAccessKeyId"))
		snprintf(buf, len, "the access key is not known to %s "
			 "(InvalidAccessKeyId)", s->endpoint);
	else if (!strcmp(code, "SignatureDoesNotMatch"))
		snprintf(buf, len, "the secret key does not match the access "
			 "key (SignatureDoesNotMatch)");
	else if (!strcmp(code, "RequestTimeTooSkewed"))
		snprintf(buf, len, "this machine's clock differs too much "
			 "from the server's (RequestTimeTooSkewed)");
	else
		return 0;
	return s3_error_to_errno(status, code);
}

int s3_probe(struct store *st, char *err, size_t errlen)
{
	struct xml_error xe = { 0 };
	struct http_response resp;
	struct s3_call c;
	char body[1];
	struct s3 *s;
	int rc;

	if (st->ops != &s3_ops) {
		snprintf(err, errlen, "the mount check needs an S3 store");
		return -EINVAL;
	}
	s = to_s3(st);
	s3_call_init(&c, "GET", ".r2fs-mount-check");
	c.max_attempts = 2;
	c.raw_errors = true;
	s3_call_add(&c, "range", "bytes=0-0");
	http_response_init(&resp, HTTP_SINK_MEMORY);
	resp.mem = body;
	resp.mem_cap = sizeof(body);
	rc = s3_request(s, &c, &resp);
	if (rc) {
		if (!s3_transport_sentence(s, rc, err, errlen))
			snprintf(err, errlen, "cannot talk to %s: %s",
				 s->endpoint, resp.errmsg);
		goto out;
	}
	if (resp.status == 200 || resp.status == 206 || resp.status == 416)
		goto out;
	if (resp.err_body)
		xml_parse_error(resp.err_body, resp.err_len, &xe);
	if (resp.status == 404 && xe.code && !strcmp(xe.code, "NoSuchKey"))
		goto out;
	if (!xe.code) {
		snprintf(err, errlen, "%s answered HTTP %ld, which is not an "
			 "S3 answer", s->endpoint, resp.status);
		rc = -EIO;
		goto out;
	}
	rc = s3_code_sentence(s, resp.status, xe.code, "-o region=", err,
			      errlen);
	if (rc)
		goto out;
	if (!strcmp(xe.code, "AccessDenied"))
		snprintf(err, errlen, "access to bucket '%s' is denied for "
			 "this key (AccessDenied)", s->bucket);
	else
		snprintf(err, errlen, "%s refused the mount check: HTTP %ld "
			 "%s", s->endpoint, resp.status, xe.code);
	rc = s3_error_to_errno(resp.status, xe.code);
out:
	xml_error_release(&xe);
	http_response_release(&resp);
	return rc;
}
