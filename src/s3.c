/*
 * s3.c - the S3 client: the request path every call takes, the client's
 * life, and the mount check.
 *
 * Every request goes through s3_request(): build the path-style URL, sign
 * it (SigV4, payload hash in x-amz-content-sha256), perform it on a pooled
 * connection, and retry with jittered exponential backoff on network
 * errors, 429 and 5xx (honouring Retry-After).  Each attempt is counted
 * by R2's billing class for the store's statistics.  Non-2xx answers
 * become an errno in exactly one place, s3_error_to_errno().
 *
 * struct s3 (s3_i.h) is the client; its first member is the struct store
 * the mount sees, and the store's ops cast back from it (to_s3).  The ops
 * table (s3_ops, below) names where they are: statistics and teardown
 * here, the object calls in s3_object.c and the multipart calls in
 * s3_multipart.c.  The r2 tool's requests beyond the store (ListBuckets,
 * bucket subresources, presigned URLs) are in s3_bucket.c and take the
 * struct s3 itself; they share s3_request() and the sentences that
 * explain failures, which the mount check (s3_probe) uses too.
 */
#include "s3.h"
#include "s3_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "creds.h"
#include "http.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"
#include "xml.h"

int s3_error_to_errno(long status, const char *code)
{
	if (code) {
		if (!strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload"))
			return -ENOENT;
		if (!strcmp(code, "KeyTooLongError"))
			return -ENAMETOOLONG;
		if (!strcmp(code, "EntityTooLarge"))
			return -EFBIG;
		if (!strcmp(code, "PreconditionFailed"))
			return -ESTALE;
		if (!strcmp(code, "AccessDenied") ||
		    !strcmp(code, "InvalidAccessKeyId") ||
		    !strcmp(code, "ExpiredToken") ||
		    !strcmp(code, "InvalidToken") ||
		    !strcmp(code, "SignatureDoesNotMatch") ||
		    !strcmp(code, "RequestTimeTooSkewed"))
			return -EACCES;
		if (!strcmp(code, "NotImplemented"))
			return -EOPNOTSUPP;
		if (!strcmp(code, "InvalidArgument") ||
		    !strcmp(code, "InvalidRequest"))
			return -EINVAL;
	}
	switch (status) {
	case 404:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 412:
		return -ESTALE;
	case 413:
		return -EFBIG;
	case 501:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

static bool status_is_transient(long status)
{
	return status == 429 || status == 500 || status == 502 ||
	       status == 503 || status == 504;
}

static void sleep_s(double d)
{
	struct timespec ts;

	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleep before retry attempt + 1, at most max_s seconds.  slowdown: a
 * write got 429, which R2 gives to a second write of a key within a
 * second: waiting less than that only earns another 429. */
static void backoff_sleep(unsigned attempt, const char *retry_after,
			  bool slowdown, double max_s)
{
	double base = 0.1, cap = 10.0, d;

	d = base * (double)(1u << (attempt < 10 ? attempt : 10));
	if (d > cap)
		d = cap;
	if (slowdown && d < 2 * S3_PACE_INTERVAL)
		d = 2 * S3_PACE_INTERVAL;
	/* full jitter in [d/2, d): spreads retries of parallel workers */
	d = d / 2 + (d / 2) * ((double)random() / ((double)RAND_MAX + 1));
	if (retry_after) {
		char *end;
		long ra = strtol(retry_after, &end, 10);

		if (end != retry_after && ra > 0 && ra <= 60 && ra > d)
			d = (double)ra;
	}
	if (d > max_s)
		d = max_s > 0 ? max_s : 0;
	sleep_s(d);
}

void s3_pace_init(struct s3_pace *p, double interval)
{
	memset(p, 0, sizeof(*p));
	p->interval = interval;
	pthread_mutex_init(&p->lock, NULL);
}

void s3_pace_release(struct s3_pace *p)
{
	pthread_mutex_destroy(&p->lock);
}

static uint64_t pace_hash(const char *path)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 1099511628211ULL;
	return h ? h : 1;
}

double s3_pace_delay(struct s3_pace *p, const char *path, double now)
{
	uint64_t h = pace_hash(path);
	size_t i = (size_t)(h % S3_PACE_SLOTS);
	double wait = 0;

	pthread_mutex_lock(&p->lock);
	if (p->hash[i] == h && now - p->end[i] < p->interval)
		wait = p->interval - (now - p->end[i]);
	pthread_mutex_unlock(&p->lock);
	return wait;
}

/* how often a write waiting for another write of its key looks again */
#define S3_PACE_POLL 0.05

double s3_pace_begin(struct s3_pace *p, const char *path, double now)
{
	uint64_t h = pace_hash(path);
	size_t i = (size_t)(h % S3_PACE_SLOTS);
	double wait = 0;

	if (p->interval <= 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->hash[i] == h && p->busy[i] > 0) {
		wait = S3_PACE_POLL;
	} else if (p->hash[i] == h && now - p->end[i] < p->interval) {
		wait = p->interval - (now - p->end[i]);
	} else if (p->hash[i] == h || p->busy[i] == 0) {
		/* ours, or another key's slot with nothing in flight: it
		 * forgets that key (a 429 and a retry at worst) */
		if (p->hash[i] != h) {
			p->hash[i] = h;
			p->end[i] = 0;
		}
		p->busy[i]++;
	}
	/* else another key's write holds the slot: go untracked */
	pthread_mutex_unlock(&p->lock);
	return wait;
}

void s3_pace_end(struct s3_pace *p, const char *path, bool ok, double now)
{
	uint64_t h = pace_hash(path);
	size_t i = (size_t)(h % S3_PACE_SLOTS);

	if (p->interval <= 0)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->hash[i] == h) {
		if (p->busy[i] > 0)
			p->busy[i]--;
		if (ok)
			p->end[i] = now;
	}
	pthread_mutex_unlock(&p->lock);
}

void s3_pace_note(struct s3_pace *p, const char *path, double now)
{
	uint64_t h = pace_hash(path);
	size_t i = (size_t)(h % S3_PACE_SLOTS);

	pthread_mutex_lock(&p->lock);
	p->hash[i] = h;
	p->end[i] = now;
	pthread_mutex_unlock(&p->lock);
}

/* Does c write its key, as R2's one write per second counts writes:
 * PutObject, CopyObject, DeleteObject, CompleteMultipartUpload? */
static bool call_writes_key(const struct s3_call *c)
{
	bool q = c->query && c->query[0];

	if (!c->key || c->service)
		return false;
	if (!strcmp(c->method, "PUT") || !strcmp(c->method, "DELETE"))
		return !q;
	return !strcmp(c->method, "POST") && q &&
	       !strncmp(c->query, "uploadId=", 9);
}

int s3_call_add(struct s3_call *c, const char *name, const char *value)
{
	if (c->nextra >= S3_MAX_EXTRA)
		return -E2BIG;
	c->extra[c->nextra].name = name;
	c->extra[c->nextra].value = value;
	c->nextra++;
	return 0;
}

char *s3_build_path(const struct s3 *s, const char *key)
{
	char *enc = NULL, *path;
	size_t len;

	if (key) {
		enc = sigv4_uri_encode(key, strlen(key), 0);
		if (!enc)
			return NULL;
	}
	len = strlen(s->bucket) + (enc ? strlen(enc) : 0) + 3;
	path = malloc(len);
	if (path)
		snprintf(path, len, "/%s%s%s", s->bucket, enc ? "/" : "",
			 enc ? enc : "");
	free(enc);
	return path;
}

static void add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/*
 * Count one attempt by R2's billing class: Class A for writes and
 * listings (PUT, POST, COPY, LIST, multipart), Class B for reads (GET,
 * HEAD); DELETE is free.
 */
static void count_request(struct s3 *s, const struct s3_call *c,
			  const struct http_request *req,
			  const struct http_response *resp, int rc,
			  unsigned attempt)
{
	const char *m = c->method;
	bool list = !c->key && c->query && strstr(c->query, "list-type");

	if (!strcmp(m, "GET") && !list)
		add(&s->n.class_b, 1);
	else if (!strcmp(m, "HEAD"))
		add(&s->n.class_b, 1);
	else if (strcmp(m, "DELETE"))
		add(&s->n.class_a, 1);
	if (attempt > 0)
		add(&s->n.retries, 1);
	if (!rc && resp->status == 429)
		add(&s->n.throttled, 1);
	/* failed: no answer, a server error, or a refusal (403 for an
	 * upload...); not the answers that are news (404, 412, 416) */
	if (rc || resp->status >= 500 ||
	    (resp->status >= 400 && resp->status != 404 &&
	     resp->status != 412 && resp->status != 416 &&
	     resp->status != 429))
		add(&s->n.failures, 1);
	if (req->has_body)
		add(&s->n.bytes_up, req->body_len);
	if (!rc && resp->status >= 200 && resp->status < 300)
		add(&s->n.bytes_down, resp->body_len);
}

static void s3_stats(struct store *st, struct store_stats *out)
{
	struct s3 *s = (struct s3 *)st;

	out->class_a = __atomic_load_n(&s->n.class_a, __ATOMIC_RELAXED);
	out->class_b = __atomic_load_n(&s->n.class_b, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&s->n.retries, __ATOMIC_RELAXED);
	out->throttled = __atomic_load_n(&s->n.throttled, __ATOMIC_RELAXED);
	out->failures = __atomic_load_n(&s->n.failures, __ATOMIC_RELAXED);
	out->bytes_up = __atomic_load_n(&s->n.bytes_up, __ATOMIC_RELAXED);
	out->bytes_down = __atomic_load_n(&s->n.bytes_down, __ATOMIC_RELAXED);
}


/*
 * Load the credentials again if their file changed (force: look now, not
 * at most once a second).  true when new ones are in place.
 */
static bool creds_reload(struct s3 *s, bool force)
{
	struct creds fresh = { 0 };
	double now = util_now_mono();
	char err[512] = "";
	bool changed;
	int rc;

	if (!s->reload_creds)
		return false;
	pthread_mutex_lock(&s->creds_lock);
	changed = (force || now - s->creds_checked >= 1.0) &&
		  creds_file_changed(&s->creds);
	if (force || now - s->creds_checked >= 1.0)
		s->creds_checked = now;
	pthread_mutex_unlock(&s->creds_lock);
	if (!changed)
		return false;
	rc = creds_load(s->creds_passwd_file, s->creds_profile, s->bucket,
			&fresh, err, sizeof(err));
	if (rc) {
		/* caught mid-write, or broken: keep the old ones; look again
		 * in a second */
		log_warn("cannot read the new credentials: %s", err);
		creds_release(&fresh);
		return false;
	}
	pthread_mutex_lock(&s->creds_lock);
	creds_release(&s->creds);
	s->creds = fresh;
	s->creds_refused_said = false;
	pthread_mutex_unlock(&s->creds_lock);
	log_info("credentials changed: now using those of %s",
		 s->creds.source);
	return true;
}

/* An S3 error code that says the credentials themselves were refused. */
static bool code_refuses_creds(const char *code)
{
	return code && (!strcmp(code, "InvalidAccessKeyId") ||
			!strcmp(code, "SignatureDoesNotMatch") ||
			!strcmp(code, "ExpiredToken") ||
			!strcmp(code, "InvalidToken") ||
			!strcmp(code, "TokenRefreshRequired"));
}

/*
 * The server refused the credentials used (resp: a 400/401/403 answer).
 * true: newer ones are in place (loaded from their file now, or before),
 * try again at once.  Otherwise
 * say once, until they change, what is wrong and what to do.
 */
static bool creds_refused(struct s3 *s, const struct creds *used,
			  const struct http_response *resp)
{
	struct xml_error xe = { 0 };
	bool again = false, say = false;

	if (!s->long_running || !resp->err_body ||
	    (resp->status != 400 && resp->status != 401 &&
	     resp->status != 403))
		return false;
	xml_parse_error(resp->err_body, resp->err_len, &xe);
	if (!code_refuses_creds(xe.code))
		goto out;
	again = creds_reload(s, true);
	if (again)
		goto out;
	pthread_mutex_lock(&s->creds_lock);
	/* signed with older ones that another request replaced meanwhile */
	again = strcmp(used->access_key, s->creds.access_key) ||
		!used->session_token != !s->creds.session_token ||
		(used->session_token &&
		 strcmp(used->session_token, s->creds.session_token));
	say = !again && !s->creds_refused_said;
	if (say)
		s->creds_refused_said = true;
	pthread_mutex_unlock(&s->creds_lock);
	if (say)
		log_err("%s refused the credentials of %s (%s): requests fail "
			"with EACCES and uploads are kept and retried until "
			"they are replaced %s", s->endpoint, s->creds.source,
			xe.code, s->reload_creds
					 ? "there (r2fs reads the file again "
					   "when it changes)"
					 : "(set new ones and mount again)");
out:
	xml_error_release(&xe);
	return again;
}

/* A copy of the current credentials for one signature (wiped by
 * creds_release); false on ENOMEM. */
static bool creds_snapshot(struct s3 *s, struct creds *out)
{
	bool ok;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->creds_lock);
	out->access_key = strdup(s->creds.access_key);
	out->secret_key = strdup(s->creds.secret_key);
	out->session_token = s->creds.session_token
				     ? strdup(s->creds.session_token)
				     : NULL;
	ok = out->access_key && out->secret_key &&
	     (!s->creds.session_token || out->session_token);
	pthread_mutex_unlock(&s->creds_lock);
	return ok;
}

/* Milliseconds the next attempt of c may take (0: no limit of its own),
 * or -1 when its deadline has passed. */
static long attempt_limit_ms(const struct s3_call *c)
{
	double left;

	if (c->deadline <= 0)
		return c->timeout_ms;
	left = (c->deadline - util_now_mono()) * 1000;
	if (left < 1)
		return -1;
	if (c->timeout_ms > 0 && (double)c->timeout_ms < left)
		return c->timeout_ms;
	return (long)left;
}

/* s3_i.h */
int s3_request(struct s3 *s, struct s3_call *c, struct http_response *resp)
{
	struct sigv4_header hdrs[S3_MAX_EXTRA + 4];
	struct sigv4_request sreq;
	struct sigv4_key skey = { NULL, NULL, s->region, "s3" };
	struct creds cur = { 0 };
	struct http_response tmpl = *resp;
	struct curl_slist *list = NULL;
	struct http_request hreq;
	char amz_date[SIGV4_AMZ_DATE_LEN];
	char *path = NULL, *url = NULL, *authz = NULL;
	unsigned attempt, attempts;
	size_t n, i, urllen;
	bool writes, again, paced = false;
	double t0 = util_now_mono();
	long limit;
	int rc = 0;

	path = c->service ? strdup("/") : s3_build_path(s, c->key);
	if (!path)
		return -ENOMEM;
	urllen = strlen(s->endpoint) + strlen(path) +
		 (c->query ? strlen(c->query) : 0) + 2;
	url = malloc(urllen);
	if (!url) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(url, urllen, "%s%s%s%s", s->endpoint, path,
		 c->query && c->query[0] ? "?" : "", c->query ? c->query : "");
	if (!c->payload_hash[0])
		snprintf(c->payload_hash, sizeof(c->payload_hash), "%s",
			 SIGV4_UNSIGNED_PAYLOAD);
	attempts = c->max_attempts ? c->max_attempts : 1 + s->retries;
	writes = call_writes_key(c);
	if (writes) {
		double wait;

		while ((wait = s3_pace_begin(&s->pace, path,
					     util_now_mono())) > 0) {
			log_debug("%s %s: waiting %.2f s (one write per second "
				  "per key)", c->method, path, wait);
			sleep_s(wait);
		}
		paced = true;
	}

	for (attempt = 0;; attempt++) {
		time_t now = time(NULL); /* one reading: header and signature
					    must agree */

		*resp = tmpl;
		rc = 0; /* the failed attempt's error must not stick */
		n = 0;
		creds_reload(s, false);
		creds_release(&cur);
		if (!creds_snapshot(s, &cur)) {
			rc = -ENOMEM;
			goto out;
		}
		skey.access_key = cur.access_key;
		skey.secret_key = cur.secret_key;
		sigv4_amz_date(now, amz_date);
		hdrs[n++] = (struct sigv4_header){ "host", s->host };
		hdrs[n++] = (struct sigv4_header){ "x-amz-date", amz_date };
		hdrs[n++] = (struct sigv4_header){ "x-amz-content-sha256",
						   c->payload_hash };
		/* temporary credentials: the token is signed like the rest */
		if (cur.session_token)
			hdrs[n++] = (struct sigv4_header){
				"x-amz-security-token", cur.session_token };
		for (i = 0; i < c->nextra; i++)
			hdrs[n++] = c->extra[i];
		sreq = (struct sigv4_request){
			.method = c->method,
			.uri_path = path,
			.query = c->query,
			.headers = hdrs,
			.nheaders = n,
			.payload_hash = c->payload_hash,
		};
		authz = sigv4_authorization(&sreq, &skey, now);
		if (!authz) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < n; i++)
			if (!http_add_header(&list, hdrs[i].name,
					     hdrs[i].value))
				rc = -ENOMEM;
		if (!http_add_header(&list, "Authorization", authz))
			rc = -ENOMEM;
		explicit_bzero(authz, strlen(authz));
		free(authz);
		authz = NULL;
		if (rc)
			goto out;

		hreq = (struct http_request){
			.method = c->method,
			.url = url,
			.headers = list,
			.body = c->body,
			.body_len = c->body_fd >= 0 ? c->body_fd_len
						    : c->body_len,
			.body_fd = c->body_fd,
			.body_off = (off_t)c->body_fd_off,
			.has_body = c->has_body,
		};
		limit = attempt_limit_ms(c);
		hreq.timeout_ms = limit < 0 ? 1 : limit;
		rc = http_perform(s->pool, &hreq, resp);
		curl_slist_free_all(list);
		list = NULL;
		count_request(s, c, &hreq, resp, rc, attempt);

		/* (not the mount check's: it explains a refusal itself) */
		again = !rc && !c->raw_errors && creds_refused(s, &cur, resp);
		if (attempt + 1 >= attempts || attempt_limit_ms(c) < 0)
			break;
		if (again) {
			http_response_release(resp);
			continue; /* new credentials: at once */
		}
		if (rc && http_error_is_transient(rc)) {
			log_debug("%s %s: %s; retrying", c->method, path,
				  resp->errmsg);
		} else if (!rc && status_is_transient(resp->status)) {
			log_debug("%s %s: HTTP %ld; retrying", c->method, path,
				  resp->status);
		} else {
			break;
		}
		backoff_sleep(attempt,
			      rc ? NULL : http_response_header(resp,
							       "retry-after"),
			      writes && !rc && resp->status == 429,
			      c->deadline > 0 ? c->deadline - util_now_mono()
					      : 3600);
		http_response_release(resp);
	}
	if (paced) {
		s3_pace_end(&s->pace, path,
			    !rc && resp->status >= 200 && resp->status < 300,
			    util_now_mono());
		paced = false;
	}
	/* -d's trace: one line a request, never a header */
	if (rc)
		log_debug("http: %s %s%s%s: %s, %.0f ms, %u retries",
			  c->method, path, c->query && c->query[0] ? "?" : "",
			  c->query ? c->query : "", resp->errmsg,
			  (util_now_mono() - t0) * 1000, attempt);
	else
		log_debug("http: %s %s%s%s: %ld, %llu B up, %llu B down, "
			  "%.0f ms, %u retries", c->method, path,
			  c->query && c->query[0] ? "?" : "",
			  c->query ? c->query : "", resp->status,
			  (unsigned long long)(hreq.has_body ? hreq.body_len
							     : 0),
			  (unsigned long long)resp->body_len,
			  (util_now_mono() - t0) * 1000, attempt);
	if (rc) {
		/* the store's contract: network failures are EIO */
		if (!c->raw_errors && (http_error_is_transient(rc) ||
				       rc == -EPROTO || rc == -EOVERFLOW))
			rc = -EIO;
	}
out:
	if (paced)
		s3_pace_end(&s->pace, path, false, util_now_mono());
	creds_release(&cur);
	curl_slist_free_all(list);
	free(url);
	free(path);
	return rc;
}

