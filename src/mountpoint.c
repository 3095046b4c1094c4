/*
 * mountpoint.c - mountinfo lookups and the checks of a mount point.
 *
 * /proc/self/mountinfo has one line per mount, "ID PARENT MAJ:MIN ROOT
 * POINT OPTIONS [TAGS...] - TYPE SOURCE SUPEROPTIONS", with spaces and
 * other bytes in POINT and SOURCE escaped as \ooo.  Mounts stacked on one
 * point are listed in the order they were made, so the last line for a
 * point is the one a path lookup sees.
 *
 * The checks refuse what would hide or stack: s3fs refuses a non-empty
 * directory (naming -o nonempty) and so does r2fs; a FUSE mount on top of
 * another FUSE mount only hides the lower one, which keeps running (or,
 * dead, keeps answering ENOTCONN beneath).  One case is repaired instead
 * of refused, because SEMANTICS.md promises it: the dead mount of a
 * killed r2fs daemon is unmounted, so that mounting again in place is the
 * way to recover (the journal's files go up after the new mount).
 */
#include "mountpoint.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define R2FS_TYPE "fuse.r2fs"

/* Copy s into out (len bytes), turning \ooo into the byte it names. */
static void unescape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	while (*s && o + 1 < len) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			out[o++] = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					  (s[3] - '0'));
			s += 4;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
}

/* One mountinfo line (changed in place) into e: 0 or -EINVAL. */
static int parse_line(char *line, struct mount_entry *e)
{
	char *field[5], *p = line, *type, *source, *end;
	int i;

	for (i = 0; i < 5; i++) {
		field[i] = p;
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		*p++ = '\0';
	}
	type = strstr(p, " - ");
	if (!type)
		return -EINVAL;
	type += 3;
	source = strchr(type, ' ');
	if (!source)
		return -EINVAL;
	*source++ = '\0';
	end = strpbrk(source, " \n");
	if (end)
		*end = '\0';
	e->id = strtoull(field[0], NULL, 10);
	unescape(field[4], e->point, sizeof(e->point));
	snprintf(e->type, sizeof(e->type), "%s", type);
	unescape(source, e->source, sizeof(e->source));
	return 0;
}

/* The last mount that path (a mount point) or id names. */
static int find(const char *path, unsigned long long id,
		struct mount_entry *out)
{
	struct mount_entry *e = malloc(sizeof(*e));
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;
	FILE *f;

	if (!e)
		return -ENOMEM;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		rc = -errno;
		free(e);
		return rc;
	}
	while (getline(&line, &cap, f) > 0) {
		if (parse_line(line, e))
			continue;
		if (path ? strcmp(e->point, path) : e->id != id)
			continue;
		*out = *e;
		rc = 0;
		if (!path)
			break; /* ids are unique */
	}
	free(line);
	fclose(f);
	free(e);
	return rc;
}

int mountpoint_at(const char *path, struct mount_entry *out)
{
	return find(path, 0, out);
}

int mountpoint_by_id(unsigned long long id, struct mount_entry *out)
{
	return find(NULL, id, out);
}

/* fusermount3 -uz path: 0, or -EIO when it failed. */
static int lazy_unmount(const char *path)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-uz", "--", path,
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Does the directory have entries besides . and ..?  1, 0 or -errno. */
static int has_entries(const char *path)
{
	struct dirent *d;
	int rc = 0;
	DIR *dir;

	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			rc = 1;
			break;
		}
	}
	closedir(dir);
	return rc;
}

int mountpoint_check(const char *path, bool nonempty, char *err,
		     size_t errlen)
{
	struct mount_entry *m = malloc(sizeof(*m));
	struct statfs sf;
	struct stat st;
	int rc, tries;
	bool found;

	if (!m)
		return -ENOMEM;
	/* /dev/fd/N: a /dev/fuse descriptor mount.fuse3 opened and mounted
	 * already (its drop_privileges option); nothing to check here */
	if (!strncmp(path, "/dev/fd/", 8)) {
		rc = 0;
		goto out;
	}
	/* a dead r2fs mount is unmounted; there may be several stacked */
	for (tries = 0;; tries++) {
		found = mountpoint_at(path, m) == 0;
		/* statfs always asks the daemon (stat may be answered from
		 * the kernel's attribute cache) */
		if (stat(path, &st) == 0 &&
		    (!found || statfs(path, &sf) == 0 || errno != ENOTCONN))
			break;
		rc = -errno;
		if (rc != -ENOTCONN || !found) {
			snprintf(err, errlen, "cannot use %s as the mount "
				 "point: %s", path, strerror(-rc));
			goto out;
		}
		if (strcmp(m->type, R2FS_TYPE)) {
			snprintf(err, errlen, "%s is a dead %s mount (%s): "
				 "unmount it first with fusermount3 -uz %s",
				 path, m->type, strerror(ENOTCONN), path);
			goto out;
		}
		log_warn("%s is a dead FUSE mount (its daemon died); "
			 "unmounting it", path);
		if (tries >= 8 || lazy_unmount(path)) {
			snprintf(err, errlen, "cannot unmount the dead r2fs "
				 "mount at %s: run fusermount3 -uz %s", path,
				 path);
			rc = -EBUSY;
			goto out;
		}
	}
	if (found && !strncmp(m->type, "fuse", 4)) {
		if (!strcmp(m->type, R2FS_TYPE))
			snprintf(err, errlen, "%s is already an r2fs mount "
				 "(of %s): unmount it first with fusermount3 "
				 "-u %s", path, m->source, path);
		else
			snprintf(err, errlen, "%s is already a %s mount (of "
				 "%s): unmount it first with fusermount3 -u "
				 "%s", path, m->type, m->source, path);
		rc = -EBUSY;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", path);
		rc = -ENOTDIR;
		goto out;
	}
	rc = nonempty ? 0 : has_entries(path);
	if (rc > 0) {
		snprintf(err, errlen, "%s is not empty: mounting there would "
			 "hide its files (-o nonempty mounts over them "
			 "anyway)", path);
		rc = -ENOTEMPTY;
		goto out;
	}
	rc = 0; /* a directory we may not read: the mount decides */
out:
	free(m);
	return rc;
}
