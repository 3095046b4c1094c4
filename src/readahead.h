/*
 * readahead.h - reads from the bucket for open files: a growing window of
 * parallel ranged GETs ahead of each sequential reader, under one memory
 * cap for the whole mount.
 *
 * A stream belongs to one open file handle and reads one object version
 * (every GET carries If-Match with the ETag seen at open).  A reader that
 * goes on where its last read ended doubles its window (RA_WINDOW_MIN up
 * to RA_WINDOW_MAX) and keeps that much in flight as segments fetched by
 * the pool's threads while it consumes the first; a read anywhere else
 * (a seek) drops what was fetched ahead and fetches just what it asks
 * for, then starts small again.  All segments of all streams together
 * stay within the pool's budget (-o readahead_max); a stream over it
 * fetches only what its reader needs now.
 *
 * With a read cache (ra_pool_set_cache), bytes it holds of the stream's
 * version are read from local disk instead, and whole blocks a GET
 * brings are stored there after the reader has them.
 *
 * Thread safety: a stream is used by one handle; FUSE may call ra_read
 * on it from several threads at once, which is fine.  The pool's fetch
 * threads never touch a stream after ra_stream_free returned.
 */
#ifndef R2FS_READAHEAD_H
#define R2FS_READAHEAD_H

#include <stdint.h>
#include <sys/types.h>

#define RA_WINDOW_MIN ((uint64_t)1 << 20)
#define RA_WINDOW_MAX ((uint64_t)64 << 20)
#define RA_SEGMENT_MAX ((uint64_t)8 << 20)

struct store;
struct ra_pool;
struct ra_stream;

/* threads fetching at once; budget: bytes of segments at most. */
struct ra_pool *ra_pool_new(struct store *s, unsigned threads,
			    uint64_t budget);
/*
 * Read through rc (readcache.h) from now on: bytes it holds come from
 * local disk, whole blocks a GET brings go into it, and random reads are
 * reported to it.  Streams without an ETag bypass it.  Before any read.
 */
struct rcache;
void ra_pool_set_cache(struct ra_pool *p, struct rcache *rc);
/* Stops the threads; every stream must be freed first. */
void ra_pool_free(struct ra_pool *p);

/* A stream over size bytes of object key at ETag etag ("" or NULL:
 * unpinned).  NULL on ENOMEM. */
struct ra_stream *ra_stream_new(struct ra_pool *p, const char *key,
				const char *etag, uint64_t size);
/* Waits for its GETs in flight, then frees everything. */
void ra_stream_free(struct ra_stream *st);

/*
 * size bytes at off (fewer only at the end of the object); -EIO when the
 * object changed since the stream began, or the GET's error.
 */
ssize_t ra_read(struct ra_stream *st, char *buf, size_t size, uint64_t off);

/* The most pieces ra_read_to hands over at once. */
#define RA_PIECES_MAX 16

struct iovec;
/* Receives a read's bytes: n pieces, valid only during the call. */
typedef void (*ra_deliver_fn)(void *arg, const struct iovec *iov, int n);

/*
 * Like ra_read, but the bytes go to deliver straight from the fetched
 * segments, without a copy (FUSE writes them to the kernel from there).
 * deliver is called once when the result is 0 or more, never on an
 * error.  Bytes delivered or -errno.
 */
ssize_t ra_read_to(struct ra_stream *st, size_t size, uint64_t off,
		   ra_deliver_fn deliver, void *arg);

/* Bytes of segments allocated now, in all streams (for tests and stats). */
uint64_t ra_pool_in_use(struct ra_pool *p);
/* Buffers mapped since the start, and bytes kept in spare buffers for
 * reuse (freed when no stream is left).  For tests. */
void ra_pool_buffers(struct ra_pool *p, uint64_t *maps, uint64_t *spare);

#endif
