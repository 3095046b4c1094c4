/*
 * attrcache.c - a hash table of key -> metadata with a FIFO for eviction,
 * and a queue of listed entries worked by prefetch threads.
 *
 * Keys are paths, with a trailing '/' for directories.  An entry is in one
 * of three states:
 *
 *   state      fetching  what it means
 *   filled     false     st/etag/lastmod hold a HEAD's result
 *   claimed    true      one thread is fetching; others wait on cond
 *   (none)               not in the table
 *
 * Transitions: none -> claimed (get, prefetch), filled -> claimed (stale),
 * claimed -> filled (fetch done), claimed -> none (fetch failed, or the
 * path was forgotten meanwhile: its result predates our own change),
 * filled -> none (forget, eviction).  Claimed entries are never evicted,
 * so a fetcher may drop the lock; it looks its entry up again afterwards.
 *
 * The prefetch queue is a FIFO of batches (one per listing page), each
 * with its own copies of the names and validators; threads take entries
 * in order and skip those already valid or claimed.
 */
#include "attrcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct ac_entry {
	char *key;
	char etag[AC_ETAG_MAX];
	time_t lastmod;
	time_t checked;
	unsigned present;
	double fetched; /* monotonic seconds */
	struct stat st;
	bool fetching;
	bool forgotten; /* while fetching: do not store the result */
	struct ac_entry *hnext;  /* hash chain */
	struct ac_entry *qnext;  /* FIFO, oldest first */
	struct ac_entry *qprev;
};

struct pf_item {
	char *name;
	char *etag; /* NULL: directories, files listed without one */
	time_t lastmod;
	mode_t type;
};

struct pf_batch {
	char *dir;
	double ttl; /* entries without an ETag: a fetch younger is kept */
	struct pf_item *items;
	size_t n, next;
	struct pf_batch *next_batch;
};

struct attr_cache {
	pthread_mutex_t *lock;
	pthread_cond_t cond; /* a fetch finished */
	struct ac_entry **buckets;
	size_t nbuckets;
	size_t count, max;
	struct ac_entry *qhead, *qtail;
	attr_fetch_fn fetch;
	void *fetch_arg;
	bool (*changed)(void *arg, const char *path); /* may be NULL */
	void *changed_arg;
	/* prefetching; protected by lock */
	struct pf_batch *pf_head, *pf_tail;
	size_t pf_queued, pf_max;
	pthread_cond_t pf_cond; /* work queued, or stopping */
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
	struct attr_cache_stats stats;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* "path" or "path/"; malloc'd, NULL on ENOMEM. */
static char *key_for(const char *path, mode_t type)
{
	size_t n = strlen(path);
	char *k = malloc(n + 2);

	if (!k)
		return NULL;
	memcpy(k, path, n);
	if (S_ISDIR(type))
		k[n++] = '/';
	k[n] = '\0';
	return k;
}

struct attr_cache *attr_cache_new(pthread_mutex_t *lock, size_t max,
				  attr_fetch_fn fetch, void *fetch_arg)
{
	struct attr_cache *ac = calloc(1, sizeof(*ac));

	if (!ac)
		return NULL;
	ac->lock = lock;
	ac->max = max ? max : 1;
	ac->pf_max = ac->max / 2 ? ac->max / 2 : 1;
	ac->fetch = fetch;
	ac->fetch_arg = fetch_arg;
	ac->nbuckets = 1;
	while (ac->nbuckets < ac->max)
		ac->nbuckets <<= 1;
	ac->buckets = calloc(ac->nbuckets, sizeof(*ac->buckets));
	if (!ac->buckets) {
		free(ac);
		return NULL;
	}
	pthread_cond_init(&ac->cond, NULL);
	pthread_cond_init(&ac->pf_cond, NULL);
	return ac;
}

void attr_cache_set_guard(struct attr_cache *ac,
			  bool (*changed)(void *arg, const char *path),
			  void *arg)
{
	ac->changed = changed;
	ac->changed_arg = arg;
}

/* Locked.  Has key's path local changes newer than any fetch? */
static bool changed_here(struct attr_cache *ac, const char *key)
{
	size_t n = strlen(key);
	char *path;
	bool c;

	if (!ac->changed)
		return false;
	if (n == 0 || key[n - 1] != '/')
		return ac->changed(ac->changed_arg, key);
	path = strndup(key, n - 1);
	c = !path || ac->changed(ac->changed_arg, path);
	free(path);
	return c;
}

static void batch_free(struct pf_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->items[i].name);
		free(b->items[i].etag);
	}
	free(b->items);
	free(b->dir);
	free(b);
}

