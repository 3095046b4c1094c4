/*
 * main.c - r2fs: options, mount-time checks, daemon, orderly teardown.
 *
 * Startup checks everything that can fail before the mount exists, the
 * cheap local things first: options, the mount point, credentials, one
 * request to the bucket (bounded by -o mount_timeout), then the journal
 * in the cache directory and FUSE's options.  Each failure prints one
 * sentence and exits non-zero with nothing mounted, and a journal this
 * attempt created and left empty is removed again.  Teardown runs in
 * reverse order: after the unmount the daemon stays until the uploads
 * are done (or -o drain_timeout has passed), logging what it waits for,
 * and exits 0 when it was unmounted (or, on SIGTERM, when nothing was
 * left behind, or the drain_timeout left the rest in the journal).
 *
 * For supervisors: with $NOTIFY_SOCKET the daemon says READY=1 once the
 * mount answers and STOPPING=1 as it unmounts; a daemonized parent exits
 * 0 only once the mount answers.
 *
 * The other commands (sync, stats, wait, pending) are admin.c's.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "conf.h"
#include "creds.h"
#include "fs.h"
#include "fuse_ops.h"
#include "http.h"
#include "log.h"
#include "memlimit.h"
#include "metrics.h"
#include "mountpoint.h"
#include "notify.h"
#include "s3.h"
#include "xml.h"

#define R2_OPT(t, member) { t, offsetof(struct r2fs_conf, member), 0 }
#define R2FS_KEY_RO 1
#define DRAIN_REPORT_S 5 /* seconds between "waiting for N files" lines */
#define READY_TIMEOUT_S 30 /* for the new mount to answer a stat() */
#define FUSE_MAGIC 0x65735546 /* statfs f_type of a FUSE mount */

static const struct fuse_opt r2fs_opts[] = {
	R2_OPT("endpoint=%s", endpoint),
	R2_OPT("account_id=%s", account_id),
	R2_OPT("jurisdiction=%s", jurisdiction),
	R2_OPT("region=%s", region),
	R2_OPT("profile=%s", profile),
	R2_OPT("passwd_file=%s", passwd_file),
	R2_OPT("ca_file=%s", ca_file),
	R2_OPT("ca_path=%s", ca_path),
	R2_OPT("checksum=%s", checksum),
	R2_OPT("key_write_interval=%lf", key_write_interval),
	R2_OPT("cache_dir=%s", cache_dir),
	R2_OPT("uid=%u", uid),
	R2_OPT("gid=%u", gid),
	R2_OPT("umask=%o", umask),
	R2_OPT("stat_timeout=%lf", stat_timeout),
	R2_OPT("dir_timeout=%lf", dir_timeout),
	R2_OPT("retries=%u", retries),
	R2_OPT("connect_timeout=%u", connect_timeout),
	R2_OPT("mount_timeout=%u", mount_timeout),
	R2_OPT("http_handles=%u", http_handles),
	R2_OPT("writeback_delay=%lf", writeback_delay),
	R2_OPT("upload_workers=%u", upload_workers),
	R2_OPT("multipart_threshold=%u", multipart_threshold_mb),
	R2_OPT("readahead_max=%u", readahead_max_mb),
	R2_OPT("max_inodes=%u", max_inodes),
	R2_OPT("cache_min_free=%u", cache_min_free_mb),
	R2_OPT("read_cache_size=%u", read_cache_size_mb),
	R2_OPT("log_file=%s", log_file),
	R2_OPT("log_level=%s", log_level),
	R2_OPT("drain_timeout=%u", drain_timeout),
	R2_OPT("metrics=%s", metrics),
	{ "sync_upload", offsetof(struct r2fs_conf, sync_upload), 1 },
	{ "no_dir_index", offsetof(struct r2fs_conf, no_dir_index), 1 },
	/* libfuse 3 dropped it (it mounts anywhere): ours, never passed on */
	{ "nonempty", offsetof(struct r2fs_conf, nonempty), 1 },
	/* FUSE's own; noted, and passed on (opt_proc keeps it) */
	FUSE_OPT_KEY("ro", R2FS_KEY_RO),
	FUSE_OPT_END
};

/* fuse_opt hands one pointer to both the option offsets and opt_proc,
 * so the conf comes first. */
struct parse_state {
	struct r2fs_conf conf;
	int nonopts;
	char err[512];
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct parse_state *ps = data;

