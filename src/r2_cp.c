/*
 * r2_cp.c - r2 cp: a local file up to BUCKET/KEY, or an object down to a
 * local file, as cp(1) would name them (a trailing '/' or a directory
 * keeps the source's name); cp -r is r2_cptree.c, on the same two
 * helpers, r2_put_file and r2_get_file.
 *
 * An upload is one PUT, or equal parts in parallel above the multipart
 * threshold, and carries r2fs's metadata (mode, uid, gid, mtime), so a
 * mount shows the file as it was here.  A download goes to a temporary
 * file next to the target, renamed over it only once complete: a failure
 * never leaves a partial file under the target's name; it gets the
 * object's mtime (r2fs's x-amz-meta-mtime, else Last-Modified), as r2fs
 * shows it.
 *
 * Progress is shown on stderr only when stderr is a terminal: the HTTP
 * layer reports body bytes to a counter (s3_opts.progress, installed by
 * r2_connect) and a thread redraws one line four times a second.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "meta.h"
#include "mime.h"
#include "multipart.h"
#include "r2_i.h"
#include "store.h"
#include "util.h"

#define R2_PARALLEL_PARTS 4

/* ------------------------------------------------------------------ */
/* Progress on a terminal */

struct progress {
	atomic_uint_fast64_t up, down;
	bool count_up;   /* which direction is the transfer */
	atomic_uint_fast64_t total;
	double start; /* util_now_mono() */
	bool running;
	bool stop; /* protected by lock */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct progress r2_progress = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* The HTTP layer's hook: any thread, so only atomics. */
void progress_count(void *arg, uint64_t up, uint64_t down)
{
	struct progress *p = arg;

	atomic_fetch_add(&p->up, up);
	atomic_fetch_add(&p->down, down);
}

void r2_size_text(double v, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB",
					    "TiB" };
	unsigned i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, len, "%.0f %s", v, unit[i]);
	else
		snprintf(out, len, "%.1f %s", v, unit[i]);
}

static void progress_draw(struct progress *p, bool last)
{
	uint64_t done = p->count_up ? atomic_load(&p->up)
				    : atomic_load(&p->down);
	uint64_t total = atomic_load(&p->total);
	double secs = util_now_mono() - p->start, rate, pct;
	char d[32], t[32], r[32], eta[32] = "";

	if (done > total)
		done = total; /* a resent body is counted twice */
	rate = secs > 0 ? (double)done / secs : 0;
	/* a download's size comes with its HEAD: 0% until then */
	pct = total ? 100.0 * (double)done / (double)total : last ? 100 : 0;
	r2_size_text((double)done, d, sizeof(d));
	r2_size_text((double)total, t, sizeof(t));
	r2_size_text(rate, r, sizeof(r));
	if (!last && rate > 0 && done < total) {
		double left = (double)(total - done) / rate;

		snprintf(eta, sizeof(eta), "  ETA %u:%02u:%02u",
			 (unsigned)(left / 3600),
			 (unsigned)((unsigned)left % 3600 / 60),
			 (unsigned)left % 60);
	} else if (last) {
		snprintf(eta, sizeof(eta), "  %.1f s", secs);
	}
	fprintf(stderr, "\r%s / %s  %3.0f%%  %s/s%s\033[K%s", d, t, pct, r,
		eta, last ? "\n" : "");
	fflush(stderr);
}

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec until;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &until);
		if (!p->stop)
			progress_draw(p, false);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Show progress of a transfer of total bytes, if stderr is a terminal. */
void progress_start(struct progress *p, bool up, uint64_t total)
{
	atomic_store(&p->up, 0);
	atomic_store(&p->down, 0);
	p->count_up = up;
	atomic_store(&p->total, total);
	p->stop = false;
	p->start = util_now_mono();
	if (!isatty(STDERR_FILENO))
		return;
	p->running = !pthread_create(&p->thread, NULL, progress_thread, p);
}

