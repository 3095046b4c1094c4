/*
 * wbcache.c - the write-back state machine and its upload workers.
 *
 * Each file with something to upload has an entry (struct wb_file); the
 * ones waiting for upload are on the pending list.  Per-entry state
 * machine (all fields under wb->lock):
 *
 *   state      event                          next        action
 *   ---------  -----------------------------  ----------  ----------------
 *   CLEAN      write/truncate/chmod/rename    DIRTY       gen++
 *   DIRTY      change                         DIRTY       gen++
 *   DIRTY      close (wb_commit)              DIRTY       record; pending;
 *                                                         due = now+delay
 *   CLEAN      chmod/utime/xattr of an        DIRTY       gen++; pending;
 *              uploaded file or a directory                due = now+delay
 *              (wb_touch_meta)                            (no record)
 *   DIRTY      due, no writer, no hold        UPLOADING   PUT / multipart,
 *                                                         or COPY / marker
 *                                                         PUT (metadata)
 *   ERROR      due (backoff), no writer       UPLOADING   retry
 *   UPLOADING  success, gen unchanged         CLEAN       record removed;
 *                                                         off pending;
 *                                                         owner told
 *   UPLOADING  success, changed meanwhile     DIRTY       due = now+delay;
 *                                                         owner told
 *   UPLOADING  conflict (412): ours saved     CLEAN or    as success; the
 *              under a conflict name          DIRTY       conflict path
 *                                                         kept for state
 *   UPLOADING  owner says gone (unlinked)     CLEAN       nothing sent
 *   UPLOADING  failure                        ERROR       attempts++;
 *                                                         due = backoff
 *   any but    wb_forget (unlink, replaced)   CLEAN       record removed;
 *   UPLOADING                                             off pending
 *
 * Invariants: an UPLOADING entry has exactly one uploader, which holds
 * its stage's lock for writing (writes wait) and a reference; after the
 * upload the entry stays busy (reporting) until the owner has been told,
 * so reports of one file never overtake each other; a held entry (wb_hold)
 * starts no upload; an entry is never dropped on failure: it stays ERROR
 * and pending until it uploads or is forgotten.  The pending list holds
 * a reference on each entry; the owner holds one until wb_file_release.
 */
#include "wbcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "stage.h"
#include "store.h"
#include "upload.h"
#include "util.h"

#define WB_BACKOFF_MAX 300.0 /* seconds between retries, at most */
/* seconds within which a metadata change of a closed, pending file is
 * written to its record (wb_commit_meta) */
#define WB_RECORD_DELAY 0.1
#define WB_SPACE_CHECK_EVERY (8u << 20)
#define WB_SPACE_WAIT_MAX 60

struct outcome;

struct wb_file {
	unsigned refs;
	void *owner;          /* NULL: released (or not adopted yet) */
	char *path;           /* for logs and wb_sync_tree */
	struct stage *stage;  /* a reference; NULL: metadata alone */
	uint64_t id;          /* names data/ID and rec/ID; 0: none */
	enum wb_state state;
	uint64_t gen;         /* bumped by every change not yet uploaded */
	uint64_t committed;   /* gen as of the last journal record */
	double due;           /* monotonic time the upload may start */
	unsigned attempts;
	int err;              /* last upload error (negative errno) or 0 */
	enum journal_base base; /* what the upload may replace */
	char base_etag[JOURNAL_ETAG_MAX];
	char *conflict;       /* path our version was saved under after a
				 conflict, until the next change; or NULL */
	uint64_t size;        /* bytes as last recorded */
	unsigned writers;     /* open handles that may write */
	unsigned holds;       /* wb_hold: no upload may start */
	unsigned forgets;     /* wb_forget calls: a commit that saw another
				 count must not queue the file */
	bool data_dirty;      /* bytes changed since the last full commit */
	bool record_stale;    /* metadata changed since the record was
				 written (wb_commit_meta): a worker writes
				 it again by record_due */
	unsigned stale_gen;   /* bumped by each wb_commit_meta */
	double record_due;
	bool rewriting;       /* a worker writes the record now */
	bool reporting;       /* an upload's outcome is being told */
	struct outcome *outcome; /* while reporting: what it is */
	bool pending;         /* on the pending list (holds a reference) */
	struct wb_file *prev, *next;
};

struct wb {
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* state changes, for callers waiting on
				       an entry; under lock */
	pthread_cond_t work;        /* something may be due, for workers */
	struct journal *j;
	struct store *store;
	const struct wb_owner_ops *ops;
	void *ops_arg;
	struct wb_opts o;
	char *prefix;
	struct wb_file *pending;    /* list head; under lock */
	size_t npending;            /* under lock */
	unsigned uploading;         /* in-flight uploads; under lock */
	uint64_t upload_failures;   /* upload attempts that failed; under
				       lock */
	bool stopping;              /* under lock */
	bool draining;              /* under lock */
	pthread_t *threads;
	unsigned nthreads;
	uint64_t unchecked;         /* atomic: written since last statvfs */
};

void wb_desc_release(struct wb_desc *d)
{
	free(d->path);
	free(d->xattrs);
	d->path = NULL;
	d->xattrs = NULL;
}

