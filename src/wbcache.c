/*
 * wbcache.c - the write-back journal.
 *
 * On disk, under CACHE_DIR/journal-HASH/ (HASH names endpoint, bucket and
 * prefix, so buckets never mix):
 *
 *   lock        flock()ed by the mount that owns the journal
 *   data/ID     a staging file: the file's contents
 *   rec/ID.rec  its record: path, mode, uid, gid, mtime, size
 *
 * A record is written to rec/ID.tmp, fsync'ed, renamed over rec/ID.rec
 * and the directory fsync'ed, after the data file itself was fsync'ed: a
 * crash at any instant leaves the old record or the new one, each
 * describing data that is on disk.  Data files without a record belong to
 * files that were never closed and are removed at the next mount.
 *
 * Per-file state machine (fields in struct inode, under the fs lock):
 *
 *   state      event                         next        action
 *   ---------  ----------------------------  ----------  -----------------
 *   CLEAN      write/truncate/chmod/rename   DIRTY       gen++
 *   DIRTY      change                        DIRTY       gen++
 *   DIRTY      close (commit)                DIRTY       record; pending;
 *                                                        due = now + delay
 *   DIRTY      due, no writer, worker free   UPLOADING   PUT / multipart
 *   ERROR      due (backoff), no writer      UPLOADING   retry
 *   UPLOADING  success, gen unchanged        CLEAN       record removed;
 *                                                        off pending
 *   UPLOADING  success, changed meanwhile    DIRTY       due = now + delay
 *   UPLOADING  failure                       ERROR       attempts++;
 *                                                        due = backoff
 *   any        unlink                        CLEAN       record removed
 *
 * Invariants: a pending inode holds one reference (refs) so it outlives
 * the kernel's forget; an UPLOADING inode has exactly one uploader, which
 * holds its stage_lock for writing (writes wait); an entry is never
 * dropped on failure: it stays ERROR and pending until it uploads or is
 * unlinked.
 */
#include "wbcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "inode.h"
#include "log.h"
#include "meta.h"
#include "mime.h"
#include "multipart.h"
#include "xattr.h"
#include "stage.h"
#include "store.h"

#define WB_BACKOFF_MAX 300.0 /* seconds between retries, at most */

struct wb {
	pthread_mutex_t *lock;       /* the fs lock */
	pthread_cond_t cond;         /* state changes; protected by lock */
	struct inode_table *inodes;  /* protected by lock */
	struct store *store;
	wb_uploaded_fn uploaded;
	void *uploaded_arg;
	struct wb_opts o;
	char *prefix;
	char *dir;                   /* journal-HASH */
	char *data_dir;
	char *rec_dir;
	int rec_dir_fd;
	int data_dir_fd;
	int lock_fd;
	uint64_t next_id;            /* atomic */
	struct inode *pending;       /* list head; protected by lock */
	size_t npending;             /* protected by lock */
	unsigned uploading;          /* in-flight uploads; protected by lock */
	bool stopping;               /* protected by lock */
	bool draining;               /* protected by lock */
	pthread_t *threads;
	unsigned nthreads;
	uint64_t min_free;           /* bytes the cache disk keeps free */
	uint64_t unchecked;          /* atomic: written since last statvfs */
	/* records the replay could not load (unreadable, data missing):
	 * they stay in the journal, and a sync that covers them fails;
	 * a NULL path (unreadable record) is below every directory */
	char **stuck;                /* set at replay, read-only after */
	size_t nstuck;
};

#define WB_SPACE_CHECK_EVERY (8u << 20)
#define WB_SPACE_WAIT_MAX 60

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

/* ---- the pending list (locked) ---- */

static void pending_add(struct wb *wb, struct inode *in)
{
	if (in->wb_pending)
		return;
	in->wb_pending = true;
	in->refs++;
	in->wb_prev = NULL;
	in->wb_next = wb->pending;
	if (wb->pending)
		wb->pending->wb_prev = in;
	wb->pending = in;
	wb->npending++;
}

static void pending_del(struct wb *wb, struct inode *in)
{
	if (!in->wb_pending)
		return;
	if (in->wb_prev)
		in->wb_prev->wb_next = in->wb_next;
	else
		wb->pending = in->wb_next;
	if (in->wb_next)
		in->wb_next->wb_prev = in->wb_prev;
	in->wb_prev = in->wb_next = NULL;
	in->wb_pending = false;
	wb->npending--;
	in->refs--;
	inode_maybe_free(wb->inodes, in);
}

/* ---- records ---- */

static void rec_name(char *buf, size_t len, uint64_t id, const char *ext)
{
	snprintf(buf, len, "%llu.%s", (unsigned long long)id, ext);
}

static void hex_encode(const char *s, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		*out++ = hex[(unsigned char)*s >> 4];
		*out++ = hex[(unsigned char)*s & 15];
	}
	*out = '\0';
}

