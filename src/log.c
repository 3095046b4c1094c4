/*
 * log.c - leveled logging to stderr, syslog or a file.
 *
 * Configuration is written once by main() before threads start (see log.h);
 * each message is formatted into one buffer and written with one call so
 * lines from different threads never interleave (a file is opened with
 * O_APPEND, so lines of several daemons sharing it do not either).  The
 * one thing that changes later is a file opened at the first message:
 * log_lock guards that open, and the descriptor is read atomically.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_sink { LOG_SINK_STDERR, LOG_SINK_SYSLOG, LOG_SINK_FILE };

static enum log_level log_level = LOG_LVL_INFO;
static enum log_sink log_sink = LOG_SINK_STDERR;
static const char *log_ident = "r2fs";
static char log_path[4096];
static int log_fd = -1; /* atomic: LOG_SINK_FILE's, once open */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_name[] = { "error", "warning", "info",
					  "debug" };

void log_setup(enum log_level level, int use_syslog, const char *ident)
{
	log_level = level;
	log_sink = use_syslog ? LOG_SINK_SYSLOG : LOG_SINK_STDERR;
	if (ident)
		log_ident = ident;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

static int open_log_file(void)
{
	return open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0600);
}

int log_setup_file(enum log_level level, const char *path, bool open_now,
		   const char *ident)
{
	int n = snprintf(log_path, sizeof(log_path), "%s", path);

	if (n < 0 || (size_t)n >= sizeof(log_path))
		return -ENAMETOOLONG;
	if (open_now) {
		int fd = open_log_file();

		if (fd < 0)
			return -errno;
		__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
	}
	log_level = level;
	log_sink = LOG_SINK_FILE;
	if (ident)
		log_ident = ident;
	return 0;
}

bool log_syslog_available(void)
{
	struct stat st;

	return stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

int log_level_parse(const char *name, enum log_level *out)
{
	if (!strcmp(name, "error"))
		*out = LOG_LVL_ERR;
	else if (!strcmp(name, "warn") || !strcmp(name, "warning"))
		*out = LOG_LVL_WARN;
	else if (!strcmp(name, "info"))
		*out = LOG_LVL_INFO;
	else if (!strcmp(name, "debug"))
		*out = LOG_LVL_DEBUG;
	else
		return -EINVAL;
	return 0;
}

enum log_level log_get_level(void)
{
	return log_level;
}

/* The file's descriptor, opened now if it was not yet; -1 if it cannot
 * be. */
static int file_fd(void)
{
	int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);

	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&log_lock);
	fd = log_fd;
	if (fd < 0) {
		fd = open_log_file();
		if (fd >= 0)
			__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&log_lock);
	return fd;
}

/* "2026-11-25 14:03:07.123 r2fs[4242]: " into line; its length. */
static int file_stamp(char *line, size_t len)
{
	struct timeval tv;
	struct tm tm;
	char when[32];

	gettimeofday(&tv, NULL);
	if (!localtime_r(&tv.tv_sec, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "%lld", (long long)tv.tv_sec);
	return snprintf(line, len, "%s.%03ld %s[%ld]: ", when,
			(long)(tv.tv_usec / 1000), log_ident, (long)getpid());
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	char line[2048];
	va_list ap;
	int n = 0, m, fd = STDERR_FILENO;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_sink == LOG_SINK_SYSLOG) {
		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(prio[level], "%s", line);
		va_end(ap);
		return;
	}
	if (log_sink == LOG_SINK_FILE) {
		fd = file_fd();
		if (fd >= 0)
			n = file_stamp(line, sizeof(line));
		else
			fd = STDERR_FILENO;
	}
	if (n <= 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = snprintf(line + n, sizeof(line) - (size_t)n, "%s%s%s: ",
		     n ? "" : log_ident, n ? "" : ": ", level_name[level]);
	if (m > 0 && (size_t)m < sizeof(line) - (size_t)n)
		n += m;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
