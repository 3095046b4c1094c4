/*
 * test_fs_list.c - listing directories on the in-memory store (SEMANTICS.md
 * "Names and objects" and the `stat`, `ls -l` row): a big directory and
 * the LISTs it costs, the shapes keys make (implied directories, markers,
 * a file that is also a prefix), keys that cannot be names, the bucket's
 * root and a prefix mount, a tree walk, files waiting for upload (also
 * after a crash), the listing cache and its expiry, and names looked up
 * one by one (rsync).  Small trees are listed by their subtree page, big
 * ones with a delimiter: shapes are checked both ways.  Each check says
 * what a user would see; request counts are the server's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsh.h"
#include "tap.h"

#define PENDING 600.0 /* a quiet period no test waits out */
#define BIG 2500

static void seed(struct fsh *h, const char *key, const char *body)
{
	memstore_put_bytes(h->ms, key, body, strlen(body), NULL);
}

/* The directory's inode (walked from the root). */
static uint64_t dir_ino(struct fsh *h, const char *path)
{
	struct stat st;

	return fsh_stat(h, path, &st) || !S_ISDIR(st.st_mode) ? 0
							     : st.st_ino;
}

/*
 * readdir of inode ino, as the kernel does it for an open directory (no
 * lookup of the directory itself): each name followed by "/" for a
 * directory and "\n"; malloc'd into *out.
 */
static int list_ino(struct fsh *h, uint64_t ino, char **out)
{
	struct fs_dir *d = NULL;
	size_t i, n, len = 0, cap = 1;
	const char *name;
	uint64_t eino;
	mode_t type;
	char *s = NULL;
	int rc;

	*out = NULL;
	rc = fs_opendir(h->fs, ino, &d);
	if (rc)
		return rc;
	n = fs_dir_count(d);
	for (i = 0; i < n; i++)
		cap += strlen(fs_dir_entry(d, i, &type, &eino)) + 2;
	s = malloc(cap);
	for (i = 0; s && i < n; i++) {
		name = fs_dir_entry(d, i, &type, &eino);
		len += (size_t)snprintf(s + len, cap - len, "%s%s\n", name,
					S_ISDIR(type) ? "/" : "");
	}
	fs_releasedir(d);
	if (!s)
		return -ENOMEM;
	s[len] = '\0';
	*out = s;
	return 0;
}

/* list_ino of path; the listing, or NULL. */
static char *listing(struct fsh *h, const char *path)
{
	uint64_t ino = dir_ino(h, path);
	char *s = NULL;

	if (!ino || list_ino(h, ino, &s))
		return NULL;
	return s;
}

/* How many requests the log shows for req ("HEAD r/f01"), answered
 * with an error ("HEAD r/x NoSuchKey") or not. */
