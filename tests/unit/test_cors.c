/*
 * test_cors.c - unit tests for src/cors.c, src/cors_json.c and the CORS
 * and ListBuckets parts of src/xml.c.
 *
 * JSON inputs follow R2's documentation (the dashboard's array of rules),
 * the AWS CLI's {"CORSRules": [...]} file and Cloudflare's API/wrangler
 * {"rules": [...]} body; XML follows S3's PutBucketCors/GetBucketCors and
 * ListBuckets references.  Every invalid input must be refused with
 * -EINVAL, a sentence that names the problem, and an empty result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "tap.h"
#include "xml.h"

/* R2's documentation example. */
static const char doc_example[] =
	"[\n"
	"\t{\n"
	"\t\t\"AllowedOrigins\": [\"http://localhost:3000\"],\n"
	"\t\t\"AllowedMethods\": [\"GET\"]\n"
	"\t}\n"
	"]\n";

/* Every field, two rules, in the layout cors_to_json() writes. */
static const char full_json[] =
	"[\n"
	"  {\n"
	"    \"AllowedOrigins\": [\"https://app.example.com\", "
	"\"http://localhost:3000\"],\n"
	"    \"AllowedMethods\": [\"GET\", \"PUT\", \"POST\", \"DELETE\", "
	"\"HEAD\"],\n"
	"    \"AllowedHeaders\": [\"content-type\", \"x-user-id\"],\n"
	"    \"ExposeHeaders\": [\"ETag\", \"cf-cache-status\"],\n"
	"    \"MaxAgeSeconds\": 3600,\n"
	"    \"ID\": \"uploads\"\n"
	"  },\n"
	"  {\n"
	"    \"AllowedOrigins\": [\"*\"],\n"
	"    \"AllowedMethods\": [\"GET\"],\n"
	"    \"MaxAgeSeconds\": 0\n"
	"  }\n"
	"]\n";

static const char full_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<CORSConfiguration "
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	"  <CORSRule>\n"
	"    <ID>uploads</ID>\n"
	"    <AllowedOrigin>https://app.example.com</AllowedOrigin>\n"
	"    <AllowedOrigin>http://localhost:3000</AllowedOrigin>\n"
	"    <AllowedMethod>GET</AllowedMethod>\n"
	"    <AllowedMethod>PUT</AllowedMethod>\n"
	"    <AllowedMethod>POST</AllowedMethod>\n"
	"    <AllowedMethod>DELETE</AllowedMethod>\n"
	"    <AllowedMethod>HEAD</AllowedMethod>\n"
	"    <AllowedHeader>content-type</AllowedHeader>\n"
	"    <AllowedHeader>x-user-id</AllowedHeader>\n"
	"    <ExposeHeader>ETag</ExposeHeader>\n"
	"    <ExposeHeader>cf-cache-status</ExposeHeader>\n"
	"    <MaxAgeSeconds>3600</MaxAgeSeconds>\n"
	"  </CORSRule>\n"
	"  <CORSRule>\n"
	"    <AllowedOrigin>*</AllowedOrigin>\n"
	"    <AllowedMethod>GET</AllowedMethod>\n"
	"    <MaxAgeSeconds>0</MaxAgeSeconds>\n"
	"  </CORSRule>\n"
	"</CORSConfiguration>\n";

/* The same rules as the AWS CLI and Cloudflare's API write them. */
static const char full_aws[] =
	"{\"CORSRules\": [{\"ID\": \"uploads\", \"AllowedOrigins\": "
	"[\"https://app.example.com\", \"http://localhost:3000\"], "
	"\"AllowedMethods\": [\"GET\", \"PUT\", \"POST\", \"DELETE\", "
	"\"HEAD\"], \"AllowedHeaders\": [\"content-type\", \"x-user-id\"], "
	"\"ExposeHeaders\": [\"ETag\", \"cf-cache-status\"], "
	"\"MaxAgeSeconds\": 3600}, {\"AllowedOrigins\": [\"*\"], "
	"\"AllowedMethods\": [\"GET\"], \"MaxAgeSeconds\": 0}]}";

