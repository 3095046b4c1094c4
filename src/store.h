/*
 * store.h - the object-store interface between filesystem logic and S3.
 *
 * fs.c talks only to this interface; s3.c implements it over HTTP, and
 * tests may put a fake or fault-injecting store in its place.  Keys are
 * full object keys (mount prefix included), without a leading '/'.
 *
 * Every call returns 0 or a negative errno:
 *   -ENOENT        no such key            -EACCES   refused (403)
 *   -ESTALE        If-Match failed (412)  -ENAMETOOLONG  key too long
 *   -EFBIG         object too large       -EIO      server or network
 *                                                   failure after retries
 * Implementations are thread-safe: calls may run in parallel.
 */
#ifndef R2FS_STORE_H
#define R2FS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* User metadata: name without "x-amz-meta-", lower case. */
struct store_meta {
	char *name;
	char *value;
};

struct store_object {
	uint64_t size;
	time_t last_modified;
	time_t date;    /* the server's clock when it answered; 0 unknown */
	char etag[128]; /* without quotes; "" if unknown */
	char *content_type;
	struct store_meta *meta;
	size_t nmeta;
};

void store_object_release(struct store_object *obj);
const char *store_object_meta(const struct store_object *obj,
			      const char *name);

struct store_list_entry {
	char *key;
	uint64_t size;
	time_t mtime;
	char *etag;
};

/* One page of a listing; all strings owned, freed by store_list_release. */
struct store_list {
	struct store_list_entry *entries;
	size_t nentries;
	char **prefixes;
	size_t nprefixes;
	bool truncated;
	char *next_token;
};

void store_list_release(struct store_list *l);

struct store_put_opts {
	const char *content_type;      /* NULL: application/octet-stream */
	const struct store_meta *meta; /* sent as x-amz-meta-* */
	size_t nmeta;
	/* Conditions, honoured by put_fd only: write over exactly this ETag
	 * (without quotes; NULL or "": any), or only where no object is.
	 * A failed condition is -ESTALE; If-Match finding no object at all
	 * is -ENOENT.  put_fd succeeds when the object already holds the
	 * very bytes sent (an earlier attempt whose answer was lost). */
	const char *if_match;
	bool if_none_match;
};

/* One uploaded part of a multipart upload. */
struct store_part {
	unsigned number; /* 1..10000 */
	char etag[128];  /* as UploadPart returned it, without quotes */
};

/* Requests made by a store since it was created (each retry counts). */
struct store_stats {
	uint64_t class_a;    /* PUT, POST, COPY, LIST, multipart calls */
	uint64_t class_b;    /* GET, HEAD */
	uint64_t retries;    /* attempts after the first */
	uint64_t throttled;  /* 429 answers */
	uint64_t failures;   /* network errors and 5xx answers */
	uint64_t bytes_up;   /* request bodies sent */
	uint64_t bytes_down; /* 2xx bodies received */
};

/* R2's published request prices (Standard storage), US$ per request. */
#define STORE_R2_CLASS_A_USD (4.50 / 1e6)
#define STORE_R2_CLASS_B_USD (0.36 / 1e6)

static inline double store_stats_cost(const struct store_stats *n)
{
	return (double)n->class_a * STORE_R2_CLASS_A_USD +
	       (double)n->class_b * STORE_R2_CLASS_B_USD;
}

struct store;

