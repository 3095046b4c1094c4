/*
 * memlimit.h - fit the mount's memory to its cgroup's limit.
 *
 * A container's memory limit (cgroup v2 memory.max) kills the daemon
 * when exceeded, and with it every upload in flight.  At start r2fs reads
 * the limit of the cgroup it runs in, and when the big consumers sized by
 * options (read-ahead buffers, upload streams, the inode table) would
 * take more than their share of it, scales them down (main logs it once).
 *
 * The parsing and the arithmetic are pure, for the unit tests; only
 * memlimit_read touches files.  Errors: negative errno.
 */
#ifndef R2FS_MEMLIMIT_H
#define R2FS_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMLIMIT_NONE UINT64_MAX

/*
 * A cgroup path ("/system.slice/x.service", "/" in a container with its
 * own cgroup namespace) in the text of /proc/self/cgroup: with v1 NULL,
 * the cgroup v2 one ("0::PATH"); else that of the v1 hierarchy with the
 * controller v1 ("4:memory:PATH", "5:cpu,memory:PATH").  0, -ENOENT
 * (no such line), or -EINVAL (a path not absolute, or longer than len).
 */
int memlimit_cgroup_path(const char *proc_cgroup, const char *v1, char *out,
			 size_t len);

/* The text of a memory.max file: "max" (MEMLIMIT_NONE) or bytes; v1's
 * memory.limit_in_bytes says "none" with a number near 2^63, taken as
 * MEMLIMIT_NONE too.  0 or -EINVAL. */
int memlimit_parse_max(const char *text, uint64_t *out);

/*
 * The limit that applies to this process under root (normally
 * "/sys/fs/cgroup"), proc_cgroup being the text of /proc/self/cgroup:
 * the smallest memory.max of its cgroup v2 and the ancestors, or, where
 * v2 has no memory controller (a hybrid host), the smallest
 * memory/.../memory.limit_in_bytes of its v1 memory cgroup and the
 * ancestors.  MEMLIMIT_NONE when none is set.  0, or -ENOENT when the
 * process is in no cgroup this knows.
 */
int memlimit_read(const char *root, const char *proc_cgroup,
		  uint64_t *limit);

/* What the options' consumers take, roughly, in bytes (memlimit.c says
 * how each is counted). */
uint64_t memlimit_need(unsigned readahead_mb, unsigned upload_workers,
		       unsigned max_inodes);

/*
 * Scale *readahead_mb, *upload_workers and *max_inodes down, each in the
 * same proportion but not below a floor (8 MiB, 1 worker, 1000 inodes),
 * so that they fit in half of limit (the rest is for the page cache of
 * the journal's files, libc and the kernel).  true when anything changed.
 */
bool memlimit_fit(uint64_t limit, unsigned *readahead_mb,
		  unsigned *upload_workers, unsigned *max_inodes);

#endif
