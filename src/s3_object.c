/*
 * s3_object.c - the store's object calls over s3_request(): HEAD, GET
 * (into memory, or into a file), PUT with conditions, ListObjectsV2,
 * DELETE and CopyObject; and store.h's helpers that release what they
 * fill in.
 *
 * Bodies are streamed from and to files, so memory does not depend on
 * object size.  Upload payloads are hashed in full (SHA-256) so the server
 * verifies every byte; aws-chunked signing is never used (R2 lacks it).
 * A ranged GET never returns bytes of another range (a server that
 * ignored Range is an error), and a GET that brought a whole single-part
 * object is checked against its MD5 ETag (get_checked).  A PUT carries
 * Content-MD5 and, unless the client is md5_only, x-amz-checksum-crc32c,
 * both checked by R2.  A failed conditional PUT is looked at once more,
 * with a HEAD, before it is reported (s3_put_verdict).
 */
#include "s3.h"
#include "s3_i.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "crc32c.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "xml.h"

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

int s3_head(struct store *st, const char *key, struct store_object *out)
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
	s3_strip_quotes(http_response_header(&resp, "etag"), out->etag,
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
 * Does a GET answer that holds a whole single-part object match its ETag,
 * the MD5 of its bytes?  The whole object: a 200, or a 206 whose
 * Content-Range covers it all.  true also when there is nothing to check
 * (a part of the object, a multipart ETag "...-N", no ETag).
 */
static bool whole_body_ok(const struct http_response *resp, char *want,
			  size_t wantlen)
{
	const char *cr = http_response_header(resp, "content-range");
	unsigned long long a, b, total;
	char got[33];
	size_t i;

	if (resp->status == 206) {
		if (!cr || sscanf(cr, "bytes %llu-%llu/%llu", &a, &b,
				  &total) != 3 || a != 0 || b + 1 != total ||
		    resp->body_len != total)
			return true;
	} else if (resp->status != 200) {
		return true;
	}
	s3_strip_quotes(http_response_header(resp, "etag"), want, wantlen);
	if (strlen(want) != 32)
		return true;
	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)want[i]))
			return true;
	util_hex_encode(resp->body_md5, 16, got);
	return !strcasecmp(got, want);
}