/*
 * Locked.  Something may have become due: wake one worker (it wakes the
 * next when it found work, so a burst reaches as many as it needs), or
 * all when many entries became due at once.  Workers wait on their own
 * condition: a commit wakes no herd of workers to scan the pending list.
 */
static void wake_workers(struct wb *wb, bool all)
{
	if (all)
		pthread_cond_broadcast(&wb->work);
	else
		pthread_cond_signal(&wb->work);
}

/* ---- entries (locked unless said) ---- */

static void file_put_locked(struct wb_file *wf)
{
	if (--wf->refs)
		return;
	stage_put(wf->stage);
	free(wf->path);
	free(wf->conflict);
	free(wf);
}

static void pending_add(struct wb *wb, struct wb_file *wf)
{
	if (wf->pending)
		return;
	wf->pending = true;
	wf->refs++;
	wf->prev = NULL;
	wf->next = wb->pending;
	if (wb->pending)
		wb->pending->prev = wf;
	wb->pending = wf;
	wb->npending++;
}

static void pending_del(struct wb *wb, struct wb_file *wf)
{
	if (!wf->pending)
		return;
	if (wf->prev)
		wf->prev->next = wf->next;
	else
		wb->pending = wf->next;
	if (wf->next)
		wf->next->prev = wf->prev;
	wf->prev = wf->next = NULL;
	wf->pending = false;
	wb->npending--;
	file_put_locked(wf);
}

static bool file_busy(const struct wb_file *wf)
{
	return wf->state == WB_UPLOADING || wf->reporting || wf->rewriting;
}

struct wb_file *wb_file_new(struct wb *wb, void *owner, const char *path)
{
	struct wb_file *wf = calloc(1, sizeof(*wf));

	(void)wb;
	if (!wf)
		return NULL;
	wf->path = strdup(path);
	if (!wf->path) {
		free(wf);
		return NULL;
	}
	wf->refs = 1;
	wf->owner = owner;
	return wf;
}

void wb_file_release(struct wb *wb, struct wb_file *wf)
{
	if (!wf)
		return;
	pthread_mutex_lock(&wb->lock);
	wf->owner = NULL;
	file_put_locked(wf);
	pthread_mutex_unlock(&wb->lock);
}

struct wb_file *wb_file_get(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	wf->refs++;
	pthread_mutex_unlock(&wb->lock);
	return wf;
}

void wb_file_put(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	file_put_locked(wf);
	pthread_mutex_unlock(&wb->lock);
}

void wb_file_set_owner(struct wb *wb, struct wb_file *wf, void *owner)
{
	pthread_mutex_lock(&wb->lock);
	wf->owner = owner;
	pthread_mutex_unlock(&wb->lock);
}

int wb_file_new_stage(struct wb *wb, struct stage **out, uint64_t *id)
{
	return journal_stage_create(wb->j, out, id);
}

void wb_file_set_stage(struct wb *wb, struct wb_file *wf, struct stage *st,
		       uint64_t id)
{
	pthread_mutex_lock(&wb->lock);
	stage_put(wf->stage);
	wf->stage = stage_get(st);
	wf->id = id;
	pthread_mutex_unlock(&wb->lock);
}

void wb_file_set_writers(struct wb *wb, struct wb_file *wf, unsigned n)
{
	pthread_mutex_lock(&wb->lock);
	wf->writers = n;
	pthread_mutex_unlock(&wb->lock);
}

int wb_file_set_path(struct wb *wb, struct wb_file *wf, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&wb->lock);
	free(wf->path);
	wf->path = p;
	pthread_mutex_unlock(&wb->lock);
	return 0;
}

static void set_base_locked(struct wb_file *wf, enum journal_base base,
			    const char *etag)
{
	/* an ETag we cannot write down in a record is no condition */
	if (base == JOURNAL_BASE_ETAG &&
	    (!etag || !etag[0] || strlen(etag) >= sizeof(wf->base_etag) ||
	     strpbrk(etag, " \t\r\n")))
		base = JOURNAL_BASE_ANY;
	wf->base = base;
	if (base == JOURNAL_BASE_ETAG)
		snprintf(wf->base_etag, sizeof(wf->base_etag), "%s", etag);
	else
		wf->base_etag[0] = '\0';
}

void wb_file_set_base(struct wb *wb, struct wb_file *wf,
		      enum journal_base base, const char *etag)
{
	pthread_mutex_lock(&wb->lock);
	set_base_locked(wf, base, etag);
	pthread_mutex_unlock(&wb->lock);
}

enum journal_base wb_file_base(struct wb *wb, const struct wb_file *wf,
			       char *etag, size_t len)
{
	enum journal_base b;

	pthread_mutex_lock(&wb->lock);
	b = wf->base;
	snprintf(etag, len, "%s", wf->base_etag);
	pthread_mutex_unlock(&wb->lock);
	return b;
}

enum wb_state wb_file_state(struct wb *wb, const struct wb_file *wf)
{
	enum wb_state s;

