/*
 * fs_file.c - open files: their stages, setattr and truncate, read, write,
 * flush (close), fsync and release.
 *
 * A file opened for writing gets a stage (stage.h) in the journal's data
 * directory that stands for the object's current version; its bytes are
 * fetched only where a read or a partial write needs them.  close()
 * commits it to the journal (durable locally); the upload follows after
 * the quiet period (wbcache.h).  A file opened only for reading reads the
 * bucket through a read-ahead stream pinned to the ETag seen at open,
 * which reads the blocks the read cache holds of that version from local
 * disk and stores those it fetches (readcache.h).
 */
#include "fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "attrcache.h"
#include "conf.h"
#include "inode.h"
#include "log.h"
#include "meta.h"
#include "readahead.h"
#include "readcache.h"
#include "stage.h"
#include "store.h"
#include "util.h"
#include "wbcache.h"
#include "xattr.h"

/*
 * Not locked.  A writer's open found obj (NULL: no object) at in's name,
 * asked for at asked: not what in says.  in takes it (a lookup answers
 * with it), unless it has a stage by now.
 */
static void stale_version(struct fs *fs, struct inode *in,
			  const struct store_object *obj, double asked)
{
	struct stat st;

	pthread_mutex_lock(&fs->lock);
	if (!in->stage) {
		if (obj)
			meta_attr_from_object(&fs->defaults, obj, S_IFREG,
					      &st);
		if (obj && S_ISREG(st.st_mode))
			set_remote_attr(fs, in, &st, true, obj->etag,
					asked + fs->conf->stat_timeout);
		else
			in->attr_expires = 0; /* gone, or another type */
	}
	pthread_mutex_unlock(&fs->lock);
}

/*
 * Give in a stage holding its current contents (the first keep bytes of
 * the object; all of them if keep is UINT64_MAX).  Called without locks;
 * returns with in->stage set (ours or one made meanwhile).
 */
static int ensure_stage(struct fs *fs, struct inode *in, uint64_t keep)
{
	struct stage *st = NULL;
	char etag[128], known[128], *key = NULL;
	uint64_t size = 0, remote, id = 0;
	double asked;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (in->stage) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	remote = (uint64_t)in->attr.st_size;
	snprintf(etag, sizeof(etag), "%s", in->etag);
	snprintf(known, sizeof(known), "%s", in->etag);
	key = key_of(fs, in->path, false);
	pthread_mutex_unlock(&fs->lock);
	if (!key)
		return -ENOMEM;
	rc = wb_file_new_stage(fs->wb, &st, &id);
	if (rc)
		goto out;
	if (keep > 0 && remote > 0) {
		/* the stage stands for the object's current version, its
		 * bytes fetched only when needed (stage.h): learn exactly
		 * which version and how long, so every fetch is pinned */
		struct store_object obj = { 0 };

		asked = util_now_mono();
		rc = fs->store->ops->head(fs->store, key, &obj);
		if ((!rc && ((known[0] && strcmp(obj.etag, known)) ||
			     obj.size != remote)) ||
		    rc == -ENOENT) {
			/* another version than the one the kernel was told
			 * of (its size, which reads and O_APPEND go by):
			 * -ESTALE has the kernel look the name up again and
			 * retry the open once (LOOKUP_REVAL) */
			stale_version(fs, in, rc ? NULL : &obj, asked);
			rc = -ESTALE;
		}
		snprintf(etag, sizeof(etag), "%s", obj.etag);
		remote = obj.size;
		store_object_release(&obj);
		if (rc == -ENOENT) {
			rc = 0; /* gone meanwhile: it is empty now */
			remote = 0;
			etag[0] = '\0';
		} else if (!rc && !etag[0]) {
			rc = -EIO; /* cannot pin the fetches */
		}
		if (rc)
			goto out;
		size = remote < keep ? remote : keep;
		rc = stage_set_source(st, key, etag, size);
		if (rc)
			goto out;
	}
	st->size = size;
	pthread_mutex_lock(&fs->lock);
	if (!in->stage && !journal_entry(fs, in)) {
		rc = -ENOMEM;
	} else if (!in->stage) {
		in->stage = st;
		wb_file_set_stage(fs->wb, in->wbf, st, id);
		in->kcache_tag = 0; /* its bytes change here from now on */
		/* our upload replaces the version we started from only */
		wb_file_set_base(fs->wb, in->wbf,
				 etag[0] ? JOURNAL_BASE_ETAG : JOURNAL_BASE_ANY,
				 etag);
		st = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
out:
	stage_put(st);
	free(key);
	return rc;
}

void maybe_drop_stage(struct fs *fs, struct inode *in)
{
	if (in->stage && in->writers == 0 &&
	    wb_file_state(fs->wb, in->wbf) == WB_CLEAN &&
	    !wb_file_pending(fs->wb, in->wbf)) {
		stage_put(in->stage);
		in->stage = NULL;
		in->attr_expires = 0;
		journal_maybe_release(fs, in);
	}
}

static int truncate_stage(struct fs *fs, struct inode *in, uint64_t size)
{
	struct stage *st;
	int rc;

	pthread_mutex_lock(&fs->lock);
	st = in->stage ? stage_get(in->stage) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!st)
		return -EAGAIN;
	/* may fetch the chunk the cut falls into: not under the fs lock */
	pthread_rwlock_wrlock(&st->lock);
	rc = stage_truncate(st, fs->store, size);
	pthread_mutex_lock(&fs->lock);
	if (!rc && in->stage != st)
		rc = -EAGAIN; /* uploaded and dropped since: stage again */
	if (!rc) {
		st->size = size;
		wb_touch_data(fs->wb, in->wbf);
		in->attr.st_mtim = now_real();
		in->attr.st_ctim = in->attr.st_mtim;
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&st->lock);
	stage_put(st);
	return rc;
}

