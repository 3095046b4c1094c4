/* Unit tests for conf.c: bucket argument, endpoint, option checks. */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tap.h"

static int finish(struct r2fs_conf *c, char *err, size_t len)
{
	if (!c->mountpoint)
		c->mountpoint = strdup("/mnt");
	return conf_finish(c, err, len);
}

int main(void)
{
	struct r2fs_conf c;
	char err[512];

	conf_init(&c);
	TAP_INTEQ(conf_set_bucket_arg(&c, "my-bucket", err, sizeof(err)), 0,
		  "plain bucket");
	TAP_STREQ(c.bucket, "my-bucket", "bucket name kept");
	TAP_STREQ(c.prefix, "", "no prefix");
	TAP_INTEQ(conf_set_bucket_arg(&c, "b12:/a//b/", err, sizeof(err)), 0,
		  "bucket with prefix");
	TAP_STREQ(c.prefix, "a/b/", "prefix normalised with one trailing /");
	TAP_INTEQ(conf_set_bucket_arg(&c, "b12:x/../y", err, sizeof(err)),
		  -22, "'..' in prefix refused");
	TAP_INTEQ(conf_set_bucket_arg(&c, "Bad_Bucket!", err, sizeof(err)),
		  -22, "bad bucket name refused");
	TAP_OK(strstr(err, "Bad_Bucket!") != NULL, "error names the bucket");
	TAP_OK(!conf_bucket_name_ok("ab"), "2-character bucket refused");
	TAP_OK(conf_bucket_name_ok("abc"), "3-character bucket accepted");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "no endpoint refused");
	TAP_OK(strstr(err, "account_id") != NULL, "error suggests account_id");
	c.account_id = strdup("0123456789abcdef0123456789abcdef");
	TAP_INTEQ(finish(&c, err, sizeof(err)), 0, "account id accepted");
	TAP_STREQ(c.endpoint,
		  "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
		  "R2 endpoint from account id");
	TAP_STREQ(c.region, "auto", "region defaults to auto");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.account_id = strdup("abc123");
	c.jurisdiction = strdup("eu");
	TAP_INTEQ(finish(&c, err, sizeof(err)), 0, "jurisdiction eu");
	TAP_STREQ(c.endpoint, "https://abc123.eu.r2.cloudflarestorage.com",
		  "eu endpoint");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.account_id = strdup("abc123");
	c.jurisdiction = strdup("mars");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "unknown jurisdiction");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.endpoint = strdup("http://127.0.0.1:7480/");
	TAP_INTEQ(finish(&c, err, sizeof(err)), 0, "endpoint accepted");
	TAP_STREQ(c.endpoint, "http://127.0.0.1:7480",
		  "trailing slash dropped");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.endpoint = strdup("ftp://x");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "ftp endpoint refused");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.endpoint = strdup("http://h");
	c.retries = 1000;
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "retries bounded");
	conf_release(&c);

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.endpoint = strdup("http://h");
	c.umask = 01000;
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "umask bounded");
	conf_release(&c);
	return tap_done();
}
