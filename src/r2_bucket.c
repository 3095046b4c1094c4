/*
 * r2_bucket.c - r2 mb and r2 rb: make a bucket, remove an empty one.
 *
 * A bucket is the one thing a mount cannot make; with these, a new user
 * (and contrib/quickstart) needs no other S3 client.  rb removes only an
 * empty bucket, as S3 does: r2 rm -r BUCKET empties it first, and asks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "r2_i.h"
#include "s3_bucket.h"

/* The one BUCKET argument (BUCKET, BUCKET/, s3://BUCKET, r2://BUCKET);
 * 0 or an exit status. */
static int bucket_arg(const char *cmd, int argc, char **argv,
		      struct r2_path *p)
{
	int rc;

	if (argc != 1) {
		say("usage: r2 %s BUCKET", cmd);
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(argv[0], false, p);
	if (!rc && p->key[0]) {
		say("'%s' names a key; r2 %s takes a bucket", argv[0], cmd);
		path_release(p);
		rc = R2_EXIT_USAGE;
	}
	return rc;
}

int cmd_mb(struct r2 *r, int argc, char **argv)
{
	struct r2_path p = { 0 };
	struct s3_error e;
	char what[128];
	int rc;

	rc = bucket_arg("mb", argc, argv, &p);
	if (rc)
		return rc;
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	rc = s3_bucket_create(r->s3, &e);
	if (rc == -EEXIST) {
		say("bucket '%s' exists already%s", p.bucket,
		    !strcmp(e.code, "BucketAlreadyOwnedByYou")
			    ? " (it is yours)"
			    : ": bucket names are shared by all accounts");
		rc = R2_EXIT_FAIL;
	} else if (rc) {
		snprintf(what, sizeof(what), "creating bucket '%s'", p.bucket);
		rc = tool_failure(r, rc, &e, what);
	} else if (r->o->verbose) {
		printf("created bucket '%s'\n", p.bucket);
	}
out:
	path_release(&p);
	return rc;
}

int cmd_rb(struct r2 *r, int argc, char **argv)
{
	struct r2_path p = { 0 };
	struct s3_error e;
	char what[128];
	int rc;

	rc = bucket_arg("rb", argc, argv, &p);
	if (rc)
		return rc;
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	rc = s3_bucket_delete(r->s3, &e);
	if (rc == -ENOTEMPTY) {
		say("bucket '%s' is not empty: delete what it holds first "
		    "(r2 rm -r %s)", p.bucket, p.bucket);
		rc = R2_EXIT_FAIL;
	} else if (rc) {
		snprintf(what, sizeof(what), "removing bucket '%s'", p.bucket);
		rc = tool_failure(r, rc, &e, what);
	} else if (r->o->verbose) {
		printf("removed bucket '%s'\n", p.bucket);
	}
out:
	path_release(&p);
	return rc;
}
