/*
 * r2.c - the r2 program: bucket chores from the command line, built on the
 * same library as r2fs (credentials, signing, the S3 store).
 *
 *   r2 ls | stat | head | cp | rm | mb | rb | presign | cors
 *                                                    (r2 --help, man r2)
 *
 * This file reads the options, finds the command and runs it.  The
 * commands are in r2_ls.c (ls, stat, head), r2_rm.c, r2_cp.c and
 * r2_cptree.c (cp, cp -r), r2_bucket.c (mb, rb), r2_presign.c and
 * r2_cors.c; what they share (BUCKET/KEY names, the connection,
 * explaining failures) is r2_remote.c, declared in r2_i.h.
 *
 * Every command first checks its arguments and reads its local input
 * (CORS JSON, the file to upload) and only then loads credentials and
 * talks to the server, so a usage error never sends anything.  Errors are
 * one sentence on stderr; the exit status is 0 for success, 1 when the
 * server or the local system failed, 2 for a usage error (bad arguments,
 * invalid JSON, missing endpoint or credentials).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "http.h"
#include "log.h"
#include "r2_i.h"
#include "s3.h"
#include "sigv4.h"
#include "xml.h"

/* ------------------------------------------------------------------ */
/* Options */

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
	OPT_CA_FILE,
	OPT_CA_PATH,
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
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "ca-path", required_argument, NULL, OPT_CA_PATH },
	{ "recursive", no_argument, NULL, 'r' },
	{ "force", no_argument, NULL, 'f' },
	{ "verbose", no_argument, NULL, 'v' },
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
"  cp BUCKET/KEY LOCAL         download an object, with its mtime\n"
"  cp -r DIR BUCKET[/PREFIX]   upload a directory's files below PREFIX/,\n"
"                              8 at a time (DIR/a/b is PREFIX/a/b)\n"
"  cp -r BUCKET[/PREFIX] DIR   download what is below PREFIX/ into DIR\n"
"  rm BUCKET/KEY...            delete objects (also: delete)\n"
"  rm -r BUCKET[/PREFIX]       delete every key below PREFIX/ (and PREFIX),\n"
"                              1000 a request; asks first on a terminal\n"
"  mb BUCKET                   make a bucket\n"
"  rb BUCKET                   remove an empty bucket\n"
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
"  --ca-file FILE              trust the CAs in this PEM file instead of the\n"
"                              system's (default: $R2_CA_FILE)\n"
"  --ca-path DIR               ... or those in this directory (default:\n"
"                              $R2_CA_PATH)\n"
"\n"
"Command options:\n"
"  -r, --recursive             ls: every key below PREFIX, with full names;\n"
"                              cp: a directory; rm: every key below PREFIX\n"
"  -f, --force                 rm -r: do not ask, even on a terminal\n"
"  -v, --verbose               cp, rm, mb, rb: say what was done, in one\n"
"                              line on stdout\n"
"  --content-type TYPE         cp upload: the object's Content-Type (default:\n"
"                              from the file name); presign put: bind the\n"
"                              URL to this Content-Type\n"
"  --expires SECONDS           presign: validity, 1 to 604800 (7 days);\n"
"                              default 3600\n"
"\n"
"Other options:\n"
"  -d, --debug                 log each request (method, key, status,\n"
"                              bytes, time, retries) on stderr\n"
"  -h, --help                  this help\n"
"  -V, --version               the version\n"
"\n"
"BUCKET/KEY may also be written s3://BUCKET/KEY or r2://BUCKET/KEY (which\n"
"also tells cp which argument is the bucket's).  Exit status: 0 success,\n"
"1 the request or a local file operation failed, 2 usage error.\n"
"Credentials are never accepted on the command line.\n");
}

/* "r2: <sentence>\n" on stderr. */
void say(const char *fmt, ...)
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
	case OPT_CA_FILE:
		rc = set_str(&o->conf.ca_file, arg);
		break;
	case OPT_CA_PATH:
		rc = set_str(&o->conf.ca_path, arg);
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
	case 'f':
		o->force = true;
		break;
	case 'v':
		o->verbose = true;
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
	v = getenv("R2_CA_FILE");
	if (!rc && v && *v && !o->conf.ca_file)
		rc = set_str(&o->conf.ca_file, v);
	v = getenv("R2_CA_PATH");
	if (!rc && v && *v && !o->conf.ca_path)
		rc = set_str(&o->conf.ca_path, v);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The commands, and main */

struct r2_command {
	const char *name;
	int (*run)(struct r2 *r, int argc, char **argv);
};

static const struct r2_command r2_commands[] = {
	{ "ls", cmd_ls },	  { "stat", cmd_stat },
	{ "head", cmd_head },	  { "cp", cmd_cp },
	{ "rm", cmd_rm },	  { "delete", cmd_rm },
	{ "mb", cmd_mb },	  { "rb", cmd_rb },
	{ "presign", cmd_presign }, { "cors", cmd_cors },
};

/* Options valid for the command; 0 or an exit status. */
static int check_command_options(const struct r2_opts *o, const char *cmd)
{
	bool rm = !strcmp(cmd, "rm") || !strcmp(cmd, "delete");

	if (o->recursive && strcmp(cmd, "ls") && strcmp(cmd, "cp") && !rm) {
		say("-r is only for 'r2 ls', 'r2 cp' and 'r2 rm'");
		return R2_EXIT_USAGE;
	}
	if (o->force && !(rm && o->recursive)) {
		say("-f is only for 'r2 rm -r'");
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
	while ((c = getopt_long(argc, argv, ":rfvdhV", r2_long_opts, NULL)) !=
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
