/*
 * stage.c - staging files in the journal's data directory.
 */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int stage_make(const char *path, int flags, uint64_t size,
		      struct stage **out)
{
	struct stage *st = calloc(1, sizeof(*st));
	int fd, err;

	if (!st)
		return -ENOMEM;
	st->path = strdup(path);
	if (!st->path) {
		free(st);
		return -ENOMEM;
	}
	fd = open(path, flags | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		free(st->path);
		free(st);
		return err;
	}
	st->fd = fd;
	st->size = size;
	st->refs = 1;
	*out = st;
	return 0;
}

int stage_new(const char *path, struct stage **out)
{
	return stage_make(path, O_CREAT | O_TRUNC, 0, out);
}

int stage_open(const char *path, uint64_t size, struct stage **out)
{
	int rc = stage_make(path, 0, size, out);

	if (rc == 0 && ftruncate((*out)->fd, (off_t)size) < 0) {
		rc = -errno;
		stage_put(*out);
	}
	return rc;
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
	if (!st->keep)
		unlink(st->path);
	free(st->path);
	free(st);
}
