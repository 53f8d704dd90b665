/*
 * rbd_io.c — librbd behind blockfuse, and the status file (see rbd_io.h).
 *
 * Requests: one aio call per FUSE request. Aligned reads, writes and flushes come from
 * blockfuse's asynchronous calls and complete through librbd's callback (which answers
 * the kernel); the rest (discard, zeroing, unaligned edges) waits on its own completion.
 * A write refused with EROFS is not taken for a fence at once: librbd refuses writes
 * whenever it does not own the lock, also for a moment after an outage, while it
 * re-takes the lock under its new watch (or gives it up and takes it again when the
 * cookie cannot be updated). The helper's relock callback says which: the lock is ours
 * again (or free, and taken again) → the write is sent again; another client holds it,
 * or we were blocklisted → fenced, for good.
 * Health: requests count themselves in and out (atomics); a watchdog thread wakes
 * every second (or at once through an eventfd after SIGUSR1 or a header update),
 * re-reads the size when asked, and turns "I/O outstanding but nothing completed for
 * stall_s" into state=down. The first completion after that makes it up again. When
 * nothing was asked for PVR_PROBE_IDLE_S, it sends a probe round (stats of a few of the
 * image's objects, see rbd_io.h): one answer is up, none is down. The probe does not
 * count as a request in flight (a stat held by one stuck PG is no stall of the volume);
 * its completions belong to the watchdog: the callback only notes the result and wakes
 * it, the watchdog reaps them, cancels one past its deadline, and pvr_io_stop cancels
 * and waits for what is still out before io goes.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "rbd_io.h"
#include "pvnode/util.h"

enum io_state { ST_UP = 0, ST_DOWN, ST_FENCED };
struct aio_req;

/* One stat of a probe round. c, sent_ms, cancelled, size and mtime are the watchdog's
 * (pvr_io_stop's once it has ended); rval and done are set by the callback. */
struct probe_slot {
	struct pvr_io *io;
	rados_ioctx_t ioctx;
	rados_completion_t c;          /* NULL: free */
	int64_t sent_ms;
	bool cancelled;
	int rval;                      /* atomic: valid once done */
	int done;                      /* atomic: the callback has run */
	uint64_t size;                 /* results nobody reads */
	time_t mtime;
	char oid[128];
};

struct pvr_io {
	struct pvr_io_cfg cfg;
	uint64_t size;                 /* atomic */
	int inflight;                  /* atomic */
	int64_t last_done_ms;          /* atomic: last completion */
	int state;                     /* atomic enum io_state */
	int refresh;                   /* atomic: re-read the size */
	struct probe_slot probe[PVR_PROBE_OBJS];
	bool probing;                  /* the watchdog's: a round is out */
	bool probe_answered;           /* ... and one of its stats was answered */
	unsigned probe_rounds;         /* picks the round's rotating data object */
	unsigned refreshes;            /* size re-reads done (status "refreshed=") */
	int stop;
	int efd;
	uint64_t watch_handle;
	bool watching;
	pthread_t thread;
	pthread_mutex_t status_lock;
	pthread_mutex_t relock_mu;     /* one lock regain at a time */
	pthread_mutex_t retry_mu;
	struct aio_req *retry;         /* refused writes for the watchdog to send again */
	int fault_unlock;              /* tests: give the lock up before regaining it */
	unsigned regained;             /* times the lock was ours again after an EROFS */
	char status[768];
	char why[256];
};

static void write_status(struct pvr_io *io)
{
	static const char *const names[] = { "up", "down", "fenced" };
	char buf[768];
	pthread_mutex_lock(&io->status_lock);
	int st = __atomic_load_n(&io->state, __ATOMIC_ACQUIRE);
	int n = snprintf(buf, sizeof(buf), "state=%s\nwhy=%s\nsize=%llu\nclient=%s\nreadonly=%d\nrefreshed=%u\nregained=%u\n",
			 names[st], st == ST_UP ? "" : io->why,
			 (unsigned long long)__atomic_load_n(&io->size, __ATOMIC_RELAXED),
			 io->cfg.client_addr ? io->cfg.client_addr : "", io->cfg.readonly,
			 __atomic_load_n(&io->refreshes, __ATOMIC_RELAXED),
			 __atomic_load_n(&io->regained, __ATOMIC_RELAXED));
	if (io->cfg.status_path && strcmp(buf, io->status) != 0) {
		snprintf(io->status, sizeof(io->status), "%s", buf);
		pv_write_atomic(io->cfg.status_path, buf, (size_t)n, 0644, NULL);
	}
	pthread_mutex_unlock(&io->status_lock);
}

