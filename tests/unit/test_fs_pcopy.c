/*
 * test_fs_pcopy.c - a small change to a big file uploads the change: the
 * parts a write touched go up, the others are copied on the server from
 * the version the stage was made from or last uploaded as (UploadPartCopy
 * pinned to its ETag).  On the in-memory store: what each upload costs in
 * requests and bytes, that the object is byte-exact after each, that a
 * source changed or deleted by another client meanwhile makes the copies
 * fall back to sending the bytes, and that a crash after close replays
 * exactly even when the source is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsh.h"
#include "tap.h"

#define MiB ((size_t)1 << 20)
/* 3 parts of 8 MiB and a short last one (multipart_part_size) */
#define BIG (26 * MiB + 4096)

static unsigned char *random_bytes(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len);
	size_t i;

	srand(seed);
	for (i = 0; p && i < len; i++)
		p[i] = (unsigned char)rand();
	return p;
}

static uint64_t bytes_up(struct fsh *h)
{
	struct store *s = memstore_store(h->ms);
	struct store_stats n;

	s->ops->stats(s, &n);
	return n.bytes_up;
}

/* Does the object at key hold exactly want (len bytes)? */
static bool object_is(struct fsh *h, const char *key, const void *want,
		      size_t len)
{
	void *data = NULL;
	size_t got = 0;
	bool ok;
	int rc = memstore_get_bytes(h->ms, key, &data, &got, NULL);

	ok = rc == 0 && got == len && !memcmp(data, want, len);
	if (!ok)
		fprintf(stderr, "# object %s: %d, %zu bytes of %zu\n", key, rc,
			got, len);
	free(data);
	return ok;
}

/* Open path for writing (O_WRONLY), into *f. */
static int open_w(struct fsh *h, const char *path, struct fs_file **f)
{
	struct stat st;
	int rc = fsh_stat(h, path, &st);

	return rc ? rc : fs_open(h->fs, st.st_ino, O_WRONLY, f);
}

static int write_at(struct fs_file *f, const void *data, size_t len,
		    uint64_t off)
{
	ssize_t w = fs_write(f, data, len, off);

	return w < 0 ? (int)w : (size_t)w != len ? -EIO : 0;
}

/* Open, write len bytes at off, close, and upload (sync). */
static int change(struct fsh *h, const char *path, const void *data,
		  size_t len, uint64_t off)
{
	struct fs_file *f = NULL;
	int rc = open_w(h, path, &f), frc;

	if (rc)
		return rc;
	rc = write_at(f, data, len, off);
	frc = fs_flush(f);
	fs_release(f);
	if (!rc)
		rc = frc;
	return rc ? rc : fsh_sync(h);
}

/* A mount with a 5 MiB multipart threshold and a big file uploaded;
 * its bytes (malloc'd) or NULL. */
static unsigned char *setup(struct fsh *h, const char *path, unsigned seed)
{
	unsigned char *model;

	if (fsh_init(h, 100)) /* uploads wait for fsh_sync */
		return NULL;
	h->conf.multipart_threshold_mb = 5;
	if (fsh_remount(h))
		return NULL;
	model = random_bytes(BIG, seed);
	if (!model || fsh_write_file(h, path, model, BIG) || fsh_sync(h)) {
		free(model);
		return NULL;
	}
	fsh_reset_counts(h);
	return model;
}