	if (!wf)
		return WB_CLEAN;
	pthread_mutex_lock(&wb->lock);
	s = wf->state;
	pthread_mutex_unlock(&wb->lock);
	return s;
}

bool wb_file_settled(struct wb *wb, const struct wb_file *wf)
{
	bool r;

	pthread_mutex_lock(&wb->lock);
	/* a conflict is shown (wb_file_state_string) until the next
	 * change: the entry stays for it */
	r = wf->state == WB_CLEAN && !wf->pending && !wf->holds &&
	    !wf->conflict;
	pthread_mutex_unlock(&wb->lock);
	return r;
}

bool wb_file_pending(struct wb *wb, const struct wb_file *wf)
{
	bool p;

	if (!wf)
		return false;
	pthread_mutex_lock(&wb->lock);
	p = wf->pending;
	pthread_mutex_unlock(&wb->lock);
	return p;
}

bool wb_file_uncommitted(struct wb *wb, const struct wb_file *wf)
{
	bool u;

	if (!wf)
		return false;
	pthread_mutex_lock(&wb->lock);
	u = wf->state != WB_CLEAN && wf->committed != wf->gen;
	pthread_mutex_unlock(&wb->lock);
	return u;
}

void wb_file_state_string(struct wb *wb, const struct wb_file *wf,
			  char *buf, size_t len)
{
	if (!wf) {
		snprintf(buf, len, "clean");
		return;
	}
	pthread_mutex_lock(&wb->lock);
	switch (wf->state) {
	case WB_DIRTY:
		snprintf(buf, len, "dirty");
		break;
	case WB_UPLOADING:
		snprintf(buf, len, "uploading");
		break;
	case WB_ERROR:
		snprintf(buf, len, "error: %s", strerror(-wf->err));
		break;
	default:
		if (wf->conflict)
			snprintf(buf, len, "conflict: saved as %s",
				 wf->conflict);
		else
			snprintf(buf, len, "clean");
	}
	pthread_mutex_unlock(&wb->lock);
}

/* ---- setup ---- */

static int adopt_record(void *arg, uint64_t id, struct journal_record *r,
			struct stage *st)
{
	struct wb *wb = arg;
	struct wb_desc d = { 0 };
	struct wb_file *wf = wb_file_new(wb, NULL, r->path);
	int rc;

	if (!wf) {
		stage_put(st);
		return -ENOMEM;
	}
	wf->stage = stage_get(st);
	wf->id = id;
	wf->state = WB_DIRTY;
	wf->gen = 1;
	wf->committed = 1;
	wf->due = 0;
	wf->size = r->size;
	set_base_locked(wf, r->base, r->base_etag);
	d.path = r->path;
	d.attr.st_mode = r->mode;
	d.attr.st_uid = r->uid;
	d.attr.st_gid = r->gid;
	d.attr.st_mtim = r->mtime;
	d.size = r->size;
	d.xattrs = r->xattrs;
	rc = wb->ops->adopt(wb->ops_arg, wf, &d, st);
	pthread_mutex_lock(&wb->lock);
	if (!rc) {
		/* the owner keeps the reference we made it with */
		pending_add(wb, wf);
		log_info("journal: %s from an earlier run will be uploaded",
			 r->path);
	} else {
		file_put_locked(wf);
	}
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

int wb_new(const struct wb_opts *o, struct store *store,
	   const struct wb_owner_ops *ops, void *arg, char *err,
	   size_t errlen, struct wb **out)
{
	struct journal_opts jo = {
		.cache_dir = o->cache_dir,
		.endpoint = o->endpoint,
		.bucket = o->bucket,
		.prefix = o->prefix,
		.min_free = o->min_free,
	};
	struct wb *wb = calloc(1, sizeof(*wb));
	int rc;

	if (!wb)
		return -ENOMEM;
	pthread_mutex_init(&wb->lock, NULL);
	pthread_cond_init(&wb->cond, NULL);
	pthread_cond_init(&wb->work, NULL);
	wb->store = store;
	wb->ops = ops;
	wb->ops_arg = arg;
	wb->o = *o;
	wb->prefix = strdup(o->prefix);
	if (!wb->prefix) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = journal_open(&jo, err, errlen, &wb->j);
	if (rc)
		goto fail;
	*out = wb;
	return 0;
fail:
	wb_free(wb);
	return rc;
}

int wb_replay(struct wb *wb)
{
	return journal_replay(wb->j, adopt_record, wb);
}

void wb_free(struct wb *wb)
{
	if (!wb)
		return;
	/* entries still pending keep their records and data for the next
	 * mount (their stages are kept) */
	pthread_mutex_lock(&wb->lock);
	while (wb->pending)
		pending_del(wb, wb->pending);
	pthread_mutex_unlock(&wb->lock);
	journal_close(wb->j);
	pthread_cond_destroy(&wb->cond);
	pthread_cond_destroy(&wb->work);
	pthread_mutex_destroy(&wb->lock);
	free(wb->threads);
	free(wb->prefix);
	free(wb);
}

struct journal *wb_journal(struct wb *wb)
{
	return wb->j;
}

void wb_kick(struct wb *wb)
{
	pthread_mutex_lock(&wb->lock);
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, false);
	pthread_mutex_unlock(&wb->lock);
}