/*
 * Cut in's contents to size, staging them first.  Without an open writer
 * a finishing upload may drop the stage between the two steps: then the
 * contents are staged again (from the version just uploaded).
 */
static int cut_contents(struct fs *fs, struct inode *in, uint64_t size)
{
	int rc;

	do {
		rc = ensure_stage(fs, in, size);
		if (!rc)
			rc = truncate_stage(fs, in, size);
	} while (rc == -EAGAIN);
	return rc;
}

int fs_setattr(struct fs *fs, uint64_t ino, struct fs_file *f,
	       const struct stat *attr, int to_set, struct stat *out)
{
	struct inode *in;
	struct stat newattr;
	char *path = NULL;
	bool staged, closed;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (!in) {
		pthread_mutex_unlock(&fs->lock);
		return -ESTALE;
	}
	if ((to_set & FS_SET_SIZE) && S_ISDIR(in->attr.st_mode)) {
		pthread_mutex_unlock(&fs->lock);
		return -EISDIR;
	}
	if ((to_set & ~FS_SET_SIZE) && in->ino == INODE_ROOT) {
		/* the mount root has no object to hold its metadata */
		pthread_mutex_unlock(&fs->lock);
		return -EPERM;
	}
	in->refs++;
	pthread_mutex_unlock(&fs->lock);

	if (to_set & FS_SET_SIZE) {
		uint64_t size = (uint64_t)attr->st_size;

		rc = cut_contents(fs, in, size);
		if (rc)
			goto out;
	}

	pthread_mutex_lock(&fs->lock);
	newattr = in->attr;
	if (to_set & FS_SET_MODE)
		newattr.st_mode = (newattr.st_mode & S_IFMT) |
				  (attr->st_mode & 07777);
	if (to_set & FS_SET_UID)
		newattr.st_uid = attr->st_uid;
	if (to_set & FS_SET_GID)
		newattr.st_gid = attr->st_gid;
	if (to_set & FS_SET_MTIME_NOW)
		newattr.st_mtim = now_real();
	else if (to_set & FS_SET_MTIME)
		newattr.st_mtim = attr->st_mtim;
	if (to_set & FS_SET_ATIME_NOW)
		newattr.st_atim = now_real();
	else if (to_set & FS_SET_ATIME)
		newattr.st_atim = attr->st_atim;
	if (to_set & ~FS_SET_SIZE)
		newattr.st_ctim = now_real();
	staged = in->stage != NULL;
	closed = in->writers == 0;
	if (staged) {
		/* goes up with the contents, in the same PUT */
		in->attr = newattr;
		if (to_set & ~(FS_SET_ATIME | FS_SET_ATIME_NOW))
			wb_touch(fs->wb, in->wbf);
	}
	path = strdup(in->path);
	pthread_mutex_unlock(&fs->lock);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}

	if (staged && closed) {
		/* a closed file (chmod after cp, truncate by path): fold the
		 * change into its pending upload (a truncation durably now,
		 * metadata within 0.1 s: wb_commit_meta) */
		rc = (to_set & FS_SET_SIZE) ? commit_file(fs, in)
					    : commit_meta_file(fs, in);
	} else if (!staged && (to_set & (FS_SET_MODE | FS_SET_UID |
					 FS_SET_GID | FS_SET_MTIME |
					 FS_SET_MTIME_NOW))) {
		/* an uploaded file or a directory: one CopyObject (or marker
		 * PUT) after the quiet period carries this and whatever
		 * chmod, chown or touch follows */
		pthread_mutex_lock(&fs->lock);
		attr_cache_forget(fs->ac, path);
		in->attr = newattr;
		in->has_meta = true;
		if (journal_entry(fs, in))
			wb_touch_meta(fs->wb, in->wbf);
		else
			rc = -ENOMEM;
		pthread_mutex_unlock(&fs->lock);
		if (!rc && fs->conf->sync_upload)
			rc = sync_file(fs, in);
	} else if (!staged) {
		pthread_mutex_lock(&fs->lock);
		in->attr.st_atim = newattr.st_atim; /* atime is not kept */
		pthread_mutex_unlock(&fs->lock);
	}
