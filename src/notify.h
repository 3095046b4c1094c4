/*
 * notify.h - the service manager's readiness protocol (sd_notify), by
 * hand: no libsystemd.
 *
 * When r2fs runs under systemd with Type=notify (or any supervisor that
 * speaks the protocol), $NOTIFY_SOCKET names an AF_UNIX datagram socket:
 * an absolute path, or an abstract name written with a leading '@'.
 * Each message is one datagram of "VAR=value" lines: READY=1 once the
 * mount answers, STATUS=... for people (systemctl status), STOPPING=1
 * when the unmount begins.
 *
 * The struct is filled once at startup (notify_open, which also unsets
 * the variable so that programs r2fs starts, fusermount3, do not speak
 * for it); after that notify_send may be called from any thread (one
 * sendto per message, no shared state).  Errors are negative errno; a
 * lost message is never fatal to the mount, so callers log at most.
 */
#ifndef R2FS_NOTIFY_H
#define R2FS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

struct notify {
	int fd; /* -1: no supervisor listens */
	struct sockaddr_un addr;
	socklen_t addrlen;
};

/*
 * The socket address that the value of $NOTIFY_SOCKET names: "/path" or
 * "@abstract" (the '@' becomes the leading NUL byte).  0, -EINVAL (empty,
 * relative, or too long for sun_path) or -EAFNOSUPPORT ("vsock:...",
 * which r2fs does not speak).  Pure: for the unit tests.
 */
int notify_parse_addr(const char *value, struct sockaddr_un *sa,
		      socklen_t *len);

/*
 * From the environment: n->fd -1 when NOTIFY_SOCKET is unset (0
 * returned), else a socket for it; unsets the variable either way.
 * -errno when it is set but cannot be used (n->fd stays -1).
 */
int notify_open(struct notify *n);

/* Send msg ("READY=1\nSTATUS=..."): 0, or -errno; 0 when n->fd is -1. */
int notify_send(const struct notify *n, const char *msg);

/* printf-style: STATUS=... and the like in one datagram. */
int notify_sendf(const struct notify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void notify_close(struct notify *n);

#endif
