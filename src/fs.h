/*
 * fs.h - POSIX semantics over the object store, without FUSE types.
 *
 * fuse_ops.c translates each FUSE request into one call here; everything
 * below is plain C on struct stat, inode numbers and errno, so it can be
 * driven by tests with a fake store.
 *
 * Every call returns 0 (or a byte count) or a negative errno.  Calls that
 * answer with an entry (lookup, create, mkdir) count one kernel lookup on
 * the inode they return; fs_forget() gives those back.
 *
 * Threading: all calls may run concurrently.  One mutex (the fs lock)
 * guards the inode table and caches; it is never held across a network
 * request.  A file's staging data has its own lock (struct inode).
 *
 * Write model: contents are staged in the write-back journal
 * (wbcache.h); close() makes them durable there, fsync() uploads.
 */
#ifndef R2FS_FS_H
#define R2FS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

struct fs;
struct fs_file;
struct fs_dir;
struct store;
struct r2fs_conf;

/* Who asks (for the owner of new files). */
struct fs_ctx {
	uid_t uid;
	gid_t gid;
};

/*
 * Borrowed store; conf must outlive fs.  Opens the write-back journal in
 * the cache directory and loads what an earlier run left there; errors
 * come with one sentence in err.
 */
int fs_new(const struct r2fs_conf *conf, struct store *store,
	   struct fs **out, char *err, size_t errlen);
/* The journal's directory (CACHE_DIR/journal-HASH), for files that
 * belong with it (main.c's pid file); valid until fs_free. */
const char *fs_journal_dir(const struct fs *fs);
/* Start background uploads (after the daemon has forked). */
int fs_start(struct fs *fs);
/* Unmounted: upload what is pending now; keep failures for next time. */
void fs_shutdown(struct fs *fs);
void fs_free(struct fs *fs);

/*
 * Connections the mount's threads can use at once: metadata prefetch,
 * read-ahead and upload workers, plus room for requests made on behalf of
 * callers; the default for -o http_handles.
 */
unsigned fs_connections_wanted(const struct r2fs_conf *conf);

/* Seconds the kernel may cache entries and attributes. */
double fs_attr_timeout(const struct fs *fs);

/*
 * The kernel's page cache and other mounts (SEMANTICS.md "Several
 * mounts"): when a lookup, getattr or open finds that a file the kernel
 * may hold pages of has a new version in the bucket (another ETag:
 * another mount or client wrote it), the fs layer calls fn(arg, ino) so
 * that whoever serves the kernel (fuse_ops.c) drops those pages.  fn is
 * called with the fs lock held, from any thread: it must only note the
 * inode and return (never call into fs, never wait for the kernel, which
 * may itself be waiting for a request that needs the fs lock).  NULL, the
 * default, turns it off; after fs_set_changed_hook returns, the old fn is
 * not called any more.
 */
typedef void (*fs_changed_fn)(void *arg, uint64_t ino);
void fs_set_changed_hook(struct fs *fs, fs_changed_fn fn, void *arg);

/*
 * Seconds the kernel may keep the entry and attributes of ino that a
 * lookup, getattr or readdirplus just returned: what is left of r2fs's
 * own trust in them (attributes a listing showed are as old as the
 * listing), at most stat_timeout.  So the kernel never holds a size
 * longer than r2fs holds the version it belongs to, and asks again
 * (getattr) when an open had to refresh it.
 */
double fs_attr_ttl(struct fs *fs, uint64_t ino);
int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st);
void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);

/*
 * Memory stays bounded however many files are looked at: when more than
 * -o max_inodes inodes exist, up to max of the least recently used idle
 * files (not open, nothing pending; never directories, whose dentries
 * hold everything below and processes' working directories) are returned
 * as (parent inode, name) for the kernel to drop; it then forgets them
 * (fs_forget) and they are freed.  Names are malloc'd, the caller frees
 * them.  Returns the count.
 */
struct fs_evict {
	uint64_t parent;
	char *name;
};
size_t fs_evict_candidates(struct fs *fs, struct fs_evict *out, size_t max);
int fs_getattr(struct fs *fs, uint64_t ino, struct stat *st);

#define FS_SET_MODE (1 << 0)
#define FS_SET_UID (1 << 1)
#define FS_SET_GID (1 << 2)
#define FS_SET_SIZE (1 << 3)
#define FS_SET_ATIME (1 << 4)
#define FS_SET_MTIME (1 << 5)
#define FS_SET_ATIME_NOW (1 << 6)
#define FS_SET_MTIME_NOW (1 << 7)

/* f: the open file ftruncate() came through, or NULL (by path). */
int fs_setattr(struct fs *fs, uint64_t ino, struct fs_file *f,
	       const struct stat *in, int to_set, struct stat *out);

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     const struct fs_ctx *ctx, struct stat *st);
/* A symlink is an object whose body is the target (s3fs convention). */
int fs_symlink(struct fs *fs, uint64_t parent, const char *name,
	       const char *target, const struct fs_ctx *ctx,
	       struct stat *st);
