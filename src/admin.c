/*
 * admin.c - r2fs sync, stats, wait and pending: what a user or a
 * shutdown script asks of r2fs besides a mount.
 *
 * sync and stats go through a live mount's xattrs, and first make sure
 * the path is on r2fs: anywhere else, setting user.r2.sync would just
 * leave an attribute on the file.
 *
 * wait and pending need no mount: after fusermount3 -u the daemon goes on
 * uploading with no mount left to ask, so they read its cache directory.
 * A daemon is found from its journal: the pid file there names it, and it
 * counts only while that process holds the journal's lock file open (so
 * a pid file left by a killed daemon, or a pid since reused, is not
 * waited for).  A mount point is found among the processes whose open
 * files include a journal's lock, whatever their cache directory.
 * pending reads the journal's records without loading them: the record
 * format is journal.c's ("r2fs-journal 1", then "path HEX", "size N",
 * ..., "end"), read-only here.
 */
#include "admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fs.h"
#include "memlimit.h"
#include "mountpoint.h"
#include "util.h"

#define ADMIN_EXIT_USAGE 2

void admin_size_text(uint64_t bytes, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, len, "%.1f %s", v, unit[i]);
}

/* ------------------------------------------------------------------ */
/* Arguments */

static const struct {
	const char *cmd, *text;
} usages[] = {
	{ "sync",
	  "usage: r2fs sync [PATH...]\n"
	  "Uploads everything pending at or below each PATH (default: .) now\n"
	  "and waits; exits 1 naming each file that could not be uploaded.\n" },
	{ "stats",
	  "usage: r2fs stats [PATH]\n"
	  "Prints the counters of the mount that PATH (default: .) is on:\n"
	  "requests by R2 class, retries, 429s, failures, bytes, pending\n"
	  "uploads, an estimated cost.\n" },
	{ "wait",
	  "usage: r2fs wait MOUNTPOINT|CACHE_DIR...\n"
	  "Waits until the r2fs daemon of MOUNTPOINT, or every daemon using\n"
	  "CACHE_DIR, has exited: after fusermount3 -u, that is when all it\n"
	  "could upload is in the bucket and the machine may shut down.\n" },
	{ "pending",
	  "usage: r2fs pending [CACHE_DIR...]\n"
	  "Lists the files each journal in CACHE_DIR (default: r2fs's default\n"
	  "cache directory) still holds for upload, mounted or not.\n" },
};

static const char *usage_of(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		if (!strcmp(usages[i].cmd, cmd))
			return usages[i].text;
	return "";
}

/*
 * A command's arguments: -h/--help prints its usage, "--" ends the
 * options, another option is a usage error; the operands are moved to
 * argv[0..*argc).  -1 to go on, else the exit status.
 */
static int parse_args(const char *cmd, int *argc, char *argv[])
{
	bool opts = true;
	int i, n = 0;

	for (i = 0; i < *argc; i++) {
		const char *a = argv[i];

		if (opts && !strcmp(a, "--")) {
			opts = false;
			continue;
		}
		if (opts && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			fputs(usage_of(cmd), stdout);
			return 0;
		}
		if (opts && a[0] == '-' && a[1]) {
			fprintf(stderr, "r2fs %s: unknown option '%s'\n%s", cmd,
				a, usage_of(cmd));
			return ADMIN_EXIT_USAGE;
		}
		argv[n++] = argv[i];
	}
	*argc = n;
	return -1;
}

/* ------------------------------------------------------------------ */
/* sync and stats: through a live mount */

/*
 * Is path on an r2fs mount?  1 yes, 0 no, or -errno (path not reached).
 * A FUSE filesystem whose mount has type fuse.r2fs: r2fs mounts with
 * subtype r2fs, and mount -t fuse.r2fs gives the same type.  Where mount
 * ids are missing (Linux before 5.8, no /proc), r2fs answers
 * user.r2.state on every file, and never lists it for cp -a to copy.
 */
