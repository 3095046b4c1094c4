/*
 * cors_xml.c - CORS rules to and from S3's CORSConfiguration XML
 * (cors_to_xml and cors_from_xml in cors.h).
 *
 * The XML side of the CORS model lives here, next to the model, so that
 * xml.c knows S3's generic documents only and nothing includes its way
 * back: cors_xml.c uses xml.h's reader and helpers, xml.c uses no CORS.
 * The parser copies every CORSRule field without judging it (it shows
 * what the server has); the builder writes only rules cors_validate()
 * accepts, escaped, in a buffer of at most XML_MAX_BUILD bytes.
 */
#include "cors.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xml.h"

/* ---- parsing ---- */

/* Append the text of element n to list l. */
static int rule_text(const xmlNode *n, struct cors_list *l)
{
	char *t = NULL;
	int ret;

	ret = xml_text(n, true, &t);
	if (!ret)
		ret = cors_list_add(l, t, strlen(t));
	free(t);
	return ret;
}

static int parse_rule(const xmlNode *rule, struct cors_rule *r)
{
	const xmlNode *n;
	char *age = NULL;
	uint64_t v;
	int ret = 0;

	for (n = rule->children; n && !ret; n = n->next) {
		if (xml_is(n, "ID"))
			ret = xml_text_once(n, true, &r->id);
		else if (xml_is(n, "AllowedOrigin"))
			ret = rule_text(n, &r->origins);
		else if (xml_is(n, "AllowedMethod"))
			ret = rule_text(n, &r->methods);
		else if (xml_is(n, "AllowedHeader"))
			ret = rule_text(n, &r->allowed_headers);
		else if (xml_is(n, "ExposeHeader"))
			ret = rule_text(n, &r->expose_headers);
		else if (xml_is(n, "MaxAgeSeconds"))
			ret = xml_text_once(n, true, &age);
	}
	if (!ret && age) {
		if (xml_parse_u64(age, &v) || v > (uint64_t)CORS_MAX_AGE)
			ret = -EPROTO;
		else
			r->max_age = (long long)v;
	}
	free(age);
	return ret;
}

int cors_from_xml(const char *doc, size_t len, struct cors_config *out)
{
	xmlDoc *d = NULL;
	xmlNode *root, *n;
	struct cors_rule *r;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = xml_read_root(doc, len, "CORSConfiguration", &d, &root);
	if (ret)
		goto out;
	for (n = root->children; n && !ret; n = n->next) {
		if (!xml_is(n, "CORSRule"))
			continue;
		r = cors_add_rule(out);
		if (!r)
			ret = -ENOMEM;
		else
			ret = parse_rule(n, r);
	}
out:
	if (ret)
		cors_config_release(out);
	if (d)
		xmlFreeDoc(d);
	return ret;
}

/* ---- building ---- */

/* "    <name>text</name>\n"; 0, -EINVAL or the buffer's error. */
static int put_element(struct util_buf *b, const char *name,
		       const char *text)
{
	int ret;

	util_buf_adds(b, "    <");
	util_buf_adds(b, name);
	util_buf_adds(b, ">");
	ret = xml_add_escaped(b, text, strlen(text));
	if (ret)
		return ret;
	util_buf_adds(b, "</");
	util_buf_adds(b, name);
	return util_buf_adds(b, ">\n");
}

static int put_list(struct util_buf *b, const char *name,
		    const struct cors_list *l)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < l->n && !ret; i++)
		ret = put_element(b, name, l->v[i]);
	return ret;
}

static int put_rule(struct util_buf *b, const struct cors_rule *r)
{
	char num[32];
	int ret = 0;

	util_buf_adds(b, "  <CORSRule>\n");
	if (r->id)
		ret = put_element(b, "ID", r->id);
	if (!ret)
		ret = put_list(b, "AllowedOrigin", &r->origins);
	if (!ret)
		ret = put_list(b, "AllowedMethod", &r->methods);
	if (!ret)
		ret = put_list(b, "AllowedHeader", &r->allowed_headers);
	if (!ret)
		ret = put_list(b, "ExposeHeader", &r->expose_headers);
	if (!ret && r->max_age >= 0) {
		snprintf(num, sizeof(num), "%lld", r->max_age);
		ret = put_element(b, "MaxAgeSeconds", num);
	}
	return ret ? ret : util_buf_adds(b, "  </CORSRule>\n");
}

char *cors_to_xml(const struct cors_config *c, size_t *len)
{
	struct util_buf b = { .max = XML_MAX_BUILD };
	char err[256];
	size_t i;
	int ret;

	if (cors_validate(c, err, sizeof(err))) {
		errno = EINVAL;
		return NULL;
	}
	if (len)
		*len = 0;
	ret = util_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			       "<CORSConfiguration xmlns=\"" XML_S3_NS
			       "\">\n");
	for (i = 0; i < c->n && !ret; i++)
		ret = put_rule(&b, &c->rules[i]);
	if (!ret)
		ret = util_buf_adds(&b, "</CORSConfiguration>\n");
	if (ret) {
		util_buf_release(&b);
		/* past XML_MAX_BUILD is ENOMEM, as it has always been */
		errno = ret == -E2BIG ? ENOMEM : -ret;
		return NULL;
	}
	return util_buf_take(&b, len);
}
