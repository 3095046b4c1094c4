/*
 * fuzz_split.h - cut one libFuzzer input into NUL-free C strings.
 *
 * The targets need several strings from one input.  struct fuzz_split
 * walks the data: fuzz_next() returns the bytes up to the next NUL (or
 * the end) as a malloc'd string, or NULL once the data is used up.
 * fuzz_byte() takes one byte (0 when the data is used up) for flags and
 * small numbers.  Every string handed out is kept in the split and freed
 * by fuzz_split_release(), so targets need no cleanup code of their own.
 */
#ifndef R2FS_FUZZ_SPLIT_H
#define R2FS_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FIELDS 64

struct fuzz_split {
	const uint8_t *p;
	size_t len;
	char *owned[FUZZ_MAX_FIELDS];
	size_t nowned;
};

static inline void fuzz_split_init(struct fuzz_split *s, const uint8_t *p,
				   size_t len)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->len = len;
}

static inline unsigned fuzz_byte(struct fuzz_split *s)
{
	unsigned v;

	if (!s->len)
		return 0;
	v = s->p[0];
	s->p++;
	s->len--;
	return v;
}

/* The next field; NULL when the data is used up or on ENOMEM. */
static inline char *fuzz_next(struct fuzz_split *s)
{
	const uint8_t *nul;
	size_t n;
	char *f;

	if (!s->len || s->nowned == FUZZ_MAX_FIELDS)
		return NULL;
	nul = memchr(s->p, '\0', s->len);
	n = nul ? (size_t)(nul - s->p) : s->len;
	f = malloc(n + 1);
	if (!f)
		return NULL;
	memcpy(f, s->p, n);
	f[n] = '\0';
	s->p += nul ? n + 1 : n;
	s->len -= nul ? n + 1 : n;
	s->owned[s->nowned++] = f;
	return f;
}

/* Like fuzz_next, but "" instead of NULL once the data is used up. */
static inline const char *fuzz_next_str(struct fuzz_split *s)
{
	const char *f = fuzz_next(s);

	return f ? f : "";
}

static inline void fuzz_split_release(struct fuzz_split *s)
{
	size_t i;

	for (i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	s->nowned = 0;
}

#endif
