/*
 * memstore.c - the in-memory object store of memstore.h.
 *
 * Objects live in one array sorted by key bytes (strcmp order, S3's), so
 * lookups are a binary search and a listing is a walk from the prefix on.
 * Open multipart uploads are a short list, each holding its parts.  A
 * continuation token is "ms:" and the page's last item (a key or a common
 * prefix): the next page takes the items after it.  That is right because
 * the items of one listing never decrease along the sorted keys.
 *
 * Every op runs under the one mutex and ends in answer(), which counts
 * and logs the request as a server would and turns the answer's S3 error
 * code into an errno with s3.c's own s3_error_to_errno().  Checks that
 * s3.c makes before sending anything (part numbers, the metadata table)
 * return without a request, as there.  put_fd follows s3_put_fd: a failed
 * condition is followed by a HEAD, and the PUT counts as done when the
 * object already has the MD5 of the body (an earlier attempt's).
 */
#include "memstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "s3.h"

#define MS_KEY_MAX 1024
#define MS_PUT_MAX ((UINT64_C(5) << 30) - (UINT64_C(5) << 20))
#define MS_MAX_PARTS 10000
#define MS_LIST_MAX 1000
#define MS_TOKEN "ms:"

/* Content type and user metadata, of an object or an upload. */
struct ms_attrs {
	char *content_type;
	struct store_meta *meta;
	size_t nmeta;
};

struct ms_object {
	char *key;
	unsigned char *data;
	uint64_t size;
	char etag[128];
	time_t mtime;
	struct ms_attrs a;
};

struct ms_part {
	unsigned number;
	unsigned char *data;
	uint64_t len;
	unsigned char md5[16];
	char etag[33];
};

struct ms_upload {
	struct ms_upload *next;
	char *id;
	char *key;
	struct ms_attrs a;
	struct ms_part *parts;
	size_t nparts;
};

/* The last write of a key, for the one-write-a-second rule. */
struct ms_write {
	char *key;
	time_t at;
};

struct memstore {
	struct store base;
	pthread_mutex_t lock;
	/* all below protected by lock */
	struct ms_object **objs; /* sorted by key */
	size_t nobjs, capobjs;
	struct ms_upload *uploads;
	unsigned upload_seq;
	time_t clock; /* 0: time(NULL) */
	uint64_t min_part;
	bool complete_no_etag;
	bool write_limit;
	struct ms_write *writes;
	size_t nwrites;
	uint64_t counts[MS_OP_COUNT];
	struct store_stats n;
	char *log;
	size_t loglen, logcap;
};

static struct memstore *to_ms(struct store *s)
{
	return (struct memstore *)s;
}

static time_t ms_now(const struct memstore *ms)
{
	return ms->clock ? ms->clock : time(NULL);
}

static void md5_raw(const void *data, size_t len, unsigned char out[16])
{
	EVP_Digest(data, len, out, NULL, EVP_md5(), NULL);
}

static void hex(const unsigned char *md, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ------------------------------------------------------------------ */
/* Requests: counts, log, errors */

static const struct {
	const char *code;
	long status;
} ms_codes[] = {
	{ "NoSuchKey", 404 },	      { "NoSuchUpload", 404 },
	{ "PreconditionFailed", 412 }, { "TooManyRequests", 429 },
	{ "KeyTooLongError", 400 },   { "EntityTooLarge", 400 },
	{ "EntityTooSmall", 400 },    { "InvalidPart", 400 },
	{ "InvalidPartOrder", 400 },  { "InvalidRequest", 400 },
	{ "InvalidArgument", 400 },   { "InvalidRange", 416 },
};

static long code_status(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof(ms_codes) / sizeof(ms_codes[0]); i++)
		if (!strcmp(ms_codes[i].code, code))
			return ms_codes[i].status;
	return 500;
}

/* Append line (taken over; len < 0: none) to the log; out of memory,
 * the log just misses it. */
static void log_add(struct memstore *ms, char *line, int len)
{
	size_t need = ms->loglen + (size_t)len + 1;
	char *grown;

	if (len > 0 && need > ms->logcap) {
		grown = realloc(ms->log, 2 * need);
		if (grown) {
			ms->log = grown;
			ms->logcap = 2 * need;
		}
	}
	if (len > 0 && need <= ms->logcap) {
		memcpy(ms->log + ms->loglen, line, (size_t)len + 1);
		ms->loglen += (size_t)len;
	}
	free(line);
}

/*
 * Count and log one request (key2: COPY's destination) answered with the
 * S3 error code (NULL: success, then rc is returned: a local failure
 * after the answer, or 0).  Billing classes as s3.c counts them.
 */
