/*
 * s3_i.h - what the s3*.c files share and nobody else: the client
 * struct, one call's description, the request path, the store's ops by
 * file, and the sentences that explain failures.
 *
 * s3.c is the client and its request path; s3_object.c and s3_multipart.c
 * the object store's calls; s3_bucket.c the r2 tool's requests beyond it
 * (ListBuckets, bucket subresources, presigned URLs).  All send through
 * s3_request(), so signing, retries and counting stay in one place.
 * Locking: struct s3 is read-only after s3_new() except the fields marked
 * atomic; a struct s3_call belongs to the thread that makes the call.
 */
#ifndef R2FS_S3_I_H
#define R2FS_S3_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "http.h"
#include "sigv4.h"
#include "store.h"

#define S3_LIST_BODY_MAX (16 * 1024 * 1024)
#define S3_SMALL_BODY_MAX (1024 * 1024)
#define S3_MAX_EXTRA 48

/*
 * R2 takes about one write per second per key (more gets 429 SlowDown):
 * the client remembers when each recent write of a key ended and holds
 * the next write of that key until a second has passed, and a write of a
 * key while another of the same key is in flight (two at once count as
 * two within a second) until that one ended.  A fixed table
 * indexed by the key's hash; a slot taken over by another key forgets
 * the older one (a 429 and a retry at worst).  Times are the caller's
 * monotonic clock, so the table is tested without sleeping.
 */
#define S3_PACE_SLOTS 4096
#define S3_PACE_INTERVAL 1.0 /* R2's: a 429 waits at least this long */

struct s3_pace {
	pthread_mutex_t lock;
	double interval; /* read-only: seconds between writes of a key
			    (0: no pacing) */
	uint64_t hash[S3_PACE_SLOTS]; /* protected by lock; 0: empty */
	double end[S3_PACE_SLOTS];    /* protected by lock */
	unsigned busy[S3_PACE_SLOTS]; /* writes of the slot's key in flight;
					 protected by lock */
};

void s3_pace_init(struct s3_pace *p, double interval);
void s3_pace_release(struct s3_pace *p);
/* Seconds to wait before writing path at now (0: at once). */
double s3_pace_delay(struct s3_pace *p, const char *path, double now);
/* A write of path succeeded at now. */
void s3_pace_note(struct s3_pace *p, const char *path, double now);
/*
 * Before a write of path: 0 when it may go now, and then it is in
 * flight until s3_pace_end; else the seconds to wait before asking
 * again (the last write ended too recently, or one is in flight).
 */
double s3_pace_begin(struct s3_pace *p, const char *path, double now);
/* The write s3_pace_begin let go has ended (ok: it succeeded at now). */
void s3_pace_end(struct s3_pace *p, const char *path, bool ok, double now);

struct s3 {
	struct store base; /* first: the store ops find the s3 from it */
	struct http_pool *pool;
	char *endpoint;
	char host[256];
	char *bucket; /* "" for a client of the service (ListBuckets) */
	char *region;
	/* The credentials, replaced when their file changes (reload_creds):
	 * protected by creds_lock; s3_request signs with a copy. */
	pthread_mutex_t creds_lock;
	struct creds creds;       /* keys, token, and their file */
	bool long_running;        /* read-only: s3_opts' */
	bool reload_creds;        /* read-only: look for a changed file */
	bool write_refusal_said;  /* atomic: AccessDenied on a write */
	char *creds_passwd_file;  /* read-only: creds_load's arguments */
	char *creds_profile;
	double creds_checked;     /* protected by creds_lock: last look */
	bool creds_refused_said;  /* protected by creds_lock */
	unsigned retries;
	long connect_timeout_ms;
	bool bare_if_match;   /* atomic: send If-Match ETags unquoted */
	bool crc32c;          /* PUTs carry x-amz-checksum-crc32c */
	struct s3_pace pace;  /* its own lock */
	/* versions whose bytes failed their MD5 (get_checked), by the hash
	 * of key and ETag: their ranges are refused too */
	pthread_mutex_t bad_lock;
	uint64_t bad[64];     /* protected by bad_lock; 0: empty */
	unsigned nbad;        /* protected by bad_lock: next slot */
	struct store_stats n; /* atomic */
};

/* One S3 call: what to send and where the answer goes. */
struct s3_call {
	const char *method;
	const char *key;   /* NULL: the bucket itself */
	const char *query; /* already encoded, or NULL */
	struct sigv4_header extra[S3_MAX_EXTRA]; /* signed and sent */
	size_t nextra;
	const void *body;
	size_t body_len;
	int body_fd;
	uint64_t body_fd_off; /* where the body starts in body_fd */
	uint64_t body_fd_len;
	bool has_body;
	char payload_hash[65];
	unsigned max_attempts; /* 0: 1 + store's retries */
	bool raw_errors;       /* keep transport errnos (mount check) */
	long timeout_ms;       /* each attempt at most (0: the pool's
				  connect and stall limits only) */
	double deadline;       /* util_now_mono() past which no attempt
				  starts nor lasts, backoff included (0:
				  none) */
	bool service;          /* path "/": no bucket (ListBuckets) */
};

