/*
 * fuse_ops.c - FUSE low-level requests -> fs.c calls.
 *
 * Kept thin on purpose: no policy lives here.  File handles carry a
 * struct fs_file or struct fs_dir pointer in fi->fh.
 */
#include "fuse_ops.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h> /* RENAME_* */
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "util.h"

/* d_ino for entries whose inode we have not made yet (as libfuse's
 * high-level API does). */
#define R2FS_UNKNOWN_INO 0xffffffffu

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void reply_entry(fuse_req_t req, int rc, const struct stat *st)
{
	struct fuse_entry_param e;
	double t;

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	t = fs_attr_ttl(fs_of(req), st->st_ino);
	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = t;
	e.entry_timeout = t;
	fuse_reply_entry(req, &e);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Large requests: fewer round trips through the kernel. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	/* Writes go through us (the journal stages them); the page cache
	 * is kept across opens only while the object's ETag is unchanged
	 * (fs_file_keep_cache). */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int rc = fs_lookup(fs_of(req), parent, name, &st);

	if (rc == -ENOENT) {
		/* A negative entry the kernel may cache for a short while. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs_attr_timeout(fs_of(req));
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, rc, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_forget(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		fs_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	int rc = fs_getattr(fs_of(req), ino, &st);

	(void)fi;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs_attr_ttl(fs_of(req), ino));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs_file *f = fi ? (struct fs_file *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	int set = 0, rc;

	if (to_set & FUSE_SET_ATTR_MODE)
		set |= FS_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		set |= FS_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		set |= FS_SET_GID;
	if (to_set & FUSE_SET_ATTR_SIZE)
		set |= FS_SET_SIZE;
	if (to_set & FUSE_SET_ATTR_ATIME)
		set |= FS_SET_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME)
		set |= FS_SET_MTIME;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		set |= FS_SET_ATIME_NOW;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		set |= FS_SET_MTIME_NOW;
	rc = fs_setattr(fs_of(req), ino, f, attr, set, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs_attr_timeout(fs_of(req)));
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs_ctx ctx = { c->uid, c->gid };
	struct stat st;

	reply_entry(req, fs_mkdir(fs_of(req), parent, name, mode, &ctx, &st),
		    &st);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs_ctx ctx = { c->uid, c->gid };
	struct stat st;

	reply_entry(req, fs_symlink(fs_of(req), parent, name, link, &ctx,
				    &st), &st);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs_ctx ctx = { c->uid, c->gid };
	struct stat st;

	reply_entry(req, fs_mknod(fs_of(req), parent, name, mode, rdev, &ctx,
				  &st), &st);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	int rc = fs_readlink(fs_of(req), ino, buf, sizeof(buf));

	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_unlink(fs_of(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_rmdir(fs_of(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	unsigned f = 0;

	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		f |= 1u;
	fuse_reply_err(req, -fs_rename(fs_of(req), parent, name, newparent,
				       newname, f));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	/* Objects have one name; rsync -H and cp fall back to copies. */
	fuse_reply_err(req, EPERM);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_file *f;
	int rc = fs_open(fs_of(req), ino, fi->flags, &f);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	fi->keep_cache = fs_file_keep_cache(f);
	fi->direct_io = fs_file_direct_io(f);
	if (fuse_reply_open(req, fi))
		fs_release(f); /* the open was interrupted */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs_ctx ctx = { c->uid, c->gid };
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fs_file *f;
	struct stat st;
	int rc;

	rc = fs_create(fs, parent, name, mode, fi->flags, &ctx, &st, &f);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = st.st_ino;
	e.attr = st;
	e.attr_timeout = fs_attr_timeout(fs);
	e.entry_timeout = e.attr_timeout;
	fi->fh = (uintptr_t)f;
	if (fuse_reply_create(req, &e, fi)) {
		/* interrupted; req is freed by the reply, fs is not */
		fs_forget(fs, st.st_ino, 1);
		fs_release(f);
	}
}

/*
 * Each FUSE thread keeps its read buffer between requests: a fresh
 * malloc of 128 KiB or more is an mmap whose pages fault in (zeroed and
 * charged) on every read.  Freed with its thread.
 */
struct read_buf {
	size_t cap;
	char data[];
};

static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;
static bool read_buf_ok;

static void read_buf_init(void)
{
	read_buf_ok = pthread_key_create(&read_buf_key, free) == 0;
}

static char *read_buf_get(size_t size)
{
	struct read_buf *b;

	pthread_once(&read_buf_once, read_buf_init);
	if (!read_buf_ok)
		return NULL;
	b = pthread_getspecific(read_buf_key);
	if (b && b->cap >= size)
		return b->data;
	free(b);
	pthread_setspecific(read_buf_key, NULL);
	b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->cap = size;
	if (pthread_setspecific(read_buf_key, b)) {
		free(b);
		return NULL;
	}
	return b->data;
}

static void reply_read(void *req, const struct iovec *iov, int n)
{
	if (n > 0)
		fuse_reply_iov(req, iov, n);
	else
		fuse_reply_buf(req, NULL, 0); /* at the end of the file */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	char *buf = read_buf_get(size ? size : 1);
	ssize_t n;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = fs_read(f, buf, size, (uint64_t)off, reply_read, req);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	ssize_t n = fs_write(f, buf, size, (uint64_t)off);

	(void)ino;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, -fs_flush((struct fs_file *)(uintptr_t)fi->fh));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	fuse_reply_err(req, -fs_fsync((struct fs_file *)(uintptr_t)fi->fh));
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	fs_release((struct fs_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_dir *d;
	int rc = fs_opendir(fs_of(req), ino, &d);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi))
		fs_releasedir(d);
}