/* ---- changes and commits ---- */

void wb_touch(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	free(wf->conflict);
	wf->conflict = NULL;
	wf->gen++;
	if (wf->state == WB_CLEAN || wf->state == WB_ERROR)
		wf->state = WB_DIRTY;
	pthread_mutex_unlock(&wb->lock);
}

void wb_touch_data(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	wf->data_dirty = true;
	pthread_mutex_unlock(&wb->lock);
	wb_touch(wb, wf);
}

int wb_commit_meta(struct wb *wb, struct wb_file *wf)
{
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	if (!wf->stage || wf->state == WB_CLEAN) {
		rc = 0; /* as wb_commit: nothing to write down */
	} else if (!wf->pending || !wf->committed || wf->data_dirty) {
		rc = -EAGAIN; /* no record yet, or new bytes: a full commit */
	} else {
		/* the record holds whole, fsync'ed data already: what
		 * changed is what describe() tells, written within
		 * WB_RECORD_DELAY by a worker */
		wf->committed = wf->gen;
		wf->record_stale = true;
		wf->stale_gen++;
		wf->record_due = util_now_mono() + WB_RECORD_DELAY;
		wf->due = util_now_mono() + wb->o.delay;
		wake_workers(wb, false);
	}
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

void wb_touch_meta(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	free(wf->conflict);
	wf->conflict = NULL;
	wf->gen++;
	if (wf->state == WB_CLEAN || wf->state == WB_ERROR)
		wf->state = WB_DIRTY;
	wf->committed = wf->gen; /* nothing to write down */
	wf->due = util_now_mono() + wb->o.delay;
	pending_add(wb, wf);
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, false);
	pthread_mutex_unlock(&wb->lock);
}

/* Ask wf's owner what the file is; a released entry is gone. */
static int describe(struct wb *wb, struct wb_file *wf, struct wb_desc *d)
{
	void *owner;

	memset(d, 0, sizeof(*d));
	pthread_mutex_lock(&wb->lock);
	owner = wf->owner;
	pthread_mutex_unlock(&wb->lock);
	if (!owner) {
		d->gone = true;
		return 0;
	}
	return wb->ops->describe(wb->ops_arg, owner, d);
}

int wb_commit(struct wb *wb, struct wb_file *wf)
{
	struct journal_record r = { 0 };
	struct wb_desc d = { 0 };
	struct stage *st;
	uint64_t gen, id;
	unsigned forgets;
	int rc;

	pthread_mutex_lock(&wb->lock);
	if (!wf->stage || wf->state == WB_CLEAN ||
	    (wf->committed == wf->gen && wf->pending)) {
		pthread_mutex_unlock(&wb->lock);
		return 0;
	}
	st = stage_get(wf->stage);
	gen = wf->gen;
	id = wf->id;
	forgets = wf->forgets;
	r.base = wf->base;
	snprintf(r.base_etag, sizeof(r.base_etag), "%s", wf->base_etag);
	pthread_mutex_unlock(&wb->lock);
	rc = describe(wb, wf, &d);
	if (rc || d.gone)
		goto out;
	/* a record describes whole data on disk: fetch what a stage made
	 * from an object still lacks (the object may change or go later) */
	rc = stage_complete(st, wb->store);
	if (!rc && fsync(st->fd) < 0)
		rc = -errno;
	/* the record must not outlive the name of the data it points to
	 * (a power cut may lose a new directory entry not fsync'ed) */
	if (!rc && !st->named) {
		rc = journal_sync_names(wb->j);
		if (!rc)
			st->named = true;
	}
	if (!rc) {
		r.path = d.path;
		r.mode = d.attr.st_mode;
		r.uid = d.attr.st_uid;
		r.gid = d.attr.st_gid;
		r.mtime = d.attr.st_mtim;
		r.size = d.size;
		r.xattrs = d.xattrs ? d.xattrs : "";
		rc = journal_record_write(wb->j, id, &r);
	}
	pthread_mutex_lock(&wb->lock);
	if (rc == 0 && wf->forgets != forgets) {
		/* unlinked or replaced while the record was written: it
		 * must not stay, nor the file be queued */
		journal_record_remove(wb->j, id);
	} else if (rc == 0) {
		if (gen > wf->committed)
			wf->committed = gen;
		if (gen == wf->gen) {
			wf->data_dirty = false;
			wf->record_stale = false;
		}
		st->keep = true;
		wf->size = d.size;
		wf->due = util_now_mono() + wb->o.delay;
		pending_add(wb, wf);
		pthread_cond_broadcast(&wb->cond);
		wake_workers(wb, false);
	} else {
		log_err("journal: cannot commit %s: %s", d.path,
			strerror(-rc));
	}
	pthread_mutex_unlock(&wb->lock);
out:
	wb_desc_release(&d);
	stage_put(st);
	return rc;
}

/* ---- uploads ---- */

