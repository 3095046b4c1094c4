/*
 * fuzz_dirindex.c - libFuzzer target for the directory index parser
 * (src/dirindex.c), which reads objects anyone with write access to the
 * bucket can put there.
 *
 * Besides crashes, leaks and undefined behaviour, the contracts of
 * dirindex.h are checked: the return codes, an empty index after an
 * error, names sorted and unique, every entry one that dir_index_worth
 * accepts and that dir_index_find finds; and what parses, written again
 * with dir_index_append, parses back to the same entries.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirindex.h"
#include "fuzz_check.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* meta.c reads headers through this (s3.c's, which pulls in libcurl);
 * nothing here reads headers. */
const char *store_object_meta(const struct store_object *obj,
			      const char *name)
{
	(void)obj;
	(void)name;
	return NULL;
}

static bool same_ts(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool same_entry(const struct dir_index_entry *a,
		       const struct dir_index_entry *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->etag, b->etag) &&
	       a->size == b->size && a->lastmod == b->lastmod &&
	       a->checked == b->checked && a->v.has == b->v.has &&
	       a->v.mode == b->v.mode && a->v.uid == b->v.uid &&
	       a->v.gid == b->v.gid && same_ts(a->v.mtime, b->v.mtime) &&
	       same_ts(a->v.ctime, b->v.ctime) &&
	       same_ts(a->v.atime, b->v.atime);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dir_index ix, again;
	struct dir_index_buf b = { 0 };
	size_t i;
	int rc;

	rc = dir_index_parse((const char *)data, size, &ix);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc) {
		CHECK(ix.n == 0 && ix.e == NULL);
		return 0;
	}
	for (i = 0; i < ix.n; i++) {
		const struct dir_index_entry *e = &ix.e[i];

		CHECK(e->name[0] && !strchr(e->name, '/'));
		CHECK(dir_index_worth(e->etag, e->size, e->lastmod,
				      e->checked));
		CHECK(i == 0 || strcmp(ix.e[i - 1].name, e->name) < 0);
		CHECK(dir_index_find(&ix, e->name) == e);
		CHECK(dir_index_trusted(e, e->etag, e->size, e->lastmod));
		rc = dir_index_append(&b, e->name, e->etag, e->size,
				      e->lastmod, e->checked, &e->v);
		CHECK(rc == 0 || rc == -ENOMEM);
		if (rc)
			goto out;
	}
	if (ix.n == 0)
		goto out;
	rc = dir_index_parse(b.s, b.len, &again);
	CHECK(rc == 0 || rc == -ENOMEM);
	if (rc == 0) {
		CHECK(again.n == ix.n);
		for (i = 0; i < ix.n; i++)
			CHECK(same_entry(&ix.e[i], &again.e[i]));
		dir_index_release(&again);
	}
out:
	dir_index_buf_release(&b);
	dir_index_release(&ix);
	return 0;
}
