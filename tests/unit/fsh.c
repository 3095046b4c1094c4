/*
 * fsh.c - the filesystem test harness (fsh.h): fs.h calls made the way
 * fuse_ops.c makes them, over memstore behind faultstore.
 */
#include "fsh.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define FSH_ROOT 1 /* INODE_ROOT */

static int fsh_rm(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int fsh_mount(struct fsh *h)
{
	int rc = fs_new(&h->conf, faultstore_store(h->fault), &h->fs, h->err,
			sizeof(h->err));

	if (rc) {
		fprintf(stderr, "# fs_new: %s\n", h->err);
		h->fs = NULL;
		return rc;
	}
	rc = fs_start(h->fs);
	if (rc) {
		fs_free(h->fs);
		h->fs = NULL;
	}
	return rc;
}

int fsh_unmount(struct fsh *h)
{
	if (!h->fs)
		return 0;
	fs_shutdown(h->fs);
	fs_free(h->fs);
	h->fs = NULL;
	return 0;
}

int fsh_remount(struct fsh *h)
{
	fsh_unmount(h);
	return fsh_mount(h);
}

static int fsh_setup(struct fsh *h, struct memstore *ms, double delay)
{
	memset(h, 0, sizeof(*h));
	conf_init(&h->conf);
	snprintf(h->cache_dir, sizeof(h->cache_dir), "/tmp/r2fs-fsh.XXXXXX");
	if (!mkdtemp(h->cache_dir))
		return -errno;
	h->conf.bucket = strdup("bucket");
	h->conf.prefix = strdup("");
	h->conf.endpoint = strdup("http://memstore.invalid");
	h->conf.cache_dir = strdup(h->cache_dir);
	h->conf.writeback_delay = delay;
	h->conf.upload_workers = 4;
	h->conf.uid = 1000;
	h->conf.gid = 1000;
	h->ctx.uid = 1000;
	h->ctx.gid = 1000;
	h->ms_borrowed = ms != NULL;
	h->ms = ms ? ms : memstore_new();
	h->fault = h->ms ? faultstore_new(memstore_store(h->ms), 1) : NULL;
	if (!h->conf.bucket || !h->conf.prefix || !h->conf.endpoint ||
	    !h->conf.cache_dir || !h->fault)
		return -ENOMEM;
	return fsh_mount(h);
}

int fsh_init(struct fsh *h, double delay)
{
	return fsh_setup(h, NULL, delay);
}

int fsh_init_shared(struct fsh *h, struct fsh *with, double delay)
{
	return fsh_setup(h, with->ms, delay);
}

void fsh_done(struct fsh *h)
{
	struct store *s;

	fsh_unmount(h);
	if (h->fault) {
		s = faultstore_store(h->fault);
		s->ops->destroy(s);
	}
	if (h->ms && !h->ms_borrowed) {
		s = memstore_store(h->ms);
		s->ops->destroy(s);
	}
	conf_release(&h->conf);
	if (h->cache_dir[0])
		nftw(h->cache_dir, fsh_rm, 16, FTW_DEPTH | FTW_PHYS);
	memset(h, 0, sizeof(*h));
}

int fsh_crash_child(struct fsh *h, int (*fn)(struct fsh *h, void *arg),
		    void *arg)
{
	int status, rc;
	pid_t pid;

	fsh_unmount(h);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		rc = fsh_mount(h);
		if (!rc)
			rc = fn(h, arg);
		_exit(rc < 0 ? -rc : rc); /* no unmount: as kill -9 */
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	rc = WIFEXITED(status) ? -WEXITSTATUS(status) : -EINTR;
	return rc;
}

/* ---- paths ---- */

static int walk(struct fsh *h, const char *path, size_t len, struct stat *st)
{
	char name[256];
	uint64_t ino = FSH_ROOT;
	size_t i = 0, n;
	int rc;

	rc = fs_getattr(h->fs, FSH_ROOT, st);
	while (!rc && i < len) {
		n = 0;
		while (i + n < len && path[i + n] != '/')
			n++;
		if (n == 0 || n >= sizeof(name))
			return -EINVAL;
		memcpy(name, path + i, n);
		name[n] = '\0';
		rc = fs_lookup(h->fs, ino, name, st);
		ino = st->st_ino;
		i += n + 1;
	}
	return rc;
}

int fsh_stat(struct fsh *h, const char *path, struct stat *st)
{
	return walk(h, path, strlen(path), st);
}

int fsh_parent(struct fsh *h, const char *path, uint64_t *ino, char *name,
	       size_t len)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	struct stat st;
	int rc;

	rc = walk(h, path, slash ? (size_t)(slash - path) : 0, &st);
	if (rc)
		return rc;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	snprintf(name, len, "%s", base);
	*ino = st.st_ino;
	return 0;
}

