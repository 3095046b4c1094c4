/*
 * Unit tests for multipart.c: the part-size choice at its edges, and
 * multipart_put_fd() against an in-memory store that records every call,
 * reassembles the parts it is sent and fails on request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "multipart.h"
#include "tap.h"

#define MIB MULTIPART_MIB
#define GIB MULTIPART_GIB
#define TIB MULTIPART_TIB

/* ------------------------------------------------------------------ */
/* Part size */

/* The invariants R2 imposes, for any size that can be uploaded. */
static bool part_size_valid(uint64_t size, uint64_t part)
{
	uint64_t n;

	if (part < MULTIPART_MIN_PART || part > SINGLE_PUT_MAX ||
	    part % MIB)
		return false;
	n = multipart_part_count(size, part);
	if (n < 1 || n > MULTIPART_MAX_PARTS)
		return false;
	/* the last part holds 1..part bytes (0 only for an empty object) */
	return size == 0 || (size - (n - 1) * part >= 1 &&
			     size - (n - 1) * part <= part);
}

/* No smaller whole-MiB size of at least 8 MiB would do. */
static bool part_size_minimal(uint64_t size, uint64_t part)
{
	uint64_t smaller = part - MIB;

	return part == MULTIPART_PART_FLOOR ||
	       multipart_part_count(size, smaller) > MULTIPART_MAX_PARTS;
}

static void check_size(uint64_t size, uint64_t want_part, uint64_t want_n,
		       const char *name)
{
	uint64_t part = multipart_part_size(size);
	char msg[160];

	snprintf(msg, sizeof(msg), "%s: part size", name);
	TAP_INTEQ(part, want_part, msg);
	snprintf(msg, sizeof(msg), "%s: %llu parts", name,
		 (unsigned long long)want_n);
	TAP_INTEQ(part ? multipart_part_count(size, part) : 0, want_n, msg);
	if (part) {
		snprintf(msg, sizeof(msg), "%s: R2 limits hold", name);
		TAP_OK(part_size_valid(size, part), msg);
	}
}