static int hex_decode(const char *s, char *out)
{
	int hi, lo;

	for (; s[0] && s[1]; s += 2) {
		hi = s[0] >= 'a' ? s[0] - 'a' + 10 : s[0] - '0';
		lo = s[1] >= 'a' ? s[1] - 'a' + 10 : s[1] - '0';
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return -EINVAL;
		*out++ = (char)(hi << 4 | lo);
	}
	*out = '\0';
	return *s ? -EINVAL : 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Write rec/ID.rec atomically and durably. */
static int record_write(struct wb *wb, uint64_t id, const char *path,
			const struct stat *attr, uint64_t size,
			const char *xattrs, int base, const char *base_etag)
{
	char tmp[64], fin[64], *text = NULL, *hexpath = NULL;
	size_t len = strlen(path) * 2 + strlen(xattrs) + 512;
	int fd = -1, rc = 0, n;

	rec_name(tmp, sizeof(tmp), id, "tmp");
	rec_name(fin, sizeof(fin), id, "rec");
	text = malloc(len);
	hexpath = malloc(strlen(path) * 2 + 1);
	if (!text || !hexpath) {
		rc = -ENOMEM;
		goto out;
	}
	hex_encode(path, hexpath);
	n = snprintf(text, len,
		     "r2fs-journal 1\npath %s\nmode %u\nuid %u\ngid %u\n"
		     "mtime %lld.%09ld\nsize %llu\nxattr %s\nbase %s%s\nend\n",
		     hexpath, (unsigned)attr->st_mode, (unsigned)attr->st_uid,
		     (unsigned)attr->st_gid, (long long)attr->st_mtim.tv_sec,
		     attr->st_mtim.tv_nsec, (unsigned long long)size,
		     xattrs[0] ? xattrs : "-",
		     base == WB_BASE_NONE ? "none" :
		     base == WB_BASE_ETAG ? "etag " : "any",
		     base == WB_BASE_ETAG ? base_etag : "");
	fd = openat(wb->rec_dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, text, (size_t)n);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	fd = -1;
	if (!rc && renameat(wb->rec_dir_fd, tmp, wb->rec_dir_fd, fin) < 0)
		rc = -errno;
	if (!rc && fsync(wb->rec_dir_fd) < 0)
		rc = -errno;
out:
	if (rc)
		unlinkat(wb->rec_dir_fd, tmp, 0);
	free(text);
	free(hexpath);
	return rc;
}

static void record_remove(struct wb *wb, uint64_t id)
{
	char fin[64];

	rec_name(fin, sizeof(fin), id, "rec");
	unlinkat(wb->rec_dir_fd, fin, 0);
}

struct record {
	char *path;
	struct stat attr;
	uint64_t size;
	struct xattrs xattrs;
	int base;             /* enum wb_base; records before it: any */
	char base_etag[128];
};

static int record_read(struct wb *wb, const char *name, struct record *r)
{
	char buf[16384], *line, *next, *val;
	struct timespec ts;
	ssize_t n;
	int fd, rc = -EINVAL, have_end = 0;

	memset(r, 0, sizeof(*r));
	fd = openat(wb->rec_dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	if (strncmp(buf, "r2fs-journal 1\n", 15))
		return -EINVAL;
	for (line = buf + 15; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		val = strchr(line, ' ');
		if (!strcmp(line, "end")) {
			have_end = 1;
			continue;
		}
		if (!val)
			continue;
		*val++ = '\0';
		if (!strcmp(line, "path")) {
			free(r->path);
			r->path = malloc(strlen(val) / 2 + 1);
			if (!r->path)
				rc = -ENOMEM; /* not a bad record */
			if (!r->path || hex_decode(val, r->path))
				goto bad;
		} else if (!strcmp(line, "mode")) {
			r->attr.st_mode = (mode_t)strtoul(val, NULL, 10);
		} else if (!strcmp(line, "uid")) {
			r->attr.st_uid = (uid_t)strtoul(val, NULL, 10);
		} else if (!strcmp(line, "gid")) {
			r->attr.st_gid = (gid_t)strtoul(val, NULL, 10);
		} else if (!strcmp(line, "mtime")) {
			if (meta_parse_time(val, &ts))
				r->attr.st_mtim = ts;
		} else if (!strcmp(line, "size")) {
			r->size = strtoull(val, NULL, 10);
		} else if (!strcmp(line, "base")) {
			if (!strcmp(val, "none"))
				r->base = WB_BASE_NONE;
			else if (!strncmp(val, "etag ", 5) && val[5] &&
				 strlen(val + 5) < sizeof(r->base_etag)) {
				r->base = WB_BASE_ETAG;
				strcpy(r->base_etag, val + 5);
			}
		} else if (!strcmp(line, "xattr") && strcmp(val, "-")) {
			int err;

			xattrs_release(&r->xattrs);
			if ((err = xattrs_decode(val, &r->xattrs))) {
				if (err == -ENOMEM)
					rc = err;
				goto bad;
			}
		}
	}
	if (have_end && r->path && r->path[0] && S_ISREG(r->attr.st_mode))
		return 0;
bad:
	free(r->path);
	r->path = NULL;
	xattrs_release(&r->xattrs);
	return rc;
}

/* ---- setup ---- */

/* A descriptor of directory path in *fd (for fsync, *at calls). */
static int open_dir(const char *path, int *fd, char *err, size_t errlen)
{
	int e;

	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	e = errno;
	snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
	return -e;
}

int wb_new(const struct wb_opts *o, struct store *store,
	   pthread_mutex_t *lock, struct inode_table *inodes,
	   wb_uploaded_fn uploaded, void *arg, char *err, size_t errlen,
	   struct wb **out)
{
	struct wb *wb = calloc(1, sizeof(*wb));
	char name[64], *target = NULL;
	uint64_t h = 1469598103934665603ULL;
	int rc = -ENOMEM;

	if (!wb)
		return -ENOMEM;
	wb->lock = lock;
	wb->inodes = inodes;
	wb->store = store;
	wb->uploaded = uploaded;
	wb->uploaded_arg = arg;
	wb->o = *o;
	wb->lock_fd = -1;
	wb->rec_dir_fd = -1;
	wb->data_dir_fd = -1;
	wb->next_id = 1;
	pthread_cond_init(&wb->cond, NULL);
	h = fnv1a(o->endpoint, h);
	h = fnv1a("\n", h);
	h = fnv1a(o->bucket, h);
	h = fnv1a("\n", h);
	h = fnv1a(o->prefix, h);
	snprintf(name, sizeof(name), "journal-%016llx", (unsigned long long)h);
	wb->prefix = strdup(o->prefix);
	wb->dir = path_join(o->cache_dir, name);
	if (!wb->prefix || !wb->dir)
		goto fail;
	wb->data_dir = path_join(wb->dir, "data");
	wb->rec_dir = path_join(wb->dir, "rec");
	if (!wb->data_dir || !wb->rec_dir)
		goto fail;
	if ((rc = mkdir_p(o->cache_dir, 0700)) || (rc = mkdir_p(wb->dir, 0700)) ||
	    (rc = mkdir_p(wb->data_dir, 0700)) ||
	    (rc = mkdir_p(wb->rec_dir, 0700))) {
		snprintf(err, errlen, "cannot create the journal in %s: %s",
			 o->cache_dir, strerror(-rc));
		goto fail;
	}
	target = path_join(wb->dir, "lock");
	if (!target) {
		rc = -ENOMEM;
		goto fail;
	}
	wb->lock_fd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (wb->lock_fd < 0 || flock(wb->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, rc == -EBUSY ?
			 "cache directory %s is in use by another r2fs mount "
			 "of this bucket" : "cannot lock the journal in %s: %s",
			 o->cache_dir, strerror(-rc));
		goto fail;
	}
	/* Say which bucket this journal belongs to, for humans. */
	if (ftruncate(wb->lock_fd, 0) == 0) {
		char line[1024];
		int n = snprintf(line, sizeof(line), "%s %s %s\n", o->endpoint,
				 o->bucket, o->prefix);

		if (n > 0)
			write_all(wb->lock_fd, line, (size_t)n);
	}
	if ((rc = open_dir(wb->rec_dir, &wb->rec_dir_fd, err, errlen)) ||
	    (rc = open_dir(wb->data_dir, &wb->data_dir_fd, err, errlen)))
		goto fail;
	wb->min_free = o->min_free;
	if (!wb->min_free) {
		struct statvfs sv;
		uint64_t total = 0;

		if (statvfs(wb->data_dir, &sv) == 0)
			total = (uint64_t)sv.f_blocks * sv.f_frsize;
		wb->min_free = total / 20 < (1ull << 30) ? total / 20
							 : (1ull << 30);
	}
	free(target);
	*out = wb;
	return 0;
fail:
	free(target);
	wb_free(wb);
	return rc;
}

void wb_free(struct wb *wb)
{
	size_t i;

	if (!wb)
		return;
	if (wb->rec_dir_fd >= 0)
		close(wb->rec_dir_fd);
	if (wb->data_dir_fd >= 0)
		close(wb->data_dir_fd);
	for (i = 0; i < wb->nstuck; i++)
		free(wb->stuck[i]);
	free(wb->stuck);
	if (wb->lock_fd >= 0)
		close(wb->lock_fd); /* releases the flock */
	pthread_cond_destroy(&wb->cond);
	free(wb->threads);
	free(wb->prefix);
	free(wb->dir);
	free(wb->data_dir);
	free(wb->rec_dir);
	free(wb);
}

static char *data_path(struct wb *wb, uint64_t id)
{
	char name[32];

	snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
	return path_join(wb->data_dir, name);
}

int wb_stage_create(struct wb *wb, struct stage **out, uint64_t *id)
{
	uint64_t n = __atomic_fetch_add(&wb->next_id, 1, __ATOMIC_RELAXED);
	char *path = data_path(wb, n);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = stage_new(path, out);
	free(path);
	if (rc == 0)
		*id = n;
	return rc;
}

void wb_kick(struct wb *wb)
{
	pthread_cond_broadcast(&wb->cond);
}

/* Remove data files that no record names (never closed). */
static void remove_orphans(struct wb *wb)
{
	DIR *d = opendir(wb->data_dir);
	struct dirent *e;
	char rec[64];

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		unsigned long long id = strtoull(e->d_name, &end, 10);

		if (e->d_name[0] == '.' || *end)
			continue;
		rec_name(rec, sizeof(rec), id, "rec");
		if (faccessat(wb->rec_dir_fd, rec, F_OK, 0) < 0) {
			char *p = data_path(wb, id);

			if (p)
				unlink(p);
			free(p);
		}
	}
	closedir(d);
}

/* Remember a record the replay leaves in the journal (path NULL: not
 * known).  Setup only, so no lock. */
static int add_stuck(struct wb *wb, const char *path)
{
	char **n = realloc(wb->stuck, (wb->nstuck + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	wb->stuck = n;
	n[wb->nstuck] = NULL;
	if (path && !(n[wb->nstuck] = strdup(path)))
		return -ENOMEM;
	wb->nstuck++;
	return 0;
}

/* Out of descriptors or memory: the mount has to fail, since skipping
 * the record would leave its file out of this mount unannounced. */
static bool out_of_resources(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

int wb_replay(struct wb *wb)
{
	int fd = dup(wb->rec_dir_fd), count = 0, rc;
	struct dirent *e;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d); /* the dup shares rec_dir_fd's offset */
	while ((e = readdir(d))) {
		struct record r;
		struct stage *st = NULL;
		struct inode *in;
		char *end, *dpath;
		unsigned long long id = strtoull(e->d_name, &end, 10);

		if (e->d_name[0] == '.')
			continue;
		if (!strcmp(end, ".tmp")) {
			unlinkat(wb->rec_dir_fd, e->d_name, 0);
			continue;
		}
		if (id >= wb->next_id)
			wb->next_id = id + 1;
		if (strcmp(end, ".rec"))
			continue;
		rc = record_read(wb, e->d_name, &r);
		if (out_of_resources(rc))
			goto fail;
		if (rc) {
			log_err("journal record %s/%s is unreadable; left in "
				"place, and a sync of the mount fails until it "
				"is removed", wb->rec_dir, e->d_name);
			if ((rc = add_stuck(wb, NULL)))
				goto fail;
			continue;
		}
		dpath = data_path(wb, id);
		rc = dpath ? stage_open(dpath, r.size, &st) : -ENOMEM;
		if (out_of_resources(rc)) {
			free(dpath);
			free(r.path);
			xattrs_release(&r.xattrs);
			goto fail;
		}
		if (rc) {
			log_err("journal: data of %s (%s) cannot be opened: %s; "
				"the record is left in place, and a sync of it "
				"fails", r.path, dpath, strerror(-rc));
			rc = add_stuck(wb, r.path);
			free(dpath);
			free(r.path);
			xattrs_release(&r.xattrs);
			if (rc)
				goto fail;
			continue;
		}
		free(dpath);
		pthread_mutex_lock(wb->lock);
		in = inode_find_path(wb->inodes, r.path);
		if (in && in->stage) {
			/* two records for one name: the newer id wins */
			if (in->wb_id > id) {
				pthread_mutex_unlock(wb->lock);
				stage_put(st);
				record_remove(wb, id);
				free(r.path);
				xattrs_release(&r.xattrs);
				continue;
			}
			in->stage->keep = false;
			record_remove(wb, in->wb_id);
			stage_put(in->stage);
			in->stage = NULL;
		}
		if (!in)
			in = inode_get_path(wb->inodes, r.path, S_IFREG);
		if (!in) {
			pthread_mutex_unlock(wb->lock);
			stage_put(st);
			free(r.path);
			xattrs_release(&r.xattrs);
			rc = -ENOMEM;
			goto fail;
		}
		st->keep = true;
		st->dirty = true;
		st->named = true;
		in->stage = st;
		in->attr.st_mode = r.attr.st_mode;
		in->attr.st_uid = r.attr.st_uid;
		in->attr.st_gid = r.attr.st_gid;
		in->attr.st_mtim = r.attr.st_mtim;
		in->attr.st_ctim = r.attr.st_mtim;
		in->attr.st_atim = r.attr.st_mtim;
		in->attr.st_nlink = 1;
		in->attr.st_blksize = 4096;
		in->attr.st_ino = in->ino;
		in->has_meta = true;
		xattrs_release(&in->xattrs);
		in->xattrs = r.xattrs;
		memset(&r.xattrs, 0, sizeof(r.xattrs));
		in->xattrs_known = true;
		wb_set_base(in, r.base, r.base_etag);
		in->wb_id = id;
		in->wb_gen = 1;
		in->wb_committed = 1;
		in->wb_state = WB_DIRTY;
		in->wb_due = 0;
		pending_add(wb, in);
		pthread_mutex_unlock(wb->lock);
		log_info("journal: %s from an earlier run will be uploaded",
			 r.path);
		free(r.path);
		count++;
	}
	closedir(d);
	remove_orphans(wb);
	return count;
fail:
	closedir(d);
	return rc;
}

/* ---- changes and commits ---- */

void wb_set_base(struct inode *in, enum wb_base base, const char *etag)
{
	/* an ETag we cannot write down in a record is no condition */
	if (base == WB_BASE_ETAG &&
	    (!etag || !etag[0] || strlen(etag) >= sizeof(in->wb_base_etag) ||
	     strpbrk(etag, " \t\r\n")))
		base = WB_BASE_ANY;
	in->wb_base = base;
	if (base == WB_BASE_ETAG)
		strcpy(in->wb_base_etag, etag);
	else
		in->wb_base_etag[0] = '\0';
}

char *wb_conflict_path(const char *path, time_t when, unsigned n)
{
	const char *name = strrchr(path, '/');
	const char *dot;
	char tag[64];
	struct tm tm;
	size_t head, len;
	char *out;

	name = name ? name + 1 : path;
	/* before the extension, so the copy opens like the original */
	dot = strrchr(name, '.');
	if (!dot || dot == name)
		dot = name + strlen(name);
	gmtime_r(&when, &tm);
	len = strftime(tag, sizeof(tag), ".conflict-%Y%m%d-%H%M%S", &tm);
	if (n > 1)
		snprintf(tag + len, sizeof(tag) - len, "-%u", n);
	head = (size_t)(dot - path);
	len = strlen(path) + strlen(tag) + 1;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%.*s%s%s", (int)head, path, tag, dot);
	return out;
}

void wb_touch(struct wb *wb, struct inode *in)
{
	(void)wb;
	free(in->wb_conflict);
	in->wb_conflict = NULL;
	in->wb_gen++;
	if (in->wb_state == WB_CLEAN || in->wb_state == WB_ERROR)
		in->wb_state = WB_DIRTY;
	if (in->stage)
		in->stage->dirty = true;
}

void wb_touch_meta(struct wb *wb, struct inode *in)
{
	wb_touch(wb, in);
	in->wb_committed = in->wb_gen; /* nothing to write down */
	in->wb_due = now_mono() + wb->o.delay;
	pending_add(wb, in);
	pthread_cond_broadcast(&wb->cond);
}

int wb_commit(struct wb *wb, struct inode *in)
{
	struct stage *st;
	struct stat attr;
	uint64_t gen, size, id;
	char *path, *xa, base_etag[128];
	int rc, base;

	pthread_mutex_lock(wb->lock);
	if (!in->stage || in->unlinked || in->wb_state == WB_CLEAN ||
	    (in->wb_committed == in->wb_gen && in->wb_pending)) {
		pthread_mutex_unlock(wb->lock);
		return 0;
	}
	st = stage_get(in->stage);
	gen = in->wb_gen;
	size = st->size;
	attr = in->attr;
	id = in->wb_id;
	base = in->wb_base;
	snprintf(base_etag, sizeof(base_etag), "%s", in->wb_base_etag);
	path = strdup(in->path);
	xa = xattrs_encode(&in->xattrs);
	pthread_mutex_unlock(wb->lock);
	if (!path || !xa) {
		stage_put(st);
		free(path);
		free(xa);
		return -ENOMEM;
	}
	/* a record describes whole data on disk: fetch what a stage made
	 * from an object still lacks (the object may change or go later) */
	rc = stage_complete(st, wb->store);
	if (!rc && fsync(st->fd) < 0)
		rc = -errno;
	/* the record must not outlive the name of the data it points to
	 * (a power cut may lose a new directory entry not fsync'ed) */
	if (!rc && !st->named) {
		if (fsync(wb->data_dir_fd) < 0)
			rc = -errno;
		else
			st->named = true;
	}
	if (!rc)
		rc = record_write(wb, id, path, &attr, size, xa, base,
				  base_etag);
	free(xa);
	pthread_mutex_lock(wb->lock);
	if (rc == 0) {
		if (gen > in->wb_committed)
			in->wb_committed = gen;
		st->keep = true;
		in->wb_due = now_mono() + wb->o.delay;
		pending_add(wb, in);
		pthread_cond_broadcast(&wb->cond);
	} else {
		log_err("journal: cannot commit %s: %s", path, strerror(-rc));
	}
	pthread_mutex_unlock(wb->lock);
	stage_put(st);
	free(path);
	return rc;
}

/* ---- uploads ---- */

/* PREFIX + path, and "/" after a directory's (its marker); malloc'd. */
static char *key_for(struct wb *wb, const char *path, bool dir)
{
	size_t n = strlen(wb->prefix) + strlen(path) + 2;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s%s%s", wb->prefix, path, dir ? "/" : "");
	return k;
}

static double backoff(unsigned attempts)
{
	double d = 1.0;

	while (attempts-- > 1 && d < WB_BACKOFF_MAX)
		d *= 2;
	return d < WB_BACKOFF_MAX ? d : WB_BACKOFF_MAX;
}

/* Make in->xattrs hold those of the object at key (one HEAD). */
static int load_object_xattrs(struct wb *wb, struct inode *in,
			      const char *key)
{
	struct store_object obj = { 0 };
	struct xattrs x = { 0 };
	const char *h;
	int rc;

	rc = wb->store->ops->head(wb->store, key, &obj);
	h = rc ? NULL : store_object_meta(&obj, "xattr");
	if (!rc && (!h || xattrs_decode(h, &x) == 0)) {
		pthread_mutex_lock(wb->lock);
		if (!in->xattrs_known) {
			in->xattrs = x;
			memset(&x, 0, sizeof(x));
		}
		in->xattrs_known = true;
		pthread_mutex_unlock(wb->lock);
	}
	xattrs_release(&x);
	store_object_release(&obj);
	return rc;
}

/*
 * Push the metadata of in, claimed like an upload but without a stage
 * (wb_touch_meta): one CopyObject of a file's key onto itself, or one PUT
 * of a directory's zero-byte marker "path/" (new, or rewritten).
 */
static int copy_meta_claimed(struct wb *wb, struct inode *in)
{
	struct store_put_opts opts = { 0 };
	struct meta_headers mh;
	char *key = NULL, *path, *xa = NULL;
	struct stat attr;
	uint64_t gen;
	bool need_xattrs, dir;
	int rc = 0;

	pthread_mutex_lock(wb->lock);
	gen = in->wb_gen;
	attr = in->attr;
	dir = S_ISDIR(attr.st_mode);
	path = strdup(in->path);
	need_xattrs = !in->xattrs_known;
	pthread_mutex_unlock(wb->lock);
	key = path ? key_for(wb, path, dir) : NULL;
	if (!key)
		rc = -ENOMEM;
	if (!rc && need_xattrs) { /* the COPY or PUT replaces them all */
		rc = load_object_xattrs(wb, in, key);
		if (rc == -ENOENT && dir)
			rc = 0; /* no marker yet (implied): nothing to keep */
	}
	if (!rc) {
		pthread_mutex_lock(wb->lock);
		xa = xattrs_encode(&in->xattrs);
		pthread_mutex_unlock(wb->lock);
		if (!xa)
			rc = -ENOMEM;
	}
	if (!rc) {
		meta_to_headers(&attr, &mh);
		meta_headers_add_xattrs(&mh, xa);
		opts.meta = mh.kv;
		opts.nmeta = mh.n;
		if (dir) {
			rc = wb->store->ops->put_fd(wb->store, key, -1, 0,
						    &opts, NULL);
		} else {
			opts.content_type = mime_type_for(path);
			rc = wb->store->ops->copy(wb->store, key, key, &opts);
		}
	}
	if (rc == -ENOENT) {
		log_info("%s is gone from the bucket; its new metadata is "
			 "dropped", path ? path : in->path);
		rc = 0;
	}
	pthread_mutex_lock(wb->lock);
	if (!rc) {
		in->wb_attempts = 0;
		in->wb_err = 0;
		if (in->wb_gen == gen && !in->stage) {
			in->wb_state = WB_CLEAN;
			pending_del(wb, in); /* our caller holds a ref */
		} else {
			in->wb_state = WB_DIRTY; /* changed meanwhile */
			in->wb_due = now_mono() + wb->o.delay;
		}
	} else {
		in->wb_state = WB_ERROR;
		in->wb_err = rc;
		in->wb_attempts++;
		in->wb_due = now_mono() + backoff(in->wb_attempts);
		log_err("metadata of %s could not be updated (attempt %u): "
			"%s; will retry", path ? path : in->path,
			in->wb_attempts, strerror(-rc));
	}
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(wb->lock);
	free(key);
	free(path);
	free(xa);
	return rc;
}

/* One upload of st's size bytes as key: a PUT, or multipart when big. */
static int put_object(struct wb *wb, const char *key, struct stage *st,
		      uint64_t size, struct store_put_opts *opts,
		      char *etag)
{
	if (size > wb->o.multipart_threshold)
		return multipart_put_fd(wb->store, key, st->fd, size, opts,
					wb->o.part_parallel, etag);
	return wb->store->ops->put_fd(wb->store, key, st->fd, size, opts,
				      etag);
}

/*
 * Upload as key only over base (enum wb_base): -ESTALE when another
 * client's version is in the way.  A single PUT carries the condition;
 * a multipart upload is checked with a HEAD before its parts go up (R2
 * could check at completion, but not every S3 server can).
 */
static int put_over_base(struct wb *wb, const char *key, struct stage *st,
			 uint64_t size, struct store_put_opts *opts,
			 int base, const char *base_etag, char *etag)
{
	struct store_object obj = { 0 };
	int rc;

	if (base == WB_BASE_ANY)
		return put_object(wb, key, st, size, opts, etag);
	if (size > wb->o.multipart_threshold) {
		rc = wb->store->ops->head(wb->store, key, &obj);
		if (rc == 0 && (base == WB_BASE_NONE ||
				strcmp(obj.etag, base_etag)))
			rc = -ESTALE;
		else if (rc == -ENOENT)
			rc = 0; /* deleted meanwhile: ours takes the name */
		store_object_release(&obj);
		return rc ? rc : put_object(wb, key, st, size, opts, etag);
	}
	opts->if_none_match = base == WB_BASE_NONE;
	opts->if_match = base == WB_BASE_ETAG ? base_etag : NULL;
	rc = put_object(wb, key, st, size, opts, etag);
	if (rc == -ENOENT && base == WB_BASE_ETAG) {
		/* deleted meanwhile: ours takes the name unless a third
		 * version got there first */
		opts->if_match = NULL;
		opts->if_none_match = true;
		rc = put_object(wb, key, st, size, opts, etag);
	}
	opts->if_match = NULL;
	opts->if_none_match = false;
	return rc;
}

/* Save our version beside another client's: a new name, never over an
 * existing object.  *cpath receives the name used. */
static int put_conflict_copy(struct wb *wb, const char *path,
			     struct stage *st, uint64_t size,
			     struct store_put_opts *opts, char *etag,
			     char **cpath)
{
	time_t now = time(NULL);
	char *p = NULL, *key = NULL;
	unsigned n;
	int rc = -ESTALE;

	for (n = 1; n <= 10 && rc == -ESTALE; n++) {
		free(p);
		free(key);
		p = wb_conflict_path(path, now, n);
		key = p ? key_for(wb, p, false) : NULL;
		if (!key) {
			rc = -ENOMEM;
			break;
		}
		rc = put_over_base(wb, key, st, size, opts, WB_BASE_NONE, NULL,
				   etag);
	}
	free(key);
	if (rc) {
		free(p);
		return rc;
	}
	*cpath = p;
	return 0;
}

/*
 * Upload in, which the caller has claimed (state UPLOADING, a reference
 * held).  With commit, write the journal record first (fsync).  Takes
 * in's stage_lock for writing, so no write lands while its bytes go up.
 */
static int upload_claimed(struct wb *wb, struct inode *in, bool commit)
{
	struct store_put_opts opts = { 0 };
	struct meta_headers mh;
	struct stage *st = NULL;
	char etag[128] = "", *key = NULL, *path = NULL, *xa = NULL;
	char base_etag[128], *conflict = NULL;
	struct stat attr;
	uint64_t gen = 0, size = 0;
	bool need_xattrs;
	int rc = 0, base;

	pthread_rwlock_wrlock(&in->stage_lock);
	if (commit) {
		/* wb_commit skips CLEAN files: keep our claim meanwhile */
		rc = wb_commit(wb, in);
		if (rc)
			goto unlock;
	}
	pthread_mutex_lock(wb->lock);
	if (!in->stage && !in->unlinked && in->wb_state == WB_UPLOADING) {
		/* metadata only (wb_touch_meta) */
		pthread_mutex_unlock(wb->lock);
		pthread_rwlock_unlock(&in->stage_lock);
		return copy_meta_claimed(wb, in);
	}
	if (!in->stage || in->unlinked) {
		pthread_mutex_unlock(wb->lock);
		goto unlock;
	}
	st = stage_get(in->stage);
	gen = in->wb_gen;
	size = st->size;
	attr = in->attr;
	path = strdup(in->path);
	need_xattrs = !in->xattrs_known && in->etag[0];
	base = in->wb_base;
	snprintf(base_etag, sizeof(base_etag), "%s", in->wb_base_etag);
	pthread_mutex_unlock(wb->lock);
	key = path ? key_for(wb, path, false) : NULL;
	if (!key) {
		rc = -ENOMEM;
		goto unlock;
	}
	if (need_xattrs) {
		/* the PUT replaces all metadata: keep the object's xattrs */
		rc = load_object_xattrs(wb, in, key);
		if (rc == -ENOENT)
			rc = 0; /* gone meanwhile: nothing to keep */
		if (rc)
			goto unlock;
	}
	pthread_mutex_lock(wb->lock);
	xa = xattrs_encode(&in->xattrs);
	pthread_mutex_unlock(wb->lock);
	if (!xa) {
		rc = -ENOMEM;
		goto unlock;
	}
	rc = stage_complete(st, wb->store); /* whole since its commit */
	if (rc)
		goto unlock;
	meta_to_headers(&attr, &mh);
	meta_headers_add_xattrs(&mh, xa);
	opts.meta = mh.kv;
	opts.nmeta = mh.n;
	opts.content_type = mime_type_for(path);
	rc = put_over_base(wb, key, st, size, &opts, base, base_etag, etag);
	if (rc == -ESTALE) {
		/* another client changed or created it since we read it:
		 * theirs stays, ours goes beside it */
		rc = put_conflict_copy(wb, path, st, size, &opts, etag,
				       &conflict);
		if (!rc)
			log_warn("%s was changed in the bucket by another "
				 "client; kept that version and saved ours "
				 "as %s", path, conflict);
	} else if (!rc && !etag[0]) {
		/* some servers answer CompleteMultipartUpload without an
		 * ETag; we need it (reads pin it, writes download with it) */
		struct store_object obj = { 0 };

		if (wb->store->ops->head(wb->store, key, &obj) == 0)
			snprintf(etag, sizeof(etag), "%s", obj.etag);
		store_object_release(&obj);
	}
unlock:
	pthread_rwlock_unlock(&in->stage_lock);

	pthread_mutex_lock(wb->lock);
	if (st && rc == 0) {
		if (conflict) {
			/* the object at path is the other client's: its
			 * version is unknown here; later uploads still go
			 * over the base we had (and conflict again) */
			in->etag[0] = '\0';
			free(in->wb_conflict);
			in->wb_conflict = strdup(conflict);
		} else {
			snprintf(in->etag, sizeof(in->etag), "%s", etag);
			wb_set_base(in, WB_BASE_ETAG, etag);
		}
		in->wb_attempts = 0;
		in->wb_err = 0;
		if (in->wb_gen == gen && !in->unlinked &&
		    in->wb_committed == gen) {
			in->wb_state = WB_CLEAN;
			st->dirty = false;
			st->keep = false;
			record_remove(wb, in->wb_id);
			pending_del(wb, in); /* our caller holds a ref */
			if (wb->uploaded)
				wb->uploaded(wb->uploaded_arg, in, etag, size,
					     conflict);
		} else if (!in->unlinked) {
			in->wb_state = WB_DIRTY;
			in->wb_due = now_mono() + wb->o.delay;
		}
		log_debug("uploaded %s (%llu bytes)", path,
			  (unsigned long long)size);
	} else if (st || rc) {
		in->wb_state = WB_ERROR;
		in->wb_err = rc;
		in->wb_attempts++;
		in->wb_due = now_mono() + backoff(in->wb_attempts);
		log_err("upload of %s failed (attempt %u): %s; %s",
			path ? path : in->path, in->wb_attempts, strerror(-rc),
			in->wb_pending ? "will retry" : "kept in the journal");
	} else {
		in->wb_state = WB_CLEAN; /* unlinked meanwhile: nothing to do */
	}
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(wb->lock);
	stage_put(st);
	free(key);
	free(path);
	free(xa);
	free(conflict);
	return rc;
}

/* Locked: the next pending inode due for upload, or NULL; *next gets the
 * earliest future due time. */
static struct inode *pick(struct wb *wb, double now, double *next)
{
	struct inode *in;

	*next = now + 3600;
	for (in = wb->pending; in; in = in->wb_next) {
		if (in->wb_state != WB_DIRTY && in->wb_state != WB_ERROR)
			continue;
		if (wb->draining) {
			if (in->wb_attempts == 0 || in->wb_state == WB_DIRTY)
				return in;
			continue; /* failed once while draining: stays */
		}
		if (in->writers > 0 || in->wb_committed != in->wb_gen)
			continue; /* open again: the next close commits it */
		if (in->wb_due <= now)
			return in;
		if (in->wb_due < *next)
			*next = in->wb_due;
	}
	return NULL;
}

static void *worker(void *arg)
{
	struct wb *wb = arg;
	struct timespec ts;
	struct inode *in;
	double next, now;

	pthread_mutex_lock(wb->lock);
	while (!wb->stopping) {
		now = now_mono();
		in = pick(wb, now, &next);
		if (in) {
			in->wb_state = WB_UPLOADING;
			in->refs++;
			wb->uploading++;
			pthread_mutex_unlock(wb->lock);
			upload_claimed(wb, in, false);
			pthread_mutex_lock(wb->lock);
			wb->uploading--;
			in->refs--;
			inode_maybe_free(wb->inodes, in);
			pthread_cond_broadcast(&wb->cond);
			continue;
		}
		if (wb->draining)
			break; /* nothing left that may be tried */
		clock_gettime(CLOCK_REALTIME, &ts);
		next -= now;
		if (next > 60)
			next = 60;
		ts.tv_sec += (time_t)next;
		ts.tv_nsec += (long)((next - (double)(time_t)next) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wb->cond, wb->lock, &ts);
	}
	pthread_mutex_unlock(wb->lock);
	return NULL;
}

int wb_start(struct wb *wb)
{
	unsigned i, n = wb->o.workers ? wb->o.workers : 1;

	wb->threads = calloc(n, sizeof(*wb->threads));
	if (!wb->threads)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (pthread_create(&wb->threads[i], NULL, worker, wb))
			break;
		wb->nthreads++;
	}
	return wb->nthreads ? 0 : -EAGAIN;
}

void wb_shutdown(struct wb *wb)
{
	unsigned i;
	struct inode *in;
	size_t left = 0;

	pthread_mutex_lock(wb->lock);
	wb->draining = true;
	for (in = wb->pending; in; in = in->wb_next) {
		in->wb_due = 0;
		if (in->wb_state == WB_ERROR)
			in->wb_attempts = 0; /* one more try each */
	}
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(wb->lock);
	if (wb->nthreads == 0)
		wb_start(wb); /* e.g. the loop never started */
	for (i = 0; i < wb->nthreads; i++)
		pthread_join(wb->threads[i], NULL);
	wb->nthreads = 0;
	pthread_mutex_lock(wb->lock);
	wb->stopping = true;
	for (in = wb->pending; in; in = in->wb_next)
		left++;
	pthread_mutex_unlock(wb->lock);
	if (left)
		log_err("%zu file(s) could not be uploaded; they stay in the "
			"journal %s and go up at the next mount", left,
			wb->dir);
}

int wb_sync(struct wb *wb, struct inode *in)
{
	int rc;

	pthread_mutex_lock(wb->lock);
	while (in->wb_state == WB_UPLOADING)
		pthread_cond_wait(&wb->cond, wb->lock);
	if (in->unlinked || in->wb_state == WB_CLEAN ||
	    (!in->stage && !in->wb_pending)) {
		pthread_mutex_unlock(wb->lock);
		return 0;
	}
	in->wb_state = WB_UPLOADING;
	in->refs++;
	wb->uploading++;
	pthread_mutex_unlock(wb->lock);
	rc = upload_claimed(wb, in, true);
	pthread_mutex_lock(wb->lock);
	wb->uploading--;
	in->refs--;
	inode_maybe_free(wb->inodes, in);
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(wb->lock);
	return rc;
}

static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return n == 0 || (!strncmp(path, dir, n) &&
			  (path[n] == '/' || path[n] == '\0'));
}

int wb_sync_tree(struct wb *wb, const char *dir)
{
	struct inode *in;
	bool waiting, failed = false;
	size_t i;

	pthread_mutex_lock(wb->lock);
	for (in = wb->pending; in; in = in->wb_next) {
		if (below(in->path, dir)) {
			in->wb_due = 0;
			in->wb_attempts = in->wb_state == WB_ERROR ? 1 : 0;
		}
	}
	pthread_cond_broadcast(&wb->cond);
	/* Wait until each file below dir is clean or has failed since. */
	do {
		waiting = false;
		failed = false;
		for (in = wb->pending; in; in = in->wb_next) {
			if (!below(in->path, dir))
				continue;
			if (in->wb_state == WB_ERROR && in->wb_attempts > 1)
				failed = true;
			else if (in->writers == 0 ||
				 in->wb_state == WB_UPLOADING)
				waiting = true;
		}
		if (waiting)
			pthread_cond_wait(&wb->cond, wb->lock);
	} while (waiting);
	pthread_mutex_unlock(wb->lock);
	for (i = 0; i < wb->nstuck; i++)
		if (!wb->stuck[i] || below(wb->stuck[i], dir))
			failed = true;
	return failed ? -EIO : 0;
}

void wb_wait_idle(struct wb *wb, struct inode *in)
{
	while (in->wb_state == WB_UPLOADING)
		pthread_cond_wait(&wb->cond, wb->lock);
}

void wb_forget(struct wb *wb, struct inode *in)
{
	if (in->wb_id && (in->wb_pending || in->wb_committed))
		record_remove(wb, in->wb_id);
	if (in->stage) {
		in->stage->keep = false;
		in->stage->dirty = false;
	}
	in->wb_state = WB_CLEAN;
	in->wb_committed = in->wb_gen;
	pending_del(wb, in);
	pthread_cond_broadcast(&wb->cond);
}

void wb_state_string(const struct inode *in, char *buf, size_t len)
{
	switch (in->wb_state) {
	case WB_DIRTY:
		snprintf(buf, len, "dirty");
		break;
	case WB_UPLOADING:
		snprintf(buf, len, "uploading");
		break;
	case WB_ERROR:
		snprintf(buf, len, "error: %s", strerror(-in->wb_err));
		break;
	default:
		if (in->wb_conflict)
			snprintf(buf, len, "conflict: saved as %s",
				 in->wb_conflict);
		else
			snprintf(buf, len, "clean");
	}
}

bool wb_dir_has_pending(struct wb *wb, const char *dir)
{
	struct inode *in;
	size_t n = strlen(dir);

	for (in = wb->pending; in; in = in->wb_next)
		if (n == 0 || (!strncmp(in->path, dir, n) &&
			       in->path[n] == '/'))
			return true;
	return false;
}

void wb_for_each_pending(struct wb *wb,
			 void (*fn)(void *arg, struct inode *in), void *arg)
{
	struct inode *in;

	for (in = wb->pending; in; in = in->wb_next)
		fn(arg, in);
}

static uint64_t cache_free_bytes(struct wb *wb)
{
	struct statvfs sv;

	if (statvfs(wb->data_dir, &sv) < 0)
		return UINT64_MAX; /* cannot tell: let write() report it */
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

int wb_reserve(struct wb *wb, uint64_t bytes)
{
	struct timespec ts;
	unsigned waited = 0;
	bool busy;

	if (__atomic_add_fetch(&wb->unchecked, bytes, __ATOMIC_RELAXED) <
	    WB_SPACE_CHECK_EVERY)
		return 0;
	__atomic_store_n(&wb->unchecked, 0, __ATOMIC_RELAXED);
	while (cache_free_bytes(wb) < wb->min_free + bytes) {
		pthread_mutex_lock(wb->lock);
		/* uploads in flight or due soon will free their files */
		busy = wb->uploading > 0;
		for (struct inode *in = wb->pending; in && !busy;
		     in = in->wb_next)
			busy = in->wb_state == WB_DIRTY && in->writers == 0;
		if (!busy || waited >= WB_SPACE_WAIT_MAX) {
			pthread_mutex_unlock(wb->lock);
			log_warn("cache directory %s is full: write refused",
				 wb->o.cache_dir);
			/* check again at the next write */
			__atomic_store_n(&wb->unchecked, WB_SPACE_CHECK_EVERY,
					 __ATOMIC_RELAXED);
			return -ENOSPC;
		}
		for (struct inode *in = wb->pending; in; in = in->wb_next)
			if (in->wb_state == WB_DIRTY)
				in->wb_due = 0; /* no quiet period now */
		pthread_cond_broadcast(&wb->cond);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&wb->cond, wb->lock, &ts);
		pthread_mutex_unlock(wb->lock);
		waited++;
	}
	return 0;
}

/* ---- rename intents: rec/ID.ren holds "from\nto\n" (hex) ---- */

int wb_intent_begin(struct wb *wb, const char *from, const char *to,
		    uint64_t *id)
{
	uint64_t n = __atomic_fetch_add(&wb->next_id, 1, __ATOMIC_RELAXED);
	char tmp[64], fin[64], *text, *hf, *ht;
	size_t len = (strlen(from) + strlen(to)) * 2 + 64;
	int fd, rc = 0, w;

	rec_name(tmp, sizeof(tmp), n, "rtmp");
	rec_name(fin, sizeof(fin), n, "ren");
	text = malloc(len);
	hf = malloc(strlen(from) * 2 + 1);
	ht = malloc(strlen(to) * 2 + 1);
	if (!text || !hf || !ht) {
		rc = -ENOMEM;
		goto out;
	}
	hex_encode(from, hf);
	hex_encode(to, ht);
	w = snprintf(text, len, "r2fs-rename 1\n%s\n%s\n", hf, ht);
	fd = openat(wb->rec_dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, text, (size_t)w);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && renameat(wb->rec_dir_fd, tmp, wb->rec_dir_fd, fin) < 0)
		rc = -errno;
	if (!rc && fsync(wb->rec_dir_fd) < 0)
		rc = -errno;
	if (rc)
		unlinkat(wb->rec_dir_fd, tmp, 0);
	else
		*id = n;
out:
	free(text);
	free(hf);
	free(ht);
	return rc;
}

