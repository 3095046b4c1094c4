/*
 * cors.h - a bucket's CORS rules: JSON (R2's dashboard format) <-> the
 * rules <-> S3's CORSConfiguration XML.
 *
 * JSON accepted by cors_from_json(), strictly (RFC 8259, UTF-8, no
 * comments or trailing commas; unknown fields are errors, so a typo never
 * silently drops a setting):
 *   - R2's dashboard format: an array of rules, each an object with
 *     AllowedOrigins and AllowedMethods (required, non-empty arrays of
 *     strings), AllowedHeaders and ExposeHeaders (arrays of strings),
 *     MaxAgeSeconds (an integer, 0..2147483647) and ID (a string);
 *   - the same rules wrapped as {"CORSRules": [...]} (the AWS CLI's
 *     put-bucket-cors file);
 *   - Cloudflare's API and wrangler format: {"rules": [{"allowed":
 *     {"origins": [...], "methods": [...], "headers": [...]},
 *     "exposeHeaders": [...], "maxAgeSeconds": N, "id": "..."}]}.
 * cors_to_json() always writes the dashboard format.
 *
 * Validation (cors_validate(), also run by cors_from_json and before XML
 * is built): 1 to 100 rules; methods only GET, PUT, POST, DELETE, HEAD
 * (upper case, as S3 and R2 want them); at least one origin, each "*" or
 * scheme://host[:port] without a path and with at most one '*'; strings
 * non-empty, without control characters; an ID of at most 255 bytes.
 *
 * Pure: no I/O, no global state (the XML functions are in cors_xml.c,
 * on xml.c's reader, whose xml_global_init() must have run;
 * cors_from_json is in cors_json.c, the only user of libjson-c).
 * Strings in a struct cors_config are
 * malloc'd and owned by it; cors_config_release() frees them and leaves
 * the struct empty, so it is safe on a zeroed struct and twice.
 * Functions return 0 or a negative errno: -EINVAL for rules that are not
 * valid (with one sentence in err), -EPROTO for an unparsable XML
 * document, -ENOMEM.
 */
#ifndef R2FS_CORS_H
#define R2FS_CORS_H

#include <stddef.h>

#define CORS_MAX_RULES 100
#define CORS_MAX_ID 255
#define CORS_MAX_AGE 2147483647LL
#define CORS_JSON_MAX (1024 * 1024) /* larger JSON input is refused */

struct cors_list {
	char **v;
	size_t n;
};

struct cors_rule {
	char *id; /* NULL if none */
	struct cors_list origins;
	struct cors_list methods;
	struct cors_list allowed_headers;
	struct cors_list expose_headers;
	long long max_age; /* seconds; -1 if not given */
};

struct cors_config {
	struct cors_rule *rules;
	size_t n;
};

void cors_config_release(struct cors_config *c);

/* Builders (used by the XML parser): append a new empty rule (max_age
 * -1) and return it, or NULL on ENOMEM; append a copy of s[0..len). */
struct cors_rule *cors_add_rule(struct cors_config *c);
int cors_list_add(struct cors_list *l, const char *s, size_t len);

/* Parse and validate JSON text (len bytes, NUL not needed).  On error
 * *out is left empty and err says what is wrong and where. */
int cors_from_json(const char *text, size_t len, struct cors_config *out,
		   char *err, size_t errlen);

/* The rules as dashboard JSON (2-space indent, trailing newline), or
 * NULL on ENOMEM.  No rules: "[]\n". */
char *cors_to_json(const struct cors_config *c);

/* 0, or -EINVAL with one sentence in err. */
int cors_validate(const struct cors_config *c, char *err, size_t errlen);

/* PutBucketCors body for valid rules, its length in *len; NULL with
 * errno EINVAL (invalid rules) or ENOMEM. */
char *cors_to_xml(const struct cors_config *c, size_t *len);

/* GetBucketCors answer -> rules (not validated: show what the server
 * has).  -EPROTO if it is not a CORSConfiguration. */
int cors_from_xml(const char *doc, size_t len, struct cors_config *out);

#endif