static void set_state(struct pvr_io *io, int st, const char *why)
{
	int old = __atomic_load_n(&io->state, __ATOMIC_ACQUIRE);
	if (old == st || old == ST_FENCED)
		return;      /* fenced is final */
	pthread_mutex_lock(&io->status_lock);
	snprintf(io->why, sizeof(io->why), "%s", why);
	__atomic_store_n(&io->state, st, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&io->status_lock);
	if (st != ST_UP)
		pv_warn("%s", why);
	else
		pv_info("I/O completes again");
	write_status(io);
}

enum op { OP_READ, OP_WRITE, OP_FLUSH, OP_DISCARD, OP_ZERO };

/* Map a librbd result of op to what the kernel gets, noting health on the way (the idle
 * probe counts as a read). A flush is no sign of life: librbd without a cache answers
 * one with nothing in flight at once, also while every OSD is away. */
static int io_result(struct pvr_io *io, ssize_t r, enum op op)
{
	bool write = op != OP_READ, flush = op == OP_FLUSH;
	if (!flush)
		__atomic_store_n(&io->last_done_ms, pv_mono_ms(), __ATOMIC_RELAXED);
	if (r >= 0 || r == -EINVAL || r == -EOPNOTSUPP) {
		if (r >= 0 && !flush && __atomic_load_n(&io->state, __ATOMIC_RELAXED) == ST_DOWN)
			set_state(io, ST_UP, "");
		return r < 0 ? (int)r : 0;
	}
	if (r == -ESHUTDOWN || (write && r == -EROFS)) {   /* ESHUTDOWN: Ceph's EBLOCKLISTED */
		set_state(io, ST_FENCED, r == -ESHUTDOWN
			  ? "this client was blocklisted: another node broke our exclusive lock"
			  : "a write was refused: another client holds the exclusive lock");
		return write ? -EROFS : -EIO;
	}
	if (r == -ETIMEDOUT)
		set_state(io, ST_DOWN, "a request to the Ceph cluster timed out (OSDs unreachable)");
	return -EIO;
}


#ifdef PV_FAULT_INJECTION
/* Tests (-Dfault_injection=true builds only): PVNODE_FAULT=rbd-write-erofs answers the
 * first write EROFS, as librbd does for a moment while it re-takes the lock after an
 * outage (the write was sent: the retry writes the same bytes again);
 * rbd-write-erofs-unlocked also gives the lock up first, as librbd does when it cannot
 * move the lock to its new watch. 0: no fault, 1: EROFS, 2: EROFS and unlocked. */
static int fault_erofs(void)
{
	static int done;
	const char *f = getenv("PVNODE_FAULT");
	if (!f || strncmp(f, "rbd-write-erofs", 15) != 0 || __atomic_exchange_n(&done, 1, __ATOMIC_RELAXED))
		return 0;
	return strcmp(f, "rbd-write-erofs-unlocked") == 0 ? 2 : 1;
}

/* PVNODE_FAULT=rbd-probe-cancel: a probe stat is cancelled after 1 s instead of
 * osdTimeout + 1 s, before librados would end it (the path of a stat librados never
 * ends). */
static bool fault_probe_cancel(void)
{
	const char *f = getenv("PVNODE_FAULT");
	return f && strcmp(f, "rbd-probe-cancel") == 0;
}
#else
static int fault_erofs(void)
{
	return 0;
}

static bool fault_probe_cancel(void)
{
	return false;
}
#endif

