/*
 * test_fs_rename.c - rename on the in-memory store: files pending and
 * uploaded, a rename over a pending file and back (issue 15's
 * resurrected file), directories with pending files racing the move,
 * and a directory rename cut short by a failure, finished at the next
 * mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsh.h"
#include "tap.h"

#define PENDING 600.0 /* a quiet period no test waits out */

static void seed(struct fsh *h, const char *key, const char *body)
{
	memstore_put_bytes(h->ms, key, body, strlen(body), NULL);
}

static bool no_conflict_copy(struct fsh *h)
{
	char *k = fsh_keys(h);
	bool none = k && !strstr(k, ".conflict-");

	free(k);
	return none;
}

static void test_pending_file(void)
{
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "pending: mount");
	TAP_INTEQ(fsh_write_file(&h, "tmp.x", "body", 4), 0, "write tmp.x");
	TAP_INTEQ(fsh_rename(&h, "tmp.x", "final"), 0, "rename it pending");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "final");
	TAP_STREQ(s, "body", "the bucket has it under its new name");
	free(s);
	TAP_OK(!memstore_exists(h.ms, "tmp.x"), "never under the old one");
	TAP_INTEQ(fsh_count(&h, MS_OP_PUT), 1, "one PUT");
	TAP_INTEQ(fsh_count(&h, MS_OP_COPY), 0, "no COPY (rsync's pattern)");
	fsh_done(&h);
}

static void test_uploaded_file(void)
{
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "uploaded: mount");
	TAP_INTEQ(fsh_write_file(&h, "a", "A", 1), 0, "write a");
	TAP_INTEQ(fsh_chmod(&h, "a", 0600), 0, "chmod a");
	TAP_INTEQ(fsh_sync(&h), 0, "upload it");
	fsh_reset_counts(&h);
	TAP_INTEQ(fsh_rename(&h, "a", "b"), 0, "rename a b");
	TAP_INTEQ(fsh_count(&h, MS_OP_COPY), 1, "one COPY");
	TAP_INTEQ(fsh_count(&h, MS_OP_DELETE), 1, "one DELETE");
	s = fsh_object(&h, "b");
	TAP_STREQ(s, "A", "b holds a's bytes");
	free(s);
	s = fsh_object_meta(&h, "b", "mode");
	TAP_STREQ(s, "33152", "and its mode");
	free(s);
	TAP_OK(!memstore_exists(h.ms, "a"), "a is gone");
	fsh_done(&h);
}

static void test_rename_over_pending_and_back(void)
{
	struct fsh h;
	struct stat st;
	char *s = NULL;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "over pending: mount");
	fsh_mkdir(&h, "a", 0755);
	fsh_mkdir(&h, "b", 0755);
	TAP_INTEQ(fsh_write_file(&h, "a/f", "hello", 5), 0, "write a/f");
	TAP_INTEQ(fsh_sync(&h), 0, "upload a/f");
	TAP_INTEQ(fsh_write_file(&h, "b/g", "world", 5), 0,
		  "write b/g (pending)");
	TAP_INTEQ(fsh_rename(&h, "a/f", "b/g"), 0,
		  "rename the uploaded a/f over the pending b/g");
	TAP_INTEQ(fsh_rename(&h, "b/g", "a/f"), 0, "and back");
	TAP_INTEQ(fsh_stat(&h, "b/g", &st), -ENOENT, "b/g is gone");
	TAP_INTEQ(fsh_list(&h, "b", &s), 0, "readdir b");
	TAP_STREQ(s, "", "b lists nothing (no ghost of g)");
	free(s);
	TAP_INTEQ(fsh_sync(&h), 0, "sync: nothing fails");
	TAP_OK(fsh_journal_empty(&h), "no record stays in the journal");
	s = fsh_object(&h, "a/f");
	TAP_STREQ(s, "hello", "a/f holds its bytes");
	free(s);
	TAP_OK(!memstore_exists(h.ms, "b/g"), "the bucket has no b/g");
	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_OK(!memstore_exists(h.ms, "b/g"),
	       "b/g does not come back at the next mount");
	TAP_INTEQ(fsh_rmdir(&h, "b"), 0, "rmdir b");
	fsh_done(&h);
}

static void test_clean_over_pending(void)
{
	struct fsh h;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "clean over pending: mount");
	TAP_INTEQ(fsh_write_file(&h, "c", "C", 1), 0, "write c");
	TAP_INTEQ(fsh_sync(&h), 0, "upload c");
	TAP_INTEQ(fsh_write_file(&h, "d", "D", 1), 0, "write d (pending)");
	TAP_INTEQ(fsh_rename(&h, "c", "d"), 0, "mv c d");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "d");
	TAP_STREQ(s, "C", "d holds c's bytes, not the pending D");
	free(s);
	TAP_OK(no_conflict_copy(&h), "and no conflict copy appears");
	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "d");
	TAP_STREQ(s, "C", "still C after the next mount");
	free(s);
	TAP_OK(no_conflict_copy(&h), "still no conflict copy");
	fsh_done(&h);
}

