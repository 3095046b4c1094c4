/*
 * cors_i.h - what cors.c shares with cors_json.c and nobody else.
 */
#ifndef R2FS_CORS_I_H
#define R2FS_CORS_I_H

#include <stddef.h>

/* Format one sentence into err (errlen bytes); nothing when err is NULL
 * or errlen 0, as cors.h's functions promise. */
void cors_say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
