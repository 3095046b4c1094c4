/*
 * journal.c - the write-back journal on disk.
 *
 * Layout under CACHE_DIR/journal-HASH/ (HASH names endpoint, bucket and
 * prefix, so buckets never mix):
 *
 *   lock          flock()ed by the mount that owns the journal; holds
 *                 "ENDPOINT BUCKET PREFIX" for humans
 *   data/ID       a staging file: a file's contents
 *   rec/ID.rec    its record: path, mode, uid, gid, mtime, size, xattrs,
 *                 base (what the upload may replace)
 *   rec/ID.ren    an unfinished directory rename: "from\nto\n" (hex)
 *   rec/ID.tmp, rec/ID.rtmp  records being written (removed at replay)
 *   metadata      the attribute cache saved at unmount (attrcache.h)
 *
 * A record is written to rec/ID.tmp, fsync'ed, renamed over rec/ID.rec
 * and the directory fsync'ed, after the data file itself was fsync'ed
 * (and the data directory, once per file, for its name): a crash at any
 * instant leaves the old record or the new one, each describing data
 * that is on disk.  Data files without a record belong to files that
 * were never closed and are removed at the next mount.  Paths are hex
 * in records, so any byte of a name survives the line format.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "stage.h"
#include "util.h"

struct journal {
	char *cache_dir;
	char *dir;      /* journal-HASH */
	char *data_dir;
	char *rec_dir;
	int rec_dir_fd;
	int data_dir_fd;
	int lock_fd;
	uint64_t next_id; /* atomic */
	uint64_t min_free;
	/* records the replay could not load (unreadable, data missing):
	 * they stay in the journal, and a sync that covers them fails; a
	 * NULL path (unreadable record) is below every directory.  Set at
	 * replay, read-only after. */
	char **stuck;
	size_t nstuck;
};

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

/*
 * The cache directory and the parents it lacks, each with mode: a
 * user's first mount may find no ~/.cache yet (the XDG base directory
 * spec wants it created 0700).  Parents that exist are not touched.
 */
static int mkdir_parents(const char *path, mode_t mode)
{
	char *parent = NULL, *slash;
	int rc = mkdir_p(path, mode);

	if (rc != -ENOENT)
		return rc;
	parent = strdup(path);
	if (!parent)
		return -ENOMEM;
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		goto out; /* ENOENT without a missing parent to make */
	*slash = '\0';
	rc = mkdir_parents(parent, mode);
	if (!rc)
		rc = mkdir_p(path, mode);
out:
	free(parent);
	return rc;
}

/* Decode NUL-terminated hex into out (which may be hex itself), and
 * terminate it.  0 or -EINVAL. */
static int unhex(const char *hex, char *out)
{
	size_t n = strlen(hex);
	int rc = util_hex_decode(hex, n, out);

	if (!rc)
		out[n / 2] = '\0';
	return rc;
}

static void rec_name(char *buf, size_t len, uint64_t id, const char *ext)
{
	snprintf(buf, len, "%llu.%s", (unsigned long long)id, ext);
}

