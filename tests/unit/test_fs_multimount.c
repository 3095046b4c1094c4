/*
 * test_fs_multimount.c - several mounts of one bucket (SEMANTICS.md
 * "Several mounts"): two or three harnesses over one in-memory store, each
 * with its own cache directory, as machines would be.  Close-to-open: an
 * open later than stat_timeout after another mount's upload reads the new
 * version whole, even while a listing of the old one is still cached; the
 * kernel is told to drop pages of the old version (the changed hook) and
 * never kept attributes longer than the version they belong to.  No lost
 * update: two mounts writing one file keep both versions.  Listings
 * converge within dir_timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsh.h"
#include "tap.h"

#define PENDING 600.0 /* a quiet period no test waits out */

/* What the changed hook reported. */
struct changes {
	int n;
	uint64_t last;
};

static void on_changed(void *arg, uint64_t ino)
{
	struct changes *c = arg;

	c->n++;
	c->last = ino;
}

/* Two mounts of one bucket with these timeouts. */
static int two_mounts(struct fsh *a, struct fsh *b, double stat_timeout,
		      double dir_timeout)
{
	int rc = fsh_init(a, PENDING);

	if (!rc)
		rc = fsh_init_shared(b, a, PENDING);
	if (rc)
		return rc;
	a->conf.stat_timeout = b->conf.stat_timeout = stat_timeout;
	a->conf.dir_timeout = b->conf.dir_timeout = dir_timeout;
	rc = fsh_remount(a);
	return rc ? rc : fsh_remount(b);
}

/* Write path on h and upload it now. */
static int put(struct fsh *h, const char *path, const char *body)
{
	int rc = fsh_write_file(h, path, body, strlen(body));

	return rc ? rc : fsh_sync(h);
}

/* Does path read as exactly want on h? */
static bool reads(struct fsh *h, const char *path, const char *want)
{
	char *data = NULL;
	size_t len = 0;
	bool ok = fsh_read_file(h, path, &data, &len) == 0 &&
		  len == strlen(want) && !memcmp(data, want, len);

	if (!ok)
		printf("#   %s read as %.*s\n", path, data ? (int)len : 6,
		       data ? data : "(fail)");
	free(data);
	return ok;
}

/* Open path read-only on h; keep_cache into *kc. */
static int open_ro(struct fsh *h, const char *path, bool *kc)
{
	struct fs_file *f;
	struct stat st;
	int rc = fsh_open(h, path, O_RDONLY, &st, &f);

	if (rc)
		return rc;
	*kc = fs_file_keep_cache(f);
	fs_release(f);
	return 0;
}

/* stat_timeout=0: every open asks the bucket; the old pages go. */
static void test_ttl_zero_every_open_revalidates(void)
{
	struct changes c = { 0, 0 };
	struct fsh a, b;
	struct stat st;
	bool kc = true;

	TAP_INTEQ(two_mounts(&a, &b, 0, 0), 0, "ttl 0: two mounts");
	TAP_INTEQ(put(&a, "f", "version one"), 0, "A writes f");
	TAP_OK(reads(&b, "f", "version one"), "B reads A's f");
	TAP_INTEQ(open_ro(&b, "f", &kc), 0, "B opens f again");
	TAP_OK(kc, "same version: the kernel keeps its pages");
	TAP_INTEQ(fsh_stat(&b, "f", &st), 0, "B looks f up");
	fs_set_changed_hook(b.fs, on_changed, &c);
	TAP_INTEQ(put(&a, "f", "version 2"), 0, "A rewrites f");
	{
		struct fs_file *f = NULL;

		TAP_INTEQ(fs_open(b.fs, st.st_ino, O_RDONLY, &f), -ESTALE,
			  "B's open finds a version its lookup did not "
			  "show: ESTALE (the kernel looks up again)");
	}
	TAP_INTEQ(c.n, 1, "B dropped the old version's pages once");
	TAP_OK(c.last == st.st_ino, "... of f's inode");
	TAP_OK(reads(&b, "f", "version 2"),
	       "B's next open reads the new version at once");
	TAP_INTEQ(c.n, 1, "and not again");
	TAP_OK(fs_attr_ttl(b.fs, st.st_ino) == 0,
	       "the kernel keeps no attributes (ttl 0)");
	fs_set_changed_hook(b.fs, NULL, NULL);
	TAP_INTEQ(put(&a, "f", "3"), 0, "A writes a third version");
	TAP_OK(reads(&b, "f", "3"), "B reads it");
	TAP_INTEQ(c.n, 1, "a removed hook is not called");
	fsh_done(&b);
	fsh_done(&a);
}

/*
 * A listing of the old version, still fresh by dir_timeout, does not
 * vouch for it past stat_timeout: the open asks again.
 */
