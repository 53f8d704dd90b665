/*
 * blockfuse.c — a generic FUSE block-file server (see include/pvnode/blockfuse.h).
 *
 * One filesystem, one regular file, served with libfuse's low-level API from our own
 * loop. The kernel's loop driver issues block-aligned asynchronous direct I/O against
 * the file and FUSE_CAP_ASYNC_DIO keeps many requests queued on /dev/fuse. A few reader
 * threads take them off the device into buffers from a pool:
 *   - an aligned READ/WRITE/FSYNC of a backend with asynchronous operations is handed
 *     to the backend at once and the reader goes on; the backend's completion (any
 *     thread) sends the reply and returns the buffer. A write's data stays where the
 *     kernel put it (the pool buffer) until it completes: no copy. Many requests are in
 *     flight, completing out of order; ordering where it matters is the kernel's: a
 *     flush reaches us only after the writes it covers were answered, and we answer a
 *     write only once the backend completed it.
 *   - everything else that may block (a backend without asynchronous operations,
 *     unaligned requests, fallocate) goes to worker threads that call the synchronous
 *     operations; lookups and attributes are answered by the reader itself.
 * More than one reader because copying a 1 MiB request off the device is the reader's
 * main cost: two cores copy two at once.
 * Unaligned requests (someone reading the file directly) go through read-modify-write
 * on bounce buffers, serialised by one mutex so two partial writes to the same block
 * cannot lose each other's bytes.
 */
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pvnode/driver/blockfuse.h"
#include "pvnode/driver/helper_stats.h"
#include "pvnode/driver/os.h"

#define BF_DEFAULT_IO (1024 * 1024)
#define BF_ZERO_CHUNK (1024 * 1024)
#define BF_MAX_INFLIGHT 64      /* background requests the kernel queues (max_background) */
/* Request buffers: each can take a 1 MiB request, but only the pages a request touches
 * are resident (and locked). At most BF_MAX_BUFS exist (bounds the helper under sustained
 * large I/O). After a second with nothing in flight, free buffers large requests touched
 * are cut back to BF_TRIM_TO bytes but for the BF_KEEP_LARGE most recently used (bounds
 * it idle); never under load: trimming whenever the queue ran empty re-faulted a
 * buffer every few requests and cost 10-40% of sequential write throughput. */
#define BF_MAX_BUFS 24
#define BF_KEEP_LARGE 1
#define BF_TRIM_TO (8 * 1024)   /* the header page and one 4 KiB block */
/* Completions of requests this large are answered by a worker, not on the backend's
 * completion thread: answering ends the kernel's request (loop and bio completion, the
 * submitter's wake-up), and one thread doing that for every 1 MiB request held
 * sequential writes at 0.75 of the old multithreaded server. Small ones are answered
 * at once: a hand-off costs more than they do. */
#define BF_REPLY_OFFLOAD (128 * 1024)
/* ... and handed to the backend by a worker too: submitting costs a copy of the data
 * (into the backend's library, into the socket) that two readers alone made the limit
 * of 1 MiB I/O through a network block backend (seq read 0.76 of its raw client with
 * two readers, 1.21 with four; but four readers cost 4 KiB requests a quarter). */
#define BF_ASYNC_WORKERS 4      /* answers of large requests, fallocate, unaligned */
#define BF_READERS 2            /* with an asynchronous backend */
#define BF_INO_ROOT 1
#define BF_INO_FILE 2

enum bf_kind { BF_READ, BF_WRITE, BF_FSYNC, BF_FALLOCATE };

/* A request that outlives the handler that received it. */
struct bf_req {
	struct bf *b;
	fuse_req_t req;
	enum bf_kind kind;
	char *buf;              /* pool buffer held: a write's data is inside it, a read lands in it */
	size_t touched;         /* bytes of buf ever touched (resident) */
	size_t prev_touched;    /* bytes of buf touched when it was taken */
	size_t bytes;           /* data counted in inflight_bytes (READ/WRITE) */
	const char *data;       /* write: the payload */
	size_t len;
	uint64_t off;
	int mode;               /* fallocate */
	uint64_t flen;
	bool answer;            /* queued for a worker only to be answered with `result` */
	bool submit;            /* queued for a worker only to be handed to the aio op */
	int result;
	struct bf_req *next;    /* worker queue */
};

struct bf {
	const struct pv_blockfuse_cfg *cfg;
	const struct pv_blockfuse_ops *ops;
	void *ctx;
	char name[256];          /* "disk" */
	bool async;              /* the backend has aio_read/aio_write/aio_flush */
	pthread_mutex_t rmw_lock;
	struct fuse_session *se;
	pthread_t readers[BF_READERS];   /* [0]: the thread of pv_blockfuse_run */
	unsigned n_readers;
	unsigned readers_done;

