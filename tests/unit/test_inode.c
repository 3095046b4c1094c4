/* Unit tests for inode.c: numbers, paths, counts, renames. */
#include <stdio.h>
#include <string.h>

#include "inode.h"
#include "tap.h"

int main(void)
{
	struct inode_table *t = inode_table_new();
	struct inode *root, *a, *b, *again;
	char path[64];
	size_t i;
	int all = 1;

	TAP_OK(t != NULL, "table created");
	root = inode_find(t, INODE_ROOT);
	TAP_OK(root && root->path[0] == '\0', "root is ino 1 with path ''");
	TAP_OK(S_ISDIR(root->attr.st_mode), "root is a directory");
	a = inode_get_path(t, "dir/a", S_IFREG);
	TAP_OK(a && a->ino != INODE_ROOT, "new inode");
	again = inode_get_path(t, "dir/a", S_IFREG);
	TAP_OK(again == a, "same path, same inode");
	TAP_OK(inode_find(t, a->ino) == a, "find by number");
	TAP_INTEQ(inode_set_path(t, a, "dir/b"), 0, "rename");
	TAP_OK(inode_find_path(t, "dir/a") == NULL, "old path gone");
	TAP_OK(inode_find_path(t, "dir/b") == a, "new path found");
	inode_unhash_path(t, a);
	TAP_OK(inode_find_path(t, "dir/b") == NULL, "unlinked path gone");
	TAP_OK(inode_find(t, a->ino) == a, "unlinked inode still by number");
	b = inode_get_path(t, "dir/b", S_IFREG);
	TAP_OK(b != a && b->ino > a->ino, "new file gets a new number");
	a->nlookup = 1;
	TAP_OK(!inode_maybe_free(t, a), "looked-up inode kept");
	a->nlookup = 0;
	TAP_OK(inode_maybe_free(t, a), "forgotten inode freed");
	TAP_OK(!inode_maybe_free(t, root), "root never freed");
	for (i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "many/%zu", i);
		if (!inode_get_path(t, path, S_IFREG))
			all = 0;
	}
	for (i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "many/%zu", i);
		if (!inode_find_path(t, path))
			all = 0;
	}
	TAP_OK(all, "5000 inodes survive table growth");
	TAP_INTEQ(inode_table_count(t), 5002, "count");
	TAP_INTEQ(inode_table_peak(t), 5002, "peak");
	inode_table_free(t);
	return tap_done();
}
