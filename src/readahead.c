/*
 * readahead.c - parallel ranged GETs ahead of sequential readers.
 *
 * One mutex (the pool's) protects the queue, the budget and every
 * stream's segment list.  A segment is in one of three states:
 *
 *   QUEUED --(a fetch thread takes it)--> FETCHING --(GET done)--> DONE
 *
 * and belongs to its stream's list (ascending offsets, no overlaps) until
 * it is consumed or dropped.  A dropped FETCHING segment leaves the list
 * at once and is freed by its fetch thread; a stream is freed only when
 * none of its segments is FETCHING, so the threads never see a freed
 * stream.  Segments are freed when every byte was read once (concurrent
 * FUSE reads of one file arrive out of order, so "behind the reader" is
 * not a safe test), when far behind the reader, or on a seek.
 */
#include "readahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "readcache.h"
#include "store.h"

enum seg_state { SEG_QUEUED, SEG_FETCHING, SEG_DONE };


struct ra_seg {
	struct ra_stream *st;
	uint64_t off;
	size_t len;
	char *buf;
	size_t got;
	size_t consumed;      /* bytes handed to readers */
	unsigned pins;        /* readers waiting on it or copying from it */
	int err;
	enum seg_state state;
	bool local;           /* read from the read cache, not the bucket */
	bool dropped;         /* off the list: free when the GET ends */
	struct ra_seg *next;  /* the stream's list */
	struct ra_seg *qnext; /* the pool's queue */
};

struct ra_stream {
	struct ra_pool *p;
	char *key;
	char etag[128];
	uint64_t size;
	uint64_t next_off;  /* where the last read ended */
	uint64_t ahead_end; /* end of the furthest segment */
	uint64_t window;    /* 0: no read-ahead (after a seek) */
	uint64_t grown_at;  /* where the window last grew */
	struct ra_seg *segs;
	unsigned fetching;
};

/* A mapped buffer kept for the next segment (see buf_get). */
struct ra_spare {
	char *buf;
	size_t touched; /* bytes of it that may be resident */
	struct ra_spare *next;
};

struct ra_pool {
	struct store *s;
	struct rcache *rc;   /* NULL: no read cache */
	pthread_mutex_t lock;
	pthread_cond_t work; /* queue not empty, or stopping */
	pthread_cond_t done; /* a GET ended */
	struct ra_seg *qhead, *qtail;
	uint64_t budget, used;
	struct ra_spare *spares;
	uint64_t spare_bytes; /* their touched bytes */
	uint64_t maps;        /* buffers mapped so far */
	unsigned streams;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

/* Unmap the first spare.  Locked. */
static void spare_drop(struct ra_pool *p)
{
	struct ra_spare *sp = p->spares;

	p->spares = sp->next;
	p->spare_bytes -= sp->touched;
	munmap(sp->buf, RA_SEGMENT_MAX);
	free(sp);
}

static void spares_release(struct ra_pool *p)
{
	while (p->spares)
		spare_drop(p);
}

/*
 * Segment buffers are mapped, not malloc'd: a freed one goes back to the
 * system at once, so the daemon's RSS follows readahead_max (malloc keeps
 * freed multi-MiB blocks around once its mmap threshold has grown).
 * Each maps RA_SEGMENT_MAX (only what is written becomes resident) so
 * any segment can reuse any spare: a fresh mapping costs a page fault,
 * a zeroed page and a cgroup charge per 4 KiB written, a quarter of
 * r2fs's CPU time on a sequential read.  Spares count against the
 * budget and are unmapped when the last stream goes.  Locked.
 */
static char *buf_get(struct ra_pool *p, size_t len)
{
	struct ra_spare *sp = p->spares;
	size_t cap = len > RA_SEGMENT_MAX ? len : RA_SEGMENT_MAX;
	void *b = NULL;

	if (sp && len <= RA_SEGMENT_MAX) {
		/* the segment's len is what the budget counts: drop the
		 * pages a bigger one left beyond it */
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t keep = (len + page - 1) / page * page;

		if (sp->touched > keep)
			madvise(sp->buf + keep, sp->touched - keep,
				MADV_DONTNEED);
		p->spares = sp->next;
		p->spare_bytes -= sp->touched;
		b = sp->buf;
		free(sp);
	}
	/* the other spares make room for the segment */
	while (p->spares && p->used + p->spare_bytes + len > p->budget)
		spare_drop(p);
	if (b)
		return b;
	b = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return NULL;
	p->maps++;
	return b;
}

static void seg_free(struct ra_pool *p, struct ra_seg *g)
{
	struct ra_spare *sp = NULL;

	p->used -= g->len;
	if (g->len <= RA_SEGMENT_MAX && p->streams > 0 &&
	    p->used + p->spare_bytes + g->len <= p->budget)
		sp = malloc(sizeof(*sp));
	if (sp) {
		sp->buf = g->buf;
		sp->touched = g->len;
		sp->next = p->spares;
		p->spares = sp;
		p->spare_bytes += g->len;
	} else {
		munmap(g->buf, g->len > RA_SEGMENT_MAX ? g->len
						       : RA_SEGMENT_MAX);
	}
	free(g);
}

static void queue_remove(struct ra_pool *p, struct ra_seg *g)
{
	struct ra_seg **pp, *prev = NULL;

	for (pp = &p->qhead; *pp; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp == g) {
			*pp = g->qnext;
			if (p->qtail == g)
				p->qtail = prev;
			return;
		}
	}
}

