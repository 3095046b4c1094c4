/*
 * creds.c - credentials from options, files and the environment.
 *
 * Files are read whole (they are small; capped at 1 MiB) and parsed line
 * by line.  Buffers that held secrets are wiped before they are freed.
 */
#include "creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREDS_FILE_MAX (1024 * 1024)

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void creds_release(struct creds *c)
{
	wipe_free(c->access_key);
	wipe_free(c->secret_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int set_pair(struct creds *out, const char *ak, const char *sk,
		    const char *tok)
{
	char *a = strdup(ak), *s = strdup(sk), *t = tok ? strdup(tok) : NULL;

	if (!a || !s || (tok && !t)) {
		wipe_free(a);
		wipe_free(s);
		wipe_free(t);
		return -ENOMEM;
	}
	wipe_free(out->access_key);
	wipe_free(out->secret_key);
	wipe_free(out->session_token);
	out->access_key = a;
	out->secret_key = s;
	out->session_token = t;
	return 0;
}

/* Split text into lines in place; calls fn for each. */
#define FOR_EACH_LINE(text, line, next)                                     \
	for (line = text; line; line = next)                                \
		if ((next = strchr(line, '\n')) ? (*next++ = '\0', 1) : 1)

int creds_parse_passwd(const char *text, const char *bucket,
		       struct creds *out)
{
	char *copy = strdup(text), *line, *next;
	int rc = -ENOENT, best = 0;

	if (!copy)
		return -ENOMEM;
	FOR_EACH_LINE(copy, line, next) {
		char *l = trim(line), *c1, *c2;
		int score;

		if (!*l || *l == '#')
			continue;
		c1 = strchr(l, ':');
		if (!c1)
			continue;
		c2 = strchr(c1 + 1, ':');
		*c1 = '\0';
		if (c2) {
			*c2 = '\0';
			if (!bucket || strcmp(l, bucket))
				continue;
			score = 2;
		} else {
			score = 1;
		}
		if (score <= best)
			continue;
		rc = c2 ? set_pair(out, trim(c1 + 1), trim(c2 + 1), NULL)
			: set_pair(out, trim(l), trim(c1 + 1), NULL);
		if (rc)
			break;
		best = score;
	}
	explicit_bzero(copy, strlen(text));
	free(copy);
	if (rc == 0 && (!out->access_key[0] || !out->secret_key[0]))
		rc = -ENOENT;
	return rc;
}

int creds_parse_ini(const char *text, const char *profile,
		    struct creds *out)
{
	char *copy = strdup(text), *line, *next;
	char *ak = NULL, *sk = NULL, *tok = NULL;
	int in_section = 0, rc = -ENOENT;

	if (!copy)
		return -ENOMEM;
	FOR_EACH_LINE(copy, line, next) {
		char *l = trim(line), *eq, *k, *v;

		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');

			if (!end)
				continue;
			*end = '\0';
			k = trim(l + 1);
			if (!strncmp(k, "profile ", 8))
				k = trim(k + 8);
			in_section = !strcmp(k, profile);
			continue;
		}
		if (!in_section)
			continue;
		eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = '\0';
		k = trim(l);
		v = trim(eq + 1);
		if (!strcmp(k, "aws_access_key_id"))
			ak = v;
		else if (!strcmp(k, "aws_secret_access_key"))
			sk = v;
		else if (!strcmp(k, "aws_session_token"))
			tok = v;
	}
	if (ak && sk && *ak && *sk)
		rc = set_pair(out, ak, sk, tok && *tok ? tok : NULL);
	explicit_bzero(copy, strlen(text));
	free(copy);
	return rc;
}

static void note_file(struct creds *c, const char *path,
		      const struct stat *st)
{
	snprintf(c->file, sizeof(c->file), "%s", path);
	c->file_dev = (uint64_t)st->st_dev;
	c->file_ino = (uint64_t)st->st_ino;
	c->file_size = (uint64_t)st->st_size;
	c->file_mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u +
			   (uint64_t)st->st_mtim.tv_nsec;
}

bool creds_file_changed(const struct creds *c)
{
	struct stat st;
	struct creds now;

	if (!c->file[0])
		return false;
	if (stat(c->file, &st) < 0)
		return true;
	note_file(&now, c->file, &st);
	return now.file_dev != c->file_dev || now.file_ino != c->file_ino ||
	       now.file_size != c->file_size ||
	       now.file_mtime_ns != c->file_mtime_ns;
}

/* Read a small file whole.  When private_only, refuse group/other bits.
 * id (not NULL): the file's identity is noted there. */
static int read_small_file(const char *path, int private_only, char **out,
			   struct creds *id, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open credentials file %s: %s",
			 path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (private_only && (st.st_mode & 077)) {
		rc = -EACCES;
		snprintf(err, errlen, "passwd file %s is readable by others "
			 "(mode %03o); run chmod 600 %s", path,
			 (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CREDS_FILE_MAX) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s is not a small regular file", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (id)
		note_file(id, path, &st);
	*out = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static void shared_file_path(char *path, size_t len)
{
	const char *f = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = getenv("HOME");

	if (f && *f)
		snprintf(path, len, "%s", f);
	else
		snprintf(path, len, "%s/.aws/credentials", home ? home : "");
}

/* Does text have a section [profile] (or [profile NAME])? */
static bool ini_has_profile(const char *text, const char *profile)
{
	char *copy = strdup(text), *line, *next, *end;
	bool found = false;

	if (!copy)
		return true; /* then say "has no keys", as without the check */
	FOR_EACH_LINE(copy, line, next) {
		char *l = trim(line);

		end = strchr(l, ']');
		if (*l != '[' || !end)
			continue;
		*end = '\0';
		l = trim(l + 1);
		if (!strncmp(l, "profile ", 8))
			l = trim(l + 8);
		found = found || !strcmp(l, profile);
	}
	explicit_bzero(copy, strlen(text));
	free(copy);
	return found;
}

static int load_profile(const char *profile, int required, struct creds *out,
			char *err, size_t errlen)
{
	char path[4096], *text = NULL;
	bool exists;
	int rc;

	shared_file_path(path, sizeof(path));
	rc = read_small_file(path, 0, &text, out, err, errlen);
	if (rc == -ENOENT && required)
		snprintf(err, errlen, "profile '%s' does not exist: there is "
			 "no credentials file %s", profile, path);
	if (rc) {
		if (!required)
			err[0] = '\0';
		return rc;
	}
	rc = creds_parse_ini(text, profile, out);
	exists = rc != -ENOENT || ini_has_profile(text, profile);
	explicit_bzero(text, strlen(text));
	free(text);
	if (rc == -ENOENT && !exists)
		snprintf(err, errlen, "profile '%s' does not exist in %s",
			 profile, path);
	else if (rc == -ENOENT)
		snprintf(err, errlen, "profile '%s' in %s has no "
			 "aws_access_key_id and aws_secret_access_key",
			 profile, path);
	if (rc == 0)
		snprintf(out->source, sizeof(out->source),
			 "profile %s in %s", profile, path);
	return rc;
}

int creds_load(const char *passwd_file, const char *profile,
	       const char *bucket, struct creds *out, char *err,
	       size_t errlen)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *env_profile = getenv("AWS_PROFILE");
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (passwd_file) {
		rc = read_small_file(passwd_file, 1, &text, out, err, errlen);
		if (rc)
			return rc;
		rc = creds_parse_passwd(text, bucket, out);
		explicit_bzero(text, strlen(text));
		free(text);
		if (rc == -ENOENT)
			snprintf(err, errlen, "passwd file %s has no line "
				 "ACCESS_KEY:SECRET_KEY", passwd_file);
		if (rc == 0)
			snprintf(out->source, sizeof(out->source),
				 "passwd file %s", passwd_file);
		return rc;
	}
	if (profile)
		return load_profile(profile, 1, out, err, errlen);
	if (ak && *ak && sk && *sk) {
		rc = set_pair(out, ak, sk, getenv("AWS_SESSION_TOKEN"));
		if (rc == 0)
			snprintf(out->source, sizeof(out->source),
				 "environment");
		return rc;
	}
	if ((ak && *ak) != (sk && *sk)) {
		snprintf(err, errlen, "%s is set but %s is not",
			 ak && *ak ? "AWS_ACCESS_KEY_ID" :
				     "AWS_SECRET_ACCESS_KEY",
			 ak && *ak ? "AWS_SECRET_ACCESS_KEY" :
				     "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	rc = load_profile(env_profile && *env_profile ? env_profile
						      : "default",
			  env_profile && *env_profile, out, err, errlen);
	if (rc && !err[0])
		snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID "
			 "and AWS_SECRET_ACCESS_KEY, or use -o passwd_file= "
			 "or -o profile=");
	return rc;
}
