/*
 * xml.h - the S3 XML documents r2fs reads and writes (libxml2).
 *
 * Parsers take a complete response body (not NUL-terminated necessarily),
 * fill a caller-provided struct and return 0, -EPROTO for a malformed or
 * unexpected document, or -ENOMEM.  On error the struct is left empty (no
 * release needed, but release is always safe on a zeroed struct).
 * All strings in results are malloc'd and freed by the matching _release.
 * The libxml2 parser never loads external entities or DTDs (XXE-safe), and
 * caps nesting and size.
 */
#ifndef R2FS_XML_H
#define R2FS_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libxml/tree.h>

/*
 * libxml2 keeps global state that must be set up once before any thread
 * parses: main() calls xml_global_init() before starting threads (FUSE
 * workers, the uploader) and xml_global_cleanup() after they have all
 * stopped, as its last use of libxml2.  Neither may run concurrently with
 * anything else in this file; every other function here is reentrant.
 * xml_global_init also installs an external-entity loader that refuses
 * everything (process-wide; r2fs has no other libxml2 user).  Parse errors
 * are never printed: each parse silences its own parser context.
 */
void xml_global_init(void);
void xml_global_cleanup(void);

struct xml_list_entry {
	char *key;     /* full key; url-decoded if EncodingType was "url" */
	uint64_t size;
	time_t mtime;  /* LastModified, UTC; 0 if absent or unparsable */
	char *etag;    /* with quotes stripped; may be NULL */
};

/* ListObjectsV2 (ListBucketResult). */
struct xml_list_result {
	struct xml_list_entry *entries;
	size_t nentries;
	char **prefixes; /* CommonPrefixes/Prefix, url-decoded likewise */
	size_t nprefixes;
	bool is_truncated;
	char *next_token; /* NextContinuationToken, NULL if none */
};

int xml_parse_list(const char *doc, size_t len, struct xml_list_result *out);
void xml_list_result_release(struct xml_list_result *r);

/* <Error><Code>..</Code><Message>..</Message></Error>. */
struct xml_error {
	char *code;    /* e.g. "NoSuchKey"; NULL if absent */
	char *message; /* may be NULL */
};

int xml_parse_error(const char *doc, size_t len, struct xml_error *out);
void xml_error_release(struct xml_error *e);

/* InitiateMultipartUploadResult: *upload_id gets a malloc'd string. */
int xml_parse_initiate_multipart(const char *doc, size_t len,
				 char **upload_id);

/* One uploaded part, for CompleteMultipartUpload. */
struct xml_part {
	unsigned number; /* 1..10000 */
	const char *etag; /* as returned by UploadPart, quotes optional */
};

/*
 * Build a CompleteMultipartUpload body for parts (in ascending order).
 * Returns a malloc'd NUL-terminated document, its length in *len; NULL on
 * ENOMEM.
 * NULL with errno EINVAL (not ENOMEM) if nparts is 0 or above 10000, a
 * number is out of range or not strictly ascending, or an etag is NULL or
 * holds a control character.  ETags are sent quoted ("...") either way.
 */
char *xml_build_complete_multipart(const struct xml_part *parts,
				   size_t nparts, size_t *len);

/*
 * CopyObjectResult / CompleteMultipartUploadResult: ETag (quotes stripped,
 * may be empty) and LastModified (0 if absent).  Either out may be NULL.
 * An <Error> document inside a 200 answer (S3 does this for Copy and
 * Complete) returns -EIO.
 */
int xml_parse_copy_result(const char *doc, size_t len, char **etag,
			  time_t *mtime);

/* "2009-10-12T17:50:30.000Z" -> time_t (UTC); -1 if malformed. */
time_t xml_parse_iso8601(const char *s);

/* ListAllMyBucketsResult (ListBuckets). */
struct xml_bucket {
	char *name;
	time_t created; /* CreationDate, UTC; 0 if absent or unparsable */
};

struct xml_bucket_list {
	struct xml_bucket *buckets;
	size_t n;
	char *next_token; /* ContinuationToken, NULL if none */
};

int xml_parse_list_buckets(const char *doc, size_t len,
			   struct xml_bucket_list *out);
void xml_bucket_list_release(struct xml_bucket_list *l);

/*
 * Building blocks for parsers and builders of S3 documents that live with
 * their own model (cors_xml.c).  They follow the rules above:
 * xml_read_root() is the reader every parser here uses (size cap, no
 * DOCTYPE, no entity, no network), and nothing they return points into
 * libxml2 memory except the tree itself, which the caller frees with
 * xmlFreeDoc.
 */
#define XML_S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_MAX_BUILD (16u << 20) /* largest document a builder makes */

struct util_buf;

/* Parse doc[0..len) and point *root at its root element, which must be
 * an element named name; *out is the tree to free.  0, -EPROTO
 * (malformed, a DOCTYPE, too large, another root) or -ENOMEM. */
int xml_read_root(const char *doc, size_t len, const char *name,
		  xmlDoc **out, xmlNode **root);

/* Is n an element with local name name (any namespace)? */
bool xml_is(const xmlNode *n, const char *name);

/*
 * The text of leaf element elem (its text and CDATA joined) in a new
 * string *out, with XML white space trimmed at both ends if trim.  A
 * child element or an entity reference is -EPROTO; -ENOMEM.
 * xml_text_once: the same for an element that may appear once only
 * (*dst must still be NULL, else -EPROTO).
 */
int xml_text(const xmlNode *elem, bool trim, char **out);
int xml_text_once(const xmlNode *n, bool trim, char **dst);

/* Decimal digits only (no sign, no space) that fit: 0 or -EPROTO. */
int xml_parse_u64(const char *s, uint64_t *out);

/* Append s[0..n) escaped as element text (&, <, >, " as entities) to b.
 * 0, -EINVAL for a control character other than tab, or b's error. */
int xml_add_escaped(struct util_buf *b, const char *s, size_t n);

#endif
