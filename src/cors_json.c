/*
 * cors_json.c - CORS rules from JSON (cors_from_json in cors.h).
 *
 * Parsing JSON is libjson-c's job, in strict mode with UTF-8 checked: a
 * hand-written parser would have to get escapes, surrogate pairs, number
 * syntax and nesting limits right for one small input format.  We then
 * walk the tree into struct cors_config, refusing anything unexpected with
 * a sentence that names the rule and the field, and validate the result
 * with cors_validate().  Three shapes are accepted (see cors.h); they
 * differ only in field names, described by a struct shape.
 */
#include "cors.h"
#include "cors_i.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define CORS_JSON_DEPTH 16

/* Field names of the two rule shapes. */
struct shape {
	const char *origins, *methods, *headers, *expose, *max_age, *id;
	bool nested; /* origins/methods/headers inside "allowed" */
};

static const struct shape dashboard_shape = {
	"AllowedOrigins", "AllowedMethods", "AllowedHeaders",
	"ExposeHeaders", "MaxAgeSeconds", "ID", false,
};

static const struct shape api_shape = {
	"origins", "methods", "headers", "exposeHeaders", "maxAgeSeconds",
	"id", true,
};

/* A JSON string into a new malloc'd C string; NULs refused. */
static int json_str(struct json_object *v, size_t rule, const char *field,
		    char **out, char *err, size_t errlen)
{
	const char *s;
	int len;

	if (!json_object_is_type(v, json_type_string)) {
		cors_say(err, errlen, "rule %zu: %s must be a string", rule,
			 field);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len < 0 || strlen(s) != (size_t)len) {
		cors_say(err, errlen, "rule %zu: %s contains a NUL character",
			 rule, field);
		return -EINVAL;
	}
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int json_list(struct json_object *v, size_t rule, const char *field,
		     struct cors_list *l, char *err, size_t errlen)
{
	size_t i, n;
	int rc;

	if (!json_object_is_type(v, json_type_array)) {
		cors_say(err, errlen, "rule %zu: %s must be an array of "
			 "strings", rule, field);
		return -EINVAL;
	}
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		char *s = NULL;

		if (!json_object_is_type(e, json_type_string)) {
			cors_say(err, errlen, "rule %zu: %s must be an array "
				 "of strings", rule, field);
			return -EINVAL;
		}
		rc = json_str(e, rule, field, &s, err, errlen);
		if (!rc)
			rc = cors_list_add(l, s, strlen(s));
		free(s);
		if (rc)
			return rc;
	}
	return 0;
}

static int json_max_age(struct json_object *v, size_t rule,
			const char *field, long long *out, char *err,
			size_t errlen)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int)) {
		cors_say(err, errlen, "rule %zu: %s must be a whole number of "
			 "seconds from 0 to %lld", rule, field, CORS_MAX_AGE);
		return -EINVAL;
	}
	n = json_object_get_int64(v);
	if (n < 0 || n > CORS_MAX_AGE) {
		cors_say(err, errlen, "rule %zu: %s must be a whole number of "
			 "seconds from 0 to %lld", rule, field, CORS_MAX_AGE);
		return -EINVAL;
	}
	*out = (long long)n;
	return 0;
}

/* "allowed": {"origins", "methods", "headers"} of the API shape. */
static int json_allowed(struct json_object *v, size_t rule,
			struct cors_rule *r, char *err, size_t errlen)
{
	int rc = 0;

