/*
 * test_fs_ns.c - the filesystem layer on the in-memory store: namespace
 * operations, write/close/upload, metadata folding, and the journal's
 * replay after a crash.  Each check says what a user would see.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsh.h"
#include "log.h"
#include "tap.h"

#define PENDING 600.0 /* a quiet period no test waits out */

static bool has_line(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && *p) {
		if (!strncmp(p, name, n) && p[n] == '\n')
			return true;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static void test_mkdir_create_unlink_rmdir(void)
{
	struct fsh h;
	struct stat st;
	char *s = NULL, state[256];

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "ns: mount");
	TAP_INTEQ(fsh_mkdir(&h, "d", 0750), 0, "mkdir d");
	TAP_INTEQ(fsh_count(&h, MS_OP_PUT) + fsh_count(&h, MS_OP_HEAD) +
			  fsh_count(&h, MS_OP_LIST),
		  0, "mkdir costs no request (its marker waits)");
	TAP_INTEQ(fsh_write_file(&h, "d/f", "hello", 5), 0, "create d/f");
	TAP_INTEQ(fsh_stat(&h, "d/f", &st), 0, "d/f is there");
	TAP_INTEQ(st.st_size, 5, "with its size");
	TAP_INTEQ(fsh_state(&h, "d/f", state, sizeof(state)), 0,
		  "state readable");
	TAP_STREQ(state, "dirty", "closed, not uploaded: dirty");
	TAP_OK(!memstore_exists(h.ms, "d/f"), "not in the bucket yet");
	TAP_INTEQ(fsh_list(&h, "d", &s), 0, "readdir d");
	TAP_STREQ(s, "f\n", "lists the pending file");
	free(s);
	TAP_INTEQ(fsh_rmdir(&h, "d"), -ENOTEMPTY,
		  "rmdir of a directory with a pending file: ENOTEMPTY");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "d/f");
	TAP_STREQ(s, "hello", "the bucket has d/f");
	free(s);
	TAP_OK(memstore_exists(h.ms, "d/"), "and the marker d/");
	s = fsh_object_meta(&h, "d/", "mode");
	TAP_STREQ(s, "16872", "the marker carries mode 0750 (s3fs decimal)");
	free(s);
	TAP_INTEQ(fsh_count(&h, MS_OP_COPY), 0, "no COPY on the way");
	TAP_INTEQ(fsh_state(&h, "d/f", state, sizeof(state)), 0, "state");
	TAP_STREQ(state, "clean", "uploaded: clean");
	TAP_OK(fsh_journal_empty(&h), "the journal holds no record");
	TAP_INTEQ(fsh_unlink(&h, "d/f"), 0, "unlink d/f");
	TAP_INTEQ(fsh_stat(&h, "d/f", &st), -ENOENT, "d/f is gone");
	TAP_OK(!memstore_exists(h.ms, "d/f"), "and gone from the bucket");
	TAP_INTEQ(fsh_rmdir(&h, "d"), 0, "rmdir of the empty directory");
	TAP_OK(!memstore_exists(h.ms, "d/"), "its marker deleted");
	TAP_INTEQ(fsh_stat(&h, "d", &st), -ENOENT, "d is gone");
	fsh_done(&h);
}

static void test_unlink_pending_never_uploads(void)
{
	struct fsh h;
	char *s = NULL;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "unlink pending: mount");
	TAP_INTEQ(fsh_write_file(&h, "tmp", "x", 1), 0, "create tmp");
	TAP_INTEQ(fsh_unlink(&h, "tmp"), 0, "unlink it before its upload");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_INTEQ(fsh_count(&h, MS_OP_PUT), 0, "no PUT ever");
	TAP_OK(fsh_journal_empty(&h), "no record left");
	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	TAP_INTEQ(fsh_list(&h, "", &s), 0, "readdir /");
	TAP_STREQ(s, "", "nothing came back");
	free(s);
	TAP_OK(!memstore_exists(h.ms, "tmp"), "nor in the bucket");
	fsh_done(&h);
}