/* ---- operations ---- */

int fsh_mkdir(struct fsh *h, const char *path, mode_t mode)
{
	char name[256];
	struct stat st;
	uint64_t p;
	int rc = fsh_parent(h, path, &p, name, sizeof(name));

	return rc ? rc : fs_mkdir(h->fs, p, name, mode, &h->ctx, &st);
}

static int write_close(struct fs_file *f, const void *data, size_t len,
		       uint64_t off)
{
	ssize_t w = len ? fs_write(f, data, len, off) : 0;
	int rc = w < 0 ? (int)w : (size_t)w != len ? -EIO : 0;
	int frc = fs_flush(f);

	fs_release(f);
	return rc ? rc : frc;
}

int fsh_write_file(struct fsh *h, const char *path, const void *data,
		   size_t len)
{
	struct fs_file *f;
	char name[256];
	struct stat st;
	uint64_t p;
	int rc = fsh_parent(h, path, &p, name, sizeof(name));

	if (!rc)
		rc = fs_create(h->fs, p, name, 0644,
			       O_CREAT | O_WRONLY | O_TRUNC, &h->ctx, &st, &f);
	return rc ? rc : write_close(f, data, len, 0);
}

int fsh_append(struct fsh *h, const char *path, const void *data,
	       size_t len)
{
	struct fs_file *f;
	struct stat st;
	int rc = fsh_open(h, path, O_WRONLY | O_APPEND, &st, &f);

	if (!rc)
		rc = fs_getattr(h->fs, st.st_ino, &st);
	return rc ? rc : write_close(f, data, len, (uint64_t)st.st_size);
}

int fsh_open(struct fsh *h, const char *path, int flags, struct stat *st,
	     struct fs_file **f)
{
	int rc = fsh_stat(h, path, st);

	if (!rc)
		rc = fs_open(h->fs, st->st_ino, flags, f);
	if (rc == -ESTALE) { /* as the kernel: look up again, retry once */
		rc = fsh_stat(h, path, st);
		if (!rc)
			rc = fs_open(h->fs, st->st_ino, flags, f);
	}
	return rc;
}

struct fsh_read {
	char *buf;
	size_t got;
};

static void deliver(void *arg, const struct iovec *iov, int n)
{
	struct fsh_read *r = arg;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(r->buf + r->got, iov[i].iov_base, iov[i].iov_len);
		r->got += iov[i].iov_len;
	}
}

int fsh_read_file(struct fsh *h, const char *path, char **data, size_t *len)
{
	struct fsh_read r = { NULL, 0 };
	struct fs_file *f = NULL;
	struct stat st;
	char *tmp = NULL;
	ssize_t n;
	int rc;

	*data = NULL;
	rc = fsh_open(h, path, O_RDONLY, &st, &f);
	if (rc)
		return rc;
	r.buf = malloc((size_t)st.st_size + 1);
	tmp = malloc(1 << 20);
	if (!r.buf || !tmp) {
		rc = -ENOMEM;
		goto out;
	}
	while (r.got < (size_t)st.st_size) {
		size_t want = (size_t)st.st_size - r.got;

		n = fs_read(f, tmp, want < (1u << 20) ? want : 1u << 20,
			    r.got, deliver, &r);
		if (n <= 0) {
			rc = n < 0 ? (int)n : -EIO;
			goto out;
		}
	}
	r.buf[r.got] = '\0';
	*data = r.buf;
	*len = r.got;
	r.buf = NULL;
out:
	fs_release(f);
	free(r.buf);
	free(tmp);
	return rc;
}

int fsh_unlink(struct fsh *h, const char *path)
{
	char name[256];
	uint64_t p;
	int rc = fsh_parent(h, path, &p, name, sizeof(name));

	return rc ? rc : fs_unlink(h->fs, p, name);
}

int fsh_rmdir(struct fsh *h, const char *path)
{
	char name[256];
	uint64_t p;
	int rc = fsh_parent(h, path, &p, name, sizeof(name));

	return rc ? rc : fs_rmdir(h->fs, p, name);
}

int fsh_rename(struct fsh *h, const char *from, const char *to)
{
	char name[256], nname[256];
	uint64_t p, np;
	int rc = fsh_parent(h, from, &p, name, sizeof(name));

	if (!rc)
		rc = fsh_parent(h, to, &np, nname, sizeof(nname));
	return rc ? rc : fs_rename(h->fs, p, name, np, nname, 0);
}

