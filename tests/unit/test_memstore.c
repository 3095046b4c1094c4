/*
 * Unit tests of the test doubles: memstore (R2's rules in memory) and
 * faultstore (faults by rule and by seeded chance), and multipart.c's
 * upload driven against memstore.  Listings are compared with a naive
 * reference written from S3's definition, ETags with values computed by
 * Python's hashlib.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faultstore.h"
#include "memstore.h"
#include "multipart.h"
#include "tap.h"

#define T0 ((time_t)1700000000)
#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
#define MD5_AAAA "74b87337454200d4d33f80c4663dc5e5"
/* md5(md5("aaaa") md5("bbbb") md5("cc")) "-3", binary MD5s joined */
#define MD5_AABBC "11a7cd2ff48c01afcc65cca69ed0f886"
#define ETAG_AABBC "cf6c8a60b0e393d7e70f2e7564027788-3"

static int mem_fd(const void *data, size_t len)
{
	int fd = memfd_create("test-memstore", MFD_CLOEXEC);

	if (fd >= 0 && len && pwrite(fd, data, len, 0) != (ssize_t)len) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int put_str(struct store *s, const char *key, const char *body,
		   const struct store_put_opts *opts, char *etag)
{
	int fd = mem_fd(body, strlen(body)), rc;

	if (fd < 0)
		return -errno;
	rc = s->ops->put_fd(s, key, fd, strlen(body), opts, etag);
	close(fd);
	return rc;
}

/* Does key hold exactly body? */
static bool holds(struct memstore *ms, const char *key, const char *body)
{
	void *data;
	size_t len;
	bool same;

	if (memstore_get_bytes(ms, key, &data, &len, NULL))
		return false;
	same = len == strlen(body) && !memcmp(data, body, len);
	free(data);
	return same;
}

static void log_is(struct memstore *ms, const char *want, const char *name)
{
	char *got = memstore_log(ms);

	TAP_STREQ(got, want, name);
	free(got);
}

static void destroy(struct store *s)
{
	s->ops->destroy(s);
}

/* ------------------------------------------------------------------ */

static void test_put_head(void)
{
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_meta meta[2] = { { "Mode", "33188" }, { "mtime", "1.5" } };
	struct store_meta many[MEMSTORE_MAX_META + 1];
	struct store_put_opts opts = { .content_type = "text/plain",
				       .meta = meta, .nmeta = 2 };
	struct store_object obj;
	char etag[128], longkey[1026];
	size_t i;

	memstore_set_clock(ms, T0);
	TAP_INTEQ(put_str(s, "a/hello", "hello", &opts, etag), 0, "put");
	TAP_STREQ(etag, MD5_HELLO, "put: ETag is the hex MD5, unquoted");
	memstore_advance(ms, 5);
	TAP_INTEQ(s->ops->head(s, "a/hello", &obj), 0, "head");
	TAP_OK(obj.size == 5 && !strcmp(obj.etag, MD5_HELLO),
	       "head: size and ETag");
	TAP_STREQ(obj.content_type, "text/plain", "head: content type");
	TAP_STREQ(store_object_meta(&obj, "mode"), "33188",
		  "head: metadata names come back lower case");
	TAP_STREQ(store_object_meta(&obj, "mtime"), "1.5", "head: mtime");
	TAP_OK(obj.last_modified == T0 && obj.date == T0 + 5,
	       "head: Last-Modified at the put, date now (store clock)");
	store_object_release(&obj);

	TAP_INTEQ(put_str(s, "empty", "", NULL, etag), 0, "put empty");
	TAP_STREQ(etag, MD5_EMPTY, "empty: MD5 of nothing");
	s->ops->head(s, "empty", &obj);
	TAP_STREQ(obj.content_type, "application/octet-stream",
		  "no type given: application/octet-stream");
	store_object_release(&obj);
	TAP_INTEQ(s->ops->head(s, "nope", &obj), -ENOENT, "head missing");

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	TAP_INTEQ(put_str(s, longkey, "x", NULL, NULL), -ENAMETOOLONG,
		  "key of 1,025 bytes: -ENAMETOOLONG");
	for (i = 0; i < MEMSTORE_MAX_META + 1; i++)
		many[i] = meta[1];
	opts.meta = many;
	opts.nmeta = MEMSTORE_MAX_META + 1;
	memstore_log_reset(ms);
	TAP_INTEQ(put_str(s, "m", "x", &opts, NULL), -E2BIG,
		  "43 metadata pairs: -E2BIG, as s3.c");
	log_is(ms, "", "-E2BIG: nothing sent");
	destroy(s);
}

static void test_conditions(void)
{
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_put_opts none = { .if_none_match = true };
	struct store_put_opts match = { 0 };
	char one[128], two[128], etag[128];

	memstore_put_bytes(ms, "k", "one", 3, NULL);
	put_str(s, "probe", "one", NULL, one);
	TAP_INTEQ(put_str(s, "k", "two", &none, NULL), -ESTALE,
		  "If-None-Match on a present key: -ESTALE");
	TAP_OK(holds(ms, "k", "one"), "... and the object is unchanged");
	memstore_log_reset(ms);
	TAP_INTEQ(put_str(s, "k", "one", &none, etag), 0,
		  "If-None-Match, but the very bytes are there: done");
	TAP_STREQ(etag, one, "... with the object's ETag");
	log_is(ms, "PUT k PreconditionFailed\nHEAD k\n",
	       "... after a 412 and a HEAD, as s3.c does");

	match.if_match = one;
	TAP_INTEQ(put_str(s, "k", "two", &match, two), 0,
		  "If-Match with the current ETag: done");
	TAP_OK(holds(ms, "k", "two") && strcmp(one, two), "... new bytes");
	TAP_INTEQ(put_str(s, "k", "three", &match, NULL), -ESTALE,
		  "If-Match with a stale ETag: -ESTALE");
	TAP_OK(holds(ms, "k", "two"), "... and the object is unchanged");
	TAP_INTEQ(put_str(s, "gone", "x", &match, NULL), -ENOENT,
		  "If-Match where no object is: -ENOENT");
	TAP_OK(!memstore_exists(ms, "gone"), "... and none is made");
	TAP_INTEQ(put_str(s, "new", "x", &none, NULL), 0,
		  "If-None-Match where no object is: done");
	match.if_match = "";
	TAP_INTEQ(put_str(s, "k", "four", &match, NULL), 0,
		  "If-Match \"\": no condition");
	destroy(s);
}

static void test_get(void)
{
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	char buf[32], etag[128];
	uint64_t size = 0;
	struct stat sb;
	size_t got;
	int fd;

	put_str(s, "g", "0123456789", NULL, etag);
	memstore_log_reset(ms);
	TAP_INTEQ(s->ops->get_range(s, "g", 2, 3, NULL, buf, &got), 0,
		  "get_range in the middle");
	TAP_OK(got == 3 && !memcmp(buf, "234", 3), "... its bytes");
	s->ops->get_range(s, "g", 8, 5, etag, buf, &got);
	TAP_OK(got == 2 && !memcmp(buf, "89", 2), "short only at the end");
	TAP_INTEQ(s->ops->get_range(s, "g", 10, 4, NULL, buf, &got), 0,
		  "at the end: 0 (416)");
	TAP_INTEQ(got, 0, "... no bytes");
	TAP_OK(!s->ops->get_range(s, "g", 99, 4, NULL, buf, &got) && !got,
	       "past the end: 0, no bytes");
	TAP_INTEQ(s->ops->get_range(s, "g", 0, 4, MD5_HELLO, buf, &got),
		  -ESTALE, "If-Match mismatch: -ESTALE (412)");
	TAP_INTEQ(s->ops->get_range(s, "h", 0, 4, NULL, buf, &got), -ENOENT,
		  "missing key: -ENOENT");
	TAP_INTEQ(memstore_count(ms, MS_OP_GET), 6, "six GETs so far");
	s->ops->get_range(s, "h", 0, 0, NULL, buf, &got);
	TAP_INTEQ(memstore_count(ms, MS_OP_GET), 6, "len 0: nothing sent");

	fd = mem_fd("abcdefghijklmnopqrst", 20);
	TAP_INTEQ(s->ops->get_range_to_fd(s, "g", 3, 4, etag, fd), 0,
		  "get_range_to_fd");
	TAP_OK(pread(fd, buf, 20, 0) == 20 && !memcmp(buf, "abc3456hij", 10),
	       "... at the same offset in the file");
	TAP_INTEQ(s->ops->get_range_to_fd(s, "g", 8, 5, NULL, fd), -EIO,
		  "get_range_to_fd beyond the end: -EIO");
	TAP_INTEQ(s->ops->get_to_fd(s, "g", "bad", fd, &size), -ESTALE,
		  "get_to_fd If-Match mismatch: -ESTALE");
	TAP_INTEQ(s->ops->get_to_fd(s, "g", etag, fd, &size), 0, "get_to_fd");
	TAP_OK(size == 10 && !fstat(fd, &sb) && sb.st_size == 10 &&
		       pread(fd, buf, 10, 0) == 10 &&
		       !memcmp(buf, "0123456789", 10),
	       "... the whole object, file truncated to it");
	close(fd);
	destroy(s);
}

static void test_copy_remove(void)
{
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_meta m1 = { "mode", "1" }, m2 = { "mode", "2" };
	struct store_put_opts o1 = { .content_type = "text/plain",
				     .meta = &m1, .nmeta = 1 };
	struct store_put_opts o2 = { .content_type = "image/png",
				     .meta = &m2, .nmeta = 1 };
	struct store_object obj;
	void *data;
	size_t len;

	memstore_set_clock(ms, T0);
	memstore_put_bytes(ms, "src", "hello", 5, &o1);
	memstore_advance(ms, 10);
	TAP_INTEQ(s->ops->copy(s, "src", "dst", NULL), 0, "copy");
	memstore_get_bytes(ms, "dst", &data, &len, &obj);
	TAP_OK(len == 5 && !memcmp(data, "hello", 5), "copy: the bytes");
	TAP_OK(!strcmp(obj.content_type, "text/plain") &&
		       !strcmp(store_object_meta(&obj, "mode"), "1") &&
		       !strcmp(obj.etag, MD5_HELLO),
	       "copy: type, metadata and ETag kept");
	TAP_INTEQ(obj.last_modified, T0 + 10, "copy: Last-Modified now");
	free(data);
	store_object_release(&obj);

	TAP_INTEQ(s->ops->copy(s, "src", "dst2", &o2), 0, "copy, replace");
	memstore_get_bytes(ms, "dst2", &data, &len, &obj);
	TAP_OK(!strcmp(obj.content_type, "image/png") && obj.nmeta == 1 &&
		       !strcmp(store_object_meta(&obj, "mode"), "2"),
	       "copy with opts: type and metadata replaced");
	free(data);
	store_object_release(&obj);

	memstore_advance(ms, 10);
	TAP_INTEQ(s->ops->copy(s, "src", "src", &o2), 0,
		  "copy onto itself with new metadata");
	memstore_get_bytes(ms, "src", &data, &len, &obj);
	TAP_OK(len == 5 && !strcmp(store_object_meta(&obj, "mode"), "2") &&
		       obj.last_modified == T0 + 20,
	       "... metadata rewritten, Last-Modified bumped");
	free(data);
	store_object_release(&obj);
	TAP_INTEQ(s->ops->copy(s, "src", "src", NULL), -EINVAL,
		  "copy onto itself, nothing new: -EINVAL (InvalidRequest)");
	TAP_INTEQ(s->ops->copy(s, "nope", "x", NULL), -ENOENT,
		  "copy of a missing source: -ENOENT");
	TAP_OK(!memstore_exists(ms, "x"), "... nothing made");

	TAP_INTEQ(s->ops->remove(s, "dst"), 0, "remove");
	TAP_OK(!memstore_exists(ms, "dst"), "... gone");
	TAP_INTEQ(s->ops->remove(s, "dst"), 0, "remove a missing key: 0");
	destroy(s);
}

/* ------------------------------------------------------------------ */
/* Listing against a reference */

static const char *const list_keys[] = {
	"d/b",	 "d/a/1", "d/a/2",   "d/a0", "d/a-", "d/c/x/y", "d/",
	"d/\xc3\xa9", "d/z", "e/1",   "c",    "d/a/", "dd",      "d/a/3/4",
	"d/aa",	 "d/a",	  "d//x",
};
#define NKEYS (sizeof(list_keys) / sizeof(list_keys[0]))

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append to a growing buffer of cap bytes. */
static void add_line(char *out, size_t cap, const char *kind,
		     const char *s, size_t len)
{
	size_t used = strlen(out);

	snprintf(out + used, cap - used, "%s:%.*s\n", kind, (int)len, s);
}

/* S3's definition, naively: every key under prefix after `after`, rolled
 * up to its first delimiter past the prefix, duplicates dropped. */
static void reference(const char *prefix, const char *delim,
		      const char *after, char *out, size_t cap)
{
	const char *sorted[NKEYS], *last = "", *d;
	size_t i, plen = strlen(prefix), lastlen = 0, len;

	out[0] = '\0';
	memcpy(sorted, list_keys, sizeof(sorted));
	qsort(sorted, NKEYS, sizeof(sorted[0]), cmp_str);
	for (i = 0; i < NKEYS; i++) {
		const char *k = sorted[i];

		if (strncmp(k, prefix, plen) ||
		    (after && strcmp(k, after) <= 0))
			continue;
		d = delim ? strstr(k + plen, delim) : NULL;
		if (!d) {
			add_line(out, cap, "E", k, strlen(k));
			continue;
		}
		len = (size_t)(d - k) + strlen(delim);
		if (len == lastlen && !strncmp(k, last, len))
			continue;
		add_line(out, cap, "P", k, len);
		last = k;
		lastlen = len;
	}
}

/* A page's items in key order; false if the page breaks a rule. */
static bool render(const struct store_list *p, char *out, size_t cap)
{
	size_t a = 0, b = 0;
	bool e;

	while (a < p->nentries || b < p->nprefixes) {
		e = b == p->nprefixes ||
		    (a < p->nentries &&
		     strcmp(p->entries[a].key, p->prefixes[b]) < 0);
		if (e) {
			add_line(out, cap, "E", p->entries[a].key,
				 strlen(p->entries[a].key));
			a++;
		} else {
			add_line(out, cap, "P", p->prefixes[b],
				 strlen(p->prefixes[b]));
			b++;
		}
	}
	return !p->truncated || p->next_token;
}

/* Every page from list_after (after != NULL) or list, max items each. */
static bool list_all(struct store *s, const char *prefix, const char *delim,
		     const char *after, unsigned max, char *out, size_t cap)
{
	struct store_list p;
	char *token = NULL;
	bool ok = true;
	int rc, pages = 0;

	out[0] = '\0';
	do {
		rc = after && !pages
			     ? s->ops->list_after(s, prefix, delim, after, max,
						  &p)
			     : s->ops->list(s, prefix, delim, token, max, &p);
		if (rc)
			return false;
		ok = ok && render(&p, out, cap) &&
		     p.nentries + p.nprefixes <= max &&
		     (!p.truncated || p.nentries + p.nprefixes == max);
		free(token);
		token = p.truncated ? strdup(p.next_token) : NULL;
		store_list_release(&p);
	} while (token && ++pages < 1000);
	free(token);
	return ok;
}

static void test_list(void)
{
	static const struct {
		const char *prefix, *delim;
	} combos[] = { { "d/", "/" }, { "", "/" },    { "d/", NULL },
		       { "", NULL },  { "d/a", "/" }, { "d/", "a" } };
	static const char *const afters[] = { "d/a", "d/a/1", "d/b0", "d/",
					      "d/zz", "" };
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	char want[4096], got[4096], key[32], msg[160];
	bool pages_ok = true, after_ok = true;
	struct store_list p;
	size_t c, i, a;
	unsigned max;

	memstore_set_clock(ms, T0);
	for (i = 0; i < NKEYS; i++)
		memstore_put_bytes(ms, list_keys[i], list_keys[i],
				   strlen(list_keys[i]), NULL);
	for (c = 0; c < sizeof(combos) / sizeof(combos[0]); c++) {
		reference(combos[c].prefix, combos[c].delim, NULL, want,
			  sizeof(want));
		for (max = 1; max <= NKEYS + 1; max++) {
			if (!list_all(s, combos[c].prefix, combos[c].delim,
				      NULL, max, got, sizeof(got)) ||
			    strcmp(got, want)) {
				pages_ok = false;
				printf("# prefix '%s' delim '%s' max %u:\n"
				       "# got\n%s# want\n%s", combos[c].prefix,
				       combos[c].delim ? combos[c].delim : "",
				       max, got, want);
			}
		}
		for (a = 0; a < sizeof(afters) / sizeof(afters[0]); a++) {
			reference(combos[c].prefix, combos[c].delim, afters[a],
				  want, sizeof(want));
			for (max = 1; max <= 4; max++)
				if (!list_all(s, combos[c].prefix,
					      combos[c].delim, afters[a], max,
					      got, sizeof(got)) ||
				    strcmp(got, want))
					after_ok = false;
		}
	}
	TAP_OK(pages_ok, "list: pages of every size join up to the reference");
	TAP_OK(after_ok, "list_after: start_after, then tokens, as reference");

	reference("d/", "/", NULL, want, sizeof(want));
	TAP_STREQ(want,
		  "E:d/\nP:d//\nE:d/a\nE:d/a-\nP:d/a/\nE:d/a0\nE:d/aa\n"
		  "E:d/b\nP:d/c/\nE:d/z\nE:d/\xc3\xa9\n",
		  "the reference itself: byte order, markers, prefixes");
	s->ops->list(s, "d/", "/", NULL, 0, &p);
	TAP_OK(p.nentries == 8 && p.nprefixes == 3 && !p.truncated &&
		       !strcmp(p.entries[1].key, "d/a") &&
		       p.entries[1].size == 3 && p.entries[1].mtime == T0 &&
		       strlen(p.entries[1].etag) == 32,
	       "list: entries with size, mtime and ETag");
	store_list_release(&p);
	TAP_INTEQ(s->ops->list(s, "", NULL, "bogus", 10, &p), -EINVAL,
		  "a token the store did not give: -EINVAL");

	for (i = 0; i < 1005; i++) {
		snprintf(key, sizeof(key), "many/%04zu", i);
		memstore_put_bytes(ms, key, "", 0, NULL);
	}
	s->ops->list(s, "many/", NULL, NULL, 0, &p);
	snprintf(msg, sizeof(msg), "max_keys 0: 1,000 a page (got %zu)",
		 p.nentries);
	TAP_OK(p.nentries == 1000 && p.truncated, msg);
	store_list_release(&p);
	s->ops->list(s, "many/", NULL, NULL, 5000, &p);
	TAP_OK(p.nentries == 1000 && p.truncated, "max_keys 5000: 1,000");
	store_list_release(&p);
	destroy(s);
}

/* ------------------------------------------------------------------ */
/* Multipart */

static int part(struct store *s, const char *id, unsigned n, int fd,
		uint64_t off, uint64_t len, struct store_part *out)
{
	out->number = n;
	return s->ops->mp_upload_part(s, "m", id, n, fd, off, len, out->etag);
}

/* An upload of "m" with parts (offset, length) of "aaaabbbbcc"; its
 * completion's result. */
static int upload(struct memstore *ms, const unsigned *spans, size_t n,
		  char **id_out)
{
	struct store *s = memstore_store(ms);
	struct store_part parts[8];
	char *id = NULL;
	size_t i;
	int fd = mem_fd("aaaabbbbcc", 10), rc;

	rc = s->ops->mp_create(s, "m", NULL, &id);
	for (i = 0; !rc && i < n; i++)
		rc = part(s, id, (unsigned)i + 1, fd, spans[2 * i],
			  spans[2 * i + 1], &parts[i]);
	if (!rc)
		rc = s->ops->mp_complete(s, "m", id, parts, n, NULL);
	close(fd);
	*id_out = id;
	return rc;
}

/*
 * UploadPartCopy: the range of the source's version named by its ETag
 * (412 for another, 404 for none, 416 past its end), with R2's equal-part
 * rule at Complete as for parts sent; nothing counted as bytes up.
 */
static void test_multipart_copy(void)
{
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_part parts[3];
	struct store_object obj;
	struct store_stats n0, n1;
	char *id = NULL, *log;
	int fd = mem_fd("XXXX", 4);

	memstore_set_min_part(ms, 4);
	memstore_put_bytes(ms, "src", "aaaabbbbcc", 10, NULL);
	s->ops->head(s, "src", &obj);
	s->ops->mp_create(s, "m", NULL, &id);
	s->ops->stats(s, &n0);
	parts[0].number = 1;
	TAP_INTEQ(s->ops->mp_copy_part(s, "m", id, 1, "src", obj.etag, 0, 4,
				       parts[0].etag),
		  0, "part copy of the source's version");
	TAP_STREQ(parts[0].etag, MD5_AAAA, "... its ETag: the MD5 of the "
		  "range");
	TAP_INTEQ(s->ops->mp_copy_part(s, "m", id, 2, "src", "0123", 4, 4,
				       parts[1].etag),
		  -ESTALE, "another version asked for: -ESTALE (412)");
	TAP_INTEQ(s->ops->mp_copy_part(s, "m", id, 2, "nosuch", obj.etag, 4,
				       4, parts[1].etag),
		  -ENOENT, "no source: -ENOENT");
	TAP_INTEQ(s->ops->mp_copy_part(s, "m", id, 2, "src", obj.etag, 8, 4,
				       parts[1].etag),
		  -EIO, "a range past the source's end: refused (416)");
	TAP_INTEQ(s->ops->mp_copy_part(s, "m", "bogus", 2, "src", obj.etag, 4,
				       4, parts[1].etag),
		  -ENOENT, "an unknown upload: -ENOENT");
	log = memstore_log(ms);
	TAP_OK(log && strstr(log, "PARTCOPY src>m\n") &&
		       strstr(log, "PARTCOPY src>m PreconditionFailed\n") &&
		       strstr(log, "PARTCOPY nosuch>m NoSuchKey\n"),
	       "... logged as PARTCOPY SRC>DST [CODE]");
	free(log);
	parts[1].number = 2;
	s->ops->mp_upload_part(s, "m", id, 2, fd, 0, 4, parts[1].etag);
	parts[2].number = 3;
	s->ops->mp_copy_part(s, "m", id, 3, "src", obj.etag, 8, 2,
			     parts[2].etag);
	s->ops->stats(s, &n1);
	TAP_INTEQ(n1.bytes_up - n0.bytes_up, 4, "only the sent part's bytes "
		  "went up");
	TAP_INTEQ(memstore_count(ms, MS_OP_MP_COPY), 6, "copies counted");
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, parts, 3, NULL), 0,
		  "complete: copied and sent parts");
	TAP_OK(holds(ms, "m", "aaaaXXXXcc"), "... joined in order");
	free(id);

	/* R2's rule holds for copied parts too: 4, 3, 3 is refused */
	s->ops->mp_create(s, "m", NULL, &id);
	s->ops->mp_copy_part(s, "m", id, 1, "src", obj.etag, 0, 4,
			     parts[0].etag);
	s->ops->mp_copy_part(s, "m", id, 2, "src", obj.etag, 4, 3,
			     parts[1].etag);
	s->ops->mp_copy_part(s, "m", id, 3, "src", obj.etag, 7, 3,
			     parts[2].etag);
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, parts, 3, NULL), -EIO,
		  "copied parts of unequal sizes: refused (InvalidPart)");
	s->ops->mp_abort(s, "m", id);
	free(id);
	store_object_release(&obj);
	close(fd);
	destroy(s);
}

