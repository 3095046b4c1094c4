/*
 * metrics.h - the mount's counters for Prometheus, over a tiny HTTP/1.0
 * server on a Unix socket or a loopback port (-o metrics=...).
 *
 * The counters are the "name value" lines of r2fs stats (fs_stats_text);
 * this module knows which are counters and which are gauges, and renders
 * them in Prometheus's text exposition format as r2fs_NAME.  It knows no
 * filesystem: the text comes from a callback.
 *
 * Life cycle: metrics_open() binds and listens (before the daemon forks,
 * so a bad address fails the mount with one sentence); metrics_start()
 * starts the one serving thread (after the fork); metrics_free() stops
 * it, closes the socket and removes a Unix socket's file.  The callback
 * runs on the serving thread and must be thread-safe.  Errors: negative
 * errno, with one sentence in err where there is one.
 */
#ifndef R2FS_METRICS_H
#define R2FS_METRICS_H

#include <stddef.h>

struct metrics;

/* Where to listen: a Unix socket path, or a loopback TCP address. */
struct metrics_addr {
	char path[108]; /* "" unless a Unix socket (sun_path's size) */
	int family;     /* AF_UNIX, AF_INET (127.0.0.1) or AF_INET6 (::1) */
	unsigned port;
};

/*
 * Parse -o metrics=SPEC: an absolute path (a Unix socket), or
 * 127.0.0.1:PORT, localhost:PORT, [::1]:PORT with PORT 1-65535.  Any
 * other host is refused: the counters are not for the network.  Pure.
 * 0 or -EINVAL with one sentence in err.
 */
int metrics_parse(const char *spec, struct metrics_addr *out, char *err,
		  size_t errlen);

/*
 * Render stats ("name value" lines; others are skipped) as the text
 * exposition format: "# HELP r2fs_NAME ...", "# TYPE r2fs_NAME
 * counter|gauge|untyped", "r2fs_NAME value", for each line.  Pure.
 * Bytes written (NUL-terminated in out), or -ERANGE.
 */
int metrics_render(const char *stats, char *out, size_t len);

/* Fills buf (len bytes) with "name value" lines: bytes or -errno. */
typedef int (*metrics_text_fn)(void *arg, char *buf, size_t len);

/* Bind and listen at spec.  A Unix socket file left by a daemon that
 * died (nobody accepts on it) is replaced; a live one is refused. */
int metrics_open(const char *spec, struct metrics **out, char *err,
		 size_t errlen);

/* Serve GET /metrics from fn(arg), one connection at a time. */
int metrics_start(struct metrics *m, metrics_text_fn fn, void *arg);

/* Stop serving, close, and remove the socket file; NULL is fine. */
void metrics_free(struct metrics *m);

#endif