static void test_pending_over_uploaded_then_away(void)
{
	struct fsh h;
	struct stat st;
	char *s;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "pending over uploaded: mount");
	TAP_INTEQ(fsh_write_file(&h, "B", "old", 3), 0, "write B");
	TAP_INTEQ(fsh_sync(&h), 0, "upload B");
	TAP_INTEQ(fsh_write_file(&h, "A", "new", 3), 0, "write A (pending)");
	TAP_INTEQ(fsh_rename(&h, "A", "B"), 0, "mv A B");
	TAP_INTEQ(fsh_rename(&h, "B", "C"), 0, "mv B C before A's upload");
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	TAP_OK(!memstore_exists(h.ms, "B"),
	       "B's old version is gone from the bucket");
	s = fsh_object(&h, "C");
	TAP_STREQ(s, "new", "C holds A's bytes");
	free(s);
	TAP_INTEQ(fsh_remount(&h), 0, "remount");
	TAP_INTEQ(fsh_stat(&h, "B", &st), -ENOENT,
		  "B does not come back (pjdfstest rename/09, 10)");
	fsh_done(&h);
}

static void test_dir_rename_failure_finished_at_mount(void)
{
	struct fault_rule tenth_copy = {
		.ops = FAULT_OP(FAULT_COPY), .when = FAULT_NTH, .n = 10,
		.kind = FAULT_ERRNO, .err = -EIO,
	};
	char key[64], *k;
	struct fsh h;
	int i, left = 0, moved = 0;

	TAP_INTEQ(fsh_init(&h, PENDING), 0, "dir rename: mount");
	for (i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "src/f%02d", i);
		seed(&h, key, key);
	}
	faultstore_add(h.fault, &tenth_copy);
	TAP_INTEQ(fsh_rename(&h, "src", "dst"), -EIO,
		  "a COPY fails half way: the rename says so");
	faultstore_clear(h.fault);
	TAP_INTEQ(fsh_remount(&h), 0, "the next mount");
	k = fsh_keys(&h);
	for (i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "src/f%02d\n", i);
		left += k && strstr(k, key) != NULL;
		snprintf(key, sizeof(key), "dst/f%02d\n", i);
		moved += k && strstr(k, key) != NULL;
	}
	free(k);
	TAP_INTEQ(moved, 30, "finishes the rename: every key is below dst");
	TAP_INTEQ(left, 0, "and none is left below src");
	k = fsh_object(&h, "dst/f17");
	TAP_STREQ(k, "src/f17", "with its bytes");
	free(k);
	fsh_done(&h);
}

static void test_dir_rename_races_pending_upload(void)
{
	struct fault_rule slow_copy = {
		.ops = FAULT_OP(FAULT_COPY), .when = FAULT_AFTER, .n = 0,
		.kind = FAULT_DELAY, .delay_us = 100000,
	};
	char key[64], *s;
	struct fsh h;
	int i;

	/* a short quiet period, and a move that outlasts it */
	TAP_INTEQ(fsh_init(&h, 0.05), 0, "dir rename race: mount");
	seed(&h, "d/zz", "old\n");
	seed(&h, "d/x", "x");
	for (i = 0; i < 60; i++) {
		snprintf(key, sizeof(key), "d/f%02d", i);
		seed(&h, key, "f");
	}
	TAP_INTEQ(fsh_append(&h, "d/zz", "new\n", 4), 0, "append to d/zz");
	TAP_INTEQ(fsh_chmod(&h, "d/x", 0600), 0, "chmod d/x");
	faultstore_add(h.fault, &slow_copy);
	TAP_INTEQ(fsh_rename(&h, "d", "e"), 0, "mv d e");
	faultstore_clear(h.fault);
	TAP_INTEQ(fsh_sync(&h), 0, "sync");
	s = fsh_object(&h, "e/zz");
	TAP_STREQ(s, "old\nnew\n",
		  "the appended version wins over the moved old key");
	free(s);
	s = fsh_object_meta(&h, "e/x", "mode");
	TAP_STREQ(s, "33152", "the chmod made before the move is kept");
	free(s);
	TAP_OK(!memstore_exists(h.ms, "d/zz"), "nothing left below d");
	fsh_done(&h);
}

int main(void)
{
	alarm(300); /* a hang (an upload waited for forever) fails too */
	test_pending_file();
	test_uploaded_file();
	test_rename_over_pending_and_back();
	test_clean_over_pending();
	test_pending_over_uploaded_then_away();
	test_dir_rename_failure_finished_at_mount();
	test_dir_rename_races_pending_upload();
	return tap_done();
}
