/*
 * test_xml.c - unit tests for src/xml.c.
 *
 * Usage: test_xml FIXTURES_DIR
 *
 * Fixtures are modelled on the sample responses in AWS's S3 API reference
 * (ListObjectsV2, Error, InitiateMultipartUpload, CompleteMultipartUpload,
 * CopyObject) plus hostile documents that must be rejected.  While the
 * malformed ones are parsed, stderr is redirected to a temporary file that
 * must stay empty: libxml2 must never print.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* setenv */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tap.h"
#include "xml.h"

static const char *fixdir;

/* Read fixture name into a malloc'd buffer (NUL-terminated for ease). */
static char *load(const char *name, size_t *len)
{
	char path[4096];
	FILE *f = NULL;
	char *buf = NULL;
	long n;

	*len = 0;
	snprintf(path, sizeof(path), "%s/%s", fixdir, name);
	f = fopen(path, "rb");
	if (!f)
		goto fail;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		goto fail;
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	buf[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return buf;
fail:
	printf("# cannot read fixture %s\n", path);
	free(buf);
	if (f)
		fclose(f);
	return NULL;
}

static int list_fixture(const char *name, struct xml_list_result *r)
{
	size_t len;
	char *doc = load(name, &len);
	int ret;

	if (!doc) {
		memset(r, 0, sizeof(*r));
		return -ENOENT;
	}
	ret = xml_parse_list(doc, len, r);
	free(doc);
	return ret;
}

static int list_str(const char *doc, struct xml_list_result *r)
{
	return xml_parse_list(doc, strlen(doc), r);
}

static int perr(const char *doc, struct xml_error *e)
{
	return xml_parse_error(doc, strlen(doc), e);
}

static int pinit(const char *doc, char **id)
{
	return xml_parse_initiate_multipart(doc, strlen(doc), id);
}

static int pcopy(const char *doc, char **etag, time_t *mtime)
{
	return xml_parse_copy_result(doc, strlen(doc), etag, mtime);
}

static int is_zero_list(const struct xml_list_result *r)
{
	return !r->entries && !r->nentries && !r->prefixes &&
	       !r->nprefixes && !r->is_truncated && !r->next_token;
}

static void test_list_page1(void)
{
	struct xml_list_result r;
	int ret = list_fixture("list-v2-page1.xml", &r);

	TAP_INTEQ(ret, 0, "page1: parses");
	TAP_INTEQ(r.nentries, 3, "page1: three entries");
	TAP_OK(r.is_truncated, "page1: truncated");
	TAP_STREQ(r.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
		  "page1: continuation token");
	TAP_INTEQ(r.nprefixes, 0, "page1: no prefixes");
	if (r.nentries == 3) {
		TAP_STREQ(r.entries[0].key, "ExampleObject.txt",
			  "page1: key 0");
		TAP_INTEQ(r.entries[0].size, 857, "page1: size 0");
		TAP_INTEQ(r.entries[0].mtime, 1379441273, "page1: mtime 0");
		TAP_STREQ(r.entries[0].etag, "599bab3ed2c697f1d26842727561fd94",
			  "page1: &quot; etag stripped");
		TAP_STREQ(r.entries[1].key, "my-image.jpg", "page1: key 1");
		TAP_INTEQ(r.entries[1].size, 434234, "page1: size 1");
		TAP_INTEQ(r.entries[1].mtime, 1255369830, "page1: mtime 1");
		TAP_STREQ(r.entries[1].etag, "fba9dede5f27731c9771645a39863328",
			  "page1: raw-quote etag stripped");
		TAP_STREQ(r.entries[2].key, "videos/big.mkv", "page1: key 2");
		TAP_OK(r.entries[2].size == 5368709120000ULL,
		       "page1: size above 4 GiB");
		TAP_INTEQ(r.entries[2].mtime, 1709251199,
			  "page1: mtime without fraction, leap day");
		TAP_STREQ(r.entries[2].etag,
			  "3858f62230ac3c915f300c664312c11f-9",
			  "page1: multipart etag");
	}
	xml_list_result_release(&r);
	TAP_OK(is_zero_list(&r), "page1: release zeroes");
	xml_list_result_release(&r);
	TAP_OK(is_zero_list(&r), "page1: second release is harmless");
}

static void test_list_prefixes(void)
{
	struct xml_list_result r;
	int ret = list_fixture("list-v2-prefixes.xml", &r);

	TAP_INTEQ(ret, 0, "prefixes: parses");
	TAP_OK(!r.is_truncated, "prefixes: not truncated");
	TAP_OK(r.next_token == NULL, "prefixes: no token");
	TAP_INTEQ(r.nentries, 1, "prefixes: one entry");
	if (r.nentries == 1) {
		TAP_STREQ(r.entries[0].key, "photos/2006/",
			  "prefixes: directory marker key");
		TAP_INTEQ(r.entries[0].size, 0, "prefixes: size 0");
		TAP_INTEQ(r.entries[0].mtime, 1462060289, "prefixes: mtime");
	}
	TAP_INTEQ(r.nprefixes, 2, "prefixes: two common prefixes");
	if (r.nprefixes == 2) {
		TAP_STREQ(r.prefixes[0], "photos/2006/February/",
			  "prefixes: first");
		TAP_STREQ(r.prefixes[1], "photos/2006/January/",
			  "prefixes: second");
	}
	xml_list_result_release(&r);
}

static void test_list_empty(void)
{
	struct xml_list_result r;
	int ret = list_fixture("list-v2-empty.xml", &r);

	TAP_INTEQ(ret, 0, "empty: parses");
	TAP_OK(is_zero_list(&r), "empty: nothing listed");
	xml_list_result_release(&r);
}

static void test_list_url(void)
{
	static const char *const want[] = {
		"a b.txt",
		"a+b.txt",
		"100%.csv",
		"\xed\x95\x9c\xea\xb8\x80/x.txt", /* 한글/x.txt */
		"tab\tkey",
		"line\nbreak\r",
		"amp&<x>\"q\"",
		"ctl\x01\x1f",
		"\xe2\x82\xac lower-hex",
	};
	struct xml_list_result r;
	char name[64];
	size_t i;
	int ret = list_fixture("list-v2-url-encoded.xml", &r);

	TAP_INTEQ(ret, 0, "url: parses");
	TAP_INTEQ(r.nentries, 9, "url: nine entries");
	for (i = 0; i < r.nentries && i < 9; i++) {
		snprintf(name, sizeof(name), "url: key %zu decoded", i);
		TAP_STREQ(r.entries[i].key, want[i], name);
		TAP_INTEQ(r.entries[i].size, 10 + i, "url: size");
	}
	TAP_STREQ(r.entries[0].etag, "6761d6772dc789aa1a2be9e51757c93b",
		  "url: etag not url-decoded");
	TAP_INTEQ(r.nprefixes, 2, "url: two prefixes");
	if (r.nprefixes == 2) {
		TAP_STREQ(r.prefixes[0], "run books/", "url: prefix '+'");
		TAP_STREQ(r.prefixes[1], "\xf0\x9f\x98\x80/",
			  "url: prefix emoji");
	}
	xml_list_result_release(&r);
}

static void test_list_unicode(void)
{
	static const char *const want[] = {
		"r\xc3\xa9sum\xc3\xa9.pdf",
		("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/"
		 "\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt"),
		"with space.txt",
		"a&b+c",
		"tab\there",
		"<angle> \"q\" 'a'",
		"   ",
		"cdata&<key>",
		"smile\xf0\x9f\x98\x80\xc3\xa9",
		"100%25 not decoded",
		" leadtrail ",
	};
	struct xml_list_result r;
	char name[64];
	size_t i;
	int ret = list_fixture("list-v2-unicode.xml", &r);

	TAP_INTEQ(ret, 0, "unicode: parses");
	TAP_INTEQ(r.nentries, 11, "unicode: eleven entries");
	for (i = 0; i < r.nentries && i < 11; i++) {
		snprintf(name, sizeof(name), "unicode: key %zu verbatim", i);
		TAP_STREQ(r.entries[i].key, want[i], name);
	}
	if (r.nentries == 11) {
		TAP_INTEQ(r.entries[10].size, 11, "unicode: padded size");
		TAP_OK(r.entries[10].etag == NULL, "unicode: absent etag");
		TAP_INTEQ(r.entries[10].mtime, 0, "unicode: absent mtime");
	}
	xml_list_result_release(&r);
}

/* Inline documents exercising the list parser's rules. */
#define LBR_OPEN                                                            \
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
#define LBR_CLOSE "</ListBucketResult>"

static void expect_list(const char *doc, int want, const char *name)
{
	struct xml_list_result r;
	int ret = list_str(doc, &r);

	TAP_INTEQ(ret, want, name);
	if (ret)
		TAP_OK(is_zero_list(&r), "  ... and the result is empty");
	xml_list_result_release(&r);
}

static void test_list_rules(void)
{
	struct xml_list_result r;
	int ret;

	expect_list(LBR_OPEN "<Contents><Key>k</Key><Size>-1</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: negative size");
	expect_list(LBR_OPEN "<Contents><Key>k</Key><Size></Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: empty size");
	expect_list(LBR_OPEN "<Contents><Key>k</Key><Size>0x10</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: hex size");
	expect_list(LBR_OPEN "<Contents><Key>k</Key>"
			     "<Size>18446744073709551616</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: size overflow");
	ret = list_str(LBR_OPEN "<Contents><Key>k</Key>"
				"<Size>18446744073709551615</Size>"
				"</Contents>" LBR_CLOSE,
		       &r);
	TAP_OK(ret == 0 && r.nentries == 1 && r.entries[0].size == UINT64_MAX,
	       "rules: size UINT64_MAX");
	xml_list_result_release(&r);
	expect_list(LBR_OPEN "<Contents><Key>k</Key></Contents>" LBR_CLOSE,
		    -EPROTO, "rules: missing size");
	expect_list(LBR_OPEN "<Contents><Size>1</Size></Contents>" LBR_CLOSE,
		    -EPROTO, "rules: missing key");
	expect_list(LBR_OPEN "<Contents><Key/><Size>1</Size></Contents>"
			     LBR_CLOSE,
		    -EPROTO, "rules: empty key element");
	expect_list(LBR_OPEN "<Contents><Key>a</Key><Key>b</Key>"
			     "<Size>1</Size></Contents>" LBR_CLOSE,
		    -EPROTO, "rules: duplicate key");
	expect_list(LBR_OPEN "<Contents><Key>a<b/>c</Key><Size>1</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: element inside key");
	expect_list(LBR_OPEN "<IsTruncated>maybe</IsTruncated>" LBR_CLOSE,
		    -EPROTO, "rules: bad IsTruncated");
	expect_list(LBR_OPEN "<IsTruncated>true</IsTruncated>" LBR_CLOSE,
		    -EPROTO, "rules: truncated without token");
	expect_list(LBR_OPEN "<IsTruncated>true</IsTruncated>"
			     "<NextContinuationToken></NextContinuationToken>"
			     LBR_CLOSE,
		    -EPROTO, "rules: truncated with empty token");
	expect_list(LBR_OPEN "<EncodingType>base64</EncodingType>" LBR_CLOSE,
		    -EPROTO, "rules: unknown EncodingType");
	expect_list(LBR_OPEN "<EncodingType>url</EncodingType>"
			     "<Contents><Key>a%2</Key><Size>1</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: short escape");
	expect_list(LBR_OPEN "<EncodingType>url</EncodingType>"
			     "<Contents><Key>a%zzb</Key><Size>1</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: non-hex escape");
	expect_list(LBR_OPEN "<EncodingType>url</EncodingType>"
			     "<Contents><Key>a%00b</Key><Size>1</Size>"
			     "</Contents>" LBR_CLOSE,
		    -EPROTO, "rules: %00 in key");
	expect_list(LBR_OPEN "<EncodingType>url</EncodingType>"
			     "<CommonPrefixes><Prefix>%</Prefix>"
			     "</CommonPrefixes>" LBR_CLOSE,
		    -EPROTO, "rules: bad escape in prefix");
	expect_list(LBR_OPEN "<CommonPrefixes></CommonPrefixes>" LBR_CLOSE,
		    -EPROTO, "rules: CommonPrefixes without Prefix");
	expect_list(LBR_OPEN "<CommonPrefixes><Prefix/></CommonPrefixes>"
			     LBR_CLOSE,
		    -EPROTO, "rules: empty common prefix");
	expect_list("<ListBucketResult/>", 0, "rules: bare empty root");
	expect_list("", -EPROTO, "rules: empty document");
	expect_list("   \n\t ", -EPROTO, "rules: whitespace document");
	expect_list("not xml at all", -EPROTO, "rules: not xml");
	expect_list("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
		    "</Error>",
		    -EPROTO, "rules: Error document is wrong root");

	/* Prefixed namespace and no namespace: local names match. */
	ret = list_str("<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws"
		       ".com/doc/2006-03-01/\"><s3:IsTruncated>true"
		       "</s3:IsTruncated><s3:NextContinuationToken>t"
		       "</s3:NextContinuationToken><s3:Contents><s3:Key>k"
		       "</s3:Key><s3:Size>5</s3:Size></s3:Contents>"
		       "</s3:ListBucketResult>",
		       &r);
	TAP_OK(ret == 0 && r.nentries == 1 && r.is_truncated &&
		       !strcmp(r.next_token, "t") &&
		       !strcmp(r.entries[0].key, "k") && r.entries[0].size == 5,
	       "rules: prefixed namespace");
	xml_list_result_release(&r);

	/* Leading whitespace before the declaration is tolerated. */
	ret = list_str("\r\n  <?xml version=\"1.0\"?><ListBucketResult>"
		       "<Contents><Key>k</Key><Size>1</Size>"
		       "<LastModified>garbage</LastModified>"
		       "<ETag></ETag></Contents></ListBucketResult>",
		       &r);
	TAP_OK(ret == 0 && r.nentries == 1 && r.entries[0].mtime == 0 &&
		       r.entries[0].etag && !strcmp(r.entries[0].etag, ""),
	       "rules: leading whitespace, bad mtime is 0, empty etag");
	xml_list_result_release(&r);

	/* Not NUL-terminated: only len bytes are read. */
	{
		static const char doc[] =
			"<ListBucketResult><Contents><Key>k</Key><Size>7</Size>"
			"</Contents></ListBucketResult>GARBAGE";
		ret = xml_parse_list(doc, sizeof(doc) - 1 - 7, &r);
		TAP_OK(ret == 0 && r.nentries == 1 && r.entries[0].size == 7,
		       "rules: length honoured, no NUL needed");
		xml_list_result_release(&r);
	}
}

static void test_errors(void)
{
	struct xml_error e;
	size_t len;
	char *doc;
	int ret;

	doc = load("error-nosuchkey.xml", &len);
	ret = xml_parse_error(doc, len, &e);
	TAP_INTEQ(ret, 0, "error: NoSuchKey parses");
	TAP_STREQ(e.code, "NoSuchKey", "error: NoSuchKey code");
	TAP_STREQ(e.message, "The resource you requested does not exist",
		  "error: NoSuchKey message");
	xml_error_release(&e);
	TAP_OK(!e.code && !e.message, "error: release zeroes");
	free(doc);

	doc = load("error-nosuchbucket.xml", &len);
	ret = xml_parse_error(doc, len, &e);
	TAP_INTEQ(ret, 0, "error: NoSuchBucket parses");
	TAP_STREQ(e.code, "NoSuchBucket", "error: NoSuchBucket code");
	TAP_STREQ(e.message, "The specified bucket does not exist",
		  "error: NoSuchBucket message");
	xml_error_release(&e);
	free(doc);

	doc = load("error-signature.xml", &len);
	ret = xml_parse_error(doc, len, &e);
	TAP_INTEQ(ret, 0, "error: signature parses");
	TAP_STREQ(e.code, "SignatureDoesNotMatch", "error: signature code");
	TAP_OK(e.message && !strncmp(e.message, "The request signature", 21),
	       "error: signature message");
	xml_error_release(&e);
	free(doc);

	doc = load("error-in-200.xml", &len);
	ret = xml_parse_error(doc, len, &e);
	TAP_INTEQ(ret, 0, "error: error-in-200 parses as Error");
	TAP_STREQ(e.code, "InternalError", "error: error-in-200 code");
	xml_error_release(&e);
	free(doc);

	ret = perr("<Error></Error>", &e);
	TAP_OK(ret == 0 && !e.code && !e.message,
	       "error: empty Error has NULL code and message");
	xml_error_release(&e);
	ret = perr("<Error><Code>A</Code><Code>B</Code></Error>", &e);
	TAP_OK(ret == -EPROTO && !e.code, "error: duplicate Code rejected");
	ret = perr("<html><body>502 Bad Gateway</body></html>", &e);
	TAP_OK(ret == -EPROTO && !e.code && !e.message,
	       "error: HTML page is -EPROTO");
}

static void test_multipart(void)
{
	char *id = (char *)"sentinel", *etag = NULL;
	time_t mtime = 1;
	size_t len;
	char *doc;
	int ret;

	doc = load("initiate-multipart.xml", &len);
	ret = xml_parse_initiate_multipart(doc, len, &id);
	TAP_INTEQ(ret, 0, "initiate: parses");
	TAP_STREQ(id,
		  "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA",
		  "initiate: upload id");
	free(id);
	free(doc);

	id = (char *)"sentinel";
	ret = pinit("<InitiateMultipartUploadResult><Bucket>b</Bucket>"
		    "</InitiateMultipartUploadResult>",
		    &id);
	TAP_OK(ret == -EPROTO && id == NULL, "initiate: missing UploadId");
	ret = pinit("<InitiateMultipartUploadResult><UploadId> </UploadId>"
		    "</InitiateMultipartUploadResult>",
		    &id);
	TAP_OK(ret == -EPROTO && id == NULL, "initiate: blank UploadId");

	doc = load("complete-multipart-result.xml", &len);
	ret = xml_parse_copy_result(doc, len, &etag, &mtime);
	TAP_INTEQ(ret, 0, "complete: parses");
	TAP_STREQ(etag, "3858f62230ac3c915f300c664312c11f-9", "complete: etag");
	TAP_INTEQ(mtime, 0, "complete: no LastModified gives 0");
	free(etag);
	free(doc);

	doc = load("copy-result.xml", &len);
	ret = xml_parse_copy_result(doc, len, &etag, &mtime);
	TAP_INTEQ(ret, 0, "copy: parses");
	TAP_STREQ(etag, "9b2cf535f27731c974343645a3985328", "copy: etag");
	TAP_INTEQ(mtime, 1256769120, "copy: zone-less LastModified is UTC");
	free(etag);
	ret = xml_parse_copy_result(doc, len, NULL, NULL);
	TAP_INTEQ(ret, 0, "copy: both outputs may be NULL");
	free(doc);

	doc = load("error-in-200.xml", &len);
	etag = (char *)"sentinel";
	mtime = 1;
	ret = xml_parse_copy_result(doc, len, &etag, &mtime);
	TAP_INTEQ(ret, -EIO, "copy: Error inside 200 is -EIO");
	TAP_OK(etag == NULL && mtime == 0, "copy: outputs cleared on -EIO");
	free(doc);

	ret = pcopy("<CopyPartResult><ETag>&quot;ab&quot;</ETag>"
		    "<LastModified>2011-04-11T20:34:56.000Z</LastModified>"
		    "</CopyPartResult>",
		    &etag, &mtime);
	TAP_OK(ret == 0 && etag && !strcmp(etag, "ab") && mtime == 1302554096,
	       "copy: CopyPartResult accepted");
	free(etag);
	ret = pcopy("<CopyObjectResult/>", &etag, &mtime);
	TAP_OK(ret == 0 && etag && !strcmp(etag, "") && mtime == 0,
	       "copy: absent ETag is empty string");
	free(etag);
	ret = pcopy("<ListBucketResult/>", &etag, &mtime);
	TAP_OK(ret == -EPROTO && etag == NULL, "copy: wrong root");
}

/* Parse a built CompleteMultipartUpload body back with plain libxml2. */
static void test_build(void)
{
	struct xml_part parts[] = {
		{ 1, "\"a54357aff0632cce46d942af68356b38\"" },
		{ 2, "0c78aef83f66abc1fa1e8477f296d394" },
		{ 3, "&quot;acbd18db4cc2f85cedef654fccc4a4d8&quot;" },
		{ 10000, "odd<&>\"chars" },
	};
	static const char *const want[] = {
		"\"a54357aff0632cce46d942af68356b38\"",
		"\"0c78aef83f66abc1fa1e8477f296d394\"",
		"\"acbd18db4cc2f85cedef654fccc4a4d8\"",
		"\"odd<&>\"chars\"",
	};
	unsigned wantnum[] = { 1, 2, 3, 10000 };
	xmlDoc *d = NULL;
	xmlNode *root, *p, *c;
	size_t len = 0, i = 0;
	char *body, name[64];
	int good = 1;

	body = xml_build_complete_multipart(parts, 4, &len);
	TAP_OK(body != NULL, "build: returns a body");
	if (!body)
		return;
	TAP_INTEQ(len, strlen(body), "build: length matches");
	d = xmlReadMemory(body, (int)len, NULL, NULL, XML_PARSE_NONET);
	TAP_OK(d != NULL, "build: well-formed XML");
	root = d ? xmlDocGetRootElement(d) : NULL;
	TAP_OK(root && !strcmp((const char *)root->name,
			       "CompleteMultipartUpload"),
	       "build: root element");
	TAP_OK(root && root->ns &&
		       !strcmp((const char *)root->ns->href,
			       "http://s3.amazonaws.com/doc/2006-03-01/"),
	       "build: S3 namespace");
	for (p = root ? root->children : NULL; p; p = p->next) {
		xmlChar *num = NULL, *tag = NULL;

		if (p->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)p->name, "Part") || i >= 4) {
			good = 0;
			break;
		}
		for (c = p->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			if (!strcmp((const char *)c->name, "PartNumber"))
				num = xmlNodeGetContent(c);
			else if (!strcmp((const char *)c->name, "ETag"))
				tag = xmlNodeGetContent(c);
		}
		snprintf(name, sizeof(name), "build: part %zu number", i);
		TAP_OK(num && strtoul((const char *)num, NULL, 10) ==
				      wantnum[i],
		       name);
		snprintf(name, sizeof(name), "build: part %zu etag", i);
		TAP_STREQ((const char *)tag, want[i], name);
		xmlFree(num);
		xmlFree(tag);
		i++;
	}
	TAP_OK(good && i == 4, "build: exactly four parts");
	if (d)
		xmlFreeDoc(d);
	free(body);

	errno = 0;
	TAP_OK(!xml_build_complete_multipart(parts, 0, &len) &&
		       errno == EINVAL,
	       "build: zero parts is EINVAL");
	{
		struct xml_part bad[] = { { 2, "x" }, { 2, "y" } };
		struct xml_part zero[] = { { 0, "x" } };
		struct xml_part big[] = { { 10001, "x" } };
		struct xml_part null[] = { { 1, NULL } };
		struct xml_part ctl[] = { { 1, "a\nb" } };

		errno = 0;
		TAP_OK(!xml_build_complete_multipart(bad, 2, &len) &&
			       errno == EINVAL,
		       "build: repeated number is EINVAL");
		errno = 0;
		TAP_OK(!xml_build_complete_multipart(zero, 1, &len) &&
			       errno == EINVAL,
		       "build: part 0 is EINVAL");
		errno = 0;
		TAP_OK(!xml_build_complete_multipart(big, 1, &len) &&
			       errno == EINVAL,
		       "build: part 10001 is EINVAL");
		errno = 0;
		TAP_OK(!xml_build_complete_multipart(null, 1, &len) &&
			       errno == EINVAL,
		       "build: NULL etag is EINVAL");
		errno = 0;
		TAP_OK(!xml_build_complete_multipart(ctl, 1, &len) &&
			       errno == EINVAL,
		       "build: control character is EINVAL");
	}

	/* The largest upload: 10000 parts. */
	{
		struct xml_part *many = calloc(10000, sizeof(*many));

		for (i = 0; many && i < 10000; i++) {
			many[i].number = (unsigned)i + 1;
			many[i].etag = "\"0123456789abcdef0123456789abcdef\"";
		}
		body = many ? xml_build_complete_multipart(many, 10000, &len)
			    : NULL;
		TAP_OK(body && strstr(body, "<PartNumber>10000</PartNumber>"),
		       "build: 10000 parts");
		free(body);
		free(many);
	}
}

