/*
 * inode.c - two chained hash tables (by number, by path) over one set of
 * inodes.  Numbers are never reused while the mount lives, so a stale
 * number from the kernel can never name a different file.
 */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

struct inode_table {
	struct inode **by_ino;
	struct inode **by_path;
	size_t nbuckets; /* power of two */
	size_t count;
	size_t peak;     /* the highest count so far */
	uint64_t next_ino;
	struct inode *lru_head, *lru_tail; /* oldest first */
};

static void lru_unlink(struct inode_table *t, struct inode *in)
{
	if (in->lru_prev)
		in->lru_prev->lru_next = in->lru_next;
	else
		t->lru_head = in->lru_next;
	if (in->lru_next)
		in->lru_next->lru_prev = in->lru_prev;
	else
		t->lru_tail = in->lru_prev;
	in->lru_prev = in->lru_next = NULL;
}

static void lru_append(struct inode_table *t, struct inode *in)
{
	in->lru_prev = t->lru_tail;
	in->lru_next = NULL;
	if (t->lru_tail)
		t->lru_tail->lru_next = in;
	else
		t->lru_head = in;
	t->lru_tail = in;
}

void inode_touch(struct inode_table *t, struct inode *in)
{
	if (t->lru_tail == in)
		return;
	lru_unlink(t, in);
	lru_append(t, in);
}

struct inode *inode_lru_first(struct inode_table *t)
{
	return t->lru_head;
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void link_ino(struct inode **b, size_t n, struct inode *in)
{
	size_t i = hash_u64(in->ino) & (n - 1);

	in->next_by_ino = b[i];
	b[i] = in;
}

static void link_path(struct inode **b, size_t n, struct inode *in)
{
	size_t i = hash_str(in->path) & (n - 1);

	in->next_by_path = b[i];
	b[i] = in;
}

/* Remove in from the path chains; false if it was not there. */
static bool unlink_path(struct inode_table *t, struct inode *in)
{
	size_t b = hash_str(in->path) & (t->nbuckets - 1);
	struct inode **pp;

	for (pp = &t->by_path[b]; *pp; pp = &(*pp)->next_by_path) {
		if (*pp == in) {
			*pp = in->next_by_path;
			in->next_by_path = NULL;
			return true;
		}
	}
	return false;
}

static void unlink_ino(struct inode_table *t, struct inode *in)
{
	size_t b = hash_u64(in->ino) & (t->nbuckets - 1);
	struct inode **pp;

	for (pp = &t->by_ino[b]; *pp; pp = &(*pp)->next_by_ino) {
		if (*pp == in) {
			*pp = in->next_by_ino;
			return;
		}
	}
}

/* Double the buckets when the load passes 1; failure is harmless. */
static void maybe_grow(struct inode_table *t)
{
	size_t n = t->nbuckets * 2, i;
	struct inode **bi, **bp, *in, *next;

	if (t->count < t->nbuckets)
		return;
	bi = calloc(n, sizeof(*bi));
	bp = calloc(n, sizeof(*bp));
	if (!bi || !bp) {
		free(bi);
		free(bp);
		return;
	}
	for (i = 0; i < t->nbuckets; i++) {
		for (in = t->by_ino[i]; in; in = next) {
			next = in->next_by_ino;
			link_ino(bi, n, in);
		}
		for (in = t->by_path[i]; in; in = next) {
			next = in->next_by_path;
			link_path(bp, n, in);
		}
	}
	free(t->by_ino);
	free(t->by_path);
	t->by_ino = bi;
	t->by_path = bp;
	t->nbuckets = n;
}

static struct inode *inode_alloc(struct inode_table *t, const char *path,
				 mode_t type)
{
	struct inode *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->path = strdup(path);
	if (!in->path) {
		free(in);
		return NULL;
	}
	in->ino = t->next_ino++;
	in->attr.st_mode = type;
	in->attr.st_ino = in->ino;
	link_ino(t->by_ino, t->nbuckets, in);
	link_path(t->by_path, t->nbuckets, in);
	lru_append(t, in);
	t->count++;
	if (t->count > t->peak)
		t->peak = t->count;
	maybe_grow(t);
	return in;
}

static void inode_destroy(struct inode *in)
{
	stage_put(in->stage);
	xattrs_release(&in->xattrs);
	free(in->path);
	free(in);
}

struct inode_table *inode_table_new(void)
{
	struct inode_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nbuckets = 1024;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_path = calloc(t->nbuckets, sizeof(*t->by_path));
	t->next_ino = INODE_ROOT;
	if (!t->by_ino || !t->by_path || !inode_alloc(t, "", S_IFDIR)) {
		inode_table_free(t);
		return NULL;
	}
	return t;
}

void inode_table_free(struct inode_table *t)
{
	struct inode *in, *next;
	size_t i;

	if (!t)
		return;
	for (i = 0; t->by_ino && i < t->nbuckets; i++) {
		for (in = t->by_ino[i]; in; in = next) {
			next = in->next_by_ino;
			inode_destroy(in);
		}
	}
	free(t->by_ino);
	free(t->by_path);
	free(t);
}

struct inode *inode_find(struct inode_table *t, uint64_t ino)
{
	struct inode *in;

	for (in = t->by_ino[hash_u64(ino) & (t->nbuckets - 1)]; in;
	     in = in->next_by_ino)
		if (in->ino == ino)
			return in;
	return NULL;
}

struct inode *inode_find_path(struct inode_table *t, const char *path)
{
	struct inode *in;

	for (in = t->by_path[hash_str(path) & (t->nbuckets - 1)]; in;
	     in = in->next_by_path)
		if (!strcmp(in->path, path) && !in->unlinked)
			return in;
	return NULL;
}

struct inode *inode_get_path(struct inode_table *t, const char *path,
			     mode_t type)
{
	struct inode *in = inode_find_path(t, path);

	return in ? in : inode_alloc(t, path, type);
}

int inode_set_path(struct inode_table *t, struct inode *in, const char *path)
{
	char *p = strdup(path);
	bool hashed;

	if (!p)
		return -ENOMEM;
	hashed = unlink_path(t, in);
	free(in->path);
	in->path = p;
	if (hashed)
		link_path(t->by_path, t->nbuckets, in);
	return 0;
}

void inode_unhash_path(struct inode_table *t, struct inode *in)
{
	unlink_path(t, in);
	in->unlinked = true;
}

bool inode_maybe_free(struct inode_table *t, struct inode *in)
{
	if (in->ino == INODE_ROOT || in->nlookup > 0 || in->refs > 0)
		return false;
	unlink_path(t, in);
	unlink_ino(t, in);
	lru_unlink(t, in);
	t->count--;
	inode_destroy(in);
	return true;
}

size_t inode_table_count(const struct inode_table *t)
{
	return t->count;
}

size_t inode_table_peak(const struct inode_table *t)
{
	return t->peak;
}

void inode_for_each(struct inode_table *t,
		    void (*fn)(void *arg, struct inode *in), void *arg)
{
	struct inode *in;
	size_t b;

	for (b = 0; b < t->nbuckets; b++)
		for (in = t->by_ino[b]; in; in = in->next_by_ino)
			fn(arg, in);
}
