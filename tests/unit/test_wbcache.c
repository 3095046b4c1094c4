/* Unit tests for the journal's pure parts: conflict names (upload.h) and
 * what an upload may replace (wbcache.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "upload.h"
#include "wbcache.h"

static void name_is(const char *path, unsigned n, const char *want)
{
	/* 2026-11-25 15:01:02 UTC */
	char *got = upload_conflict_path(path, (time_t)1795618862, n);

	TAP_STREQ(got ? got : "(null)", want, path);
	free(got);
}

static int no_describe(void *arg, void *owner, struct wb_desc *d)
{
	(void)arg;
	(void)owner;
	d->gone = true;
	return 0;
}

static const struct wb_owner_ops no_owner = { .describe = no_describe };

int main(void)
{
	char dir[] = "/tmp/r2fs-test-wbcache.XXXXXX", err[256], etag[200];
	struct wb_opts o = { .endpoint = "http://e", .bucket = "b",
			     .prefix = "", .delay = 1, .workers = 1 };
	struct wb_file *wf;
	enum journal_base b;
	char longtag[300];
	struct wb *wb;

	name_is("doc.txt", 1, "doc.conflict-20261125-150102.txt");
	name_is("a/b/doc.txt", 1, "a/b/doc.conflict-20261125-150102.txt");
	name_is("a/b/doc.txt", 3, "a/b/doc.conflict-20261125-150102-3.txt");
	name_is("Makefile", 1, "Makefile.conflict-20261125-150102");
	name_is("dir/.bashrc", 1, "dir/.bashrc.conflict-20261125-150102");
	name_is("x.tar.gz", 1, "x.tar.conflict-20261125-150102.gz");
	name_is("d.d/noext", 1, "d.d/noext.conflict-20261125-150102");
	name_is("trailing.", 1, "trailing.conflict-20261125-150102.");

	if (!mkdtemp(dir) || (o.cache_dir = dir,
			      wb_new(&o, NULL, &no_owner, NULL, err,
				     sizeof(err), &wb))) {
		TAP_OK(0, "a journal in a temporary directory");
		return tap_done();
	}
	wf = wb_file_new(wb, NULL, "f");
	wb_file_set_base(wb, wf, JOURNAL_BASE_ETAG, "0123abcd-3");
	b = wb_file_base(wb, wf, etag, sizeof(etag));
	TAP_OK(b == JOURNAL_BASE_ETAG && !strcmp(etag, "0123abcd-3"),
	       "an ETag base is kept");
	wb_file_set_base(wb, wf, JOURNAL_BASE_ETAG, "");
	b = wb_file_base(wb, wf, etag, sizeof(etag));
	TAP_OK(b == JOURNAL_BASE_ANY && !etag[0],
	       "an unknown ETag is no condition");
	wb_file_set_base(wb, wf, JOURNAL_BASE_ETAG, "has space");
	b = wb_file_base(wb, wf, etag, sizeof(etag));
	TAP_OK(b == JOURNAL_BASE_ANY,
	       "an ETag a record cannot hold is no condition");
	memset(longtag, 'a', sizeof(longtag) - 1);
	longtag[sizeof(longtag) - 1] = '\0';
	wb_file_set_base(wb, wf, JOURNAL_BASE_ETAG, longtag);
	b = wb_file_base(wb, wf, etag, sizeof(etag));
	TAP_OK(b == JOURNAL_BASE_ANY, "an overlong ETag is no condition");
	wb_file_set_base(wb, wf, JOURNAL_BASE_NONE, "ignored");
	b = wb_file_base(wb, wf, etag, sizeof(etag));
	TAP_OK(b == JOURNAL_BASE_NONE && !etag[0],
	       "none: nothing may be there");
	wb_file_release(wb, wf);
	wb_free(wb);
	if (fork() == 0)
		execlp("rm", "rm", "-rf", dir, (char *)NULL);
	return tap_done();
}
