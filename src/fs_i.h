/*
 * fs_i.h - what the files of the filesystem layer share (private: only
 * fs*.c include it; everyone else uses fs.h).
 *
 * The layer is one module in several files, one concern each:
 *
 *   fs.c         lifecycle, names and keys, the journal's results
 *   fs_lookup.c  what a name is: lookup, getattr, probes, eviction
 *   fs_file.c    open files: stages, setattr/truncate, read, write, close
 *   fs_ns.c      mkdir, symlink, readlink, unlink, rmdir
 *   fs_rename.c  rename of files, staged files and directories
 *   fs_list.c    listing a directory: LIST pages, subtrees, what only we
 *                know (pending files), the dir cache
 *   fs_index.c   directory indexes in the bucket (dirindex.h)
 *   fs_dir.c     readdir handles (opendir, entries, readdirplus)
 *   fs_xattr.c   extended attributes, statfs, stats
 *
 * Locking: fs->lock protects the inode table, the dir cache and inode
 * fields; it is dropped around every store call.  After re-taking it,
 * code re-checks what it relies on (the inode may have been staged or
 * renamed meanwhile).  Order: a stage's lock, then fs->lock, then the
 * journal's lock (wbcache.h writes the whole order down); never the other
 * way round.  Functions below say "Locked" when the caller
 * holds fs->lock, "not locked" when it must not.
 */
#ifndef R2FS_FS_I_H
#define R2FS_FS_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "meta.h"

struct attr_meta;
struct dir_index;
struct inode;
struct wb_file;

#define FS_NAME_MAX 255
#define FS_KEY_MAX 1024
#define FS_LIST_PAGE 1000
/* entries queued ahead of a reader of a listing: enough to keep the
 * prefetch threads busy, few enough to fit in the attribute cache */
#define FS_PREFETCH_AHEAD 4096
/* directories with this many files get an index of their metadata in
 * the bucket (dirindex.h): below, their HEADs take a blink */
#define FS_INDEX_MIN 256
/* an index is written again when it lacks this many of the entries */
#define FS_INDEX_STALE 64
/* a big directory with an index: the rest of its listing is asked for in
 * ranges of this many names (a page takes one with room for what is new)
 */
#define FS_LIST_RANGE_NAMES 900

struct fs {
	pthread_mutex_t lock;
	struct inode_table *inodes; /* protected by lock */
	struct dir_cache *dirs;     /* protected by lock */
	struct store *store;
	const struct r2fs_conf *conf;
	struct meta_defaults defaults;
	struct wb *wb; /* the write-back journal (its own lock) */
	struct ra_pool *ra; /* read-ahead threads, from fs_start on */
	struct rcache *rc;  /* the read cache (its own lock), or NULL */
	struct attr_cache *ac; /* object metadata; protected by lock */
	/* names unlinked while open: their objects live until the last
	 * close but must not be seen; protected by lock */
	char **doomed;
	size_t ndoomed;
	/* files uploaded lately, oldest first: a LIST sent before such an
	 * upload ended does not show the file, so a listing built from it
	 * adds them (add_local_children) */
	struct recent_upload {
		char *path;
		double at; /* monotonic */
	} *recent;
	size_t nrecent;
	uint64_t lookups; /* fs_lookup calls, for stats; protected by lock */
	/* directory indexes (dirindex.h); protected by lock */
	uint64_t index_reads, index_used, index_writes;
	bool index_readonly; /* a PUT of one was refused: no more tries */
	pthread_cond_t listed; /* a listing for lookups ended (under lock) */
	/* directory handles not released: a session that ends (SIGTERM,
	 * a lost connection) releases none; fs_free frees them; under lock */
	struct fs_dir *open_dirs;
	struct fs_file *open_files; /* likewise, file handles */
	/* a file's version changed under the kernel's pages
	 * (fs_set_changed_hook); under lock */
	fs_changed_fn changed;
	void *changed_arg;
};

struct fs_file {
	struct fs *fs;
	struct inode *in; /* holds a ref */
	bool writer;
	bool keep_cache; /* the kernel's cached pages are this version's */
	bool direct_io;  /* reads bypass the page cache (older_reader) */
	char etag[128]; /* as seen at open: reads must match it */
	/* reads from the bucket, made at the first one; under ra_lock */
	pthread_mutex_t ra_lock;
	struct ra_stream *ra;
	char *ra_key;               /* the key ra reads */
	struct ra_stream **retired; /* earlier keys' (a rename): other */
	size_t nretired;            /* threads may still read them */
	struct fs_file *prev, *next; /* fs->open_files; under fs lock */
};

