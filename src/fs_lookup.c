/*
 * fs_lookup.c - what a name is: lookup, getattr, forget and eviction.
 *
 * A lookup answers from, in order: the inode itself (staged, pending, or
 * attributes still fresh), a fresh listing of the parent with the
 * entry's metadata from the attribute cache (HEADed once, prefetched for
 * listed directories), a HEAD made lately, and last a probe of the store
 * (HEAD file, HEAD marker, one-key LIST).  A directory whose names are
 * looked up one by one (rsync, tar -x) is listed after a second miss, so
 * the names that follow, and those that are not there, cost nothing.
 */
#include "fs_i.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attrcache.h"
#include "conf.h"
#include "inode.h"
#include "meta.h"
#include "store.h"
#include "wbcache.h"
#include "xattr.h"
#include "util.h"

/* lookups in one directory, within FS_LOOKUP_WINDOW seconds and with no
 * listing cached, after which it is listed (rsync, tar -x, git checkout
 * stat many names in a directory they never read) ... */
#define FS_LIST_AFTER_LOOKUPS 2
#define FS_LOOKUP_WINDOW 2.0
/* ... at most once in this many seconds */
#define FS_RELIST_FOR_LOOKUPS 30.0
/* seconds the kernel's copy of attributes is made to expire before ours
 * (fs_attr_ttl) */
#define FS_TTL_MARGIN 0.01

/*
 * Ask the store what path is: HEAD the file, HEAD the directory marker,
 * then look for any key below it.  No lock held.
 */