static int log_lines(struct fsh *h, const char *req)
{
	char *log = memstore_log(h->ms), *p;
	size_t n = strlen(req);
	int count = 0;

	for (p = log; p && *p;) {
		if (!strncmp(p, req, n) && (p[n] == '\n' || p[n] == ' '))
			count++;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(log);
	return count;
}

/* Wait until no HEAD has been made for 100 ms (the metadata prefetch
 * runs in the background), at most 5 s; the HEAD count. */
static uint64_t heads_settled(struct fsh *h)
{
	uint64_t before, now = fsh_count(h, MS_OP_HEAD);
	int i;

	for (i = 0; i < 50; i++) {
		before = now;
		usleep(100000);
		now = fsh_count(h, MS_OP_HEAD);
		if (now == before)
			break;
	}
	return now;
}

/* The name of big entry i: a mix of first bytes, so byte order shows. */
static void big_name(char *buf, size_t len, int i)
{
	static const char first[] = "Ab_z";

	snprintf(buf, len, "%c%04d", first[i % 4], i);
}

static void seed_big(struct fsh *h)
{
	char key[64];
	int i;

	for (i = 0; i < BIG; i++) {
		snprintf(key, sizeof(key), "big/");
		big_name(key + 4, sizeof(key) - 4, i);
		seed(h, key, "x");
	}
}

static void test_big_directory(void)
{
	static unsigned char seen[BIG];
	struct fs_dir *d = NULL;
	struct fsh h;
	const char *name, *prev = NULL;
	char want[16], *end;
	int i, unknown = 0, twice = 0, disorder = 0;
	uint64_t ino, eino;
	size_t n = 0;
	mode_t type;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "big: mount");
	seed_big(&h);
	ino = dir_ino(&h, "big");
	TAP_OK(ino != 0, "big is a directory");
	fsh_reset_counts(&h);
	TAP_INTEQ(fs_opendir(h.fs, ino, &d), 0, "opendir big");
	n = d ? fs_dir_count(d) : 0;
	TAP_INTEQ(n, BIG, "readdir gives 2,500 entries");
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < (int)n; i++) {
		int k;

		name = fs_dir_entry(d, (size_t)i, &type, &eino);
		if (prev && strcmp(prev, name) >= 0)
			disorder++;
		prev = name;
		k = (int)strtol(name + 1, &end, 10);
		big_name(want, sizeof(want), k);
		if (*end || k < 0 || k >= BIG || strcmp(want, name) ||
		    !S_ISREG(type))
			unknown++;
		else if (seen[k]++)
			twice++;
	}
	TAP_INTEQ(disorder, 0, "in byte order");
	TAP_INTEQ(unknown, 0, "every entry is one of the objects, a file");
	TAP_INTEQ(twice, 0, "none twice");
	fs_releasedir(d);
	/*
	 * fs_list.c: the subtree attempt is one page without a delimiter
	 * (1,000 keys, all of big's own), which then serves as the first
	 * page of the delimited listing; the rest is 2 more pages.
	 */
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 3,
		  "2,500 entries cost 3 LISTs (the subtree page is the first)");
	TAP_OK(heads_settled(&h) <= 1000,
	       "at most 1,000 HEADs prefetched for a plain readdir");
	fsh_reset_counts(&h);
	TAP_INTEQ(fs_opendir(h.fs, ino, &d), 0, "opendir big again");
	TAP_INTEQ(d ? fs_dir_count(d) : 0, BIG, "the same 2,500 entries");
	fs_releasedir(d);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 0,
		  "a second readdir within dir_timeout costs no LIST");
	TAP_INTEQ(fsh_write_file(&h, "big/B-pending", "p", 1), 0,
		  "write big/B-pending");
	TAP_INTEQ(fs_opendir(h.fs, ino, &d), 0, "opendir big once more");
	n = d ? fs_dir_count(d) : 0;
	TAP_INTEQ(n, BIG + 1, "2,501 entries: the pending file is one");
	for (i = 0, disorder = 0, prev = NULL; i < (int)n; i++) {
		name = fs_dir_entry(d, (size_t)i, &type, &eino);
		if (prev && strcmp(prev, name) >= 0)
			disorder++;
		prev = name;
	}
	TAP_INTEQ(disorder, 0, "still in byte order");
	fs_releasedir(d);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 0, "and still no LIST");
	fsh_done(&h);
}

static void test_big_directory_lookups(void)
{
	struct stat st;
	struct fsh h;
	char name[16];
	uint64_t ino, lists;
	int i, found = 0;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "big lookups: mount");
	seed_big(&h);
	ino = dir_ino(&h, "big");
	fsh_reset_counts(&h);
	big_name(name, sizeof(name), 1);
	TAP_INTEQ(fs_lookup(h.fs, ino, name, &st), 0, "lookup of a first name");
	big_name(name, sizeof(name), 2);
	TAP_INTEQ(fs_lookup(h.fs, ino, name, &st), 0, "and a second");
	lists = fsh_count(&h, MS_OP_LIST);
	TAP_INTEQ(lists, 2,
		  "the second tries one page of listing: 2 LISTs, then gives "
		  "up (more than 1,000 entries)");
	for (i = 3; i < 13; i++) {
		big_name(name, sizeof(name), i * 100);
		found += fs_lookup(h.fs, ino, name, &st) == 0;
	}
	TAP_INTEQ(found, 10, "ten more names are found");
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), lists,
		  "by HEAD, with no new listing attempt (not within 30 s)");
	fsh_done(&h);
}