static const char full_api[] =
	"{\"rules\": [{\"id\": \"uploads\", \"allowed\": {\"origins\": "
	"[\"https://app.example.com\", \"http://localhost:3000\"], "
	"\"methods\": [\"GET\", \"PUT\", \"POST\", \"DELETE\", \"HEAD\"], "
	"\"headers\": [\"content-type\", \"x-user-id\"]}, "
	"\"exposeHeaders\": [\"ETag\", \"cf-cache-status\"], "
	"\"maxAgeSeconds\": 3600}, {\"allowed\": {\"origins\": [\"*\"], "
	"\"methods\": [\"GET\"]}, \"maxAgeSeconds\": 0}]}";

/* A GetBucketCors answer as S3's reference shows one (whitespace,
 * namespace, elements in another order). */
static const char get_answer[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<CORSRule><AllowedMethod>GET</AllowedMethod>"
	"<AllowedOrigin> http://www.example.com </AllowedOrigin>"
	"<MaxAgeSeconds>3000</MaxAgeSeconds>"
	"<ExposeHeader>x-amz-server-side-encryption</ExposeHeader>"
	"<AllowedHeader>Authorization</AllowedHeader></CORSRule>"
	"</CORSConfiguration>";

static const char get_answer_json[] =
	"[\n"
	"  {\n"
	"    \"AllowedOrigins\": [\"http://www.example.com\"],\n"
	"    \"AllowedMethods\": [\"GET\"],\n"
	"    \"AllowedHeaders\": [\"Authorization\"],\n"
	"    \"ExposeHeaders\": [\"x-amz-server-side-encryption\"],\n"
	"    \"MaxAgeSeconds\": 3000\n"
	"  }\n"
	"]\n";

static char *to_xml(const char *json, char *err, size_t errlen)
{
	struct cors_config c = { 0 };
	size_t len = 0;
	char *x;

	if (cors_from_json(json, strlen(json), &c, err, errlen))
		return NULL;
	x = cors_to_xml(&c, &len);
	if (x && strlen(x) != len) {
		free(x);
		x = NULL;
	}
	cors_config_release(&c);
	return x;
}

static void test_valid(void)
{
	struct cors_config c = { 0 }, back = { 0 };
	char err[512] = "", *j, *x;
	size_t len;

	TAP_INTEQ(cors_from_json(doc_example, strlen(doc_example), &c, err,
				 sizeof(err)),
		  0, "R2 docs example: accepted");
	TAP_INTEQ(c.n, 1, "R2 docs example: one rule");
	TAP_OK(c.n == 1 && c.rules[0].origins.n == 1 &&
		       !strcmp(c.rules[0].origins.v[0],
			       "http://localhost:3000"),
	       "R2 docs example: origin");
	TAP_OK(c.n == 1 && c.rules[0].methods.n == 1 &&
		       !strcmp(c.rules[0].methods.v[0], "GET"),
	       "R2 docs example: method");
	TAP_OK(c.n == 1 && c.rules[0].max_age == -1 && !c.rules[0].id &&
		       c.rules[0].allowed_headers.n == 0,
	       "R2 docs example: optional fields absent");
	x = cors_to_xml(&c, &len);
	TAP_STREQ(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<CORSConfiguration "
		     "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
		     "  <CORSRule>\n"
		     "    <AllowedOrigin>http://localhost:3000"
		     "</AllowedOrigin>\n"
		     "    <AllowedMethod>GET</AllowedMethod>\n"
		     "  </CORSRule>\n"
		     "</CORSConfiguration>\n",
		  "R2 docs example: PutBucketCors XML");
	free(x);
	cors_config_release(&c);
	TAP_OK(c.n == 0 && !c.rules, "release empties the config");
	cors_config_release(&c);
	TAP_OK(1, "second release is harmless");

	x = to_xml(full_json, err, sizeof(err));
	TAP_STREQ(x, full_xml, "all fields: XML");
	free(x);
	x = to_xml(full_aws, err, sizeof(err));
	TAP_STREQ(x, full_xml, "{\"CORSRules\": [...]} gives the same XML");
	free(x);
	x = to_xml(full_api, err, sizeof(err));
	TAP_STREQ(x, full_xml, "{\"rules\": [...]} (API) gives the same XML");
	free(x);

	TAP_INTEQ(cors_from_json(full_json, strlen(full_json), &c, err,
				 sizeof(err)),
		  0, "all fields: accepted");
	j = cors_to_json(&c);
	TAP_STREQ(j, full_json, "all fields: JSON written back unchanged");
	free(j);
	x = cors_to_xml(&c, &len);
	TAP_INTEQ(x ? cors_from_xml(x, len, &back) : -1, 0,
		  "round trip: our XML parses");
	j = cors_to_json(&back);
	TAP_STREQ(j, full_json, "round trip: JSON -> XML -> JSON");
	free(j);
	free(x);
	cors_config_release(&back);
	cors_config_release(&c);

	TAP_INTEQ(cors_from_xml(get_answer, strlen(get_answer), &c), 0,
		  "S3 GetBucketCors sample parses");
	j = cors_to_json(&c);
	TAP_STREQ(j, get_answer_json, "S3 sample as dashboard JSON");
	free(j);
	cors_config_release(&c);

	x = "<CORSConfiguration/>";
	TAP_INTEQ(cors_from_xml(x, strlen(x), &c), 0,
		  "empty CORSConfiguration parses");
	j = cors_to_json(&c);
	TAP_STREQ(j, "[]\n", "no rules: []");
	free(j);
	cors_config_release(&c);
}

/* Characters that need escaping survive both directions. */
static void test_escaping(void)
{
	static const char in[] =
		"[{\"AllowedOrigins\": [\"https://*.example.com\"], "
		"\"AllowedMethods\": [\"PUT\"], \"AllowedHeaders\": "
		"[\"x-<a>&\\\"b\\\\\", \"x-caf\\u00e9\"], "
		"\"ID\": \"r\\u00e8gle/1\"}]";
	struct cors_config c = { 0 }, back = { 0 };
	char err[512] = "", *x, *j, *j2;
	size_t len = 0;

	TAP_INTEQ(cors_from_json(in, strlen(in), &c, err, sizeof(err)), 0,
		  "escapes: accepted");
	TAP_OK(c.n == 1 && c.rules[0].allowed_headers.n == 2 &&
		       !strcmp(c.rules[0].allowed_headers.v[0],
			       "x-<a>&\"b\\") &&
		       !strcmp(c.rules[0].allowed_headers.v[1],
			       "x-caf\xc3\xa9"),
	       "escapes: JSON decoded (quote, backslash, \\u00e9 as UTF-8)");
	x = cors_to_xml(&c, &len);
	TAP_OK(x && strstr(x, "<AllowedHeader>x-&lt;a&gt;&amp;&quot;b\\"
			      "</AllowedHeader>"),
	       "escapes: XML escaped");
	TAP_INTEQ(x ? cors_from_xml(x, len, &back) : -1, 0,
		  "escapes: XML parses back");
	j = cors_to_json(&c);
	j2 = cors_to_json(&back);
	TAP_STREQ(j2, j, "escapes: same rules after XML");
	TAP_OK(j && strstr(j, "\"x-<a>&\\\"b\\\\\"") &&
		       strstr(j, "\"x-caf\xc3\xa9\"") &&
		       strstr(j, "\"https://*.example.com\""),
	       "escapes: JSON out escapes '\"' and '\\' only, keeps '/' "
	       "and UTF-8");
	free(j);
	free(j2);
	free(x);
	cors_config_release(&back);
	cors_config_release(&c);
}

struct bad {
	const char *name;
	const char *json;
	const char *want; /* in the message */
};

static const struct bad bad_cases[] = {
	{ "empty input", "", "empty" },
	{ "only whitespace", " \n\t", "empty" },
	{ "truncated", "[{\"AllowedOrigins\": [\"*\"]", "ends in the middle" },
	{ "trailing comma", "[{\"AllowedOrigins\": [\"*\"], "
			    "\"AllowedMethods\": [\"GET\"],}]",
	  "invalid JSON at line 1" },
	{ "comment", "// rules\n[]", "invalid JSON at line 1, column 1" },
	{ "single quotes", "[{'AllowedOrigins': ['*']}]", "invalid JSON" },
	{ "text after the value", "[{\"AllowedOrigins\": [\"*\"], "
				  "\"AllowedMethods\": [\"GET\"]}] x",
	  "invalid JSON at line 1, column 56" },
	{ "second value", "[] []", "invalid JSON at line 1, column 4" },
	{ "error position", "[\n  {\"AllowedOrigins\": [\"*\"],\n"
			    "   \"AllowedMethods\": [GET]}]",
	  "line 3, column 23" },
	{ "invalid UTF-8", "[{\"AllowedOrigins\": [\"http://\xff\"], "
			   "\"AllowedMethods\": [\"GET\"]}]", "invalid JSON" },
	{ "too deep", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]"
		      "]]]]]]]]]]", "invalid JSON" },
	{ "a number", "3", "must be a JSON array of rules" },
	{ "other wrapper", "{\"Rules\": []}", "must be a JSON array" },
	{ "wrapper with more keys", "{\"CORSRules\": [], \"x\": 1}",
	  "must be a JSON array" },
	{ "CORSRules not an array", "{\"CORSRules\": {}}",
	  "\"CORSRules\" must be an array" },
	{ "rules null", "{\"rules\": null}", "\"rules\" must be an array" },
	{ "no rules", "[]", "no CORS rules given" },
	{ "rule not an object", "[[\"*\"]]", "rule 1 is not a JSON object" },
	{ "unknown method", "[{\"AllowedOrigins\": [\"*\"], "
			    "\"AllowedMethods\": [\"GET\", \"PATCH\"]}]",
	  "rule 1: unknown method \"PATCH\"" },
	{ "lower-case method", "[{\"AllowedOrigins\": [\"*\"], "
			       "\"AllowedMethods\": [\"get\"]}]",
	  "unknown method \"get\"" },
	{ "OPTIONS method", "[{\"AllowedOrigins\": [\"*\"], "
			    "\"AllowedMethods\": [\"OPTIONS\"]}]",
	  "unknown method \"OPTIONS\"" },
	{ "method in rule 2", "[{\"AllowedOrigins\": [\"*\"], "
			      "\"AllowedMethods\": [\"GET\"]}, "
			      "{\"AllowedOrigins\": [\"*\"], "
			      "\"AllowedMethods\": [\"TRACE\"]}]",
	  "rule 2: unknown method \"TRACE\"" },
	{ "no origins", "[{\"AllowedMethods\": [\"GET\"]}]",
	  "rule 1 has no AllowedOrigins" },
	{ "empty origins", "[{\"AllowedOrigins\": [], "
			   "\"AllowedMethods\": [\"GET\"]}]",
	  "rule 1 has no AllowedOrigins" },
	{ "empty origin", "[{\"AllowedOrigins\": [\"\"], "
			  "\"AllowedMethods\": [\"GET\"]}]",
	  "AllowedOrigins has an empty string" },
	{ "origin with a path", "[{\"AllowedOrigins\": "
				"[\"https://a.example.com/\"], "
				"\"AllowedMethods\": [\"GET\"]}]",
	  "has a path" },
	{ "origin without scheme", "[{\"AllowedOrigins\": [\"example.com\"], "
				   "\"AllowedMethods\": [\"GET\"]}]",
	  "is not scheme://host" },
	{ "origin with two '*'", "[{\"AllowedOrigins\": "
				 "[\"https://*.*.example.com\"], "
				 "\"AllowedMethods\": [\"GET\"]}]",
	  "more than one '*'" },
	{ "no methods", "[{\"AllowedOrigins\": [\"*\"]}]",
	  "rule 1 has no AllowedMethods" },
	{ "origins a string", "[{\"AllowedOrigins\": \"*\", "
			      "\"AllowedMethods\": [\"GET\"]}]",
	  "AllowedOrigins must be an array of strings" },
	{ "a number in methods", "[{\"AllowedOrigins\": [\"*\"], "
				 "\"AllowedMethods\": [1]}]",
	  "AllowedMethods must be an array of strings" },
	{ "null in headers", "[{\"AllowedOrigins\": [\"*\"], "
			     "\"AllowedMethods\": [\"GET\"], "
			     "\"AllowedHeaders\": [null]}]",
	  "AllowedHeaders must be an array of strings" },
	{ "negative max age", "[{\"AllowedOrigins\": [\"*\"], "
			      "\"AllowedMethods\": [\"GET\"], "
			      "\"MaxAgeSeconds\": -1}]",
	  "MaxAgeSeconds must be a whole number" },
	{ "fractional max age", "[{\"AllowedOrigins\": [\"*\"], "
				"\"AllowedMethods\": [\"GET\"], "
				"\"MaxAgeSeconds\": 1.5}]",
	  "MaxAgeSeconds must be a whole number" },
	{ "exponent max age", "[{\"AllowedOrigins\": [\"*\"], "
			      "\"AllowedMethods\": [\"GET\"], "
			      "\"MaxAgeSeconds\": 1e3}]",
	  "MaxAgeSeconds must be a whole number" },
	{ "string max age", "[{\"AllowedOrigins\": [\"*\"], "
			    "\"AllowedMethods\": [\"GET\"], "
			    "\"MaxAgeSeconds\": \"3600\"}]",
	  "MaxAgeSeconds must be a whole number" },
	{ "huge max age", "[{\"AllowedOrigins\": [\"*\"], "
			  "\"AllowedMethods\": [\"GET\"], "
			  "\"MaxAgeSeconds\": 2147483648}]",
	  "MaxAgeSeconds must be a whole number" },
	{ "max age beyond 64 bits", "[{\"AllowedOrigins\": [\"*\"], "
				    "\"AllowedMethods\": [\"GET\"], "
				    "\"MaxAgeSeconds\": "
				    "99999999999999999999999}]",
	  "MaxAgeSeconds must be a whole number" },
	{ "unknown field (typo)", "[{\"AllowedOrigin\": [\"*\"], "
				  "\"AllowedMethods\": [\"GET\"]}]",
	  "rule 1: unknown field \"AllowedOrigin\"" },
	{ "API field in dashboard shape", "[{\"allowed\": {}}]",
	  "unknown field \"allowed\"" },
	{ "dashboard field in API shape", "{\"rules\": [{\"AllowedOrigins\": "
					  "[\"*\"]}]}",
	  "unknown field \"AllowedOrigins\"" },
	{ "unknown field in allowed", "{\"rules\": [{\"allowed\": "
				      "{\"origin\": [\"*\"]}}]}",
	  "unknown field \"allowed.origin\"" },
	{ "API unknown method", "{\"rules\": [{\"allowed\": {\"origins\": "
				"[\"*\"], \"methods\": [\"PATCH\"]}}]}",
	  "unknown method \"PATCH\"" },
	{ "control character", "[{\"AllowedOrigins\": [\"*\"], "
			       "\"AllowedMethods\": [\"GET\"], "
			       "\"AllowedHeaders\": [\"a\\u0001b\"]}]",
	  "control character" },
	{ "NUL in a string", "[{\"AllowedOrigins\": [\"*\"], "
			     "\"AllowedMethods\": [\"GET\"], "
			     "\"ExposeHeaders\": [\"a\\u0000b\"]}]",
	  "NUL character" },
	{ "ID not a string", "[{\"AllowedOrigins\": [\"*\"], "
			     "\"AllowedMethods\": [\"GET\"], \"ID\": 7}]",
	  "ID must be a string" },
};