/* Stop the display; the last line stays if the transfer succeeded. */
void progress_end(struct progress *p, bool ok)
{
	if (!p->running)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->running = false;
	if (ok) {
		progress_draw(p, true);
	} else {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
}

/* ------------------------------------------------------------------ */
/* One file up or down */

bool maybe_remote(const char *arg)
{
	const char *slash;
	char bucket[64];
	size_t n;

	if (strip_scheme(arg) != arg)
		return true;
	if (arg[0] == '/' || arg[0] == '.' || arg[0] == '~')
		return false;
	slash = strchr(arg, '/');
	if (!slash)
		return false;
	n = (size_t)(slash - arg);
	if (n >= sizeof(bucket))
		return false;
	memcpy(bucket, arg, n);
	bucket[n] = '\0';
	return conf_bucket_name_ok(bucket);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int r2_put_file(struct r2 *r, const char *local, int fd,
		const struct stat *st, const char *key)
{
	struct store_put_opts po = { 0 };
	struct meta_headers mh;
	char etag[128];

	/* mode, uid, gid and mtime as r2fs stores them, so a mount shows
	 * the file as it was here */
	meta_to_headers(st, &mh);
	po.content_type = r->o->content_type ? r->o->content_type
					     : mime_type_for(local);
	po.meta = mh.kv;
	po.nmeta = mh.n;
	if ((uint64_t)st->st_size > MULTIPART_THRESHOLD_DEFAULT)
		return multipart_put_fd(r->store, key, fd,
					(uint64_t)st->st_size, &po,
					R2_PARALLEL_PARTS, etag);
	return r->store->ops->put_fd(r->store, key, fd, (uint64_t)st->st_size,
				     &po, etag);
}

/* The process's umask, read once (umask() can only be read by setting
 * it, which must not race with files being created). */
static mode_t umask_value;
static pthread_once_t umask_once = PTHREAD_ONCE_INIT;

static void read_umask(void)
{
	umask_value = umask(0);
	umask(umask_value);
}

int r2_get_file(struct r2 *r, const char *key, const char *target,
		struct progress *grow, uint64_t *size, char *msg,
		size_t msglen)
{
	struct meta_defaults d = { getuid(), getgid(), 022 };
	struct store_object obj = { 0 };
	struct timespec times[2];
	struct stat st;
	char *tmp = NULL;
	size_t len;
	int fd = -1, rc, keep_mode = -1;

	pthread_once(&umask_once, read_umask);
	*size = 0;
	if (stat(target, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			snprintf(msg, msglen, "'%s' exists and is not a "
				 "regular file", target);
			return R2_EXIT_FAIL;
		}
		keep_mode = (int)(st.st_mode & 07777);
	}
	rc = r->store->ops->head(r->store, key, &obj);
	if (rc)
		goto out;
	/* Download next to the target and rename: a failure never leaves
	 * a partial file under the target's name. */
	len = strlen(target) + 16;
	tmp = malloc(len);
	if (!tmp) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(tmp, len, "%s.r2-XXXXXX", target);
	if (grow)
		atomic_fetch_add(&grow->total, obj.size);
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot create a file next to '%s': %s",
			 target, strerror(errno));
		free(tmp);
		tmp = NULL;
		rc = R2_EXIT_FAIL;
		goto out;
	}
	/* pinned to the version the HEAD saw, whose mtime it gets */
	rc = r->store->ops->get_to_fd(r->store, key,
				      obj.etag[0] ? obj.etag : NULL, fd, size);
	if (rc)
		goto out;
	meta_attr_from_object(&d, &obj, S_IFREG, &st);
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_NOW;
	times[1] = st.st_mtim;
	if (fchmod(fd, keep_mode >= 0 ? (mode_t)keep_mode
				      : 0666 & ~umask_value) < 0 ||
	    futimens(fd, times) < 0 || fsync(fd) < 0) {
		snprintf(msg, msglen, "cannot write '%s': %s", target,
			 strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc < 0 || rename(tmp, target) < 0) {
		snprintf(msg, msglen, "cannot create '%s': %s", target,
			 strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	store_object_release(&obj);
	return rc;
}

/* -v's line: what moved, how much, how fast. */
void r2_summary(const char *verb, const char *what, uint64_t bytes,
		double start)
{
	char size[32];

	r2_size_text((double)bytes, size, sizeof(size));
	printf("%s %s: %s in %.1f s\n", verb, what, size,
	       util_now_mono() - start);
}

/* ------------------------------------------------------------------ */
/* cp of one file */

static int cp_upload(struct r2 *r, const char *local, const char *remote)
{
	struct r2_path p = { 0 };
	char what[1200], *key = NULL;
	struct stat st;
	double start = util_now_mono();
	int fd = -1, rc;

	rc = parse_remote(remote, false, &p);
	if (rc)
		return rc;
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		say("cannot open '%s': %s", local, strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		say("'%s' is not a regular file (r2 cp -r copies a "
		    "directory)", local);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	/* BUCKET/ or BUCKET/dir/: keep the file's name, as cp does. */
	if (!p.key[0] || p.key[strlen(p.key) - 1] == '/') {
		size_t len = strlen(p.key) + strlen(base_name(local)) + 1;

		key = malloc(len);
		if (key)
			snprintf(key, len, "%s%s", p.key, base_name(local));
	} else {
		key = strdup(p.key);
	}
	if (!key) {
		rc = R2_EXIT_FAIL;
		say("out of memory");
		goto out;
	}
	if (strlen(key) > R2_KEY_MAX) {
		say("the key '%.40s...' is longer than %d bytes", key,
		    R2_KEY_MAX);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	if ((uint64_t)st.st_size > MULTIPART_MAX_OBJECT) {
		say("'%s' is larger than R2's largest object (5 TiB - 5 GiB)",
		    local);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	snprintf(what, sizeof(what), "'%s' to '%s/%s'", local, p.bucket,
		 key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	progress_start(&r2_progress, true, (uint64_t)st.st_size);
	rc = r2_put_file(r, local, fd, &st, key);
	progress_end(&r2_progress, !rc);
	if (rc == -EFBIG) {
		say("uploading %s failed: the server says it is too large",
		    what);
		rc = R2_EXIT_FAIL;
	} else if (rc) {
		rc = remote_failure(r, rc, "uploading", what);
	} else if (r->o->verbose) {
		r2_summary("uploaded", what, (uint64_t)st.st_size, start);
	}
out:
	if (fd >= 0)
		close(fd);
	free(key);
	path_release(&p);
	return rc;
}

static int cp_download(struct r2 *r, const char *remote, const char *local)
{
	struct r2_path p = { 0 };
	char *target = NULL, what[PATH_MAX + 1200], msg[PATH_MAX + 128];
	double start = util_now_mono();
	struct stat st;
	uint64_t size = 0;
	size_t len;
	int rc;

	if (r->o->content_type) {
		say("--content-type is only for uploads and 'r2 presign put'");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(remote, true, &p);
	if (rc)
		return rc;
	if (p.key[strlen(p.key) - 1] == '/') {
		say("'%s' names a directory marker; r2 cp -r copies what is "
		    "below a prefix", remote);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	/* DIR or DIR/: the object's name inside it, as cp does. */
	len = strlen(local);
	if ((len && local[len - 1] == '/') ||
	    (stat(local, &st) == 0 && S_ISDIR(st.st_mode))) {
		len += strlen(base_name(p.key)) + 2;
		target = malloc(len);
		if (target)
			snprintf(target, len, "%s%s%s", local,
				 local[strlen(local) - 1] == '/' ? "" : "/",
				 base_name(p.key));
	} else {
		target = strdup(local);
	}
	if (!target) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
		say("'%s' exists and is not a regular file", target);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	snprintf(what, sizeof(what), "'%s/%s'", p.bucket, p.key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	/* the object's size comes with r2_get_file's HEAD */
	progress_start(&r2_progress, false, 0);
	rc = r2_get_file(r, p.key, target, &r2_progress, &size, msg,
			 sizeof(msg));
	progress_end(&r2_progress, rc == 0);
	if (rc > 0) {
		say("%s", msg);
	} else if (rc < 0) {
		rc = remote_failure(r, rc, "downloading", what);
	} else if (r->o->verbose) {
		snprintf(what, sizeof(what), "'%s/%s' to '%s'", p.bucket,
			 p.key, target);
		r2_summary("downloaded", what, size, start);
	}
out:
	free(target);
	path_release(&p);
	return rc;
}

int cmd_cp(struct r2 *r, int argc, char **argv)
{
	struct stat st;
	bool src_remote, dst_remote;

	if (argc != 2) {
		say("usage: r2 cp [-r] LOCAL BUCKET/KEY, or r2 cp [-r] "
		    "BUCKET/KEY LOCAL");
		return R2_EXIT_USAGE;
	}
	src_remote = maybe_remote(argv[0]);
	dst_remote = maybe_remote(argv[1]);
	/* Both could be either: an existing local source decides. */
	if (src_remote && dst_remote && strip_scheme(argv[0]) == argv[0] &&
	    stat(argv[0], &st) == 0)
		src_remote = false;
	if (src_remote && dst_remote && strip_scheme(argv[1]) == argv[1])
		dst_remote = false;
	if (src_remote == dst_remote) {
		if (src_remote)
			say("r2 cp copies between a local file and a "
			    "bucket, not between two buckets");
		else
			say("neither '%s' nor '%s' is BUCKET/KEY (write "
			    "BUCKET/ for a bucket's top level, or "
			    "s3://BUCKET/KEY)", argv[0], argv[1]);
		return R2_EXIT_USAGE;
	}
	if (r->o->recursive)
		return dst_remote ? cp_tree_up(r, argv[0], argv[1])
				  : cp_tree_down(r, argv[0], argv[1]);
	if (dst_remote)
		return cp_upload(r, argv[0], argv[1]);
	return cp_download(r, argv[0], argv[1]);
}