/* One aio call, waited for: the librbd result. */
static ssize_t submit_once(struct pvr_io *io, enum op op, void *buf, size_t len, uint64_t off, int zflags)
{
	rbd_completion_t c;
	rbd_image_t img = io->cfg.image;
	int r = rbd_aio_create_completion(NULL, NULL, &c);
	if (r < 0)
		return -ENOMEM;
	__atomic_add_fetch(&io->inflight, 1, __ATOMIC_RELAXED);
	switch (op) {
	case OP_READ: r = rbd_aio_read(img, off, len, buf, c); break;
	case OP_WRITE: r = rbd_aio_write(img, off, len, buf, c); break;
	case OP_FLUSH: r = rbd_aio_flush(img, c); break;
	case OP_DISCARD: r = rbd_aio_discard(img, off, len, c); break;
	case OP_ZERO: r = rbd_aio_write_zeroes(img, off, len, c, zflags, 0); break;
	}
	ssize_t ret = r;
	if (r >= 0) {
		rbd_aio_wait_for_complete(c);
		ret = rbd_aio_get_return_value(c);
	}
	rbd_aio_release(c);
	__atomic_sub_fetch(&io->inflight, 1, __ATOMIC_RELAXED);
	int f = op == OP_WRITE && ret >= 0 ? fault_erofs() : 0;
	if (f == 2)
		rbd_lock_release(img);
	return f ? -EROFS : ret;
}

/*
 * After a write's EROFS: is the lock ours (again)? 0: send the write again; -EROFS or
 * -ESHUTDOWN: another client holds it, or we are blocklisted (fenced); -ETIMEDOUT: the
 * cluster did not answer (the write fails with EIO, nothing is fenced). While librbd
 * moves the lock between our own cookies (-EAGAIN from the callback) it is asked again a
 * few times.
 */