	/* buffer pool and in-flight accounting */
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* a buffer came back / in-flight dropped */
	pthread_cond_t job_cond; /* a job was queued / workers stop */
	size_t bufsize;
	struct bf_free { char *p; size_t touched; } *free_bufs;
	unsigned n_free, n_bufs, max_bufs, n_free_large;
	unsigned inflight;       /* bf_req not yet answered */
	/* cfg->max_inflight_bytes: the bound, the data of READs/WRITEs taken off the device
	 * and not answered, what readers about to receive set aside (max_io each); the
	 * touched bytes of buffers with more than BF_TRIM_TO touched (free or in use), and
	 * how many of those bytes may stay: a buffer coming back beyond that is cut back */
	size_t max_bytes, inflight_bytes, reserved, io;
	size_t large_bytes, max_large_bytes;
	bool active;             /* a request ended since the last idle check */
	bool heap_dirty;         /* requests ran since the heap was last trimmed */
	bool locked;             /* mlockall succeeded */
	unsigned waiting;        /* threads waiting on cond */

	/* worker threads for what blocks */
	struct bf_req *jobs, **jobs_tail;
	bool stop_workers;
	pthread_t *workers;
	unsigned n_workers;
};

static struct bf *volatile bf_cur;
static volatile sig_atomic_t bf_stopping;
static __thread char *bf_cur_buf;   /* the calling reader's buffer being processed */
static __thread size_t bf_cur_touched;

/* --- buffer pool --- */

