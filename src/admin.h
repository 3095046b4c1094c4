/*
 * admin.h - r2fs's commands besides mounting, and the pid file they read.
 *
 *   r2fs sync [PATH...]               upload what is pending below PATH now
 *   r2fs stats [PATH]                 the mount's counters
 *   r2fs wait MOUNTPOINT|CACHE_DIR    until the daemon(s) have exited
 *   r2fs pending [CACHE_DIR]          what the journals still hold
 *
 * sync and stats talk to a live mount through its xattrs (fs.h); wait and
 * pending work without one, from the cache directory: each journal
 * (CACHE_DIR/journal-HASH, journal.h) holds, while its daemon runs, a
 * file "pid" with the daemon's pid and mount point, written once the
 * daemon has forked and removed as it exits.  Each command returns its
 * exit status and says why on stderr when that is not 0.
 */
#ifndef R2FS_ADMIN_H
#define R2FS_ADMIN_H

#include <stddef.h>
#include <stdint.h>

/* argv: the command's arguments, after its name. */
int admin_sync(int argc, char *argv[]);
int admin_stats(int argc, char *argv[]);
int admin_wait(int argc, char *argv[]);
int admin_pending(int argc, char *argv[]);

/* The daemon's side of the pid file: "PID\nMOUNTPOINT\n" in
 * journal_dir/pid, replaced atomically.  0 or -errno. */
int admin_pidfile_write(const char *journal_dir, const char *mountpoint);
void admin_pidfile_remove(const char *journal_dir);

/* "1.5 MiB", "12 B": bytes for people. */
void admin_size_text(uint64_t bytes, char *out, size_t len);

#endif