static double backoff(unsigned attempts)
{
	double d = 1.0;

	while (attempts-- > 1 && d < WB_BACKOFF_MAX)
		d *= 2;
	return d < WB_BACKOFF_MAX ? d : WB_BACKOFF_MAX;
}

/* What one upload of an entry achieved, until it becomes the entry's
 * state (settle). */
struct outcome {
	bool data;       /* contents (else metadata alone) */
	uint64_t gen;    /* the entry's generation when it began */
	int rc;
	const struct upload_result *res;
	const char *path;
	uint64_t size;
	bool settled;
};

/* Locked: make the outcome o of an upload of wf its state. */
static void settle(struct wb *wb, struct wb_file *wf, struct outcome *o)
{
	const struct upload_result *res = o->res;

	if (o->settled)
		return;
	o->settled = true;
	if (o->rc) {
		/* said at the 1st, 2nd, 4th, 8th... failure in a row, and
		 * when the reason changes: a refusal that lasts (a missing
		 * permission, a bucket lock) is not a line a minute */
		bool say = (wf->attempts & (wf->attempts + 1)) == 0 ||
			   wf->err != o->rc;

		wb->upload_failures++;
		wf->state = WB_ERROR;
		wf->err = o->rc;
		wf->attempts++;
		wf->due = util_now_mono() + backoff(wf->attempts);
		if (!say)
			log_debug("upload of %s failed (attempt %u): %s",
				  o->path, wf->attempts, strerror(-o->rc));
		else if (o->data)
			log_err("upload of %s failed (attempt %u): %s; %s",
				o->path, wf->attempts, strerror(-o->rc),
				wf->pending ? "will retry"
					    : "kept in the journal");
		else
			log_err("metadata of %s could not be updated "
				"(attempt %u): %s; will retry", o->path,
				wf->attempts, strerror(-o->rc));
		return;
	}
	wf->attempts = 0;
	wf->err = 0;
	if (o->data && res->conflict) {
		/* the object at path is the other client's: its version
		 * is unknown here; later uploads still go over the base we
		 * had (and conflict again) */
		free(wf->conflict);
		wf->conflict = strdup(res->conflict);
	} else if (o->data) {
		set_base_locked(wf, JOURNAL_BASE_ETAG, res->etag);
	}
	if (!o->data && res->gone)
		log_info("%s is gone from the bucket; its new metadata is "
			 "dropped", o->path);
	if (wf->gen == o->gen && wf->committed == o->gen &&
	    (o->data || !wf->stage)) {
		wf->state = WB_CLEAN;
		if (o->data) {
			wf->stage->keep = false;
			journal_record_remove(wb->j, wf->id);
			wf->record_stale = false;
		}
		pending_del(wb, wf); /* our caller holds a reference */
	} else {
		wf->state = WB_DIRTY; /* changed meanwhile */
		wf->due = util_now_mono() + wb->o.delay;
	}
	if (o->data)
		log_debug("uploaded %s (%llu bytes)", o->path,
			  (unsigned long long)o->size);
}

enum wb_state wb_file_finish(struct wb *wb, struct wb_file *wf)
{
	enum wb_state s;

	pthread_mutex_lock(&wb->lock);
	if (wf->outcome)
		settle(wb, wf, wf->outcome);
	s = wf->state;
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(&wb->lock);
	return s;
}

/*
 * The staged data is what r2fs wrote there: as long as the description
 * says (nothing cut it short or added to it behind our back).  Under the
 * stage's lock held for writing, so no write of ours is half done.  A
 * stage that fails is not uploaded: -EIO, said each time it is tried
 * (the journal keeps it for someone to look at).
 */
static int stage_check(struct stage *st, const char *path, uint64_t size)
{
	struct stat sb;

	if (fstat(st->fd, &sb) < 0)
		return -errno;
	if ((uint64_t)sb.st_size == size)
		return 0;
	log_err("the staged data of %s (%s) is %llu bytes where r2fs wrote "
		"%llu: changed outside r2fs; not uploaded, kept in the "
		"journal", path, st->path, (unsigned long long)sb.st_size,
		(unsigned long long)size);
	return -EIO;
}

/*
 * Upload wf, which the caller has claimed (state UPLOADING, a reference
 * held).  With commit, write the journal record first (fsync).  Takes
 * the stage's lock for writing, so no write lands while its bytes go up.
 */
