/*
 * r2_cptree.c - r2 cp -r: a local directory up below a prefix, or what
 * is below a prefix down into a local directory.
 *
 * Names map one to one: DIR/a/b is PREFIX/a/b, as aws s3 cp --recursive
 * and rclone copy have it.  The work is a list of jobs (one file, or an
 * empty directory whose marker keeps it, as r2fs makes them) built first
 * and then shared by R2_PARALLEL_FILES threads, each job on r2_cp.c's
 * helpers: multipart with equal parts above 64 MiB, r2fs's metadata up,
 * a temporary file renamed into place and the object's mtime down.  The
 * progress line counts all bytes together.  A failed file does not stop
 * the others; the failures are told after, and the exit status is 1.
 *
 * Down, a key is written only where its name is a plain relative path
 * (no "." or ".." component, no empty one): a bucket must not write
 * outside the directory it is copied into.  r2fs's own .r2fs-index/ at
 * the top of a bucket is not copied.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"
#include "r2_i.h"
#include "store.h"
#include "util.h"

#define R2_PARALLEL_FILES 8
#define R2_LIST_PAGE 1000

struct tree_job {
	char *local;   /* the file, or the directory */
	char *key;     /* the object, or the marker "dir/" */
	uint64_t size; /* listed (down) or stat'ed (up) */
	bool dir;      /* an empty directory up; a marker down */
	int rc;        /* 0, a store errno, or R2_EXIT_FAIL with msg */
	char msg[PATH_MAX + 128];
};

struct tree {
	struct r2 *r;
	bool up;
	struct tree_job *jobs;
	size_t n, cap;
	atomic_size_t next; /* the next job a thread takes */
	uint64_t bytes;
	size_t skipped;     /* up: neither a file nor a directory */
};

static void tree_release(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->jobs[i].local);
		free(t->jobs[i].key);
	}
	free(t->jobs);
}

/* Add a job (strings copied); 0 or -ENOMEM. */
static int tree_add(struct tree *t, const char *local, const char *key,
		    uint64_t size, bool dir)
{
	struct tree_job *j;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;

		j = realloc(t->jobs, cap * sizeof(*j));
		if (!j)
			return -ENOMEM;
		t->jobs = j;
		t->cap = cap;
	}
	j = &t->jobs[t->n];
	memset(j, 0, sizeof(*j));
	j->local = strdup(local);
	j->key = strdup(key);
	if (!j->local || !j->key) {
		free(j->local);
		free(j->key);
		return -ENOMEM;
	}
	j->size = size;
	j->dir = dir;
	t->n++;
	t->bytes += size;
	return 0;
}

/* "a" + "/" + "b", malloc'd (no '/' doubled after a trailing one). */
static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), len = la + strlen(b) + 2;
	char *p = malloc(len);

	if (p)
		snprintf(p, len, "%s%s%s", a, la && a[la - 1] == '/' ? "" : "/",
			 b);
	return p;
}

/* ------------------------------------------------------------------ */
/* The threads */

static void run_job(struct tree *t, struct tree_job *j)
{
	struct r2 *r = t->r;
	uint64_t size;
	struct stat st;
	int fd;

	if (!t->up) {
		if (j->dir) {
			if (mkdir(j->local, 0777) < 0 && errno != EEXIST) {
				snprintf(j->msg, sizeof(j->msg),
					 "cannot create '%s': %s", j->local,
					 strerror(errno));
				j->rc = R2_EXIT_FAIL;
			}
			return;
		}
		j->rc = r2_get_file(r, j->key, j->local, NULL, &size, j->msg,
				    sizeof(j->msg));
		return;
	}
	if (j->dir) {
		struct store_put_opts po = { 0 };
		struct meta_headers mh;

		if (stat(j->local, &st) == 0) {
			meta_to_headers(&st, &mh);
			po.meta = mh.kv;
			po.nmeta = mh.n;
		}
		j->rc = r->store->ops->put_fd(r->store, j->key, -1, 0, &po,
					      NULL);
		return;
	}
	fd = open(j->local, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(j->msg, sizeof(j->msg), "cannot open '%s': %s",
			 j->local, strerror(errno));
		j->rc = R2_EXIT_FAIL;
	} else {
		j->rc = r2_put_file(r, j->local, fd, &st, j->key);
	}
	if (fd >= 0)
		close(fd);
}

static void *tree_thread(void *arg)
{
	struct tree *t = arg;
	size_t i;

	while ((i = atomic_fetch_add(&t->next, 1)) < t->n)
		run_job(t, &t->jobs[i]);
	return NULL;
}

/* Run every job, R2_PARALLEL_FILES at a time; then tell the failures.
 * 0 or R2_EXIT_FAIL. */