static int on_r2fs(const char *path)
{
	struct mount_entry *m;
	struct statfs sf;
	struct statx sx;
	int rc = -ENOSYS;

	if (statfs(path, &sf) < 0)
		return -errno;
	if (sf.f_type != FUSE_SUPER_MAGIC)
		return 0;
	m = malloc(sizeof(*m));
	if (m &&
	    statx(AT_FDCWD, path, AT_NO_AUTOMOUNT, STATX_MNT_ID, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID))
		rc = mountpoint_by_id(sx.stx_mnt_id, m);
	if (rc == 0)
		rc = !strcmp(m->type, "fuse.r2fs");
	else
		rc = getxattr(path, FS_XATTR_STATE, NULL, 0) >= 0;
	free(m);
	return rc;
}

/* 0 when path is on an r2fs mount; else one sentence on stderr and -1. */
static int require_r2fs(const char *cmd, const char *path)
{
	int r2 = on_r2fs(path);

	if (r2 > 0)
		return 0;
	fprintf(stderr, "r2fs %s: %s: %s\n", cmd, path,
		r2 < 0 ? strerror(-r2) : "not on an r2fs mount");
	return -1;
}

/* r2fs sync: report each file below the path whose upload failed. */
static int sync_failed;

static int report_state(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	char state[256];
	ssize_t n;

	(void)st;
	(void)ftw;
	if (flag != FTW_F)
		return 0;
	n = getxattr(path, FS_XATTR_STATE, state, sizeof(state) - 1);
	if (n < 0)
		return 0;
	state[n] = '\0';
	if (strncmp(state, "clean", 5)) {
		fprintf(stderr, "r2fs sync: %s: %s\n", path, state);
		sync_failed = 1;
	}
	return 0;
}

int admin_sync(int argc, char *argv[])
{
	const char *dflt[] = { "." };
	const char **paths;
	int i, n, rc = parse_args("sync", &argc, argv);

	if (rc >= 0)
		return rc;
	rc = 0;
	paths = argc > 0 ? (const char **)argv : dflt;
	n = argc > 0 ? argc : 1;
	for (i = 0; i < n; i++) {
		if (require_r2fs("sync", paths[i])) {
			rc = 1;
			continue;
		}
		if (setxattr(paths[i], FS_XATTR_SYNC, "1", 1, 0) == 0)
			continue;
		if (errno != EIO) {
			fprintf(stderr, "r2fs sync: %s: %s\n", paths[i],
				strerror(errno));
			rc = 1;
			continue;
		}
		sync_failed = 0;
		nftw(paths[i], report_state, 16, FTW_PHYS);
		if (!sync_failed)
			fprintf(stderr, "r2fs sync: %s: some files could not "
				"be uploaded or are stuck in the journal; the "
				"mount's log names them\n", paths[i]);
		rc = 1;
	}
	return rc;
}

/* A running daemon, found by its journal (below: the pid file). */
struct daemon_ref {
	pid_t pid; /* 0: none running */
	char journal[PATH_MAX];
	char mountpoint[PATH_MAX];
};

static size_t daemons_of_mountpoint(const char *mp, struct daemon_ref *out,
				    size_t max);

/*
 * The cgroup memory limit of the daemon of path's mount (0: none), the
 * one it sized itself for at start (main.c), read the same way from its
 * /proc/PID/cgroup; the mount's xattrs are fs.c's, this is the daemon's
 * surroundings.  0, or -ENOENT when the daemon is not found (a /dev/fd/N
 * mount, a daemon of another user).
 */
static int stats_memory_limit(const char *path, unsigned long long *out)
{
	struct mount_entry *m = malloc(sizeof(*m));
	struct daemon_ref *r = malloc(sizeof(*r));
	char file[64], text[4096];
	struct statx sx;
	uint64_t limit;
	ssize_t n;
	int rc = -ENOENT, fd;

	if (!m || !r)
		goto out;
	if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT, STATX_MNT_ID, &sx) ||
	    !(sx.stx_mask & STATX_MNT_ID) ||
	    mountpoint_by_id(sx.stx_mnt_id, m) ||
	    daemons_of_mountpoint(m->point, r, 1) != 1)
		goto out;
	snprintf(file, sizeof(file), "/proc/%ld/cgroup", (long)r->pid);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	rc = memlimit_read("/sys/fs/cgroup", text, &limit);
	if (!rc)
		*out = limit == MEMLIMIT_NONE ? 0 : limit;
