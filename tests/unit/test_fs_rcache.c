/*
 * test_fs_rcache.c - the read cache (readcache.h) under the filesystem
 * layer, on the in-memory store: what a read costs the second time, after
 * a remount, after another client's change, a torn block, a small limit,
 * random reads, and what r2fs uploaded itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsh.h"
#include "tap.h"

#define MiB (1u << 20)

static unsigned char *random_bytes(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len);
	size_t i;

	srand(seed);
	for (i = 0; p && i < len; i++)
		p[i] = (unsigned char)rand();
	return p;
}

/* An object put there by another client; its bytes, malloc'd. */
static unsigned char *put_object(struct fsh *h, const char *key, size_t len,
				 unsigned seed)
{
	unsigned char *p = random_bytes(len, seed);

	if (p && memstore_put_bytes(h->ms, key, p, len, NULL)) {
		free(p);
		return NULL;
	}
	return p;
}

/* Does reading path give exactly want (len bytes)? */
static bool reads_as(struct fsh *h, const char *path, const void *want,
		     size_t len)
{
	char *data = NULL;
	size_t got = 0;
	bool ok;

	int rc = fsh_read_file(h, path, &data, &got);

	ok = rc == 0 && got == len && !memcmp(data, want, len);
	if (!ok)
		fprintf(stderr, "# read %s: %d, %zu bytes of %zu\n", path,
			rc, got, len);
	free(data);
	return ok;
}

/* A counter of `r2fs stats`. */
static unsigned long long stat_of(struct fsh *h, const char *name)
{
	char buf[4096], *p;
	size_t n = strlen(name);

	if (fs_stats_text(h->fs, buf, sizeof(buf)) < 0)
		return ~0ULL;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
	return ~0ULL;
}

/* The cache's files (CACHE/journal-HASH/rcache/...). */
static size_t cache_files(struct fsh *h, glob_t *g)
{
	char pat[256];

	snprintf(pat, sizeof(pat), "%s/journal-*/rcache/*", h->cache_dir);
	memset(g, 0, sizeof(*g));
	if (glob(pat, 0, NULL, g))
		return 0;
	return g->gl_pathc;
}

/* Bytes the cache's files take on disk. */
static unsigned long long cache_disk_bytes(struct fsh *h)
{
	unsigned long long sum = 0;
	struct stat st;
	glob_t g;
	size_t i, n = cache_files(h, &g);

	for (i = 0; i < n; i++)
		if (!stat(g.gl_pathv[i], &st))
			sum += (unsigned long long)st.st_blocks * 512;
	globfree(&g);
	return sum;
}

struct sink {
	char *buf;
	size_t got;
};

static void deliver(void *arg, const struct iovec *iov, int n)
{
	struct sink *s = arg;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(s->buf + s->got, iov[i].iov_base, iov[i].iov_len);
		s->got += iov[i].iov_len;
	}
}

/* Read len bytes at off through an open handle; true if they match. */
static bool pread_as(struct fs_file *f, uint64_t off, size_t len,
		     const unsigned char *want)
{
	char *tmp = malloc(len), *out = malloc(len);
	struct sink s = { out, 0 };
	ssize_t n = -1;

	if (tmp && out)
		n = fs_read(f, tmp, len, off, deliver, &s);
	n = n == (ssize_t)len && s.got == len && !memcmp(out, want + off, len);
	free(tmp);
	free(out);
	return n;
}

static void test_second_read_and_remount(void)
{
	size_t len = 3 * MiB + 12345;
	unsigned char *want;
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, 600), 0, "reuse: mount");
	want = put_object(&h, "data.bin", len, 1);
	TAP_OK(reads_as(&h, "data.bin", want, len), "first read: right bytes");
	TAP_OK(fsh_count(&h, MS_OP_GET) > 0, "first read: from the bucket");
	TAP_OK(stat_of(&h, "read_cache_misses") > 0, "counted as misses");
	TAP_OK(stat_of(&h, "read_cache_bytes") >= len,
	       "every block of it is cached, the short last one too");

	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "data.bin", want, len), "second read: right");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0, "second read: no GET");
	TAP_OK(stat_of(&h, "read_cache_hits") > 0, "counted as hits");
	TAP_OK(stat_of(&h, "read_cache_bytes_served") >= len,
	       "bytes served from the cache");

	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "data.bin", want, len), "after remount: right");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0,
		  "after remount: no GET (blocks checked, then served)");
	TAP_INTEQ(stat_of(&h, "read_cache_torn"), 0, "no block torn");
	free(want);
	fsh_done(&h);
}

