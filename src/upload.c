/*
 * upload.c - one upload of a file: request, conditions, conflict copy.
 *
 * Contents: a single PUT up to the multipart threshold, else a multipart
 * upload with equal parts (multipart.h), whose parts unchanged since the
 * version the stage was made from or last uploaded as are copied from
 * that version on the server (UploadPartCopy, pinned to its ETag) rather
 * than sent: a small change to a big file sends the parts it touched.
 * The condition (journal.h's base) rides a single PUT as If-Match /
 * If-None-Match; a multipart upload is checked with a HEAD before its
 * parts go up, since not every S3 server checks conditions on
 * CompleteMultipartUpload.  A failed
 * condition (-ESTALE) saves ours under a conflict name with
 * If-None-Match: *, trying -2, -3, ... when taken.
 *
 * Metadata alone: CopyObject of the key onto itself with the new headers
 * (a directory: a PUT of the zero-byte marker "path/").  Either replaces
 * all user metadata, so when the caller does not know the object's
 * xattrs they are fetched first (one HEAD) and kept.
 */
#include "upload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meta.h"
#include "mime.h"
#include "multipart.h"
#include "stage.h"
#include "store.h"
#include "xattr.h"

/* PREFIX + path, and "/" after a directory's (its marker); malloc'd. */
static char *key_for(const char *prefix, const char *path, bool dir)
{
	size_t n = strlen(prefix) + strlen(path) + 2;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s%s%s", prefix, path, dir ? "/" : "");
	return k;
}

void upload_result_release(struct upload_result *res)
{
	free(res->conflict);
	free(res->xattrs);
	res->conflict = NULL;
	res->xattrs = NULL;
}

char *upload_conflict_path(const char *path, time_t when, unsigned n)
{
	const char *name = strrchr(path, '/');
	const char *dot;
	char tag[64];
	struct tm tm;
	size_t head, len;
	char *out;

	name = name ? name + 1 : path;
	/* before the extension, so the copy opens like the original */
	dot = strrchr(name, '.');
	if (!dot || dot == name)
		dot = name + strlen(name);
	gmtime_r(&when, &tm);
	len = strftime(tag, sizeof(tag), ".conflict-%Y%m%d-%H%M%S", &tm);
	if (n > 1)
		snprintf(tag + len, sizeof(tag) - len, "-%u", n);
	head = (size_t)(dot - path);
	len = strlen(path) + strlen(tag) + 1;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%.*s%s%s", (int)head, path, tag, dot);
	return out;
}

/* The object's encoded xattrs (one HEAD) into *out, malloc'd ("" when it
 * has none).  -ENOENT when there is no object. */
static int object_xattrs(struct store *s, const char *key, char **out)
{
	struct store_object obj = { 0 };
	struct xattrs x = { 0 };
	const char *h;
	int rc;

	*out = NULL;
	rc = s->ops->head(s, key, &obj);
	if (!rc) {
		h = store_object_meta(&obj, "xattr");
		/* one we cannot read is not sent again */
		if (h && xattrs_decode(h, &x))
			h = NULL;
		*out = strdup(h ? h : "");
		if (!*out)
			rc = -ENOMEM;
	}
	xattrs_release(&x);
	store_object_release(&obj);
	return rc;
}

/* What one upload of the stage may do and did, across its attempts. */
struct put_state {
	bool may_copy;      /* copy unchanged parts from the stage's base */
	char expected[128]; /* a multipart upload's ETag as S3 forms it
			       (multipart.h), or "" */
};

/*
 * Is src still at version src_etag?  The HEAD put_over_base just made
 * answers for the key itself; another key (the file was renamed since
 * its stage was made) costs one HEAD.  Not every server checks the copy's
 * condition (Ceph RGW ignores x-amz-copy-source-if-match): this keeps a
 * replaced source from being copied there, but for a race of moments.
 */
static bool source_current(struct store *s, const struct upload_req *req,
			   const char *key, const char *src,
			   const char *src_etag)
{
	struct store_object obj = { 0 };
	bool same;

	if (!strcmp(src, key) && req->base == JOURNAL_BASE_ETAG &&
	    !strcmp(req->base_etag, src_etag))
		return true;
	same = s->ops->head(s, src, &obj) == 0 && !strcmp(obj.etag, src_etag);
	store_object_release(&obj);
	return same;
}

