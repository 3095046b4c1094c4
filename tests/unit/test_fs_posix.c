/*
 * test_fs_posix.c - POSIX details that legacy tools (and pjdfstest) rely
 * on, on the in-memory store: special files, a directory's times and
 * link count, ctime, and the types readdir reports.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fsh.h"
#include "tap.h"

#define PENDING 600.0

static int mknod_path(struct fsh *h, const char *path, mode_t mode,
		      dev_t rdev)
{
	char name[256];
	struct stat st;
	uint64_t p;
	int rc = fsh_parent(h, path, &p, name, sizeof(name));

	return rc ? rc : fs_mknod(h->fs, p, name, mode, rdev, &h->ctx, &st);
}

/* The type readdir gives for name in dir ("" root); 0 if not listed. */
static mode_t listed_type(struct fsh *h, const char *dir, const char *name)
{
	struct fs_dir *d = NULL;
	struct stat st;
	mode_t type = 0, t;
	uint64_t ino;
	size_t i;

	if (fsh_stat(h, dir, &st) || fs_opendir(h->fs, st.st_ino, &d))
		return 0;
	for (i = 0; i < fs_dir_count(d); i++)
		if (!strcmp(fs_dir_entry(d, i, &t, &ino), name))
			type = t;
	fs_releasedir(d);
	return type;
}

static void test_special_files(void)
{
	struct fsh h;
	struct stat st;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "special: mount");
	TAP_INTEQ(mknod_path(&h, "fifo", S_IFIFO | 0640, 0), 0, "mkfifo");
	TAP_INTEQ(mknod_path(&h, "sock", S_IFSOCK | 0755, 0), 0,
		  "a Unix socket (bind)");
	TAP_INTEQ(mknod_path(&h, "chr", S_IFCHR | 0600, makedev(1, 3)), 0,
		  "mknod of a character device");
	TAP_INTEQ(mknod_path(&h, "blk", S_IFBLK | 0600, makedev(8, 1)), 0,
		  "mknod of a block device");
	TAP_INTEQ(mknod_path(&h, "reg", S_IFREG | 0600, 0), -EINVAL,
		  "a regular file comes by create, not mknod");
	TAP_INTEQ(fsh_stat(&h, "fifo", &st), 0, "stat fifo");
	TAP_OK(S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640,
	       "a FIFO with its mode");
	TAP_INTEQ(fsh_stat(&h, "chr", &st), 0, "stat chr");
	TAP_OK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3),
	       "a character device with its number");
	s = fsh_object(&h, "fifo");
	TAP_STREQ(s, "", "in the bucket: a zero-byte object");
	free(s);
	s = fsh_object_meta(&h, "fifo", "mode");
	TAP_STREQ(s, "4512", "its type and mode in x-amz-meta-mode (s3fs)");
	free(s);
	s = fsh_object_meta(&h, "blk", "rdev");
	TAP_OK(s && strtoull(s, NULL, 10) == makedev(8, 1),
	       "a device's number in x-amz-meta-rdev (s3fs)");
	free(s);
	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	TAP_INTEQ(fsh_stat(&h, "sock", &st), 0, "stat sock after remount");
	TAP_OK(S_ISSOCK(st.st_mode), "still a socket");
	TAP_INTEQ(fsh_stat(&h, "blk", &st), 0, "stat blk after remount");
	TAP_OK(S_ISBLK(st.st_mode) && st.st_rdev == makedev(8, 1),
	       "still a block device with its number");
	TAP_INTEQ(listed_type(&h, "", "sock"), S_IFSOCK,
		  "once looked up, readdir gives its type, not a file's");
	TAP_INTEQ(fsh_rename(&h, "fifo", "fifo2"), 0, "rename a FIFO");
	TAP_INTEQ(fsh_stat(&h, "fifo2", &st), 0, "stat it");
	TAP_OK(S_ISFIFO(st.st_mode), "a FIFO under its new name");
	TAP_INTEQ(fsh_chmod(&h, "fifo2", 0600), 0, "chmod it");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object_meta(&h, "fifo2", "mode");
	TAP_STREQ(s, "4480", "the bucket keeps the type with the new mode");
	free(s);
	TAP_INTEQ(fsh_unlink(&h, "fifo2"), 0, "unlink it");
	TAP_OK(!memstore_exists(h.ms, "fifo2"), "gone from the bucket");
	fsh_done(&h);
}

static void test_symlinks_typed_in_readdir(void)
{
	struct fsh h;
	struct stat st;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "symlink types: mount");
	fsh_mkdir(&h, "d", 0755);
	TAP_INTEQ(fsh_symlink(&h, "d/ln", "target"), 0, "symlink d/ln");
	TAP_INTEQ(fsh_write_file(&h, "d/f", "x", 1), 0, "file d/f");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_INTEQ(fsh_remount(&h), 0, "remount (nothing in memory)");
	TAP_INTEQ(fsh_stat(&h, "d/ln", &st), 0, "look the link up");
	TAP_INTEQ(listed_type(&h, "d", "ln"), S_IFLNK,
		  "readdir then types it a symlink (find -type l)");
	TAP_INTEQ(listed_type(&h, "d", "f"), S_IFREG, "and the file a file");
	fsh_done(&h);
}

