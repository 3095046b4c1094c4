/*
 * memlimit.c - the cgroup v2 memory limit, and options scaled to fit it.
 *
 * Where the limit is: /proc/self/cgroup names the process's cgroup on
 * its "0::" line; its memory.max under /sys/fs/cgroup is "max" or bytes.
 * On a hybrid host (v2 mounted without the memory controller, as older
 * Kubernetes nodes and this project's test machine are) the v1 memory
 * hierarchy's memory.limit_in_bytes says the same.
 * A parent cgroup may be the one with the limit (a pod's cgroup around
 * its containers), so every level up to the root is read and the
 * smallest limit wins; a level without the file (the root has none, a
 * cgroup without the memory controller) is skipped.
 *
 * What the mount takes (an estimate, counted where the memory is):
 *   read-ahead   readahead_max MiB, the pool's own cap;
 *   uploads      each worker streams up to FS_PART_PARALLEL (4) parts at
 *                once, each with a 1 MiB hashing buffer and curl's
 *                buffers: 5 MiB a worker;
 *   inodes       about 800 bytes each (inode, name, attributes,
 *                kernel-side dentry pressure), up to max_inodes;
 *   fixed        64 MiB: the metadata cache, 200-odd connections, the
 *                FUSE threads' 1 MiB request buffers.
 * Only the first three follow options, so only they are scaled; the
 * budget is half the limit, because the staging files' page cache and
 * the read cache's pages are charged to the cgroup too.
 */
#include "memlimit.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MIB ((uint64_t)1 << 20)
#define UPLOAD_WORKER_BYTES (5 * MIB)
#define INODE_BYTES 800
#define FIXED_BYTES (64 * MIB)
#define FLOOR_READAHEAD_MB 8
#define FLOOR_INODES 1000

/* Does the comma-separated list [s, s + n) hold name? */
static bool has_controller(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name);
	const char *end = s + n, *comma;

	while (s < end) {
		comma = memchr(s, ',', (size_t)(end - s));
		if (!comma)
			comma = end;
		if ((size_t)(comma - s) == k && !strncmp(s, name, k))
			return true;
		s = comma + 1;
	}
	return false;
}

int memlimit_cgroup_path(const char *proc_cgroup, const char *v1, char *out,
			 size_t len)
{
	const char *line = proc_cgroup, *eol, *c1, *c2;
	size_t n;

	for (; line && *line; line = eol ? eol + 1 : NULL) {
		eol = strchr(line, '\n');
		n = eol ? (size_t)(eol - line) : strlen(line);
		c1 = memchr(line, ':', n);
		c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line))
			: NULL;
		if (!c2)
			continue;
		if (v1 ? !has_controller(c1 + 1, (size_t)(c2 - c1 - 1), v1)
		       : (c1 != line + 1 || line[0] != '0' || c2 != c1 + 1))
			continue;
		n -= (size_t)(c2 + 1 - line);
		if (n >= len || c2[1] != '/')
			return -EINVAL;
		memcpy(out, c2 + 1, n);
		out[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

int memlimit_parse_max(const char *text, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!strncmp(text, "max", 3) && (!text[3] || text[3] == '\n')) {
		*out = MEMLIMIT_NONE;
		return 0;
	}
	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || (*end && *end != '\n'))
		return -EINVAL;
	/* v1's "no limit" is LONG_MAX rounded down to a page */
	*out = v >= ((uint64_t)1 << 62) ? MEMLIMIT_NONE : v;
	return 0;
}

/* The text of a small file into buf: 0 or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* The smallest limit in file (under root/dir) of cg and its ancestors,
 * into *limit (left alone when none is set); 0 or -ENAMETOOLONG. */
static int smallest_up(const char *root, const char *dir, char *cg,
		       const char *file, uint64_t *limit)
{
	char path[PATH_MAX + 64], text[64], *slash;
	uint64_t v;
	int n;

	for (;;) {
		n = snprintf(path, sizeof(path), "%s%s%s/%s", root, dir,
			     strcmp(cg, "/") ? cg : "", file);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		if (read_small(path, text, sizeof(text)) == 0 &&
		    memlimit_parse_max(text, &v) == 0 && v < *limit)
			*limit = v;
		if (!strcmp(cg, "/"))
			return 0;
		slash = strrchr(cg, '/');
		if (slash == cg)
			cg[1] = '\0'; /* "/a" -> "/" */
		else
			*slash = '\0';
	}
}

int memlimit_read(const char *root, const char *proc_cgroup,
		  uint64_t *limit)
{
	char cg[PATH_MAX];
	int rc, found = 0;

	*limit = MEMLIMIT_NONE;
	if (!memlimit_cgroup_path(proc_cgroup, NULL, cg, sizeof(cg))) {
		found = 1;
		rc = smallest_up(root, "", cg, "memory.max", limit);
		if (rc || *limit != MEMLIMIT_NONE)
			return rc;
	}
	if (!memlimit_cgroup_path(proc_cgroup, "memory", cg, sizeof(cg))) {
		found = 1;
		rc = smallest_up(root, "/memory", cg, "memory.limit_in_bytes",
				 limit);
		if (rc)
			return rc;
	}
	return found ? 0 : -ENOENT;
}

uint64_t memlimit_need(unsigned readahead_mb, unsigned upload_workers,
		       unsigned max_inodes)
{
	return (uint64_t)readahead_mb * MIB +
	       (uint64_t)upload_workers * UPLOAD_WORKER_BYTES +
	       (uint64_t)max_inodes * INODE_BYTES + FIXED_BYTES;
}

/* v scaled by num/den, not below floor (nor above v). */
static unsigned scaled(unsigned v, uint64_t num, uint64_t den,
		       unsigned floor)
{
	uint64_t s = den ? (uint64_t)v * num / den : v;

	if (s < floor)
		s = floor;
	return s > v ? v : (unsigned)s;
}

bool memlimit_fit(uint64_t limit, unsigned *readahead_mb,
		  unsigned *upload_workers, unsigned *max_inodes)
{
	unsigned ra = *readahead_mb, w = *upload_workers, in = *max_inodes;
	uint64_t budget, need, variable, room;

	if (limit == MEMLIMIT_NONE)
		return false;
	budget = limit / 2;
	need = memlimit_need(*readahead_mb, *upload_workers, *max_inodes);
	if (need <= budget)
		return false;
	variable = need - FIXED_BYTES;
	room = budget > FIXED_BYTES ? budget - FIXED_BYTES : 0;
	*readahead_mb = scaled(*readahead_mb, room, variable,
			       FLOOR_READAHEAD_MB);
	*upload_workers = scaled(*upload_workers, room, variable, 1);
	*max_inodes = scaled(*max_inodes, room, variable, FLOOR_INODES);
	return ra != *readahead_mb || w != *upload_workers ||
	       in != *max_inodes;
}
