/*
 * dirindex.h - a directory's attribute index, kept in the bucket.
 *
 * A listing tells each object's size, ETag and Last-Modified, not the
 * mode, owner and mtime its metadata headers hold, so "ls -l" of a big
 * directory that this machine has never seen costs a HEAD per object.
 * After a mount has HEADed the objects of a big directory, it writes what
 * those HEADs said into one object of the same bucket,
 *
 *     .r2fs-index/<directory key>.attrs  (".r2fs-index/.attrs": the root)
 *
 * and a mount that lists the directory later (another machine, or this
 * one after a remount with an empty cache) GETs that one object instead
 * of making the HEADs.  It trusts an entry only while both hold:
 *   - the listing shows the entry's ETag, size and Last-Modified second;
 *   - the HEAD that the entry records ran DIR_INDEX_SETTLE seconds or more
 *     after that Last-Modified (by the server's clock, its Date header).
 *     A later version of the object (a metadata change by CopyObject keeps
 *     ETag and size) became visible after that HEAD, so its Last-Modified
 *     is a later second than the one recorded: it cannot pass for the
 *     entry.
 * That rests on one assumption: a version is stamped (Last-Modified) less
 * than DIR_INDEX_SETTLE seconds before it becomes visible.  A multipart
 * upload may be stamped when it began, and so may a long PUT, so neither
 * multipart ETags ("...-N") nor objects over DIR_INDEX_OBJECT_MAX bytes
 * are indexed: they are HEADed as before (a big directory has few).
 * Every other entry is HEADed as before too.  The index is advisory: a
 * stale, lost (two mounts writing at once) or damaged one costs HEADs,
 * never a wrong answer.  Values are the headers' values (parsed), not the
 * attributes they make, so each mount still applies its own -o uid, gid
 * and umask to what objects do not say.  Whoever may write .r2fs-index/
 * may therefore set the attributes r2fs shows, as whoever may write the
 * objects can.
 *
 * Text, one line per object, sorted by name; names and ETags are
 * %-escaped (bytes below '!', '%' and DEL), so no field holds a tab or a
 * newline:
 *
 *     r2fs-dir-index 1
 *     NAME TAB ETAG TAB SIZE TAB LASTMOD TAB CHECKED TAB HAS(hex) TAB
 *         MODE(octal) TAB UID TAB GID TAB MTIME TAB CTIME TAB ATIME
 *
 * (times are SECONDS.NANOSECONDS; values HAS does not flag are 0).
 * Pure: no I/O, no clock.  Not locked: each index belongs to its caller.
 */
#ifndef R2FS_DIRINDEX_H
#define R2FS_DIRINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "meta.h"
#include "util.h"

#define DIR_INDEX_PREFIX ".r2fs-index" /* a name at the bucket's root */
#define DIR_INDEX_SETTLE 5             /* seconds, see above */
#define DIR_INDEX_OBJECT_MAX (64ull << 20) /* bytes, see above */
#define DIR_INDEX_MAX_BYTES (64u << 20) /* larger ones are ignored */

struct dir_index_entry {
	char *name;
	char *etag;
	uint64_t size;
	time_t lastmod; /* the object's Last-Modified the HEAD showed */
	time_t checked; /* the server's clock when that HEAD ran */
	struct meta_values v;
};

struct dir_index {
	struct dir_index_entry *e; /* sorted by name (strcmp) */
	size_t n;
};

/* The index's key for the directory whose key (with its trailing '/', ""
 * for the bucket's root) is dkey; malloc'd, NULL on ENOMEM. */
char *dir_index_key(const char *dkey);

/*
 * Parse an index object's bytes into *out (which the caller releases).
 * 0; -EINVAL when buf is not an index this version reads (then *out is
 * empty: ignore it); -ENOMEM.
 */
int dir_index_parse(const char *buf, size_t len, struct dir_index *out);
void dir_index_release(struct dir_index *ix);

/* The entry for name, or NULL. */
const struct dir_index_entry *dir_index_find(const struct dir_index *ix,
					     const char *name);

/* May e stand for the object a listing shows with etag, size and
 * lastmod?  (The rule above.) */
bool dir_index_trusted(const struct dir_index_entry *e, const char *etag,
		       uint64_t size, time_t lastmod);

/* Is what a HEAD at checked showed of a version with etag, size and
 * lastmod worth an entry (will dir_index_trusted ever accept it)? */
bool dir_index_worth(const char *etag, uint64_t size, time_t lastmod,
		     time_t checked);

/*
 * An index being written: the bytes of the object, growing.  Starts
 * zeroed ({ 0 }); the caller reads s, len and n and writes nothing.
 */
struct dir_index_buf {
	char *s;             /* the object's bytes so far (whole lines) */
	size_t len;          /* their count */
	size_t n;            /* entries */
	char *last;          /* the last name, to keep the order */
	struct util_buf buf; /* owns s; at most DIR_INDEX_MAX_BYTES */
};

/*
 * Append one entry (names in strictly increasing strcmp order; the first
 * call writes the header).  0; -EINVAL for an entry out of order or one
 * dir_index_worth refuses; -EFBIG beyond DIR_INDEX_MAX_BYTES; -ENOMEM.
 * A failed append adds nothing: s holds whole lines.  After -EFBIG (or
 * the buffer's own -ENOMEM) no more entries are taken.
 */
int dir_index_append(struct dir_index_buf *b, const char *name,
		     const char *etag, uint64_t size, time_t lastmod,
		     time_t checked, const struct meta_values *v);
void dir_index_buf_release(struct dir_index_buf *b);

#endif
