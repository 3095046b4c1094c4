/*
 * fs_ns.c - namespace operations: mkdir, symlink, readlink, unlink, rmdir.
 *
 * mkdir costs no round trip: the marker goes up after the quiet period
 * with whatever mode and times follow (wb_touch_meta).  unlink drops a
 * pending upload before it DELETEs, so nothing brings the name back; an
 * unlinked file still open and not wholly staged keeps its object until
 * the last close (doom).  Our changes are written into cached listings.
 */
#include "fs_i.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrcache.h"
#include "conf.h"
#include "inode.h"
#include "meta.h"
#include "stage.h"
#include "store.h"
#include "wbcache.h"
#include "xattr.h"
#include "util.h"

/* Parent inode (a directory) and the child's path.  Locked. */
int parent_child(struct fs *fs, uint64_t parent, const char *name,
			struct inode **p, char **path)
{
	int rc;

	*p = inode_find(fs->inodes, parent);
	if (!*p)
		return -ESTALE;
	if (!S_ISDIR((*p)->attr.st_mode))
		return -ENOTDIR;
	rc = check_name(fs, (*p)->path, name);
	if (rc)
		return rc;
	*path = child_path((*p)->path, name);
	return *path ? 0 : -ENOMEM;
}

/*
 * Locked: the inode of an object we just created on the server with
 * attr (its type in st_mode), counted as one kernel lookup; st gets its
 * attributes.  NULL on ENOMEM.
 */
static struct inode *entry_created(struct fs *fs, const char *path,
				   const struct stat *attr, const char *etag,
				   struct stat *st)
{
	struct inode *in = inode_for(fs, path, attr->st_mode & S_IFMT);

	if (!in)
		return NULL;
	in->attr = *attr;
	in->attr.st_ino = in->ino;
	in->has_meta = true;
	snprintf(in->etag, sizeof(in->etag), "%s", etag ? etag : "");
	in->attr_expires = util_now_mono() + fs->conf->stat_timeout;
	in->nlookup++;
	fill_attr(fs, in, st);
	attr_cache_forget(fs->ac, path);
	return in;
}

/* With sync_upload, a mkdir whose marker could not be stored fails: the
 * directory goes again (its lookup, listing entry and pending PUT). */
static void undo_mkdir(struct fs *fs, struct inode *in)
{
	char parent[PATH_MAX];

	pthread_mutex_lock(&fs->lock);
	forget_upload(fs, in);
	if (in->nlookup)
		in->nlookup--;
	dir_cache_remove(fs->dirs, parent_of(in->path, parent, sizeof(parent)),
			 base_of(in->path));
	dir_cache_drop(fs->dirs, in->path);
	inode_unhash_path(fs->inodes, in);
	journal_maybe_release(fs, in);
	pthread_mutex_unlock(&fs->lock);
}

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     const struct fs_ctx *ctx, struct stat *st)
{
	struct dir_listing *empty = NULL;
	struct inode *p, *in;
	struct stat attr;
	char *path = NULL;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	empty = dir_listing_new(path);
	if (!empty) {
		rc = -ENOMEM;
		goto out;
	}
	meta_attr_default(&fs->defaults, S_IFDIR, 0, 0, &attr);
	attr.st_mode = S_IFDIR | (mode & 07777);
	attr.st_uid = ctx->uid;
	attr.st_gid = ctx->gid;
	attr.st_mtim = now_real();
	attr.st_ctim = attr.st_mtim;
	attr.st_atim = attr.st_mtim;
	pthread_mutex_lock(&fs->lock);
	in = entry_created(fs, path, &attr, NULL, st);
	if (!in) {
		pthread_mutex_unlock(&fs->lock);
		rc = -ENOMEM;
		goto out;
	}
	in->xattrs_known = true; /* none yet */
	/* Its marker goes up after the quiet period, with whatever chmod
	 * and utime follow (cp -p, rsync -a and tar set them at the end):
	 * one PUT, and mkdir costs no round trip. */
	if (!journal_entry(fs, in)) {
		pthread_mutex_unlock(&fs->lock);
		rc = -ENOMEM;
		goto out;
	}
	wb_touch_meta(fs->wb, in->wbf);
	p = inode_find(fs->inodes, parent);
	if (p) {
		touch_dir(fs, p);
		dir_cache_upsert(fs->dirs, p->path, name, S_IFDIR, 0,
				 attr.st_mtim.tv_sec, NULL);
	}
	/* A new directory is empty: lookups in it need no request. */
	empty->fetched = util_now_mono();
	dir_cache_put(fs->dirs, empty);
	empty = NULL;
	in->refs++;
	pthread_mutex_unlock(&fs->lock);
	if (fs->conf->sync_upload) {
		rc = sync_file(fs, in);
		if (rc)
			undo_mkdir(fs, in);
	}
	pthread_mutex_lock(&fs->lock);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
out:
	dir_listing_free(empty);
	free(path);
	return rc;
}