void wb_intent_end(struct wb *wb, uint64_t id)
{
	char fin[64];

	rec_name(fin, sizeof(fin), id, "ren");
	unlinkat(wb->rec_dir_fd, fin, 0);
	fsync(wb->rec_dir_fd);
}

void wb_intent_replay(struct wb *wb,
		      int (*fn)(void *arg, const char *from, const char *to),
		      void *arg)
{
	DIR *d = fdopendir(dup(wb->rec_dir_fd));
	struct dirent *e;

	if (!d)
		return;
	rewinddir(d); /* the dup shares rec_dir_fd's offset */
	while ((e = readdir(d))) {
		char buf[8192], *from, *to, *nl, *end;
		unsigned long long id = strtoull(e->d_name, &end, 10);
		ssize_t n;
		int fd;

		if (strcmp(end, ".ren") && strcmp(end, ".rtmp"))
			continue;
		if (!strcmp(end, ".rtmp")) {
			unlinkat(wb->rec_dir_fd, e->d_name, 0);
			continue;
		}
		fd = openat(wb->rec_dir_fd, e->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strncmp(buf, "r2fs-rename 1\n", 14))
			continue;
		from = buf + 14;
		nl = strchr(from, '\n');
		if (!nl)
			continue;
		*nl = '\0';
		to = nl + 1;
		nl = strchr(to, '\n');
		if (!nl)
			continue;
		*nl = '\0';
		if (hex_decode(from, from) || hex_decode(to, to))
			continue;
		log_info("journal: finishing the rename of %s to %s", from,
			 to);
		if (fn(arg, from, to) == 0)
			wb_intent_end(wb, id);
		else
			log_err("journal: the rename of %s to %s is still "
				"unfinished; it is retried at the next mount",
				from, to);
	}
	closedir(d);
}

void wb_pending_stats(struct wb *wb, size_t *files, uint64_t *bytes)
{
	struct inode *in;

	*files = 0;
	*bytes = 0;
	for (in = wb->pending; in; in = in->wb_next) {
		(*files)++;
		if (in->stage)
			*bytes += in->stage->size;
	}
}

const char *wb_dir(const struct wb *wb)
{
	return wb->dir;
}
