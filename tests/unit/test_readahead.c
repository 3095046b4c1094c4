/*
 * Unit tests for readahead.c against a fake store whose object's byte i is
 * pattern(i): sequential readers get growing parallel GETs, seeks fetch
 * exactly what is read, the memory cap holds, errors reach the reader.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#include "readahead.h"
#include "store.h"
#include "tap.h"

#define MIB ((uint64_t)1 << 20)

struct fake {
	struct store base;
	struct ra_pool *pool;   /* to watch its memory */
	uint64_t size;
	pthread_mutex_t lock;
	unsigned calls, active, max_active;
	uint64_t last_off, last_len, max_len;
	uint64_t max_in_use;
	uint64_t fail_at;       /* a GET covering this offset fails ... */
	int fail_err;           /* ... with this (0: none) */
	struct { uint64_t off, len; } log[64]; /* the first GETs, in order */
};

static unsigned char pattern(uint64_t i)
{
	return (unsigned char)(i * 7 + (i >> 20) + 3);
}

static int fake_get_range(struct store *s, const char *key, uint64_t off,
			  size_t len, const char *if_match, void *buf,
			  size_t *got)
{
	struct fake *f = (struct fake *)s;
	unsigned char *b = buf;
	uint64_t i, in_use;
	int rc = 0;

	(void)key;
	(void)if_match;
	pthread_mutex_lock(&f->lock);
	f->calls++;
	f->active++;
	if (f->active > f->max_active)
		f->max_active = f->active;
	f->last_off = off;
	f->last_len = len;
	if (f->calls <= sizeof(f->log) / sizeof(f->log[0])) {
		f->log[f->calls - 1].off = off;
		f->log[f->calls - 1].len = len;
	}
	if (len > f->max_len)
		f->max_len = len;
	if (f->fail_err && f->fail_at >= off && f->fail_at < off + len)
		rc = f->fail_err;
	pthread_mutex_unlock(&f->lock);
	in_use = 0;
	if (f->pool) {
		uint64_t maps, spare;

		/* what may be resident: segments and spare buffers */
		ra_pool_buffers(f->pool, &maps, &spare);
		in_use = ra_pool_in_use(f->pool) + spare;
	}
	nanosleep(&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
	*got = 0;
	if (!rc && off < f->size) {
		if (len > f->size - off)
			len = (size_t)(f->size - off);
		for (i = 0; i < len; i++)
			b[i] = pattern(off + i);
		*got = len;
	}
	pthread_mutex_lock(&f->lock);
	f->active--;
	if (in_use > f->max_in_use)
		f->max_in_use = in_use;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static const struct store_ops fake_ops = { .get_range = fake_get_range };

static void fake_init(struct fake *f, uint64_t size)
{
	memset(f, 0, sizeof(*f));
	f->base.ops = &fake_ops;
	f->size = size;
	pthread_mutex_init(&f->lock, NULL);
}

static int check(const char *buf, size_t n, uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)buf[i] != pattern(off + i))
			return 0;
	return 1;
}

static void test_sequential(void)
{
	struct fake f;
	struct ra_stream *st;
	uint64_t size = 200 * MIB + 12345, off = 0, maps, spare;
	size_t rd = 128 * 1024;
	char *buf = malloc(rd);
	int ok = 1;
	ssize_t n;

	fake_init(&f, size);
	f.pool = ra_pool_new(&f.base, 8, 64 * MIB);
	st = ra_stream_new(f.pool, "k", "etag", size);
	while ((n = ra_read(st, buf, rd, off)) > 0) {
		ok &= check(buf, (size_t)n, off);
		off += (uint64_t)n;
	}
	TAP_OK(ok && n == 0 && off == size,
	       "sequential read of 200 MiB + 12345 in 128 KiB reads: every "
	       "byte right, then 0 at the end");
	/* 1 MiB GETs while the window is small, then 8 MiB: not 200 */
	TAP_OK(f.calls <= 70, "a growing window: few GETs for 200 MiB");
	TAP_OK(f.max_len == RA_SEGMENT_MAX, "segments grow to RA_SEGMENT_MAX (8 MiB)");
	TAP_OK(f.max_active >= 2, "GETs run in parallel");
	TAP_OK(f.max_in_use <= 64 * MIB,
	       "memory within readahead_max, spare buffers included");
	ra_pool_buffers(f.pool, &maps, &spare);
	TAP_OK(maps <= 12 && maps < f.calls / 2,
	       "buffers are reused, not mapped for each GET");
	ra_stream_free(st);
	ra_pool_buffers(f.pool, &maps, &spare);
	TAP_OK(ra_pool_in_use(f.pool) == 0 && spare == 0,
	       "all freed with the last stream, spare buffers too");
	ra_pool_free(f.pool);
	free(buf);
}

