/*
 * fs.c - POSIX semantics on objects: the filesystem's lifecycle, names and
 * keys, and what follows an upload.
 *
 * Names: a file is the object "PREFIX/path"; a directory is the marker
 * "PREFIX/path/" or any key below it (an implied directory).
 *
 * Attributes come from three places, cheapest first: an inode whose
 * attributes are still fresh (or which is staged locally: local state
 * wins), a fresh listing of the parent directory (one LIST serves every
 * lookup in it), and finally HEAD (file), HEAD of the marker and a
 * one-key LIST (directory).  Our own changes are written into the cached
 * listings, so a directory we just created costs no request to fill.
 *
 * fs_i.h maps the other files of this layer and states the locking.
 */
#include "fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "attrcache.h"
#include "conf.h"
#include "dirindex.h"
#include "inode.h"
#include "log.h"
#include "meta.h"
#include "readahead.h"
#include "readcache.h"
#include "stage.h"
#include "store.h"
#include "wbcache.h"
#include "xattr.h"
#include "journal.h"
#include "util.h"

/* fetch threads of the read-ahead pool (readahead.h) */
#define FS_RA_THREADS 8
/* the read cache's background fetches at once, and its default size:
 * a tenth of the cache disk's free space, at most 10 GiB */
#define FS_RC_THREADS 4
#define FS_RC_DEFAULT_MAX ((uint64_t)10 << 30)
#define FS_DIR_CACHE_DIRS 512
#define FS_ATTR_CACHE_MAX (128 * 1024)
/* parts of one multipart upload sent at once */
#define FS_PART_PARALLEL 4
/* metadata HEADs in flight: a cold `ls -l` of 10,000 files at a 20 ms
 * round trip took 7.6 s with 32, 5.6 s with 64, 4.5 s with 128 (RGW on
 * 2 cores; no change at 0 ms, where its CPU is the limit) */
#define FS_PREFETCH_THREADS 128

struct timespec now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* "PREFIX" + path + ("/" for a directory); the root's key is PREFIX. */
char *key_of(const struct fs *fs, const char *path, bool dir)
{
	const char *prefix = fs->conf->prefix ? fs->conf->prefix : "";
	size_t len = strlen(prefix) + strlen(path) + 2;
	char *k = malloc(len);

	if (!k)
		return NULL;
	snprintf(k, len, "%s%s%s", prefix, path, dir && path[0] ? "/" : "");
	return k;
}

char *child_path(const char *parent, const char *name)
{
	size_t len = strlen(parent) + strlen(name) + 2;
	char *p = malloc(len);

	if (!p)
		return NULL;
	snprintf(p, len, "%s%s%s", parent, parent[0] ? "/" : "", name);
	return p;
}

/* The directory part of a path ("" for top-level names), in buf. */
const char *parent_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= len)
		n = len - 1;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return buf;
}


/* Locked: is path a name unlinked while open (object not yet deleted)? */
bool is_doomed(const struct fs *fs, const char *path)
{
	size_t i;

	for (i = 0; i < fs->ndoomed; i++)
		if (!strcmp(fs->doomed[i], path))
			return true;
	return false;
}

void doom(struct fs *fs, const char *path, bool on)
{
	size_t i;
	char **d;

	for (i = 0; i < fs->ndoomed; i++) {
		if (strcmp(fs->doomed[i], path))
			continue;
		if (!on) {
			free(fs->doomed[i]);
			fs->doomed[i] = fs->doomed[--fs->ndoomed];
		}
		return;
	}
	if (!on)
		return;
	d = realloc(fs->doomed, (fs->ndoomed + 1) * sizeof(*d));
	if (!d)
		return;
	fs->doomed = d;
	d[fs->ndoomed] = strdup(path);
	if (d[fs->ndoomed])
		fs->ndoomed++;
}

