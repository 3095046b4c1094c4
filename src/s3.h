/*
 * s3.h - the real object store: S3 requests over http.c, signed with
 * sigv4.c, path-style, against R2 or any S3-compatible endpoint.
 *
 * The S3 wire format (URLs, headers, XML, status codes) stops here and in
 * s3_bucket.h, which has the r2 tool's requests beyond the object store.
 */
#ifndef R2FS_S3_H
#define R2FS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct creds;

struct s3_opts {
	const char *endpoint; /* "https://host[:port]" */
	const char *bucket;
	const char *region;
	const struct creds *creds; /* copied */
	unsigned handles;          /* parallel connections */
	unsigned retries;          /* per request, for 429/5xx/network */
	long connect_timeout_ms;
	int verbose_http;
	/* TLS: a PEM CA bundle and/or a hashed CA directory to trust instead
	 * of the system's (NULL: the system's); certificates and host names
	 * are always verified */
	const char *ca_file;
	const char *ca_path;
	/* Checksums: every PUT and part carries Content-MD5; a PUT also
	 * x-amz-checksum-crc32c (R2 checks both) unless md5_only (for a
	 * server that refuses the header). */
	bool md5_only;
	/* Seconds between two writes (PUT, COPY, DELETE, multipart
	 * completion) of one key: R2 answers 429 to more than one a second,
	 * so the mount waits that long (1.0); 0: no waiting (the r2 tool,
	 * which writes a key once). */
	double key_write_interval;
	/* A long-running client (the mount).  Temporary credentials are
	 * replaced in their file: it looks at that file (at most once a
	 * second, and at once when the server refuses the credentials) and
	 * loads them again with creds_load(passwd_file, profile, bucket)
	 * when it changed (credentials from the environment never change).
	 * And it says once in the log what to do when the server refuses
	 * the credentials or a write (AccessDenied). */
	bool long_running;
	const char *passwd_file;
	const char *profile;
	/* Optional progress hook, handed to the HTTP pool (see http.h for
	 * when and from which threads it is called).  NULL: none. */
	void (*progress)(void *arg, uint64_t up, uint64_t down);
	void *progress_arg;
};

/*
 * One S3 client: endpoint, bucket, credentials and connection pool.  It
 * is an object store (s3_store() gives its struct store) and, for the r2
 * tool, the handle of the requests beyond the store (s3_bucket.h).
 * s3_new returns NULL on ENOMEM or an endpoint util_endpoint_host()
 * refuses.  The store belongs to the client: s3_free(s) and
 * s3_store(s)->ops->destroy(s3_store(s)) are the same call, made once.
 * Thread-safe as store.h says.
 */
struct s3;

struct s3 *s3_new(const struct s3_opts *opts);
struct store *s3_store(struct s3 *s);
void s3_free(struct s3 *s);

/* s3_store(s3_new(opts)), for a user of the store alone (the mount);
 * NULL as s3_new. */
struct store *s3_store_new(const struct s3_opts *opts);

/*
 * Mount-time check: one GET of a key that is not expected to exist tells
 * an unreachable endpoint, an unknown access key, a wrong secret, a
 * missing bucket and a refused access apart.  Each attempt takes at most
 * the connect timeout in all, retried as the store's requests are;
 * within > 0 bounds the whole check (seconds, backoff included), and an
 * endpoint that does not answer is said to with the time really waited.
 * 0, or a negative errno with one sentence in err.  s must come from
 * s3_store_new() or s3_store() (-EINVAL otherwise).
 */
int s3_probe(struct store *s, double within, char *err, size_t errlen);

/* S3 error code and HTTP status to errno (the one mapping). */
int s3_error_to_errno(long status, const char *code);

/*
 * A conditional PUT failed (412, or 404 for If-Match) and a HEAD of the
 * key answered hrc with obj: what was it?  The server may match If-Match
 * only with an unquoted ETag (retry bare, once per endpoint); the object
 * may be ours already, bytes (Content-MD5 md5_hex) and metadata, from an
 * attempt whose answer was lost; If-Match may have found no object; or
 * another version is in the way.  Pure, for tests.
 */
enum s3_put_verdict {
	S3_PUT_RETRY_BARE,
	S3_PUT_OURS,
	S3_PUT_NO_OBJECT,
	S3_PUT_STALE,
	S3_PUT_ERROR, /* the HEAD failed: its error */
};
enum s3_put_verdict s3_put_verdict(int hrc, const struct store_object *obj,
				   const struct store_put_opts *opts,
				   const char *md5_hex, bool was_bare);

#endif