static int tree_run(struct tree *t, const char *from, const char *to)
{
	pthread_t th[R2_PARALLEL_FILES];
	size_t i, nth = 0, failed = 0, files = 0;
	double start = util_now_mono();
	bool told_remote = false;
	char what[2 * PATH_MAX];

	progress_start(&r2_progress, t->up, t->bytes);
	atomic_store(&t->next, 0);
	for (i = 0; i + 1 < R2_PARALLEL_FILES && i + 1 < t->n; i++)
		if (!pthread_create(&th[nth], NULL, tree_thread, t))
			nth++;
	tree_thread(t); /* this thread is one of them */
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < t->n; i++) {
		if (t->jobs[i].rc)
			failed++;
		else if (!t->jobs[i].dir)
			files++;
	}
	progress_end(&r2_progress, !failed);
	for (i = 0; i < t->n; i++) {
		struct tree_job *j = &t->jobs[i];

		if (!j->rc)
			continue;
		if (j->rc > 0) {
			say("%s", j->msg);
			continue;
		}
		if (told_remote)
			continue; /* the first one says why */
		told_remote = true;
		if (t->up)
			snprintf(what, sizeof(what), "'%s' to '%s/%s'",
				 j->local, t->r->bucket, j->key);
		else
			snprintf(what, sizeof(what), "'%s/%s'", t->r->bucket,
				 j->key);
		if (j->rc == -EFBIG)
			say("uploading %s failed: the server says it is too "
			    "large", what);
		else
			remote_failure(t->r, j->rc,
				       t->up ? "uploading" : "downloading",
				       what);
	}
	if (failed) {
		say("%zu of %zu %s failed", failed, t->n,
		    t->up ? "uploads" : "downloads");
		return R2_EXIT_FAIL;
	}
	if (t->skipped)
		say("skipped %zu entr%s that %s neither a file nor a "
		    "directory (symbolic links, devices, ...)", t->skipped,
		    t->skipped == 1 ? "y" : "ies",
		    t->skipped == 1 ? "is" : "are");
	if (t->r->o->verbose) {
		snprintf(what, sizeof(what), "%zu file%s from '%s' to '%s'",
			 files, files == 1 ? "" : "s", from, to);
		r2_summary(t->up ? "uploaded" : "downloaded", what, t->bytes,
			   start);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Up */

/* Add the jobs for directory path, whose key prefix is prefix ("" or
 * ending in '/').  0, or an exit status after saying why. */
static int walk_up(struct tree *t, const char *path, const char *prefix)
{
	struct dirent *d;
	struct stat st;
	char *local = NULL, *key = NULL;
	bool empty = true;
	int rc = 0;
	DIR *dir;

	dir = opendir(path);
	if (!dir) {
		say("cannot read the directory '%s': %s", path,
		    strerror(errno));
		return R2_EXIT_FAIL;
	}
	while (!rc && (d = readdir(dir)) != NULL) {
		size_t klen;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		empty = false;
		local = join(path, d->d_name);
		klen = strlen(prefix) + strlen(d->d_name) + 2;
		key = malloc(klen);
		if (!local || !key) {
			say("out of memory");
			rc = R2_EXIT_FAIL;
		} else if (lstat(local, &st) < 0) {
			say("cannot read '%s': %s", local, strerror(errno));
			rc = R2_EXIT_FAIL;
		} else if (S_ISDIR(st.st_mode)) {
			snprintf(key, klen, "%s%s/", prefix, d->d_name);
			rc = walk_up(t, local, key);
		} else if (S_ISREG(st.st_mode)) {
			snprintf(key, klen, "%s%s", prefix, d->d_name);
			if (strlen(key) > R2_KEY_MAX) {
				say("the key for '%s' would be longer than %d "
				    "bytes", local, R2_KEY_MAX);
				rc = R2_EXIT_USAGE;
			} else if (tree_add(t, local, key,
					    (uint64_t)st.st_size, false)) {
				say("out of memory");
				rc = R2_EXIT_FAIL;
			}
		} else {
			t->skipped++;
		}
		free(local);
		free(key);
		local = key = NULL;
	}
	closedir(dir);
	/* an empty directory has no key below it: a marker keeps it */
	if (!rc && empty && prefix[0] && tree_add(t, path, prefix, 0, true)) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
	}
	return rc;
}

