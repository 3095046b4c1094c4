/*
 * conf.c - validation and completion of r2fs's options.
 *
 * Each check turns a bad value into one sentence that names the option, so
 * a mount fails before it starts instead of misbehaving later.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

void conf_init(struct r2fs_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->uid = CONF_UNSET;
	c->gid = CONF_UNSET;
	c->umask = 022;
	c->stat_timeout = 3.0;
	c->dir_timeout = 3.0;
	c->retries = 5;
	c->connect_timeout = 10;
	c->http_handles = 0; /* as many as the mount's workers use */
	c->writeback_delay = 1.0;
	c->key_write_interval = 1.0;
	c->upload_workers = 16;
	c->multipart_threshold_mb = 64;
	c->readahead_max_mb = 128;
	c->max_inodes = 100000;
	c->read_cache_size_mb = CONF_UNSET;
	c->mount_timeout = 15;
}

void conf_release(struct r2fs_conf *c)
{
	free(c->bucket);
	free(c->prefix);
	free(c->mountpoint);
	free(c->endpoint);
	free(c->account_id);
	free(c->jurisdiction);
	free(c->region);
	free(c->profile);
	free(c->passwd_file);
	free(c->ca_file);
	free(c->ca_path);
	free(c->checksum);
	free(c->cache_dir);
	free(c->log_file);
	free(c->log_level);
	free(c->metrics);
	memset(c, 0, sizeof(*c));
}

bool conf_bucket_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 3 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!(islower(ch) || isdigit(ch) || ch == '-' || ch == '.' ||
		      ch == '_'))
			return false;
	}
	return isalnum((unsigned char)name[0]) &&
	       isalnum((unsigned char)name[n - 1]);
}

/* "a//b/" -> "a/b/"; "" stays ""; refuses "." and ".." components. */
static int normalize_prefix(const char *in, char **out)
{
	size_t n = strlen(in), i, o = 0;
	char *p = malloc(n + 2);
	const char *comp;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < n;) {
		size_t len;

		while (i < n && in[i] == '/')
			i++;
		comp = in + i;
		while (i < n && in[i] != '/')
			i++;
		len = (size_t)(in + i - comp);
		if (len == 0)
			break;
		if ((len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.')) {
			free(p);
			return -EINVAL;
		}
		memcpy(p + o, comp, len);
		o += len;
		p[o++] = '/';
	}
	p[o] = '\0';
	*out = p;
	return 0;
}

int conf_set_bucket_arg(struct r2fs_conf *c, const char *arg, char *err,
			size_t errlen)
{
	const char *colon = strchr(arg, ':');
	char *bucket = NULL, *prefix = NULL;
	int rc;

	bucket = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
	if (!bucket)
		return -ENOMEM;
	if (!conf_bucket_name_ok(bucket)) {
		snprintf(err, errlen,
			 "'%s' is not a valid bucket name (3-63 characters: "
			 "lower-case letters, digits, '-', '.')", bucket);
		rc = -EINVAL;
		goto out;
	}
	rc = normalize_prefix(colon ? colon + 1 : "", &prefix);
	if (rc == -EINVAL)
		snprintf(err, errlen,
			 "the prefix in '%s' may not contain '.' or '..' "
			 "components", arg);
	if (rc)
		goto out;
	free(c->bucket);
	free(c->prefix);
	c->bucket = bucket;
	c->prefix = prefix;
	bucket = prefix = NULL;
out:
	free(bucket);
	free(prefix);
	return rc;
}

static bool hex_id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* How the options that say where to connect are spelled in messages. */
struct where_names {
	const char *endpoint, *account_id, *jurisdiction;
	const char *account_id_bare; /* in "X must be the hex ..." */
	const char *account_id_eq, *endpoint_eq; /* in "give X=ID" */
	const char *ca_file, *ca_path;
};

static const struct where_names mount_names = {
	"-o endpoint", "-o account_id", "-o jurisdiction",
	"account_id", "-o account_id=ID", "-o endpoint=URL",
	"ca_file", "ca_path",
};

static const struct where_names tool_names = {
	"--endpoint", "--account-id", "--jurisdiction",
	"--account-id", "--account-id ID", "--endpoint URL",
	"--ca-file", "--ca-path",
};