static void test_one_byte(void)
{
	struct fsh h;
	unsigned char *model = setup(&h, "big", 1);
	uint64_t up0;
	char msg[160];

	TAP_OK(model, "a 26 MiB file uploaded in 4 parts");
	if (!model)
		goto out;
	up0 = bytes_up(&h);
	model[9 * MiB + 5] ^= 0x5a;
	TAP_INTEQ(change(&h, "big", model + 9 * MiB + 5, 1, 9 * MiB + 5), 0,
		  "1 byte changed in part 2, closed, synced");
	snprintf(msg, sizeof(msg),
		 "... 1 part sent, 3 copied (PART %llu, PARTCOPY %llu, PUT "
		 "%llu)",
		 (unsigned long long)fsh_count(&h, MS_OP_MP_PART),
		 (unsigned long long)fsh_count(&h, MS_OP_MP_COPY),
		 (unsigned long long)fsh_count(&h, MS_OP_PUT));
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 1 &&
		       fsh_count(&h, MS_OP_MP_COPY) == 3 &&
		       fsh_count(&h, MS_OP_PUT) == 0,
	       msg);
	snprintf(msg, sizeof(msg), "... 8 MiB up, not 26 (%llu bytes)",
		 (unsigned long long)(bytes_up(&h) - up0));
	TAP_OK(bytes_up(&h) - up0 == 8 * MiB, msg);
	TAP_OK(object_is(&h, "big", model, BIG), "... the object is exact");

	/* the last, short part */
	fsh_reset_counts(&h);
	up0 = bytes_up(&h);
	memcpy(model + BIG - 3, "xyz", 3);
	TAP_INTEQ(change(&h, "big", "xyz", 3, BIG - 3), 0,
		  "3 bytes changed in the last part");
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 1 &&
		       fsh_count(&h, MS_OP_MP_COPY) == 3 &&
		       bytes_up(&h) - up0 == 2 * MiB + 4096,
	       "... only the last part (2 MiB + 4 KiB) went up");
	TAP_OK(object_is(&h, "big", model, BIG), "... the object is exact");
out:
	free(model);
	fsh_done(&h);
}

/*
 * One handle kept open across uploads (fsx, a database): each fsync
 * copies from the version the one before uploaded; a cut keeps the parts
 * below it copyable, a file grown again sends what is new.
 */
static void test_open_across_syncs(void)
{
	struct fsh h;
	unsigned char *model = setup(&h, "db", 2);
	struct fs_file *f = NULL;
	struct stat attr = { 0 }, out;
	uint64_t up0;
	size_t size = BIG;
	char msg[160];

	TAP_OK(model, "a 26 MiB file uploaded");
	if (!model || open_w(&h, "db", &f))
		goto out;
	memset(model + 100, 'a', 10);
	write_at(f, model + 100, 10, 100);
	TAP_INTEQ(fs_fsync(f), 0, "write in part 1, fsync");
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 1 &&
		       fsh_count(&h, MS_OP_MP_COPY) == 3,
	       "... part 1 sent, 3 copied");
	TAP_OK(object_is(&h, "db", model, size), "... exact");

	fsh_reset_counts(&h);
	up0 = bytes_up(&h);
	memset(model + 17 * MiB, 'b', 2 * MiB);
	write_at(f, model + 17 * MiB, 2 * MiB, 17 * MiB);
	TAP_INTEQ(fs_fsync(f), 0, "write in part 3, fsync again");
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 1 &&
		       fsh_count(&h, MS_OP_MP_COPY) == 3 &&
		       bytes_up(&h) - up0 == 8 * MiB,
	       "... part 3 sent, part 1 copied from the last upload");
	TAP_OK(object_is(&h, "db", model, size), "... exact");

	fsh_reset_counts(&h);
	attr.st_size = 12 * MiB;
	size = 12 * MiB;
	fsh_stat(&h, "db", &out);
	TAP_INTEQ(fs_setattr(h.fs, out.st_ino, f, &attr, FS_SET_SIZE, &out),
		  0, "cut to 12 MiB");
	TAP_INTEQ(fs_fsync(f), 0, "... fsync");
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 0 &&
		       fsh_count(&h, MS_OP_MP_COPY) == 2,
	       "... both parts copied, nothing sent");
	TAP_OK(object_is(&h, "db", model, size), "... exact");

	fsh_reset_counts(&h);
	up0 = bytes_up(&h);
	memset(model + 12 * MiB, 0, 8 * MiB); /* the hole reads as zeros */
	model[20 * MiB] = 'c';
	size = 20 * MiB + 1;
	write_at(f, "c", 1, 20 * MiB);
	TAP_INTEQ(fs_fsync(f), 0, "1 byte written at 20 MiB, fsync");
	snprintf(msg, sizeof(msg), "... part 1 copied, the grown parts "
		 "sent (PART %llu, PARTCOPY %llu, %llu bytes up)",
		 (unsigned long long)fsh_count(&h, MS_OP_MP_PART),
		 (unsigned long long)fsh_count(&h, MS_OP_MP_COPY),
		 (unsigned long long)(bytes_up(&h) - up0));
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 2 &&
		       fsh_count(&h, MS_OP_MP_COPY) == 1 &&
		       bytes_up(&h) - up0 == 12 * MiB + 1,
	       msg);
	TAP_OK(object_is(&h, "db", model, size), "... exact");
	fs_flush(f);
	fs_release(f);