static int regain_lock(struct pvr_io *io)
{
	int r = -EROFS;
	if (!io->cfg.relock)
		return -EROFS;
	pv_info("a write was refused (EROFS): is the exclusive lock still ours?");
	pthread_mutex_lock(&io->relock_mu);
	for (int i = 0; i < 20 && __atomic_load_n(&io->state, __ATOMIC_RELAXED) != ST_FENCED; i++) {
		r = io->cfg.relock(io->cfg.relock_arg);
		if (r != -EAGAIN)
			break;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	pthread_mutex_unlock(&io->relock_mu);
	if (r == 0) {
		__atomic_add_fetch(&io->regained, 1, __ATOMIC_RELAXED);
		write_status(io);
	}
	return r == 0 || r == -EROFS || r == -ESHUTDOWN ? r : -ETIMEDOUT;
}

static int submit(struct pvr_io *io, enum op op, void *buf, size_t len, uint64_t off, int zflags)
{
	int st = __atomic_load_n(&io->state, __ATOMIC_RELAXED);
	if (st == ST_FENCED)
		return op == OP_READ ? -EIO : -EROFS;
	ssize_t ret = submit_once(io, op, buf, len, off, zflags);
	/* a refused write changed nothing: it may be sent again once the lock is ours */
	for (int tries = 0; op != OP_READ && ret == -EROFS && tries < 3; tries++) {
		int r = regain_lock(io);
		ret = r < 0 ? r : submit_once(io, op, buf, len, off, zflags);
		if (r < 0)
			break;
	}
	if (op == OP_READ && ret >= 0 && (size_t)ret < len)
		memset((char *)buf + ret, 0, len - (size_t)ret);
	return io_result(io, ret, op);
}

/* Asynchronous: librbd calls back on its own thread, which answers the kernel. A
 * write refused with EROFS there cannot ask librbd about the lock (a callback must not
 * wait on librbd): it goes to the watchdog, which regains the lock and sends it again.
 * A request counts as in flight until it is answered. */
struct aio_req {
	struct pvr_io *io;
	enum op op;
	void *buf;
	size_t len;
	uint64_t off;
	int tries;
	pv_blockfuse_done *done;
	void *tag;
	struct aio_req *next;
};

static void aio_finish(struct aio_req *a, ssize_t ret)
{
	struct pvr_io *io = a->io;
	__atomic_sub_fetch(&io->inflight, 1, __ATOMIC_RELAXED);
	if (a->op == OP_READ && ret >= 0 && (size_t)ret < a->len)
		memset((char *)a->buf + ret, 0, a->len - (size_t)ret);
	int r = io_result(io, ret, a->op);
	pv_blockfuse_done *done = a->done;
	void *tag = a->tag;
	free(a);
	done(tag, r);
}

static void aio_cb(rbd_completion_t c, void *arg)
{
	struct aio_req *a = arg;
	struct pvr_io *io = a->io;
	ssize_t ret = rbd_aio_get_return_value(c);
	rbd_aio_release(c);
	int f = a->op == OP_WRITE && ret >= 0 ? fault_erofs() : 0;
	if (f) {   /* a callback must not call librbd: the watchdog gives the lock up */
		ret = -EROFS;
		__atomic_store_n(&io->fault_unlock, f == 2, __ATOMIC_RELAXED);
	}
	if (a->op == OP_WRITE && ret == -EROFS && io->cfg.relock && a->tries < 3 &&
	    __atomic_load_n(&io->state, __ATOMIC_RELAXED) != ST_FENCED) {
		uint64_t one = 1;
		pthread_mutex_lock(&io->retry_mu);
		a->next = io->retry;
		io->retry = a;
		pthread_mutex_unlock(&io->retry_mu);
		if (write(io->efd, &one, sizeof(one)) < 0) { /* already woken */ }
		return;
	}
	aio_finish(a, ret);
}

/* Hand `a` to librbd; a negative errno when it was not queued (no callback comes). */
static int aio_send(struct aio_req *a)
{
	rbd_image_t img = a->io->cfg.image;
	rbd_completion_t c;
	int r = rbd_aio_create_completion(a, aio_cb, &c);
	if (r < 0)
		return -ENOMEM;
	switch (a->op) {
	case OP_READ: r = rbd_aio_read(img, a->off, a->len, a->buf, c); break;
	case OP_WRITE: r = rbd_aio_write(img, a->off, a->len, a->buf, c); break;
	default: r = rbd_aio_flush(img, c); break;
	}
	if (r < 0)
		rbd_aio_release(c);
	return r < 0 ? r : 0;
}

static int submit_async(struct pvr_io *io, enum op op, void *buf, size_t len, uint64_t off,
			pv_blockfuse_done *done, void *tag)
{
	if (__atomic_load_n(&io->state, __ATOMIC_RELAXED) == ST_FENCED)
		return op == OP_READ ? -EIO : -EROFS;
	struct aio_req *a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	*a = (struct aio_req){ .io = io, .op = op, .buf = buf, .len = len, .off = off, .done = done, .tag = tag };
	__atomic_add_fetch(&io->inflight, 1, __ATOMIC_RELAXED);
	int r = aio_send(a);
	if (r < 0) {
		__atomic_sub_fetch(&io->inflight, 1, __ATOMIC_RELAXED);
		free(a);
		return io_result(io, r, op);
	}
	return 0;
}

/* The watchdog's part: the writes refused with EROFS, sent again once the lock is ours. */
static void retry_refused(struct pvr_io *io, bool stopping)
{
	pthread_mutex_lock(&io->retry_mu);
	struct aio_req *list = io->retry;
	io->retry = NULL;
	pthread_mutex_unlock(&io->retry_mu);
	if (list && __atomic_exchange_n(&io->fault_unlock, 0, __ATOMIC_RELAXED))
		rbd_lock_release(io->cfg.image);
	int lock = list && !stopping ? regain_lock(io) : -EIO;
	while (list) {
		struct aio_req *a = list;
		list = a->next;
		a->tries++;
		int r = lock < 0 ? lock : aio_send(a);
		if (r < 0)
			aio_finish(a, r);
	}
}

static int io_aio_read(void *ctx, void *buf, size_t len, uint64_t off, pv_blockfuse_done *done, void *tag)
{
	return submit_async(ctx, OP_READ, buf, len, off, done, tag);
}

static int io_aio_write(void *ctx, const void *buf, size_t len, uint64_t off, pv_blockfuse_done *done,
			void *tag)
{
	return submit_async(ctx, OP_WRITE, (void *)buf, len, off, done, tag);
}

static int io_aio_flush(void *ctx, pv_blockfuse_done *done, void *tag)
{
	return submit_async(ctx, OP_FLUSH, NULL, 0, 0, done, tag);
}

static int io_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return submit(ctx, OP_READ, buf, len, off, 0);
}

