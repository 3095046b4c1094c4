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

#endif
