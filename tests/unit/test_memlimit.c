/* Unit tests for memlimit.c: /proc/self/cgroup and memory.max parsing,
 * the limit found up a fake cgroup tree, and options scaled to fit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memlimit.h"
#include "tap.h"

#define MIB ((uint64_t)1 << 20)

static void test_paths(void)
{
	char p[256];

	TAP_INTEQ(memlimit_cgroup_path("0::/system.slice/r2fs.service\n", NULL,
				       p, sizeof(p)), 0, "v2 line");
	TAP_STREQ(p, "/system.slice/r2fs.service", "v2 path");
	TAP_INTEQ(memlimit_cgroup_path("0::/\n", NULL, p, sizeof(p)), 0,
		  "v2 in a cgroup namespace");
	TAP_STREQ(p, "/", "root path");
	TAP_INTEQ(memlimit_cgroup_path("12:memory:/a\n4:cpu:/b\n", NULL, p,
				       sizeof(p)), -ENOENT, "v1 only: no v2");
	TAP_INTEQ(memlimit_cgroup_path("12:pids:/x\n10:cpu,memory:/kube/pod1"
				       "\n0::/\n", "memory", p, sizeof(p)),
		  0, "v1 memory among others");
	TAP_STREQ(p, "/kube/pod1", "v1 memory path");
	TAP_INTEQ(memlimit_cgroup_path("3:memoryx:/no\n", "memory", p,
				       sizeof(p)), -ENOENT,
		  "a controller's name matched whole");
	TAP_INTEQ(memlimit_cgroup_path("0::/a/very/long/path", NULL, p, 5),
		  -EINVAL, "too long for the buffer");
	TAP_INTEQ(memlimit_cgroup_path("", NULL, p, sizeof(p)), -ENOENT,
		  "empty");
}

static void test_parse_max(void)
{
	uint64_t v = 0;

	TAP_INTEQ(memlimit_parse_max("max\n", &v), 0, "max");
	TAP_OK(v == MEMLIMIT_NONE, "max: no limit");
	TAP_INTEQ(memlimit_parse_max("536870912\n", &v), 0, "bytes");
	TAP_OK(v == 512 * MIB, "512 MiB");
	TAP_INTEQ(memlimit_parse_max("9223372036854771712\n", &v), 0,
		  "v1 unlimited");
	TAP_OK(v == MEMLIMIT_NONE, "v1 unlimited: no limit");
	TAP_INTEQ(memlimit_parse_max("", &v), -EINVAL, "empty refused");
	TAP_INTEQ(memlimit_parse_max("12k", &v), -EINVAL, "junk refused");
	TAP_INTEQ(memlimit_parse_max("-1", &v), -EINVAL, "negative refused");
	TAP_INTEQ(memlimit_parse_max("maxi", &v), -EINVAL, "maxi refused");
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_tree(void)
{
	char root[] = "/tmp/r2fs-memlimit-XXXXXX", p[512], cmd[600];
	uint64_t v = 0;

	TAP_OK(mkdtemp(root) != NULL, "fake cgroup root");
	snprintf(p, sizeof(p), "%s/kube", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/kube/pod", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/kube/pod/ctr", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/kube/pod/ctr/memory.max", root);
	put(p, "max\n");
	snprintf(p, sizeof(p), "%s/kube/pod/memory.max", root);
	put(p, "268435456\n");
	snprintf(p, sizeof(p), "%s/kube/memory.max", root);
	put(p, "1073741824\n");
	TAP_INTEQ(memlimit_read(root, "0::/kube/pod/ctr\n", &v), 0, "read");
	TAP_OK(v == 256 * MIB, "the pod's limit, smaller than its parent's, "
	       "applies to the container");
	TAP_INTEQ(memlimit_read(root, "0::/elsewhere\n", &v), 0,
		  "a cgroup without files");
	TAP_OK(v == MEMLIMIT_NONE, "no limit");
	TAP_INTEQ(memlimit_read(root, "1:name=systemd:/\n", &v), -ENOENT,
		  "no cgroup to read");

	/* hybrid: v2 without memory, v1 memory hierarchy */
	snprintf(p, sizeof(p), "%s/memory", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/memory/job", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/memory/job/memory.limit_in_bytes", root);
	put(p, "134217728\n");
	snprintf(p, sizeof(p), "%s/memory/memory.limit_in_bytes", root);
	put(p, "9223372036854771712\n");
	TAP_INTEQ(memlimit_read(root, "4:memory:/job\n0::/\n", &v), 0,
		  "hybrid read");
	TAP_OK(v == 128 * MIB, "v1 memory limit");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	TAP_INTEQ(system(cmd), 0, "cleaned up");
}

static void test_fit(void)
{
	unsigned ra = 128, w = 16, in = 100000;
	uint64_t need = memlimit_need(ra, w, in);

	TAP_OK(need > 300 * MIB && need < 400 * MIB,
	       "defaults take about 350 MiB");
	TAP_OK(!memlimit_fit(MEMLIMIT_NONE, &ra, &w, &in), "no limit: kept");
	TAP_OK(!memlimit_fit(4096 * MIB, &ra, &w, &in), "4 GiB: kept");
	TAP_OK(ra == 128 && w == 16 && in == 100000, "unchanged");
	TAP_OK(memlimit_fit(512 * MIB, &ra, &w, &in), "512 MiB: scaled");
	TAP_OK(memlimit_need(ra, w, in) <= 256 * MIB,
	       "fits in half the limit");
	TAP_OK(ra < 128 && w < 16 && in < 100000 && ra >= 8 && w >= 1,
	       "each scaled, above its floor");
	ra = 128, w = 16, in = 100000;
	TAP_OK(memlimit_fit(64 * MIB, &ra, &w, &in), "64 MiB: scaled");
	TAP_OK(ra == 8 && w == 1 && in == 1000, "floors at worst");
}

int main(void)
{
	test_paths();
	test_parse_max();
	test_tree();
	test_fit();
	return tap_done();
}
