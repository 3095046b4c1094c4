/*
 * memstore.h - an in-memory object store with R2's rules, for unit tests.
 *
 * memstore_store() is a struct store (store.h) that keeps every object in
 * memory and answers as R2 would, with the errnos s3.c would return for
 * those answers (it maps them with s3.c's own s3_error_to_errno()):
 *
 *   NoSuchKey, NoSuchUpload                     -ENOENT
 *   PreconditionFailed (412)                    -ESTALE
 *   KeyTooLongError (key over 1,024 bytes)      -ENAMETOOLONG
 *   EntityTooLarge (PUT or part over 5 GiB-5 MiB)  -EFBIG
 *   InvalidPart, InvalidPartOrder, EntityTooSmall (400 on Complete)  -EIO
 *   InvalidRequest (copy onto itself, no new metadata)  -EINVAL
 *   InvalidArgument (a token this store did not give)   -EINVAL
 *   InvalidRange (416: a part copy's range past the source's end)  -EIO
 *   429 with the one-write-a-second rule on     -EIO (s3.c, retries spent)
 *   more than MEMSTORE_MAX_META metadata pairs  -E2BIG (s3.c refuses it)
 *
 * Time is the store's clock (seconds): time(NULL) until a test sets it,
 * then fixed until set or advanced again.  Last-Modified and the `date` of
 * head are read from it, and so is the one-write-a-second rule.
 *
 * Locking: one mutex per store; every op and every function below may be
 * called from any thread.  Ownership: nothing passed in is kept; strings
 * and buffers handed out are malloc'd and the caller's to free.
 *
 * Destroy with memstore_store(ms)->ops->destroy(memstore_store(ms)).
 */
#ifndef R2FS_TEST_MEMSTORE_H
#define R2FS_TEST_MEMSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

/* s3.c's limit on x-amz-meta-* pairs per request (its header table). */
#define MEMSTORE_MAX_META 42
/* R2's smallest part but the last (EntityTooSmall below it). */
#define MEMSTORE_MIN_PART_DEFAULT (UINT64_C(5) << 20)

/* Requests as the server sees them; every attempt counts, failed or not. */
enum ms_op {
	MS_OP_HEAD,
	MS_OP_GET, /* get_range, get_range_to_fd, get_to_fd */
	MS_OP_PUT,
	MS_OP_LIST, /* list, list_after */
	MS_OP_DELETE,
	MS_OP_COPY,
	MS_OP_MP_CREATE,
	MS_OP_MP_PART,
	MS_OP_MP_COMPLETE,
	MS_OP_MP_ABORT,
	MS_OP_MP_COPY, /* UploadPartCopy */
	MS_OP_COUNT
};

struct memstore;

/* An empty store with the defaults above; NULL when out of memory. */
struct memstore *memstore_new(void);
struct store *memstore_store(struct memstore *ms);

/* Pin the clock at now (0: follow time(NULL) again), or move it on. */
void memstore_set_clock(struct memstore *ms, time_t now);
void memstore_advance(struct memstore *ms, time_t seconds);
time_t memstore_clock(struct memstore *ms);

/* The smallest part but the last that Complete accepts (tests use small
 * files); default MEMSTORE_MIN_PART_DEFAULT. */
void memstore_set_min_part(struct memstore *ms, uint64_t bytes);

/* Whether CompleteMultipartUpload answers with the object's ETag (default
 * on, as R2 and S3); off: "" as Ceph RGW 16 answers. */
void memstore_set_complete_etag(struct memstore *ms, bool on);

/*
 * R2's "about one write a second per key": when on (default off), a PUT,
 * COPY (to the key), DELETE or CompleteMultipartUpload of a key written
 * less than a clock second before is answered 429 (-EIO, counted in
 * store_stats.throttled).  Refused writes do not restart the second.
 */
void memstore_set_write_limit(struct memstore *ms, bool on);

/* Requests of kind op since creation or the last memstore_log_reset. */
uint64_t memstore_count(struct memstore *ms, enum ms_op op);
/*
 * The request log, one line a request: "OP KEY" or "OP KEY CODE" when the
 * answer was an error, CODE being the S3 error code (e.g. "PUT a/b
 * PreconditionFailed").  OP: HEAD GET PUT LIST DELETE COPY CREATE PART
 * COMPLETE ABORT PARTCOPY; COPY's and PARTCOPY's KEY is "SRC>DST", LIST's
 * the prefix.  Malloc'd;
 * NULL when out of memory.
 */
char *memstore_log(struct memstore *ms);
/* Empty the log and the per-op counts (store_stats keep counting). */
void memstore_log_reset(struct memstore *ms);

/*
 * Direct access, as another client or an inspecting test: no request is
 * counted or logged and no rule but the key length applies.
 *
 * memstore_put_bytes: store len bytes as key (single-PUT ETag) with opts'
 * content type and metadata (opts may be NULL; conditions are ignored).
 * memstore_get_bytes: a malloc'd copy of key's bytes into *data (not
 * NUL-terminated; non-NULL even when empty) and *len; obj, if not NULL,
 * gets what head would give (release it with store_object_release).
 * Both return 0, -ENOENT, -ENAMETOOLONG, -E2BIG or -ENOMEM.
 */
int memstore_put_bytes(struct memstore *ms, const char *key, const void *data,
		       size_t len, const struct store_put_opts *opts);
int memstore_get_bytes(struct memstore *ms, const char *key, void **data,
		       size_t *len, struct store_object *obj);
bool memstore_exists(struct memstore *ms, const char *key);
/* 0 or -ENOENT. */
int memstore_delete(struct memstore *ms, const char *key);
/* Every key in byte order, each followed by '\n'; malloc'd, NULL when out
 * of memory. */
char *memstore_keys(struct memstore *ms);
/* Multipart uploads created and neither completed nor aborted. */
size_t memstore_uploads(struct memstore *ms);

#endif
