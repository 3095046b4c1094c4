/*
 * fs_dir.c - directory handles: opendir takes a snapshot of the listing
 * (cached, or fetched for a walk), readdir hands out its names and types,
 * readdirplus their attributes (prefetched in listing order, a window
 * ahead of the reader), and releasedir may write the directory's index.
 */
#include "fs_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrcache.h"
#include "conf.h"
#include "inode.h"
#include "meta.h"
#include "wbcache.h"
#include "util.h"

int fs_opendir(struct fs *fs, uint64_t ino, struct fs_dir **out)
{
	const struct dir_listing *cached;
	struct dir_listing *l = NULL;
	struct fs_dir *d = NULL;
	struct inode *in;
	char *path = NULL;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (!in) {
		rc = -ESTALE;
	} else if (!S_ISDIR(in->attr.st_mode)) {
		rc = -ENOTDIR;
	} else {
		cached = dir_cache_find(fs->dirs, in->path, util_now_mono(),
					fs->conf->dir_timeout);
		if (cached) {
			l = listing_dup(cached);
			if (!l)
				rc = -ENOMEM;
		} else {
			path = strdup(in->path);
			if (!path)
				rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (!l) {
		rc = fetch_listing_walk(fs, ino, path, 0, &l);
		if (rc)
			goto out;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->inos = calloc(l->n ? l->n : 1, sizeof(*d->inos)))) {
		rc = -ENOMEM;
		goto out;
	}
	d->fs = fs;
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < l->n; i++) {
		char *cp = child_path(l->path, l->e[i].name);
		struct inode *c = cp ? inode_find_path(fs->inodes, cp) : NULL;

		d->inos[i] = c ? c->ino : 0;
		free(cp);
	}
	d->l = l;
	l = NULL;
	d->next = fs->open_dirs;
	if (d->next)
		d->next->prev = d;
	fs->open_dirs = d;
	pthread_mutex_unlock(&fs->lock);
	*out = d;
	d = NULL;
out:
	if (d)
		free(d->inos);
	free(d);
	dir_listing_free(l);
	free(path);
	return rc;
}

size_t fs_dir_count(const struct fs_dir *d)
{
	return d->l->n;
}

/*
 * Locked.  The type of listed file e of d as far as we know without a
 * request: a listing shows symlinks, FIFOs, sockets and devices as files;
 * an inode or the attribute cache (an ls -l before, a remount with the
 * saved metadata, a directory index) may know better.
 */
static mode_t known_type(struct fs_dir *d, const struct dir_entry *e,
			 const char *path)
{
	struct fs *fs = d->fs;
	double now = util_now_mono();
	struct inode *in = inode_find_path(fs->inodes, path);
	struct attr_want w = {
		.path = path,
		.type = S_IFREG,
		/* a listing past dir_timeout no longer vouches for the
		 * version: then only a recent HEAD does */
		.etag = now <= d->l->fetched + fs->conf->dir_timeout &&
				e->etag && e->etag[0] ? e->etag : NULL,
		.lastmod = e->mtime,
		.ttl = fs->conf->stat_timeout,
	};
	struct attr_meta m;

	if (in && (local_changes(fs, in) || in->attr_expires > now))
		return in->attr.st_mode & S_IFMT;
	if (attr_cache_valid(fs->ac, &w, &m))
		return m.st.st_mode & S_IFMT;
	if (in && in->has_meta)
		return in->attr.st_mode & S_IFMT;
	return e->type;
}

const char *fs_dir_entry(struct fs_dir *d, size_t i, mode_t *type,
			 uint64_t *ino)
{
	const struct dir_entry *e;
	char *path;

	if (i >= d->l->n)
		return NULL;
	e = &d->l->e[i];
	*type = e->type;
	*ino = d->inos[i];
	if (!S_ISREG(e->type))
		return e->name; /* a listed prefix is a directory */
	path = child_path(d->l->path, e->name);
	if (!path)
		return e->name;
	pthread_mutex_lock(&d->fs->lock);
	*type = known_type(d, e, path);
	pthread_mutex_unlock(&d->fs->lock);
	free(path);
	return e->name;
}

