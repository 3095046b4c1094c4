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
 *
 * Temporary credentials (access key, secret, session token) expire and
 * are replaced in their file: struct creds remembers which file it came
 * from and that file's identity, so a long-running client can ask
 * creds_file_changed() and load them again (creds_load, same arguments).
 */
#ifndef R2FS_CREDS_H
#define R2FS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL unless temporary credentials */
	char source[320];    /* "environment", "profile default in F", ... */
	/* the file read ("" for the environment) and what stat said of it
	 * when it was read */
	char file[4096];
	uint64_t file_dev, file_ino, file_size, file_mtime_ns;
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

/* Is c's file now another file, or changed (size, mtime), or gone?
 * false for credentials from the environment. */
bool creds_file_changed(const struct creds *c);

#endif
