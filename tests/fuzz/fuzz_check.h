/*
 * fuzz_check.h - CHECK(cond): a contract of the code under test, checked
 * on every fuzz input; a failure prints where and aborts, which libFuzzer
 * reports as a crash with the input that caused it.
 */
#ifndef R2FS_FUZZ_CHECK_H
#define R2FS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

#endif