static void test_shapes(const char *dir, bool big)
{
	char key[128], label[128], *s;
	struct fsh h;
	struct stat st;
	uint64_t ino;
	size_t len;
	int i;

	snprintf(label, sizeof(label), "shapes %s: mount", dir);
	TAP_INTEQ(fsh_init(&h, PENDING), 0, label);
#define K(rel) (snprintf(key, sizeof(key), "%s/%s", dir, rel), key)
	seed(&h, K("x/y/z"), "zed");
	seed(&h, K("m/"), "");
	seed(&h, K("k"), "file k");
	seed(&h, K("k/inner"), "hidden");
	seed(&h, K("j"), "file j");
	seed(&h, K("j/"), "");
	for (i = 0; big && i < 1000; i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "zz/%04d", i);
		seed(&h, K(rel), "");
	}
	ino = dir_ino(&h, dir);
	fsh_reset_counts(&h);
	s = NULL;
	list_ino(&h, ino, &s);
	snprintf(label, sizeof(label), "%s lists j and k as files, m and x "
		 "as directories%s", dir, big ? " (delimited listing)" : "");
	TAP_STREQ(s, big ? "j\nk\nm/\nx/\nzz/\n" : "j\nk\nm/\nx/\n", label);
	free(s);
	if (big)
		TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 2,
			  "2 LISTs: the subtree page, which ends among zz/'s "
			  "keys, and a delimited one");
	TAP_INTEQ(fsh_stat(&h, K("x"), &st), 0, "stat x");
	TAP_OK(S_ISDIR(st.st_mode), "x (implied by x/y/z) is a directory");
	s = listing(&h, K("x"));
	TAP_STREQ(s, "y/\n", "x lists y as a directory");
	free(s);
	s = listing(&h, K("x/y"));
	TAP_STREQ(s, "z\n", "x/y lists z");
	free(s);
	TAP_INTEQ(fsh_read_file(&h, K("x/y/z"), &s, &len), 0, "read x/y/z");
	TAP_STREQ(s, "zed", "its bytes");
	free(s);
	TAP_INTEQ(fsh_stat(&h, K("m"), &st), 0, "stat m");
	TAP_OK(S_ISDIR(st.st_mode), "the marker m/ is a directory");
	s = listing(&h, K("m"));
	TAP_STREQ(s, "", "an empty one");
	free(s);
	TAP_INTEQ(fsh_stat(&h, K("k"), &st), 0, "stat k");
	TAP_OK(S_ISREG(st.st_mode), "k, object and prefix, is the file");
	TAP_INTEQ(fsh_read_file(&h, K("k"), &s, &len), 0, "read k");
	TAP_STREQ(s, "file k", "the object's bytes");
	free(s);
	TAP_INTEQ(fsh_stat(&h, K("k/inner"), &st), -ENOTDIR,
		  "k/inner cannot be reached: ENOTDIR");
	/* lookups with no listing: a probe, then a listing (2 lookups) */
	TAP_INTEQ(fsh_remount(&h), 0, "remount (listings forgotten)");
	TAP_INTEQ(fsh_stat(&h, K("j"), &st), 0, "stat j, nothing listed");
	TAP_OK(S_ISREG(st.st_mode), "j, object and marker j/, is the file");
	TAP_INTEQ(fsh_stat(&h, K("k"), &st), 0, "stat k");
	TAP_OK(S_ISREG(st.st_mode), "k is the file again");
#undef K
	fsh_done(&h);
}

static void test_names_that_cannot_be_names(const char *dir, bool big)
{
	char key[600], name255[256], name256[257], want[600], label[128];
	char *s;
	struct fsh h;
	int i;

	memset(name255, 'n', 255);
	name255[255] = '\0';
	memset(name256, 'n', 256);
	name256[256] = '\0';
	snprintf(label, sizeof(label), "odd names %s: mount", dir);
	TAP_INTEQ(fsh_init(&h, PENDING), 0, label);
#define K(rel) (snprintf(key, sizeof(key), "%s/%s", dir, rel), key)
	seed(&h, K("ok"), "ok");
	seed(&h, K("a//b"), "x");
	seed(&h, K("./c"), "x");
	seed(&h, K("../d"), "x");
	seed(&h, K("."), "x");
	seed(&h, K(".."), "x");
	seed(&h, K("e/./f"), "x");
	seed(&h, K(name255), "x");
	seed(&h, K(name256), "x");
	snprintf(want, sizeof(want), "%s/g", name256);
	seed(&h, K(want), "x");
	for (i = 0; big && i < 1000; i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "zz/%04d", i);
		seed(&h, K(rel), "");
	}
	s = listing(&h, dir);
	snprintf(want, sizeof(want), "a/\ne/\n%s\nok\n%s", name255,
		 big ? "zz/\n" : "");
	snprintf(label, sizeof(label), "%s shows no '.', '..', '' or 256-byte "
		 "name%s", dir, big ? " (delimited listing)" : "");
	TAP_STREQ(s, want, label);
	free(s);
	s = listing(&h, K("a"));
	TAP_STREQ(s, "", "a (from a//b) lists nothing");
	free(s);
	s = listing(&h, K("e"));
	TAP_STREQ(s, "", "e (from e/./f) lists nothing");
	free(s);