static void refused(struct memstore *ms, const unsigned *spans, size_t n,
		    const char *code, const char *name)
{
	struct store *s = memstore_store(ms);
	char *id = NULL, *log, msg[160];

	memstore_log_reset(ms);
	TAP_INTEQ(upload(ms, spans, n, &id), -EIO, name);
	log = memstore_log(ms);
	snprintf(msg, sizeof(msg), "... Complete answered %s, upload open",
		 code);
	TAP_OK(log && strstr(log, code) && memstore_uploads(ms) == 1, msg);
	free(log);
	TAP_INTEQ(s->ops->mp_abort(s, "m", id), 0, "... aborted");
	free(id);
}

static void test_multipart_rules(void)
{
	static const unsigned good[] = { 0, 4, 4, 4, 8, 2 };
	static const unsigned uneven[] = { 0, 4, 4, 3, 7, 3 };
	static const unsigned big_last[] = { 0, 3, 3, 3, 6, 4 };
	static const unsigned one_small[] = { 0, 2 };
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_meta meta = { "mode", "33188" };
	struct store_put_opts opts = { .content_type = "video/mp4",
				       .meta = &meta, .nmeta = 1 };
	struct store_part parts[3];
	struct store_object obj;
	char *id = NULL, etag[128];
	int fd = mem_fd("aaaabbbbcc", 10);

	memstore_set_min_part(ms, 4);
	TAP_INTEQ(s->ops->mp_create(s, "m", &opts, &id), 0, "mp_create");
	TAP_INTEQ(part(s, id, 1, fd, 0, 4, &parts[0]), 0, "part 1");
	TAP_STREQ(parts[0].etag, MD5_AAAA, "part ETag: its MD5");
	part(s, id, 2, fd, 4, 4, &parts[1]);
	part(s, id, 3, fd, 0, 4, &parts[2]);
	TAP_INTEQ(part(s, id, 3, fd, 8, 2, &parts[2]), 0, "part 3 sent again");
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, parts, 3, etag), 0,
		  "complete: equal parts, last smaller");
	TAP_STREQ(etag, ETAG_AABBC, "multipart ETag: MD5 of MD5s, -N");
	TAP_OK(holds(ms, "m", "aaaabbbbcc"), "... the parts joined (the "
	       "last one as sent last)");
	s->ops->head(s, "m", &obj);
	TAP_OK(!strcmp(obj.content_type, "video/mp4") &&
		       store_object_meta(&obj, "mode"),
	       "... with mp_create's type and metadata");
	store_object_release(&obj);
	TAP_INTEQ(memstore_uploads(ms), 0, "... upload gone");
	s->ops->copy(s, "m", "m2", NULL);
	s->ops->head(s, "m2", &obj);
	TAP_STREQ(obj.etag, MD5_AABBC, "its copy: the MD5 of the bytes, as S3");
	store_object_release(&obj);
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, parts, 3, etag), -ENOENT,
		  "completing it again: -ENOENT (NoSuchUpload)");
	TAP_INTEQ(part(s, id, 1, fd, 0, 4, &parts[0]), -ENOENT,
		  "part of an unknown upload: -ENOENT");
	TAP_INTEQ(s->ops->mp_abort(s, "m", id), -ENOENT,
		  "abort of an unknown upload: -ENOENT");
	TAP_INTEQ(part(s, id, 0, fd, 0, 4, &parts[0]), -EINVAL,
		  "part number 0: -EINVAL");
	TAP_INTEQ(part(s, id, 10001, fd, 0, 4, &parts[0]), -EINVAL,
		  "part number 10001: -EINVAL");
	free(id);
	close(fd);

	memstore_set_min_part(ms, 1);
	refused(ms, uneven, 3, "InvalidPart",
		"parts 4, 3, 3: unequal parts refused, -EIO");
	refused(ms, big_last, 3, "InvalidPart",
		"parts 3, 3, 4: a larger last part refused, -EIO");
	memstore_set_min_part(ms, 5);
	refused(ms, good, 3, "EntityTooSmall",
		"parts of 4 with a 5-byte minimum: -EIO");
	TAP_INTEQ(upload(ms, one_small, 1, &id), 0,
		  "one part below the minimum (it is the last): done");
	free(id);

	memstore_set_min_part(ms, 4);
	fd = mem_fd("aaaabbbbcc", 10);
	s->ops->mp_create(s, "m", NULL, &id);
	part(s, id, 1, fd, 0, 4, &parts[0]);
	part(s, id, 2, fd, 4, 4, &parts[1]);
	parts[2] = parts[0];
	memstore_log_reset(ms);
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, &parts[1], 2, NULL), -EIO,
		  "parts 2, 1: -EIO");
	log_is(ms, "COMPLETE m InvalidPartOrder\n", "... InvalidPartOrder");
	snprintf(parts[1].etag, sizeof(parts[1].etag), "%s", MD5_HELLO);
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, parts, 2, NULL), -EIO,
		  "a part with a wrong ETag: -EIO");
	parts[1].number = 7;
	TAP_INTEQ(s->ops->mp_complete(s, "m", id, parts, 2, NULL), -EIO,
		  "a part never sent: -EIO");
	TAP_INTEQ(s->ops->mp_abort(s, "m", id), 0, "abort");
	TAP_INTEQ(memstore_uploads(ms), 0, "... no upload left");
	TAP_INTEQ(s->ops->mp_abort(s, "m", id), -ENOENT,
		  "abort again: -ENOENT");
	free(id);
	close(fd);
	destroy(s);
}

