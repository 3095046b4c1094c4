/*
 * xattr.c - a small list of (name, binary value) pairs and its s3fs
 * header encoding: URL-encoded JSON with base64 values.
 *
 * The JSON is only ever the flat object we write, so the parser accepts
 * exactly that shape ({"k":"v",...}, no escapes needed: names are
 * xattr names, values base64) and refuses anything else with -EINVAL.
 */
#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <openssl/evp.h>

#include "util.h"

void xattrs_release(struct xattrs *x)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		free(x->names[i]);
		free(x->values[i]);
	}
	free(x->names);
	free(x->values);
	free(x->lens);
	memset(x, 0, sizeof(*x));
}

static long find(const struct xattrs *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		if (!strcmp(x->names[i], name))
			return (long)i;
	return -1;
}

static int add(struct xattrs *x, const char *name, const char *value,
	       size_t len)
{
	char **nn = realloc(x->names, (x->n + 1) * sizeof(*nn));
	char **vv;
	size_t *ll;

	if (!nn)
		return -ENOMEM;
	x->names = nn;
	vv = realloc(x->values, (x->n + 1) * sizeof(*vv));
	if (!vv)
		return -ENOMEM;
	x->values = vv;
	ll = realloc(x->lens, (x->n + 1) * sizeof(*ll));
	if (!ll)
		return -ENOMEM;
	x->lens = ll;
	x->names[x->n] = strdup(name);
	x->values[x->n] = malloc(len ? len : 1);
	if (!x->names[x->n] || !x->values[x->n]) {
		free(x->names[x->n]);
		free(x->values[x->n]);
		return -ENOMEM;
	}
	memcpy(x->values[x->n], value, len);
	x->lens[x->n] = len;
	x->n++;
	return 0;
}

int xattrs_copy(struct xattrs *dst, const struct xattrs *src)
{
	size_t i;
	int rc;

	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++) {
		rc = add(dst, src->names[i], src->values[i], src->lens[i]);
		if (rc) {
			xattrs_release(dst);
			return rc;
		}
	}
	return 0;
}

long xattrs_get(const struct xattrs *x, const char *name, char *buf,
		size_t size)
{
	long i = find(x, name);

	if (i < 0)
		return -ENODATA;
	if (size == 0)
		return (long)x->lens[i];
	if (size < x->lens[i])
		return -ERANGE;
	memcpy(buf, x->values[i], x->lens[i]);
	return (long)x->lens[i];
}

int xattrs_set(struct xattrs *x, const char *name, const char *value,
	       size_t len, int flags)
{
	long i = find(x, name);
	char *v;

	if (i >= 0 && (flags & XATTR_CREATE))
		return -EEXIST;
	if (i < 0 && (flags & XATTR_REPLACE))
		return -ENODATA;
	if (i < 0)
		return add(x, name, value, len);
	v = malloc(len ? len : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, len);
	free(x->values[i]);
	x->values[i] = v;
	x->lens[i] = len;
	return 0;
}

int xattrs_remove(struct xattrs *x, const char *name)
{
	long i = find(x, name);

	if (i < 0)
		return -ENODATA;
	free(x->names[i]);
	free(x->values[i]);
	x->n--;
	memmove(&x->names[i], &x->names[i + 1],
		(x->n - (size_t)i) * sizeof(*x->names));
	memmove(&x->values[i], &x->values[i + 1],
		(x->n - (size_t)i) * sizeof(*x->values));
	memmove(&x->lens[i], &x->lens[i + 1],
		(x->n - (size_t)i) * sizeof(*x->lens));
	return 0;
}

long xattrs_list(const struct xattrs *x, char *buf, size_t size)
{
	size_t i, need = 0, o = 0;

	for (i = 0; i < x->n; i++)
		need += strlen(x->names[i]) + 1;
	if (size == 0)
		return (long)need;
	if (size < need)
		return -ERANGE;
	for (i = 0; i < x->n; i++) {
		size_t l = strlen(x->names[i]) + 1;

		memcpy(buf + o, x->names[i], l);
		o += l;
	}
	return (long)need;
}

char *xattrs_encode(const struct xattrs *x)
{
	struct util_buf b;
	size_t i, jlen = 3, o = 0;
	char *json;

	for (i = 0; i < x->n; i++)
		jlen += strlen(x->names[i]) + 4 * (x->lens[i] / 3 + 1) + 8;
	json = malloc(jlen);
	if (!json)
		return NULL;
	json[o++] = '{';
	for (i = 0; i < x->n; i++) {
		o += (size_t)snprintf(json + o, jlen - o, "%s\"%s\":\"",
				      i ? "," : "", x->names[i]);
		o += (size_t)EVP_EncodeBlock((unsigned char *)json + o,
					     (const unsigned char *)
						     x->values[i],
					     (int)x->lens[i]);
		json[o++] = '"';
	}
	json[o++] = '}';
	json[o] = '\0';
	/* no attributes: "" rather than an encoded "{}" */
	util_buf_init(&b, 3 * o);
	if (x->n)
		util_buf_add_uri(&b, json, o, false);
	free(json);
	return util_buf_take(&b, NULL);
}

int xattrs_decode(const char *hdr, struct xattrs *out)
{
	size_t n = strlen(hdr), o;
	char *json = malloc(n + 1), *p, *name, *val, *end;
	unsigned char *bin = NULL;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!json)
		return -ENOMEM;
	o = util_uri_decode(hdr, n, json);
	json[o] = '\0';
	p = json;
	if (*p++ != '{')
		goto out;
	while (*p && *p != '}') {
		int len;

		if (*p == ',')
			p++;
		if (*p++ != '"')
			goto out;
		name = p;
		end = strchr(p, '"');
		if (!end)
			goto out;
		*end = '\0';
		p = end + 1;
		if (*p++ != ':' || *p++ != '"')
			goto out;
		val = p;
		end = strchr(p, '"');
		if (!end)
			goto out;
		*end = '\0';
		p = end + 1;
		free(bin);
		bin = malloc(strlen(val) + 3);
		if (!bin) {
			rc = -ENOMEM;
			goto out;
		}
		len = EVP_DecodeBlock(bin, (unsigned char *)val,
				      (int)strlen(val));
		if (len < 0)
			goto out;
		/* DecodeBlock counts '=' padding as zero bytes */
		if (strlen(val) >= 1 && val[strlen(val) - 1] == '=')
			len--;
		if (strlen(val) >= 2 && val[strlen(val) - 2] == '=')
			len--;
		if (add(out, name, (char *)bin, (size_t)len)) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = *p == '}' ? 0 : -EINVAL;
out:
	if (rc)
		xattrs_release(out);
	free(bin);
	free(json);
	return rc;
}
