/*
 * xml.c - parse and build the S3 XML documents r2fs needs (libxml2).
 *
 * Every parser follows the same path: xml_read_root() turns the response
 * body into a libxml2 tree and checks the root element's local name, the
 * caller walks the root's children and copies the few fields it wants
 * into malloc'd strings, then the tree is freed.  Nothing returned points
 * into libxml2 memory.  The same steps serve parsers of documents kept
 * with their own model (cors_xml.c), through xml.h.  Names are matched on local names only, so the S3
 * namespace (xmlns="http://s3.amazonaws.com/doc/2006-03-01/"), another
 * prefix or no namespace at all are treated alike.
 *
 * Hostile input.  A response body is untrusted (a proxy, a captive portal
 * or a broken S3 clone can send anything), so xml_read():
 *   - caps the size (XML_MAX_DOC) and relies on libxml2's default limits
 *     without XML_PARSE_HUGE (nesting depth 256, 10 MB per text node);
 *   - never substitutes entities (no XML_PARSE_NOENT), never loads a DTD
 *     (no XML_PARSE_DTDLOAD/DTDATTR/DTDVALID) and never touches the network
 *     (XML_PARSE_NONET);
 *   - refuses any <!DOCTYPE> outright: S3 never sends one, and stopping the
 *     parser in the internalSubset SAX callback means entity declarations
 *     (billion laughs, XXE) are never even read;
 *   - reads field text from text and CDATA nodes only and fails on an
 *     entity reference node, so no entity is ever expanded by us either;
 *   - decodes the body as UTF-8 whatever its XML declaration says
 *     (XML_PARSE_IGNORE_ENC), so no iconv converter is ever involved.
 *
 * Error output.  libxml2 reports parse errors through callbacks and by
 * default prints them on stderr.  Each parse gets its own parser context
 * whose SAX structured-error handler (sax->serror) is a no-op, and the
 * context is created with XML_PARSE_NOERROR | XML_PARSE_NOWARNING.  That
 * state belongs to one context used by one thread, so nothing global or
 * thread-local is changed and concurrent parses cannot interfere (unlike
 * xmlSetStructuredErrorFunc/xmlSetGenericErrorFunc, which would have to be
 * set and restored around every call in every thread).
 *
 * Threads.  libxml2 must be initialized once, before threads use it:
 * main() calls xml_global_init() first and xml_global_cleanup() last.
 * After that every function here is reentrant.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* timegm */
#endif

#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util.h"

/*
 * Largest response body we parse.  A full ListObjectsV2 page (1000 keys of
 * up to 1024 bytes, tripled by url-encoding) stays well below this.
 */
#define XML_MAX_DOC (32u << 20)

#define XML_OPTIONS                                                         \
	(XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |        \
	 XML_PARSE_IGNORE_ENC)

/* ------------------------------------------------------------------ */
/* libxml2 setup */

/* Refuses to open anything: r2fs never needs an external resource. */
static xmlParserInputPtr xml_no_loader(const char *url, const char *id,
				       xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	return NULL;
}

void xml_global_init(void)
{
	xmlInitParser();
	/*
	 * Belt and braces: the parser is never asked to load an external
	 * entity or DTD (see xml_read), but should a later change do so by
	 * mistake, nothing is opened.  This is process-wide; r2fs has no
	 * other libxml2 user.
	 */
	xmlSetExternalEntityLoader(xml_no_loader);
}

void xml_global_cleanup(void)
{
	xmlCleanupParser();
}

/* Per-parse state, reached from SAX callbacks through ctxt->_private. */
struct xml_parse_state {
	bool saw_doctype;
};

