/*
 * fuzz_conf.c - libFuzzer target for option checking (src/conf.c) and the
 * credential file parsers (src/creds.c).
 *
 * Input layout: two flags bytes (which string options are set), the
 * numeric options as raw bytes (doubles included, so NaN and infinities
 * come up), an error-buffer size, then NUL-separated fields: the
 * BUCKET[:PREFIX] argument, mountpoint, endpoint, account_id,
 * jurisdiction, region, cache_dir, a passwd file text and a bucket, an
 * ini file text and a profile, and a URL for util_endpoint_host.
 * Checked besides memory errors: the documented return codes, an error
 * sentence on every refusal, a normalised prefix, and that an accepted
 * configuration has an endpoint util_endpoint_host accepts, a region
 * and a cache dir; parsed credentials are non-empty and trimmed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "creds.h"
#include "fuzz_check.h"
#include "fuzz_split.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned take_u32(struct fuzz_split *s)
{
	unsigned v = 0, i;

	for (i = 0; i < 4; i++)
		v = v << 8 | fuzz_byte(s);
	return v;
}

/* Small numbers most of the time, any 32-bit value sometimes. */
static unsigned take_num(struct fuzz_split *s)
{
	unsigned b = fuzz_byte(s);

	return b == 0xff ? take_u32(s) : b;
}

static double take_double(struct fuzz_split *s)
{
	unsigned char raw[8];
	double d;
	unsigned b = fuzz_byte(s), i;

	if (b != 0xff)
		return b / 4.0;
	for (i = 0; i < 8; i++)
		raw[i] = (unsigned char)fuzz_byte(s);
	memcpy(&d, raw, sizeof(d));
	return d;
}

static char *dup_or_null(const char *f, int set)
{
	char *p;

	if (!set || !f)
		return NULL;
	p = strdup(f);
	CHECK(p);
	return p;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static void check_secret(const char *v)
{
	size_t n;

	CHECK(v && v[0]);
	n = strlen(v);
	CHECK(!is_space(v[0]) && !is_space(v[n - 1]));
	CHECK(!strchr(v, '\n'));
}

static void check_prefix(const char *p)
{
	const char *c = p, *slash;

	CHECK(p);
	if (!*p)
		return;
	CHECK(p[strlen(p) - 1] == '/');
	while (*c) {
		slash = strchr(c, '/');
		CHECK(slash && slash > c); /* no empty component */
		CHECK(!(slash - c == 1 && c[0] == '.'));
		CHECK(!(slash - c == 2 && c[0] == '.' && c[1] == '.'));
		c = slash + 1;
	}
}

static void check_creds(const char *passwd, const char *bucket,
			const char *ini, const char *profile)
{
	struct creds c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = creds_parse_passwd(passwd, bucket, &c);
	CHECK(rc == 0 || rc == -ENOENT || rc == -ENOMEM);
	if (rc == 0) {
		check_secret(c.access_key);
		check_secret(c.secret_key);
		CHECK(!c.session_token);
	}
	creds_release(&c);

	memset(&c, 0, sizeof(c));
	rc = creds_parse_ini(ini, profile, &c);
	CHECK(rc == 0 || rc == -ENOENT || rc == -ENOMEM);
	if (rc == 0) {
		check_secret(c.access_key);
		check_secret(c.secret_key);
		if (c.session_token)
			check_secret(c.session_token);
	}
	creds_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct r2fs_conf c;
	struct fuzz_split s;
	unsigned flags, errlen, hostlen;
	const char *arg, *url;
	const char *passwd, *pbucket, *ini, *profile;
	char err[512], host[300];
	int rc;

	fuzz_split_init(&s, data, size);
	flags = fuzz_byte(&s) << 8;
	flags |= fuzz_byte(&s);
	conf_init(&c);
	if (flags & 0x100)
		c.uid = take_num(&s);
	if (flags & 0x200)
		c.gid = take_num(&s);
	c.umask = take_num(&s) * 3;
	c.stat_timeout = take_double(&s);
	c.dir_timeout = take_double(&s);
	c.retries = take_num(&s);
	c.connect_timeout = take_num(&s);
	c.http_handles = take_num(&s);
	c.writeback_delay = take_double(&s);
	c.upload_workers = take_num(&s);
	c.multipart_threshold_mb = take_num(&s) * 20;
	c.sync_upload = (int)(fuzz_byte(&s) & 1);
	c.cache_min_free_mb = take_num(&s);
	c.max_inodes = take_num(&s) * 1000;
	errlen = 1 + fuzz_byte(&s) * 2; /* 1..511: truncated sentences too */
	hostlen = 1 + fuzz_byte(&s);

	arg = fuzz_next_str(&s);
	memset(err, 0, sizeof(err));
	rc = conf_set_bucket_arg(&c, arg, err, errlen);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == 0) {
		CHECK(c.bucket && conf_bucket_name_ok(c.bucket));
		check_prefix(c.prefix);
	} else {
		CHECK(rc == -ENOMEM || errlen == 1 || err[0]);
		CHECK(strlen(err) < errlen);
	}

	c.mountpoint = dup_or_null(fuzz_next(&s), flags & 0x01);
	c.endpoint = dup_or_null(fuzz_next(&s), flags & 0x02);
	c.account_id = dup_or_null(fuzz_next(&s), flags & 0x04);
	c.jurisdiction = dup_or_null(fuzz_next(&s), flags & 0x08);
	c.region = dup_or_null(fuzz_next(&s), flags & 0x10);
	c.cache_dir = dup_or_null(fuzz_next(&s), flags & 0x20);

	memset(err, 0, sizeof(err));
	rc = conf_finish(&c, err, errlen);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	CHECK(strlen(err) < errlen);
	if (rc == 0) {
		CHECK(c.bucket && c.mountpoint && c.endpoint && c.region &&
		      c.cache_dir);
		CHECK(!util_endpoint_host(c.endpoint, host, sizeof(host)));
		CHECK(c.endpoint[strlen(c.endpoint) - 1] != '/');
		CHECK(c.umask <= 0777 && c.retries <= 100);
		CHECK(c.stat_timeout >= 0 && c.dir_timeout >= 0 &&
		      c.writeback_delay >= 0);
		/* http_handles 0: as many as the workers need */
		CHECK(c.upload_workers >= 1 && c.http_handles <= 256 &&
		      c.connect_timeout >= 1 && c.max_inodes >= 100);
	} else if (rc == -EINVAL) {
		CHECK(errlen == 1 || err[0]);
	}
	conf_release(&c);

	passwd = fuzz_next_str(&s);
	pbucket = (flags & 0x40) ? fuzz_next_str(&s) : NULL;
	ini = fuzz_next_str(&s);
	profile = fuzz_next_str(&s);
	check_creds(passwd, pbucket, ini, profile);

	url = fuzz_next_str(&s);
	memset(host, 0, sizeof(host));
	rc = util_endpoint_host(url, host, hostlen);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		CHECK(strlen(host) < hostlen && host[0]);
		CHECK(!strpbrk(host, "/?#@"));
	}

	fuzz_split_release(&s);
	return 0;
}
