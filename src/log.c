/*
 * log.c - leveled logging to stderr or syslog.
 *
 * Configuration is written once by main() before threads start (see log.h);
 * each message is formatted into one buffer and written with one call so
 * lines from different threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

static enum log_level log_level = LOG_LVL_INFO;
static int log_to_syslog;
static const char *log_ident = "r2fs";

void log_setup(enum log_level level, int use_syslog, const char *ident)
{
	log_level = level;
	log_to_syslog = use_syslog;
	if (ident)
		log_ident = ident;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	static const char *const name[] = { "error", "warning", "info",
					    "debug" };
	char line[2048];
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(prio[level], "%s", line);
	} else {
		n = snprintf(line, sizeof(line), "%s: %s: ", log_ident,
			     name[level]);
		if (n < 0 || (size_t)n >= sizeof(line))
			n = 0;
		m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
		if (m < 0)
			m = 0;
		n += m;
		if ((size_t)n > sizeof(line) - 2)
			n = sizeof(line) - 2;
		line[n++] = '\n';
		if (write(STDERR_FILENO, line, (size_t)n) < 0) {
			/* nowhere left to report it */
		}
	}
	va_end(ap);
}
