/*
 * metrics.c - r2fs stats as Prometheus metrics, over minimal HTTP/1.0.
 *
 * Design: a scraper asks every 15-60 s, so the server is as small as it
 * can be: one thread, one connection at a time, poll() on the listening
 * socket and a pipe that stops the thread.  Each connection gets one
 * request (read until the blank line, at most 8 KiB, 2 s to arrive) and
 * one answer with Content-Length and "Connection: close"; GET and HEAD of
 * /metrics are served, other paths get 404, other methods 405.  A slow or
 * silent client costs at most the timeouts, never the mount: the thread
 * only reads counters (fs_stats_text takes the fs lock briefly).
 *
 * Where it listens is deliberately narrow: a Unix socket (its file mode
 * follows the umask; a sidecar or node agent reads it through a shared
 * volume) or a loopback port.  Counters say how busy a bucket is and what
 * it costs, which is nobody's business off the host: any other address
 * is refused rather than bound.
 *
 * Names are r2fs_ plus the name r2fs stats prints, so both read the same;
 * the table below says which only grow (counter) and which go up and down
 * (gauge).  A name not in the table (a counter added to fs_stats_text
 * later) is still exported, as untyped.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define METRICS_REQ_MAX 8192
#define METRICS_STATS_MAX 16384
#define METRICS_BODY_MAX 65536
#define METRICS_IO_TIMEOUT_S 2

struct metrics {
	struct metrics_addr addr;
	int fd;      /* listening */
	bool bound;  /* a Unix socket's file is ours to remove */
	int wake[2]; /* a byte on wake[1] stops the thread */
	metrics_text_fn fn;
	void *arg;
	pthread_t thread;
	bool running;
};

static const struct {
	const char *name, *type, *help;
} known[] = {
	{ "class_a_requests", "counter",
	  "Requests R2 bills as class A (writes, lists)" },
	{ "class_b_requests", "counter",
	  "Requests R2 bills as class B (reads, heads)" },
	{ "retries", "counter", "Requests retried after 429, 5xx or a "
				"network error" },
	{ "throttled_429", "counter", "Answers 429 (SlowDown)" },
	{ "failures", "counter", "Requests that failed after their retries" },
	{ "bytes_up", "counter", "Bytes sent to the bucket" },
	{ "bytes_down", "counter", "Bytes received from the bucket" },
	{ "pending_files", "gauge", "Files waiting for upload in the journal" },
	{ "pending_bytes", "gauge", "Bytes waiting for upload in the journal" },
	{ "upload_failures", "counter", "Uploads that failed (retried later)" },
	{ "estimated_cost_usd", "counter",
	  "Estimated request cost in US dollars at R2's list prices" },
	{ "lookups", "counter", "Name lookups asked by the kernel" },
	{ "inodes", "gauge", "Files and directories kept in memory" },
	{ "inodes_peak", "gauge", "Most inodes kept in memory at once" },
	{ "metadata_cached", "gauge", "Entries in the metadata cache" },
	{ "metadata_prefetched", "counter",
	  "Metadata fetched ahead of a listing's readers" },
	{ "metadata_fetched", "counter", "Metadata fetched on demand (HEAD)" },
	{ "metadata_hits", "counter", "Metadata answered from the cache" },
	{ "metadata_loaded", "counter",
	  "Metadata entries loaded from the last mount" },
	{ "dir_index_reads", "counter", "Directory indexes read" },
	{ "dir_index_used", "counter", "Directory indexes that answered" },
	{ "dir_index_writes", "counter", "Directory indexes written" },
	{ "read_cache_bytes", "gauge", "Bytes in the on-disk read cache" },
	{ "read_cache_limit", "gauge", "Size limit of the read cache" },
	{ "read_cache_hits", "counter", "Reads answered by the read cache" },
	{ "read_cache_misses", "counter", "Reads the read cache could not "
					  "answer" },
	{ "read_cache_bytes_served", "counter",
	  "Bytes served from the read cache" },
	{ "read_cache_evictions", "counter", "Read cache entries evicted" },
	{ "read_cache_torn", "counter",
	  "Read cache entries dropped as changed in the bucket" },
	{ "read_cache_write_errors", "counter",
	  "Failed writes to the read cache" },
	{ "memory_limit", "gauge",
	  "The cgroup memory limit the mount sized itself for (0: none)" },
};

/* ---------------------------------------------------------- parsing */

static bool port_ok(const char *s, unsigned *port)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return false;
	*port = (unsigned)v;
	return true;
}