#undef K
	fsh_done(&h);
}

static void test_bucket_root(bool big)
{
	char label[128], key[32], *s;
	struct fsh h;
	struct stat st;
	int i;

	snprintf(label, sizeof(label), "root%s: mount", big ? " (big)" : "");
	TAP_INTEQ(fsh_init(&h, PENDING), 0, label);
	seed(&h, ".r2fs-index/d.attrs", "index");
	seed(&h, ".r2fs-indexx", "mine");
	seed(&h, "d/f", "f");
	seed(&h, "top", "t");
	for (i = 0; big && i < 1000; i++) {
		snprintf(key, sizeof(key), "zz/%04d", i);
		seed(&h, key, "");
	}
	s = listing(&h, "");
	TAP_STREQ(s, big ? ".r2fs-indexx\nd/\ntop\nzz/\n"
			 : ".r2fs-indexx\nd/\ntop\n",
		  big ? "the root hides .r2fs-index/ (delimited listing)"
		      : "the root hides .r2fs-index/, not .r2fs-indexx");
	free(s);
	TAP_INTEQ(fsh_stat(&h, ".r2fs-index", &st), -ENOENT,
		  "lookup of .r2fs-index: ENOENT");
	TAP_INTEQ(fsh_mkdir(&h, ".r2fs-index", 0755), -EACCES,
		  "mkdir .r2fs-index: EACCES");
	fsh_done(&h);
}

static void test_prefix_mount(void)
{
	struct fsh h;
	char *s;
	size_t len;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "prefix: mount");
	seed(&h, "pre/x", "x");
	seed(&h, "pre/d/y", "y");
	seed(&h, "pre-other/z", "z");
	seed(&h, "prez", "z");
	seed(&h, ".r2fs-index/pre/d.attrs", "index");
	fsh_unmount(&h);
	free(h.conf.prefix);
	h.conf.prefix = strdup("pre/");
	TAP_INTEQ(fsh_mount(&h), 0, "mount bucket:/pre");
	s = listing(&h, "");
	TAP_STREQ(s, "d/\nx\n", "its root lists only what is below pre/");
	free(s);
	s = listing(&h, "d");
	TAP_STREQ(s, "y\n", "d lists y");
	free(s);
	TAP_INTEQ(fsh_read_file(&h, "x", &s, &len), 0, "read x");
	TAP_STREQ(s, "x", "pre/x's bytes");
	free(s);
	TAP_INTEQ(fsh_write_file(&h, "w", "w", 1), 0, "write w");
	s = listing(&h, "");
	TAP_STREQ(s, "d/\nw\nx\n", "the pending w is listed");
	free(s);
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_OK(memstore_exists(h.ms, "pre/w"), "w goes up as pre/w");
	fsh_done(&h);
}

/* Walk the tree below path as find(1) does: readdir, then lookup each
 * entry and descend into directories.  Each path, "/" after
 * directories, appended to out. */
static int walk_tree(struct fsh *h, const char *path, char *out, size_t cap)
{
	char *s = NULL, *line, *save = NULL, child[256];
	int rc;

	rc = list_ino(h, dir_ino(h, path), &s);
	for (line = rc ? NULL : strtok_r(s, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);
		bool dir = line[n - 1] == '/';
		struct stat st;

		if (dir)
			line[n - 1] = '\0';
		snprintf(child, sizeof(child), "%s%s%s", path,
			 path[0] ? "/" : "", line);
		rc = fsh_stat(h, child, &st);
		if (!rc && S_ISDIR(st.st_mode) != dir)
			rc = -EIO;
		snprintf(out + strlen(out), cap - strlen(out), "%s%s\n",
			 child, dir ? "/" : "");
		if (!rc && dir)
			rc = walk_tree(h, child, out, cap);
	}
	free(s);
	return rc;
}

