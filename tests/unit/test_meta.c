/* Unit tests for meta.c: metadata <-> attributes, listings, dir cache. */
#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "tap.h"
#include "util.h"

int main(void)
{
	struct meta_defaults d = { 1000, 1000, 022 };
	struct store_meta kv[4] = {
		{ "mode", "33261" }, /* 0100755 */
		{ "uid", "42" },
		{ "gid", "43" },
		{ "mtime", "1700000000.5" },
	};
	struct store_object obj = { .size = 10, .last_modified = 1600000000,
				    .meta = kv, .nmeta = 4 };
	struct store_object bare = { .size = 7, .last_modified = 1600000000 };
	struct meta_headers h;
	struct timespec ts;
	struct stat st;
	struct dir_listing *l;
	struct dir_cache *dc;
	const struct dir_listing *got;

	TAP_OK(meta_attr_from_object(&d, &obj, S_IFREG, &st), "has metadata");
	TAP_INTEQ(st.st_mode, 0100755, "mode from metadata");
	TAP_INTEQ(st.st_uid, 42, "uid from metadata");
	TAP_INTEQ(st.st_mtim.tv_sec, 1700000000, "mtime seconds");
	TAP_INTEQ(st.st_mtim.tv_nsec, 500000000, "mtime fraction");
	TAP_INTEQ(st.st_size, 10, "size");
	TAP_OK(!meta_attr_from_object(&d, &bare, S_IFREG, &st),
	       "no metadata");
	TAP_INTEQ(st.st_mode, 0100644, "default file mode 0644");
	TAP_INTEQ(st.st_mtim.tv_sec, 1600000000, "Last-Modified as mtime");
	TAP_INTEQ(st.st_uid, 1000, "default uid");
	meta_attr_default(&d, S_IFDIR, 0, 5, &st);
	TAP_INTEQ(st.st_mode, 040755, "default dir mode 0755");

	st.st_mode = 0100600;
	st.st_uid = 7;
	st.st_gid = 8;
	st.st_mtim.tv_sec = 1700000001;
	st.st_mtim.tv_nsec = 123456789;
	meta_to_headers(&st, &h);
	TAP_STREQ(h.kv[0].value, "33152", "mode header is decimal");
	TAP_STREQ(h.kv[3].value, "1700000001.123456789", "mtime with ns");
	TAP_OK(util_parse_time("1700000001.123456789", &ts) &&
		       ts.tv_nsec == 123456789,
	       "mtime round trip");
	TAP_OK(util_parse_time("12", &ts) && ts.tv_sec == 12 && !ts.tv_nsec,
	       "integer mtime");
	TAP_OK(!util_parse_time("12x", &ts), "junk mtime refused");
	{
		unsigned long m = 0;

		TAP_OK(meta_parse_mode("33188", &m) && m == 0100644,
		       "s3fs decimal mode");
		TAP_OK(meta_parse_mode("33261", &m) && m == 0100755,
		       "s3fs decimal mode made of octal digits");
		TAP_OK(meta_parse_mode("100644", &m) && m == 0100644,
		       "rclone octal mode");
		TAP_OK(meta_parse_mode("755", &m) && m == 0100755,
		       "bare octal permissions");
		TAP_OK(!meta_parse_mode("rwx", &m), "junk mode refused");
	}

	l = dir_listing_new("d");
	dir_listing_add(l, "b", S_IFREG, 1, 0, "e1");
	dir_listing_add(l, "a", S_IFDIR, 0, 0, NULL);
	dir_listing_add(l, "a", S_IFREG, 3, 0, "e2");
	dir_listing_add(l, "c", S_IFDIR, 0, 0, NULL);
	dir_listing_finish(l);
	TAP_INTEQ(l->n, 3, "duplicate name listed once");
	TAP_OK(dir_listing_find(l, "a")->type == S_IFREG,
	       "file wins over same-named prefix");
	TAP_OK(dir_listing_find(l, "zz") == NULL, "missing name");
	dc = dir_cache_new(2);
	l->fetched = 100;
	dir_cache_put(dc, l);
	TAP_OK(dir_cache_find(dc, "d", 101, 3) != NULL, "fresh listing");
	dir_cache_upsert(dc, "d", "bb", S_IFREG, 9, 0, "e3");
	got = dir_cache_find(dc, "d", 101, 3);
	TAP_OK(got && got->n == 4 && !strcmp(got->e[2].name, "bb"),
	       "upsert keeps order");
	dir_cache_remove(dc, "d", "a");
	got = dir_cache_find(dc, "d", 101, 3);
	TAP_OK(got && got->n == 3 && dir_listing_find(got, "a") == NULL,
	       "remove");
	TAP_OK(dir_cache_find(dc, "d", 110, 3) == NULL, "expired listing");
	dir_cache_free(dc);
	return tap_done();
}
