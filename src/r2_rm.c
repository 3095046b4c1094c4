/*
 * r2_rm.c - r2 rm: delete objects named one by one, or with -r every key
 * below a prefix, 1,000 to a request (DeleteObjects).
 *
 * S3 reports success for a key that does not exist, so named keys are
 * looked at first (HEAD): a missing one is said to be missing, as rm(1)
 * does, and the others are deleted all the same.  -r lists the prefix
 * first, so the count is known before anything goes: on a terminal r2
 * asks (unless -f), and -v says how many went.  All keys must be in one
 * bucket.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "r2_i.h"
#include "s3_bucket.h"
#include "store.h"

#define R2_LIST_PAGE 1000

struct keys {
	char **v;
	size_t n, cap;
};

static void keys_release(struct keys *k)
{
	while (k->n)
		free(k->v[--k->n]);
	free(k->v);
}

static int keys_add(struct keys *k, const char *key)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;
		char **v = realloc(k->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n] = strdup(key);
	if (!k->v[k->n])
		return -ENOMEM;
	k->n++;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop the same key named twice. */
static void keys_unique(struct keys *k)
{
	size_t i, o = 0;

	if (k->n < 2)
		return;
	qsort(k->v, k->n, sizeof(*k->v), cmp_key);
	for (i = 0; i < k->n; i++) {
		if (o && !strcmp(k->v[o - 1], k->v[i]))
			free(k->v[i]);
		else
			k->v[o++] = k->v[i];
	}
	k->n = o;
}

/* Every key below prefix ("" or ending in '/') into k.  0 or an exit
 * status after saying why. */
static int add_below(struct r2 *r, const char *prefix, struct keys *k)
{
	struct store_list page = { 0 };
	char *token = NULL, what[1200];
	size_t i;
	int rc;

	snprintf(what, sizeof(what), "bucket '%s'", r->bucket);
	do {
		rc = r->store->ops->list(r->store, prefix, NULL, token,
					 R2_LIST_PAGE, &page);
		if (rc) {
			rc = remote_failure(r, rc, "listing", what);
			break;
		}
		for (i = 0; i < page.nentries && !rc; i++)
			rc = keys_add(k, page.entries[i].key);
		free(token);
		token = page.truncated ? page.next_token : NULL;
		page.next_token = NULL;
		store_list_release(&page);
		if (rc) {
			say("out of memory");
			rc = R2_EXIT_FAIL;
		}
	} while (!rc && token);
	free(token);
	store_list_release(&page);
	return rc;
}

/* What one argument names: with -r the key itself (if it is an object)
 * and everything below KEY/; without, the object KEY.  *missing counts
 * arguments that named nothing.  0 or an exit status. */
static int add_arg(struct r2 *r, const struct r2_path *p, struct keys *k,
		   size_t *missing)
{
	struct store_object obj = { 0 };
	size_t before = k->n, len = strlen(p->key);
	char what[1200], *prefix;
	int rc = 0;

	snprintf(what, sizeof(what), "'%s/%s'", p->bucket, p->key);
	if (len && p->key[len - 1] != '/') {
		rc = r->store->ops->head(r->store, p->key, &obj);
		store_object_release(&obj);
		if (!rc && keys_add(k, p->key)) {
			say("out of memory");
			return R2_EXIT_FAIL;
		}
		if (rc && rc != -ENOENT)
			return remote_failure(r, rc, "reading", what);
	}
	if (r->o->recursive) {
		prefix = malloc(len + 2);
		if (!prefix) {
			say("out of memory");
			return R2_EXIT_FAIL;
		}
		snprintf(prefix, len + 2, "%s%s", p->key,
			 len && p->key[len - 1] != '/' ? "/" : "");
		rc = add_below(r, prefix, k);
		free(prefix);
		if (rc)
			return rc;
	}
	if (k->n == before) {
		say("%s: %s", what, r->o->recursive ? "no such object or prefix"
						      : "no such object");
		(*missing)++;
	}
	return 0;
}