/* errno for a completed non-2xx answer, logging the S3 code. */
int s3_status_error(struct s3 *s, const struct s3_call *c,
		    const struct http_response *resp)
{
	struct xml_error xe = { 0 };
	int err;

	if (resp->err_body && resp->err_len)
		xml_parse_error(resp->err_body, resp->err_len, &xe);
	err = s3_error_to_errno(resp->status, xe.code);
	if (err != -ENOENT)
		log_debug("%s %s/%s: HTTP %ld %s", c->method, s->bucket,
			  c->key ? c->key : "", resp->status,
			  xe.code ? xe.code : "");
	/* A write refused for good (no retry will change it): say once what
	 * to do.  The caller's upload is kept and retried by its owner. */
	if (s->long_running && resp->status == 403 && c->key &&
	    strcmp(c->method, "GET") && strcmp(c->method, "HEAD") &&
	    (!xe.code || !code_refuses_creds(xe.code)) &&
	    !__atomic_exchange_n(&s->write_refusal_said, true,
				 __ATOMIC_RELAXED))
		log_err("%s refused to change '%s' in bucket '%s' (%s): the "
			"key may lack write permission there, or a bucket lock "
			"forbids the change; the files stay in the journal and "
			"are retried: grant the permission or lift the lock, "
			"then run r2fs sync (this is said once)", s->endpoint,
			c->key, s->bucket, xe.code ? xe.code : "HTTP 403");
	xml_error_release(&xe);
	return err;
}