out:
	free(model);
	fsh_done(&h);
}

struct other_client {
	struct fsh *h;
	const char *key;
	bool remove; /* else overwrite */
	bool after_complete; /* only once a Complete was counted, once */
	bool done;
	const unsigned char *theirs; /* what it writes: BIG bytes, or NULL:
					"theirs" */
};

static void other_client_acts(void *arg)
{
	struct other_client *o = arg;

	if (o->after_complete &&
	    (o->done || !memstore_count(o->h->ms, MS_OP_MP_COMPLETE)))
		return;
	o->done = true;
	if (o->remove)
		memstore_delete(o->h->ms, o->key);
	else if (o->theirs)
		memstore_put_bytes(o->h->ms, o->key, o->theirs, BIG, NULL);
	else
		memstore_put_bytes(o->h->ms, o->key, "theirs", 6, NULL);
}

/*
 * The version the copies come from changes (or goes) between the check
 * of the base and the first copy: every copy after that is refused, the
 * parts are sent from the stage, and the object is still ours, exact.
 */
static void test_source_changed(bool remove)
{
	struct fsh h;
	unsigned char *model = setup(&h, "big", 3);
	struct other_client o = { &h, "big", remove, false, false, NULL };
	struct fault_rule r = { .ops = FAULT_OP(FAULT_MP_COPY),
				.when = FAULT_NTH, .n = 1,
				.kind = FAULT_HOOK,
				.hook = other_client_acts, .hook_arg = &o };
	char *log = NULL, msg[160];

	TAP_OK(model, "a 26 MiB file uploaded");
	if (!model)
		goto out;
	faultstore_add(h.fault, &r);
	model[5] ^= 1;
	TAP_INTEQ(change(&h, "big", model + 5, 1, 5), 0,
		  remove ? "another client deletes the source at the first "
			   "copy: the upload succeeds"
			 : "another client overwrites the source at the "
			   "first copy: the upload succeeds");
	log = memstore_log(h.ms);
	TAP_OK(log && strstr(log, remove ? "PARTCOPY big>big NoSuchKey"
					 : "PARTCOPY big>big "
					   "PreconditionFailed"),
	       remove ? "... the copy was refused (404)"
		      : "... the copy was refused (412)");
	snprintf(msg, sizeof(msg), "... the parts were sent instead (PART "
		 "%llu)", (unsigned long long)fsh_count(&h, MS_OP_MP_PART));
	TAP_OK(fsh_count(&h, MS_OP_MP_PART) == 4, msg);
	TAP_OK(object_is(&h, "big", model, BIG), "... the object is ours, "
	       "exact");
	faultstore_clear(h.fault);
out:
	free(log);
	free(model);
	fsh_done(&h);
}

/*
 * Renamed after the change, before the upload: the version the stage was
 * read from is deleted with the old name, so nothing is copied (a HEAD
 * of the old key tells) and the whole file goes up under the new name.
 */
static void test_renamed(void)
{
	struct fsh h;
	unsigned char *model = setup(&h, "old", 5);
	struct fs_file *f = NULL;

	TAP_OK(model, "a 26 MiB file uploaded");
	if (!model || open_w(&h, "old", &f))
		goto out;
	model[MiB] ^= 1;
	write_at(f, model + MiB, 1, MiB);
	fs_flush(f);
	fs_release(f);
	TAP_INTEQ(fsh_rename(&h, "old", "new"), 0, "changed, closed, renamed");
	TAP_INTEQ(fsh_sync(&h), 0, "... uploaded");
	TAP_OK(fsh_count(&h, MS_OP_MP_COPY) == 0 &&
		       fsh_count(&h, MS_OP_MP_PART) == 4,
	       "... no copy from the deleted version: every part sent");
	TAP_OK(object_is(&h, "new", model, BIG) &&
		       !memstore_exists(h.ms, "old"),
	       "... exact under the new name only");
out:
	free(model);
	fsh_done(&h);
}

/*
 * A server that completes a multipart upload without its ETag (Ceph RGW):
 * the HEAD that learns it must show the ETag S3 forms from our parts, or
 * the version is not known to be ours and the next upload copies nothing
 * from it.
 */