/* Locked. */
static void drop_queue(struct attr_cache *ac)
{
	struct pf_batch *b;

	while ((b = ac->pf_head)) {
		ac->pf_head = b->next_batch;
		batch_free(b);
	}
	ac->pf_tail = NULL;
	ac->pf_queued = 0;
}

void attr_cache_free(struct attr_cache *ac)
{
	struct ac_entry *e, *n;

	if (!ac)
		return;
	attr_cache_stop(ac);
	drop_queue(ac);
	for (e = ac->qhead; e; e = n) {
		n = e->qnext;
		free(e->key);
		free(e);
	}
	pthread_cond_destroy(&ac->cond);
	pthread_cond_destroy(&ac->pf_cond);
	free(ac->buckets);
	free(ac);
}

static struct ac_entry **slot(struct attr_cache *ac, const char *key)
{
	struct ac_entry **pp = &ac->buckets[hash_str(key) &
					     (ac->nbuckets - 1)];

	while (*pp && strcmp((*pp)->key, key))
		pp = &(*pp)->hnext;
	return pp;
}

static void remove_entry(struct attr_cache *ac, struct ac_entry *e)
{
	struct ac_entry **pp = slot(ac, e->key);

	if (*pp == e)
		*pp = e->hnext;
	if (e->qprev)
		e->qprev->qnext = e->qnext;
	else
		ac->qhead = e->qnext;
	if (e->qnext)
		e->qnext->qprev = e->qprev;
	else
		ac->qtail = e->qprev;
	ac->count--;
	free(e->key);
	free(e);
}

/* A new entry for key (a copy is kept), evicting the oldest unclaimed
 * ones when full; NULL when nothing can be evicted or on ENOMEM. */
static struct ac_entry *add_entry(struct attr_cache *ac, const char *key)
{
	struct ac_entry *e, *victim;

	while (ac->count >= ac->max) {
		for (victim = ac->qhead; victim && victim->fetching;
		     victim = victim->qnext)
			;
		if (!victim)
			return NULL;
		remove_entry(ac, victim);
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	*slot(ac, key) = e;
	e->qprev = ac->qtail;
	if (ac->qtail)
		ac->qtail->qnext = e;
	else
		ac->qhead = e;
	ac->qtail = e;
	ac->count++;
	return e;
}

static bool entry_valid(struct ac_entry *e, const struct attr_want *w,
			double now)
{
	if (e->fetching)
		return false;
	if (w->etag) {
		if (!e->etag[0] || strcmp(e->etag, w->etag))
			return false;
		/* filled after our own upload, whose Last-Modified only
		 * the first listing showing that ETag tells */
		if (e->lastmod == 0 && w->lastmod != 0)
			e->lastmod = w->lastmod;
		return e->lastmod == w->lastmod;
	}
	return now - e->fetched <= w->ttl;
}

static void copy_out(const struct ac_entry *e, struct attr_meta *out)
{
	out->st = e->st;
	memcpy(out->etag, e->etag, sizeof(out->etag));
	out->lastmod = e->lastmod;
	out->present = e->present;
	out->checked = e->checked;
	out->fetched = e->fetched;
}

static void store(struct ac_entry *e, const struct attr_meta *m, double now)
{
	e->st = m->st;
	if (strlen(m->etag) < sizeof(e->etag))
		memcpy(e->etag, m->etag, sizeof(e->etag));
	else
		e->etag[0] = '\0'; /* too long to keep: never matches */
	e->lastmod = m->lastmod;
	e->present = m->present;
	e->checked = m->checked;
	e->fetched = now;
	e->fetching = false;
	e->forgotten = false;
}

/*
 * Locked.  After a fetch of key that was claimed by the caller (claimed:
 * the entry existed or was made for the claim), store or drop the result
 * and wake the waiters.
 */
static void finish_fetch(struct attr_cache *ac, const char *key, int rc,
			 const struct attr_meta *m)
{
	struct ac_entry *e = *slot(ac, key);

	if (!rc && changed_here(ac, key))
		rc = -EAGAIN; /* older than our own change: not kept */
	if (e && e->fetching) {
		if (rc || e->forgotten)
			remove_entry(ac, e);
		else
			store(e, m, m->fetched);
	} else if (!rc && !e) {
		/* the claim could not make an entry (full of claims): keep
		 * the result if there is room now */
		e = add_entry(ac, key);
		if (e)
			store(e, m, m->fetched);
	}
	pthread_cond_broadcast(&ac->cond);
}

int attr_cache_get(struct attr_cache *ac, const struct attr_want *w,
		   struct attr_meta *out, bool *fetched)
{
	struct ac_entry *e;
	char *key = key_for(w->path, w->type);
	double started;
	int rc;