	(void)outargs;
	if (key == R2FS_KEY_RO)
		ps->conf.read_only = 1;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1; /* FUSE's own options, checked by libfuse */
	if (ps->nonopts++ == 0) {
		if (conf_set_bucket_arg(&ps->conf, arg, ps->err,
					sizeof(ps->err)))
			return -1;
		return 0;
	}
	return 1; /* the mount point, for fuse_parse_cmdline */
}

static void usage(const char *prog)
{
	printf("usage: %s BUCKET[:/PREFIX] MOUNTPOINT [options]\n", prog);
	printf("       %s sync [PATH...]   upload what is pending below PATH "
	       "now\n", prog);
	printf("       %s stats [PATH]     requests by R2 class, bytes, "
	       "pending uploads, cost\n", prog);
	printf("       %s wait MOUNTPOINT|CACHE_DIR  until the daemon has "
	       "exited\n", prog);
	printf("       %s pending [CACHE_DIR]  what the journals still hold "
	       "for upload\n\n", prog);
	printf(
"Mounts a Cloudflare R2 bucket (or any S3-compatible bucket) as a directory.\n"
"\n"
"r2fs options:\n"
"    -o account_id=ID       R2 account: endpoint https://ID.r2.cloudflarestorage.com\n"
"    -o jurisdiction=J      with account_id: eu, fedramp or us\n"
"    -o endpoint=URL        any S3-compatible endpoint, e.g. http://127.0.0.1:7480\n"
"    -o region=NAME         signing region (default: auto)\n"
"    -o passwd_file=FILE    credentials ACCESS_KEY:SECRET_KEY (file mode 0600)\n"
"    -o profile=NAME        profile in ~/.aws/credentials\n"
"                           (default: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,\n"
"                           then AWS_PROFILE or [default] in ~/.aws/credentials)\n"
"    -o ca_file=FILE        trust the CAs in this PEM file instead of the\n"
"                           system's (a private endpoint's own CA)\n"
"    -o ca_path=DIR         ... or those in this directory (c_rehash)\n"
"    -o checksum=crc32c     uploads carry Content-MD5 and x-amz-checksum-crc32c\n"
"                           (default); md5: Content-MD5 only\n"
"    -o key_write_interval=S  seconds between two writes of one object\n"
"                           (default 1: R2 refuses more; 0 for servers\n"
"                           without that limit)\n"
"    -o cache_dir=DIR       local staging directory (default: /var/cache/r2fs\n"
"                           for root, else ~/.cache/r2fs)\n"
"    -o uid=N,gid=N         owner of objects without metadata (default: you)\n"
"    -o umask=M             permissions of objects without metadata (default 022)\n"
"    -o ro                  read-only: nothing is written to the bucket\n"
"    -o nonempty            mount over a directory that has files in it\n"
"                           (refused by default: they would be hidden)\n"
"    -o stat_timeout=S      seconds attributes are trusted (default 3)\n"
"    -o dir_timeout=S       seconds a directory listing is trusted (default 3)\n"
"    -o retries=N           retries per request on 429/5xx/network errors (default 5)\n"
"    -o connect_timeout=S   connect timeout in seconds (default 10)\n"
"    -o mount_timeout=S     the mount-time check of endpoint, keys and bucket\n"
"                           gives up after S seconds in all (default 15)\n"
"    -o http_handles=N      parallel connections (default: what the\n"
"                           workers need, 216 with the defaults)\n"
"    -o writeback_delay=S   quiet period after a file's last change before\n"
"                           its upload (default 1; changes meanwhile fold\n"
"                           into the same PUT)\n"
"    -o upload_workers=N    parallel uploads (default 16)\n"
"    -o multipart_threshold=MIB  files larger than this go up in parts\n"
"                           (default 64)\n"
"    -o readahead_max=MIB   memory for reading ahead, all files together\n"
"                           (default 128)\n"
"    -o max_inodes=N        files and directories kept in memory; beyond,\n"
"                           the kernel is asked to drop the least recently\n"
"                           used (default 100000, about 80 MB)\n"
"    -o sync_upload         close() waits for the upload and returns its error\n"
"    -o no_dir_index        do not keep the metadata of big directories in\n"
"                           the bucket (.r2fs-index/), so every mount's first\n"
"                           \"ls -l\" there makes a HEAD per file\n"
"    -o cache_min_free=MIB  free space kept on the cache disk: writes wait for\n"
"                           uploads, then fail with ENOSPC (default: 5%% of the\n"
"                           disk, at most 1024)\n"
"    -o read_cache_size=MIB data read kept on the cache disk, across mounts\n"
"                           (default: 10%% of its free space, at most 10240;\n"
"                           0: off)\n"
"    -o log_file=PATH       log to PATH (default: stderr with -f, else syslog,\n"
"                           else CACHE_DIR/r2fs.log when there is no /dev/log)\n"
"    -o log_level=LEVEL     error, warn, info or debug (default info; debug\n"
"                           with -d, which adds a line per HTTP request)\n"
"    -o drain_timeout=S     after an unmount or SIGTERM, upload for at most\n"
"                           S seconds, then exit 0 leaving the rest in the\n"
"                           journal for the next mount (default 0: no bound)\n"
"    -o metrics=ADDR        serve the counters of r2fs stats to Prometheus\n"
"                           (GET /metrics) at ADDR: an absolute Unix socket\n"
"                           path, or 127.0.0.1:PORT, localhost:PORT,\n"
"                           [::1]:PORT (never another address)\n"
"\n"
"Under systemd (Type=notify) r2fs says READY=1 once the mount answers; in\n"
"the background, the command exits 0 only then.  MOUNTPOINT may be\n"
"/dev/fd/N: a /dev/fuse descriptor a privileged helper opened and mounted.\n"
"\n"
"Credentials are never accepted on the command line.\n"
"\n");
}

