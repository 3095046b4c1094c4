/*
 * readcache.h - object data kept on local disk, in 1 MiB blocks, so data
 * read once is read from disk next time: across opens, across remounts,
 * and after the kernel dropped its pages.
 *
 * A block belongs to one object version: key and ETag (and size).  A
 * read asks with the ETag its file was opened with; blocks of another
 * version are never served (they are dropped when the new version's
 * first block is stored).  The cache holds at most its limit (-o
 * read_cache_size) and leaves the cache disk's free space above the
 * journal's floor (-o cache_min_free) plus a margin: blocks are evicted,
 * least recently used first, to make room; nothing here ever fails a
 * read or a write (a block that cannot be stored is just not stored).
 *
 * Who fills it: the read-ahead (readahead.h) stores the whole blocks its
 * GETs brought and reads cached ones from disk instead of the bucket;
 * rcache_random fetches a randomly read file (small: all of it; big:
 * the neighbourhood of each read) in the background; rcache_adopt stores
 * a file r2fs has just uploaded from its staging file.
 *
 * Thread safety: every call may come from any thread.  One mutex (the
 * cache's) guards the index; no disk I/O but opening or creating a file
 * runs under it, and no request.  Lock order: the read-ahead pool's lock,
 * then this one (rcache_run is called under the pool's lock); nothing
 * here calls back.
 */
#ifndef R2FS_READCACHE_H
#define R2FS_READCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The unit of caching and eviction. */
#define RC_BLOCK ((uint64_t)1 << 20)
/* A randomly read file up to this size is fetched whole in the
 * background; of a bigger one, the RC_NEIGHBOURHOOD around each read. */
#define RC_WHOLE_MAX ((uint64_t)64 << 20)
#define RC_NEIGHBOURHOOD ((uint64_t)8 << 20)
/* Random reads of a file before the background fetch starts. */
#define RC_RANDOM_TRIGGER 3
/* Free space kept above the journal's floor, for writes to use before
 * the cache gives space back (rcache_reserve): a sixteenth of the disk,
 * within these bounds. */
#define RC_SLACK_MIN ((uint64_t)8 << 20)
#define RC_SLACK_MAX ((uint64_t)32 << 20)

struct store;
struct rcache;

struct rcache_opts {
	const char *dir;   /* where the blocks live (created) */
	uint64_t limit;    /* bytes of blocks at most (> 0) */
	uint64_t min_free; /* the journal's floor on the disk's free space */
	unsigned threads;  /* background fetches at once */
};

/*
 * Open the cache in o->dir, reading what an earlier mount left (each
 * block is checked against its checksum at its first use).  s is
 * borrowed for background fetches.  No thread is started.  0 or -errno.
 */
int rcache_new(const struct rcache_opts *o, struct store *s,
	       struct rcache **out);
/* Start the background threads (after the daemon has forked). */
int rcache_start(struct rcache *rc);
/* Stop the threads (queued fetches are dropped), save the blocks' order
 * of use, free everything.  rc may be NULL. */
void rcache_free(struct rcache *rc);

/*
 * Copy len bytes at off of key at version etag (size bytes) into buf if
 * every block they touch is cached: len, or 0 when any is missing (a
 * block that fails its checksum is dropped and counts as missing).
 * Never an error: a miss is for the caller to fetch.
 */
size_t rcache_read(struct rcache *rc, const char *key, const char *etag,
		   uint64_t size, uint64_t off, size_t len, char *buf);

/*
 * From off (< end), the end of the run of bytes that are all cached
 * (*cached true) or all not (false), at most end: block granular.
 */
uint64_t rcache_run(struct rcache *rc, const char *key, const char *etag,
		    uint64_t size, uint64_t off, uint64_t end, bool *cached);

/*
 * len bytes of the object at off, just fetched: store the whole blocks
 * among them (and the object's last block if they reach its end).
 * Best effort: blocks already cached, or without room, are skipped.
 */
void rcache_fill(struct rcache *rc, const char *key, const char *etag,
		 uint64_t size, uint64_t off, const char *data, size_t len);

/*
 * The same in the background, for bytes a reader is waiting for no
 * longer: data must stay valid until done(arg), which a cache thread
 * calls (without the cache's lock) once it is stored or dropped.  false
 * when not queued (too many bytes wait to be stored already: the disk is
 * slower than the network; or no thread): done is not called then.
 */
typedef void (*rcache_done_fn)(void *arg);
bool rcache_fill_async(struct rcache *rc, const char *key, const char *etag,
		       uint64_t size, uint64_t off, const char *data,
		       size_t len, rcache_done_fn done, void *arg);

/* A read at off that did not follow the last one: after a few, fetch
 * the file (or the neighbourhood) in the background. */
void rcache_random(struct rcache *rc, const char *key, const char *etag,
		   uint64_t size, uint64_t off);

/*
 * r2fs uploaded size bytes read from fd as key, now at etag: cache them
 * in the background.  Takes fd (closes it); its bytes must not change.
 */
void rcache_adopt(struct rcache *rc, const char *key, const char *etag,
		  uint64_t size, int fd);

/*
 * A writer is about to put bytes on the cache disk: give space back if
 * the free space would come near the journal's floor.  Cheap: checks
 * the disk every few MiB.  rc may be NULL.
 */
void rcache_reserve(struct rcache *rc, uint64_t bytes);

/*
 * The disk is full for the journal: wait until the files being stored
 * (rcache_adopt holds the uploaded staging files open until then) and
 * other queued work are done, then give space back for bytes as
 * rcache_reserve does, now.  rc may be NULL.
 */
void rcache_give_back(struct rcache *rc, uint64_t bytes);

/* A read was served: all from cached blocks (hit) or not, with
 * local bytes from the cache. */
void rcache_count(struct rcache *rc, bool hit, uint64_t local);

struct rcache_stats {
	uint64_t bytes;     /* blocks on disk and ready to serve now */
	uint64_t limit;
	uint64_t hits;      /* reads served from the cache only */
	uint64_t misses;    /* reads that needed the bucket */
	uint64_t served;    /* bytes read from the cache */
	uint64_t evictions; /* blocks dropped for room */
	uint64_t torn;      /* blocks that failed their checksum */
	uint64_t stored;    /* blocks written */
	uint64_t failed;    /* blocks that could not be written (ENOSPC) */
	uint64_t fetched;   /* background fetches (GETs) */
};
void rcache_stats(struct rcache *rc, struct rcache_stats *out);

/* Wait until no background fetch or adoption is queued or running (for
 * tests and benchmarks). */
void rcache_idle(struct rcache *rc);

#endif