static void unpin(struct ra_pool *p, struct ra_seg *g)
{
	if (--g->pins == 0 && g->dropped)
		seg_free(p, g);
}

/* Take g off its stream's list (pp points at it) and let it go. */
static void seg_drop(struct ra_pool *p, struct ra_seg **pp)
{
	struct ra_seg *g = *pp;

	*pp = g->next;
	if (g->state == SEG_FETCHING || g->pins) {
		/* its GET or a reader still needs it (a queued one then
		 * stays queued: its reader waits for it) */
		g->dropped = true;
		return;
	}
	if (g->state == SEG_QUEUED)
		queue_remove(p, g);
	seg_free(p, g);
}

/* rcache_done_fn: a segment's bytes are stored (or dropped). */
static void filled(void *arg)
{
	struct ra_seg *g = arg;
	struct ra_stream *st = g->st; /* kept by its fetching count */
	struct ra_pool *p = st->p;

	pthread_mutex_lock(&p->lock);
	unpin(p, g);
	st->fetching--;
	pthread_cond_broadcast(&p->done);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Fetch g (QUEUED, taken off the queue): from the read cache if it was
 * planned there and is still there, else from the bucket.  The bytes a
 * GET brought go to the read cache's threads once readers have them (the
 * fetch threads go on fetching); the segment and its stream stay until
 * they are stored.  Locked; the lock is dropped meanwhile.
 */
static void seg_fetch(struct ra_pool *p, struct ra_seg *g)
{
	struct ra_stream *st = g->st;
	bool local = g->local, fill;
	size_t got = 0;
	int rc = 0;

	g->state = SEG_FETCHING;
	st->fetching++;
	pthread_mutex_unlock(&p->lock);
	if (local && rcache_read(p->rc, st->key, st->etag, st->size, g->off,
				 g->len, g->buf) == g->len) {
		got = g->len;
	} else {
		local = false; /* evicted meanwhile, or torn */
		rc = p->s->ops->get_range(p->s, st->key, g->off, g->len,
					  st->etag[0] ? st->etag : NULL,
					  g->buf, &got);
	}
	fill = !rc && !local && p->rc && st->etag[0];
	pthread_mutex_lock(&p->lock);
	g->err = rc;
	g->got = got;
	g->local = local;
	g->state = SEG_DONE;
	pthread_cond_broadcast(&p->done);
	if (fill) {
		/* pinned, so nobody frees it; the stream waits for it */
		g->pins++;
		fill = rcache_fill_async(p->rc, st->key, st->etag, st->size,
					 g->off, g->buf, got, filled, g);
		if (!fill)
			g->pins--; /* the disk is behind: not stored */
	}
	if (!fill && g->dropped && !g->pins)
		seg_free(p, g);
	if (!fill)
		st->fetching--; /* the stream may be freed from here on */
	pthread_cond_broadcast(&p->done);
}

