/*
 * wbcache.h - the write-back state machine: which files wait for upload,
 * when each goes up, retries, and the waits of fsync, sync and unmount.
 *
 * Contract (see SEMANTICS.md): when close() returns 0 the file's data and
 * metadata are fsync'ed into the journal (journal.h) and will reach the
 * bucket, even if r2fs is killed and mounted again; fsync() returns 0
 * only once the object is in the bucket.
 *
 * The filesystem keeps one struct wb_file per file with something to
 * upload (its journal entry) and names itself as the entry's owner, an
 * opaque pointer this module never dereferences.  What an upload sends
 * is asked of the owner when it is needed (describe); what came of it is
 * told to the owner as a value (uploaded).  Upload state lives here
 * only, and only this module writes it.
 *
 * Lock order, for the whole filesystem (written once, here):
 *
 *     a stage's lock  ->  the fs lock  ->  the journal's lock (struct wb)
 *                     ->  a stage's fill_lock
 *
 * A caller may hold the fs lock when calling into this module (every
 * call takes the journal's own lock briefly) except where a call says
 * "not under the fs lock": those wait for an upload in flight, and an
 * upload calls back into the owner, which takes the fs lock.  The
 * callbacks run without the journal's lock.  No network request and no
 * fsync runs under either lock.
 */
#ifndef R2FS_WBCACHE_H
#define R2FS_WBCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "journal.h"

struct stage;
struct store;
struct wb;
struct wb_file;

enum wb_state {
	WB_CLEAN = 0,  /* nothing to upload */
	WB_DIRTY,      /* changed; waits for close and the quiet period */
	WB_UPLOADING,  /* an upload of it is in flight */
	WB_ERROR,      /* the last upload failed; retried with backoff */
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
	/* Optional: called once (no lock held) by a write that would wait
	 * on a full disk with no upload left to free space, so that the
	 * disk's other user (the read cache) gives space back first. */
	void (*make_room)(void *arg, uint64_t bytes);
	void *make_room_arg;
};

/* What a file is now, as its owner describes it for a record or an
 * upload.  Strings are malloc'd; wb_desc_release frees them. */
struct wb_desc {
	char *path;       /* below the mount's prefix */
	struct stat attr; /* type and mode, uid, gid, mtime */
	uint64_t size;    /* of the stage (files with one) */
	char *xattrs;     /* encoded user.* attributes, "" for none; NULL:
			     not known (the object's are kept) */
	bool gone;        /* unlinked: nothing to record or upload */
};

void wb_desc_release(struct wb_desc *d);

/* What an upload achieved (values borrowed for the call). */
struct wb_uploaded {
	bool data;            /* contents went up; else metadata alone */
	const char *etag;     /* at the file's key now ("" unknown) */
	uint64_t size;
	const char *conflict; /* ours went up under this path instead, the
				 key holds another client's version */
	const char *xattrs;   /* the object's xattrs that the upload kept
				 (the description had none), or NULL */
};

struct wb_owner_ops {
	/* Describe owner's file: 0 or -errno (the upload then fails and
	 * is retried).  Called while the stage's lock is held for writing
	 * (files with contents). */
	int (*describe)(void *arg, void *owner, struct wb_desc *out);
	/* An upload of owner's file (entry wf) succeeded.  The entry is
	 * still UPLOADING: under its own lock the owner calls
	 * wb_file_finish(wf), which makes the outcome the entry's state
	 * and returns it, and updates the file to match, so nobody sees
	 * one without the other.  No other upload of the file starts
	 * before this returns.  true: the owner lets go of the entry (as
	 * wb_file_release, which it cannot call meanwhile). */
	bool (*uploaded)(void *arg, void *owner, struct wb_file *wf,
			 const struct wb_uploaded *u);
	/* At replay: wf (state DIRTY, pending, holding stage st) is a file
	 * an earlier run closed; take it as the entry of the file d
	 * describes: wb_file_set_owner, and keep st (a reference is
	 * passed).  A refusal (-EINVAL) leaves its record in the journal;
	 * other errors fail the mount. */
	int (*adopt)(void *arg, struct wb_file *wf, const struct wb_desc *d,
		     struct stage *st);
};

