/*
 * cors.c - CORS rules: the model, validation, JSON out.
 *
 * Output JSON is written here rather than by a library, to get the compact
 * layout of R2's documentation (one line per field, arrays inline, '/'
 * unescaped).  JSON input is parsed by cors_json.c (libjson-c), kept in a
 * file of its own so that programs linking libr2core.a without reading
 * JSON do not need libjson-c.  The XML side is cors_xml.c, on xml.c's
 * reader.
 */
#include "cors.h"
#include "cors_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const cors_methods[] = { "GET", "PUT", "POST", "DELETE",
					    "HEAD" };

static void list_release(struct cors_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void cors_config_release(struct cors_config *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct cors_rule *r = &c->rules[i];

		free(r->id);
		list_release(&r->origins);
		list_release(&r->methods);
		list_release(&r->allowed_headers);
		list_release(&r->expose_headers);
	}
	free(c->rules);
	c->rules = NULL;
	c->n = 0;
}

struct cors_rule *cors_add_rule(struct cors_config *c)
{
	struct cors_rule *r;

	if (c->n >= (size_t)CORS_MAX_RULES * 100)
		return NULL;
	r = realloc(c->rules, (c->n + 1) * sizeof(*r));
	if (!r)
		return NULL;
	c->rules = r;
	r = &c->rules[c->n++];
	memset(r, 0, sizeof(*r));
	r->max_age = -1;
	return r;
}

int cors_list_add(struct cors_list *l, const char *s, size_t len)
{
	char **v, *copy;

	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	l->v = v;
	l->v[l->n++] = copy;
	return 0;
}

void cors_say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Validation */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool method_known(const char *m)
{
	size_t i;

	for (i = 0; i < sizeof(cors_methods) / sizeof(cors_methods[0]); i++)
		if (!strcmp(m, cors_methods[i]))
			return true;
	return false;
}

/* "*", or scheme://host[:port] with no path and at most one '*'. */
static const char *origin_problem(const char *o)
{
	const char *sep, *auth;

	if (!strcmp(o, "*"))
		return NULL;
	if (strchr(o, '*') != strrchr(o, '*'))
		return "has more than one '*'";
	sep = strstr(o, "://");
	if (!sep || sep == o)
		return "is not scheme://host[:port] (e.g. https://example.com)";
	auth = sep + 3;
	if (!*auth)
		return "has no host";
	if (strpbrk(auth, "/?#"))
		return "has a path; an origin is only scheme://host[:port]";
	if (strchr(auth, ' '))
		return "contains a space";
	return NULL;
}

static int check_list(const struct cors_list *l, size_t rule,
		      const char *field, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (!l->v[i][0]) {
			cors_say(err, errlen,
				 "rule %zu: %s has an empty string", rule,
				 field);
			return -EINVAL;
		}
		if (has_control(l->v[i])) {
			cors_say(err, errlen, "rule %zu: %s has a string "
				 "with a control character", rule, field);
			return -EINVAL;
		}
	}
	return 0;
}