static void test_changed_object_not_served(void)
{
	size_t len = 2 * MiB + 100;
	unsigned char *old, *new;
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, 600), 0, "changed: mount");
	h.conf.stat_timeout = 0; /* every lookup asks the bucket */
	h.conf.dir_timeout = 0;
	TAP_INTEQ(fsh_remount(&h), 0, "changed: with no metadata caching");
	old = put_object(&h, "c.bin", len, 2);
	TAP_OK(reads_as(&h, "c.bin", old, len), "old version read, cached");
	/* another client: same key, same size, other bytes */
	new = put_object(&h, "c.bin", len, 3);
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "c.bin", new, len),
	       "the new version, never the cached old blocks");
	TAP_OK(fsh_count(&h, MS_OP_GET) > 0, "fetched from the bucket");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "c.bin", new, len), "read again: new version");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0, "now the new one is cached");

	/* the change lands between two remounts (metadata saved at
	 * unmount says the old ETag; the listing and HEAD say the new) */
	TAP_INTEQ(fsh_unmount(&h), 0, "unmount");
	free(old);
	old = new;
	new = put_object(&h, "c.bin", len, 4);
	TAP_INTEQ(fsh_mount(&h), 0, "mount again");
	TAP_OK(reads_as(&h, "c.bin", new, len),
	       "changed while unmounted: the new version");
	free(old);
	free(new);
	fsh_done(&h);
}

static void test_limit_and_eviction(void)
{
	unsigned char *w[3];
	char name[16];
	struct fsh h;
	int i;

	TAP_INTEQ(fsh_init(&h, 600), 0, "limit: mount");
	h.conf.read_cache_size_mb = 4;
	TAP_INTEQ(fsh_remount(&h), 0, "limit: read_cache_size=4");
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		w[i] = put_object(&h, name, 3 * MiB, 10 + (unsigned)i);
	}
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		TAP_OK(reads_as(&h, name, w[i], 3 * MiB), "read a 3 MiB file");
		TAP_OK(stat_of(&h, "read_cache_bytes") <= 4 * MiB,
		       "the cache stays within its limit");
		TAP_OK(cache_disk_bytes(&h) <= 4 * MiB + 64 * 1024,
		       "and so do its files on disk");
	}
	TAP_OK(stat_of(&h, "read_cache_evictions") >= 5,
	       "blocks were evicted to stay there");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "f2", w[2], 3 * MiB), "the latest file again");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0, "the latest is all cached");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "f0", w[0], 3 * MiB), "the first file again");
	TAP_OK(fsh_count(&h, MS_OP_GET) > 0, "least recently used: evicted");
	TAP_INTEQ(fsh_remount(&h), 0, "remount with the same limit");
	TAP_OK(stat_of(&h, "read_cache_bytes") <= 4 * MiB,
	       "still within it after a remount");

	h.conf.read_cache_size_mb = 0;
	TAP_INTEQ(fsh_remount(&h), 0, "remount with read_cache_size=0");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "f0", w[0], 3 * MiB), "read without a cache");
	TAP_OK(reads_as(&h, "f0", w[0], 3 * MiB), "and again");
	TAP_OK(fsh_count(&h, MS_OP_GET) >= 2, "both from the bucket");
	{
		glob_t g;

		TAP_INTEQ(cache_files(&h, &g), 0,
			  "the blocks an earlier mount left are gone");
		globfree(&g);
	}
	for (i = 0; i < 3; i++)
		free(w[i]);
	fsh_done(&h);
}

/* Flip one byte at off of the one cache file. */
static int corrupt(struct fsh *h, off_t off)
{
	unsigned char c;
	glob_t g;
	int fd = -1, rc = -1;

	if (cache_files(h, &g) == 1)
		fd = open(g.gl_pathv[0], O_RDWR);
	globfree(&g);
	if (fd < 0)
		return -1;
	if (pread(fd, &c, 1, off) == 1) {
		c ^= 0x5a;
		rc = pwrite(fd, &c, 1, off) == 1 ? 0 : -1;
	}
	close(fd);
	return rc;
}

