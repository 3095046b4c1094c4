/*
 * r2_i.h - what the r2 tool's files share and nothing else uses: the
 * options, BUCKET/KEY names, the connection, the sentences on stderr and
 * the commands.
 *
 * r2.c reads the command line and runs one command; r2_remote.c names,
 * connects and explains failures; the commands are in r2_ls.c (ls, stat,
 * head, rm), r2_cp.c (cp and its progress line), r2_presign.c and
 * r2_cors.c.  A command returns 0, or an exit status (R2_EXIT_*) after
 * saying why on stderr.  Everything runs on the main thread but the
 * progress display (r2_cp.c) and the HTTP layer's hook that feeds it.
 */
#ifndef R2FS_R2_I_H
#define R2FS_R2_I_H

#include <stdbool.h>
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
 * with r2_progress as its argument. */
struct progress;
extern struct progress r2_progress;
void progress_count(void *arg, uint64_t up, uint64_t down);

/* The commands, on their own arguments (after the command's name). */
int cmd_ls(struct r2 *r, int argc, char **argv);   /* r2_ls.c */
int cmd_stat(struct r2 *r, int argc, char **argv); /* r2_ls.c */
int cmd_head(struct r2 *r, int argc, char **argv); /* r2_ls.c */
int cmd_rm(struct r2 *r, int argc, char **argv);   /* r2_ls.c */
int cmd_cp(struct r2 *r, int argc, char **argv);   /* r2_cp.c */
int cmd_presign(struct r2 *r, int argc, char **argv);
int cmd_cors(struct r2 *r, int argc, char **argv);

#endif