/*
 * Each file waiting for upload keeps its journal data file open, so the
 * usual soft limit of 1024 descriptors would fail a cp -r of a few
 * thousand files with EMFILE (and a replay of that many): take what the
 * hard limit allows, as a daemon that needs many descriptors should.
 */
static void raise_fd_limit(void)
{
	const rlim_t most = 1 << 20; /* fs.nr_open's usual value */
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > most
		       ? most : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* *path made absolute against the current directory (the daemon changes
 * to /); 0 or -errno. */
static int make_absolute(char **path)
{
	char cwd[PATH_MAX], *abs;
	size_t len;

	if ((*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	len = strlen(cwd) + strlen(*path) + 2;
	abs = malloc(len);
	if (!abs)
		return -ENOMEM;
	snprintf(abs, len, "%s/%s", cwd, *path);
	free(*path);
	*path = abs;
	return 0;
}

/*
 * Where messages go: -o log_file; else stderr in the foreground; else
 * syslog, or, on a host without /dev/log (a container), the file
 * r2fs.log in the cache directory, created at the first message.  0, or
 * -errno with a sentence in err.
 */
static int setup_logging(struct r2fs_conf *conf, bool foreground,
			 bool debug, char *err, size_t errlen)
{
	enum log_level level = debug ? LOG_LVL_DEBUG : LOG_LVL_INFO;
	char path[PATH_MAX];
	int rc;

	if (conf->log_level)
		log_level_parse(conf->log_level, &level); /* conf_finish
							     checked it */
	if (conf->log_file) {
		rc = make_absolute(&conf->log_file);
		if (!rc)
			rc = log_setup_file(level, conf->log_file, true,
					    "r2fs");
		if (rc)
			snprintf(err, errlen, "cannot open the log file %s: "
				 "%s", conf->log_file, strerror(-rc));
		return rc;
	}
	if (foreground || log_syslog_available()) {
		log_setup(level, !foreground, "r2fs");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/r2fs.log", conf->cache_dir);
	return log_setup_file(level, path, false, "r2fs");
}

/* Append s to *p (room checked by the caller), a backslash before each
 * comma and backslash: fuse_opt splits options at commas. */
static void add_escaped(char **p, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == ',' || s[i] == '\\')
			*(*p)++ = '\\';
		*(*p)++ = s[i];
	}
}

/* -ofsname=BUCKET[:/PREFIX]: the mount's source in df, findmnt and
 * /proc/mounts, as s3fs shows it.  The type stays fuse.r2fs (subtype),
 * which r2fs sync and stats look for. */
static int add_fsname(struct fuse_args *args, const struct r2fs_conf *conf)
{
	size_t blen = strlen(conf->bucket), plen = strlen(conf->prefix);
	char *opt = malloc(2 * (blen + plen) + 16), *p = opt;
	int rc;

	if (!opt)
		return -1;
	memcpy(p, "-ofsname=", 9);
	p += 9;
	add_escaped(&p, conf->bucket, blen);
	if (plen) {
		*p++ = ':';
		*p++ = '/';
		add_escaped(&p, conf->prefix, plen - 1); /* without the '/' */
	}
	*p = '\0';
	rc = fuse_opt_add_arg(args, opt);
	free(opt);
	return rc;
}

/*
 * A failed mount leaves nothing behind: the journal made for it is
 * removed again when it holds nothing (its lock file, empty data/, rec/
 * and rcache/, the read cache's).  A journal with files or metadata in it is left alone, and so
 * is one another mount has locked meanwhile.
 */
static void remove_empty_journal(const char *dir)
{
	/* rcache: the read cache's directory, made at fs_new when the
	 * read cache is on (there may be none) */
	static const char *const parts[] = { "data", "rec", "rcache" };
	char path[PATH_MAX];
	struct dirent *d;
	size_t i;
	int fd = -1;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out;
	dp = opendir(dir);
	if (!dp)
		goto out;
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") &&
		    strcmp(d->d_name, "lock") && strcmp(d->d_name, "data") &&
		    strcmp(d->d_name, "rec") && strcmp(d->d_name, "rcache"))
			break;
	}
	closedir(dp);
	if (d)
		goto out; /* something else is kept there */
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, parts[i]);
		dp = opendir(path);
		if (!dp && errno == ENOENT)
			continue; /* not made yet */
		if (!dp)
			goto out;
		while ((d = readdir(dp)) != NULL)
			if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
				break;
		closedir(dp);
		if (d)
			goto out;
	}
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, parts[i]);
		rmdir(path);
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	unlink(path);
	rmdir(dir);