void fs_dir_will_need(struct fs_dir *d, size_t from, size_t n)
{
	struct fs *fs = d->fs;

	if (from >= d->l->n)
		return;
	if (n > d->l->n - from)
		n = d->l->n - from;
	pthread_mutex_lock(&fs->lock);
	attr_cache_prefetch(fs->ac, d->l->path, &d->l->e[from], n,
			    fs->conf->stat_timeout, true);
	if (from > 0 && d->queued_upto < from + n + FS_PREFETCH_AHEAD / 2) {
		/* a second batch with attributes means "ls -l" (the kernel
		 * asks again only when the first batch's entries were
		 * used): keep the next entries coming, a window ahead */
		size_t start = d->queued_upto > from + n ? d->queued_upto
							 : from + n;
		size_t end = from + n + FS_PREFETCH_AHEAD;

		if (end > d->l->n)
			end = d->l->n;
		if (start < end)
			attr_cache_prefetch(fs->ac, d->l->path,
					    &d->l->e[start], end - start,
					    fs->conf->stat_timeout, false);
		d->queued_upto = end;
	}
	pthread_mutex_unlock(&fs->lock);
}

int fs_dir_entry_plus(struct fs_dir *d, size_t i, struct stat *st)
{
	struct fs *fs = d->fs;
	const struct dir_entry *e;
	struct attr_meta m;
	struct inode *in;
	double now = util_now_mono();
	bool stale;
	char *path;
	int rc = 0;

	if (i >= d->l->n)
		return 0;
	e = &d->l->e[i];
	path = child_path(d->l->path, e->name);
	if (!path)
		return -ENOMEM;
	pthread_mutex_lock(&fs->lock);
	in = inode_find_path(fs->inodes, path);
	if (in && (local_changes(fs, in) ||
		   in->attr_expires > now))
		goto found;
	if (is_doomed(fs, path))
		goto out; /* the kernel will look it up (and not find it) */
	/* A listing older than dir_timeout no longer vouches for the
	 * entry's version: then only a recent HEAD does. */
	stale = now > d->l->fetched + fs->conf->dir_timeout;
	{
		struct attr_want w = {
			.path = path,
			.type = e->type,
			.etag = !stale && e->type == S_IFREG && e->etag &&
					e->etag[0] ? e->etag : NULL,
			.lastmod = e->mtime,
			.ttl = fs->conf->stat_timeout,
		};

		/* prefetched (or being fetched) in the normal case; one not
		 * queued yet is fetched here, as a lookup would */
		if (attr_cache_get(fs->ac, &w, &m, NULL))
			goto out; /* the kernel will look it up */
	}
	if (!stale && S_ISREG(e->type)) {
		m.st.st_size = (off_t)e->size;
		m.st.st_blocks = (blkcnt_t)((e->size + 511) / 512);
	}
	in = inode_for(fs, path, m.st.st_mode & S_IFMT);
	if (!in) {
		rc = -ENOMEM;
		goto out;
	}
	if (!stale && newer_than(fs, in, d->l->fetched))
		goto found; /* a HEAD after the listing knows better */
	set_remote_attr(fs, in, &m.st, true,
			S_ISDIR(m.st.st_mode) ? NULL : m.etag,
			stale ? m.fetched + fs->conf->stat_timeout
			      : d->l->fetched + listed_ttl(fs));
found:
	in->nlookup++;
	inode_touch(fs->inodes, in);
	fill_attr(fs, in, st);
	rc = 1;
out:
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}

int fs_fsyncdir(struct fs *fs, uint64_t ino)
{
	struct inode *in;
	int rc;

	in = hold_ino(fs, ino);
	if (!in)
		return -ESTALE;
	rc = sync_file(fs, in);
	drop_ino(fs, in);
	return rc;
}

static void dir_unlink_locked(struct fs_dir *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		d->fs->open_dirs = d->next;
	if (d->next)
		d->next->prev = d->prev;
}

static void dir_free(struct fs_dir *d)
{
	dir_listing_free(d->l);
	free(d->inos);
	free(d);
}

void fs_releasedir(struct fs_dir *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->fs->lock);
	dir_unlink_locked(d);
	pthread_mutex_unlock(&d->fs->lock);
	index_write(d->fs, d->l);
	dir_free(d);
}

void fs_dirs_free(struct fs *fs)
{
	while (fs->open_dirs) {
		struct fs_dir *d = fs->open_dirs;

		dir_unlink_locked(d);
		dir_free(d);
	}
}
