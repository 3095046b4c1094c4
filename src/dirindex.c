/*
 * dirindex.c - a directory's attribute index: format, parser, trust rule.
 *
 * The format and why an entry may be trusted are in dirindex.h.  The
 * parser is strict: one line it cannot read and the whole index is
 * ignored, as a damaged index must never become wrong attributes.
 */
#include "dirindex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DIR_INDEX_MAGIC "r2fs-dir-index 1\n"
#define DIR_INDEX_FIELDS 12
#define DIR_INDEX_NAME_MAX 1024 /* an S3 key's length */

char *dir_index_key(const char *dkey)
{
	size_t len = strlen(DIR_INDEX_PREFIX) + strlen(dkey) + 8;
	char *k = malloc(len);

	if (k)
		snprintf(k, len, "%s/%s.attrs", DIR_INDEX_PREFIX, dkey);
	return k;
}

bool dir_index_worth(const char *etag, uint64_t size, time_t lastmod,
		     time_t checked)
{
	/* multipart ETags end in "-N": such a version may be stamped when
	 * its upload began, long before it showed; so may a big PUT */
	return etag && etag[0] && !strchr(etag, '-') &&
	       size <= DIR_INDEX_OBJECT_MAX && lastmod > 0 &&
	       checked > lastmod && checked - lastmod >= DIR_INDEX_SETTLE;
}

bool dir_index_trusted(const struct dir_index_entry *e, const char *etag,
		       uint64_t size, time_t lastmod)
{
	return e && etag && !strcmp(e->etag, etag) && e->size == size &&
	       e->lastmod == lastmod &&
	       dir_index_worth(e->etag, e->size, e->lastmod, e->checked);
}

/* ---- writing ---- */

static bool needs_escape(unsigned char c)
{
	return c <= ' ' || c == '%' || c == 0x7f;
}

/* Room is reserved by the caller: at most 3 bytes per byte of s. */
static void put_escaped(struct util_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3] = { '%' };
	size_t run;

	while (*s) {
		/* bytes kept as they are go in one add */
		run = 0;
		while (s[run] && !needs_escape((unsigned char)s[run]))
			run++;
		util_buf_add(b, s, run);
		s += run;
		if (!*s)
			break;
		esc[1] = hex[(unsigned char)*s >> 4];
		esc[2] = hex[(unsigned char)*s & 15];
		util_buf_add(b, esc, 3);
		s++;
	}
}

int dir_index_append(struct dir_index_buf *b, const char *name,
		     const char *etag, uint64_t size, time_t lastmod,
		     time_t checked, const struct meta_values *v)
{
	char nums[320], *last;
	size_t room;
	int n, rc;

	if (!name[0] || strlen(name) > DIR_INDEX_NAME_MAX ||
	    (b->last && strcmp(b->last, name) >= 0) ||
	    !dir_index_worth(etag, size, lastmod, checked))
		return -EINVAL;
	n = snprintf(nums, sizeof(nums),
		     "\t%" PRIu64 "\t%lld\t%lld\t%x\t%o\t%u\t%u"
		     "\t%lld.%09ld\t%lld.%09ld\t%lld.%09ld\n",
		     size, (long long)lastmod, (long long)checked,
		     v->has & META_HAS_ALL, (unsigned)v->mode, (unsigned)v->uid,
		     (unsigned)v->gid, (long long)v->mtime.tv_sec,
		     v->mtime.tv_nsec, (long long)v->ctime.tv_sec,
		     v->ctime.tv_nsec, (long long)v->atime.tv_sec,
		     v->atime.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof(nums))
		return -EINVAL;
	room = strlen(DIR_INDEX_MAGIC) + 3 * (strlen(name) + strlen(etag)) +
	       1 + (size_t)n;
	if (!b->buf.max)
		util_buf_init(&b->buf, DIR_INDEX_MAX_BYTES);
	rc = util_buf_reserve(&b->buf, room);
	if (rc)
		return rc == -E2BIG ? -EFBIG : rc;
	last = strdup(name);
	if (!last)
		return -ENOMEM;
	/* cannot fail now: room was reserved */
	if (b->buf.len == 0)
		util_buf_adds(&b->buf, DIR_INDEX_MAGIC);
	put_escaped(&b->buf, name);
	util_buf_adds(&b->buf, "\t");
	put_escaped(&b->buf, etag);
	util_buf_add(&b->buf, nums, (size_t)n);
	b->s = b->buf.p;
	b->len = b->buf.len;
	free(b->last);
	b->last = last;
	b->n++;
	return 0;
}

void dir_index_buf_release(struct dir_index_buf *b)
{
	util_buf_release(&b->buf);
	free(b->last);
	memset(b, 0, sizeof(*b));
}

/* ---- reading ---- */

/* The field [s, s+len) unescaped into a new string; NULL if malformed
 * (*nomem tells ENOMEM apart). */
