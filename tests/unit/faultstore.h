/*
 * faultstore.h - a store wrapper that injects faults, for unit tests.
 *
 * faultstore_new(inner, seed) gives a store that passes every call on to
 * inner (borrowed: it must outlive the wrapper, which never destroys it)
 * unless a rule fires.  A rule picks calls by op and, optionally, by a
 * substring of the key (COPY: of either key; LIST: of the prefix), and
 * fires on the nth such call, on every one after the first n, or with a
 * probability drawn from a PRNG seeded by seed (the same seed and calls
 * give the same faults).  What a fired rule does:
 *
 *   FAULT_ERRNO      the call is not made; rule.err (e.g. -EACCES) returned
 *   FAULT_THROTTLE   not made; -EIO, what s3.c returns once its retries of
 *                    429 answers are spent (counted in stats.throttled)
 *   FAULT_DELAY      rule.delay_us of sleep, then the call is made
 *   FAULT_LOST       the call is made and done on the server, but its
 *                    answer is lost: -EIO (outputs released)
 *   FAULT_HOOK       rule.hook(rule.hook_arg) runs (outside the lock, after
 *                    any delay), then the call is made: another client
 *                    acting at an exact moment
 *
 * Every rule that matches a call counts it; delays add up and hooks all
 * run (up to FAULT_HOOKS_MAX a call); of the other rules that fire, the
 * first added decides.  Each rule counts the faults
 * it injected.  Locking: one mutex for rules, counts and PRNG, never held
 * during the inner call or a delay; everything is thread-safe.  Optional
 * ops (list_after, mp_copy_part, stats) are offered when inner offers
 * them.
 */
#ifndef R2FS_TEST_FAULTSTORE_H
#define R2FS_TEST_FAULTSTORE_H

#include <stdint.h>

#include "store.h"

enum fault_op {
	FAULT_HEAD,
	FAULT_GET, /* get_range, get_range_to_fd, get_to_fd */
	FAULT_PUT,
	FAULT_LIST, /* list, list_after */
	FAULT_REMOVE,
	FAULT_COPY,
	FAULT_MP_CREATE,
	FAULT_MP_PART,
	FAULT_MP_COMPLETE,
	FAULT_MP_ABORT,
	FAULT_MP_COPY, /* mp_copy_part (of either key, as COPY) */
};
#define FAULT_OP(op) (1u << (op))

enum fault_when {
	FAULT_NTH,   /* the nth matching call only (n from 1) */
	FAULT_AFTER, /* every matching call after the first n (0: all) */
	FAULT_PROB,  /* each matching call with probability p */
};

enum fault_kind {
	FAULT_ERRNO,
	FAULT_THROTTLE,
	FAULT_DELAY,
	FAULT_LOST,
	FAULT_HOOK,
};
#define FAULT_HOOKS_MAX 4

struct fault_rule {
	unsigned ops;             /* FAULT_OP() bits; 0: every op */
	const char *key_contains; /* NULL: any key; copied */
	enum fault_when when;
	unsigned n;
	double p;
	enum fault_kind kind;
	int err;           /* FAULT_ERRNO: a negative errno */
	unsigned delay_us; /* FAULT_DELAY */
	void (*hook)(void *arg); /* FAULT_HOOK */
	void *hook_arg;
};

struct faultstore;

/* NULL when out of memory. */
struct faultstore *faultstore_new(struct store *inner, uint64_t seed);
/* Free with faultstore_store(f)->ops->destroy(); inner stays. */
struct store *faultstore_store(struct faultstore *f);

/* Add a rule: its number (0, 1, ...), -EINVAL or -ENOMEM. */
int faultstore_add(struct faultstore *f, const struct fault_rule *rule);
/* Drop every rule; numbers start at 0 again, the total count stays. */
void faultstore_clear(struct faultstore *f);
/* Faults injected by rule number rule, or by all rules when rule < 0. */
uint64_t faultstore_injected(struct faultstore *f, int rule);

#endif