const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const unsigned char *s)
{
	unsigned need;
	uint32_t c, min;

	while (*s) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			need = 1, c = *s & 0x1f, min = 0x80;
		} else if ((*s & 0xf0) == 0xe0) {
			need = 2, c = *s & 0x0f, min = 0x800;
		} else if ((*s & 0xf8) == 0xf0) {
			need = 3, c = *s & 0x07, min = 0x10000;
		} else {
			return false;
		}
		for (s++; need; need--, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			c = c << 6 | (*s & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
	}
	return true;
}

/* The bucket's index prefix, seen from a mount of the whole bucket: it
 * is r2fs's, not the user's, so it is not shown and cannot be made. */
bool is_index_name(const struct fs *fs, const char *dir,
			  const char *name)
{
	return !dir[0] && !(fs->conf->prefix && fs->conf->prefix[0]) &&
	       !strcmp(name, DIR_INDEX_PREFIX);
}

/*
 * Can name become part of a key?  Object keys are UTF-8 (S3 and R2 refuse
 * other bytes), at most FS_KEY_MAX long.
 */
int check_name(const struct fs *fs, const char *parent_path,
		      const char *name)
{
	size_t plen = strlen(fs->conf->prefix ? fs->conf->prefix : "");

	if (strlen(name) > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!utf8_valid((const unsigned char *)name))
		return -EILSEQ;
	if (is_index_name(fs, parent_path, name))
		return -EACCES; /* r2fs's own, in the bucket */
	/* +2: the separating '/' and a directory marker's trailing '/' */
	if (plen + strlen(parent_path) + strlen(name) + 2 > FS_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Fill st from in, with the staged size when there is one. Locked. */
void fill_attr(struct fs *fs, const struct inode *in, struct stat *st)
{
	const struct dir_listing *l;
	size_t i;

	*st = in->attr;
	st->st_ino = in->ino;
	if (in->stage) {
		st->st_size = (off_t)in->stage->size;
		st->st_blocks = (blkcnt_t)((in->stage->size + 511) / 512);
	}
	if (!S_ISDIR(in->attr.st_mode))
		return;
	/* ".", its entry in the parent, and each subdirectory's "..": as
	 * far as the last listing of it knows (else 2, as before) */
	l = dir_cache_find(fs->dirs, in->path, 0, 1e18);
	st->st_nlink = 2;
	for (i = 0; l && i < l->n; i++)
		st->st_nlink += l->e[i].type == S_IFDIR;
}

#define FS_RECENT_MAX 4096
#define FS_RECENT_KEEP 300.0 /* seconds: longer than any LIST takes */

/* Remember that path was just uploaded.  Locked. */
static void note_upload(struct fs *fs, const char *path)
{
	double now = util_now_mono();
	size_t drop = 0;
	struct recent_upload *r;

	while (drop < fs->nrecent &&
	       (fs->recent[drop].at + FS_RECENT_KEEP < now ||
		fs->nrecent - drop >= FS_RECENT_MAX))
		free(fs->recent[drop++].path);
	if (drop) {
		fs->nrecent -= drop;
		memmove(fs->recent, fs->recent + drop,
			fs->nrecent * sizeof(*fs->recent));
	}
	r = realloc(fs->recent, (fs->nrecent + 1) * sizeof(*r));
	if (!r)
		return;
	fs->recent = r;
	r[fs->nrecent].path = strdup(path);
	r[fs->nrecent].at = now;
	if (r[fs->nrecent].path)
		fs->nrecent++;
}

void touch_dir(struct fs *fs, struct inode *dir)
{
	(void)fs;
	dir->attr.st_mtim = now_real();
	dir->attr.st_ctim = dir->attr.st_mtim;
	dir->times_local = true;
}

/* ---- the journal's owner (wbcache.h) ---- */

bool local_changes(struct fs *fs, const struct inode *in)
{
	return in->stage || wb_file_state(fs->wb, in->wbf) != WB_CLEAN;
}

struct wb_file *journal_entry(struct fs *fs, struct inode *in)
{
	if (in->wbf)
		return in->wbf;
	in->wbf = wb_file_new(fs->wb, in, in->path);
	if (!in->wbf)
		return NULL;
	in->refs++; /* the entry's: in outlives the kernel's forget */
	wb_file_set_writers(fs->wb, in->wbf, in->writers);
	return in->wbf;
}

/* Locked: in's entry is no longer needed: in lets go of it. */
static void journal_let_go(struct fs *fs, struct inode *in, bool release)
{
	if (release)
		wb_file_release(fs->wb, in->wbf);
	in->wbf = NULL;
	in->refs--; /* the caller holds one more, or frees in after */
}

void journal_maybe_release(struct fs *fs, struct inode *in)
{
	if (!in->wbf || in->stage || !wb_file_settled(fs->wb, in->wbf) ||
	    wb_busy(fs->wb, in->wbf))
		return;
	in->refs++;
	journal_let_go(fs, in, true);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
}

void set_writers(struct fs *fs, struct inode *in, int delta)
{
	in->writers = (unsigned)((int)in->writers + delta);
	if (in->wbf)
		wb_file_set_writers(fs->wb, in->wbf, in->writers);
}

struct wb_file *quiet_begin(struct fs *fs, struct inode *in)
{
	struct wb_file *wf = in->wbf;

	if (!wf)
		return NULL;
	wb_hold(fs->wb, wf); /* no new upload; in keeps wf meanwhile */
	while (wb_busy(fs->wb, wf)) {
		pthread_mutex_unlock(&fs->lock);
		wb_wait_idle(fs->wb, wf);
		pthread_mutex_lock(&fs->lock);
	}
	return wf;
}

void quiet_end(struct fs *fs, struct wb_file *wf)
{
	if (wf)
		wb_unhold(fs->wb, wf);
}

void forget_upload(struct fs *fs, struct inode *in)
{
	struct wb_file *wf = quiet_begin(fs, in);

	if (wf) {
		wb_forget(fs->wb, wf);
		quiet_end(fs, wf);
	}
}

int commit_file(struct fs *fs, struct inode *in)
{
	struct stage *st;
	struct wb_file *wf;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	st = in->stage ? stage_get(in->stage) : NULL;
	wf = st && in->wbf ? wb_file_get(fs->wb, in->wbf) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (wf) {
		/* a file let go of meanwhile (uploaded, unlinked) is not
		 * described any more: nothing is written */
		pthread_rwlock_wrlock(&st->lock);
		rc = wb_commit(fs->wb, wf);
		pthread_rwlock_unlock(&st->lock);
		wb_file_put(fs->wb, wf);
	}
	stage_put(st);
	return rc;
}

int commit_meta_file(struct fs *fs, struct inode *in)
{
	struct wb_file *wf;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	wf = in->stage && in->wbf ? wb_file_get(fs->wb, in->wbf) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!wf)
		return 0;
	rc = wb_commit_meta(fs->wb, wf);
	wb_file_put(fs->wb, wf);
	return rc == -EAGAIN ? commit_file(fs, in) : rc;
}

int sync_file(struct fs *fs, struct inode *in)
{
	struct wb_file *wf;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	wf = in->wbf ? wb_file_get(fs->wb, in->wbf) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (wf) {
		rc = wb_sync(fs->wb, wf);
		wb_file_put(fs->wb, wf);
	}
	return rc;
}

/* describe (wbcache.h): what in is now, for a record or an upload. */
static int owner_describe(void *arg, void *owner, struct wb_desc *d)
{
	struct fs *fs = arg;
	struct inode *in = owner;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	d->gone = in->unlinked;
	d->attr = in->attr;
	d->size = in->stage ? in->stage->size : 0;
	d->path = strdup(in->path);
	/* not known: the upload keeps the object's (a file read from an
	 * object, or metadata alone) */
	if (in->xattrs_known || (in->stage && !in->etag[0]))
		d->xattrs = xattrs_encode(&in->xattrs);
	if (!d->path || (!d->xattrs && in->xattrs_known))
		rc = -ENOMEM;
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		wb_desc_release(d);
	return rc;
}

/* Locked: a descriptor of in's stage for the read cache, which stores
 * what was just uploaded from it without reading it back; -1 if none. */
static int stage_for_cache(struct fs *fs, struct inode *in)
{
	if (!fs->rc || !in->stage || in->writers || stage_partial(in->stage))
		return -1;
	return fcntl(in->stage->fd, F_DUPFD_CLOEXEC, 0);
}

/* Locked: after maybe_drop_stage: cache fd's bytes (stage_for_cache)
 * if the stage is gone (nobody can change them now). */
static void cache_uploaded(struct fs *fs, struct inode *in, const char *etag,
			   uint64_t size, int fd)
{
	char *key = NULL;

	if (fd < 0)
		return;
	if (!in->stage)
		key = key_of(fs, in->path, false);
	if (key)
		rcache_adopt(fs->rc, key, etag, size, fd);
	else
		close(fd);
	free(key);
}

/* Locked: our upload of in went up; its attributes and listings follow. */
static void on_uploaded(struct fs *fs, struct inode *in, const char *etag,
			uint64_t size, const char *conflict)
{
	struct attr_meta m;
	char dir[PATH_MAX];
	int fd;

	if (conflict) {
		/* ours is saved as conflict; path shows the other version:
		 * the next listing and getattr ask the bucket */
		attr_cache_forget(fs->ac, in->path);
		dir_cache_drop(fs->dirs, parent_of(in->path, dir,
						   sizeof(dir)));
		in->has_meta = false;
		in->attr_expires = 0;
		maybe_drop_stage(fs, in);
		return;
	}
	in->attr.st_size = (off_t)size;
	in->attr.st_blocks = (blkcnt_t)((size + 511) / 512);
	in->has_meta = true;
	in->attr_expires = util_now_mono() + fs->conf->stat_timeout;
	note_upload(fs, in->path);
	dir_cache_upsert(fs->dirs, parent_of(in->path, dir, sizeof(dir)),
			 base_of(in->path), S_IFREG, size,
			 in->attr.st_mtim.tv_sec, NULL);
	fd = stage_for_cache(fs, in);
	maybe_drop_stage(fs, in);
	cache_uploaded(fs, in, etag, size, fd);
	/* what we uploaded is what a HEAD would tell: a listing that
	 * shows this ETag (cp -r or rsync listing the tree they write
	 * into, ls -l after it) needs no HEAD for it */
	attr_cache_forget(fs->ac, in->path);
	memset(&m, 0, sizeof(m));
	m.st = in->attr;
	m.st.st_ino = 0;
	/* the bucket keeps mtime and ctime, not atime: as
	 * meta_attr_from_object */
	m.st.st_atim = m.st.st_mtim;
	snprintf(m.etag, sizeof(m.etag), "%s", etag ? etag : "");
	if (m.etag[0])
		attr_cache_fill(fs->ac, in->path, S_IFREG, &m, util_now_mono());
}

/* uploaded (wbcache.h): the journal uploaded in. */
static bool owner_uploaded(void *arg, void *owner, struct wb_file *wf,
			   const struct wb_uploaded *u)
{
	struct fs *fs = arg;
	struct inode *in = owner;
	enum wb_state state;
	bool let_go = false;

	pthread_mutex_lock(&fs->lock);
	in->refs++; /* while we look at it */
	state = wb_file_finish(fs->wb, wf);
	if (u->xattrs && !in->xattrs_known) {
		struct xattrs x = { 0 };

		if (!xattrs_decode(u->xattrs, &x)) {
			xattrs_release(&in->xattrs);
			in->xattrs = x;
			in->xattrs_known = true;
		}
	}
	if (u->data) {
		snprintf(in->etag, sizeof(in->etag), "%s", u->etag);
		if (state == WB_CLEAN)
			on_uploaded(fs, in, u->etag, u->size, u->conflict);
	}
	/* nothing left for the entry: the journal drops it for us */
	if (in->wbf && !in->stage && wb_file_settled(fs->wb, in->wbf)) {
		journal_let_go(fs, in, false);
		let_go = true;
	}
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
	return let_go;
}

/* adopt (wbcache.h): a file an earlier run closed, at replay. */
static int owner_adopt(void *arg, struct wb_file *wf, const struct wb_desc *d,
		       struct stage *st)
{
	struct fs *fs = arg;
	struct xattrs x = { 0 };
	struct inode *in;
	int rc;

	rc = d->xattrs && d->xattrs[0] ? xattrs_decode(d->xattrs, &x) : 0;
	if (rc) {
		stage_put(st);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	pthread_mutex_lock(&fs->lock);
	in = inode_find_path(fs->inodes, d->path);
	if (!in)
		in = inode_get_path(fs->inodes, d->path, S_IFREG);
	if (!in || in->wbf || in->stage) {
		/* the journal gives one record per path */
		pthread_mutex_unlock(&fs->lock);
		xattrs_release(&x);
		stage_put(st);
		return in ? -EINVAL : -ENOMEM;
	}
	in->stage = st;
	in->attr.st_mode = d->attr.st_mode;
	in->attr.st_uid = d->attr.st_uid;
	in->attr.st_gid = d->attr.st_gid;
	in->attr.st_mtim = d->attr.st_mtim;
	in->attr.st_ctim = d->attr.st_mtim;
	in->attr.st_atim = d->attr.st_mtim;
	in->attr.st_nlink = 1;
	in->attr.st_blksize = 4096;
	in->attr.st_ino = in->ino;
	in->has_meta = true;
	xattrs_release(&in->xattrs);
	in->xattrs = x;
	in->xattrs_known = true;
	in->wbf = wf;
	in->refs++; /* the entry's */
	wb_file_set_owner(fs->wb, wf, in);
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static const struct wb_owner_ops owner_ops = {
	.describe = owner_describe,
	.uploaded = owner_uploaded,
	.adopt = owner_adopt,
};

/* attrcache's guard: has path changes of ours not in the bucket yet? */
static bool changed_locally(void *arg, const char *path)
{
	struct fs *fs = arg;
	struct inode *in = inode_find_path(fs->inodes, path);

	return in && local_changes(fs, in);
}

/* What the saved metadata depends on besides the objects: the defaults
 * baked into the attributes of objects without metadata. */
static void meta_tag(const struct fs *fs, char *buf, size_t len)
{
	snprintf(buf, len, "uid=%u gid=%u umask=%o",
		 (unsigned)fs->defaults.uid, (unsigned)fs->defaults.gid,
		 (unsigned)fs->defaults.umask);
}

/* Where the attribute cache is kept between mounts; malloc'd. */
static char *meta_file(struct fs *fs)
{
	const char *dir = journal_dir(wb_journal(fs->wb));
	size_t n = strlen(dir) + sizeof("/metadata");
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/metadata", dir);
	return p;
}

/*
 * The read cache, in CACHE_DIR/journal-HASH/rcache (the journal's lock
 * keeps a second mount out of it too).  A cache that cannot be opened is
 * logged and left out: reads work without it.  -o read_cache_size=0
 * empties what an earlier mount left.
 */
static void open_read_cache(struct fs *fs)
{
	const char *jdir = journal_dir(wb_journal(fs->wb));
	struct rcache_opts o = { 0 };
	size_t n = strlen(jdir) + sizeof("/rcache");
	char *dir = malloc(n);
	struct statvfs sv;
	int rc;

	if (!dir)
		return;
	snprintf(dir, n, "%s/rcache", jdir);
	o.dir = dir;
	o.min_free = journal_min_free(wb_journal(fs->wb));
	o.threads = FS_RC_THREADS;
	if (fs->conf->read_cache_size_mb != CONF_UNSET) {
		o.limit = (uint64_t)fs->conf->read_cache_size_mb << 20;
	} else if (statvfs(jdir, &sv) == 0) {
		o.limit = (uint64_t)sv.f_bavail * sv.f_frsize / 10;
		if (o.limit > FS_RC_DEFAULT_MAX)
			o.limit = FS_RC_DEFAULT_MAX;
	}
	rc = rcache_new(&o, fs->store, &fs->rc);
	if (rc)
		log_warn("read cache %s: %s; reading without it", dir,
			 strerror(-rc));
	if (!rc && !o.limit) {
		rcache_free(fs->rc); /* emptied by the limit of 0 */
		fs->rc = NULL;
	}
	free(dir);
}

/*
 * wb_opts.make_room: the journal would refuse a write for a full disk.
 * The read cache may be storing files just uploaded (rcache_adopt holds
 * their staging files open, so their space is not free yet): let it
 * finish, then make it give space back.
 */
static void disk_full(void *arg, uint64_t bytes)
{
	struct fs *fs = arg;

	rcache_give_back(fs->rc, bytes);
}

int fs_new(const struct r2fs_conf *conf, struct store *store,
	   struct fs **out, char *err, size_t errlen)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	char *meta, tag[64];
	struct wb_opts wo;
	struct inode *root;
	int rc = -ENOMEM;

	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->listed, NULL);
	fs->conf = conf;
	fs->store = store;
	fs->defaults.uid = conf->uid != CONF_UNSET ? conf->uid : getuid();
	fs->defaults.gid = conf->gid != CONF_UNSET ? conf->gid : getgid();
	fs->defaults.umask = conf->umask;
	fs->inodes = inode_table_new();
	fs->dirs = dir_cache_new(FS_DIR_CACHE_DIRS);
	fs->ac = attr_cache_new(&fs->lock, FS_ATTR_CACHE_MAX, fetch_meta, fs);
	if (!fs->inodes || !fs->dirs || !fs->ac) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	root = inode_find(fs->inodes, INODE_ROOT);
	meta_attr_default(&fs->defaults, S_IFDIR, 0, now_real().tv_sec,
			  &root->attr);
	root->attr.st_ino = INODE_ROOT;
	root->has_meta = true;
	wo = (struct wb_opts){
		.cache_dir = conf->cache_dir,
		.endpoint = conf->endpoint,
		.bucket = conf->bucket,
		.prefix = conf->prefix ? conf->prefix : "",
		.delay = conf->writeback_delay,
		.workers = conf->upload_workers,
		.multipart_threshold = (uint64_t)conf->multipart_threshold_mb
				       << 20,
		.part_parallel = FS_PART_PARALLEL,
		.min_free = (uint64_t)conf->cache_min_free_mb << 20,
		.make_room = disk_full,
		.make_room_arg = fs,
	};
	rc = wb_new(&wo, store, &owner_ops, fs, err, errlen, &fs->wb);
	if (rc)
		goto fail;
	attr_cache_set_guard(fs->ac, changed_locally, fs);
	meta_tag(fs, tag, sizeof(tag));
	meta = meta_file(fs);
	if (meta && attr_cache_load(fs->ac, meta, tag))
		log_warn("%s could not be read; metadata is fetched afresh",
			 meta);
	free(meta);
	rc = wb_replay(fs->wb);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the journal in %s: %s%s",
			 conf->cache_dir, strerror(-rc),
			 rc == -EMFILE ? " (each file waiting for upload "
			 "needs one; raise the limit, ulimit -n)" : "");
		goto fail;
	}
	rc = 0;
	journal_intent_replay(wb_journal(fs->wb), move_keys, fs);
	open_read_cache(fs);
	*out = fs;
	return 0;