	if (!json_object_is_type(v, json_type_object)) {
		cors_say(err, errlen, "rule %zu: allowed must be an object",
			 rule);
		return -EINVAL;
	}
	json_object_object_foreach(v, name, val)
	{
		if (!strcmp(name, "origins"))
			rc = json_list(val, rule, "allowed.origins",
				       &r->origins, err, errlen);
		else if (!strcmp(name, "methods"))
			rc = json_list(val, rule, "allowed.methods",
				       &r->methods, err, errlen);
		else if (!strcmp(name, "headers"))
			rc = json_list(val, rule, "allowed.headers",
				       &r->allowed_headers, err, errlen);
		else {
			cors_say(err, errlen, "rule %zu: unknown field "
				 "\"allowed.%s\" (known: origins, methods, "
				 "headers)", rule, name);
			rc = -EINVAL;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int json_rule(struct json_object *v, size_t rule,
		     const struct shape *sh, struct cors_config *out,
		     char *err, size_t errlen)
{
	struct cors_rule *r;
	int rc = 0;

	if (!json_object_is_type(v, json_type_object)) {
		cors_say(err, errlen, "rule %zu is not a JSON object", rule);
		return -EINVAL;
	}
	r = cors_add_rule(out);
	if (!r)
		return -ENOMEM;
	json_object_object_foreach(v, name, val)
	{
		if (sh->nested && !strcmp(name, "allowed"))
			rc = json_allowed(val, rule, r, err, errlen);
		else if (!sh->nested && !strcmp(name, sh->origins))
			rc = json_list(val, rule, name, &r->origins, err,
				       errlen);
		else if (!sh->nested && !strcmp(name, sh->methods))
			rc = json_list(val, rule, name, &r->methods, err,
				       errlen);
		else if (!sh->nested && !strcmp(name, sh->headers))
			rc = json_list(val, rule, name, &r->allowed_headers,
				       err, errlen);
		else if (!strcmp(name, sh->expose))
			rc = json_list(val, rule, name, &r->expose_headers,
				       err, errlen);
		else if (!strcmp(name, sh->max_age))
			rc = json_max_age(val, rule, name, &r->max_age, err,
					  errlen);
		else if (!strcmp(name, sh->id))
			rc = json_str(val, rule, name, &r->id, err, errlen);
		else {
			if (sh->nested)
				cors_say(err, errlen, "rule %zu: unknown field "
					 "\"%s\" (known: allowed, "
					 "exposeHeaders, maxAgeSeconds, id)",
					 rule, name);
			else
				cors_say(err, errlen, "rule %zu: unknown field "
					 "\"%s\" (known: AllowedOrigins, "
					 "AllowedMethods, AllowedHeaders, "
					 "ExposeHeaders, MaxAgeSeconds, ID)",
					 rule, name);
			rc = -EINVAL;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Line and column (1-based) of byte offset off in text. */
static void position(const char *text, size_t off, size_t *line,
		     size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Parse text into a json-c tree; one sentence on failure. */
static int json_parse(const char *text, size_t len, struct json_object **out,
		      char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	enum json_tokener_error jerr;
	size_t end, line, col;
	bool flushed = false;
	int rc = -EINVAL;

	*out = NULL;
	if (len > CORS_JSON_MAX) {
		cors_say(err, errlen, "the CORS rules are larger than %d bytes",
			 CORS_JSON_MAX);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		cors_say(err, errlen, "invalid JSON: the input contains a NUL "
			 "byte");
		goto out;
	}
	end = len;
	while (end > 0 && strchr(" \t\r\n", text[end - 1]))
		end--;
	if (end == 0) {
		cors_say(err, errlen, "invalid JSON: the input is empty");
		goto out;
	}
	tok = json_tokener_new_ex(CORS_JSON_DEPTH);
	if (!tok) {
		rc = -ENOMEM;
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int)end);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/* A NUL ends the input: a bare number needs to see its end
		 * (and then the whole input was consumed). */
		flushed = true;
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		if (jerr != json_tokener_success)
			jerr = json_tokener_continue;
	}
	if (jerr == json_tokener_continue) {
		cors_say(err, errlen, "invalid JSON: the input ends in the "
			 "middle of a value");
		goto out;
	}
	if (jerr != json_tokener_success || !root) {
		position(text, json_tokener_get_parse_end(tok), &line, &col);
		cors_say(err, errlen, "invalid JSON at line %zu, column %zu: "
			 "%s", line, col, json_tokener_error_desc(jerr));
		goto out;
	}
	if (!flushed && json_tokener_get_parse_end(tok) < end) {
		/* json-c stops after one complete value */
		position(text, json_tokener_get_parse_end(tok), &line, &col);
		cors_say(err, errlen, "invalid JSON at line %zu, column %zu: "
			 "unexpected text after the end", line, col);
		goto out;
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	json_object_put(root);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

int cors_from_json(const char *text, size_t len, struct cors_config *out,
		   char *err, size_t errlen)
{
	const struct shape *sh = &dashboard_shape;
	struct json_object *root = NULL, *rules = NULL;
	size_t i, n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = json_parse(text, len, &root, err, errlen);
	if (rc)
		goto out;
	rc = -EINVAL;
	if (json_object_is_type(root, json_type_array)) {
		rules = root;
	} else if (json_object_is_type(root, json_type_object) &&
		   json_object_object_length(root) == 1) {
		const char *key = "CORSRules";

		if (!json_object_object_get_ex(root, key, &rules)) {
			key = "rules";
			sh = &api_shape;
			if (!json_object_object_get_ex(root, key, &rules))
				key = NULL;
		}
		if (key && !json_object_is_type(rules, json_type_array)) {
			cors_say(err, errlen, "the value of \"%s\" must be an "
				 "array of rules", key);
			goto out;
		}
	}
	if (!rules) {
		cors_say(err, errlen, "the CORS rules must be a JSON array of "
			 "rules (R2's dashboard format), or an object with "
			 "just \"CORSRules\" or \"rules\"");
		goto out;
	}
	n = json_object_array_length(rules);
	for (i = 0; i < n; i++) {
		rc = json_rule(json_object_array_get_idx(rules, i), i + 1, sh,
			       out, err, errlen);
		if (rc)
			goto out;
	}
	rc = cors_validate(out, err, errlen);
out:
	if (rc == -ENOMEM)
		cors_say(err, errlen, "out of memory");
	if (rc)
		cors_config_release(out);
	json_object_put(root);
	return rc;
}
