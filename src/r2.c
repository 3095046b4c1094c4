/*
 * r2.c - the r2 program: bucket chores from the command line, built on the
 * same library as r2fs (credentials, signing, the S3 store).
 *
 *   r2 ls | stat | head | cp | rm | presign | cors   (r2 --help, man r2)
 *
 * Every command first checks its arguments and reads its local input
 * (CORS JSON, the file to upload) and only then loads credentials and
 * talks to the server, so a usage error never sends anything.  Errors are
 * one sentence on stderr; the exit status is 0 for success, 1 when the
 * server or the local system failed, 2 for a usage error (bad arguments,
 * invalid JSON, missing endpoint or credentials).
 *
 * A failed object request only says "-ENOENT" or "-EACCES" (store.h), so
 * before blaming the object we run the mount's probe (s3_probe), which
 * tells a dead endpoint, a wrong key or secret and a missing bucket apart.
 *
 * Progress of cp is shown on stderr only when stderr is a terminal: the
 * HTTP layer reports body bytes to a counter (s3_opts.progress) and a
 * thread redraws one line four times a second.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "cors.h"
#include "creds.h"
#include "http.h"
#include "log.h"
#include "meta.h"
#include "mime.h"
#include "multipart.h"
#include "s3.h"
#include "s3_bucket.h"
#include "sigv4.h"
#include "store.h"
#include "util.h"
#include "xml.h"

#define R2_EXIT_FAIL 1
#define R2_EXIT_USAGE 2
#define R2_KEY_MAX 1024
#define R2_DEFAULT_EXPIRES 3600
#define R2_HANDLES 8
#define R2_PARALLEL_PARTS 4
#define R2_LIST_PAGE 1000

/* ------------------------------------------------------------------ */
/* Options */

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

enum {
	OPT_ENDPOINT = 256,
	OPT_ACCOUNT_ID,
	OPT_JURISDICTION,
	OPT_REGION,
	OPT_PROFILE,
	OPT_PASSWD_FILE,
	OPT_RETRIES,
	OPT_CONNECT_TIMEOUT,
	OPT_EXPIRES,
	OPT_CONTENT_TYPE,
	OPT_NOW,
};

static const struct option r2_long_opts[] = {
	{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
	{ "account-id", required_argument, NULL, OPT_ACCOUNT_ID },
	{ "jurisdiction", required_argument, NULL, OPT_JURISDICTION },
	{ "region", required_argument, NULL, OPT_REGION },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "passwd-file", required_argument, NULL, OPT_PASSWD_FILE },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "expires", required_argument, NULL, OPT_EXPIRES },
	{ "content-type", required_argument, NULL, OPT_CONTENT_TYPE },
	{ "now", required_argument, NULL, OPT_NOW },
	{ "recursive", no_argument, NULL, 'r' },
	{ "debug", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: r2 [OPTIONS] COMMAND ARGS...\n"
"\n"
"Bucket chores for Cloudflare R2 (or any S3-compatible server).\n"
"\n"
"Commands:\n"
"  ls [BUCKET[/PREFIX]]        list buckets, or objects and PRE prefixes\n"
"                              one level below PREFIX (-r: all levels)\n"
"  stat BUCKET/KEY             size, ETag, times, content type, and mode,\n"
"                              uid, gid, mtime as r2fs shows them\n"
"  head BUCKET/KEY             the object's headers and metadata\n"
"  cp LOCAL BUCKET/KEY         upload a file (in equal parts above 64 MiB)\n"
"  cp BUCKET/KEY LOCAL         download an object\n"
"  rm BUCKET/KEY               delete an object (also: delete)\n"
"  presign get BUCKET/KEY      print a presigned GET URL\n"
"  presign put BUCKET/KEY      print a presigned PUT URL\n"
"  cors get BUCKET             print the bucket's CORS rules as JSON\n"
"  cors put BUCKET FILE|-      set the CORS rules from a JSON file or stdin\n"
"  cors delete BUCKET          remove the bucket's CORS rules\n"
"\n"
"Where and who (as r2fs's -o options):\n"
"  --account-id ID             R2 account ID: the endpoint is\n"
"                              https://ID.r2.cloudflarestorage.com\n"
"                              (default: $R2_ACCOUNT_ID)\n"
"  --jurisdiction J            with --account-id: eu, fedramp or us\n"
"                              (default: $R2_JURISDICTION)\n"
"  --endpoint URL              any S3-compatible endpoint\n"
"                              (default: $R2_ENDPOINT)\n"
"  --region NAME               signing region (default: $R2_REGION,\n"
"                              else auto)\n"
"  --passwd-file FILE          credentials ACCESS_KEY:SECRET_KEY (mode 0600)\n"
"  --profile NAME              profile in ~/.aws/credentials (default:\n"
"                              AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then\n"
"                              AWS_PROFILE or [default] there)\n"
"  --retries N                 retries per request on 429/5xx/network errors\n"
"                              (default 5)\n"
"  --connect-timeout S         connect timeout in seconds (default 10)\n"
"\n"
"Command options:\n"
"  -r, --recursive             ls: every key below PREFIX, with full names\n"
"  --content-type TYPE         cp upload: the object's Content-Type (default:\n"
"                              from the file name); presign put: bind the\n"
"                              URL to this Content-Type\n"
"  --expires SECONDS           presign: validity, 1 to 604800 (7 days);\n"
"                              default 3600\n"
"\n"
"Other options:\n"
"  -d, --debug                 log failed requests and retries on stderr\n"
"  -h, --help                  this help\n"
"  -V, --version               the version\n"
"\n"
"BUCKET/KEY may also be written s3://BUCKET/KEY.  Exit status: 0 success,\n"
"1 the request or a local file operation failed, 2 usage error.\n"
"Credentials are never accepted on the command line.\n");
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "r2: <sentence>\n" on stderr. */
static void say(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "r2: %s\n", line);
}