struct fs_dir {
	struct fs *fs;
	struct dir_listing *l;
	uint64_t *inos; /* known inode numbers, 0 if none */
	size_t queued_upto; /* entries before it were queued for prefetching
			       (beyond the first batches); under lock */
	struct fs_dir *prev, *next; /* fs->open_dirs; under lock */
};

/* ---- fs.c: clocks, names and keys ---- */

struct timespec now_real(void);
/* "PREFIX" + path + ("/" for a directory); the root's key is PREFIX.
 * malloc'd, NULL on ENOMEM. */
char *key_of(const struct fs *fs, const char *path, bool dir);
/* parent + "/" + name (name alone below the root); malloc'd. */
char *child_path(const char *parent, const char *name);
/* The directory part of a path ("" for top-level names), in buf. */
const char *parent_of(const char *path, char *buf, size_t len);
/* The last component of a path. */
const char *base_of(const char *path);
/* Can name become part of a key below parent_path?  -ENAMETOOLONG,
 * -EILSEQ (not UTF-8), -EACCES (r2fs's own index prefix). */
int check_name(const struct fs *fs, const char *parent_path,
	       const char *name);
/* Is name in dir the bucket's index prefix, seen from a whole-bucket
 * mount? */
bool is_index_name(const struct fs *fs, const char *dir, const char *name);
/* Locked: names unlinked while open (objects deleted at last close). */
bool is_doomed(const struct fs *fs, const char *path);
void doom(struct fs *fs, const char *path, bool on);
/* Locked: st from in, with the staged size when there is one, and a
 * directory's link count from its listing when one is known. */
void fill_attr(struct fs *fs, const struct inode *in, struct stat *st);
/* Locked: an entry of directory dir was made, removed or renamed: its
 * mtime and ctime are now (POSIX), kept in memory (inode times_local). */
void touch_dir(struct fs *fs, struct inode *dir);
/* The inode numbered ino with a reference held, or NULL; drop_ino gives
 * the reference back.  Not locked. */
struct inode *hold_ino(struct fs *fs, uint64_t ino);
void drop_ino(struct fs *fs, struct inode *in);

/* ---- fs.c: the filesystem as the journal's owner (wbcache.h) ---- */

/*
 * An inode with something to upload, or a stage, has a journal entry
 * (in->wbf), which holds one of its references; the journal describes
 * the file by asking (owner_describe) and tells what came of an upload
 * (owner_uploaded).
 */

/* Locked: has in changes of ours not in the bucket yet (a stage, or a
 * journal state other than clean)? */
bool local_changes(struct fs *fs, const struct inode *in);
/* Locked: in's journal entry, made if it has none; NULL on ENOMEM. */
struct wb_file *journal_entry(struct fs *fs, struct inode *in);
/* Locked: let go of in's entry when nothing is left for it (no stage,
 * clean, not pending, not busy); may free in. */
void journal_maybe_release(struct fs *fs, struct inode *in);
/* Locked: in->writers += delta, told to the journal. */
void set_writers(struct fs *fs, struct inode *in, int delta);
/* Locked: keep in's entry from starting an upload and wait (dropping
 * fs->lock) until none is in flight: a namespace change that must not
 * race one.  Returns what quiet_end takes (NULL: no entry). */
struct wb_file *quiet_begin(struct fs *fs, struct inode *in);
void quiet_end(struct fs *fs, struct wb_file *wf);
/* Locked: in's name is gone or taken over: its pending upload and
 * record are dropped (waiting, as quiet_begin, for one in flight). */
void forget_upload(struct fs *fs, struct inode *in);
/* Not locked: make in's stage durable in the journal (close, chmod of a
 * closed file, rename); 0 if it has none. */
int commit_file(struct fs *fs, struct inode *in);
/* Not locked: as commit_file for a closed file whose metadata (mode,
 * owner, times, xattrs, name) changed, not its bytes: its record is
 * written again within 0.1 s instead of now (wb_commit_meta). */