	if (fetched)
		*fetched = false;
	if (!key)
		return -ENOMEM;
	for (;;) {
		e = *slot(ac, key);
		if (!e) {
			e = add_entry(ac, key);
			if (e)
				e->fetching = true;
			break;
		}
		if (!e->fetching) {
			if (entry_valid(e, w, util_now_mono())) {
				copy_out(e, out);
				ac->stats.hits++;
				free(key);
				return 0;
			}
			e->fetching = true; /* stale: fetch it again */
			break;
		}
		ac->stats.waits++;
		pthread_cond_wait(&ac->cond, ac->lock);
	}
	ac->stats.fetches++;
	if (fetched)
		*fetched = true;
	pthread_mutex_unlock(ac->lock);
	memset(out, 0, sizeof(*out));
	/* as old as the request, not its answer: a version uploaded while
	 * the HEAD was on its way may not be in it (close-to-open) */
	started = util_now_mono();
	rc = ac->fetch(ac->fetch_arg, w->path, w->type, w->lastmod, out);
	out->fetched = started;
	pthread_mutex_lock(ac->lock);
	finish_fetch(ac, key, rc, out);
	free(key);
	return rc;
}

int attr_cache_wait(struct attr_cache *ac, const struct attr_want *w,
		    struct attr_meta *out)
{
	char *key = key_for(w->path, w->type);
	struct ac_entry *e;
	int rc = -EAGAIN;

	if (!key)
		return -ENOMEM;
	while ((e = *slot(ac, key)) && e->fetching) {
		ac->stats.waits++;
		pthread_cond_wait(&ac->cond, ac->lock);
	}
	if (e && entry_valid(e, w, util_now_mono())) {
		copy_out(e, out);
		ac->stats.hits++;
		rc = 0;
	}
	free(key);
	return rc;
}

static bool peek(struct attr_cache *ac, const struct attr_want *w,
		 struct attr_meta *out, bool count)
{
	char *key = key_for(w->path, w->type);
	struct ac_entry *e = key ? *slot(ac, key) : NULL;
	bool ok = e && entry_valid(e, w, util_now_mono());

