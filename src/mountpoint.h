/*
 * mountpoint.h - what is mounted where, from /proc/self/mountinfo, and
 * the checks r2fs makes of a mount point before it mounts there.
 *
 * Each call reads mountinfo afresh; nothing is kept.  Errors come back as
 * a negative errno, and the checks put one sentence in err.
 */
#ifndef R2FS_MOUNTPOINT_H
#define R2FS_MOUNTPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* One line of mountinfo, unescaped (octal \040 and the like). */
struct mount_entry {
	unsigned long long id;
	char point[4096];
	char type[64];    /* "ext4", "fuse.r2fs", ... */
	char source[1024];
};

/* The topmost mount at exactly path (absolute, no trailing '/'): 0 with
 * *out, -ENOENT (nothing mounted there) or -errno (no /proc). */
int mountpoint_at(const char *path, struct mount_entry *out);

/* The mount with id (statx's stx_mnt_id): 0 with *out, -ENOENT or
 * -errno. */
int mountpoint_by_id(unsigned long long id, struct mount_entry *out);

/*
 * May r2fs mount at path?  Refused with a sentence in err: a path that
 * cannot be reached, a live FUSE mount already there (another r2fs
 * mount, or any FUSE filesystem: stacked FUSE mounts only hide each
 * other), a dead FUSE mount of another filesystem, and, unless nonempty,
 * a directory with entries in it.  A dead r2fs mount ("Transport
 * endpoint is not connected": its daemon was killed) is unmounted first
 * (fusermount3 -uz), as SEMANTICS.md promises, so that a crashed mount
 * can be mounted again in place.  Other mounts (autofs of a systemd
 * automount, a tmpfs) may be mounted over, and a /dev/fd/N "mount point"
 * (a FUSE descriptor that mount.fuse3, a container runtime or a CSI
 * driver opened and mounted already, somewhere r2fs is not told) is not
 * checked: libfuse >= 3.3 serves it as is.  0 or -errno.
 */
int mountpoint_check(const char *path, bool nonempty, char *err,
		     size_t errlen);

#endif