out:
	if (fd >= 0)
		close(fd);
}

/*
 * Background mode without fuse_daemonize: its parent exits 0 as soon as
 * the child has forked, whatever happens next.  Ours waits on a pipe
 * until the child's mount has answered (the ready check below writes one
 * byte) and exits 0 then, or 1 when the child closed the pipe by exiting
 * first, so "r2fs BUCKET DIR && use DIR" is safe in scripts.  The child
 * gets the pipe's end in *ready_fd.  0 in the child, or -errno.
 */
static int daemonize(int *ready_fd)
{
	int p[2], nullfd, rc;
	ssize_t n;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0);
		fprintf(stderr, "r2fs: the daemon stopped before its mount "
			"answered (its log says why)\n");
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0) {
		rc = -errno;
		close(p[1]);
		return rc;
	}
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd >= 0) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(nullfd, STDERR_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	*ready_fd = p[1];
	return 0;
}

/*
 * Ready means the mount answers: a thread asks the mount point (statfs)
 * while the session loop serves it, and only when the answer comes from
 * our mount (FUSE, and type fuse.r2fs at that path in mountinfo) does it
 * tell the service manager (READY=1) and the waiting parent.  A mount from a
 * passed descriptor (/dev/fd/N) has no path here to stat: it was mounted
 * before r2fs started, so the kernel queues requests until the loop
 * reads them, and it is ready when the loop starts.  If the mount does
 * not answer within READY_TIMEOUT_S, the daemon stops (SIGTERM to
 * itself, the way libfuse's handlers end the loop) and exits 1: a mount
 * that is there but does not work is worse than none.
 */
struct ready {
	pthread_t thread;
	bool running;
	const char *mountpoint; /* NULL: a /dev/fd/N mount */
	const char *what;       /* "BUCKET at MOUNTPOINT" */
	const struct notify *notify;
	int fd;      /* daemonize()'s pipe, or -1 */
	bool stop;   /* atomic: teardown began, give up quietly */
	bool failed; /* read after the join */
};

/*
 * 1: the mount at path answers as r2fs; 0: not (yet); -errno.  statfs()
 * rather than stat(): it is always a request to the daemon, so an answer
 * means the loop serves the mount, and it leaves no root attributes in
 * the kernel's cache (a stat() would, for stat_timeout, so that even a
 * daemon killed right after could seem alive to the next stat()).
 */
static int mount_answers(const char *path)
{
	struct mount_entry *m;
	struct statfs sf;
	int rc;

	if (statfs(path, &sf) < 0)
		return errno == ENOTCONN ? 0 : -errno;
	if ((unsigned long)sf.f_type != FUSE_MAGIC)
		return 0; /* still the directory underneath */
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = mountpoint_at(path, m) == 0 && !strcmp(m->type, "fuse.r2fs");
	free(m);
	return rc;
}

