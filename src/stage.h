/*
 * stage.h - a staging file: the local copy of a file being written.
 *
 * Contents live on disk in the journal's data directory, never in memory,
 * so a file of any size costs a file descriptor and a few bytes of RAM.
 * A stage is reference-counted (atomically): the inode holds one
 * reference, and an I/O path that uses the fd without the fs lock holds
 * another for the duration.  size is protected by the fs lock; keep by the
 * journal's lock (wbcache.h), and read only by the last stage_put.
 *
 * The file is named (data/ID) so a committed file survives a crash; when
 * the last reference goes, the file is removed unless keep is set (the
 * journal sets it while a committed version is not yet in the bucket).
 */
#ifndef R2FS_STAGE_H
#define R2FS_STAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;

/* The unit in which a stage fetches its object's bytes. */
#define STAGE_CHUNK ((uint64_t)1 << 20)
/* The most one GET fetches when a run of chunks is needed. */
#define STAGE_FETCH_MAX ((uint64_t)64 << 20)

struct stage {
	int fd;
	char *path;    /* the data file */
	uint64_t size; /* logical size; protected by the fs lock */
	bool keep;     /* keep the file when freed (the journal sets it while
			  a committed version is not yet in the bucket) */
	bool named;    /* its name in data/ is durable (the directory was
			  fsync'ed since it was made); under the stage's lock,
			  held for writing */
	unsigned refs; /* atomic */
	/* held for writing while the journal uploads the stage or the
	 * filesystem truncates or commits it, for reading while it writes
	 * into it: no write lands in the middle of an upload.  Taken before
	 * the fs lock (lock order: wbcache.h). */
	pthread_rwlock_t lock;
	/*
	 * A stage made from an object (stage_set_source) fetches the
	 * object's bytes only when they are first read, partly overwritten,
	 * or needed for the upload (stage_complete): opening a big file for
	 * writing costs nothing until then.  Chunk c (STAGE_CHUNK bytes) is
	 * here once bit c of have is set; bytes at or past src_size always
	 * are.  have == NULL: all here.  Protected by fill_lock, which is
	 * held across each fetch and each read or write through the stage.
	 */
	pthread_mutex_t fill_lock;
	uint8_t *have;
	uint64_t nmissing; /* chunks not here */
	uint64_t src_size;
	char *src_key;
	char src_etag[128];
	/*
	 * What an upload may copy on the server instead of sending
	 * (stage_copy_plan): the version copy_etag of copy_key that the
	 * stage was made from (stage_set_source) or last uploaded as
	 * (stage_set_copy_base).  The stage's bytes below copy_end are that
	 * version's, except in the STAGE_CHUNK chunks marked in changed
	 * (copy_nchunks bits): every write marks the chunks it touches, a
	 * cut lowers copy_end.  copy_key NULL: nothing to copy from.
	 * Protected by fill_lock.
	 */
	char *copy_key;
	char copy_etag[128];
	uint64_t copy_end;
	uint8_t *changed;
	uint64_t copy_nchunks;
};

/* A new empty stage at path (created, truncated), one reference. */
int stage_new(const char *path, struct stage **out);
/* An existing data file (journal replay), size bytes long. */
int stage_open(const char *path, uint64_t size, struct stage **out);
struct stage *stage_get(struct stage *st);

/*
 * Make st (empty, just created) stand for the first size bytes of object
 * key at ETag etag, fetched lazily; the data file becomes a sparse file
 * of that size.  0 or -errno.
 */
int stage_set_source(struct stage *st, const char *key, const char *etag,
		     uint64_t size);
/* Some bytes are still only in the bucket.  Takes no lock. */
bool stage_partial(struct stage *st);

/* I/O on the data file that fetches what it needs first (from store s):
 * a read fetches the chunks it covers, a write those it covers only in
 * part (and marks them changed for stage_copy_plan).  A fetch of a
 * changed object fails with -EIO.  Bytes done or -errno. */
ssize_t stage_read(struct stage *st, struct store *s, char *buf,
		   size_t size, uint64_t off);
ssize_t stage_write(struct stage *st, struct store *s, const char *buf,
		    size_t size, uint64_t off);
/* Cut (or extend) the data file to size, keeping what stays. */
int stage_truncate(struct stage *st, struct store *s, uint64_t size);
/* Fetch every byte still missing: the file is whole afterwards. */
int stage_complete(struct stage *st, struct store *s);
/*
 * After an upload of st's first size bytes as version etag of key, with
 * no write since (the caller holds st's lock for writing): that version
 * is what later uploads copy unchanged parts from.  etag "" or key NULL:
 * nothing to copy from.  0 or -ENOMEM (then nothing either).
 */
int stage_set_copy_base(struct stage *st, const char *key, const char *etag,
			uint64_t size);
/*
 * Which parts of an upload of st's first size bytes in parts of part
 * bytes (nparts of them) hold exactly the copy base's bytes at the same
 * offsets: parts[i] set for part i + 1.  *key receives a malloc'd copy of
 * the base's key and etag (128 bytes) its ETag.  Returns how many parts
 * may be copied (0: none, *key NULL) or -ENOMEM.  The caller keeps
 * writes out (st's lock held for writing) until the upload is done.
 */
int stage_copy_plan(struct stage *st, uint64_t size, uint64_t part,
		    bool *parts, uint64_t nparts, char **key, char *etag);
/* Drop a reference; the last one closes (and maybe removes) the file. */
void stage_put(struct stage *st);

#endif