/* Decimal digits only, value in [min, max]. */
static bool parse_ull(const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

/* Option arg for the current option; 0, or an exit status. */
static int take_option(struct r2_opts *o, int c, const char *arg)
{
	unsigned long long v;
	int rc = 0;

	switch (c) {
	case OPT_ENDPOINT:
		rc = set_str(&o->conf.endpoint, arg);
		break;
	case OPT_ACCOUNT_ID:
		rc = set_str(&o->conf.account_id, arg);
		break;
	case OPT_JURISDICTION:
		rc = set_str(&o->conf.jurisdiction, arg);
		break;
	case OPT_REGION:
		rc = set_str(&o->conf.region, arg);
		break;
	case OPT_PROFILE:
		rc = set_str(&o->conf.profile, arg);
		break;
	case OPT_PASSWD_FILE:
		rc = set_str(&o->conf.passwd_file, arg);
		break;
	case OPT_RETRIES:
		if (!parse_ull(arg, 0, 100, &v)) {
			say("--retries must be a number from 0 to 100, not "
			    "'%s'", arg);
			return R2_EXIT_USAGE;
		}
		o->conf.retries = (unsigned)v;
		break;
	case OPT_CONNECT_TIMEOUT:
		if (!parse_ull(arg, 1, 600, &v)) {
			say("--connect-timeout must be a number of seconds "
			    "from 1 to 600, not '%s'", arg);
			return R2_EXIT_USAGE;
		}
		o->conf.connect_timeout = (unsigned)v;
		break;
	case OPT_EXPIRES:
		if (!parse_ull(arg, 1, SIGV4_MAX_EXPIRES, &v)) {
			say("--expires must be a number of seconds from 1 to "
			    "%d (7 days), not '%s'", SIGV4_MAX_EXPIRES, arg);
			return R2_EXIT_USAGE;
		}
		o->expires = (unsigned)v;
		o->expires_set = true;
		break;
	case OPT_CONTENT_TYPE:
		if (!*arg || strpbrk(arg, "\r\n")) {
			say("--content-type needs a media type such as "
			    "text/plain");
			return R2_EXIT_USAGE;
		}
		o->content_type = arg;
		break;
	case OPT_NOW:
		if (!parse_ull(arg, 0, 253402300799ULL, &v)) {
			say("--now must be a Unix time in seconds, not '%s'",
			    arg);
			return R2_EXIT_USAGE;
		}
		o->now = (time_t)v;
		o->now_set = true;
		break;
	case 'r':
		o->recursive = true;
		break;
	case 'd':
		o->debug = true;
		break;
	}
	if (rc) {
		say("out of memory");
		return R2_EXIT_FAIL;
	}
	return 0;
}

/* Fill what the command line left unset from R2_* variables: the
 * environment says where only if no option did. */
static int take_environment(struct r2_opts *o)
{
	const char *v;
	int rc = 0;

	if (!o->conf.endpoint && !o->conf.account_id) {
		v = getenv("R2_ENDPOINT");
		if (v && *v)
			rc = set_str(&o->conf.endpoint, v);
		v = getenv("R2_ACCOUNT_ID");
		if (!rc && v && *v && !o->conf.endpoint)
			rc = set_str(&o->conf.account_id, v);
		v = getenv("R2_JURISDICTION");
		if (!rc && v && *v && o->conf.account_id &&
		    !o->conf.jurisdiction)
			rc = set_str(&o->conf.jurisdiction, v);
	}
	v = getenv("R2_REGION");
	if (!rc && v && *v && !o->conf.region)
		rc = set_str(&o->conf.region, v);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Names: BUCKET/KEY */

struct r2_path {
	char *bucket;
	char *key; /* "" when only a bucket (or BUCKET/) was named */
};

static void path_release(struct r2_path *p)
{
	free(p->bucket);
	free(p->key);
	memset(p, 0, sizeof(*p));
}

static const char *strip_scheme(const char *arg)
{
	if (!strncmp(arg, "s3://", 5) || !strncmp(arg, "r2://", 5))
		return arg + 5;
	return arg;
}

/* Split BUCKET[/KEY]; need_key: KEY must not be empty.  Returns 0 or an
 * exit status after saying why. */
static int parse_remote(const char *arg, bool need_key, struct r2_path *p)
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
/* Progress on a terminal */

struct progress {
	atomic_uint_fast64_t up, down;
	bool count_up;   /* which direction is the transfer */
	uint64_t total;
	double start; /* util_now_mono() */
	bool running;
	bool stop; /* protected by lock */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static struct progress r2_progress = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* The HTTP layer's hook: any thread, so only atomics. */
static void progress_count(void *arg, uint64_t up, uint64_t down)
{
	struct progress *p = arg;

	atomic_fetch_add(&p->up, up);
	atomic_fetch_add(&p->down, down);
}

static void human(double v, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB",
					    "TiB" };
	unsigned i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, len, "%.0f %s", v, unit[i]);
	else
		snprintf(out, len, "%.1f %s", v, unit[i]);
}

static void progress_draw(struct progress *p, bool last)
{
	uint64_t done = p->count_up ? atomic_load(&p->up)
				    : atomic_load(&p->down);
	double secs = util_now_mono() - p->start, rate, pct;
	char d[32], t[32], r[32], eta[32] = "";

	if (done > p->total)
		done = p->total; /* a resent body is counted twice */
	rate = secs > 0 ? (double)done / secs : 0;
	pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
	human((double)done, d, sizeof(d));
	human((double)p->total, t, sizeof(t));
	human(rate, r, sizeof(r));
	if (!last && rate > 0 && done < p->total) {
		double left = (double)(p->total - done) / rate;

		snprintf(eta, sizeof(eta), "  ETA %u:%02u:%02u",
			 (unsigned)(left / 3600),
			 (unsigned)((unsigned)left % 3600 / 60),
			 (unsigned)left % 60);
	} else if (last) {
		snprintf(eta, sizeof(eta), "  %.1f s", secs);
	}
	fprintf(stderr, "\r%s / %s  %3.0f%%  %s/s%s\033[K%s", d, t, pct, r,
		eta, last ? "\n" : "");
	fflush(stderr);
}

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec until;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &until);
		if (!p->stop)
			progress_draw(p, false);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Show progress of a transfer of total bytes, if stderr is a terminal. */