static void test_seeks_fetch_what_is_read(void)
{
	struct fake f;
	struct ra_stream *st;
	uint64_t size = 64 * MIB, offs[] = { 50 * MIB + 3, 7 * MIB, 33 * MIB,
					     1 * MIB + 4095, 60 * MIB };
	char buf[4096];
	unsigned i, exact = 0, calls;
	int ok = 1;

	fake_init(&f, size);
	f.pool = ra_pool_new(&f.base, 4, 64 * MIB);
	st = ra_stream_new(f.pool, "k", NULL, size);
	TAP_OK(ra_read(st, buf, 10, 0) == 10 && check(buf, 10, 0),
	       "first read");
	for (i = 0; i < 5; i++) {
		unsigned c, mine = 0, beyond = 0;

		pthread_mutex_lock(&f.lock);
		calls = f.calls;
		pthread_mutex_unlock(&f.lock);
		ok &= ra_read(st, buf, sizeof(buf), offs[i]) ==
			      (ssize_t)sizeof(buf) &&
		      check(buf, sizeof(buf), offs[i]);
		/* the first read's read-ahead (below 2 MiB) may still be
		 * starting its GETs on a loaded machine: count only what
		 * this read asked for, at or after its offset */
		pthread_mutex_lock(&f.lock);
		for (c = calls; c < f.calls && c < 64; c++) {
			if (f.log[c].off == offs[i] &&
			    f.log[c].len == sizeof(buf))
				mine++;
			else if (f.log[c].off >= offs[i])
				beyond++;
		}
		pthread_mutex_unlock(&f.lock);
		exact += mine == 1 && beyond == 0;
	}
	TAP_OK(ok, "random 4 KiB reads: right bytes");
	TAP_OK(exact == 5, "each seek fetches exactly what it reads");
	TAP_OK(ra_read(st, buf, sizeof(buf), size) == 0, "at the end: 0");
	TAP_OK(ra_read(st, buf, sizeof(buf), size - 100) == 100 &&
		       check(buf, 100, size - 100),
	       "across the end: the bytes there are");
	ra_stream_free(st);
	ra_pool_free(f.pool);
}

static void test_small_budget(void)
{
	struct fake f;
	struct ra_stream *st;
	uint64_t size = 40 * MIB, off = 0;
	char *buf = malloc(MIB);
	int ok = 1;
	ssize_t n;

	fake_init(&f, size);
	f.pool = ra_pool_new(&f.base, 4, 2 * MIB);
	st = ra_stream_new(f.pool, "k", NULL, size);
	while ((n = ra_read(st, buf, MIB, off)) > 0) {
		ok &= check(buf, (size_t)n, off);
		off += (uint64_t)n;
	}
	TAP_OK(ok && off == size, "a 2 MiB budget still reads everything");
	TAP_OK(f.max_in_use <= 2 * MIB + RA_WINDOW_MIN,
	       "... within the budget and what the read itself needs");
	ra_stream_free(st);
	ra_pool_free(f.pool);
	free(buf);
}

static void test_errors(void)
{
	struct fake f;
	struct ra_stream *st;
	char buf[65536];
	uint64_t off = 0;
	ssize_t n = 0;

	fake_init(&f, 32 * MIB);
	f.fail_at = 9 * MIB;
	f.fail_err = -ESTALE; /* If-Match failed: the object changed */
	f.pool = ra_pool_new(&f.base, 4, 64 * MIB);
	st = ra_stream_new(f.pool, "k", "e", f.size);
	while (off < f.size && (n = ra_read(st, buf, sizeof(buf), off)) > 0)
		off += (uint64_t)n;
	TAP_INTEQ(n, -EIO, "a changed object: EIO, never other bytes");
	TAP_OK(off <= 9 * MIB, "no byte past the failed range");
	f.fail_err = 0;
	n = ra_read(st, buf, sizeof(buf), off);
	TAP_OK(n == (ssize_t)sizeof(buf) && check(buf, sizeof(buf), off),
	       "a later read fetches again");
	ra_stream_free(st);
	ra_pool_free(f.pool);
}

/* The kernel keeps a sequential reader's requests within a few of each
 * other (max_background); two free-running threads could drift apart by
 * any distance on a loaded machine, which is a seek, not a reorder. */
#define READER_SKEW_MAX 4

struct lockstep {
	pthread_mutex_t lock;
	pthread_cond_t moved;
	unsigned done[2];       /* reads finished by each thread */
	bool finished[2];
};

struct reader {
	struct ra_stream *st;
	struct lockstep *ls;
	int id;
	uint64_t start, step, end;
	int ok;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct lockstep *ls = r->ls;
	char buf[131072];
	uint64_t off;

	r->ok = 1;
	for (off = r->start; off < r->end; off += r->step) {
		ssize_t n;

		pthread_mutex_lock(&ls->lock);
		while (!ls->finished[!r->id] &&
		       ls->done[r->id] >= ls->done[!r->id] + READER_SKEW_MAX)
			pthread_cond_wait(&ls->moved, &ls->lock);
		pthread_mutex_unlock(&ls->lock);
		n = ra_read(r->st, buf, sizeof(buf), off);
		r->ok &= n == (ssize_t)sizeof(buf) &&
			 check(buf, sizeof(buf), off);
		pthread_mutex_lock(&ls->lock);
		ls->done[r->id]++;
		pthread_cond_broadcast(&ls->moved);
		pthread_mutex_unlock(&ls->lock);
	}
	pthread_mutex_lock(&ls->lock);
	ls->finished[r->id] = true;
	pthread_cond_broadcast(&ls->moved);
	pthread_mutex_unlock(&ls->lock);
	return NULL;
}