static void *fetcher(void *arg)
{
	struct ra_pool *p = arg;
	struct ra_seg *g;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		g = p->qhead;
		if (!g) {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		p->qhead = g->qnext;
		if (!p->qhead)
			p->qtail = NULL;
		seg_fetch(p, g);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct ra_pool *ra_pool_new(struct store *s, unsigned threads,
			    uint64_t budget)
{
	struct ra_pool *p = calloc(1, sizeof(*p));
	unsigned i;

	if (!p)
		return NULL;
	p->s = s;
	p->budget = budget;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc(threads ? threads : 1, sizeof(*p->threads));
	if (!p->threads) {
		ra_pool_free(p);
		return NULL;
	}
	for (i = 0; i < (threads ? threads : 1); i++) {
		if (pthread_create(&p->threads[i], NULL, fetcher, p))
			break;
		p->nthreads++;
	}
	if (!p->nthreads) {
		ra_pool_free(p);
		return NULL;
	}
	return p;
}

void ra_pool_set_cache(struct ra_pool *p, struct rcache *rc)
{
	p->rc = rc;
}

void ra_pool_free(struct ra_pool *p)
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	spares_release(p);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

uint64_t ra_pool_in_use(struct ra_pool *p)
{
	uint64_t used;

	pthread_mutex_lock(&p->lock);
	used = p->used;
	pthread_mutex_unlock(&p->lock);
	return used;
}

void ra_pool_buffers(struct ra_pool *p, uint64_t *maps, uint64_t *spare)
{
	pthread_mutex_lock(&p->lock);
	*maps = p->maps;
	*spare = p->spare_bytes;
	pthread_mutex_unlock(&p->lock);
}

struct ra_stream *ra_stream_new(struct ra_pool *p, const char *key,
				const char *etag, uint64_t size)
{
	struct ra_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->key = strdup(key);
	if (!st->key) {
		free(st);
		return NULL;
	}
	if (etag)
		snprintf(st->etag, sizeof(st->etag), "%s", etag);
	st->p = p;
	st->size = size;
	st->window = RA_WINDOW_MIN;
	pthread_mutex_lock(&p->lock);
	p->streams++;
	pthread_mutex_unlock(&p->lock);
	return st;
}

void ra_stream_free(struct ra_stream *st)
{
	struct ra_pool *p;

	if (!st)
		return;
	p = st->p;
	pthread_mutex_lock(&p->lock);
	while (st->segs)
		seg_drop(p, &st->segs);
	while (st->fetching)
		pthread_cond_wait(&p->done, &p->lock);
	if (--p->streams == 0)
		spares_release(p); /* idle: give the memory back */
	pthread_mutex_unlock(&p->lock);
	free(st->key);
	free(st);
}

/* The segment holding byte off, or NULL.  Locked. */
static struct ra_seg *seg_at(struct ra_stream *st, uint64_t off)
{
	struct ra_seg *g;

	for (g = st->segs; g && g->off <= off; g = g->next)
		if (off < g->off + g->len)
			return g;
	return NULL;
}

/* Queue a GET of [off, off + len).  forced: even over the budget (the
 * reader needs it now).  false when not made.  Locked. */
static bool seg_add(struct ra_stream *st, uint64_t off, uint64_t len,
		    bool forced, bool local)
{
	struct ra_pool *p = st->p;
	struct ra_seg *g, **pp;

	if (!forced && p->used + len > p->budget)
		return false;
	g = calloc(1, sizeof(*g));
	if (g)
		g->buf = buf_get(p, (size_t)len);
	if (!g || !g->buf) {
		free(g);
		return false;
	}
	g->st = st;
	g->off = off;
	g->len = (size_t)len;
	g->local = local;
	p->used += len;
	for (pp = &st->segs; *pp && (*pp)->off < off; pp = &(*pp)->next)
		;
	g->next = *pp;
	*pp = g;
	if (p->qtail)
		p->qtail->qnext = g;
	else
		p->qhead = g;
	p->qtail = g;
	if (off + len > st->ahead_end)
		st->ahead_end = off + len;
	pthread_cond_signal(&p->work);
	return true;
}

/*
 * With a read cache: cut a segment of len bytes at off so that it is all
 * in the cache (*local) or all not, and a GET of a block or more ends on
 * a block boundary (or the object's end), so the next one starts on one
 * and every block it brings can be cached.  Locked.
 */
static uint64_t cache_cut(struct ra_stream *st, uint64_t off, uint64_t len,
			  bool *local)
{
	uint64_t run, aligned;

	run = rcache_run(st->p->rc, st->key, st->etag, st->size, off,
			 off + len, local);
	if (*local || run < off + len)
		return run - off;
	aligned = (off + len) / RC_BLOCK * RC_BLOCK;
	if (len >= RC_BLOCK && off + len < st->size && aligned > off)
		return aligned - off;
	return len;
}

/* Segments for the bytes of [off, end) that none covers yet.  Locked. */
static int cover(struct ra_stream *st, uint64_t off, uint64_t end,
		 uint64_t seg, bool forced)
{
	struct ra_seg *g;
	uint64_t hole_end, len;
	bool local;

	while (off < end) {
		g = seg_at(st, off);
		if (g) {
			off = g->off + g->len;
			continue;
		}
		/* up to the next segment, the end, or one segment's size */
		hole_end = end;
		for (g = st->segs; g; g = g->next)
			if (g->off > off && g->off < hole_end)
				hole_end = g->off;
		len = hole_end - off < seg ? hole_end - off : seg;
		local = false;
		if (st->p->rc && st->etag[0])
			len = cache_cut(st, off, len, &local);
		if (!seg_add(st, off, len, forced, local))
			return forced ? -ENOMEM : 0;
		off += len;
	}
	return 0;
}

/* Free what every reader is done with: read entirely, or far behind. */
static void trim(struct ra_stream *st, uint64_t off)
{
	struct ra_seg **pp = &st->segs;

	while (*pp) {
		struct ra_seg *g = *pp;

		if ((g->state == SEG_DONE &&
		     (g->consumed >= g->len || g->err)) ||
		    g->off + g->len + RA_WINDOW_MAX <= off)
			seg_drop(st->p, pp);
		else
			pp = &g->next;
	}
}

/* Grow, keep or drop the window for a read of [off, end) and queue the
 * segments it needs and those ahead of it.  Locked. */
static int plan(struct ra_stream *st, uint64_t off, uint64_t end)
{
	uint64_t seg, ahead, need;
	bool near;
	int rc;

	/* FUSE sends a sequential reader's requests out of order at times:
	 * anything within a window of the last end, or already fetched,
	 * counts as sequential */
	near = seg_at(st, off) ||
	       (off + RA_WINDOW_MIN >= st->next_off &&
		off <= st->next_off + (st->window > RA_WINDOW_MIN
					       ? st->window : RA_WINDOW_MIN));
	if (!near) {
		/* a seek: drop the read-ahead, fetch just this */
		while (st->segs)
			seg_drop(st->p, &st->segs);
		st->ahead_end = 0;
		st->window = 0;
		/* random reads: the cache may fetch around them */
		if (st->p->rc && st->etag[0])
			rcache_random(st->p->rc, st->key, st->etag, st->size,
				      off);
	} else if (!st->window) {
		st->window = RA_WINDOW_MIN;
		st->grown_at = off;
	} else if (end >= st->grown_at + st->window &&
		   st->window < RA_WINDOW_MAX) {
		/* a whole window read in order: double it */
		st->window *= 2;
		st->grown_at = end;
	}
	/* eighths: with a full window, 8 GETs of 8 MiB in flight, as many
	 * as the fetch threads; quarters (4 of 16 MiB) read 5-8% slower at
	 * a 20 ms round trip */
	seg = st->window / 8;
	if (seg < RA_WINDOW_MIN)
		seg = RA_WINDOW_MIN;
	if (seg > RA_SEGMENT_MAX)
		seg = RA_SEGMENT_MAX;
	/* what this read needs, whatever the budget (a sequential reader's
	 * to the end of its block: a GET that ends there can be cached) */
	need = end;
	if (st->window && st->p->rc && st->etag[0]) {
		need = (end + RC_BLOCK - 1) / RC_BLOCK * RC_BLOCK;
		if (need > st->size)
			need = st->size;
	}
	rc = cover(st, off, need, st->window ? seg : end - off, true);
	/* ... and the window beyond it, in whole segments (a GET costs the
	 * same for 8 MiB as for 128 KiB), within the budget */
	if (!rc && st->window) {
		uint64_t from = st->ahead_end > end ? st->ahead_end : end;

		ahead = end + st->window;
		if (ahead >= st->size)
			ahead = st->size;
		else if (ahead > from)
			ahead = from + (ahead - from) / seg * seg;
		if (ahead > from)
			cover(st, from, ahead, seg, false);
	}
	return rc;
}

/* The fetched segment holding byte pos (of a read ending at end), pinned:
 * *n bytes of it from g->buf + *in.  Waits for its GET.  Locked. */
static int piece(struct ra_stream *st, uint64_t pos, uint64_t end,
		 struct ra_seg **gp, size_t *in, size_t *n)
{
	struct ra_seg *g;
	int rc;

	while (!(g = seg_at(st, pos))) {
		rc = cover(st, pos, end, end - pos, true);
		if (rc)
			return rc;
	}
	g->pins++; /* a concurrent seek may drop it meanwhile */
	if (g->state == SEG_QUEUED && g->local) {
		/* from local disk: quicker done here than handed over */
		queue_remove(st->p, g);
		seg_fetch(st->p, g);
	}
	while (g->state != SEG_DONE)
		pthread_cond_wait(&st->p->done, &st->p->lock);
	*in = (size_t)(pos - g->off);
	if (g->err || *in >= g->got) {
		rc = g->err ? g->err : -EIO; /* EIO: shorter than it was */
		unpin(st->p, g);
		return rc;
	}
	*n = g->got - *in < end - pos ? g->got - *in : (size_t)(end - pos);
	g->consumed += *n;
	*gp = g;
	return 0;
}

/* After a read that got done bytes at off.  Locked. */
static void finish(struct ra_stream *st, uint64_t off, size_t done)
{
	if (done)
		st->next_off = off + done;
	trim(st, off + done);
}

static int read_error(struct ra_stream *st, int rc)
{
	if (rc == -ESTALE) {
		log_warn("%s changed while it was open; failing the read",
			 st->key);
		rc = -EIO;
	}
	return rc;
}

/* size cut to what the object has from off on (0 at or past its end). */
static size_t clamp(const struct ra_stream *st, uint64_t off, size_t size)
{
	if (off >= st->size)
		return 0;
	return size < st->size - off ? size : (size_t)(st->size - off);
}

ssize_t ra_read_to(struct ra_stream *st, size_t size, uint64_t off,
		   ra_deliver_fn deliver, void *arg)
{
	struct ra_pool *p = st->p;
	struct ra_seg *held[RA_PIECES_MAX], *g;
	struct iovec iov[RA_PIECES_MAX];
	size_t done = 0, in, n, at;
	uint64_t local = 0;
	bool all_local = true;
	char *copy = NULL;
	int k = 0, i, rc;

	if (!(size = clamp(st, off, size))) {
		deliver(arg, NULL, 0);
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	rc = plan(st, off, off + size);
	while (!rc && done < size) {
		rc = piece(st, off + done, off + size, &g, &in, &n);
		if (rc)
			break;
		if (g->local)
			local += n;
		else
			all_local = false;
		if (!copy && k == RA_PIECES_MAX) {
			/* in many small segments: gather it into one buffer */
			copy = malloc(size);
			if (!copy) {
				unpin(p, g);
				rc = -ENOMEM;
				break;
			}
			for (at = 0, i = 0; i < k; i++) {
				memcpy(copy + at, iov[i].iov_base,
				       iov[i].iov_len);
				at += iov[i].iov_len;
				unpin(p, held[i]);
			}
			k = 0;
		}
		if (copy) {
			memcpy(copy + done, g->buf + in, n);
			unpin(p, g);
		} else {
			iov[k].iov_base = g->buf + in;
			iov[k].iov_len = n;
			held[k++] = g;
		}
		done += n;
	}
	/* The stream is not touched after the reply: it may be freed as
	 * soon as the kernel has its bytes (a RELEASE right behind). */
	finish(st, off, rc ? 0 : done);
	if (!rc && p->rc && st->etag[0])
		rcache_count(p->rc, all_local, local);
	if (!rc) {
		/* pinned, so no seek or trim frees them meanwhile */
		pthread_mutex_unlock(&p->lock);
		if (copy) {
			struct iovec one = { copy, done };

			deliver(arg, &one, 1);
		} else {
			deliver(arg, iov, k);
		}
		pthread_mutex_lock(&p->lock);
	}
	for (i = 0; i < k; i++)
		unpin(p, held[i]);
	pthread_mutex_unlock(&p->lock);
	free(copy);
	return rc ? read_error(st, rc) : (ssize_t)done;
}

static void copy_out(void *arg, const struct iovec *iov, int n)
{
	char *buf = arg;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(buf, iov[i].iov_base, iov[i].iov_len);
		buf += iov[i].iov_len;
	}
}

ssize_t ra_read(struct ra_stream *st, char *buf, size_t size, uint64_t off)
{
	return ra_read_to(st, size, off, copy_out, buf);
}
