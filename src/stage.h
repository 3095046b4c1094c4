/*
 * stage.h - a staging file: the local copy of a file being written.
 *
 * Contents live on disk in the cache directory, never in memory, so a
 * file of any size costs a file descriptor and a few bytes of RAM.
 * A stage is reference-counted (atomically): the inode holds one
 * reference, and an I/O path that uses the fd without the fs lock holds
 * another for the duration.  size and dirty are protected by the fs lock.
 */
#ifndef R2FS_STAGE_H
#define R2FS_STAGE_H

#include <stdbool.h>
#include <stdint.h>

struct stage {
	int fd;
	uint64_t size; /* logical size; protected by the fs lock */
	bool dirty;    /* differs from the bucket; protected by the fs lock */
	unsigned refs; /* atomic */
};

/* A new empty stage in dir (one reference).  0 or -errno. */
int stage_new(const char *dir, struct stage **out);
struct stage *stage_get(struct stage *st);
/* Drop a reference; the last one closes the file.  NULL-safe. */
void stage_put(struct stage *st);

#endif
