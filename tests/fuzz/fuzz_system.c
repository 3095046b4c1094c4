/*
 * fuzz_system.c - libFuzzer target for the parsers of what the system
 * and the operator hand the daemon besides its options: -o metrics=SPEC
 * and the stats text rendered for Prometheus (src/metrics.c), and
 * /proc/self/cgroup and memory.max texts (src/memlimit.c).
 *
 * Input layout: a flags byte (which v1 controller to ask for), an output
 * buffer size, then NUL-separated fields: a metrics spec, a stats text,
 * a /proc/self/cgroup text, a memory.max text.  Checked besides memory
 * errors: the documented return codes, an error sentence on every
 * refusal of a spec, an accepted spec that is a Unix path or loopback
 * with a port in 1-65535, a rendering that fits and is NUL-terminated, a
 * cgroup path that is absolute, and memlimit_fit never raising a value.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_check.h"
#include "fuzz_split.h"
#include "memlimit.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const v1s[] = { NULL, "memory", "cpu", "" };
	struct fuzz_split s;
	struct metrics_addr a;
	const char *spec, *stats, *cg, *max;
	unsigned flags, outlen, ra, up, ino, ra0, up0, ino0;
	char err[256], path[512], *out;
	uint64_t limit;
	int rc;

	fuzz_split_init(&s, data, size);
	flags = fuzz_byte(&s);
	outlen = fuzz_byte(&s) * 64 + 1;
	spec = fuzz_next_str(&s);
	stats = fuzz_next_str(&s);
	cg = fuzz_next_str(&s);
	max = fuzz_next_str(&s);

	err[0] = '\0';
	rc = metrics_parse(spec, &a, err, sizeof(err));
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc)
		CHECK(err[0] != '\0');
	else if (a.family == AF_UNIX)
		CHECK(a.path[0] == '/' && strlen(a.path) < sizeof(a.path));
	else
		CHECK(a.port >= 1 && a.port <= 65535 &&
		      (a.family == AF_INET || a.family == AF_INET6));

	out = malloc(outlen);
	if (out) {
		rc = metrics_render(stats, out, outlen);
		CHECK(rc == -ERANGE || (rc >= 0 && (unsigned)rc < outlen &&
					out[rc] == '\0' &&
					strlen(out) == (size_t)rc));
		free(out);
	}

	rc = memlimit_cgroup_path(cg, v1s[flags & 3], path, sizeof(path));
	CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL);
	if (rc == 0)
		CHECK(path[0] == '/' && strlen(path) < sizeof(path));

	rc = memlimit_parse_max(max, &limit);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		ra = ra0 = (flags >> 2) * 16 + 8;
		up = up0 = (flags & 3) + 1;
		ino = ino0 = (flags >> 4) * 10000 + 1000;
		(void)memlimit_fit(limit, &ra, &up, &ino);
		CHECK(ra <= ra0 && up <= up0 && ino <= ino0);
	}
	fuzz_split_release(&s);
	return 0;
}