static void *ready_thread(void *arg)
{
	struct ready *r = arg;
	struct timespec start, now, pause = { 0, 10 * 1000 * 1000 };
	int rc = 1;
	char c = 'R';

	/* an error (EIO from a request the loop is not serving yet, a
	 * namespace still settling) is retried until the time is up */
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (r->mountpoint) {
		rc = mount_answers(r->mountpoint);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (rc > 0 || now.tv_sec - start.tv_sec >= READY_TIMEOUT_S ||
		    __atomic_load_n(&r->stop, __ATOMIC_RELAXED))
			break;
		nanosleep(&pause, NULL);
	}
	if (rc <= 0 && __atomic_load_n(&r->stop, __ATOMIC_RELAXED))
		return NULL; /* stopped (unmounted) before it answered */
	if (rc <= 0) {
		log_err("the mount at %s does not answer within %d s%s%s: "
			"stopping", r->mountpoint, READY_TIMEOUT_S,
			rc ? ": " : "", rc ? strerror(-rc) : "");
		r->failed = true;
		kill(getpid(), SIGTERM);
		return NULL;
	}
	notify_sendf(r->notify, "READY=1\nSTATUS=mounted %s", r->what);
	if (r->fd >= 0) {
		if (write(r->fd, &c, 1) < 0)
			log_warn("cannot tell the parent process that the "
				 "mount is ready: %s", strerror(errno));
		close(r->fd);
		r->fd = -1;
	}
	return NULL;
}

static void ready_start(struct ready *r)
{
	r->running = !pthread_create(&r->thread, NULL, ready_thread, r);
	if (!r->running) {
		log_err("cannot start the readiness check");
		r->failed = true;
	}
}

/* After the unmount: a stat() still waiting on the mount has returned. */
static void ready_stop(struct ready *r)
{
	__atomic_store_n(&r->stop, true, __ATOMIC_RELAXED);
	if (r->running)
		pthread_join(r->thread, NULL);
	r->running = false;
	if (r->fd >= 0)
		close(r->fd); /* never ready: the parent exits 1 */
	r->fd = -1;
}

/* Files and bytes waiting for upload, from the mount's counters. */
static void pending_now(struct fs *fs, uint64_t *files, uint64_t *bytes)
{
	char text[4096], *line;
	unsigned long long v;

	*files = *bytes = 0;
	if (fs_stats_text(fs, text, sizeof(text)) < 0)
		return;
	for (line = text; line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (sscanf(line, "pending_files %llu", &v) == 1)
			*files = v;
		else if (sscanf(line, "pending_bytes %llu", &v) == 1)
			*bytes = v;
	}
}

static void log_waiting(struct fs *fs, const char *prefix)
{
	uint64_t files, bytes;
	char size[32];

	pending_now(fs, &files, &bytes);
	admin_size_text(bytes, size, sizeof(size));
	log_info("%swaiting for %llu file%s (%s) to reach the bucket", prefix,
		 (unsigned long long)files, files == 1 ? "" : "s", size);
}

/*
 * After the unmount the daemon finishes the uploads (fs_shutdown), which
 * may take long; nothing else would tell the user why it is still there.
 * A thread logs what is left every few seconds until stopped (and says
 * it to the service manager as STATUS).
 *
 * -o drain_timeout bounds that wait, for supervisors that kill after a
 * grace period (systemd's TimeoutStopSec, Kubernetes'
 * terminationGracePeriodSeconds): when it expires the same thread logs
 * what is left and ends the process with _exit(0) in the middle of the
 * uploads.  That is safe by the journal's design: every closed file is
 * in it, fsync'ed, and a process killed at any point (SIGKILL included)
 * leaves a journal the next mount replays and uploads; an upload cut
 * short is simply made again.  Exiting is the only bound that holds
 * whatever the uploads are doing (a stalled request, a big multipart
 * upload), and it is what the supervisor's SIGKILL would do a little
 * later, but with the log line and the pid file removed.
 */
struct drain_report {
	struct fs *fs;
	const struct notify *notify;
	unsigned timeout;    /* seconds, 0: no bound */
	const char *journal; /* its pid file goes at the deadline */
	bool pidfile;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* protected by lock */
	bool running;
};

/* The drain_timeout has passed: what is left stays in the journal.
 * Returns only when nothing is left (the shutdown is then finishing). */
static void drain_expired(struct drain_report *d)
{
	uint64_t files, bytes;
	char size[32];

	pending_now(d->fs, &files, &bytes);
	if (!files)
		return;
	admin_size_text(bytes, size, sizeof(size));
	log_warn("drain_timeout (%u s) reached: %llu file%s (%s) stay in the "
		 "journal %s and go up at the next mount; exiting",
		 d->timeout, (unsigned long long)files, files == 1 ? "" : "s",
		 size, d->journal);
	notify_sendf(d->notify, "STATUS=drain_timeout reached: %llu files "
		     "left in the journal", (unsigned long long)files);
	if (d->pidfile)
		admin_pidfile_remove(d->journal);
	_exit(0);
}

