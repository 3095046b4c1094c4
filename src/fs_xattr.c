/*
 * fs_xattr.c - extended attributes, statfs and the mount's counters.
 *
 * user.* attributes live in the object's x-amz-meta-xattr header (s3fs
 * format, xattr.h), loaded with one HEAD and cached in the inode; a
 * change rides the pending PUT of a staged file or one CopyObject (a
 * directory: one marker PUT) after the quiet period.  r2fs's own
 * user.r2.state / user.r2.stats / user.r2.sync are never listed.
 */
#include "fs_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attrcache.h"
#include "conf.h"
#include "dirindex.h"
#include "inode.h"
#include "log.h"
#include "readcache.h"
#include "stage.h"
#include "store.h"
#include "wbcache.h"
#include "xattr.h"

/*
 * Make in->xattrs hold its object's user.* attributes (one HEAD, then
 * cached in the inode).  A file created here and not uploaded has none.
 * Not locked.
 */
static int load_xattrs(struct fs *fs, struct inode *in)
{
	struct store_object obj = { 0 };
	struct xattrs x = { 0 };
	const char *h;
	char *key;
	bool dir;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (!in->xattrs_known && in->stage && !in->etag[0] &&
	    !S_ISDIR(in->attr.st_mode))
		in->xattrs_known = true;
	if (in->xattrs_known || in->ino == INODE_ROOT) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	dir = S_ISDIR(in->attr.st_mode);
	key = key_of(fs, in->path, dir);
	pthread_mutex_unlock(&fs->lock);
	if (!key)
		return -ENOMEM;
	rc = fs->store->ops->head(fs->store, key, &obj);
	free(key);
	if (rc == -ENOENT && dir)
		rc = 0; /* an implied directory: no metadata at all */
	h = rc ? NULL : store_object_meta(&obj, "xattr");
	if (h && xattrs_decode(h, &x))
		log_warn("%s: unreadable x-amz-meta-xattr ignored", in->path);
	if (!rc) {
		pthread_mutex_lock(&fs->lock);
		if (!in->xattrs_known) {
			xattrs_release(&in->xattrs);
			in->xattrs = x;
			memset(&x, 0, sizeof(x));
			in->xattrs_known = true;
		}
		pthread_mutex_unlock(&fs->lock);
	}
	xattrs_release(&x);
	store_object_release(&obj);
	return rc;
}

int fs_statfs(struct fs *fs, struct statvfs *sv)
{
	(void)fs;
	memset(sv, 0, sizeof(*sv));
	/* A bucket has no fixed size: report plenty (1 PiB), like peers. */
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)1 << 38;
	sv->f_bfree = sv->f_blocks;
	sv->f_bavail = sv->f_blocks;
	sv->f_files = (fsfilcnt_t)1 << 32;
	sv->f_ffree = sv->f_files;
	sv->f_favail = sv->f_files;
	sv->f_namemax = FS_NAME_MAX;
	return 0;
}

static bool is_user_xattr(const char *name)
{
	return !strncmp(name, "user.", 5) && strncmp(name, "user.r2.", 8);
}