static void test_part_size(void)
{
	const uint64_t b80g = UINT64_C(10000) * 8 * MIB; /* 80 GiB - ... */
	const uint64_t r2max = 5 * TIB - 5 * GIB;
	/* 4.995 * 2^40 rounded down to a MiB: a bit below R2's exact cap */
	const uint64_t r2max_rounded = UINT64_C(5237637) * MIB;
	uint64_t size, part, x;
	bool all_valid = true, all_minimal = true;
	unsigned i, k;

	TAP_INTEQ(b80g, UINT64_C(83886080000), "10,000 x 8 MiB");
	TAP_INTEQ(MULTIPART_MAX_OBJECT, UINT64_C(5492189429760),
		  "max object is 5 TiB - 5 GiB");
	TAP_INTEQ(SINGLE_PUT_MAX, UINT64_C(5363466240),
		  "single PUT max is 5 GiB - 5 MiB");
	TAP_INTEQ(MULTIPART_THRESHOLD_DEFAULT, 64 * MIB, "threshold 64 MiB");

	check_size(0, 8 * MIB, 1, "empty object");
	check_size(1, 8 * MIB, 1, "1 byte");
	check_size(8 * MIB - 1, 8 * MIB, 1, "8 MiB - 1");
	check_size(8 * MIB, 8 * MIB, 1, "exactly 8 MiB");
	check_size(8 * MIB + 1, 8 * MIB, 2, "8 MiB + 1");
	check_size(64 * MIB, 8 * MIB, 8, "64 MiB");
	check_size(100 * MIB, 8 * MIB, 13, "100 MiB");
	check_size(SINGLE_PUT_MAX, 8 * MIB, 640, "5 GiB - 5 MiB");
	check_size(b80g - 1, 8 * MIB, 10000, "10,000 x 8 MiB - 1");
	check_size(b80g, 8 * MIB, 10000, "10,000 x 8 MiB");
	check_size(b80g + 1, 9 * MIB, 8889, "10,000 x 8 MiB + 1");
	check_size(UINT64_C(10000) * 9 * MIB, 9 * MIB, 10000,
		   "10,000 x 9 MiB");
	check_size(UINT64_C(10000) * 9 * MIB + 1, 10 * MIB, 9001,
		   "10,000 x 9 MiB + 1");
	check_size(TIB, 105 * MIB, 9987, "1 TiB");
	check_size(r2max_rounded, 524 * MIB, 9996, "4.995 TiB");
	check_size(r2max, 524 * MIB, 9996, "R2's maximum, 5 TiB - 5 GiB");
	check_size(r2max + 1, 0, 0, "one byte above R2's maximum");
	check_size(5 * TIB, 0, 0, "5 TiB");
	check_size(UINT64_MAX, 0, 0, "UINT64_MAX");

	/* Sweep: around every multiple of 10,000 MiB up to the cap, and a
	 * deterministic spread of sizes in between. */
	for (k = 1; k <= 524; k++) {
		uint64_t edge = UINT64_C(10000) * k * MIB;
		int d;

		for (d = -1; d <= 1; d++) {
			size = edge + (uint64_t)(int64_t)d;
			if (size > MULTIPART_MAX_OBJECT)
				continue;
			part = multipart_part_size(size);
			if (!part || !part_size_valid(size, part))
				all_valid = false;
			if (part && !part_size_minimal(size, part))
				all_minimal = false;
		}
	}
	x = 1;
	for (i = 0; i < 20000; i++) {
		/* xorshift walk over [0, max object], small sizes too */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size = (x % (MULTIPART_MAX_OBJECT + 1)) >> (i % 40);
		part = multipart_part_size(size);
		if (!part || !part_size_valid(size, part))
			all_valid = false;
		if (part && !part_size_minimal(size, part))
			all_minimal = false;
	}
	TAP_OK(all_valid, "sweep: 5 MiB <= part <= 5 GiB - 5 MiB, whole MiB, "
			  "<= 10,000 parts");
	TAP_OK(all_minimal, "sweep: smallest part size that fits");
}

/* ------------------------------------------------------------------ */
/* A fake store */

#define FAKE_ID "upload-1"

struct fake_call {
	unsigned number;
	uint64_t offset;
	uint64_t len;
};

struct fake_store {
	struct store base;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *data; /* the object as reassembled from parts */
	uint64_t cap;
	/* all below protected by lock */
	struct fake_call calls[64];
	unsigned ncalls;        /* mp_upload_part calls */
	unsigned nbad;          /* calls with a wrong key, id or number */
	unsigned ncreate, ncomplete, nabort;
	struct store_part completed[64];
	size_t ncompleted;
	char created_type[64];
	size_t created_nmeta;
	unsigned active, max_active;
	/* knobs */
	unsigned fail_part;     /* this part fails with fail_err */
	int fail_err;
	int fail_create, fail_complete;
	bool want_overlap;      /* first part waits for a second one */
	bool gate;              /* later parts wait for the failing one */
	bool failed;            /* the failing part has returned */
	unsigned fail_when;     /* it fails once this many are in flight */
	unsigned fail_times;    /* it fails this often, then works (0: always) */
	unsigned nfailed;       /* times it has failed */
};

static struct fake_store *to_fake(struct store *s)
{
	return (struct fake_store *)s;
}

static int fake_create(struct store *st, const char *key,
		       const struct store_put_opts *opts, char **upload_id)
{
	struct fake_store *f = to_fake(st);
	int rc;

	pthread_mutex_lock(&f->lock);
	f->ncreate++;
	rc = f->fail_create;
	if (strcmp(key, "big/file"))
		f->nbad++;
	if (opts && opts->content_type)
		snprintf(f->created_type, sizeof(f->created_type), "%s",
			 opts->content_type);
	f->created_nmeta = opts ? opts->nmeta : 0;
	pthread_mutex_unlock(&f->lock);
	if (rc)
		return rc;
	*upload_id = strdup(FAKE_ID);
	return *upload_id ? 0 : -ENOMEM;
}

