/*
 * attrcache.h - metadata of objects, remembered by path and validated by
 * (ETag, Last-Modified).
 *
 * A listing gives size, ETag and Last-Modified but not the x-amz-meta-*
 * headers (mode, owner, mtime); those need a HEAD per object.  The cache
 * keeps each HEAD's result for as long as a later listing shows the same
 * ETag and Last-Modified (a metadata change by CopyObject changes
 * Last-Modified), so a directory is HEADed once, not at every listing.
 *
 * Each path is fetched by one thread at a time: attr_cache_claim() either
 * returns a valid entry, waits for a fetch in flight, or makes the caller
 * the fetcher.  Bounded: the oldest entries go first.
 *
 * Locking: all calls expect the fs lock held (claim may wait on it).
 */
#ifndef R2FS_ATTRCACHE_H
#define R2FS_ATTRCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

struct attr_cache;

struct attr_cache *attr_cache_new(pthread_mutex_t *lock, size_t max);
void attr_cache_free(struct attr_cache *ac);

enum attr_claim {
	AC_VALID,   /* *st filled from the cache */
	AC_FETCH,   /* the caller must fetch and then fill or abandon */
	AC_BUSY,    /* (no-wait claims only) another thread is fetching */
};

/*
 * Look up path with the validators a listing showed (etag may be NULL:
 * any cached entry younger than ttl seconds is valid).  With wait, a
 * fetch in flight is waited for.
 */
enum attr_claim attr_cache_claim(struct attr_cache *ac, const char *path,
				 const char *etag, time_t lastmod,
				 double now, double ttl, bool wait,
				 struct stat *st);

/* The fetcher's result: st (with metadata) valid for etag/lastmod. */
void attr_cache_fill(struct attr_cache *ac, const char *path,
		     const char *etag, time_t lastmod, double now,
		     const struct stat *st);
/* The fetch failed: forget the claim (waiters fetch themselves). */
void attr_cache_abandon(struct attr_cache *ac, const char *path);
/* Our own change: drop what we knew. */
void attr_cache_forget(struct attr_cache *ac, const char *path);

#endif
