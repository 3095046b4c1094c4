/*
 * journal.h - the write-back journal on disk: staged data files, the
 * records that describe them, and the intents of directory renames.
 *
 * No inode and no store here: a record is a value (struct
 * journal_record), written durably and read back at the next mount.  The
 * state machine that decides when files go up is wbcache.h; one upload
 * is upload.h.
 *
 * Contract: journal_record_write returns 0 only when the record and the
 * data it describes are on disk for good (the caller fsyncs the data
 * file first, see journal_sync_names); a crash at any instant leaves the
 * old record or the new one.
 *
 * Locking: none inside.  Records are written and removed by id, and each
 * id has one writer at a time (the journal's state machine sees to it);
 * setup, replay and close run before and after everyone else.
 */
#ifndef R2FS_JOURNAL_H
#define R2FS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct journal;
struct stage;

/*
 * What an upload may replace, so that r2fs never silently overwrites a
 * change another client made meanwhile: anything (after a rename onto
 * the name, or when the version is unknown), nothing at all for a file
 * created here (If-None-Match: *), or the version our data was read from
 * (If-Match).  Kept in the record: the condition survives a crash.
 */
enum journal_base {
	JOURNAL_BASE_ANY = 0,
	JOURNAL_BASE_NONE,
	JOURNAL_BASE_ETAG,
};

#define JOURNAL_ETAG_MAX 128

/* One file waiting for upload: enough to upload it after a crash. */
struct journal_record {
	char *path;     /* "a/b" below the mount's prefix; malloc'd */
	mode_t mode;    /* with the type bits */
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	uint64_t size;  /* of the data file */
	char *xattrs;   /* encoded user.* attributes (xattr.h), "" if none;
			   malloc'd */
	enum journal_base base;
	char base_etag[JOURNAL_ETAG_MAX]; /* with JOURNAL_BASE_ETAG */
};

void journal_record_release(struct journal_record *r);

struct journal_opts {
	const char *cache_dir;
	const char *endpoint; /* with bucket and prefix: names the journal */
	const char *bucket;
	const char *prefix;
	uint64_t min_free;    /* bytes to keep free on the cache disk;
				 0: min(1 GiB, 5% of it) */
};

/*
 * Open (or create) the journal for this endpoint/bucket/prefix under
 * cache_dir and lock it against a second mount.  0, or -errno with one
 * sentence in err.
 */
int journal_open(const struct journal_opts *o, char *err, size_t errlen,
		 struct journal **out);
void journal_close(struct journal *j);

/* CACHE_DIR/journal-HASH: for other state of this endpoint, bucket and
 * prefix that should outlive the mount. */
const char *journal_dir(const struct journal *j);
const char *journal_cache_dir(const struct journal *j);

/* A new empty data file (a stage with one reference) and its id, which
 * names the data file and the record. */
int journal_stage_create(struct journal *j, struct stage **out,
			 uint64_t *id);
/* Make the names of new data files durable (fsync of the data
 * directory), so no record outlives its data file's name. */
int journal_sync_names(struct journal *j);

/* Write record id atomically and durably (replacing an older one). */
int journal_record_write(struct journal *j, uint64_t id,
			 const struct journal_record *r);
void journal_record_remove(struct journal *j, uint64_t id);

/*
 * Load what an earlier run left: for each record (the newest one of each
 * path; older ones are removed with their data) call fn with the record
 * (fn may take its strings and zero them) and its data file opened as a
 * stage (fn takes the reference).  A record that cannot be read, whose
 * data file cannot be opened, or that fn refuses (a positive or -EINVAL
 * return) is logged and left in place, and journal_stuck_below reports
 * it.  Data files that no record names (files never closed) are removed.
 * Returns the number of files loaded, or -errno when the mount must fail
 * (out of descriptors or memory, or fn's other errors).
 */
typedef int (*journal_replay_fn)(void *arg, uint64_t id,
				 struct journal_record *r, struct stage *st);
int journal_replay(struct journal *j, journal_replay_fn fn, void *arg);

/* Did the replay leave a record in place for a file at or below dir ("":
 * anywhere)?  A record it could not read counts everywhere. */
bool journal_stuck_below(const struct journal *j, const char *dir);

/*
 * Directory renames are not atomic on S3 (one CopyObject + DELETE per
 * key), so the journal remembers each one while it runs: an interrupted
 * rename is finished at the next mount.  from and to are full object key
 * prefixes ending in '/'.  begin returns an id for end.
 */
int journal_intent_begin(struct journal *j, const char *from, const char *to,
			 uint64_t *id);
void journal_intent_end(struct journal *j, uint64_t id);
/* Call fn for each unfinished rename found on disk (at mount); one that
 * fn finishes (returns 0) is removed. */
void journal_intent_replay(struct journal *j,
			   int (*fn)(void *arg, const char *from,
				     const char *to),
			   void *arg);

/* Free bytes on the cache disk (UINT64_MAX if it cannot tell) and the
 * floor to keep. */
uint64_t journal_free_bytes(const struct journal *j);
uint64_t journal_min_free(const struct journal *j);

#endif