/* multipart.c's real upload, and its refusal by R2's rule. */
static void test_multipart_put(void)
{
	const uint64_t size = 2 * MULTIPART_PART_FLOOR + 123;
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	unsigned char *buf = malloc(size);
	char etag[128];
	uint64_t i;
	void *data = NULL;
	size_t len;
	int fd, rc;

	for (i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	fd = mem_fd(buf, size);
	rc = multipart_put_fd(s, "big", fd, size, NULL, 3, etag);
	TAP_INTEQ(rc, 0, "multipart_put_fd: 8 MiB, 8 MiB, 123 bytes");
	memstore_get_bytes(ms, "big", &data, &len, NULL);
	TAP_OK(len == size && !memcmp(data, buf, size), "... the bytes");
	TAP_OK(strlen(etag) == 34 && !strcmp(etag + 32, "-3"),
	       "... a multipart ETag of 3 parts");
	TAP_OK(memstore_count(ms, MS_OP_MP_CREATE) == 1 &&
		       memstore_count(ms, MS_OP_MP_PART) == 3 &&
		       memstore_count(ms, MS_OP_MP_COMPLETE) == 1 &&
		       memstore_uploads(ms) == 0,
	       "... one create, three parts, one complete");
	free(data);

	memstore_set_min_part(ms, 16 * MULTIPART_MIB);
	rc = multipart_put_fd(s, "big2", fd, size, NULL, 3, NULL);
	TAP_INTEQ(rc, -EIO, "8 MiB parts with a 16 MiB minimum: -EIO");
	TAP_OK(!memstore_exists(ms, "big2") && memstore_uploads(ms) == 0 &&
		       memstore_count(ms, MS_OP_MP_ABORT) == 1,
	       "... no object, the upload aborted");
	close(fd);
	free(buf);
	destroy(s);
}

/* ------------------------------------------------------------------ */

static void test_write_limit(void)
{
	static const unsigned one[] = { 0, 4 };
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_stats st;
	char *id = NULL;

	memstore_set_clock(ms, T0);
	TAP_OK(!put_str(s, "w", "1", NULL, NULL) &&
		       !put_str(s, "w", "2", NULL, NULL),
	       "rule off (default): two PUTs in a second");
	memstore_set_write_limit(ms, true);
	memstore_advance(ms, 1);
	TAP_INTEQ(put_str(s, "w", "3", NULL, NULL), 0, "rule on: PUT");
	memstore_log_reset(ms);
	TAP_INTEQ(put_str(s, "w", "4", NULL, NULL), -EIO,
		  "a second PUT within the second: -EIO (429)");
	log_is(ms, "PUT w TooManyRequests\n", "... logged");
	TAP_OK(holds(ms, "w", "3"), "... not written");
	TAP_INTEQ(put_str(s, "v", "1", NULL, NULL), 0, "another key: fine");
	TAP_INTEQ(s->ops->copy(s, "v", "w", NULL), -EIO, "COPY to it: -EIO");
	TAP_INTEQ(s->ops->remove(s, "w"), -EIO, "DELETE of it: -EIO");
	memstore_set_min_part(ms, 1);
	TAP_INTEQ(upload(ms, one, 1, &id), 0, "complete of another key");
	free(id);
	TAP_INTEQ(upload(ms, one, 1, &id), -EIO, "... again within 1 s: -EIO");
	s->ops->stats(s, &st);
	TAP_INTEQ(st.throttled, 4, "four 429s counted");
	memstore_advance(ms, 1);
	TAP_INTEQ(put_str(s, "w", "5", NULL, NULL), 0, "a second later: PUT");
	TAP_INTEQ(s->ops->remove(s, "w"), -EIO, "... then DELETE: -EIO");
	memstore_advance(ms, 1);
	TAP_INTEQ(s->ops->remove(s, "w"), 0, "a second later: DELETE");
	TAP_INTEQ(s->ops->remove(s, "w"), -EIO, "DELETE again at once: -EIO");
	TAP_INTEQ(s->ops->mp_abort(s, "m", id), 0, "abort: not a write");
	free(id);
	destroy(s);
}

static void test_stats_log(void)
{
	struct memstore *ms = memstore_new();
	struct store *s = memstore_store(ms);
	struct store_object obj;
	struct store_stats st;
	struct store_list l;
	char buf[8], *id = NULL;
	size_t got;

	put_str(s, "a", "hello", NULL, NULL);
	s->ops->get_range(s, "a", 1, 8, NULL, buf, &got);
	s->ops->head(s, "a", &obj);
	store_object_release(&obj);
	s->ops->list(s, "", "/", NULL, 0, &l);
	store_list_release(&l);
	s->ops->remove(s, "a");
	s->ops->remove(s, "a");
	s->ops->mp_create(s, "b", NULL, &id);
	s->ops->mp_abort(s, "b", id);
	s->ops->copy(s, "a", "c", NULL);
	free(id);
	s->ops->stats(s, &st);
	TAP_OK(st.class_a == 4 && st.class_b == 2,
	       "class A: PUT LIST CREATE COPY; B: GET HEAD; free: DELETE");
	TAP_OK(st.bytes_up == 5 && st.bytes_down == 4, "bytes up and down");
	TAP_OK(memstore_count(ms, MS_OP_DELETE) == 2 &&
		       memstore_count(ms, MS_OP_PUT) == 1,
	       "per-op counts");
	log_is(ms,
	       "PUT a\nGET a\nHEAD a\nLIST \nDELETE a\nDELETE a\nCREATE b\n"
	       "ABORT b\nCOPY a>c NoSuchKey\n",
	       "request log");
	memstore_log_reset(ms);
	log_is(ms, "", "log reset");
	TAP_INTEQ(memstore_count(ms, MS_OP_DELETE), 0, "counts reset");
	s->ops->stats(s, &st);
	TAP_INTEQ(st.class_a, 4, "stats keep counting");
	destroy(s);
}

/* ------------------------------------------------------------------ */
/* faultstore */

static void test_fault_rules(void)
{
	static const struct store_ops none_ops = { 0 };
	struct store bare = { &none_ops };
	struct memstore *ms = memstore_new();
	struct faultstore *f = faultstore_new(memstore_store(ms), 42);
	struct store *s = faultstore_store(f), *b;
	struct store_object obj;
	struct store_stats st;
	struct timespec t1, t2;
	int r, rc[5], i;
	double ms_taken;

	r = faultstore_add(f, &(struct fault_rule){
				      .ops = FAULT_OP(FAULT_PUT),
				      .when = FAULT_NTH, .n = 3,
				      .kind = FAULT_ERRNO, .err = -EACCES });
	for (i = 0; i < 5; i++)
		rc[i] = put_str(s, "p", "x", NULL, NULL);
	TAP_OK(!rc[0] && !rc[1] && rc[2] == -EACCES && !rc[3] && !rc[4],
	       "nth: the third PUT fails with the rule's errno");
	TAP_OK(faultstore_injected(f, r) == 1 &&
		       memstore_count(ms, MS_OP_PUT) == 4,
	       "... counted once, and never reached the store");

	faultstore_clear(f);
	faultstore_add(f, &(struct fault_rule){ .ops = FAULT_OP(FAULT_HEAD),
						.when = FAULT_AFTER, .n = 2,
						.kind = FAULT_ERRNO,
						.err = -EIO });
	for (i = 0; i < 4; i++) {
		rc[i] = s->ops->head(s, "p", &obj);
		store_object_release(&obj);
	}
	TAP_OK(!rc[0] && !rc[1] && rc[2] == -EIO && rc[3] == -EIO,
	       "after: every HEAD after the second fails");
	TAP_INTEQ(put_str(s, "p", "y", NULL, NULL), 0, "... PUTs do not");

	faultstore_clear(f);
	faultstore_add(f, &(struct fault_rule){ .key_contains = "secret",
						.when = FAULT_AFTER,
						.kind = FAULT_ERRNO,
						.err = -EACCES });
	TAP_OK(put_str(s, "x/secret/y", "1", NULL, NULL) == -EACCES &&
		       s->ops->head(s, "p", &obj) == 0,
	       "key substring: only matching keys fail");
	store_object_release(&obj);
	TAP_INTEQ(s->ops->copy(s, "p", "x/secret", NULL), -EACCES,
		  "... COPY matches on its destination too");

	faultstore_clear(f);
	faultstore_add(f, &(struct fault_rule){ .ops = FAULT_OP(FAULT_PUT),
						.when = FAULT_NTH, .n = 1,
						.kind = FAULT_THROTTLE });
	TAP_INTEQ(put_str(s, "p", "z", NULL, NULL), -EIO, "429: -EIO");
	s->ops->stats(s, &st);
	TAP_INTEQ(st.throttled, 1, "... counted as throttled");

	faultstore_clear(f);
	r = faultstore_add(f, &(struct fault_rule){
				      .ops = FAULT_OP(FAULT_HEAD),
				      .when = FAULT_AFTER, .kind = FAULT_DELAY,
				      .delay_us = 50000 });
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rc[0] = s->ops->head(s, "p", &obj);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	store_object_release(&obj);
	ms_taken = (double)(t2.tv_sec - t1.tv_sec) * 1e3 +
		   (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
	TAP_OK(rc[0] == 0 && ms_taken >= 50 && faultstore_injected(f, r) == 1,
	       "delay: 50 ms, then the call succeeds");

	faultstore_clear(f);
	rc[0] = faultstore_add(f, &(struct fault_rule){ .kind = FAULT_ERRNO });
	rc[1] = faultstore_add(f, &(struct fault_rule){ .when = FAULT_NTH,
							.kind = FAULT_LOST });
	rc[2] = faultstore_add(f, &(struct fault_rule){ .when = FAULT_PROB,
							.p = 1.5,
							.kind = FAULT_LOST });
	TAP_OK(rc[0] == -EINVAL && rc[1] == -EINVAL && rc[2] == -EINVAL,
	       "rules without an errno, n or a probability: -EINVAL");
	TAP_INTEQ(faultstore_injected(f, -1), 7, "seven faults in all");
	destroy(s);

	f = faultstore_new(&bare, 1);
	b = faultstore_store(f);
	TAP_OK(!b->ops->list_after && !b->ops->stats && b->ops->head,
	       "optional ops the inner store lacks are not offered");
	destroy(b);
	destroy(memstore_store(ms));
}

/* HEADs through a seeded p = 0.25 rule: which ones failed. */
static unsigned prob_run(uint64_t seed, double p, unsigned char *failed)
{
	struct memstore *ms = memstore_new();
	struct faultstore *f = faultstore_new(memstore_store(ms), seed);
	struct store *s = faultstore_store(f);
	struct store_object obj;
	unsigned i, n = 0;

	memstore_put_bytes(ms, "k", "", 0, NULL);
	faultstore_add(f, &(struct fault_rule){ .ops = FAULT_OP(FAULT_HEAD),
						.when = FAULT_PROB, .p = p,
						.kind = FAULT_ERRNO,
						.err = -EIO });
	for (i = 0; i < 2000; i++) {
		failed[i] = s->ops->head(s, "k", &obj) != 0;
		store_object_release(&obj);
		n += failed[i];
	}
	destroy(s);
	destroy(memstore_store(ms));
	return n;
}

static void test_fault_probability(void)
{
	static unsigned char a[2000], b[2000], c[2000];
	unsigned na = prob_run(7, 0.25, a), nb = prob_run(7, 0.25, b);
	char msg[96];

	snprintf(msg, sizeof(msg), "p = 0.25: %u of 2000 fail", na);
	TAP_OK(na > 400 && na < 600, msg);
	TAP_OK(na == nb && !memcmp(a, b, sizeof(a)),
	       "the same seed: the very same calls fail");
	prob_run(8, 0.25, c);
	TAP_OK(memcmp(a, c, sizeof(a)), "another seed: other calls");
	TAP_INTEQ(prob_run(7, 0, c), 0, "p = 0: none");
	TAP_INTEQ(prob_run(7, 1, c), 2000, "p = 1: all");
}

/* The answer to a PUT is lost: the PUT is done, the client sees -EIO and
 * sends it again with the same condition. */
static void test_lost_answer(void)
{
	struct memstore *ms = memstore_new();
	struct faultstore *f = faultstore_new(memstore_store(ms), 1);
	struct store *s = faultstore_store(f);
	struct store_put_opts cond = { 0 };
	struct store_list l;
	char old[128], etag[128], *id = (char *)"x";
	const struct fault_rule lost_put = { .ops = FAULT_OP(FAULT_PUT),
					     .when = FAULT_NTH, .n = 1,
					     .kind = FAULT_LOST };

	put_str(s, "j", "old", NULL, old);
	cond.if_match = old;
	faultstore_add(f, &lost_put);
	memstore_log_reset(ms);
	TAP_INTEQ(put_str(s, "j", "new", &cond, etag), -EIO,
		  "lost answer: -EIO");
	TAP_OK(holds(ms, "j", "new") && etag[0] == '\0',
	       "... though the PUT was done on the server");
	TAP_INTEQ(put_str(s, "j", "new", &cond, etag), 0,
		  "the retry with the same If-Match succeeds");
	TAP_OK(etag[0] && holds(ms, "j", "new"), "... with the ETag");
	log_is(ms, "PUT j\nPUT j PreconditionFailed\nHEAD j\n",
	       "... the way s3.c finds it: 412, then HEAD");

	faultstore_clear(f);
	faultstore_add(f, &lost_put);
	cond.if_match = etag;
	put_str(s, "j", "newer", &cond, NULL);
	memstore_put_bytes(ms, "j", "theirs", 6, NULL);
	TAP_INTEQ(put_str(s, "j", "newer", &cond, NULL), -ESTALE,
		  "another writer in between: the retry gets -ESTALE");

	faultstore_clear(f);
	faultstore_add(f, &lost_put);
	memstore_set_clock(ms, T0);
	memstore_set_write_limit(ms, true);
	put_str(s, "k", "1", NULL, NULL);
	TAP_INTEQ(put_str(s, "k", "1", NULL, NULL), -EIO,
		  "with R2's write rate: an immediate retry gets 429");
	memstore_advance(ms, 1);
	TAP_INTEQ(put_str(s, "k", "1", NULL, NULL), 0, "... a second later: 0");

	faultstore_add(f, &(struct fault_rule){ .when = FAULT_AFTER,
						.kind = FAULT_LOST });
	TAP_INTEQ(s->ops->mp_create(s, "u", NULL, &id), -EIO,
		  "mp_create lost: -EIO");
	TAP_OK(id == NULL && memstore_uploads(ms) == 1,
	       "... no id for the caller, an orphan upload on the server");
	TAP_INTEQ(s->ops->list(s, "", NULL, NULL, 0, &l), -EIO,
		  "list lost: -EIO");
	TAP_OK(l.nentries == 0 && !l.entries, "... nothing handed out");
	destroy(s);
	destroy(memstore_store(ms));
}

/* Threads through a faultstore over a memstore: counts add up. */
struct worker {
	struct store *s;
	unsigned id;
	unsigned errors;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char key[32], buf[8];
	struct store_list l;
	size_t got;
	unsigned i;

	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "t/%u/%u", w->id, i % 10);
		if (put_str(w->s, key, "data", NULL, NULL))
			w->errors++;
		if (w->s->ops->get_range(w->s, key, 0, 4, NULL, buf, &got))
			w->errors++;
		if (i % 20 == 0 && !w->s->ops->list(w->s, "t/", "/", NULL, 0,
						     &l))
			store_list_release(&l);
	}
	return NULL;
}

static void test_threads(void)
{
	struct memstore *ms = memstore_new();
	struct faultstore *f = faultstore_new(memstore_store(ms), 3);
	struct worker w[4];
	pthread_t t[4];
	unsigned i, errors = 0;

	faultstore_add(f, &(struct fault_rule){ .ops = FAULT_OP(FAULT_GET),
						.when = FAULT_PROB, .p = 0.1,
						.kind = FAULT_ERRNO,
						.err = -EIO });
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ faultstore_store(f), i, 0 };
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		errors += w[i].errors;
	}
	TAP_OK(memstore_count(ms, MS_OP_PUT) == 800 &&
		       memstore_count(ms, MS_OP_GET) == 800 - errors &&
		       faultstore_injected(f, 0) == errors && errors > 0,
	       "4 threads: every PUT stored, every failed GET injected");
	destroy(faultstore_store(f));
	destroy(memstore_store(ms));
}

int main(void)
{
	test_put_head();
	test_conditions();
	test_get();
	test_copy_remove();
	test_list();
	test_multipart_rules();
	test_multipart_put();
	test_multipart_copy();
	test_write_limit();
	test_stats_log();
	test_fault_rules();
	test_fault_probability();
	test_lost_answer();
	test_threads();
	return tap_done();
}
