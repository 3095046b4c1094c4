/*
 * log.h - the one leveled logger of r2fs.
 *
 * Messages go to stderr (foreground, tools) or syslog (daemon).  The level
 * and sink are set once at startup, before any thread exists; after that
 * the logger is read-only and safe from any thread.
 *
 * Secrets: never pass a secret key, a signature or an Authorization header
 * to these functions.  Callers log access-key ids at most.
 */
#ifndef R2FS_LOG_H
#define R2FS_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_setup(enum log_level level, int use_syslog, const char *ident);
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
