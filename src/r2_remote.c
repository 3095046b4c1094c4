/*
 * r2_remote.c - what every r2 command does with the server: read
 * BUCKET/KEY from its arguments, connect, and say why a request failed.
 *
 * r2_connect() checks where and who (endpoint, credentials) only when a
 * command has accepted its arguments and read its input.  A failed
 * object request only says "-ENOENT" or "-EACCES" (store.h), so before
 * blaming the object we run the mount's probe (s3_probe), which tells a
 * dead endpoint, a wrong key or secret and a missing bucket apart.  The
 * tool's own requests (s3_bucket.h) bring back what the server said, and
 * are explained from that.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "creds.h"
#include "r2_i.h"
#include "s3.h"
#include "s3_bucket.h"

#define R2_HANDLES 16 /* cp -r: 8 files, parts of big ones */
#define R2_CHECK_TIMEOUT 15 /* seconds the probe after a failure may take */

/* ------------------------------------------------------------------ */
/* Names: BUCKET/KEY */

void path_release(struct r2_path *p)
{
	free(p->bucket);
	free(p->key);
	memset(p, 0, sizeof(*p));
}

const char *strip_scheme(const char *arg)
{
	if (!strncmp(arg, "s3://", 5) || !strncmp(arg, "r2://", 5))
		return arg + 5;
	return arg;
}

/* Split BUCKET[/KEY]; need_key: KEY must not be empty.  Returns 0 or an
 * exit status after saying why. */
int parse_remote(const char *arg, bool need_key, struct r2_path *p)
{
	const char *s = strip_scheme(arg), *slash = strchr(s, '/');

	memset(p, 0, sizeof(*p));
	p->bucket = slash ? strndup(s, (size_t)(slash - s)) : strdup(s);
	p->key = strdup(slash ? slash + 1 : "");
	if (!p->bucket || !p->key) {
		path_release(p);
		say("out of memory");
		return R2_EXIT_FAIL;
	}
	if (!conf_bucket_name_ok(p->bucket)) {
		say("'%s' is not a valid bucket name (3-63 characters: "
		    "lower-case letters, digits, '-', '.')", p->bucket);
		goto usage;
	}
	if (need_key && !p->key[0]) {
		say("'%s' names no object: give BUCKET/KEY", arg);
		goto usage;
	}
	if (strlen(p->key) > R2_KEY_MAX) {
		say("the key in '%.40s...' is longer than %d bytes", arg,
		    R2_KEY_MAX);
		goto usage;
	}
	return 0;
usage:
	path_release(p);
	return R2_EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* Connecting */

/* Check where/who and make the store; 0 or an exit status. */
int r2_connect(struct r2 *r, const char *bucket)
{
	struct creds creds = { 0 };
	struct s3_opts so;
	char err[512] = "";
	int rc;

	r->bucket = bucket;
	if (conf_finish_client(&r->o->conf, err, sizeof(err))) {
		say("%s", err);
		return R2_EXIT_USAGE;
	}
	if (creds_load(r->o->conf.passwd_file, r->o->conf.profile,
		       bucket[0] ? bucket : NULL, &creds, err, sizeof(err))) {
		/* creds.c names r2fs's -o options */
		if (!strncmp(err, "no credentials:", 15))
			say("no credentials: set AWS_ACCESS_KEY_ID and "
			    "AWS_SECRET_ACCESS_KEY, or use --passwd-file or "
			    "--profile");
		else
			say("%s", err);
		return R2_EXIT_USAGE;
	}
	so = (struct s3_opts){
		.endpoint = r->o->conf.endpoint,
		.bucket = bucket,
		.region = r->o->conf.region,
		.creds = &creds,
		.handles = R2_HANDLES,
		.retries = r->o->conf.retries,
		.connect_timeout_ms = (long)r->o->conf.connect_timeout * 1000,
		.verbose_http = 0,
		.ca_file = r->o->conf.ca_file,
		.ca_path = r->o->conf.ca_path,
		.progress = progress_count,
		.progress_arg = &r2_progress,
	};
	r->s3 = s3_new(&so);
	r->store = r->s3 ? s3_store(r->s3) : NULL;
	creds_release(&creds);
	rc = r->s3 ? 0 : R2_EXIT_FAIL;
	if (rc)
		say("out of memory");
	return rc;
}

/*
 * Report a failed store call (rc) about what ("bucket 'b'" or "'b/k'").
 * The store's errno cannot tell a missing bucket from a missing key or a
 * wrong secret from a refusal, so ask the probe first.
 */
int remote_failure(struct r2 *r, int rc, const char *verb,
		   const char *what)
{
	char err[512] = "";

	if (s3_probe(r->store, R2_CHECK_TIMEOUT, err, sizeof(err))) {
		say("%s", err);
		return R2_EXIT_FAIL;
	}
	if (rc == -ENOENT)
		say("%s: no such object", what);
	else if (rc == -EACCES)
		say("%s %s: access denied", verb, what);
	else if (rc == -EIO)
		say("%s %s failed: the server or the network failed "
		    "(after retries)", verb, what);
	else
		say("%s %s failed: %s", verb, what, strerror(-rc));
	return R2_EXIT_FAIL;
}

/* Report a failed tool call (s3_bucket.h's requests). */
int tool_failure(struct r2 *r, int rc, const struct s3_error *e,
		 const char *what)
{
	char err[512];

	s3_error_sentence(r->s3, rc, e, what, err, sizeof(err));
	say("%s", err);
	return R2_EXIT_FAIL;
}