static int answer(struct memstore *ms, enum ms_op op, const char *key,
		  const char *key2, const char *code, int rc)
{
	static const char *const names[MS_OP_COUNT] = {
		"HEAD", "GET",	 "PUT",	   "LIST",     "DELETE",
		"COPY", "CREATE", "PART", "COMPLETE", "ABORT",
		"PARTCOPY",
	};
	long status = code ? code_status(code) : 200;
	char *line = NULL;
	int len;

	ms->counts[op]++;
	if (op == MS_OP_HEAD || op == MS_OP_GET)
		ms->n.class_b++;
	else if (op != MS_OP_DELETE && op != MS_OP_MP_ABORT)
		ms->n.class_a++;
	if (status == 429)
		ms->n.throttled++;
	len = asprintf(&line, "%s %s%s%s%s%s\n", names[op], key,
		       key2 ? ">" : "", key2 ? key2 : "", code ? " " : "",
		       code ? code : "");
	log_add(ms, line, len);
	return code ? s3_error_to_errno(status, code) : rc;
}

/* The one-write-a-second rule: was key written less than a second ago? */
static bool throttled(struct memstore *ms, const char *key)
{
	time_t now = ms_now(ms);
	size_t i;

	if (!ms->write_limit)
		return false;
	for (i = 0; i < ms->nwrites; i++)
		if (!strcmp(ms->writes[i].key, key))
			return now - ms->writes[i].at < 1;
	return false;
}

/* Remember a write of key (forgetting those a second old or more). */
static void note_write(struct memstore *ms, const char *key)
{
	time_t now = ms_now(ms);
	struct ms_write *grown;
	size_t i, kept = 0;

	if (!ms->write_limit)
		return;
	for (i = 0; i < ms->nwrites; i++) {
		if (now - ms->writes[i].at >= 1 ||
		    !strcmp(ms->writes[i].key, key))
			free(ms->writes[i].key);
		else
			ms->writes[kept++] = ms->writes[i];
	}
	ms->nwrites = kept;
	grown = realloc(ms->writes, (kept + 1) * sizeof(*grown));
	if (!grown)
		return;
	ms->writes = grown;
	grown[kept].key = strdup(key);
	grown[kept].at = now;
	if (grown[kept].key)
		ms->nwrites++;
}

