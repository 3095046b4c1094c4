/*
 * stage.c - staging files in the journal's data directory, filled lazily
 * from the object they were made from.
 *
 * Two bitmaps of STAGE_CHUNK chunks, both under fill_lock: have (which of
 * the source's chunks are here yet) and changed (which differ, or may, from
 * the copy base: the version the stage was made from or last uploaded
 * as).  have empties as chunks arrive and is gone once the stage is whole;
 * changed fills as writes land and is cleared by each upload, so an upload
 * of a big file sends the parts with changed chunks and copies the rest on
 * the server (upload.c).  A chunk counts as changed once any byte of it
 * was written, even with the same bytes: marking too much costs bytes,
 * too little would cost correctness.
 */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

static int stage_make(const char *path, int flags, uint64_t size,
		      struct stage **out)
{
	struct stage *st = calloc(1, sizeof(*st));
	int fd, err;

	if (!st)
		return -ENOMEM;
	st->path = strdup(path);
	if (!st->path) {
		free(st);
		return -ENOMEM;
	}
	fd = open(path, flags | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		free(st->path);
		free(st);
		return err;
	}
	st->fd = fd;
	st->size = size;
	st->refs = 1;
	pthread_mutex_init(&st->fill_lock, NULL);
	pthread_rwlock_init(&st->lock, NULL);
	*out = st;
	return 0;
}

int stage_new(const char *path, struct stage **out)
{
	return stage_make(path, O_CREAT | O_TRUNC, 0, out);
}

int stage_open(const char *path, uint64_t size, struct stage **out)
{
	int rc = stage_make(path, 0, size, out);

	if (rc == 0 && ftruncate((*out)->fd, (off_t)size) < 0) {
		rc = -errno;
		(*out)->keep = true; /* the journal's data, not ours to drop */
		stage_put(*out);
	}
	return rc;
}

struct stage *stage_get(struct stage *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	return st;
}

void stage_put(struct stage *st)
{
	if (!st || __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL))
		return;
	close(st->fd);
	if (!st->keep)
		unlink(st->path);
	pthread_mutex_destroy(&st->fill_lock);
	pthread_rwlock_destroy(&st->lock);
	free(st->have);
	free(st->src_key);
	free(st->changed);
	free(st->copy_key);
	free(st->path);
	free(st);
}

/* ---- the copy base (fill_lock held) ---- */

static void copy_base_drop(struct stage *st)
{
	free(st->changed);
	free(st->copy_key);
	st->changed = NULL;
	st->copy_key = NULL;
	st->copy_etag[0] = '\0';
	st->copy_end = 0;
	st->copy_nchunks = 0;
}

static int copy_base_set(struct stage *st, const char *key, const char *etag,
			 uint64_t size)
{
	uint64_t n = size / STAGE_CHUNK + (size % STAGE_CHUNK ? 1 : 0);

	copy_base_drop(st);
	if (!key || !etag || !etag[0] || strlen(etag) >= sizeof(st->copy_etag)
	    || size == 0)
		return 0;
	st->changed = calloc((size_t)(n / 8 + 1), 1);
	st->copy_key = strdup(key);
	if (!st->changed || !st->copy_key) {
		copy_base_drop(st);
		return -ENOMEM;
	}
	snprintf(st->copy_etag, sizeof(st->copy_etag), "%s", etag);
	st->copy_end = size;
	st->copy_nchunks = n;
	return 0;
}

