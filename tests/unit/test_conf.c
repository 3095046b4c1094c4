/* Unit tests for conf.c: bucket argument, endpoint, option checks. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"

static int finish(struct r2fs_conf *c, char *err, size_t len)
{
	if (!c->mountpoint)
		c->mountpoint = strdup("/mnt");
	return conf_finish(c, err, len);
}

/* ca_file, ca_path and checksum: checked at once, one sentence each. */
static void test_tls_and_checksum(void)
{
	struct r2fs_conf c;
	char err[512];

	conf_init(&c);
	conf_set_bucket_arg(&c, "b1x", err, sizeof(err));
	c.endpoint = strdup("https://127.0.0.1:1");
	c.ca_file = strdup("/nonexistent/ca.pem");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "missing ca_file");
	TAP_STREQ(err, "ca_file /nonexistent/ca.pem: No such file or directory",
		  "missing ca_file: its name and why");
	free(c.ca_file);
	c.ca_file = strdup("/dev/null");
	c.ca_path = strdup("/nonexistent");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "missing ca_path");
	TAP_OK(!strncmp(err, "ca_path /nonexistent: ", 22),
	       "missing ca_path: named");
	free(c.ca_path);
	c.ca_path = strdup("/");
	c.checksum = strdup("sha1");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "unknown checksum");
	TAP_STREQ(err, "checksum must be crc32c or md5, not 'sha1'",
		  "unknown checksum: the choices");
	free(c.checksum);
	c.checksum = strdup("md5");
	TAP_INTEQ(finish(&c, err, sizeof(err)), 0,
		  "readable ca_file and ca_path, checksum md5");
	conf_release(&c);

	conf_init(&c);
	c.endpoint = strdup("https://127.0.0.1:1");
	c.ca_file = strdup("/nonexistent");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), -22,
		  "client: missing --ca-file");
	TAP_OK(!strncmp(err, "--ca-file /nonexistent: ", 24),
	       "client: named --ca-file");
	conf_release(&c);
}

/* conf_finish_client: the r2 tool's checks, no bucket or mount point. */
static void test_client(void)
{
	struct r2fs_conf c;
	char err[512];

	conf_init(&c);
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), -22,
		  "client: no endpoint refused");
	TAP_OK(strstr(err, "--account-id ID") && strstr(err, "--endpoint URL"),
	       "client: error names --account-id and --endpoint");
	c.endpoint = strdup("http://127.0.0.1:7480///");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), 0,
		  "client: endpoint without bucket or mount point");
	TAP_STREQ(c.endpoint, "http://127.0.0.1:7480",
		  "client: trailing slashes dropped");
	TAP_STREQ(c.region, "auto", "client: region defaults to auto");
	TAP_OK(c.cache_dir == NULL, "client: no cache dir made up");
	conf_release(&c);

	conf_init(&c);
	c.account_id = strdup("abc123");
	c.jurisdiction = strdup("fedramp");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), 0,
		  "client: account id and jurisdiction");
	TAP_STREQ(c.endpoint,
		  "https://abc123.fedramp.r2.cloudflarestorage.com",
		  "client: fedramp endpoint");
	conf_release(&c);

	conf_init(&c);
	c.account_id = strdup("abc123");
	c.endpoint = strdup("http://h");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), -22,
		  "client: endpoint and account id refused");
	TAP_OK(strstr(err, "either --endpoint or --account-id") != NULL,
	       "client: error names the long options");
	conf_release(&c);

	conf_init(&c);
	c.jurisdiction = strdup("eu");
	c.endpoint = strdup("http://h");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), -22,
		  "client: jurisdiction without account id refused");
	TAP_STREQ(err, "--jurisdiction needs --account-id",
		  "client: jurisdiction message");
	conf_release(&c);

	conf_init(&c);
	c.account_id = strdup("not-hex!");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), -22,
		  "client: bad account id refused");
	TAP_OK(!strncmp(err, "--account-id must be", 20),
	       "client: account id message");
	conf_release(&c);

	conf_init(&c);
	c.endpoint = strdup("ftp://h");
	TAP_INTEQ(conf_finish_client(&c, err, sizeof(err)), -22,
		  "client: non-http endpoint refused");
	conf_release(&c);

	/* the mount's messages keep naming -o options */
	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.mountpoint = strdup("/mnt");
	c.jurisdiction = strdup("eu");
	c.endpoint = strdup("http://h");
	TAP_INTEQ(conf_finish(&c, err, sizeof(err)), -22,
		  "mount: jurisdiction without account id refused");
	TAP_STREQ(err, "-o jurisdiction needs -o account_id",
		  "mount: message unchanged");
	conf_release(&c);
}

/* Options of the mount itself: the check's bound, the log. */
static void test_mount_options(void)
{
	struct r2fs_conf c;
	char err[512], dir[4096];

	conf_init(&c);
	conf_set_bucket_arg(&c, "bkt", err, sizeof(err));
	c.endpoint = strdup("http://h");
	TAP_INTEQ(finish(&c, err, sizeof(err)), 0, "defaults accepted");
	TAP_INTEQ((int)c.mount_timeout, 15, "mount_timeout defaults to 15 s");
	TAP_OK(!c.nonempty && !c.log_file && !c.log_level,
	       "nonempty, log_file and log_level unset by default");
	c.mount_timeout = 0;
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "mount_timeout=0 refused");
	TAP_STREQ(err, "mount_timeout must be between 1 and 3600 seconds",
		  "mount_timeout message");
	c.mount_timeout = 30;
	TAP_INTEQ((int)c.drain_timeout, 0, "drain_timeout: no bound by "
		  "default");
	c.drain_timeout = 86401;
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "drain_timeout=86401 "
		  "refused");
	TAP_STREQ(err, "drain_timeout must be between 0 (no bound) and 86400 "
		  "seconds", "drain_timeout message");
	c.drain_timeout = 25;
	c.log_level = strdup("loud");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "log_level=loud refused");
	TAP_STREQ(err, "log_level must be error, warn, info or debug, not "
		  "'loud'", "log_level message");
	free(c.log_level);
	c.log_level = strdup("debug");
	c.log_file = strdup("");
	TAP_INTEQ(finish(&c, err, sizeof(err)), -22, "empty log_file refused");
	free(c.log_file);
	c.log_file = strdup("/tmp/r2fs.log");
	TAP_INTEQ(finish(&c, err, sizeof(err)), 0, "log options accepted");
	conf_release(&c);

	setenv("XDG_CACHE_HOME", "/xdg", 1);
	TAP_OK(conf_default_cache_dir(dir, sizeof(dir)), "default cache dir");
	TAP_STREQ(dir, geteuid() == 0 ? "/var/cache/r2fs" : "/xdg/r2fs",
		  "default cache dir as conf_finish chooses it");
	TAP_OK(!conf_default_cache_dir(dir, 4), "too small a buffer: false");
	unsetenv("XDG_CACHE_HOME");
}

int main(void)
{
	struct r2fs_conf c;
	char err[512];

	test_mount_options();

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
	test_client();
	test_tls_and_checksum();
	return tap_done();
}
