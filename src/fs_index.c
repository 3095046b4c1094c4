/*
 * fs_index.c - directory indexes in the bucket (dirindex.h): reading one
 * to spare a big directory's HEADs, filling the attribute cache from the
 * entries that stand for the version listed, writing one after a reader
 * got the metadata, and the cuts that let the rest of a listing be asked
 * for in ranges.  Advisory throughout: a damaged, stale or missing index
 * means HEADs as before, never a wrong answer.
 */
#include "fs_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrcache.h"
#include "conf.h"
#include "dirindex.h"
#include "inode.h"
#include "log.h"
#include "meta.h"
#include "store.h"
#include "wbcache.h"
#include "util.h"

/*
 * The index of the directory whose key is dkey, into *ix: empty when there
 * is none or it cannot be used (it is advisory: never an error).  One GET,
 * so the bytes are of one version.  Not locked.
 */
void index_read(struct fs *fs, const char *dkey, struct dir_index *ix)
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
size_t index_unknown(struct fs *fs, const struct dir_listing *l)
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

	return in && (local_changes(fs, in) ||
		      in->attr.st_ctim.tv_sec >= since);
}

/*
 * Locked.  Metadata for the listed files l->e[from, to) from ix, where it
 * may stand for the version listed; counted in l->indexed.  since: real
 * time when the listing began (what changed here after is not taken).
 */
void index_fill(struct fs *fs, struct dir_listing *l,
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
void index_apply(struct fs *fs, struct dir_listing *l,
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
void index_write(struct fs *fs, const struct dir_listing *l)
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
		    !dir_index_worth(m.etag, e->size, m.lastmod, m.checked) ||
		    S_ISCHR(m.st.st_mode) || S_ISBLK(m.st.st_mode))
			continue; /* (an index keeps no device number) */
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
	rc = fd < 0 ? -errno : util_write_all(fd, b.s, b.len);
	if (rc)
		goto out;
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

/*
 * Cuts at which the rest of directory dkey's listing, past key last, can
 * be listed in ranges (listranges.h): index names FS_LIST_RANGE_NAMES
 * apart.  Their count, 0 when the rest is short; *cuts is malloc'd, each
 * a malloc'd full key (free_cuts).
 */
size_t index_cuts(const struct dir_index *ix, const char *dkey,
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

void free_cuts(char **cuts, size_t n)
{
	while (n)
		free(cuts[--n]);
	free(cuts);
}