/* Endpoint from account_id/jurisdiction or as given, default region. */
static int finish_where(struct r2fs_conf *c, const struct where_names *o,
			char *err, size_t errlen)
{
	char host[256];
	size_t n;

	if (c->jurisdiction && strcmp(c->jurisdiction, "eu") &&
	    strcmp(c->jurisdiction, "fedramp") &&
	    strcmp(c->jurisdiction, "us")) {
		snprintf(err, errlen, "jurisdiction must be eu, fedramp or us, "
			 "not '%s'", c->jurisdiction);
		return -EINVAL;
	}
	if (c->endpoint && c->account_id) {
		snprintf(err, errlen, "give either %s or %s, not both",
			 o->endpoint, o->account_id);
		return -EINVAL;
	}
	if (c->jurisdiction && !c->account_id) {
		snprintf(err, errlen, "%s needs %s", o->jurisdiction,
			 o->account_id);
		return -EINVAL;
	}
	if (c->account_id) {
		char url[512];

		if (!hex_id_ok(c->account_id)) {
			snprintf(err, errlen, "%s must be the hex account id "
				 "shown in Cloudflare's dashboard",
				 o->account_id_bare);
			return -EINVAL;
		}
		snprintf(url, sizeof(url),
			 "https://%s%s%s.r2.cloudflarestorage.com",
			 c->account_id, c->jurisdiction ? "." : "",
			 c->jurisdiction ? c->jurisdiction : "");
		c->endpoint = strdup(url);
		if (!c->endpoint)
			return -ENOMEM;
	}
	if (!c->endpoint) {
		snprintf(err, errlen, "no endpoint: give %s for R2 or %s for "
			 "another S3 server", o->account_id_eq,
			 o->endpoint_eq);
		return -EINVAL;
	}
	n = strlen(c->endpoint);
	while (n > 0 && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = '\0';
	if (util_endpoint_host(c->endpoint, host, sizeof(host))) {
		snprintf(err, errlen, "endpoint '%s' is not a URL of the form "
			 "http[s]://host[:port]", c->endpoint);
		return -EINVAL;
	}
	if (c->ca_file && access(c->ca_file, R_OK)) {
		snprintf(err, errlen, "%s %s: %s", o->ca_file, c->ca_file,
			 strerror(errno));
		return -EINVAL;
	}
	if (c->ca_path && access(c->ca_path, R_OK | X_OK)) {
		snprintf(err, errlen, "%s %s: %s", o->ca_path, c->ca_path,
			 strerror(errno));
		return -EINVAL;
	}
	if (!c->region) {
		c->region = strdup("auto");
		if (!c->region)
			return -ENOMEM;
	} else if (!c->region[0] || strpbrk(c->region, "/ \t")) {
		snprintf(err, errlen, "region '%s' is not a region name",
			 c->region);
		return -EINVAL;
	}
	return 0;
}

int conf_finish(struct r2fs_conf *c, char *err, size_t errlen)
{
	int rc;

	if (!c->bucket) {
		snprintf(err, errlen, "no bucket given (usage: r2fs "
			 "BUCKET[:/PREFIX] MOUNTPOINT [-o options])");
		return -EINVAL;
	}
	if (!c->mountpoint) {
		snprintf(err, errlen, "no mount point given (usage: r2fs "
			 "BUCKET[:/PREFIX] MOUNTPOINT [-o options])");
		return -EINVAL;
	}
	rc = finish_where(c, &mount_names, err, errlen);
	if (rc)
		return rc;
	if (c->checksum && strcmp(c->checksum, "crc32c") &&
	    strcmp(c->checksum, "md5")) {
		snprintf(err, errlen, "checksum must be crc32c or md5, not "
			 "'%s'", c->checksum);
		return -EINVAL;
	}
	if (!(c->key_write_interval >= 0 && c->key_write_interval <= 60)) {
		snprintf(err, errlen, "key_write_interval must be between 0 "
			 "and 60 seconds");
		return -EINVAL;
	}
	if (c->umask > 0777) {
		snprintf(err, errlen, "umask must be an octal number up to "
			 "0777");
		return -EINVAL;
	}
	if (!(c->stat_timeout >= 0 && c->stat_timeout <= 86400) ||
	    !(c->dir_timeout >= 0 && c->dir_timeout <= 86400)) {
		snprintf(err, errlen, "stat_timeout and dir_timeout must be "
			 "between 0 and 86400 seconds");
		return -EINVAL;
	}
	if (c->retries > 100) {
		snprintf(err, errlen, "retries must be between 0 and 100");
		return -EINVAL;
	}
	if (c->connect_timeout < 1 || c->connect_timeout > 600) {
		snprintf(err, errlen, "connect_timeout must be between 1 and "
			 "600 seconds");
		return -EINVAL;
	}
	if (c->http_handles > 256) {
		snprintf(err, errlen, "http_handles must be between 1 and 256 "
			 "(0: as many as the workers need)");
		return -EINVAL;
	}
	if (!(c->writeback_delay >= 0 && c->writeback_delay <= 3600)) {
		snprintf(err, errlen, "writeback_delay must be between 0 and "
			 "3600 seconds");
		return -EINVAL;
	}
	if (c->max_inodes < 100 || c->max_inodes > 100000000) {
		snprintf(err, errlen, "max_inodes must be between 100 and "
			 "100000000");
		return -EINVAL;
	}
	if (c->upload_workers < 1 || c->upload_workers > 64) {
		snprintf(err, errlen, "upload_workers must be between 1 and "
			 "64");
		return -EINVAL;
	}
	if (c->readahead_max_mb < 1 || c->readahead_max_mb > 16384) {
		snprintf(err, errlen, "readahead_max must be between 1 and "
			 "16384 (MiB)");
		return -EINVAL;
	}
	if (c->multipart_threshold_mb < 5 || c->multipart_threshold_mb > 5000) {
		snprintf(err, errlen, "multipart_threshold must be between 5 "
			 "and 5000 (MiB)");
		return -EINVAL;
	}
	if (c->mount_timeout < 1 || c->mount_timeout > 3600) {
		snprintf(err, errlen, "mount_timeout must be between 1 and "
			 "3600 seconds");
		return -EINVAL;
	}
	if (c->drain_timeout > 86400) {
		snprintf(err, errlen, "drain_timeout must be between 0 (no "
			 "bound) and 86400 seconds");
		return -EINVAL;
	}
	if (c->metrics) {
		struct metrics_addr a;

		rc = metrics_parse(c->metrics, &a, err, errlen);
		if (rc)
			return rc;
	}
	if (c->log_level && strcmp(c->log_level, "error") &&
	    strcmp(c->log_level, "warn") && strcmp(c->log_level, "info") &&
	    strcmp(c->log_level, "debug")) {
		snprintf(err, errlen, "log_level must be error, warn, info or "
			 "debug, not '%s'", c->log_level);
		return -EINVAL;
	}
	if (c->log_file && !c->log_file[0]) {
		snprintf(err, errlen, "log_file needs a file name");
		return -EINVAL;
	}
	if (!c->cache_dir) {
		char path[4096];

		if (!conf_default_cache_dir(path, sizeof(path))) {
			snprintf(err, errlen, "the default cache directory's "
				 "name is too long: give -o cache_dir=DIR");
			return -EINVAL;
		}
		c->cache_dir = strdup(path);
		if (!c->cache_dir)
			return -ENOMEM;
	}
	return 0;
}

bool conf_default_cache_dir(char *buf, size_t len)
{
	const char *base = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	/* the XDG base directory spec: a relative (or empty)
	 * XDG_CACHE_HOME is invalid and must be ignored */
	if (base && base[0] != '/')
		base = NULL;
	if (geteuid() == 0 || (!base && !home))
		n = snprintf(buf, len, "/var/cache/r2fs");
	else if (base)
		n = snprintf(buf, len, "%s/r2fs", base);
	else
		n = snprintf(buf, len, "%s/.cache/r2fs", home);
	return n > 0 && (size_t)n < len;
}

int conf_finish_client(struct r2fs_conf *c, char *err, size_t errlen)
{
	int rc;

	rc = finish_where(c, &tool_names, err, errlen);
	if (rc)
		return rc;
	if (c->retries > 100) {
		snprintf(err, errlen, "--retries must be between 0 and 100");
		return -EINVAL;
	}
	if (c->connect_timeout < 1 || c->connect_timeout > 600) {
		snprintf(err, errlen, "--connect-timeout must be between 1 "
			 "and 600 seconds");
		return -EINVAL;
	}
	if (c->http_handles > 256) {
		snprintf(err, errlen, "http_handles must be between 1 and 256");
		return -EINVAL;
	}
	return 0;
}