static void *drain_report_thread(void *arg)
{
	struct drain_report *d = arg;
	struct timespec until, deadline;
	uint64_t files, bytes;
	bool expired = false;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += d->timeout;
	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += DRAIN_REPORT_S;
		if (d->timeout && (until.tv_sec > deadline.tv_sec ||
				   (until.tv_sec == deadline.tv_sec &&
				    until.tv_nsec > deadline.tv_nsec)))
			until = deadline;
		while (!d->stop &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &until) !=
			       ETIMEDOUT)
			;
		if (d->stop)
			break;
		expired = d->timeout && until.tv_sec == deadline.tv_sec &&
			  until.tv_nsec == deadline.tv_nsec;
		if (expired)
			break;
		log_waiting(d->fs, "still ");
		pending_now(d->fs, &files, &bytes);
		notify_sendf(d->notify, "STATUS=unmounted; uploading %llu "
			     "files", (unsigned long long)files);
	}
	pthread_mutex_unlock(&d->lock);
	if (expired)
		drain_expired(d); /* returns only when nothing is left */
	return NULL;
}

static void drain_report_start(struct drain_report *d)
{
	pthread_condattr_t ca;

	d->stop = false;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->running = !pthread_create(&d->thread, NULL, drain_report_thread, d);
}

static void drain_report_stop(struct drain_report *d)
{
	if (!d->running)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	d->running = false;
}

/* Unmounted: upload what is pending (the daemon stays until that is
 * done, so "wait for the pid" means "in the bucket"), saying so, for at
 * most d->timeout seconds.  The number of files left in the journal for
 * the next mount. */
static uint64_t finish_uploads(struct drain_report *d,
			       const char *mountpoint)
{
	uint64_t files, bytes;

	pending_now(d->fs, &files, &bytes);
	if (files) {
		log_waiting(d->fs, "unmounted; ");
		notify_sendf(d->notify, "STATUS=unmounted; uploading %llu "
			     "files", (unsigned long long)files);
		drain_report_start(d);
	}
	fs_shutdown(d->fs);
	drain_report_stop(d);
	pending_now(d->fs, &files, &bytes);
	log_info("unmounted %s%s", mountpoint,
		 files ? "" : "; everything is in the bucket");
	return files;
}

/*
 * In a container the cgroup's memory limit kills the daemon, uploads and
 * all, when it is exceeded: read it once at start and, when the options'
 * memory (read-ahead, upload streams, inodes) would not fit in half of it,
 * scale them down, saying so once.  The limit, or 0 for none.
 */
static uint64_t fit_memory(struct r2fs_conf *conf)
{
	unsigned ra = conf->readahead_max_mb, w = conf->upload_workers;
	unsigned in = conf->max_inodes;
	char text[4096] = "", size[32];
	uint64_t limit;
	ssize_t n;
	int fd;

	fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (memlimit_read("/sys/fs/cgroup", text, &limit) ||
	    limit == MEMLIMIT_NONE)
		return 0;
	if (memlimit_fit(limit, &ra, &w, &in)) {
		admin_size_text(limit, size, sizeof(size));
		log_info("the cgroup's memory limit is %s: readahead_max %u -> "
			 "%u MiB, upload_workers %u -> %u, max_inodes %u -> %u",
			 size, conf->readahead_max_mb, ra, conf->upload_workers,
			 w, conf->max_inodes, in);
		conf->readahead_max_mb = ra;
		conf->upload_workers = w;
		conf->max_inodes = in;
	}
	return limit;
}

/* What -o metrics serves: the counters r2fs stats prints, and the memory
 * limit the mount was sized for. */
struct metrics_src {
	struct fs *fs;
	uint64_t memory_limit;
};

static int metrics_text(void *arg, char *buf, size_t len)
{
	struct metrics_src *src = arg;
	int n = fs_stats_text(src->fs, buf, len), m;

	if (n < 0)
		return n;
	m = snprintf(buf + n, len - (size_t)n, "memory_limit %llu\n",
		     (unsigned long long)src->memory_limit);
	return m < 0 || (size_t)m >= len - (size_t)n ? -ERANGE : n + m;
}

