/*
 * mime.c - extension -> MIME type, from /etc/mime.types.
 *
 * Loaded once with pthread_once into a sorted array; lookups are a binary
 * search on the lower-cased extension.  Later lines do not override
 * earlier ones (the file lists the preferred type first).
 */
#include "mime.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME_DEFAULT "application/octet-stream"
#define MIME_EXT_MAX 32

struct mime_ext {
	char ext[MIME_EXT_MAX];
	char *type;   /* shared between a line's extensions */
	size_t order; /* position in the file: the first line wins */
};

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;
static struct mime_ext *mime_table; /* written once, then read-only */
static size_t mime_count;
/* every type string, so none becomes unreachable when duplicates of an
 * extension are dropped (they live as long as the process) */
static char **mime_types;
static size_t mime_ntypes;

static int ext_cmp(const void *a, const void *b)
{
	const struct mime_ext *x = a, *y = b;
	int c = strcmp(x->ext, y->ext);

	if (c)
		return c;
	return (x->order > y->order) - (x->order < y->order);
}

static void mime_load(void)
{
	const char *file = getenv("R2FS_MIME_TYPES");
	char line[1024], *save, *tok, *type;
	size_t cap = 0, i, o;
	FILE *f = fopen(file && *file ? file : "/etc/mime.types", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok)
			continue;
		type = NULL;
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			struct mime_ext *e;

			if (strlen(tok) >= MIME_EXT_MAX)
				continue;
			if (!type) {
				char **t = realloc(mime_types,
						   (mime_ntypes + 1) *
							   sizeof(*t));

				if (!t)
					break;
				mime_types = t;
				type = strdup(line);
				if (!type)
					break;
				mime_types[mime_ntypes++] = type;
			}
			if (mime_count == cap) {
				cap = cap ? cap * 2 : 1024;
				e = realloc(mime_table, cap * sizeof(*e));
				if (!e)
					break;
				mime_table = e;
			}
			e = &mime_table[mime_count++];
			for (i = 0; tok[i]; i++)
				e->ext[i] = (char)tolower((unsigned char)tok[i]);
			e->ext[i] = '\0';
			e->type = type;
			e->order = mime_count - 1;
		}
	}
	fclose(f);
	qsort(mime_table, mime_count, sizeof(*mime_table), ext_cmp);
	for (i = 0, o = 0; i < mime_count; i++)
		if (o == 0 || strcmp(mime_table[o - 1].ext, mime_table[i].ext))
			mime_table[o++] = mime_table[i];
	mime_count = o;
}

const char *mime_type_for(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	struct mime_ext key, *hit;

	size_t i;

	pthread_once(&mime_once, mime_load);
	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || dot == base || strlen(dot + 1) >= MIME_EXT_MAX)
		return MIME_DEFAULT;
	for (i = 0; dot[1 + i]; i++)
		key.ext[i] = (char)tolower((unsigned char)dot[1 + i]);
	key.ext[i] = '\0';
	hit = NULL;
	if (mime_count) {
		size_t lo = 0, hi = mime_count;

		while (lo < hi) { /* bsearch on the extension only */
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(mime_table[mid].ext, key.ext);

			if (c == 0) {
				hit = &mime_table[mid];
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return hit ? hit->type : MIME_DEFAULT;
}
