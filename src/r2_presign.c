/*
 * r2_presign.c - r2 presign get|put: print a presigned URL for one key.
 *
 * The URL is signed here (s3_presign_url) and nothing is sent; it is
 * valid for --expires seconds from now (--now: a given Unix time, for
 * tests), and a PUT URL bound to --content-type accepts only that type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "r2_i.h"
#include "s3_bucket.h"

#define R2_DEFAULT_EXPIRES 3600

int cmd_presign(struct r2 *r, int argc, char **argv)
{
	struct r2_path p = { 0 };
	const char *method;
	char *url = NULL;
	int rc;

	if (argc != 2 || (strcmp(argv[0], "get") && strcmp(argv[0], "put"))) {
		say("usage: r2 presign get|put BUCKET/KEY [--expires "
		    "SECONDS] [--content-type TYPE]");
		return R2_EXIT_USAGE;
	}
	method = !strcmp(argv[0], "get") ? "GET" : "PUT";
	if (r->o->content_type && !strcmp(method, "GET")) {
		say("--content-type is only for 'r2 presign put'");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(argv[1], true, &p);
	if (rc)
		return rc;
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	url = s3_presign_url(r->s3, method, p.key, r->o->content_type,
			     r->o->now_set ? r->o->now : time(NULL),
			     r->o->expires_set ? r->o->expires
					       : R2_DEFAULT_EXPIRES);
	if (!url) {
		if (errno == EOPNOTSUPP) {
			say("presigned URLs cannot be made with temporary "
			    "credentials (a session token) yet; use an access "
			    "key without AWS_SESSION_TOKEN");
			rc = R2_EXIT_USAGE;
		} else {
			say("cannot presign '%s': %s", argv[1],
			    strerror(errno));
			rc = R2_EXIT_FAIL;
		}
		goto out;
	}
	printf("%s\n", url);
out:
	free(url);
	path_release(&p);
	return rc;
}
