/*
 * attrcache.h - metadata of objects (mode, owner, mtime from x-amz-meta-*),
 * remembered by path, fetched once, and fetched ahead for listed
 * directories.
 *
 * A listing gives size, ETag and Last-Modified but not the metadata
 * headers; those need a HEAD per object.  The cache keeps each HEAD's
 * result for as long as a later listing shows the same ETag and
 * Last-Modified (a metadata change by CopyObject changes Last-Modified),
 * or for ttl seconds where no listing vouches for it.
 *
 * Each path is fetched by one thread at a time: attr_cache_get() returns a
 * valid entry, waits for the fetch in flight, or fetches itself.  A pool of
 * prefetch threads HEADs freshly listed entries in listing order, page by
 * page as the LIST answers arrive, so an "ls -l" or rsync that follows
 * finds them ready and no path is ever HEADed twice at once.
 *
 * Files and directories are kept apart ("a/b" and the marker "a/b/"), as
 * a bucket may hold both.  Bounded: at most max entries (oldest first
 * out; never one being fetched) and at most max/2 entries queued for
 * prefetching (more are not queued: a lookup then fetches its own).
 *
 * Locking: the cache shares the fs lock given to attr_cache_new(); every
 * call but new/start/stop/free expects it held.  The fetch callback runs
 * without it.  Shared on purpose: the cache is a monitor over the
 * caller's lock, dropping it while a HEAD runs and taking it back, so a
 * lookup that waits for a fetch holds nothing up, and what the caller
 * read before the call (an inode, a listing entry) is re-checked once,
 * by the caller, as everywhere in fs*.c.  A lock of its own would make
 * every caller drop the fs lock around each call and re-check twice.
 */
#ifndef R2FS_ATTRCACHE_H
#define R2FS_ATTRCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "meta.h"

#define AC_ETAG_MAX 128 /* as struct store_object */

/* What one HEAD told about an object. */
struct attr_meta {
	struct stat st;   /* with the type: S_IFREG, S_IFLNK or S_IFDIR */
	char etag[AC_ETAG_MAX]; /* files; "" for directories */
	time_t lastmod;         /* files; 0 for directories */
	unsigned present;       /* META_HAS_*: what st took from headers */
	time_t checked;         /* the server's clock when a HEAD showed
				   this; 0 unknown (then it goes in no
				   directory index, dirindex.h) */
	double fetched;         /* when it was fetched (monotonic s); set
				   by the cache */
};

/*
 * Fetch path's metadata from the store: HEAD of the file (type S_IFREG)
 * or of the directory marker (S_IFDIR; an implied directory without one
 * gets defaults with listed_mtime).  Called without the lock; 0 or a
 * negative errno (-ENOENT: the file is gone).
 */
typedef int (*attr_fetch_fn)(void *arg, const char *path, mode_t type,
			     time_t listed_mtime, struct attr_meta *out);

struct attr_cache;

struct attr_cache *attr_cache_new(pthread_mutex_t *lock, size_t max,
				  attr_fetch_fn fetch, void *fetch_arg);
/*
 * Optional, before attr_cache_start: changed(arg, path) is called with the
 * lock held before a fetched result is stored; true means path has local
 * changes not in the bucket yet (a chmod waiting for its CopyObject), so
 * the result is older than what we show and is not kept.
 */
void attr_cache_set_guard(struct attr_cache *ac,
			  bool (*changed)(void *arg, const char *path),
			  void *arg);

/* Start the prefetch threads (not locked).  0 or -errno. */
int attr_cache_start(struct attr_cache *ac, unsigned threads);
/* Drop queued prefetches and join the threads (not locked). */
void attr_cache_stop(struct attr_cache *ac);
void attr_cache_free(struct attr_cache *ac);

/* Which entry is wanted, and what vouches for it. */
struct attr_want {
	const char *path;  /* "a/b" */
	mode_t type;       /* S_IFREG (also symlinks) or S_IFDIR */
	const char *etag;  /* a listing's: valid while it matches; NULL:
			      valid for ttl seconds after its fetch */
	time_t lastmod;    /* the listing's Last-Modified (with etag), or
			      the directory's mtime to use if unmarked */
	double ttl;
};