static void test_complete_without_etag(bool raced)
{
	struct fsh h;
	unsigned char *model = setup(&h, "big", 6);
	unsigned char *theirs = random_bytes(BIG, 7);
	struct other_client o = { &h, "big", false, true, false, theirs };
	struct fault_rule r = { .ops = FAULT_OP(FAULT_HEAD),
				.key_contains = "big",
				.when = FAULT_AFTER, .n = 0,
				.kind = FAULT_HOOK,
				.hook = other_client_acts, .hook_arg = &o };
	struct fs_file *f = NULL;

	TAP_OK(model, "a 26 MiB file uploaded");
	if (!model || open_w(&h, "big", &f))
		goto out;
	memstore_set_complete_etag(h.ms, false);
	model[3] ^= 1;
	write_at(f, model + 3, 1, 3);
	TAP_INTEQ(fs_fsync(f), 0, "no ETag on Complete: 1 byte changed, "
		  "fsync");
	if (raced) {
		/* another client writes just before the HEAD that asks for
		 * the ETag Complete did not give */
		faultstore_add(h.fault, &r);
	}
	fsh_reset_counts(&h);
	model[2 * MiB] ^= 1;
	write_at(f, model + 2 * MiB, 1, 2 * MiB);
	fs_fsync(f);
	faultstore_clear(h.fault);
	fsh_reset_counts(&h);
	model[20 * MiB] ^= 1;
	write_at(f, model + 20 * MiB, 1, 20 * MiB);
	TAP_INTEQ(fs_fsync(f), 0, "... changed and fsynced twice more");
	if (raced)
		TAP_OK(fsh_count(&h, MS_OP_MP_COPY) == 0 &&
			       fsh_count(&h, MS_OP_MP_PART) == 4,
		       "... another client's version came in before the "
		       "HEAD: nothing copied from it");
	else
		TAP_OK(fsh_count(&h, MS_OP_MP_COPY) == 3 &&
			       fsh_count(&h, MS_OP_MP_PART) == 1,
		       "... the HEAD showed our parts' ETag: 3 parts "
		       "copied");
	TAP_OK(object_is(&h, "big", model, BIG), "... the object is exact");
	fs_flush(f);
	fs_release(f);
out:
	free(theirs);
	free(model);
	fsh_done(&h);
}

struct crash_arg {
	const unsigned char *model;
};

/* In the child: change one byte, close (commit), die. */
static int crash_after_close(struct fsh *h, void *arg)
{
	struct crash_arg *a = arg;
	struct fs_file *f = NULL;
	int rc = open_w(h, "big", &f);

	if (!rc)
		rc = write_at(f, a->model + 7 * MiB, 1, 7 * MiB);
	if (!rc)
		rc = fs_flush(f);
	return rc ? 1 : 0;
}

/*
 * close() committed the change, then r2fs died before the upload; the
 * source version is deleted before the next mount.  The journal's record
 * describes whole data (fetched at commit), so the replay uploads the
 * exact file without the source.
 */
static void test_crash_replay(void)
{
	struct fsh h;
	unsigned char *model = setup(&h, "big", 4);
	struct crash_arg a = { model };
	int rc;

	TAP_OK(model, "a 26 MiB file uploaded");
	if (!model)
		goto out;
	model[7 * MiB] ^= 0xff;
	rc = fsh_crash_child(&h, crash_after_close, &a);
	TAP_INTEQ(rc, 0, "a child changed 1 byte, closed, was killed");
	TAP_INTEQ(memstore_delete(h.ms, "big"), 0, "the source is deleted "
		  "by another client");
	fsh_reset_counts(&h);
	TAP_INTEQ(fsh_mount(&h), 0, "mounted again: the journal replays");
	TAP_INTEQ(fsh_sync(&h), 0, "... and uploads");
	TAP_OK(object_is(&h, "big", model, BIG), "... the exact file");
	TAP_INTEQ(fsh_count(&h, MS_OP_GET), 0, "... from the journal alone "
		  "(no GET)");
	TAP_OK(fsh_journal_empty(&h), "... the journal is empty");
out:
	free(model);
	fsh_done(&h);
}

int main(void)
{
	test_one_byte();
	test_open_across_syncs();
	test_source_changed(false);
	test_source_changed(true);
	test_renamed();
	test_complete_without_etag(false);
	test_complete_without_etag(true);
	test_crash_replay();
	return tap_done();
}