/* Write text as rec/ID.EXT durably: through rec/ID.TMPEXT, renamed. */
static int rec_file_write(struct journal *j, uint64_t id, const char *ext,
			  const char *tmpext, const char *text, size_t len)
{
	char tmp[64], fin[64];
	int fd, rc;

	rec_name(tmp, sizeof(tmp), id, tmpext);
	rec_name(fin, sizeof(fin), id, ext);
	fd = openat(j->rec_dir_fd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = util_write_all(fd, text, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(j->rec_dir_fd, tmp, j->rec_dir_fd, fin) < 0)
		rc = -errno;
	if (!rc && fsync(j->rec_dir_fd) < 0)
		rc = -errno;
	if (rc)
		unlinkat(j->rec_dir_fd, tmp, 0);
	return rc;
}

void journal_record_release(struct journal_record *r)
{
	if (!r)
		return;
	free(r->path);
	free(r->xattrs);
	r->path = NULL;
	r->xattrs = NULL;
}

int journal_record_write(struct journal *j, uint64_t id,
			 const struct journal_record *r)
{
	const char *xattrs = r->xattrs && r->xattrs[0] ? r->xattrs : "-";
	size_t len = strlen(r->path) * 2 + strlen(xattrs) + 512;
	char *text = malloc(len), *hexpath = malloc(strlen(r->path) * 2 + 1);
	int n, rc = -ENOMEM;

	if (!text || !hexpath)
		goto out;
	util_hex_encode(r->path, strlen(r->path), hexpath);
	n = snprintf(text, len,
		     "r2fs-journal 1\npath %s\nmode %u\nuid %u\ngid %u\n"
		     "mtime %lld.%09ld\nsize %llu\nxattr %s\nbase %s%s\nend\n",
		     hexpath, (unsigned)r->mode, (unsigned)r->uid,
		     (unsigned)r->gid, (long long)r->mtime.tv_sec,
		     r->mtime.tv_nsec, (unsigned long long)r->size, xattrs,
		     r->base == JOURNAL_BASE_NONE ? "none" :
		     r->base == JOURNAL_BASE_ETAG ? "etag " : "any",
		     r->base == JOURNAL_BASE_ETAG ? r->base_etag : "");
	rc = rec_file_write(j, id, "rec", "tmp", text, (size_t)n);
out:
	free(text);
	free(hexpath);
	return rc;
}

void journal_record_remove(struct journal *j, uint64_t id)
{
	char fin[64];

	rec_name(fin, sizeof(fin), id, "rec");
	unlinkat(j->rec_dir_fd, fin, 0);
}

/* Parse record file name into r: 0, -EINVAL (damaged), -ENOMEM, -errno. */
static int record_read(struct journal *j, const char *name,
		       struct journal_record *r)
{
	char buf[16384], *line, *next, *val;
	bool have_end = false;
	ssize_t n;
	int fd, rc = -EINVAL;

	memset(r, 0, sizeof(*r));
	fd = openat(j->rec_dir_fd, name, O_RDONLY | O_CLOEXEC);
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
		if (!strcmp(line, "end")) {
			have_end = true;
			continue;
		}
		val = strchr(line, ' ');
		if (!val)
			continue;
		*val++ = '\0';
		if (!strcmp(line, "path")) {
			free(r->path);
			r->path = malloc(strlen(val) / 2 + 1);
			if (!r->path) {
				rc = -ENOMEM; /* not a bad record */
				goto bad;
			}
			if (unhex(val, r->path))
				goto bad;
		} else if (!strcmp(line, "mode")) {
			r->mode = (mode_t)strtoul(val, NULL, 10);
		} else if (!strcmp(line, "uid")) {
			r->uid = (uid_t)strtoul(val, NULL, 10);
		} else if (!strcmp(line, "gid")) {
			r->gid = (gid_t)strtoul(val, NULL, 10);
		} else if (!strcmp(line, "mtime")) {
			struct timespec ts;

			if (util_parse_time(val, &ts))
				r->mtime = ts;
		} else if (!strcmp(line, "size")) {
			r->size = strtoull(val, NULL, 10);
		} else if (!strcmp(line, "base")) {
			if (!strcmp(val, "none")) {
				r->base = JOURNAL_BASE_NONE;
			} else if (!strncmp(val, "etag ", 5) && val[5] &&
				   strlen(val + 5) < sizeof(r->base_etag)) {
				r->base = JOURNAL_BASE_ETAG;
				snprintf(r->base_etag, sizeof(r->base_etag),
					 "%s", val + 5);
			}
		} else if (!strcmp(line, "xattr")) {
			free(r->xattrs);
			r->xattrs = strdup(strcmp(val, "-") ? val : "");
			if (!r->xattrs) {
				rc = -ENOMEM;
				goto bad;
			}
		}
	}
	if (!r->xattrs)
		r->xattrs = strdup("");
	if (!r->xattrs) {
		rc = -ENOMEM;
		goto bad;
	}
	if (have_end && r->path && r->path[0] && S_ISREG(r->mode))
		return 0;
bad:
	journal_record_release(r);
	return rc;
}

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

int journal_open(const struct journal_opts *o, char *err, size_t errlen,
		 struct journal **out)
{
	struct journal *j = calloc(1, sizeof(*j));
	char name[64], *target = NULL;
	uint64_t h = 1469598103934665603ULL;
	int rc = -ENOMEM;

