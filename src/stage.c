/*
 * stage.c - anonymous staging files (O_TMPFILE) in the cache directory.
 *
 * Anonymous files vanish with the process, which is right for the simple
 * upload-at-close model: nothing is promised to survive a crash until the
 * write-back journal names its files.
 */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int stage_new(const char *dir, struct stage **out)
{
	struct stage *st = calloc(1, sizeof(*st));
	char path[PATH_MAX];
	int fd;

	if (!st)
		return -ENOMEM;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
		       errno == EINVAL)) {
		snprintf(path, sizeof(path), "%s/stage.XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0) {
		int err = -errno;

		free(st);
		return err;
	}
	st->fd = fd;
	st->refs = 1;
	*out = st;
	return 0;
}

struct stage *stage_get(struct stage *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	return st;
}

void stage_put(struct stage *st)
{
	if (!st || __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL))
		return;
	close(st->fd);
	free(st);
}
