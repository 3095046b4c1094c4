/* Unit tests for notify.c: $NOTIFY_SOCKET's addresses, and messages that
 * arrive at a datagram socket bound there (a path and an abstract name). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

static void test_parse(void)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	char longname[200];

	TAP_INTEQ(notify_parse_addr("/run/systemd/notify", &sa, &len), 0,
		  "a path");
	TAP_STREQ(sa.sun_path, "/run/systemd/notify", "path kept");
	TAP_INTEQ(len, offsetof(struct sockaddr_un, sun_path) + 20,
		  "path length counts its NUL");
	TAP_INTEQ(notify_parse_addr("@abs/name", &sa, &len), 0, "abstract");
	TAP_OK(sa.sun_path[0] == '\0' && !memcmp(sa.sun_path + 1, "abs/name",
						 8), "'@' becomes NUL");
	TAP_INTEQ(len, offsetof(struct sockaddr_un, sun_path) + 9,
		  "abstract length: no trailing NUL");
	TAP_INTEQ(notify_parse_addr("", &sa, &len), -EINVAL, "empty");
	TAP_INTEQ(notify_parse_addr("@", &sa, &len), -EINVAL, "bare @");
	TAP_INTEQ(notify_parse_addr("run/notify", &sa, &len), -EINVAL,
		  "relative");
	TAP_INTEQ(notify_parse_addr("vsock:2:1234", &sa, &len), -EAFNOSUPPORT,
		  "vsock is not spoken");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	TAP_INTEQ(notify_parse_addr(longname, &sa, &len), -EINVAL,
		  "longer than sun_path");
}

/* Bind a receiver where value says, open a notifier from the
 * environment, send, and read what arrived. */
static void roundtrip(const char *value, const char *label)
{
	struct sockaddr_un sa;
	struct notify n;
	socklen_t len;
	char buf[256], name[128];
	ssize_t got;
	int rx;

	rx = socket(AF_UNIX, SOCK_DGRAM, 0);
	TAP_OK(rx >= 0 && notify_parse_addr(value, &sa, &len) == 0 &&
		       bind(rx, (struct sockaddr *)&sa, len) == 0,
	       "receiver bound");
	setenv("NOTIFY_SOCKET", value, 1);
	TAP_INTEQ(notify_open(&n), 0, "opened from the environment");
	TAP_OK(getenv("NOTIFY_SOCKET") == NULL, "variable unset for children");
	TAP_INTEQ(notify_sendf(&n, "READY=1\nSTATUS=mounted %s", "b at /m"),
		  0, "sent");
	got = recv(rx, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[got > 0 ? got : 0] = '\0';
	snprintf(name, sizeof(name), "%s: one datagram, as sent", label);
	TAP_STREQ(buf, "READY=1\nSTATUS=mounted b at /m", name);
	notify_close(&n);
	close(rx);
}

/* A supervisor that does not read: its queue full, a send gives up
 * (after notify.c's 2 s) instead of blocking the daemon for ever. */
static void test_full_queue(void)
{
	struct sockaddr_un sa;
	struct notify n;
	struct timespec t0, t1;
	socklen_t len;
	char value[64];
	int rx, filler, rc, sent = 0;

	snprintf(value, sizeof(value), "@r2fs-notify-full-%d", getpid());
	rx = socket(AF_UNIX, SOCK_DGRAM, 0);
	filler = socket(AF_UNIX, SOCK_DGRAM, 0);
	notify_parse_addr(value, &sa, &len);
	TAP_OK(bind(rx, (struct sockaddr *)&sa, len) == 0, "full: bound");
	while (sendto(filler, "X=1", 3, MSG_DONTWAIT, (struct sockaddr *)&sa,
		      len) == 3 && sent < 100000)
		sent++;
	TAP_OK(sent > 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
	       "full: the queue is full");
	setenv("NOTIFY_SOCKET", value, 1);
	TAP_INTEQ(notify_open(&n), 0, "full: opened");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = notify_send(&n, "STOPPING=1");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TAP_OK(rc == -EAGAIN || rc == -EWOULDBLOCK, "full: send gave up");
	TAP_OK(t1.tv_sec - t0.tv_sec >= 1 && t1.tv_sec - t0.tv_sec <= 4,
	       "full: after about 2 s");
	notify_close(&n);
	close(filler);
	close(rx);
}

int main(void)
{
	struct notify n;
	char path[64], abs[64];

	test_parse();

	unsetenv("NOTIFY_SOCKET");
	TAP_INTEQ(notify_open(&n), 0, "unset: fine");
	TAP_INTEQ(n.fd, -1, "unset: nothing to send to");
	TAP_INTEQ(notify_send(&n, "READY=1"), 0, "unset: send is a no-op");

	setenv("NOTIFY_SOCKET", "relative", 1);
	TAP_INTEQ(notify_open(&n), -EINVAL, "bad value refused");
	TAP_INTEQ(n.fd, -1, "bad value: nothing to send to");

	snprintf(path, sizeof(path), "/tmp/r2fs-notify-test-%d", getpid());
	unlink(path);
	roundtrip(path, "path");
	unlink(path);
	snprintf(abs, sizeof(abs), "@r2fs-notify-test-%d", getpid());
	roundtrip(abs, "abstract");
	test_full_queue();
	return tap_done();
}