static void test_tree_walk(void)
{
	char out[1024] = "";
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "walk: mount");
	seed(&h, "w/a/1", "1");
	seed(&h, "w/a/b/2", "2");
	seed(&h, "w/a/b/c/3", "3");
	seed(&h, "w/e/", "");
	seed(&h, "w/f", "f");
	seed(&h, "other/x", "x");
	TAP_OK(dir_ino(&h, "w") != 0, "w is a directory");
	fsh_reset_counts(&h);
	TAP_INTEQ(walk_tree(&h, "w", out, sizeof(out)), 0,
		  "find w: readdir and lookup of every entry");
	TAP_STREQ(out, "w/a/\nw/a/1\nw/a/b/\nw/a/b/2\nw/a/b/c/\n"
		       "w/a/b/c/3\nw/e/\nw/f\n",
		  "finds the whole tree");
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1,
		  "a small tree costs one LIST (its subtree page)");
	fsh_done(&h);
}

static void test_subtree_remembered(void)
{
	char key[32], *s = NULL;
	struct fsh h;
	uint64_t b;
	int i;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "remembered: mount");
	fsh_unmount(&h);
	h.conf.dir_timeout = 0.3;
	TAP_INTEQ(fsh_mount(&h), 0, "mount with dir_timeout 0.3 s");
	seed(&h, "b/k", "k");
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "b/zz/%04d", i);
		seed(&h, key, "");
	}
	b = dir_ino(&h, "b");
	fsh_reset_counts(&h);
	list_ino(&h, b, &s);
	TAP_STREQ(s, "k\nzz/\n", "b lists k and zz");
	free(s);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 2,
		  "2 LISTs: its subtree is more than a page");
	usleep(400000);
	fsh_reset_counts(&h);
	s = NULL;
	list_ino(&h, b, &s);
	TAP_STREQ(s, "k\nzz/\n", "listed again after dir_timeout");
	free(s);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1,
		  "with one LIST: the subtree is not tried again");
	fsh_done(&h);
}

static void test_pending_listed(void)
{
	struct fs_file *f = NULL;
	struct fsh h;
	struct stat st;
	uint64_t p;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "pending: mount");
	fsh_unmount(&h);
	h.conf.dir_timeout = 0.3;
	TAP_INTEQ(fsh_mount(&h), 0, "mount with dir_timeout 0.3 s");
	seed(&h, "p/old", "o");
	seed(&h, "p/del", "d");
	p = dir_ino(&h, "p");
	TAP_OK(p != 0, "p is a directory");
	s = NULL;
	list_ino(&h, p, &s);
	TAP_STREQ(s, "del\nold\n", "p lists what the bucket has");
	free(s);
	TAP_INTEQ(fsh_write_file(&h, "p/new", "n", 1), 0, "write p/new");
	TAP_INTEQ(fsh_mkdir(&h, "p/sub", 0755), 0, "mkdir p/sub");
	TAP_INTEQ(fsh_write_file(&h, "p/sub/f", "f", 1), 0, "write p/sub/f");
	TAP_INTEQ(fsh_mkdir(&h, "p/empty", 0755), 0,
		  "mkdir p/empty (its marker waits)");
	TAP_INTEQ(fsh_write_file(&h, "p/gone", "g", 1), 0, "write p/gone");
	TAP_INTEQ(fsh_unlink(&h, "p/gone"), 0, "unlink p/gone (pending)");
	TAP_INTEQ(fsh_stat(&h, "p/del", &st), 0, "stat p/del");
	TAP_INTEQ(fs_open(h.fs, st.st_ino, O_RDONLY, &f), 0,
		  "open p/del for reading");
	TAP_INTEQ(fsh_unlink(&h, "p/del"), 0, "unlink p/del while open");
	TAP_OK(memstore_exists(h.ms, "p/del"),
	       "its object stays until the last close");
	TAP_INTEQ(fsh_count(&h, MS_OP_PUT), 0, "nothing was uploaded");
	s = NULL;
	list_ino(&h, p, &s);
	TAP_STREQ(s, "empty/\nnew\nold\nsub/\n",
		  "p's cached listing follows: new files in, unlinked out");
	free(s);
	usleep(400000); /* the listing expires */
	fsh_reset_counts(&h);
	s = NULL;
	list_ino(&h, p, &s);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1, "p is listed again");
	TAP_STREQ(s, "empty/\nnew\nold\nsub/\n",
		  "with the pending file and the new directories, without "
		  "the unlinked ones");
	free(s);
	s = listing(&h, "p/sub");
	TAP_STREQ(s, "f\n", "p/sub (no marker in the bucket) lists its file");
	free(s);
	fs_flush(f);
	fs_release(f);
	TAP_OK(!memstore_exists(h.ms, "p/del"), "last close: p/del deleted");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	usleep(400000);
	s = NULL;
	list_ino(&h, p, &s);
	TAP_STREQ(s, "empty/\nnew\nold\nsub/\n",
		  "after the uploads: the same");
	free(s);
	s = fsh_keys(&h);
	TAP_STREQ(s, "p/empty/\np/new\np/old\np/sub/\np/sub/f\n",
		  "and the bucket has them");
	free(s);
	fsh_done(&h);
}