static bool later(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

static void test_directory_times_and_links(void)
{
	struct stat before, after;
	struct fsh h;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "dir times: mount");
	fsh_mkdir(&h, "p", 0755);
	TAP_INTEQ(fsh_stat(&h, "p", &before), 0, "stat p");
	TAP_INTEQ(before.st_nlink, 2, "an empty directory has 2 links");
	usleep(20000);
	TAP_INTEQ(fsh_write_file(&h, "p/f", "x", 1), 0, "create p/f");
	TAP_INTEQ(fsh_stat(&h, "p", &after), 0, "stat p");
	TAP_OK(later(&after.st_mtim, &before.st_mtim) &&
		       later(&after.st_ctim, &before.st_ctim),
	       "creating an entry updates the parent's mtime and ctime");
	before = after;
	usleep(20000);
	TAP_INTEQ(fsh_mkdir(&h, "p/s1", 0755), 0, "mkdir p/s1");
	TAP_INTEQ(fsh_mkdir(&h, "p/s2", 0755), 0, "mkdir p/s2");
	TAP_INTEQ(fsh_stat(&h, "p", &after), 0, "stat p");
	TAP_OK(later(&after.st_mtim, &before.st_mtim), "mkdir too");
	TAP_INTEQ(after.st_nlink, 4, "two subdirectories: 4 links");
	before = after;
	usleep(20000);
	TAP_INTEQ(fsh_rename(&h, "p/f", "p/g"), 0, "rename within p");
	TAP_INTEQ(fsh_stat(&h, "p", &after), 0, "stat p");
	TAP_OK(later(&after.st_mtim, &before.st_mtim), "rename too");
	before = after;
	usleep(20000);
	TAP_INTEQ(fsh_unlink(&h, "p/g"), 0, "unlink p/g");
	TAP_INTEQ(fsh_rmdir(&h, "p/s2"), 0, "rmdir p/s2");
	TAP_INTEQ(fsh_stat(&h, "p", &after), 0, "stat p");
	TAP_OK(later(&after.st_mtim, &before.st_mtim) &&
		       later(&after.st_ctim, &before.st_ctim),
	       "unlink and rmdir too");
	TAP_INTEQ(after.st_nlink, 3, "one subdirectory left: 3 links");
	TAP_INTEQ(fsh_mkdir(&h, "q", 0755), 0, "mkdir q");
	TAP_INTEQ(fsh_stat(&h, "q", &after), 0, "stat q");
	TAP_INTEQ(after.st_nlink, 2, "q: 2 links");
	TAP_INTEQ(fsh_rename(&h, "p/s1", "q/s1"), 0, "move p/s1 into q");
	TAP_INTEQ(fsh_stat(&h, "q", &after), 0, "stat q");
	TAP_INTEQ(after.st_nlink, 3, "q gains the link (pjdfstest rename/24)");
	TAP_INTEQ(fsh_stat(&h, "p", &after), 0, "stat p");
	TAP_INTEQ(after.st_nlink, 2, "p loses it");
	TAP_INTEQ(fsh_rename(&h, "q/s1", "p/s1"), 0, "and back");
	TAP_INTEQ(fsh_sync(&h), 0, "sync (the marker goes up)");
	before = after;
	TAP_INTEQ(fsh_stat(&h, "p", &after), 0, "stat p after its upload");
	TAP_OK(!later(&before.st_mtim, &after.st_mtim),
	       "the marker's older time does not replace ours");
	fsh_done(&h);
}

static void test_ctime(void)
{
	struct stat before, after;
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "ctime: mount");
	TAP_INTEQ(fsh_write_file(&h, "f", "x", 1), 0, "create f");
	TAP_INTEQ(fsh_utime(&h, "f", 1000000000, false), 0, "old mtime");
	TAP_INTEQ(fsh_sync(&h), 0, "upload f");
	TAP_INTEQ(fsh_stat(&h, "f", &before), 0, "stat f");
	usleep(20000);
	TAP_INTEQ(fsh_chmod(&h, "f", 0600), 0, "chmod f");
	TAP_INTEQ(fsh_stat(&h, "f", &after), 0, "stat f");
	TAP_OK(later(&after.st_ctim, &before.st_ctim),
	       "chmod updates ctime");
	TAP_INTEQ(after.st_mtim.tv_sec, 1000000000, "but not mtime");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object_meta(&h, "f", "ctime");
	TAP_OK(s && strtoll(s, NULL, 10) == after.st_ctim.tv_sec,
	       "the ctime goes to the bucket (x-amz-meta-ctime)");
	free(s);
	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	TAP_INTEQ(fsh_stat(&h, "f", &before), 0, "stat f");
	TAP_INTEQ(before.st_ctim.tv_sec, after.st_ctim.tv_sec,
		  "ctime survives the mount");
	TAP_INTEQ(before.st_mtim.tv_sec, 1000000000, "so does mtime");
	fsh_done(&h);
}

int main(void)
{
	alarm(300); /* a hang (an upload waited for forever) fails too */
	test_special_files();
	test_symlinks_typed_in_readdir();
	test_directory_times_and_links();
	test_ctime();
	return tap_done();
}