out:
	pthread_mutex_lock(&fs->lock);
	(void)f;
	maybe_drop_stage(fs, in);
	fill_attr(fs, in, out);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}


/* Locked: a handle of in, on fs->open_files. */
static struct fs_file *file_new(struct fs *fs, struct inode *in, bool writer)
{
	struct fs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fs = fs;
	f->in = in;
	f->writer = writer;
	pthread_mutex_init(&f->ra_lock, NULL);
	f->next = fs->open_files;
	if (f->next)
		f->next->prev = f;
	fs->open_files = f;
	return f;
}

/* Locked: off fs->open_files. */
static void file_unlink_locked(struct fs_file *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		f->fs->open_files = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

/* Free a handle already off the list (its read-ahead streams too). */
static void file_destroy(struct fs_file *f)
{
	ra_stream_free(f->ra);
	while (f->nretired)
		ra_stream_free(f->retired[--f->nretired]);
	free(f->retired);
	free(f->ra_key);
	pthread_mutex_destroy(&f->ra_lock);
	free(f);
}

/* Not locked: close a handle's bookkeeping and free it. */
static void file_free(struct fs_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->fs->lock);
	file_unlink_locked(f);
	pthread_mutex_unlock(&f->fs->lock);
	file_destroy(f);
}

void fs_files_free(struct fs *fs)
{
	while (fs->open_files) {
		struct fs_file *f = fs->open_files;

		file_unlink_locked(f);
		file_destroy(f);
	}
}