out:
	free(m);
	free(r);
	return rc;
}

int admin_stats(int argc, char *argv[])
{
	unsigned long long limit;
	const char *path;
	char buf[4096];
	ssize_t n;
	int rc = parse_args("stats", &argc, argv);

	if (rc >= 0)
		return rc;
	if (argc > 1) {
		fprintf(stderr, "r2fs stats: one PATH at most\n%s",
			usage_of("stats"));
		return ADMIN_EXIT_USAGE;
	}
	path = argc > 0 ? argv[0] : ".";
	if (require_r2fs("stats", path))
		return 1;
	n = getxattr(path, FS_XATTR_STATS, buf, sizeof(buf) - 1);
	if (n < 0) {
		fprintf(stderr, "r2fs stats: %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	if (stats_memory_limit(path, &limit) == 0)
		printf("memory_limit %llu\n", limit);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The pid file */

static int pidfile_path(const char *journal_dir, const char *name,
			char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", journal_dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int admin_pidfile_write(const char *journal_dir, const char *mountpoint)
{
	char path[PATH_MAX], tmp[PATH_MAX], text[PATH_MAX + 32];
	int fd, n, rc;

	rc = pidfile_path(journal_dir, "pid", path, sizeof(path));
	if (!rc)
		rc = pidfile_path(journal_dir, "pid.tmp", tmp, sizeof(tmp));
	if (rc)
		return rc;
	n = snprintf(text, sizeof(text), "%ld\n%s\n", (long)getpid(),
		     mountpoint);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = util_write_all(fd, text, (size_t)n);
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

void admin_pidfile_remove(const char *journal_dir)
{
	char path[PATH_MAX];

	if (!pidfile_path(journal_dir, "pid", path, sizeof(path)))
		unlink(path);
}

/* The pid and mount point in journal_dir's pid file: 0 or -errno. */
static int pidfile_read(const char *journal_dir, pid_t *pid, char *mp,
			size_t mplen)
{
	char path[PATH_MAX], text[PATH_MAX + 32], *nl, *end;
	ssize_t n;
	long v;
	int fd;

	if (pidfile_path(journal_dir, "pid", path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	text[n] = '\0';
	v = strtol(text, &end, 10);
	if (end == text || *end != '\n' || v <= 0)
		return -EINVAL;
	*pid = (pid_t)v;
	nl = strchr(end + 1, '\n');
	if (nl)
		*nl = '\0';
	snprintf(mp, mplen, "%s", end + 1);
	return 0;
}

/* Does process pid hold journal_dir/lock open (journal_dir resolved)? */
static bool holds_journal(pid_t pid, const char *journal_dir)
{
	char fddir[64], link[PATH_MAX + 32], target[PATH_MAX];
	struct dirent *d;
	bool found = false;
	ssize_t n;
	DIR *dir;

	snprintf(fddir, sizeof(fddir), "/proc/%ld/fd", (long)pid);
	if (snprintf(target, sizeof(target), "%s/lock", journal_dir) >=
	    (int)sizeof(target))
		return false;
	dir = opendir(fddir);
	if (!dir)
		return false;
	while (!found && (d = readdir(dir)) != NULL) {
		char got[PATH_MAX];

		if (d->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", fddir, d->d_name);
		n = readlink(link, got, sizeof(got) - 1);
		if (n <= 0)
			continue;
		got[n] = '\0';
		found = !strcmp(got, target);
	}
	closedir(dir);
	return found;
}

/* ------------------------------------------------------------------ */
/* Journals: the daemon of one, and what it still holds */

/* The running daemon of journal_dir (resolved), if any, into r. */
static void journal_daemon(const char *journal_dir, struct daemon_ref *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->journal, sizeof(r->journal), "%s", journal_dir);
	if (pidfile_read(journal_dir, &r->pid, r->mountpoint,
			 sizeof(r->mountpoint)) ||
	    !holds_journal(r->pid, journal_dir))
		r->pid = 0;
}

struct pending_sum {
	size_t files, unreadable, renames;
	uint64_t bytes;
};

/* One record: its path and size, printed with indent; false if it
 * cannot be read. */
static bool print_record(int recfd, const char *name, bool print,
			 uint64_t *size)
{
	char buf[16384], *line, *next, *path = NULL;
	bool end = false;
	ssize_t n;
	int fd;

	*size = 0;
	fd = openat(recfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (strncmp(buf, "r2fs-journal 1\n", 15))
		return false;
	for (line = buf + 15; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strncmp(line, "path ", 5)) {
			size_t len = strlen(line + 5);

			free(path);
			path = malloc(len / 2 + 1);
			if (!path || util_hex_decode(line + 5, len, path)) {
				free(path);
				return false;
			}
			path[len / 2] = '\0';
		} else if (!strncmp(line, "size ", 5)) {
			*size = strtoull(line + 5, NULL, 10);
		} else if (!strcmp(line, "end")) {
			end = true;
		}
	}
	if (!end || !path) {
		free(path);
		return false;
	}
	if (print)
		printf("  %12llu  %s\n", (unsigned long long)*size, path);
	free(path);
	return true;
}

/* Count (and print, when print) what the journal's rec/ holds. */
static int journal_pending(const char *journal_dir, bool print,
			   struct pending_sum *sum)
{
	char rec[PATH_MAX];
	struct dirent *d;
	uint64_t size;
	size_t len;
	DIR *dir;
	int fd;

	memset(sum, 0, sizeof(*sum));
	snprintf(rec, sizeof(rec), "%s/rec", journal_dir);
	fd = open(rec, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((d = readdir(dir)) != NULL) {
		len = strlen(d->d_name);
		if (len > 4 && !strcmp(d->d_name + len - 4, ".ren")) {
			sum->renames++;
			continue;
		}
		if (len <= 4 || strcmp(d->d_name + len - 4, ".rec"))
			continue;
		if (print_record(dirfd(dir), d->d_name, print, &size)) {
			sum->files++;
			sum->bytes += size;
		} else {
			sum->unreadable++;
			if (print)
				printf("  %12s  (record %s cannot be read)\n",
				       "?", d->d_name);
		}
	}
	closedir(dir);
	return 0;
}

/* "bucket b:/prefix at ENDPOINT" from the journal's lock file. */
static void journal_owner(const char *journal_dir, char *out, size_t len)
{
	char path[PATH_MAX], text[2048], *sp1, *sp2, *nl;
	ssize_t n;
	int fd;

	snprintf(out, len, "(unknown bucket)");
	snprintf(path, sizeof(path), "%s/lock", journal_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	/* "ENDPOINT BUCKET PREFIX", the prefix ending in '/' or empty */
	sp1 = strchr(text, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp2)
		return;
	*sp1 = *sp2 = '\0';
	n = (ssize_t)strlen(sp2 + 1);
	if (n > 0 && sp2[n] == '/')
		sp2[n] = '\0';
	snprintf(out, len, "bucket %s%s%s at %s", sp1 + 1,
		 sp2[1] ? ":/" : "", sp2 + 1, text);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_paths(char **v, size_t n)
{
	while (n)
		free(v[--n]);
	free(v);
}

/* The journals in cache_dir, resolved: a malloc'd array of malloc'd
 * paths in *out, sorted, and their count; or -errno. */
static int list_journals(const char *cache_dir, char ***out)
{
	char real[PATH_MAX], **v = NULL, **grown;
	struct dirent *d;
	size_t n = 0;
	int rc = 0;
	DIR *dir;

	*out = NULL;
	if (!realpath(cache_dir, real))
		return -errno;
	dir = opendir(real);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		size_t len = strlen(real) + strlen(d->d_name) + 2;

		if (strncmp(d->d_name, "journal-", 8))
			continue;
		grown = realloc(v, (n + 1) * sizeof(*v));
		if (grown)
			v = grown;
		if (grown)
			v[n] = malloc(len);
		if (!grown || !v[n]) {
			rc = -ENOMEM;
			break;
		}
		snprintf(v[n++], len, "%s/%s", real, d->d_name);
	}
	closedir(dir);
	if (rc) {
		free_paths(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_path);
	*out = v;
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* r2fs pending */

static void print_sum(const struct pending_sum *sum)
{
	char size[32];

	admin_size_text(sum->bytes, size, sizeof(size));
	if (sum->files || !sum->unreadable)
		printf("  %zu file%s (%s) waiting for upload\n", sum->files,
		       sum->files == 1 ? "" : "s", size);
	if (sum->unreadable)
		printf("  %zu record%s that cannot be read (the mount's log "
		       "names them)\n", sum->unreadable,
		       sum->unreadable == 1 ? "" : "s");
	if (sum->renames)
		printf("  %zu directory rename%s to finish at the next "
		       "mount\n", sum->renames, sum->renames == 1 ? "" : "s");
}

static int pending_in(const char *cache_dir)
{
	struct daemon_ref r;
	struct pending_sum sum;
	char **journals, owner[1200];
	int i, n;

	n = list_journals(cache_dir, &journals);
	if (n < 0) {
		fprintf(stderr, "r2fs pending: %s: %s\n", cache_dir,
			strerror(-n));
		return 1;
	}
	if (n == 0)
		printf("%s: no journal\n", cache_dir);
	for (i = 0; i < n; i++) {
		journal_daemon(journals[i], &r);
		journal_owner(journals[i], owner, sizeof(owner));
		if (r.pid)
			printf("%s: %s (mounted at %s, pid %ld)\n",
			       journals[i], owner, r.mountpoint, (long)r.pid);
		else
			printf("%s: %s (not mounted)\n", journals[i], owner);
		if (journal_pending(journals[i], true, &sum) < 0)
			printf("  (its records cannot be read: %s)\n",
			       strerror(errno));
		else
			print_sum(&sum);
	}
	free_paths(journals, (size_t)n);
	return 0;
}

int admin_pending(int argc, char *argv[])
{
	char dflt[PATH_MAX];
	int i, rc = parse_args("pending", &argc, argv);

	if (rc >= 0)
		return rc;
	rc = 0;
	if (argc == 0) {
		if (!conf_default_cache_dir(dflt, sizeof(dflt))) {
			fprintf(stderr, "r2fs pending: give CACHE_DIR\n");
			return ADMIN_EXIT_USAGE;
		}
		return pending_in(dflt);
	}
	for (i = 0; i < argc; i++)
		rc |= pending_in(argv[i]);
	return rc;
}

/* ------------------------------------------------------------------ */
/* r2fs wait */

#define WAIT_MAX 64 /* daemons one argument can name */

/* path made absolute as libfuse makes a mount point: resolved, or, when
 * the mount point itself cannot be reached (a dead mount), its parent
 * resolved and its name appended. */
static int resolve_mountpoint(const char *path, char *out, size_t len)
{
	char *copy, *slash, parent[PATH_MAX];
	const char *name;
	int n;

	if (realpath(path, parent)) {
		n = snprintf(out, len, "%s", parent);
		return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
	}
	if (errno != ENOTCONN)
		return -errno;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	while (slash && slash > copy && !slash[1]) {
		*slash = '\0'; /* "mnt/" */
		slash = strrchr(copy, '/');
	}
	name = slash ? slash + 1 : copy;
	n = 0;
	if (slash == copy) {
		snprintf(parent, sizeof(parent), "/");
	} else if (slash) {
		*slash = '\0';
		if (!realpath(copy, parent))
			n = -1;
	} else if (!getcwd(parent, sizeof(parent))) {
		n = -1;
	}
	if (n < 0) {
		n = -errno;
		free(copy);
		return n;
	}
	n = snprintf(out, len, "%s%s%s", parent,
		     strcmp(parent, "/") ? "/" : "", name);
	free(copy);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The journal a process's open file got names, if it is one's lock:
 * its directory into jdir. */
static bool lock_of_journal(const char *got, char *jdir, size_t len)
{
	const char *slash, *base;
	size_t n = strlen(got);

	if (n < 6 || strcmp(got + n - 5, "/lock"))
		return false;
	n -= 5;
	slash = memrchr(got, '/', n);
	base = slash ? slash + 1 : got;
	if (strncmp(base, "journal-", 8) || n >= len)
		return false;
	memcpy(jdir, got, n);
	jdir[n] = '\0';
	return true;
}

/* The running daemons whose mount point is mp, found among every process
 * we may look at: those holding a journal's lock. */
static size_t daemons_of_mountpoint(const char *mp, struct daemon_ref *out,
				    size_t max)
{
	char fddir[64], link[PATH_MAX + 32], got[PATH_MAX], jdir[PATH_MAX];
	struct dirent *p, *d;
	DIR *proc, *fds;
	size_t n = 0;
	ssize_t len;
	char *end;
	long pid;

	proc = opendir("/proc");
	if (!proc)
		return 0;
	while (n < max && (p = readdir(proc)) != NULL) {
		pid = strtol(p->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(fddir, sizeof(fddir), "/proc/%ld/fd", pid);
		fds = opendir(fddir);
		if (!fds)
			continue;
		while ((d = readdir(fds)) != NULL) {
			snprintf(link, sizeof(link), "%s/%s", fddir, d->d_name);
			len = readlink(link, got, sizeof(got) - 1);
			if (len <= 0)
				continue;
			got[len] = '\0';
			if (!lock_of_journal(got, jdir, sizeof(jdir)))
				continue;
			journal_daemon(jdir, &out[n]);
			if (out[n].pid == (pid_t)pid &&
			    !strcmp(out[n].mountpoint, mp)) {
				n++;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return n;
}

/* Block until r's daemon has exited; on a terminal, say what it still
 * has to upload every few seconds. */
static void wait_daemon(const struct daemon_ref *r)
{
	struct pending_sum sum;
	bool tty = isatty(STDERR_FILENO);
	char size[32];
	int fd, rc;

	fd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	if (fd < 0 && errno == ESRCH)
		return;
	/* the pid may have been reused since it was read: only a process
	 * holding the journal is ours */
	if (!holds_journal(r->pid, r->journal)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (;;) {
		if (tty && journal_pending(r->journal, false, &sum) == 0) {
			admin_size_text(sum.bytes, size, sizeof(size));
			fprintf(stderr, "r2fs wait: r2fs (pid %ld) of %s: %zu "
				"file%s (%s) left to upload\n", (long)r->pid,
				r->mountpoint, sum.files,
				sum.files == 1 ? "" : "s", size);
		}
		if (fd >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			rc = poll(&pf, 1, 5000);
			if (rc > 0)
				break;
		} else {
			/* no pidfd (Linux before 5.3): look every 100 ms */
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			int i;

			for (i = 0; i < 50 && holds_journal(r->pid, r->journal);
			     i++)
				nanosleep(&ts, NULL);
			if (!holds_journal(r->pid, r->journal))
				break;
		}
	}
	if (fd >= 0)
		close(fd);
}

static int wait_for(const char *arg)
{
	struct daemon_ref *r = calloc(WAIT_MAX, sizeof(*r));
	char mp[PATH_MAX], **journals = NULL;
	size_t n = 0, i;
	struct stat st;
	int rc, nj = 0;

	if (!r)
		return 1;
	rc = resolve_mountpoint(arg, mp, sizeof(mp));
	if (rc) {
		fprintf(stderr, "r2fs wait: %s: %s\n", arg, strerror(-rc));
		free(r);
		return 1;
	}
	n = daemons_of_mountpoint(mp, r, WAIT_MAX);
	if (n == 0 && stat(mp, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* not a mount point of a running daemon: a cache directory? */
		nj = list_journals(mp, &journals);
		for (i = 0; nj > 0 && i < (size_t)nj && n < WAIT_MAX; i++) {
			journal_daemon(journals[i], &r[n]);
			if (r[n].pid)
				n++;
		}
		if (nj > 0)
			free_paths(journals, (size_t)nj);
	}
	for (i = 0; i < n; i++)
		wait_daemon(&r[i]);
	free(r);
	return 0;
}

int admin_wait(int argc, char *argv[])
{
	int i, rc = parse_args("wait", &argc, argv);

	if (rc >= 0)
		return rc;
	if (argc == 0) {
		fprintf(stderr, "r2fs wait: which mount point or cache "
			"directory?\n%s", usage_of("wait"));
		return ADMIN_EXIT_USAGE;
	}
	rc = 0;
	for (i = 0; i < argc; i++)
		rc |= wait_for(argv[i]);
	return rc;
}