/*
 * A FIFO, a Unix socket (bind(2)), or a character or block device (rdev):
 * a zero-byte object with its type, mode and device number in metadata
 * (the s3fs convention); its data is never read from the bucket.
 * Another type: -EINVAL.
 */
int fs_mknod(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     dev_t rdev, const struct fs_ctx *ctx, struct stat *st);
/* The target, NUL-terminated, in buf of size len; -ENAMETOOLONG if not
 * enough room. */
int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len);
int fs_unlink(struct fs *fs, uint64_t parent, const char *name);
int fs_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* flags: RENAME_NOREPLACE honoured; RENAME_EXCHANGE is -EINVAL. */
int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags);

int fs_open(struct fs *fs, uint64_t ino, int flags, struct fs_file **out);
/* May the kernel keep the file's cached pages (read through an earlier
 * open of the same object version)? */
bool fs_file_keep_cache(const struct fs_file *f);
/* Must its reads bypass the kernel's page cache?  When another handle
 * still reads an older version of the file (another mount replaced it
 * meanwhile): the page cache is shared by all handles of an inode, so
 * neither may fill it with pages the other would read. */
bool fs_file_direct_io(const struct fs_file *f);
int fs_create(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	      int flags, const struct fs_ctx *ctx, struct stat *st,
	      struct fs_file **out);
struct iovec;
/* Receives a read's bytes: n pieces, valid only during the call. */
typedef void (*fs_deliver_fn)(void *arg, const struct iovec *iov, int n);
/*
 * Read up to size bytes at off and hand them to deliver, called once
 * unless -errno is returned: bytes from the bucket straight from the
 * read-ahead buffers, others through buf (size bytes of the caller's).
 * Bytes read or -errno.
 */
ssize_t fs_read(struct fs_file *f, char *buf, size_t size, uint64_t off,
		fs_deliver_fn deliver, void *arg);
ssize_t fs_write(struct fs_file *f, const char *buf, size_t size,
		 uint64_t off);
int fs_flush(struct fs_file *f);
int fs_fsync(struct fs_file *f);
void fs_release(struct fs_file *f);

/* A snapshot of a directory's entries, "." and ".." not included. */
int fs_opendir(struct fs *fs, uint64_t ino, struct fs_dir **out);
size_t fs_dir_count(const struct fs_dir *d);
/* Name and type of entry i; ino is 0 if unknown.  The type is what is
 * known without a request: a listed object is S_IFREG unless its metadata
 * (an inode, the attribute cache) says symlink, FIFO, socket or device. */
const char *fs_dir_entry(struct fs_dir *d, size_t i, mode_t *type,
			 uint64_t *ino);
/*
 * For readdirplus: entries [from, from + n) are about to be asked for with
 * their attributes; their metadata is fetched first, before other
 * prefetching.
 */
void fs_dir_will_need(struct fs_dir *d, size_t from, size_t n);
/*
 * Entry i with its attributes (a listed directory's entries are
 * prefetched in order; one that is not is fetched here): fills st,
 * counts one kernel lookup on the inode and returns 1.  0 when they
 * cannot be had (the kernel then looks the entry up as usual).  Negative
 * errno on failure.
 */
int fs_dir_entry_plus(struct fs_dir *d, size_t i, struct stat *st);
void fs_releasedir(struct fs_dir *d);
/* The directory's marker and metadata are in the bucket when it returns
 * 0 (mkdir and chmod of a directory go up after the quiet period). */
int fs_fsyncdir(struct fs *fs, uint64_t ino);

int fs_statfs(struct fs *fs, struct statvfs *sv);

/*
 * Extended attributes.  user.* attributes are kept with the object (the
 * s3fs format, see xattr.h; E2BIG beyond R2's metadata size); other
 * namespaces hold nothing (get: -ENODATA, set: -ENOTSUP).  r2fs's own:
 * "user.r2.state" reads a file's upload state ("clean", "dirty",
 * "uploading", "error: <reason>"); setting "user.r2.sync" on a file or
 * directory uploads everything pending at or below it (-EIO if anything
 * failed).  Those are never listed, so cp -a does not copy them.
 * get/list: length, or -ERANGE when size is too small (0: ask).
 */
ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name,
		    char *buf, size_t size);
ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *buf, size_t size);
/* flags: XATTR_CREATE / XATTR_REPLACE */
int fs_setxattr(struct fs *fs, uint64_t ino, const char *name,
		const char *value, size_t size, int flags);
int fs_removexattr(struct fs *fs, uint64_t ino, const char *name);

#define FS_XATTR_STATE "user.r2.state"
#define FS_XATTR_STATS "user.r2.stats"

/* The mount's counters as "name value" lines (user.r2.stats). */
int fs_stats_text(struct fs *fs, char *buf, size_t len);
#define FS_XATTR_SYNC "user.r2.sync"

#endif