/* Offsets: 1 = ".", 2 = "..", 3 + i = entry i. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	size_t used = 0, n = fs_dir_count(d), len;
	char *buf = malloc(size);
	struct stat st;
	const char *name;
	uint64_t cino;
	mode_t type;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	for (; (size_t)off < n + 2; off++) {
		if (off == 0) {
			name = ".";
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else if (off == 1) {
			name = "..";
			st.st_ino = R2FS_UNKNOWN_INO;
			st.st_mode = S_IFDIR;
		} else {
			name = fs_dir_entry(d, (size_t)off - 2, &type, &cino);
			st.st_ino = cino ? cino : R2FS_UNKNOWN_INO;
			st.st_mode = type;
		}
		len = fuse_add_direntry(req, buf + used, size - used, name,
					&st, off + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/*
 * Like op_readdir, with each entry's attributes where fs.c knows them:
 * "ls -l" and rsync then need no lookup per entry.  Entries without
 * attributes go out with inode 0, which the kernel takes as "look it up".
 */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	struct fs *fs = fs_of(req);
	size_t used = 0, n = fs_dir_count(d), len, ncounted = 0, i;
	struct fuse_entry_param e;
	char *buf = malloc(size);
	/* inodes whose lookup was counted: given back if the reply fails */
	uint64_t *counted = calloc(size / 24 + 1, sizeof(*counted));
	const char *name;
	uint64_t cino;
	mode_t type;
	int rc;

	if (!buf || !counted) {
		free(buf);
		free(counted);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((size_t)off < n + 2) {
		/* roughly what fits: an entry takes 152 bytes and its name */
		size_t from = off < 2 ? 0 : (size_t)off - 2;

		fs_dir_will_need(d, from, size / 160 + 1);
	}
	for (; (size_t)off < n + 2; off++) {
		memset(&e, 0, sizeof(e));
		if (off == 0) {
			name = ".";
			e.attr.st_ino = ino;
			e.attr.st_mode = S_IFDIR;
		} else if (off == 1) {
			name = "..";
			e.attr.st_ino = R2FS_UNKNOWN_INO;
			e.attr.st_mode = S_IFDIR;
		} else {
			name = fs_dir_entry(d, (size_t)off - 2, &type, &cino);
			e.attr.st_ino = cino ? cino : R2FS_UNKNOWN_INO;
			e.attr.st_mode = type;
		}
		len = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
		if (len > size - used)
			break;
		if (off >= 2) {
			rc = fs_dir_entry_plus(d, (size_t)off - 2, &e.attr);
			if (rc < 0 && used == 0) {
				free(buf);
				free(counted);
				fuse_reply_err(req, -rc);
				return;
			}
			if (rc < 0)
				break;
			if (rc == 1) {
				e.ino = e.attr.st_ino;
				e.attr_timeout = fs_attr_ttl(fs, e.ino);
				e.entry_timeout = e.attr_timeout;
				counted[ncounted++] = e.ino;
			}
		}
		used += fuse_add_direntry_plus(req, buf + used, size - used,
					       name, &e, off + 1);
	}
	if (fuse_reply_buf(req, buf, used)) /* req is gone after a reply */
		for (i = 0; i < ncounted; i++) /* interrupted: not seen */
			fs_forget(fs, counted[i], 1);
	free(buf);
	free(counted);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_fsyncdir(fs_of(req), ino));
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	fs_releasedir((struct fs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc = fs_statfs(fs_of(req), &sv);

	(void)ino;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = fs_getxattr(fs_of(req), ino, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	fuse_reply_err(req, -fs_setxattr(fs_of(req), ino, name, value, size,
					 flags));
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = fs_listxattr(fs_of(req), ino, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -fs_removexattr(fs_of(req), ino, name));
}

/*
 * The thread that tells the kernel to drop things, never from a request
 * thread: a notification may wait for the kernel's inode lock, which a
 * request in flight can hold while it waits for us (libfuse's
 * fuse_lowlevel.h: notify_inval_* must not be called from a request
 * handler of that inode).  It asks, once a second, which idle inodes the
 * kernel should forget (fs_evict_candidates); and it drops the page cache
 * of files whose version changed in the bucket (another mount or client
 * wrote them), which the fs layer reports through fs_set_changed_hook
 * with its lock held: the hook only queues the inode and wakes us.
 */
struct fuse_ops_evictor {
	struct fuse_session *se;
	struct fs *fs;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* protected by lock */
	/* inodes whose pages to drop; protected by lock */
	uint64_t *changed;
	size_t nchanged, capchanged;
};

#define EVICT_BATCH 4096
/* queued page-cache drops beyond this are left to the next open (which
 * drops the pages anyway: keep_cache is off for a new version) */
#define CHANGED_MAX 65536

/* fs_changed_fn: called under the fs lock; only queues. */
static void evictor_changed(void *arg, uint64_t ino)
{
	struct fuse_ops_evictor *ev = arg;

	pthread_mutex_lock(&ev->lock);
	if (ev->nchanged == ev->capchanged &&
	    ev->capchanged < CHANGED_MAX) {
		size_t cap = ev->capchanged ? ev->capchanged * 2 : 64;
		uint64_t *n = realloc(ev->changed, cap * sizeof(*n));

		if (n) {
			ev->changed = n;
			ev->capchanged = cap;
		}
	}
	if (ev->nchanged < ev->capchanged)
		ev->changed[ev->nchanged++] = ino;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

/* Locked (ev->lock), which is dropped while the kernel is told. */
static void evictor_drop_pages(struct fuse_ops_evictor *ev)
{
	uint64_t *inos;
	size_t i, n;

	while (ev->nchanged) {
		inos = ev->changed;
		n = ev->nchanged;
		ev->changed = NULL;
		ev->nchanged = ev->capchanged = 0;
		pthread_mutex_unlock(&ev->lock);
		/* -ENOENT: the kernel holds no such inode (any more) */
		for (i = 0; i < n && !fuse_session_exited(ev->se); i++)
			fuse_lowlevel_notify_inval_inode(ev->se, inos[i], 0,
							 0);
		free(inos);
		pthread_mutex_lock(&ev->lock);
	}
}

static void *evictor_thread(void *arg)
{
	struct fuse_ops_evictor *ev = arg;
	struct fs_evict *batch = calloc(EVICT_BATCH, sizeof(*batch));
	struct timespec until;
	double next = 0; /* the next round of eviction (monotonic s) */
	size_t i, n;

	pthread_mutex_lock(&ev->lock);
	while (batch && !ev->stop) {
		if (!ev->nchanged) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&ev->cond, &ev->lock, &until);
		}
		if (ev->stop)
			break;
		evictor_drop_pages(ev);
		if (ev->stop || util_now_mono() < next)
			continue; /* woken early to drop pages */
		next = util_now_mono() + 1;
		pthread_mutex_unlock(&ev->lock);
		n = fs_evict_candidates(ev->fs, batch, EVICT_BATCH);
		for (i = 0; i < n; i++) {
			/* -ENOENT: the kernel had dropped it already; none
			 * once the session ends (nobody answers the requests
			 * the kernel may wait for) */
			if (!fuse_session_exited(ev->se))
				fuse_lowlevel_notify_inval_entry(
					ev->se, batch[i].parent, batch[i].name,
					strlen(batch[i].name));
			free(batch[i].name);
		}
		pthread_mutex_lock(&ev->lock);
	}
	pthread_mutex_unlock(&ev->lock);
	free(batch);
	return NULL;
}

struct fuse_ops_evictor *fuse_ops_evictor_start(struct fuse_session *se,
						struct fs *fs)
{
	struct fuse_ops_evictor *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->se = se;
	ev->fs = fs;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	if (pthread_create(&ev->thread, NULL, evictor_thread, ev)) {
		pthread_cond_destroy(&ev->cond);
		pthread_mutex_destroy(&ev->lock);
		free(ev);
		return NULL;
	}
	fs_set_changed_hook(fs, evictor_changed, ev);
	return ev;
}

void fuse_ops_evictor_stop(struct fuse_ops_evictor *ev)
{
	struct timespec until;

	if (!ev)
		return;
	/* from here on the fs layer no longer calls into ev */
	fs_set_changed_hook(ev->fs, NULL, NULL);
	pthread_mutex_lock(&ev->lock);
	ev->stop = true;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_timedjoin_np(ev->thread, NULL, &until)) {
		/* stuck in a notification the kernel cannot finish now that
		 * the session is over: leave it (and ev) to the exit */
		pthread_detach(ev->thread);
		return;
	}
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev->changed);
	free(ev);
}

const struct fuse_lowlevel_ops r2fs_fuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.symlink = op_symlink,
	.mknod = op_mknod,
	.readlink = op_readlink,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.setxattr = op_setxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
};
