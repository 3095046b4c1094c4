/*
 * fs.c - POSIX semantics on objects.
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
 * Locking: fs->lock protects the inode table, the dir cache and inode
 * fields; it is dropped around every store call.  After re-taking it,
 * code re-checks what it relies on (the inode may have been staged or
 * renamed meanwhile).  Order: an inode's stage_lock, then fs->lock; never
 * the other way round.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "attrcache.h"
#include "conf.h"
#include "dirindex.h"
#include "inode.h"
#include "listranges.h"
#include "log.h"
#include "meta.h"
#include "mime.h"
#include "readahead.h"
#include "stage.h"
#include "store.h"
#include "wbcache.h"

#define FS_NAME_MAX 255
#define FS_KEY_MAX 1024
/* fetch threads of the read-ahead pool (readahead.h) */
#define FS_RA_THREADS 8
#define FS_LIST_PAGE 1000
/* directories one subtree listing may fill in the dir cache */
#define FS_SUBTREE_DIRS 128
#define FS_DIR_CACHE_DIRS 512
#define FS_ATTR_CACHE_MAX (128 * 1024)
/* parts of one multipart upload sent at once */
#define FS_PART_PARALLEL 4
/* metadata HEADs in flight: a cold `ls -l` of 10,000 files at a 20 ms
 * round trip took 7.6 s with 32, 5.6 s with 64, 4.5 s with 128 (RGW on
 * 2 cores; no change at 0 ms, where its CPU is the limit) */
#define FS_PREFETCH_THREADS 128
/* entries of a listing prefetched while it is listed; the rest once
 * someone asks for metadata there (fs_dir_will_need, prefetch_after) */
#define FS_PREFETCH_EAGER 1000
/* entries queued ahead of a reader of a listing: enough to keep the
 * prefetch threads busy, few enough to fit in the attribute cache */
#define FS_PREFETCH_AHEAD 4096
/* lookups in one directory, within FS_LOOKUP_WINDOW seconds and with no
 * listing cached, after which it is listed (rsync, tar -x, git checkout
 * stat many names in a directory they never read) ... */
#define FS_LIST_AFTER_LOOKUPS 2
#define FS_LOOKUP_WINDOW 2.0
/* ... at most once in this many seconds */
#define FS_RELIST_FOR_LOOKUPS 30.0
/* directories with this many files get an index of their metadata in
 * the bucket (dirindex.h): below, their HEADs take a blink */
#define FS_INDEX_MIN 256
/* an index is written again when it lacks this many of the entries */
#define FS_INDEX_STALE 64
/* a big directory with an index: the rest of its listing is asked for in
 * ranges of this many names (a page takes one with room for what is new)
 * ... */
#define FS_LIST_RANGE_NAMES 900
/* ... this many at a time */
#define FS_LIST_RANGE_THREADS 8

struct fs {
	pthread_mutex_t lock;
	struct inode_table *inodes; /* protected by lock */
	struct dir_cache *dirs;     /* protected by lock */
	struct store *store;
	const struct r2fs_conf *conf;
	struct meta_defaults defaults;
	struct wb *wb; /* the write-back journal; shares lock */
	struct ra_pool *ra; /* read-ahead threads, from fs_start on */
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
};

struct fs_file {
	struct fs *fs;
	struct inode *in; /* holds a ref */
	bool writer;
	bool keep_cache; /* the kernel's cached pages are this version's */
	char etag[128]; /* as seen at open: reads must match it */
	/* reads from the bucket, made at the first one; under ra_lock */
	pthread_mutex_t ra_lock;
	struct ra_stream *ra;
	char *ra_key;               /* the key ra reads */
	struct ra_stream **retired; /* earlier keys' (a rename): other */
	size_t nretired;            /* threads may still read them */
};

struct fs_dir {
	struct fs *fs;
	struct dir_listing *l;
	uint64_t *inos; /* known inode numbers, 0 if none */
	size_t queued_upto; /* entries before it were queued for prefetching
			       (beyond the first batches); under lock */
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* "PREFIX" + path + ("/" for a directory); the root's key is PREFIX. */
static char *key_of(const struct fs *fs, const char *path, bool dir)
{
	const char *prefix = fs->conf->prefix ? fs->conf->prefix : "";
	size_t len = strlen(prefix) + strlen(path) + 2;
	char *k = malloc(len);

	if (!k)
		return NULL;
	snprintf(k, len, "%s%s%s", prefix, path, dir && path[0] ? "/" : "");
	return k;
}

static char *child_path(const char *parent, const char *name)
{
	size_t len = strlen(parent) + strlen(name) + 2;
	char *p = malloc(len);

	if (!p)
		return NULL;
	snprintf(p, len, "%s%s%s", parent, parent[0] ? "/" : "", name);
	return p;
}

/* The directory part of a path ("" for top-level names), in buf. */
static const char *parent_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= len)
		n = len - 1;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return buf;
}

static void maybe_drop_stage(struct inode *in);

/* Locked: is path a name unlinked while open (object not yet deleted)? */
static bool is_doomed(const struct fs *fs, const char *path)
{
	size_t i;

	for (i = 0; i < fs->ndoomed; i++)
		if (!strcmp(fs->doomed[i], path))
			return true;
	return false;
}

static void doom(struct fs *fs, const char *path, bool on)
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
static int move_keys(void *arg, const char *from, const char *to);
static int fetch_meta(void *arg, const char *path, mode_t type,
		      time_t listed_mtime, struct attr_meta *m);
struct list_seed;
static int fetch_listing(struct fs *fs, const char *path,
			 unsigned max_pages, struct list_seed *seed,
			 struct dir_listing **out);
static int fetch_listing_walk(struct fs *fs, uint64_t ino, const char *path,
			      unsigned max_pages, struct dir_listing **out);

/* dst = a + b; dst has room for both and the NUL. */
static void sprintf_path(char *dst, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	memcpy(dst, a, la);
	memcpy(dst + la, b, lb + 1);
}

static const char *base_of(const char *path)
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
static bool is_index_name(const struct fs *fs, const char *dir,
			  const char *name)
{
	return !dir[0] && !(fs->conf->prefix && fs->conf->prefix[0]) &&
	       !strcmp(name, DIR_INDEX_PREFIX);
}

/*
 * Can name become part of a key?  Object keys are UTF-8 (S3 and R2 refuse
 * other bytes), at most FS_KEY_MAX long.
 */