static void test_invalid(void)
{
	struct cors_config c = { 0 };
	char err[512], name[160], big[300], *many;
	size_t i, used;
	int rc;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];

		err[0] = '\0';
		rc = cors_from_json(b->json, strlen(b->json), &c, err,
				    sizeof(err));
		snprintf(name, sizeof(name), "refused: %s", b->name);
		TAP_OK(rc == -EINVAL && c.n == 0 && !c.rules &&
			       strstr(err, b->want) && !strchr(err, '\n'),
		       name);
		if (rc != -EINVAL || !strstr(err, b->want))
			printf("#   rc %d, message: %s\n", rc, err);
		cors_config_release(&c);
	}

	/* A NUL byte in the input itself. */
	rc = cors_from_json("[]\0[]", 5, &c, err, sizeof(err));
	TAP_OK(rc == -EINVAL && strstr(err, "NUL byte"),
	       "refused: NUL byte in the input");

	/* ID longer than 255 bytes. */
	memset(big, 'a', 256);
	big[256] = '\0';
	many = malloc(1024);
	snprintf(many, 1024, "[{\"AllowedOrigins\": [\"*\"], "
		 "\"AllowedMethods\": [\"GET\"], \"ID\": \"%s\"}]", big);
	rc = cors_from_json(many, strlen(many), &c, err, sizeof(err));
	TAP_OK(rc == -EINVAL && strstr(err, "ID must be 1 to 255"),
	       "refused: ID of 256 bytes");
	free(many);

	/* 100 rules are fine, 101 are not. */
	many = malloc(101 * 64 + 8);
	used = 0;
	many[used++] = '[';
	for (i = 0; i < 101; i++)
		used += (size_t)snprintf(many + used, 64,
					 "%s{\"AllowedOrigins\": [\"*\"], "
					 "\"AllowedMethods\": [\"GET\"]}",
					 i ? "," : "");
	many[used++] = ']';
	many[used] = '\0';
	rc = cors_from_json(many, used, &c, err, sizeof(err));
	TAP_OK(rc == -EINVAL && strstr(err, "at most 100"),
	       "refused: 101 rules");
	/* cut the last rule off: 100 rules */
	used = (size_t)(strrchr(many, '{') - many) - 1;
	many[used++] = ']';
	many[used] = '\0';
	rc = cors_from_json(many, used, &c, err, sizeof(err));
	TAP_OK(rc == 0 && c.n == 100, "accepted: 100 rules");
	cors_config_release(&c);
	free(many);

	/* Too large an input. */
	many = malloc(CORS_JSON_MAX + 2);
	memset(many, ' ', CORS_JSON_MAX + 1);
	many[0] = '[';
	many[CORS_JSON_MAX] = ']';
	rc = cors_from_json(many, CORS_JSON_MAX + 1, &c, err, sizeof(err));
	TAP_OK(rc == -EINVAL && strstr(err, "larger than"),
	       "refused: input above 1 MiB");
	free(many);

	/* Invalid rules never become XML. */
	c.n = 0;
	errno = 0;
	TAP_OK(!cors_to_xml(&c, NULL) && errno == EINVAL,
	       "no XML for zero rules");
}

