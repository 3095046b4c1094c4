/*
 * meta.c - attributes <-> metadata, and directory listings.
 *
 * The dir cache is a small array of listings with LRU replacement: a
 * mount rarely works in more than a few hundred directories at once, and
 * each lookup in a listed directory is a binary search.
 */
#include "meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static unsigned long parse_ulong(const char *s, int base, bool *ok)
{
	char *end;
	unsigned long v;

	*ok = false;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || *s == '-')
		return 0;
	*ok = true;
	return v;
}

bool meta_parse_mode(const char *s, unsigned long *mode)
{
	unsigned long v;
	bool ok;

	/* s3fs writes st_mode in decimal ("33188"); rclone in octal
	 * ("100644", "644").  A decimal value above 0177777 cannot be a
	 * mode, so it must be octal. */
	v = parse_ulong(s, 10, &ok);
	if (ok && v <= 0177777 && strspn(s, "01234567") != strlen(s)) {
		*mode = v;
		return true;
	}
	if (ok && v <= 0177777 && v > 07777) {
		*mode = v; /* all-octal digits but decimal-sized: s3fs */
		return true;
	}
	v = parse_ulong(s, 8, &ok);
	if (ok && v <= 0177777) {
		if (!(v & S_IFMT))
			v |= S_IFREG; /* permissions only */
		*mode = v;
		return true;
	}
	return false;
}