static int fake_upload_part(struct store *st, const char *key,
			    const char *upload_id, unsigned n, int fd,
			    uint64_t offset, uint64_t len, char *etag_out)
{
	struct fake_store *f = to_fake(st);
	uint64_t done = 0;
	struct timespec until;
	ssize_t r;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (strcmp(key, "big/file") || strcmp(upload_id, FAKE_ID) || n < 1 ||
	    n > 10000)
		f->nbad++;
	if (f->ncalls < 64)
		f->calls[f->ncalls] = (struct fake_call){ n, offset, len };
	f->ncalls++;
	f->active++;
	if (f->active > f->max_active)
		f->max_active = f->active;
	pthread_cond_broadcast(&f->cond);
	if (f->want_overlap && n == 1) {
		/* Deterministic parallelism check: part 1 waits (up to 5 s)
		 * until another part is in flight beside it. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		while (f->max_active < 2 &&
		       pthread_cond_timedwait(&f->cond, &f->lock, &until) !=
			       ETIMEDOUT)
			;
	}
	if (n == f->fail_part && (!f->fail_times || f->nfailed < f->fail_times)) {
		f->nfailed++;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		while (f->active < f->fail_when &&
		       pthread_cond_timedwait(&f->cond, &f->lock, &until) !=
			       ETIMEDOUT)
			;
		rc = f->fail_err;
		f->failed = true;
		pthread_cond_broadcast(&f->cond);
	} else if (f->gate && n > f->fail_part) {
		/* Hold later parts until the failure is out, then give
		 * multipart.c ample time to record it (1 s: the failing
		 * thread may wait that long for a core on a loaded
		 * machine): no part may start after that. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		while (!f->failed &&
		       pthread_cond_timedwait(&f->cond, &f->lock, &until) !=
			       ETIMEDOUT)
			;
		pthread_mutex_unlock(&f->lock);
		nanosleep(&(struct timespec){ 1, 0 }, NULL);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);

	/* Read what the HTTP layer would send: len bytes of fd at offset. */
	while (!rc && done < len) {
		if (offset + len > f->cap) {
			rc = -EFAULT;
			break;
		}
		r = pread(fd, f->data + offset + done, (size_t)(len - done),
			  (off_t)(offset + done));
		if (r <= 0) {
			rc = -EIO;
			break;
		}
		done += (uint64_t)r;
	}
	if (!rc)
		snprintf(etag_out, 128, "etag-%u", n);

	pthread_mutex_lock(&f->lock);
	f->active--;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_complete(struct store *st, const char *key,
			 const char *upload_id,
			 const struct store_part *parts, size_t nparts,
			 char *etag_out)
{
	struct fake_store *f = to_fake(st);
	int rc;

	pthread_mutex_lock(&f->lock);
	f->ncomplete++;
	if (strcmp(key, "big/file") || strcmp(upload_id, FAKE_ID))
		f->nbad++;
	f->ncompleted = nparts;
	if (nparts <= 64)
		memcpy(f->completed, parts, nparts * sizeof(*parts));
	rc = f->fail_complete;
	pthread_mutex_unlock(&f->lock);
	if (!rc && etag_out)
		snprintf(etag_out, 128, "whole-%zu", nparts);
	return rc;
}

static int fake_abort(struct store *st, const char *key,
		      const char *upload_id)
{
	struct fake_store *f = to_fake(st);

	pthread_mutex_lock(&f->lock);
	f->nabort++;
	if (strcmp(key, "big/file") || strcmp(upload_id, FAKE_ID))
		f->nbad++;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static const struct store_ops fake_ops = {
	.mp_create = fake_create,
	.mp_upload_part = fake_upload_part,
	.mp_complete = fake_complete,
	.mp_abort = fake_abort,
};

static void fake_init(struct fake_store *f, uint64_t cap)
{
	memset(f, 0, sizeof(*f));
	f->base.ops = &fake_ops;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->cap = cap;
	f->data = calloc(1, cap ? cap : 1);
}

static void fake_release(struct fake_store *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f->data);
}

/* ------------------------------------------------------------------ */
/* multipart_put_fd */

static int make_file(uint64_t size, unsigned char **content)
{
	char path[] = "/tmp/r2fs-test-multipart-XXXXXX";
	const char *tmp = getenv("TMPDIR");
	char tpath[4096];
	unsigned char *buf = malloc(size ? size : 1);
	uint32_t x = 2463534242u;
	uint64_t i, done = 0;
	ssize_t w;
	int fd;

	if (!buf)
		return -1;
	for (i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	if (tmp && tmp[0]) {
		snprintf(tpath, sizeof(tpath), "%s/r2fs-test-multipart-XXXXXX",
			 tmp);
		fd = mkstemp(tpath);
		if (fd >= 0)
			unlink(tpath);
	} else {
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
	}
	while (fd >= 0 && done < size) {
		w = pwrite(fd, buf + done, (size_t)(size - done),
			   (off_t)done);
		if (w <= 0) {
			close(fd);
			fd = -1;
			break;
		}
		done += (uint64_t)w;
	}
	if (fd < 0) {
		free(buf);
		return -1;
	}
	*content = buf;
	return fd;
}

/* Upload a file of size bytes with parallel threads and check it all. */
static void test_put(uint64_t size, unsigned parallel, const char *name)
{
	struct store_meta meta[2] = { { "mode", "33188" }, { "uid", "0" } };
	struct store_put_opts opts = { .content_type = "video/mp4",
				       .meta = meta, .nmeta = 2 };
	uint64_t part = multipart_part_size(size);
	unsigned n = (unsigned)multipart_part_count(size, part), i;
	struct fake_store f;
	unsigned char *content = NULL;
	bool seen[64] = { false }, sizes_ok = true, numbers_ok = true;
	bool order_ok = true, etags_ok = true;
	char etag[128], msg[160], want[32];
	int fd, rc;

	fd = make_file(size, &content);
	if (fd < 0) {
		TAP_OK(0, "temporary file");
		return;
	}
	fake_init(&f, size);
	f.want_overlap = parallel > 1 && n > 1;
	rc = multipart_put_fd(&f.base, "big/file", fd, size, &opts, parallel,
			      etag);

	snprintf(msg, sizeof(msg), "%s: returns 0", name);
	TAP_INTEQ(rc, 0, msg);
	snprintf(msg, sizeof(msg), "%s: created once, with type and meta",
		 name);
	TAP_OK(f.ncreate == 1 && !strcmp(f.created_type, "video/mp4") &&
		       f.created_nmeta == 2,
	       msg);
	snprintf(msg, sizeof(msg), "%s: %u parts sent, each once", name, n);
	for (i = 0; i < f.ncalls && i < 64; i++) {
		unsigned pn = f.calls[i].number;

		if (pn < 1 || pn > n || seen[pn - 1])
			numbers_ok = false;
		else
			seen[pn - 1] = true;
		if (f.calls[i].offset != (uint64_t)(pn - 1) * part)
			sizes_ok = false;
		if (pn < n && f.calls[i].len != part)
			sizes_ok = false;
		if (pn == n && f.calls[i].len !=
				       size - (uint64_t)(n - 1) * part)
			sizes_ok = false;
		if (f.calls[i].len > part)
			sizes_ok = false;
	}
	TAP_OK(f.ncalls == n && numbers_ok && f.nbad == 0, msg);
	snprintf(msg, sizeof(msg), "%s: parts but the last are %llu bytes, "
		 "the last no more", name, (unsigned long long)part);
	TAP_OK(sizes_ok, msg);
	snprintf(msg, sizeof(msg), "%s: reassembled bytes equal the file",
		 name);
	TAP_OK(size == 0 || !memcmp(f.data, content, size), msg);
	snprintf(msg, sizeof(msg), "%s: completed once, parts 1..%u in "
		 "order with their ETags", name, n);
	for (i = 0; i < f.ncompleted && i < 64; i++) {
		if (f.completed[i].number != i + 1)
			order_ok = false;
		snprintf(want, sizeof(want), "etag-%u", i + 1);
		if (strcmp(f.completed[i].etag, want))
			etags_ok = false;
	}
	TAP_OK(f.ncomplete == 1 && f.ncompleted == n && order_ok && etags_ok,
	       msg);
	snprintf(msg, sizeof(msg), "%s: not aborted", name);
	TAP_INTEQ(f.nabort, 0, msg);
	snprintf(want, sizeof(want), "whole-%u", n);
	snprintf(msg, sizeof(msg), "%s: ETag of the object", name);
	TAP_STREQ(etag, want, msg);
	snprintf(msg, sizeof(msg), "%s: at most %u parts at once%s", name,
		 parallel, f.want_overlap ? ", and more than one" : "");
	TAP_OK(f.max_active <= (parallel ? parallel : 1) &&
		       (!f.want_overlap || f.max_active >= 2),
	       msg);
	fake_release(&f);
	free(content);
	close(fd);
}

/* Part k fails: abort, no complete, the part's error returned. */
static void test_part_failure(unsigned k, unsigned parallel)
{
	uint64_t size = 5 * 8 * MIB + 4321; /* 6 parts */
	unsigned char *content = NULL;
	struct fake_store f;
	char etag[128] = "stale", msg[160];
	int fd, rc;

	fd = make_file(size, &content);
	if (fd < 0) {
		TAP_OK(0, "temporary file");
		return;
	}
	fake_init(&f, size);
	f.fail_part = k;
	f.fail_err = -EACCES;
	f.gate = parallel > 1;
	/* fail while the other threads hold later parts */
	f.fail_when = parallel < 6 - k + 1 ? parallel : 6 - k + 1;
	rc = multipart_put_fd(&f.base, "big/file", fd, size, NULL, parallel,
			      etag);
	snprintf(msg, sizeof(msg), "part %u fails (parallel %u): its error "
		 "is returned", k, parallel);
	TAP_INTEQ(rc, -EACCES, msg);
	snprintf(msg, sizeof(msg), "part %u fails (parallel %u): aborted "
		 "once, never completed", k, parallel);
	TAP_OK(f.nabort == 1 && f.ncomplete == 0 && f.nbad == 0, msg);
	snprintf(msg, sizeof(msg), "part %u fails (parallel %u): no new "
		 "parts after the failure (%u sent)", k, parallel, f.ncalls);
	TAP_OK(f.ncalls >= k && f.ncalls <= k + parallel - 1 &&
		       f.max_active <= parallel,
	       msg);
	TAP_STREQ(etag, "", "no ETag after a failure");
	fake_release(&f);
	free(content);
	close(fd);
}

static void test_other_failures(void)
{
	uint64_t size = 2 * 8 * MIB + 1;
	unsigned char *content = NULL;
	struct store_ops no_mp = { 0 };
	struct store bare = { &no_mp };
	struct fake_store f;
	char etag[128];
	int fd, rc;

	fd = make_file(size, &content);
	if (fd < 0) {
		TAP_OK(0, "temporary file");
		return;
	}
	fake_init(&f, size);
	f.fail_create = -EACCES;
	rc = multipart_put_fd(&f.base, "big/file", fd, size, NULL, 4, NULL);
	TAP_INTEQ(rc, -EACCES, "create fails: its error is returned");
	TAP_OK(f.ncalls == 0 && f.nabort == 0 && f.ncomplete == 0,
	       "create fails: nothing sent, nothing to abort");
	fake_release(&f);

	fake_init(&f, size);
	f.fail_complete = -EIO;
	rc = multipart_put_fd(&f.base, "big/file", fd, size, NULL, 4, NULL);
	TAP_INTEQ(rc, -EIO, "complete fails: its error is returned");
	TAP_OK(f.ncalls == 3 && f.ncomplete == 1 && f.nabort == 1,
	       "complete fails: the upload is aborted");
	fake_release(&f);

	fake_init(&f, size);
	rc = multipart_put_fd(&f.base, "big/file", fd,
			      MULTIPART_MAX_OBJECT + 1, NULL, 4, NULL);
	TAP_INTEQ(rc, -EFBIG, "too large: -EFBIG");
	TAP_OK(f.ncreate == 0, "too large: nothing created");
	fake_release(&f);

	rc = multipart_put_fd(&bare, "big/file", fd, size, NULL, 4, NULL);
	TAP_INTEQ(rc, -EOPNOTSUPP, "store without multipart: -EOPNOTSUPP");

	/* A transient error on one part: that part alone is sent again. */
	fake_init(&f, size);
	f.fail_part = 2;
	f.fail_err = -EIO;
	f.fail_times = 2;
	rc = multipart_put_fd(&f.base, "big/file", fd, size, NULL, 4, etag);
	TAP_INTEQ(rc, 0, "part 2 fails twice with EIO: the upload succeeds");
	TAP_OK(f.ncalls == 5 && f.ncomplete == 1 && f.nabort == 0 &&
		       f.ncompleted == 3 && !memcmp(f.data, content, size),
	       "part 2 fails twice with EIO: only it is sent again");
	fake_release(&f);

	/* ... but not forever, and not for errors of the request itself. */
	fake_init(&f, size);
	f.fail_part = 2;
	f.fail_err = -EIO;
	rc = multipart_put_fd(&f.base, "big/file", fd, size, NULL, 1, etag);
	TAP_INTEQ(rc, -EIO, "part 2 always fails with EIO: EIO returned");
	TAP_OK(f.nfailed == 3 && f.nabort == 1 && f.ncomplete == 0,
	       "part 2 always fails with EIO: three sends, then aborted");
	fake_release(&f);

	/* A file shorter than the size given: a local error, aborted. */
	fake_init(&f, 3 * 8 * MIB);
	rc = multipart_put_fd(&f.base, "big/file", fd, 3 * 8 * MIB, NULL, 2,
			      NULL);
	TAP_INTEQ(rc, -EIO, "short file: -EIO");
	TAP_OK(f.nabort == 1 && f.ncomplete == 0, "short file: aborted");
	fake_release(&f);
	free(content);
	close(fd);
}

int main(void)
{
	unsigned k;

	test_part_size();

	test_put(0, 1, "empty, parallel 1");
	test_put(1, 4, "1 byte, parallel 4");
	test_put(8 * MIB, 4, "8 MiB, parallel 4");
	test_put(3 * 8 * MIB, 1, "3 x 8 MiB, parallel 1");
	test_put(3 * 8 * MIB, 4, "3 x 8 MiB, parallel 4");
	test_put(5 * 8 * MIB + 12345, 1, "40 MiB + 12345, parallel 1");
	test_put(5 * 8 * MIB + 12345, 4, "40 MiB + 12345, parallel 4");
	test_put(5 * 8 * MIB + 12345, 0, "40 MiB + 12345, parallel 0");
	test_put(5 * 8 * MIB + 12345, 16, "40 MiB + 12345, parallel 16");

	for (k = 1; k <= 6; k += 5) {
		test_part_failure(k, 1);
		test_part_failure(k, 4);
	}
	test_part_failure(3, 1);
	test_part_failure(3, 4);
	test_other_failures();
	return tap_done();
}
