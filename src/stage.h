/*
 * stage.h - a staging file: the local copy of a file being written.
 *
 * Contents live on disk in the journal's data directory, never in memory,
 * so a file of any size costs a file descriptor and a few bytes of RAM.
 * A stage is reference-counted (atomically): the inode holds one
 * reference, and an I/O path that uses the fd without the fs lock holds
 * another for the duration.  size and dirty are protected by the fs lock.
 *
 * The file is named (data/ID) so a committed file survives a crash; when
 * the last reference goes, the file is removed unless keep is set (the
 * journal sets it while a committed version is not yet in the bucket).
 */
#ifndef R2FS_STAGE_H
#define R2FS_STAGE_H

#include <stdbool.h>
#include <stdint.h>

struct stage {
	int fd;
	char *path;    /* the data file */
	uint64_t size; /* logical size; protected by the fs lock */
	bool dirty;    /* differs from the bucket; protected by the fs lock */
	bool keep;     /* keep the file when freed; protected by the fs lock */
	unsigned refs; /* atomic */
};

/* A new empty stage at path (created, truncated), one reference. */
int stage_new(const char *path, struct stage **out);
/* An existing data file (journal replay), size bytes long. */
int stage_open(const char *path, uint64_t size, struct stage **out);
struct stage *stage_get(struct stage *st);
/* Drop a reference; the last one closes (and maybe removes) the file. */
void stage_put(struct stage *st);

#endif