static void test_iso8601(void)
{
	static const struct {
		const char *s;
		long long want;
	} cases[] = {
		{ "2009-10-12T17:50:30.000Z", 1255369830 },
		{ "2009-10-12T17:50:30Z", 1255369830 },
		{ "2009-10-12T17:50:30.9Z", 1255369830 },
		{ "2009-10-12T17:50:30.123456789Z", 1255369830 },
		{ "2009-10-12t17:50:30z", 1255369830 },
		{ "2009-10-12T17:50:30", 1255369830 },
		{ "2009-10-12T19:50:30+02:00", 1255369830 },
		{ "2009-10-12T12:20:30-0530", 1255369830 },
		{ "2009-10-12T17:50:30.5+00:00", 1255369830 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T00:00:00Z", 951782400 },
		{ "2000-03-01T00:00:00Z", 951868800 },
		{ "2016-12-31T23:59:60Z", 1483228800 },
		{ "2100-01-01T00:00:00.000Z", 4102444800LL },
		{ "", -1 },
		{ "2009", -1 },
		{ "2009-10-12", -1 },
		{ "2009-10-12T17:50", -1 },
		{ "2009-10-12 17:50:30Z", -1 },
		{ "2009-13-12T17:50:30Z", -1 },
		{ "2009-00-12T17:50:30Z", -1 },
		{ "2009-10-32T17:50:30Z", -1 },
		{ "2009-04-31T17:50:30Z", -1 },
		{ "2023-02-29T00:00:00Z", -1 },
		{ "1900-02-29T00:00:00Z", -1 },
		{ "2009-10-12T24:00:00Z", -1 },
		{ "2009-10-12T17:60:30Z", -1 },
		{ "2009-10-12T17:50:61Z", -1 },
		{ "2009-10-12T17:50:30.Z", -1 },
		{ "2009-10-12T17:50:30ZZ", -1 },
		{ "2009-10-12T17:50:30Z ", -1 },
		{ " 2009-10-12T17:50:30Z", -1 },
		{ "2009-10-12T17:50:30+2", -1 },
		{ "2009-10-12T17:50:30+02:", -1 },
		{ "2009-10-12T17:50:30+24:00", -1 },
		{ "+009-10-12T17:50:30Z", -1 },
		{ "2009-1a-12T17:50:30Z", -1 },
	};
	static const char *const zones[] = {
		"UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham",
	};
	char name[128];
	size_t i, z;
	int all;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "iso8601: \"%s\"", cases[i].s);
		TAP_INTEQ(xml_parse_iso8601(cases[i].s), cases[i].want, name);
	}
	TAP_INTEQ(xml_parse_iso8601(NULL), -1, "iso8601: NULL");

	/* The local timezone must not matter. */
	for (z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		all = 1;
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			if (xml_parse_iso8601(cases[i].s) != cases[i].want)
				all = 0;
		snprintf(name, sizeof(name), "iso8601: same under TZ=%s",
			 zones[z]);
		TAP_OK(all, name);
	}
	unsetenv("TZ");
	tzset();
}