/*
 * A multipart upload of the stage: the parts whose bytes are still those
 * of the version the stage was made from or last uploaded as are copied
 * from it on the server (stage_copy_plan, multipart_put_fd_copy); the
 * others are sent.  The stage is whole all the same (stage_complete), so
 * a copy that fails sends its part instead.
 */
static int put_parts(struct store *s, const struct upload_req *req,
		     const char *key, struct store_put_opts *opts,
		     struct put_state *ps, char *etag)
{
	uint64_t part = multipart_part_size(req->size), nparts;
	struct multipart_copy mc = { 0 };
	char src_etag[128];
	char *src = NULL;
	bool *plan = NULL;
	int n = 0, rc;

	if (!part)
		return -EFBIG;
	nparts = multipart_part_count(req->size, part);
	ps->expected[0] = '\0';
	if (ps->may_copy && s->ops->mp_copy_part) {
		plan = calloc((size_t)nparts, sizeof(*plan));
		if (!plan)
			return -ENOMEM;
		n = stage_copy_plan(req->stage, req->size, part, plan, nparts,
				    &src, src_etag);
		if (n < 0) {
			rc = n;
			goto out;
		}
		if (n > 0 && !source_current(s, req, key, src, src_etag))
			n = 0;
	}
	mc.key = src;
	mc.etag = src_etag;
	mc.parts = n > 0 ? plan : NULL;
	mc.nparts = (unsigned)nparts;
	rc = multipart_put_fd_copy(s, key, req->stage->fd, req->size, opts,
				   req->part_parallel, &mc, etag);
	snprintf(ps->expected, sizeof(ps->expected), "%s", mc.etag_expected);
	if (n > 0)
		log_debug("%s: %u of %llu parts copied from %s, %u sent "
			  "instead, %llu sent as changed", key, mc.copied,
			  (unsigned long long)nparts, src, mc.fallback,
			  (unsigned long long)(nparts - (uint64_t)n));
out:
	free(src);
	free(plan);
	return rc;
}

/* One upload of st's size bytes as key: a PUT, or multipart when big
 * (copying unchanged parts if ps allows). */
static int put_object(struct store *s, const struct upload_req *req,
		      const char *key, struct store_put_opts *opts,
		      struct put_state *ps, char *etag)
{
	if (req->size > req->multipart_threshold)
		return put_parts(s, req, key, opts, ps, etag);
	ps->expected[0] = '\0';
	return s->ops->put_fd(s, key, req->stage->fd, req->size, opts, etag);
}

/*
 * Upload as key only over base: -ESTALE when another client's version is
 * in the way.
 */
static int put_over_base(struct store *s, const struct upload_req *req,
			 const char *key, struct store_put_opts *opts,
			 enum journal_base base, struct put_state *ps,
			 char *etag)
{
	struct store_object obj = { 0 };
	int rc;

	if (base == JOURNAL_BASE_ANY)
		return put_object(s, req, key, opts, ps, etag);
	if (req->size > req->multipart_threshold) {
		rc = s->ops->head(s, key, &obj);
		if (rc == 0 && (base == JOURNAL_BASE_NONE ||
				strcmp(obj.etag, req->base_etag)))
			rc = -ESTALE;
		else if (rc == -ENOENT)
			rc = 0; /* deleted meanwhile: ours takes the name */
		store_object_release(&obj);
		return rc ? rc : put_object(s, req, key, opts, ps, etag);
	}
	opts->if_none_match = base == JOURNAL_BASE_NONE;
	opts->if_match = base == JOURNAL_BASE_ETAG ? req->base_etag : NULL;
	rc = put_object(s, req, key, opts, ps, etag);
	if (rc == -ENOENT && base == JOURNAL_BASE_ETAG) {
		/* deleted meanwhile: ours takes the name unless a third
		 * version got there first */
		opts->if_match = NULL;
		opts->if_none_match = true;
		rc = put_object(s, req, key, opts, ps, etag);
	}
	opts->if_match = NULL;
	opts->if_none_match = false;
	return rc;
}

/* Save ours beside another client's version: a new name, never over an
 * existing object.  *cpath receives the path used. */