static void test_torn_block_refetched(void)
{
	size_t len = 4 * MiB;
	unsigned char *want;
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, 600), 0, "torn: mount");
	want = put_object(&h, "t.bin", len, 5);
	TAP_OK(reads_as(&h, "t.bin", want, len), "read, cached");
	TAP_INTEQ(fsh_unmount(&h), 0, "unmount");
	/* block 2 of the object: data starts at 1 MiB in the file (its
	 * header and table fit below), block 2 at 3 MiB */
	TAP_INTEQ(corrupt(&h, 3 * MiB + 777), 0,
		  "a byte of block 2 changed on disk (a torn write)");
	TAP_INTEQ(fsh_mount(&h), 0, "mount again");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "t.bin", want, len),
	       "the right bytes, never the torn block");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 1, "just that block fetched");
	TAP_INTEQ(stat_of(&h, "read_cache_torn"), 1, "counted as torn");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "t.bin", want, len), "read again");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0, "the block is cached anew");

	/* an entry whose block never reached the disk: zeroes there */
	TAP_INTEQ(fsh_unmount(&h), 0, "unmount");
	{
		glob_t g;
		int fd = -1;

		if (cache_files(&h, &g) == 1)
			fd = open(g.gl_pathv[0], O_RDWR);
		globfree(&g);
		TAP_OK(fd >= 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE |
					    FALLOC_FL_KEEP_SIZE,
					    (off_t)(1 * MiB), MiB) == 0,
		       "block 0's bytes lost, its entry kept");
		if (fd >= 0)
			close(fd);
	}
	TAP_INTEQ(fsh_mount(&h), 0, "mount again");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "t.bin", want, len), "right bytes again");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 1, "that block fetched again");
	free(want);
	fsh_done(&h);
}

static void test_uploaded_cached(void)
{
	size_t len = 2 * MiB + 4321;
	unsigned char *want = random_bytes(len, 6);
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, 600), 0, "upload: mount");
	TAP_INTEQ(fsh_write_file(&h, "up.bin", want, len), 0, "write a file");
	TAP_INTEQ(fsh_sync(&h), 0, "upload it");
	TAP_INTEQ(fsh_remount(&h), 0, "remount (the cache stores it first)");
	fsh_reset_counts(&h);
	TAP_OK(reads_as(&h, "up.bin", want, len), "read what we uploaded");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0,
		  "from the cache: it was never read back from the bucket");
	TAP_OK(stat_of(&h, "read_cache_hits") > 0, "hits");
	free(want);
	fsh_done(&h);
}

/* Wait until the cache holds at least bytes (background fetches). */
static bool cache_reaches(struct fsh *h, unsigned long long bytes)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (stat_of(h, "read_cache_bytes") >= bytes)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_random_reads(void)
{
	size_t len = 8 * MiB, big = 72 * MiB;
	unsigned char *want, *wbig;
	struct fs_file *f = NULL;
	struct stat st;
	struct fsh h;
	uint64_t gets;
	bool ok = true;
	int i;

	TAP_INTEQ(fsh_init(&h, 600), 0, "random: mount");
	want = put_object(&h, "r.bin", len, 7);
	wbig = put_object(&h, "big.bin", big, 8);
	TAP_INTEQ(fsh_stat(&h, "r.bin", &st), 0, "stat");
	TAP_INTEQ(fs_open(h.fs, st.st_ino, O_RDONLY, &f), 0, "open");
	fsh_reset_counts(&h);
	for (i = 0; i < 3; i++)
		ok &= pread_as(f, (uint64_t)(i * 2 + 1) * MiB + 4096 * 7,
			       4096, want);
	TAP_OK(ok, "three random 4 KiB reads: right bytes");
	TAP_OK(cache_reaches(&h, len),
	       "a small file read at random is fetched whole, behind them");
	fsh_reset_counts(&h);
	for (i = 0; i < 20; i++)
		ok &= pread_as(f, (uint64_t)(i * 397) * 1000 % (len - 4096),
			       4096, want);
	TAP_OK(ok, "twenty more random reads: right bytes");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0, "all from the cache");
	fs_release(f);

	TAP_INTEQ(fsh_stat(&h, "big.bin", &st), 0, "stat a 72 MiB file");
	TAP_INTEQ(fs_open(h.fs, st.st_ino, O_RDONLY, &f), 0, "open it");
	for (i = 0; i < 4; i++)
		ok &= pread_as(f, (uint64_t)(i * 17 + 3) * MiB, 4096, wbig);
	TAP_OK(ok, "four random reads of it");
	/* the neighbourhoods of the third and fourth ([32, 40) and
	 * [48, 56) MiB) come in the background */
	TAP_OK(cache_reaches(&h, len + 16 * MiB), "their neighbourhood fetched");
	gets = fsh_count(&h, MS_OP_GET);
	ok &= pread_as(f, 54 * MiB + 100000, 4096, wbig);
	ok &= pread_as(f, 50 * MiB + 5000, 4096, wbig);
	TAP_OK(ok, "reads next to it: right bytes");
	TAP_OK(fsh_count(&h, MS_OP_GET) == gets, "and local");
	TAP_OK(stat_of(&h, "read_cache_bytes") < len + 24 * MiB,
	       "not the whole big file");
	fs_release(f);
	free(want);
	free(wbig);
	fsh_done(&h);
}

int main(void)
{
	alarm(300);
	test_second_read_and_remount();
	test_changed_object_not_served();
	test_limit_and_eviction();
	test_torn_block_refetched();
	test_uploaded_cached();
	test_random_reads();
	return tap_done();
}
