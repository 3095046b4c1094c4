/*
 * s3_bucket.h - the r2 tool's S3 requests beyond the object store: the
 * service (ListBuckets), creating and deleting the bucket, bucket
 * subresources (?cors, ...), DeleteObjects and presigned URLs, on a
 * struct s3 from s3_new().  A client made for ListBuckets alone may
 * have bucket "" in its s3_opts.
 *
 * These calls return 0 or a negative errno as store.h maps them, except
 * that network failures keep their own errno (-ECONNREFUSED,
 * -EHOSTUNREACH, -ETIMEDOUT, -ECONNRESET, -EPROTO) so messages can say
 * what happened.  When err is not NULL it receives the details of a
 * failure; s3_error_sentence() turns them into one sentence.  Results are
 * malloc'd and belong to the caller.  Thread-safe as the store is.
 */
#ifndef R2FS_S3_BUCKET_H
#define R2FS_S3_BUCKET_H

#include <stddef.h>
#include <time.h>

#include "s3.h"

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
int s3_list_buckets(struct s3 *s, struct s3_bucket **out, size_t *n,
		    struct s3_error *err);
void s3_buckets_free(struct s3_bucket *b, size_t n);

/*
 * GET /BUCKET?NAME= (e.g. name "cors"): the 2xx body, NUL-terminated and
 * malloc'd, in *body (free it) and its length in *len.  A missing
 * configuration is -ENOENT with err->code saying which (e.g.
 * "NoSuchCORSConfiguration" rather than "NoSuchBucket").  A name other
 * than letters is -EINVAL.
 */
int s3_bucket_get_subresource(struct s3 *s, const char *name, char **body,
			      size_t *len, struct s3_error *err);

/*
 * PUT /BUCKET?NAME= with body (len bytes) and content_type.  Sends
 * Content-MD5 (S3 requires it for cors, lifecycle and other bucket
 * configurations) and the body's SHA-256.
 */
int s3_bucket_put_subresource(struct s3 *s, const char *name,
			      const char *content_type, const void *body,
			      size_t len, struct s3_error *err);

/* DELETE /BUCKET?NAME=. */
int s3_bucket_delete_subresource(struct s3 *s, const char *name,
				 struct s3_error *err);

/*
 * Create the client's bucket (PUT /BUCKET; a CreateBucketConfiguration
 * with the region as LocationConstraint unless the region is "auto",
 * R2's, or "us-east-1", the default elsewhere), or delete it (DELETE
 * /BUCKET: S3 refuses a bucket that holds objects, -ENOTEMPTY with
 * err->code "BucketNotEmpty").  A name already taken is -EEXIST.
 */
int s3_bucket_create(struct s3 *s, struct s3_error *err);
int s3_bucket_delete(struct s3 *s, struct s3_error *err);

/* One key a DeleteObjects answer says it could not delete. */
struct s3_delete_failure {
	char *key;
	char code[64];
	char message[256];
};

#define S3_DELETE_BATCH 1000 /* keys one DeleteObjects may carry */

/*
 * Delete n keys (at most S3_DELETE_BATCH) of the client's bucket with one
 * DeleteObjects (POST /BUCKET?delete, quiet, with Content-MD5); a key
 * that XML 1.0 cannot carry (a control character) gets a DELETE of its
 * own.  S3 deletes a missing key "successfully".  Keys the server could
 * not delete come back in *failed (malloc'd, s3_delete_failures_free),
 * *nfailed of them, with 0; a failure of the request itself is the errno
 * (nothing in *failed).
 */
int s3_delete_objects(struct s3 *s, const char *const *keys, size_t n,
		      struct s3_delete_failure **failed, size_t *nfailed,
		      struct s3_error *err);
void s3_delete_failures_free(struct s3_delete_failure *f, size_t n);

/*
 * A presigned URL (sigv4_presign_query) for method on key in the client's
 * bucket, valid expires seconds (1..SIGV4_MAX_EXPIRES) from now, with
 * content_type bound when not NULL.  Returns the malloc'd URL, or NULL
 * with errno EINVAL (expires out of range, empty key), EOPNOTSUPP (the
 * credentials carry a session token, which a presigned URL cannot carry
 * yet) or ENOMEM.
 */
char *s3_presign_url(struct s3 *s, const char *method, const char *key,
		     const char *content_type, time_t now, unsigned expires);

/*
 * One sentence (no trailing period or newline) for a failed call that
 * returned rc with details err (may be NULL): an unreachable endpoint, an
 * unknown key, a wrong secret, a missing bucket, a refusal, or the
 * server's code and message.  what names the action ("reading the CORS
 * rules of bucket 'b'") for answers without a more precise cause.
 */
void s3_error_sentence(const struct s3 *s, int rc, const struct s3_error *err,
		       const char *what, char *buf, size_t len);

#endif
