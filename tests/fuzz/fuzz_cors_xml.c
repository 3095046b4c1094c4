/*
 * fuzz_cors_xml.c - libFuzzer target for the CORSConfiguration parser and
 * builder (src/cors_xml.c), which read what a server answers to
 * GetBucketCors.
 *
 * Besides crashes, leaks and undefined behaviour, the contracts of cors.h
 * are checked: the return codes and an empty config after an error;
 * parsed rules can always be shown as JSON; and rules that cors_validate
 * accepts, built into XML, parse back to the same rules.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "fuzz_check.h"
#include "fuzz_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_list(const struct cors_list *a, const struct cors_list *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

static bool same_config(const struct cors_config *a,
			const struct cors_config *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		const struct cors_rule *x = &a->rules[i], *y = &b->rules[i];

		if (!same_str(x->id, y->id) ||
		    !same_list(&x->origins, &y->origins) ||
		    !same_list(&x->methods, &y->methods) ||
		    !same_list(&x->allowed_headers, &y->allowed_headers) ||
		    !same_list(&x->expose_headers, &y->expose_headers) ||
		    x->max_age != y->max_age)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cors_config c, back;
	char err[256], *json, *doc;
	size_t len = 0;
	int rc;

	rc = cors_from_xml((const char *)data, size, &c);
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc) {
		CHECK(!c.rules && !c.n);
		return 0;
	}
	json = cors_to_json(&c);
	CHECK(json || errno == ENOMEM);
	free(json);

	if (cors_validate(&c, err, sizeof(err)) == 0) {
		doc = cors_to_xml(&c, &len);
		CHECK(doc || errno == ENOMEM);
		if (doc) {
			CHECK(len == strlen(doc));
			rc = cors_from_xml(doc, len, &back);
			CHECK(rc == 0 || rc == -ENOMEM);
			if (rc == 0)
				CHECK(same_config(&c, &back));
			cors_config_release(&back);
			free(doc);
		}
	} else {
		CHECK(err[0]);
		errno = 0;
		CHECK(!cors_to_xml(&c, &len) && errno == EINVAL);
	}
	cors_config_release(&c);
	CHECK(!c.rules && !c.n);
	return 0;
}