static int upload_claimed(struct wb *wb, struct wb_file *wf, bool commit)
{
	struct upload_result res = { .gone = false };
	struct wb_desc d = { 0 };
	struct upload_req req;
	struct wb_uploaded u;
	struct stage *st;
	uint64_t gen = 0;
	char base_etag[JOURNAL_ETAG_MAX];
	void *owner = NULL;
	struct outcome o;
	bool let_go;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	st = wf->stage ? stage_get(wf->stage) : NULL;
	pthread_mutex_unlock(&wb->lock);
	if (st)
		pthread_rwlock_wrlock(&st->lock);
	if (commit && st) {
		/* wb_commit skips CLEAN files: keep our claim meanwhile */
		rc = wb_commit(wb, wf);
		if (rc)
			goto unlock;
	}
	rc = describe(wb, wf, &d);
	if (rc || d.gone)
		goto unlock;
	if (st) {
		rc = stage_check(st, d.path, d.size);
		if (rc)
			goto unlock;
	}
	pthread_mutex_lock(&wb->lock);
	gen = wf->gen;
	memset(&req, 0, sizeof(req));
	req.base = wf->base;
	snprintf(base_etag, sizeof(base_etag), "%s", wf->base_etag);
	pthread_mutex_unlock(&wb->lock);
	req.prefix = wb->prefix;
	req.path = d.path;
	req.stage = st;
	req.size = d.size;
	req.attr = &d.attr;
	req.xattrs = d.xattrs;
	req.base_etag = base_etag;
	req.multipart_threshold = wb->o.multipart_threshold;
	req.part_parallel = wb->o.part_parallel;
	rc = upload_run(wb->store, &req, &res);
	if (!rc && res.conflict)
		log_warn("%s was changed in the bucket by another client; "
			 "kept that version and saved ours as %s", d.path,
			 res.conflict);
unlock:
	if (st)
		pthread_rwlock_unlock(&st->lock);

	o = (struct outcome){
		.data = st != NULL, .gen = gen, .rc = rc, .res = &res,
		.path = d.path ? d.path : wf->path, .size = d.size,
	};
	pthread_mutex_lock(&wb->lock);
	if (!rc && (d.gone || !d.path)) {
		/* unlinked meanwhile: nothing to do, nothing to wait for */
		wf->state = WB_CLEAN;
		pending_del(wb, wf); /* our caller holds a reference */
	} else if (!rc && wf->owner) {
		/* the owner makes the outcome the state (wb_file_finish)
		 * under its own lock, so it never sees one without the
		 * other; until then the entry stays UPLOADING */
		owner = wf->owner;
		wf->outcome = &o;
		wf->reporting = true;
	} else {
		settle(wb, wf, &o);
	}
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, false);
	pthread_mutex_unlock(&wb->lock);
	if (owner) {
		u = (struct wb_uploaded){
			.data = st != NULL,
			.etag = res.conflict ? "" : res.etag,
			.size = d.size,
			.conflict = res.conflict,
			.xattrs = res.xattrs,
		};
		let_go = wb->ops->uploaded(wb->ops_arg, owner, wf, &u);
		pthread_mutex_lock(&wb->lock);
		settle(wb, wf, &o); /* if the owner did not */
		wf->outcome = NULL;
		wf->reporting = false;
		if (let_go) {
			wf->owner = NULL;
			file_put_locked(wf); /* the owner's; ours remains */
		}
		pthread_cond_broadcast(&wb->cond);
		wake_workers(wb, false);
		pthread_mutex_unlock(&wb->lock);
	}
	upload_result_release(&res);
	wb_desc_release(&d);
	stage_put(st);
	return rc;
}

/*
 * Write wf's record again after metadata changes (wb_commit_meta), the
 * caller having claimed it (rewriting, a reference held).  Its data was
 * whole and fsync'ed at the last full commit: only the record changes.
 * Under the stage's lock, as a commit, so no byte changes meanwhile.
 */
static void rewrite_record(struct wb *wb, struct wb_file *wf)
{
	struct journal_record r = { 0 };
	struct wb_desc d = { 0 };
	struct stage *st = NULL;
	unsigned stale_gen = 0, forgets = 0;
	uint64_t id = 0;
	bool go;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	go = wf->record_stale && wf->stage && wf->state != WB_CLEAN;
	if (go)
		st = stage_get(wf->stage);
	pthread_mutex_unlock(&wb->lock);
	if (!go)
		return;
	pthread_rwlock_wrlock(&st->lock);
	pthread_mutex_lock(&wb->lock);
	go = wf->record_stale && wf->state != WB_CLEAN && !wf->data_dirty;
	stale_gen = wf->stale_gen;
	forgets = wf->forgets;
	id = wf->id;
	r.base = wf->base;
	snprintf(r.base_etag, sizeof(r.base_etag), "%s", wf->base_etag);
	pthread_mutex_unlock(&wb->lock);
	if (go)
		rc = describe(wb, wf, &d);
	if (go && !rc && !d.gone) {
		r.path = d.path;
		r.mode = d.attr.st_mode;
		r.uid = d.attr.st_uid;
		r.gid = d.attr.st_gid;
		r.mtime = d.attr.st_mtim;
		r.size = d.size;
		r.xattrs = d.xattrs ? d.xattrs : "";
		rc = journal_record_write(wb->j, id, &r);
	}
	pthread_mutex_lock(&wb->lock);
	if (go && wf->forgets != forgets) {
		journal_record_remove(wb->j, id); /* gone meanwhile */
	} else if (go && rc) {
		log_err("journal: cannot write the record of %s: %s; retried",
			d.path ? d.path : wf->path, strerror(-rc));
		wf->record_due = util_now_mono() + 1.0;
	} else if (wf->stale_gen == stale_gen) {
		wf->record_stale = false;
	}
	pthread_mutex_unlock(&wb->lock);
	pthread_rwlock_unlock(&st->lock);
	wb_desc_release(&d);
	stage_put(st);
}