void meta_attr_default(const struct meta_defaults *d, mode_t type,
		       uint64_t size, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = type | ((type == S_IFDIR ? 0777 : 0666) & ~d->umask);
	st->st_nlink = type == S_IFDIR ? 2 : 1;
	st->st_uid = d->uid;
	st->st_gid = d->gid;
	st->st_size = type == S_IFDIR ? 0 : (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_mtim.tv_sec = mtime;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

void meta_values_from_object(const struct store_object *obj,
			     struct meta_values *v)
{
	unsigned long n;
	bool ok;

	memset(v, 0, sizeof(*v));
	if (meta_parse_mode(store_object_meta(obj, "mode"), &n)) {
		v->mode = (mode_t)n;
		v->has |= META_HAS_MODE;
	}
	n = parse_ulong(store_object_meta(obj, "uid"), 10, &ok);
	if (ok) {
		v->uid = (uid_t)n;
		v->has |= META_HAS_UID;
	}
	n = parse_ulong(store_object_meta(obj, "gid"), 10, &ok);
	if (ok) {
		v->gid = (gid_t)n;
		v->has |= META_HAS_GID;
	}
	if (util_parse_time(store_object_meta(obj, "mtime"), &v->mtime))
		v->has |= META_HAS_MTIME;
	/* s3fs also keeps these */
	if (util_parse_time(store_object_meta(obj, "ctime"), &v->ctime))
		v->has |= META_HAS_CTIME;
	if (util_parse_time(store_object_meta(obj, "atime"), &v->atime))
		v->has |= META_HAS_ATIME;
	n = parse_ulong(store_object_meta(obj, "rdev"), 10, &ok);
	if (ok) {
		v->rdev = (dev_t)n;
		v->has |= META_HAS_RDEV;
	}
}

void meta_attr_from_values(const struct meta_defaults *d, mode_t type,
			   uint64_t size, time_t lastmod,
			   const struct meta_values *v, struct stat *st)
{
	meta_attr_default(d, type, size, lastmod, st);
	if (v->has & META_HAS_MODE) {
		/* keep the type the key implies; take the permissions, and
		 * a symlink type from a file object */
		mode_t t = v->mode & S_IFMT;

		if (type == S_IFREG &&
		    (t == S_IFLNK || t == S_IFIFO || t == S_IFSOCK ||
		     t == S_IFCHR || t == S_IFBLK))
			type = t;
		st->st_mode = type | (v->mode & 07777);
	}
	if (v->has & META_HAS_UID)
		st->st_uid = v->uid;
	if (v->has & META_HAS_GID)
		st->st_gid = v->gid;
	if (v->has & META_HAS_MTIME) {
		st->st_mtim = v->mtime;
		st->st_ctim = v->mtime;
		st->st_atim = v->mtime;
	}
	if (v->has & META_HAS_CTIME)
		st->st_ctim = v->ctime;
	if (v->has & META_HAS_ATIME)
		st->st_atim = v->atime;
	if ((v->has & META_HAS_RDEV) &&
	    (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)))
		st->st_rdev = v->rdev;
}

void meta_values_from_attr(const struct stat *st, unsigned has,
			   struct meta_values *v)
{
	memset(v, 0, sizeof(*v));
	v->has = has & (META_HAS_ALL | META_HAS_RDEV);
	v->mode = st->st_mode;
	v->uid = st->st_uid;
	v->gid = st->st_gid;
	v->mtime = st->st_mtim;
	v->ctime = st->st_ctim;
	v->atime = st->st_atim;
	v->rdev = st->st_rdev;
}

unsigned meta_attr_from_object(const struct meta_defaults *d,
			       const struct store_object *obj, mode_t type,
			       struct stat *st)
{
	struct meta_values v;

	meta_values_from_object(obj, &v);
	meta_attr_from_values(d, type, obj->size, obj->last_modified, &v, st);
	return v.has;
}

void meta_to_headers(const struct stat *st, struct meta_headers *h)
{
	static const char *const names[] = { "mode", "uid", "gid", "mtime" };
	size_t i;

	snprintf(h->val[0], sizeof(h->val[0]), "%u", (unsigned)st->st_mode);
	snprintf(h->val[1], sizeof(h->val[1]), "%u", (unsigned)st->st_uid);
	snprintf(h->val[2], sizeof(h->val[2]), "%u", (unsigned)st->st_gid);
	if (st->st_mtim.tv_nsec)
		snprintf(h->val[3], sizeof(h->val[3]), "%lld.%09ld",
			 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	else
		snprintf(h->val[3], sizeof(h->val[3]), "%lld",
			 (long long)st->st_mtim.tv_sec);
	for (i = 0; i < 4; i++) {
		h->kv[i].name = (char *)names[i];
		h->kv[i].value = h->val[i];
	}
	h->n = 4;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		snprintf(h->val[h->n], sizeof(h->val[h->n]), "%llu",
			 (unsigned long long)st->st_rdev);
		h->kv[h->n].name = (char *)"rdev";
		h->kv[h->n].value = h->val[h->n];
		h->n++;
	}
}

void meta_headers_add_ctime(struct meta_headers *h, const struct stat *st)
{
	if (h->n >= 6)
		return;
	if (st->st_ctim.tv_nsec)
		snprintf(h->val[h->n], sizeof(h->val[h->n]), "%lld.%09ld",
			 (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	else
		snprintf(h->val[h->n], sizeof(h->val[h->n]), "%lld",
			 (long long)st->st_ctim.tv_sec);
	h->kv[h->n].name = (char *)"ctime";
	h->kv[h->n].value = h->val[h->n];
	h->n++;
}

void meta_headers_add_xattrs(struct meta_headers *h, const char *encoded)
{
	if (!encoded || !encoded[0] || h->n >= 7)
		return;
	h->kv[h->n].name = (char *)"xattr";
	h->kv[h->n].value = (char *)encoded;
	h->n++;
}

/* --- listings --- */

struct dir_listing *dir_listing_new(const char *path)
{
	struct dir_listing *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->path = strdup(path);
	if (!l->path) {
		free(l);
		return NULL;
	}
	l->sorted = true;
	return l;
}

void dir_listing_free(struct dir_listing *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->e[i].name);
		free(l->e[i].etag);
	}
	free(l->e);
	free(l->path);
	free(l);
}

int dir_listing_add(struct dir_listing *l, const char *name, mode_t type,
		    uint64_t size, time_t mtime, const char *etag)
{
	struct dir_entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	e = &l->e[l->n];
	e->name = strdup(name);
	e->etag = etag ? strdup(etag) : NULL;
	if (!e->name || (etag && !e->etag)) {
		free(e->name);
		free(e->etag);
		return -ENOMEM;
	}
	e->type = type;
	e->size = size;
	e->mtime = mtime;
	if (l->n > 0 && strcmp(l->e[l->n - 1].name, name) >= 0)
		l->sorted = false;
	l->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct dir_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	/* files first, so dedup keeps the file */
	return (x->type == S_IFDIR) - (y->type == S_IFDIR);
}

void dir_listing_finish(struct dir_listing *l)
{
	size_t i, o = 0;

	if (!l->sorted)
		qsort(l->e, l->n, sizeof(*l->e), entry_cmp);
	for (i = 0; i < l->n; i++) {
		if (o > 0 && !strcmp(l->e[o - 1].name, l->e[i].name)) {
			free(l->e[i].name);
			free(l->e[i].etag);
			continue;
		}
		l->e[o++] = l->e[i];
	}
	l->n = o;
	l->sorted = true;
}

static size_t lower_bound(const struct dir_listing *l, const char *name)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(l->e[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct dir_entry *dir_listing_find(const struct dir_listing *l,
					 const char *name)
{
	size_t i = lower_bound(l, name);

	return i < l->n && !strcmp(l->e[i].name, name) ? &l->e[i] : NULL;
}

/* --- the cache --- */

struct dir_cache {
	struct dir_listing **slot;
	double *used; /* LRU clock per slot */
	size_t max;
	double tick;
};

struct dir_cache *dir_cache_new(size_t max_dirs)
{
	struct dir_cache *dc = calloc(1, sizeof(*dc));

	if (!dc)
		return NULL;
	dc->max = max_dirs ? max_dirs : 1;
	dc->slot = calloc(dc->max, sizeof(*dc->slot));
	dc->used = calloc(dc->max, sizeof(*dc->used));
	if (!dc->slot || !dc->used) {
		dir_cache_free(dc);
		return NULL;
	}
	return dc;
}

void dir_cache_free(struct dir_cache *dc)
{
	size_t i;

	if (!dc)
		return;
	for (i = 0; dc->slot && i < dc->max; i++)
		dir_listing_free(dc->slot[i]);
	free(dc->slot);
	free(dc->used);
	free(dc);
}

static ssize_t slot_of(struct dir_cache *dc, const char *path)
{
	size_t i;

	for (i = 0; i < dc->max; i++)
		if (dc->slot[i] && !strcmp(dc->slot[i]->path, path))
			return (ssize_t)i;
	return -1;
}

const struct dir_listing *dir_cache_find(struct dir_cache *dc,
					 const char *path, double now,
					 double ttl)
{
	ssize_t i = slot_of(dc, path);

	if (i < 0)
		return NULL;
	/* an expired listing stays (until replaced or evicted): it still
	 * tells how big the directory was and what we had added to it */
	if (now - dc->slot[i]->fetched > ttl)
		return NULL;
	dc->used[i] = ++dc->tick;
	return dc->slot[i];
}

void dir_cache_put(struct dir_cache *dc, struct dir_listing *l)
{
	ssize_t i = slot_of(dc, l->path);
	size_t j, victim = 0;

	if (i < 0) {
		for (j = 0; j < dc->max; j++) {
			if (!dc->slot[j]) {
				victim = j;
				break;
			}
			if (dc->used[j] < dc->used[victim])
				victim = j;
		}
		i = (ssize_t)victim;
	}
	dir_listing_free(dc->slot[i]);
	dc->slot[i] = l;
	dc->used[i] = ++dc->tick;
}

void dir_cache_upsert(struct dir_cache *dc, const char *dir,
		      const char *name, mode_t type, uint64_t size,
		      time_t mtime, const char *etag)
{
	ssize_t i = slot_of(dc, dir);
	struct dir_listing *l;
	struct dir_entry *e;
	size_t pos;

	if (i < 0)
		return;
	l = dc->slot[i];
	pos = lower_bound(l, name);
	if (pos < l->n && !strcmp(l->e[pos].name, name)) {
		char *tag = etag ? strdup(etag) : NULL;

		e = &l->e[pos];
		e->type = type;
		e->size = size;
		e->mtime = mtime;
		free(e->etag);
		e->etag = tag;
		return;
	}
	/* append, then rotate into place */
	if (dir_listing_add(l, name, type, size, mtime, etag)) {
		dir_cache_drop(dc, dir); /* can't keep it exact: forget it */
		return;
	}
	if (pos < l->n - 1) {
		struct dir_entry tmp = l->e[l->n - 1];

		memmove(&l->e[pos + 1], &l->e[pos],
			(l->n - 1 - pos) * sizeof(*l->e));
		l->e[pos] = tmp;
	}
	l->sorted = true;
}

void dir_cache_remove(struct dir_cache *dc, const char *dir,
		      const char *name)
{
	ssize_t i = slot_of(dc, dir);
	struct dir_listing *l;
	size_t pos;

	if (i < 0)
		return;
	l = dc->slot[i];
	pos = lower_bound(l, name);
	if (pos >= l->n || strcmp(l->e[pos].name, name))
		return;
	free(l->e[pos].name);
	free(l->e[pos].etag);
	memmove(&l->e[pos], &l->e[pos + 1],
		(l->n - pos - 1) * sizeof(*l->e));
	l->n--;
}

void dir_cache_set_indexed(struct dir_cache *dc, const char *dir,
			   double fetched, size_t n)
{
	ssize_t i = slot_of(dc, dir);

	if (i >= 0 && dc->slot[i]->fetched == fetched)
		dc->slot[i]->indexed = n;
}

void dir_cache_drop(struct dir_cache *dc, const char *dir)
{
	ssize_t i = slot_of(dc, dir);

	if (i >= 0) {
		dir_listing_free(dc->slot[i]);
		dc->slot[i] = NULL;
	}
}

void dir_cache_drop_tree(struct dir_cache *dc, const char *dir)
{
	size_t i, n = strlen(dir);
	const char *p;

	for (i = 0; i < dc->max; i++) {
		if (!dc->slot[i])
			continue;
		p = dc->slot[i]->path;
		if (n && (strncmp(p, dir, n) || (p[n] && p[n] != '/')))
			continue;
		dir_listing_free(dc->slot[i]);
		dc->slot[i] = NULL;
	}
}

void dir_cache_clear(struct dir_cache *dc)
{
	size_t i;

	for (i = 0; i < dc->max; i++) {
		dir_listing_free(dc->slot[i]);
		dc->slot[i] = NULL;
	}
}