static void progress_start(struct progress *p, bool up, uint64_t total)
{
	atomic_store(&p->up, 0);
	atomic_store(&p->down, 0);
	p->count_up = up;
	p->total = total;
	p->stop = false;
	p->start = util_now_mono();
	if (!isatty(STDERR_FILENO))
		return;
	p->running = !pthread_create(&p->thread, NULL, progress_thread, p);
}

/* Stop the display; the last line stays if the transfer succeeded. */
static void progress_end(struct progress *p, bool ok)
{
	if (!p->running)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->running = false;
	if (ok) {
		progress_draw(p, true);
	} else {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
}

/* ------------------------------------------------------------------ */
/* Connecting */

struct r2 {
	struct r2_opts *o;
	struct s3 *s3;       /* the client, for s3_bucket.h's requests */
	struct store *store; /* s3's object store */
	const char *bucket; /* "" for the service (ListBuckets) */
};

/* Check where/who and make the store; 0 or an exit status. */
static int r2_connect(struct r2 *r, const char *bucket)
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
static int remote_failure(struct r2 *r, int rc, const char *verb,
			  const char *what)
{
	char err[512] = "";

	if (s3_probe(r->store, err, sizeof(err))) {
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
static int tool_failure(struct r2 *r, int rc, const struct s3_error *e,
			const char *what)
{
	char err[512];

	s3_error_sentence(r->s3, rc, e, what, err, sizeof(err));
	say("%s", err);
	return R2_EXIT_FAIL;
}

/* ------------------------------------------------------------------ */
/* Formatting */

/* Local time "YYYY-MM-DD HH:MM:SS", with " +hhmm" if zone. */
static void fmt_local(time_t t, bool zone, char *out, size_t len)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) ||
	    !strftime(out, len,
		      zone ? "%Y-%m-%d %H:%M:%S %z" : "%Y-%m-%d %H:%M:%S",
		      &tm))
		snprintf(out, len, "%lld", (long long)t);
}