int fs_stats_text(struct fs *fs, char *buf, size_t len)
{
	struct store_stats n = { 0 };
	struct attr_cache_stats ac;
	struct rcache_stats rs = { 0 };
	uint64_t bytes, lookups, ix_reads, ix_used, ix_writes, upfail;
	size_t files, inodes, inodes_peak;
	int w;

	if (fs->store->ops->stats)
		fs->store->ops->stats(fs->store, &n);
	if (fs->rc)
		rcache_stats(fs->rc, &rs);
	pthread_mutex_lock(&fs->lock);
	wb_pending_stats(fs->wb, &files, &bytes);
	upfail = wb_upload_failures(fs->wb);
	attr_cache_stats(fs->ac, &ac);
	lookups = fs->lookups;
	ix_reads = fs->index_reads;
	ix_used = fs->index_used;
	ix_writes = fs->index_writes;
	inodes = inode_table_count(fs->inodes);
	inodes_peak = inode_table_peak(fs->inodes);
	pthread_mutex_unlock(&fs->lock);
	w = snprintf(buf, len,
		     "class_a_requests %llu\nclass_b_requests %llu\n"
		     "retries %llu\nthrottled_429 %llu\nfailures %llu\n"
		     "bytes_up %llu\nbytes_down %llu\n"
		     "pending_files %zu\npending_bytes %llu\n"
		     "upload_failures %llu\n"
		     "estimated_cost_usd %.6f\n"
		     "lookups %llu\ninodes %zu\ninodes_peak %zu\n"
		     "metadata_cached %zu\n"
		     "metadata_prefetched %llu\nmetadata_fetched %llu\n"
		     "metadata_hits %llu\nmetadata_loaded %llu\n"
		     "dir_index_reads %llu\ndir_index_used %llu\n"
		     "dir_index_writes %llu\n"
		     "read_cache_bytes %llu\nread_cache_limit %llu\n"
		     "read_cache_hits %llu\nread_cache_misses %llu\n"
		     "read_cache_bytes_served %llu\n"
		     "read_cache_evictions %llu\nread_cache_torn %llu\n"
		     "read_cache_write_errors %llu\n",
		     (unsigned long long)n.class_a,
		     (unsigned long long)n.class_b,
		     (unsigned long long)n.retries,
		     (unsigned long long)n.throttled,
		     (unsigned long long)n.failures,
		     (unsigned long long)n.bytes_up,
		     (unsigned long long)n.bytes_down, files,
		     (unsigned long long)bytes, (unsigned long long)upfail,
		     store_stats_cost(&n),
		     (unsigned long long)lookups, inodes, inodes_peak,
		     ac.entries,
		     (unsigned long long)ac.prefetches,
		     (unsigned long long)ac.fetches,
		     (unsigned long long)(ac.hits + ac.waits),
		     (unsigned long long)ac.loaded,
		     (unsigned long long)ix_reads,
		     (unsigned long long)ix_used,
		     (unsigned long long)ix_writes,
		     (unsigned long long)rs.bytes,
		     (unsigned long long)rs.limit,
		     (unsigned long long)rs.hits,
		     (unsigned long long)rs.misses,
		     (unsigned long long)rs.served,
		     (unsigned long long)rs.evictions,
		     (unsigned long long)rs.torn,
		     (unsigned long long)rs.failed);
	return w < 0 || (size_t)w >= len ? -ERANGE : w;
}

ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name,
		    char *buf, size_t size)
{
	char value[4096];
	struct inode *in;
	ssize_t rc;
	size_t n;

	in = hold_ino(fs, ino);
	if (!in)
		return -ESTALE;
	if (!strcmp(name, FS_XATTR_STATE) || !strcmp(name, FS_XATTR_STATS)) {
		if (!strcmp(name, FS_XATTR_STATS)) {
			fs_stats_text(fs, value, sizeof(value));
		} else {
			pthread_mutex_lock(&fs->lock);
			wb_file_state_string(fs->wb, in->wbf, value,
					     sizeof(value));
			pthread_mutex_unlock(&fs->lock);
		}
		n = strlen(value);
		if (size == 0)
			rc = (ssize_t)n;
		else if (size < n)
			rc = -ERANGE;
		else
			rc = (ssize_t)n;
		if (size >= n)
			memcpy(buf, value, n);
	} else if (!is_user_xattr(name)) {
		rc = -ENODATA; /* security.*, trusted.*, ...: none here */
	} else {
		rc = load_xattrs(fs, in);
		if (!rc) {
			pthread_mutex_lock(&fs->lock);
			rc = xattrs_get(&in->xattrs, name, buf, size);
			pthread_mutex_unlock(&fs->lock);
		}
	}
	drop_ino(fs, in);
	return rc;
}

ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
	struct inode *in;
	ssize_t rc;

	in = hold_ino(fs, ino);
	if (!in)
		return -ESTALE;
	rc = load_xattrs(fs, in);
	pthread_mutex_lock(&fs->lock);
	if (!rc)
		rc = xattrs_list(&in->xattrs, buf, size);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/*
 * Change in's user.* attributes: value NULL removes name.  A file not
 * uploaded yet carries them in its pending PUT; otherwise one CopyObject
 * (or marker PUT) rewrites the metadata.
 */
static int change_xattr(struct fs *fs, struct inode *in, const char *name,
			const char *value, size_t size, int flags)
{
	struct xattrs x = { 0 };
	char *xa = NULL;
	bool staged, closed, deferred = false;
	int rc;

	rc = load_xattrs(fs, in);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	rc = xattrs_copy(&x, &in->xattrs);
	if (!rc)
		rc = value ? xattrs_set(&x, name, value, size, flags)
			   : xattrs_remove(&x, name);
	if (!rc) {
		xa = xattrs_encode(&x);
		if (!xa)
			rc = -ENOMEM;
		else if (strlen(xa) > XATTR_META_MAX)
			rc = -E2BIG; /* R2 keeps 8 KiB of metadata at most */
	}
	staged = in->stage != NULL;
	closed = in->writers == 0;
	/* an uploaded file's change waits for the quiet period too, and so
	 * does a directory's: one CopyObject or marker PUT carries all */
	deferred = !rc && !staged;
	if (!rc && (staged || deferred)) {
		xattrs_release(&in->xattrs);
		in->xattrs = x;
		memset(&x, 0, sizeof(x));
		in->attr.st_ctim = now_real();
		if (staged) {
			wb_touch(fs->wb, in->wbf);
		} else if (journal_entry(fs, in)) {
			attr_cache_forget(fs->ac, in->path);
			wb_touch_meta(fs->wb, in->wbf);
		} else {
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (staged && closed) {
		rc = commit_meta_file(fs, in);
	} else if (deferred) {
		if (fs->conf->sync_upload)
			rc = sync_file(fs, in);
	}
out:
	xattrs_release(&x);
	free(xa);
	return rc;
}

int fs_setxattr(struct fs *fs, uint64_t ino, const char *name,
		const char *value, size_t size, int flags)
{
	struct inode *in;
	char *path = NULL;
	int rc;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (in) {
		in->refs++;
		path = strdup(in->path);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!in)
		return -ESTALE;
	if (!path)
		rc = -ENOMEM;
	else if (!strcmp(name, FS_XATTR_SYNC))
		rc = wb_sync_tree(fs->wb, path);
	else if (!strncmp(name, "user.r2.", 8))
		rc = -EPERM; /* r2fs's own, read-only */
	else if (!is_user_xattr(name))
		rc = -ENOTSUP;
	else if (in->ino == INODE_ROOT)
		rc = -EPERM;
	else
		rc = change_xattr(fs, in, name, value, size, flags);
	drop_ino(fs, in);
	free(path);
	return rc;
}

int fs_removexattr(struct fs *fs, uint64_t ino, const char *name)
{
	struct inode *in;
	int rc;

	if (!is_user_xattr(name))
		return strncmp(name, "user.r2.", 8) ? -ENODATA : -EPERM;
	in = hold_ino(fs, ino);
	if (!in)
		return -ESTALE;
	rc = change_xattr(fs, in, name, NULL, 0, 0);
	drop_ino(fs, in);
	return rc;
}
