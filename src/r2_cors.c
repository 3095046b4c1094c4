/*
 * r2_cors.c - r2 cors get|put|delete: a bucket's CORS rules, shown and
 * given as JSON; cors.h turns them into the XML of the bucket's ?cors
 * subresource and back.  A put reads and checks the whole JSON first:
 * nothing is sent unless the rules are valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cors.h"
#include "r2_i.h"
#include "s3_bucket.h"
#include "util.h"

/* Read all of path ("-": stdin), at most max bytes (else -EFBIG). */
static int read_input(const char *path, size_t max, char **out, size_t *len)
{
	struct util_buf b;
	char chunk[4096];
	ssize_t got;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	util_buf_init(&b, max);
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC)
			       : STDIN_FILENO;
	if (fd < 0)
		return -errno;
	for (;;) {
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			goto out;
		}
		if (got == 0)
			break;
		rc = util_buf_add(&b, chunk, (size_t)got);
		if (rc) {
			rc = rc == -E2BIG ? -EFBIG : rc;
			goto out;
		}
	}
	*out = util_buf_take(&b, len);
	if (!*out)
		rc = -ENOMEM;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	util_buf_release(&b);
	return rc;
}

static int cors_get(struct r2 *r, const char *bucket)
{
	struct cors_config c = { 0 };
	struct s3_error e;
	char *body = NULL, *json = NULL, what[128];
	size_t len = 0;
	int rc;

	snprintf(what, sizeof(what), "reading the CORS rules of bucket '%s'",
		 bucket);
	rc = s3_bucket_get_subresource(r->s3, "cors", &body, &len, &e);
	if (rc == -ENOENT && !strcmp(e.code, "NoSuchCORSConfiguration")) {
		rc = 0; /* no rules: an empty list */
	} else if (rc) {
		rc = tool_failure(r, rc, &e, what);
		goto out;
	} else if (cors_from_xml(body, len, &c)) {
		say("%s: the server's answer is not a CORSConfiguration",
		    what);
		rc = R2_EXIT_FAIL;
		goto out;
	}
	json = cors_to_json(&c);
	if (!json) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	fputs(json, stdout);
out:
	free(json);
	free(body);
	cors_config_release(&c);
	return rc;
}

int cmd_cors(struct r2 *r, int argc, char **argv)
{
	struct cors_config c = { 0 };
	struct r2_path p = { 0 };
	struct s3_error e;
	char *text = NULL, *xml = NULL, err[512], what[128];
	const char *src;
	size_t len = 0, xlen = 0;
	int rc;

	if (argc < 2 || (!strcmp(argv[0], "put") ? argc != 3 : argc != 2) ||
	    (strcmp(argv[0], "get") && strcmp(argv[0], "put") &&
	     strcmp(argv[0], "delete"))) {
		say("usage: r2 cors get BUCKET, r2 cors put BUCKET FILE|-, "
		    "r2 cors delete BUCKET");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(argv[1], false, &p);
	if (rc)
		return rc;
	if (p.key[0]) {
		say("CORS rules belong to a bucket: give BUCKET, not '%s'",
		    argv[1]);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	if (!strcmp(argv[0], "put")) {
		/* Everything local first: nothing is sent unless the
		 * rules are valid. */
		src = strcmp(argv[2], "-") ? argv[2] : "standard input";
		rc = read_input(argv[2], CORS_JSON_MAX, &text, &len);
		if (rc) {
			say("cannot read %s: %s", src,
			    rc == -EFBIG ? "larger than 1 MiB"
					 : strerror(-rc));
			rc = rc == -EFBIG ? R2_EXIT_USAGE : R2_EXIT_FAIL;
			goto out;
		}
		rc = cors_from_json(text, len, &c, err, sizeof(err));
		if (rc) {
			say("%s: %s", src, err);
			rc = rc == -ENOMEM ? R2_EXIT_FAIL : R2_EXIT_USAGE;
			goto out;
		}
		xml = cors_to_xml(&c, &xlen);
		if (!xml) {
			say("%s: cannot build the XML: %s", src,
			    strerror(errno));
			rc = R2_EXIT_FAIL;
			goto out;
		}
	}
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	if (!strcmp(argv[0], "get")) {
		rc = cors_get(r, p.bucket);
	} else if (!strcmp(argv[0], "put")) {
		snprintf(what, sizeof(what), "setting the CORS rules of "
			 "bucket '%s'", p.bucket);
		rc = s3_bucket_put_subresource(r->s3, "cors",
					       "application/xml", xml, xlen,
					       &e);
		if (rc)
			rc = tool_failure(r, rc, &e, what);
	} else {
		snprintf(what, sizeof(what), "deleting the CORS rules of "
			 "bucket '%s'", p.bucket);
		rc = s3_bucket_delete_subresource(r->s3, "cors", &e);
		if (rc)
			rc = tool_failure(r, rc, &e, what);
	}
out:
	free(xml);
	free(text);
	cors_config_release(&c);
	path_release(&p);
	return rc;
}
