/*
 * upload.h - one upload of a file as the journal describes it: a PUT (or
 * a multipart upload with equal parts) of its staged contents with its
 * metadata as headers, under the condition of what it may replace; or,
 * for metadata alone, one CopyObject of the key onto itself (a
 * directory: one PUT of its zero-byte marker).  The outcome comes back
 * as a value.
 *
 * Conflicts: when the condition fails (another client changed, replaced
 * or created the object), theirs stays and ours is saved beside it under
 * a conflict name, never over an existing object.
 *
 * No lock is taken here and no state is kept: the caller (wbcache.c)
 * owns the file and keeps writes out of the stage while it runs.
 */
#ifndef R2FS_UPLOAD_H
#define R2FS_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "journal.h"

struct stage;
struct store;

struct upload_req {
	const char *prefix;    /* the mount's key prefix ("" or "p/") */
	const char *path;      /* the file's path below it */
	struct stage *stage;   /* its contents; NULL: metadata alone */
	uint64_t size;         /* bytes of stage to send */
	const struct stat *attr; /* type, mode, uid, gid, mtime (headers) */
	/* encoded user.* attributes (xattr.h), "" for none; NULL: not
	 * known, keep the object's (one HEAD first) */
	const char *xattrs;
	enum journal_base base;
	const char *base_etag; /* with JOURNAL_BASE_ETAG */
	uint64_t multipart_threshold; /* larger contents go multipart */
	unsigned part_parallel;       /* parts of one upload at once */
};

struct upload_result {
	char etag[JOURNAL_ETAG_MAX]; /* of what is at the key now; "" if
					unknown (metadata alone) */
	char *conflict;  /* the path ours was saved under instead; malloc'd
			    or NULL */
	char *xattrs;    /* the object's xattrs the upload kept (req had
			    none); malloc'd or NULL */
	bool gone;       /* metadata alone: the object is gone, nothing
			    was written */
};

/*
 * Run req against store s.  0 with *res filled (release it with
 * upload_result_release), or a negative errno (res holds nothing).
 */
int upload_run(struct store *s, const struct upload_req *req,
	       struct upload_result *res);
void upload_result_release(struct upload_result *res);

/*
 * The name a conflicting version of path is saved under:
 * "DIR/NAME.conflict-YYYYMMDD-HHMMSS[-N]" before the extension (N from 2
 * when the first is taken); malloc'd, NULL on ENOMEM.
 */
char *upload_conflict_path(const char *path, time_t when, unsigned n);

#endif