/* Locked: the next pending entry due for upload or, *rewrite set, for a
 * record to write again; NULL if none; *next gets the earliest future
 * due time. */
static struct wb_file *pick(struct wb *wb, double now, double *next,
			    bool *rewrite)
{
	struct wb_file *wf;

	*next = now + 3600;
	*rewrite = false;
	for (wf = wb->pending; wf; wf = wf->next) {
		if (wf->record_stale && !file_busy(wf) && !wf->holds) {
			if (wf->record_due <= now) {
				*rewrite = true;
				return wf;
			}
			if (wf->record_due < *next)
				*next = wf->record_due;
		}
		if (wf->state != WB_DIRTY && wf->state != WB_ERROR)
			continue;
		if (wf->holds || wf->reporting)
			continue; /* a namespace change is under way */
		if (wb->draining) {
			if (wf->attempts == 0 || wf->state == WB_DIRTY)
				return wf;
			continue; /* failed once while draining: stays */
		}
		if (wf->writers > 0 || wf->committed != wf->gen)
			continue; /* open again: the next close commits it */
		if (wf->due <= now)
			return wf;
		if (wf->due < *next)
			*next = wf->due;
	}
	return NULL;
}

static void *worker(void *arg)
{
	struct wb *wb = arg;
	struct timespec ts;
	struct wb_file *wf;
	double next, now;
	bool rewrite;

	pthread_mutex_lock(&wb->lock);
	while (!wb->stopping) {
		now = util_now_mono();
		wf = pick(wb, now, &next, &rewrite);
		if (wf && rewrite) {
			wf->rewriting = true;
			wf->refs++;
			pthread_mutex_unlock(&wb->lock);
			rewrite_record(wb, wf);
			pthread_mutex_lock(&wb->lock);
			wf->rewriting = false;
			file_put_locked(wf);
			pthread_cond_broadcast(&wb->cond);
			continue;
		}
		if (wf) {
			wf->state = WB_UPLOADING;
			wf->refs++;
			wb->uploading++;
			wake_workers(wb, false); /* more may be due */
			pthread_mutex_unlock(&wb->lock);
			upload_claimed(wb, wf, false);
			pthread_mutex_lock(&wb->lock);
			wb->uploading--;
			file_put_locked(wf);
			pthread_cond_broadcast(&wb->cond);
			continue;
		}
		if (wb->draining)
			break; /* nothing left that may be tried */
		clock_gettime(CLOCK_REALTIME, &ts);
		next -= now;
		if (next > 60)
			next = 60;
		ts.tv_sec += (time_t)next;
		ts.tv_nsec += (long)((next - (double)(time_t)next) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wb->work, &wb->lock, &ts);
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

int wb_start(struct wb *wb)
{
	unsigned i, n = wb->o.workers ? wb->o.workers : 1;

	wb->threads = calloc(n, sizeof(*wb->threads));
	if (!wb->threads)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (pthread_create(&wb->threads[i], NULL, worker, wb))
			break;
		wb->nthreads++;
	}
	return wb->nthreads ? 0 : -EAGAIN;
}

void wb_shutdown(struct wb *wb)
{
	struct wb_file *wf;
	size_t left = 0;
	unsigned i;

	pthread_mutex_lock(&wb->lock);
	wb->draining = true;
	for (wf = wb->pending; wf; wf = wf->next) {
		wf->due = 0;
		if (wf->state == WB_ERROR)
			wf->attempts = 0; /* one more try each */
	}
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, true);
	pthread_mutex_unlock(&wb->lock);
	if (wb->nthreads == 0)
		wb_start(wb); /* e.g. the loop never started */
	for (i = 0; i < wb->nthreads; i++)
		pthread_join(wb->threads[i], NULL);
	wb->nthreads = 0;
	pthread_mutex_lock(&wb->lock);
	wb->stopping = true;
	for (wf = wb->pending; wf; wf = wf->next)
		left++;
	pthread_mutex_unlock(&wb->lock);
	if (left)
		log_err("%zu file(s) could not be uploaded; they stay in the "
			"journal %s and go up at the next mount", left,
			journal_dir(wb->j));
}

int wb_sync(struct wb *wb, struct wb_file *wf)
{
	int rc;

	pthread_mutex_lock(&wb->lock);
	while (file_busy(wf) || wf->holds)
		pthread_cond_wait(&wb->cond, &wb->lock);
	if (wf->state == WB_CLEAN || (!wf->stage && !wf->pending)) {
		pthread_mutex_unlock(&wb->lock);
		return 0;
	}
	wf->state = WB_UPLOADING;
	wf->refs++;
	wb->uploading++;
	pthread_mutex_unlock(&wb->lock);
	rc = upload_claimed(wb, wf, true);
	pthread_mutex_lock(&wb->lock);
	wb->uploading--;
	file_put_locked(wf);
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, false);
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