/*
 * A file object made at once (no journal): a symlink, whose body is its
 * target (the s3fs convention), or a special file (FIFO, socket, device:
 * zero bytes; the type in x-amz-meta-mode, a device's number in
 * x-amz-meta-rdev, as s3fs keeps them).  Such objects are never opened
 * for their data: the kernel serves FIFOs, sockets and devices itself.
 */
static int put_special(struct fs *fs, uint64_t parent, const char *name,
		       mode_t mode, dev_t rdev, const char *body,
		       const struct fs_ctx *ctx, struct stat *st)
{
	struct store_put_opts opts = { 0 };
	struct meta_headers mh;
	struct inode *p = NULL;
	struct stat attr;
	char *path = NULL, *key = NULL, etag[128] = "";
	size_t blen = strlen(body);
	int rc, fd = -1;

	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	if (!rc)
		p->refs++;
	else
		p = NULL;
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	key = key_of(fs, path, false);
	if (!key) {
		rc = -ENOMEM;
		goto out;
	}
	fd = memfd_create("r2fs-special", MFD_CLOEXEC);
	if (fd < 0 || pwrite(fd, body, blen, 0) != (ssize_t)blen) {
		rc = -errno;
		goto out;
	}
	meta_attr_default(&fs->defaults, S_IFREG, blen, 0, &attr);
	attr.st_mode = mode;
	attr.st_rdev = rdev;
	attr.st_uid = ctx->uid;
	attr.st_gid = ctx->gid;
	attr.st_mtim = now_real();
	attr.st_ctim = attr.st_atim = attr.st_mtim;
	meta_to_headers(&attr, &mh);
	meta_headers_add_ctime(&mh, &attr);
	opts.meta = mh.kv;
	opts.nmeta = mh.n;
	opts.content_type = "application/octet-stream";
	rc = fs->store->ops->put_fd(fs->store, key, fd, blen, &opts, etag);
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	if (!entry_created(fs, path, &attr, etag, st)) {
		pthread_mutex_unlock(&fs->lock);
		rc = -ENOMEM;
		goto out;
	}
	dir_cache_upsert(fs->dirs, p->path, name, S_IFREG, blen,
			 attr.st_mtim.tv_sec, NULL);
	touch_dir(fs, p);
	pthread_mutex_unlock(&fs->lock);
out:
	if (p)
		drop_ino(fs, p);
	if (fd >= 0)
		close(fd);
	free(key);
	free(path);
	return rc;
}

int fs_symlink(struct fs *fs, uint64_t parent, const char *name,
	       const char *target, const struct fs_ctx *ctx,
	       struct stat *st)
{
	size_t tlen = strlen(target);

	if (tlen == 0 || tlen >= PATH_MAX)
		return tlen ? -ENAMETOOLONG : -ENOENT;
	return put_special(fs, parent, name, S_IFLNK | 0777, 0, target, ctx,
			   st);
}

int fs_mknod(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     dev_t rdev, const struct fs_ctx *ctx, struct stat *st)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
	case S_IFSOCK:
		rdev = 0;
		/* fall through */
	case S_IFCHR:
	case S_IFBLK:
		return put_special(fs, parent, name, mode, rdev, "", ctx, st);
	default:
		return -EINVAL; /* files come by create, directories mkdir */
	}
}

