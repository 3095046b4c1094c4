/*
 * s3.h - the real object store: S3 requests over http.c, signed with
 * sigv4.c, path-style, against R2 or any S3-compatible endpoint.
 *
 * The S3 wire format (URLs, headers, XML, status codes) stops here.
 */
#ifndef R2FS_S3_H
#define R2FS_S3_H

#include <stddef.h>

#include "store.h"

struct creds;

struct s3_opts {
	const char *endpoint; /* "https://host[:port]" */
	const char *bucket;
	const char *region;
	const struct creds *creds; /* copied */
	unsigned handles;          /* parallel connections */
	unsigned retries;          /* per request, for 429/5xx/network */
	long connect_timeout_ms;
	int verbose_http;
};

/* A new store, or NULL (out of memory). */
struct store *s3_store_new(const struct s3_opts *opts);

/*
 * Mount-time check: one GET of a key that is not expected to exist tells
 * an unreachable endpoint, an unknown access key, a wrong secret, a
 * missing bucket and a refused access apart.  0, or a negative errno with
 * one sentence in err.
 */
int s3_probe(struct store *s, char *err, size_t errlen);

/* S3 error code and HTTP status to errno (the one mapping). */
int s3_error_to_errno(long status, const char *code);

#endif