int commit_meta_file(struct fs *fs, struct inode *in);
/* Not locked: upload in now (fsync, -o sync_upload); its error. */
int sync_file(struct fs *fs, struct inode *in);
/* Locked: does a file waiting in the journal lie below dir ("": the
 * root)? */
bool dir_has_pending(struct fs *fs, const char *dir);

/* ---- fs_lookup.c ---- */

/* What probe_path found at a path. */
struct probe_result {
	mode_t type;
	struct stat st;
	bool has_meta;
	char etag[128];
};

/* Ask the store what path is (HEAD, HEAD of the marker, LIST). Not
 * locked. */
int probe_path(struct fs *fs, const char *path, struct probe_result *r);
/* attr_fetch_fn (attrcache.h): HEAD of a file or a directory marker. */
int fetch_meta(void *arg, const char *path, mode_t type,
	       time_t listed_mtime, struct attr_meta *m);
/* Locked: put probed or listed attributes into in, unless local state
 * rules. */
void set_remote_attr(struct fs *fs, struct inode *in, const struct stat *st,
		     bool has_meta, const char *etag, double expires);
/* How long after its LIST a listing vouches for an entry's attributes
 * and version: dir_timeout, but no longer than stat_timeout, so an open
 * more than stat_timeout after another mount's upload asks the bucket
 * again (close-to-open, refresh_attr). */
double listed_ttl(const struct fs *fs);
/* Locked: were in's attributes fetched (a HEAD) after when (a listing's
 * time)?  Then that listing must not take them back to an older
 * version. */
bool newer_than(const struct fs *fs, const struct inode *in, double when);
/* Locked: in's attributes fetched again from the bucket when they are
 * older than stat_timeout (a HEAD made lately, else a probe; the lock is
 * dropped meanwhile).  -ENOENT when its object is gone or now of another
 * type (in may be freed then).  The root, directories, unlinked inodes and
 * inodes with local changes are left as they are. */
int refresh_attr(struct fs *fs, struct inode *in);
/* Locked: the inode for path with the given type (one of another type is
 * detached first); NULL on ENOMEM. */
struct inode *inode_for(struct fs *fs, const char *path, mode_t type);

/* ---- fs_file.c ---- */

/* Locked: drop in's stage if nobody writes and nothing is pending. */
void maybe_drop_stage(struct fs *fs, struct inode *in);

/* At fs_free: the file handles never released (before the read-ahead
 * pool goes). */
void fs_files_free(struct fs *fs);

/* ---- fs_ns.c ---- */

/* Locked: the parent inode (a directory) and the child's path. */
int parent_child(struct fs *fs, uint64_t parent, const char *name,
		 struct inode **p, char **path);
/* Does the bucket hold no key below directory key dkey but its marker?
 * 0, -ENOTEMPTY, or the LIST's error.  Not locked. */
int dir_empty_in_bucket(struct fs *fs, const char *dkey);

/* ---- fs_rename.c ---- */

/* Move every key below from to the same name below to (a directory
 * rename; also the journal's unfinished renames at mount). */
int move_keys(void *arg, const char *from, const char *to);

/* ---- fs_list.c ---- */

/* Not locked: a copy of a listing, or NULL. */
struct dir_listing *listing_dup(const struct dir_listing *l);
/* Not locked: list directory path (ino) for a walk, cache it, and hand
 * back a private copy in *out (may be NULL). */
int fetch_listing_walk(struct fs *fs, uint64_t ino, const char *path,
		       unsigned max_pages, struct dir_listing **out);

/* ---- fs_dir.c ---- */

/* At fs_free: the directory handles never released. */
void fs_dirs_free(struct fs *fs);

/* ---- fs_index.c ---- */

void index_read(struct fs *fs, const char *dkey, struct dir_index *ix);
size_t index_unknown(struct fs *fs, const struct dir_listing *l);
void index_fill(struct fs *fs, struct dir_listing *l,
		const struct dir_index *ix, size_t from, size_t to,
		time_t since);
void index_apply(struct fs *fs, struct dir_listing *l, const char *dkey,
		 time_t since);
void index_write(struct fs *fs, const struct dir_listing *l);
size_t index_cuts(const struct dir_index *ix, const char *dkey,
		  const char *last, char ***cuts);
void free_cuts(char **cuts, size_t n);

#endif
