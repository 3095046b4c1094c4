/*
 * fuzz_xml_list.c - libFuzzer target for the S3 XML parsers (src/xml.c).
 *
 * One input is handed to every parser, since a response body can reach
 * any of them: xml_parse_list, xml_parse_error, xml_parse_copy_result and
 * xml_parse_initiate_multipart.  Besides crashes, leaks and undefined
 * behaviour, the contracts of xml.h are checked: the return codes, an
 * empty result struct after an error, no empty key, a continuation token
 * on every truncated page.  The input also goes to xml_parse_iso8601 and,
 * cut at NULs into ETags, through xml_build_complete_multipart, whose
 * output must be a well-formed document giving back each ETag.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fuzz_check.h"
#include "fuzz_split.h"
#include "fuzz_xml.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const char *doc, size_t len)
{
	struct xml_list_result r;
	size_t i;
	int rc;

	rc = xml_parse_list(doc, len, &r);
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc) {
		CHECK(!r.entries && !r.nentries && !r.prefixes &&
		      !r.nprefixes && !r.next_token && !r.is_truncated);
		return;
	}
	for (i = 0; i < r.nentries; i++) {
		CHECK(r.entries[i].key && r.entries[i].key[0]);
		CHECK(r.entries[i].mtime != (time_t)-1);
	}
	for (i = 0; i < r.nprefixes; i++)
		CHECK(r.prefixes[i] && r.prefixes[i][0]);
	if (r.is_truncated)
		CHECK(r.next_token && r.next_token[0]);
	xml_list_result_release(&r);
	CHECK(!r.entries && !r.nentries && !r.prefixes && !r.next_token);
}

static void check_error(const char *doc, size_t len)
{
	struct xml_error e;
	int rc;

	rc = xml_parse_error(doc, len, &e);
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc)
		CHECK(!e.code && !e.message);
	xml_error_release(&e);
}

static void check_copy(const char *doc, size_t len)
{
	char *etag = (char *)1;
	time_t mtime = 1;
	int rc, rc2;

	rc = xml_parse_copy_result(doc, len, &etag, &mtime);
	CHECK(rc == 0 || rc == -EIO || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		CHECK(etag != NULL);
	} else {
		CHECK(etag == NULL && mtime == 0);
	}
	free(etag);
	/* Either out may be NULL, with the same answer. */
	rc2 = xml_parse_copy_result(doc, len, NULL, NULL);
	CHECK(rc2 == rc || rc2 == -ENOMEM || rc == -ENOMEM);
}

static void check_initiate(const char *doc, size_t len)
{
	char *id = (char *)1;
	int rc;

	rc = xml_parse_initiate_multipart(doc, len, &id);
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0)
		CHECK(id && id[0]);
	else
		CHECK(id == NULL);
	free(id);
}

static void check_iso8601(const uint8_t *data, size_t size)
{
	char buf[64];
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

	memcpy(buf, data, n);
	buf[n] = '\0';
	(void)xml_parse_iso8601(buf);
}

/* The ETag as xml_build_complete_multipart sends it, quotes stripped. */
static void strip_quotes(const char *in, char *out)
{
	size_t len = strlen(in), start = 0;

	if (len >= 1 && in[0] == '"')
		start = 1;
	else if (len >= 6 && !strncmp(in, "&quot;", 6))
		start = 6;
	if (len - start >= 1 && in[len - 1] == '"')
		len -= 1;
	else if (len - start >= 6 && !strncmp(in + len - 6, "&quot;", 6))
		len -= 6;
	memcpy(out, in + start, len - start);
	out[len - start] = '\0';
}

static void check_build(const uint8_t *data, size_t size)
{
	struct xml_part parts[8];
	struct fuzz_split s;
	size_t n = 0, len = 0, i, wlen;
	xmlDoc *d = NULL;
	xmlNode *root, *p, *f;
	char *doc, *want;
	bool has_ctl;

	fuzz_split_init(&s, data, size);
	while (n < 8) {
		const char *t = fuzz_next(&s);

		if (!t)
			break;
		parts[n].number = (unsigned)(n * 3 + 1);
		parts[n].etag = t;
		n++;
	}
	if (!n)
		goto out;
	has_ctl = false;
	for (i = 0; i < n; i++) {
		const unsigned char *c;

		for (c = (const unsigned char *)parts[i].etag; *c; c++)
			if (*c < 0x20 && *c != '\t')
				has_ctl = true;
	}
	doc = xml_build_complete_multipart(parts, n, &len);
	if (!doc) {
		CHECK(errno == ENOMEM || (errno == EINVAL && has_ctl));
		goto out;
	}
	CHECK(!has_ctl);
	CHECK(len == strlen(doc));
	/*
	 * Bytes that are not UTF-8 make the document invalid XML; that is
	 * the caller's business (ETags are hex), so only check what parses.
	 */
	d = xmlReadMemory(doc, (int)len, NULL, "UTF-8",
			  XML_PARSE_NONET | XML_PARSE_NOERROR |
				  XML_PARSE_NOWARNING);
	if (d) {
		root = xmlDocGetRootElement(d);
		CHECK(root && !strcmp((const char *)root->name,
				      "CompleteMultipartUpload"));
		i = 0;
		for (p = root->children; p; p = p->next) {
			if (p->type != XML_ELEMENT_NODE)
				continue;
			CHECK(i < n);
			for (f = p->children; f; f = f->next) {
				xmlChar *txt;

				if (f->type != XML_ELEMENT_NODE ||
				    strcmp((const char *)f->name, "ETag"))
					continue;
				txt = xmlNodeGetContent(f);
				want = malloc(strlen(parts[i].etag) + 3);
				CHECK(txt && want);
				want[0] = '"';
				strip_quotes(parts[i].etag, want + 1);
				wlen = strlen(want);
				want[wlen] = '"';
				want[wlen + 1] = '\0';
				CHECK(!strcmp((const char *)txt, want));
				free(want);
				xmlFree(txt);
			}
			i++;
		}
		CHECK(i == n);
		xmlFreeDoc(d);
	}
	free(doc);
out:
	fuzz_split_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data;

	check_list(doc, size);
	check_error(doc, size);
	check_copy(doc, size);
	check_initiate(doc, size);
	check_iso8601(data, size);
	check_build(data, size);
	return 0;
}
