/*
 * sigv4.h - AWS Signature Version 4 (header auth and presigned URLs).
 *
 * Pure functions: no I/O, no global state, the clock is a parameter, so
 * every result can be pinned to AWS's published vectors and to botocore
 * (tests/unit/test_sigv4.c, tests/unit/sigv4_botocore.py).
 * Strings returned as char * are malloc'd and owned by the caller (free()).
 * A NULL return means out of memory or invalid arguments (a NULL where a
 * string is required, no host header, a header name that is not a token,
 * a time outside years 0000-9999, presign expiry out of range).
 * Payloads are signed whole (hex SHA-256) or as "UNSIGNED-PAYLOAD"; the
 * streaming "aws-chunked" scheme is deliberately not supported (R2 lacks it).
 * Session tokens are just another signed header (x-amz-security-token).
 */
#ifndef R2FS_SIGV4_H
#define R2FS_SIGV4_H

#include <stddef.h>
#include <time.h>

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_AMZ_DATE_LEN 17 /* "YYYYMMDDTHHMMSSZ" + NUL */
#define SIGV4_MAX_EXPIRES 604800 /* 7 days */

struct sigv4_header {
	const char *name;  /* any case; lower-cased when signed */
	const char *value; /* signed trimmed, whitespace runs folded to ' ' */
};

/*
 * One request as it goes on the wire.  uri_path is signed verbatim (S3
 * neither normalizes nor double-encodes), so build it with
 * sigv4_uri_encode(path, len, 0); NULL or "" means "/".  Every header
 * given is signed, so pass exactly what is sent (not Expect or
 * User-Agent); a name given twice is signed as "name:v1,v2" in order.
 */
struct sigv4_request {
	const char *method;   /* "GET", "PUT", ... as sent */
	const char *uri_path; /* percent-encoded path as sent: "/bkt/a%20b" */
	const char *query;    /* raw query as sent, no '?'; NULL or "" */
	const struct sigv4_header *headers; /* to sign; must include host */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 or SIGV4_UNSIGNED_PAYLOAD */
};

/* No field may be NULL; all but secret_key must be non-empty. */
struct sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;  /* "auto" for R2; any string for others */
	const char *service; /* "s3" */
};

/*
 * "YYYYMMDDTHHMMSSZ" (UTC) of t into out.  A time outside years 0000-9999
 * gives "00000000T000000Z", which no server accepts.  Read the clock once
 * per request: the x-amz-date header and sigv4_authorization() must see
 * the same second.
 */
void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN]);

/*
 * Lowercase hex SHA-256 of data into out (64 chars + NUL); out is "" if
 * libcrypto fails, which it does not in practice.
 */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * AWS URI encoding of len bytes (NULs included): A-Z a-z 0-9 - . _ ~ kept,
 * every other byte %XX (uppercase hex); '/' kept unless encode_slash.
 * Use encode_slash 0 for object paths, 1 for query names and values.
 */
char *sigv4_uri_encode(const char *s, size_t len, int encode_slash);

/*
 * The canonical request.  The query is split on '&' (empty pairs skipped)
 * and the first '=' (none: empty value), each part percent-decoded and
 * re-encoded with sigv4_uri_encode(..., 1), then sorted by name, then by
 * value.  A '+' is a literal plus, not a space, and a '%' without two hex
 * digits a literal '%'.  If signed_headers is not NULL it receives the
 * malloc'd "host;x-amz-date" list (NULL on failure).
 */
char *sigv4_canonical_request(const struct sigv4_request *req,
			      char **signed_headers);

/*
 * The string to sign for a canonical request, amz_date ("YYYYMMDDTHHMMSSZ")
 * and scope ("YYYYMMDD/region/service/aws4_request").
 */
char *sigv4_string_to_sign(const char *canonical_request,
			   const char *amz_date, const char *scope);

/*
 * Authorization header value: "AWS4-HMAC-SHA256 Credential=AK/scope,
 * SignedHeaders=..., Signature=<64 hex>" (", " between the parts, as
 * botocore and AWS's test suite write it).  The caller must also send an
 * x-amz-date header equal to sigv4_amz_date(now) and include it in
 * req->headers.
 */
char *sigv4_authorization(const struct sigv4_request *req,
			  const struct sigv4_key *key, time_t now);

/*
 * Presigned URL query string (without '?') for method and uri_path (as in
 * struct sigv4_request) on host (the Host header's value: with the port
 * unless it is the scheme's default).  The payload is UNSIGNED-PAYLOAD.
 * content_type, when not NULL, is bound: signed headers become
 * "content-type;host".  expires in 1..SIGV4_MAX_EXPIRES, else NULL.
 * Parameters: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 * X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature (last).
 */
char *sigv4_presign_query(const char *method, const char *uri_path,
			  const char *host, const char *content_type,
			  const struct sigv4_key *key, time_t now,
			  unsigned expires);

#endif