static int check_name(const struct fs *fs, const char *parent_path,
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
static void fill_attr(const struct inode *in, struct stat *st)
{
	*st = in->attr;
	st->st_ino = in->ino;
	if (in->stage) {
		st->st_size = (off_t)in->stage->size;
		st->st_blocks = (blkcnt_t)((in->stage->size + 511) / 512);
	}
}

#define FS_RECENT_MAX 4096
#define FS_RECENT_KEEP 300.0 /* seconds: longer than any LIST takes */

/* Remember that path was just uploaded.  Locked. */
static void note_upload(struct fs *fs, const char *path)
{
	double now = now_mono();
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

/* The journal uploaded in: its attributes and listings follow.  Locked. */
static void on_uploaded(void *arg, struct inode *in, const char *etag,
			uint64_t size, const char *conflict)
{
	struct fs *fs = arg;
	struct attr_meta m;
	char dir[PATH_MAX];

	if (conflict) {
		/* ours is saved as conflict; path shows the other version:
		 * the next listing and getattr ask the bucket */
		attr_cache_forget(fs->ac, in->path);
		dir_cache_drop(fs->dirs, parent_of(in->path, dir,
						   sizeof(dir)));
		in->has_meta = false;
		in->attr_expires = 0;
		maybe_drop_stage(in);
		return;
	}
	in->attr.st_size = (off_t)size;
	in->attr.st_blocks = (blkcnt_t)((size + 511) / 512);
	in->has_meta = true;
	in->attr_expires = now_mono() + fs->conf->stat_timeout;
	note_upload(fs, in->path);
	dir_cache_upsert(fs->dirs, parent_of(in->path, dir, sizeof(dir)),
			 base_of(in->path), S_IFREG, size,
			 in->attr.st_mtim.tv_sec, NULL);
	maybe_drop_stage(in);
	/* what we uploaded is what a HEAD would tell: a listing that
	 * shows this ETag (cp -r or rsync listing the tree they write
	 * into, ls -l after it) needs no HEAD for it */
	attr_cache_forget(fs->ac, in->path);
	memset(&m, 0, sizeof(m));
	m.st = in->attr;
	m.st.st_ino = 0;
	/* the bucket keeps mtime only: as meta_attr_from_object */
	m.st.st_ctim = m.st.st_atim = m.st.st_mtim;
	snprintf(m.etag, sizeof(m.etag), "%s", etag ? etag : "");
	if (m.etag[0])
		attr_cache_fill(fs->ac, in->path, S_IFREG, &m, now_mono());
}

/* attrcache's guard: has path changes of ours not in the bucket yet? */
static bool changed_locally(void *arg, const char *path)
{
	struct fs *fs = arg;
	struct inode *in = inode_find_path(fs->inodes, path);

	return in && (in->stage || in->wb_state != WB_CLEAN ||
		      in->meta_dirty);
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
	const char *dir = wb_dir(fs->wb);
	size_t n = strlen(dir) + sizeof("/metadata");
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/metadata", dir);
	return p;
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
	};
	rc = wb_new(&wo, store, &fs->lock, fs->inodes, on_uploaded, fs, err,
		    errlen, &fs->wb);
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
	wb_intent_replay(fs->wb, move_keys, fs);
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

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	/* stages still pending keep their files for the next mount */
	inode_table_free(fs->inodes);
	ra_pool_free(fs->ra); /* every handle is closed by now */
	wb_free(fs->wb);
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

unsigned fs_connections_wanted(const struct r2fs_conf *conf)
{
	unsigned n = FS_PREFETCH_THREADS + FS_RA_THREADS +
		     conf->upload_workers * FS_PART_PARALLEL + 16;

	return n > 256 ? 256 : n;
}

double fs_attr_timeout(const struct fs *fs)
{
	return fs->conf->stat_timeout;
}

/* ---- finding out what a name is ---- */

struct probe_result {
	mode_t type;
	struct stat st;
	bool has_meta;
	char etag[128];
};

/*
 * Ask the store what path is: HEAD the file, HEAD the directory marker,
 * then look for any key below it.  No lock held.
 */
static int probe_path(struct fs *fs, const char *path, struct probe_result *r)
{
	struct attr_meta m = { 0 };
	struct store_object obj = { 0 };
	struct store_list l = { 0 };
	char *key = NULL, *dkey = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	key = key_of(fs, path, false);
	dkey = key_of(fs, path, true);
	if (!key || !dkey) {
		rc = -ENOMEM;
		goto out;
	}
	rc = fs->store->ops->head(fs->store, key, &obj);
	if (rc == 0) {
		m.present = meta_attr_from_object(&fs->defaults, &obj,
						  S_IFREG, &r->st);
		r->has_meta = (m.present & META_HAS_OWN) != 0;
		r->type = r->st.st_mode & S_IFMT;
		snprintf(r->etag, sizeof(r->etag), "%s", obj.etag);
		m.st = r->st;
		snprintf(m.etag, sizeof(m.etag), "%s", obj.etag);
		m.lastmod = obj.last_modified;
		m.checked = obj.date;
		pthread_mutex_lock(&fs->lock);
		attr_cache_fill(fs->ac, path, S_IFREG, &m, now_mono());
		pthread_mutex_unlock(&fs->lock);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = fs->store->ops->head(fs->store, dkey, &obj);
	if (rc == 0) {
		r->type = S_IFDIR;
		r->has_meta = (meta_attr_from_object(&fs->defaults, &obj,
						     S_IFDIR, &r->st) &
			       META_HAS_OWN) != 0;
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = fs->store->ops->list(fs->store, dkey, NULL, NULL, 1, &l);
	if (rc)
		goto out;
	if (l.nentries == 0 && l.nprefixes == 0) {
		rc = -ENOENT;
		goto out;
	}
	r->type = S_IFDIR;
	meta_attr_default(&fs->defaults, S_IFDIR, 0,
			  l.nentries ? l.entries[0].mtime : now_real().tv_sec,
			  &r->st);
out:
	store_list_release(&l);
	store_object_release(&obj);
	free(key);
	free(dkey);
	return rc;
}

/* attr_fetch_fn (attrcache.h): HEAD of a file or a directory marker. */
static int fetch_meta(void *arg, const char *path, mode_t type,
		      time_t listed_mtime, struct attr_meta *m)
{
	struct fs *fs = arg;
	struct store_object obj = { 0 };
	bool dir = S_ISDIR(type);
	char *key = key_of(fs, path, dir);
	int rc = key ? fs->store->ops->head(fs->store, key, &obj) : -ENOMEM;

	if (rc == 0) {
		m->present = meta_attr_from_object(&fs->defaults, &obj,
						   dir ? S_IFDIR : S_IFREG,
						   &m->st);
		if (!dir) {
			snprintf(m->etag, sizeof(m->etag), "%s", obj.etag);
			m->lastmod = obj.last_modified;
			m->checked = obj.date;
		}
	} else if (rc == -ENOENT && dir) {
		/* implied by deeper keys: no marker, no metadata */
		meta_attr_default(&fs->defaults, S_IFDIR, 0, listed_mtime,
				  &m->st);
		rc = 0;
	}
	store_object_release(&obj);
	free(key);
	return rc;
}

/*
 * Attributes of an entry a listing showed: a file's metadata from the
 * attribute cache while (ETag, Last-Modified) still match, a directory's
 * marker metadata for stat_timeout; else fetched (or waited for: one
 * fetch per path).  Locked; the lock is dropped while the store is asked.
 * -ENOENT if the object vanished meanwhile.  *fetched: this call had to
 * fetch it (nothing was prefetching it).
 */
static int listed_attr(struct fs *fs, const char *path,
		       const struct dir_entry *e, struct attr_meta *m,
		       bool *fetched)
{
	struct attr_want w = {
		.path = path,
		.type = e->type,
		/* no ETag listed (some servers): trusted for ttl instead */
		.etag = e->type == S_IFREG && e->etag && e->etag[0] ? e->etag
								  : NULL,
		.lastmod = e->mtime,
		.ttl = fs->conf->stat_timeout,
	};
	int rc = attr_cache_get(fs->ac, &w, m, fetched);

	if (rc == 0 && e->type == S_IFREG) {
		/* the listing's size is as fresh as the metadata */
		m->st.st_size = (off_t)e->size;
		m->st.st_blocks = (blkcnt_t)((e->size + 511) / 512);
	}
	return rc;
}

/* Put probed or listed attributes into in, unless local state rules. */
static void set_remote_attr(struct fs *fs, struct inode *in,
			    const struct stat *st, bool has_meta,
			    const char *etag, double expires)
{
	if (in->stage || in->wb_state != WB_CLEAN)
		return;
	if (!has_meta && in->has_meta &&
	    (in->attr.st_mode & S_IFMT) == (st->st_mode & S_IFMT)) {
		/* A listing knows no metadata: keep what HEAD told us. */
		in->attr.st_size = st->st_size;
		in->attr.st_blocks = st->st_blocks;
	} else {
		in->attr = *st;
		in->has_meta = has_meta;
	}
	if (etag && strcmp(etag, in->etag))
		in->xattrs_known = false; /* another version: reload */
	in->attr.st_ino = in->ino;
	if (etag)
		snprintf(in->etag, sizeof(in->etag), "%s", etag);
	in->attr_expires = expires;
}

/*
 * Locked.  A lookup in dir had to fetch name's metadata itself: nothing was
 * queued ahead of it (past the entries prefetched at listing time, or a
 * directory larger than the prefetch queue).  Queue the entries after
 * it, as readers go on in listing order.
 */
static void prefetch_after(struct fs *fs, const char *dir, const char *name)
{
	const struct dir_listing *l;
	const struct dir_entry *e;
	size_t i, n;

	if (attr_cache_queued(fs->ac) > 0)
		return; /* it is busy with what a listing queued */
	l = dir_cache_find(fs->dirs, dir, now_mono(), fs->conf->dir_timeout);
	e = l ? dir_listing_find(l, name) : NULL;
	if (!e)
		return;
	i = (size_t)(e - l->e) + 1;
	n = l->n - i < FS_PREFETCH_AHEAD ? l->n - i : FS_PREFETCH_AHEAD;
	attr_cache_prefetch(fs->ac, dir, &l->e[i], n, fs->conf->stat_timeout,
			    false);
}

/*
 * Locked.  A lookup in directory p found no fresh listing: is it time to
 * list p?  A listing that expired and took one page is simply fetched
 * again: one request answers every name, where a probe of a name that is
 * not there costs three (HEAD, HEAD of the marker, LIST).  Otherwise after
 * a second such lookup in a row, not more often than every
 * FS_RELIST_FOR_LOOKUPS seconds (a directory bigger than the one page a
 * lookup lists is probed name by name meanwhile).
 */
static bool list_for_lookups(struct fs *fs, struct inode *p, double now)
{
	const struct dir_listing *old = dir_cache_find(fs->dirs, p->path, now,
						       1e18);

	if (old && old->n < FS_LIST_PAGE)
		return true;
	if (now - p->lookup_since > FS_LOOKUP_WINDOW) {
		p->lookup_since = now;
		p->lookup_misses = 0;
	}
	if (++p->lookup_misses < FS_LIST_AFTER_LOOKUPS)
		return false;
	if (p->listed_for_lookups > 0 &&
	    now - p->listed_for_lookups < FS_RELIST_FOR_LOOKUPS)
		return false;
	p->listed_for_lookups = now;
	p->lookup_misses = 0;
	return true;
}

/*
 * Locked.  path's metadata as a HEAD showed it less than stat_timeout
 * ago (a file first, as lookups find files first); false if none.
 */
static bool attr_known(struct fs *fs, const char *path, struct attr_meta *m)
{
	struct attr_want w = { path, S_IFREG, NULL, 0,
			       fs->conf->stat_timeout };

	if (attr_cache_peek(fs->ac, &w, m))
		return true;
	w.type = S_IFDIR;
	return attr_cache_peek(fs->ac, &w, m);
}

/*
 * The inode for path with the given type; a cached inode of another type
 * (the name was replaced by another client) is detached first.  Locked.
 */
static struct inode *inode_for(struct fs *fs, const char *path, mode_t type)
{
	struct inode *in = inode_find_path(fs->inodes, path);

	if (in && (in->attr.st_mode & S_IFMT) != type && !in->stage) {
		inode_unhash_path(fs->inodes, in);
		in->unlinked = false; /* gone by another hand, not ours */
		in = NULL;
	}
	if (!in) {
		in = inode_get_path(fs->inodes, path, type);
		if (in)
			in->attr.st_mode = type;
	}
	return in;
}

int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st)
{
	const struct dir_listing *l;
	const struct dir_entry *e;
	struct probe_result pr;
	struct attr_meta m;
	struct inode *p, *in;
	char *path = NULL;
	double now = now_mono();
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	fs->lookups++;
	p = inode_find(fs->inodes, parent);
	if (!p) {
		rc = -ESTALE;
		goto out;
	}
	if (!S_ISDIR(p->attr.st_mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	rc = check_name(fs, p->path, name);
	if (rc == -EILSEQ || rc == -EACCES)
		rc = -ENOENT; /* no key can have this name; or r2fs's own */
	if (rc)
		goto out;
	path = child_path(p->path, name);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	in = inode_find_path(fs->inodes, path);
	if (in && (in->stage || in->wb_state != WB_CLEAN ||
		   in->attr_expires > now))
		goto found;
	if (is_doomed(fs, path)) {
		rc = -ENOENT;
		goto out;
	}
	if (wb_dir_has_pending(fs->wb, path)) {
		/* holds files not uploaded yet: a directory for us */
		in = inode_for(fs, path, S_IFDIR);
		if (!in) {
			rc = -ENOMEM;
			goto out;
		}
		if (!in->has_meta)
			meta_attr_default(&fs->defaults, S_IFDIR, 0,
					  now_real().tv_sec, &in->attr);
		in->attr.st_ino = in->ino;
		goto found;
	}
	l = dir_cache_find(fs->dirs, p->path, now, fs->conf->dir_timeout);
	if (!l && (p->listing_for_lookups || list_for_lookups(fs, p, now))) {
		/* one LIST per 1,000 names answers this lookup and the next
		 * ones, whose metadata is prefetched in parallel; lookups
		 * meanwhile wait for it rather than list again */
		char *ppath = strdup(p->path);

		p->refs++;
		if (!p->listing_for_lookups && ppath) {
			p->listing_for_lookups = true;
			pthread_mutex_unlock(&fs->lock);
			/* one page at most: a lookup never waits for a big
			 * directory's listing (failed: a probe below) */
			fetch_listing_walk(fs, p->ino, ppath, 1, NULL);
			pthread_mutex_lock(&fs->lock);
			p->listing_for_lookups = false;
			pthread_cond_broadcast(&fs->listed);
		}
		while (p->listing_for_lookups)
			pthread_cond_wait(&fs->listed, &fs->lock);
		p->refs--;
		if (ppath && !strcmp(ppath, p->path)) /* not renamed */
			l = dir_cache_find(fs->dirs, p->path, now_mono(),
					   fs->conf->dir_timeout);
		free(ppath);
		if (inode_maybe_free(fs->inodes, p)) {
			rc = -ESTALE;
			goto out;
		}
	}
	if (l) {
		double expires = l->fetched + fs->conf->dir_timeout;
		struct dir_entry listed;
		char letag[128];
		bool fetched;
		mode_t type;

		e = dir_listing_find(l, name);
		if (!e) {
			rc = -ENOENT;
			goto out;
		}
		/* copy: the listing may change while the lock is dropped */
		listed = *e;
		snprintf(letag, sizeof(letag), "%s", e->etag ? e->etag : "");
		listed.etag = letag;
		rc = listed_attr(fs, path, &listed, &m, &fetched);
		if (rc)
			goto out;
		if (fetched)
			prefetch_after(fs, p->path, name);
		type = m.st.st_mode & S_IFMT; /* a file may be a symlink */
		in = inode_for(fs, path, type);
		if (!in) {
			rc = -ENOMEM;
			goto out;
		}
		set_remote_attr(fs, in, &m.st, true,
				S_ISDIR(type) ? NULL : m.etag, expires);
		goto found;
	}
	if (attr_known(fs, path, &m)) {
		/* the listing expired, but a HEAD of late still vouches */
		in = inode_for(fs, path, m.st.st_mode & S_IFMT);
		if (!in) {
			rc = -ENOMEM;
			goto out;
		}
		set_remote_attr(fs, in, &m.st, true,
				S_ISDIR(m.st.st_mode) ? NULL : m.etag,
				m.fetched + fs->conf->stat_timeout);
		goto found;
	}
	pthread_mutex_unlock(&fs->lock);
	rc = probe_path(fs, path, &pr);
	pthread_mutex_lock(&fs->lock);
	if (rc)
		goto out;
	in = inode_for(fs, path, pr.type);
	if (!in) {
		rc = -ENOMEM;
		goto out;
	}
	set_remote_attr(fs, in, &pr.st, pr.has_meta,
			pr.type == S_IFDIR ? NULL : pr.etag,
			now + fs->conf->stat_timeout);
found:
	in->nlookup++;
	inode_touch(fs->inodes, in);
	fill_attr(in, st);
out:
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}

size_t fs_evict_candidates(struct fs *fs, struct fs_evict *out, size_t max)
{
	struct inode *in, *next, *p;
	size_t n = 0, count, limit = fs->conf->max_inodes;
	char ppath[PATH_MAX];

	struct inode *moved = NULL;

	pthread_mutex_lock(&fs->lock);
	count = inode_table_count(fs->inodes);
	if (count <= limit)
		goto out;
	/* down to 90% of the limit, so it is not crossed again at once */
	for (in = inode_lru_first(fs->inodes);
	     in && in != moved && n < max && count - n > limit - limit / 10;
	     in = next) {
		next = in->lru_next;
		/* files only: dropping a directory's dentry drops all below
		 * it and breaks getcwd() of processes inside it */
		if (S_ISDIR(in->attr.st_mode) || in->nlookup == 0 ||
		    in->refs || in->opens || in->stage ||
		    in->wb_state != WB_CLEAN || in->wb_pending ||
		    in->meta_dirty || in->unlinked ||
		    inode_find_path(fs->inodes, in->path) != in)
			continue;
		p = inode_find_path(fs->inodes,
				    parent_of(in->path, ppath, sizeof(ppath)));
		if (!p)
			continue;
		out[n].name = strdup(base_of(in->path));
		if (!out[n].name)
			break;
		out[n].parent = p->ino;
		n++;
		/* asked once: not again before everything else */
		inode_touch(fs->inodes, in);
		if (!moved)
			moved = in;
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return n;
}

void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct inode *in;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (in) {
		in->nlookup = nlookup > in->nlookup ? 0 : in->nlookup - nlookup;
		inode_maybe_free(fs->inodes, in);
	}
	pthread_mutex_unlock(&fs->lock);
}

int fs_getattr(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct probe_result pr;
	struct attr_meta m;
	struct inode *in;
	char *path = NULL;
	double now = now_mono();
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (!in) {
		rc = -ESTALE;
		goto out;
	}
	if (in->ino == INODE_ROOT || in->stage || in->wb_state != WB_CLEAN ||
	    in->unlinked || in->attr_expires > now ||
	    S_ISDIR(in->attr.st_mode))
		goto found;
	if (attr_known(fs, in->path, &m) &&
	    (m.st.st_mode & S_IFMT) == (in->attr.st_mode & S_IFMT)) {
		set_remote_attr(fs, in, &m.st, true, m.etag,
				m.fetched + fs->conf->stat_timeout);
		goto found;
	}
	path = strdup(in->path);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	in->refs++; /* keep it while the lock is dropped */
	pthread_mutex_unlock(&fs->lock);
	rc = probe_path(fs, path, &pr);
	pthread_mutex_lock(&fs->lock);
	in->refs--;
	if (rc == 0 && pr.type != (in->attr.st_mode & S_IFMT))
		rc = -ENOENT; /* replaced by another type: a new inode */
	if (rc == 0 && !strcmp(path, in->path))
		set_remote_attr(fs, in, &pr.st, pr.has_meta, pr.etag,
				now + fs->conf->stat_timeout);
	if (rc) {
		inode_maybe_free(fs->inodes, in);
		goto out;
	}
found:
	inode_touch(fs->inodes, in);
	fill_attr(in, st);
out:
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}

/* ---- uploads ---- */

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

/*
 * Give in a stage holding its current contents (the first keep bytes of
 * the object; all of them if keep is UINT64_MAX).  Called without locks;
 * returns with in->stage set (ours or one made meanwhile).
 */
static int ensure_stage(struct fs *fs, struct inode *in, uint64_t keep)
{
	struct stage *st = NULL;
	char etag[128], *key = NULL;
	uint64_t size = 0, remote, id = 0;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (in->stage) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	remote = (uint64_t)in->attr.st_size;
	snprintf(etag, sizeof(etag), "%s", in->etag);
	key = key_of(fs, in->path, false);
	pthread_mutex_unlock(&fs->lock);
	if (!key)
		return -ENOMEM;
	rc = wb_stage_create(fs->wb, &st, &id);
	if (rc)
		goto out;
	if (keep > 0 && remote > 0) {
		/* the stage stands for the object's current version, its
		 * bytes fetched only when needed (stage.h): learn exactly
		 * which version and how long, so every fetch is pinned */
		struct store_object obj = { 0 };

		rc = fs->store->ops->head(fs->store, key, &obj);
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
	if (!in->stage) {
		in->stage = st;
		in->wb_id = id;
		in->kcache_tag = 0; /* its bytes change here from now on */
		/* our upload replaces the version we started from only */
		wb_set_base(in, etag[0] ? WB_BASE_ETAG : WB_BASE_ANY, etag);
		st = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
out:
	stage_put(st);
	free(key);
	return rc;
}

/* Drop in's stage if nobody writes and nothing is pending.  Locked. */
static void maybe_drop_stage(struct inode *in)
{
	if (in->stage && in->writers == 0 && in->wb_state == WB_CLEAN &&
	    !in->wb_pending) {
		stage_put(in->stage);
		in->stage = NULL;
		in->attr_expires = 0;
	}
}

static int truncate_stage(struct fs *fs, struct inode *in, uint64_t size)
{
	struct stage *st;
	int rc;

	pthread_rwlock_wrlock(&in->stage_lock);
	pthread_mutex_lock(&fs->lock);
	st = in->stage ? stage_get(in->stage) : NULL;
	pthread_mutex_unlock(&fs->lock);
	/* may fetch the chunk the cut falls into: not under the fs lock */
	rc = st ? stage_truncate(st, fs->store, size) : -EAGAIN;
	pthread_mutex_lock(&fs->lock);
	if (!rc && in->stage != st)
		rc = -EAGAIN; /* uploaded and dropped since: stage again */
	if (!rc) {
		st->size = size;
		wb_touch(fs->wb, in);
		in->attr.st_mtim = now_real();
		in->attr.st_ctim = in->attr.st_mtim;
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&in->stage_lock);
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
			wb_touch(fs->wb, in);
	}
	path = strdup(in->path);
	pthread_mutex_unlock(&fs->lock);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}

	if (staged && closed) {
		/* a closed file (chmod after cp, truncate by path): fold the
		 * change into its pending upload, durably */
		pthread_rwlock_wrlock(&in->stage_lock);
		rc = wb_commit(fs->wb, in);
		pthread_rwlock_unlock(&in->stage_lock);
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
		wb_touch_meta(fs->wb, in);
		pthread_mutex_unlock(&fs->lock);
		if (fs->conf->sync_upload)
			rc = wb_sync(fs->wb, in);
	} else if (!staged) {
		pthread_mutex_lock(&fs->lock);
		in->attr.st_atim = newattr.st_atim; /* atime is not kept */
		pthread_mutex_unlock(&fs->lock);
	}
out:
	pthread_mutex_lock(&fs->lock);
	(void)f;
	maybe_drop_stage(in);
	fill_attr(in, out);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}

/* ---- namespace ---- */

/* Parent inode (a directory) and the child's path.  Locked. */
static int parent_child(struct fs *fs, uint64_t parent, const char *name,
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
	in->attr_expires = now_mono() + fs->conf->stat_timeout;
	in->nlookup++;
	fill_attr(in, st);
	attr_cache_forget(fs->ac, path);
	return in;
}

/* With sync_upload, a mkdir whose marker could not be stored fails: the
 * directory goes again (its lookup, listing entry and pending PUT). */
static void undo_mkdir(struct fs *fs, struct inode *in)
{
	char parent[PATH_MAX];

	pthread_mutex_lock(&fs->lock);
	wb_forget(fs->wb, in);
	if (in->nlookup)
		in->nlookup--;
	dir_cache_remove(fs->dirs, parent_of(in->path, parent, sizeof(parent)),
			 base_of(in->path));
	dir_cache_drop(fs->dirs, in->path);
	inode_unhash_path(fs->inodes, in);
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
	wb_touch_meta(fs->wb, in);
	dir_cache_upsert(fs->dirs, p->path, name, S_IFDIR, 0,
			 attr.st_mtim.tv_sec, NULL);
	/* A new directory is empty: lookups in it need no request. */
	empty->fetched = now_mono();
	dir_cache_put(fs->dirs, empty);
	empty = NULL;
	in->refs++;
	pthread_mutex_unlock(&fs->lock);
	if (fs->conf->sync_upload) {
		rc = wb_sync(fs->wb, in);
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

int fs_symlink(struct fs *fs, uint64_t parent, const char *name,
	       const char *target, const struct fs_ctx *ctx,
	       struct stat *st)
{
	struct store_put_opts opts = { 0 };
	struct meta_headers mh;
	struct inode *p;
	struct stat attr;
	char *path = NULL, *key = NULL, etag[128] = "";
	size_t tlen = strlen(target);
	int rc, fd = -1;

	if (tlen == 0 || tlen >= PATH_MAX)
		return tlen ? -ENAMETOOLONG : -ENOENT;
	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	key = key_of(fs, path, false);
	if (!key) {
		rc = -ENOMEM;
		goto out;
	}
	fd = memfd_create("r2fs-symlink", MFD_CLOEXEC);
	if (fd < 0 || pwrite(fd, target, tlen, 0) != (ssize_t)tlen) {
		rc = -errno;
		goto out;
	}
	meta_attr_default(&fs->defaults, S_IFREG, tlen, 0, &attr);
	attr.st_mode = S_IFLNK | 0777;
	attr.st_uid = ctx->uid;
	attr.st_gid = ctx->gid;
	attr.st_mtim = now_real();
	attr.st_ctim = attr.st_atim = attr.st_mtim;
	meta_to_headers(&attr, &mh);
	opts.meta = mh.kv;
	opts.nmeta = mh.n;
	opts.content_type = "application/octet-stream";
	rc = fs->store->ops->put_fd(fs->store, key, fd, tlen, &opts, etag);
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	if (!entry_created(fs, path, &attr, etag, st)) {
		pthread_mutex_unlock(&fs->lock);
		rc = -ENOMEM;
		goto out;
	}
	dir_cache_upsert(fs->dirs, p->path, name, S_IFREG, tlen,
			 attr.st_mtim.tv_sec, NULL);
	pthread_mutex_unlock(&fs->lock);
out:
	if (fd >= 0)
		close(fd);
	free(key);
	free(path);
	return rc;
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
		wb_wait_idle(fs->wb, in);
		wb_forget(fs->wb, in);
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
		in->refs--;
		inode_maybe_free(fs->inodes, in);
	}
	attr_cache_forget(fs->ac, path);
	dir_cache_remove(fs->dirs, ppath, name);
	pthread_mutex_unlock(&fs->lock);
out:
	free(ppath);
	free(key);
	free(path);
	return rc;
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	const struct dir_listing *cached;
	struct store_list l = { 0 };
	struct inode *p, *in;
	char *path = NULL, *key = NULL, *ppath = NULL;
	bool was_pending = false;
	size_t i;
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	if (!rc) {
		in = inode_find_path(fs->inodes, path);
		if (in && !S_ISDIR(in->attr.st_mode))
			rc = -ENOTDIR;
		cached = dir_cache_find(fs->dirs, path, now_mono(),
					fs->conf->dir_timeout);
		if (!rc && ((cached && cached->n > 0) ||
			    wb_dir_has_pending(fs->wb, path)))
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
	rc = fs->store->ops->list(fs->store, key, NULL, NULL, 2, &l);
	if (rc)
		goto out;
	for (i = 0; i < l.nentries; i++)
		if (strcmp(l.entries[i].key, key))
			rc = -ENOTEMPTY;
	if (l.nprefixes)
		rc = -ENOTEMPTY;
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	in = inode_find_path(fs->inodes, path);
	if (in) {
		/* a marker PUT still to come must not land after the
		 * DELETE */
		in->refs++;
		wb_wait_idle(fs->wb, in);
		was_pending = in->wb_pending;
		wb_forget(fs->wb, in);
	}
	pthread_mutex_unlock(&fs->lock);
	rc = fs->store->ops->remove(fs->store, key);
	pthread_mutex_lock(&fs->lock);
	if (in) {
		in->refs--;
		if (!rc) {
			inode_unhash_path(fs->inodes, in);
			in->attr.st_nlink = 0;
		} else if (was_pending) {
			wb_touch_meta(fs->wb, in);
		}
		inode_maybe_free(fs->inodes, in);
	}
	if (rc) {
		pthread_mutex_unlock(&fs->lock);
		goto out;
	}
	dir_cache_remove(fs->dirs, ppath, name);
	dir_cache_drop(fs->dirs, path);
	attr_cache_forget(fs->ac, path);
	pthread_mutex_unlock(&fs->lock);
out:
	store_list_release(&l);
	free(ppath);
	free(key);
	free(path);
	return rc;
}

/*
 * What is at path: S_IFREG or S_IFDIR, or -ENOENT.  Our own state first,
 * then a fresh listing of its directory, then the store.  Not locked.
 */
static int type_of(struct fs *fs, const char *path, mode_t *type)
{
	const struct dir_listing *l;
	const struct dir_entry *e;
	struct probe_result pr;
	struct inode *in;
	char dir[PATH_MAX];
	int rc = 1;

	pthread_mutex_lock(&fs->lock);
	in = inode_find_path(fs->inodes, path);
	if (in && (in->stage || in->attr_expires > now_mono())) {
		*type = in->attr.st_mode & S_IFMT;
		rc = 0;
	} else if ((l = dir_cache_find(fs->dirs,
				       parent_of(path, dir, sizeof(dir)),
				       now_mono(), fs->conf->dir_timeout))) {
		e = dir_listing_find(l, base_of(path));
		if (e)
			*type = e->type;
		rc = e ? 0 : -ENOENT;
	}
	if (rc == -ENOENT && wb_dir_has_pending(fs->wb, path)) {
		*type = S_IFDIR;
		rc = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc <= 0)
		return rc;
	rc = probe_path(fs, path, &pr);
	if (rc == 0)
		*type = pr.type;
	return rc;
}

/* Fetch what in's stage still lacks (its object is about to move or go). */
static int complete_stage(struct fs *fs, struct inode *in)
{
	struct stage *st;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	st = in->stage ? stage_get(in->stage) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (st && stage_partial(st))
		rc = stage_complete(st, fs->store);
	stage_put(st);
	return rc;
}

/*
 * Locked.  An inode whose name a rename took over: its pending upload
 * (waited for if under way) must not land over what was moved there.
 */
static void drop_replaced(struct fs *fs, struct inode *old)
{
	old->refs++;
	wb_wait_idle(fs->wb, old);
	wb_forget(fs->wb, old);
	inode_unhash_path(fs->inodes, old);
	old->refs--;
	inode_maybe_free(fs->inodes, old);
}

/* Rename a file that has a local stage: the journal carries it. */
static int rename_staged(struct fs *fs, struct inode *in, const char *npath)
{
	char *oldkey = NULL;
	struct inode *old;
	bool closed;
	int rc;

	/* the old key is deleted below */
	rc = complete_stage(fs, in);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	wb_wait_idle(fs->wb, in);
	if (in->etag[0]) /* an older version is in the bucket */
		oldkey = key_of(fs, in->path, false);
	old = inode_find_path(fs->inodes, npath);
	if (old && old != in)
		drop_replaced(fs, old);
	rc = inode_set_path(fs->inodes, in, npath);
	if (!rc) {
		in->etag[0] = '\0';
		in->attr.st_ctim = now_real();
		wb_set_base(in, WB_BASE_ANY, NULL); /* rename replaces */
		wb_touch(fs->wb, in);
	}
	closed = in->writers == 0;
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (closed) {
		/* the record now names the new path: one PUT, no COPY */
		pthread_rwlock_wrlock(&in->stage_lock);
		rc = wb_commit(fs->wb, in);
		pthread_rwlock_unlock(&in->stage_lock);
	}
	if (!rc && oldkey)
		rc = fs->store->ops->remove(fs->store, oldkey);
out:
	free(oldkey);
	return rc;
}

/* One page of keys to move, shared by a few threads. */
struct move_job {
	struct fs *fs;
	struct store_list *page;
	const char *from, *to;
	size_t flen;
	pthread_mutex_t lock;
	size_t next;   /* protected by lock */
	size_t moved;  /* protected by lock */
	int rc;        /* first error; protected by lock */
};

static void *move_worker(void *arg)
{
	struct move_job *j = arg;
	struct store *st = j->fs->store;

	for (;;) {
		const char *k;
		char *nkey;
		size_t i, n;
		int rc;

		pthread_mutex_lock(&j->lock);
		i = j->rc ? j->page->nentries : j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->page->nentries)
			return NULL;
		k = j->page->entries[i].key;
		if (strncmp(k, j->from, j->flen))
			continue;
		n = strlen(j->to) + strlen(k) - j->flen + 1;
		nkey = malloc(n);
		rc = nkey ? 0 : -ENOMEM;
		if (nkey) {
			snprintf(nkey, n, "%s%s", j->to, k + j->flen);
			rc = st->ops->copy(st, k, nkey, NULL);
			if (!rc)
				rc = st->ops->remove(st, k);
		}
		free(nkey);
		pthread_mutex_lock(&j->lock);
		if (rc && !j->rc)
			j->rc = rc;
		if (!rc)
			j->moved++;
		pthread_mutex_unlock(&j->lock);
	}
}

/*
 * Move every key below from (a key prefix ending in '/') to the same name
 * below to: CopyObject then DELETE, key by key, 16 at a time.  Safe to run
 * again after an interruption (keys already moved are no longer below
 * from).
 */
static int move_keys(void *arg, const char *from, const char *to)
{
	struct fs *fs = arg;
	struct store_list page = { 0 };
	struct move_job j = { .fs = fs, .page = &page, .from = from,
			      .to = to, .flen = strlen(from) };
	pthread_t t[16];
	size_t moved = 0, nt, i;
	int rc = 0;

	pthread_mutex_init(&j.lock, NULL);
	for (;;) {
		/* we remove what we list: always start from the top */
		rc = fs->store->ops->list(fs->store, from, NULL, NULL,
					  FS_LIST_PAGE, &page);
		if (rc || page.nentries == 0)
			break;
		j.next = 0;
		j.moved = 0;
		nt = page.nentries < 16 ? page.nentries : 16;
		for (i = 0; i < nt; i++)
			if (pthread_create(&t[i], NULL, move_worker, &j))
				break;
		nt = i;
		move_worker(&j); /* this thread helps too */
		for (i = 0; i < nt; i++)
			pthread_join(t[i], NULL);
		rc = j.rc;
		moved += j.moved;
		store_list_release(&page);
		if (rc || j.moved == 0)
			break;
		if (moved >= 1000)
			log_info("rename %s -> %s: %zu objects moved", from, to,
				 moved);
	}
	store_list_release(&page);
	pthread_mutex_destroy(&j.lock);
	return rc;
}

struct tree_walk {
	const char *from;
	size_t flen;
	struct inode **list;
	size_t n, cap;
	bool nomem;
};

static void collect_below(void *arg, struct inode *in)
{
	struct tree_walk *w = arg;

	if (strncmp(in->path, w->from, w->flen) ||
	    (in->path[w->flen] != '/' && in->path[w->flen] != '\0') ||
	    in->unlinked)
		return;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct inode **l = realloc(w->list, cap * sizeof(*l));

		if (!l) {
			w->nomem = true;
			return;
		}
		w->list = l;
		w->cap = cap;
	}
	w->list[w->n++] = in;
	in->refs++;
}

/*
 * Locked: give every inode at or below from the same place below to.
 * Returns the inodes (each with a reference) for the caller to commit
 * and release.
 */
static int repath_tree(struct fs *fs, const char *from, const char *to,
		       struct inode ***pending, size_t *npending)
{
	struct tree_walk w = { .from = from, .flen = strlen(from) };
	struct inode *in;
	size_t i;
	char *np;
	int rc = 0;

	/* collect first: inode_set_path rehashes */
	inode_for_each(fs->inodes, collect_below, &w);
	if (w.nomem)
		rc = -ENOMEM;
	for (i = 0; i < w.n && !rc; i++) {
		in = w.list[i];
		wb_wait_idle(fs->wb, in);
		np = malloc(strlen(to) + strlen(in->path) - w.flen + 1);
		if (!np) {
			rc = -ENOMEM;
			break;
		}
		sprintf_path(np, to, in->path + w.flen);
		rc = inode_set_path(fs->inodes, in, np);
		free(np);
		if (in->stage && in->wb_pending) {
			/* its record names the path; the old key's version
			 * moves there too, so no condition can hold */
			wb_set_base(in, WB_BASE_ANY, NULL);
			wb_touch(fs->wb, in);
		}
	}
	*pending = w.list;
	*npending = w.n;
	return rc;
}

static int rename_dir(struct fs *fs, const char *path, const char *npath,
		      mode_t ntype, int nexists)
{
	struct store_list l = { 0 };
	struct inode **list = NULL, *old;
	char *from = NULL, *to = NULL;
	size_t n = 0, i;
	uint64_t intent = 0;
	int rc;

	if (!strncmp(npath, path, strlen(path)) &&
	    npath[strlen(path)] == '/')
		return -EINVAL; /* into itself */
	from = key_of(fs, path, true);
	to = key_of(fs, npath, true);
	if (!from || !to) {
		rc = -ENOMEM;
		goto out;
	}
	if (nexists == 0) {
		if (ntype != S_IFDIR) {
			rc = -ENOTDIR;
			goto out;
		}
		/* replacing an empty directory is fine, a full one is not */
		rc = fs->store->ops->list(fs->store, to, NULL, NULL, 2, &l);
		if (rc)
			goto out;
		for (i = 0; i < l.nentries; i++)
			if (strcmp(l.entries[i].key, to))
				rc = -ENOTEMPTY;
		pthread_mutex_lock(&fs->lock);
		if (wb_dir_has_pending(fs->wb, npath))
			rc = -ENOTEMPTY;
		pthread_mutex_unlock(&fs->lock);
		if (rc)
			goto out;
	}
	if (nexists == 0) {
		/* the empty directory replaced: a marker PUT of it still to
		 * come must not land over the one moved there */
		pthread_mutex_lock(&fs->lock);
		old = inode_find_path(fs->inodes, npath);
		if (old)
			drop_replaced(fs, old);
		pthread_mutex_unlock(&fs->lock);
	}
	rc = wb_intent_begin(fs->wb, from, to, &intent);
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	rc = repath_tree(fs, path, npath, &list, &n);
	dir_cache_clear(fs->dirs);
	attr_cache_forget_tree(fs->ac, path);
	attr_cache_forget_tree(fs->ac, npath);
	pthread_mutex_unlock(&fs->lock);
	/* files not uploaded yet: their records now name the new paths;
	 * open files' stages fetch the rest before their objects move */
	for (i = 0; i < n && !rc; i++)
		rc = complete_stage(fs, list[i]);
	for (i = 0; i < n; i++) {
		pthread_rwlock_wrlock(&list[i]->stage_lock);
		if (!rc && list[i]->stage)
			rc = wb_commit(fs->wb, list[i]);
		pthread_rwlock_unlock(&list[i]->stage_lock);
	}
	if (!rc)
		rc = move_keys(fs, from, to);
	/* what prefetches cached meanwhile under either name is stale */
	pthread_mutex_lock(&fs->lock);
	attr_cache_forget_tree(fs->ac, path);
	attr_cache_forget_tree(fs->ac, npath);
	pthread_mutex_unlock(&fs->lock);
	if (!rc)
		wb_intent_end(fs->wb, intent);
	else
		log_err("rename of %s to %s stopped: %s; it is finished at "
			"the next mount", path, npath, strerror(-rc));
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < n; i++) {
		list[i]->refs--;
		inode_maybe_free(fs->inodes, list[i]);
	}
	pthread_mutex_unlock(&fs->lock);
out:
	store_list_release(&l);
	free(list);
	free(from);
	free(to);
	return rc;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags)
{
	struct inode *p, *np, *in = NULL, *old;
	char *path = NULL, *npath = NULL, *ppath = NULL, *nppath = NULL;
	char *key = NULL, *nkey = NULL;
	mode_t type = 0, ntype = 0;
	uint64_t size;
	time_t mtime;
	int rc;

	if (flags & ~1u) /* only RENAME_NOREPLACE */
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	rc = parent_child(fs, parent, name, &p, &path);
	if (!rc)
		rc = parent_child(fs, newparent, newname, &np, &npath);
	if (!rc) {
		ppath = strdup(p->path);
		nppath = strdup(np->path);
		if (!ppath || !nppath)
			rc = -ENOMEM;
	}
	if (!rc) {
		in = inode_find_path(fs->inodes, path);
		if (in)
			in->refs++;
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc || !strcmp(path, npath))
		goto out;
	rc = type_of(fs, path, &type);
	if (rc)
		goto out;
	rc = type_of(fs, npath, &ntype);
	if (rc && rc != -ENOENT)
		goto out;
	if (rc == 0 && (flags & 1u)) {
		rc = -EEXIST;
		goto out;
	}
	if (type == S_IFDIR) {
		rc = rename_dir(fs, path, npath, ntype, rc);
		goto out;
	}
	if (rc == 0 && ntype == S_IFDIR) {
		rc = -EISDIR;
		goto out;
	}
	if (in && in->stage) {
		rc = rename_staged(fs, in, npath);
	} else {
		key = key_of(fs, path, false);
		nkey = key_of(fs, npath, false);
		if (!key || !nkey) {
			rc = -ENOMEM;
			goto out;
		}
		rc = fs->store->ops->copy(fs->store, key, nkey, NULL);
		if (rc)
			goto out;
		rc = fs->store->ops->remove(fs->store, key);
		if (rc) {
			/* never leave two names: undo the copy */
			fs->store->ops->remove(fs->store, nkey);
			goto out;
		}
		pthread_mutex_lock(&fs->lock);
		old = inode_find_path(fs->inodes, npath);
		if (old && old != in) {
			inode_unhash_path(fs->inodes, old);
			inode_maybe_free(fs->inodes, old);
		}
		if (in) {
			rc = inode_set_path(fs->inodes, in, npath);
			in->attr.st_ctim = now_real();
		}
		pthread_mutex_unlock(&fs->lock);
	}
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	size = in ? (uint64_t)in->attr.st_size : 0;
	mtime = in ? in->attr.st_mtim.tv_sec : now_real().tv_sec;
	if (in && in->stage)
		size = in->stage->size;
	dir_cache_remove(fs->dirs, ppath, name);
	attr_cache_forget(fs->ac, path);
	attr_cache_forget(fs->ac, npath);
	dir_cache_upsert(fs->dirs, nppath, newname, S_IFREG, size, mtime,
			 NULL);
	pthread_mutex_unlock(&fs->lock);
out:
	if (in) {
		pthread_mutex_lock(&fs->lock);
		in->refs--;
		inode_maybe_free(fs->inodes, in);
		pthread_mutex_unlock(&fs->lock);
	}
	free(key);
	free(nkey);
	free(path);
	free(npath);
	free(ppath);
	free(nppath);
	return rc;
}

/* ---- files ---- */

static struct fs_file *file_new(struct fs *fs, struct inode *in, bool writer)
{
	struct fs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fs = fs;
	f->in = in;
	f->writer = writer;
	pthread_mutex_init(&f->ra_lock, NULL);
	return f;
}

static void file_free(struct fs_file *f)
{
	if (!f)
		return;
	ra_stream_free(f->ra);
	while (f->nretired)
		ra_stream_free(f->retired[--f->nretired]);
	free(f->retired);
	free(f->ra_key);
	pthread_mutex_destroy(&f->ra_lock);
	free(f);
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
		in->writers++;
	snprintf(f->etag, sizeof(f->etag), "%s", in->etag);
	if (writer || in->stage || !in->etag[0]) {
		in->kcache_tag = 0; /* local bytes: no version to keep */
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
	enum wb_base base;
	uint64_t id = 0;
	int rc;

	rc = wb_stage_create(fs->wb, &stg, &id);
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
		base = WB_BASE_ETAG;
	else if (is_doomed(fs, path))
		base = WB_BASE_ANY;
	else
		base = WB_BASE_NONE;
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
	} else {
		in->stage = stg;
		in->wb_id = id;
		wb_set_base(in, base, base_etag);
		stg = NULL;
	}
	wb_touch(fs->wb, in);
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
	in->writers++;
	in->nlookup++;
	fill_attr(in, st);
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

	rc = wb_reserve(fs->wb, size);
	if (rc)
		return rc;
	pthread_rwlock_rdlock(&in->stage_lock);
	pthread_mutex_lock(&fs->lock);
	st = in->stage ? stage_get(in->stage) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!st) {
		rc = -EBADF;
		goto out;
	}
	rc = stage_write(st, fs->store, buf, size, off);
	done = rc > 0 ? (size_t)rc : 0;
	pthread_mutex_lock(&fs->lock);
	if (done) {
		if (off + done > st->size)
			st->size = off + done;
		wb_touch(fs->wb, in);
		in->attr.st_mtim = now_real();
		in->attr.st_ctim = in->attr.st_mtim;
	}
	pthread_mutex_unlock(&fs->lock);
	stage_put(st);
out:
	pthread_rwlock_unlock(&in->stage_lock);
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
	pthread_rwlock_wrlock(&f->in->stage_lock);
	rc = wb_commit(f->fs->wb, f->in);
	pthread_rwlock_unlock(&f->in->stage_lock);
	if (!rc && f->fs->conf->sync_upload)
		rc = wb_sync(f->fs->wb, f->in);
	return rc;
}

/* fsync(): the object is in the bucket when this returns 0. */
int fs_fsync(struct fs_file *f)
{
	return wb_sync(f->fs->wb, f->in);
}

void fs_release(struct fs_file *f)
{
	struct fs *fs = f->fs;
	struct inode *in = f->in;
	char *key = NULL;
	bool commit = false;

	pthread_mutex_lock(&fs->lock);
	if (f->writer) {
		in->writers--;
		/* normally flush committed already; mmap writes may not */
		commit = in->writers == 0 && in->stage && !in->unlinked &&
			 in->wb_state != WB_CLEAN &&
			 in->wb_committed != in->wb_gen;
		wb_kick(fs->wb);
	}
	pthread_mutex_unlock(&fs->lock);
	if (commit) {
		pthread_rwlock_wrlock(&in->stage_lock);
		wb_commit(fs->wb, in);
		pthread_rwlock_unlock(&in->stage_lock);
	}
	pthread_mutex_lock(&fs->lock);
	maybe_drop_stage(in);
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

/* ---- directories ---- */

static struct dir_listing *listing_dup(const struct dir_listing *l)
{
	struct dir_listing *c = dir_listing_new(l->path);
	size_t i;

	if (!c)
		return NULL;
	for (i = 0; i < l->n; i++) {
		if (dir_listing_add(c, l->e[i].name, l->e[i].type,
				    l->e[i].size, l->e[i].mtime,
				    l->e[i].etag)) {
			dir_listing_free(c);
			return NULL;
		}
	}
	c->fetched = l->fetched;
	c->indexed = l->indexed;
	c->sorted = true;
	return c;
}

/* A key's or prefix's name below dir prefix dkey; NULL to skip it. */
static const char *entry_name(const char *dkey, size_t dlen, char *s)
{
	size_t n;

	if (strncmp(s, dkey, dlen))
		return NULL;
	s += dlen;
	n = strlen(s);
	if (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	/* the marker itself, "a//b" keys, and names that cannot be names */
	if (n == 0 || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..") ||
	    n > FS_NAME_MAX)
		return NULL;
	return s;
}

/* ---- directory indexes (dirindex.h) ---- */

/* 0, or -1 with errno. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The index of the directory whose key is dkey, into *ix: empty when there
 * is none or it cannot be used (it is advisory: never an error).  One GET,
 * so the bytes are of one version.  Not locked.
 */
static void index_read(struct fs *fs, const char *dkey, struct dir_index *ix)
{
	char *key = dir_index_key(dkey);
	/* untouched pages cost nothing: only the object's size is used */
	char *buf = malloc(DIR_INDEX_MAX_BYTES + 1);
	size_t got = 0;
	int rc = key && buf ? 0 : -ENOMEM;

	memset(ix, 0, sizeof(*ix));
	if (!rc)
		rc = fs->store->ops->get_range(fs->store, key, 0,
					       DIR_INDEX_MAX_BYTES + 1, NULL,
					       buf, &got);
	if (!rc && got > DIR_INDEX_MAX_BYTES)
		rc = -EFBIG;
	if (!rc)
		rc = dir_index_parse(buf, got, ix);
	if (rc && rc != -ENOENT)
		log_debug("index %s not used: %s", key ? key : dkey,
			  strerror(-rc));
	pthread_mutex_lock(&fs->lock);
	fs->index_reads++;
	pthread_mutex_unlock(&fs->lock);
	free(buf);
	free(key);
}

/*
 * Locked.  The cached metadata of listed file e of l, valid for the
 * version listed, into *m (may be NULL): 1 if known, 0 if not, -EINVAL
 * for an entry that is no listed file (a directory, no ETag), -ENOMEM.
 */
static int listed_file_meta(struct fs *fs, const struct dir_listing *l,
			    const struct dir_entry *e, struct attr_meta *m)
{
	struct attr_want w = {
		.type = S_IFREG,
		.etag = e->etag,
		.lastmod = e->mtime,
	};
	char *path;
	int rc;

	if (e->type != S_IFREG || !e->etag || !e->etag[0])
		return -EINVAL;
	path = child_path(l->path, e->name);
	if (!path)
		return -ENOMEM;
	w.path = path;
	rc = attr_cache_valid(fs->ac, &w, m) ? 1 : 0;
	free(path);
	return rc;
}

/* Locked.  How many of l's files have no valid metadata cached: an
 * index is read only when it may spare HEADs. */
static size_t index_unknown(struct fs *fs, const struct dir_listing *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += listed_file_meta(fs, l, &l->e[i], NULL) == 0;
	return n;
}

/*
 * Locked.  Did path change here at or after real time since (a chmod
 * whose CopyObject ended while a listing was under way: the listing and
 * the index still show the version before it)?
 */
static bool changed_since(struct fs *fs, const char *path, time_t since)
{
	const struct inode *in = inode_find_path(fs->inodes, path);

	return in && (in->stage || in->wb_state != WB_CLEAN ||
		      in->attr.st_ctim.tv_sec >= since);
}

/*
 * Locked.  Metadata for the listed files l->e[from, to) from ix, where it
 * may stand for the version listed; counted in l->indexed.  since: real
 * time when the listing began (what changed here after is not taken).
 */
static void index_fill(struct fs *fs, struct dir_listing *l,
		       const struct dir_index *ix, size_t from, size_t to,
		       time_t since)
{
	size_t i;

	for (i = from; i < to; i++) {
		const struct dir_entry *e = &l->e[i];
		const struct dir_index_entry *x;
		struct attr_meta m;
		char *path;

		if (e->type != S_IFREG || !e->etag)
			continue;
		x = dir_index_find(ix, e->name);
		if (!dir_index_trusted(x, e->etag, e->size, e->mtime))
			continue;
		path = child_path(l->path, e->name);
		if (!path)
			return;
		if (changed_since(fs, path, since)) {
			free(path);
			continue;
		}
		memset(&m, 0, sizeof(m));
		meta_attr_from_values(&fs->defaults, S_IFREG, e->size,
				      e->mtime, &x->v, &m.st);
		snprintf(m.etag, sizeof(m.etag), "%s", x->etag);
		m.lastmod = x->lastmod;
		m.present = x->v.has;
		m.checked = x->checked;
		/* valid while a listing shows that version, never by age
		 * (a lookup's "HEADed lately" must not take it) */
		if (attr_cache_fill(fs->ac, path, S_IFREG, &m, -1e18)) {
			l->indexed++;
			fs->index_used++;
		}
		free(path);
	}
}

/*
 * Not locked.  A whole listing l of the directory whose key is dkey: if it
 * is big, the metadata its index in the bucket vouches for.
 */
static void index_apply(struct fs *fs, struct dir_listing *l,
			const char *dkey, time_t since)
{
	struct dir_index ix;
	size_t i, files = 0;

	for (i = 0; i < l->n; i++)
		files += l->e[i].type == S_IFREG;
	if (fs->conf->no_dir_index || files < FS_INDEX_MIN)
		return;
	pthread_mutex_lock(&fs->lock);
	files = index_unknown(fs, l);
	pthread_mutex_unlock(&fs->lock);
	if (files < FS_INDEX_STALE)
		return; /* known here already (a remount with the cache) */
	index_read(fs, dkey, &ix);
	pthread_mutex_lock(&fs->lock);
	index_fill(fs, l, &ix, 0, l->n, since);
	pthread_mutex_unlock(&fs->lock);
	dir_index_release(&ix);
}

/* Entries an index may lack before it is written again: a big
 * directory is not rewritten for every few new files. */
static size_t index_stale(size_t files)
{
	return files / 8 > FS_INDEX_STALE ? files / 8 : FS_INDEX_STALE;
}

/*
 * Not locked.  After a reader of listing l got its entries' metadata
 * ("ls -l"): if l is big and its index in the bucket lacks much of what
 * the HEADs told, write the index afresh, so the next mount to list the
 * directory (here or elsewhere) needs no HEADs.  Best effort.
 */
static void index_write(struct fs *fs, const struct dir_listing *l)
{
	struct dir_index_buf b = { 0 };
	struct store_put_opts opts = { .content_type = "text/plain" };
	size_t i, files = 0;
	char *dkey = NULL, *key = NULL;
	int fd = -1, rc = 0;

	if (fs->conf->no_dir_index || fs->conf->read_only)
		return;
	for (i = 0; i < l->n; i++)
		files += l->e[i].type == S_IFREG;
	if (files < FS_INDEX_MIN || files < l->indexed + index_stale(files))
		return;
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < l->n && !fs->index_readonly && !rc; i++) {
		const struct dir_entry *e = &l->e[i];
		struct meta_values v;
		struct attr_meta m;
		int known;

		if (i % 1024 == 1023) {
			/* let others have the lock now and then */
			pthread_mutex_unlock(&fs->lock);
			pthread_mutex_lock(&fs->lock);
		}
		known = listed_file_meta(fs, l, e, &m);
		if (known == -ENOMEM)
			rc = -ENOMEM;
		if (known != 1 ||
		    !dir_index_worth(m.etag, e->size, m.lastmod, m.checked))
			continue;
		meta_values_from_attr(&m.st, m.present, &v);
		rc = dir_index_append(&b, e->name, m.etag, e->size, m.lastmod,
				      m.checked, &v);
		if (rc == -EINVAL)
			rc = 0; /* that one cannot be indexed */
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc || b.n < FS_INDEX_MIN || b.n < l->indexed + index_stale(files))
		goto out;
	dkey = key_of(fs, l->path, true);
	key = dkey ? dir_index_key(dkey) : NULL;
	if (!key) {
		rc = -ENOMEM;
		goto out;
	}
	fd = memfd_create("r2fs-index", MFD_CLOEXEC);
	if (fd < 0 || write_all(fd, b.s, b.len)) {
		rc = -errno;
		goto out;
	}
	rc = fs->store->ops->put_fd(fs->store, key, fd, b.len, &opts, NULL);
	pthread_mutex_lock(&fs->lock);
	if (!rc) {
		fs->index_writes++;
		/* readers of the same listing need not write it again */
		dir_cache_set_indexed(fs->dirs, l->path, l->fetched, b.n);
	} else if (rc == -EACCES)
		fs->index_readonly = true; /* read-only keys: stop trying */
	pthread_mutex_unlock(&fs->lock);
out:
	if (rc)
		log_debug("index of /%s not written: %s", l->path,
			  strerror(-rc));
	if (fd >= 0)
		close(fd);
	free(key);
	free(dkey);
	dir_index_buf_release(&b);
}

/* The last key or prefix of a page (both lists are sorted). */
static const char *page_last(const struct store_list *p)
{
	const char *e = p->nentries ? p->entries[p->nentries - 1].key : NULL;
	const char *d = p->nprefixes ? p->prefixes[p->nprefixes - 1] : NULL;

	if (!e || !d)
		return e ? e : d;
	return strcmp(e, d) > 0 ? e : d;
}

/*
 * Cuts at which the rest of directory dkey's listing, past key last, can
 * be listed in ranges (listranges.h): index names FS_LIST_RANGE_NAMES
 * apart.  Their count, 0 when the rest is short; *cuts is malloc'd, each
 * a malloc'd full key (free_cuts).
 */
static size_t index_cuts(const struct dir_index *ix, const char *dkey,
			 const char *last, char ***cuts)
{
	size_t dlen = strlen(dkey), lo = 0, hi = ix->n, n = 0, k, rest;
	const char *after = strncmp(last, dkey, dlen) ? "" : last + dlen;

	*cuts = NULL;
	while (lo < hi) { /* the first name past last */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ix->e[mid].name, after) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	rest = ix->n - lo;
	if (rest < 2 * FS_LIST_RANGE_NAMES)
		return 0;
	*cuts = calloc(rest / FS_LIST_RANGE_NAMES, sizeof(**cuts));
	if (!*cuts)
		return 0;
	for (k = lo + FS_LIST_RANGE_NAMES - 1; k + FS_LIST_RANGE_NAMES / 2 <
					       ix->n;
	     k += FS_LIST_RANGE_NAMES) {
		size_t len = dlen + strlen(ix->e[k].name) + 1;
		char *c = malloc(len);

		if (!c)
			break;
		snprintf(c, len, "%s%s", dkey, ix->e[k].name);
		(*cuts)[n++] = c;
	}
	if (!n) {
		free(*cuts);
		*cuts = NULL;
	}
	return n;
}

static void free_cuts(char **cuts, size_t n)
{
	while (n)
		free(cuts[--n]);
	free(cuts);
}

/* A directory's first page, listed already (list_subtree's, made
 * delimited): list_dir goes on from it with start-after. */
struct list_seed {
	struct store_list page;
	char *after;     /* where the rest starts; NULL: there is no rest */
	double started;  /* when the page was asked for */
	time_t since;
	bool valid;
};

static void list_seed_release(struct list_seed *seed)
{
	store_list_release(&seed->page);
	free(seed->after);
	seed->after = NULL;
}

/*
 * All of directory path's entries (one LIST per FS_LIST_PAGE), the first
 * FS_PREFETCH_EAGER queued for metadata prefetch.  With max_pages, a
 * directory needing more pages is -E2BIG (nothing is kept).  With seed
 * (whose page and after it takes), the listing starts from that page.
 */
static int list_dir(struct fs *fs, const char *path, unsigned max_pages,
		    struct list_seed *seed, struct dir_listing **out)
{
	unsigned pages = 0;
	struct dir_listing *l = NULL;
	struct store_list page = { 0 };
	struct dir_index ix = { NULL, 0 };
	bool index_tried = fs->conf->no_dir_index, more;
	char *dkey = NULL, *token = NULL, **cuts = NULL, *last = NULL;
	char *after = NULL;
	const char *name;
	double started = seed ? seed->started : now_mono();
	time_t since = seed ? seed->since : now_real().tv_sec;
	size_t dlen, i, files = 0, filled = 0, ncuts = 0;
	int rc = -ENOMEM;

	dkey = key_of(fs, path, true);
	l = dir_listing_new(path);
	if (!dkey || !l)
		goto out;
	dlen = strlen(dkey);
	do {
		size_t before = l->n;
		bool from_seed = seed != NULL;

		if (seed) {
			page = seed->page;
			memset(&seed->page, 0, sizeof(seed->page));
			after = seed->after;
			seed->after = NULL;
			seed = NULL;
			rc = 0;
		} else if (ncuts) {
			/* the index tells what is to come: all the rest at
			 * once, in ranges, as one page */
			struct list_ranges_req q = {
				.prefix = dkey, .delimiter = "/",
				.token = token, .start_after = after,
				.cuts = cuts, .ncuts = ncuts,
				.max_keys = FS_LIST_PAGE,
				.threads = FS_LIST_RANGE_THREADS,
			};

			rc = list_ranges(fs->store, &q, &page);
			free_cuts(cuts, ncuts);
			cuts = NULL;
			ncuts = 0;
		} else if (!token && after) {
			rc = fs->store->ops->list_after(fs->store, dkey, "/",
							after, FS_LIST_PAGE,
							&page);
		} else {
			rc = fs->store->ops->list(fs->store, dkey, "/", token,
						  FS_LIST_PAGE, &page);
		}
		if (rc)
			goto out;
		/* before entry_name trims the page's prefixes in place */
		free(last);
		last = page_last(&page) ? strdup(page_last(&page)) : NULL;
		for (i = 0; i < page.nentries && !rc; i++) {
			name = entry_name(dkey, dlen, page.entries[i].key);
			if (name && is_index_name(fs, path, name))
				name = NULL;
			files += name != NULL;
			if (name)
				rc = dir_listing_add(l, name, S_IFREG,
						     page.entries[i].size,
						     page.entries[i].mtime,
						     page.entries[i].etag ?
						     page.entries[i].etag : "");
		}
		for (i = 0; i < page.nprefixes && !rc; i++) {
			name = entry_name(dkey, dlen, page.prefixes[i]);
			if (name && !is_index_name(fs, path, name))
				rc = dir_listing_add(l, name, S_IFDIR, 0,
						     now_real().tv_sec, NULL);
		}
		if (!rc && !index_tried && files >= FS_INDEX_MIN) {
			size_t unknown;

			/* a big directory: one GET may spare its HEADs */
			pthread_mutex_lock(&fs->lock);
			unknown = index_unknown(fs, l);
			pthread_mutex_unlock(&fs->lock);
			if (unknown >= FS_INDEX_STALE)
				index_read(fs, dkey, &ix);
			index_tried = true;
		}
		if (!rc && ix.n && filled < l->n) {
			pthread_mutex_lock(&fs->lock);
			index_fill(fs, l, &ix, filled, l->n, since);
			pthread_mutex_unlock(&fs->lock);
			filled = l->n;
		}
		if (!rc && before < FS_PREFETCH_EAGER && l->n > before) {
			/* HEAD the first entries while the next page is
			 * listed: "ls -l" wants their metadata first; the
			 * rest once someone asks for it (fs_dir_will_need,
			 * prefetch_after), as find(1) never does */
			size_t n = l->n < FS_PREFETCH_EAGER ? l->n
							    : FS_PREFETCH_EAGER;

			pthread_mutex_lock(&fs->lock);
			attr_cache_prefetch(fs->ac, path, &l->e[before],
					    n - before,
					    fs->conf->stat_timeout, false);
			pthread_mutex_unlock(&fs->lock);
		}
		if (!rc && page.truncated && ix.n && !max_pages &&
		    fs->store->ops->list_after && last)
			ncuts = index_cuts(&ix, dkey, last, &cuts);
		free(token);
		token = page.truncated ? page.next_token : NULL;
		page.next_token = NULL;
		/* a seed's start-after serves its next page only */
		if (!from_seed) {
			free(after);
			after = NULL;
		}
		more = page.truncated && (token || after);
		store_list_release(&page);
		/* a seed was listed anyway: it costs no page of max_pages */
		if (!rc && more && max_pages && !from_seed &&
		    ++pages >= max_pages)
			rc = -E2BIG;
	} while (!rc && more);
	if (rc)
		goto out;
	dir_listing_finish(l);
	l->fetched = started;
	*out = l;
	l = NULL;
out:
	store_list_release(&page);
	dir_index_release(&ix);
	free_cuts(cuts, ncuts);
	dir_listing_free(l);
	free(token);
	free(after);
	free(last);
	free(dkey);
	if (seed)
		list_seed_release(seed);
	return rc;
}

/* The subtree listing's directories being built, by path. */
struct subtree {
	struct dir_listing *l[FS_SUBTREE_DIRS];
	size_t n;
};

static struct dir_listing *subtree_dir(struct subtree *t, const char *path)
{
	size_t i;

	for (i = t->n; i > 0; i--) /* keys come sorted: recent dirs last */
		if (!strcmp(t->l[i - 1]->path, path))
			return t->l[i - 1];
	if (t->n == FS_SUBTREE_DIRS)
		return NULL;
	t->l[t->n] = dir_listing_new(path);
	return t->l[t->n] ? t->l[t->n++] : NULL;
}

/*
 * Add key rel (relative to directory path) to the listings of every
 * directory on its way.  -E2BIG when that needs more directories than
 * FS_SUBTREE_DIRS.
 */
static int subtree_add(struct subtree *t, const char *path, const char *rel,
		       const struct store_list_entry *e)
{
	char *dir = strdup(path), *next, name[FS_NAME_MAX + 1];
	struct dir_listing *l;
	const char *slash;
	size_t n;
	int rc = 0;

	while (dir && *rel) {
		slash = strchr(rel, '/');
		n = slash ? (size_t)(slash - rel) : strlen(rel);
		/* as entry_name: the rest of "a//b", "a/./b" is no name */
		if (n == 0 || n > FS_NAME_MAX ||
		    (n == 1 && rel[0] == '.') ||
		    (n == 2 && rel[0] == '.' && rel[1] == '.'))
			break;
		memcpy(name, rel, n);
		name[n] = '\0';
		l = subtree_dir(t, dir);
		if (!l) {
			rc = t->n == FS_SUBTREE_DIRS ? -E2BIG : -ENOMEM;
			goto out;
		}
		if (!slash) { /* an object */
			rc = dir_listing_add(l, name, S_IFREG, e->size,
					     e->mtime, e->etag ? e->etag : "");
			goto out;
		}
		/* once per directory, not once per key below it */
		if (!l->n || strcmp(l->e[l->n - 1].name, name) ||
		    l->e[l->n - 1].type != S_IFDIR)
			rc = dir_listing_add(l, name, S_IFDIR, 0,
					     now_real().tv_sec, NULL);
		next = rc ? NULL : child_path(dir, name);
		if (rc || !next)
			goto out;
		free(dir);
		dir = next;
		rel = slash + 1;
		/* a marker "a/b/": b is a directory, maybe an empty one */
		if (!*rel && !subtree_dir(t, dir)) {
			rc = t->n == FS_SUBTREE_DIRS ? -E2BIG : -ENOMEM;
			goto out;
		}
	}
	if (!dir)
		rc = -ENOMEM;
out:
	free(dir);
	return rc;
}

static void add_local_children(struct fs *fs, struct dir_listing *fresh,
			       const struct dir_listing *old);

/*
 * One LIST page of everything below directory path, without a delimiter.
 * A walk by name (rsync's receiver stats every path it was sent; a script
 * stats files one by one) then finds each directory of a small tree
 * listed after one request, not one LIST each, and their entries'
 * metadata prefetched.  Every directory whose keys all came in the page
 * is cached; path itself only when the whole subtree fit: else -E2BIG, and
 * the caller lists path with a delimiter, from *seed (the page made
 * delimited) when seed->valid.  Not locked.  With out, a private copy of
 * path's listing is returned too.
 */
static int list_subtree(struct fs *fs, const char *path,
			struct list_seed *seed, struct dir_listing **out)
{
	struct subtree t = { .n = 0 };
	struct store_list page = { 0 };
	const char *boundary = NULL; /* keys from here on were not seen */
	double started = now_mono();
	time_t since = now_real().tv_sec;
	char *dkey = key_of(fs, path, true);
	size_t dlen, i;
	int rc = -ENOMEM;

	if (!dkey || !subtree_dir(&t, path))
		goto out;
	dlen = strlen(dkey);
	rc = fs->store->ops->list(fs->store, dkey, NULL, NULL, FS_LIST_PAGE,
				  &page);
	if (rc)
		goto out;
	if (page.truncated && page.nentries == 0) {
		rc = -E2BIG;
		goto out;
	}
	for (i = 0; i < page.nentries; i++) {
		const char *key = page.entries[i].key;

		if (strncmp(key, dkey, dlen))
			continue;
		if (!dlen && !strncmp(key, DIR_INDEX_PREFIX,
				      strlen(DIR_INDEX_PREFIX)) &&
		    (key[strlen(DIR_INDEX_PREFIX)] == '/' ||
		     !key[strlen(DIR_INDEX_PREFIX)]) &&
		    is_index_name(fs, "", DIR_INDEX_PREFIX))
			continue; /* not the user's */
		rc = subtree_add(&t, path, key + dlen, &page.entries[i]);
		if (rc == -E2BIG) {
			boundary = key;
			break;
		}
		if (rc)
			goto out;
	}
	if (!boundary && page.truncated)
		boundary = page.entries[page.nentries - 1].key;
	rc = boundary ? -E2BIG : 0;
	for (i = 0; i < t.n; i++) {
		struct dir_listing *l = t.l[i];
		char *k = key_of(fs, l->path, true);

		/* keys are sorted: a directory whose keys go on past the
		 * boundary has more of them after it */
		if (!k || (boundary && !strncmp(boundary, k, strlen(k)))) {
			dir_listing_free(l);
			t.l[i] = NULL;
		} else {
			dir_listing_finish(l);
			l->fetched = started;
			index_apply(fs, l, k, since);
		}
		free(k);
	}
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < t.n; i++) {
		struct dir_listing *l = t.l[i];
		const struct dir_listing *cached;

		if (!l)
			continue;
		attr_cache_prefetch(fs->ac, l->path, l->e, l->n,
				    fs->conf->stat_timeout, false);
		cached = dir_cache_find(fs->dirs, l->path, now_mono(), 1e18);
		add_local_children(fs, l, cached);
		if (i == 0 && out && !(*out = listing_dup(l)))
			rc = -ENOMEM;
		dir_cache_put(fs->dirs, l);
		t.l[i] = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
	/* a big directory: its listing can go on from this page, as long as
	 * the page does not end in the middle of a subdirectory's keys */
	if (rc == -E2BIG && fs->store->ops->list_after &&
	    !list_page_delimit(&page, dkey, '/', &seed->after)) {
		seed->page = page;
		memset(&page, 0, sizeof(page));
		seed->started = started;
		seed->since = since;
		seed->valid = true;
	}
out:
	for (i = 0; i < t.n; i++)
		dir_listing_free(t.l[i]);
	store_list_release(&page);
	free(dkey);
	return rc;
}

struct local_scan {
	struct dir_listing *l;
	size_t dlen;
};

/* A pending (or just uploaded) file below the listed directory: itself or
 * its top dir. */
static void add_pending(void *arg, struct inode *in)
{
	struct local_scan *ls = arg;
	const char *rest, *slash;
	char name[FS_NAME_MAX + 1];
	size_t n;

	if (ls->dlen && (strncmp(in->path, ls->l->path, ls->dlen) ||
			 in->path[ls->dlen] != '/'))
		return;
	rest = in->path + ls->dlen + (ls->dlen ? 1 : 0);
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n > FS_NAME_MAX)
		return;
	memcpy(name, rest, n);
	name[n] = '\0';
	if (dir_listing_find(ls->l, name))
		return;
	dir_listing_add(ls->l, name,
			slash || S_ISDIR(in->attr.st_mode) ? S_IFDIR : S_IFREG,
			slash ? 0 : in->stage ? in->stage->size
					      : (uint64_t)in->attr.st_size,
			in->attr.st_mtim.tv_sec, NULL);
	dir_listing_finish(ls->l);
}

/*
 * Add what a LIST cannot see yet: files waiting in the journal (also
 * after a remount), and files being written now (still in the expired
 * listing we had).  Locked.
 */
static void add_local_children(struct fs *fs, struct dir_listing *fresh,
			       const struct dir_listing *old)
{
	struct local_scan ls = { fresh, strlen(fresh->path) };
	struct inode *in;
	char *path;
	size_t i;

	dir_listing_finish(fresh);
	for (i = 0; i < fs->ndoomed; i++) {
		const char *dp = fs->doomed[i];
		size_t n = strlen(fresh->path);

		if ((n == 0 && !strchr(dp, '/')) ||
		    (n && !strncmp(dp, fresh->path, n) && dp[n] == '/' &&
		     !strchr(dp + n + 1, '/'))) {
			size_t j = n ? n + 1 : 0;
			const struct dir_entry *e = dir_listing_find(fresh,
								     dp + j);

			if (e) {
				size_t k = (size_t)(e - fresh->e);

				free(fresh->e[k].name);
				free(fresh->e[k].etag);
				memmove(&fresh->e[k], &fresh->e[k + 1],
					(fresh->n - k - 1) *
						sizeof(*fresh->e));
				fresh->n--;
			}
		}
	}
	wb_for_each_pending(fs->wb, add_pending, &ls);
	/* uploaded after the LIST was sent: it may have missed them */
	for (i = fs->nrecent; i > 0 && fs->recent[i - 1].at >= fresh->fetched;
	     i--) {
		in = inode_find_path(fs->inodes, fs->recent[i - 1].path);
		if (in && !is_doomed(fs, in->path))
			add_pending(&ls, in);
	}
	for (i = 0; old && i < old->n; i++) {
		if (dir_listing_find(fresh, old->e[i].name))
			continue;
		path = child_path(fresh->path, old->e[i].name);
		in = path ? inode_find_path(fs->inodes, path) : NULL;
		if (in && in->stage)
			dir_listing_add(fresh, old->e[i].name, S_IFREG,
					in->stage->size,
					in->attr.st_mtim.tv_sec, NULL);
		free(path);
	}
	dir_listing_finish(fresh);
}

/*
 * List directory path from the store (its entries' metadata is prefetched
 * meanwhile), add what only we know, and cache it.  Not locked.  With out,
 * a private copy is returned too.  max_pages: as list_dir.
 */
static int fetch_listing(struct fs *fs, const char *path,
			 unsigned max_pages, struct list_seed *seed,
			 struct dir_listing **out)
{
	const struct dir_listing *cached;
	struct dir_listing *l = NULL, *copy;
	int rc = list_dir(fs, path, max_pages, seed, &l);

	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	/* the expired listing still knows our unuploaded files */
	cached = dir_cache_find(fs->dirs, path, now_mono(), 1e18);
	add_local_children(fs, l, cached);
	copy = out ? listing_dup(l) : NULL;
	dir_cache_put(fs->dirs, l);
	pthread_mutex_unlock(&fs->lock);
	if (out) {
		*out = copy;
		return copy ? 0 : -ENOMEM;
	}
	return 0;
}

/*
 * Not locked.  As fetch_listing, for a directory about to be walked: its
 * whole subtree in one request when it is small (list_subtree), which
 * directory inode ino remembers when it is not.  When it is not, the
 * listing goes on from that request's page where it can.
 */
static int fetch_listing_walk(struct fs *fs, uint64_t ino, const char *path,
			      unsigned max_pages, struct dir_listing **out)
{
	struct list_seed seed = { .valid = false };
	struct inode *in;
	bool big;
	int rc;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	big = in && in->subtree_big;
	pthread_mutex_unlock(&fs->lock);
	rc = big ? -E2BIG : list_subtree(fs, path, &seed, out);
	if (rc != -E2BIG)
		return rc;
	if (!big) {
		pthread_mutex_lock(&fs->lock);
		in = inode_find(fs->inodes, ino);
		if (in && !strcmp(in->path, path))
			in->subtree_big = true;
		pthread_mutex_unlock(&fs->lock);
	}
	return fetch_listing(fs, path, max_pages, seed.valid ? &seed : NULL,
			     out);
}

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
		cached = dir_cache_find(fs->dirs, in->path, now_mono(),
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
	pthread_mutex_unlock(&fs->lock);
	d->l = l;
	l = NULL;
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

const char *fs_dir_entry(struct fs_dir *d, size_t i, mode_t *type,
			 uint64_t *ino)
{
	if (i >= d->l->n)
		return NULL;
	*type = d->l->e[i].type;
	*ino = d->inos[i];
	return d->l->e[i].name;
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
	double now = now_mono();
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
	if (in && (in->stage || in->wb_state != WB_CLEAN ||
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
	set_remote_attr(fs, in, &m.st, true,
			S_ISDIR(m.st.st_mode) ? NULL : m.etag,
			stale ? m.fetched + fs->conf->stat_timeout
			      : d->l->fetched + fs->conf->dir_timeout);
found:
	in->nlookup++;
	inode_touch(fs->inodes, in);
	fill_attr(in, st);
	rc = 1;
out:
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}

/* The inode numbered ino with a reference held (not locked), or NULL. */
static struct inode *hold_ino(struct fs *fs, uint64_t ino)
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
static void drop_ino(struct fs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->lock);
	in->refs--;
	inode_maybe_free(fs->inodes, in);
	pthread_mutex_unlock(&fs->lock);
}

int fs_fsyncdir(struct fs *fs, uint64_t ino)
{
	struct inode *in;
	int rc;

	in = hold_ino(fs, ino);
	if (!in)
		return -ESTALE;
	rc = wb_sync(fs->wb, in);
	drop_ino(fs, in);
	return rc;
}

void fs_releasedir(struct fs_dir *d)
{
	if (!d)
		return;
	index_write(d->fs, d->l);
	dir_listing_free(d->l);
	free(d->inos);
	free(d);
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
	uint64_t bytes, lookups, ix_reads, ix_used, ix_writes;
	size_t files, inodes, inodes_peak;
	int w;

	if (fs->store->ops->stats)
		fs->store->ops->stats(fs->store, &n);
	pthread_mutex_lock(&fs->lock);
	wb_pending_stats(fs->wb, &files, &bytes);
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
		     "estimated_cost_usd %.6f\n"
		     "lookups %llu\ninodes %zu\ninodes_peak %zu\n"
		     "metadata_cached %zu\n"
		     "metadata_prefetched %llu\nmetadata_fetched %llu\n"
		     "metadata_hits %llu\nmetadata_loaded %llu\n"
		     "dir_index_reads %llu\ndir_index_used %llu\n"
		     "dir_index_writes %llu\n",
		     (unsigned long long)n.class_a,
		     (unsigned long long)n.class_b,
		     (unsigned long long)n.retries,
		     (unsigned long long)n.throttled,
		     (unsigned long long)n.failures,
		     (unsigned long long)n.bytes_up,
		     (unsigned long long)n.bytes_down, files,
		     (unsigned long long)bytes, store_stats_cost(&n),
		     (unsigned long long)lookups, inodes, inodes_peak,
		     ac.entries,
		     (unsigned long long)ac.prefetches,
		     (unsigned long long)ac.fetches,
		     (unsigned long long)(ac.hits + ac.waits),
		     (unsigned long long)ac.loaded,
		     (unsigned long long)ix_reads,
		     (unsigned long long)ix_used,
		     (unsigned long long)ix_writes);
	return w < 0 || (size_t)w >= len ? -ERANGE : w;
}

ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name,
		    char *buf, size_t size)
{
	char value[2048];
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
			wb_state_string(in, value, sizeof(value));
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
			wb_touch(fs->wb, in);
		} else {
			attr_cache_forget(fs->ac, in->path);
			wb_touch_meta(fs->wb, in);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (staged && closed) {
		pthread_rwlock_wrlock(&in->stage_lock);
		rc = wb_commit(fs->wb, in);
		pthread_rwlock_unlock(&in->stage_lock);
	} else if (deferred) {
		if (fs->conf->sync_upload)
			rc = wb_sync(fs->wb, in);
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
