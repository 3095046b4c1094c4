/*
 * multipart.c - one multipart upload, parts sent by a few threads.
 *
 * The part size is fixed for the whole upload (R2 rejects uploads whose
 * parts, but the last, differ in size), so part n always covers bytes
 * [(n - 1) * part, min(n * part, size)) of the file and can be sent by any
 * thread in any order.  The threads share one job: under its mutex each
 * takes the next part number, and the first error stops everyone from
 * taking more.  Each thread writes only its own parts' slots in the ETag
 * table; the join makes them visible to the completing thread.
 *
 *   create --> parts (parallel) --> complete --> done
 *                  | error              | error
 *                  v                    v
 *                abort (best effort), return the first error
 *
 * A part that fails with a transient error (the store's own retries spent)
 * is sent again a few times before the upload gives up: one bad part of a
 * multi-GiB file must not throw away every part already sent.
 *
 * With a copy source (multipart_put_fd_copy), the parts it marks are
 * copied on the server (UploadPartCopy) instead of sent; the first copy
 * that fails turns that part and all later ones into plain sends, so a
 * source that changed meanwhile costs bytes, never correctness.
 */
#include "multipart.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "log.h"
#include "util.h"

/* More threads than this would only queue for HTTP handles. */
#define MULTIPART_MAX_THREADS 64
/* Sends of one part, each with the store's retries, when errors are
 * transient; the pause between them doubles from the first. */
#define MULTIPART_PART_SENDS 3
#define MULTIPART_PART_PAUSE_MS 500

struct mp_job {
	struct store *s;
	struct multipart_copy *copy; /* NULL: send every part; its
					counters protected by lock */
	bool copy_broken;         /* protected by lock: copy no more */
	const char *key;
	const char *upload_id;
	int fd;
	uint64_t size;
	uint64_t part;            /* part size */
	unsigned nparts;
	struct store_part *parts; /* slot n - 1 written by part n's thread */
	pthread_mutex_t lock;
	unsigned next;            /* protected by lock: next part to send */
	int err;                  /* protected by lock: first error, or 0 */
};

uint64_t multipart_part_size(uint64_t size)
{
	uint64_t part;

	if (size > MULTIPART_MAX_OBJECT)
		return 0;
	part = size / MULTIPART_MAX_PARTS +
	       (size % MULTIPART_MAX_PARTS ? 1 : 0);
	if (part < MULTIPART_PART_FLOOR)
		part = MULTIPART_PART_FLOOR;
	part = (part + MULTIPART_MIB - 1) / MULTIPART_MIB * MULTIPART_MIB;
	if (part > SINGLE_PUT_MAX) /* not reachable below the object cap */
		return 0;
	return part;
}

uint64_t multipart_part_count(uint64_t size, uint64_t part)
{
	if (size == 0)
		return 1;
	return size / part + (size % part ? 1 : 0);
}

/* Take the next part number, or 0 when done or after an error. */
static unsigned job_take(struct mp_job *j)
{
	unsigned n = 0;

	pthread_mutex_lock(&j->lock);
	if (!j->err && j->next <= j->nparts)
		n = j->next++;
	pthread_mutex_unlock(&j->lock);
	return n;
}

static void job_fail(struct mp_job *j, int err)
{
	pthread_mutex_lock(&j->lock);
	if (!j->err)
		j->err = err;
	pthread_mutex_unlock(&j->lock);
}

static bool job_failed(struct mp_job *j)
{
	bool failed;

	pthread_mutex_lock(&j->lock);
	failed = j->err != 0;
	pthread_mutex_unlock(&j->lock);
	return failed;
}

/* Errors worth another send: the server or the network, not the request. */
static bool transient(int rc)
{
	return rc == -EIO || rc == -EAGAIN || rc == -ETIMEDOUT ||
	       rc == -ECONNRESET || rc == -EBUSY;
}

static int send_part(struct mp_job *j, unsigned n, uint64_t off, uint64_t len,
		     char *etag)
{
	unsigned sends = 0;
	long pause_ms = MULTIPART_PART_PAUSE_MS;
	int rc;

	for (;;) {
		rc = j->s->ops->mp_upload_part(j->s, j->key, j->upload_id, n,
					       j->fd, off, len, etag);
		if (!rc || !transient(rc) || ++sends >= MULTIPART_PART_SENDS ||
		    job_failed(j))
			return rc;
		log_info("part %u of '%s' failed (%s); sending it again", n,
			 j->key, strerror(-rc));
		nanosleep(&(struct timespec){ pause_ms / 1000,
					      pause_ms % 1000 * 1000000 },
			  NULL);
		pause_ms *= 2;
	}
}

/*
 * Part n from the copy source if it is marked and no copy has failed:
 * true when it was copied.  A failed copy (the source changed or went,
 * the server has no such call, the store's retries spent) stops the
 * copies: the part and every later one are sent from fd.
 */
static bool copy_part(struct mp_job *j, unsigned n, uint64_t off,
		      uint64_t len, char *etag)
{
	struct multipart_copy *c = j->copy;
	bool go;
	int rc;

	if (!c || !c->parts || !c->parts[n - 1])
		return false;
	pthread_mutex_lock(&j->lock);
	go = !j->copy_broken;
	if (!go)
		c->fallback++;
	pthread_mutex_unlock(&j->lock);
	if (!go)
		return false;
	rc = j->s->ops->mp_copy_part(j->s, j->key, j->upload_id, n, c->key,
				     c->etag, off, len, etag);
	pthread_mutex_lock(&j->lock);
	if (rc) {
		if (!j->copy_broken)
			log_info("part %u of '%s' cannot be copied from '%s' "
				 "(%s); its bytes are sent instead", n,
				 j->key, c->key, strerror(-rc));
		j->copy_broken = true;
		c->fallback++;
	} else {
		c->copied++;
	}
	pthread_mutex_unlock(&j->lock);
	return rc == 0;
}