static int io_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return submit(ctx, OP_WRITE, (void *)buf, len, off, 0);
}

static int io_flush(void *ctx)
{
	return submit(ctx, OP_FLUSH, NULL, 0, 0, 0);
}

static int io_discard(void *ctx, uint64_t off, uint64_t len)
{
	return submit(ctx, OP_DISCARD, NULL, (size_t)len, off, 0);
}

/* librbd reads back zeroes from a discarded range, so both kinds of zeroing are exact:
 * may_unmap → discard-like (deallocate), else write zeroes keeping the allocation. */
static int io_write_zeroes(void *ctx, uint64_t off, uint64_t len, bool may_unmap)
{
	return submit(ctx, OP_ZERO, NULL, (size_t)len, off,
		      may_unmap ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION);
}

uint64_t pvr_io_size(void *ctx)
{
	struct pvr_io *io = ctx;
	return __atomic_load_n(&io->size, __ATOMIC_RELAXED);
}

void pvr_io_ops(struct pv_blockfuse_ops *ops)
{
	*ops = (struct pv_blockfuse_ops){ .read = io_read, .write = io_write, .flush = io_flush,
					  .discard = io_discard, .write_zeroes = io_write_zeroes,
					  .size = pvr_io_size, .aio_read = io_aio_read,
					  .aio_write = io_aio_write, .aio_flush = io_aio_flush };
}

void pvr_io_refresh(struct pvr_io *io)
{
	uint64_t one = 1;
	__atomic_store_n(&io->refresh, 1, __ATOMIC_RELAXED);
	if (write(io->efd, &one, sizeof(one)) < 0) { /* already woken */ }
}

int pvr_io_wake_fd(const struct pvr_io *io)
{
	return io->efd;
}

bool pvr_io_fenced(const struct pvr_io *io)
{
	return __atomic_load_n(&io->state, __ATOMIC_RELAXED) == ST_FENCED;
}

static void on_header_update(void *arg)
{
	pvr_io_refresh(arg);
}