static void xml_silent_error(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

/* SAX internalSubset: a <!DOCTYPE> was seen.  Stop before its body. */
static void xml_reject_doctype(void *ctx, const xmlChar *name,
			       const xmlChar *external_id,
			       const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct xml_parse_state *st = ctxt->_private;

	(void)name;
	(void)external_id;
	(void)system_id;
	st->saw_doctype = true;
	xmlStopParser(ctxt);
}

static bool xml_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Parse doc[0..len) into *out and point *root at its root element.
 * Returns 0, -EPROTO (malformed, DOCTYPE, too large, no root) or -ENOMEM.
 * The caller frees *out with xmlFreeDoc.
 */
static int xml_read(const char *doc, size_t len, xmlDoc **out,
		    xmlNode **root)
{
	struct xml_parse_state st = { .saw_doctype = false };
	xmlParserCtxtPtr ctxt = NULL;
	xmlDoc *d = NULL;
	int ret = -EPROTO;

	*out = NULL;
	*root = NULL;
	if (!doc)
		goto out;
	/*
	 * S3 may send whitespace to keep a slow CopyObject or
	 * CompleteMultipartUpload connection alive; whitespace before the
	 * XML declaration would otherwise be a fatal error.
	 */
	while (len > 0 && xml_is_space(*doc)) {
		doc++;
		len--;
	}
	if (len == 0 || len > XML_MAX_DOC || len > INT_MAX)
		goto out;

	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		ret = -ENOMEM;
		goto out;
	}
	ctxt->_private = &st;
	ctxt->sax->serror = xml_silent_error;
	ctxt->sax->internalSubset = xml_reject_doctype;

	d = xmlCtxtReadMemory(ctxt, doc, (int)len, NULL, "UTF-8", XML_OPTIONS);
	if (!d) {
		if (ctxt->errNo == XML_ERR_NO_MEMORY)
			ret = -ENOMEM;
		goto out;
	}
	/* xmlStopParser does not always clear wellFormed: check both. */
	if (st.saw_doctype || !ctxt->wellFormed || d->intSubset ||
	    d->extSubset)
		goto out;
	*root = xmlDocGetRootElement(d);
	if (!*root)
		goto out;
	*out = d;
	d = NULL;
	ret = 0;
out:
	if (d)
		xmlFreeDoc(d);
	if (ctxt)
		xmlFreeParserCtxt(ctxt);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Tree helpers */

bool xml_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       !strcmp((const char *)n->name, name);
}

/* xml_read, and -EPROTO unless the root element is name (xml.h). */
int xml_read_root(const char *doc, size_t len, const char *name,
		  xmlDoc **out, xmlNode **root)
{
	int ret = xml_read(doc, len, out, root);

	if (ret || xml_is(*root, name))
		return ret;
	xmlFreeDoc(*out);
	*out = NULL;
	*root = NULL;
	return -EPROTO;
}

/*
 * The text of leaf element elem (text and CDATA children concatenated) as a
 * malloc'd string in *out, optionally with XML whitespace trimmed at both
 * ends.  Child elements and entity references make it -EPROTO; comments
 * and processing instructions are skipped.  Keys are never trimmed: " "
 * is a valid S3 key.
 */
int xml_text(const xmlNode *elem, bool trim, char **out)
{
	const xmlNode *c;
	size_t len = 0, pos = 0, start, end, n;
	char *buf;

	*out = NULL;
	for (c = elem->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE ||
		    c->type == XML_CDATA_SECTION_NODE) {
			if (c->content)
				len += strlen((const char *)c->content);
		} else if (c->type != XML_COMMENT_NODE &&
			   c->type != XML_PI_NODE) {
			return -EPROTO;
		}
	}
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	for (c = elem->children; c; c = c->next) {
		if ((c->type == XML_TEXT_NODE ||
		     c->type == XML_CDATA_SECTION_NODE) && c->content) {
			n = strlen((const char *)c->content);
			memcpy(buf + pos, c->content, n);
			pos += n;
		}
	}
	buf[pos] = '\0';
	if (trim) {
		start = 0;
		end = pos;
		while (start < end && xml_is_space(buf[start]))
			start++;
		while (end > start && xml_is_space(buf[end - 1]))
			end--;
		memmove(buf, buf + start, end - start);
		buf[end - start] = '\0';
	}
	*out = buf;
	return 0;
}

/* Like xml_text, but the element may appear only once: *dst must be NULL. */
int xml_text_once(const xmlNode *n, bool trim, char **dst)
{
	if (*dst)
		return -EPROTO;
	return xml_text(n, trim, dst);
}

/*
 * Strip one leading and one trailing double quote from an ETag, in place.
 * Some S3 clones escape the quotes twice, so the text after XML decoding
 * is "&quot;abc&quot;"; that literal form is stripped as well.
 */
static void xml_strip_etag(char *s)
{
	size_t len = strlen(s), start = 0;

	if (len >= 1 && s[0] == '"')
		start = 1;
	else if (len >= 6 && !strncmp(s, "&quot;", 6))
		start = 6;
	if (len - start >= 1 && s[len - 1] == '"')
		len -= 1;
	else if (len - start >= 6 && !strncmp(s + len - 6, "&quot;", 6))
		len -= 6;
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
}

