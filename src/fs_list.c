/*
 * fs_list.c - listing a directory: the strategy behind the dir cache.
 *
 * A directory is listed with a delimiter, one LIST per FS_LIST_PAGE
 * entries, the first FS_PREFETCH_EAGER entries queued for metadata HEADs
 * while the next page is asked for.  A directory about to be walked is
 * first listed with its whole subtree in one page without a delimiter
 * (list_subtree): every directory whose keys all came in that page is
 * cached; when the subtree is bigger, the directory's own listing goes on
 * from that page (a seed) instead of asking for it again.  With a
 * directory index (fs_index.c) the rest of a big listing is asked for in
 * parallel ranges.  What a LIST cannot show yet (files waiting in the
 * journal, files uploaded after the LIST was sent, names unlinked while
 * open) is added or removed here.
 */
#include "fs_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attrcache.h"
#include "conf.h"
#include "dirindex.h"
#include "inode.h"
#include "listranges.h"
#include "meta.h"
#include "stage.h"
#include "store.h"
#include "wbcache.h"
#include "util.h"

/* directories one subtree listing may fill in the dir cache */
#define FS_SUBTREE_DIRS 128
/* entries of a listing prefetched while it is listed; the rest once
 * someone asks for metadata there (fs_dir_will_need, prefetch_after) */
#define FS_PREFETCH_EAGER 1000
/* ranges of a big directory's listing asked for at a time */
#define FS_LIST_RANGE_THREADS 8

static void add_local_children(struct fs *fs, struct dir_listing *fresh,
			       const struct dir_listing *old);

struct dir_listing *listing_dup(const struct dir_listing *l)
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


/* The last key or prefix of a page (both lists are sorted). */
static const char *page_last(const struct store_list *p)
{
	const char *e = p->nentries ? p->entries[p->nentries - 1].key : NULL;
	const char *d = p->nprefixes ? p->prefixes[p->nprefixes - 1] : NULL;

	if (!e || !d)
		return e ? e : d;
	return strcmp(e, d) > 0 ? e : d;
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
	double started = seed ? seed->started : util_now_mono();
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
	double started = util_now_mono();
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
		cached = dir_cache_find(fs->dirs, l->path, util_now_mono(), 1e18);
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

	if (in->unlinked)
		return; /* its name is gone (unlink, replaced by a rename) */
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

/* wb_for_each_pending: a file waiting in the journal. */
static void add_pending_owner(void *arg, void *owner)
{
	add_pending(arg, owner);
}

struct pending_below {
	const char *dir;
	size_t n;
	bool found;
};

static void pending_below(void *arg, void *owner)
{
	struct pending_below *pb = arg;
	const struct inode *in = owner;

	if (!in->unlinked &&
	    (pb->n == 0 || (!strncmp(in->path, pb->dir, pb->n) &&
			    in->path[pb->n] == '/')))
		pb->found = true;
}

bool dir_has_pending(struct fs *fs, const char *dir)
{
	struct pending_below pb = { dir, strlen(dir), false };

	wb_for_each_pending(fs->wb, pending_below, &pb);
	return pb.found;
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
	wb_for_each_pending(fs->wb, add_pending_owner, &ls);
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
	cached = dir_cache_find(fs->dirs, path, util_now_mono(), 1e18);
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
int fetch_listing_walk(struct fs *fs, uint64_t ino, const char *path,
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
