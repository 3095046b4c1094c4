/*
 * readcache.c - object data on local disk (readcache.h).
 *
 * On disk: DIR/<16 hex digits>, one sparse file per cached object, named
 * by a 64-bit hash of its key (another key with the same hash, or another
 * version of the key, replaces it):
 *
 *   0        header: magic, block size, object size, key, ETag, checksum
 *   4096     block table: 16 bytes a block { u64 sum; u32 len; u32 seq },
 *            all zero when the block is not here
 *   D        block i at D + i * RC_BLOCK (D: the table's end rounded up
 *            to RC_BLOCK); holes where nothing is cached
 *
 * A cached object costs its blocks' bytes plus a page or two of header
 * and table.  Evicting a block zeroes its entry, then punches a hole over
 * its bytes; a replaced version's file is unlinked.
 *
 * Crash safety without fsync.  An entry holds a 64-bit checksum of its
 * block's bytes, seeded with the object's key, ETag and size and the
 * block's index, and is written after the bytes.  Nothing is fsync'ed, so
 * after a crash an entry may describe bytes that never reached the disk
 * (kill -9 loses no written byte; a power loss may lose any).  Every
 * block is therefore checked against its checksum the first time a mount
 * uses it, reading the whole block once; one that fails is dropped and
 * fetched again, never served.  Blocks this mount wrote or checked are
 * trusted while it runs (only r2fs writes these files).  The seed makes
 * an entry that belongs to another version or another block fail as well.
 * Cost: one read and hash of each block per mount, instead of an fsync
 * (or two, for a marker written after the data) per block stored.
 *
 * In memory: each object with blocks (struct rc_obj, by key hash) and
 * each block (struct rc_block, by object and index); READY blocks are on
 * one LRU list.  A block being written is FILLING, one being dropped
 * EVICTING: readers see both as absent, writers leave their place alone
 * until they are done.  A reader pins the blocks it copies (eviction
 * skips pinned blocks) and opens the file under the lock, so a version
 * dropped meanwhile (its file unlinked) still reads its own bytes; every
 * descriptor is opened under the lock for the same reason: a name may
 * stand for a newer file a moment later.
 *
 *   (none) --store--> FILLING --written--> READY --evict--> EVICTING
 *                        |                   |                 |
 *                        +--write failed-----+--torn/dropped---+--> (none)
 *
 * Space: used counts blocks (whole pages) plus RC_OBJ_COST per object.
 * Before a block is stored, the LRU end is evicted until it fits within
 * the limit and the disk keeps min_free + slack free; a writer's
 * rcache_reserve makes the cache give space back the same way, so the
 * journal (which waits below min_free) never runs short because of us.
 *
 * The order of use survives a clean unmount: each entry keeps the
 * sequence number of its block's last use (rewritten at unmount where it
 * changed), and the next mount rebuilds the LRU list from them.
 */
#include "readcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

#define RC_HDR 4096
#define RC_MAGIC "r2fsrc1"
#define RC_PAGE 4096
/* header and table pages of a cached object */
#define RC_OBJ_COST ((uint64_t)8192)
/* objects kept at most (an rc_obj is ~250 bytes of memory) */
#define RC_OBJECTS_MAX 65536
/* background fetches queued at most; one GET fetches at most */
#define RC_JOBS_MAX 256
#define RC_FETCH_MAX ((uint64_t)8 << 20)
/* bytes of GETs waiting to be stored at most: a disk slower than the
 * network stores what it can, and the reads do not wait for it */
#define RC_FILL_BACKLOG ((uint64_t)64 << 20)
/* rcache_reserve looks at the disk after this many bytes written */
#define RC_RESERVE_EVERY ((uint64_t)4 << 20)
#define RC_RANDOM_SLOTS 64
#define RC_ETAG_MAX 128

enum rc_state { RC_FILLING, RC_READY, RC_EVICTING };

struct rc_obj;

struct rc_block {
	struct rc_obj *obj;
	uint64_t idx;
	uint64_t sum;
	uint32_t len;
	uint32_t seq, disk_seq; /* last use; as in the entry on disk */
	enum rc_state state;
	bool verified; /* checked or written by this mount */
	bool detached; /* its object was dropped: freed at the last unpin */
	unsigned pins;
	struct rc_block *hnext;         /* block hash chain */
	struct rc_block *lprev, *lnext; /* LRU (READY); victims (lnext) */
	struct rc_block *oprev, *onext; /* the object's blocks */
};

struct rc_obj {
	uint64_t id; /* hash of key: the file's name */
	char *key;
	char etag[RC_ETAG_MAX];
	uint64_t size;
	uint64_t seed;    /* of the block checksums */
	uint64_t nblocks; /* linked to it, in any state */
	unsigned refs;    /* operations using it outside the lock */
	bool dead;        /* dropped: out of the table, file unlinked */
	bool costed;      /* RC_OBJ_COST counted in used */
	struct rc_block *blocks;
	struct rc_obj *hnext;
};

struct rc_entry {
	uint64_t sum;
	uint32_t len;
	uint32_t seq;
};
_Static_assert(sizeof(struct rc_entry) == 16, "entry is 16 bytes");

struct rc_header {
	char magic[8];
	uint64_t size;
	uint32_t block;
	uint32_t keylen;
	uint32_t etaglen;
	uint32_t pad;
	uint64_t sum; /* of the header (sum 0), key and ETag */
};

struct rc_job {
	bool adopt; /* else a fetch, or a fill (with data) */
	char *key;
	char etag[RC_ETAG_MAX];
	uint64_t size, off, len;
	int fd; /* adopt: the uploaded bytes */
	const char *data;    /* fill: len bytes at off, the caller's */
	rcache_done_fn done; /* fill: called once, when data is free */
	void *arg;
	struct rc_job *next;
};

/* Random reads seen lately, per object version. */
struct rc_random {
	uint64_t id;
	char etag[RC_ETAG_MAX];
	unsigned reads;
	bool whole; /* the whole file was queued */
	uint64_t used;
};

struct rcache {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job queued, or stopping */
	pthread_cond_t idle; /* a job ended */
	struct store *s;
	int dirfd;
	uint64_t limit, min_free;
	uint64_t slack; /* kept free above min_free (RC_SLACK_MIN/MAX) */
	uint64_t used;
	uint64_t ready; /* bytes of READY blocks (what stats show) */
	uint32_t seq;
	struct rc_obj **objs;
	size_t nobjb, nobjs;
	struct rc_block **blks;
	size_t nblkb, nblks;
	struct rc_block *lru_head, *lru_tail; /* head: most recent */
	struct rc_job *qhead, *qtail, *running;
	unsigned queued, nrunning;
	uint64_t filling; /* bytes of fill jobs queued or running */
	struct rc_random random[RC_RANDOM_SLOTS];
	uint64_t random_clock;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads, want_threads;
	uint64_t unreserved; /* atomic: bytes written since the last look */
	struct rcache_stats st;
};