int metrics_parse(const char *spec, struct metrics_addr *out, char *err,
		  size_t errlen)
{
	const char *colon;
	size_t hostlen;

	memset(out, 0, sizeof(*out));
	if (!spec || !spec[0]) {
		snprintf(err, errlen, "metrics needs a socket path or "
			 "127.0.0.1:PORT");
		return -EINVAL;
	}
	if (strchr(spec, '/')) {
		if (spec[0] != '/') {
			snprintf(err, errlen, "metrics=%s: a socket path must "
				 "be absolute", spec);
			return -EINVAL;
		}
		if (strlen(spec) >= sizeof(out->path)) {
			snprintf(err, errlen, "metrics=%s: a socket path may "
				 "have %zu bytes at most", spec,
				 sizeof(out->path) - 1);
			return -EINVAL;
		}
		snprintf(out->path, sizeof(out->path), "%s", spec);
		out->family = AF_UNIX;
		return 0;
	}
	colon = strrchr(spec, ':');
	hostlen = colon ? (size_t)(colon - spec) : 0;
	if (!colon || !port_ok(colon + 1, &out->port)) {
		snprintf(err, errlen, "metrics=%s is neither an absolute "
			 "socket path nor 127.0.0.1:PORT (PORT 1-65535)", spec);
		return -EINVAL;
	}
	if ((hostlen == 9 && !strncmp(spec, "127.0.0.1", 9)) ||
	    (hostlen == 9 && !strncmp(spec, "localhost", 9))) {
		out->family = AF_INET;
	} else if (hostlen == 5 && !strncmp(spec, "[::1]", 5)) {
		out->family = AF_INET6;
	} else {
		snprintf(err, errlen, "metrics=%s: only the loopback "
			 "(127.0.0.1, localhost, [::1]) or a Unix socket; the "
			 "counters are not served to the network", spec);
		return -EINVAL;
	}
	return 0;
}

/* -------------------------------------------------------- rendering */

/* One metric's three lines appended to out at *off; false when they do
 * not fit. */
static bool put(char *out, size_t len, size_t *off, const char *name,
		const char *help, const char *type, const char *value)
{
	int w = snprintf(out + *off, len - *off,
			 "# HELP r2fs_%s %s\n# TYPE r2fs_%s %s\nr2fs_%s %s\n",
			 name, help, name, type, name, value);

	if (w < 0 || (size_t)w >= len - *off)
		return false;
	*off += (size_t)w;
	return true;
}

static bool name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static bool value_ok(const char *s)
{
	char *end;

	if (!s[0])
		return false;
	strtod(s, &end);
	return *end == '\0';
}

int metrics_render(const char *stats, char *out, size_t len)
{
	char name[128], value[64];
	const char *line = stats, *eol, *sp;
	const char *type, *help;
	size_t off = 0, i, nlen, vlen;

	if (len == 0)
		return -ERANGE;
	out[0] = '\0';
	for (; *line; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		sp = memchr(line, ' ', (size_t)(eol - line));
		if (!sp)
			continue;
		nlen = (size_t)(sp - line);
		vlen = (size_t)(eol - sp - 1);
		if (!name_ok(line, nlen) || nlen >= sizeof(name) ||
		    vlen >= sizeof(value))
			continue;
		memcpy(name, line, nlen);
		name[nlen] = '\0';
		memcpy(value, sp + 1, vlen);
		value[vlen] = '\0';
		if (!value_ok(value))
			continue;
		type = "untyped";
		help = NULL;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (!strcmp(known[i].name, name)) {
				type = known[i].type;
				help = known[i].help;
				break;
			}
		}
		if (!put(out, len, &off, name,
			 help ? help : "r2fs stats counter", type, value))
			return -ERANGE;
	}
	return (int)off;
}

/* ----------------------------------------------------------- socket */

/* A Unix socket file at path from an earlier daemon: 0 when there is
 * none or it was dead (and removed), -EADDRINUSE when someone accepts on
 * it, -EEXIST when it is not a socket. */
static int clear_stale_socket(const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, len) == 0 ? -EADDRINUSE
		: errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	if (rc == 0 && unlink(sa->sun_path) < 0)
		rc = -errno;
	return rc;
}

