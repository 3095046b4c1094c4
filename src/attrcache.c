/*
 * attrcache.c - a hash table of path -> metadata with a FIFO for
 * eviction.  Entries being fetched are never evicted.
 */
#include "attrcache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ac_entry {
	char *path;
	char etag[80];
	time_t lastmod;
	double fetched;
	struct stat st;
	bool fetching;
	struct ac_entry *hnext;  /* hash chain */
	struct ac_entry *qnext;  /* FIFO, oldest first */
	struct ac_entry *qprev;
};

struct attr_cache {
	pthread_mutex_t *lock;
	pthread_cond_t cond;
	struct ac_entry **buckets;
	size_t nbuckets;
	size_t count, max;
	struct ac_entry *qhead, *qtail;
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

struct attr_cache *attr_cache_new(pthread_mutex_t *lock, size_t max)
{
	struct attr_cache *ac = calloc(1, sizeof(*ac));

	if (!ac)
		return NULL;
	ac->lock = lock;
	ac->max = max ? max : 1;
	ac->nbuckets = 1;
	while (ac->nbuckets < ac->max)
		ac->nbuckets <<= 1;
	ac->buckets = calloc(ac->nbuckets, sizeof(*ac->buckets));
	if (!ac->buckets) {
		free(ac);
		return NULL;
	}
	pthread_cond_init(&ac->cond, NULL);
	return ac;
}

void attr_cache_free(struct attr_cache *ac)
{
	struct ac_entry *e, *n;

	if (!ac)
		return;
	for (e = ac->qhead; e; e = n) {
		n = e->qnext;
		free(e->path);
		free(e);
	}
	pthread_cond_destroy(&ac->cond);
	free(ac->buckets);
	free(ac);
}

static struct ac_entry **slot(struct attr_cache *ac, const char *path)
{
	struct ac_entry **pp = &ac->buckets[hash_str(path) &
					     (ac->nbuckets - 1)];

	while (*pp && strcmp((*pp)->path, path))
		pp = &(*pp)->hnext;
	return pp;
}

static void remove_entry(struct attr_cache *ac, struct ac_entry *e)
{
	struct ac_entry **pp = slot(ac, e->path);

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
	free(e->path);
	free(e);
}

static struct ac_entry *add_entry(struct attr_cache *ac, const char *path)
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
	if (!e || !(e->path = strdup(path))) {
		free(e);
		return NULL;
	}
	e->hnext = NULL;
	*slot(ac, path) = e;
	e->qprev = ac->qtail;
	if (ac->qtail)
		ac->qtail->qnext = e;
	else
		ac->qhead = e;
	ac->qtail = e;
	ac->count++;
	return e;
}

static bool entry_valid(const struct ac_entry *e, const char *etag,
			time_t lastmod, double now, double ttl)
{
	if (e->fetching)
		return false;
	if (etag)
		return !strcmp(e->etag, etag) && e->lastmod == lastmod;
	return now - e->fetched <= ttl;
}

enum attr_claim attr_cache_claim(struct attr_cache *ac, const char *path,
				 const char *etag, time_t lastmod,
				 double now, double ttl, bool wait,
				 struct stat *st)
{
	struct ac_entry *e;

	for (;;) {
		e = *slot(ac, path);
		if (!e)
			break;
		if (!e->fetching) {
			if (entry_valid(e, etag, lastmod, now, ttl)) {
				*st = e->st;
				return AC_VALID;
			}
			e->fetching = true; /* stale: refetch it */
			return AC_FETCH;
		}
		if (!wait)
			return AC_BUSY;
		pthread_cond_wait(&ac->cond, ac->lock);
	}
	e = add_entry(ac, path);
	if (e)
		e->fetching = true;
	return AC_FETCH; /* even without an entry: just fetch */
}

void attr_cache_fill(struct attr_cache *ac, const char *path,
		     const char *etag, time_t lastmod, double now,
		     const struct stat *st)
{
	struct ac_entry *e = *slot(ac, path);

	if (!e)
		e = add_entry(ac, path);
	if (e) {
		snprintf(e->etag, sizeof(e->etag), "%s", etag ? etag : "");
		e->lastmod = lastmod;
		e->fetched = now;
		e->st = *st;
		e->fetching = false;
	}
	pthread_cond_broadcast(&ac->cond);
}

void attr_cache_abandon(struct attr_cache *ac, const char *path)
{
	struct ac_entry *e = *slot(ac, path);

	if (e)
		remove_entry(ac, e);
	pthread_cond_broadcast(&ac->cond);
}

void attr_cache_forget(struct attr_cache *ac, const char *path)
{
	struct ac_entry *e = *slot(ac, path);

	if (e && !e->fetching)
		remove_entry(ac, e);
}