	if (!j)
		return -ENOMEM;
	j->lock_fd = -1;
	j->rec_dir_fd = -1;
	j->data_dir_fd = -1;
	j->next_id = 1;
	h = fnv1a(o->endpoint, h);
	h = fnv1a("\n", h);
	h = fnv1a(o->bucket, h);
	h = fnv1a("\n", h);
	h = fnv1a(o->prefix, h);
	snprintf(name, sizeof(name), "journal-%016llx", (unsigned long long)h);
	j->cache_dir = strdup(o->cache_dir);
	j->dir = path_join(o->cache_dir, name);
	if (!j->cache_dir || !j->dir)
		goto fail;
	j->data_dir = path_join(j->dir, "data");
	j->rec_dir = path_join(j->dir, "rec");
	target = path_join(j->dir, "lock");
	if (!j->data_dir || !j->rec_dir || !target)
		goto fail;
	rc = mkdir_parents(o->cache_dir, 0700);
	if (!rc)
		rc = mkdir_p(j->dir, 0700);
	if (!rc)
		rc = mkdir_p(j->data_dir, 0700);
	if (!rc)
		rc = mkdir_p(j->rec_dir, 0700);
	if (rc) {
		snprintf(err, errlen, "cannot create the journal in %s: %s",
			 o->cache_dir, strerror(-rc));
		goto fail;
	}
	j->lock_fd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lock_fd < 0 || flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, rc == -EBUSY ?
			 "cache directory %s is in use by another r2fs mount "
			 "of this bucket" : "cannot lock the journal in %s: %s",
			 o->cache_dir, strerror(-rc));
		goto fail;
	}
	/* Say which bucket this journal belongs to, for humans. */
	if (ftruncate(j->lock_fd, 0) == 0) {
		char line[1024];
		int n = snprintf(line, sizeof(line), "%s %s %s\n", o->endpoint,
				 o->bucket, o->prefix);

		if (n > 0)
			util_write_all(j->lock_fd, line, (size_t)n);
	}
	rc = open_dir(j->rec_dir, &j->rec_dir_fd, err, errlen);
	if (!rc)
		rc = open_dir(j->data_dir, &j->data_dir_fd, err, errlen);
	if (rc)
		goto fail;
	j->min_free = o->min_free;
	if (!j->min_free) {
		struct statvfs sv;
		uint64_t total = 0;

		if (statvfs(j->data_dir, &sv) == 0)
			total = (uint64_t)sv.f_blocks * sv.f_frsize;
		j->min_free = total / 20 < (1ull << 30) ? total / 20
							: (1ull << 30);
	}
	free(target);
	*out = j;
	return 0;
fail:
	free(target);
	journal_close(j);
	return rc;
}

void journal_close(struct journal *j)
{
	size_t i;

	if (!j)
		return;
	if (j->rec_dir_fd >= 0)
		close(j->rec_dir_fd);
	if (j->data_dir_fd >= 0)
		close(j->data_dir_fd);
	for (i = 0; i < j->nstuck; i++)
		free(j->stuck[i]);
	free(j->stuck);
	if (j->lock_fd >= 0)
		close(j->lock_fd); /* releases the flock */
	free(j->cache_dir);
	free(j->dir);
	free(j->data_dir);
	free(j->rec_dir);
	free(j);
}

const char *journal_dir(const struct journal *j)
{
	return j->dir;
}

const char *journal_cache_dir(const struct journal *j)
{
	return j->cache_dir;
}

static char *data_path(struct journal *j, uint64_t id)
{
	char name[32];

	snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
	return path_join(j->data_dir, name);
}

int journal_stage_create(struct journal *j, struct stage **out,
			 uint64_t *id)
{
	uint64_t n = __atomic_fetch_add(&j->next_id, 1, __ATOMIC_RELAXED);
	char *path = data_path(j, n);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = stage_new(path, out);
	free(path);
	if (rc == 0)
		*id = n;
	return rc;
}

int journal_sync_names(struct journal *j)
{
	return fsync(j->data_dir_fd) < 0 ? -errno : 0;
}