/*
 * Open (or create) the journal for this endpoint/bucket/prefix under
 * cache_dir and lock it against a second mount.  0, or -errno with one
 * sentence in err.  No thread is started.
 */
int wb_new(const struct wb_opts *o, struct store *store,
	   const struct wb_owner_ops *ops, void *arg, char *err,
	   size_t errlen, struct wb **out);

/*
 * Load the records of an earlier run (killed or unable to upload) as
 * pending files, handing each to ops->adopt, so they are visible and
 * uploaded.  Before the mount accepts requests.  Returns the number of
 * files, or -errno.
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

/* The journal on disk (records, rename intents, its directory). */
struct journal *wb_journal(struct wb *wb);

/* Wake the workers (a writer closed, a due time changed). */
void wb_kick(struct wb *wb);

/* ---- entries ---- */

/* A new entry (clean, no stage) for owner's file at path; the caller
 * holds the one reference.  NULL on ENOMEM. */
struct wb_file *wb_file_new(struct wb *wb, void *owner, const char *path);
/* The owner lets go of wf (clean, not pending, not busy): it is never
 * described or reported again; the reference is dropped. */
void wb_file_release(struct wb *wb, struct wb_file *wf);
/* Another reference on wf (a caller that uses it without the fs lock,
 * while its owner may let go of it), and its release. */
struct wb_file *wb_file_get(struct wb *wb, struct wb_file *wf);
void wb_file_put(struct wb *wb, struct wb_file *wf);
/* At replay (adopt): owner takes wf. */
void wb_file_set_owner(struct wb *wb, struct wb_file *wf, void *owner);

/*
 * A new empty staging file in the journal's data directory for wf's
 * contents (one reference for the caller; wf keeps its own).  Not under
 * the fs lock (it creates a file).  0 or -errno.
 */
int wb_file_new_stage(struct wb *wb, struct stage **out, uint64_t *id);
/* wf's contents are st, named id (wb_file_new_stage). */
void wb_file_set_stage(struct wb *wb, struct wb_file *wf, struct stage *st,
		       uint64_t id);
/* Open handles that may write wf's file: while there are any, no upload
 * starts on its own (their last close commits it). */
void wb_file_set_writers(struct wb *wb, struct wb_file *wf, unsigned n);
/* The file's path changed (rename): for logs and wb_sync_tree. */
int wb_file_set_path(struct wb *wb, struct wb_file *wf, const char *path);
/* What wf's next upload may replace; etag with JOURNAL_BASE_ETAG (an
 * ETag a record cannot hold is no condition: ANY). */
void wb_file_set_base(struct wb *wb, struct wb_file *wf,
		      enum journal_base base, const char *etag);

/* What wf's next upload may replace; the ETag (with JOURNAL_BASE_ETAG,
 * else "") into etag of len bytes. */
enum journal_base wb_file_base(struct wb *wb, const struct wb_file *wf,
			       char *etag, size_t len);
enum wb_state wb_file_state(struct wb *wb, const struct wb_file *wf);
/* Nothing to do, to show or to hold it for: clean, not pending, no
 * conflict to report, no hold (an owner may let go of it once it is not
 * busy either). */
bool wb_file_settled(struct wb *wb, const struct wb_file *wf);
/* On the pending list (committed or metadata changed, not uploaded). */
bool wb_file_pending(struct wb *wb, const struct wb_file *wf);
/* Changed since its last record (a close that did not commit: mmap). */
bool wb_file_uncommitted(struct wb *wb, const struct wb_file *wf);
/* In ops->uploaded: make the upload's outcome wf's state; returns it. */
enum wb_state wb_file_finish(struct wb *wb, struct wb_file *wf);
/* "clean", "dirty", "uploading", "error: <reason>" or, after a
 * conflict, "conflict: saved as <path>"; wf NULL: "clean". */
