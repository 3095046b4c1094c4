/*
 * log.h - the one leveled logger of r2fs.
 *
 * Messages go to stderr (foreground, tools), syslog (daemon) or a file
 * (-o log_file, or a daemon's fallback when there is no syslog).  The
 * level and sink are set once at startup, before any thread exists;
 * after that the logger is read-only and safe from any thread (a file
 * opened at the first message is opened under the logger's own lock).
 *
 * Secrets: never pass a secret key, a signature or an Authorization header
 * to these functions.  Callers log access-key ids at most.
 */
#ifndef R2FS_LOG_H
#define R2FS_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* stderr, or syslog when use_syslog. */
void log_setup(enum log_level level, int use_syslog, const char *ident);

/*
 * Append to the file path (created mode 0600), each line stamped with the
 * local time and the process id.  open_now: open it here, 0 or -errno
 * (nothing changed then); else at the first message, which goes to stderr
 * when it cannot be opened yet (the next message tries again).  path
 * must be absolute if the process changes its directory.
 */
int log_setup_file(enum log_level level, const char *path, bool open_now,
		   const char *ident);

/* Is there a syslog socket (/dev/log) to send messages to? */
bool log_syslog_available(void);

/* "error", "warn" (or "warning"), "info", "debug": 0 and *out, or
 * -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                     \
	do {                                                               \
		if (log_get_level() >= LOG_LVL_DEBUG)                      \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);               \
	} while (0)

#endif