static int run(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fopts = { 0 };
	struct fuse_loop_config loop = { 0 };
	struct parse_state ps = { 0 };
	struct r2fs_conf *conf = &ps.conf;
	struct creds creds = { 0 };
	struct store *store = NULL;
	struct fuse_session *se = NULL;
	struct fuse_ops_evictor *evictor = NULL;
	struct fs *fs = NULL;
	struct metrics *metrics = NULL;
	struct metrics_src msrc = { 0 };
	struct notify notify = { .fd = -1 };
	struct ready ready = { .fd = -1 };
	struct drain_report drain;
	struct s3_opts so;
	char err[512] = "", journal[PATH_MAX] = "", what[PATH_MAX + 300];
	int rc = 1, mounted = 0, handlers = 0, started = 0, loop_rc = 0;
	int err_no;
	bool tried_mount = false, pidfile = false, signalled = false;

	conf_init(conf);
	if (fuse_opt_parse(&args, &ps, r2fs_opts, opt_proc) < 0) {
		if (ps.err[0])
			fprintf(stderr, "r2fs: %s\n", ps.err);
		goto out;
	}
	if (fuse_parse_cmdline(&args, &fopts) != 0)
		goto out;
	if (fopts.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		rc = 0;
		goto out;
	}
	if (fopts.show_version) {
		printf("r2fs %s\n", PACKAGE_VERSION);
		printf("FUSE library version %s\n", fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (fopts.mountpoint) {
		conf->mountpoint = fopts.mountpoint;
		fopts.mountpoint = NULL;
	}
	if (conf_finish(conf, err, sizeof(err)) ||
	    make_absolute(&conf->cache_dir) ||
	    setup_logging(conf, fopts.foreground, fopts.debug, err,
			  sizeof(err))) {
		fprintf(stderr, "r2fs: %s\n", err[0] ? err : strerror(ENOMEM));
		goto out;
	}
	conf->debug = fopts.debug;
	msrc.memory_limit = fit_memory(conf);
	rc = notify_open(&notify);
	if (rc)
		log_warn("NOTIFY_SOCKET names no socket r2fs can use (%s): "
			 "the service manager will not hear that the mount is "
			 "ready", strerror(-rc));
	rc = 1;
	if (mountpoint_check(conf->mountpoint, conf->nonempty, err,
			     sizeof(err))) {
		fprintf(stderr, "r2fs: %s\n", err);
		goto out;
	}

	raise_fd_limit();
	if (http_global_init()) {
		fprintf(stderr, "r2fs: cannot initialise libcurl\n");
		goto out;
	}
	xml_global_init();
	if (creds_load(conf->passwd_file, conf->profile, conf->bucket, &creds,
		       err, sizeof(err))) {
		fprintf(stderr, "r2fs: %s\n", err);
		goto out;
	}
	so = (struct s3_opts){
		.endpoint = conf->endpoint,
		.bucket = conf->bucket,
		.region = conf->region,
		.creds = &creds,
		.handles = conf->http_handles ? conf->http_handles
					      : fs_connections_wanted(conf),
		.retries = conf->retries,
		.connect_timeout_ms = (long)conf->connect_timeout * 1000,
		.verbose_http = 0,
		.ca_file = conf->ca_file,
		.ca_path = conf->ca_path,
		.md5_only = conf->checksum && !strcmp(conf->checksum, "md5"),
		.long_running = true,
		.key_write_interval = conf->key_write_interval,
		.passwd_file = conf->passwd_file,
		.profile = conf->profile,
	};
	store = s3_store_new(&so);
	creds_release(&creds); /* the store keeps its own copy */
	if (!store) {
		fprintf(stderr, "r2fs: out of memory\n");
		goto out;
	}
	if (s3_probe(store, conf->mount_timeout, err, sizeof(err))) {
		fprintf(stderr, "r2fs: %s\n", err);
		goto out;
	}
	rc = fs_new(conf, store, &fs, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "r2fs: %s\n", err);
		rc = 1;
		goto out;
	}
	rc = 1;
	snprintf(journal, sizeof(journal), "%s", fs_journal_dir(fs));
	/* bound before the fork, so that a taken port fails the mount */
	if (conf->metrics &&
	    metrics_open(conf->metrics, &metrics, err, sizeof(err))) {
		fprintf(stderr, "r2fs: %s\n", err);
		goto out;
	}
	/* Permissions are checked by the kernel against our attributes. */
	if (fuse_opt_add_arg(&args, "-odefault_permissions") ||
	    add_fsname(&args, conf) ||
	    fuse_opt_add_arg(&args, "-osubtype=r2fs"))
		goto out;
	se = fuse_session_new(&args, &r2fs_fuse_ops, sizeof(r2fs_fuse_ops),
			      fs);
	if (!se)
		goto out; /* libfuse printed which option it did not know */
	if (fuse_set_signal_handlers(se))
		goto out;
	handlers = 1;
	/* From here a failure is the kernel's or fusermount3's refusal: the
	 * journal stays (it was made and checked before the mount). */
	tried_mount = true;
	if (fuse_session_mount(se, conf->mountpoint))
		goto out;
	mounted = 1;
	snprintf(what, sizeof(what), "%s%s%.*s at %s", conf->bucket,
		 conf->prefix[0] ? ":/" : "",
		 (int)(conf->prefix[0] ? strlen(conf->prefix) - 1 : 0),
		 conf->prefix, conf->mountpoint);
	log_info("mounted %s", what);
	err_no = fopts.foreground ? (chdir("/") < 0 ? -errno : 0)
				  : daemonize(&ready.fd);
	if (err_no) {
		log_err("cannot start the daemon: %s", strerror(-err_no));
		goto out;
	}
	notify_sendf(&notify, "MAINPID=%ld", (long)getpid());
	if (admin_pidfile_write(journal, conf->mountpoint))
		log_warn("cannot write the pid file in %s", journal);
	else
		pidfile = true;
	if (fs_start(fs)) {
		log_err("cannot start the upload workers");
		goto out;
	}
	started = 1;
	msrc.fs = fs;
	if (metrics && metrics_start(metrics, metrics_text, &msrc))
		log_warn("cannot start the metrics thread: no metrics served");
	evictor = fuse_ops_evictor_start(se, fs);
	ready.mountpoint = strncmp(conf->mountpoint, "/dev/fd/", 8)
				   ? conf->mountpoint : NULL;
	ready.what = what;
	ready.notify = &notify;
	ready_start(&ready);
	if (fopts.singlethread) {
		loop_rc = fuse_session_loop(se);
	} else {
		loop.clone_fd = fopts.clone_fd;
		/* libfuse 3.14 reports "unset" as UINT_MAX and then warns
		 * about it: keep its own default instead */
		loop.max_idle_threads = fopts.max_idle_threads == UINT_MAX
						? 10
						: fopts.max_idle_threads;
		loop_rc = fuse_session_loop_mt(se, &loop);
	}
	/* 0: unmounted; a signal's number (libfuse's handler: SIGTERM,
	 * SIGINT, SIGHUP) or -EINTR: asked to stop; else a failure */
	signalled = loop_rc > 0 || loop_rc == -EINTR;
	if (signalled)
		log_info("asked to stop: unmounting %s", conf->mountpoint);
	rc = loop_rc && !signalled ? 1 : 0;
out:
	fuse_ops_evictor_stop(evictor);
	if (mounted) {
		notify_send(&notify, "STOPPING=1\nSTATUS=unmounting");
		fuse_session_unmount(se);
	}
	ready_stop(&ready);
	if (ready.failed)
		rc = 1;
	/* A plain unmount exits 0 even when files are left (they wait in
	 * the journal for the next mount); a stop by signal exits 0 only
	 * when nothing was left behind, or when the drain_timeout ended the
	 * uploads (then the process exits 0 in drain_expired: leaving the
	 * rest in the journal is what the option asks for, while files
	 * left because their uploads failed need someone's attention). */
	if (started) {
		drain = (struct drain_report){
			.fs = fs,
			.notify = &notify,
			.timeout = conf->drain_timeout,
			.journal = journal,
			.pidfile = pidfile,
		};
		if (finish_uploads(&drain, conf->mountpoint) && signalled)
			rc = 1;
	}
	metrics_free(metrics); /* served the drain's progress too */
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	fs_free(fs);
	if (rc && !tried_mount && journal[0])
		remove_empty_journal(journal);
	if (store)
		store->ops->destroy(store);
	creds_release(&creds);
	xml_global_cleanup();
	http_global_cleanup();
	if (pidfile)
		admin_pidfile_remove(journal);
	notify_close(&notify);
	free(fopts.mountpoint);
	fuse_opt_free_args(&args);
	conf_release(conf);
	return rc;
}

int main(int argc, char *argv[])
{
	if (argc >= 2 && !strcmp(argv[1], "stats"))
		return admin_stats(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "sync"))
		return admin_sync(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "wait"))
		return admin_wait(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "pending"))
		return admin_pending(argc - 2, argv + 2);
	return run(argc, argv);
}