static void test_open_after_ttl_despite_fresh_listing(void)
{
	struct fsh a, b;
	struct stat st;
	char *names = NULL, *data = NULL;
	size_t len = 0;
	bool kc = true;
	int rc;

	TAP_INTEQ(two_mounts(&a, &b, 0.5, 60), 0, "ttl 0.5, dir 60: mounts");
	TAP_INTEQ(put(&a, "g", "old"), 0, "A writes g");
	TAP_INTEQ(fsh_list(&b, "", &names), 0, "B lists the root");
	free(names);
	TAP_OK(reads(&b, "g", "old"), "B reads g");
	TAP_INTEQ(put(&a, "g", "the new one"), 0, "A rewrites g");
	rc = fsh_read_file(&b, "g", &data, &len);
	/* within the ttl: the old version whole, or EIO; never a mix */
	TAP_OK((rc == 0 && len == 3 && !memcmp(data, "old", 3)) ||
		       (rc == 0 && len == 11 &&
			!memcmp(data, "the new one", 11)) ||
		       rc == -EIO,
	       "within stat_timeout: one whole version (or EIO)");
	free(data);
	usleep(600 * 1000); /* past stat_timeout: the bound under test */
	TAP_INTEQ(fsh_stat(&b, "g", &st), 0, "B looks g up (listing: old)");
	TAP_OK(fs_attr_ttl(b.fs, st.st_ino) == 0,
	       "attributes as old as the listing: kernel keeps none");
	TAP_INTEQ(open_ro(&b, "g", &kc), 0, "B opens g");
	TAP_OK(!kc, "a new version: the kernel's pages are not kept");
	TAP_OK(fs_attr_ttl(b.fs, st.st_ino) > 0.3,
	       "refreshed at open: the kernel may keep them again");
	TAP_INTEQ(fs_getattr(b.fs, st.st_ino, &st), 0, "getattr");
	TAP_INTEQ((int)st.st_size, 11, "getattr has the new size");
	TAP_OK(reads(&b, "g", "the new one"),
	       "after stat_timeout B reads the new version whole");
	usleep(600 * 1000); /* the HEAD expires; the listing does not */
	TAP_INTEQ(fsh_stat(&b, "g", &st), 0, "B looks g up again");
	TAP_INTEQ((int)st.st_size, 11,
		  "the older listing does not take it back");
	fsh_done(&b);
	fsh_done(&a);
}

/*
 * A handle still reading the old version while the new one is opened on
 * the same mount: the new handle bypasses the page cache they share.
 */
static void test_two_versions_open_at_once(void)
{
	struct fs_file *old = NULL, *cur = NULL;
	struct fsh a, b;
	struct stat st;
	bool kc = true;

	TAP_INTEQ(two_mounts(&a, &b, 0, 0), 0, "two versions: mounts");
	TAP_INTEQ(put(&a, "v", "first"), 0, "A writes v");
	TAP_INTEQ(fsh_stat(&b, "v", &st), 0, "B looks v up");
	TAP_INTEQ(fs_open(b.fs, st.st_ino, O_RDONLY, &old), 0,
		  "B opens the first version");
	TAP_OK(!fs_file_direct_io(old), "alone: through the page cache");
	TAP_INTEQ(put(&a, "v", "second"), 0, "A rewrites v");
	TAP_INTEQ(fs_open(b.fs, st.st_ino, O_RDONLY, &cur), -ESTALE,
		  "B's open of the inode finds the second version: ESTALE");
	TAP_INTEQ(fsh_stat(&b, "v", &st), 0, "B looks v up again");
	TAP_INTEQ(fs_open(b.fs, st.st_ino, O_RDONLY, &cur), 0,
		  "B opens the second version");
	TAP_OK(cur && fs_file_direct_io(cur),
	       "beside the older handle: direct I/O");
	TAP_OK(cur && !fs_file_keep_cache(cur), "and no kept pages");
	if (cur)
		fs_release(cur);
	if (old)
		fs_release(old);
	TAP_INTEQ(open_ro(&b, "v", &kc), 0, "B opens v once more");
	TAP_OK(!kc, "the page cache may hold the first version: dropped");
	TAP_OK(reads(&b, "v", "second"), "B reads the second version");
	TAP_INTEQ(open_ro(&b, "v", &kc), 0, "and opens it again");
	TAP_OK(kc, "now its pages are kept");
	fsh_done(&b);
	fsh_done(&a);
}

/*
 * A writer's open finds another version than the kernel was told of (its
 * lookup was within stat_timeout of A's upload): -ESTALE, so the kernel
 * looks the name up again (and gets the new size, which reads and
 * O_APPEND go by) and opens once more.
 */