void s3_strip_quotes(const char *in, char *out, size_t outlen)
{
	size_t n;

	if (!in) {
		out[0] = '\0';
		return;
	}
	if (in[0] == '"')
		in++;
	n = strlen(in);
	if (n > 0 && in[n - 1] == '"')
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, in, n);
	out[n] = '\0';
}

void s3_call_init(struct s3_call *c, const char *method, const char *key)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->key = key;
	c->body_fd = -1;
}

/* Append "name=enc(value)" to a query being built. */
int s3_query_add(char *q, size_t qlen, const char *name, const char *value)
{
	char *enc = sigv4_uri_encode(value, strlen(value), 1);
	size_t used = strlen(q);
	int n;

	if (!enc)
		return -ENOMEM;
	n = snprintf(q + used, qlen - used, "%s%s=%s", used ? "&" : "", name,
		     enc);
	free(enc);
	return (n < 0 || (size_t)n >= qlen - used) ? -ENAMETOOLONG : 0;
}

static void s3_destroy(struct store *st)
{
	struct s3 *s = to_s3(st);

	if (!s)
		return;
	http_pool_free(s->pool);
	free(s->endpoint);
	free(s->bucket);
	free(s->region);
	creds_release(&s->creds);
	free(s->creds_passwd_file);
	free(s->creds_profile);
	pthread_mutex_destroy(&s->creds_lock);
	s3_pace_release(&s->pace);
	pthread_mutex_destroy(&s->bad_lock);
	free(s);
}