fail:
	fs_free(fs);
	return rc;
}

int fs_start(struct fs *fs)
{
	/* threads only now: r2fs may have forked into the background */
	fs->ra = ra_pool_new(fs->store, FS_RA_THREADS,
			     (uint64_t)fs->conf->readahead_max_mb << 20);
	if (!fs->ra)
		return -ENOMEM;
	if (fs->rc) {
		if (rcache_start(fs->rc))
			return -ENOMEM;
		ra_pool_set_cache(fs->ra, fs->rc);
	}
	if (attr_cache_start(fs->ac, FS_PREFETCH_THREADS))
		return -ENOMEM;
	return wb_start(fs->wb);
}

void fs_shutdown(struct fs *fs)
{
	char *meta, tag[64];

	attr_cache_stop(fs->ac);
	wb_shutdown(fs->wb);
	meta_tag(fs, tag, sizeof(tag));
	/* metadata HEADed this time spares HEADs next time (after the
	 * uploads: what they replaced is forgotten by then) */
	meta = meta_file(fs);
	if (meta && attr_cache_save(fs->ac, meta, tag))
		log_warn("cannot save metadata in %s", meta);
	free(meta);
	if (fs->store->ops->stats) {
		struct store_stats n;

		fs->store->ops->stats(fs->store, &n);
		log_info("requests: %llu class A, %llu class B (%llu retries, "
			 "%llu throttled); %llu bytes up, %llu down; "
			 "about US$%.6f", (unsigned long long)n.class_a,
			 (unsigned long long)n.class_b,
			 (unsigned long long)n.retries,
			 (unsigned long long)n.throttled,
			 (unsigned long long)n.bytes_up,
			 (unsigned long long)n.bytes_down,
			 store_stats_cost(&n));
	}
}

