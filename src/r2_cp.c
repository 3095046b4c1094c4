/*
 * r2_cp.c - r2 cp: a local file up to BUCKET/KEY, or an object down to a
 * local file, as cp(1) would name them (a trailing '/' or a directory
 * keeps the source's name).
 *
 * An upload is one PUT, or equal parts in parallel above the multipart
 * threshold, and carries r2fs's metadata (mode, uid, gid, mtime), so a
 * mount shows the file as it was here.  A download goes to a temporary
 * file next to the target, renamed over it only once complete: a failure
 * never leaves a partial file under the target's name.
 *
 * Progress is shown on stderr only when stderr is a terminal: the HTTP
 * layer reports body bytes to a counter (s3_opts.progress, installed by
 * r2_connect) and a thread redraws one line four times a second.
 */
#include <errno.h>
#include <fcntl.h>
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
	uint64_t total;
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

static void human(double v, char *out, size_t len)
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
	double secs = util_now_mono() - p->start, rate, pct;
	char d[32], t[32], r[32], eta[32] = "";

	if (done > p->total)
		done = p->total; /* a resent body is counted twice */
	rate = secs > 0 ? (double)done / secs : 0;
	pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
	human((double)done, d, sizeof(d));
	human((double)p->total, t, sizeof(t));
	human(rate, r, sizeof(r));
	if (!last && rate > 0 && done < p->total) {
		double left = (double)(p->total - done) / rate;

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
static void progress_start(struct progress *p, bool up, uint64_t total)
{
	atomic_store(&p->up, 0);
	atomic_store(&p->down, 0);
	p->count_up = up;
	p->total = total;
	p->stop = false;
	p->start = util_now_mono();
	if (!isatty(STDERR_FILENO))
		return;
	p->running = !pthread_create(&p->thread, NULL, progress_thread, p);
}

/* Stop the display; the last line stays if the transfer succeeded. */
static void progress_end(struct progress *p, bool ok)
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
/* cp */

/* Might arg be BUCKET/KEY?  s3:// or r2:// says so; ./, ../ and / say
 * local; otherwise it must have a '/' after a valid bucket name. */
static bool maybe_remote(const char *arg)
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

static int cp_upload(struct r2 *r, const char *local, const char *remote)
{
	struct store_put_opts po = { 0 };
	struct r2_path p = { 0 };
	struct meta_headers mh;
	char etag[128], what[1200], *key = NULL;
	struct stat st;
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
		say("'%s' is not a regular file (r2 cp copies one file)",
		    local);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	/* BUCKET/ or BUCKET/dir/: keep the file's name, as cp does. */
	if (!p.key[0] || p.key[strlen(p.key) - 1] == '/') {
		size_t len = strlen(p.key) + strlen(base_name(local)) + 1;

		key = malloc(len);
		if (!key) {
			rc = R2_EXIT_FAIL;
			say("out of memory");
			goto out;
		}
		snprintf(key, len, "%s%s", p.key, base_name(local));
	} else {
		key = strdup(p.key);
		if (!key) {
			rc = R2_EXIT_FAIL;
			say("out of memory");
			goto out;
		}
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
	/* mode, uid, gid and mtime as r2fs stores them, so a mount shows
	 * the file as it was here */
	meta_to_headers(&st, &mh);
	po.content_type = r->o->content_type ? r->o->content_type
					     : mime_type_for(local);
	po.meta = mh.kv;
	po.nmeta = mh.n;
	progress_start(&r2_progress, true, (uint64_t)st.st_size);
	if ((uint64_t)st.st_size > MULTIPART_THRESHOLD_DEFAULT)
		rc = multipart_put_fd(r->store, key, fd, (uint64_t)st.st_size,
				      &po, R2_PARALLEL_PARTS, etag);
	else
		rc = r->store->ops->put_fd(r->store, key, fd,
					   (uint64_t)st.st_size, &po, etag);
	progress_end(&r2_progress, !rc);
	if (rc) {
		if (rc == -EFBIG)
			say("uploading %s failed: the server says it is too "
			    "large", what);
		else
			rc = remote_failure(r, rc, "uploading", what);
		rc = R2_EXIT_FAIL;
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
	struct store_object obj = { 0 };
	struct r2_path p = { 0 };
	char *target = NULL, *tmp = NULL, what[1200];
	struct stat st;
	uint64_t size = 0;
	mode_t um;
	size_t len;
	int fd = -1, rc, keep_mode = -1;

	if (r->o->content_type) {
		say("--content-type is only for uploads and 'r2 presign put'");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(remote, true, &p);
	if (rc)
		return rc;
	if (p.key[strlen(p.key) - 1] == '/') {
		say("'%s' names a directory marker; r2 cp copies one object",
		    remote);
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
	if (stat(target, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			say("'%s' exists and is not a regular file", target);
			rc = R2_EXIT_USAGE;
			goto out;
		}
		keep_mode = (int)(st.st_mode & 07777);
	}
	/* Download next to the target and rename: a failure never leaves
	 * a partial file under the target's name. */
	len = strlen(target) + 16;
	tmp = malloc(len);
	if (!tmp) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	snprintf(tmp, len, "%s.r2-XXXXXX", target);
	snprintf(what, sizeof(what), "'%s/%s'", p.bucket, p.key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	rc = r->store->ops->head(r->store, p.key, &obj);
	if (rc) {
		rc = remote_failure(r, rc, "reading", what);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		say("cannot create a file next to '%s': %s", target,
		    strerror(errno));
		free(tmp);
		tmp = NULL;
		rc = R2_EXIT_FAIL;
		goto out;
	}
	progress_start(&r2_progress, false, obj.size);
	rc = r->store->ops->get_to_fd(r->store, p.key, NULL, fd, &size);
	progress_end(&r2_progress, !rc);
	if (rc) {
		rc = remote_failure(r, rc, "downloading", what);
		goto out;
	}
	um = umask(0);
	umask(um);
	if (fchmod(fd, keep_mode >= 0 ? (mode_t)keep_mode : 0666 & ~um) < 0 ||
	    fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		say("cannot write '%s': %s", target, strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	fd = -1;
	if (rename(tmp, target) < 0) {
		say("cannot create '%s': %s", target, strerror(errno));
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
	free(target);
	store_object_release(&obj);
	path_release(&p);
	return rc;
}

int cmd_cp(struct r2 *r, int argc, char **argv)
{
	struct stat st;
	bool src_remote, dst_remote;

	if (argc != 2) {
		say("usage: r2 cp LOCAL BUCKET/KEY, or r2 cp BUCKET/KEY "
		    "LOCAL");
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
	if (dst_remote)
		return cp_upload(r, argv[0], argv[1]);
	return cp_download(r, argv[0], argv[1]);
}