static void test_concurrent_readers(void)
{
	struct fake f;
	struct lockstep ls = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .moved = PTHREAD_COND_INITIALIZER };
	struct reader r[2];
	pthread_t t[2];
	int i;

	/* as FUSE sends one sequential reader's requests: interleaved, from
	 * two threads, in either order, a few requests apart at most */
	fake_init(&f, 64 * MIB);
	f.pool = ra_pool_new(&f.base, 4, 32 * MIB);
	r[0].st = r[1].st = ra_stream_new(f.pool, "k", NULL, f.size);
	for (i = 0; i < 2; i++) {
		r[i].ls = &ls;
		r[i].id = i;
		r[i].start = (uint64_t)i * 131072;
		r[i].step = 2 * 131072;
		r[i].end = f.size;
		pthread_create(&t[i], NULL, reader_main, &r[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	TAP_OK(r[0].ok && r[1].ok, "two threads reading one stream: right");
	TAP_OK(f.calls < 64, "... and still read ahead (not one GET each)");
	ra_stream_free(r[0].st);
	ra_pool_free(f.pool);
}

struct sink {
	uint64_t off;  /* where the next delivered byte belongs */
	unsigned calls, max_pieces;
	int ok;
};

static void sink_deliver(void *arg, const struct iovec *iov, int n)
{
	struct sink *k = arg;
	int i;

	k->calls++;
	if ((unsigned)n > k->max_pieces)
		k->max_pieces = (unsigned)n;
	for (i = 0; i < n; i++) {
		k->ok &= check(iov[i].iov_base, iov[i].iov_len, k->off);
		k->off += iov[i].iov_len;
	}
}

static void test_read_to(void)
{
	struct fake f;
	struct ra_stream *st;
	struct sink k = { .ok = 1 };
	uint64_t size = 100 * MIB + 777, off = 0;
	unsigned calls = 0;
	ssize_t n;
	int ok = 1;

	fake_init(&f, size);
	f.pool = ra_pool_new(&f.base, 4, 64 * MIB);
	st = ra_stream_new(f.pool, "k", "e", size);
	/* 1 MiB + 4 KiB reads: most span two segments */
	while ((n = ra_read_to(st, MIB + 4096, off, sink_deliver, &k)) > 0) {
		calls++;
		ok &= k.calls == calls && k.off == off + (uint64_t)n;
		off += (uint64_t)n;
	}
	TAP_OK(ok && k.ok && n == 0 && off == size,
	       "ra_read_to: every byte right, in order, one delivery per "
	       "read, then 0 at the end");
	TAP_OK(k.max_pieces == 2, "a read across segments: two pieces");
	TAP_OK(k.calls == calls + 1, "the end is delivered too (empty)");
	ra_stream_free(st);
	ra_pool_free(f.pool);

	/* a request over more segments than RA_PIECES_MAX (a fresh stream
	 * covers it in 1 MiB segments): gathered into one piece, each
	 * segment fetched once */
	fake_init(&f, 64 * MIB);
	f.pool = ra_pool_new(&f.base, 4, 64 * MIB);
	st = ra_stream_new(f.pool, "k", NULL, f.size);
	memset(&k, 0, sizeof(k));
	k.ok = 1;
	n = ra_read_to(st, (RA_PIECES_MAX + 4) * MIB + 5, 0, sink_deliver,
		       &k);
	TAP_OK(n == (ssize_t)((RA_PIECES_MAX + 4) * MIB + 5) && k.ok &&
		       k.calls == 1 && k.max_pieces == 1 && k.off == (uint64_t)n,
	       "ra_read_to over more than RA_PIECES_MAX segments: one piece, "
	       "every byte right");
	TAP_OK(f.calls <= RA_PIECES_MAX + 5 + 8,
	       "... each segment fetched once (plus the window ahead)");
	ra_stream_free(st);
	ra_pool_free(f.pool);

	fake_init(&f, 8 * MIB);
	f.fail_at = 3 * MIB;
	f.fail_err = -EIO;
	f.pool = ra_pool_new(&f.base, 4, 64 * MIB);
	st = ra_stream_new(f.pool, "k", "e", f.size);
	memset(&k, 0, sizeof(k));
	k.ok = 1;
	calls = 0;
	for (off = 0; off < f.size; off += 65536) {
		n = ra_read_to(st, 65536, off, sink_deliver, &k);
		if (n < 0)
			break;
		calls++;
	}
	TAP_INTEQ(n, -EIO, "ra_read_to: a failed GET's error");
	TAP_OK(k.calls == calls && k.ok && off <= 3 * MIB,
	       "... and nothing delivered for the failed read");
	ra_stream_free(st);
	ra_pool_free(f.pool);
}

int main(void)
{
	test_sequential();
	test_seeks_fetch_what_is_read();
	test_small_budget();
	test_errors();
	test_concurrent_readers();
	test_read_to();
	return tap_done();
}
