/*
 * inode.h - the inode table: inode number <-> path, with the kernel's
 * lookup count and our own reference count.
 *
 * An inode lives while the kernel remembers it (nlookup > 0, counted up
 * on every entry reply and down in forget) or while we use it (refs > 0:
 * open files, in-flight operations, a journal entry: inode->wbf).  The
 * root (ino 1) lives forever.
 *
 * Locking: the table has no lock of its own; every call and every field
 * of struct inode is protected by the filesystem lock (fs.c), except
 * where a field says otherwise.
 */
#ifndef R2FS_INODE_H
#define R2FS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "xattr.h"

#define INODE_ROOT 1

struct stage;
struct wb_file;

struct inode {
	uint64_t ino;
	char *path;         /* "" for the root, else "a/b/c" */
	uint64_t nlookup;   /* kernel's lookup count */
	unsigned refs;      /* our references */
	struct stat attr;   /* st_mode carries the type */
	double attr_expires; /* monotonic seconds; 0: must refresh */
	bool has_meta;      /* attr holds mode/uid/gid/mtime from metadata */
	bool times_local;   /* a directory whose entries we changed: its
			       mtime/ctime are ours, kept over the bucket's
			       while it is in memory */
	bool unlinked;      /* name removed while open */
	char etag[128];     /* of the object as last seen; "" if none */
	struct xattrs xattrs; /* user.* attributes, when xattrs_known */
	bool xattrs_known;
	/* hash of the ETag whose bytes the kernel's page cache may hold
	 * (read through an earlier open); 0: none known */
	uint64_t kcache_tag;
	/* directories: lookups in it that found no listing cached, counted
	 * since lookup_since (monotonic s); when it was listed for them */
	unsigned lookup_misses;
	double lookup_since, listed_for_lookups;
	bool listing_for_lookups; /* a lookup lists it now; others wait */
	bool subtree_big;   /* more keys below it than one LIST page */
	/* write state */
	struct stage *stage; /* staged contents while open for writing or
				waiting for upload */
	unsigned writers;    /* open handles that may write */
	unsigned opens;      /* open handles */
	bool delete_on_close; /* unlinked while open: DELETE at last close */
	/* its entry in the write-back journal (wbcache.h) while it has
	 * something to upload or a stage; holds one of refs */
	struct wb_file *wbf;
	/* hash chains */
	struct inode *next_by_ino;
	struct inode *next_by_path;
	/* least recently used first (inode_touch) */
	struct inode *lru_prev, *lru_next;
};

struct inode_table;

struct inode_table *inode_table_new(void);
void inode_table_free(struct inode_table *t);

struct inode *inode_find(struct inode_table *t, uint64_t ino);
struct inode *inode_find_path(struct inode_table *t, const char *path);

/*
 * The inode for path, created with type mode (S_IFDIR, ...) if missing.
 * NULL on ENOMEM.  Neither count is changed.
 */
struct inode *inode_get_path(struct inode_table *t, const char *path,
			     mode_t type);

/* Change an inode's path (rename); NULL-safe on ENOMEM: returns -ENOMEM. */
int inode_set_path(struct inode_table *t, struct inode *in,
		   const char *path);

/* Detach an inode from its path (unlink), so a new file can take it. */
void inode_unhash_path(struct inode_table *t, struct inode *in);

/* Free the inode if nothing holds it any more; true if freed. */
bool inode_maybe_free(struct inode_table *t, struct inode *in);

size_t inode_table_count(const struct inode_table *t);
/* The most inodes the table held at once. */
size_t inode_table_peak(const struct inode_table *t);

/* in was just used: it goes to the end of the least-recently-used order. */
void inode_touch(struct inode_table *t, struct inode *in);
/* The least recently used inode (then follow lru_next), or NULL. */
struct inode *inode_lru_first(struct inode_table *t);

/* Call fn for every inode; fn must not add or remove inodes. */
void inode_for_each(struct inode_table *t,
		    void (*fn)(void *arg, struct inode *in), void *arg);

#endif