int probe_path(struct fs *fs, const char *path, struct probe_result *r)
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
		attr_cache_fill(fs->ac, path, S_IFREG, &m, util_now_mono());
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
int fetch_meta(void *arg, const char *path, mode_t type,
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

bool newer_than(const struct fs *fs, const struct inode *in, double when)
{
	/* attr_expires is when they were fetched plus at most stat_timeout */
	return in->attr_expires - fs->conf->stat_timeout > when;
}

/* Put probed or listed attributes into in, unless local state rules. */
void set_remote_attr(struct fs *fs, struct inode *in,
			    const struct stat *st, bool has_meta,
			    const char *etag, double expires)
{
	struct timespec mtime = in->attr.st_mtim, ctime = in->attr.st_ctim;

	if (local_changes(fs, in))
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
	if (etag && strcmp(etag, in->etag)) {
		in->xattrs_known = false; /* another version: reload */
		if (in->kcache_tag && in->etag[0]) {
			/* the kernel may hold pages of the old version:
			 * have them dropped now, not at the next open only
			 * (an mmap, a descriptor open before) */
			in->kcache_tag = 0;
			if (fs->changed)
				fs->changed(fs->changed_arg, in->ino);
		}
	}
	in->attr.st_ino = in->ino;
	if (in->times_local && S_ISDIR(in->attr.st_mode) &&
	    mtime.tv_sec >= in->attr.st_mtim.tv_sec) {
		/* what we did in it is newer than its marker says */
		in->attr.st_mtim = mtime;
		in->attr.st_ctim = ctime;
	}
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
	l = dir_cache_find(fs->dirs, dir, util_now_mono(), fs->conf->dir_timeout);
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
struct inode *inode_for(struct fs *fs, const char *path, mode_t type)
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

/*
 * Locked.  A fresh listing of directory p for a lookup in it: the cached
 * one, or, when it is time (list_for_lookups), one LIST page that answers
 * this lookup and the next ones, whose metadata is prefetched in
 * parallel; lookups meanwhile wait for it rather than list again.  *out
 * NULL when there is none (a probe follows).  -ESTALE if p went away
 * while the lock was dropped.
 */
static int listing_for_lookup(struct fs *fs, struct inode *p, double now,
			      const struct dir_listing **out)
{
	const struct dir_listing *l;
	char *ppath;

	l = dir_cache_find(fs->dirs, p->path, now, fs->conf->dir_timeout);
	*out = l;
	if (l || !(p->listing_for_lookups || list_for_lookups(fs, p, now)))
		return 0;
	ppath = strdup(p->path);
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
		*out = dir_cache_find(fs->dirs, p->path, util_now_mono(),
				      fs->conf->dir_timeout);
	free(ppath);
	return inode_maybe_free(fs->inodes, p) ? -ESTALE : 0;
}

/*
 * Locked.  name in directory p (its path in path) as listing l shows it:
 * -ENOENT if not there, else its inode with the attributes the cache
 * holds for that version (or fetches: the lock is dropped meanwhile).
 */
static int lookup_listed(struct fs *fs, struct inode *p, const char *path,
			 const char *name, const struct dir_listing *l,
			 struct inode **out)
{
	double expires = l->fetched + listed_ttl(fs);
	const struct dir_entry *e = dir_listing_find(l, name);
	struct dir_entry listed;
	struct attr_meta m;
	struct inode *in;
	char letag[128];
	bool fetched;
	mode_t type;
	int rc;

	if (!e)
		return -ENOENT;
	/* copy: the listing may change while the lock is dropped */
	listed = *e;
	snprintf(letag, sizeof(letag), "%s", e->etag ? e->etag : "");
	listed.etag = letag;
	rc = listed_attr(fs, path, &listed, &m, &fetched);
	if (rc)
		return rc;
	if (fetched)
		prefetch_after(fs, p->path, name);
	type = m.st.st_mode & S_IFMT; /* a file may be a symlink */
	in = inode_for(fs, path, type);
	if (!in)
		return -ENOMEM;
	if (!newer_than(fs, in, l->fetched))
		set_remote_attr(fs, in, &m.st, true,
				S_ISDIR(type) ? NULL : m.etag, expires);
	*out = in;
	return 0;
}

int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st)
{
	const struct dir_listing *l;
	struct probe_result pr;
	struct attr_meta m;
	struct inode *p, *in;
	char *path = NULL;
	double now = util_now_mono();
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
	if (rc == -EILSEQ || rc == -EACCES ||
	    (rc == -ENAMETOOLONG && strlen(name) <= FS_NAME_MAX))
		rc = -ENOENT; /* no key can have this name (not UTF-8, over
				 the key limit); or r2fs's own */
	if (rc)
		goto out;
	path = child_path(p->path, name);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	in = inode_find_path(fs->inodes, path);
	if (in && (local_changes(fs, in) ||
		   in->attr_expires > now))
		goto found;
	if (is_doomed(fs, path)) {
		rc = -ENOENT;
		goto out;
	}
	if (dir_has_pending(fs, path)) {
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
	rc = listing_for_lookup(fs, p, now, &l);
	if (rc)
		goto out;
	if (l) {
		rc = lookup_listed(fs, p, path, name, l, &in);
		if (rc)
			goto out;
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
	fill_attr(fs, in, st);
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
		    in->refs || in->opens || in->stage || in->wbf ||
		    in->unlinked ||
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

int refresh_attr(struct fs *fs, struct inode *in)
{
	struct probe_result pr;
	struct attr_meta m;
	char *path = NULL;
	double now = util_now_mono();
	int rc = 0;

	if (in->ino == INODE_ROOT || local_changes(fs, in) ||
	    in->unlinked || in->attr_expires > now ||
	    S_ISDIR(in->attr.st_mode))
		return 0;
	if (attr_known(fs, in->path, &m) &&
	    (m.st.st_mode & S_IFMT) == (in->attr.st_mode & S_IFMT)) {
		set_remote_attr(fs, in, &m.st, true, m.etag,
				m.fetched + fs->conf->stat_timeout);
		return 0;
	}
	path = strdup(in->path);
	if (!path)
		return -ENOMEM;
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
	if (rc)
		inode_maybe_free(fs->inodes, in);
	free(path);
	return rc;
}

double fs_attr_ttl(struct fs *fs, uint64_t ino)
{
	double ttl = fs->conf->stat_timeout, left;
	struct inode *in;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	/* those refresh_attr leaves alone keep the full time */
	if (in && in->ino != INODE_ROOT && !local_changes(fs, in) &&
	    !in->unlinked && !S_ISDIR(in->attr.st_mode)) {
		/* less a moment: the reply reaches the kernel later */
		left = in->attr_expires - util_now_mono() - FS_TTL_MARGIN;
		ttl = left < 0 ? 0 : left < ttl ? left : ttl;
	}
	pthread_mutex_unlock(&fs->lock);
	return ttl;
}

int fs_getattr(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct inode *in;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	in = inode_find(fs->inodes, ino);
	if (!in) {
		rc = -ESTALE;
		goto out;
	}
	rc = refresh_attr(fs, in);
	if (rc)
		goto out;
	inode_touch(fs->inodes, in);
	fill_attr(fs, in, st);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