/*
 * Undo S3's encoding-type=url, in place.
 *
 * The S3 API reference only says keys are "URL encoded".  What S3 does in
 * practice is form encoding: a space becomes '+', a literal '+' becomes
 * "%2B", other reserved and non-ASCII bytes become %XX (UTF-8).  Observed
 * on AWS: "a b.txt" lists as "a+b.txt", "a+b.txt" as "a%2Bb.txt".  The
 * AWS SDKs decode accordingly: botocore uses urllib's unquote_plus for
 * Contents/Key and CommonPrefixes/Prefix, the Java SDK URLDecoder.  MinIO
 * encodes the same way.  Servers that use strict percent-encoding ("%20")
 * decode correctly too, since they also never leave a literal '+'.  So
 * '+' means space here.
 *
 * A '%' not followed by two hex digits, or %00 (a key cannot hold NUL in
 * C, and S3 keys never contain it), is -EPROTO.
 */
static int xml_url_decode(char *s)
{
	char *r = s, *w = s;
	int hi, lo;

	while (*r) {
		if (*r == '+') {
			*w++ = ' ';
			r++;
		} else if (*r == '%') {
			hi = util_hex_digit((unsigned char)r[1]);
			lo = hi < 0 ? -1 : util_hex_digit((unsigned char)r[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EPROTO;
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return 0;
}

/* A key or prefix: required, url-decoded if asked, never empty. */
static int xml_key(const xmlNode *n, bool url, char **dst)
{
	int ret;

	ret = xml_text_once(n, false, dst);
	if (ret)
		return ret;
	if (url) {
		ret = xml_url_decode(*dst);
		if (ret)
			return ret;
	}
	if (**dst == '\0')
		return -EPROTO;
	return 0;
}

/* Decimal digits only, no sign, no overflow. */
int xml_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;

	if (!*s)
		return -EPROTO;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EPROTO;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int xml_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false")) {
		*out = false;
		return 0;
	}
	return -EPROTO;
}

/* ------------------------------------------------------------------ */
/* ListObjectsV2 */

void xml_list_result_release(struct xml_list_result *r)
{
	size_t i;

	for (i = 0; i < r->nentries; i++) {
		free(r->entries[i].key);
		free(r->entries[i].etag);
	}
	free(r->entries);
	for (i = 0; i < r->nprefixes; i++)
		free(r->prefixes[i]);
	free(r->prefixes);
	free(r->next_token);
	memset(r, 0, sizeof(*r));
}

/* Grow an array of *n elements of size sz to hold one more. */
static int xml_grow(void **arr, size_t n, size_t *cap, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / sz)
		return -ENOMEM;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* <Contents>: Key and Size required; LastModified, ETag optional. */
static int xml_list_entry(const xmlNode *contents, bool url,
			  struct xml_list_entry *e)
{
	const xmlNode *n;
	char *size = NULL, *mtime = NULL;
	time_t t;
	int ret = 0;

	memset(e, 0, sizeof(*e));
	for (n = contents->children; n && !ret; n = n->next) {
		if (xml_is(n, "Key"))
			ret = xml_key(n, url, &e->key);
		else if (xml_is(n, "Size"))
			ret = xml_text_once(n, true, &size);
		else if (xml_is(n, "LastModified"))
			ret = xml_text_once(n, true, &mtime);
		else if (xml_is(n, "ETag"))
			ret = xml_text_once(n, true, &e->etag);
	}
	if (ret)
		goto out;
	ret = -EPROTO;
	if (!e->key || !size || xml_parse_u64(size, &e->size))
		goto out;
	if (mtime) {
		t = xml_parse_iso8601(mtime);
		e->mtime = t == (time_t)-1 ? 0 : t;
	}
	if (e->etag)
		xml_strip_etag(e->etag);
	ret = 0;
out:
	if (ret) {
		free(e->key);
		free(e->etag);
		memset(e, 0, sizeof(*e));
	}
	free(size);
	free(mtime);
	return ret;
}

/* <CommonPrefixes>: one or more <Prefix>, each appended to r. */
static int xml_list_prefixes(const xmlNode *cp, bool url,
			     struct xml_list_result *r, size_t *cap)
{
	const xmlNode *n;
	char *p = NULL;
	bool found = false;
	int ret;

	for (n = cp->children; n; n = n->next) {
		if (!xml_is(n, "Prefix"))
			continue;
		found = true;
		ret = xml_grow((void **)&r->prefixes, r->nprefixes, cap,
			       sizeof(*r->prefixes));
		if (ret)
			return ret;
		ret = xml_key(n, url, &p);
		if (ret) {
			free(p);
			return ret;
		}
		r->prefixes[r->nprefixes++] = p;
		p = NULL;
	}
	return found ? 0 : -EPROTO;
}

/*
 * <EncodingType> may come anywhere among the root's children, so it is
 * looked up before any key is read.  Only "url" is defined by S3.
 */
static int xml_list_encoding(const xmlNode *root, bool *url)
{
	const xmlNode *n;
	char *v = NULL;
	int ret = 0;

	*url = false;
	for (n = root->children; n && !ret; n = n->next)
		if (xml_is(n, "EncodingType"))
			ret = xml_text_once(n, true, &v);
	if (!ret && v) {
		if (!strcmp(v, "url"))
			*url = true;
		else
			ret = -EPROTO;
	}
	free(v);
	return ret;
}

int xml_parse_list(const char *doc, size_t len, struct xml_list_result *out)
{
	xmlDoc *d = NULL;
	xmlNode *root, *n;
	size_t ecap = 0, pcap = 0;
	char *trunc = NULL;
	bool url;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = xml_read_root(doc, len, "ListBucketResult", &d, &root);
	if (ret)
		goto out;
	ret = xml_list_encoding(root, &url);
	if (ret)
		goto out;

	for (n = root->children; n && !ret; n = n->next) {
		if (xml_is(n, "Contents")) {
			ret = xml_grow((void **)&out->entries, out->nentries,
				       &ecap, sizeof(*out->entries));
			if (ret)
				break;
			ret = xml_list_entry(n, url,
					     &out->entries[out->nentries]);
			if (!ret)
				out->nentries++;
		} else if (xml_is(n, "CommonPrefixes")) {
			ret = xml_list_prefixes(n, url, out, &pcap);
		} else if (xml_is(n, "IsTruncated")) {
			ret = xml_text_once(n, true, &trunc);
		} else if (xml_is(n, "NextContinuationToken")) {
			/* Opaque: passed back to S3 byte for byte. */
			ret = xml_text_once(n, false, &out->next_token);
		}
	}
	if (ret)
		goto out;
	ret = -EPROTO;
	if (trunc && xml_parse_bool(trunc, &out->is_truncated))
		goto out;
	/*
	 * A truncated page without a token cannot be continued: the caller
	 * would either loop or silently show a partial directory.
	 */
	if (out->is_truncated && (!out->next_token || !*out->next_token))
		goto out;
	ret = 0;
out:
	if (ret)
		xml_list_result_release(out);
	free(trunc);
	if (d)
		xmlFreeDoc(d);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Error */

void xml_error_release(struct xml_error *e)
{
	free(e->code);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

int xml_parse_error(const char *doc, size_t len, struct xml_error *out)
{
	xmlDoc *d = NULL;
	xmlNode *root, *n;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = xml_read_root(doc, len, "Error", &d, &root);
	if (ret)
		goto out;
	for (n = root->children; n && !ret; n = n->next) {
		if (xml_is(n, "Code"))
			ret = xml_text_once(n, true, &out->code);
		else if (xml_is(n, "Message"))
			ret = xml_text_once(n, true, &out->message);
	}
out:
	if (ret)
		xml_error_release(out);
	if (d)
		xmlFreeDoc(d);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Multipart upload and copy */

int xml_parse_initiate_multipart(const char *doc, size_t len,
				 char **upload_id)
{
	xmlDoc *d = NULL;
	xmlNode *root, *n;
	char *id = NULL;
	int ret;

	*upload_id = NULL;
	ret = xml_read_root(doc, len, "InitiateMultipartUploadResult", &d,
			    &root);
	if (ret)
		goto out;
	for (n = root->children; n && !ret; n = n->next)
		if (xml_is(n, "UploadId"))
			ret = xml_text_once(n, true, &id);
	if (ret)
		goto out;
	if (!id || !*id) {
		ret = -EPROTO;
		goto out;
	}
	*upload_id = id;
	id = NULL;
out:
	free(id);
	if (d)
		xmlFreeDoc(d);
	return ret;
}

/*
 * Also accepts CopyPartResult (UploadPartCopy), which has the same two
 * fields.
 */
int xml_parse_copy_result(const char *doc, size_t len, char **etag,
			  time_t *mtime)
{
	xmlDoc *d = NULL;
	xmlNode *root, *n;
	char *tag = NULL, *lm = NULL;
	time_t t = 0;
	int ret;

	if (etag)
		*etag = NULL;
	if (mtime)
		*mtime = 0;
	ret = xml_read(doc, len, &d, &root);
	if (ret)
		goto out;
	if (xml_is(root, "Error")) {
		ret = -EIO;
		goto out;
	}
	ret = -EPROTO;
	if (!xml_is(root, "CopyObjectResult") &&
	    !xml_is(root, "CompleteMultipartUploadResult") &&
	    !xml_is(root, "CopyPartResult"))
		goto out;
	ret = 0;
	for (n = root->children; n && !ret; n = n->next) {
		if (xml_is(n, "ETag"))
			ret = xml_text_once(n, true, &tag);
		else if (xml_is(n, "LastModified"))
			ret = xml_text_once(n, true, &lm);
	}
	if (ret)
		goto out;
	if (!tag) {
		tag = strdup("");
		if (!tag) {
			ret = -ENOMEM;
			goto out;
		}
	}
	xml_strip_etag(tag);
	if (lm) {
		t = xml_parse_iso8601(lm);
		if (t == (time_t)-1)
			t = 0;
	}
	if (etag) {
		*etag = tag;
		tag = NULL;
	}
	if (mtime)
		*mtime = t;
out:
	free(tag);
	free(lm);
	if (d)
		xmlFreeDoc(d);
	return ret;
}

/* ------------------------------------------------------------------ */
/* CompleteMultipartUpload body */

/* Append s[0..n) escaped for element text; control characters: -EINVAL. */
int xml_add_escaped(struct util_buf *b, const char *s, size_t n)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		if (s[i] == '&')
			ret = util_buf_adds(b, "&amp;");
		else if (s[i] == '<')
			ret = util_buf_adds(b, "&lt;");
		else if (s[i] == '>')
			ret = util_buf_adds(b, "&gt;");
		else if (s[i] == '"')
			ret = util_buf_adds(b, "&quot;");
		else if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			ret = -EINVAL;
		else
			ret = util_buf_add(b, s + i, 1);
	}
	return ret;
}

/*
 * Parts are sent as <ETag>"hex"</ETag>: whatever quoting the caller's
 * ETag had is removed and one pair of quotes added, which is the form
 * UploadPart returns and the AWS SDKs send back.
 */
static int xml_build_part(struct util_buf *b, const struct xml_part *p)
{
	char num[32];
	char *tag = NULL;
	int ret;

	tag = strdup(p->etag);
	if (!tag)
		return -ENOMEM;
	xml_strip_etag(tag);
	snprintf(num, sizeof(num), "%u", p->number);
	ret = util_buf_adds(b, "  <Part><PartNumber>");
	if (!ret)
		ret = util_buf_adds(b, num);
	if (!ret)
		ret = util_buf_adds(b, "</PartNumber><ETag>\"");
	if (!ret)
		ret = xml_add_escaped(b, tag, strlen(tag));
	if (!ret)
		ret = util_buf_adds(b, "\"</ETag></Part>\n");
	free(tag);
	return ret;
}

char *xml_build_complete_multipart(const struct xml_part *parts,
				   size_t nparts, size_t *len)
{
	struct util_buf b = { .max = XML_MAX_BUILD };
	unsigned prev = 0;
	size_t i;
	int ret = -EINVAL;

	if (len)
		*len = 0;
	if (!parts || nparts == 0 || nparts > 10000)
		goto out;
	for (i = 0; i < nparts; i++) {
		if (parts[i].number < 1 || parts[i].number > 10000 ||
		    parts[i].number <= prev || !parts[i].etag)
			goto out;
		prev = parts[i].number;
	}
	ret = util_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			      "<CompleteMultipartUpload xmlns=\"" XML_S3_NS
			      "\">\n");
	for (i = 0; i < nparts && !ret; i++)
		ret = xml_build_part(&b, &parts[i]);
	if (!ret)
		ret = util_buf_adds(&b, "</CompleteMultipartUpload>\n");
out:
	if (ret) {
		util_buf_release(&b);
		/* a document past XML_MAX_BUILD has always been ENOMEM */
		errno = ret == -E2BIG ? ENOMEM : -ret;
		return NULL;
	}
	return util_buf_take(&b, len);
}

/* ------------------------------------------------------------------ */
/* Timestamps */

/* Exactly n decimal digits at s, as an int; -1 if not. */
static int xml_digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool xml_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * "YYYY-MM-DDTHH:MM:SS", then optional fractional seconds ('.' and one or
 * more digits, ignored), then 'Z', "+hh:mm", "-hh:mm", "+hhmm", "-hhmm" or
 * nothing (taken as UTC: AWS's own CopyObject sample omits the 'Z').
 * Converted with timegm, so the local timezone plays no part.  Ranges are
 * checked (Feb 29 only in leap years; second 60 allowed for a leap second).
 * Returns -1 if malformed or out of time_t's range; note that
 * 1969-12-31T23:59:59Z, a valid time, also maps to -1.
 */
time_t xml_parse_iso8601(const char *s)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	struct tm tm;
	int y, mo, d, h, mi, sec, oh, om, sign, dim;
	long off = 0;
	time_t t;

	if (!s)
		return -1;
	y = xml_digits(s, 4);
	if (y < 0 || s[4] != '-')
		return -1;
	mo = xml_digits(s + 5, 2);
	if (mo < 1 || mo > 12 || s[7] != '-')
		return -1;
	d = xml_digits(s + 8, 2);
	dim = mdays[mo - 1] + (mo == 2 && xml_leap(y));
	if (d < 1 || d > dim || (s[10] != 'T' && s[10] != 't'))
		return -1;
	h = xml_digits(s + 11, 2);
	if (h < 0 || h > 23 || s[13] != ':')
		return -1;
	mi = xml_digits(s + 14, 2);
	if (mi < 0 || mi > 59 || s[16] != ':')
		return -1;
	sec = xml_digits(s + 17, 2);
	if (sec < 0 || sec > 60)
		return -1;
	s += 19;

	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		oh = xml_digits(s + 1, 2);
		if (oh < 0 || oh > 23)
			return -1;
		s += 3;
		if (*s == ':')
			s++;
		om = xml_digits(s, 2);
		if (om < 0 || om > 59)
			return -1;
		s += 2;
		off = sign * (oh * 3600L + om * 60L);
	}
	if (*s != '\0')
		return -1;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	errno = 0;
	t = timegm(&tm);
	if (t == (time_t)-1 && errno == EOVERFLOW)
		return -1;
	return t - off;
}

/* ------------------------------------------------------------------ */
/* ListBuckets */

void xml_bucket_list_release(struct xml_bucket_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->buckets[i].name);
	free(l->buckets);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

/* <Bucket>: Name required, CreationDate optional. */
static int xml_bucket_entry(const xmlNode *bucket, struct xml_bucket *b)
{
	const xmlNode *n;
	char *date = NULL;
	time_t t;
	int ret = 0;

	memset(b, 0, sizeof(*b));
	for (n = bucket->children; n && !ret; n = n->next) {
		if (xml_is(n, "Name"))
			ret = xml_text_once(n, true, &b->name);
		else if (xml_is(n, "CreationDate"))
			ret = xml_text_once(n, true, &date);
	}
	if (!ret && (!b->name || !*b->name))
		ret = -EPROTO;
	if (!ret && date) {
		t = xml_parse_iso8601(date);
		b->created = t == (time_t)-1 ? 0 : t;
	}
	if (ret) {
		free(b->name);
		b->name = NULL;
	}
	free(date);
	return ret;
}

int xml_parse_list_buckets(const char *doc, size_t len,
			   struct xml_bucket_list *out)
{
	xmlDoc *d = NULL;
	xmlNode *root, *n, *b;
	size_t cap = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = xml_read_root(doc, len, "ListAllMyBucketsResult", &d, &root);
	if (ret)
		goto out;
	for (n = root->children; n && !ret; n = n->next) {
		if (xml_is(n, "ContinuationToken")) {
			ret = xml_text_once(n, false, &out->next_token);
			continue;
		}
		if (!xml_is(n, "Buckets"))
			continue;
		for (b = n->children; b && !ret; b = b->next) {
			if (!xml_is(b, "Bucket"))
				continue;
			ret = xml_grow((void **)&out->buckets, out->n, &cap,
				       sizeof(*out->buckets));
			if (!ret)
				ret = xml_bucket_entry(b,
						       &out->buckets[out->n]);
			if (!ret)
				out->n++;
		}
	}
	if (!ret && out->next_token && !*out->next_token) {
		free(out->next_token);
		out->next_token = NULL;
	}
out:
	if (ret)
		xml_bucket_list_release(out);
	if (d)
		xmlFreeDoc(d);
	return ret;
}
