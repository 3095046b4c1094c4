/* Unit tests for wbcache.c's pure parts: conflict names and upload bases. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inode.h"
#include "tap.h"
#include "wbcache.h"

static void name_is(const char *path, unsigned n, const char *want)
{
	/* 2026-11-25 15:01:02 UTC */
	char *got = wb_conflict_path(path, (time_t)1795618862, n);

	TAP_STREQ(got ? got : "(null)", want, path);
	free(got);
}

int main(void)
{
	struct inode in;
	char longtag[300];

	name_is("doc.txt", 1, "doc.conflict-20261125-150102.txt");
	name_is("a/b/doc.txt", 1, "a/b/doc.conflict-20261125-150102.txt");
	name_is("a/b/doc.txt", 3, "a/b/doc.conflict-20261125-150102-3.txt");
	name_is("Makefile", 1, "Makefile.conflict-20261125-150102");
	name_is("dir/.bashrc", 1, "dir/.bashrc.conflict-20261125-150102");
	name_is("x.tar.gz", 1, "x.tar.conflict-20261125-150102.gz");
	name_is("d.d/noext", 1, "d.d/noext.conflict-20261125-150102");
	name_is("trailing.", 1, "trailing.conflict-20261125-150102.");

	memset(&in, 0, sizeof(in));
	wb_set_base(&in, WB_BASE_ETAG, "0123abcd-3");
	TAP_OK(in.wb_base == WB_BASE_ETAG &&
		       !strcmp(in.wb_base_etag, "0123abcd-3"),
	       "an ETag base is kept");
	wb_set_base(&in, WB_BASE_ETAG, "");
	TAP_OK(in.wb_base == WB_BASE_ANY && !in.wb_base_etag[0],
	       "an unknown ETag is no condition");
	wb_set_base(&in, WB_BASE_ETAG, "has space");
	TAP_OK(in.wb_base == WB_BASE_ANY,
	       "an ETag a record cannot hold is no condition");
	memset(longtag, 'a', sizeof(longtag) - 1);
	longtag[sizeof(longtag) - 1] = '\0';
	wb_set_base(&in, WB_BASE_ETAG, longtag);
	TAP_OK(in.wb_base == WB_BASE_ANY, "an overlong ETag is no condition");
	wb_set_base(&in, WB_BASE_NONE, "ignored");
	TAP_OK(in.wb_base == WB_BASE_NONE && !in.wb_base_etag[0],
	       "none: nothing may be there");
	return tap_done();
}