static void *job_worker(void *arg)
{
	struct mp_job *j = arg;
	unsigned n;

	while ((n = job_take(j)) != 0) {
		uint64_t off = (uint64_t)(n - 1) * j->part;
		uint64_t len = j->size - off < j->part ? j->size - off
						      : j->part;
		struct store_part *p = &j->parts[n - 1];
		int rc = 0;

		p->number = n;
		if (!copy_part(j, n, off, len, p->etag))
			rc = send_part(j, n, off, len, p->etag);
		if (rc) {
			log_debug("part %u of '%s' failed: %s", n, j->key,
				  strerror(-rc));
			job_fail(j, rc);
			break;
		}
	}
	return NULL;
}

/* Send every part; returns the first error. */
static int job_run(struct mp_job *j, unsigned parallel)
{
	pthread_t tids[MULTIPART_MAX_THREADS];
	unsigned nthreads, started = 0, i;
	int rc;

	nthreads = parallel ? parallel : 1;
	if (nthreads > j->nparts)
		nthreads = j->nparts;
	if (nthreads > MULTIPART_MAX_THREADS)
		nthreads = MULTIPART_MAX_THREADS;
	/* The calling thread is one of the workers; if a thread cannot be
	 * started, fewer threads do the same work. */
	for (i = 1; i < nthreads; i++) {
		if (pthread_create(&tids[started], NULL, job_worker, j))
			break;
		started++;
	}
	job_worker(j);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_lock(&j->lock);
	rc = j->err;
	pthread_mutex_unlock(&j->lock);
	return rc;
}

/* S3's ETag of a multipart upload of parts (whose ETags are hex MD5s)
 * into out (128 bytes), or "" when one is not an MD5. */
static void expected_etag(const struct store_part *parts, unsigned n,
			  char *out)
{
	unsigned char *mds = malloc((size_t)n * 16), md[16];
	unsigned i;

	out[0] = '\0';
	for (i = 0; mds && i < n; i++)
		if (strlen(parts[i].etag) != 32 ||
		    util_hex_decode(parts[i].etag, 32, mds + 16 * i))
			break;
	if (mds && i == n) {
		EVP_Digest(mds, (size_t)n * 16, md, NULL, EVP_md5(), NULL);
		util_hex_encode(md, 16, out);
		snprintf(out + 32, 128 - 32, "-%u", n);
	}
	free(mds);
}

int multipart_put_fd(struct store *s, const char *key, int fd, uint64_t size,
		     const struct store_put_opts *opts, unsigned parallel,
		     char *etag_out)
{
	return multipart_put_fd_copy(s, key, fd, size, opts, parallel, NULL,
				     etag_out);
}

int multipart_put_fd_copy(struct store *s, const char *key, int fd,
			  uint64_t size, const struct store_put_opts *opts,
			  unsigned parallel, struct multipart_copy *copy,
			  char *etag_out)
{
	const struct store_ops *ops = s->ops;
	struct mp_job j = { .s = s, .key = key, .fd = fd, .size = size,
			    .next = 1 };
	char *upload_id = NULL;
	bool lock_ready = false;
	int rc, arc;

	if (etag_out)
		etag_out[0] = '\0';
	if (!ops->mp_create || !ops->mp_upload_part || !ops->mp_complete ||
	    !ops->mp_abort)
		return -EOPNOTSUPP;
	j.part = multipart_part_size(size);
	if (!j.part)
		return -EFBIG;
	j.nparts = (unsigned)multipart_part_count(size, j.part);
	if (copy) {
		if (copy->nparts != j.nparts)
			return -EINVAL;
		copy->copied = copy->fallback = 0;
		copy->etag_expected[0] = '\0';
		/* a store without the call sends every part */
		j.copy = ops->mp_copy_part ? copy : NULL;
		j.copy_broken = !ops->mp_copy_part;
	}
	j.parts = calloc(j.nparts, sizeof(*j.parts));
	if (!j.parts)
		return -ENOMEM;
	rc = -pthread_mutex_init(&j.lock, NULL);
	if (rc)
		goto out;
	lock_ready = true;

	rc = ops->mp_create(s, key, opts, &upload_id);
	if (rc)
		goto out;
	j.upload_id = upload_id;
	log_debug("multipart upload of '%s': %llu bytes, %u parts of %llu",
		  key, (unsigned long long)size, j.nparts,
		  (unsigned long long)j.part);
	rc = job_run(&j, parallel);
	if (!rc)
		rc = ops->mp_complete(s, key, upload_id, j.parts, j.nparts,
				      etag_out);
	if (!rc && copy)
		expected_etag(j.parts, j.nparts, copy->etag_expected);
	if (rc) {
		/* Best effort: the first error is what the caller needs. */
		arc = ops->mp_abort(s, key, upload_id);
		if (arc && arc != -ENOENT)
			log_warn("could not abort the upload of '%s' (%s); "
				 "its parts stay until the bucket's "
				 "lifecycle removes them", key,
				 strerror(-arc));
	}
out:
	free(upload_id);
	if (lock_ready)
		pthread_mutex_destroy(&j.lock);
	free(j.parts);
	return rc;
}
