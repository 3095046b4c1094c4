/*
 * listranges.c - the rest of a listing as ranges listed in parallel.
 *
 * Range i runs from its start (the caller's token or start-after for
 * range 0, else start-after cuts[i-1]) up to cuts[i] included (the last
 * range: to the end).  Worker threads take ranges in order; each range
 * keeps what is within its bounds in its own store_list; the ranges are
 * then joined in order.  The contract is in listranges.h.
 *
 * list_page_delimit, for a page listed without a delimiter, is here too:
 * it is how such a page becomes a start for the rest of a listing.
 */
#include "listranges.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct range_job {
	struct store *s;
	const struct list_ranges_req *req;
	struct store_list *got; /* one per range */
	int *rc;                /* one per range */
	size_t next;            /* the next range to take; under lock */
	pthread_mutex_t lock;
};

/* Append item (its ownership) to a growing array of cap *cap. */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
	void *a;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	a = realloc(*arr, ncap * size);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = ncap;
	return 0;
}

/*
 * Move page's items up to bound (NULL: all) into r; *passed tells that
 * the page went beyond the bound (the range is complete).
 */
static int take(struct store_list *r, size_t *ecap, size_t *pcap,
		struct store_list *page, const char *bound, bool *passed)
{
	size_t i;
	int rc;

	for (i = 0; i < page->nentries; i++) {
		if (bound && strcmp(page->entries[i].key, bound) > 0) {
			*passed = true;
			continue;
		}
		rc = grow((void **)&r->entries, r->nentries, ecap,
			  sizeof(*r->entries));
		if (rc)
			return rc;
		r->entries[r->nentries++] = page->entries[i];
		page->entries[i].key = NULL;
		page->entries[i].etag = NULL;
	}
	for (i = 0; i < page->nprefixes; i++) {
		if (bound && strcmp(page->prefixes[i], bound) > 0) {
			*passed = true;
			continue;
		}
		rc = grow((void **)&r->prefixes, r->nprefixes, pcap,
			  sizeof(*r->prefixes));
		if (rc)
			return rc;
		r->prefixes[r->nprefixes++] = page->prefixes[i];
		page->prefixes[i] = NULL;
	}
	return 0;
}

/* List range i into *r. */
static int list_range(struct range_job *j, size_t i, struct store_list *r)
{
	const struct list_ranges_req *q = j->req;
	const char *bound = i < q->ncuts ? q->cuts[i] : NULL;
	struct store_list page = { 0 };
	size_t ecap = 0, pcap = 0;
	char *token = NULL;
	bool passed = false;
	int rc;

	if (i == 0 && (q->token || !q->start_after))
		rc = j->s->ops->list(j->s, q->prefix, q->delimiter, q->token,
				     q->max_keys, &page);
	else if (i == 0)
		rc = j->s->ops->list_after(j->s, q->prefix, q->delimiter,
					   q->start_after, q->max_keys,
					   &page);
	else
		rc = j->s->ops->list_after(j->s, q->prefix, q->delimiter,
					   q->cuts[i - 1], q->max_keys,
					   &page);
	while (!rc) {
		rc = take(r, &ecap, &pcap, &page, bound, &passed);
		if (rc || passed || !page.truncated)
			break;
		free(token);
		token = page.next_token;
		page.next_token = NULL;
		store_list_release(&page);
		rc = j->s->ops->list(j->s, q->prefix, q->delimiter, token,
				     q->max_keys, &page);
	}
	store_list_release(&page);
	free(token);
	return rc;
}

static void *range_worker(void *arg)
{
	struct range_job *j = arg;
	size_t nranges = j->req->ncuts + 1, i;

	for (;;) {
		pthread_mutex_lock(&j->lock);
		i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= nranges)
			break;
		j->rc[i] = list_range(j, i, &j->got[i]);
	}
	return NULL;
}