	if (ok && out)
		copy_out(e, out);
	if (ok && count)
		ac->stats.hits++;
	free(key);
	return ok;
}

bool attr_cache_peek(struct attr_cache *ac, const struct attr_want *w,
		     struct attr_meta *out)
{
	return peek(ac, w, out, true);
}

bool attr_cache_valid(struct attr_cache *ac, const struct attr_want *w,
		      struct attr_meta *out)
{
	return peek(ac, w, out, false);
}

bool attr_cache_fill(struct attr_cache *ac, const char *path, mode_t type,
		     const struct attr_meta *m, double now)
{
	char *key = key_for(path, type);
	struct ac_entry *e;

	if (!key)
		return false;
	e = *slot(ac, key);
	if ((e && e->fetching) || changed_here(ac, key)) {
		/* someone's fetch is in flight: let it finish and store; or
		 * we changed it since */
		free(key);
		return false;
	}
	if (!e)
		e = add_entry(ac, key);
	if (e)
		store(e, m, now);
	free(key);
	return e != NULL;
}

static void forget_key(struct attr_cache *ac, const char *path, mode_t type)
{
	char *key = key_for(path, type);
	struct ac_entry *e = key ? *slot(ac, key) : NULL;

	if (e && e->fetching)
		e->forgotten = true;
	else if (e)
		remove_entry(ac, e);
	free(key);
}

void attr_cache_forget(struct attr_cache *ac, const char *path)
{
	forget_key(ac, path, S_IFREG);
	forget_key(ac, path, S_IFDIR);
}

void attr_cache_forget_tree(struct attr_cache *ac, const char *path)
{
	size_t n = strlen(path);
	struct ac_entry *e, *next;

	for (e = ac->qhead; e; e = next) {
		next = e->qnext;
		if (strncmp(e->key, path, n) ||
		    (e->key[n] != '\0' && e->key[n] != '/'))
			continue;
		if (e->fetching)
			e->forgotten = true;
		else
			remove_entry(ac, e);
	}
}

void attr_cache_prefetch(struct attr_cache *ac, const char *dir,
			 const struct dir_entry *e, size_t n, double ttl,
			 bool urgent)
{
	struct pf_batch *b;
	size_t i;

	if (ac->nthreads == 0 || ac->stopping || n == 0)
		return;
	/* someone waits for an urgent batch (small): it always goes in */
	if (!urgent && ac->pf_queued >= ac->pf_max)
		return;
	if (!urgent && n > ac->pf_max - ac->pf_queued)
		n = ac->pf_max - ac->pf_queued;
	b = calloc(1, sizeof(*b));
	if (!b)
		return;
	b->dir = strdup(dir);
	b->ttl = ttl;
	b->items = calloc(n, sizeof(*b->items));
	if (!b->dir || !b->items)
		goto fail;
	for (i = 0; i < n; i++) {
		struct pf_item *it = &b->items[b->n];

		bool tagged = e[i].type == S_IFREG && e[i].etag &&
			      e[i].etag[0];

		it->name = strdup(e[i].name);
		it->etag = tagged ? strdup(e[i].etag) : NULL;
		if (!it->name || (tagged && !it->etag)) {
			free(it->name);
			free(it->etag);
			goto fail;
		}
		it->lastmod = e[i].mtime;
		it->type = e[i].type;
		b->n++;
	}
	if (b->n == 0)
		goto fail;
	if (urgent) {
		b->next_batch = ac->pf_head;
		ac->pf_head = b;
		if (!ac->pf_tail)
			ac->pf_tail = b;
	} else {
		if (ac->pf_tail)
			ac->pf_tail->next_batch = b;
		else
			ac->pf_head = b;
		ac->pf_tail = b;
	}
	ac->pf_queued += b->n;
	pthread_cond_broadcast(&ac->pf_cond);
	return;
fail:
	batch_free(b);
}

/* dir + "/" + name ("" dir: name alone); malloc'd, NULL on ENOMEM. */
static char *join_path(const char *dir, size_t dl, const char *name)
{
	size_t nl = strlen(name);
	char *p = malloc(dl + nl + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	if (dl)
		p[dl++] = '/';
	memcpy(p + dl, name, nl + 1);
	return p;
}

/* Locked.  Take the next queued entry; the batch is freed once empty. */
static void pop_item(struct attr_cache *ac, struct pf_batch *b)
{
	b->next++;
	ac->pf_queued--;
	if (b->next == b->n) {
		ac->pf_head = b->next_batch;
		if (!ac->pf_head)
			ac->pf_tail = NULL;
		batch_free(b);
	}
}

/*
 * Locked.  Claim the next queued entry that is neither valid nor being
 * fetched: its key, its path and what to fetch (type, listed mtime).
 * False when the queue is empty.
 */
static bool next_claim(struct attr_cache *ac, char **key, char **path,
		       mode_t *type, time_t *lastmod)
{
	struct pf_batch *b;
	struct ac_entry *e;

	while ((b = ac->pf_head)) {
		const struct pf_item *cur = &b->items[b->next];
		struct attr_want w = { NULL, cur->type, cur->etag,
				       cur->lastmod, b->ttl };

		*path = join_path(b->dir, strlen(b->dir), cur->name);
		*key = *path ? key_for(*path, cur->type) : NULL;
		*type = cur->type;
		*lastmod = cur->lastmod;
		e = *key ? *slot(ac, *key) : NULL;
		if (*key && !(e && (e->fetching ||
				    entry_valid(e, &w, util_now_mono())))) {
			if (!e)
				e = add_entry(ac, *key);
			if (e) {
				e->fetching = true;
				pop_item(ac, b);
				return true;
			}
		}
		pop_item(ac, b);
		free(*key);
		free(*path);
	}
	return false;
}

static void *prefetch_thread(void *arg)
{
	struct attr_cache *ac = arg;
	struct attr_meta m;
	char *key, *path;
	double started;
	time_t lastmod;
	mode_t type;
	int rc;

	pthread_mutex_lock(ac->lock);
	while (!ac->stopping) {
		if (!next_claim(ac, &key, &path, &type, &lastmod)) {
			pthread_cond_wait(&ac->pf_cond, ac->lock);
			continue;
		}
		ac->stats.prefetches++;
		pthread_mutex_unlock(ac->lock);
		memset(&m, 0, sizeof(m));
		started = util_now_mono(); /* as attr_cache_get */
		rc = ac->fetch(ac->fetch_arg, path, type, lastmod, &m);
		m.fetched = started;
		pthread_mutex_lock(ac->lock);
		finish_fetch(ac, key, rc, &m);
		free(key);
		free(path);
	}
	pthread_mutex_unlock(ac->lock);
	return NULL;
}

int attr_cache_start(struct attr_cache *ac, unsigned threads)
{
	pthread_attr_t attr;
	unsigned i;
	int rc = 0;

	ac->threads = calloc(threads ? threads : 1, sizeof(*ac->threads));
	if (!ac->threads)
		return -ENOMEM;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(ac->lock);
	for (i = 0; i < threads; i++) {
		rc = -pthread_create(&ac->threads[i], &attr, prefetch_thread,
				     ac);
		if (rc)
			break;
		ac->nthreads++;
	}
	pthread_mutex_unlock(ac->lock);
	pthread_attr_destroy(&attr);
	return ac->nthreads ? 0 : rc;
}

void attr_cache_stop(struct attr_cache *ac)
{
	unsigned i, n;

	pthread_mutex_lock(ac->lock);
	ac->stopping = true;
	drop_queue(ac);
	pthread_cond_broadcast(&ac->pf_cond);
	n = ac->nthreads;
	pthread_mutex_unlock(ac->lock);
	for (i = 0; i < n; i++)
		pthread_join(ac->threads[i], NULL);
	pthread_mutex_lock(ac->lock);
	ac->nthreads = 0;
	pthread_mutex_unlock(ac->lock);
	free(ac->threads);
	ac->threads = NULL;
}

/*
 * The saved form: a line "r2fs-metadata 1", then per entry a line
 * "KEYLEN ETAG LASTMOD MODE UID GID MSEC MNSEC CSEC CNSEC ASEC ANSEC"
 * followed by the key's KEYLEN bytes and a newline (keys may hold any
 * byte but NUL).
 */
#define AC_SAVE_MAGIC "r2fs-metadata 1\n"

int attr_cache_save(struct attr_cache *ac, const char *file,
		    const char *tag)
{
	size_t n = strlen(file) + 8;
	char *tmp = malloc(n);
	struct ac_entry *e;
	FILE *f = NULL;
	int fd, rc = 0;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, n, "%s.tmp", file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fputs(AC_SAVE_MAGIC, f);
	fprintf(f, "%s\n", tag);
	pthread_mutex_lock(ac->lock);
	for (e = ac->qhead; e; e = e->qnext) {
		const struct stat *st = &e->st;

		/* and not our upload's before a listing showed its
		 * Last-Modified: that alone cannot tell a later metadata
		 * change by another client after a remount */
		if (e->fetching || !e->etag[0] || e->lastmod == 0 ||
		    strpbrk(e->etag, " \t\r\n"))
			continue;
		fprintf(f, "%zu %s %lld %o %u %u %lld %ld %lld %ld %lld %ld\n",
			strlen(e->key), e->etag, (long long)e->lastmod,
			(unsigned)st->st_mode, (unsigned)st->st_uid,
			(unsigned)st->st_gid, (long long)st->st_mtim.tv_sec,
			st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
			st->st_ctim.tv_nsec, (long long)st->st_atim.tv_sec,
			st->st_atim.tv_nsec);
		fputs(e->key, f);
		fputc('\n', f);
	}
	pthread_mutex_unlock(ac->lock);
	if (fflush(f) || fsync(fileno(f)))
		rc = -errno;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, file))
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	free(tmp);
	return rc;
}