/* The error code for a write of size bytes to key, or NULL. */
static const char *write_check(struct memstore *ms, const char *key,
			       uint64_t size)
{
	if (throttled(ms, key))
		return "TooManyRequests";
	if (strlen(key) > MS_KEY_MAX)
		return "KeyTooLongError";
	if (size > MS_PUT_MAX)
		return "EntityTooLarge";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Objects */

static void attrs_release(struct ms_attrs *a)
{
	size_t i;

	for (i = 0; i < a->nmeta; i++) {
		free(a->meta[i].name);
		free(a->meta[i].value);
	}
	free(a->meta);
	free(a->content_type);
	memset(a, 0, sizeof(*a));
}

/* opts' type and metadata (opts may be NULL), names lower-cased as HTTP
 * headers come back. */
static int attrs_set(struct ms_attrs *a, const struct store_put_opts *opts)
{
	const char *type = opts ? opts->content_type : NULL;
	size_t i, j, n = opts ? opts->nmeta : 0;
	char *name;

	memset(a, 0, sizeof(*a));
	a->content_type = strdup(type ? type : "application/octet-stream");
	a->meta = calloc(n ? n : 1, sizeof(*a->meta));
	if (!a->content_type || !a->meta)
		goto fail;
	a->nmeta = n;
	for (i = 0; i < n; i++) {
		name = strdup(opts->meta[i].name);
		a->meta[i].name = name;
		a->meta[i].value = strdup(opts->meta[i].value);
		if (!name || !a->meta[i].value)
			goto fail;
		for (j = 0; name[j]; j++)
			if (name[j] >= 'A' && name[j] <= 'Z')
				name[j] += 'a' - 'A';
	}
	return 0;
fail:
	attrs_release(a);
	return -ENOMEM;
}

/* The type and metadata of a as opts, to copy them. */
static struct store_put_opts attrs_opts(const struct ms_attrs *a)
{
	return (struct store_put_opts){ .content_type = a->content_type,
					.meta = a->meta,
					.nmeta = a->nmeta };
}

static void obj_free(struct ms_object *o)
{
	if (!o)
		return;
	attrs_release(&o->a);
	free(o->key);
	free(o->data);
	free(o);
}

/* An object of key holding data (taken over, even on failure), with a
 * single-PUT ETag; NULL when out of memory. */
static struct ms_object *obj_new(const char *key, unsigned char *data,
				 uint64_t size,
				 const struct store_put_opts *opts)
{
	struct ms_object *o = calloc(1, sizeof(*o));
	unsigned char md[16];

	if (!o) {
		free(data);
		return NULL;
	}
	o->data = data;
	o->size = size;
	o->key = strdup(key);
	if (!o->key || attrs_set(&o->a, opts)) {
		obj_free(o);
		return NULL;
	}
	md5_raw(data, (size_t)size, md);
	hex(md, 16, o->etag);
	return o;
}

static unsigned char *dup_bytes(const void *data, uint64_t len)
{
	unsigned char *copy = malloc(len ? (size_t)len : 1);

	if (copy)
		memcpy(copy, data, (size_t)len);
	return copy;
}

/* Index of the first key >= key; *found when it is key itself. */
static size_t obj_index(const struct memstore *ms, const char *key,
			bool *found)
{
	size_t lo = 0, hi = ms->nobjs, mid;
	int c;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ms->objs[mid]->key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct ms_object *obj_find(const struct memstore *ms, const char *key)
{
	bool found;
	size_t i = obj_index(ms, key, &found);

	return found ? ms->objs[i] : NULL;
}

/* Store o (taken over; NULL: out of memory) in place of any object of
 * its key, written now. */
static int obj_insert(struct memstore *ms, struct ms_object *o)
{
	struct ms_object **grown;
	bool found;
	size_t i;

	if (!o)
		return -ENOMEM;
	o->mtime = ms_now(ms);
	i = obj_index(ms, o->key, &found);
	if (found) {
		obj_free(ms->objs[i]);
		ms->objs[i] = o;
		return 0;
	}
	if (ms->nobjs == ms->capobjs) {
		size_t cap = ms->capobjs ? 2 * ms->capobjs : 64;

		grown = realloc(ms->objs, cap * sizeof(*grown));
		if (!grown) {
			obj_free(o);
			return -ENOMEM;
		}
		ms->objs = grown;
		ms->capobjs = cap;
	}
	memmove(&ms->objs[i + 1], &ms->objs[i],
		(ms->nobjs - i) * sizeof(*ms->objs));
	ms->objs[i] = o;
	ms->nobjs++;
	return 0;
}

static bool obj_remove(struct memstore *ms, const char *key)
{
	bool found;
	size_t i = obj_index(ms, key, &found);

	if (!found)
		return false;
	obj_free(ms->objs[i]);
	memmove(&ms->objs[i], &ms->objs[i + 1],
		(ms->nobjs - i - 1) * sizeof(*ms->objs));
	ms->nobjs--;
	return true;
}

/* What HEAD answers for o. */
static int obj_describe(const struct memstore *ms, const struct ms_object *o,
			struct store_object *out)
{
	struct store_put_opts keep = attrs_opts(&o->a);
	struct ms_attrs a;

	memset(out, 0, sizeof(*out));
	if (attrs_set(&a, &keep))
		return -ENOMEM;
	out->size = o->size;
	out->last_modified = o->mtime;
	out->date = ms_now(ms);
	snprintf(out->etag, sizeof(out->etag), "%s", o->etag);
	out->content_type = a.content_type;
	out->meta = a.meta;
	out->nmeta = a.nmeta;
	return 0;
}

/* len bytes of fd at off into a new buffer (never NULL on success). */
static int read_fd(int fd, uint64_t off, uint64_t len, unsigned char **out)
{
	unsigned char *buf = malloc(len ? (size_t)len : 1);
	uint64_t done = 0;
	ssize_t r;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	while (done < len) {
		r = pread(fd, buf + done, (size_t)(len - done),
			  (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return r < 0 ? -errno : -EIO;
		}
		done += (uint64_t)r;
	}
	*out = buf;
	return 0;
}

static int write_fd(int fd, uint64_t off, const unsigned char *data,
		    uint64_t len)
{
	uint64_t done = 0;
	ssize_t w;

	while (done < len) {
		w = pwrite(fd, data + done, (size_t)(len - done),
			   (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (uint64_t)w;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reads */

static int ms_head(struct store *st, const char *key,
		   struct store_object *out)
{
	struct memstore *ms = to_ms(st);
	const struct ms_object *o;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ms->lock);
	o = obj_find(ms, key);
	if (o)
		rc = obj_describe(ms, o, out);
	rc = answer(ms, MS_OP_HEAD, key, NULL, o ? NULL : "NoSuchKey", rc);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/* The error code of a GET of key with If-Match if_match, or NULL. */
static const char *get_check(const struct memstore *ms, const char *key,
			     const char *if_match, struct ms_object **o)
{
	*o = obj_find(ms, key);
	if (!*o)
		return "NoSuchKey";
	if (if_match && if_match[0] && strcmp((*o)->etag, if_match))
		return "PreconditionFailed";
	return NULL;
}

static int ms_get_range(struct store *st, const char *key, uint64_t off,
			size_t len, const char *if_match, void *buf,
			size_t *got)
{
	struct memstore *ms = to_ms(st);
	struct ms_object *o;
	const char *code;
	int rc;

	*got = 0;
	if (len == 0)
		return 0; /* s3.c sends nothing */
	pthread_mutex_lock(&ms->lock);
	code = get_check(ms, key, if_match, &o);
	if (!code && off < o->size) { /* past the end: 416, 0 bytes */
		*got = o->size - off < len ? (size_t)(o->size - off) : len;
		memcpy(buf, o->data + off, *got);
		ms->n.bytes_down += *got;
	}
	rc = answer(ms, MS_OP_GET, key, NULL, code, 0);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static int ms_get_range_to_fd(struct store *st, const char *key,
			      uint64_t off, uint64_t len,
			      const char *if_match, int fd)
{
	struct memstore *ms = to_ms(st);
	struct ms_object *o;
	const char *code;
	int rc = 0;

	if (len == 0)
		return 0;
	pthread_mutex_lock(&ms->lock);
	code = get_check(ms, key, if_match, &o);
	if (!code && (off > o->size || len > o->size - off)) {
		rc = -EIO; /* 416 or a short 206: s3.c wants all len bytes */
	} else if (!code) {
		rc = write_fd(fd, off, o->data + off, len);
		ms->n.bytes_down += len;
	}
	rc = answer(ms, MS_OP_GET, key, NULL, code, rc);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static int ms_get_to_fd(struct store *st, const char *key,
			const char *if_match, int fd, uint64_t *size)
{
	struct memstore *ms = to_ms(st);
	struct ms_object *o;
	const char *code;
	int rc = 0;

	pthread_mutex_lock(&ms->lock);
	code = get_check(ms, key, if_match, &o);
	if (!code) {
		rc = write_fd(fd, 0, o->data, o->size);
		if (!rc && ftruncate(fd, (off_t)o->size) < 0)
			rc = -errno;
		if (!rc)
			*size = o->size;
		ms->n.bytes_down += o->size;
	}
	rc = answer(ms, MS_OP_GET, key, NULL, code, rc);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writes */

static bool condition_fails(const struct ms_object *cur,
			    const struct store_put_opts *opts)
{
	if (!opts)
		return false;
	if (opts->if_none_match)
		return cur != NULL;
	if (!opts->if_match || !opts->if_match[0])
		return false;
	return !cur || strcmp(cur->etag, opts->if_match);
}

/*
 * The 412 of a conditional PUT and s3_put_fd's HEAD after it: done if
 * the object has our body's ETag already, else -ENOENT (If-Match found
 * nothing) or -ESTALE.
 */
static int put_recheck(struct memstore *ms, const char *key,
		       const struct ms_object *cur,
		       const struct store_put_opts *opts, const char *etag,
		       char *etag_out)
{
	answer(ms, MS_OP_PUT, key, NULL, "PreconditionFailed", 0);
	answer(ms, MS_OP_HEAD, key, NULL, cur ? NULL : "NoSuchKey", 0);
	if (cur && !strcmp(cur->etag, etag)) {
		if (etag_out)
			snprintf(etag_out, 128, "%s", cur->etag);
		return 0;
	}
	return !cur && !opts->if_none_match ? -ENOENT : -ESTALE;
}

static int ms_put_fd(struct store *st, const char *key, int fd,
		     uint64_t size, const struct store_put_opts *opts,
		     char *etag_out)
{
	struct memstore *ms = to_ms(st);
	struct ms_object *o = NULL, *cur;
	unsigned char *data = NULL;
	const char *code;
	int rc = 0;

	if (opts && opts->nmeta > MEMSTORE_MAX_META)
		return -E2BIG;
	/* The body is read (and hashed) before anything is sent. */
	if (size <= MS_PUT_MAX) {
		rc = read_fd(fd, 0, size, &data);
		if (rc)
			return rc;
		o = obj_new(key, data, size, opts);
		if (!o)
			return -ENOMEM;
	}
	pthread_mutex_lock(&ms->lock);
	ms->n.bytes_up += size;
	code = write_check(ms, key, size);
	cur = code ? NULL : obj_find(ms, key);
	if (!code && condition_fails(cur, opts)) {
		rc = put_recheck(ms, key, cur, opts, o->etag, etag_out);
	} else {
		if (!code) {
			if (etag_out)
				snprintf(etag_out, 128, "%s", o->etag);
			rc = obj_insert(ms, o);
			o = NULL;
			note_write(ms, key);
		}
		rc = answer(ms, MS_OP_PUT, key, NULL, code, rc);
	}
	pthread_mutex_unlock(&ms->lock);
	obj_free(o);
	return rc;
}

static int ms_copy(struct store *st, const char *src, const char *dst,
		   const struct store_put_opts *opts)
{
	struct memstore *ms = to_ms(st);
	struct store_put_opts keep;
	struct ms_object *from;
	unsigned char *data;
	const char *code;
	int rc = 0;

	if (opts && opts->nmeta > MEMSTORE_MAX_META)
		return -E2BIG;
	pthread_mutex_lock(&ms->lock);
	code = write_check(ms, dst, 0);
	from = code ? NULL : obj_find(ms, src);
	if (!code && !from)
		code = "NoSuchKey";
	else if (!code && !opts && !strcmp(src, dst))
		code = "InvalidRequest"; /* S3: copy onto itself, unchanged */
	if (code)
		goto out;
	/* Metadata from opts (REPLACE) or kept (COPY).  The ETag is the MD5
	 * of the bytes (S3: the source's for a single-PUT source). */
	keep = attrs_opts(&from->a);
	data = dup_bytes(from->data, from->size);
	rc = obj_insert(ms, data ? obj_new(dst, data, from->size,
					   opts ? opts : &keep)
				 : NULL);
	if (!rc)
		note_write(ms, dst);
out:
	rc = answer(ms, MS_OP_COPY, src, dst, code, rc);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static int ms_remove(struct store *st, const char *key)
{
	struct memstore *ms = to_ms(st);
	const char *code;
	int rc;

	pthread_mutex_lock(&ms->lock);
	code = write_check(ms, key, 0);
	if (!code) {
		obj_remove(ms, key); /* a missing key is 204 too */
		note_write(ms, key);
	}
	rc = answer(ms, MS_OP_DELETE, key, NULL, code, 0);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Listing */

/* Compare the first len bytes of k, as a string, with s. */
static int item_cmp(const char *k, size_t len, const char *s)
{
	size_t slen = strlen(s);
	int c = memcmp(k, s, len < slen ? len : slen);

	if (c)
		return c;
	return len < slen ? -1 : len > slen;
}

/* One page of at most max items after the item token and the key
 * after (either may be NULL). */
static int list_walk(const struct memstore *ms, const char *prefix,
		     const char *delim, const char *token, const char *after,
		     unsigned max, struct store_list *out)
{
	size_t plen = strlen(prefix), dlen = delim ? strlen(delim) : 0;
	size_t i, ilen, lastlen = 0, tlen;
	const char *last = NULL, *d;
	unsigned items = 0;
	bool found;

	out->entries = calloc(max, sizeof(*out->entries));
	out->prefixes = calloc(max, sizeof(*out->prefixes));
	if (!out->entries || !out->prefixes)
		return -ENOMEM;
	for (i = obj_index(ms, prefix, &found); i < ms->nobjs; i++) {
		const struct ms_object *o = ms->objs[i];
		struct store_list_entry *e;

		if (strncmp(o->key, prefix, plen))
			break;
		if (after && strcmp(o->key, after) <= 0)
			continue;
		d = delim ? strstr(o->key + plen, delim) : NULL;
		ilen = d ? (size_t)(d - o->key) + dlen : strlen(o->key);
		if (token && item_cmp(o->key, ilen, token) <= 0)
			continue;
		if (last && ilen == lastlen && !memcmp(o->key, last, ilen))
			continue; /* the common prefix given already */
		if (items == max) {
			out->truncated = true;
			break;
		}
		items++;
		last = o->key;
		lastlen = ilen;
		if (d) {
			out->prefixes[out->nprefixes] = strndup(o->key, ilen);
			if (!out->prefixes[out->nprefixes++])
				return -ENOMEM;
			continue;
		}
		e = &out->entries[out->nentries++];
		e->key = strdup(o->key);
		e->etag = strdup(o->etag);
		e->size = o->size;
		e->mtime = o->mtime;
		if (!e->key || !e->etag)
			return -ENOMEM;
	}
	if (!out->truncated)
		return 0;
	tlen = strlen(MS_TOKEN) + lastlen + 1;
	out->next_token = malloc(tlen);
	if (!out->next_token)
		return -ENOMEM;
	snprintf(out->next_token, tlen, "%s%.*s", MS_TOKEN, (int)lastlen,
		 last);
	return 0;
}

static int list_page(struct store *st, const char *prefix,
		     const char *delim, const char *token, const char *after,
		     unsigned max_keys, struct store_list *out)
{
	struct memstore *ms = to_ms(st);
	const char *code = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!prefix)
		prefix = "";
	if (delim && !delim[0])
		delim = NULL;
	if (max_keys == 0 || max_keys > MS_LIST_MAX)
		max_keys = MS_LIST_MAX;
	pthread_mutex_lock(&ms->lock);
	if (token && strncmp(token, MS_TOKEN, strlen(MS_TOKEN)))
		code = "InvalidArgument"; /* not a token of ours */
	else
		rc = list_walk(ms, prefix, delim,
			       token ? token + strlen(MS_TOKEN) : NULL, after,
			       max_keys, out);
	rc = answer(ms, MS_OP_LIST, prefix, NULL, code, rc);
	pthread_mutex_unlock(&ms->lock);
	if (rc)
		store_list_release(out);
	return rc;
}

static int ms_list(struct store *st, const char *prefix, const char *delim,
		   const char *token, unsigned max_keys,
		   struct store_list *out)
{
	return list_page(st, prefix, delim, token, NULL, max_keys, out);
}

static int ms_list_after(struct store *st, const char *prefix,
			 const char *delim, const char *start_after,
			 unsigned max_keys, struct store_list *out)
{
	return list_page(st, prefix, delim, NULL, start_after, max_keys, out);
}

/* ------------------------------------------------------------------ */
/* Multipart uploads */

static void upload_free(struct ms_upload *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->nparts; i++)
		free(u->parts[i].data);
	free(u->parts);
	attrs_release(&u->a);
	free(u->id);
	free(u->key);
	free(u);
}

/* The upload id of key (S3: NoSuchUpload for another key's id too). */
static struct ms_upload **upload_find(struct memstore *ms, const char *key,
				      const char *id)
{
	struct ms_upload **u;

	for (u = &ms->uploads; *u; u = &(*u)->next)
		if (!strcmp((*u)->id, id) && !strcmp((*u)->key, key))
			return u;
	return NULL;
}

static struct ms_part *part_find(struct ms_upload *u, unsigned number)
{
	size_t i;

	for (i = 0; i < u->nparts; i++)
		if (u->parts[i].number == number)
			return &u->parts[i];
	return NULL;
}

/* Make *data (taken over: NULL afterwards) part number of u, replacing
 * one sent before; its ETag (hex MD5) into etag_out.  0 or -ENOMEM. */
static int part_store(struct ms_upload *u, unsigned number,
		      unsigned char **data, uint64_t len, char *etag_out)
{
	struct ms_part *p, *grown;

	p = part_find(u, number);
	if (!p) { /* a part sent again replaces the first one */
		grown = realloc(u->parts, (u->nparts + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		u->parts = grown;
		p = &grown[u->nparts++];
		p->data = NULL;
	}
	free(p->data);
	p->number = number;
	p->data = *data;
	p->len = len;
	*data = NULL;
	md5_raw(p->data, (size_t)len, p->md5);
	hex(p->md5, 16, p->etag);
	snprintf(etag_out, 128, "%s", p->etag);
	return 0;
}

static int ms_mp_create(struct store *st, const char *key,
			const struct store_put_opts *opts, char **upload_id)
{
	struct memstore *ms = to_ms(st);
	struct ms_upload *u = calloc(1, sizeof(*u));
	const char *code = NULL;
	char id[32];
	int rc = 0;

	*upload_id = NULL;
	if (opts && opts->nmeta > MEMSTORE_MAX_META)
		rc = -E2BIG;
	else if (!u || attrs_set(&u->a, opts))
		rc = -ENOMEM;
	if (rc)
		goto out;
	pthread_mutex_lock(&ms->lock);
	snprintf(id, sizeof(id), "ms-upload-%u", ++ms->upload_seq);
	u->id = strdup(id);
	u->key = strdup(key);
	*upload_id = strdup(id);
	if (strlen(key) > MS_KEY_MAX)
		code = "KeyTooLongError";
	else if (!u->id || !u->key || !*upload_id)
		rc = -ENOMEM;
	if (!code && !rc) {
		u->next = ms->uploads;
		ms->uploads = u;
		u = NULL;
	}
	rc = answer(ms, MS_OP_MP_CREATE, key, NULL, code, rc);
	pthread_mutex_unlock(&ms->lock);
	if (rc) {
		free(*upload_id);
		*upload_id = NULL;
	}
out:
	upload_free(u);
	return rc;
}

static int ms_mp_upload_part(struct store *st, const char *key,
			     const char *upload_id, unsigned part_number,
			     int fd, uint64_t offset, uint64_t len,
			     char *etag_out)
{
	struct memstore *ms = to_ms(st);
	struct ms_upload **u;
	unsigned char *data = NULL;
	const char *code = NULL;
	int rc = 0;

	etag_out[0] = '\0';
	if (part_number < 1 || part_number > MS_MAX_PARTS)
		return -EINVAL; /* s3.c checks it */
	if (len <= MS_PUT_MAX) {
		rc = read_fd(fd, offset, len, &data);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&ms->lock);
	ms->n.bytes_up += len;
	u = upload_find(ms, key, upload_id);
	if (!u)
		code = "NoSuchUpload";
	else if (len > MS_PUT_MAX)
		code = "EntityTooLarge";
	if (code)
		goto out;
	rc = part_store(*u, part_number, &data, len, etag_out);
out:
	rc = answer(ms, MS_OP_MP_PART, key, NULL, code, code ? 0 : rc);
	pthread_mutex_unlock(&ms->lock);
	free(data);
	return rc;
}

/*
 * UploadPartCopy as R2 answers it: the source must exist (NoSuchKey) and
 * be the version asked for (x-amz-copy-source-if-match: 412), the range
 * inside it (InvalidRange).  Nothing goes up but the request.
 */
static int ms_mp_copy_part(struct store *st, const char *key,
			   const char *upload_id, unsigned part_number,
			   const char *src, const char *src_etag,
			   uint64_t offset, uint64_t len, char *etag_out)
{
	struct memstore *ms = to_ms(st);
	const struct ms_object *o;
	struct ms_upload **u;
	unsigned char *data = NULL;
	const char *code = NULL;
	int rc = 0;

	etag_out[0] = '\0';
	if (part_number < 1 || part_number > MS_MAX_PARTS || len == 0 ||
	    !src_etag || !src_etag[0])
		return -EINVAL; /* s3.c checks it */
	pthread_mutex_lock(&ms->lock);
	u = upload_find(ms, key, upload_id);
	o = obj_find(ms, src);
	if (!u)
		code = "NoSuchUpload";
	else if (!o)
		code = "NoSuchKey";
	else if (strcmp(o->etag, src_etag))
		code = "PreconditionFailed";
	else if (offset >= o->size || len > o->size - offset)
		code = "InvalidRange";
	else if (len > MS_PUT_MAX)
		code = "EntityTooLarge";
	if (code)
		goto out;
	data = dup_bytes(o->data + offset, len);
	if (!data) {
		rc = -ENOMEM;
		goto out;
	}
	rc = part_store(*u, part_number, &data, len, etag_out);
out:
	rc = answer(ms, MS_OP_MP_COPY, src, key, code, code ? 0 : rc);
	pthread_mutex_unlock(&ms->lock);
	free(data);
	return rc;
}

/*
 * S3's and R2's checks of a part list, as error codes: numbers strictly
 * ascending, each an uploaded part with its ETag, all but the last at
 * least min_part bytes and of one size, the last no larger (R2).
 */
static const char *parts_check(const struct memstore *ms,
			       struct ms_upload *u,
			       const struct store_part *parts, size_t n)
{
	const struct ms_part *p, *first = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0 && parts[i].number <= parts[i - 1].number)
			return "InvalidPartOrder";
		p = part_find(u, parts[i].number);
		if (!p || strcmp(p->etag, parts[i].etag))
			return "InvalidPart";
		if (!first)
			first = p;
		if (i + 1 < n && p->len < ms->min_part)
			return "EntityTooSmall";
		if (i + 1 < n ? p->len != first->len : p->len > first->len)
			return "InvalidPart";
	}
	return NULL;
}

/* The object of a checked part list: bytes joined, ETag "md5-N" (the MD5
 * of the parts' binary MD5s). */
static int assemble(struct ms_upload *u, const struct store_part *parts,
		    size_t n, struct ms_object **out)
{
	unsigned char *data = NULL, *mds = NULL, md[16];
	struct store_put_opts keep;
	uint64_t size = 0, at = 0;
	const struct ms_part *p;
	size_t i;

	for (i = 0; i < n; i++)
		size += part_find(u, parts[i].number)->len;
	data = malloc(size ? (size_t)size : 1);
	mds = malloc(16 * n);
	if (!data || !mds) {
		free(data);
		free(mds);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		p = part_find(u, parts[i].number);
		memcpy(data + at, p->data, (size_t)p->len);
		memcpy(mds + 16 * i, p->md5, 16);
		at += p->len;
	}
	keep = attrs_opts(&u->a);
	*out = obj_new(u->key, data, size, &keep);
	if (*out) {
		md5_raw(mds, 16 * n, md);
		hex(md, 16, (*out)->etag);
		snprintf((*out)->etag + 32, sizeof((*out)->etag) - 32, "-%zu",
			 n);
	}
	free(mds);
	return *out ? 0 : -ENOMEM;
}

static int ms_mp_complete(struct store *st, const char *key,
			  const char *upload_id,
			  const struct store_part *parts, size_t nparts,
			  char *etag_out)
{
	struct memstore *ms = to_ms(st);
	struct ms_object *o = NULL;
	struct ms_upload **u = NULL, *done;
	const char *code;
	int rc = 0;

	if (etag_out)
		etag_out[0] = '\0';
	if (nparts == 0 || nparts > MS_MAX_PARTS)
		return -EINVAL; /* s3.c checks it */
	pthread_mutex_lock(&ms->lock);
	code = write_check(ms, key, 0);
	if (!code)
		u = upload_find(ms, key, upload_id);
	if (!code && !u)
		code = "NoSuchUpload";
	if (!code)
		code = parts_check(ms, *u, parts, nparts);
	if (code)
		goto out;
	rc = assemble(*u, parts, nparts, &o);
	if (rc)
		goto out;
	if (etag_out && !ms->complete_no_etag)
		snprintf(etag_out, 128, "%s", o->etag);
	rc = obj_insert(ms, o);
	if (rc)
		goto out;
	done = *u;
	*u = done->next;
	upload_free(done);
	note_write(ms, key);
out:
	rc = answer(ms, MS_OP_MP_COMPLETE, key, NULL, code, rc);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static int ms_mp_abort(struct store *st, const char *key,
		       const char *upload_id)
{
	struct memstore *ms = to_ms(st);
	struct ms_upload **u, *gone;
	int rc;

	pthread_mutex_lock(&ms->lock);
	u = upload_find(ms, key, upload_id);
	if (u) {
		gone = *u;
		*u = gone->next;
		upload_free(gone);
	}
	rc = answer(ms, MS_OP_MP_ABORT, key, NULL, u ? NULL : "NoSuchUpload",
		    0);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/* ------------------------------------------------------------------ */

static void ms_stats(struct store *st, struct store_stats *out)
{
	struct memstore *ms = to_ms(st);

	pthread_mutex_lock(&ms->lock);
	*out = ms->n;
	pthread_mutex_unlock(&ms->lock);
}

static void ms_destroy(struct store *st)
{
	struct memstore *ms = to_ms(st);
	struct ms_upload *u;
	size_t i;

	if (!ms)
		return;
	for (i = 0; i < ms->nobjs; i++)
		obj_free(ms->objs[i]);
	while (ms->uploads) {
		u = ms->uploads;
		ms->uploads = u->next;
		upload_free(u);
	}
	for (i = 0; i < ms->nwrites; i++)
		free(ms->writes[i].key);
	free(ms->writes);
	free(ms->objs);
	free(ms->log);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

static const struct store_ops ms_ops = {
	.head = ms_head,
	.get_range = ms_get_range,
	.get_range_to_fd = ms_get_range_to_fd,
	.get_to_fd = ms_get_to_fd,
	.put_fd = ms_put_fd,
	.list = ms_list,
	.list_after = ms_list_after,
	.remove = ms_remove,
	.copy = ms_copy,
	.mp_create = ms_mp_create,
	.mp_upload_part = ms_mp_upload_part,
	.mp_copy_part = ms_mp_copy_part,
	.mp_complete = ms_mp_complete,
	.mp_abort = ms_mp_abort,
	.stats = ms_stats,
	.destroy = ms_destroy,
};

struct memstore *memstore_new(void)
{
	struct memstore *ms = calloc(1, sizeof(*ms));

	if (!ms)
		return NULL;
	if (pthread_mutex_init(&ms->lock, NULL)) {
		free(ms);
		return NULL;
	}
	ms->base.ops = &ms_ops;
	ms->min_part = MEMSTORE_MIN_PART_DEFAULT;
	return ms;
}

struct store *memstore_store(struct memstore *ms)
{
	return &ms->base;
}

void memstore_set_clock(struct memstore *ms, time_t now)
{
	pthread_mutex_lock(&ms->lock);
	ms->clock = now;
	pthread_mutex_unlock(&ms->lock);
}

void memstore_advance(struct memstore *ms, time_t seconds)
{
	pthread_mutex_lock(&ms->lock);
	ms->clock = ms_now(ms) + seconds;
	pthread_mutex_unlock(&ms->lock);
}

time_t memstore_clock(struct memstore *ms)
{
	time_t now;

	pthread_mutex_lock(&ms->lock);
	now = ms_now(ms);
	pthread_mutex_unlock(&ms->lock);
	return now;
}

void memstore_set_complete_etag(struct memstore *ms, bool on)
{
	pthread_mutex_lock(&ms->lock);
	ms->complete_no_etag = !on;
	pthread_mutex_unlock(&ms->lock);
}

void memstore_set_min_part(struct memstore *ms, uint64_t bytes)
{
	pthread_mutex_lock(&ms->lock);
	ms->min_part = bytes;
	pthread_mutex_unlock(&ms->lock);
}

void memstore_set_write_limit(struct memstore *ms, bool on)
{
	pthread_mutex_lock(&ms->lock);
	ms->write_limit = on;
	pthread_mutex_unlock(&ms->lock);
}

uint64_t memstore_count(struct memstore *ms, enum ms_op op)
{
	uint64_t n;

	pthread_mutex_lock(&ms->lock);
	n = op < MS_OP_COUNT ? ms->counts[op] : 0;
	pthread_mutex_unlock(&ms->lock);
	return n;
}

char *memstore_log(struct memstore *ms)
{
	char *copy;

	pthread_mutex_lock(&ms->lock);
	copy = strndup(ms->log ? ms->log : "", ms->loglen);
	pthread_mutex_unlock(&ms->lock);
	return copy;
}

void memstore_log_reset(struct memstore *ms)
{
	pthread_mutex_lock(&ms->lock);
	ms->loglen = 0;
	memset(ms->counts, 0, sizeof(ms->counts));
	pthread_mutex_unlock(&ms->lock);
}

int memstore_put_bytes(struct memstore *ms, const char *key, const void *data,
		       size_t len, const struct store_put_opts *opts)
{
	unsigned char *copy;
	int rc;

	if (strlen(key) > MS_KEY_MAX)
		return -ENAMETOOLONG;
	if (opts && opts->nmeta > MEMSTORE_MAX_META)
		return -E2BIG;
	copy = dup_bytes(data, len);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&ms->lock);
	rc = obj_insert(ms, obj_new(key, copy, len, opts));
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

int memstore_get_bytes(struct memstore *ms, const char *key, void **data,
		       size_t *len, struct store_object *obj)
{
	const struct ms_object *o;
	int rc = 0;

	*data = NULL;
	*len = 0;
	if (obj)
		memset(obj, 0, sizeof(*obj));
	pthread_mutex_lock(&ms->lock);
	o = obj_find(ms, key);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	*data = dup_bytes(o->data, o->size);
	if (!*data) {
		rc = -ENOMEM;
		goto out;
	}
	*len = (size_t)o->size;
	if (obj)
		rc = obj_describe(ms, o, obj);
	if (rc) {
		free(*data);
		*data = NULL;
		*len = 0;
	}
out:
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

bool memstore_exists(struct memstore *ms, const char *key)
{
	bool found;

	pthread_mutex_lock(&ms->lock);
	found = obj_find(ms, key) != NULL;
	pthread_mutex_unlock(&ms->lock);
	return found;
}

int memstore_delete(struct memstore *ms, const char *key)
{
	bool found;

	pthread_mutex_lock(&ms->lock);
	found = obj_remove(ms, key);
	pthread_mutex_unlock(&ms->lock);
	return found ? 0 : -ENOENT;
}

char *memstore_keys(struct memstore *ms)
{
	size_t i, len = 1, at = 0;
	char *out;

	pthread_mutex_lock(&ms->lock);
	for (i = 0; i < ms->nobjs; i++)
		len += strlen(ms->objs[i]->key) + 1;
	out = malloc(len);
	for (i = 0; out && i < ms->nobjs; i++)
		at += (size_t)snprintf(out + at, len - at, "%s\n",
				       ms->objs[i]->key);
	if (out)
		out[at] = '\0';
	pthread_mutex_unlock(&ms->lock);
	return out;
}

size_t memstore_uploads(struct memstore *ms)
{
	const struct ms_upload *u;
	size_t n = 0;

	pthread_mutex_lock(&ms->lock);
	for (u = ms->uploads; u; u = u->next)
		n++;
	pthread_mutex_unlock(&ms->lock);
	return n;
}