/* Remove data files that no record names (never closed). */
static void remove_orphans(struct journal *j)
{
	DIR *d = opendir(j->data_dir);
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
		if (faccessat(j->rec_dir_fd, rec, F_OK, 0) < 0) {
			char *p = data_path(j, id);

			if (p)
				unlink(p);
			free(p);
		}
	}
	closedir(d);
}

/* Remember a record the replay leaves in the journal (path NULL: not
 * known).  Setup only, so no lock. */
static int add_stuck(struct journal *j, const char *path)
{
	char **n = realloc(j->stuck, (j->nstuck + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	j->stuck = n;
	n[j->nstuck] = NULL;
	if (path && !(n[j->nstuck] = strdup(path)))
		return -ENOMEM;
	j->nstuck++;
	return 0;
}

/* Out of descriptors or memory: the mount has to fail, since skipping
 * the record would leave its file out of this mount unannounced. */
static bool out_of_resources(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

bool journal_stuck_below(const struct journal *j, const char *dir)
{
	size_t i;

	for (i = 0; i < j->nstuck; i++)
		if (!j->stuck[i] || util_path_below(j->stuck[i], dir))
			return true;
	return false;
}

/* A record found at replay, before the newest of each path is chosen. */
struct found {
	uint64_t id;
	struct journal_record r;
};

static int found_by_path_then_id(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	int c = strcmp(x->r.path, y->r.path);

	if (c)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int found_by_id(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Read every record of rec/ into *out (malloc'd); unreadable ones are
 * logged and counted as stuck. */
static int read_records(struct journal *j, struct found **out, size_t *n)
{
	int fd = dup(j->rec_dir_fd), rc = 0;
	struct found *f = NULL, *nf;
	size_t cap = 0;
	struct dirent *e;
	DIR *d;

	*n = 0;
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
		char *end;
		unsigned long long id = strtoull(e->d_name, &end, 10);
		struct journal_record r;

		if (e->d_name[0] == '.')
			continue;
		if (!strcmp(end, ".tmp")) {
			unlinkat(j->rec_dir_fd, e->d_name, 0);
			continue;
		}
		if (id >= j->next_id)
			j->next_id = id + 1;
		if (strcmp(end, ".rec"))
			continue;
		rc = record_read(j, e->d_name, &r);
		if (out_of_resources(rc))
			break;
		if (rc) {
			log_err("journal record %s/%s is unreadable; left in "
				"place, and a sync of the mount fails until it "
				"is removed", j->rec_dir, e->d_name);
			rc = add_stuck(j, NULL);
			if (rc)
				break;
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			nf = realloc(f, cap * sizeof(*f));
			if (!nf) {
				journal_record_release(&r);
				rc = -ENOMEM;
				break;
			}
			f = nf;
		}
		f[*n].id = id;
		f[(*n)++].r = r;
	}
	closedir(d);
	*out = f;
	return rc;
}

/* Open record f's data file and hand both to fn; 0, or -errno when the
 * mount must fail. */
static int replay_one(struct journal *j, struct found *f,
		      journal_replay_fn fn, void *arg)
{
	struct stage *st = NULL;
	char *dpath = data_path(j, f->id);
	struct stat sb;
	int rc = dpath ? 0 : -ENOMEM;

	/* the data was whole and fsync'ed before its record was written:
	 * another length means it was torn or changed since, and what is
	 * there must not go up as the file (stage_open would make it the
	 * record's length, with zeros or cut) */
	if (!rc && stat(dpath, &sb) == 0 && (uint64_t)sb.st_size != f->r.size) {
		log_err("journal: data of %s (%s) is %llu bytes, its record "
			"says %llu: torn or changed outside r2fs; not uploaded, "
			"left in place, and a sync of it fails", f->r.path,
			dpath, (unsigned long long)sb.st_size,
			(unsigned long long)f->r.size);
		rc = add_stuck(j, f->r.path);
		goto out;
	}
	if (!rc)
		rc = stage_open(dpath, f->r.size, &st);
	if (out_of_resources(rc))
		goto out;
	if (rc) {
		log_err("journal: data of %s (%s) cannot be opened: %s; the "
			"record is left in place, and a sync of it fails",
			f->r.path, dpath, strerror(-rc));
		rc = add_stuck(j, f->r.path);
		goto out;
	}
	st->keep = true; /* the journal's, whatever fn does with it */
	st->named = true;
	rc = fn(arg, f->id, &f->r, stage_get(st));
	if (rc > 0 || rc == -EINVAL) {
		log_err("journal record %s/%llu.rec (%s) cannot be loaded; "
			"left in place, and a sync of it fails", j->rec_dir,
			(unsigned long long)f->id, f->r.path ? f->r.path : "?");
		rc = add_stuck(j, f->r.path);
	}
out:
	stage_put(st);
	free(dpath);
	return rc;
}

int journal_replay(struct journal *j, journal_replay_fn fn, void *arg)
{
	struct found *f = NULL;
	size_t n = 0, i;
	int rc, count = 0;

	rc = read_records(j, &f, &n);
	if (rc)
		goto out;
	/* two records for one name: the newer id wins (qsort wants an
	 * array, even of nothing) */
	if (n)
		qsort(f, n, sizeof(*f), found_by_path_then_id);
	for (i = 0; i + 1 < n; i++) {
		if (strcmp(f[i].r.path, f[i + 1].r.path))
			continue;
		journal_record_remove(j, f[i].id);
		journal_record_release(&f[i].r);
	}
	if (n)
		qsort(f, n, sizeof(*f), found_by_id);
	for (i = 0; i < n && !rc; i++) {
		if (!f[i].r.path)
			continue; /* superseded */
		rc = replay_one(j, &f[i], fn, arg);
		if (!rc)
			count++;
	}
	if (!rc)
		remove_orphans(j);
out:
	for (i = 0; i < n; i++)
		journal_record_release(&f[i].r);
	free(f);
	return rc ? rc : count;
}

int journal_intent_begin(struct journal *j, const char *from, const char *to,
			 uint64_t *id)
{
	uint64_t n = __atomic_fetch_add(&j->next_id, 1, __ATOMIC_RELAXED);
	size_t len = (strlen(from) + strlen(to)) * 2 + 64;
	char *text = malloc(len), *hf = malloc(strlen(from) * 2 + 1);
	char *ht = malloc(strlen(to) * 2 + 1);
	int rc = -ENOMEM, w;

	if (!text || !hf || !ht)
		goto out;
	util_hex_encode(from, strlen(from), hf);
	util_hex_encode(to, strlen(to), ht);
	w = snprintf(text, len, "r2fs-rename 1\n%s\n%s\n", hf, ht);
	rc = rec_file_write(j, n, "ren", "rtmp", text, (size_t)w);
	if (!rc)
		*id = n;
out:
	free(text);
	free(hf);
	free(ht);
	return rc;
}

void journal_intent_end(struct journal *j, uint64_t id)
{
	char fin[64];

	rec_name(fin, sizeof(fin), id, "ren");
	unlinkat(j->rec_dir_fd, fin, 0);
	fsync(j->rec_dir_fd);
}

void journal_intent_replay(struct journal *j,
			   int (*fn)(void *arg, const char *from,
				     const char *to),
			   void *arg)
{
	DIR *d = fdopendir(dup(j->rec_dir_fd));
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
			unlinkat(j->rec_dir_fd, e->d_name, 0);
			continue;
		}
		fd = openat(j->rec_dir_fd, e->d_name, O_RDONLY | O_CLOEXEC);
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
		if (unhex(from, from) || unhex(to, to))
			continue;
		log_info("journal: finishing the rename of %s to %s", from,
			 to);
		if (fn(arg, from, to) == 0)
			journal_intent_end(j, id);
		else
			log_err("journal: the rename of %s to %s is still "
				"unfinished; it is retried at the next mount",
				from, to);
	}
	closedir(d);
}

uint64_t journal_free_bytes(const struct journal *j)
{
	struct statvfs sv;

	if (statvfs(j->data_dir, &sv) < 0)
		return UINT64_MAX; /* cannot tell: let write() report it */
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

uint64_t journal_min_free(const struct journal *j)
{
	return j->min_free;
}
