/*
 * s3.h - the real object store: S3 requests over http.c, signed with
 * sigv4.c, path-style, against R2 or any S3-compatible endpoint.
 *
 * The S3 wire format (URLs, headers, XML, status codes) stops here.
 */
#ifndef R2FS_S3_H
#define R2FS_S3_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
	/* Optional progress hook, handed to the HTTP pool (see http.h for
	 * when and from which threads it is called).  NULL: none. */
	void (*progress)(void *arg, uint64_t up, uint64_t down);
	void *progress_arg;
};

/* A new store, or NULL (out of memory). */
struct store *s3_store_new(const struct s3_opts *opts);

/*
 * Mount-time check: one GET of a key that is not expected to exist tells
 * an unreachable endpoint, an unknown access key, a wrong secret, a
 * missing bucket and a refused access apart.  0, or a negative errno with
 * one sentence in err.
 */
int s3_probe(struct store *s, char *err, size_t errlen);

/* S3 error code and HTTP status to errno (the one mapping). */
int s3_error_to_errno(long status, const char *code);

/*
 * Requests for tools (the r2 program) beyond the object store: the
 * service (ListBuckets), bucket subresources (?cors) and presigned URLs.
 * A store made for ListBuckets alone may have bucket "" in its s3_opts.
 *
 * These calls return 0 or a negative errno as store.h maps them, except
 * that network failures keep their own errno (-ECONNREFUSED,
 * -EHOSTUNREACH, -ETIMEDOUT, -ECONNRESET, -EPROTO) so messages can say
 * what happened.  When err is not NULL it receives the details of a
 * failure; s3_error_sentence() turns them into one sentence.
 * Thread-safe as the store is.
 */
struct s3_error {
	long status;       /* HTTP status; 0 when no answer arrived */
	char code[64];     /* S3 <Code>, "" if none */
	char message[256]; /* S3 <Message>, or the network error's text */
};

/* One bucket of a ListBuckets answer. */
struct s3_bucket {
	char *name;
	time_t created; /* CreationDate, 0 if absent */
};

/*
 * All buckets the credentials can see (GET /, following continuation
 * tokens).  *out (malloc'd, free with s3_buckets_free) and *n receive
 * them in the server's order.
 */
int s3_list_buckets(struct store *s, struct s3_bucket **out, size_t *n,
		    struct s3_error *err);
void s3_buckets_free(struct s3_bucket *b, size_t n);

/*
 * GET /BUCKET?NAME= (e.g. name "cors"): the 2xx body, NUL-terminated and
 * malloc'd, in *body (free it) and its length in *len.  A missing
 * configuration is -ENOENT with err->code saying which (e.g.
 * "NoSuchCORSConfiguration" rather than "NoSuchBucket").
 */
int s3_bucket_get_subresource(struct store *s, const char *name,
			      char **body, size_t *len, struct s3_error *err);

/*
 * PUT /BUCKET?NAME= with body (len bytes) and content_type.  Sends
 * Content-MD5 (S3 requires it for cors, lifecycle and other bucket
 * configurations) and the body's SHA-256.
 */
int s3_bucket_put_subresource(struct store *s, const char *name,
			      const char *content_type, const void *body,
			      size_t len, struct s3_error *err);

/* DELETE /BUCKET?NAME=. */
int s3_bucket_delete_subresource(struct store *s, const char *name,
				 struct s3_error *err);

/*
 * A presigned URL (sigv4_presign_query) for method on key in the store's
 * bucket, valid expires seconds (1..SIGV4_MAX_EXPIRES) from now, with
 * content_type bound when not NULL.  Returns the malloc'd URL, or NULL
 * with errno EINVAL (expires out of range, empty key), EOPNOTSUPP (the
 * credentials carry a session token, which a presigned URL cannot carry
 * yet) or ENOMEM.
 */
char *s3_presign_url(struct store *s, const char *method, const char *key,
		     const char *content_type, time_t now, unsigned expires);

/*
 * One sentence (no trailing period or newline) for a failed call that
 * returned rc with details err (may be NULL): an unreachable endpoint, an
 * unknown key, a wrong secret, a missing bucket, a refusal, or the
 * server's code and message.  what names the action ("reading the CORS
 * rules of bucket 'b'") for answers without a more precise cause.
 */
void s3_error_sentence(struct store *s, int rc, const struct s3_error *err,
		       const char *what, char *buf, size_t len);

#endif
