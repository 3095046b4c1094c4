/* Unit tests for creds.c: the file formats and the 0600 rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "tap.h"

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

int main(void)
{
	struct creds c = { 0 };
	char dir[] = "/tmp/r2fs-creds-XXXXXX", path[256], err[512];
	const char *ini =
		"[default]\naws_access_key_id = AKDEF\n"
		"aws_secret_access_key = sdef\n\n"
		"[profile other]\naws_access_key_id=AKOTHER\n"
		"aws_secret_access_key=s/ot+her=\naws_session_token = tok\n";

	TAP_INTEQ(creds_parse_passwd("AK1:SK1\n", NULL, &c), 0, "passwd pair");
	TAP_STREQ(c.access_key, "AK1", "passwd access key");
	TAP_STREQ(c.secret_key, "SK1", "passwd secret");
	creds_release(&c);
	TAP_INTEQ(creds_parse_passwd("# c\nAK1:SK1\nbkt:AK2:SK2\n", "bkt", &c),
		  0, "passwd with bucket line");
	TAP_STREQ(c.access_key, "AK2", "bucket line wins");
	creds_release(&c);
	TAP_INTEQ(creds_parse_passwd("other:AK2:SK2\n", "bkt", &c), -2,
		  "other bucket's line ignored");
	creds_release(&c);
	TAP_INTEQ(creds_parse_ini(ini, "default", &c), 0, "ini default");
	TAP_STREQ(c.secret_key, "sdef", "ini default secret");
	TAP_OK(c.session_token == NULL, "no token in default");
	creds_release(&c);
	TAP_INTEQ(creds_parse_ini(ini, "other", &c), 0, "ini [profile other]");
	TAP_STREQ(c.secret_key, "s/ot+her=", "secret with / + =");
	TAP_STREQ(c.session_token, "tok", "session token");
	creds_release(&c);
	TAP_INTEQ(creds_parse_ini(ini, "missing", &c), -2, "missing profile");
	creds_release(&c);

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/passwd", dir);
	write_file(path, "AKF:SKF-secret-value\n", 0644);
	TAP_INTEQ(creds_load(path, NULL, "bkt", &c, err, sizeof(err)), -13,
		  "passwd file readable by others refused");
	TAP_OK(strstr(err, "chmod 600") != NULL, "error says how to fix it");
	TAP_OK(strstr(err, "SKF-secret-value") == NULL,
	       "error does not show the secret");
	creds_release(&c);
	chmod(path, 0600);
	TAP_INTEQ(creds_load(path, NULL, "bkt", &c, err, sizeof(err)), 0,
		  "passwd file 0600 accepted");
	TAP_STREQ(c.secret_key, "SKF-secret-value", "secret from file");
	creds_release(&c);

	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	TAP_INTEQ(creds_load(NULL, NULL, "bkt", &c, err, sizeof(err)), -22,
		  "half the env pair is an error");
	creds_release(&c);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	TAP_INTEQ(creds_load(NULL, NULL, "bkt", &c, err, sizeof(err)), 0,
		  "env pair");
	TAP_STREQ(c.access_key, "AKENV", "env access key");
	creds_release(&c);

	snprintf(path, sizeof(path), "%s/credentials", dir);
	write_file(path, ini, 0600);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	TAP_INTEQ(creds_load(NULL, "other", "bkt", &c, err, sizeof(err)), 0,
		  "-o profile overrides env");
	TAP_STREQ(c.access_key, "AKOTHER", "profile key");
	creds_release(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	TAP_INTEQ(creds_load(NULL, NULL, "bkt", &c, err, sizeof(err)), 0,
		  "default profile without env");
	TAP_STREQ(c.access_key, "AKDEF", "default profile key");
	creds_release(&c);
	TAP_INTEQ(creds_load(NULL, "nope", "bkt", &c, err, sizeof(err)), -2,
		  "unknown profile");
	TAP_OK(strstr(err, "nope") != NULL, "error names the profile");
	TAP_OK(strstr(err, "profile 'nope' does not exist in ") &&
	       strstr(err, path), "unknown profile: does not exist, and where");
	creds_release(&c);
	write_file(path, "[bare]\nregion = auto\n", 0600);
	TAP_INTEQ(creds_load(NULL, "bare", "bkt", &c, err, sizeof(err)), -2,
		  "profile without keys");
	TAP_OK(strstr(err, "'bare'") && strstr(err, "has no aws_access_key_id"),
	       "profile without keys: says so");
	creds_release(&c);
	unlink(path);
	TAP_INTEQ(creds_load(NULL, "nope", "bkt", &c, err, sizeof(err)), -2,
		  "profile without a credentials file");
	TAP_OK(strstr(err, "profile 'nope' does not exist: there is no "
		       "credentials file ") && strstr(err, path),
	       "no credentials file: names it");
	creds_release(&c);

	unlink(path);
	snprintf(path, sizeof(path), "%s/passwd", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