/* A call of method on key (NULL: the bucket), nothing else set. */
void s3_call_init(struct s3_call *c, const char *method, const char *key);

/* Sign and send header name: value (both kept by reference); -E2BIG
 * beyond S3_MAX_EXTRA. */
int s3_call_add(struct s3_call *c, const char *name, const char *value);

/*
 * Perform call; resp must have been http_response_init()ed with its sink.
 * Returns 0 with resp->status set, or a transport errno (-EIO unless
 * c->raw_errors).  Retries transient failures, each attempt re-signed
 * with the current clock.
 */
int s3_request(struct s3 *s, struct s3_call *c, struct http_response *resp);

/* "/bucket/encoded-key" (or "/bucket" for key NULL), malloc'd; NULL on
 * ENOMEM. */
char *s3_build_path(const struct s3 *s, const char *key);

/* Append "name=enc(value)" ('&' between) to the query q of qlen bytes.
 * 0, -ENOMEM or -ENAMETOOLONG. */
int s3_query_add(char *q, size_t qlen, const char *name, const char *value);

/* The store ops are only ever installed on a struct s3 (s3_ops). */
static inline struct s3 *to_s3(struct store *st)
{
	return (struct s3 *)st;
}

/* errno for a completed non-2xx answer to c, logging the S3 code. */
int s3_status_error(struct s3 *s, const struct s3_call *c,
		    const struct http_response *resp);

/* An ETag header's value without its quotes, cut to outlen - 1 bytes;
 * "" for NULL. */
void s3_strip_quotes(const char *in, char *out, size_t outlen);

/*
 * s3_object.c's helpers that multipart uploads share.
 * s3_hash_fd: hex SHA-256 of the size bytes of fd at start and, with md5
 * not NULL, their MD5, with crc not NULL their CRC-32C, in one pass; 0 or
 * a negative errno.
 * s3_add_put_headers: content-type and opts' x-amz-meta-* headers on c;
 * the header names are malloc'd into names (room for opts->nmeta), which
 * the caller frees with s3_free_names(names, opts->nmeta) even on error
 * (names zeroed beforehand).
 */
int s3_hash_fd(int fd, uint64_t start, uint64_t size, char out[65],
	       unsigned char md5[16], uint32_t *crc);
int s3_add_put_headers(struct s3_call *c, const struct store_put_opts *opts,
		       char **names);
void s3_free_names(char **names, size_t n);

/* The store's ops (store.h), installed by s3.c's s3_ops: statistics and
 * teardown are s3.c's own. */
/* s3_object.c */
int s3_head(struct store *st, const char *key, struct store_object *out);
int s3_get_range(struct store *st, const char *key, uint64_t off,
		 size_t len, const char *if_match, void *buf, size_t *got);
int s3_get_range_to_fd(struct store *st, const char *key, uint64_t off,
		       uint64_t len, const char *if_match, int fd);
int s3_get_to_fd(struct store *st, const char *key, const char *if_match,
		 int fd, uint64_t *size);
int s3_put_fd(struct store *st, const char *key, int fd, uint64_t size,
	      const struct store_put_opts *opts, char *etag_out);
int s3_list(struct store *st, const char *prefix, const char *delimiter,
	    const char *token, unsigned max_keys, struct store_list *out);
int s3_list_after(struct store *st, const char *prefix,
		  const char *delimiter, const char *start_after,
		  unsigned max_keys, struct store_list *out);
int s3_remove(struct store *st, const char *key);
int s3_copy(struct store *st, const char *src, const char *dst,
	    const struct store_put_opts *opts);
/* s3_multipart.c */
int s3_mp_create(struct store *st, const char *key,
		 const struct store_put_opts *opts, char **upload_id);
int s3_mp_upload_part(struct store *st, const char *key,
		      const char *upload_id, unsigned part_number, int fd,
		      uint64_t offset, uint64_t len, char *etag_out);
int s3_mp_copy_part(struct store *st, const char *key,
		    const char *upload_id, unsigned part_number,
		    const char *src, const char *src_etag, uint64_t offset,
		    uint64_t len, char *etag_out);
int s3_mp_complete(struct store *st, const char *key, const char *upload_id,
		   const struct store_part *parts, size_t nparts,
		   char *etag_out);
int s3_mp_abort(struct store *st, const char *key, const char *upload_id);

/*
 * One sentence for the failures the mount check and the r2 tool explain
 * alike.  s3_transport_sentence: a refused connection, an unresolved
 * host, a timeout (rc); false, buf untouched, for any other rc.
 * s3_code_sentence: an S3 error code that says the bucket is missing,
 * the key or secret is wrong, the clock is off, or the region is (telling
 * to set region_option); returns the errno that code means (status is the
 * answer's), or 0, buf untouched, for another code.
 */
bool s3_transport_sentence(const struct s3 *s, int rc, char *buf,
			   size_t len);
int s3_code_sentence(const struct s3 *s, long status, const char *code,
		     const char *region_option, char *buf, size_t len);

#endif