int cors_validate(const struct cors_config *c, char *err, size_t errlen)
{
	size_t i, j;
	int rc;

	if (c->n == 0) {
		cors_say(err, errlen, "no CORS rules given (to remove a "
			 "bucket's CORS policy, use 'r2 cors delete BUCKET')");
		return -EINVAL;
	}
	if (c->n > CORS_MAX_RULES) {
		cors_say(err, errlen, "%zu CORS rules given; at most %d are "
			 "allowed", c->n, CORS_MAX_RULES);
		return -EINVAL;
	}
	for (i = 0; i < c->n; i++) {
		const struct cors_rule *r = &c->rules[i];
		size_t n = i + 1;

		if (r->origins.n == 0) {
			cors_say(err, errlen, "rule %zu has no AllowedOrigins",
				 n);
			return -EINVAL;
		}
		if (r->methods.n == 0) {
			cors_say(err, errlen, "rule %zu has no AllowedMethods",
				 n);
			return -EINVAL;
		}
		rc = check_list(&r->origins, n, "AllowedOrigins", err, errlen);
		if (!rc)
			rc = check_list(&r->methods, n, "AllowedMethods", err,
					errlen);
		if (!rc)
			rc = check_list(&r->allowed_headers, n,
					"AllowedHeaders", err, errlen);
		if (!rc)
			rc = check_list(&r->expose_headers, n,
					"ExposeHeaders", err, errlen);
		if (rc)
			return rc;
		for (j = 0; j < r->methods.n; j++) {
			if (!method_known(r->methods.v[j])) {
				cors_say(err, errlen, "rule %zu: unknown "
					 "method \"%s\" (allowed: GET, PUT, "
					 "POST, DELETE, HEAD)", n,
					 r->methods.v[j]);
				return -EINVAL;
			}
		}
		for (j = 0; j < r->origins.n; j++) {
			const char *why = origin_problem(r->origins.v[j]);

			if (why) {
				cors_say(err, errlen,
					 "rule %zu: origin \"%s\" %s", n,
					 r->origins.v[j], why);
				return -EINVAL;
			}
		}
		if (r->max_age < -1 || r->max_age > CORS_MAX_AGE) {
			cors_say(err, errlen, "rule %zu: MaxAgeSeconds must "
				 "be a whole number from 0 to %lld", n,
				 CORS_MAX_AGE);
			return -EINVAL;
		}
		if (r->id && (!r->id[0] || strlen(r->id) > CORS_MAX_ID ||
			      has_control(r->id))) {
			cors_say(err, errlen, "rule %zu: ID must be 1 to %d "
				 "characters without control characters", n,
				 CORS_MAX_ID);
			return -EINVAL;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON out */

/*
 * Cap of the JSON we write.  Rules come from at most CORS_JSON_MAX bytes
 * of JSON or one GetBucketCors answer (xml.c parses at most 32 MiB), and
 * no byte of a string takes more than 6 in JSON ("\u001f"), so this is
 * never reached by what we are given.
 */
#define CORS_JSON_OUT_MAX (256u << 20)

/* A JSON string literal: '"', '\\' and control characters escaped, other
 * bytes (UTF-8) as they are. */
static void put_quoted(struct util_buf *b, const char *s)
{
	char esc[8];

	util_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			util_buf_add(b, esc, 2);
		} else if (ch == '\n') {
			util_buf_adds(b, "\\n");
		} else if (ch == '\t') {
			util_buf_adds(b, "\\t");
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			util_buf_adds(b, esc);
		} else {
			util_buf_add(b, s, 1);
		}
	}
	util_buf_add(b, "\"", 1);
}

static void put_field_list(struct util_buf *b, bool *first,
			   const char *name, const struct cors_list *l)
{
	size_t i;

	util_buf_adds(b, *first ? "\n    " : ",\n    ");
	*first = false;
	put_quoted(b, name);
	util_buf_adds(b, ": [");
	for (i = 0; i < l->n; i++) {
		if (i)
			util_buf_adds(b, ", ");
		put_quoted(b, l->v[i]);
	}
	util_buf_adds(b, "]");
}

char *cors_to_json(const struct cors_config *c)
{
	struct util_buf b = { .max = CORS_JSON_OUT_MAX };
	char num[32];
	size_t i;

	if (c->n == 0)
		util_buf_adds(&b, "[]\n");
	else
		util_buf_adds(&b, "[");
	for (i = 0; i < c->n; i++) {
		const struct cors_rule *r = &c->rules[i];
		bool first = true;

		util_buf_adds(&b, i ? ",\n  {" : "\n  {");
		put_field_list(&b, &first, "AllowedOrigins", &r->origins);
		put_field_list(&b, &first, "AllowedMethods", &r->methods);
		if (r->allowed_headers.n)
			put_field_list(&b, &first, "AllowedHeaders",
				       &r->allowed_headers);
		if (r->expose_headers.n)
			put_field_list(&b, &first, "ExposeHeaders",
				       &r->expose_headers);
		if (r->max_age >= 0) {
			snprintf(num, sizeof(num), "%lld", r->max_age);
			util_buf_adds(&b, ",\n    \"MaxAgeSeconds\": ");
			util_buf_adds(&b, num);
		}
		if (r->id) {
			util_buf_adds(&b, ",\n    \"ID\": ");
			put_quoted(&b, r->id);
		}
		util_buf_adds(&b, "\n  }");
	}
	if (c->n)
		util_buf_adds(&b, "\n]\n");
	return util_buf_take(&b, NULL);
}
