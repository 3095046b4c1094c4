/*
 * fsh.h - a harness that drives the filesystem layer (fs.h) the way
 * fuse_ops.c does, over the in-memory store (memstore.h) behind the
 * fault-injecting wrapper (faultstore.h): no FUSE, no server, seconds.
 *
 * Paths are mount paths ("a/b", "" for the root); each call walks them
 * with fs_lookup as the kernel would (lookups are never forgotten: a
 * harness lives for one test).  Functions return what the fs call
 * returned (0 or a negative errno).
 *
 * A harness owns its cache directory (removed by fsh_done), its store and
 * its mount; fsh_remount unmounts (uploading what is pending) and mounts
 * again on the same cache directory and store; fsh_crash_child runs a
 * function in a forked child that mounts, acts and dies without
 * unmounting (kill -9 as far as the journal and the bucket can tell: the
 * child's store is its own copy, so nothing it uploaded reaches ours).
 */
#ifndef R2FS_TEST_FSH_H
#define R2FS_TEST_FSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "conf.h"
#include "faultstore.h"
#include "fs.h"
#include "memstore.h"

struct fsh {
	struct r2fs_conf conf;
	char cache_dir[64];
	struct memstore *ms;
	struct faultstore *fault; /* wraps ms; what the fs talks to */
	struct fs *fs;
	struct fs_ctx ctx;
	char err[256];
	bool ms_borrowed; /* fsh_init_shared: ms belongs to another */
};

/* A fresh bucket and mount; delay: the quiet period before uploads (a
 * large one keeps every file pending until fsh_sync). */
int fsh_init(struct fsh *h, double delay);
/* Another machine on the same bucket: a mount of with's store (its
 * memstore, behind a faultstore of h's own) with h's own cache directory.
 * with must outlive h (fsh_done h first). */
int fsh_init_shared(struct fsh *h, struct fsh *with, double delay);
/* Unmount (uploads what it can), free everything, remove the cache. */
void fsh_done(struct fsh *h);
/* Unmount and mount again (same cache directory, same bucket). */
int fsh_unmount(struct fsh *h);
int fsh_mount(struct fsh *h);
int fsh_remount(struct fsh *h);
/* In a forked child: mount, fn(h, arg), exit without unmounting.
 * Returns fn's result (the child's exit status). */
int fsh_crash_child(struct fsh *h, int (*fn)(struct fsh *h, void *arg),
		    void *arg);

/* Walk path to its inode; st gets its attributes. */
int fsh_stat(struct fsh *h, const char *path, struct stat *st);
/* The parent directory's inode and the last name of path (in name). */
int fsh_parent(struct fsh *h, const char *path, uint64_t *ino,
	       char *name, size_t len);

/* Look path up and open it as the kernel does: after -ESTALE (the open
 * found a version the lookup did not show), once more. */
int fsh_open(struct fsh *h, const char *path, int flags, struct stat *st,
	     struct fs_file **f);
int fsh_mkdir(struct fsh *h, const char *path, mode_t mode);
/* create (O_TRUNC), write len bytes, close (flush + release). */
int fsh_write_file(struct fsh *h, const char *path, const void *data,
		   size_t len);
/* open an existing file O_WRONLY|O_APPEND, write, close. */
int fsh_append(struct fsh *h, const char *path, const void *data,
	       size_t len);
/* Its contents, malloc'd into *data (NUL added), length into *len. */
int fsh_read_file(struct fsh *h, const char *path, char **data,
		  size_t *len);
int fsh_unlink(struct fsh *h, const char *path);
int fsh_rmdir(struct fsh *h, const char *path);
int fsh_rename(struct fsh *h, const char *from, const char *to);
int fsh_chmod(struct fsh *h, const char *path, mode_t mode);
/* Set mtime by path (utimensat) or, with fd, through an open handle
 * (open O_WRONLY, futimens, close: what touch(1) does). */
int fsh_utime(struct fsh *h, const char *path, time_t mtime, bool fd);
int fsh_symlink(struct fsh *h, const char *path, const char *target);
/* Names of the directory's entries, each followed by '\n' (the order of
 * readdir); malloc'd into *out. */
int fsh_list(struct fsh *h, const char *path, char **out);
/* user.r2.state into buf. */
int fsh_state(struct fsh *h, const char *path, char *buf, size_t len);
/* r2fs sync of the whole mount. */
int fsh_sync(struct fsh *h);

/* The object's bytes as a NUL-terminated malloc'd string (NULL: none). */
char *fsh_object(struct fsh *h, const char *key);
/* The object's x-amz-meta-NAME, malloc'd (NULL: none or no object). */
char *fsh_object_meta(struct fsh *h, const char *key, const char *name);
/* Keys of the bucket, each followed by '\n', malloc'd. */
char *fsh_keys(struct fsh *h);
/* Requests of kind op since the last fsh_reset_counts. */
uint64_t fsh_count(struct fsh *h, enum ms_op op);
void fsh_reset_counts(struct fsh *h);
/* Does the journal hold any record (rec/ *.rec)? */
bool fsh_journal_empty(struct fsh *h);

#endif
