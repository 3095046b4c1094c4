/*
 * conf.h - r2fs's configuration: one struct filled by main()'s fuse_opt
 * table, then checked and completed by conf_finish().
 *
 * The checks are pure (no I/O besides access() of ca_file and ca_path;
 * the cache dir and passwd file are checked elsewhere) so they are
 * unit-tested.  Errors come back as one
 * sentence in a caller-provided buffer, ready to print.
 */
#ifndef R2FS_CONF_H
#define R2FS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONF_UNSET ((unsigned)-1)

struct r2fs_conf {
	/* positional */
	char *bucket;      /* "my-bucket" */
	char *prefix;      /* "" or "some/dir/" (always ends in '/') */
	char *mountpoint;
	/* where */
	char *endpoint;    /* "https://host[:port]" without trailing '/' */
	char *account_id;
	char *jurisdiction;
	char *region;
	/* who */
	char *profile;
	char *passwd_file;
	/* TLS: CAs to trust instead of the system's (NULL: the system's) */
	char *ca_file;
	char *ca_path;
	char *checksum; /* "crc32c" (NULL: the default) or "md5" */
	double key_write_interval; /* s between writes of one key (R2: 1) */
	/* local */
	char *cache_dir;
	/* attributes of objects without metadata */
	unsigned uid, gid; /* CONF_UNSET: the mounting user's */
	unsigned umask;
	/* caches and network */
	double stat_timeout; /* seconds our attribute cache trusts a HEAD */
	double dir_timeout;  /* seconds a directory listing stays valid */
	unsigned retries;
	unsigned connect_timeout; /* seconds */
	unsigned http_handles;    /* 0: what the mount's workers need */
	unsigned readahead_max_mb; /* read-ahead memory of the mount */
	unsigned max_inodes; /* files and directories the kernel may keep */
	/* write-back */
	double writeback_delay;   /* quiet period before an upload, s */
	unsigned upload_workers;  /* parallel uploads */
	unsigned multipart_threshold_mb; /* larger files go multipart */
	int sync_upload;          /* close() waits for the upload */
	int no_dir_index;         /* neither read nor write directory
				     indexes in the bucket (dirindex.h) */
	int read_only;            /* -o ro: the kernel refuses writes; r2fs
				     writes nothing of its own either */
	unsigned cache_min_free_mb; /* 0: min(1 GiB, 5% of the disk) */
	unsigned read_cache_size_mb; /* readcache.h; 0: off; CONF_UNSET:
					min(10 GiB, 10% of the free space) */
	int debug;
	/* the mount point and the mount-time check */
	int nonempty;             /* -o nonempty: mount over files */
	unsigned mount_timeout;   /* seconds the check may take in all */
	/* orchestrators (containers, systemd, Kubernetes) */
	unsigned drain_timeout;   /* seconds the uploads after an unmount
				     or SIGTERM may take; 0: no bound */
	char *metrics;            /* NULL, an absolute Unix socket path,
				     or a loopback HOST:PORT (metrics.h) */
	/* logging */
	char *log_file;           /* NULL: stderr, syslog or the fallback */
	char *log_level;          /* "error", "warn", "info", "debug" or
				     NULL (info; debug with -d) */
};

/* Set every default; strings NULL. */
void conf_init(struct r2fs_conf *c);
void conf_release(struct r2fs_conf *c);

/*
 * Split "BUCKET[:/PREFIX]" (also "BUCKET:PREFIX") into c->bucket and
 * c->prefix.  0 or -EINVAL with a sentence in err.
 */
int conf_set_bucket_arg(struct r2fs_conf *c, const char *arg, char *err,
			size_t errlen);

/* Is name a bucket name S3 and R2 accept (3-63 of [a-z0-9.-], ...)? */
bool conf_bucket_name_ok(const char *name);

/*
 * Check the options against each other and fill derived values: the
 * endpoint from account_id/jurisdiction, the default region "auto", the
 * default cache dir.  0 or -EINVAL with one sentence in err.
 */
int conf_finish(struct r2fs_conf *c, char *err, size_t errlen);

/*
 * The default cache directory, as conf_finish() chooses it: /var/cache/r2fs
 * for root, else $XDG_CACHE_HOME/r2fs (when absolute), else
 * ~/.cache/r2fs.  Into buf of len bytes; false if it does not fit.
 */
bool conf_default_cache_dir(char *buf, size_t len);

/*
 * For clients other than the mount (the r2 program): the same checks of
 * endpoint, account_id, jurisdiction and region as conf_finish() (the
 * endpoint derived the same way, region "auto" by default), plus retries,
 * connect_timeout and http_handles; no bucket, mount point or cache
 * directory needed.  Messages name the options as --endpoint,
 * --account-id, ...  0 or -EINVAL with one sentence in err.
 */
int conf_finish_client(struct r2fs_conf *c, char *err, size_t errlen);

#endif