/*
 * Locked.  The metadata of w: cached, waited for, or fetched now (the
 * lock is dropped meanwhile).  *fetched (may be NULL) tells whether this
 * call had to fetch it itself.  0 or a negative errno.
 */
int attr_cache_get(struct attr_cache *ac, const struct attr_want *w,
		   struct attr_meta *out, bool *fetched);

/* Locked.  Like attr_cache_get, but never fetches: waits for a fetch in
 * flight; -EAGAIN when w is neither valid nor being fetched. */
int attr_cache_wait(struct attr_cache *ac, const struct attr_want *w,
		    struct attr_meta *out);

/* Locked.  Like attr_cache_get, but only what is valid now: true if so. */
bool attr_cache_peek(struct attr_cache *ac, const struct attr_want *w,
		     struct attr_meta *out);

/* Locked.  As attr_cache_peek (out may be NULL), but not counted as a
 * hit: for r2fs's own bookkeeping, not for answers. */
bool attr_cache_valid(struct attr_cache *ac, const struct attr_want *w,
		      struct attr_meta *out);

/* Locked.  A fresh result from elsewhere (a probe, our own upload).  A
 * lastmod of 0 is unknown (a PUT does not tell it): the first listing
 * that shows m's ETag supplies it.  now is its time of fetching: -1e18
 * makes it valid only while a listing vouches for it, never by age.
 * Whether it was kept (not while a fetch of path is in flight or path
 * has changes of ours). */
bool attr_cache_fill(struct attr_cache *ac, const char *path, mode_t type,
		     const struct attr_meta *m, double now);

/* Locked.  Our own change: drop what we knew of path (file and
 * directory); a fetch in flight for it is not stored. */
void attr_cache_forget(struct attr_cache *ac, const char *path);

/* Locked.  Like attr_cache_forget for path and everything below it (a
 * directory renamed or replaced). */
void attr_cache_forget_tree(struct attr_cache *ac, const char *path);

/*
 * Locked.  Queue background fetches for the listed entries e[0..n) of
 * directory dir ("" for the root), in that order: after what is queued,
 * or before it when urgent (someone waits for them now).  Entries valid by
 * their listed ETag, and entries without one (directories) fetched less
 * than ttl seconds ago, are not fetched again.
 */
void attr_cache_prefetch(struct attr_cache *ac, const char *dir,
			 const struct dir_entry *e, size_t n, double ttl,
			 bool urgent);

/* Locked.  Entries waiting for a prefetch thread. */
size_t attr_cache_queued(const struct attr_cache *ac);

/*
 * Metadata that outlives the mount.  save writes every file entry that a
 * listing can validate (it has an ETag) to file (a new file renamed over
 * the old one; mode 0600); load reads them back, before any request, if
 * the file was saved with the same tag (one line, no newline: what the
 * entries depend on besides the objects, e.g. the default owner and mode
 * of objects without metadata).
 * Loaded entries are valid only while a listing shows the same ETag and
 * Last-Modified, never by age: "ls -l" or rsync after a remount HEAD
 * only what changed.  Not locked; load before attr_cache_start, save
 * after attr_cache_stop.  0 or -errno (a missing file loads nothing).
 */
int attr_cache_save(struct attr_cache *ac, const char *file,
		    const char *tag);
int attr_cache_load(struct attr_cache *ac, const char *file,
		    const char *tag);

/* Counters, for tests and stats. */
struct attr_cache_stats {
	uint64_t hits;       /* get/peek answered from the cache */
	uint64_t waits;      /* get waited for another thread's fetch */
	uint64_t fetches;    /* fetches made by get itself */
	uint64_t prefetches; /* fetches made by the prefetch threads */
	uint64_t loaded;     /* entries read by attr_cache_load */
	size_t entries;
	size_t queued;       /* entries waiting for a prefetch thread */
};

void attr_cache_stats(struct attr_cache *ac, struct attr_cache_stats *out);

#endif
