/*
 * xattr.h - user extended attributes kept as object metadata.
 *
 * Stored like s3fs-fuse does, so both tools read them: one header
 * x-amz-meta-xattr whose value is the URL-encoded JSON object
 * {"user.name":"<base64 of the value>", ...}.  R2 allows 8 KiB of
 * metadata in all, so a set that would not fit is refused with E2BIG.
 *
 * A struct xattrs is a plain owned list; not thread-safe by itself (the
 * inode that holds one is protected by the fs lock).
 */
#ifndef R2FS_XATTR_H
#define R2FS_XATTR_H

#include <stddef.h>

#define XATTR_META_MAX 6144 /* leave room for mode, times, content-type */

struct xattrs {
	size_t n;
	char **names;
	char **values;
	size_t *lens;
};

void xattrs_release(struct xattrs *x);
int xattrs_copy(struct xattrs *dst, const struct xattrs *src);

/* Value of name: its length, or -ENODATA; copied if size >= length,
 * -ERANGE if size is too small (0 asks for the length). */
long xattrs_get(const struct xattrs *x, const char *name, char *buf,
		size_t size);
/* flags: XATTR_CREATE / XATTR_REPLACE semantics (EEXIST / ENODATA). */
int xattrs_set(struct xattrs *x, const char *name, const char *value,
	       size_t len, int flags);
int xattrs_remove(struct xattrs *x, const char *name);
/* "a\0b\0" names into buf; length, or -ERANGE (size 0 asks). */
long xattrs_list(const struct xattrs *x, char *buf, size_t size);

/* The header value (malloc'd, "" for none) / parse it back. */
char *xattrs_encode(const struct xattrs *x);
int xattrs_decode(const char *hdr, struct xattrs *out);

#endif
