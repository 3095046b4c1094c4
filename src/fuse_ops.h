/*
 * fuse_ops.h - the FUSE low-level adapter: the only code that sees FUSE
 * types.  Each handler unpacks a request, calls fs.c, and replies exactly
 * once.  The session's userdata is the struct fs.
 */
#ifndef R2FS_FUSE_OPS_H
#define R2FS_FUSE_OPS_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops r2fs_fuse_ops;

struct fs;
struct fuse_ops_evictor;

/*
 * A thread that keeps the inodes the kernel holds near -o max_inodes: once
 * a second it asks the kernel to drop the dentries used least lately
 * (fs_evict_candidates); the kernel then forgets their inodes.  It also
 * drops the cached pages of files whose version changed in the bucket
 * (fs_set_changed_hook, installed here and removed by _stop).  libfuse
 * wants such notifications outside any request's path, hence a thread.
 * NULL on failure (the mount works without it: new versions' pages are
 * still dropped at open, as keep_cache is off for them).
 */
struct fuse_ops_evictor *fuse_ops_evictor_start(struct fuse_session *se,
						struct fs *fs);
void fuse_ops_evictor_stop(struct fuse_ops_evictor *ev);

#endif
