/*
 * r2_ls.c - the commands that look at what a bucket holds: ls (the
 * buckets, or objects and PRE prefixes in key order; inside a prefix its
 * own directory marker, whose name there is empty, is not shown), stat (a
 * key as a mount shows it: a file with r2fs's mode, uid, gid and mtime, a
 * directory marker, or a directory implied by keys below it) and head
 * (the object's headers).
 *
 * Times are shown in local time, as ls -l does; head's Last-Modified is
 * HTTP's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "meta.h"
#include "r2_i.h"
#include "s3_bucket.h"
#include "store.h"

#define R2_LIST_PAGE 1000

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

int cmd_ls(struct r2 *r, int argc, char **argv)
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
				     0)) {
				/* b/dir/'s own marker "dir/" has no name
				 * here: the directory is what is listed */
				if (page.entries[i].key[skip])
					ls_object(&page.entries[i], skip);
				i++;
			} else {
				ls_prefix(page.prefixes[j++], skip);
			}
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

int cmd_head(struct r2 *r, int argc, char **argv)
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

int cmd_stat(struct r2 *r, int argc, char **argv)
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