/* ls -l's mode string: type and permission bits. */
static void mode_string(mode_t m, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
	for (i = 0; i < 9; i++)
		out[1 + i] = (m & (0400 >> i)) ? rwx[i] : '-';
	if (m & S_ISUID)
		out[3] = (m & S_IXUSR) ? 's' : 'S';
	if (m & S_ISGID)
		out[6] = (m & S_IXGRP) ? 's' : 'S';
	if (m & S_ISVTX)
		out[9] = (m & S_IXOTH) ? 't' : 'T';
	out[10] = '\0';
}

/* ------------------------------------------------------------------ */
/* ls */

/* Where the names shown start: after PREFIX's last '/'. */
static size_t shown_from(const char *prefix)
{
	const char *slash = strrchr(prefix, '/');

	return slash ? (size_t)(slash - prefix) + 1 : 0;
}

static void ls_object(const struct store_list_entry *e, size_t skip)
{
	char when[32];

	fmt_local(e->mtime, false, when, sizeof(when));
	printf("%s %10llu %s\n", when, (unsigned long long)e->size,
	       e->key + skip);
}

static void ls_prefix(const char *p, size_t skip)
{
	printf("%19s %10s %s\n", "", "PRE", p + skip);
}

static int cmd_ls_buckets(struct r2 *r)
{
	struct s3_bucket *b = NULL;
	struct s3_error e;
	char when[32];
	size_t n = 0, i;
	int rc;

	rc = r2_connect(r, "");
	if (rc)
		return rc;
	rc = s3_list_buckets(r->s3, &b, &n, &e);
	if (rc)
		return tool_failure(r, rc, &e, "listing the buckets");
	for (i = 0; i < n; i++) {
		fmt_local(b[i].created, false, when, sizeof(when));
		printf("%s %s\n", when, b[i].name);
	}
	s3_buckets_free(b, n);
	return 0;
}