/* ---- hashing: xxHash64 (public domain algorithm) ---- */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t xround(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	return rotl(acc, 31) * P1;
}

static inline uint64_t xmerge(uint64_t acc, uint64_t v)
{
	acc ^= xround(0, v);
	return acc * P1 + P4;
}

static uint64_t rc_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed,
			 v4 = seed - P1;

		do {
			v1 = xround(v1, rd64(p));
			v2 = xround(v2, rd64(p + 8));
			v3 = xround(v3, rd64(p + 16));
			v4 = xround(v4, rd64(p + 24));
			p += 32;
		} while (p + 32 <= end);
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = xmerge(h, v1);
		h = xmerge(h, v2);
		h = xmerge(h, v3);
		h = xmerge(h, v4);
	} else {
		h = seed + P5;
	}
	h += len;
	for (; p + 8 <= end; p += 8) {
		h ^= xround(0, rd64(p));
		h = rotl(h, 27) * P1 + P4;
	}
	if (p + 4 <= end) {
		uint32_t v;

		memcpy(&v, p, 4);
		h ^= (uint64_t)v * P1;
		h = rotl(h, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++) {
		h ^= *p * P5;
		h = rotl(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

static uint64_t key_id(const char *key)
{
	return rc_hash(key, strlen(key), 0);
}

static uint64_t block_sum(const struct rc_obj *o, uint64_t idx,
			  const void *data, size_t len)
{
	uint64_t h = rc_hash(data, len, o->seed ^ (idx * P3 + 1));

	return h ? h : 1; /* 0 marks an empty entry */
}

/* ---- geometry ---- */

static uint64_t nblocks_of(uint64_t size)
{
	return (size + RC_BLOCK - 1) / RC_BLOCK;
}

static uint32_t block_len(uint64_t size, uint64_t idx)
{
	uint64_t left = size - idx * RC_BLOCK;

	return (uint32_t)(left < RC_BLOCK ? left : RC_BLOCK);
}

static uint64_t data_off(uint64_t size)
{
	uint64_t t = RC_HDR + sizeof(struct rc_entry) * nblocks_of(size);

	return (t + RC_BLOCK - 1) / RC_BLOCK * RC_BLOCK;
}

static uint64_t on_disk(uint64_t len)
{
	return (len + RC_PAGE - 1) / RC_PAGE * RC_PAGE;
}

static void obj_name(uint64_t id, char name[17])
{
	snprintf(name, 17, "%016llx", (unsigned long long)id);
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done,
			  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shorter than its entry says */
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done,
			   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* ---- the index (all locked) ---- */

static size_t obj_bucket(const struct rcache *rc, uint64_t id)
{
	return (size_t)(id & (rc->nobjb - 1));
}

static size_t blk_bucket(const struct rcache *rc, const struct rc_obj *o,
			 uint64_t idx)
{
	uint64_t h = ((uint64_t)(uintptr_t)o >> 4) * P1 ^ (idx * P2);

	return (size_t)((h >> 17) & (rc->nblkb - 1));
}

static struct rc_obj *obj_find(struct rcache *rc, uint64_t id)
{
	struct rc_obj *o;

	for (o = rc->objs[obj_bucket(rc, id)]; o; o = o->hnext)
		if (o->id == id)
			return o;
	return NULL;
}

/* The cached object that is this version, or NULL. */
static struct rc_obj *obj_lookup(struct rcache *rc, const char *key,
				 const char *etag, uint64_t size)
{
	struct rc_obj *o = obj_find(rc, key_id(key));

	if (o && o->size == size && !strcmp(o->etag, etag) &&
	    !strcmp(o->key, key))
		return o;
	return NULL;
}

/* Double a power-of-two bucket array when n outgrows it. */
static void grow(void ***tab, size_t *nb, size_t n, size_t next_off,
		 size_t (*bucket)(const void *item, size_t nb))
{
	size_t i, nnb = *nb * 2;
	void **t, *it, *nx;

	if (n <= *nb)
		return;
	t = calloc(nnb, sizeof(*t));
	if (!t)
		return; /* longer chains, still correct */
	for (i = 0; i < *nb; i++) {
		for (it = (*tab)[i]; it; it = nx) {
			size_t b = bucket(it, nnb);

			nx = *(void **)((char *)it + next_off);
			*(void **)((char *)it + next_off) = t[b];
			t[b] = it;
		}
	}
	free(*tab);
	*tab = t;
	*nb = nnb;
}

static size_t obj_bucket_of(const void *item, size_t nb)
{
	return (size_t)(((const struct rc_obj *)item)->id & (nb - 1));
}

static size_t blk_bucket_of(const void *item, size_t nb)
{
	const struct rc_block *b = item;
	uint64_t h = ((uint64_t)(uintptr_t)b->obj >> 4) * P1 ^ (b->idx * P2);

	return (size_t)((h >> 17) & (nb - 1));
}

static void obj_insert(struct rcache *rc, struct rc_obj *o)
{
	size_t b = obj_bucket(rc, o->id);

	o->hnext = rc->objs[b];
	rc->objs[b] = o;
	rc->nobjs++;
	grow((void ***)&rc->objs, &rc->nobjb, rc->nobjs,
	     offsetof(struct rc_obj, hnext), obj_bucket_of);
}

static void obj_remove(struct rcache *rc, struct rc_obj *o)
{
	struct rc_obj **pp;

	for (pp = &rc->objs[obj_bucket(rc, o->id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == o) {
			*pp = o->hnext;
			rc->nobjs--;
			return;
		}
	}
}

static struct rc_block *blk_find(struct rcache *rc, struct rc_obj *o,
				 uint64_t idx)
{
	struct rc_block *b;

	for (b = rc->blks[blk_bucket(rc, o, idx)]; b; b = b->hnext)
		if (b->obj == o && b->idx == idx)
			return b;
	return NULL;
}

static bool blk_ready(struct rcache *rc, struct rc_obj *o, uint64_t idx)
{
	struct rc_block *b = o ? blk_find(rc, o, idx) : NULL;

	return b && b->state == RC_READY;
}

/* Is block idx of o here in any state (o may be NULL)? */
static bool blk_find_any(struct rcache *rc, struct rc_obj *o, uint64_t idx)
{
	return o && blk_find(rc, o, idx);
}

static void lru_unlink(struct rcache *rc, struct rc_block *b)
{
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else
		rc->lru_head = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else
		rc->lru_tail = b->lprev;
	b->lprev = b->lnext = NULL;
}

static void lru_push(struct rcache *rc, struct rc_block *b)
{
	b->lprev = NULL;
	b->lnext = rc->lru_head;
	if (rc->lru_head)
		rc->lru_head->lprev = b;
	else
		rc->lru_tail = b;
	rc->lru_head = b;
}

/* Link a new block to the hash and its object. */
static void blk_link(struct rcache *rc, struct rc_block *b)
{
	struct rc_obj *o = b->obj;
	size_t h = blk_bucket(rc, o, b->idx);

	b->hnext = rc->blks[h];
	rc->blks[h] = b;
	rc->nblks++;
	b->onext = o->blocks;
	b->oprev = NULL;
	if (o->blocks)
		o->blocks->oprev = b;
	o->blocks = b;
	o->nblocks++;
	if (!o->costed) {
		o->costed = true;
		rc->used += RC_OBJ_COST;
	}
	grow((void ***)&rc->blks, &rc->nblkb, rc->nblks,
	     offsetof(struct rc_block, hnext), blk_bucket_of);
}

static void blk_unhash(struct rcache *rc, struct rc_block *b)
{
	struct rc_block **pp;

	for (pp = &rc->blks[blk_bucket(rc, b->obj, b->idx)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == b) {
			*pp = b->hnext;
			rc->nblks--;
			return;
		}
	}
}

static void obj_unlink_blk(struct rc_obj *o, struct rc_block *b)
{
	if (b->oprev)
		b->oprev->onext = b->onext;
	else
		o->blocks = b->onext;
	if (b->onext)
		b->onext->oprev = b->oprev;
	o->nblocks--;
}

/* Free o when nothing uses it and nothing is left in it. */
static void obj_maybe_free(struct rcache *rc, struct rc_obj *o)
{
	char name[17];

	if (o->refs || o->nblocks)
		return;
	if (!o->dead) {
		obj_name(o->id, name);
		unlinkat(rc->dirfd, name, 0);
		obj_remove(rc, o);
		if (o->costed)
			rc->used -= RC_OBJ_COST;
	}
	free(o->key);
	free(o);
}

/* Take b (not pinned, not on the LRU, its bytes dealt with) out for
 * good; may free its object. */
static void blk_drop(struct rcache *rc, struct rc_block *b)
{
	struct rc_obj *o = b->obj;

	if (!b->detached)
		blk_unhash(rc, b);
	obj_unlink_blk(o, b);
	free(b);
	if (!o->dead && o->nblocks == 0 && o->costed) {
		o->costed = false;
		rc->used -= RC_OBJ_COST;
	}
	obj_maybe_free(rc, o);
}

/* Drop o and every block of it: its file is unlinked; pinned blocks are
 * freed by their last unpin. */
static void obj_kill(struct rcache *rc, struct rc_obj *o)
{
	struct rc_block *b, *nx;
	char name[17];

	obj_name(o->id, name);
	unlinkat(rc->dirfd, name, 0);
	obj_remove(rc, o);
	o->dead = true;
	if (o->costed)
		rc->used -= RC_OBJ_COST;
	o->costed = false;
	for (b = o->blocks; b; b = nx) {
		nx = b->onext;
		blk_unhash(rc, b);
		if (b->state == RC_READY) {
			lru_unlink(rc, b);
			rc->ready -= on_disk(b->len);
		}
		if (b->state != RC_EVICTING)
			rc->used -= on_disk(b->len);
		b->detached = true;
		if (!b->pins) {
			obj_unlink_blk(o, b);
			free(b);
		}
	}
	obj_maybe_free(rc, o);
}

/* ---- space ---- */

static uint64_t disk_free(struct rcache *rc)
{
	struct statvfs sv;

	if (fstatvfs(rc->dirfd, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* Mark b (READY, unpinned) for eviction onto *victims. */
static void evict_mark(struct rcache *rc, struct rc_block *b,
		       struct rc_block **victims)
{
	lru_unlink(rc, b);
	rc->ready -= on_disk(b->len);
	b->state = RC_EVICTING;
	b->pins++;
	b->obj->refs++;
	rc->used -= on_disk(b->len);
	b->lnext = *victims;
	*victims = b;
}

/*
 * Mark victims from the LRU end until cache_need more bytes fit within
 * the limit, disk_need more leave the disk above its floor, and the
 * objects stay within RC_OBJECTS_MAX.  false when not enough could be
 * marked (what was marked goes anyway).
 */
static bool make_room(struct rcache *rc, uint64_t cache_need,
		      uint64_t disk_need, struct rc_block **victims)
{
	uint64_t avail = disk_free(rc), freed = 0;
	uint64_t floor = rc->min_free + rc->slack + disk_need;
	struct rc_block *b = rc->lru_tail, *prev;

	while (rc->used + cache_need > rc->limit ||
	       (avail != UINT64_MAX && avail + freed < floor) ||
	       rc->nobjs > RC_OBJECTS_MAX) {
		while (b && b->pins)
			b = b->lprev;
		if (!b)
			return false;
		prev = b->lprev;
		if (rc->nobjs > RC_OBJECTS_MAX) {
			/* the whole object: it goes when its blocks do */
			struct rc_obj *o = b->obj;

			obj_kill(rc, o);
			rc->st.evictions++;
			b = rc->lru_tail;
			continue;
		}
		freed += on_disk(b->len);
		evict_mark(rc, b, victims);
		rc->st.evictions++;
		b = prev;
	}
	return true;
}

/* Zero the victims' entries and punch their bytes out, then drop them.
 * Not locked. */
static void evict_finish(struct rcache *rc, struct rc_block *victims)
{
	static const struct rc_entry zero;
	struct rc_block *b;
	char name[17];
	int fd;

	while ((b = victims)) {
		struct rc_obj *o = b->obj;

		victims = b->lnext;
		b->lnext = NULL;
		pthread_mutex_lock(&rc->lock);
		fd = -1;
		if (!o->dead) {
			obj_name(o->id, name);
			fd = openat(rc->dirfd, name, O_WRONLY | O_CLOEXEC);
		}
		pthread_mutex_unlock(&rc->lock);
		if (fd >= 0) {
			/* the entry first: a crash in between leaves bytes
			 * nobody points at, never an entry without them */
			if (pwrite_full(fd, &zero, sizeof(zero),
					RC_HDR + b->idx * sizeof(zero)) == 0)
				fallocate(fd, FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE,
					  (off_t)(data_off(o->size) +
						  b->idx * RC_BLOCK),
					  (off_t)on_disk(b->len));
			close(fd);
		}
		pthread_mutex_lock(&rc->lock);
		b->pins--;
		o->refs--;
		blk_drop(rc, b);
		pthread_mutex_unlock(&rc->lock);
	}
}

/* ---- objects on disk ---- */

static uint64_t header_sum(const struct rc_header *h, const char *key,
			   const char *etag)
{
	struct rc_header c = *h;
	uint64_t s;

	c.sum = 0;
	s = rc_hash(&c, sizeof(c), 0);
	s = rc_hash(key, h->keylen, s);
	return rc_hash(etag, h->etaglen, s);
}

static uint64_t obj_seed(const char *key, const char *etag, uint64_t size)
{
	return rc_hash(etag, strlen(etag), rc_hash(key, strlen(key), size));
}

static struct rc_obj *obj_alloc(const char *key, const char *etag,
				uint64_t size)
{
	struct rc_obj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->key = strdup(key);
	if (!o->key) {
		free(o);
		return NULL;
	}
	o->id = key_id(key);
	snprintf(o->etag, sizeof(o->etag), "%s", etag);
	o->size = size;
	o->seed = obj_seed(key, etag, size);
	return o;
}

/* The object for storing blocks of this version: the cached one, or a
 * new file (dropping another version, or a key of the same hash). */
static struct rc_obj *obj_for_fill(struct rcache *rc, const char *key,
				   const char *etag, uint64_t size)
{
	struct rc_obj *o = obj_lookup(rc, key, etag, size);
	struct rc_header h;
	char name[17], *buf;
	size_t klen = strlen(key), elen = strlen(etag);
	int fd, e;

	if (o)
		return o;
	if (sizeof(h) + klen + elen > RC_HDR || elen >= RC_ETAG_MAX)
		return NULL;
	o = obj_find(rc, key_id(key));
	if (o)
		obj_kill(rc, o);
	o = obj_alloc(key, etag, size);
	buf = calloc(1, RC_HDR);
	if (!o || !buf)
		goto fail;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, RC_MAGIC, sizeof(RC_MAGIC));
	h.size = size;
	h.block = (uint32_t)RC_BLOCK;
	h.keylen = (uint32_t)klen;
	h.etaglen = (uint32_t)elen;
	h.sum = header_sum(&h, key, etag);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), key, klen);
	memcpy(buf + sizeof(h) + klen, etag, elen);
	obj_name(o->id, name);
	fd = openat(rc->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		goto fail;
	e = pwrite_full(fd, buf, RC_HDR, 0);
	close(fd);
	if (e) {
		unlinkat(rc->dirfd, name, 0);
		goto fail;
	}
	free(buf);
	obj_insert(rc, o);
	return o;
fail:
	free(buf);
	if (o)
		free(o->key);
	free(o);
	return NULL;
}

/* An earlier mount's file: its header and table into the index. */
static void load_file(struct rcache *rc, const char *name)
{
	struct rc_entry ent[4096];
	struct rc_header h;
	struct rc_obj *o = NULL;
	char *hdr = NULL, key[1025], etag[RC_ETAG_MAX];
	uint64_t n, pos, tend, idx;
	off_t d;
	size_t i, chunk;
	int fd;

	fd = openat(rc->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	hdr = malloc(RC_HDR);
	if (!hdr || pread_full(fd, hdr, RC_HDR, 0))
		goto bad;
	memcpy(&h, hdr, sizeof(h));
	if (memcmp(h.magic, RC_MAGIC, sizeof(RC_MAGIC)) ||
	    h.block != RC_BLOCK || h.keylen >= sizeof(key) ||
	    h.etaglen >= sizeof(etag) ||
	    sizeof(h) + h.keylen + h.etaglen > RC_HDR || h.size == 0)
		goto bad;
	memcpy(key, hdr + sizeof(h), h.keylen);
	key[h.keylen] = '\0';
	memcpy(etag, hdr + sizeof(h) + h.keylen, h.etaglen);
	etag[h.etaglen] = '\0';
	if (header_sum(&h, key, etag) != h.sum ||
	    strlen(key) != h.keylen || strlen(etag) != h.etaglen)
		goto bad;
	o = obj_alloc(key, etag, h.size);
	if (!o)
		goto out;
	{
		char want[17];

		obj_name(o->id, want);
		if (strcmp(want, name) || obj_find(rc, o->id))
			goto bad;
	}
	n = nblocks_of(h.size);
	tend = RC_HDR + n * sizeof(struct rc_entry);
	for (pos = RC_HDR; pos < tend; pos += chunk) {
		/* skip the table's holes: a big object's table is sparse */
		d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0 || (uint64_t)d >= tend)
			break;
		pos = RC_HDR + ((uint64_t)d - RC_HDR) / sizeof(ent[0]) *
			       sizeof(ent[0]);
		chunk = tend - pos < sizeof(ent) ? (size_t)(tend - pos)
						 : sizeof(ent);
		if (pread_full(fd, ent, chunk, pos))
			break;
		for (i = 0; i < chunk / sizeof(ent[0]); i++) {
			struct rc_block *b;

			idx = (pos - RC_HDR) / sizeof(ent[0]) + i;
			if (!ent[i].sum || ent[i].len != block_len(h.size, idx))
				continue;
			b = calloc(1, sizeof(*b));
			if (!b)
				break;
			b->obj = o;
			b->idx = idx;
			b->sum = ent[i].sum;
			b->len = ent[i].len;
			b->seq = b->disk_seq = ent[i].seq;
			b->state = RC_READY;
			blk_link(rc, b);
			rc->used += on_disk(b->len);
			rc->ready += on_disk(b->len);
		}
	}
	if (!o->nblocks)
		goto bad;
	obj_insert(rc, o);
	o = NULL;
	goto out;
bad:
	unlinkat(rc->dirfd, name, 0);
out:
	if (o) {
		/* blocks linked before a failure: take them back */
		while (o->blocks) {
			struct rc_block *b = o->blocks;

			blk_unhash(rc, b);
			rc->used -= on_disk(b->len);
			rc->ready -= on_disk(b->len);
			obj_unlink_blk(o, b);
			free(b);
		}
		if (o->costed)
			rc->used -= RC_OBJ_COST;
		free(o->key);
		free(o);
	}
	free(hdr);
	close(fd);
}

static int seq_cmp(const void *a, const void *b)
{
	const struct rc_block *x = *(struct rc_block *const *)a;
	const struct rc_block *y = *(struct rc_block *const *)b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Put every loaded block on the LRU list in the order of last use. */
static void lru_rebuild(struct rcache *rc)
{
	struct rc_block **all, *b;
	size_t i, n = 0;

	all = malloc((rc->nblks ? rc->nblks : 1) * sizeof(*all));
	for (i = 0; i < rc->nblkb; i++) {
		for (b = rc->blks[i]; b; b = b->hnext) {
			if (all)
				all[n++] = b;
			else
				lru_push(rc, b);
			if (b->seq > rc->seq)
				rc->seq = b->seq;
		}
	}
	if (!all)
		return;
	qsort(all, n, sizeof(*all), seq_cmp);
	for (i = 0; i < n; i++)
		lru_push(rc, all[i]);
	free(all);
}

/* ---- reads ---- */

static void touch(struct rcache *rc, struct rc_block *b)
{
	lru_unlink(rc, b);
	lru_push(rc, b);
	b->seq = ++rc->seq;
}

size_t rcache_read(struct rcache *rc, const char *key, const char *etag,
		   uint64_t size, uint64_t off, size_t len, char *buf)
{
	struct rc_block *stackb[16], **bs = stackb, *bad = NULL, *victims;
	bool stackv[16], *ok = stackv, good = true;
	struct rc_obj *o;
	char name[17], *scratch = NULL;
	uint64_t first, n, i;
	int fd = -1;

	if (!rc || !etag || !etag[0] || !len || off + len > size)
		return 0;
	first = off / RC_BLOCK;
	n = (off + len - 1) / RC_BLOCK - first + 1;
	if (n > 16) {
		bs = malloc(n * sizeof(*bs));
		ok = malloc(n * sizeof(*ok));
		if (!bs || !ok)
			goto out_free;
	}
	pthread_mutex_lock(&rc->lock);
	o = obj_lookup(rc, key, etag, size);
	for (i = 0; o && i < n; i++) {
		bs[i] = blk_find(rc, o, first + i);
		if (!bs[i] || bs[i]->state != RC_READY)
			o = NULL;
	}
	if (o) {
		obj_name(o->id, name);
		fd = openat(rc->dirfd, name, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		pthread_mutex_unlock(&rc->lock);
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		bs[i]->pins++;
		ok[i] = bs[i]->verified;
		touch(rc, bs[i]);
	}
	o->refs++;
	pthread_mutex_unlock(&rc->lock);

	for (i = 0; i < n && good; i++) {
		struct rc_block *b = bs[i];
		uint64_t bstart = b->idx * RC_BLOCK;
		uint64_t from = off > bstart ? off : bstart;
		uint64_t to = off + len < bstart + b->len ? off + len
							 : bstart + b->len;
		uint64_t at = data_off(size) + bstart;
		char *dst = buf + (from - off), *tmp = dst;

		if (to <= from) {
			good = false; /* the object is shorter than asked */
			break;
		}
		if (ok[i]) {
			good = !pread_full(fd, dst, to - from,
					   at + (from - bstart));
			continue;
		}
		/* first use in this mount: check the whole block */
		if (from != bstart || to != bstart + b->len) {
			if (!scratch)
				scratch = malloc(RC_BLOCK);
			tmp = scratch;
		}
		if (!tmp || pread_full(fd, tmp, b->len, at) ||
		    block_sum(o, b->idx, tmp, b->len) != b->sum) {
			good = false;
			if (tmp)
				bad = b; /* torn: never served */
			break;
		}
		if (tmp != dst)
			memcpy(dst, tmp + (from - bstart), to - from);
		ok[i] = true;
	}
	close(fd);

	victims = NULL;
	pthread_mutex_lock(&rc->lock);
	for (i = 0; i < n; i++) {
		struct rc_block *b = bs[i];

		if (ok[i])
			b->verified = true;
		if (--b->pins == 0 && b->detached) {
			if (b == bad)
				bad = NULL; /* dropped with its version */
			obj_unlink_blk(o, b);
			free(b);
		}
	}
	if (bad && !bad->detached && bad->state == RC_READY && !bad->pins) {
		log_warn("read cache: a block of %s failed its checksum; "
			 "fetching it again", key);
		rc->st.torn++;
		evict_mark(rc, bad, &victims);
	}
	o->refs--;
	obj_maybe_free(rc, o);
	pthread_mutex_unlock(&rc->lock);
	evict_finish(rc, victims);
out_free:
	free(scratch);
	if (bs != stackb)
		free(bs);
	if (ok != stackv)
		free(ok);
	return good && fd >= 0 ? len : 0;
}

uint64_t rcache_run(struct rcache *rc, const char *key, const char *etag,
		    uint64_t size, uint64_t off, uint64_t end, bool *cached)
{
	struct rc_obj *o;
	uint64_t pos;
	bool c;

	*cached = false;
	if (!rc || !etag || !etag[0] || off >= end)
		return end;
	pthread_mutex_lock(&rc->lock);
	o = obj_lookup(rc, key, etag, size);
	if (!o) {
		pthread_mutex_unlock(&rc->lock);
		return end;
	}
	*cached = blk_ready(rc, o, off / RC_BLOCK);
	for (pos = (off / RC_BLOCK + 1) * RC_BLOCK; pos < end;
	     pos += RC_BLOCK) {
		c = blk_ready(rc, o, pos / RC_BLOCK);
		if (c != *cached)
			break;
	}
	pthread_mutex_unlock(&rc->lock);
	return pos < end ? pos : end;
}

/* ---- stores ---- */

/* Store block idx of this version from data (its whole length). */
static void store_block(struct rcache *rc, const char *key, const char *etag,
			uint64_t size, uint64_t idx, const char *data)
{
	uint32_t blen = block_len(size, idx);
	struct rc_block *victims = NULL, *b = NULL;
	struct rc_entry ent;
	struct rc_obj *o;
	char name[17];
	uint64_t at;
	int fd = -1, e = -EIO;

	pthread_mutex_lock(&rc->lock);
	o = obj_for_fill(rc, key, etag, size);
	if (!o || blk_find(rc, o, idx)) {
		pthread_mutex_unlock(&rc->lock);
		return;
	}
	o->refs++;
	if (make_room(rc, on_disk(blen) + (o->costed ? 0 : RC_OBJ_COST),
		      on_disk(blen), &victims) && !o->dead) {
		obj_name(o->id, name);
		fd = openat(rc->dirfd, name, O_WRONLY | O_CLOEXEC);
	}
	if (fd >= 0)
		b = calloc(1, sizeof(*b));
	if (b) {
		b->obj = o;
		b->idx = idx;
		b->len = blen;
		b->state = RC_FILLING;
		b->pins = 1;
		b->seq = b->disk_seq = ++rc->seq;
		blk_link(rc, b);
		rc->used += on_disk(blen);
	}
	pthread_mutex_unlock(&rc->lock);
	/* the victims' space first: ours may need it */
	evict_finish(rc, victims);
	at = data_off(size) + idx * RC_BLOCK;
	if (b) {
		e = pwrite_full(fd, data, blen, at);
		if (!e) {
			ent.sum = block_sum(o, idx, data, blen);
			ent.len = blen;
			ent.seq = b->seq;
			b->sum = ent.sum;
			e = pwrite_full(fd, &ent, sizeof(ent),
					RC_HDR + idx * sizeof(ent));
		}
		if (e) {
			/* a full disk (ENOSPC): give back what got written */
			static const struct rc_entry zero;

			pwrite_full(fd, &zero, sizeof(zero),
				    RC_HDR + idx * sizeof(zero));
			fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				  FALLOC_FL_KEEP_SIZE, (off_t)at,
				  (off_t)on_disk(blen));
			log_debug("read cache: cannot store a block of %s: %s",
				  key, strerror(-e));
			pthread_mutex_lock(&rc->lock);
			rc->st.failed++;
			pthread_mutex_unlock(&rc->lock);
		}
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&rc->lock);
	if (b) {
		b->pins--;
		if (b->detached) {
			obj_unlink_blk(o, b);
			free(b);
		} else if (!e) {
			b->state = RC_READY;
			b->verified = true;
			rc->ready += on_disk(blen);
			lru_push(rc, b);
			rc->st.stored++;
		} else {
			rc->used -= on_disk(blen);
			blk_drop(rc, b);
		}
	}
	o->refs--;
	obj_maybe_free(rc, o);
	pthread_mutex_unlock(&rc->lock);
}

void rcache_fill(struct rcache *rc, const char *key, const char *etag,
		 uint64_t size, uint64_t off, const char *data, size_t len)
{
	uint64_t end, idx, bstart;

	if (!rc || !etag || !etag[0] || !size || off >= size)
		return;
	end = off + len < size ? off + len : size;
	for (idx = (off + RC_BLOCK - 1) / RC_BLOCK; idx * RC_BLOCK < end;
	     idx++) {
		bstart = idx * RC_BLOCK;
		if (bstart + block_len(size, idx) > end)
			break;
		store_block(rc, key, etag, size, idx, data + (bstart - off));
	}
}

/* ---- background work ---- */

/* Not locked (a fill's done callback takes its caller's locks). */
static void job_free(struct rc_job *j)
{
	if (j->adopt && j->fd >= 0)
		close(j->fd);
	if (j->done)
		j->done(j->arg);
	free(j->key);
	free(j);
}

static bool job_overlaps(const struct rc_job *j, const char *key,
			 uint64_t off, uint64_t len)
{
	for (; j; j = j->next)
		if (!j->adopt && !j->data && off < j->off + j->len &&
		    j->off < off + len && !strcmp(j->key, key))
			return true;
	return false;
}

static void job_push(struct rcache *rc, struct rc_job *j)
{
	j->next = NULL;
	if (rc->qtail)
		rc->qtail->next = j;
	else
		rc->qhead = j;
	rc->qtail = j;
	rc->queued++;
	pthread_cond_signal(&rc->work);
}

/* Queue a fetch of [off, off + len) (block-aligned) unless it is cached,
 * queued or running already.  Locked. */
static void queue_fetch(struct rcache *rc, const char *key, const char *etag,
			uint64_t size, uint64_t off, uint64_t len)
{
	struct rc_obj *o = obj_lookup(rc, key, etag, size);
	struct rc_job *j;
	uint64_t i;
	bool all = o != NULL;

	if (off + len > size)
		len = size - off;
	for (i = off / RC_BLOCK; all && i * RC_BLOCK < off + len; i++)
		all = blk_ready(rc, o, i);
	if (all || rc->queued >= RC_JOBS_MAX || !rc->nthreads ||
	    rc->stopping || job_overlaps(rc->qhead, key, off, len) ||
	    job_overlaps(rc->running, key, off, len))
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->key = strdup(key);
	if (!j->key) {
		free(j);
		return;
	}
	snprintf(j->etag, sizeof(j->etag), "%s", etag);
	j->size = size;
	j->off = off;
	j->len = len;
	j->fd = -1;
	job_push(rc, j);
}

void rcache_random(struct rcache *rc, const char *key, const char *etag,
		   uint64_t size, uint64_t off)
{
	struct rc_random *r = NULL;
	uint64_t id, at;
	unsigned i;

	if (!rc || !etag || !etag[0] || !size || off >= size)
		return;
	id = key_id(key);
	pthread_mutex_lock(&rc->lock);
	for (i = 0; i < RC_RANDOM_SLOTS && !r; i++)
		if (rc->random[i].id == id && rc->random[i].reads)
			r = &rc->random[i];
	if (r && strcmp(r->etag, etag)) {
		r->reads = 0; /* another version */
		r->whole = false;
	}
	if (!r) {
		r = &rc->random[0];
		for (i = 1; i < RC_RANDOM_SLOTS; i++)
			if (rc->random[i].used < r->used)
				r = &rc->random[i];
		memset(r, 0, sizeof(*r));
		r->id = id;
	}
	snprintf(r->etag, sizeof(r->etag), "%s", etag);
	r->used = ++rc->random_clock;
	if (++r->reads >= RC_RANDOM_TRIGGER) {
		if (size <= RC_WHOLE_MAX && !r->whole) {
			/* small: all of it, so the next reads are local */
			r->whole = true;
			for (at = 0; at < size; at += RC_FETCH_MAX)
				queue_fetch(rc, key, etag, size, at,
					    RC_FETCH_MAX);
		} else if (size > RC_WHOLE_MAX) {
			at = off / RC_NEIGHBOURHOOD * RC_NEIGHBOURHOOD;
			queue_fetch(rc, key, etag, size, at,
				    RC_NEIGHBOURHOOD);
		}
	}
	pthread_mutex_unlock(&rc->lock);
}

void rcache_adopt(struct rcache *rc, const char *key, const char *etag,
		  uint64_t size, int fd)
{
	struct rc_job *j = NULL;

	/* what would evict half the cache is not worth it */
	if (rc && etag && etag[0] && size && size <= rc->limit / 2 &&
	    strlen(etag) < RC_ETAG_MAX)
		j = calloc(1, sizeof(*j));
	if (j)
		j->key = strdup(key);
	if (!j || !j->key) {
		free(j);
		close(fd);
		return;
	}
	j->adopt = true;
	snprintf(j->etag, sizeof(j->etag), "%s", etag);
	j->size = size;
	j->len = size;
	j->fd = fd;
	pthread_mutex_lock(&rc->lock);
	if (!rc->nthreads || rc->queued >= 4 * RC_JOBS_MAX) {
		pthread_mutex_unlock(&rc->lock);
		job_free(j);
		return;
	}
	job_push(rc, j);
	pthread_mutex_unlock(&rc->lock);
}

bool rcache_fill_async(struct rcache *rc, const char *key, const char *etag,
		       uint64_t size, uint64_t off, const char *data,
		       size_t len, rcache_done_fn done, void *arg)
{
	struct rc_job *j;

	if (!rc || !etag || !etag[0] || strlen(etag) >= RC_ETAG_MAX)
		return false;
	pthread_mutex_lock(&rc->lock);
	if (!rc->nthreads || rc->stopping ||
	    rc->filling + len > RC_FILL_BACKLOG) {
		pthread_mutex_unlock(&rc->lock);
		return false;
	}
	j = calloc(1, sizeof(*j));
	if (j)
		j->key = strdup(key);
	if (!j || !j->key) {
		pthread_mutex_unlock(&rc->lock);
		free(j);
		return false;
	}
	snprintf(j->etag, sizeof(j->etag), "%s", etag);
	j->size = size;
	j->off = off;
	j->len = len;
	j->fd = -1;
	j->data = data;
	j->done = done;
	j->arg = arg;
	rc->filling += len;
	/* first in line: readers' bytes wait in memory meanwhile */
	j->next = rc->qhead;
	rc->qhead = j;
	if (!rc->qtail)
		rc->qtail = j;
	rc->queued++;
	pthread_cond_signal(&rc->work);
	pthread_mutex_unlock(&rc->lock);
	return true;
}

static void do_adopt(struct rcache *rc, struct rc_job *j, char *buf)
{
	struct stat sb;
	uint64_t idx;

	/* a staging file cut after its upload is not what went up */
	if (fstat(j->fd, &sb) || (uint64_t)sb.st_size != j->size)
		return;
	for (idx = 0; idx * RC_BLOCK < j->size; idx++) {
		uint32_t n = block_len(j->size, idx);

		if (pread_full(j->fd, buf, n, idx * RC_BLOCK))
			return;
		store_block(rc, j->key, j->etag, j->size, idx, buf);
	}
}

static void do_fetch(struct rcache *rc, struct rc_job *j, char *buf)
{
	uint64_t pos = j->off, end = j->off + j->len, start, stop;
	struct rc_obj *o;
	size_t got;
	int e;

	while (pos < end) {
		pthread_mutex_lock(&rc->lock);
		if (rc->stopping) {
			pthread_mutex_unlock(&rc->lock);
			return;
		}
		o = obj_lookup(rc, j->key, j->etag, j->size);
		while (pos < end && blk_find_any(rc, o, pos / RC_BLOCK))
			pos += RC_BLOCK;
		start = pos / RC_BLOCK * RC_BLOCK;
		stop = start;
		while (stop < end && stop - start < RC_FETCH_MAX &&
		       !blk_find_any(rc, o, stop / RC_BLOCK))
			stop += RC_BLOCK;
		pthread_mutex_unlock(&rc->lock);
		if (stop > j->size)
			stop = j->size;
		if (start >= stop)
			return;
		got = 0;
		e = rc->s->ops->get_range(rc->s, j->key, start, stop - start,
					  j->etag, buf, &got);
		pthread_mutex_lock(&rc->lock);
		rc->st.fetched++;
		if (e == -ESTALE || e == -ENOENT) {
			/* that version is gone from the bucket */
			o = obj_lookup(rc, j->key, j->etag, j->size);
			if (o)
				obj_kill(rc, o);
		}
		pthread_mutex_unlock(&rc->lock);
		if (e)
			return;
		rcache_fill(rc, j->key, j->etag, j->size, start, buf, got);
		pos = stop;
	}
}

static void *worker(void *arg)
{
	struct rcache *rc = arg;
	struct rc_job *j, **pp;
	char *buf;

	buf = mmap(NULL, RC_FETCH_MAX, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_mutex_lock(&rc->lock);
	for (;;) {
		j = rc->qhead;
		/* stopping: what r2fs uploaded is still stored (local and
		 * quick), fetches are dropped */
		if (j && ((buf == MAP_FAILED && !j->data) ||
			  (rc->stopping && !j->adopt))) {
			rc->qhead = j->next;
			if (!rc->qhead)
				rc->qtail = NULL;
			rc->queued--;
			if (j->data)
				rc->filling -= j->len;
			pthread_mutex_unlock(&rc->lock);
			job_free(j);
			pthread_mutex_lock(&rc->lock);
			pthread_cond_broadcast(&rc->idle);
			continue;
		}
		if (!j) {
			if (rc->stopping)
				break;
			pthread_cond_wait(&rc->work, &rc->lock);
			continue;
		}
		rc->qhead = j->next;
		if (!rc->qhead)
			rc->qtail = NULL;
		rc->queued--;
		j->next = rc->running;
		rc->running = j;
		rc->nrunning++;
		pthread_mutex_unlock(&rc->lock);
		if (j->data)
			rcache_fill(rc, j->key, j->etag, j->size, j->off,
				    j->data, j->len);
		else if (j->adopt)
			do_adopt(rc, j, buf);
		else
			do_fetch(rc, j, buf);
		/* give the pages back: the daemon's RSS stays what it was */
		madvise(buf, RC_FETCH_MAX, MADV_DONTNEED);
		pthread_mutex_lock(&rc->lock);
		for (pp = &rc->running; *pp != j; pp = &(*pp)->next)
			;
		*pp = j->next;
		if (j->data)
			rc->filling -= j->len;
		pthread_mutex_unlock(&rc->lock);
		job_free(j);
		pthread_mutex_lock(&rc->lock);
		rc->nrunning--;
		pthread_cond_broadcast(&rc->idle);
	}
	pthread_mutex_unlock(&rc->lock);
	if (buf != MAP_FAILED)
		munmap(buf, RC_FETCH_MAX);
	return NULL;
}

/* ---- lifecycle ---- */

int rcache_new(const struct rcache_opts *o, struct store *s,
	       struct rcache **out)
{
	struct rcache *rc = calloc(1, sizeof(*rc));
	struct rc_block *victims = NULL;
	struct statvfs sv;
	struct dirent *de;
	DIR *d;
	int fd;

	if (!rc)
		return -ENOMEM;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->work, NULL);
	pthread_cond_init(&rc->idle, NULL);
	rc->s = s;
	rc->dirfd = -1;
	rc->limit = o->limit;
	rc->min_free = o->min_free;
	rc->want_threads = o->threads ? o->threads : 1;
	rc->st.limit = o->limit;
	rc->nobjb = 256;
	rc->nblkb = 1024;
	rc->objs = calloc(rc->nobjb, sizeof(*rc->objs));
	rc->blks = calloc(rc->nblkb, sizeof(*rc->blks));
	if (!rc->objs || !rc->blks)
		goto nomem;
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST)
		goto fail;
	rc->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc->dirfd < 0)
		goto fail;
	rc->slack = RC_SLACK_MAX;
	if (fstatvfs(rc->dirfd, &sv) == 0) {
		rc->slack = (uint64_t)sv.f_blocks * sv.f_frsize / 16;
		if (rc->slack < RC_SLACK_MIN)
			rc->slack = RC_SLACK_MIN;
		if (rc->slack > RC_SLACK_MAX)
			rc->slack = RC_SLACK_MAX;
	}
	fd = dup(rc->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	while ((de = readdir(d))) {
		if (strlen(de->d_name) == 16 &&
		    strspn(de->d_name, "0123456789abcdef") == 16)
			load_file(rc, de->d_name);
	}
	closedir(d);
	lru_rebuild(rc);
	/* a smaller limit, or a fuller disk, than last time */
	make_room(rc, 0, 0, &victims);
	evict_finish(rc, victims);
	rc->st.evictions = 0;
	if (rc->nblks)
		log_info("read cache: %llu MiB in %zu blocks of %zu files "
			 "from the last mount",
			 (unsigned long long)(rc->used >> 20), rc->nblks,
			 rc->nobjs);
	*out = rc;
	return 0;
nomem:
	errno = ENOMEM;
fail:
	{
		int e = -errno;

		rcache_free(rc);
		return e;
	}
}

int rcache_start(struct rcache *rc)
{
	unsigned i;

	rc->threads = calloc(rc->want_threads, sizeof(*rc->threads));
	if (!rc->threads)
		return -ENOMEM;
	for (i = 0; i < rc->want_threads; i++) {
		if (pthread_create(&rc->threads[i], NULL, worker, rc))
			break;
		pthread_mutex_lock(&rc->lock);
		rc->nthreads++;
		pthread_mutex_unlock(&rc->lock);
	}
	return rc->nthreads ? 0 : -EAGAIN;
}

/* Write back the entries whose order of use changed.  Not locked (no
 * thread is left). */
static void save_order(struct rcache *rc)
{
	struct rc_block *b;
	struct rc_obj *o;
	struct rc_entry ent;
	char name[17];
	size_t i;
	int fd;

	for (i = 0; i < rc->nobjb; i++) {
		for (o = rc->objs[i]; o; o = o->hnext) {
			fd = -1;
			for (b = o->blocks; b; b = b->onext) {
				if (b->state != RC_READY ||
				    b->seq == b->disk_seq)
					continue;
				if (fd < 0) {
					obj_name(o->id, name);
					fd = openat(rc->dirfd, name,
						    O_WRONLY | O_CLOEXEC);
				}
				if (fd < 0)
					break;
				ent.sum = b->sum;
				ent.len = b->len;
				ent.seq = b->seq;
				pwrite_full(fd, &ent, sizeof(ent),
					    RC_HDR + b->idx * sizeof(ent));
			}
			if (fd >= 0)
				close(fd);
		}
	}
}

void rcache_free(struct rcache *rc)
{
	struct rc_block *b, *bn;
	struct rc_obj *o, *on;
	size_t i;

	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	rc->stopping = true;
	pthread_cond_broadcast(&rc->work);
	pthread_mutex_unlock(&rc->lock);
	for (i = 0; i < rc->nthreads; i++)
		pthread_join(rc->threads[i], NULL);
	free(rc->threads);
	while (rc->qhead) {
		struct rc_job *j = rc->qhead;

		rc->qhead = j->next;
		job_free(j);
	}
	if (rc->dirfd >= 0 && rc->objs)
		save_order(rc);
	for (i = 0; rc->objs && i < rc->nobjb; i++) {
		for (o = rc->objs[i]; o; o = on) {
			on = o->hnext;
			for (b = o->blocks; b; b = bn) {
				bn = b->onext;
				free(b);
			}
			free(o->key);
			free(o);
		}
	}
	free(rc->objs);
	free(rc->blks);
	if (rc->dirfd >= 0)
		close(rc->dirfd);
	pthread_cond_destroy(&rc->idle);
	pthread_cond_destroy(&rc->work);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
}

void rcache_reserve(struct rcache *rc, uint64_t bytes)
{
	struct rc_block *victims = NULL;

	if (!rc || __atomic_add_fetch(&rc->unreserved, bytes,
				      __ATOMIC_RELAXED) < RC_RESERVE_EVERY)
		return;
	__atomic_store_n(&rc->unreserved, 0, __ATOMIC_RELAXED);
	pthread_mutex_lock(&rc->lock);
	/* room for this write and the next stretch before we look again */
	make_room(rc, 0, bytes + RC_RESERVE_EVERY, &victims);
	pthread_mutex_unlock(&rc->lock);
	evict_finish(rc, victims);
}

void rcache_give_back(struct rcache *rc, uint64_t bytes)
{
	if (!rc)
		return;
	rcache_idle(rc);
	rcache_reserve(rc, RC_RESERVE_EVERY + bytes); /* looks at once */
}

void rcache_count(struct rcache *rc, bool hit, uint64_t local)
{
	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	if (hit)
		rc->st.hits++;
	else
		rc->st.misses++;
	rc->st.served += local;
	pthread_mutex_unlock(&rc->lock);
}

void rcache_stats(struct rcache *rc, struct rcache_stats *out)
{
	pthread_mutex_lock(&rc->lock);
	*out = rc->st;
	out->bytes = rc->ready;
	out->limit = rc->limit;
	pthread_mutex_unlock(&rc->lock);
}

void rcache_idle(struct rcache *rc)
{
	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	while (rc->qhead || rc->nrunning)
		pthread_cond_wait(&rc->idle, &rc->lock);
	pthread_mutex_unlock(&rc->lock);
}