/* Hostile and broken input; nothing may reach stderr. */
static void test_hostile(void)
{
	static const char *const lists[] = {
		"malformed-truncated.xml",     "malformed-wrong-root.xml",
		"malformed-bad-size.xml",      "malformed-empty-key.xml",
		"malformed-billion-laughs.xml", "malformed-xxe.xml",
	};
	static const char *const errors[] = {
		"malformed-xxe-dtd.xml",
		"malformed-xxe-param.xml",
	};
	struct xml_list_result r;
	struct xml_error e;
	char name[128], *doc, *big;
	size_t i, len, depth;
	FILE *cap = NULL;
	int saved = -1, ret;
	struct stat st;

	fflush(stderr);
	cap = tmpfile();
	if (cap) {
		saved = dup(2);
		dup2(fileno(cap), 2);
	}

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		ret = list_fixture(lists[i], &r);
		snprintf(name, sizeof(name), "hostile: %s is -EPROTO",
			 lists[i]);
		TAP_INTEQ(ret, -EPROTO, name);
		TAP_OK(is_zero_list(&r), "  ... and the result is empty");
		xml_list_result_release(&r);
	}
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		doc = load(errors[i], &len);
		ret = xml_parse_error(doc, len, &e);
		snprintf(name, sizeof(name), "hostile: %s is -EPROTO",
			 errors[i]);
		TAP_OK(doc && ret == -EPROTO && !e.code && !e.message, name);
		free(doc);
	}

	/* Even a harmless DOCTYPE is refused: S3 never sends one. */
	ret = list_str("<!DOCTYPE ListBucketResult><ListBucketResult/>", &r);
	TAP_INTEQ(ret, -EPROTO, "hostile: any DOCTYPE is refused");

	/* Declared as Latin-1, but bodies are always read as UTF-8. */
	ret = list_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
		       "<ListBucketResult><Contents><Key>caf\xe9</Key>"
		       "<Size>1</Size></Contents></ListBucketResult>",
		       &r);
	TAP_INTEQ(ret, -EPROTO, "hostile: invalid UTF-8 is -EPROTO");
	ret = list_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
		       "<ListBucketResult><Contents><Key>caf\xc3\xa9</Key>"
		       "<Size>1</Size></Contents></ListBucketResult>",
		       &r);
	TAP_OK(ret == 0 && r.nentries == 1 &&
		       !strcmp(r.entries[0].key, "caf\xc3\xa9"),
	       "hostile: encoding declaration ignored, UTF-8 kept");
	xml_list_result_release(&r);

	/* Nesting far beyond libxml2's default depth limit. */
	depth = 100000;
	big = malloc(depth * 7 + 64);
	if (big) {
		len = 0;
		memcpy(big, "<ListBucketResult>", 18);
		len = 18;
		for (i = 0; i < depth; i++, len += 3)
			memcpy(big + len, "<a>", 3);
		ret = xml_parse_list(big, len, &r);
		TAP_INTEQ(ret, -EPROTO, "hostile: deep nesting is -EPROTO");
		free(big);
	}

	/* Bodies over the size cap are refused before parsing. */
	len = (32u << 20) + 1;
	big = malloc(len);
	if (big) {
		memset(big, ' ', len);
		memcpy(big, "<ListBucketResult>", 18);
		memcpy(big + len - 19, "</ListBucketResult>", 19);
		ret = xml_parse_list(big, len, &r);
		TAP_INTEQ(ret, -EPROTO, "hostile: body over 32 MiB refused");
		ret = xml_parse_list(big, len - 1 - 19, &r);
		TAP_INTEQ(ret, -EPROTO, "hostile: cut body refused");
		free(big);
	}

	TAP_INTEQ(xml_parse_list(NULL, 10, &r), -EPROTO, "hostile: NULL doc");

	fflush(stderr);
	if (cap && saved >= 0) {
		dup2(saved, 2);
		close(saved);
		TAP_OK(fstat(fileno(cap), &st) == 0 && st.st_size == 0,
		       "hostile: nothing printed on stderr");
		fclose(cap);
	} else {
		TAP_OK(0, "hostile: could not capture stderr");
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
		return 2;
	}
	fixdir = argv[1];
	xml_global_init();

	test_list_page1();
	test_list_prefixes();
	test_list_empty();
	test_list_url();
	test_list_unicode();
	test_list_rules();
	test_errors();
	test_multipart();
	test_build();
	test_iso8601();
	test_hostile();

	xml_global_cleanup();
	return tap_done();
}
