/*
 * faultstore.c - the fault-injecting store wrapper of faultstore.h.
 *
 * Each op asks judge() what to do with the call: judge() walks the rules
 * under the lock (counting the call in every matching rule, drawing from
 * the PRNG for probability rules so that the draws depend only on the
 * sequence of calls), sleeps the delays outside the lock and says whether
 * the call is refused (its errno in v.rc) or made, and then whether its
 * answer is lost.  A lost answer releases what the inner call handed out,
 * since the caller of a failed call owns nothing.
 */
#include "faultstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fault_state {
	struct fault_rule r; /* key_contains owned */
	uint64_t seen;       /* matching calls */
	uint64_t injected;
};

struct faultstore {
	struct store base;
	struct store_ops ops; /* ours, less what inner does not offer */
	struct store *inner;
	pthread_mutex_t lock;
	/* all below protected by lock */
	struct fault_state *rules;
	size_t nrules;
	uint64_t rng;
	uint64_t injected;
	uint64_t throttled;
};

/* What becomes of one call. */
struct verdict {
	bool refused; /* not made: return rc */
	bool lost;    /* made, answer lost: return -EIO */
	int rc;
};

static struct faultstore *to_f(struct store *s)
{
	return (struct faultstore *)s;
}

/* splitmix64: any seed, 0 included, gives a full-period stream. */
static double rng_next(struct faultstore *f)
{
	uint64_t z = (f->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

static bool rule_matches(const struct fault_rule *r, enum fault_op op,
			 const char *key, const char *key2)
{
	if (r->ops && !(r->ops & FAULT_OP(op)))
		return false;
	if (!r->key_contains)
		return true;
	return (key && strstr(key, r->key_contains)) ||
	       (key2 && strstr(key2, r->key_contains));
}

static bool judge(struct faultstore *f, enum fault_op op, const char *key,
		  const char *key2, struct verdict *v)
{
	unsigned delay_us = 0, nhooks = 0;
	struct fault_rule hooks[FAULT_HOOKS_MAX];
	bool decided = false, fire;
	struct fault_state *st;
	size_t i;

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nrules; i++) {
		st = &f->rules[i];
		if (!rule_matches(&st->r, op, key, key2))
			continue;
		st->seen++;
		if (st->r.when == FAULT_NTH)
			fire = st->seen == st->r.n;
		else if (st->r.when == FAULT_AFTER)
			fire = st->seen > st->r.n;
		else
			fire = rng_next(f) < st->r.p;
		if (!fire || (decided && st->r.kind != FAULT_DELAY &&
			      st->r.kind != FAULT_HOOK))
			continue;
		st->injected++;
		f->injected++;
		if (st->r.kind == FAULT_DELAY) {
			delay_us += st->r.delay_us;
			continue;
		}
		if (st->r.kind == FAULT_HOOK) {
			if (nhooks < FAULT_HOOKS_MAX)
				hooks[nhooks++] = st->r;
			continue;
		}
		decided = true;
		v->lost = st->r.kind == FAULT_LOST;
		v->refused = !v->lost;
		v->rc = st->r.kind == FAULT_ERRNO ? st->r.err : -EIO;
		if (st->r.kind == FAULT_THROTTLE)
			f->throttled++;
	}
	pthread_mutex_unlock(&f->lock);
	if (delay_us)
		usleep(delay_us);
	for (i = 0; i < nhooks; i++)
		hooks[i].hook(hooks[i].hook_arg);
	return v->refused;
}

static int f_head(struct store *s, const char *key, struct store_object *out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (judge(f, FAULT_HEAD, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->head(f->inner, key, out);
	if (v.lost && !rc)
		store_object_release(out);
	return v.lost ? -EIO : rc;
}

static int f_get_range(struct store *s, const char *key, uint64_t off,
		       size_t len, const char *if_match, void *buf,
		       size_t *got)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	*got = 0;
	if (judge(f, FAULT_GET, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->get_range(f->inner, key, off, len, if_match, buf,
				      got);
	if (v.lost)
		*got = 0;
	return v.lost ? -EIO : rc;
}

static int f_get_range_to_fd(struct store *s, const char *key, uint64_t off,
			     uint64_t len, const char *if_match, int fd)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (judge(f, FAULT_GET, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->get_range_to_fd(f->inner, key, off, len, if_match,
					    fd);
	return v.lost ? -EIO : rc;
}

static int f_get_to_fd(struct store *s, const char *key,
		       const char *if_match, int fd, uint64_t *size)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (judge(f, FAULT_GET, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->get_to_fd(f->inner, key, if_match, fd, size);
	return v.lost ? -EIO : rc;
}

static int f_put_fd(struct store *s, const char *key, int fd, uint64_t size,
		    const struct store_put_opts *opts, char *etag_out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (judge(f, FAULT_PUT, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->put_fd(f->inner, key, fd, size, opts, etag_out);
	if (v.lost && etag_out)
		etag_out[0] = '\0';
	return v.lost ? -EIO : rc;
}

static int f_list(struct store *s, const char *prefix, const char *delim,
		  const char *token, unsigned max_keys, struct store_list *out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (judge(f, FAULT_LIST, prefix, NULL, &v))
		return v.rc;
	rc = f->inner->ops->list(f->inner, prefix, delim, token, max_keys,
				 out);
	if (v.lost && !rc)
		store_list_release(out);
	return v.lost ? -EIO : rc;
}

static int f_list_after(struct store *s, const char *prefix,
			const char *delim, const char *start_after,
			unsigned max_keys, struct store_list *out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (judge(f, FAULT_LIST, prefix, NULL, &v))
		return v.rc;
	rc = f->inner->ops->list_after(f->inner, prefix, delim, start_after,
				       max_keys, out);
	if (v.lost && !rc)
		store_list_release(out);
	return v.lost ? -EIO : rc;
}

static int f_remove(struct store *s, const char *key)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (judge(f, FAULT_REMOVE, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->remove(f->inner, key);
	return v.lost ? -EIO : rc;
}

static int f_copy(struct store *s, const char *src, const char *dst,
		  const struct store_put_opts *opts)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (judge(f, FAULT_COPY, src, dst, &v))
		return v.rc;
	rc = f->inner->ops->copy(f->inner, src, dst, opts);
	return v.lost ? -EIO : rc;
}

static int f_mp_create(struct store *s, const char *key,
		       const struct store_put_opts *opts, char **upload_id)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	*upload_id = NULL;
	if (judge(f, FAULT_MP_CREATE, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->mp_create(f->inner, key, opts, upload_id);
	if (v.lost) {
		free(*upload_id); /* the upload stays open on the server */
		*upload_id = NULL;
	}
	return v.lost ? -EIO : rc;
}

static int f_mp_upload_part(struct store *s, const char *key,
			    const char *upload_id, unsigned part_number,
			    int fd, uint64_t offset, uint64_t len,
			    char *etag_out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	etag_out[0] = '\0';
	if (judge(f, FAULT_MP_PART, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->mp_upload_part(f->inner, key, upload_id,
					   part_number, fd, offset, len,
					   etag_out);
	if (v.lost)
		etag_out[0] = '\0';
	return v.lost ? -EIO : rc;
}

static int f_mp_copy_part(struct store *s, const char *key,
			  const char *upload_id, unsigned part_number,
			  const char *src, const char *src_etag,
			  uint64_t offset, uint64_t len, char *etag_out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	etag_out[0] = '\0';
	if (judge(f, FAULT_MP_COPY, key, src, &v))
		return v.rc;
	rc = f->inner->ops->mp_copy_part(f->inner, key, upload_id,
					 part_number, src, src_etag, offset,
					 len, etag_out);
	if (v.lost)
		etag_out[0] = '\0';
	return v.lost ? -EIO : rc;
}

static int f_mp_complete(struct store *s, const char *key,
			 const char *upload_id, const struct store_part *parts,
			 size_t nparts, char *etag_out)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (etag_out)
		etag_out[0] = '\0';
	if (judge(f, FAULT_MP_COMPLETE, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->mp_complete(f->inner, key, upload_id, parts,
					nparts, etag_out);
	if (v.lost && etag_out)
		etag_out[0] = '\0';
	return v.lost ? -EIO : rc;
}

static int f_mp_abort(struct store *s, const char *key,
		      const char *upload_id)
{
	struct faultstore *f = to_f(s);
	struct verdict v;
	int rc;

	if (judge(f, FAULT_MP_ABORT, key, NULL, &v))
		return v.rc;
	rc = f->inner->ops->mp_abort(f->inner, key, upload_id);
	return v.lost ? -EIO : rc;
}

/* inner's counts, and the 429s that never reached it. */
static void f_stats(struct store *s, struct store_stats *out)
{
	struct faultstore *f = to_f(s);

	f->inner->ops->stats(f->inner, out);
	pthread_mutex_lock(&f->lock);
	out->throttled += f->throttled;
	pthread_mutex_unlock(&f->lock);
}

static void f_destroy(struct store *s)
{
	struct faultstore *f = to_f(s);

	if (!f)
		return;
	faultstore_clear(f);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static const struct store_ops f_ops = {
	.head = f_head,
	.get_range = f_get_range,
	.get_range_to_fd = f_get_range_to_fd,
	.get_to_fd = f_get_to_fd,
	.put_fd = f_put_fd,
	.list = f_list,
	.list_after = f_list_after,
	.remove = f_remove,
	.copy = f_copy,
	.mp_create = f_mp_create,
	.mp_upload_part = f_mp_upload_part,
	.mp_copy_part = f_mp_copy_part,
	.mp_complete = f_mp_complete,
	.mp_abort = f_mp_abort,
	.stats = f_stats,
	.destroy = f_destroy,
};

struct faultstore *faultstore_new(struct store *inner, uint64_t seed)
{
	struct faultstore *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	if (pthread_mutex_init(&f->lock, NULL)) {
		free(f);
		return NULL;
	}
	f->ops = f_ops;
	if (!inner->ops->list_after)
		f->ops.list_after = NULL;
	if (!inner->ops->stats)
		f->ops.stats = NULL;
	if (!inner->ops->mp_copy_part)
		f->ops.mp_copy_part = NULL;
	f->base.ops = &f->ops;
	f->inner = inner;
	f->rng = seed;
	return f;
}

struct store *faultstore_store(struct faultstore *f)
{
	return &f->base;
}

int faultstore_add(struct faultstore *f, const struct fault_rule *rule)
{
	struct fault_state *grown;
	char *key = NULL;
	int rc;

	if ((rule->kind == FAULT_ERRNO && rule->err >= 0) ||
	    (rule->kind == FAULT_HOOK && !rule->hook) ||
	    (rule->when == FAULT_NTH && rule->n == 0) ||
	    (rule->when == FAULT_PROB && !(rule->p >= 0 && rule->p <= 1)))
		return -EINVAL;
	if (rule->key_contains) {
		key = strdup(rule->key_contains);
		if (!key)
			return -ENOMEM;
	}
	pthread_mutex_lock(&f->lock);
	grown = realloc(f->rules, (f->nrules + 1) * sizeof(*grown));
	if (!grown) {
		rc = -ENOMEM;
		free(key);
		goto out;
	}
	f->rules = grown;
	grown[f->nrules] = (struct fault_state){ .r = *rule };
	grown[f->nrules].r.key_contains = key;
	rc = (int)f->nrules++;
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void faultstore_clear(struct faultstore *f)
{
	size_t i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nrules; i++)
		free((char *)f->rules[i].r.key_contains);
	free(f->rules);
	f->rules = NULL;
	f->nrules = 0;
	pthread_mutex_unlock(&f->lock);
}

uint64_t faultstore_injected(struct faultstore *f, int rule)
{
	uint64_t n = 0;

	pthread_mutex_lock(&f->lock);
	if (rule < 0)
		n = f->injected;
	else if ((size_t)rule < f->nrules)
		n = f->rules[rule].injected;
	pthread_mutex_unlock(&f->lock);
	return n;
}