static bool nsec_ok(long ns)
{
	return ns >= 0 && ns < 1000000000L;
}

int attr_cache_load(struct attr_cache *ac, const char *file,
		    const char *tag)
{
	FILE *f = fopen(file, "re");
	char line[512], etag[AC_ETAG_MAX], *key = NULL;
	long long lm, ms, cs, as;
	long mn, cn, an;
	unsigned mode, uid, gid;
	struct ac_entry *e;
	size_t klen;
	int rc = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, AC_SAVE_MAGIC))
		goto out; /* another format: start afresh */
	if (!fgets(line, sizeof(line), f) || strlen(line) != strlen(tag) + 1 ||
	    strncmp(line, tag, strlen(tag)))
		goto out; /* saved under other defaults: start afresh */
	pthread_mutex_lock(ac->lock);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%zu %127s %lld %o %u %u %lld %ld %lld %ld "
			   "%lld %ld", &klen, etag, &lm, &mode, &uid, &gid,
			   &ms, &mn, &cs, &cn, &as, &an) != 12 ||
		    klen == 0 || klen > 4096 || !nsec_ok(mn) ||
		    !nsec_ok(cn) || !nsec_ok(an) ||
		    /* only file entries are saved */
		    ((mode & S_IFMT) != S_IFREG && (mode & S_IFMT) != S_IFLNK) ||
		    mode > 0177777)
			break;
		key = malloc(klen + 1);
		if (!key || fread(key, 1, klen + 1, f) != klen + 1 ||
		    key[klen] != '\n' || memchr(key, '\0', klen))
			break;
		key[klen] = '\0';
		if (!*slot(ac, key) && (e = add_entry(ac, key))) {
			snprintf(e->etag, sizeof(e->etag), "%s", etag);
			e->lastmod = (time_t)lm;
			e->st.st_mode = (mode_t)mode;
			e->st.st_nlink = 1;
			e->st.st_uid = (uid_t)uid;
			e->st.st_gid = (gid_t)gid;
			e->st.st_blksize = 4096;
			e->st.st_mtim.tv_sec = (time_t)ms;
			e->st.st_mtim.tv_nsec = mn;
			e->st.st_ctim.tv_sec = (time_t)cs;
			e->st.st_ctim.tv_nsec = cn;
			e->st.st_atim.tv_sec = (time_t)as;
			e->st.st_atim.tv_nsec = an;
			e->fetched = -1e18; /* never valid by age */
			ac->stats.loaded++;
		}
		free(key);
		key = NULL;
	}
	pthread_mutex_unlock(ac->lock);
	if (ferror(f))
		rc = -EIO;
out:
	free(key);
	fclose(f);
	return rc;
}

size_t attr_cache_queued(const struct attr_cache *ac)
{
	return ac->pf_queued;
}

void attr_cache_stats(struct attr_cache *ac, struct attr_cache_stats *out)
{
	*out = ac->stats;
	out->entries = ac->count;
	out->queued = ac->pf_queued;
}