static char *bf_buf_get(struct bf *b, size_t *touched)
{
	char *p = NULL;
	*touched = 0;
	pthread_mutex_lock(&b->lock);
	while (!b->n_free && b->n_bufs >= b->max_bufs) {
		b->waiting++;
		pthread_cond_wait(&b->cond, &b->lock);
		b->waiting--;
	}
	if (b->n_free) {
		struct bf_free *f = &b->free_bufs[--b->n_free];
		p = f->p;
		*touched = f->touched;
		if (f->touched > BF_TRIM_TO)
			b->n_free_large--;
	} else {
		/* mmap, not malloc: only the pages a request touches become resident */
		p = mmap(NULL, b->bufsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
		else
			b->n_bufs++;
	}
	pthread_mutex_unlock(&b->lock);
	return p;
}

static bool bf_cut_tail(char *p, size_t bufsize)
{
	char *tail = p + BF_TRIM_TO;
	size_t n = bufsize - BF_TRIM_TO;
	bool ok = munlock(tail, n) == 0 && madvise(tail, n, MADV_DONTNEED) == 0;
	if (mlock2(tail, n, MLOCK_ONFAULT) < 0) { /* stays unlocked: still usable */ }
	return ok;
}

/* Most recently used first: a steady load keeps touching the same few buffers. Under a
 * bound on bytes in flight, a buffer that would make the large buffers' touched bytes
 * pass max_large_bytes is cut back now (small requests landing in large buffers would
 * otherwise keep every buffer of the pool at 1 MiB under a mixed load). The budget is in
 * bytes, not buffers: 512 KiB reads (what the loop device makes of 1 MiB ones) keep twice
 * as many buffers in flight as 1 MiB ones, and a count sized for 1 MiB cut a buffer back
 * on every return, so that every read faulted its pages in again (reads at half speed
 * under any bound; a fault costs 40-100 us on this kind of VM). */
static void bf_buf_put_locked(struct bf *b, char *p, size_t touched, size_t prev_touched)
{
	if (!p)
		return;
	if (prev_touched > BF_TRIM_TO)
		b->large_bytes -= prev_touched;
	if (touched > BF_TRIM_TO) {
		b->large_bytes += touched;
		if (b->max_large_bytes && b->large_bytes > b->max_large_bytes && bf_cut_tail(p, b->bufsize)) {
			b->large_bytes -= touched;
			touched = BF_TRIM_TO;
		}
	}
	if (touched > BF_TRIM_TO)
		b->n_free_large++;
	b->free_bufs[b->n_free++] = (struct bf_free){ p, touched };
}

/* Nothing in flight: give back the tails of the least recently used large buffers.
 * Locked pages must be unlocked first; the range is locked again (on fault). */
static void bf_trim_locked(struct bf *b)
{
	for (unsigned i = 0; i < b->n_free && b->n_free_large > BF_KEEP_LARGE; i++) {
		struct bf_free *f = &b->free_bufs[i];
		if (f->touched <= BF_TRIM_TO)
			continue;
		if (bf_cut_tail(f->p, b->bufsize)) {
			b->large_bytes -= f->touched;
			f->touched = BF_TRIM_TO;
			b->n_free_large--;
		}
	}
}

#define BF_LOCK_FLAGS (MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)

/* What malloc freed goes back to the system. malloc_trim releases free pages inside the
 * arenas with madvise(MADV_DONTNEED), which the kernel refuses (EINVAL) on locked pages:
 * under mlockall every arena stayed at its peak (a helper kept 16.8 of 23.8 MiB of
 * anonymous memory after a burst of writes). Unlocked for the trim, then locked again;
 * on fault, so only what is resident now is locked, nothing is faulted in. */
static void bf_release_heap(struct bf *b)
{
	if (b->locked)
		munlockall();
	malloc_trim(0);
	if (b->locked && mlockall(BF_LOCK_FLAGS) < 0) {
		b->locked = false;
		pv_warn("blockfuse: mlockall failed again (%s); serving unlocked", strerror(errno));
	}
}

static struct bf_req *bf_req_new(struct bf *b, fuse_req_t req, enum bf_kind kind)
{
	struct bf_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->b = b;
	r->req = req;
	r->kind = kind;
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* Take the reader's current buffer (its data stays valid until the request ends); its
 * `len` bytes of data count as in flight. */
static char *bf_take_buf(struct bf_req *r, size_t len)
{
	struct bf *b = r->b;
	char *p = bf_cur_buf;
	size_t t = len + 4096;   /* the request header's page and the data */
	bf_cur_buf = NULL;
	r->prev_touched = bf_cur_touched;
	r->touched = bf_cur_touched > t ? bf_cur_touched : t;
	if (b->max_bytes) {
		r->bytes = len;
		pthread_mutex_lock(&b->lock);
		b->inflight_bytes += len;
		pthread_mutex_unlock(&b->lock);
	}
	return p;
}

/* A reader about to receive the next request: wait until what is in flight leaves room
 * for one more of the largest (or nothing is in flight), then set that much aside until
 * the request is taken (bf_unreserve). The readers stop taking requests off the device;
 * the kernel queues them (max_background) and the submitters wait there. */
static void bf_reserve(struct bf *b)
{
	if (!b->max_bytes)
		return;
	pthread_mutex_lock(&b->lock);
	while (b->inflight_bytes + b->reserved > 0 &&
	       b->inflight_bytes + b->reserved + b->io > b->max_bytes && !bf_stopping &&
	       !fuse_session_exited(b->se)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;   /* to see a stop: signals do not end the wait */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		b->waiting++;
		pthread_cond_timedwait(&b->cond, &b->lock, &ts);
		b->waiting--;
	}
	b->reserved += b->io;
	pthread_mutex_unlock(&b->lock);
}

static void bf_unreserve(struct bf *b)
{
	if (!b->max_bytes)
		return;
	pthread_mutex_lock(&b->lock);
	b->reserved -= b->io;
	if (b->waiting)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void bf_req_end(struct bf_req *r)
{
	struct bf *b = r->b;
	pthread_mutex_lock(&b->lock);
	bf_buf_put_locked(b, r->buf, r->touched, r->prev_touched);
	b->inflight_bytes -= r->bytes;
	b->inflight--;
	b->active = true;
	b->heap_dirty = true;
	if (b->waiting)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	free(r);
}

/* The per-volume counters (pvnode/driver/helper_stats.h): one count per request the
 * kernel gets an answer to (a plain allocation moves nothing and is not counted). */
static void bf_count(const struct bf_req *r, int result)
{
	switch (r->kind) {
	case BF_READ: pv_helper_stats_count(PV_IO_READ, result < 0 ? 0 : r->len, result); break;
	case BF_WRITE: pv_helper_stats_count(PV_IO_WRITE, result < 0 ? 0 : r->len, result); break;
	case BF_FSYNC: pv_helper_stats_count(PV_IO_FLUSH, 0, result); break;
	default:
		if (r->mode != 0)
			pv_helper_stats_count(PV_IO_DISCARD, 0, result);
		break;
	}
}

/* Answer the kernel and end the request: the one place every data request ends. */
static void bf_finish(struct bf_req *r, int result)
{
	bf_count(r, result);
	if (result < 0)
		fuse_reply_err(r->req, -result);
	else if (r->kind == BF_READ)
		fuse_reply_buf(r->req, r->buf, r->len);
	else if (r->kind == BF_WRITE)
		fuse_reply_write(r->req, r->len);
	else
		fuse_reply_err(r->req, 0);
	bf_req_end(r);
}

/* Completion of an asynchronous backend operation (any thread). */
static void bf_queue_job(struct bf_req *r);

static void bf_done(void *tag, int result)
{
	struct bf_req *r = tag;
	if (result > 0)
		result = 0;
	if (r->len >= BF_REPLY_OFFLOAD) {
		r->answer = true;
		r->result = result;
		bf_queue_job(r);
		return;
	}
	bf_finish(r, result);
}

/* --- the synchronous data paths (worker threads) --- */

/* Clamp [off, off+len) to the device; returns the usable length. */
static size_t bf_clamp(struct bf *b, uint64_t off, size_t len)
{
	uint64_t size = b->ops->size(b->ctx);
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return len;
}

static bool bf_aligned(const struct bf *b, uint64_t off, uint64_t len)
{
	return off % b->cfg->block_size == 0 && len % b->cfg->block_size == 0;
}

static int bf_read(struct bf *b, char *buf, size_t len, uint64_t off)
{
	uint32_t bs = b->cfg->block_size;
	if (bf_aligned(b, off, len))
		return b->ops->read(b->ctx, buf, len, off);
	/* Unaligned: read the covering blocks into a bounce buffer. */
	uint64_t start = off / bs * bs;
	uint64_t end = (off + len + bs - 1) / bs * bs;
	_cleanup_(pv_freep) char *tmp = malloc(end - start);
	if (!tmp)
		return -ENOMEM;
	int r = b->ops->read(b->ctx, tmp, end - start, start);
	if (r < 0)
		return r;
	memcpy(buf, tmp + (off - start), len);
	return 0;
}

/* Write an unaligned range: read the edge blocks, patch, write back, under rmw_lock. */
static int bf_write_rmw(struct bf *b, const char *buf, size_t len, uint64_t off)
{
	uint32_t bs = b->cfg->block_size;
	uint64_t start = off / bs * bs;
	uint64_t end = (off + len + bs - 1) / bs * bs;
	_cleanup_(pv_freep) char *tmp = malloc(end - start);
	int r;

	if (!tmp)
		return -ENOMEM;
	pthread_mutex_lock(&b->rmw_lock);
	r = b->ops->read(b->ctx, tmp, bs, start);
	if (r >= 0 && end - start > bs)
		r = b->ops->read(b->ctx, tmp + (end - start - bs), bs, end - bs);
	if (r >= 0) {
		memcpy(tmp + (off - start), buf, len);
		r = b->ops->write(b->ctx, tmp, end - start, start);
	}
	pthread_mutex_unlock(&b->rmw_lock);
	return r;
}

static int bf_write(struct bf *b, const char *buf, size_t len, uint64_t off)
{
	if (bf_aligned(b, off, len))
		return b->ops->write(b->ctx, buf, len, off);
	return bf_write_rmw(b, buf, len, off);
}

/* Zero [off, off+len) by writing zero buffers (no write_zeroes in the backend). */
static int bf_zero_by_writes(struct bf *b, uint64_t off, uint64_t len)
{
	char *zero = calloc(1, BF_ZERO_CHUNK);
	int r = 0;
	if (!zero)
		return -ENOMEM;
	while (len > 0 && r >= 0) {
		size_t n = len > BF_ZERO_CHUNK ? BF_ZERO_CHUNK : (size_t)len;
		r = (off % b->cfg->block_size || n % b->cfg->block_size)
			    ? bf_write_rmw(b, zero, n, off)
			    : b->ops->write(b->ctx, zero, n, off);
		off += n;
		len -= n;
	}
	free(zero);
	return r < 0 ? r : 0;
}

static int bf_fallocate(struct bf *b, int mode, uint64_t off, uint64_t len)
{
	uint32_t bs = b->cfg->block_size;

	len = bf_clamp(b, off, len);
	if (mode == 0)
		return 0;   /* allocation: the LUN is already all there */
	if (!(mode & FALLOC_FL_KEEP_SIZE) && !(mode & FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	bool punch = mode & FALLOC_FL_PUNCH_HOLE;
	bool zero = mode & FALLOC_FL_ZERO_RANGE;
	if (!punch && !zero)
		return -EOPNOTSUPP;
	if (len == 0)
		return 0;
	/* Aligned middle to the backend, unaligned edges written as zeroes. */
	uint64_t a = (off + bs - 1) / bs * bs, e = (off + len) / bs * bs;
	if (a >= e)
		return bf_zero_by_writes(b, off, len);
	int r = 0;
	if (a > off)
		r = bf_zero_by_writes(b, off, a - off);
	if (r >= 0 && off + len > e)
		r = bf_zero_by_writes(b, e, off + len - e);
	if (r < 0)
		return r;
	/* A punched hole must read back as zeroes: discard only when the backend
	 * guarantees that (write_zeroes with unmap), else write zeroes. */
	if (b->ops->write_zeroes)
		r = b->ops->write_zeroes(b->ctx, a, e - a, punch && !zero);
	else
		r = -EOPNOTSUPP;
	if (r == -EOPNOTSUPP && punch && b->ops->discard && !zero)
		r = b->ops->discard(b->ctx, a, e - a);
	if (r == -EOPNOTSUPP)
		r = bf_zero_by_writes(b, a, e - a);
	return r;
}

static void bf_run_job(struct bf_req *r)
{
	struct bf *b = r->b;
	int res;
	if (r->answer) {
		bf_finish(r, r->result);
		return;
	}
	if (r->submit) {
		int rc = r->kind == BF_READ
				 ? b->ops->aio_read(b->ctx, r->buf, r->len, r->off, bf_done, r)
				 : b->ops->aio_write(b->ctx, r->data, r->len, r->off, bf_done, r);
		if (rc < 0)
			bf_finish(r, rc);
		return;
	}
	switch (r->kind) {
	case BF_READ: res = bf_read(b, r->buf, r->len, r->off); break;
	case BF_WRITE: res = bf_write(b, r->data, r->len, r->off); break;
	case BF_FSYNC: res = b->ops->flush(b->ctx); break;
	default: res = bf_fallocate(b, r->mode, r->off, r->flen); break;
	}
	bf_finish(r, res > 0 ? 0 : res);
}

static void *bf_worker(void *arg)
{
	struct bf *b = arg;
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->jobs && !b->stop_workers) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			if (pthread_cond_timedwait(&b->job_cond, &b->lock, &ts) == ETIMEDOUT) {
				/* a quiet second: give memory back, the request buffers and
				 * what the backend's library freed but malloc kept (the heap
				 * stays at its peak otherwise: one backend's helper held
				 * 27 MiB after a burst of writes, 19 once trimmed) */
				bool quiet = !b->active && !b->inflight;
				if (quiet && b->n_free_large > BF_KEEP_LARGE)
					bf_trim_locked(b);
				b->active = false;
				if (quiet && b->heap_dirty) {
					b->heap_dirty = false;
					pthread_mutex_unlock(&b->lock);
					bf_release_heap(b);
					pthread_mutex_lock(&b->lock);
				}
			}
		}
		if (!b->jobs)
			break;
		struct bf_req *r = b->jobs;
		b->jobs = r->next;
		if (!b->jobs)
			b->jobs_tail = &b->jobs;
		pthread_mutex_unlock(&b->lock);
		bf_run_job(r);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void bf_queue_job(struct bf_req *r)
{
	struct bf *b = r->b;
	r->next = NULL;
	pthread_mutex_lock(&b->lock);
	*b->jobs_tail = r;
	b->jobs_tail = &r->next;
	pthread_cond_signal(&b->job_cond);
	pthread_mutex_unlock(&b->lock);
}

/* --- FUSE low-level operations (the reader thread) --- */

static void bf_stat(struct bf *b, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	if (ino == BF_INO_ROOT) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_ino = BF_INO_ROOT;
		return;
	}
	st->st_mode = S_IFREG | (b->cfg->readonly ? 0400 : 0600);
	st->st_nlink = 1;
	st->st_ino = BF_INO_FILE;
	st->st_size = (off_t)b->ops->size(b->ctx);
	st->st_blksize = (blksize_t)b->cfg->block_size;
	st->st_blocks = st->st_size / 512;
}

static void bf_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct bf *b = userdata;
	size_t io = b->cfg->max_io ? b->cfg->max_io : BF_DEFAULT_IO;

	conn->max_write = (unsigned)io;
	conn->max_readahead = 0;
	/* no page cache and no splicing: a write's data must stay in our buffer */
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
				  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	conn->max_background = BF_MAX_INFLIGHT;
	conn->congestion_threshold = BF_MAX_INFLIGHT * 3 / 4;
}

static void bf_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bf *b = fuse_req_userdata(req);
	if (parent != BF_INO_ROOT || strcmp(name, b->name) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* no caching of entries or attributes: size changes (growth) show at once */
	struct fuse_entry_param e = { .ino = BF_INO_FILE, .generation = 1 };
	bf_stat(b, BF_INO_FILE, &e.attr);
	fuse_reply_entry(req, &e);
}

static void bf_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	struct stat st;
	(void)fi;
	if (ino != BF_INO_ROOT && ino != BF_INO_FILE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	bf_stat(b, ino, &st);
	fuse_reply_attr(req, &st, 0.0);
}

static void bf_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	const char *names[] = { ".", "..", b->name };
	fuse_ino_t inos[] = { BF_INO_ROOT, BF_INO_ROOT, BF_INO_FILE };
	char buf[1024];
	size_t used = 0;
	(void)fi;
	if (ino != BF_INO_ROOT) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	for (off_t i = off; i < 3; i++) {
		struct stat st = { .st_ino = inos[i], .st_mode = i == 2 ? S_IFREG : S_IFDIR };
		size_t n = fuse_add_direntry(req, buf + used, size - used, names[i], &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void bf_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != BF_INO_ROOT)
		fuse_reply_err(req, ENOTDIR);
	else
		fuse_reply_open(req, fi);
}

static void bf_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	if (ino == BF_INO_ROOT) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (ino != BF_INO_FILE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (b->cfg->readonly && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void bf_ll_read(fuse_req_t req, fuse_ino_t ino, size_t len, off_t off,
		       struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	(void)ino; (void)fi;
	len = bf_clamp(b, (uint64_t)off, len);
	if (len == 0 || len > b->bufsize) {
		if (len)
			fuse_reply_err(req, EINVAL);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	struct bf_req *r = bf_req_new(b, req, BF_READ);
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* a READ carries no data: its buffer takes the answer */
	r->buf = bf_take_buf(r, len);
	r->len = len;
	r->off = (uint64_t)off;
	if (!b->async || !bf_aligned(b, r->off, len) || len >= BF_REPLY_OFFLOAD) {
		r->submit = b->async && bf_aligned(b, r->off, len);
		bf_queue_job(r);
		return;
	}
	int rc = b->ops->aio_read(b->ctx, r->buf, len, r->off, bf_done, r);
	if (rc < 0)
		bf_finish(r, rc);
}

static void bf_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t len, off_t off,
			struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	(void)ino; (void)fi;
	if (b->cfg->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (len == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	if (bf_clamp(b, (uint64_t)off, len) < len) {
		fuse_reply_err(req, ENOSPC);   /* a block device does not grow */
		return;
	}
	struct bf_req *r = bf_req_new(b, req, BF_WRITE);
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r->buf = bf_take_buf(r, len);   /* holds `buf` */
	r->data = buf;
	r->len = len;
	r->off = (uint64_t)off;
	if (!b->async || !bf_aligned(b, r->off, len) || len >= BF_REPLY_OFFLOAD) {
		r->submit = b->async && bf_aligned(b, r->off, len);
		bf_queue_job(r);
		return;
	}
	int rc = b->ops->aio_write(b->ctx, buf, len, r->off, bf_done, r);
	if (rc < 0)
		bf_finish(r, rc);
}

static void bf_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino; (void)fi;
	fuse_reply_err(req, 0);   /* close(): nothing to do, data went straight to the backend */
}

static void bf_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	(void)ino; (void)datasync; (void)fi;
	if (b->cfg->readonly) {
		fuse_reply_err(req, 0);
		return;
	}
	/* The kernel sends FSYNC after the writes it covers were answered, and those were
	 * answered only once the backend completed them: a flush now covers them. */
	struct bf_req *r = bf_req_new(b, req, BF_FSYNC);
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!b->async) {
		bf_queue_job(r);
		return;
	}
	int rc = b->ops->aio_flush(b->ctx, bf_done, r);
	if (rc < 0)
		bf_finish(r, rc);
}

static void bf_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			    struct fuse_file_info *fi)
{
	struct bf *b = fuse_req_userdata(req);
	(void)ino; (void)fi;
	if (b->cfg->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct bf_req *r = bf_req_new(b, req, BF_FALLOCATE);
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r->mode = mode;
	r->off = (uint64_t)offset;
	r->flen = (uint64_t)length;
	bf_queue_job(r);
}

static const struct fuse_lowlevel_ops bf_ops = {
	.init = bf_ll_init,
	.lookup = bf_ll_lookup,
	.getattr = bf_ll_getattr,
	.opendir = bf_ll_opendir,
	.readdir = bf_ll_readdir,
	.open = bf_ll_open,
	.read = bf_ll_read,
	.write = bf_ll_write,
	.flush = bf_ll_flush,
	.fsync = bf_ll_fsync,
	.fallocate = bf_ll_fallocate,
};

/* --- session, signals, the reader loop --- */

/* Readers sleep in read(/dev/fuse): interrupt every one but the caller (a signal
 * without SA_RESTART makes read() fail with EINTR). */
static void bf_kick_readers(struct bf *b, int sig)
{
	for (unsigned i = 0; i < b->n_readers; i++)
		if (!pthread_equal(pthread_self(), b->readers[i]))
			pthread_kill(b->readers[i], sig);
}

static void bf_on_signal(int sig)
{
	struct bf *b = bf_cur;
	if (!b)
		return;
	fuse_session_exit(b->se);
	if (!bf_stopping) {
		bf_stopping = 1;
		bf_kick_readers(b, sig);
	}
}

void pv_blockfuse_stop(void)
{
	struct bf *b = bf_cur;
	if (!b)
		return;
	fuse_session_exit(b->se);
	bf_stopping = 1;
	bf_kick_readers(b, SIGTERM);
}

static void bf_serve(struct bf *b)
{
	char *cur = NULL;
	size_t touched = 0;
	while (!fuse_session_exited(b->se)) {
		if (!cur && !(cur = bf_buf_get(b, &touched))) {
			pv_warn("blockfuse: out of memory for a request buffer");
			usleep(100000);
			continue;
		}
		struct fuse_buf fb = { .mem = cur, .size = b->bufsize };
		bf_reserve(b);
		if (fuse_session_exited(b->se)) {   /* a stop came while it waited for room */
			bf_unreserve(b);
			break;
		}
		int res = fuse_session_receive_buf(b->se, &fb);
		if (res == -EINTR || res == -EAGAIN) {
			bf_unreserve(b);
			continue;
		}
		if (res <= 0) {
			bf_unreserve(b);
			break;   /* unmounted (0), or the device failed */
		}
		bf_cur_buf = cur;
		if (touched < 4096)
			touched = 4096;
		bf_cur_touched = touched;
		fuse_session_process_buf(b->se, &fb);
		bf_unreserve(b);
		cur = bf_cur_buf;   /* NULL when a request kept it */
	}
	pthread_mutex_lock(&b->lock);
	bf_buf_put_locked(b, cur, touched, touched);
	b->readers_done++;
	pthread_mutex_unlock(&b->lock);
}

static void *bf_reader(void *arg)
{
	struct bf *b = arg;
	bf_serve(b);
	/* the session ended here first (unmounted, or a signal raced with read()): make
	 * sure the others see it too */
	fuse_session_exit(b->se);
	bf_kick_readers(b, SIGHUP);
	return NULL;
}

/* After the first reader left the loop: the others leave too (kicked until they do). */
static void bf_stop_readers(struct bf *b)
{
	for (;;) {
		pthread_mutex_lock(&b->lock);
		bool all = b->readers_done == b->n_readers;
		pthread_mutex_unlock(&b->lock);
		if (all)
			break;
		bf_kick_readers(b, SIGHUP);
		usleep(10000);
	}
	for (unsigned i = 1; i < b->n_readers; i++)
		pthread_join(b->readers[i], NULL);
}

/* Wait for every request in flight to be answered (the backend bounds each by its own
 * I/O timeout), then stop the workers. */
static void bf_drain(struct bf *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->inflight) {
		b->waiting++;
		pthread_cond_wait(&b->cond, &b->lock);
		b->waiting--;
	}
	b->stop_workers = true;
	pthread_cond_broadcast(&b->job_cond);
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < b->n_workers; i++)
		pthread_join(b->workers[i], NULL);
	b->n_workers = 0;
}

static int bf_start_workers(struct bf *b, unsigned n, struct pv_err *err)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int r = 0;

	b->workers = calloc(n, sizeof(*b->workers));
	if (!b->workers)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "blockfuse: out of memory");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* signals belong to the reader (they end its loop) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; b->n_workers < n; b->n_workers++) {
		r = -pthread_create(&b->workers[b->n_workers], &attr, bf_worker, b);
		if (r < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r < 0 && b->n_workers == 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "blockfuse: cannot start worker threads");
	return 0;
}

