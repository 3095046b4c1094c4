/*
 * s3_multipart.c - the store's multipart calls over s3_request():
 * CreateMultipartUpload, UploadPart, UploadPartCopy,
 * CompleteMultipartUpload and AbortMultipartUpload.  multipart.c
 * chooses the parts and drives them.
 *
 * Queries are written in the canonical (sorted) order the signer
 * produces, and "uploads=" with its '=' as the canonical form has it.
 * Each part is hashed in full like a PUT, read from the caller's file at
 * its offset; nothing is buffered in memory.  Each part carries its
 * Content-MD5, which the server checks.  (No x-amz-checksum-crc32c on
 * parts: S3 wants the algorithm declared at CreateMultipartUpload and the
 * checksums repeated at completion, which servers handle unevenly.)  A part's ETag, and the
 * completed object's, come back without their quotes.
 */
#include "s3_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "http.h"
#include "log.h"
#include "s3.h"
#include "sigv4.h"
#include "xml.h"

#define S3_MP_QUERY_MAX 2048

int s3_mp_create(struct store *st, const char *key,
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
	rc = s3_add_put_headers(&c, opts, names);
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
	s3_free_names(names, nnames);
	http_response_release(&resp);
	return rc;
}

int s3_mp_upload_part(struct store *st, const char *key,
		      const char *upload_id, unsigned part_number,
		      int fd, uint64_t offset, uint64_t len,
		      char *etag_out)
{
	struct s3 *s = to_s3(st);
	struct http_response resp;
	struct s3_call c;
	char query[S3_MP_QUERY_MAX] = "", num[16], md5_b64[32];
	unsigned char md5[16];
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
		EVP_Digest("", 0, md5, NULL, EVP_md5(), NULL);
	} else {
		c.body_fd = fd;
		c.body_fd_off = offset;
		c.body_fd_len = len;
		rc = s3_hash_fd(fd, offset, len, c.payload_hash, md5, NULL);
		if (rc)
			return rc;
	}
	/* the server checks the part's bytes against it (400 BadDigest) */
	EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16);
	s3_call_add(&c, "content-md5", md5_b64);
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
	s3_strip_quotes(etag, etag_out, 128);
out:
	http_response_release(&resp);
	return rc;
}

/*
 * UploadPartCopy: the part is a byte range of another object, pinned to
 * its version with x-amz-copy-source-if-match (quoted, or bare where the
 * server matches only bare ETags, as for If-Match).  The answer carries
 * the part's ETag in a CopyPartResult body, or an error inside a 200.
 */
int s3_mp_copy_part(struct store *st, const char *key,
		    const char *upload_id, unsigned part_number,
		    const char *src, const char *src_etag, uint64_t offset,
		    uint64_t len, char *etag_out)
{
	struct s3 *s = to_s3(st);
	struct xml_error xe = { 0 };
	struct http_response resp;
	struct s3_call c;
	char query[S3_MP_QUERY_MAX] = "", num[16], range[64], cond[136];
	char *source = NULL, *etag = NULL;
	int rc;

	etag_out[0] = '\0';
	if (part_number < 1 || part_number > 10000 || len == 0 ||
	    !src_etag || !src_etag[0] || strlen(src_etag) > 128)
		return -EINVAL;
	snprintf(num, sizeof(num), "%u", part_number);
	rc = s3_query_add(query, sizeof(query), "partNumber", num);
	if (!rc)
		rc = s3_query_add(query, sizeof(query), "uploadId", upload_id);
	if (rc)
		return rc;
	http_response_init(&resp, HTTP_SINK_BUFFER);
	resp.max_body = S3_SMALL_BODY_MAX;
	source = s3_build_path(s, src);
	if (!source) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(range, sizeof(range), "bytes=%llu-%llu",
		 (unsigned long long)offset,
		 (unsigned long long)(offset + len - 1));
	if (__atomic_load_n(&s->bare_if_match, __ATOMIC_RELAXED))
		snprintf(cond, sizeof(cond), "%s", src_etag);
	else
		snprintf(cond, sizeof(cond), "\"%s\"", src_etag);
	s3_call_init(&c, "PUT", key);
	c.query = query;
	c.has_body = true; /* empty, with Content-Length: 0 */
	sigv4_sha256_hex("", 0, c.payload_hash);
	s3_call_add(&c, "x-amz-copy-source", source);
	s3_call_add(&c, "x-amz-copy-source-if-match", cond);
	s3_call_add(&c, "x-amz-copy-source-range", range);
	rc = s3_request(s, &c, &resp);
	if (rc)
		goto out;
	if (resp.status != 200) {
		rc = s3_status_error(s, &c, &resp);
		goto out;
	}
	rc = xml_parse_copy_result(resp.body ? resp.body : "", resp.body_len,
				   &etag, NULL);
	if (rc == -ENOMEM)
		goto out;
	if (rc || !etag || !etag[0]) {
		if (resp.body)
			xml_parse_error(resp.body, resp.body_len, &xe);
		log_warn("copying part %u of '%s' from '%s' failed: %s",
			 part_number, key, src,
			 xe.code ? xe.code : "unparsable answer");
		rc = xe.code ? s3_error_to_errno(500, xe.code) : -EIO;
		goto out;
	}
	s3_strip_quotes(etag, etag_out, 128);
out:
	xml_error_release(&xe);
	free(etag);
	free(source);
	http_response_release(&resp);
	return rc;
}

int s3_mp_complete(struct store *st, const char *key,
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
		s3_strip_quotes(etag, etag_out, 128);
out:
	xml_error_release(&xe);
	free(etag);
	free(doc);
	free(xp);
	http_response_release(&resp);
	return rc;
}

int s3_mp_abort(struct store *st, const char *key,
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
