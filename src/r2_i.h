/*
 * r2_i.h - what the r2 tool's files share and nothing else uses: the
 * options, BUCKET/KEY names, the connection, the sentences on stderr and
 * the commands.
 *
 * r2.c reads the command line and runs one command; r2_remote.c names,
 * connects and explains failures; the commands are in r2_ls.c (ls, stat,
 * head), r2_rm.c (rm), r2_cp.c (cp of a file and its progress line),
 * r2_cptree.c (cp -r), r2_bucket.c (mb, rb), r2_presign.c and r2_cors.c.
 * A command returns 0, or an exit status (R2_EXIT_*) after saying why on
 * stderr.  Everything runs on the main thread but the progress display
 * (r2_cp.c) and the HTTP layer's hook that feeds it, and cp -r's copying
 * threads, which call only r2_put_file and r2_get_file (thread-safe as
 * the store is).
 */
#ifndef R2FS_R2_I_H
#define R2FS_R2_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"

struct s3;
struct s3_error;
struct store;

#define R2_EXIT_FAIL 1
#define R2_EXIT_USAGE 2
#define R2_KEY_MAX 1024

/* The command line, as r2.c's take_option() reads it. */
struct r2_opts {
	struct r2fs_conf conf; /* endpoint, credentials, retries, ... */
	unsigned expires;
	bool expires_set;
	const char *content_type;
	bool recursive;
	bool force;   /* rm -r: no question on a terminal */
	bool verbose; /* a line saying what was done */
	bool now_set;
	time_t now;
	bool debug;
};

/* "r2: <sentence>\n" on stderr (r2.c). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* BUCKET/KEY (r2_remote.c): parse_remote() mallocs both strings,
 * path_release() frees them. */
struct r2_path {
	char *bucket;
	char *key; /* "" when only a bucket (or BUCKET/) was named */
};

/* Split BUCKET[/KEY]; need_key: KEY must not be empty.  Returns 0 or an
 * exit status after saying why. */
int parse_remote(const char *arg, bool need_key, struct r2_path *p);
void path_release(struct r2_path *p);
/* arg past its s3:// or r2:// (arg itself if it has neither). */
const char *strip_scheme(const char *arg);

/* The connection (r2_remote.c): main's, with its options; r2_connect()
 * fills the rest, and main frees s3 (and with it the store). */
struct r2 {
	struct r2_opts *o;
	struct s3 *s3;       /* the client, for s3_bucket.h's requests */
	struct store *store; /* s3's object store */
	const char *bucket; /* "" for the service (ListBuckets) */
};

/* Check where/who and make the store; 0 or an exit status. */
int r2_connect(struct r2 *r, const char *bucket);
/* Say why the store call about what ("bucket 'b'" or "'b/k'") failed with
 * rc, verb naming the call ("reading"); returns R2_EXIT_FAIL. */
int remote_failure(struct r2 *r, int rc, const char *verb,
		   const char *what);
/* Say why a tool call (s3_bucket.h) failed; returns R2_EXIT_FAIL. */
int tool_failure(struct r2 *r, int rc, const struct s3_error *e,
		 const char *what);

/* cp's progress (r2_cp.c): r2_connect hands the HTTP layer progress_count
 * with r2_progress as its argument.  progress_start shows, on a terminal,
 * the bytes of a transfer of total bytes (up or down) done so far, until
 * progress_end (whose last line stays if ok). */
struct progress;
extern struct progress r2_progress;
void progress_count(void *arg, uint64_t up, uint64_t down);
void progress_start(struct progress *p, bool up, uint64_t total);
void progress_end(struct progress *p, bool ok);

/* "1.5 MiB": bytes for people (r2_cp.c). */
void r2_size_text(double bytes, char *out, size_t len);
/* -v's line on stdout: "VERB WHAT: SIZE in T s", since start
 * (util_now_mono()). */
void r2_summary(const char *verb, const char *what, uint64_t bytes,
		double start);

/* Might arg be BUCKET/KEY rather than a local path (r2_cp.c)? */
bool maybe_remote(const char *arg);

/*
 * One file up or down (r2_cp.c), for cp and cp -r, from any thread.
 * r2_put_file: the regular file local (open as fd, st its fstat) as key,
 * with r2fs's metadata and a Content-Type (--content-type, else from the
 * name); one PUT, or equal parts above 64 MiB; 0 or the store's errno.
 * r2_get_file: key into the file target through a temporary file next to
 * it, with the object's mtime; an existing target keeps its mode.  grow,
 * if not NULL, gets the object's size added to its total.  0, the
 * store's errno (negative), or R2_EXIT_FAIL with a sentence in msg for
 * a local failure.
 */
struct stat;
int r2_put_file(struct r2 *r, const char *local, int fd,
		const struct stat *st, const char *key);
int r2_get_file(struct r2 *r, const char *key, const char *target,
		struct progress *grow, uint64_t *size, char *msg,
		size_t msglen);

/* The commands, on their own arguments (after the command's name). */
int cmd_ls(struct r2 *r, int argc, char **argv);   /* r2_ls.c */
int cmd_stat(struct r2 *r, int argc, char **argv); /* r2_ls.c */
int cmd_head(struct r2 *r, int argc, char **argv); /* r2_ls.c */
int cmd_rm(struct r2 *r, int argc, char **argv);   /* r2_rm.c */
int cmd_cp(struct r2 *r, int argc, char **argv);   /* r2_cp.c */
/* cp -r of the directory local below remote's prefix, or back
 * (r2_cptree.c) */
int cp_tree_up(struct r2 *r, const char *local, const char *remote);
int cp_tree_down(struct r2 *r, const char *remote, const char *local);
int cmd_mb(struct r2 *r, int argc, char **argv);   /* r2_bucket.c */
int cmd_rb(struct r2 *r, int argc, char **argv);   /* r2_bucket.c */
int cmd_presign(struct r2 *r, int argc, char **argv);
int cmd_cors(struct r2 *r, int argc, char **argv);

#endif
