/*
 * meta.h - file attributes: from object metadata, from listings, to
 * metadata headers; and the cache of directory listings.
 *
 * Metadata convention (s3fs-fuse compatible, read by rclone too):
 * x-amz-meta-mode (decimal st_mode with type bits), -uid, -gid, -mtime
 * (Unix seconds, fraction allowed).  Objects without metadata get the
 * mount's defaults and Last-Modified as mtime.
 *
 * The dir cache has no lock of its own: the fs lock protects it.
 */
#ifndef R2FS_META_H
#define R2FS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

/* Defaults for objects without metadata. */
struct meta_defaults {
	uid_t uid;
	gid_t gid;
	mode_t umask;
};

/* Which metadata headers an object carried, and what they said. */
#define META_HAS_MODE 0x01u
#define META_HAS_UID 0x02u
#define META_HAS_GID 0x04u
#define META_HAS_MTIME 0x08u
#define META_HAS_CTIME 0x10u /* s3fs keeps these two as well */
#define META_HAS_ATIME 0x20u
#define META_HAS_ALL 0x3fu
/* A device's number (x-amz-meta-rdev, as s3fs keeps it); not in ALL:
 * directory indexes (dirindex.h) keep ALL and index no devices. */
#define META_HAS_RDEV 0x40u
/* Any of these means "r2fs/s3fs metadata". */
#define META_HAS_OWN (META_HAS_MODE | META_HAS_UID | META_HAS_GID | \
		      META_HAS_MTIME)

struct meta_values {
	unsigned has; /* META_HAS_* */
	mode_t mode;  /* with the type bits the header had */
	uid_t uid;
	gid_t gid;
	struct timespec mtime, ctime, atime;
	dev_t rdev;
};

void meta_values_from_object(const struct store_object *obj,
			     struct meta_values *v);
/* st of an object of type (S_IFDIR or S_IFREG: what the key said) with
 * size and Last-Modified lastmod: v over the defaults.  A file object
 * whose mode header names a symlink, FIFO, socket or device is one. */
void meta_attr_from_values(const struct meta_defaults *d, mode_t type,
			   uint64_t size, time_t lastmod,
			   const struct meta_values *v, struct stat *st);
/* The values that made st, knowing which of them came from headers. */
void meta_values_from_attr(const struct stat *st, unsigned has,
			   struct meta_values *v);

/* st from a HEAD answer; type is S_IFDIR or S_IFREG (what the key said).
 * Returns the META_HAS_* bits of the headers it carried (nonzero within
 * META_HAS_OWN: r2fs/s3fs metadata). */
unsigned meta_attr_from_object(const struct meta_defaults *d,
			       const struct store_object *obj, mode_t type,
			       struct stat *st);

/* st for a listed object or prefix (no metadata known). */
void meta_attr_default(const struct meta_defaults *d, mode_t type,
		       uint64_t size, time_t mtime, struct stat *st);

/* Metadata headers for st (mode, uid, gid, mtime; rdev for a device), in
 * fixed storage. */
struct meta_headers {
	struct store_meta kv[7];
	char val[6][48];
	size_t n;
};

void meta_to_headers(const struct stat *st, struct meta_headers *h);
/* Add x-amz-meta-ctime (s3fs keeps it too): the mount's ctime survives
 * the attribute cache. */
void meta_headers_add_ctime(struct meta_headers *h, const struct stat *st);
/* Add the x-amz-meta-xattr header (xattr.h); borrowed, NULL/"" skipped. */
void meta_headers_add_xattrs(struct meta_headers *h, const char *encoded);

/* A mode from metadata: s3fs's decimal st_mode or rclone's octal. */
bool meta_parse_mode(const char *s, unsigned long *mode);


/* --- directory listings --- */

struct dir_entry {
	char *name;
	mode_t type; /* S_IFREG or S_IFDIR */
	uint64_t size;
	time_t mtime; /* Last-Modified for listed objects */
	char *etag;   /* listed objects; NULL otherwise */
};

struct dir_listing {
	char *path;      /* "" or "a/b" */
	double fetched;  /* monotonic seconds */
	struct dir_entry *e;
	size_t n, cap;
	size_t indexed;  /* entries the directory's index in the bucket
			    covers (dirindex.h) */
	bool sorted;
};

struct dir_listing *dir_listing_new(const char *path);
void dir_listing_free(struct dir_listing *l);
int dir_listing_add(struct dir_listing *l, const char *name, mode_t type,
		    uint64_t size, time_t mtime, const char *etag);
/* Sort by name and drop duplicates (a file wins over a same-named
 * prefix, matching lookup, which finds the object first). */
void dir_listing_finish(struct dir_listing *l);
const struct dir_entry *dir_listing_find(const struct dir_listing *l,
					 const char *name);

struct dir_cache;

struct dir_cache *dir_cache_new(size_t max_dirs);
void dir_cache_free(struct dir_cache *dc);
/* A listing no older than ttl seconds at now, or NULL (an older one is
 * kept until replaced or evicted: ask with a larger ttl to see it). */
const struct dir_listing *dir_cache_find(struct dir_cache *dc,
					 const char *path, double now,
					 double ttl);
/* Store l (ownership passes to the cache), replacing an older one. */
void dir_cache_put(struct dir_cache *dc, struct dir_listing *l);
/* Keep a cached listing of dir in step with our own changes. */
void dir_cache_upsert(struct dir_cache *dc, const char *dir,
		      const char *name, mode_t type, uint64_t size,
		      time_t mtime, const char *etag);
void dir_cache_remove(struct dir_cache *dc, const char *dir,
		      const char *name);
/* The cached listing of dir fetched at fetched (if still that one) has
 * n entries in the directory's index: it need not be written again. */
void dir_cache_set_indexed(struct dir_cache *dc, const char *dir,
			   double fetched, size_t n);
void dir_cache_drop(struct dir_cache *dc, const char *dir);
/* Forget the listings of dir and of every directory below it (a
 * directory renamed: "" forgets all). */
void dir_cache_drop_tree(struct dir_cache *dc, const char *dir);
/* Forget every listing. */
void dir_cache_clear(struct dir_cache *dc);

#endif
