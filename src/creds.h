/*
 * creds.h - where r2fs finds its access key and secret.
 *
 * Order: -o passwd_file (must not be readable by group or others), then
 * -o profile in the shared credentials file, then the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then
 * AWS_PROFILE or "default" in ~/.aws/credentials (or
 * AWS_SHARED_CREDENTIALS_FILE).
 *
 * Secrets live only in struct creds; creds_release() wipes them.  Error
 * sentences name files and profiles, never key material.
 */
#ifndef R2FS_CREDS_H
#define R2FS_CREDS_H

#include <stddef.h>

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL unless temporary credentials */
	char source[320];    /* "environment", "profile default in F", ... */
};

/* 0, or -ENOENT/-EACCES/-EINVAL with one sentence in err. */
int creds_load(const char *passwd_file, const char *profile,
	       const char *bucket, struct creds *out, char *err,
	       size_t errlen);

/*
 * Parsers for the two file formats, exposed for tests.
 * passwd: lines "ACCESS:SECRET" or "BUCKET:ACCESS:SECRET" (s3fs format);
 * a line naming the bucket wins over a bare one; '#' starts a comment.
 * ini: "[profile]" sections with aws_access_key_id / aws_secret_access_key
 * / aws_session_token.  Return 0, -ENOENT (nothing found) or -ENOMEM.
 */
int creds_parse_passwd(const char *text, const char *bucket,
		       struct creds *out);
int creds_parse_ini(const char *text, const char *profile,
		    struct creds *out);

void creds_release(struct creds *c);

#endif