static const struct store_ops s3_ops = {
	.head = s3_head,
	.get_range = s3_get_range,
	.get_range_to_fd = s3_get_range_to_fd,
	.get_to_fd = s3_get_to_fd,
	.put_fd = s3_put_fd,
	.list = s3_list,
	.list_after = s3_list_after,
	.remove = s3_remove,
	.copy = s3_copy,
	.mp_create = s3_mp_create,
	.mp_upload_part = s3_mp_upload_part,
	.mp_copy_part = s3_mp_copy_part,
	.mp_complete = s3_mp_complete,
	.mp_abort = s3_mp_abort,
	.stats = s3_stats,
	.destroy = s3_destroy,
};

struct s3 *s3_new(const struct s3_opts *o)
{
	struct s3 *s = calloc(1, sizeof(*s));
	struct http_pool_opts po = {
		.size = o->handles,
		.connect_timeout_ms = o->connect_timeout_ms,
		.low_speed_time_s = 60,
		.verbose = o->verbose_http,
		.ca_file = o->ca_file,
		.ca_path = o->ca_path,
		.progress = o->progress,
		.progress_arg = o->progress_arg,
	};

	if (!s)
		return NULL;
	s->base.ops = &s3_ops;
	s3_pace_init(&s->pace, o->key_write_interval);
	pthread_mutex_init(&s->bad_lock, NULL);
	s->retries = o->retries;
	s->crc32c = !o->md5_only;
	s->connect_timeout_ms = o->connect_timeout_ms;
	s->endpoint = strdup(o->endpoint);
	s->bucket = strdup(o->bucket);
	s->region = strdup(o->region);
	pthread_mutex_init(&s->creds_lock, NULL);
	s->creds = *o->creds; /* the strings are copied next */
	s->creds.access_key = strdup(o->creds->access_key);
	s->creds.secret_key = strdup(o->creds->secret_key);
	s->creds.session_token = o->creds->session_token
					 ? strdup(o->creds->session_token)
					 : NULL;
	s->long_running = o->long_running;
	s->reload_creds = o->long_running && o->creds->file[0];
	s->creds_checked = util_now_mono();
	if (o->passwd_file)
		s->creds_passwd_file = strdup(o->passwd_file);
	if (o->profile)
		s->creds_profile = strdup(o->profile);
	s->pool = http_pool_new(&po);
	if (!s->endpoint || !s->bucket || !s->region ||
	    !s->creds.access_key || !s->creds.secret_key || !s->pool ||
	    (o->creds->session_token && !s->creds.session_token) ||
	    (o->passwd_file && !s->creds_passwd_file) ||
	    (o->profile && !s->creds_profile) ||
	    util_endpoint_host(s->endpoint, s->host, sizeof(s->host))) {
		s3_destroy(&s->base);
		return NULL;
	}
	return s;
}