static void test_cp_p_folds_into_one_put(void)
{
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "cp -p: mount");
	TAP_INTEQ(fsh_write_file(&h, "f.txt", "data", 4), 0, "write f.txt");
	TAP_INTEQ(fsh_chmod(&h, "f.txt", 0600), 0, "chmod after close");
	TAP_INTEQ(fsh_utime(&h, "f.txt", 1000000000, false), 0,
		  "utime after close");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_INTEQ(fsh_count(&h, MS_OP_PUT), 1, "one PUT for all of it");
	TAP_INTEQ(fsh_count(&h, MS_OP_COPY), 0, "no COPY");
	s = fsh_object_meta(&h, "f.txt", "mode");
	TAP_STREQ(s, "33152", "mode 0600 in the PUT");
	free(s);
	s = fsh_object_meta(&h, "f.txt", "mtime");
	TAP_OK(s && !strncmp(s, "1000000000", 10), "mtime in the PUT");
	free(s);
	fsh_reset_counts(&h);
	TAP_INTEQ(fsh_chmod(&h, "f.txt", 0640), 0, "chmod of the uploaded");
	TAP_INTEQ(fsh_chmod(&h, "f.txt", 0644), 0, "and again");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_INTEQ(fsh_count(&h, MS_OP_COPY), 1,
		  "two chmods of an uploaded file: one CopyObject");
	TAP_INTEQ(fsh_count(&h, MS_OP_PUT), 0, "and no PUT");
	s = fsh_object_meta(&h, "f.txt", "mode");
	TAP_STREQ(s, "33188", "the last mode (0644) is in the bucket");
	free(s);
	fsh_done(&h);
}

static void test_fsync_uploads(void)
{
	struct fsh h;
	struct fs_file *f;
	struct stat st;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "fsync: mount");
	TAP_INTEQ(fs_create(h.fs, 1, "g", 0644, O_CREAT | O_WRONLY, &h.ctx,
			    &st, &f),
		  0, "create g");
	TAP_INTEQ(fs_write(f, "abc", 3, 0), 3, "write");
	TAP_INTEQ(fs_fsync(f), 0, "fsync");
	s = fsh_object(&h, "g");
	TAP_STREQ(s, "abc", "in the bucket when fsync returns");
	free(s);
	fs_flush(f);
	fs_release(f);
	fsh_done(&h);
}

static int crash_writer(struct fsh *h, void *arg)
{
	(void)arg;
	if (fsh_mkdir(h, "new", 0755) || fsh_write_file(h, "new/a", "A", 1) ||
	    fsh_chmod(h, "new/a", 0600))
		return 1;
	/* a chmod after close reaches the record within 0.1 s */
	usleep(500000);
	return 0; /* dies with both pending */
}

static void test_replay_after_crash(void)
{
	struct fsh h;
	struct stat st;
	char *s = NULL;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "replay: mount");
	TAP_INTEQ(fsh_crash_child(&h, crash_writer, NULL), 0,
		  "a mount writes and dies without unmounting");
	TAP_OK(!memstore_exists(h.ms, "new/a"),
	       "the dead mount's file is not in the bucket");
	TAP_INTEQ(fsh_mount(&h), 0, "mount again on its cache");
	TAP_INTEQ(fsh_stat(&h, "new/a", &st), 0,
		  "the closed file is visible before its upload");
	TAP_INTEQ(st.st_mode, 0100600, "with its mode from the record");
	TAP_INTEQ(fsh_list(&h, "new", &s), 0, "readdir new");
	TAP_OK(has_line(s, "a"), "its directory lists it");
	free(s);
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "new/a");
	TAP_STREQ(s, "A", "uploaded from the journal");
	free(s);
	s = fsh_object_meta(&h, "new/a", "mode");
	TAP_STREQ(s, "33152", "with the mode it had");
	free(s);
	TAP_OK(fsh_journal_empty(&h), "and its record removed");
	fsh_done(&h);
}

static void test_failed_upload_stays_for_next_mount(void)
{
	struct fault_rule all_puts = {
		.ops = FAULT_OP(FAULT_PUT), .when = FAULT_AFTER, .n = 0,
		.kind = FAULT_ERRNO, .err = -EACCES,
	};
	struct fsh h;
	char state[256], *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "refused: mount");
	faultstore_add(h.fault, &all_puts);
	TAP_INTEQ(fsh_write_file(&h, "keep", "k", 1), 0, "write keep");
	TAP_INTEQ(fsh_sync(&h), -EIO, "sync reports the failure");
	TAP_INTEQ(fsh_state(&h, "keep", state, sizeof(state)), 0, "state");
	TAP_OK(!strncmp(state, "error: ", 7), "state says error");
	{
		char stats[4096];
		int n = fs_stats_text(h.fs, stats, sizeof(stats));
		const char *l = n > 0 ? strstr(stats, "upload_failures ") : NULL;

		TAP_OK(l && strtoul(l + 16, NULL, 10) >= 1,
		       "r2fs stats counts the failed upload");
	}
	TAP_INTEQ(fsh_unmount(&h), 0, "unmount with it failing");
	TAP_OK(!fsh_journal_empty(&h), "its record stays in the journal");
	faultstore_clear(h.fault);
	TAP_INTEQ(fsh_mount(&h), 0, "mount again");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "keep");
	TAP_STREQ(s, "k", "uploaded at the next mount");
	free(s);
	fsh_done(&h);
}