int metrics_open(const char *spec, struct metrics **out, char *err,
		 size_t errlen)
{
	struct metrics *m = NULL;
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} a;
	socklen_t alen;
	int rc, one = 1;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = m->wake[0] = m->wake[1] = -1;
	rc = metrics_parse(spec, &m->addr, err, errlen);
	if (rc)
		goto out;
	memset(&a, 0, sizeof(a));
	if (m->addr.family == AF_UNIX) {
		a.un.sun_family = AF_UNIX;
		memcpy(a.un.sun_path, m->addr.path, strlen(m->addr.path));
		alen = sizeof(a.un);
		rc = clear_stale_socket(&a.un, alen);
		if (rc) {
			snprintf(err, errlen, "metrics=%s: %s", spec,
				 rc == -EADDRINUSE ? "another process serves "
						     "there already"
				 : rc == -EEXIST ? "the file exists and is not "
						   "a socket"
						 : strerror(-rc));
			goto out;
		}
	} else if (m->addr.family == AF_INET) {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons((uint16_t)m->addr.port);
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(a.in);
	} else {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons((uint16_t)m->addr.port);
		a.in6.sin6_addr = in6addr_loopback;
		alen = sizeof(a.in6);
	}
	m->fd = socket(m->addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = m->fd < 0 ? -errno : 0;
	if (!rc && m->addr.family != AF_UNIX &&
	    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		rc = -errno;
	if (!rc && bind(m->fd, &a.sa, alen) < 0)
		rc = -errno;
	m->bound = !rc;
	if (!rc && listen(m->fd, 8) < 0)
		rc = -errno;
	if (rc) {
		snprintf(err, errlen, "cannot serve metrics at %s: %s", spec,
			 strerror(-rc));
		goto out;
	}
	if (pipe2(m->wake, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot serve metrics: %s",
			 strerror(-rc));
		goto out;
	}
	*out = m;
	m = NULL;
out:
	metrics_free(m);
	return rc;
}

/* ------------------------------------------------------------ serving */

static void send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client went away or stalled: its loss */
		p += w;
		n -= (size_t)w;
	}
}

static void answer(int fd, const char *status, const char *type,
		   const char *body, size_t blen, bool head)
{
	char hdr[256];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, type, blen);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return;
	send_all(fd, hdr, (size_t)n);
	if (!head)
		send_all(fd, body, blen);
}

/* One connection: one request, one answer. */
static void serve(struct metrics *m, int fd)
{
	struct timeval tv = { METRICS_IO_TIMEOUT_S, 0 };
	char *req = NULL, *stats = NULL, *body = NULL, *sp, *path, *q;
	static const char text[] = "text/plain; version=0.0.4; charset=utf-8";
	size_t got = 0;
	ssize_t n;
	bool head;
	int len;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	req = malloc(METRICS_REQ_MAX + 1);
	if (!req)
		goto out;
	while (got < METRICS_REQ_MAX) {
		n = recv(fd, req + got, METRICS_REQ_MAX - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	sp = strchr(req, ' ');
	if (!sp) {
		answer(fd, "400 Bad Request", "text/plain", "bad request\n",
		       12, false);
		goto out;
	}
	*sp = '\0';
	path = sp + 1;
	sp = strpbrk(path, " \r\n");
	if (sp)
		*sp = '\0';
	q = strchr(path, '?');
	if (q)
		*q = '\0';
	head = !strcmp(req, "HEAD");
	if (!head && strcmp(req, "GET")) {
		answer(fd, "405 Method Not Allowed", "text/plain",
		       "GET /metrics\n", 13, false);
		goto out;
	}
	if (strcmp(path, "/metrics")) {
		answer(fd, "404 Not Found", "text/plain", "GET /metrics\n", 13,
		       head);
		goto out;
	}
	stats = malloc(METRICS_STATS_MAX);
	body = malloc(METRICS_BODY_MAX);
	if (!stats || !body || m->fn(m->arg, stats, METRICS_STATS_MAX) < 0 ||
	    (len = metrics_render(stats, body, METRICS_BODY_MAX)) < 0) {
		answer(fd, "500 Internal Server Error", "text/plain",
		       "no counters\n", 12, head);
		goto out;
	}
	answer(fd, "200 OK", text, body, (size_t)len, head);
out:
	free(req);
	free(stats);
	free(body);
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;
	struct pollfd p[2];
	int fd;

	p[0] = (struct pollfd){ .fd = m->fd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = m->wake[0], .events = POLLIN };
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("metrics: poll: %s; no longer serving",
				strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue; /* the client gave up, or EMFILE: next time */
		serve(m, fd);
		close(fd);
	}
	return NULL;
}

int metrics_start(struct metrics *m, metrics_text_fn fn, void *arg)
{
	m->fn = fn;
	m->arg = arg;
	if (pthread_create(&m->thread, NULL, metrics_thread, m))
		return -EAGAIN;
	m->running = true;
	return 0;
}

void metrics_free(struct metrics *m)
{
	char c = 1;

	if (!m)
		return;
	if (m->running) {
		if (write(m->wake[1], &c, 1) < 0)
			log_warn("metrics: cannot stop the thread: %s",
				 strerror(errno));
		pthread_join(m->thread, NULL);
	}
	if (m->fd >= 0) {
		close(m->fd);
		if (m->addr.family == AF_UNIX && m->bound)
			unlink(m->addr.path);
	}
	if (m->wake[0] >= 0)
		close(m->wake[0]);
	if (m->wake[1] >= 0)
		close(m->wake[1]);
	free(m);
}