/* A nonzero 64-bit FNV-1a hash of an ETag. */
static uint64_t etag_tag(const char *etag)
{
	uint64_t h = 1469598103934665603ULL;

	while (*etag) {
		h ^= (unsigned char)*etag++;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

bool fs_file_keep_cache(const struct fs_file *f)
{
	return f->keep_cache;
}

bool fs_file_direct_io(const struct fs_file *f)
{
	return f->direct_io;
}

/*
 * Locked.  Is another handle of f's inode open for reading another
 * version (opened before another mount's upload was seen)?  A walk of the
 * open files: opens are rare next to reads, and few files are open.
 */
static bool older_reader(struct fs *fs, const struct fs_file *f)
{
	const struct fs_file *o;

	for (o = fs->open_files; o; o = o->next)
		if (o != f && o->in == f->in && !o->writer &&
		    strcmp(o->etag, f->etag))
			return true;
	return false;
}

int fs_open(struct fs *fs, uint64_t ino, int flags, struct fs_file **out)
{
	bool writer = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	struct fs_file *f = NULL;
	struct inode *in;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (!in) {
		rc = -ESTALE;
	} else if (S_ISDIR(in->attr.st_mode)) {
		rc = -EISDIR;
	} else {
		/* close-to-open: the version read (or written over) is one
		 * the bucket showed less than stat_timeout ago, so a file
		 * another mount closed and uploaded before that is seen
		 * whole; the kernel's pages of an older one are dropped
		 * (keep_cache below, and the changed hook) */
		char was[sizeof(in->etag)];
		off_t size = in->attr.st_size;

		snprintf(was, sizeof(was), "%s", in->etag);
		rc = refresh_attr(fs, in);
		if (!rc && ((was[0] && strcmp(was, in->etag)) ||
			    size != in->attr.st_size))
			/* the kernel may hold the old size (a write's or a
			 * listing's attributes), which reads and O_APPEND go
			 * by: -ESTALE has it look the name up again and
			 * retry the open once (LOOKUP_REVAL) */
			rc = -ESTALE;
	}
	if (!rc) {
		f = file_new(fs, in, writer);
		if (!f)
			rc = -ENOMEM;
	}
	if (rc) {
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	in->refs++;
	in->opens++;
	if (writer)
		set_writers(fs, in, 1);
	snprintf(f->etag, sizeof(f->etag), "%s", in->etag);
	if (writer || in->stage || !in->etag[0]) {
		in->kcache_tag = 0; /* local bytes: no version to keep */
	} else if (older_reader(fs, f)) {
		/* the page cache is the inode's, not the handle's: pages of
		 * this version would show through the older handle, pages of
		 * the older version through this one */
		f->direct_io = true;
		in->kcache_tag = 0;
	} else {
		/* pages read through an earlier open of this very version
		 * stay valid: a second read costs no GET */
		uint64_t tag = etag_tag(in->etag);

		f->keep_cache = in->kcache_tag == tag;
		in->kcache_tag = tag;
	}
	pthread_mutex_unlock(&fs->lock);

	if (writer) {
		/* our writer count keeps the stage: no -EAGAIN here */
		rc = ensure_stage(fs, in, (flags & O_TRUNC) ? 0 : UINT64_MAX);
		if (!rc && (flags & O_TRUNC))
			rc = truncate_stage(fs, in, 0);
	}
	if (rc) {
		fs_release(f);
		return rc;
	}
	*out = f;
	return 0;
}

int fs_create(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	      int flags, const struct fs_ctx *ctx, struct stat *st,
	      struct fs_file **out)
{
	struct stage *stg = NULL;
	struct fs_file *f = NULL;
	struct inode *p, *in;
	char *path = NULL, base_etag[128] = "";
	enum journal_base base;
	uint64_t id = 0;
	int rc;

	rc = wb_file_new_stage(fs->wb, &stg, &id);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	if (rc)
		goto out;
	in = inode_find_path(fs->inodes, path);
	if (in && S_ISDIR(in->attr.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (in && (flags & O_EXCL) && (in->stage || in->etag[0])) {
		rc = -EEXIST;
		goto out;
	}
	/* what the upload may replace: the version we know of; nothing
	 * (If-None-Match) for a new name; anything while an unlinked
	 * file's object still waits for its last close */
	if (in && in->etag[0])
		base = JOURNAL_BASE_ETAG;
	else if (is_doomed(fs, path))
		base = JOURNAL_BASE_ANY;
	else
		base = JOURNAL_BASE_NONE;
	if (in && in->etag[0])
		snprintf(base_etag, sizeof(base_etag), "%s", in->etag);
	doom(fs, path, false); /* a new file takes the name */
	in = inode_for(fs, path, S_IFREG);
	f = in ? file_new(fs, in, true) : NULL;
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	if (in->stage) {
		/* already open for writing: create truncates it */
		pthread_mutex_unlock(&fs->lock);
		stage_put(stg);
		stg = NULL;
		rc = cut_contents(fs, in, 0);
		pthread_mutex_lock(&fs->lock);
		if (rc)
			goto out;
	} else if (!journal_entry(fs, in)) {
		rc = -ENOMEM;
		goto out;
	} else {
		in->stage = stg;
		wb_file_set_stage(fs->wb, in->wbf, stg, id);
		wb_file_set_base(fs->wb, in->wbf, base, base_etag);
		stg = NULL;
	}
	wb_touch_data(fs->wb, in->wbf);
	meta_attr_default(&fs->defaults, S_IFREG, 0, 0, &in->attr);
	in->attr.st_mode = S_IFREG | (mode & 07777);
	in->attr.st_uid = ctx->uid;
	in->attr.st_gid = ctx->gid;
	in->attr.st_mtim = now_real();
	in->attr.st_ctim = in->attr.st_mtim;
	in->attr.st_atim = in->attr.st_mtim;
	in->attr.st_ino = in->ino;
	in->has_meta = true;
	in->etag[0] = '\0';
	xattrs_release(&in->xattrs);
	in->xattrs_known = true;
	in->refs++;
	in->opens++;
	set_writers(fs, in, 1);
	in->nlookup++;
	fill_attr(fs, in, st);
	touch_dir(fs, p);
	dir_cache_upsert(fs->dirs, p->path, name, S_IFREG, 0,
			 in->attr.st_mtim.tv_sec, NULL);
	*out = f;
	f = NULL;
out:
	pthread_mutex_unlock(&fs->lock);
	stage_put(stg);
	file_free(f);
	free(path);
	return rc;
}

/* Serve a read from the object through the handle's read-ahead stream. */
static ssize_t read_remote(struct fs_file *f, const char *key, uint64_t fsize,
			   size_t size, uint64_t off, fs_deliver_fn deliver,
			   void *arg)
{
	struct ra_stream *ra;

	pthread_mutex_lock(&f->ra_lock);
	if (f->ra && strcmp(f->ra_key, key)) {
		/* renamed while open: read the object under its new key */
		struct ra_stream **r = realloc(f->retired,
					       (f->nretired + 1) * sizeof(*r));

		if (r) {
			f->retired = r;
			r[f->nretired++] = f->ra;
			f->ra = NULL;
			free(f->ra_key);
			f->ra_key = NULL;
		}
	}
	if (!f->ra) {
		free(f->ra_key);
		f->ra_key = strdup(key);
		f->ra = f->ra_key ? ra_stream_new(f->fs->ra, key, f->etag,
						  fsize)
				  : NULL;
	}
	ra = f->ra;
	pthread_mutex_unlock(&f->ra_lock);
	if (!ra)
		return -ENOMEM;
	return ra_read_to(ra, size, off, deliver, arg);
}

ssize_t fs_read(struct fs_file *f, char *buf, size_t size, uint64_t off,
		fs_deliver_fn deliver, void *arg)
{
	struct fs *fs = f->fs;
	struct inode *in = f->in;
	struct stage *st = NULL;
	uint64_t fsize;
	char *key = NULL;
	ssize_t rc;

	pthread_mutex_lock(&fs->lock);
	if (in->stage)
		st = stage_get(in->stage);
	else
		key = key_of(fs, in->path, false);
	fsize = st ? st->size : (uint64_t)in->attr.st_size;
	pthread_mutex_unlock(&fs->lock);
	if (st) {
		if (off >= fsize)
			rc = 0;
		else
			rc = stage_read(st, fs->store, buf,
					size < fsize - off ? size
							   : (size_t)(fsize - off),
					off);
		stage_put(st);
		if (rc >= 0) {
			struct iovec iov = { buf, (size_t)rc };

			deliver(arg, &iov, 1);
		}
		return rc;
	}
	if (!key)
		return -ENOMEM;
	rc = read_remote(f, key, fsize, size, off, deliver, arg);
	free(key);
	return rc;
}

ssize_t fs_write(struct fs_file *f, const char *buf, size_t size,
		 uint64_t off)
{
	struct fs *fs = f->fs;
	struct inode *in = f->in;
	struct stage *st;
	size_t done = 0;
	ssize_t rc;

	rcache_reserve(fs->rc, size); /* the journal comes first */
	rc = wb_reserve(fs->wb, size);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	st = in->stage ? stage_get(in->stage) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!st)
		return -EBADF;
	/* an upload of the stage in flight finishes first */
	pthread_rwlock_rdlock(&st->lock);
	rc = stage_write(st, fs->store, buf, size, off);
	done = rc > 0 ? (size_t)rc : 0;
	pthread_mutex_lock(&fs->lock);
	if (done && in->stage == st) {
		if (off + done > st->size)
			st->size = off + done;
		wb_touch_data(fs->wb, in->wbf);
		in->attr.st_mtim = now_real();
		in->attr.st_ctim = in->attr.st_mtim;
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&st->lock);
	stage_put(st);
	return rc;
}

/*
 * close(): make the file durable in the journal; its upload follows after
 * the quiet period (or now, with -o sync_upload, returning its error).
 */
int fs_flush(struct fs_file *f)
{
	int rc;

	if (!f->writer)
		return 0;
	rc = commit_file(f->fs, f->in);
	if (!rc && f->fs->conf->sync_upload)
		rc = sync_file(f->fs, f->in);
	return rc;
}

/* fsync(): the object is in the bucket when this returns 0. */
int fs_fsync(struct fs_file *f)
{
	return sync_file(f->fs, f->in);
}

void fs_release(struct fs_file *f)
{
	struct fs *fs = f->fs;
	struct inode *in = f->in;
	char *key = NULL;
	bool commit = false;

	pthread_mutex_lock(&fs->lock);
	if (f->writer) {
		set_writers(fs, in, -1);
		/* normally flush committed already; mmap writes may not */
		commit = in->writers == 0 && in->stage && !in->unlinked &&
			 wb_file_uncommitted(fs->wb, in->wbf);
		wb_kick(fs->wb);
	}
	pthread_mutex_unlock(&fs->lock);
	if (commit)
		commit_file(fs, in);
	pthread_mutex_lock(&fs->lock);
	maybe_drop_stage(fs, in);
	in->opens--;
	if (in->opens == 0 && in->delete_on_close) {
		in->delete_on_close = false;
		doom(fs, in->path, false);
		/* unless a new file has taken the name meanwhile */
		if (!inode_find_path(fs->inodes, in->path))
			key = key_of(fs, in->path, false);
	}
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
	if (key && fs->store->ops->remove(fs->store, key))
		log_err("could not delete %s after its last close", key);
	free(key);
	file_free(f);
}