static void test_names(void)
{
	char longname[300];
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "names: mount");
	memset(longname, 'n', 256);
	longname[256] = '\0';
	TAP_INTEQ(fsh_write_file(&h, longname, "", 0), -ENAMETOOLONG,
		  "a 256-byte name: ENAMETOOLONG");
	TAP_INTEQ(fsh_write_file(&h, "bad\xff", "", 0), -EILSEQ,
		  "a name that is not UTF-8: EILSEQ");
	{
		char deep[1200], name[120];
		struct stat st;
		int i;

		/* four 250-byte directories: a key below them of 100 more
		 * bytes passes S3's 1,024 */
		deep[0] = '\0';
		for (i = 0; i < 4; i++) {
			size_t n = strlen(deep);

			if (n)
				deep[n++] = '/';
			memset(deep + n, 'a' + i, 250);
			deep[n + 250] = '\0';
			fsh_mkdir(&h, deep, 0755);
		}
		TAP_INTEQ(fsh_stat(&h, deep, &st), 0, "a 1,003-byte path");
		memset(name, 'x', 100);
		name[100] = '\0';
		strcat(deep, "/");
		strcat(deep, name);
		TAP_INTEQ(fsh_stat(&h, deep, &st), -ENOENT,
			  "looking up a path over the key limit: ENOENT");
		TAP_INTEQ(fsh_write_file(&h, deep, "", 0), -ENAMETOOLONG,
			  "creating one: ENAMETOOLONG");
	}
	TAP_INTEQ(fsh_symlink(&h, "ln", "target/file"), 0, "symlink");
	{
		struct stat st;
		char buf[64];

		TAP_INTEQ(fsh_stat(&h, "ln", &st), 0, "lookup the link");
		TAP_OK(S_ISLNK(st.st_mode), "it is a symlink");
		TAP_INTEQ(fs_readlink(h.fs, st.st_ino, buf, sizeof(buf)), 0,
			  "readlink");
		TAP_STREQ(buf, "target/file", "the target");
	}
	fsh_done(&h);
}

/* A session that ends (SIGTERM, a lost connection) releases no handle:
 * unmounting must free what they hold (the sanitized build's leak check
 * fails otherwise). */
static void test_handles_left_open(void)
{
	struct fs_file *f = NULL;
	struct fs_dir *d = NULL;
	struct fsh h;
	struct stat st;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "handles: mount");
	fsh_mkdir(&h, "d", 0755);
	TAP_INTEQ(fsh_write_file(&h, "d/f", "x", 1), 0, "write d/f");
	TAP_INTEQ(fsh_sync(&h), 0, "upload it");
	TAP_INTEQ(fsh_stat(&h, "d", &st), 0, "stat d");
	TAP_INTEQ(fs_opendir(h.fs, st.st_ino, &d), 0, "opendir d, kept");
	TAP_INTEQ(fsh_stat(&h, "d/f", &st), 0, "stat d/f");
	TAP_INTEQ(fs_open(h.fs, st.st_ino, O_RDONLY, &f), 0,
		  "open d/f, kept");
	fsh_done(&h); /* no releasedir, no release */
}

/* The journal's one data file (the test has one pending file). */
static char data_file[512];

static int find_data(const char *path, const struct stat *sb, int type,
		     struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_F && strstr(path, "/data/"))
		snprintf(data_file, sizeof(data_file), "%s", path);
	return 0;
}

static int crash_eight_bytes(struct fsh *h, void *arg)
{
	(void)arg;
	return fsh_write_file(h, "torn", "ABCDEFGH", 8) ? 1 : 0;
}

/*
 * Staged data that is not what r2fs wrote (cut by a damaged disk, changed
 * by someone else in the cache directory) never goes up as the file: not
 * zero-filled to the record's length at the next mount, not uploaded at
 * the other length by a running one.  The journal keeps it.
 */