static void test_writer_open_of_unseen_version(void)
{
	struct fs_file *f = NULL;
	struct fsh a, b;
	struct stat st;
	char *data;

	TAP_INTEQ(two_mounts(&a, &b, 30, 30), 0, "unseen: mounts");
	TAP_INTEQ(put(&a, "u", "short"), 0, "A writes u");
	TAP_INTEQ(fsh_stat(&b, "u", &st), 0, "B looks u up");
	TAP_INTEQ((int)st.st_size, 5, "5 bytes");
	TAP_INTEQ(put(&a, "u", "a longer version"), 0, "A rewrites u");
	TAP_INTEQ(fs_open(b.fs, st.st_ino, O_WRONLY | O_APPEND, &f), -ESTALE,
		  "B's append open: ESTALE (the kernel's size is old)");
	TAP_INTEQ(fsh_stat(&b, "u", &st), 0, "the kernel looks u up again");
	TAP_INTEQ((int)st.st_size, 16, "and gets the new size");
	TAP_INTEQ(fsh_append(&b, "u", "!", 1), 0, "the retried open appends");
	TAP_INTEQ(fsh_sync(&b), 0, "B uploads");
	data = fsh_object(&a, "u");
	TAP_STREQ(data, "a longer version!", "appended to A's version");
	free(data);
	fsh_done(&b);
	fsh_done(&a);
}

/* A file deleted or created on A: B sees it so once its caches expire. */
static void test_names_converge(void)
{
	struct fsh a, b;
	struct stat st;
	char *names = NULL;

	TAP_INTEQ(two_mounts(&a, &b, 0.3, 0.3), 0, "names: mounts");
	TAP_INTEQ(fsh_mkdir(&a, "d", 0755), 0, "A: mkdir d");
	TAP_INTEQ(put(&a, "d/x", "x"), 0, "A writes d/x");
	TAP_INTEQ(fsh_list(&b, "d", &names), 0, "B lists d");
	TAP_STREQ(names, "x\n", "B sees x");
	free(names);
	TAP_OK(reads(&b, "d/x", "x"), "B reads d/x");
	TAP_INTEQ(fsh_unlink(&a, "d/x"), 0, "A unlinks d/x");
	TAP_INTEQ(put(&a, "d/y", "y"), 0, "A writes d/y");
	usleep(400 * 1000); /* past dir_timeout and stat_timeout */
	TAP_INTEQ(fsh_list(&b, "d", &names), 0, "B lists d again");
	TAP_STREQ(names, "y\n", "B sees y and no ghost of x");
	free(names);
	TAP_INTEQ(fsh_stat(&b, "d/x", &st), -ENOENT, "d/x is gone on B");
	TAP_OK(reads(&b, "d/y", "y"), "B reads d/y");
	fsh_done(&b);
	fsh_done(&a);
}

/* An open file removed by A: B's next open is ENOENT, not stale data. */
static void test_open_of_file_deleted_elsewhere(void)
{
	struct fsh a, b;
	struct fs_file *f = NULL;
	struct stat st;

	TAP_INTEQ(two_mounts(&a, &b, 0, 0), 0, "deleted: mounts");
	TAP_INTEQ(put(&a, "h", "here"), 0, "A writes h");
	TAP_INTEQ(fsh_stat(&b, "h", &st), 0, "B looks h up");
	TAP_INTEQ(fsh_unlink(&a, "h"), 0, "A unlinks h");
	TAP_INTEQ(fs_open(b.fs, st.st_ino, O_RDONLY, &f), -ENOENT,
		  "B's open of the inode it holds is ENOENT");
	fsh_done(&b);
	fsh_done(&a);
}

/* Two mounts write one file: both versions are kept. */
static void test_two_writers_keep_both(void)
{
	struct fsh a, b;
	char *keys, *s;

	TAP_INTEQ(two_mounts(&a, &b, 0, 0), 0, "writers: mounts");
	TAP_INTEQ(fsh_write_file(&a, "w.txt", "from A", 6), 0, "A writes");
	TAP_INTEQ(fsh_write_file(&b, "w.txt", "from B", 6), 0, "B writes");
	TAP_INTEQ(fsh_sync(&a), 0, "A uploads");
	TAP_INTEQ(fsh_sync(&b), 0, "B uploads");
	s = fsh_object(&a, "w.txt");
	TAP_STREQ(s, "from A", "the first upload keeps the name");
	free(s);
	keys = fsh_keys(&a);
	s = keys ? strstr(keys, "w.conflict-") : NULL;
	TAP_OK(s != NULL, "the second is saved as a conflict copy");
	if (s) {
		char key[128], *nl = strchr(s, '\n');

		snprintf(key, sizeof(key), "%.*s", nl ? (int)(nl - s) : 0, s);
		s = fsh_object(&a, key);
		TAP_STREQ(s, "from B", "... holding B's bytes");
		free(s);
	}
	free(keys);
	TAP_OK(reads(&b, "w.txt", "from A"), "B then reads A's version");
	fsh_done(&b);
	fsh_done(&a);
}

int main(void)
{
	alarm(300);
	test_ttl_zero_every_open_revalidates();
	test_open_after_ttl_despite_fresh_listing();
	test_two_versions_open_at_once();
	test_writer_open_of_unseen_version();
	test_names_converge();
	test_open_of_file_deleted_elsewhere();
	test_two_writers_keep_both();
	return tap_done();
}