static void test_xml_invalid(void)
{
	static const char *const docs[] = {
		"<CORSRules/>",
		"<CORSConfiguration><CORSRule><MaxAgeSeconds>soon"
		"</MaxAgeSeconds></CORSRule></CORSConfiguration>",
		"<CORSConfiguration><CORSRule><MaxAgeSeconds>-1"
		"</MaxAgeSeconds></CORSRule></CORSConfiguration>",
		"<CORSConfiguration><CORSRule><ID>a</ID><ID>b</ID>"
		"</CORSRule></CORSConfiguration>",
		"<!DOCTYPE x [<!ENTITY e \"GET\">]><CORSConfiguration>"
		"<CORSRule><AllowedMethod>&e;</AllowedMethod></CORSRule>"
		"</CORSConfiguration>",
		"<CORSConfiguration><CORSRule>",
		"",
	};
	struct cors_config c = { 0 };
	char name[64];
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		snprintf(name, sizeof(name), "bad CORS XML %zu: -EPROTO", i);
		TAP_OK(cors_from_xml(docs[i], strlen(docs[i]), &c) ==
				       -EPROTO &&
			       c.n == 0,
		       name);
		cors_config_release(&c);
	}
}

static void test_list_buckets(void)
{
	static const char doc[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListAllMyBucketsResult "
		"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>"
		"<Buckets>"
		"<Bucket><Name>alpha</Name>"
		"<CreationDate>2019-12-11T23:32:47+00:00</CreationDate>"
		"</Bucket>"
		"<Bucket><Name>beta.two</Name>"
		"<CreationDate>2023-02-28T10:00:00.000Z</CreationDate>"
		"</Bucket>"
		"</Buckets>"
		"<ContinuationToken>tok+1</ContinuationToken>"
		"</ListAllMyBucketsResult>";
	static const char empty[] =
		"<ListAllMyBucketsResult><Owner/><Buckets/>"
		"</ListAllMyBucketsResult>";
	static const char noname[] =
		"<ListAllMyBucketsResult><Buckets><Bucket><CreationDate>"
		"2023-02-28T10:00:00Z</CreationDate></Bucket></Buckets>"
		"</ListAllMyBucketsResult>";
	struct xml_bucket_list l = { 0 };

	TAP_INTEQ(xml_parse_list_buckets(doc, strlen(doc), &l), 0,
		  "ListBuckets: parses");
	TAP_INTEQ(l.n, 2, "ListBuckets: two buckets");
	TAP_STREQ(l.n > 0 ? l.buckets[0].name : NULL, "alpha",
		  "ListBuckets: first name");
	TAP_INTEQ(l.n > 0 ? l.buckets[0].created : 0, 1576107167,
		  "ListBuckets: creation date with +00:00");
	TAP_STREQ(l.n > 1 ? l.buckets[1].name : NULL, "beta.two",
		  "ListBuckets: second name");
	TAP_INTEQ(l.n > 1 ? l.buckets[1].created : 0, 1677578400,
		  "ListBuckets: creation date with fraction");
	TAP_STREQ(l.next_token, "tok+1", "ListBuckets: continuation token");
	xml_bucket_list_release(&l);
	TAP_INTEQ(xml_parse_list_buckets(empty, strlen(empty), &l), 0,
		  "ListBuckets: none");
	TAP_OK(l.n == 0 && !l.next_token, "ListBuckets: empty, no token");
	xml_bucket_list_release(&l);
	TAP_INTEQ(xml_parse_list_buckets(noname, strlen(noname), &l), -EPROTO,
		  "ListBuckets: a bucket without a name is refused");
	TAP_INTEQ(xml_parse_list_buckets(get_answer, strlen(get_answer), &l),
		  -EPROTO, "ListBuckets: another document is refused");
}

int main(void)
{
	xml_global_init();
	test_valid();
	test_escaping();
	test_invalid();
	test_xml_invalid();
	test_list_buckets();
	xml_global_cleanup();
	return tap_done();
}