/* Bytes [off, off + len) may differ from the copy base now. */
static void copy_base_mark(struct stage *st, uint64_t off, uint64_t len)
{
	uint64_t c, c1;

	if (!st->copy_key || !len || off >= st->copy_end)
		return;
	c1 = (off + len - 1) / STAGE_CHUNK;
	for (c = off / STAGE_CHUNK; c <= c1 && c < st->copy_nchunks; c++)
		st->changed[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* Are bytes [off, end) the copy base's? */
static bool copy_base_same(const struct stage *st, uint64_t off, uint64_t end)
{
	uint64_t c;

	if (!st->copy_key || end > st->copy_end || end <= off)
		return false;
	for (c = off / STAGE_CHUNK; c <= (end - 1) / STAGE_CHUNK; c++)
		if (st->changed[c >> 3] & (1u << (c & 7)))
			return false;
	return true;
}

int stage_set_copy_base(struct stage *st, const char *key, const char *etag,
			uint64_t size)
{
	int rc;

	pthread_mutex_lock(&st->fill_lock);
	rc = copy_base_set(st, key, etag, size);
	pthread_mutex_unlock(&st->fill_lock);
	return rc;
}

int stage_copy_plan(struct stage *st, uint64_t size, uint64_t part,
		    bool *parts, uint64_t nparts, char **key, char *etag)
{
	uint64_t i, off, end;
	int n = 0;

	*key = NULL;
	etag[0] = '\0';
	pthread_mutex_lock(&st->fill_lock);
	for (i = 0; i < nparts && part; i++) {
		off = i * part;
		end = off + part < size ? off + part : size;
		parts[i] = copy_base_same(st, off, end);
		if (parts[i])
			n++;
	}
	if (n) {
		*key = strdup(st->copy_key);
		snprintf(etag, 128, "%s", st->copy_etag);
		if (!*key)
			n = -ENOMEM;
	}
	pthread_mutex_unlock(&st->fill_lock);
	return n;
}

/* ---- lazy filling (fill_lock held) ---- */

static uint64_t nchunks(uint64_t size)
{
	return size / STAGE_CHUNK + (size % STAGE_CHUNK ? 1 : 0);
}

static bool have_chunk(const struct stage *st, uint64_t c)
{
	return !st->have || c >= nchunks(st->src_size) ||
	       (st->have[c >> 3] & (1u << (c & 7)));
}

static void set_chunk(struct stage *st, uint64_t c)
{
	if (have_chunk(st, c))
		return;
	st->have[c >> 3] |= (uint8_t)(1u << (c & 7));
	st->nmissing--;
}

/* Drop the bookkeeping once nothing is missing. */
static void maybe_whole(struct stage *st)
{
	if (st->have && st->nmissing == 0) {
		free(st->have);
		__atomic_store_n(&st->have, NULL, __ATOMIC_RELEASE);
		free(st->src_key);
		st->src_key = NULL;
	}
}

/* Fetch chunks [c0, c1] (all missing) with one GET. */
static int fetch(struct stage *st, struct store *s, uint64_t c0, uint64_t c1)
{
	uint64_t off = c0 * STAGE_CHUNK, end = (c1 + 1) * STAGE_CHUNK, c;
	int rc;

	if (end > st->src_size)
		end = st->src_size;
	rc = s->ops->get_range_to_fd(s, st->src_key, off, end - off,
				     st->src_etag, st->fd);
	if (rc == -ESTALE) {
		log_warn("%s changed in the bucket while open for writing; "
			 "its parts not read yet cannot be fetched",
			 st->src_key);
		rc = -EIO;
	}
	if (rc)
		return rc;
	for (c = c0; c <= c1; c++)
		set_chunk(st, c);
	return 0;
}

/* Fetch every missing chunk in [c0, c1], a run of them per GET. */
static int fill_chunks(struct stage *st, struct store *s, uint64_t c0,
		       uint64_t c1)
{
	uint64_t c = c0, run;
	int rc;

	while (st->have && c <= c1) {
		if (have_chunk(st, c)) {
			c++;
			continue;
		}
		run = c;
		while (run + 1 <= c1 && !have_chunk(st, run + 1) &&
		       (run + 2 - c) * STAGE_CHUNK <= STAGE_FETCH_MAX)
			run++;
		rc = fetch(st, s, c, run);
		if (rc)
			return rc;
		c = run + 1;
	}
	maybe_whole(st);
	return 0;
}

/* Is chunk c entirely inside [off, end) (as far as the source goes)? */
static bool covered(const struct stage *st, uint64_t c, uint64_t off,
		    uint64_t end)
{
	uint64_t cs = c * STAGE_CHUNK, ce = cs + STAGE_CHUNK;

	if (ce > st->src_size)
		ce = st->src_size;
	return off <= cs && end >= ce;
}

int stage_set_source(struct stage *st, const char *key, const char *etag,
		     uint64_t size)
{
	uint64_t n = nchunks(size);

	if (ftruncate(st->fd, (off_t)size) < 0)
		return -errno;
	if (size == 0)
		return 0;
	st->have = calloc((size_t)(n / 8 + 1), 1);
	st->src_key = strdup(key);
	if (!st->have || !st->src_key) {
		free(st->have);
		free(st->src_key);
		st->have = NULL;
		st->src_key = NULL;
		return -ENOMEM;
	}
	snprintf(st->src_etag, sizeof(st->src_etag), "%s", etag);
	st->src_size = size;
	st->nmissing = n;
	/* no other thread knows st yet: fill_lock is not needed */
	if (copy_base_set(st, key, etag, size)) {
		free(st->have);
		free(st->src_key);
		st->have = NULL;
		st->src_key = NULL;
		return -ENOMEM;
	}
	return 0;
}

bool stage_partial(struct stage *st)
{
	/* without fill_lock: callers may hold the fs lock, which must never
	 * wait for a fetch; once whole, a stage stays whole */
	return __atomic_load_n(&st->have, __ATOMIC_ACQUIRE) != NULL;
}

ssize_t stage_read(struct stage *st, struct store *s, char *buf,
		   size_t size, uint64_t off)
{
	size_t done = 0;
	ssize_t r = 0;
	int rc = 0;

	pthread_mutex_lock(&st->fill_lock);
	if (st->have && size && off < st->src_size)
		rc = fill_chunks(st, s, off / STAGE_CHUNK,
				 (off + size - 1) / STAGE_CHUNK);
	while (!rc && done < size) {
		r = pread(st->fd, buf + done, size - done,
			  (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	pthread_mutex_unlock(&st->fill_lock);
	return rc ? rc : (ssize_t)done;
}

ssize_t stage_write(struct stage *st, struct store *s, const char *buf,
		    size_t size, uint64_t off)
{
	uint64_t end = off + size, c0, c1, c;
	size_t done = 0;
	ssize_t w;
	int rc = 0;

	pthread_mutex_lock(&st->fill_lock);
	/* before the bytes land: a write that fails half done changed them
	 * all the same */
	copy_base_mark(st, off, size);
	if (st->have && size && off < st->src_size) {
		/* only the chunks this write covers in part need the
		 * object's bytes first */
		c0 = off / STAGE_CHUNK;
		c1 = (end - 1) / STAGE_CHUNK;
		if (!covered(st, c0, off, end))
			rc = fill_chunks(st, s, c0, c0);
		if (!rc && c1 != c0 && !covered(st, c1, off, end))
			rc = fill_chunks(st, s, c1, c1);
	}
	while (!rc && done < size) {
		w = pwrite(st->fd, buf + done, size - done,
			   (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			break;
		}
		done += (size_t)w;
	}
	if (st->have && done) {
		for (c = off / STAGE_CHUNK;
		     c <= (off + done - 1) / STAGE_CHUNK; c++)
			if (covered(st, c, off, off + done))
				set_chunk(st, c);
		maybe_whole(st);
	}
	pthread_mutex_unlock(&st->fill_lock);
	return done ? (ssize_t)done : rc;
}

int stage_truncate(struct stage *st, struct store *s, uint64_t size)
{
	uint64_t n, c;
	int rc = 0;

	pthread_mutex_lock(&st->fill_lock);
	/* what follows the cut, if it grows again, is not the base's */
	if (size < st->copy_end)
		st->copy_end = size;
	if (st->have && size < st->src_size) {
		/* the bytes before the cut in its chunk stay */
		if (size % STAGE_CHUNK)
			rc = fill_chunks(st, s, size / STAGE_CHUNK,
					 size / STAGE_CHUNK);
		if (!rc && st->have) {
			st->src_size = size;
			n = nchunks(size);
			st->nmissing = 0;
			for (c = 0; c < n; c++)
				if (!(st->have[c >> 3] & (1u << (c & 7))))
					st->nmissing++;
			maybe_whole(st);
		}
	}
	if (!rc && ftruncate(st->fd, (off_t)size) < 0)
		rc = -errno;
	pthread_mutex_unlock(&st->fill_lock);
	return rc;
}

int stage_complete(struct stage *st, struct store *s)
{
	int rc = 0;

	pthread_mutex_lock(&st->fill_lock);
	if (st->have)
		rc = fill_chunks(st, s, 0, nchunks(st->src_size) - 1);
	pthread_mutex_unlock(&st->fill_lock);
	return rc;
}