/* On a terminal, without -f: may n objects go?  true if so. */
static bool confirmed(const struct r2 *r, size_t n, const char *what)
{
	char answer[64];

	if (r->o->force || !isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
		return true;
	fprintf(stderr, "r2: delete %zu object%s %s? [y/N] ", n,
		n == 1 ? "" : "s", what);
	fflush(stderr);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return !strcmp(answer, "y\n") || !strcmp(answer, "yes\n") ||
	       !strcmp(answer, "Y\n");
}

/* Delete k's keys in batches; the count deleted in *done.  0, or an exit
 * status after saying why. */
static int delete_keys(struct r2 *r, const struct keys *k, size_t *done)
{
	struct s3_delete_failure *failed = NULL;
	struct s3_error e;
	size_t i, f, nfailed, n, bad = 0;
	char what[1200];
	int rc;

	*done = 0;
	for (i = 0; i < k->n; i += n) {
		n = k->n - i < S3_DELETE_BATCH ? k->n - i : S3_DELETE_BATCH;
		rc = s3_delete_objects(r->s3, (const char *const *)k->v + i, n,
				       &failed, &nfailed, &e);
		if (rc) {
			snprintf(what, sizeof(what), "deleting objects of "
				 "bucket '%s'", r->bucket);
			return tool_failure(r, rc, &e, what);
		}
		for (f = 0; f < nfailed; f++)
			say("'%s/%s': not deleted: %s%s%s", r->bucket,
			    failed[f].key, failed[f].code,
			    failed[f].message[0] ? ": " : "",
			    failed[f].message);
		bad += nfailed;
		*done += n - nfailed;
		s3_delete_failures_free(failed, nfailed);
		failed = NULL;
	}
	return bad ? R2_EXIT_FAIL : 0;
}

int cmd_rm(struct r2 *r, int argc, char **argv)
{
	struct r2_path *p = NULL;
	struct keys k = { 0 };
	size_t missing = 0, done = 0;
	char what[1200];
	int i, np = 0, rc = 0;

	if (argc < 1) {
		say("usage: r2 rm BUCKET/KEY..., or r2 rm -r BUCKET[/PREFIX]");
		return R2_EXIT_USAGE;
	}
	p = calloc((size_t)argc, sizeof(*p));
	if (!p) {
		say("out of memory");
		return R2_EXIT_FAIL;
	}
	for (np = 0; np < argc && !rc; np++) {
		rc = parse_remote(argv[np], !r->o->recursive, &p[np]);
		if (!rc && np && strcmp(p[np].bucket, p[0].bucket)) {
			say("r2 rm deletes from one bucket at a time ('%s' "
			    "and '%s')", p[0].bucket, p[np].bucket);
			rc = R2_EXIT_USAGE;
		}
	}
	if (rc)
		goto out;
	rc = r2_connect(r, p[0].bucket);
	for (i = 0; !rc && i < np; i++)
		rc = add_arg(r, &p[i], &k, &missing);
	if (rc || k.n == 0)
		goto out;
	keys_unique(&k);
	if (r->o->recursive) {
		if (np == 1)
			snprintf(what, sizeof(what), "below '%s/%s'",
				 p[0].bucket, p[0].key);
		else
			snprintf(what, sizeof(what), "from bucket '%s'",
				 p[0].bucket);
		if (!confirmed(r, k.n, what)) {
			say("nothing deleted");
			rc = R2_EXIT_FAIL;
			goto out;
		}
	}
	rc = delete_keys(r, &k, &done);
	if (r->o->verbose)
		printf("deleted %zu object%s from bucket '%s'\n", done,
		       done == 1 ? "" : "s", p[0].bucket);
out:
	if (!rc && missing)
		rc = R2_EXIT_FAIL;
	keys_release(&k);
	for (i = 0; i < np; i++)
		path_release(&p[i]);
	free(p);
	return rc;
}