int fsh_chmod(struct fsh *h, const char *path, mode_t mode)
{
	struct stat st, in = { .st_mode = mode };
	int rc = fsh_stat(h, path, &st);

	return rc ? rc : fs_setattr(h->fs, st.st_ino, NULL, &in, FS_SET_MODE,
				    &st);
}

int fsh_utime(struct fsh *h, const char *path, time_t mtime, bool fd)
{
	struct stat st, in = { 0 };
	struct fs_file *f = NULL;
	int rc = fd ? fsh_open(h, path, O_WRONLY, &st, &f)
		    : fsh_stat(h, path, &st);

	in.st_mtim.tv_sec = mtime;
	in.st_atim.tv_sec = mtime;
	if (!rc)
		rc = fs_setattr(h->fs, st.st_ino, f, &in,
				FS_SET_MTIME | FS_SET_ATIME, &st);
	if (f) {
		int frc = fs_flush(f);

		fs_release(f);
		if (!rc)
			rc = frc;
	}
	return rc;
}

int fsh_symlink(struct fsh *h, const char *path, const char *target)
{
	char name[256];
	struct stat st;
	uint64_t p;
	int rc = fsh_parent(h, path, &p, name, sizeof(name));

	return rc ? rc : fs_symlink(h->fs, p, name, target, &h->ctx, &st);
}

int fsh_list(struct fsh *h, const char *path, char **out)
{
	struct fs_dir *d = NULL;
	size_t i, n, len = 0, cap = 256;
	const char *name;
	struct stat st;
	uint64_t ino;
	mode_t type;
	char *s;
	int rc;

	*out = NULL;
	rc = fsh_stat(h, path, &st);
	if (!rc)
		rc = fs_opendir(h->fs, st.st_ino, &d);
	if (rc)
		return rc;
	s = malloc(cap);
	n = fs_dir_count(d);
	for (i = 0; s && i < n; i++) {
		name = fs_dir_entry(d, i, &type, &ino);
		if (len + strlen(name) + 2 > cap) {
			char *ns;

			cap = (len + strlen(name) + 2) * 2;
			ns = realloc(s, cap);
			if (!ns) {
				free(s);
				s = NULL;
				break;
			}
			s = ns;
		}
		len += (size_t)snprintf(s + len, cap - len, "%s\n", name);
	}
	fs_releasedir(d);
	if (!s)
		return -ENOMEM;
	s[len] = '\0';
	*out = s;
	return 0;
}

int fsh_state(struct fsh *h, const char *path, char *buf, size_t len)
{
	struct stat st;
	ssize_t n;
	int rc = fsh_stat(h, path, &st);

	if (rc)
		return rc;
	n = fs_getxattr(h->fs, st.st_ino, FS_XATTR_STATE, buf, len - 1);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return 0;
}

int fsh_sync(struct fsh *h)
{
	return fs_setxattr(h->fs, FSH_ROOT, FS_XATTR_SYNC, "1", 1, 0);
}

/* ---- the bucket ---- */

char *fsh_object(struct fsh *h, const char *key)
{
	void *data;
	size_t len;
	char *s;

	if (memstore_get_bytes(h->ms, key, &data, &len, NULL))
		return NULL;
	s = malloc(len + 1);
	if (s) {
		memcpy(s, data, len);
		s[len] = '\0';
	}
	free(data);
	return s;
}

char *fsh_object_meta(struct fsh *h, const char *key, const char *name)
{
	struct store_object obj = { 0 };
	const char *v;
	void *data;
	size_t len;
	char *s = NULL;

	if (memstore_get_bytes(h->ms, key, &data, &len, &obj))
		return NULL;
	free(data);
	v = store_object_meta(&obj, name);
	if (v)
		s = strdup(v);
	store_object_release(&obj);
	return s;
}

char *fsh_keys(struct fsh *h)
{
	return memstore_keys(h->ms);
}

uint64_t fsh_count(struct fsh *h, enum ms_op op)
{
	return memstore_count(h->ms, op);
}

void fsh_reset_counts(struct fsh *h)
{
	memstore_log_reset(h->ms);
}

/* nftw: is this a record? */
static int any_record;

static int find_record(const char *path, const struct stat *st, int flag,
		       struct FTW *ftw)
{
	size_t n = strlen(path);

	(void)st;
	(void)ftw;
	if (flag == FTW_F && n > 4 && !strcmp(path + n - 4, ".rec"))
		any_record = 1;
	return 0;
}

bool fsh_journal_empty(struct fsh *h)
{
	any_record = 0;
	nftw(h->cache_dir, find_record, 16, FTW_PHYS);
	return !any_record;
}