static int cmd_ls(struct r2 *r, int argc, char **argv)
{
	struct store_list page = { 0 };
	struct r2_path p = { 0 };
	char *token = NULL, what[1200];
	size_t skip, i, j;
	int rc;

	if (argc > 1) {
		say("ls takes at most one BUCKET[/PREFIX]");
		return R2_EXIT_USAGE;
	}
	if (argc == 0) {
		if (r->o->recursive) {
			say("-r needs a bucket: r2 ls -r BUCKET[/PREFIX]");
			return R2_EXIT_USAGE;
		}
		return cmd_ls_buckets(r);
	}
	rc = parse_remote(argv[0], false, &p);
	if (rc)
		return rc;
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	skip = r->o->recursive ? 0 : shown_from(p.key);
	snprintf(what, sizeof(what), "bucket '%s'", p.bucket);
	do {
		rc = r->store->ops->list(r->store, p.key,
					 r->o->recursive ? NULL : "/", token,
					 R2_LIST_PAGE, &page);
		if (rc) {
			rc = remote_failure(r, rc, "listing", what);
			goto out;
		}
		/* Both lists are in key order: merge them. */
		for (i = 0, j = 0; i < page.nentries || j < page.nprefixes;) {
			if (j >= page.nprefixes ||
			    (i < page.nentries &&
			     strcmp(page.entries[i].key, page.prefixes[j]) <
				     0))
				ls_object(&page.entries[i++], skip);
			else
				ls_prefix(page.prefixes[j++], skip);
		}
		free(token);
		token = page.truncated ? page.next_token : NULL;
		page.next_token = NULL;
		store_list_release(&page);
	} while (token);
	rc = 0;
out:
	free(token);
	store_list_release(&page);
	path_release(&p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* head, stat */

static int cmd_head(struct r2 *r, int argc, char **argv)
{
	struct store_object obj = { 0 };
	struct r2_path p = { 0 };
	char when[64], what[1200];
	struct tm tm;
	size_t i;
	int rc;

	if (argc != 1) {
		say("usage: r2 head BUCKET/KEY");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(argv[0], true, &p);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "'%s/%s'", p.bucket, p.key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	rc = r->store->ops->head(r->store, p.key, &obj);
	if (rc) {
		rc = remote_failure(r, rc, "reading", what);
		goto out;
	}
	printf("Content-Length: %llu\n", (unsigned long long)obj.size);
	if (obj.content_type)
		printf("Content-Type: %s\n", obj.content_type);
	if (obj.etag[0])
		printf("ETag: \"%s\"\n", obj.etag);
	if (obj.last_modified && gmtime_r(&obj.last_modified, &tm) &&
	    strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		printf("Last-Modified: %s\n", when);
	for (i = 0; i < obj.nmeta; i++)
		printf("x-amz-meta-%s: %s\n", obj.meta[i].name,
		       obj.meta[i].value);
out:
	store_object_release(&obj);
	path_release(&p);
	return rc;
}

static void print_time_ns(const char *label, const struct timespec *ts)
{
	char when[64], zone[16] = "";
	struct tm tm;

	fmt_local(ts->tv_sec, false, when, sizeof(when));
	if (localtime_r(&ts->tv_sec, &tm))
		strftime(zone, sizeof(zone), "%z", &tm);
	printf("%-14s %s.%09ld %s\n", label, when, ts->tv_nsec, zone);
}

static bool is_r2fs_meta(const char *name)
{
	return !strcmp(name, "mode") || !strcmp(name, "uid") ||
	       !strcmp(name, "gid") || !strcmp(name, "mtime");
}

/*
 * Find what r2fs would show for KEY: the object KEY, else the directory
 * marker KEY/, else a directory implied by keys below KEY/.  *type gets
 * S_IFREG or S_IFDIR; *found_key the key whose object was read ("" for an
 * implied directory, whose obj has only a last_modified: that of a key
 * below it, or now).
 */
static int stat_lookup(struct r2 *r, const char *key,
		       struct store_object *obj, mode_t *type,
		       char **found_key)
{
	struct store_list page = { 0 };
	char *dir = NULL;
	size_t len = strlen(key);
	int rc;

	*found_key = NULL;
	*type = len && key[len - 1] == '/' ? S_IFDIR : S_IFREG;
	rc = r->store->ops->head(r->store, key, obj);
	if (rc != -ENOENT) {
		if (!rc)
			*found_key = strdup(key);
		goto out;
	}
	dir = malloc(len + 2);
	if (!dir) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(dir, len + 2, "%s%s", key,
		 len && key[len - 1] == '/' ? "" : "/");
	*type = S_IFDIR;
	if (strcmp(dir, key)) {
		rc = r->store->ops->head(r->store, dir, obj);
		if (rc != -ENOENT) {
			if (!rc)
				*found_key = strdup(dir);
			goto out;
		}
	}
	rc = r->store->ops->list(r->store, dir, "/", NULL, 1, &page);
	if (!rc && page.nentries + page.nprefixes == 0)
		rc = -ENOENT;
	if (!rc) {
		/* no object to read: the newest thing we know of, like a
		 * mount shows an implied directory */
		obj->last_modified = page.nentries ? page.entries[0].mtime
						   : time(NULL);
		*found_key = strdup("");
	}
out:
	if (!rc && !*found_key)
		rc = -ENOMEM;
	store_list_release(&page);
	free(dir);
	return rc;
}

static int cmd_stat(struct r2 *r, int argc, char **argv)
{
	struct meta_defaults d = { getuid(), getgid(), 022 };
	struct store_object obj = { 0 };
	struct r2_path p = { 0 };
	char *found = NULL, what[1200], when[64], mode[11];
	struct stat st;
	mode_t type;
	bool meta;
	size_t i;
	int rc;

	if (argc != 1) {
		say("usage: r2 stat BUCKET/KEY");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(argv[0], true, &p);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "'%s/%s'", p.bucket, p.key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	rc = stat_lookup(r, p.key, &obj, &type, &found);
	if (rc) {
		rc = remote_failure(r, rc, "reading", what);
		goto out;
	}
	meta = (meta_attr_from_object(&d, &obj, type, &st) &
		META_HAS_OWN) != 0;
	printf("%-14s %s/%s\n", "Object:", p.bucket,
	       found[0] ? found : p.key);
	printf("%-14s %s\n", "Type:",
	       S_ISDIR(st.st_mode) ? (found[0] ? "directory"
					       : "directory (implied by "
						 "keys below it; no object)")
	       : S_ISLNK(st.st_mode) ? "symbolic link"
				     : "regular file");
	if (found[0]) {
		printf("%-14s %llu\n", "Size:", (unsigned long long)obj.size);
		printf("%-14s %s\n", "ETag:", obj.etag[0] ? obj.etag : "-");
		fmt_local(obj.last_modified, true, when, sizeof(when));
		printf("%-14s %s\n", "Last-Modified:", when);
		printf("%-14s %s\n", "Content-Type:",
		       obj.content_type ? obj.content_type : "-");
	}
	mode_string(st.st_mode, mode);
	printf("%-14s %s (%04o)\n", "Mode:", mode,
	       (unsigned)(st.st_mode & 07777));
	printf("%-14s %u\n", "Uid:", (unsigned)st.st_uid);
	printf("%-14s %u\n", "Gid:", (unsigned)st.st_gid);
	print_time_ns("Mtime:", &st.st_mtim);
	printf("%-14s %s\n", "Metadata:",
	       meta ? "r2fs (x-amz-meta-mode, -uid, -gid, -mtime)"
		    : "none: the defaults r2fs shows (your uid and gid, "
		      "umask 022, Last-Modified)");
	for (i = 0; i < obj.nmeta; i++)
		if (!is_r2fs_meta(obj.meta[i].name))
			printf("x-amz-meta-%s: %s\n", obj.meta[i].name,
			       obj.meta[i].value);
	rc = 0;
out:
	free(found);
	store_object_release(&obj);
	path_release(&p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* rm */

static int cmd_rm(struct r2 *r, int argc, char **argv)
{
	struct store_object obj = { 0 };
	struct r2_path p = { 0 };
	char what[1200];
	int rc;

	if (argc != 1) {
		say("usage: r2 rm BUCKET/KEY");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(argv[0], true, &p);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "'%s/%s'", p.bucket, p.key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	/* S3 deletes a missing key "successfully": say so instead. */
	rc = r->store->ops->head(r->store, p.key, &obj);
	if (!rc)
		rc = r->store->ops->remove(r->store, p.key);
	if (rc)
		rc = remote_failure(r, rc, "deleting", what);
out:
	store_object_release(&obj);
	path_release(&p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* cp */

/* Might arg be BUCKET/KEY?  s3:// or r2:// says so; ./, ../ and / say
 * local; otherwise it must have a '/' after a valid bucket name. */
static bool maybe_remote(const char *arg)
{
	const char *slash;
	char bucket[64];
	size_t n;

	if (strip_scheme(arg) != arg)
		return true;
	if (arg[0] == '/' || arg[0] == '.' || arg[0] == '~')
		return false;
	slash = strchr(arg, '/');
	if (!slash)
		return false;
	n = (size_t)(slash - arg);
	if (n >= sizeof(bucket))
		return false;
	memcpy(bucket, arg, n);
	bucket[n] = '\0';
	return conf_bucket_name_ok(bucket);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int cp_upload(struct r2 *r, const char *local, const char *remote)
{
	struct store_put_opts po = { 0 };
	struct r2_path p = { 0 };
	struct meta_headers mh;
	char etag[128], what[1200], *key = NULL;
	struct stat st;
	int fd = -1, rc;

	rc = parse_remote(remote, false, &p);
	if (rc)
		return rc;
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		say("cannot open '%s': %s", local, strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		say("'%s' is not a regular file (r2 cp copies one file)",
		    local);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	/* BUCKET/ or BUCKET/dir/: keep the file's name, as cp does. */
	if (!p.key[0] || p.key[strlen(p.key) - 1] == '/') {
		size_t len = strlen(p.key) + strlen(base_name(local)) + 1;

		key = malloc(len);
		if (!key) {
			rc = R2_EXIT_FAIL;
			say("out of memory");
			goto out;
		}
		snprintf(key, len, "%s%s", p.key, base_name(local));
	} else {
		key = strdup(p.key);
		if (!key) {
			rc = R2_EXIT_FAIL;
			say("out of memory");
			goto out;
		}
	}
	if (strlen(key) > R2_KEY_MAX) {
		say("the key '%.40s...' is longer than %d bytes", key,
		    R2_KEY_MAX);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	if ((uint64_t)st.st_size > MULTIPART_MAX_OBJECT) {
		say("'%s' is larger than R2's largest object (5 TiB - 5 GiB)",
		    local);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	snprintf(what, sizeof(what), "'%s' to '%s/%s'", local, p.bucket,
		 key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	/* mode, uid, gid and mtime as r2fs stores them, so a mount shows
	 * the file as it was here */
	meta_to_headers(&st, &mh);
	po.content_type = r->o->content_type ? r->o->content_type
					     : mime_type_for(local);
	po.meta = mh.kv;
	po.nmeta = mh.n;
	progress_start(&r2_progress, true, (uint64_t)st.st_size);
	if ((uint64_t)st.st_size > MULTIPART_THRESHOLD_DEFAULT)
		rc = multipart_put_fd(r->store, key, fd, (uint64_t)st.st_size,
				      &po, R2_PARALLEL_PARTS, etag);
	else
		rc = r->store->ops->put_fd(r->store, key, fd,
					   (uint64_t)st.st_size, &po, etag);
	progress_end(&r2_progress, !rc);
	if (rc) {
		if (rc == -EFBIG)
			say("uploading %s failed: the server says it is too "
			    "large", what);
		else
			rc = remote_failure(r, rc, "uploading", what);
		rc = R2_EXIT_FAIL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(key);
	path_release(&p);
	return rc;
}

static int cp_download(struct r2 *r, const char *remote, const char *local)
{
	struct store_object obj = { 0 };
	struct r2_path p = { 0 };
	char *target = NULL, *tmp = NULL, what[1200];
	struct stat st;
	uint64_t size = 0;
	mode_t um;
	size_t len;
	int fd = -1, rc, keep_mode = -1;

	if (r->o->content_type) {
		say("--content-type is only for uploads and 'r2 presign put'");
		return R2_EXIT_USAGE;
	}
	rc = parse_remote(remote, true, &p);
	if (rc)
		return rc;
	if (p.key[strlen(p.key) - 1] == '/') {
		say("'%s' names a directory marker; r2 cp copies one object",
		    remote);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	/* DIR or DIR/: the object's name inside it, as cp does. */
	len = strlen(local);
	if ((len && local[len - 1] == '/') ||
	    (stat(local, &st) == 0 && S_ISDIR(st.st_mode))) {
		len += strlen(base_name(p.key)) + 2;
		target = malloc(len);
		if (target)
			snprintf(target, len, "%s%s%s", local,
				 local[strlen(local) - 1] == '/' ? "" : "/",
				 base_name(p.key));
	} else {
		target = strdup(local);
	}
	if (!target) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	if (stat(target, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			say("'%s' exists and is not a regular file", target);
			rc = R2_EXIT_USAGE;
			goto out;
		}
		keep_mode = (int)(st.st_mode & 07777);
	}
	/* Download next to the target and rename: a failure never leaves
	 * a partial file under the target's name. */
	len = strlen(target) + 16;
	tmp = malloc(len);
	if (!tmp) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	snprintf(tmp, len, "%s.r2-XXXXXX", target);
	snprintf(what, sizeof(what), "'%s/%s'", p.bucket, p.key);
	rc = r2_connect(r, p.bucket);
	if (rc)
		goto out;
	rc = r->store->ops->head(r->store, p.key, &obj);
	if (rc) {
		rc = remote_failure(r, rc, "reading", what);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		say("cannot create a file next to '%s': %s", target,
		    strerror(errno));
		free(tmp);
		tmp = NULL;
		rc = R2_EXIT_FAIL;
		goto out;
	}
	progress_start(&r2_progress, false, obj.size);
	rc = r->store->ops->get_to_fd(r->store, p.key, NULL, fd, &size);
	progress_end(&r2_progress, !rc);
	if (rc) {
		rc = remote_failure(r, rc, "downloading", what);
		goto out;
	}
	um = umask(0);
	umask(um);
	if (fchmod(fd, keep_mode >= 0 ? (mode_t)keep_mode : 0666 & ~um) < 0 ||
	    fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		say("cannot write '%s': %s", target, strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	fd = -1;
	if (rename(tmp, target) < 0) {
		say("cannot create '%s': %s", target, strerror(errno));
		rc = R2_EXIT_FAIL;
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(target);
	store_object_release(&obj);
	path_release(&p);
	return rc;
}

static int cmd_cp(struct r2 *r, int argc, char **argv)
{
	struct stat st;
	bool src_remote, dst_remote;

	if (argc != 2) {
		say("usage: r2 cp LOCAL BUCKET/KEY, or r2 cp BUCKET/KEY "
		    "LOCAL");
		return R2_EXIT_USAGE;
	}
	src_remote = maybe_remote(argv[0]);
	dst_remote = maybe_remote(argv[1]);
	/* Both could be either: an existing local source decides. */
	if (src_remote && dst_remote && strip_scheme(argv[0]) == argv[0] &&
	    stat(argv[0], &st) == 0)
		src_remote = false;
	if (src_remote && dst_remote && strip_scheme(argv[1]) == argv[1])
		dst_remote = false;
	if (src_remote == dst_remote) {
		if (src_remote)
			say("r2 cp copies between a local file and a "
			    "bucket, not between two buckets");
		else
			say("neither '%s' nor '%s' is BUCKET/KEY (write "
			    "BUCKET/ for a bucket's top level, or "
			    "s3://BUCKET/KEY)", argv[0], argv[1]);
		return R2_EXIT_USAGE;
	}
	if (dst_remote)
		return cp_upload(r, argv[0], argv[1]);
	return cp_download(r, argv[0], argv[1]);
}

/* ------------------------------------------------------------------ */
/* presign */

static int cmd_presign(struct r2 *r, int argc, char **argv)
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

/* ------------------------------------------------------------------ */
/* cors */

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

static int cmd_cors(struct r2 *r, int argc, char **argv)
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

/* ------------------------------------------------------------------ */

struct r2_command {
	const char *name;
	int (*run)(struct r2 *r, int argc, char **argv);
};

static const struct r2_command r2_commands[] = {
	{ "ls", cmd_ls },	  { "stat", cmd_stat },
	{ "head", cmd_head },	  { "cp", cmd_cp },
	{ "rm", cmd_rm },	  { "delete", cmd_rm },
	{ "presign", cmd_presign }, { "cors", cmd_cors },
};

/* Options valid for the command; 0 or an exit status. */
static int check_command_options(const struct r2_opts *o, const char *cmd)
{
	if (o->recursive && strcmp(cmd, "ls")) {
		say("-r is only for 'r2 ls'");
		return R2_EXIT_USAGE;
	}
	if ((o->expires_set || o->now_set) && strcmp(cmd, "presign")) {
		say("%s is only for 'r2 presign'",
		    o->expires_set ? "--expires" : "--now");
		return R2_EXIT_USAGE;
	}
	if (o->content_type && strcmp(cmd, "presign") && strcmp(cmd, "cp")) {
		say("--content-type is only for 'r2 cp' uploads and 'r2 "
		    "presign put'");
		return R2_EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	const struct r2_command *cmd = NULL;
	struct r2_opts o = { 0 };
	struct r2 r = { .o = &o };
	bool inited = false;
	size_t i;
	int c, rc = 0;

	conf_init(&o.conf);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":rdhV", r2_long_opts, NULL)) !=
	       -1) {
		if (c == 'h') {
			usage(stdout);
			goto out;
		}
		if (c == 'V') {
			printf("r2 (r2fs) %s\n", PACKAGE_VERSION);
			goto out;
		}
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			if (c == ':')
				say("option '%s' needs a value (see r2 --help)",
				    bad);
			else if (optopt)
				say("unknown option '-%c' (see r2 --help)",
				    optopt);
			else
				say("unknown option '%s' (see r2 --help)", bad);
			rc = R2_EXIT_USAGE;
			goto out;
		}
		rc = take_option(&o, c, optarg);
		if (rc)
			goto out;
	}
	if (optind >= argc) {
		usage(stderr);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	for (i = 0; i < sizeof(r2_commands) / sizeof(r2_commands[0]); i++)
		if (!strcmp(argv[optind], r2_commands[i].name))
			cmd = &r2_commands[i];
	if (!cmd) {
		say("unknown command '%s' (see r2 --help)", argv[optind]);
		rc = R2_EXIT_USAGE;
		goto out;
	}
	rc = check_command_options(&o, cmd->name);
	if (rc)
		goto out;
	if (take_environment(&o)) {
		say("out of memory");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	log_setup(o.debug ? LOG_LVL_DEBUG : LOG_LVL_WARN, 0, "r2");
	if (http_global_init()) {
		say("cannot initialise libcurl");
		rc = R2_EXIT_FAIL;
		goto out;
	}
	xml_global_init();
	inited = true;
	rc = cmd->run(&r, argc - optind - 1, argv + optind + 1);
out:
	s3_free(r.s3);
	if (inited) {
		xml_global_cleanup();
		http_global_cleanup();
	}
	conf_release(&o.conf);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		say("cannot write the output: %s", strerror(errno));
		if (!rc)
			rc = R2_EXIT_FAIL;
	}
	return rc;
}