struct store *s3_store(struct s3 *s)
{
	return &s->base;
}

void s3_free(struct s3 *s)
{
	if (s)
		s3_destroy(&s->base);
}

struct store *s3_store_new(const struct s3_opts *o)
{
	struct s3 *s = s3_new(o);

	return s ? s3_store(s) : NULL;
}

bool s3_transport_sentence(const struct s3 *s, int rc, char *buf,
			   size_t len)
{
	switch (rc) {
	case -ECONNREFUSED:
		snprintf(buf, len, "cannot connect to %s: connection refused",
			 s->endpoint);
		return true;
	case -EHOSTUNREACH:
		snprintf(buf, len, "cannot resolve the host of %s",
			 s->endpoint);
		return true;
	case -ETIMEDOUT:
		snprintf(buf, len, "%s did not answer within %ld s",
			 s->endpoint, s->connect_timeout_ms / 1000);
		return true;
	default:
		return false;
	}
}

int s3_code_sentence(const struct s3 *s, long status, const char *code,
		     const char *region_option, char *buf, size_t len)
{
	if (!strcmp(code, "NoSuchBucket")) {
		snprintf(buf, len, "bucket '%s' does not exist at %s",
			 s->bucket, s->endpoint);
		return -ENOENT;
	}
	if (!strcmp(code, "AuthorizationHeaderMalformed") ||
	    !strcmp(code, "PermanentRedirect")) {
		snprintf(buf, len, "bucket '%s' is in another region than "
			 "'%s' (%s); set %s", s->bucket, s->region, code,
			 region_option);
		return -EINVAL;
	}
	if (!strcmp(code, "InvalidAccessKeyId"))
		snprintf(buf, len, "the access key is not known to %s "
			 "(InvalidAccessKeyId)", s->endpoint);
	else if (!strcmp(code, "SignatureDoesNotMatch"))
		snprintf(buf, len, "the secret key does not match the access "
			 "key (SignatureDoesNotMatch)");
	else if (!strcmp(code, "RequestTimeTooSkewed"))
		snprintf(buf, len, "this machine's clock differs too much "
			 "from the server's (RequestTimeTooSkewed)");
	else
		return 0;
	return s3_error_to_errno(status, code);
}