/* A pending file in a subdirectory that its parent's listing filled in
 * (the subtree page, or not when big). */
static void test_pending_in_filled_subdirectory(bool big)
{
	char key[64], *s;
	struct fsh h;
	uint64_t t, x;
	int i;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "filled: mount");
	seed(&h, "t/x/old", "o");
	for (i = 0; big && i < 1000; i++) {
		snprintf(key, sizeof(key), "t/x/%04d", i);
		seed(&h, key, "");
	}
	x = dir_ino(&h, "t/x");
	t = dir_ino(&h, "t");
	TAP_OK(x && t, "t and t/x are directories");
	TAP_INTEQ(fsh_write_file(&h, "t/x/new", "n", 1), 0, "write t/x/new");
	s = NULL;
	list_ino(&h, t, &s);
	TAP_STREQ(s, "x/\n", "t lists x");
	free(s);
	fsh_reset_counts(&h);
	s = NULL;
	list_ino(&h, x, &s);
	TAP_OK(s && (big ? strstr(s, "0999\nnew\nold\n") != NULL
			 : !strcmp(s, "new\nold\n")),
	       big ? "t/x (1,002 entries) lists the pending file"
		   : "t/x, filled by t's subtree page, lists the pending file");
	free(s);
	if (!big)
		TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 0,
			  "without a LIST of its own");
	fsh_done(&h);
}

static int crash_writer(struct fsh *h, void *arg)
{
	(void)arg;
	if (fsh_mkdir(h, "q", 0755) || fsh_mkdir(h, "q/s", 0755) ||
	    fsh_write_file(h, "q/s/f", "f", 1) ||
	    fsh_write_file(h, "q/top", "t", 1) ||
	    fsh_write_file(h, "q/tmp", "x", 1) || fsh_unlink(h, "q/tmp"))
		return 1;
	return 0; /* dies with them pending */
}

static void test_pending_listed_after_crash(void)
{
	struct fault_rule no_puts = {
		.ops = FAULT_OP(FAULT_PUT), .when = FAULT_AFTER, .n = 0,
		.kind = FAULT_ERRNO, .err = -EACCES,
	};
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "crash: mount");
	TAP_INTEQ(fsh_crash_child(&h, crash_writer, NULL), 0,
		  "a mount writes below new directories and dies");
	s = fsh_keys(&h);
	TAP_STREQ(s, "", "the bucket has none of it");
	free(s);
	/* replayed files go up at once: keep them pending meanwhile */
	faultstore_add(h.fault, &no_puts);
	TAP_INTEQ(fsh_mount(&h), 0, "mount again on its cache");
	s = listing(&h, "");
	TAP_STREQ(s, "q/\n", "the root lists q");
	free(s);
	s = listing(&h, "q");
	TAP_STREQ(s, "s/\ntop\n", "q lists s and top, not the unlinked tmp");
	free(s);
	s = listing(&h, "q/s");
	TAP_STREQ(s, "f\n", "q/s lists f");
	free(s);
	s = fsh_keys(&h);
	TAP_STREQ(s, "", "all while none of it is in the bucket");
	free(s);
	faultstore_clear(h.fault);
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_keys(&h);
	TAP_STREQ(s, "q/s/f\nq/top\n", "then it goes up");
	free(s);
	fsh_done(&h);
}