static void test_damaged_stage_not_uploaded(void)
{
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "torn: mount");
	TAP_INTEQ(fsh_crash_child(&h, crash_eight_bytes, NULL), 0,
		  "a mount writes 8 bytes and dies");
	data_file[0] = '\0';
	nftw(h.cache_dir, find_data, 16, FTW_PHYS);
	TAP_OK(data_file[0] != '\0', "its data file is in the journal");
	TAP_INTEQ(truncate(data_file, 3), 0, "cut it to 3 bytes");
	TAP_INTEQ(fsh_mount(&h), 0, "mount again");
	TAP_OK(fsh_sync(&h) < 0, "sync fails: a file cannot go up");
	TAP_OK(!memstore_exists(h.ms, "torn"),
	       "the torn file is not uploaded (neither cut nor zero-filled)");
	TAP_INTEQ(fsh_unmount(&h), 0, "unmount");
	TAP_OK(!fsh_journal_empty(&h), "its record stays in the journal");
	fsh_done(&h);

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "changed: mount");
	TAP_INTEQ(fsh_write_file(&h, "grown", "ABCDEFGH", 8), 0,
		  "write 8 bytes, closed, pending");
	data_file[0] = '\0';
	nftw(h.cache_dir, find_data, 16, FTW_PHYS);
	TAP_OK(data_file[0] != '\0', "its data file is in the journal");
	{
		int fd = open(data_file, O_WRONLY | O_APPEND);

		TAP_OK(fd >= 0 && write(fd, "XY", 2) == 2,
		       "another process appends to the staged data");
		if (fd >= 0)
			close(fd);
	}
	TAP_INTEQ(fsh_sync(&h), -EIO, "sync: EIO");
	TAP_OK(!memstore_exists(h.ms, "grown"),
	       "the changed stage is not uploaded");
	TAP_INTEQ(truncate(data_file, 8), 0, "put it back as r2fs wrote it");
	TAP_INTEQ(fsh_sync(&h), 0, "sync uploads it now");
	s = fsh_object(&h, "grown");
	TAP_STREQ(s, "ABCDEFGH", "with r2fs's bytes");
	free(s);
	fsh_done(&h);
}

static unsigned count_lines(const char *path, const char *what)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			n++;
	fclose(f);
	return n;
}

/*
 * An upload refused for good (no write permission, a bucket lock) is
 * retried, but not said at every attempt: at the 1st, 2nd, 4th, 8th
 * failure in a row (and when the reason changes).
 */
static void test_lasting_refusal_said_seldom(void)
{
	struct fault_rule all_puts = {
		.ops = FAULT_OP(FAULT_PUT), .when = FAULT_AFTER, .n = 0,
		.kind = FAULT_ERRNO, .err = -EACCES,
	};
	char logpath[128];
	struct fsh h;
	int i;

	/* a short quiet period: the workers try, and back off 1, 2, 4 s */
	TAP_INTEQ(fsh_init(&h, 0.05), 0, "refusal log: mount");
	snprintf(logpath, sizeof(logpath), "%s/test.log", h.cache_dir);
	TAP_INTEQ(log_setup_file(LOG_LVL_INFO, logpath, true, "r2fs"), 0,
		  "log to a file");
	faultstore_add(h.fault, &all_puts);
	TAP_INTEQ(fsh_write_file(&h, "locked", "k", 1), 0, "write locked");
	for (i = 0; i < 300 && faultstore_injected(h.fault, 0) < 4; i++)
		usleep(50000);
	usleep(300000); /* the 4th failure is said; the 5th is 8 s away */
	TAP_INTEQ(faultstore_injected(h.fault, 0), 4,
		  "the workers tried 4 times in 7 s");
	TAP_INTEQ(count_lines(logpath, "upload of locked failed"), 3,
		  "and said so at the 1st, 2nd and 4th failure only");
	log_setup(LOG_LVL_INFO, 0, "r2fs");
	faultstore_clear(h.fault);
	TAP_INTEQ(fsh_sync(&h), 0, "allowed again: sync uploads it");
	fsh_done(&h);
}

int main(void)
{
	alarm(300); /* a hang (an upload waited for forever) fails too */
	test_mkdir_create_unlink_rmdir();
	test_unlink_pending_never_uploads();
	test_cp_p_folds_into_one_put();
	test_fsync_uploads();
	test_replay_after_crash();
	test_failed_upload_stays_for_next_mount();
	test_damaged_stage_not_uploaded();
	test_lasting_refusal_said_seldom();
	test_names();
	test_handles_left_open();
	return tap_done();
}