struct store_ops {
	int (*head)(struct store *s, const char *key, struct store_object *out);
	/* Read up to len bytes at off into buf; *got receives the count
	 * (short only at end of object).  if_match: ETag or NULL. */
	int (*get_range)(struct store *s, const char *key, uint64_t off,
			 size_t len, const char *if_match, void *buf,
			 size_t *got);
	/* Write exactly len bytes of the object at off into fd at the same
	 * offset (pwrite); fewer bytes (the object is shorter) are -EIO.
	 * if_match: ETag or NULL. */
	int (*get_range_to_fd)(struct store *s, const char *key, uint64_t off,
			       uint64_t len, const char *if_match, int fd);
	/* Download the whole object into fd at offset 0; *size gets its
	 * length. */
	int (*get_to_fd)(struct store *s, const char *key,
			 const char *if_match, int fd, uint64_t *size);
	/* PUT size bytes of fd (from offset 0) as key.  etag_out may be
	 * NULL, else at least 128 bytes. */
	int (*put_fd)(struct store *s, const char *key, int fd, uint64_t size,
		      const struct store_put_opts *opts, char *etag_out);
	/* One page of keys under prefix; delimiter may be NULL. */
	int (*list)(struct store *s, const char *prefix, const char *delimiter,
		    const char *token, unsigned max_keys,
		    struct store_list *out);
	/* The first page of keys under prefix that sort after start_after
	 * (which need not exist); later pages go on with list and the
	 * page's token.  Optional (NULL: not offered). */
	int (*list_after)(struct store *s, const char *prefix,
			  const char *delimiter, const char *start_after,
			  unsigned max_keys, struct store_list *out);
	int (*remove)(struct store *s, const char *key);
	/* Server-side copy; with opts, metadata is replaced by opts'. */
	int (*copy)(struct store *s, const char *src, const char *dst,
		    const struct store_put_opts *opts);
	/*
	 * Multipart uploads (multipart.h drives them).  R2 wants every part
	 * but the last of one upload to have the same size; choosing sizes
	 * is the caller's job.  An upload that is neither completed nor
	 * aborted keeps its parts stored (and billed) on the server.
	 *
	 * mp_create: start an upload of key with opts' content type and
	 * metadata (as put_fd sends them).  *upload_id receives a malloc'd
	 * id that the caller frees.
	 */
	int (*mp_create)(struct store *s, const char *key,
			 const struct store_put_opts *opts, char **upload_id);
	/*
	 * mp_upload_part: send len bytes of fd at offset as part
	 * part_number (1..10000).  fd is only read with pread, so threads
	 * may upload parts of one fd at once.  etag_out (at least 128
	 * bytes) receives the part's ETag without quotes.
	 */
	int (*mp_upload_part)(struct store *s, const char *key,
			      const char *upload_id, unsigned part_number,
			      int fd, uint64_t offset, uint64_t len,
			      char *etag_out);
	/*
	 * mp_copy_part: part part_number is the len bytes at offset of the
	 * object src, but only of its version src_etag (without quotes;
	 * UploadPartCopy with x-amz-copy-source-if-match and
	 * x-amz-copy-source-range): -ESTALE when src is another version
	 * now, -ENOENT when it is gone (or the upload is).  Nothing is
	 * sent but the request.  etag_out as mp_upload_part's.  Optional
	 * (NULL: not offered).
	 */
	int (*mp_copy_part)(struct store *s, const char *key,
			    const char *upload_id, unsigned part_number,
			    const char *src, const char *src_etag,
			    uint64_t offset, uint64_t len, char *etag_out);
	/*
	 * mp_complete: assemble the object from parts (nparts >= 1, in
	 * strictly ascending number order).  An error reported inside a 200
	 * answer is an error here (-EIO).  etag_out may be NULL, else at
	 * least 128 bytes; it may receive "" (Ceph RGW sends no ETag).
	 */
	int (*mp_complete)(struct store *s, const char *key,
			   const char *upload_id,
			   const struct store_part *parts, size_t nparts,
			   char *etag_out);
	/* mp_abort: drop the upload and its parts; -ENOENT if unknown. */
	int (*mp_abort)(struct store *s, const char *key,
			const char *upload_id);
	/* Counters so far; optional (NULL: none kept). */
	void (*stats)(struct store *s, struct store_stats *out);
	void (*destroy)(struct store *s);
};

struct store {
	const struct store_ops *ops;
};

#endif