int wb_sync_tree(struct wb *wb, const char *dir)
{
	struct wb_file *wf;
	bool waiting, failed = false;

	pthread_mutex_lock(&wb->lock);
	for (wf = wb->pending; wf; wf = wf->next) {
		if (util_path_below(wf->path, dir)) {
			wf->due = 0;
			wf->attempts = wf->state == WB_ERROR ? 1 : 0;
		}
	}
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, true);
	/* Wait until each file below dir is clean or has failed since. */
	do {
		waiting = false;
		failed = false;
		for (wf = wb->pending; wf; wf = wf->next) {
			if (!util_path_below(wf->path, dir))
				continue;
			if (wf->state == WB_ERROR && wf->attempts > 1)
				failed = true;
			else if (wf->writers == 0 ||
				 wf->state == WB_UPLOADING)
				waiting = true;
		}
		if (waiting)
			pthread_cond_wait(&wb->cond, &wb->lock);
	} while (waiting);
	pthread_mutex_unlock(&wb->lock);
	if (journal_stuck_below(wb->j, dir))
		failed = true;
	return failed ? -EIO : 0;
}

void wb_hold(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	wf->holds++;
	pthread_mutex_unlock(&wb->lock);
}

void wb_unhold(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	wf->holds--;
	pthread_cond_broadcast(&wb->cond);
	wake_workers(wb, false);
	pthread_mutex_unlock(&wb->lock);
}

bool wb_busy(struct wb *wb, const struct wb_file *wf)
{
	bool b;

	pthread_mutex_lock(&wb->lock);
	b = file_busy(wf);
	pthread_mutex_unlock(&wb->lock);
	return b;
}

void wb_wait_idle(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	while (file_busy(wf))
		pthread_cond_wait(&wb->cond, &wb->lock);
	pthread_mutex_unlock(&wb->lock);
}

void wb_forget(struct wb *wb, struct wb_file *wf)
{
	pthread_mutex_lock(&wb->lock);
	if (wf->id && (wf->pending || wf->committed))
		journal_record_remove(wb->j, wf->id);
	if (wf->stage)
		wf->stage->keep = false;
	wf->state = WB_CLEAN;
	wf->committed = wf->gen;
	wf->forgets++;
	wf->record_stale = false;
	free(wf->conflict);
	wf->conflict = NULL;
	pending_del(wb, wf);
	pthread_cond_broadcast(&wb->cond);
	pthread_mutex_unlock(&wb->lock);
}

void wb_for_each_pending(struct wb *wb, void (*fn)(void *arg, void *owner),
			 void *arg)
{
	struct wb_file *wf;

	pthread_mutex_lock(&wb->lock);
	for (wf = wb->pending; wf; wf = wf->next)
		if (wf->owner)
			fn(arg, wf->owner);
	pthread_mutex_unlock(&wb->lock);
}

int wb_reserve(struct wb *wb, uint64_t bytes)
{
	struct timespec ts;
	unsigned waited = 0;
	struct wb_file *wf;
	bool busy, asked = false;

	if (__atomic_add_fetch(&wb->unchecked, bytes, __ATOMIC_RELAXED) <
	    WB_SPACE_CHECK_EVERY)
		return 0;
	__atomic_store_n(&wb->unchecked, 0, __ATOMIC_RELAXED);
	while (journal_free_bytes(wb->j) < journal_min_free(wb->j) + bytes) {
		pthread_mutex_lock(&wb->lock);
		/* uploads in flight or due soon will free their files */
		busy = wb->uploading > 0;
		for (wf = wb->pending; wf && !busy; wf = wf->next)
			busy = wf->state == WB_DIRTY && wf->writers == 0;
		if (!busy && !asked && wb->o.make_room) {
			pthread_mutex_unlock(&wb->lock);
			asked = true;
			wb->o.make_room(wb->o.make_room_arg, bytes);
			continue; /* and look at the disk again */
		}
		if (!busy || waited >= WB_SPACE_WAIT_MAX) {
			pthread_mutex_unlock(&wb->lock);
			log_warn("cache directory %s is full: write refused",
				 wb->o.cache_dir);
			/* check again at the next write */
			__atomic_store_n(&wb->unchecked, WB_SPACE_CHECK_EVERY,
					 __ATOMIC_RELAXED);
			return -ENOSPC;
		}
		for (wf = wb->pending; wf; wf = wf->next)
			if (wf->state == WB_DIRTY)
				wf->due = 0; /* no quiet period now */
		pthread_cond_broadcast(&wb->cond);
		wake_workers(wb, true);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&wb->cond, &wb->lock, &ts);
		pthread_mutex_unlock(&wb->lock);
		waited++;
	}
	return 0;
}

uint64_t wb_upload_failures(struct wb *wb)
{
	uint64_t n;

	pthread_mutex_lock(&wb->lock);
	n = wb->upload_failures;
	pthread_mutex_unlock(&wb->lock);
	return n;
}

void wb_pending_stats(struct wb *wb, size_t *files, uint64_t *bytes)
{
	struct wb_file *wf;

	*files = 0;
	*bytes = 0;
	pthread_mutex_lock(&wb->lock);
	for (wf = wb->pending; wf; wf = wf->next) {
		(*files)++;
		if (wf->stage)
			*bytes += wf->size;
	}
	pthread_mutex_unlock(&wb->lock);
}
