/*
 * Unit tests for attrcache.c with a fake fetch: one fetch per path however
 * many threads ask, validation by ETag or by age, background prefetch in
 * parallel and in order (urgent entries first), the size bounds, results
 * of a fetch that raced our own change are not kept, errors reach callers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attrcache.h"
#include "tap.h"

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned calls, active, max_active;
	unsigned delay_ms;
	int fail;          /* fetches return this (0: succeed) */
	bool gate_closed;  /* fetches wait until it opens */
	char order[64][32]; /* first paths fetched, in order */
	unsigned norder;
	unsigned mode;     /* permissions the fake reports */
};

static struct fake F;

static int fake_fetch(void *arg, const char *path, mode_t type,
		      time_t listed_mtime, struct attr_meta *out)
{
	struct fake *f = arg;
	int rc;

	pthread_mutex_lock(&f->lock);
	f->calls++;
	f->active++;
	if (f->active > f->max_active)
		f->max_active = f->active;
	if (f->norder < 64)
		snprintf(f->order[f->norder++], sizeof(f->order[0]), "%s",
			 path);
	while (f->gate_closed)
		pthread_cond_wait(&f->cond, &f->lock);
	rc = f->fail;
	pthread_mutex_unlock(&f->lock);
	if (f->delay_ms)
		nanosleep(&(struct timespec){ 0, f->delay_ms * 1000000L },
			  NULL);
	memset(out, 0, sizeof(*out));
	out->st.st_mode = (S_ISDIR(type) ? S_IFDIR : S_IFREG) | f->mode;
	out->st.st_mtime = listed_mtime;
	if (!S_ISDIR(type)) {
		char *c;

		/* ETags have no blanks: "etag-PATH" with them as '_' */
		snprintf(out->etag, sizeof(out->etag), "etag-%s", path);
		for (c = out->etag; *c; c++)
			if (*c == ' ' || *c == '\n')
				*c = '_';
		out->lastmod = listed_mtime;
	}
	pthread_mutex_lock(&f->lock);
	f->active--;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void fake_reset(unsigned delay_ms)
{
	pthread_mutex_lock(&F.lock);
	F.calls = F.active = F.max_active = 0;
	F.delay_ms = delay_ms;
	F.fail = 0;
	F.gate_closed = false;
	F.norder = 0;
	F.mode = 0644;
	pthread_mutex_unlock(&F.lock);
}

static unsigned fake_calls(void)
{
	unsigned n;

	pthread_mutex_lock(&F.lock);
	n = F.calls;
	pthread_mutex_unlock(&F.lock);
	return n;
}

static pthread_mutex_t L = PTHREAD_MUTEX_INITIALIZER;

/* Wait (up to 10 s) until the cache has made n prefetches. */
static bool wait_prefetches(struct attr_cache *ac, uint64_t n)
{
	struct attr_cache_stats s;
	int i;

	for (i = 0; i < 1000; i++) {
		pthread_mutex_lock(&L);
		attr_cache_stats(ac, &s);
		pthread_mutex_unlock(&L);
		if (s.prefetches >= n && s.queued == 0)
			return true;
		usleep(10000);
	}
	return false;
}

struct getter {
	struct attr_cache *ac;
	const char *path;
	int rc;
	unsigned mode;
};

static void *get_thread(void *arg)
{
	struct getter *g = arg;
	struct attr_want w = { g->path, S_IFREG, "etag-x", 100, 3 };
	struct attr_meta m;

	pthread_mutex_lock(&L);
	g->rc = attr_cache_get(g->ac, &w, &m, NULL);
	pthread_mutex_unlock(&L);
	g->mode = m.st.st_mode;
	return NULL;
}

static void test_get_and_validate(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct attr_want w = { "a/f", S_IFREG, "etag-a/f", 100, 3 };
	struct attr_meta m;
	bool fetched;
	int rc;

	fake_reset(0);
	pthread_mutex_lock(&L);
	rc = attr_cache_get(ac, &w, &m, &fetched);
	TAP_INTEQ(rc, 0, "get fetches a missing entry");
	TAP_OK(fetched, "... and says it fetched");
	TAP_STREQ(m.etag, "etag-a/f", "... with the fetch's ETag");
	rc = attr_cache_get(ac, &w, &m, &fetched);
	TAP_OK(rc == 0 && !fetched, "same ETag and Last-Modified: a hit");
	TAP_INTEQ(fake_calls(), 1, "one fetch for two gets");
	w.lastmod = 101;
	attr_cache_get(ac, &w, &m, &fetched);
	TAP_OK(fetched, "another Last-Modified: fetched again");
	w.etag = "other";
	attr_cache_get(ac, &w, &m, &fetched);
	TAP_OK(fetched, "another ETag: fetched again");
	/* by age */
	w.etag = NULL;
	w.ttl = 1000;
	attr_cache_get(ac, &w, &m, &fetched);
	TAP_OK(!fetched, "no ETag, younger than ttl: a hit");
	w.ttl = 0;
	attr_cache_get(ac, &w, &m, &fetched);
	TAP_OK(fetched, "no ETag, older than ttl: fetched");
	/* files and directories are apart */
	w.type = S_IFDIR;
	w.ttl = 1000;
	attr_cache_get(ac, &w, &m, &fetched);
	TAP_OK(fetched && S_ISDIR(m.st.st_mode),
	       "a directory of the same name is its own entry");
	TAP_OK(attr_cache_peek(ac, &w, &m), "peek finds the directory");
	w.type = S_IFREG;
	TAP_OK(attr_cache_peek(ac, &w, &m) && S_ISREG(m.st.st_mode),
	       "and the file");
	attr_cache_forget(ac, "a/f");
	TAP_OK(!attr_cache_peek(ac, &w, &m), "forget drops the file");
	w.type = S_IFDIR;
	TAP_OK(!attr_cache_peek(ac, &w, &m), "and the directory");
	/* a renamed directory: it and everything below go, nothing else */
	w.type = S_IFDIR;
	w.ttl = 1000;
	w.path = "t";
	attr_cache_get(ac, &w, &m, NULL);
	w.path = "t/x";
	attr_cache_get(ac, &w, &m, NULL);
	w.path = "tt";
	attr_cache_get(ac, &w, &m, NULL);
	attr_cache_forget_tree(ac, "t");
	w.path = "t";
	TAP_OK(!attr_cache_peek(ac, &w, &m), "forget_tree drops the directory");
	w.path = "t/x";
	TAP_OK(!attr_cache_peek(ac, &w, &m), "... and what is below it");
	w.path = "tt";
	TAP_OK(attr_cache_peek(ac, &w, &m), "... but not a sibling");
	w.path = "a/f";
	/* errors */
	F.fail = -EACCES;
	w.type = S_IFREG;
	rc = attr_cache_get(ac, &w, &m, NULL);
	TAP_INTEQ(rc, -EACCES, "a failed fetch reaches the caller");
	TAP_OK(!attr_cache_peek(ac, &w, &m), "and nothing is cached");
	pthread_mutex_unlock(&L);
	attr_cache_free(ac);
}

static void test_one_fetch_per_path(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct getter g[8];
	pthread_t t[8];
	int i, ok = 1;

	fake_reset(50);
	for (i = 0; i < 8; i++) {
		g[i] = (struct getter){ ac, "x", -1, 0 };
		pthread_create(&t[i], NULL, get_thread, &g[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok &= g[i].rc == 0 && (g[i].mode & 0777) == 0644;
	}
	TAP_OK(ok, "eight threads asking at once all get the result");
	TAP_INTEQ(fake_calls(), 1, "... from one fetch");

	/* a failure: the waiters do not all fail with it, they retry */
	fake_reset(50);
	F.fail = -EIO;
	attr_cache_forget(ac, "x");
	for (i = 0; i < 4; i++) {
		g[i] = (struct getter){ ac, "x", 0, 0 };
		pthread_create(&t[i], NULL, get_thread, &g[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok = 1;
	for (i = 0; i < 4; i++)
		ok &= g[i].rc == -EIO;
	TAP_OK(ok, "a fetch that keeps failing fails every caller");
	TAP_INTEQ(fake_calls(), 4, "... each after its own try");
	attr_cache_free(ac);
}

/* Our own change while a fetch is in flight: its result is not kept. */
static void test_forget_during_fetch(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct attr_want w = { "x", S_IFREG, "etag-x", 100, 3 };
	struct getter g = { ac, "x", -1, 0 };
	struct attr_meta m;
	pthread_t t;

	fake_reset(0);
	F.gate_closed = true;
	pthread_create(&t, NULL, get_thread, &g);
	while (fake_calls() == 0)
		usleep(1000);
	pthread_mutex_lock(&L);
	attr_cache_forget(ac, "x"); /* e.g. a chmod of ours */
	pthread_mutex_unlock(&L);
	pthread_mutex_lock(&F.lock);
	F.gate_closed = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	pthread_join(t, NULL);
	TAP_INTEQ(g.rc, 0, "the fetch itself succeeds");
	pthread_mutex_lock(&L);
	TAP_OK(!attr_cache_peek(ac, &w, &m),
	       "but a result older than our change is not cached");
	pthread_mutex_unlock(&L);
	attr_cache_free(ac);
}

static void test_prefetch(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 4096, fake_fetch, &F);
	struct dir_entry e[1000];
	char names[1000][16], tags[1000][32];
	struct attr_cache_stats s;
	struct attr_meta m;
	bool fetched, all = true;
	int i;

	fake_reset(2);
	TAP_INTEQ(attr_cache_start(ac, 8), 0, "8 prefetch threads start");
	for (i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "f%04d", i);
		snprintf(tags[i], sizeof(tags[i]), "etag-d/f%04d", i);
		e[i] = (struct dir_entry){ names[i], i % 10 ? S_IFREG
							    : S_IFDIR,
					   10, 100, i % 10 ? tags[i] : NULL };
	}
	pthread_mutex_lock(&L);
	/* a TTL no loaded machine outlasts: this is not about expiry */
	attr_cache_prefetch(ac, "d", e, 500, 3600, false);
	attr_cache_prefetch(ac, "d", e + 500, 500, 3600, false);
	pthread_mutex_unlock(&L);
	TAP_OK(wait_prefetches(ac, 1000), "1,000 listed entries prefetched");
	TAP_OK(F.max_active > 1 && F.max_active <= 8,
	       "in parallel, at most 8 at once");
	pthread_mutex_lock(&L);
	for (i = 0; i < 1000; i++) {
		char path[32];
		struct attr_want w = { path, e[i].type, e[i].etag, 100,
				       3600 };

		snprintf(path, sizeof(path), "d/%s", names[i]);
		if (attr_cache_get(ac, &w, &m, &fetched) || fetched)
			all = false;
	}
	TAP_OK(all, "every lookup afterwards is a hit");
	attr_cache_prefetch(ac, "d", e, 1000, 3600, false);
	pthread_mutex_unlock(&L);
	usleep(100000);
	TAP_INTEQ(fake_calls(), 1000, "listing again fetches nothing twice");
	pthread_mutex_lock(&L);
	attr_cache_stats(ac, &s);
	pthread_mutex_unlock(&L);
	TAP_INTEQ(s.fetches, 0, "no fetch was made by get itself");
	attr_cache_stop(ac);
	attr_cache_free(ac);
}

static void test_urgent_first(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 4096, fake_fetch, &F);
	struct dir_entry e[20], u = { "urgent", S_IFDIR, 0, 100, NULL };
	char names[20][16];
	unsigned i, pos = 99;

	fake_reset(0);
	F.gate_closed = true;
	attr_cache_start(ac, 1);
	for (i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02u", i);
		e[i] = (struct dir_entry){ names[i], S_IFDIR, 0, 100, NULL };
	}
	pthread_mutex_lock(&L);
	attr_cache_prefetch(ac, "", e, 20, 3, false);
	pthread_mutex_unlock(&L);
	while (fake_calls() == 0)
		usleep(1000);
	pthread_mutex_lock(&L);
	attr_cache_prefetch(ac, "", &u, 1, 3, true);
	pthread_mutex_unlock(&L);
	pthread_mutex_lock(&F.lock);
	F.gate_closed = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	wait_prefetches(ac, 21);
	for (i = 0; i < F.norder; i++)
		if (!strcmp(F.order[i], "urgent"))
			pos = i;
	TAP_INTEQ(pos, 1, "an urgent entry is fetched next");
	TAP_STREQ(F.order[2], "n01", "then the queue goes on in order");
	attr_cache_stop(ac);
	attr_cache_free(ac);
}

static void test_wait(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct attr_want w = { "x", S_IFREG, "etag-x", 100, 3 };
	struct getter g = { ac, "x", -1, 0 };
	struct attr_meta m;
	pthread_t t;
	int rc;

	fake_reset(0);
	pthread_mutex_lock(&L);
	rc = attr_cache_wait(ac, &w, &m);
	pthread_mutex_unlock(&L);
	TAP_INTEQ(rc, -EAGAIN, "wait: nothing known, nothing in flight");
	F.gate_closed = true;
	pthread_create(&t, NULL, get_thread, &g);
	while (fake_calls() == 0)
		usleep(1000);
	pthread_mutex_lock(&F.lock);
	F.gate_closed = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	pthread_mutex_lock(&L);
	rc = attr_cache_wait(ac, &w, &m);
	pthread_mutex_unlock(&L);
	pthread_join(t, NULL);
	TAP_INTEQ(rc, 0, "wait: gets the result of a fetch in flight");
	TAP_INTEQ(fake_calls(), 1, "... without a fetch of its own");
	attr_cache_free(ac);
}

static void test_bounds(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct dir_entry e[1000];
	char names[1000][16];
	struct attr_cache_stats s;
	int i;

	fake_reset(0);
	F.gate_closed = true; /* nothing drains while we queue */
	attr_cache_start(ac, 2);
	for (i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "f%04d", i);
		e[i] = (struct dir_entry){ names[i], S_IFDIR, 0, 100, NULL };
	}
	pthread_mutex_lock(&L);
	attr_cache_prefetch(ac, "d", e, 1000, 3, false);
	attr_cache_stats(ac, &s);
	pthread_mutex_unlock(&L);
	TAP_OK(s.queued <= 50, "the queue holds at most half the cache");
	pthread_mutex_lock(&F.lock);
	F.gate_closed = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	wait_prefetches(ac, 50);
	for (i = 0; i < 10; i++) {
		pthread_mutex_lock(&L);
		attr_cache_prefetch(ac, "d", e + 100 * i, 100, 3, false);
		pthread_mutex_unlock(&L);
		wait_prefetches(ac, 0);
	}
	pthread_mutex_lock(&L);
	attr_cache_stats(ac, &s);
	pthread_mutex_unlock(&L);
	TAP_OK(s.entries <= 100, "the cache holds at most its maximum");
	/* stop drops what is queued */
	pthread_mutex_lock(&L);
	F.gate_closed = true;
	attr_cache_prefetch(ac, "e", e, 40, 3, false);
	pthread_mutex_unlock(&L);
	pthread_mutex_lock(&F.lock);
	F.gate_closed = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	attr_cache_stop(ac);
	pthread_mutex_lock(&L);
	attr_cache_stats(ac, &s);
	pthread_mutex_unlock(&L);
	TAP_INTEQ(s.queued, 0, "stop empties the queue");
	attr_cache_free(ac);
}

static bool changed_g(void *arg, const char *path)
{
	(void)arg;
	return !strcmp(path, "g");
}

/* A path with changes of ours not uploaded yet: fetches are not kept. */
static void test_guard(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct attr_want w = { "g", S_IFDIR, NULL, 100, 1000 };
	struct attr_meta m;
	int rc;

	fake_reset(0);
	attr_cache_set_guard(ac, changed_g, NULL);
	pthread_mutex_lock(&L);
	rc = attr_cache_get(ac, &w, &m, NULL);
	TAP_INTEQ(rc, 0, "guard: a changed path is still fetched");
	TAP_OK(!attr_cache_peek(ac, &w, &m), "... but not cached");
	attr_cache_fill(ac, "g", S_IFDIR, &m, 1);
	TAP_OK(!attr_cache_peek(ac, &w, &m), "... not even when filled");
	w.path = "h";
	TAP_OK(attr_cache_get(ac, &w, &m, NULL) == 0 &&
	       attr_cache_peek(ac, &w, &m), "other paths are kept");
	pthread_mutex_unlock(&L);
	attr_cache_free(ac);
}

/* After our own upload the ETag is known and Last-Modified is not: the
 * first listing with that ETag supplies it, and then only it is valid. */
static void test_fill_unknown_lastmod(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct attr_want w = { "up", S_IFREG, "etag-up", 200, 1000 };
	struct attr_meta m = { 0 }, got;
	char file[] = "/tmp/r2fs-test-attrcache-XXXXXX";
	bool fetched = true;
	int fd = mkstemp(file);

	close(fd);
	fake_reset(0);
	m.st.st_mode = S_IFREG | 0640;
	snprintf(m.etag, sizeof(m.etag), "etag-up");
	pthread_mutex_lock(&L);
	attr_cache_fill(ac, "up", S_IFREG, &m, 1);
	pthread_mutex_unlock(&L);
	TAP_INTEQ(attr_cache_save(ac, file, "t"), 0, "save after a fill");
	pthread_mutex_lock(&L);
	TAP_OK(attr_cache_get(ac, &w, &got, &fetched) == 0 && !fetched &&
	       got.st.st_mode == (S_IFREG | 0640) && got.lastmod == 200,
	       "filled: a listing with its ETag needs no fetch, and tells "
	       "its Last-Modified");
	w.lastmod = 201;
	TAP_OK(!attr_cache_peek(ac, &w, &got),
	       "then another Last-Modified (a metadata copy) is not valid");
	w.etag = "etag-other";
	w.lastmod = 200;
	TAP_OK(!attr_cache_peek(ac, &w, &got), "nor another ETag");
	pthread_mutex_unlock(&L);
	attr_cache_free(ac);
	ac = attr_cache_new(&L, 100, fake_fetch, &F);
	TAP_INTEQ(attr_cache_load(ac, file, "t"), 0, "load");
	w.etag = "etag-up";
	pthread_mutex_lock(&L);
	TAP_OK(!attr_cache_peek(ac, &w, &got),
	       "an entry whose Last-Modified was unknown was not saved");
	pthread_mutex_unlock(&L);
	TAP_INTEQ(fake_calls(), 0, "nothing fetched");
	attr_cache_free(ac);
	unlink(file);
}

static void test_save_load(void)
{
	struct attr_cache *ac = attr_cache_new(&L, 100, fake_fetch, &F);
	struct attr_want w = { "s/f\nx y", S_IFREG, "etag-s/f_x_y", 100,
			       1000 };
	struct attr_meta m;
	char file[] = "/tmp/r2fs-test-attrcache-XXXXXX";
	bool fetched;
	int fd = mkstemp(file);

	close(fd);
	fake_reset(0);
	F.mode = 0751;
	pthread_mutex_lock(&L);
	attr_cache_get(ac, &w, &m, NULL); /* a file: kept */
	w.type = S_IFDIR;
	w.etag = NULL;
	attr_cache_get(ac, &w, &m, NULL); /* a directory: not kept */
	pthread_mutex_unlock(&L);
	TAP_INTEQ(attr_cache_save(ac, file, "t1"), 0, "save");
	attr_cache_free(ac);

	ac = attr_cache_new(&L, 100, fake_fetch, &F);
	fake_reset(0);
	TAP_INTEQ(attr_cache_load(ac, file, "t1"), 0, "load");
	pthread_mutex_lock(&L);
	w.type = S_IFREG;
	w.etag = "etag-s/f_x_y";
	TAP_OK(attr_cache_get(ac, &w, &m, &fetched) == 0 && !fetched &&
	       m.st.st_mode == (S_IFREG | 0751),
	       "a loaded entry serves a listing with its ETag (odd name)");
	w.etag = NULL;
	TAP_OK(!attr_cache_peek(ac, &w, &m),
	       "but is never valid by age alone");
	w.etag = "etag-s/f_x_y";
	w.lastmod = 101;
	TAP_OK(!attr_cache_peek(ac, &w, &m),
	       "nor for another Last-Modified");
	w.type = S_IFDIR;
	w.etag = NULL;
	w.lastmod = 100;
	TAP_OK(!attr_cache_peek(ac, &w, &m), "directories are not kept");
	pthread_mutex_unlock(&L);
	TAP_INTEQ(fake_calls(), 0, "nothing fetched");
	attr_cache_free(ac);
	/* saved under other defaults: nothing is loaded */
	ac = attr_cache_new(&L, 100, fake_fetch, &F);
	TAP_INTEQ(attr_cache_load(ac, file, "t2"), 0, "another tag loads");
	pthread_mutex_lock(&L);
	w.type = S_IFREG;
	w.etag = "etag-s/f_x_y";
	TAP_OK(!attr_cache_peek(ac, &w, &m), "... nothing");
	pthread_mutex_unlock(&L);
	attr_cache_free(ac);
	/* a damaged file loads what is intact, and no error */
	fd = open(file, O_WRONLY | O_TRUNC);
	TAP_OK(write(fd, "r2fs-metadata 1\nt1\n5 x 1 644", 28) == 28,
	       "damage the file");
	close(fd);
	ac = attr_cache_new(&L, 100, fake_fetch, &F);
	TAP_INTEQ(attr_cache_load(ac, file, "t1"), 0, "a damaged file loads");
	attr_cache_free(ac);
	unlink(file);
	ac = attr_cache_new(&L, 100, fake_fetch, &F);
	TAP_INTEQ(attr_cache_load(ac, file, "t1"), 0, "a missing file loads");
	attr_cache_free(ac);
}

int main(void)
{
	pthread_mutex_init(&F.lock, NULL);
	pthread_cond_init(&F.cond, NULL);
	test_get_and_validate();
	test_one_fetch_per_path();
	test_forget_during_fetch();
	test_prefetch();
	test_urgent_first();
	test_wait();
	test_bounds();
	test_save_load();
	test_fill_unknown_lastmod();
	test_guard();
	return tap_done();
}
