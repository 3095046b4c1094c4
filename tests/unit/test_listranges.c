/* Unit tests for listranges.c: a listing cut into ranges and listed in
 * parallel gives exactly what the paginated listing gives. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listranges.h"
#include "tap.h"

/* An in-memory bucket: sorted keys, ListObjectsV2 paging and delimiter
 * semantics (a common prefix counts as one item; a token stands after
 * the last key it covered). */
struct fake {
	struct store base;
	char **keys;
	size_t n;
	const char *fail_after; /* list_after from this cut fails */
	unsigned requests;
};

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fake_page(struct fake *f, const char *prefix, const char *delim,
		     const char *after, unsigned max_keys,
		     struct store_list *out)
{
	size_t i = 0, plen = strlen(prefix), items = 0;

	__atomic_add_fetch(&f->requests, 1, __ATOMIC_RELAXED);
	memset(out, 0, sizeof(*out));
	out->entries = calloc(f->n + 1, sizeof(*out->entries));
	out->prefixes = calloc(f->n + 1, sizeof(*out->prefixes));
	while (i < f->n && after && strcmp(f->keys[i], after) <= 0)
		i++;
	while (i < f->n) {
		const char *k = f->keys[i], *d;

		if (strncmp(k, prefix, plen)) {
			i++;
			continue;
		}
		if (items == max_keys) {
			out->truncated = true;
			out->next_token = strdup(f->keys[i - 1]);
			break;
		}
		d = delim ? strstr(k + plen, delim) : NULL;
		if (d) {
			size_t cl = (size_t)(d - k) + strlen(delim);
			char *cp = strndup(k, cl);

			out->prefixes[out->nprefixes++] = cp;
			while (i < f->n && !strncmp(f->keys[i], cp, cl))
				i++;
		} else {
			out->entries[out->nentries].key = strdup(k);
			out->entries[out->nentries].etag = strdup("e");
			out->entries[out->nentries++].size = strlen(k);
			i++;
		}
		items++;
	}
	return 0;
}

static int fake_list(struct store *s, const char *prefix, const char *delim,
		     const char *token, unsigned max_keys,
		     struct store_list *out)
{
	return fake_page((struct fake *)s, prefix, delim, token, max_keys,
			 out);
}

static int fake_list_after(struct store *s, const char *prefix,
			   const char *delim, const char *after,
			   unsigned max_keys, struct store_list *out)
{
	struct fake *f = (struct fake *)s;

	if (f->fail_after && strcmp(after, f->fail_after) >= 0) {
		memset(out, 0, sizeof(*out));
		return -EIO;
	}
	return fake_page(f, prefix, delim, after, max_keys, out);
}

static const struct store_ops fake_ops = {
	.list = fake_list,
	.list_after = fake_list_after,
};

/* Everything the paginated listing gives after its first page, as one
 * "E:key" / "P:prefix" line per item in key order; *token: page 1's. */
static char *reference(struct fake *f, unsigned max_keys, char **token)
{
	struct store_list p;
	size_t cap = 1 << 20, len = 0, i;
	char *out = calloc(1, cap), *tok = NULL;
	int page = 0;

	do {
		fake_list(&f->base, "d/", "/", tok, max_keys, &p);
		free(tok);
		tok = p.truncated ? strdup(p.next_token) : NULL;
		if (page++ == 0) {
			*token = tok ? strdup(tok) : NULL;
		} else {
			/* merge entries and prefixes by key */
			size_t a = 0, b = 0;

			while (a < p.nentries || b < p.nprefixes) {
				bool e = b == p.nprefixes ||
					 (a < p.nentries &&
					  strcmp(p.entries[a].key,
						 p.prefixes[b]) < 0);

				len += (size_t)snprintf(out + len, cap - len,
							"%s:%s\n",
							e ? "E" : "P",
							e ? p.entries[a++].key
							  : p.prefixes[b++]);
			}
		}
		store_list_release(&p);
	} while (tok);
	(void)i;
	return out;
}