/* The pool, its bounds and the locks; 0 or -errno with err set. */
static int bf_setup(struct bf *b, struct pv_err *err)
{
	b->async = b->ops->aio_read && b->ops->aio_write && b->ops->aio_flush;
	/* what libfuse reads at most: 256 pages of data plus the request header */
	b->bufsize = 256 * (size_t)sysconf(_SC_PAGESIZE) + 4096;
	b->io = b->cfg->max_io ? b->cfg->max_io : BF_DEFAULT_IO;
	if (b->io > b->bufsize - 4096)
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "blockfuse: max_io %zu too large",
				  b->cfg->max_io);
	b->max_bufs = BF_MAX_BUFS;
	b->max_bytes = b->cfg->max_inflight_bytes;
	/* room for what may be in flight and the readers' next requests, each in a buffer
	 * of its own: steady large I/O of any request size never cuts one back */
	if (b->max_bytes)
		b->max_large_bytes = b->max_bytes + (BF_READERS + 1) * b->bufsize;
	b->free_bufs = calloc(b->max_bufs, sizeof(*b->free_bufs));
	if (!b->free_bufs)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "blockfuse: out of memory");
	b->jobs_tail = &b->jobs;
	b->readers[0] = pthread_self();
	b->n_readers = 1;
	pthread_mutex_init(&b->rmw_lock, NULL);
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_cond_init(&b->job_cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

int pv_blockfuse_run(const struct pv_blockfuse_cfg *cfg, const struct pv_blockfuse_ops *ops,
		     void *ctx, struct pv_err *err)
{
	struct bf b = { .cfg = cfg, .ops = ops, .ctx = ctx };
	char *argv[] = { "pvnode-blockfuse", "-o", "fsname=pvnode-blockfuse,subtype=pvblock", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa = { .sa_handler = bf_on_signal }, old_sa[3];
	int r = 0;

	if (!cfg->block_size || (cfg->block_size & (cfg->block_size - 1)) || !ops->read ||
	    !ops->write || !ops->flush || !ops->size)
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL,
				  "blockfuse: incomplete backend table or bad block size %u",
				  cfg->block_size);
	if (snprintf(b.name, sizeof(b.name), "%s", cfg->file_name) >= (int)sizeof(b.name) ||
	    !b.name[0] || strchr(cfg->file_name, '/'))
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "blockfuse: bad file name %s",
				  cfg->file_name);
	r = bf_setup(&b, err);
	if (r < 0)
		return r;
	/* MCL_ONFAULT: lock what is used, not every mapping whole (librados's and our
	 * threads' stacks, malloc arenas, the request buffers): a helper stays at what it
	 * touches */
	b.locked = mlockall(BF_LOCK_FLAGS) == 0;
	if (!b.locked)
		pv_warn("blockfuse: mlockall failed (%s); serving unlocked", strerror(errno));

	/* a backend without asynchronous operations blocks one worker per request in flight */
	unsigned workers = b.async ? BF_ASYNC_WORKERS : (cfg->max_threads ? cfg->max_threads : 16);
	r = bf_start_workers(&b, workers, err);
	if (r < 0)
		goto out;
	b.se = fuse_session_new(&args, &bf_ops, sizeof(bf_ops), &b);
	if (!b.se) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "blockfuse: cannot create the FUSE session");
		goto out_workers;
	}
	if (fuse_session_mount(b.se, cfg->mountpoint) != 0) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "blockfuse: cannot mount FUSE at %s",
			       cfg->mountpoint);
		goto out_destroy;
	}
	bf_cur = &b;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old_sa[i]);   /* no SA_RESTART: read() must see EINTR */
	/* more readers only for an asynchronous backend: a synchronous one has its workers */
	for (unsigned i = 1; b.async && i < BF_READERS; i++) {
		if (pthread_create(&b.readers[b.n_readers], NULL, bf_reader, &b) != 0)
			break;   /* one reader serves too */
		b.n_readers++;
	}
	if (cfg->on_ready)
		cfg->on_ready(ctx);
	bf_serve(&b);
	fuse_session_exit(b.se);
	bf_stop_readers(&b);
	bf_drain(&b);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	bf_cur = NULL;
	bf_stopping = 0;
	fuse_session_unmount(b.se);
out_destroy:
	fuse_session_destroy(b.se);
out_workers:
	bf_drain(&b);
out:
	fuse_opt_free_args(&args);
	for (unsigned i = 0; i < b.n_free; i++)
		munmap(b.free_bufs[i].p, b.bufsize);
	free(b.free_bufs);
	free(b.workers);
	pthread_cond_destroy(&b.cond);
	pthread_cond_destroy(&b.job_cond);
	pthread_mutex_destroy(&b.lock);
	pthread_mutex_destroy(&b.rmw_lock);
	return r;
}
