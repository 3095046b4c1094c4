/*
 * notify.c - sd_notify's datagram protocol, written out.
 *
 * The protocol is small enough that a dependency on libsystemd would
 * cost more than it saves: one SOCK_DGRAM socket, one sendto per message
 * to the address in $NOTIFY_SOCKET.  An abstract address ("@name") is
 * passed with its exact length (sun_path[0] = '\0', no terminating NUL
 * counted), a path one with its NUL, as systemd itself does.  Messages
 * are small (a STATUS line), so MSG_NOSIGNAL and no retry, and a send
 * blocked on a supervisor whose queue is full gives up after
 * NOTIFY_SEND_TIMEOUT_S: a supervisor that stopped listening loses a
 * status line, never the mount (nor holds up its unmount).
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define NOTIFY_SEND_TIMEOUT_S 2

int notify_parse_addr(const char *value, struct sockaddr_un *sa,
		      socklen_t *len)
{
	size_t n;

	if (!value || !value[0])
		return -EINVAL;
	if (!strncmp(value, "vsock:", 6))
		return -EAFNOSUPPORT;
	if (value[0] != '/' && value[0] != '@')
		return -EINVAL;
	n = strlen(value);
	if (n >= sizeof(sa->sun_path) || (value[0] == '@' && n < 2))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, value, n);
	if (value[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				   1);
	}
	return 0;
}

int notify_open(struct notify *n)
{
	const char *value = getenv("NOTIFY_SOCKET");
	struct timeval tv = { NOTIFY_SEND_TIMEOUT_S, 0 };
	int rc = 0;

	n->fd = -1;
	if (!value)
		return 0;
	rc = notify_parse_addr(value, &n->addr, &n->addrlen);
	unsetenv("NOTIFY_SOCKET"); /* value is not used after this */
	if (rc)
		return rc;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -errno;
	if (setsockopt(n->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		rc = -errno;
		notify_close(n);
		return rc;
	}
	return 0;
}

int notify_send(const struct notify *n, const char *msg)
{
	if (n->fd < 0)
		return 0;
	if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL,
		   (const struct sockaddr *)&n->addr, n->addrlen) < 0)
		return -errno;
	return 0;
}

int notify_sendf(const struct notify *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int w;

	if (n->fd < 0)
		return 0;
	va_start(ap, fmt);
	w = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w < 0)
		return -EINVAL;
	return notify_send(n, msg); /* a long STATUS is cut, still sent */
}

void notify_close(struct notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
