/*
 * tap.h - a tiny Test Anything Protocol emitter for r2fs's unit tests.
 *
 * Each test program prints "1..N" at the end (plan last is valid TAP) and
 * one "ok"/"not ok" line per check.  automake's tap-driver.sh reads them.
 * Exit status is non-zero when any check failed.
 */
#ifndef R2FS_TAP_H
#define R2FS_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline void tap_ok(int cond, const char *name, const char *file,
			  int line)
{
	tap_count++;
	if (cond) {
		printf("ok %d - %s\n", tap_count, name);
	} else {
		tap_failed++;
		printf("not ok %d - %s\n# at %s:%d\n", tap_count, name, file,
		       line);
	}
	fflush(stdout);
}

#define TAP_OK(cond, name) tap_ok(!!(cond), (name), __FILE__, __LINE__)

/* String equality; prints both sides on failure. NULL never equals. */
#define TAP_STREQ(got, want, name)                                          \
	do {                                                                \
		const char *tap_g_ = (got), *tap_w_ = (want);               \
		int tap_eq_ = tap_g_ && tap_w_ && !strcmp(tap_g_, tap_w_);  \
		TAP_OK(tap_eq_, name);                                      \
		if (!tap_eq_)                                               \
			printf("#   got:  %s\n#   want: %s\n",              \
			       tap_g_ ? tap_g_ : "(null)",                  \
			       tap_w_ ? tap_w_ : "(null)");                 \
	} while (0)

#define TAP_INTEQ(got, want, name)                                          \
	do {                                                                \
		long long tap_g_ = (long long)(got);                        \
		long long tap_w_ = (long long)(want);                       \
		TAP_OK(tap_g_ == tap_w_, name);                             \
		if (tap_g_ != tap_w_)                                       \
			printf("#   got:  %lld\n#   want: %lld\n", tap_g_,  \
			       tap_w_);                                     \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