/* inode_for_each: unmounted, every inode goes; so do their entries. */
static void let_go_at_exit(void *arg, struct inode *in)
{
	struct fs *fs = arg;

	if (in->wbf)
		journal_let_go(fs, in, true);
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	fs_dirs_free(fs);
	fs_files_free(fs);
	/* stages still pending keep their files for the next mount */
	if (fs->inodes && fs->wb)
		inode_for_each(fs->inodes, let_go_at_exit, fs);
	inode_table_free(fs->inodes);
	ra_pool_free(fs->ra); /* every handle is closed by now */
	wb_free(fs->wb);
	rcache_free(fs->rc); /* stores what the last uploads sent first */
	dir_cache_free(fs->dirs);
	attr_cache_free(fs->ac);
	while (fs->ndoomed)
		free(fs->doomed[--fs->ndoomed]);
	free(fs->doomed);
	while (fs->nrecent)
		free(fs->recent[--fs->nrecent].path);
	free(fs->recent);
	pthread_cond_destroy(&fs->listed);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

const char *fs_journal_dir(const struct fs *fs)
{
	return journal_dir(wb_journal(fs->wb));
}

unsigned fs_connections_wanted(const struct r2fs_conf *conf)
{
	unsigned n = FS_PREFETCH_THREADS + FS_RA_THREADS + FS_RC_THREADS +
		     conf->upload_workers * FS_PART_PARALLEL + 16;

	return n > 256 ? 256 : n;
}

double fs_attr_timeout(const struct fs *fs)
{
	return fs->conf->stat_timeout;
}

double listed_ttl(const struct fs *fs)
{
	return fs->conf->stat_timeout < fs->conf->dir_timeout
		       ? fs->conf->stat_timeout
		       : fs->conf->dir_timeout;
}

void fs_set_changed_hook(struct fs *fs, fs_changed_fn fn, void *arg)
{
	pthread_mutex_lock(&fs->lock);
	fs->changed = fn;
	fs->changed_arg = arg;
	pthread_mutex_unlock(&fs->lock);
}


/* The inode numbered ino with a reference held (not locked), or NULL. */
struct inode *hold_ino(struct fs *fs, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->lock);
	return in;
}

/* Give back hold_ino's reference (not locked). */
void drop_ino(struct fs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->lock);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
}