int list_ranges(struct store *s, const struct list_ranges_req *req,
		struct store_list *out)
{
	size_t nranges = req->ncuts + 1, i, ne = 0, np = 0, nthreads;
	struct range_job j = { .s = s, .req = req };
	pthread_t *tids = NULL;
	size_t started = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!s->ops->list_after)
		return -ENOSYS;
	nthreads = req->threads ? req->threads : 1;
	if (nthreads > nranges)
		nthreads = nranges;
	j.got = calloc(nranges, sizeof(*j.got));
	j.rc = calloc(nranges, sizeof(*j.rc));
	tids = calloc(nthreads, sizeof(*tids));
	if (!j.got || !j.rc || !tids) {
		rc = -ENOMEM;
		goto out;
	}
	pthread_mutex_init(&j.lock, NULL);
	/* this thread is one of the workers */
	for (i = 1; i < nthreads; i++) {
		if (pthread_create(&tids[i], NULL, range_worker, &j))
			break;
		started++;
	}
	range_worker(&j);
	for (i = 1; i <= started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&j.lock);
	for (i = 0; i < nranges && !rc; i++) {
		rc = j.rc[i];
		ne += j.got[i].nentries;
		np += j.got[i].nprefixes;
	}
	if (rc)
		goto out;
	out->entries = calloc(ne ? ne : 1, sizeof(*out->entries));
	out->prefixes = calloc(np ? np : 1, sizeof(*out->prefixes));
	if (!out->entries || !out->prefixes) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nranges; i++) {
		struct store_list *g = &j.got[i];

		if (g->nentries)
			memcpy(out->entries + out->nentries, g->entries,
			       g->nentries * sizeof(*g->entries));
		out->nentries += g->nentries;
		if (g->nprefixes)
			memcpy(out->prefixes + out->nprefixes, g->prefixes,
			       g->nprefixes * sizeof(*g->prefixes));
		out->nprefixes += g->nprefixes;
		/* the strings now belong to out */
		g->nentries = 0;
		g->nprefixes = 0;
	}
out:
	if (rc)
		store_list_release(out);
	for (i = 0; j.got && i < nranges; i++)
		store_list_release(&j.got[i]);
	free(j.got);
	free(j.rc);
	free(tids);
	return rc;
}

/* The length of the common prefix key rolls up into (its part up to the
 * first delim past prefix), or 0 when it has none: an entry of its own. */
static size_t rolled_len(const char *key, const char *prefix, size_t plen,
			 char delim)
{
	const char *d;

	if (strncmp(key, prefix, plen))
		return 0;
	d = strchr(key + plen, delim);
	return d ? (size_t)(d - key) + 1 : 0;
}

int list_page_delimit(struct store_list *page, const char *prefix,
		      char delim, char **after)
{
	size_t plen = strlen(prefix), i, ne = 0, np = 0, n;
	char **prefixes = NULL, *last = NULL;
	const char *prev = NULL;
	size_t prevlen = 0;

	*after = NULL;
	if (page->nprefixes)
		return -EINVAL;
	if (page->truncated) {
		if (!page->nentries ||
		    rolled_len(page->entries[page->nentries - 1].key, prefix,
			       plen, delim))
			return -EAGAIN;
		last = strdup(page->entries[page->nentries - 1].key);
		if (!last)
			return -ENOMEM;
	}
	prefixes = calloc(page->nentries ? page->nentries : 1,
			  sizeof(*prefixes));
	if (!prefixes) {
		free(last);
		return -ENOMEM;
	}
	/* keys come sorted, so a prefix's keys are consecutive */
	for (i = 0; i < page->nentries; i++) {
		const char *key = page->entries[i].key;

		n = rolled_len(key, prefix, plen, delim);
		if (!n || (prev && n == prevlen && !strncmp(key, prev, n)))
			continue;
		prefixes[np] = strndup(key, n);
		if (!prefixes[np]) {
			while (np)
				free(prefixes[--np]);
			free(prefixes);
			free(last);
			return -ENOMEM;
		}
		prev = key;
		prevlen = n;
		np++;
	}
	/* no failure from here on */
	for (i = 0; i < page->nentries; i++) {
		struct store_list_entry *e = &page->entries[i];

		if (rolled_len(e->key, prefix, plen, delim)) {
			free(e->key);
			free(e->etag);
		} else {
			page->entries[ne++] = *e;
		}
	}
	page->nentries = ne;
	free(page->prefixes);
	page->prefixes = prefixes;
	page->nprefixes = np;
	free(page->next_token);
	page->next_token = NULL;
	*after = last;
	return 0;
}
