/* Unit tests for metrics.c: the address option, the exposition format,
 * and a live server over a Unix socket and the loopback. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "metrics.h"
#include "tap.h"

static void test_parse(void)
{
	struct metrics_addr a;
	char err[256];

	TAP_INTEQ(metrics_parse("/run/r2fs/metrics.sock", &a, err,
				sizeof(err)), 0, "a socket path");
	TAP_OK(a.family == AF_UNIX && !strcmp(a.path, "/run/r2fs/metrics.sock"),
	       "path kept");
	TAP_INTEQ(metrics_parse("127.0.0.1:9100", &a, err, sizeof(err)), 0,
		  "127.0.0.1:PORT");
	TAP_OK(a.family == AF_INET && a.port == 9100, "inet, port");
	TAP_INTEQ(metrics_parse("localhost:1", &a, err, sizeof(err)), 0,
		  "localhost:PORT");
	TAP_INTEQ(metrics_parse("[::1]:65535", &a, err, sizeof(err)), 0,
		  "[::1]:PORT");
	TAP_OK(a.family == AF_INET6 && a.port == 65535, "inet6, port");
	TAP_INTEQ(metrics_parse("0.0.0.0:9100", &a, err, sizeof(err)),
		  -EINVAL, "any address refused");
	TAP_STREQ(err, "metrics=0.0.0.0:9100: only the loopback (127.0.0.1, "
		  "localhost, [::1]) or a Unix socket; the counters are not "
		  "served to the network", "why");
	TAP_INTEQ(metrics_parse("10.0.0.1:9100", &a, err, sizeof(err)),
		  -EINVAL, "another host refused");
	TAP_INTEQ(metrics_parse(":9100", &a, err, sizeof(err)), -EINVAL,
		  "no host refused");
	TAP_INTEQ(metrics_parse("127.0.0.1:0", &a, err, sizeof(err)),
		  -EINVAL, "port 0 refused");
	TAP_INTEQ(metrics_parse("127.0.0.1:65536", &a, err, sizeof(err)),
		  -EINVAL, "port 65536 refused");
	TAP_INTEQ(metrics_parse("127.0.0.1:+80", &a, err, sizeof(err)),
		  -EINVAL, "signed port refused");
	TAP_INTEQ(metrics_parse("9100", &a, err, sizeof(err)), -EINVAL,
		  "a bare port refused");
	TAP_INTEQ(metrics_parse("run/m.sock", &a, err, sizeof(err)), -EINVAL,
		  "relative path refused");
	TAP_STREQ(err, "metrics=run/m.sock: a socket path must be absolute",
		  "relative: why");
}

static void test_render(void)
{
	char out[4096];
	int n;

	n = metrics_render("class_a_requests 12\npending_files 3\n"
			   "estimated_cost_usd 0.000054\nbrand_new 7\n"
			   "not a counter line\nbad-name 1\nnan_value x\n"
			   "last_no_newline 5", out, sizeof(out));
	TAP_OK(n > 0 && (size_t)n == strlen(out), "rendered");
	TAP_OK(strstr(out, "# TYPE r2fs_class_a_requests counter\n"
			   "r2fs_class_a_requests 12\n") != NULL,
	       "a counter");
	TAP_OK(strstr(out, "# HELP r2fs_pending_files Files waiting for "
			   "upload in the journal\n# TYPE r2fs_pending_files "
			   "gauge\nr2fs_pending_files 3\n") != NULL,
	       "a gauge, with its help");
	TAP_OK(strstr(out, "r2fs_estimated_cost_usd 0.000054\n") != NULL,
	       "a fraction kept as printed");
	TAP_OK(strstr(out, "# TYPE r2fs_brand_new untyped\n"
			   "r2fs_brand_new 7\n") != NULL,
	       "an unknown name: untyped");
	TAP_OK(!strstr(out, "not") && !strstr(out, "bad") &&
		       !strstr(out, "nan_value"), "other lines skipped");
	TAP_OK(strstr(out, "r2fs_last_no_newline 5\n") != NULL,
	       "last line without newline");
	TAP_INTEQ(metrics_render("class_a_requests 12\n", out, 20), -ERANGE,
		  "too small: -ERANGE");
}

static int fake_stats(void *arg, char *buf, size_t len)
{
	return snprintf(buf, len, "class_a_requests %d\npending_files 2\n",
			*(int *)arg);
}

/* Send req to the server at sa and read the whole answer. */
static void ask(const struct sockaddr *sa, socklen_t len, const char *req,
		char *out, size_t outlen)
{
	size_t got = 0;
	ssize_t n;
	int fd = socket(sa->sa_family, SOCK_STREAM, 0);

	out[0] = '\0';
	if (fd < 0 || connect(fd, sa, len) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return;
	}
	while (got + 1 < outlen &&
	       (n = read(fd, out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
}

static void test_server(void)
{
	struct metrics *m = NULL, *m2 = NULL;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_in in = { .sin_family = AF_INET };
	char path[108], spec[64], err[256], out[8192];
	struct stat st;
	int value = 41, fd;

	snprintf(path, sizeof(path), "/tmp/r2fs-metrics-test-%d.sock",
		 getpid());
	unlink(path);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	TAP_INTEQ(metrics_open(path, &m, err, sizeof(err)), 0, "unix: open");
	TAP_INTEQ(metrics_start(m, fake_stats, &value), 0, "unix: start");
	ask((struct sockaddr *)&un, sizeof(un),
	    "GET /metrics HTTP/1.0\r\n\r\n", out, sizeof(out));
	TAP_OK(!strncmp(out, "HTTP/1.0 200 OK\r\n", 17), "unix: 200");
	TAP_OK(strstr(out, "Content-Type: text/plain; version=0.0.4") != NULL,
	       "unix: the exposition format's type");
	TAP_OK(strstr(out, "\r\n\r\n# HELP r2fs_class_a_requests") != NULL &&
		       strstr(out, "\nr2fs_class_a_requests 41\n") != NULL,
	       "unix: the callback's counters");
	value = 42;
	ask((struct sockaddr *)&un, sizeof(un),
	    "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	TAP_OK(strstr(out, "\nr2fs_class_a_requests 42\n") != NULL,
	       "unix: asked afresh each time");
	ask((struct sockaddr *)&un, sizeof(un), "GET / HTTP/1.0\r\n\r\n", out,
	    sizeof(out));
	TAP_OK(!strncmp(out, "HTTP/1.0 404 ", 13), "unix: other path 404");
	ask((struct sockaddr *)&un, sizeof(un),
	    "POST /metrics HTTP/1.0\r\n\r\n", out, sizeof(out));
	TAP_OK(!strncmp(out, "HTTP/1.0 405 ", 13), "unix: POST 405");
	ask((struct sockaddr *)&un, sizeof(un),
	    "HEAD /metrics HTTP/1.0\r\n\r\n", out, sizeof(out));
	TAP_OK(!strncmp(out, "HTTP/1.0 200 ", 13) &&
		       !strstr(out, "r2fs_class"), "unix: HEAD, no body");

	TAP_INTEQ(metrics_open(path, &m2, err, sizeof(err)), -EADDRINUSE,
		  "unix: a live socket is not taken over");
	metrics_free(m);
	TAP_OK(stat(path, &st) < 0 && errno == ENOENT,
	       "unix: socket file removed at the end");

	/* a dead daemon's socket file is replaced */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	TAP_OK(bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0,
	       "a stale socket file");
	close(fd);
	TAP_INTEQ(metrics_open(path, &m, err, sizeof(err)), 0,
		  "unix: stale socket replaced");
	metrics_free(m);
	fd = creat(path, 0600);
	close(fd);
	TAP_INTEQ(metrics_open(path, &m, err, sizeof(err)), -EEXIST,
		  "unix: a plain file is not replaced");
	unlink(path);

	/* loopback TCP: bind port 0 would be refused, so find a free one */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&in, sizeof(in));
	{
		socklen_t l = sizeof(in);

		getsockname(fd, (struct sockaddr *)&in, &l);
	}
	close(fd);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", ntohs(in.sin_port));
	TAP_INTEQ(metrics_open(spec, &m, err, sizeof(err)), 0, "tcp: open");
	TAP_INTEQ(metrics_start(m, fake_stats, &value), 0, "tcp: start");
	ask((struct sockaddr *)&in, sizeof(in),
	    "GET /metrics HTTP/1.0\r\n\r\n", out, sizeof(out));
	TAP_OK(strstr(out, "\nr2fs_pending_files 2\n") != NULL,
	       "tcp: the counters");
	metrics_free(m);
}

int main(void)
{
	test_parse();
	test_render();
	test_server();
	return tap_done();
}
