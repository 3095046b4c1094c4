/*
 * http.c - libcurl easy handles in a pool, one request per call.
 *
 * A handle is taken from the pool for the duration of one request and
 * given back afterwards; curl_easy_reset() keeps its connection cache, so
 * keep-alive survives between requests, and its share (DNS and TLS
 * sessions: a new connection resumes a session another handle got).
 * Bodies are streamed: uploads read with pread() from the staging file,
 * downloads write straight into the caller's buffer or file, so memory
 * does not grow with object size.
 */
#include "config.h"

#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "util.h"

#define HTTP_ERR_BODY_MAX (64 * 1024)
/* An S3 answer has a few dozen header lines (user metadata included);
 * one with more is garbled or hostile, and is not stored line by line. */
#define HTTP_MAX_HEADERS 512

struct http_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* DNS and TLS sessions shared by the handles; share_lock[i] guards
	 * curl's lock_data i (curl takes them itself, through share_cb) */
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	CURL **idle;      /* protected by lock */
	unsigned nidle;   /* protected by lock */
	unsigned created; /* protected by lock */
	struct http_pool_opts opts;
};

struct http_xfer {
	const struct http_request *req;
	struct http_response *resp;
	const struct http_pool_opts *opts; /* for the progress hook */
	CURL *curl;
	uint64_t sent;
	int err; /* first local error seen in a callback */
	EVP_MD_CTX *md5; /* resp->want_md5: over the 2xx body */
	struct util_buf body; /* HTTP_SINK_BUFFER: its p is resp->body */
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access a,
		       void *arg)
{
	struct http_pool *pool = arg;

	(void)c;
	(void)a;
	pthread_mutex_lock(&pool->share_lock[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *arg)
{
	struct http_pool *pool = arg;

	(void)c;
	pthread_mutex_unlock(&pool->share_lock[data]);
}

struct http_pool *http_pool_new(const struct http_pool_opts *opts)
{
	struct http_pool *pool = calloc(1, sizeof(*pool));
	unsigned i;

	if (!pool)
		return NULL;
	pool->opts = *opts;
	pool->opts.ca_file = NULL;
	pool->opts.ca_path = NULL;
	if (pool->opts.size == 0)
		pool->opts.size = 1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&pool->share_lock[i], NULL);
	pool->idle = calloc(pool->opts.size, sizeof(*pool->idle));
	pool->share = curl_share_init();
	if (opts->ca_file)
		pool->opts.ca_file = strdup(opts->ca_file);
	if (opts->ca_path)
		pool->opts.ca_path = strdup(opts->ca_path);
	if (!pool->idle || !pool->share ||
	    (opts->ca_file && !pool->opts.ca_file) ||
	    (opts->ca_path && !pool->opts.ca_path)) {
		http_pool_free(pool);
		return NULL;
	}
	curl_share_setopt(pool->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(pool->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(pool->share, CURLSHOPT_USERDATA, pool);
	curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(pool->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	return pool;
}

void http_pool_free(struct http_pool *pool)
{
	unsigned i;

	if (!pool)
		return;
	for (i = 0; i < pool->nidle; i++)
		curl_easy_cleanup(pool->idle[i]);
	free(pool->idle);
	/* after the handles: a share in use cannot be freed */
	if (pool->share)
		curl_share_cleanup(pool->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&pool->share_lock[i]);
	free((char *)pool->opts.ca_file);
	free((char *)pool->opts.ca_path);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

static CURL *pool_get(struct http_pool *pool)
{
	CURL *c = NULL;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		if (pool->nidle > 0) {
			c = pool->idle[--pool->nidle];
			break;
		}
		if (pool->created < pool->opts.size) {
			pool->created++;
			pthread_mutex_unlock(&pool->lock);
			c = curl_easy_init();
			/* curl_easy_reset() keeps the share */
			if (c)
				curl_easy_setopt(c, CURLOPT_SHARE, pool->share);
			if (!c) {
				pthread_mutex_lock(&pool->lock);
				pool->created--;
				pthread_cond_signal(&pool->cond);
				pthread_mutex_unlock(&pool->lock);
			}
			return c;
		}
		pthread_cond_wait(&pool->cond, &pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return c;
}

static void pool_put(struct http_pool *pool, CURL *c)
{
	pthread_mutex_lock(&pool->lock);
	pool->idle[pool->nidle++] = c;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

void http_response_init(struct http_response *resp, enum http_sink_kind sink)
{
	memset(resp, 0, sizeof(*resp));
	resp->sink = sink;
	resp->fd = -1;
}

static void headers_clear(struct http_response *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	resp->headers = NULL;
	resp->nheaders = 0;
}

void http_response_release(struct http_response *resp)
{
	headers_clear(resp);
	free(resp->body);
	resp->body = NULL;
	free(resp->err_body);
	resp->err_body = NULL;
}

const char *http_response_header(const struct http_response *resp,
				 const char *name)
{
	size_t i;

	for (i = resp->nheaders; i-- > 0;)
		if (!strcmp(resp->headers[i].name, name))
			return resp->headers[i].value;
	return NULL;
}

bool http_add_header(struct curl_slist **list, const char *name,
		     const char *value)
{
	struct curl_slist *n;
	size_t len = strlen(name) + strlen(value) + 3;
	char *line = malloc(len);

	if (!line)
		return false;
	if (value[0])
		snprintf(line, len, "%s: %s", name, value);
	else
		snprintf(line, len, "%s:", name); /* curl: removes header */
	n = curl_slist_append(*list, line);
	free(line);
	if (!n)
		return false;
	*list = n;
	return true;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct http_xfer *x = arg;
	struct http_response *resp = x->resp;
	size_t len = size * nitems, nlen, i;
	const char *colon, *v, *end = data + len;
	struct http_header *h;

	/* A new status line (redirect, 100 Continue): forget older headers. */
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		headers_clear(resp);
		return len;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return len;
	nlen = (size_t)(colon - data);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (resp->nheaders >= HTTP_MAX_HEADERS) {
		x->err = -ECONNRESET; /* a garbled answer: retried */
		return 0;
	}
	if ((resp->nheaders & (resp->nheaders - 1)) == 0) {
		/* 0, 1, 2, 4, ...: double, not one more per line */
		h = realloc(resp->headers, (resp->nheaders ? 2 * resp->nheaders
							   : 16) *
						   sizeof(*h));
		if (!h)
			return 0;
		resp->headers = h;
	}
	h = &resp->headers[resp->nheaders];
	h->name = strndup(data, nlen);
	h->value = strndup(v, (size_t)(end - v));
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		x->err = -ENOMEM;
		return 0;
	}
	for (i = 0; i < nlen; i++)
		h->name[i] = (char)tolower((unsigned char)h->name[i]);
	resp->nheaders++;
	return len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	struct http_response *resp = x->resp;
	size_t len = size * nmemb;
	long status = 0;
	ssize_t w;
	size_t done;
	int rc;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		/* Keep the start of an error body; drop the rest quietly. */
		size_t room = HTTP_ERR_BODY_MAX - resp->err_len;

		if (len < room)
			room = len;
		if (!resp->err_body) {
			resp->err_body = malloc(HTTP_ERR_BODY_MAX + 1);
			if (!resp->err_body) {
				x->err = -ENOMEM;
				return 0;
			}
		}
		memcpy(resp->err_body + resp->err_len, data, room);
		resp->err_len += room;
		resp->err_body[resp->err_len] = '\0';
		return len;
	}
	switch (resp->sink) {
	case HTTP_SINK_BUFFER:
		/* resp owns the bytes (http_response_release frees them) */
		rc = util_buf_add(&x->body, data, len);
		resp->body = x->body.p;
		resp->body_len = x->body.len;
		if (rc) {
			x->err = rc == -E2BIG ? -EOVERFLOW : rc;
			return 0;
		}
		break;
	case HTTP_SINK_MEMORY:
		if (resp->body_len + len > resp->mem_cap) {
			x->err = -EOVERFLOW;
			return 0;
		}
		memcpy(resp->mem + resp->body_len, data, len);
		resp->body_len += len;
		break;
	case HTTP_SINK_FD:
		if (resp->fd_max && resp->body_len + len > resp->fd_max) {
			x->err = -EOVERFLOW;
			return 0;
		}
		for (done = 0; done < len; done += (size_t)w) {
			w = pwrite(resp->fd, data + done, len - done,
				   resp->fd_off + (off_t)(resp->body_len + done));
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				x->err = w < 0 ? -errno : -EIO;
				return 0;
			}
		}
		resp->body_len += len;
		break;
	default:
		return 0;
	}
	if (x->md5)
		EVP_DigestUpdate(x->md5, data, len);
	if (x->opts->progress)
		x->opts->progress(x->opts->progress_arg, 0, len);
	return len;
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *arg)
{
	struct http_xfer *x = arg;
	const struct http_request *req = x->req;
	size_t want = size * nitems;
	uint64_t left = req->body_len - x->sent;
	ssize_t r;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (req->body_fd >= 0) {
		do {
			r = pread(req->body_fd, dst, want,
				  req->body_off + (off_t)x->sent);
		} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			/* A short staging file is a local error, never a
			 * short upload: abort the request. */
			x->err = r < 0 ? -errno : -EIO;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)r;
	} else {
		memcpy(dst, (const char *)req->body + x->sent, want);
	}
	x->sent += want;
	if (x->opts->progress)
		x->opts->progress(x->opts->progress_arg, want, 0);
	return want;
}

/* libcurl rewinds when it resends a body (e.g. after a reused connection
 * turned out dead). */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
	struct http_xfer *x = arg;

	if (origin != SEEK_SET || offset < 0 ||
	    (uint64_t)offset > x->req->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int map_curl_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		/* libcurl says so of an answer whose header lines exceed its
		 * limit (100 KiB; CURLE_TOO_LARGE from curl 8.6): a garbled
		 * answer that a retry may get right, and never an ENOMEM to
		 * hand to the caller */
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_WEIRD_SERVER_REPLY:
		return -EPROTO;
	default:
		/* send/recv errors, empty reply, partial body */
		return -ECONNRESET;
	}
}

bool http_error_is_transient(int err)
{
	return err == -ECONNREFUSED || err == -ETIMEDOUT ||
	       err == -ECONNRESET || err == -EHOSTUNREACH;
}

int http_perform(struct http_pool *pool, const struct http_request *req,
		 struct http_response *resp)
{
	struct http_xfer x = { .req = req, .resp = resp, .opts = &pool->opts };
	struct curl_slist *hdrs = NULL, *h;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int rc = 0;

	util_buf_init(&x.body, resp->max_body);
	if (resp->want_md5) {
		x.md5 = EVP_MD_CTX_new();
		if (!x.md5 || !EVP_DigestInit_ex(x.md5, EVP_md5(), NULL)) {
			EVP_MD_CTX_free(x.md5);
			return -ENOMEM;
		}
	}
	x.curl = pool_get(pool);
	if (!x.curl) {
		EVP_MD_CTX_free(x.md5);
		return -ENOMEM;
	}

	/* Our fixed headers first, then the caller's. */
	for (h = req->headers; h; h = h->next) {
		struct curl_slist *n = curl_slist_append(hdrs, h->data);

		if (!n) {
			rc = -ENOMEM;
			goto out;
		}
		hdrs = n;
	}
	if (req->has_body && !http_add_header(&hdrs, "Expect", "")) {
		rc = -ENOMEM;
		goto out;
	}

	curl_easy_setopt(x.curl, CURLOPT_URL, req->url);
	curl_easy_setopt(x.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x.curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(x.curl, CURLOPT_CONNECTTIMEOUT_MS,
			 pool->opts.connect_timeout_ms);
	curl_easy_setopt(x.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x.curl, CURLOPT_LOW_SPEED_TIME,
			 pool->opts.low_speed_time_s);
	if (req->timeout_ms > 0)
		curl_easy_setopt(x.curl, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(x.curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x.curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(x.curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x.curl, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(x.curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(x.curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x.curl, CURLOPT_USERAGENT, "r2fs/" PACKAGE_VERSION);
	/* never switched off: there is no "insecure" mode */
	curl_easy_setopt(x.curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x.curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (pool->opts.ca_file)
		curl_easy_setopt(x.curl, CURLOPT_CAINFO, pool->opts.ca_file);
	if (pool->opts.ca_path)
		curl_easy_setopt(x.curl, CURLOPT_CAPATH, pool->opts.ca_path);
	if (pool->opts.verbose)
		curl_easy_setopt(x.curl, CURLOPT_VERBOSE, 1L);

	if (!strcmp(req->method, "HEAD")) {
		curl_easy_setopt(x.curl, CURLOPT_NOBODY, 1L);
	} else if (req->has_body) {
		curl_easy_setopt(x.curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(x.curl, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)req->body_len);
		curl_easy_setopt(x.curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(x.curl, CURLOPT_READDATA, &x);
		curl_easy_setopt(x.curl, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(x.curl, CURLOPT_SEEKDATA, &x);
		if (strcmp(req->method, "PUT"))
			curl_easy_setopt(x.curl, CURLOPT_CUSTOMREQUEST,
					 req->method);
	} else if (strcmp(req->method, "GET")) {
		curl_easy_setopt(x.curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	curl_easy_setopt(x.curl, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(x.curl);
	curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (x.err) {
		rc = x.err;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "%s",
			 rc == -EOVERFLOW ? "response body larger than expected"
					  : strerror(-rc));
	} else if (cc != CURLE_OK) {
		rc = map_curl_error(cc);
		resp->cert_error = cc == CURLE_PEER_FAILED_VERIFICATION ||
				   cc == CURLE_SSL_CACERT_BADFILE ||
				   cc == CURLE_SSL_CERTPROBLEM;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
out:
	if (x.md5) {
		EVP_DigestFinal_ex(x.md5, resp->body_md5, NULL);
		EVP_MD_CTX_free(x.md5);
	}
	curl_slist_free_all(hdrs);
	curl_easy_reset(x.curl);
	pool_put(pool, x.curl);
	return rc;
}