static void test_listing_cache(void)
{
	struct fsh h;
	struct stat st;
	uint64_t c;
	char *s = NULL;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "cache: mount");
	fsh_unmount(&h);
	h.conf.dir_timeout = 0.5;
	TAP_INTEQ(fsh_mount(&h), 0, "mount with dir_timeout 0.5 s");
	seed(&h, "c/a", "a");
	seed(&h, "c/b", "b");
	c = dir_ino(&h, "c");
	fsh_reset_counts(&h);
	list_ino(&h, c, &s);
	TAP_STREQ(s, "a\nb\n", "c lists a and b");
	free(s);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1, "one LIST");
	seed(&h, "c/new", "n");
	fsh_reset_counts(&h);
	list_ino(&h, c, &s);
	TAP_STREQ(s, "a\nb\n", "within dir_timeout: the cached listing");
	free(s);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 0, "and no LIST");
	usleep(600000);
	list_ino(&h, c, &s);
	TAP_STREQ(s, "a\nb\nnew\n",
		  "after it: listed again, another client's new file shows");
	free(s);
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1, "with one LIST");
	usleep(600000);
	fsh_reset_counts(&h);
	TAP_INTEQ(fs_lookup(h.fs, c, "absent", &st), -ENOENT,
		  "lookup of a name that is not there, the listing expired");
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1, "costs one LIST");
	TAP_INTEQ(log_lines(&h, "LIST c/"), 1,
		  "of the directory (its listing fit in one page)");
	TAP_INTEQ(log_lines(&h, "HEAD c/absent") +
			  log_lines(&h, "HEAD c/absent/"),
		  0, "and HEADs nothing for the name");
	fsh_done(&h);
}

static void test_lookups_list_directory(void)
{
	char name[16], line[64], *log;
	struct fsh h;
	struct stat st;
	uint64_t r;
	int i, found = 0, once = 0;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "rsync: mount");
	for (i = 1; i <= 20; i++) {
		snprintf(line, sizeof(line), "r/f%02d", i);
		seed(&h, line, "x");
	}
	r = dir_ino(&h, "r");
	TAP_OK(r != 0, "r is a directory");
	fsh_reset_counts(&h);
	TAP_INTEQ(fs_lookup(h.fs, r, "f01", &st), 0, "lookup r/f01");
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 0, "the first: no LIST");
	TAP_INTEQ(log_lines(&h, "HEAD r/f01"), 1, "a HEAD of r/f01");
	TAP_INTEQ(fs_lookup(h.fs, r, "f02", &st), 0, "lookup r/f02");
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1,
		  "the second within 2 s: one LIST");
	TAP_INTEQ(log_lines(&h, "LIST r/"), 1, "of the directory r");
	for (i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "nope%d", i);
		TAP_INTEQ(fs_lookup(h.fs, r, name, &st), -ENOENT,
			  "a name that is not there: ENOENT");
	}
	log = memstore_log(h.ms);
	TAP_OK(log && !strstr(log, "r/nope"),
	       "names that are not there cost no HEAD (nor anything)");
	free(log);
	for (i = 3; i <= 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		found += fs_lookup(h.fs, r, name, &st) == 0;
	}
	TAP_INTEQ(found, 18, "the other names are found");
	TAP_INTEQ(fsh_count(&h, MS_OP_LIST), 1, "with no other LIST");
	for (i = 1; i <= 20; i++) {
		snprintf(line, sizeof(line), "HEAD r/f%02d", i);
		once += log_lines(&h, line) == 1;
	}
	TAP_INTEQ(once, 20, "each object HEADed exactly once");
	fsh_done(&h);
}

int main(void)
{
	alarm(300); /* a hang fails too */
	test_big_directory();
	test_big_directory_lookups();
	test_shapes("s", false);
	test_shapes("b", true);
	test_names_that_cannot_be_names("odd", false);
	test_names_that_cannot_be_names("odd2", true);
	test_bucket_root(false);
	test_bucket_root(true);
	test_prefix_mount();
	test_tree_walk();
	test_subtree_remembered();
	test_pending_listed();
	test_pending_in_filled_subdirectory(false);
	test_pending_in_filled_subdirectory(true);
	test_pending_listed_after_crash();
	test_listing_cache();
	test_lookups_list_directory();
	return tap_done();
}