static char *unescape(const char *s, size_t len, bool *nomem)
{
	char *out = malloc(len + 1), *o = out;
	size_t i;

	if (!out) {
		*nomem = true;
		return NULL;
	}
	for (i = 0; i < len; i++) {
		int hi, lo;

		if (needs_escape((unsigned char)s[i]) && s[i] != '%')
			goto bad;
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		hi = util_hex_digit((unsigned char)s[i + 1]);
		lo = util_hex_digit((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto bad;
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* A whole field as a number in base; false if it is not one. */
static bool field_ull(const char *s, size_t len, int base,
		      unsigned long long max, unsigned long long *out)
{
	char tmp[32], *end;

	if (len == 0 || len >= sizeof(tmp) || s[0] == '-' || s[0] == '+')
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	*out = strtoull(tmp, &end, base);
	return !errno && *end == '\0' && *out <= max;
}

static bool field_time(const char *s, size_t len, struct timespec *ts)
{
	char tmp[48];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return util_parse_time(tmp, ts) && ts->tv_nsec >= 0 &&
	       ts->tv_nsec < 1000000000L;
}

/* One line (without its newline) into e; -EINVAL or -ENOMEM. */
static int parse_line(const char *s, size_t len, struct dir_index_entry *e)
{
	const char *f[DIR_INDEX_FIELDS];
	size_t fl[DIR_INDEX_FIELDS], nf = 0, i, start = 0;
	unsigned long long u[7];
	struct timespec lm, ck;
	bool nomem = false;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '\t')
			continue;
		if (nf == DIR_INDEX_FIELDS)
			return -EINVAL;
		f[nf] = s + start;
		fl[nf++] = i - start;
		start = i + 1;
	}
	if (nf != DIR_INDEX_FIELDS ||
	    !field_ull(f[2], fl[2], 10, UINT64_MAX, &u[0]) ||
	    !field_time(f[3], fl[3], &lm) || !field_time(f[4], fl[4], &ck) ||
	    !field_ull(f[5], fl[5], 16, META_HAS_ALL, &u[1]) ||
	    !field_ull(f[6], fl[6], 8, 0177777, &u[2]) ||
	    !field_ull(f[7], fl[7], 10, UINT32_MAX, &u[3]) ||
	    !field_ull(f[8], fl[8], 10, UINT32_MAX, &u[4]) ||
	    !field_time(f[9], fl[9], &e->v.mtime) ||
	    !field_time(f[10], fl[10], &e->v.ctime) ||
	    !field_time(f[11], fl[11], &e->v.atime) ||
	    lm.tv_nsec || ck.tv_nsec)
		return -EINVAL;
	e->size = u[0];
	e->lastmod = lm.tv_sec;
	e->checked = ck.tv_sec;
	e->v.has = (unsigned)u[1];
	e->v.mode = (mode_t)u[2];
	e->v.uid = (uid_t)u[3];
	e->v.gid = (gid_t)u[4];
	e->name = unescape(f[0], fl[0], &nomem);
	e->etag = e->name ? unescape(f[1], fl[1], &nomem) : NULL;
	if (!e->name || !e->etag)
		return nomem ? -ENOMEM : -EINVAL;
	if (!e->name[0] || strlen(e->name) > DIR_INDEX_NAME_MAX ||
	    strchr(e->name, '/') ||
	    !dir_index_worth(e->etag, e->size, e->lastmod, e->checked))
		return -EINVAL;
	return 0;
}

int dir_index_parse(const char *buf, size_t len, struct dir_index *out)
{
	size_t mlen = strlen(DIR_INDEX_MAGIC), pos, cap = 0;
	struct dir_index ix = { NULL, 0 };
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len < mlen || memcmp(buf, DIR_INDEX_MAGIC, mlen) ||
	    len > DIR_INDEX_MAX_BYTES)
		return -EINVAL;
	for (pos = mlen; pos < len;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		struct dir_index_entry *e;

		if (!nl) {
			rc = -EINVAL; /* cut short */
			goto out;
		}
		if (ix.n == cap) {
			size_t ncap = cap ? cap * 2 : 256;

			e = realloc(ix.e, ncap * sizeof(*e));
			if (!e) {
				rc = -ENOMEM;
				goto out;
			}
			ix.e = e;
			cap = ncap;
		}
		e = &ix.e[ix.n];
		memset(e, 0, sizeof(*e));
		ix.n++; /* counted now, so a half-parsed entry is freed */
		rc = parse_line(buf + pos, (size_t)(nl - (buf + pos)), e);
		if (rc)
			goto out;
		if (ix.n > 1 && strcmp(ix.e[ix.n - 2].name, e->name) >= 0) {
			rc = -EINVAL;
			goto out;
		}
		pos = (size_t)(nl - buf) + 1;
	}
	*out = ix;
	return 0;
out:
	dir_index_release(&ix);
	return rc;
}

void dir_index_release(struct dir_index *ix)
{
	size_t i;

	for (i = 0; i < ix->n; i++) {
		free(ix->e[i].name);
		free(ix->e[i].etag);
	}
	free(ix->e);
	ix->e = NULL;
	ix->n = 0;
}

const struct dir_index_entry *dir_index_find(const struct dir_index *ix,
					     const char *name)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ix->e[mid].name, name);

		if (c == 0)
			return &ix->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
