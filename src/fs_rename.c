/*
 * fs_rename.c - rename of files and directories.
 *
 * A file with a stage (not uploaded yet, or open for writing) is renamed
 * in the journal: its record names the new path, one PUT follows, and the
 * old key's older version is deleted.  An uploaded file is CopyObject +
 * DELETE (the copy is removed again if the DELETE fails: never two
 * names).  A directory is every key below it copied and deleted, 16 at a
 * time, after an intent is written to the journal, so a rename cut short
 * by a crash is finished at the next mount.
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
#include "log.h"
#include "meta.h"
#include "stage.h"
#include "store.h"
#include "wbcache.h"
#include "util.h"

/* dst = a + b; dst has room for both and the NUL. */
static void sprintf_path(char *dst, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	memcpy(dst, a, la);
	memcpy(dst + la, b, lb + 1);
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
	if (in && (in->stage || in->attr_expires > util_now_mono())) {
		*type = in->attr.st_mode & S_IFMT;
		rc = 0;
	} else if ((l = dir_cache_find(fs->dirs,
				       parent_of(path, dir, sizeof(dir)),
				       util_now_mono(), fs->conf->dir_timeout))) {
		e = dir_listing_find(l, base_of(path));
		if (e)
			*type = e->type;
		rc = e ? 0 : -ENOENT;
	}
	if (rc == -ENOENT && dir_has_pending(fs, path)) {
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
	forget_upload(fs, old);
	inode_unhash_path(fs->inodes, old);
	journal_maybe_release(fs, old);
	old->refs--;
	inode_maybe_free(fs->inodes, old);
}

/*
 * Rename a file that has a local stage: the journal carries it.
 * replaces: a file had the new name; its object, if the bucket holds
 * one, is deleted now rather than left for our upload to overwrite, as
 * we may be renamed away before that upload (it would come back).
 */
static int rename_staged(struct fs *fs, struct inode *in, const char *npath,
			 bool replaces)
{
	char *oldkey = NULL, *nkey = NULL;
	struct wb_file *wf;
	struct inode *old;
	bool closed;
	int rc, drc;

	/* the old key is deleted below */
	rc = complete_stage(fs, in);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	wf = quiet_begin(fs, in);
	if (in->etag[0]) /* an older version is in the bucket */
		oldkey = key_of(fs, in->path, false);
	old = inode_find_path(fs->inodes, npath);
	if (old && old != in)
		drop_replaced(fs, old);
	rc = inode_set_path(fs->inodes, in, npath);
	if (!rc && in->wbf)
		rc = wb_file_set_path(fs->wb, in->wbf, npath);
	if (!rc) {
		in->etag[0] = '\0';
		in->attr.st_ctim = now_real();
		/* a rename replaces whatever is there */
		wb_file_set_base(fs->wb, in->wbf, JOURNAL_BASE_ANY, NULL);
		wb_touch(fs->wb, in->wbf);
	}
	closed = in->writers == 0;
	pthread_mutex_unlock(&fs->lock);
	if (!rc && replaces) {
		/* still held: our upload cannot land before the DELETE */
		nkey = key_of(fs, npath, false);
		drc = nkey ? fs->store->ops->remove(fs->store, nkey) : -ENOMEM;
		if (drc && drc != -ENOENT)
			log_warn("%s: the version it replaced could not be "
				 "deleted (%s); the upload overwrites it",
				 npath, strerror(-drc));
	}
	pthread_mutex_lock(&fs->lock);
	quiet_end(fs, wf);
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		goto out;
	if (closed) /* the record names the new path: one PUT, no COPY */
		rc = commit_meta_file(fs, in);
	if (!rc && oldkey)
		rc = fs->store->ops->remove(fs->store, oldkey);
out:
	free(oldkey);
	free(nkey);
	return rc;
}

/*
 * Rename a file whose contents are in the bucket (in: its inode, if we
 * have one): CopyObject and DELETE.  The file whose name it takes may
 * wait for its upload, and ours for a metadata copy: neither may land on
 * a key being moved, so both are held meanwhile; the one replaced then
 * leaves the journal (its version is gone: rename(2) replaces).
 */
static int rename_uploaded(struct fs *fs, struct inode *in, const char *key,
			   const char *nkey, const char *npath)
{
	struct wb_file *owf = NULL, *iwf = NULL;
	struct inode *old;
	int rc;

	pthread_mutex_lock(&fs->lock);
	old = inode_find_path(fs->inodes, npath);
	if (old == in)
		old = NULL;
	if (old) {
		old->refs++;
		owf = quiet_begin(fs, old);
	}
	if (in)
		iwf = quiet_begin(fs, in);
	pthread_mutex_unlock(&fs->lock);
	rc = fs->store->ops->copy(fs->store, key, nkey, NULL);
	if (!rc) {
		rc = fs->store->ops->remove(fs->store, key);
		if (rc) /* never leave two names: undo the copy */
			fs->store->ops->remove(fs->store, nkey);
	}
	pthread_mutex_lock(&fs->lock);
	/* still held: no upload of old may start before it is forgotten */
	if (!rc && old && inode_find_path(fs->inodes, npath) == old)
		drop_replaced(fs, old);
	if (!rc && in) {
		rc = inode_set_path(fs->inodes, in, npath);
		if (!rc && in->wbf)
			rc = wb_file_set_path(fs->wb, in->wbf, npath);
		in->attr.st_ctim = now_real();
	}
	quiet_end(fs, owf);
	quiet_end(fs, iwf);
	if (old) {
		journal_maybe_release(fs, old);
		old->refs--;
		inode_maybe_free(fs->inodes, old);
	}
	pthread_mutex_unlock(&fs->lock);
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
int move_keys(void *arg, const char *from, const char *to)
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
 * and release, and their journal entries held (NULL where none): none of
 * them may upload before the keys below from have moved, or move_keys
 * would copy an older version over it.
 */
static int repath_tree(struct fs *fs, const char *from, const char *to,
		       struct inode ***pending, struct wb_file ***held,
		       size_t *npending)
{
	struct tree_walk w = { .from = from, .flen = strlen(from) };
	struct wb_file **wfs = NULL;
	struct inode *in;
	size_t i;
	char *np;
	int rc = 0;

	/* collect first: inode_set_path rehashes */
	inode_for_each(fs->inodes, collect_below, &w);
	if (w.nomem)
		rc = -ENOMEM;
	if (w.n && !(wfs = calloc(w.n, sizeof(*wfs))))
		rc = -ENOMEM;
	for (i = 0; i < w.n && !rc; i++) {
		in = w.list[i];
		wfs[i] = quiet_begin(fs, in);
		np = malloc(strlen(to) + strlen(in->path) - w.flen + 1);
		rc = np ? 0 : -ENOMEM;
		if (np) {
			sprintf_path(np, to, in->path + w.flen);
			rc = inode_set_path(fs->inodes, in, np);
		}
		if (!rc && wfs[i])
			rc = wb_file_set_path(fs->wb, wfs[i], np);
		free(np);
		if (!rc && in->stage && wb_file_pending(fs->wb, wfs[i])) {
			/* its record names the path; the old key's version
			 * moves there too, so no condition can hold */
			wb_file_set_base(fs->wb, wfs[i], JOURNAL_BASE_ANY,
					 NULL);
			wb_touch(fs->wb, wfs[i]);
		}
	}
	*pending = w.list;
	*held = wfs;
	*npending = w.n;
	return rc;
}

static int rename_dir(struct fs *fs, const char *path, const char *npath,
		      mode_t ntype, int nexists)
{
	struct inode **list = NULL, *old;
	struct wb_file **held = NULL;
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
		rc = dir_empty_in_bucket(fs, to);
		if (rc && rc != -ENOTEMPTY)
			goto out;
		pthread_mutex_lock(&fs->lock);
		if (dir_has_pending(fs, npath))
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
	rc = journal_intent_begin(wb_journal(fs->wb), from, to, &intent);
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	rc = repath_tree(fs, path, npath, &list, &held, &n);
	/* what was listed at or below either name is stale; the parents'
	 * listings are kept in step by our caller */
	dir_cache_drop_tree(fs->dirs, path);
	dir_cache_drop_tree(fs->dirs, npath);
	attr_cache_forget_tree(fs->ac, path);
	attr_cache_forget_tree(fs->ac, npath);
	pthread_mutex_unlock(&fs->lock);
	/* files not uploaded yet: their records now name the new paths;
	 * open files' stages fetch the rest before their objects move */
	for (i = 0; i < n && !rc; i++)
		rc = complete_stage(fs, list[i]);
	for (i = 0; i < n && !rc; i++)
		rc = commit_file(fs, list[i]);
	if (!rc)
		rc = move_keys(fs, from, to);
	/* what prefetches cached meanwhile under either name is stale */
	pthread_mutex_lock(&fs->lock);
	attr_cache_forget_tree(fs->ac, path);
	attr_cache_forget_tree(fs->ac, npath);
	pthread_mutex_unlock(&fs->lock);
	if (!rc)
		journal_intent_end(wb_journal(fs->wb), intent);
	else
		log_err("rename of %s to %s stopped: %s; it is finished at "
			"the next mount", path, npath, strerror(-rc));
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < n; i++) {
		/* the keys have moved (or the rename stopped): uploads of
		 * what is pending below may go */
		if (held)
			quiet_end(fs, held[i]);
		list[i]->refs--;
		inode_maybe_free(fs->inodes, list[i]);
	}
	pthread_mutex_unlock(&fs->lock);
	wb_kick(fs->wb);
out:
	free(list);
	free(held);
	free(from);
	free(to);
	return rc;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags)
{
	struct inode *p, *np, *in = NULL;
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
		if (rc)
			goto out;
		pthread_mutex_lock(&fs->lock);
		dir_cache_remove(fs->dirs, ppath, name);
		dir_cache_upsert(fs->dirs, nppath, newname, S_IFDIR, 0,
				 now_real().tv_sec, NULL);
		p = inode_find(fs->inodes, parent);
		if (p)
			touch_dir(fs, p);
		np = inode_find(fs->inodes, newparent);
		if (np)
			touch_dir(fs, np);
		pthread_mutex_unlock(&fs->lock);
		goto out;
	}
	if (rc == 0 && ntype == S_IFDIR) {
		rc = -EISDIR;
		goto out;
	}
	if (in && in->stage) {
		rc = rename_staged(fs, in, npath, rc == 0);
	} else {
		key = key_of(fs, path, false);
		nkey = key_of(fs, npath, false);
		if (!key || !nkey) {
			rc = -ENOMEM;
			goto out;
		}
		rc = rename_uploaded(fs, in, key, nkey, npath);
	}
	if (rc)
		goto out;
	pthread_mutex_lock(&fs->lock);
	size = in ? (uint64_t)in->attr.st_size : 0;
	mtime = in ? in->attr.st_mtim.tv_sec : now_real().tv_sec;
	if (in && in->stage)
		size = in->stage->size;
	dir_cache_remove(fs->dirs, ppath, name);
	p = inode_find(fs->inodes, parent);
	if (p)
		touch_dir(fs, p);
	np = inode_find(fs->inodes, newparent);
	if (np)
		touch_dir(fs, np);
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
