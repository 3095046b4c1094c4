/*
 * http.h - a small HTTP/1.1 client over libcurl with a handle pool.
 *
 * One request at a time per pooled handle; each handle keeps its own
 * keep-alive connections, so a pool of N handles serves N parallel requests
 * without new TCP/TLS handshakes.  The handles share one DNS cache and one
 * TLS session cache, so a new connection resumes a TLS session (no full
 * handshake) once any handle has one.  Certificates are always verified:
 * against the system's CAs, or ca_file / ca_path when given.  This layer knows nothing of S3: signing,
 * retries by status and error bodies belong to s3.c.
 *
 * Every request that carries a body sends Content-Length and an empty
 * "Expect:" (Cloudflare never answers 100-continue).  Requests are
 * HTTP/1.1, with a connect timeout and a low-speed abort.
 *
 * Thread safety: the pool is locked internally; requests and responses
 * belong to the calling thread.
 */
#ifndef R2FS_HTTP_H
#define R2FS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct curl_slist;
struct http_pool;

struct http_pool_opts {
	unsigned size;            /* handles; parallel requests at most */
	long connect_timeout_ms;  /* TCP+TLS connect */
	long low_speed_time_s;    /* abort when < 1 byte/s for this long */
	bool verbose;             /* libcurl's own trace (never shows secrets:
				     only used with -d and documented) */
	const char *ca_file;      /* PEM CA bundle instead of the system's,
				     or NULL (copied) */
	const char *ca_path;      /* directory of hashed CA certificates
				     (c_rehash), or NULL (copied) */
	/*
	 * Optional: called with the body bytes just sent (up) or received
	 * into a 2xx sink (down), from the thread performing the request,
	 * so from several threads at once when requests run in parallel:
	 * it must be thread-safe and quick.  A resent body (retry, rewind)
	 * is counted again.  NULL: no calls.
	 */
	void (*progress)(void *arg, uint64_t up, uint64_t down);
	void *progress_arg;
};

struct http_pool *http_pool_new(const struct http_pool_opts *opts);
void http_pool_free(struct http_pool *pool);

struct http_request {
	const char *method;          /* "GET", "HEAD", "PUT", "POST", ... */
	const char *url;
	struct curl_slist *headers;  /* caller-owned */
	/* Body from memory (body != NULL or body_len == 0) ... */
	const void *body;
	size_t body_len;
	/* ... or from a file when body_fd >= 0: body_len bytes at body_off. */
	int body_fd;
	off_t body_off;
	bool has_body;               /* send a body (possibly empty) */
	long timeout_ms;             /* the whole request at most; 0: only
					the pool's connect and stall limits */
};

struct http_header {
	char *name;  /* lower-cased */
	char *value; /* trimmed */
};

/*
 * Where a 2xx body goes.  Non-2xx bodies always go to resp->err_body
 * (capped) so s3.c can read the <Error> document.
 */
enum http_sink_kind { HTTP_SINK_BUFFER, HTTP_SINK_MEMORY, HTTP_SINK_FD };

struct http_response {
	long status;
	struct http_header *headers;
	size_t nheaders;
	/* sink for 2xx bodies */
	enum http_sink_kind sink;
	size_t max_body;   /* HTTP_SINK_BUFFER: larger bodies fail -EOVERFLOW */
	char *mem;         /* HTTP_SINK_MEMORY: caller's buffer ... */
	size_t mem_cap;    /* ... of this size; more data fails -EOVERFLOW */
	int fd;            /* HTTP_SINK_FD: written with pwrite ... */
	off_t fd_off;      /* ... starting here ... */
	uint64_t fd_max;   /* ... at most this many bytes (0: no limit);
			      more fail -EOVERFLOW, unwritten */
	bool want_md5;     /* compute body_md5 over a 2xx body */
	/* results */
	char *body;        /* HTTP_SINK_BUFFER body, NUL-terminated, owned */
	size_t body_len;   /* bytes received into any sink */
	unsigned char body_md5[16]; /* with want_md5: MD5 of those bytes */
	char *err_body;    /* non-2xx body, NUL-terminated, owned */
	size_t err_len;
	char errmsg[256];  /* transport error text for messages */
	bool cert_error;   /* with -EPROTO: the server's certificate was
			      refused (unknown CA, another host name) or
			      the CA file/directory could not be read */
};

/* Zero a response and choose its sink. */
void http_response_init(struct http_response *resp, enum http_sink_kind sink);
void http_response_release(struct http_response *resp);

/* Value of a response header (name lower-case), or NULL. */
const char *http_response_header(const struct http_response *resp,
				 const char *name);

/*
 * Perform one request.  Returns 0 when an HTTP answer arrived completely
 * (any status: look at resp->status), or a negative errno for transport
 * failures: -ECONNREFUSED, -EHOSTUNREACH (name not resolved), -ETIMEDOUT,
 * -ECONNRESET (connection lost, truncated body), -EPROTO (TLS or protocol),
 * -EOVERFLOW (body larger than the sink), -EIO (local file I/O), -ENOMEM.
 * resp->errmsg then says what happened (and resp->cert_error whether a
 * certificate was refused).
 */
int http_perform(struct http_pool *pool, const struct http_request *req,
		 struct http_response *resp);

/* Is a transport error worth retrying? */
bool http_error_is_transient(int err);

/* Append "Name: value" to a curl header list; false on ENOMEM. */
bool http_add_header(struct curl_slist **list, const char *name,
		     const char *value);

/* Call once in main() before any thread, and at exit. */
int http_global_init(void);
void http_global_cleanup(void);

#endif
