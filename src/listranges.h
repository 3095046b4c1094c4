/*
 * listranges.h - the rest of a listing as several ranges listed at once.
 *
 * A paginated LIST is one request after another: each page's token comes
 * with the page before it.  When the names still to come are roughly
 * known (a directory index, dirindex.h), the rest of the listing can be
 * cut at some of them and every range asked for at the same time, from
 * "start-after" its cut.  A range goes on page by page until it passes
 * the next cut; what lies past a cut is the next range's.  So the result
 * is exactly what the paginated listing gives now, whatever changed since
 * the cuts were chosen: a cut need not exist, and a range with more keys
 * than expected only takes more pages.
 *
 * Keys compare as bytes (strcmp), as S3 orders them; a common prefix
 * ("dir/") sorts where its first key does, so it is compared as itself.
 */
#ifndef R2FS_LISTRANGES_H
#define R2FS_LISTRANGES_H

#include <stddef.h>

#include "store.h"

struct list_ranges_req {
	const char *prefix;
	const char *delimiter;   /* may be NULL */
	const char *token;       /* where the listing stands: the next page's
				    continuation token, or else ... */
	const char *start_after; /* ... the last key it has shown */
	char *const *cuts;       /* full keys, strictly increasing, all past
				    what the listing has shown */
	size_t ncuts;
	unsigned max_keys;       /* per request */
	unsigned threads;        /* requests at once, >= 1 */
};

/*
 * The rest of the listing, req->ncuts + 1 ranges, into *out in key order
 * (entries and prefixes each sorted; not truncated; owned by the caller,
 * store_list_release).  Needs s->ops->list_after.  0, or the error of a
 * failed request (-ENOSYS without list_after); *out is empty then.
 */
int list_ranges(struct store *s, const struct list_ranges_req *req,
		struct store_list *out);

/*
 * Turn a page listed without a delimiter into the page a listing with
 * delimiter delim would have given up to the same last key: keys with
 * delim past prefix roll up into their common prefix, once each.  The
 * listing can then go on from *after (malloc'd; NULL when the page was
 * the whole listing) with start-after and the delimiter.  -EAGAIN when
 * it cannot: the page ends inside a common prefix, whose further keys
 * would come back as that prefix again.  -EINVAL when the page has
 * prefixes already.  On error the page is unchanged.
 */
int list_page_delimit(struct store_list *page, const char *prefix,
		      char delim, char **after);

#endif