static int put_conflict_copy(struct store *s, const struct upload_req *req,
			     struct store_put_opts *opts, char *etag,
			     char **cpath)
{
	/* nothing copied: the version we would copy from is likely the one
	 * another client just replaced, and not every server checks
	 * x-amz-copy-source-if-match (Ceph RGW ignores it) */
	struct put_state ps = { .may_copy = false };
	time_t now = time(NULL);
	char *p = NULL, *key = NULL;
	unsigned n;
	int rc = -ESTALE;

	for (n = 1; n <= 10 && rc == -ESTALE; n++) {
		free(p);
		free(key);
		p = upload_conflict_path(req->path, now, n);
		key = p ? key_for(req->prefix, p, false) : NULL;
		if (!key) {
			rc = -ENOMEM;
			break;
		}
		rc = put_over_base(s, req, key, opts, JOURNAL_BASE_NONE,
				   &ps, etag);
	}
	free(key);
	if (rc) {
		free(p);
		return rc;
	}
	*cpath = p;
	return 0;
}

/* Headers for req: metadata, xattrs (from req or as fetched), type. */
static void fill_opts(const struct upload_req *req, const char *xattrs,
		      bool dir, struct meta_headers *mh,
		      struct store_put_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	meta_to_headers(req->attr, mh);
	meta_headers_add_ctime(mh, req->attr);
	meta_headers_add_xattrs(mh, xattrs);
	opts->meta = mh->kv;
	opts->nmeta = mh->n;
	if (!dir)
		opts->content_type = mime_type_for(req->path);
}

static int upload_meta(struct store *s, const struct upload_req *req,
		       const char *key, const char *xattrs,
		       struct upload_result *res)
{
	bool dir = S_ISDIR(req->attr->st_mode);
	struct store_put_opts opts;
	struct meta_headers mh;
	int rc;

	fill_opts(req, xattrs, dir, &mh, &opts);
	if (dir)
		rc = s->ops->put_fd(s, key, -1, 0, &opts, NULL);
	else
		rc = s->ops->copy(s, key, key, &opts);
	if (rc == -ENOENT) {
		res->gone = true;
		rc = 0;
	}
	return rc;
}

static int upload_data(struct store *s, const struct upload_req *req,
		       const char *key, const char *xattrs,
		       struct upload_result *res)
{
	struct put_state ps = { .may_copy = true };
	struct store_put_opts opts;
	struct meta_headers mh;
	bool mine = true; /* res->etag names what we sent */
	int rc;

	rc = stage_complete(req->stage, s); /* whole since its commit */
	if (rc)
		return rc;
	fill_opts(req, xattrs, false, &mh, &opts);
	rc = put_over_base(s, req, key, &opts, req->base, &ps, res->etag);
	if (rc == -ESTALE) {
		/* another client changed or created it since we read it:
		 * theirs stays, ours goes beside it */
		rc = put_conflict_copy(s, req, &opts, res->etag,
				       &res->conflict);
	} else if (!rc && !res->etag[0]) {
		/* some servers answer CompleteMultipartUpload without an
		 * ETag; it is needed (reads pin it, writes download with
		 * it) */
		struct store_object obj = { 0 };

		if (s->ops->head(s, key, &obj) == 0)
			snprintf(res->etag, sizeof(res->etag), "%s",
				 obj.etag);
		store_object_release(&obj);
		/* another client's version may have come in meanwhile:
		 * unless the ETag is the one S3 forms from our parts */
		mine = ps.expected[0] && !strcmp(res->etag, ps.expected);
	}
	/* what went up is the base of the next upload's copies; after a
	 * conflict the key holds another version: nothing to copy from,
	 * nor from a version that may not be ours.  (Out of memory:
	 * nothing either, which is only slower.) */
	if (!rc)
		stage_set_copy_base(req->stage, key,
				    res->conflict || !mine ? "" : res->etag,
				    req->size);
	return rc;
}

int upload_run(struct store *s, const struct upload_req *req,
	       struct upload_result *res)
{
	bool dir = !req->stage && S_ISDIR(req->attr->st_mode);
	char *key = key_for(req->prefix, req->path, dir);
	const char *xattrs = req->xattrs;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!key)
		return -ENOMEM;
	if (!xattrs) {
		/* the PUT or COPY replaces all metadata: keep the object's */
		rc = object_xattrs(s, key, &res->xattrs);
		if (rc == -ENOENT && (dir || req->stage))
			rc = 0; /* none yet (implied) or gone: none to keep */
		else if (rc == -ENOENT)
			res->gone = true; /* metadata of nothing */
		xattrs = res->xattrs ? res->xattrs : "";
	}
	if (!rc && !res->gone)
		rc = req->stage ? upload_data(s, req, key, xattrs, res)
				: upload_meta(s, req, key, xattrs, res);
	if (rc)
		upload_result_release(res);
	free(key);
	return rc;
}