int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
	struct inode *in;
	char *key = NULL, etag[128];
	size_t got = 0;
	int rc;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (!in || !S_ISLNK(in->attr.st_mode)) {
		pthread_mutex_unlock(&fs->lock);
		return in ? -EINVAL : -ESTALE;
	}
	key = key_of(fs, in->path, false);
	snprintf(etag, sizeof(etag), "%s", in->etag);
	pthread_mutex_unlock(&fs->lock);
	if (!key)
		return -ENOMEM;
	rc = fs->store->ops->get_range(fs->store, key, 0, len - 1,
				       etag[0] ? etag : NULL, buf, &got);
	free(key);
	if (rc == -ESTALE)
		rc = -EIO;
	if (rc)
		return rc;
	if (got >= len - 1)
		return -ENAMETOOLONG;
	buf[got] = '\0';
	return 0;
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	struct inode *p, *in = NULL;
	char *path = NULL, *key = NULL, *ppath = NULL;
	bool deferred;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	if (!rc) {
		in = inode_find_path(fs->inodes, path);
		if (in && S_ISDIR(in->attr.st_mode))
			rc = -EISDIR;
		ppath = strdup(p->path);
		if (!ppath)
			rc = -ENOMEM;
	}
	if (!rc && in) {
		/* the local version goes first, so no upload brings it back */
		in->refs++;
		forget_upload(fs, in);
		inode_unhash_path(fs->inodes, in);
		in->attr.st_nlink = 0;
		/* open and read from the bucket: keep the object until the
		 * last close, so those reads still work (POSIX) */
		if (in->opens > 0 &&
		    (!in->stage || stage_partial(in->stage))) {
			in->delete_on_close = true;
			doom(fs, path, true);
		}
	}
	deferred = in && in->delete_on_close;
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	key = key_of(fs, path, false);
	if (!key)
		rc = -ENOMEM;
	else if (!deferred)
		rc = fs->store->ops->remove(fs->store, key);
	pthread_mutex_lock(&fs->lock);
	if (in) {
		journal_maybe_release(fs, in);
		in->refs--;
		inode_maybe_free(fs->inodes, in);
	}
	attr_cache_forget(fs->ac, path);
	dir_cache_remove(fs->dirs, ppath, name);
	p = inode_find(fs->inodes, parent);
	if (p)
		touch_dir(fs, p);
	pthread_mutex_unlock(&fs->lock);
out:
	free(ppath);
	free(key);
	free(path);
	return rc;
}

int dir_empty_in_bucket(struct fs *fs, const char *dkey)
{
	struct store_list l = { 0 };
	size_t i;
	int rc;

	/* two keys: the marker itself and whatever sorts first below it */
	rc = fs->store->ops->list(fs->store, dkey, NULL, NULL, 2, &l);
	for (i = 0; !rc && i < l.nentries; i++)
		if (strcmp(l.entries[i].key, dkey))
			rc = -ENOTEMPTY;
	if (!rc && l.nprefixes)
		rc = -ENOTEMPTY;
	store_list_release(&l);
	return rc;
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	const struct dir_listing *cached;
	struct inode *p, *in;
	char *path = NULL, *key = NULL, *ppath = NULL;
	bool was_pending = false;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	if (!rc) {
		in = inode_find_path(fs->inodes, path);
		if (in && !S_ISDIR(in->attr.st_mode))
			rc = -ENOTDIR;
		cached = dir_cache_find(fs->dirs, path, util_now_mono(),
					fs->conf->dir_timeout);
		if (!rc && ((cached && cached->n > 0) ||
			    dir_has_pending(fs, path)))
			rc = -ENOTEMPTY;
		ppath = strdup(p->path);
		if (!ppath)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	key = key_of(fs, path, true);
	if (!key) {
		rc = -ENOMEM;
		goto out;
	}
	rc = dir_empty_in_bucket(fs, key);
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	in = inode_find_path(fs->inodes, path);
	if (in) {
		/* a marker PUT still to come must not land after the
		 * DELETE */
		struct wb_file *wf;

		in->refs++;
		wf = quiet_begin(fs, in);
		was_pending = wb_file_pending(fs->wb, wf);
		if (wf)
			wb_forget(fs->wb, wf);
		quiet_end(fs, wf);
	}
	pthread_mutex_unlock(&fs->lock);
	rc = fs->store->ops->remove(fs->store, key);
	pthread_mutex_lock(&fs->lock);
	if (in) {
		in->refs--;
		if (!rc) {
			inode_unhash_path(fs->inodes, in);
			in->attr.st_nlink = 0;
		} else if (was_pending && journal_entry(fs, in)) {
			wb_touch_meta(fs->wb, in->wbf);
		}
		journal_maybe_release(fs, in);
		inode_maybe_free(fs->inodes, in);
	}
	if (rc) {
		pthread_mutex_unlock(&fs->lock);
		goto out;
	}
	dir_cache_remove(fs->dirs, ppath, name);
	p = inode_find(fs->inodes, parent);
	if (p)
		touch_dir(fs, p);
	dir_cache_drop(fs->dirs, path);
	attr_cache_forget(fs->ac, path);
	pthread_mutex_unlock(&fs->lock);
out:
	free(ppath);
	free(key);
	free(path);
	return rc;
}