static void refresh_size(struct pvr_io *io)
{
	uint64_t size = 0;
	int r = rbd_get_size(io->cfg.image, &size);
	if (r == 0 && size != __atomic_load_n(&io->size, __ATOMIC_RELAXED)) {
		pv_info("image size is now %llu bytes", (unsigned long long)size);
		__atomic_store_n(&io->size, size, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&io->refreshes, 1, __ATOMIC_RELAXED);
	write_status(io);   /* refreshed= tells the driver the re-read is done */
}

static void probe_cb(rados_completion_t c, void *arg)
{
	struct probe_slot *ps = arg;
	uint64_t one = 1;
	__atomic_store_n(&ps->rval, rados_aio_get_return_value(c), __ATOMIC_RELAXED);
	__atomic_store_n(&ps->done, 1, __ATOMIC_RELEASE);
	if (write(ps->io->efd, &one, sizeof(one)) < 0) { /* already woken */ }
}

static bool probe_send(struct pvr_io *io, struct probe_slot *ps, rados_ioctx_t ioctx, const char *oid)
{
	snprintf(ps->oid, sizeof(ps->oid), "%s", oid);
	ps->io = io;
	ps->ioctx = ioctx;
	ps->cancelled = false;
	ps->done = 0;
	if (rados_aio_create_completion2(ps, probe_cb, &ps->c) < 0) {
		ps->c = NULL;
		return false;
	}
	ps->sent_ms = pv_mono_ms();
	if (rados_aio_stat(ioctx, ps->oid, ps->c, &ps->size, &ps->mtime) < 0) {
		rados_aio_release(ps->c);
		ps->c = NULL;
		return false;
	}
	return true;
}

/* Idle for a while: does the cluster still answer for this image? A round stats the
 * first data object, the header and data object 1 + n mod (objects - 1). */
static void probe_start(struct pvr_io *io)
{
	const struct pvr_io_cfg *cfg = &io->cfg;
	char oid[128];
	int64_t idle_ms = pv_mono_ms() - __atomic_load_n(&io->last_done_ms, __ATOMIC_RELAXED);
	if (!cfg->data_prefix || io->probing || idle_ms < PVR_PROBE_IDLE_S * 1000L ||
	    __atomic_load_n(&io->inflight, __ATOMIC_RELAXED) > 0 ||
	    __atomic_load_n(&io->state, __ATOMIC_RELAXED) == ST_FENCED)
		return;
	rados_ioctx_t data = cfg->data_ioctx ? cfg->data_ioctx : cfg->ioctx;
	uint64_t size = __atomic_load_n(&io->size, __ATOMIC_RELAXED);
	uint64_t objs = cfg->obj_size ? (size + cfg->obj_size - 1) / cfg->obj_size : 1;
	int sent = 0;
	snprintf(oid, sizeof(oid), "%s.%016llx", cfg->data_prefix, 0ULL);
	sent += probe_send(io, &io->probe[0], data, oid);
	if (cfg->header_oid)
		sent += probe_send(io, &io->probe[1], cfg->ioctx, cfg->header_oid);
	if (objs > 1) {
		unsigned long long n = 1 + io->probe_rounds % (objs - 1);
		snprintf(oid, sizeof(oid), "%s.%016llx", cfg->data_prefix, n);
		sent += probe_send(io, &io->probe[2], data, oid);
	}
	io->probe_rounds++;
	io->probing = sent > 0;
	io->probe_answered = false;
}

/* How long a probe stat may stay out: the OSD timeout (after which librados should end
 * it) and a second. */
static int64_t probe_deadline_ms(const struct pvr_io *io)
{
	return fault_probe_cancel() ? 1000 : io->cfg.probe_timeout_s * 1000L + 1000;
}

/* The watchdog's part of a round: results in, a stat past its deadline cancelled (its
 * callback follows with -ECANCELED), and once none is out: up if one answered, else
 * down. */
static void probe_reap(struct pvr_io *io)
{
	int64_t now = pv_mono_ms(), deadline = probe_deadline_ms(io);
	int out = 0, r = 0;
	if (!io->probing)
		return;
	for (int i = 0; i < PVR_PROBE_OBJS; i++) {
		struct probe_slot *ps = &io->probe[i];
		if (!ps->c)
			continue;
		if (!__atomic_load_n(&ps->done, __ATOMIC_ACQUIRE)) {
			if (!ps->cancelled && now - ps->sent_ms > deadline) {
				pv_info("the idle probe's stat of %s was still out after %lld ms: cancelled", ps->oid,
					(long long)(now - ps->sent_ms));
				rados_aio_cancel(ps->ioctx, ps->c);
				ps->cancelled = true;
			}
			out++;
			continue;
		}
		r = __atomic_load_n(&ps->rval, __ATOMIC_RELAXED);
		rados_aio_release(ps->c);
		ps->c = NULL;
		if (r >= 0 || r == -ENOENT) {   /* no such object: the OSD answered */
			io->probe_answered = true;
			io_result(io, 0, OP_READ);
		} else if (r == -ESHUTDOWN) {
			io_result(io, r, OP_READ);
		} else if (r != -ETIMEDOUT && r != -ECANCELED) {
			pv_info("the idle probe's stat of %s failed: %s", ps->oid, strerror(-r));
		}
	}
	if (out)
		return;
	io->probing = false;
	__atomic_store_n(&io->last_done_ms, now, __ATOMIC_RELAXED);   /* the next round in PVR_PROBE_IDLE_S */
	if (!io->probe_answered) {
		char why[160];
		snprintf(why, sizeof(why), "the idle probe: no object of the image answered within %lld ms (OSDs unreachable)",
			 (long long)probe_deadline_ms(io));
		set_state(io, ST_DOWN, why);
	}
}

/* pvr_io_stop, after the watchdog ended: nothing may call back into io once it is freed. */
static void probe_drain(struct pvr_io *io)
{
	for (int i = 0; i < PVR_PROBE_OBJS; i++) {
		struct probe_slot *ps = &io->probe[i];
		if (!ps->c)
			continue;
		if (!__atomic_load_n(&ps->done, __ATOMIC_ACQUIRE)) {
			pv_info("stopping: the idle probe's stat of %s cancelled", ps->oid);
			rados_aio_cancel(ps->ioctx, ps->c);
		}
		rados_aio_wait_for_complete_and_cb(ps->c);
		rados_aio_release(ps->c);
		ps->c = NULL;
	}
}

static void *watchdog(void *arg)
{
	struct pvr_io *io = arg;
	while (!__atomic_load_n(&io->stop, __ATOMIC_RELAXED)) {
		struct pollfd p = { .fd = io->efd, .events = POLLIN };
		uint64_t v;
		if (poll(&p, 1, 1000) > 0 && read(io->efd, &v, sizeof(v)) < 0) { /* spurious */ }
		bool sig = io->cfg.resize_flag && *io->cfg.resize_flag;
		if (sig)
			*io->cfg.resize_flag = 0;
		if (__atomic_exchange_n(&io->refresh, 0, __ATOMIC_RELAXED) || sig)
			refresh_size(io);
		int64_t idle = pv_mono_ms() - __atomic_load_n(&io->last_done_ms, __ATOMIC_RELAXED);
		if (__atomic_load_n(&io->inflight, __ATOMIC_RELAXED) > 0 && idle > io->cfg.stall_s * 1000L) {
			char why[128];
			snprintf(why, sizeof(why), "no I/O has completed for %lld s: the Ceph cluster does not answer",
				 (long long)(idle / 1000));
			set_state(io, ST_DOWN, why);
		}
		retry_refused(io, false);
		probe_reap(io);
		probe_start(io);
	}
	retry_refused(io, true);
	return NULL;
}

int pvr_io_start(const struct pvr_io_cfg *cfg, struct pvr_io **out, struct pv_err *err)
{
	struct pvr_io *io = calloc(1, sizeof(*io));
	uint64_t size = 0;
	int r;
	if (!io)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	io->cfg = *cfg;
	if (io->cfg.stall_s <= 0)
		io->cfg.stall_s = 5;
	if (io->cfg.probe_timeout_s <= 0)
		io->cfg.probe_timeout_s = 5;
	pthread_mutex_init(&io->status_lock, NULL);
	pthread_mutex_init(&io->relock_mu, NULL);
	pthread_mutex_init(&io->retry_mu, NULL);
	r = rbd_get_size(cfg->image, &size);
	io->size = size;
	io->last_done_ms = pv_mono_ms();
	io->efd = r < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r < 0 || io->efd < 0) {
		r = pv_err_set(err, r < 0 ? r : -errno, PV_E_INTERNAL, "cannot read the image size: %s",
			       strerror(r < 0 ? -r : errno));
		goto fail;
	}
	io->watching = rbd_update_watch(cfg->image, &io->watch_handle, on_header_update, io) == 0;
	if ((r = -pthread_create(&io->thread, NULL, watchdog, io)) < 0) {
		r = pv_err_set(err, r, PV_E_INTERNAL, "cannot start the watchdog thread");
		goto fail;
	}
	write_status(io);
	*out = io;
	return 0;
fail:
	if (io->watching)
		rbd_update_unwatch(cfg->image, io->watch_handle);
	if (io->efd >= 0)
		close(io->efd);
	pthread_mutex_destroy(&io->retry_mu);
	pthread_mutex_destroy(&io->relock_mu);
	pthread_mutex_destroy(&io->status_lock);
	free(io);
	return r;
}

void pvr_io_stop(struct pvr_io *io)
{
	if (!io)
		return;
	__atomic_store_n(&io->stop, 1, __ATOMIC_RELAXED);
	pvr_io_refresh(io);
	pthread_join(io->thread, NULL);
	probe_drain(io);
	if (io->watching)
		rbd_update_unwatch(io->cfg.image, io->watch_handle);
	close(io->efd);
	pthread_mutex_destroy(&io->retry_mu);
	pthread_mutex_destroy(&io->relock_mu);
	pthread_mutex_destroy(&io->status_lock);
	free(io);
}