static char *render(const struct store_list *p)
{
	size_t cap = 1 << 20, len = 0, a = 0, b = 0;
	char *out = calloc(1, cap);

	while (a < p->nentries || b < p->nprefixes) {
		bool e = b == p->nprefixes ||
			 (a < p->nentries &&
			  strcmp(p->entries[a].key, p->prefixes[b]) < 0);

		len += (size_t)snprintf(out + len, cap - len, "%s:%s\n",
					e ? "E" : "P",
					e ? p->entries[a++].key
					  : p->prefixes[b++]);
	}
	return out;
}

static void add_key(struct fake *f, const char *k)
{
	f->keys = realloc(f->keys, (f->n + 1) * sizeof(*f->keys));
	f->keys[f->n++] = strdup(k);
}

/* List with cuts and compare with the paginated reference. */
static void check(struct fake *f, unsigned max_keys, const char **cuts,
		  size_t ncuts, unsigned threads, const char *what)
{
	struct list_ranges_req q = {
		.prefix = "d/", .delimiter = "/", .cuts = (char *const *)cuts,
		.ncuts = ncuts, .max_keys = max_keys, .threads = threads,
	};
	struct store_list got;
	char *token = NULL, *want, *have;
	int rc;

	want = reference(f, max_keys, &token);
	q.token = token;
	rc = list_ranges(&f->base, &q, &got);
	TAP_INTEQ(rc, 0, what);
	have = render(&got);
	TAP_OK(!strcmp(want, have), what);
	TAP_OK(!got.truncated && !got.next_token, "not truncated");
	store_list_release(&got);
	free(want);
	free(have);
	free(token);
}

/* Every item of the delimited listing of d/, in one string. */
static char *whole(struct fake *f)
{
	struct store_list p;
	char *out;

	fake_list(&f->base, "d/", "/", NULL, 1u << 30, &p);
	out = render(&p);
	store_list_release(&p);
	return out;
}

/*
 * A page of max_keys listed without a delimiter, made delimited, then
 * the rest listed from its start-after in ranges (cuts): together they
 * must be the delimited listing.  Returns list_page_delimit's result.
 */
static int delimit_and_go_on(struct fake *f, unsigned max_keys,
			     const char **cuts, size_t ncuts,
			     const char *what)
{
	struct store_list page, rest = { 0 };
	struct list_ranges_req q = {
		.prefix = "d/", .delimiter = "/", .cuts = (char *const *)cuts,
		.ncuts = ncuts, .max_keys = 1000, .threads = 4,
	};
	char *after = NULL, *before, *want, *have, *tail;
	int rc;

	fake_list(&f->base, "d/", NULL, NULL, max_keys, &page);
	before = render(&page);
	rc = list_page_delimit(&page, "d/", '/', &after);
	if (rc) {
		have = render(&page);
		TAP_OK(!strcmp(before, have) && !after,
		       "not delimitable: the page is left as it was");
		free(have);
		goto out;
	}
	TAP_OK(page.truncated == (after != NULL) && !page.next_token,
	       "start-after given exactly when there is more");
	if (after) {
		q.start_after = after;
		TAP_INTEQ(list_ranges(&f->base, &q, &rest), 0, what);
	}
	want = whole(f);
	have = render(&page);
	tail = render(&rest);
	have = realloc(have, strlen(have) + strlen(tail) + 1);
	strcat(have, tail);
	TAP_OK(!strcmp(want, have), what);
	free(want);
	free(have);
	free(tail);
out:
	store_list_release(&page);
	store_list_release(&rest);
	free(before);
	free(after);
	return rc;
}