static uint64_t version_hash(const char *key, const char *etag)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	const char *p;

	for (p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (p = etag; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h ? h : 1;
}

static bool version_is_bad(struct s3 *s, const char *key, const char *etag)
{
	uint64_t h = version_hash(key, etag);
	bool bad = false;
	unsigned i;

	pthread_mutex_lock(&s->bad_lock);
	for (i = 0; i < sizeof(s->bad) / sizeof(s->bad[0]); i++)
		if (s->bad[i] == h)
			bad = true;
	pthread_mutex_unlock(&s->bad_lock);
	return bad;
}

static void version_mark_bad(struct s3 *s, const char *key,
			     const char *etag)
{
	pthread_mutex_lock(&s->bad_lock);
	s->bad[s->nbad++ % (sizeof(s->bad) / sizeof(s->bad[0]))] =
		version_hash(key, etag);
	pthread_mutex_unlock(&s->bad_lock);
}

/*
 * s3_request for a GET whose answer, when it is a whole single-part
 * object, is checked against the object's MD5 (whole_body_ok): a
 * mismatch is fetched once more, and a second one is -EIO, logged, never
 * bytes handed on.  Such a version (key, ETag) is remembered: a GET of
 * any range of it pinned with If-Match to that ETag (if_match) is -EIO
 * too, since a part cannot be checked on its own (the kernel retries a
 * failed read page by page).  resp: as s3_request's.
 */
static int get_checked(struct s3 *s, struct s3_call *c, const char *if_match,
		       struct http_response *resp)
{
	struct http_response tmpl = *resp;
	char want[128];
	int rc, attempt;

	if (if_match && if_match[0] && version_is_bad(s, c->key, if_match))
		return -EIO;
	for (attempt = 0;; attempt++) {
		*resp = tmpl;
		resp->want_md5 = true;
		rc = s3_request(s, c, resp);
		if (rc || whole_body_ok(resp, want, sizeof(want)))
			return rc;
		if (attempt > 0)
			break;
		log_warn("'%s': the bytes received do not match the object's "
			 "MD5 (ETag %s); fetching it again", c->key, want);
		http_response_release(resp);
	}
	log_err("'%s': the bytes received twice do not match the object's "
		"MD5 (ETag %s): damaged on the way or at the server; reads "
		"of this version fail with EIO", c->key, want);
	version_mark_bad(s, c->key, want);
	return -EIO;
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

int s3_get_range(struct store *st, const char *key, uint64_t off,
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
	rc = get_checked(s, &c, if_match, &resp);
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

int s3_get_range_to_fd(struct store *st, const char *key,
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
	rc = get_checked(s, &c, if_match, &resp);
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

int s3_get_to_fd(struct store *st, const char *key,
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
	rc = get_checked(s, &c, if_match, &resp);
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
int s3_hash_fd(int fd, uint64_t start, uint64_t size, char out[65],
	       unsigned char md5[16], uint32_t *crc)
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

	if (crc)
		*crc = 0;
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
		if (crc)
			*crc = crc32c_update(*crc, buf, (size_t)r);
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
int s3_add_put_headers(struct s3_call *c,
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

void s3_free_names(char **names, size_t n)
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

/* One PUT of fd with the given conditions and checksums (crc_b64: NULL
 * for none). */
static int put_once(struct s3 *s, const char *key, int fd,
		    uint64_t size, const struct store_put_opts *opts,
		    const char *payload_hash, const char *md5_b64,
		    const char *crc_b64, char *etag_out)
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
	rc = s3_add_put_headers(&c, opts, names);
	if (!rc)
		rc = s3_call_add(&c, "content-md5", md5_b64);
	if (!rc && crc_b64)
		rc = s3_call_add(&c, "x-amz-checksum-crc32c", crc_b64);
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
		s3_strip_quotes(http_response_header(&resp, "etag"), etag_out,
				128);
out:
	s3_free_names(names, nnames);
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
int s3_put_fd(struct store *st, const char *key, int fd,
	      uint64_t size, const struct store_put_opts *opts,
	      char *etag_out)
{
	struct s3 *s = to_s3(st);
	struct store_object obj = { 0 };
	unsigned char md5[16];
	char hash[65], md5_hex[33], md5_b64[32], crc_b64[9];
	const char *crc_hdr = s->crc32c ? crc_b64 : NULL;
	uint32_t crc;
	bool conditional = opts && (opts->if_none_match ||
				    (opts->if_match && opts->if_match[0]));
	bool was_bare;
	int rc, hrc;

	if (opts && opts->nmeta > S3_MAX_EXTRA - 6)
		return -E2BIG;
	rc = s3_hash_fd(fd, 0, size, hash, md5, &crc);
	if (rc)
		return rc;
	crc32c_base64(crc, crc_b64);
	util_hex_encode(md5, 16, md5_hex);
	EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16);
	was_bare = __atomic_load_n(&s->bare_if_match, __ATOMIC_RELAXED);
	rc = put_once(s, key, fd, size, opts, hash, md5_b64, crc_hdr,
		      etag_out);
	if (!conditional || (rc != -ESTALE && rc != -ENOENT))
		return rc;
	hrc = s3_head(st, key, &obj);
	switch (s3_put_verdict(hrc, &obj, opts, md5_hex, was_bare)) {
	case S3_PUT_RETRY_BARE:
		log_info("%s matches If-Match only with a bare ETag; "
			 "sending it so from now on", s->endpoint);
		__atomic_store_n(&s->bare_if_match, true, __ATOMIC_RELAXED);
		rc = put_once(s, key, fd, size, opts, hash, md5_b64, crc_hdr,
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

int s3_list(struct store *st, const char *prefix,
	    const char *delimiter, const char *token,
	    unsigned max_keys, struct store_list *out)
{
	return s3_list_page(st, prefix, delimiter, token, NULL, max_keys,
			    out);
}

int s3_list_after(struct store *st, const char *prefix,
		  const char *delimiter, const char *start_after,
		  unsigned max_keys, struct store_list *out)
{
	return s3_list_page(st, prefix, delimiter, NULL, start_after,
			    max_keys, out);
}

int s3_remove(struct store *st, const char *key)
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

int s3_copy(struct store *st, const char *src, const char *dst,
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
		rc = s3_add_put_headers(&c, opts, names);
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
	s3_free_names(names, nnames);
	http_response_release(&resp);
	return rc;
}
