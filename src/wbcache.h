/*
 * wbcache.h - the write-back journal: crash-safe staging of written files
 * and their upload after a quiet period.
 *
 * Contract (see SEMANTICS.md): when close() returns 0 the file's data and
 * metadata are fsync'ed into the journal under the cache directory and
 * will reach the bucket, even if r2fs is killed and mounted again; fsync()
 * returns 0 only once the object is in the bucket.
 *
 * Locking: the journal shares the filesystem's mutex (fs lock), passed to
 * wb_new(); calls marked "locked" expect it held, the others take it
 * themselves.  An inode's stage_lock is taken before the fs lock, never
 * after.  No network request and no fsync runs under the fs lock.
 */
#ifndef R2FS_WBCACHE_H
#define R2FS_WBCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct inode;
struct stage;
struct inode_table;
struct store;
struct wb;

enum wb_state {
	WB_CLEAN = 0,  /* nothing to upload */
	WB_DIRTY,      /* changed; waits for close and the quiet period */
	WB_UPLOADING,  /* an upload of it is in flight */
	WB_ERROR,      /* the last upload failed; retried with backoff */
};

/*
 * What an upload may replace, so that r2fs never silently overwrites a
 * change another client made meanwhile: the version our data was read
 * from (If-Match), nothing at all for a file created here
 * (If-None-Match: *), or anything (after a rename onto the name, or when
 * the version is unknown).  When the condition fails, our version is
 * saved under a conflict name beside the other one (see wb_conflict_path).
 */
enum wb_base {
	WB_BASE_ANY = 0,
	WB_BASE_NONE,
	WB_BASE_ETAG,
};

struct wb_opts {
	const char *cache_dir;
	const char *endpoint; /* with bucket and prefix: names the journal */
	const char *bucket;
	const char *prefix;
	double delay;          /* quiet period after the last change, s */
	unsigned workers;      /* parallel uploads */
	uint64_t multipart_threshold; /* bytes; larger files go multipart */
	unsigned part_parallel;       /* parallel parts of one upload */
	uint64_t min_free;     /* bytes to keep free on the cache disk;
				  0: min(1 GiB, 5% of it) */
};

/*
 * Called (with the fs lock held) after an upload made in's object match
 * its stage: fs.c updates attributes and listings.  With conflict set,
 * the object at in's path is another client's and ours went up as the
 * object at path conflict instead.
 */
typedef void (*wb_uploaded_fn)(void *arg, struct inode *in,
			       const char *etag, uint64_t size,
			       const char *conflict);

/*
 * Open (or create) the journal for this endpoint/bucket/prefix under
 * cache_dir and lock it against a second mount.  0, or -errno with one
 * sentence in err.  No thread is started.
 */
int wb_new(const struct wb_opts *o, struct store *store,
	   pthread_mutex_t *lock, struct inode_table *inodes,
	   wb_uploaded_fn uploaded, void *arg, char *err, size_t errlen,
	   struct wb **out);

/*
 * Load the records of an earlier run (killed or unable to upload) as
 * pending files, so they are visible and uploaded.  Before the mount
 * accepts requests.  Returns the number of files, or -errno.
 */
int wb_replay(struct wb *wb);

/* Start the upload workers (after fork/daemonize). */
int wb_start(struct wb *wb);

/*
 * Upload everything pending now, retrying only within each request's own
 * retries; what still fails stays in the journal for the next mount.
 * Stops the workers.
 */
void wb_shutdown(struct wb *wb);
void wb_free(struct wb *wb);

/*
 * A new empty staging file in the journal's data directory, and its id
 * (to store in inode->wb_id when the stage is attached).  Not locked.
 */
int wb_stage_create(struct wb *wb, struct stage **out, uint64_t *id);

/* Locked: wake the workers (a writer closed, a due time changed). */
void wb_kick(struct wb *wb);

/* Locked: in's data or metadata changed. */
void wb_touch(struct wb *wb, struct inode *in);

/*
 * Locked: the metadata (attributes, xattrs) of in, a file whose contents
 * are in the bucket, changed: one CopyObject onto itself after the quiet
 * period carries this change and every one that follows meanwhile.  For
 * a directory (new, or changed), one PUT of its marker does.  Like a
 * local filesystem's metadata before sync, it is not journaled: fsync,
 * r2fs sync and unmount push it.
 */
void wb_touch_meta(struct wb *wb, struct inode *in);

/* Locked: what in's next upload may replace; etag with WB_BASE_ETAG. */
void wb_set_base(struct inode *in, enum wb_base base, const char *etag);

/*
 * The name a conflicting version of path is saved under:
 * "DIR/NAME.conflict-YYYYMMDD-HHMMSS[-N]" (N from 2 when the first is
 * taken); malloc'd, NULL on ENOMEM.
 */
char *wb_conflict_path(const char *path, time_t when, unsigned n);

/*
 * Make in's current state durable in the journal (fsync the data and,
 * once, its directory entry; write the record) and queue it for upload
 * after the quiet period.  Not locked;
 * the caller holds in's stage_lock for writing.  0 or -errno.
 */
int wb_commit(struct wb *wb, struct inode *in);

/* Commit and upload in now; its error.  Not locked, no stage_lock. */
int wb_sync(struct wb *wb, struct inode *in);

/*
 * Upload every pending file at or below path ("" = all) now and wait.
 * 0, or -EIO if any of them failed.  Not locked.
 */
int wb_sync_tree(struct wb *wb, const char *path);

/* Locked: wait (dropping the lock) until no upload of in is in flight. */
void wb_wait_idle(struct wb *wb, struct inode *in);

/* Locked: in's name is gone (unlink) or its data is dropped: forget its
 * journal record and pending upload. */
void wb_forget(struct wb *wb, struct inode *in);

/* Locked: "clean", "dirty", "uploading", "error: <reason>" or, after a
 * conflict, "conflict: saved as <path>". */
void wb_state_string(const struct inode *in, char *buf, size_t len);

/* Locked: is any pending file below dir ("" = root)? */
bool wb_dir_has_pending(struct wb *wb, const char *dir);

/* Locked: call fn for each pending inode. */
void wb_for_each_pending(struct wb *wb,
			 void (*fn)(void *arg, struct inode *in), void *arg);

/*
 * Back-pressure before writing bytes into a stage: while the cache
 * filesystem has less than min_free bytes free, wait for pending uploads
 * to free space; fail with -ENOSPC once nothing is left to wait for (or
 * after a minute).  Not locked.
 */
int wb_reserve(struct wb *wb, uint64_t bytes);

/*
 * Directory renames are not atomic on S3 (one CopyObject + DELETE per
 * key), so the journal remembers each one while it runs: an interrupted
 * rename is finished at the next mount.  Keys are full object key
 * prefixes ending in '/'.  begin returns an id for end.  Not locked.
 */
int wb_intent_begin(struct wb *wb, const char *from, const char *to,
		    uint64_t *id);
void wb_intent_end(struct wb *wb, uint64_t id);
/* Call fn for each unfinished rename found on disk (at mount). */
void wb_intent_replay(struct wb *wb,
		      int (*fn)(void *arg, const char *from, const char *to),
		      void *arg);

/* The journal's directory (CACHE_DIR/journal-HASH), for other state of
 * this endpoint, bucket and prefix that should outlive the mount. */
const char *wb_dir(const struct wb *wb);

/* Number of files and bytes waiting for upload (locked). */
void wb_pending_stats(struct wb *wb, size_t *files, uint64_t *bytes);

#endif