int cp_tree_up(struct r2 *r, const char *local, const char *remote)
{
	struct tree t = { .r = r, .up = true };
	struct r2_path p = { 0 };
	char *prefix = NULL, to[PATH_MAX];
	struct stat st;
	size_t n;
	int rc;

	if (stat(local, &st) < 0 || !S_ISDIR(st.st_mode)) {
		say("'%s' is not a directory (r2 cp without -r copies a "
		    "file)", local);
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(remote, false, &p);
	if (rc)
		return rc;
	/* BUCKET/PREFIX names a directory: PREFIX/ */
	n = strlen(p.key);
	prefix = malloc(n + 2);
	if (!prefix) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	snprintf(prefix, n + 2, "%s%s", p.key, n && p.key[n - 1] != '/' ? "/"
									: "");
	rc = walk_up(&t, local, prefix);
	if (rc)
		goto out;
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	snprintf(to, sizeof(to), "%s/%s", p.bucket, prefix);
	rc = tree_run(&t, local, to);
out:
	tree_release(&t);
	free(prefix);
	path_release(&p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Down */

/* May rel ("a/b", "a/" for a marker) be written below a directory? */
static bool safe_relative(const char *rel)
{
	const char *c = rel, *slash;
	size_t len;

	if (!*rel || *rel == '/')
		return false;
	for (;;) {
		slash = strchr(c, '/');
		len = slash ? (size_t)(slash - c) : strlen(c);
		if (len == 0)
			return !slash && c != rel; /* only a marker's '/' */
		if ((len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!slash)
			return true;
		c = slash + 1;
	}
}

/* mkdir -p of path's parent directories (the last component is not
 * made unless dir_too).  0 or -errno. */
static int make_parents(const char *path, bool dir_too)
{
	char *copy = strdup(path), *s;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (s = strchr(copy + 1, '/'); s && !rc; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(copy, 0777) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
	}
	if (!rc && dir_too && mkdir(copy, 0777) < 0 && errno != EEXIST)
		rc = -errno;
	free(copy);
	return rc;
}

int cp_tree_down(struct r2 *r, const char *remote, const char *local)
{
	struct tree t = { .r = r, .up = false };
	struct store_list page = { 0 };
	struct r2_path p = { 0 };
	char *prefix = NULL, *token = NULL, *target = NULL;
	char from[PATH_MAX], what[1200];
	size_t n, i, unsafe = 0;
	int rc;

	if (r->o->content_type) {
		say("--content-type is only for uploads and 'r2 presign put'");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(remote, false, &p);
	if (rc)
		return rc;
	n = strlen(p.key);
	prefix = malloc(n + 2);
	if (!prefix) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	snprintf(prefix, n + 2, "%s%s", p.key, n && p.key[n - 1] != '/' ? "/"
									: "");
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	snprintf(what, sizeof(what), "bucket '%s'", p.bucket);
	do {
		rc = r->store->ops->list(r->store, prefix, NULL, token,
					 R2_LIST_PAGE, &page);
		if (rc) {
			rc = remote_failure(r, rc, "listing", what);
			goto out;
		}
		for (i = 0; i < page.nentries && !rc; i++) {
			const char *key = page.entries[i].key;
			const char *rel = key + strlen(prefix);
			size_t rlen = strlen(rel);

			if (!rlen)
				continue; /* PREFIX/ itself: the directory */
			if (!prefix[0] && !strncmp(rel, ".r2fs-index/", 12))
				continue; /* r2fs's directory indexes */
			if (!safe_relative(rel)) {
				unsafe++;
				continue;
			}
			target = join(local, rel);
			if (!target) {
				rc = -ENOMEM;
				break;
			}
			if (rel[rlen - 1] == '/')
				target[strlen(target) - 1] = '\0';
			rc = tree_add(&t, target, key, page.entries[i].size,
				      rel[rlen - 1] == '/');
			free(target);
			target = NULL;
		}
		free(token);
		token = page.truncated ? page.next_token : NULL;
		page.next_token = NULL;
		store_list_release(&page);
		if (rc) {
			say("out of memory");
			rc = R2_EXIT_FAIL;
			goto out;
		}
	} while (token);
	snprintf(from, sizeof(from), "%s/%s", p.bucket, prefix);
	if (t.n == 0 && !unsafe) {
		say("'%s': nothing below that prefix", from);
		rc = R2_EXIT_FAIL;
		goto out;
	}
	/* the directories first, then the files into them, in parallel */
	rc = make_parents(local, true);
	for (i = 0; !rc && i < t.n; i++)
		rc = make_parents(t.jobs[i].local, t.jobs[i].dir);
	if (rc) {
		say("cannot create the directories of '%s': %s",
		    i ? t.jobs[i - 1].local : local, strerror(-rc));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	rc = tree_run(&t, from, local);
	if (!rc && unsafe) {
		say("skipped %zu key%s that cannot be a name below '%s' (an "
		    "empty, '.' or '..' part)", unsafe, unsafe == 1 ? "" : "s",
		    local);
		rc = R2_EXIT_FAIL;
	}
out:
	free(token);
	store_list_release(&page);
	tree_release(&t);
	free(prefix);
	path_release(&p);
	return rc;
}
