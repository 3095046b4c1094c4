/*
 * multipart.h - multipart uploads as R2 requires them.
 *
 * R2 accepts a multipart upload only if every part but the last has the
 * same size (5 MiB to 5 GiB - 5 MiB, at most 10,000 parts), so one part
 * size is chosen per upload from the final object size, before the first
 * part is sent.  multipart_part_size() is that choice, a pure function;
 * multipart_put_fd() drives the store's mp_* calls with a few threads.
 *
 * Memory does not grow with the object: parts are streamed from the file
 * by the store (pread), and only the list of part ETags (at most 10,000 x
 * 132 bytes) is kept.
 */
#ifndef R2FS_MULTIPART_H
#define R2FS_MULTIPART_H

#include <stdint.h>

#include "store.h"

#define MULTIPART_MIB (UINT64_C(1) << 20)
#define MULTIPART_GIB (UINT64_C(1) << 30)
#define MULTIPART_TIB (UINT64_C(1) << 40)

/* Files at least this large are uploaded in parts (a default for the
 * caller's threshold option). */
#define MULTIPART_THRESHOLD_DEFAULT (64 * MULTIPART_MIB)
/* R2's largest single PUT (and largest part): 5 GiB - 5 MiB. */
#define SINGLE_PUT_MAX (5 * MULTIPART_GIB - 5 * MULTIPART_MIB)
/* Parts: at most this many per upload, each at least MIN bytes (all but
 * the last), at most SINGLE_PUT_MAX. */
#define MULTIPART_MAX_PARTS 10000
#define MULTIPART_MIN_PART (5 * MULTIPART_MIB)
/* The smallest part size we choose: fewer requests for mid-size files. */
#define MULTIPART_PART_FLOOR (8 * MULTIPART_MIB)
/* R2's largest object, "5 GiB less than 5 TiB, so 4.995 TiB". */
#define MULTIPART_MAX_OBJECT (5 * MULTIPART_TIB - 5 * MULTIPART_GIB)

/*
 * The part size for an object of size bytes: max(8 MiB, ceil(size /
 * 10000)) rounded up to a whole MiB.  Every part but the last has exactly
 * this size, the last has the rest (1..part size bytes; an empty object is
 * one empty part).  0 if size is above MULTIPART_MAX_OBJECT: callers turn
 * that into -EFBIG.
 */
uint64_t multipart_part_size(uint64_t size);

/* How many parts an object of size bytes has with part size part (> 0). */
uint64_t multipart_part_count(uint64_t size, uint64_t part);

/*
 * Upload size bytes of fd (from offset 0) as key in parts: create the
 * upload with opts' content type and metadata, send the parts with up to
 * parallel threads (0 counts as 1; the calling thread is one of them),
 * then complete it with the parts in ascending order.  Stops sending new
 * parts at the first error; on any failure the upload is aborted (best
 * effort) and the first error returned.
 *
 * fd must stay open and unchanged until the call returns; it is only read
 * with pread.  etag_out may be NULL, else at least 128 bytes; it may get
 * "" when the server sends no ETag for the whole object.
 *
 * Returns 0, -EFBIG (size above MULTIPART_MAX_OBJECT), -EOPNOTSUPP (the
 * store has no multipart calls), -ENOMEM, or the store's error.
 * Thread-safe as the store is; the store must allow parallel calls.
 */
int multipart_put_fd(struct store *s, const char *key, int fd, uint64_t size,
		     const struct store_put_opts *opts, unsigned parallel,
		     char *etag_out);

/*
 * Parts to take from an existing object instead of sending them
 * (UploadPartCopy): part n of the new upload is the same byte range of
 * the version etag of key, for the parts marked in parts (nparts entries:
 * multipart_part_count(size, multipart_part_size(size))).  A copy that
 * fails for any reason (the version changed or is gone: -ESTALE,
 * -ENOENT; a server without the call) is sent from fd instead, and no
 * later part is copied: fd must hold the whole file all the same.
 */
struct multipart_copy {
	const char *key;
	const char *etag;
	const bool *parts;
	unsigned nparts;
	/* filled in by multipart_put_fd_copy */
	unsigned copied;   /* parts copied */
	unsigned fallback; /* parts marked for copying that were sent */
	/* the ETag S3 gives such an upload, MD5 of the parts' MD5s and
	 * "-N", when every part's ETag was an MD5 (else ""): tells whether
	 * an ETag a HEAD found later is this upload's */
	char etag_expected[128];
};

/* multipart_put_fd, copying what copy marks (copy may be NULL: none;
 * parts NULL: copy nothing, only fill in the results).  -EINVAL if
 * copy->nparts is not the upload's part count. */
int multipart_put_fd_copy(struct store *s, const char *key, int fd,
			  uint64_t size, const struct store_put_opts *opts,
			  unsigned parallel, struct multipart_copy *copy,
			  char *etag_out);

#endif
