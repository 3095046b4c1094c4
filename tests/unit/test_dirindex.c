/* Unit tests for dirindex.c: the directory index's format, parser and
 * trust rule. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirindex.h"
#include "tap.h"

static struct meta_values vals(unsigned has, mode_t mode, long mtime_ns)
{
	struct meta_values v;

	memset(&v, 0, sizeof(v));
	v.has = has;
	v.mode = mode;
	v.uid = 42;
	v.gid = 4294967294u;
	v.mtime.tv_sec = 1700000000;
	v.mtime.tv_nsec = mtime_ns;
	v.ctime = v.mtime;
	v.atime.tv_sec = 1;
	return v;
}

/* Parse a NUL-terminated text; its return code. */
static int parse_text(const char *text, struct dir_index *ix)
{
	return dir_index_parse(text, strlen(text), ix);
}

int main(void)
{
	struct dir_index_buf b = { 0 };
	struct dir_index ix;
	const struct dir_index_entry *e;
	struct meta_values v = vals(META_HAS_ALL, 0120777, 123456789);
	struct meta_values none = vals(0, 0, 0);
	char *k, *text;

	k = dir_index_key("photos/2024/");
	TAP_STREQ(k, ".r2fs-index/photos/2024/.attrs", "key of a directory");
	free(k);
	k = dir_index_key("");
	TAP_STREQ(k, ".r2fs-index/.attrs", "key of the bucket's root");
	free(k);

	/* the trust rule */
	TAP_OK(dir_index_worth("e1", 10, 1000, 1005),
	       "a HEAD 5 s after is kept");
	TAP_OK(!dir_index_worth("e1", 10, 1000, 1004),
	       "a HEAD less than 5 s after is not");
	TAP_OK(!dir_index_worth("", 10, 1000, 2000), "no ETag: not kept");
	TAP_OK(!dir_index_worth("e1", 10, 0, 2000),
	       "no Last-Modified: not kept");
	TAP_OK(!dir_index_worth("abc-3", 10, 1000, 2000),
	       "a multipart ETag: not kept (stamped when the upload began)");
	TAP_OK(dir_index_worth("e1", 64ull << 20, 1000, 2000) &&
		       !dir_index_worth("e1", (64ull << 20) + 1, 1000, 2000),
	       "objects up to 64 MiB are kept, bigger ones not");
	TAP_OK(!dir_index_worth("e1", 10, 1000, 999), "a HEAD before: no");
	TAP_OK(!dir_index_worth("e1", 10, (time_t)1 << 62,
				((time_t)1 << 62) + 1),
	       "huge times do not overflow into a yes");

	/* writing: order, refusals, escaping */
	TAP_INTEQ(dir_index_append(&b, "a b\tc%\n", "etag1", 5, 1000, 1005,
				   &v),
		  0, "append a name with space, tab, %, newline");
	TAP_INTEQ(dir_index_append(&b, "a", "e", 1, 1000, 1005, &v), -EINVAL,
		  "out of order refused");
	TAP_INTEQ(dir_index_append(&b, "b", "e", 1, 1000, 1004, &v), -EINVAL,
		  "unsettled entry refused");
	TAP_INTEQ(dir_index_append(&b, "b", "e", 1, 1000, 1005, &none), 0,
		  "entry without metadata");
	TAP_INTEQ(dir_index_append(&b, "z\xc3\xa9", "\"q\"", 0, 5, 10, &v), 0,
		  "UTF-8 name, quoted ETag");
	TAP_INTEQ(b.n, 3, "three entries");
	text = strndup(b.s, b.len);
	TAP_OK(text && !strncmp(text, "r2fs-dir-index 1\na%20b%09c%25%0A\t"
				      "etag1\t5\t1000\t1005\t3f\t120777\t42\t"
				      "4294967294\t1700000000.123456789\t",
				strlen("r2fs-dir-index 1\na%20b%09c%25%0A\t"
				       "etag1\t5\t1000\t1005\t3f\t120777\t42\t"
				       "4294967294\t1700000000.123456789\t")),
	       "header and first line as documented");
	TAP_INTEQ(text ? (long)strlen(text) : -1, (long)b.len,
		  "no NUL inside");

	/* reading back */
	TAP_INTEQ(dir_index_parse(b.s, b.len, &ix), 0, "parses");
	TAP_INTEQ(ix.n, 3, "three entries read");
	e = dir_index_find(&ix, "a b\tc%\n");
	TAP_OK(e && !strcmp(e->etag, "etag1") && e->size == 5 &&
		       e->lastmod == 1000 && e->checked == 1005,
	       "escaped name found, fields back");
	TAP_OK(e && e->v.has == META_HAS_ALL && e->v.mode == 0120777 &&
		       e->v.uid == 42 && e->v.gid == 4294967294u &&
		       e->v.mtime.tv_sec == 1700000000 &&
		       e->v.mtime.tv_nsec == 123456789 &&
		       e->v.atime.tv_sec == 1 && e->v.atime.tv_nsec == 0,
	       "metadata values back");
	e = dir_index_find(&ix, "b");
	TAP_OK(e && e->v.has == 0, "entry without metadata back");
	e = dir_index_find(&ix, "z\xc3\xa9");
	TAP_OK(e && !strcmp(e->etag, "\"q\""), "UTF-8 name and ETag back");
	TAP_OK(!dir_index_find(&ix, "c") && !dir_index_find(&ix, "") &&
		       !dir_index_find(&ix, "a"),
	       "absent names not found");
	e = dir_index_find(&ix, "b");
	TAP_OK(dir_index_trusted(e, "e", 1, 1000), "same version trusted");
	TAP_OK(!dir_index_trusted(e, "f", 1, 1000), "other ETag not trusted");
	TAP_OK(!dir_index_trusted(e, "e", 2, 1000), "other size not trusted");
	TAP_OK(!dir_index_trusted(e, "e", 1, 1004),
	       "other Last-Modified not trusted");
	TAP_OK(!dir_index_trusted(NULL, "e", 1, 1000), "no entry");
	dir_index_release(&ix);

	/* damaged or foreign objects are ignored whole */
	TAP_INTEQ(dir_index_parse(b.s, b.len - 1, &ix), -EINVAL,
		  "cut short (no final newline)");
	TAP_INTEQ(ix.n, 0, "nothing kept");
	TAP_INTEQ(parse_text("r2fs-dir-index 2\n", &ix), -EINVAL,
		  "another version");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\n", &ix), 0, "empty index");
	TAP_INTEQ(ix.n, 0, "no entries");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\nb\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\na\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "unsorted");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\na\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "duplicate");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1004\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "an unsettled entry (no writer of ours makes one)");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na/b\te\t1\t1000\t1005\t0\t0"
			     "\t0\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "a name with a slash");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na%00\te\t1\t1000\t1005\t0\t0"
			     "\t0\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "an escaped NUL");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na%4\te\t1\t1000\t1005\t0\t0"
			     "\t0\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "a cut escape");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na b\te\t1\t1000\t1005\t0\t0"
			     "\t0\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "an unescaped space");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1005\t40\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "unknown metadata flags");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1005\t1\t"
			     "1000000\t0\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "mode out of range");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t-1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\n", &ix),
		  -EINVAL, "negative size");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\n", &ix),
		  -EINVAL, "a field missing");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\t0.0\t0.0\t0.0\tx\n", &ix),
		  -EINVAL, "a field too many");
	TAP_INTEQ(parse_text("r2fs-dir-index 1\na\te\t1\t1000\t1005\t0\t0\t0"
			     "\t0\tx\t0.0\t0.0\n", &ix),
		  -EINVAL, "a time that is no time");
	TAP_INTEQ(parse_text("not an index at all", &ix), -EINVAL, "junk");

	free(text);
	dir_index_buf_release(&b);
	return tap_done();
}