int s3_probe(struct store *st, double within, char *err, size_t errlen)
{
	struct xml_error xe = { 0 };
	struct http_response resp;
	struct s3_call c;
	char body[1];
	struct s3 *s;
	double t0;
	int rc;

	if (st->ops != &s3_ops) {
		snprintf(err, errlen, "the mount check needs an S3 store");
		return -EINVAL;
	}
	s = to_s3(st);
	s3_call_init(&c, "GET", ".r2fs-mount-check");
	c.raw_errors = true;
	/* an answer of one byte: each attempt gets the connect timeout in
	 * all, not the stall limit a download needs */
	c.timeout_ms = s->connect_timeout_ms;
	t0 = util_now_mono();
	c.deadline = within > 0 ? t0 + within : 0;
	s3_call_add(&c, "range", "bytes=0-0");
	http_response_init(&resp, HTTP_SINK_MEMORY);
	resp.mem = body;
	resp.mem_cap = sizeof(body);
	rc = s3_request(s, &c, &resp);
	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "%s did not answer within %.1f s",
			 s->endpoint, util_now_mono() - t0);
		goto out;
	}
	if (rc && resp.cert_error) {
		snprintf(err, errlen, "the TLS certificate of %s was refused: "
			 "%s (for a private CA, give ca_file or ca_path)",
			 s->endpoint, resp.errmsg);
		goto out;
	}
	if (rc) {
		if (!s3_transport_sentence(s, rc, err, errlen))
			snprintf(err, errlen, "cannot talk to %s: %s",
				 s->endpoint, resp.errmsg);
		goto out;
	}
	if (resp.status == 200 || resp.status == 206 || resp.status == 416)
		goto out;
	if (resp.err_body)
		xml_parse_error(resp.err_body, resp.err_len, &xe);
	if (resp.status == 404 && xe.code && !strcmp(xe.code, "NoSuchKey"))
		goto out;
	if (!xe.code) {
		snprintf(err, errlen, "%s answered HTTP %ld, which is not an "
			 "S3 answer", s->endpoint, resp.status);
		rc = -EIO;
		goto out;
	}
	rc = s3_code_sentence(s, resp.status, xe.code, "-o region=", err,
			      errlen);
	if (rc)
		goto out;
	if (!strcmp(xe.code, "AccessDenied"))
		snprintf(err, errlen, "access to bucket '%s' is denied for "
			 "this key (AccessDenied)", s->bucket);
	else
		snprintf(err, errlen, "%s refused the mount check: HTTP %ld "
			 "%s", s->endpoint, resp.status, xe.code);
	rc = s3_error_to_errno(resp.status, xe.code);
out:
	xml_error_release(&xe);
	http_response_release(&resp);
	return rc;
}