void wb_file_state_string(struct wb *wb, const struct wb_file *wf,
			  char *buf, size_t len);

/* ---- changes ---- */

/* wf's data or metadata changed (wb_touch_data: its bytes; a later
 * metadata change then needs a full commit). */
void wb_touch(struct wb *wb, struct wb_file *wf);
void wb_touch_data(struct wb *wb, struct wb_file *wf);

/*
 * The metadata (attributes, xattrs) of wf, a file whose contents are in
 * the bucket, changed: one CopyObject onto itself after the quiet period
 * carries this change and every one that follows meanwhile.  For a
 * directory (new, or changed), one PUT of its marker does.  Like a local
 * filesystem's metadata before sync, it is not journaled: fsync, r2fs
 * sync and unmount push it.
 */
void wb_touch_meta(struct wb *wb, struct wb_file *wf);

/*
 * Make wf's current state durable in the journal (fsync the data and,
 * once, its directory entry; write the record as the owner describes the
 * file) and queue it for upload after the quiet period.  The caller holds
 * the stage's lock for writing; not under the fs lock.  0 or -errno.
 */
int wb_commit(struct wb *wb, struct wb_file *wf);

/*
 * A closed file with a record changed its metadata only (chmod, chown,
 * utimens, xattrs, rename): queue it as wb_commit does, and have a worker
 * write the record again within 0.1 s rather than now (rsync sets times
 * and mode and renames every file it writes: three journal writes with
 * fsyncs per file otherwise).  A crash within that window uploads the
 * file with the metadata and name it had before.  -EAGAIN when a full
 * wb_commit is needed (no record yet, or bytes changed since).  May be
 * called under the fs lock.
 */
int wb_commit_meta(struct wb *wb, struct wb_file *wf);

/* Commit and upload wf now; its error.  Not under the fs lock nor the
 * stage's lock. */
int wb_sync(struct wb *wb, struct wb_file *wf);

/*
 * Upload every pending file at or below path ("" = all) now and wait.
 * 0, or -EIO if any of them failed (or the journal holds a record of
 * one that could not be loaded).  Not under the fs lock.
 */
int wb_sync_tree(struct wb *wb, const char *path);

/*
 * Namespace changes that must not race an upload (unlink, a rename over
 * the file): wb_hold keeps new uploads of wf from starting (it does not
 * wait); wb_busy tells whether one is still in flight (or being
 * reported); wb_wait_idle waits until none is (not under the fs lock);
 * wb_unhold lets uploads start again.
 */
void wb_hold(struct wb *wb, struct wb_file *wf);
void wb_unhold(struct wb *wb, struct wb_file *wf);
bool wb_busy(struct wb *wb, const struct wb_file *wf);
void wb_wait_idle(struct wb *wb, struct wb_file *wf);

/* wf's name is gone (unlink) or its data is dropped: forget its record
 * and pending upload.  The caller holds it idle (wb_hold, no upload in
 * flight). */
void wb_forget(struct wb *wb, struct wb_file *wf);

/* Call fn with the owner of each pending entry (under the journal's
 * lock: fn must not call into this module). */
void wb_for_each_pending(struct wb *wb, void (*fn)(void *arg, void *owner),
			 void *arg);

/*
 * Back-pressure before writing bytes into a stage: while the cache
 * filesystem has less than min_free bytes free, wait for pending uploads
 * to free space; fail with -ENOSPC once nothing is left to wait for (or
 * after a minute).  Not under the fs lock.
 */
int wb_reserve(struct wb *wb, uint64_t bytes);

/* Upload attempts (contents or metadata) that failed since the mount:
 * each is retried, the file kept. */
uint64_t wb_upload_failures(struct wb *wb);
/* Number of files and bytes (as last recorded) waiting for upload. */
void wb_pending_stats(struct wb *wb, size_t *files, uint64_t *bytes);

#endif