static void test_delimit(struct fake *f)
{
	const char *cuts[] = { "d/f01500", "d/f02000" };
	struct store_list page;
	char *after = NULL;
	int rc;

	TAP_INTEQ(delimit_and_go_on(f, 1000, NULL, 0,
				    "a page of files, then the rest paginated"),
		  0, "a page ending at a file can be gone on from");
	TAP_INTEQ(delimit_and_go_on(f, 1000, cuts, 2,
				    "a page of files, then the rest in ranges"),
		  0, "... also in ranges");
	/* keys 0..1100 are d/f00000..d/f01100, then d/f01100/inner and
	 * d/f01100/more: a page ending at either is inside d/f01100/ */
	rc = delimit_and_go_on(f, 1102, NULL, 0, "inside a prefix");
	TAP_INTEQ(rc, -EAGAIN, "a page ending inside a prefix: -EAGAIN");
	rc = delimit_and_go_on(f, 1103, NULL, 0, "inside a prefix");
	TAP_INTEQ(rc, -EAGAIN, "... at its last key too (what follows is "
		  "not known)");
	TAP_INTEQ(delimit_and_go_on(f, 1104, cuts, 2,
				    "a file and a directory of one name, "
				    "rolled up once, then the rest"),
		  0, "a page past a prefix can be gone on from");
	TAP_INTEQ(delimit_and_go_on(f, 1u << 30, NULL, 0,
				    "the whole listing in one page"),
		  0, "a whole listing needs no start-after");
	fake_list(&f->base, "d/", "/", NULL, 1u << 30, &page);
	TAP_INTEQ(list_page_delimit(&page, "d/", '/', &after), -EINVAL,
		  "a page with prefixes already: -EINVAL");
	store_list_release(&page);
}

int main(void)
{
	struct fake f = { .base = { &fake_ops } };
	struct store_ops no_after = { .list = fake_list };
	struct store plain = { &no_after };
	struct store_list got;
	struct list_ranges_req q = { .prefix = "d/", .delimiter = "/" };
	char name[64];
	size_t i;

	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "d/f%05zu", i);
		add_key(&f, name);
	}
	/* a file and a directory of one name; directories between files */
	add_key(&f, "d/f01100/inner");
	add_key(&f, "d/f01100/more");
	add_key(&f, "d/s0500/x");
	add_key(&f, "d/f01500-dir/y");
	add_key(&f, "d/zz/deep/er");
	add_key(&f, "e/outside");
	add_key(&f, "c/outside");
	qsort(f.keys, f.n, sizeof(*f.keys), cmp);
	test_delimit(&f);

	{
		const char *cuts[] = { "d/f01000", "d/f01500", "d/f02000",
				       "d/f02500" };

		check(&f, 1000, cuts, 4, 4, "cuts at existing names");
		check(&f, 1000, cuts, 4, 1, "one thread");
		check(&f, 7, cuts, 4, 3, "many pages per range");
	}
	{
		/* names that are gone (or never were), and a cut at the file
		 * whose name is also a directory's */
		const char *cuts[] = { "d/f01100", "d/f01500-", "d/f01777x",
				       "d/s", "d/z" };

		check(&f, 1000, cuts, 5, 8, "cuts at names not there");
		check(&f, 13, cuts, 5, 2, "same, small pages");
	}
	{
		/* the directory changed after the cuts were chosen: a range
		 * with far more keys than expected just takes more pages */
		const char *cuts[] = { "d/f01000", "d/f01001" };

		for (i = 0; i < 2000; i++) {
			snprintf(name, sizeof(name), "d/f01000-new%04zu", i);
			add_key(&f, name);
		}
		qsort(f.keys, f.n, sizeof(*f.keys), cmp);
		check(&f, 1000, cuts, 2, 3, "a range grew");
	}
	{
		const char *cuts[] = { "d/zzzz" }; /* past the end */

		check(&f, 1000, cuts, 1, 2, "the last range is empty");
		check(&f, 1000, NULL, 0, 4, "no cuts: the paginated rest");
	}
	{
		const char *cuts[] = { "d/f01000", "d/f02000" };
		char *token = NULL, *want = reference(&f, 1000, &token);

		free(want);
		f.fail_after = "d/f02000";
		q.token = token;
		q.cuts = (char *const *)cuts;
		q.ncuts = 2;
		q.max_keys = 1000;
		q.threads = 3;
		TAP_INTEQ(list_ranges(&f.base, &q, &got), -EIO,
			  "a failed range fails the listing");
		TAP_OK(!got.nentries && !got.entries && !got.nprefixes,
		       "and leaves nothing");
		f.fail_after = NULL;
		TAP_INTEQ(list_ranges(&plain, &q, &got), -ENOSYS,
			  "no list_after: not offered");
		free(token);
	}
	for (i = 0; i < f.n; i++)
		free(f.keys[i]);
	free(f.keys);
	return tap_done();
}
