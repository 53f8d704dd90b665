/*
 * iscsi_io.c — the helper's I/O engine (see iscsi_io.h).
 *
 * Requests (struct io_req) come two ways: blockfuse's asynchronous calls (aio_*) allocate
 * one and get a callback, the synchronous ones keep it on the stack of the worker that
 * waits for it. The submitting thread puts a command on the wire itself when nothing
 * waits before it, else the engine thread moves requests from `pending` to libiscsi
 * (async *_task calls); completions come from libiscsi's callbacks. Callbacks of
 * asynchronous requests are collected and run after the lock is dropped, so answering
 * the kernel never holds up the session. A transport failure (connection lost,
 * PDU timeout) puts every request in flight back on `pending` and the engine logs in
 * again; a request that has waited longer than io_timeout fails with EIO. libiscsi's
 * own reconnect is off: after a new login the persistent reservation must be moved to
 * the new session (tgt ties registrations to the session) before any write.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "iscsi_io.h"
#include "pvnode/driver/os.h"

enum io_op { OP_READ, OP_WRITE, OP_FLUSH, OP_UNMAP, OP_WSAME, OP_WSAME_UNMAP, OP_TUR, OP_CAPACITY };
enum io_state { ST_UP, ST_DOWN, ST_FENCED, ST_STOPPING };

struct io_req {
	enum io_op op;
	void *buf;
	size_t len;
	uint64_t off;
	struct scsi_iovec iov;
	int64_t deadline_ms;
	int tries;
	int result;
	bool done;
	bool internal;            /* no waiter: TUR probes, capacity re-reads */
	struct pvi_io *io;
	pthread_cond_t cond;
	pv_blockfuse_done *cb;    /* asynchronous: no waiter, cb(tag, result) */
	void *tag;
	struct io_req *next;
};

struct pvi_io {
	struct pvi_io_cfg cfg;
	struct iscsi_context *iscsi;
	char portal[128];
	pthread_t thread;
	pthread_mutex_t lock;
	struct io_req *pending, **pending_tail;
	struct io_req *inflight;   /* singly linked, unordered */
	size_t inflight_bytes;     /* data of the READs/WRITEs in flight */
	struct io_req *completed;  /* asynchronous requests whose callback is due */
	int efd;
	bool stop;
	enum io_state state;
	int64_t down_since_ms;
	int64_t last_io_ms;
	uint64_t size;
	uint32_t block_size;
	bool can_unmap;
	unsigned char *zero_block;
	char status[512];
	const char *lost;          /* set by callbacks; handled after iscsi_service() */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_status(struct pvi_io *io, const char *state, const char *why)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "state=%s\nportal=%s\nsize=%llu\nblock_size=%u\nwhy=%s\n",
			 state, io->portal, (unsigned long long)io->size, io->block_size,
			 why ? why : "");
	if (strcmp(io->status, buf) == 0 || !io->cfg.status_path)
		return;
	snprintf(io->status, sizeof(io->status), "%s", buf);
	pv_write_atomic(io->cfg.status_path, buf, (size_t)n, 0644, NULL);
}

/* --- request completion (engine thread, lock held) --- */

static void complete(struct io_req *r, int result)
{
	r->result = result;
	r->done = true;
	if (r->internal) {
		free(r);
	} else if (r->cb) {
		r->next = r->io->completed;
		r->io->completed = r;
	} else {
		pthread_cond_signal(&r->cond);
	}
}

/* Run the callbacks of completed asynchronous requests without the lock (lock held on
 * entry and on return). */
static void run_callbacks(struct pvi_io *io)
{
	while (io->completed) {
		struct io_req *list = io->completed;
		io->completed = NULL;
		pthread_mutex_unlock(&io->lock);
		while (list) {
			struct io_req *r = list;
			list = r->next;
			r->cb(r->tag, r->result);
			free(r);
		}
		pthread_mutex_lock(&io->lock);
	}
}

static size_t data_len(const struct io_req *r)
{
	return (r->op == OP_READ || r->op == OP_WRITE) ? r->len : 0;
}

static void unlink_inflight(struct pvi_io *io, struct io_req *r)
{
	for (struct io_req **p = &io->inflight; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			r->next = NULL;
			io->inflight_bytes -= data_len(r);
			return;
		}
}

/* Room for r on the wire? More than a few MiB in flight only adds contention (tgtd, the
 * initiator and the kernel share the CPUs); one command always fits. */
static bool has_room(const struct pvi_io *io, const struct io_req *r)
{
	return !io->inflight || io->inflight_bytes + data_len(r) <= io->cfg.max_inflight_bytes;
}

static void push_front(struct pvi_io *io, struct io_req *r)
{
	r->next = io->pending;
	io->pending = r;
	if (io->pending_tail == &io->pending)
		io->pending_tail = &r->next;
}

static void task_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct io_req *r = priv;
	struct pvi_io *io = r->io;
	struct scsi_task *task = data;
	int result = 0;

	(void)iscsi;
	unlink_inflight(io, r);
	if (status == SCSI_STATUS_GOOD) {
		if (r->op == OP_CAPACITY) {
			struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(task);
			if (rc) {
				__atomic_store_n(&io->size, (rc->returned_lba + 1) * rc->block_length,
						 __ATOMIC_RELAXED);
				write_status(io, "up", "");
			}
		}
	} else if (status == SCSI_STATUS_CHECK_CONDITION && task &&
		   task->sense.key == SCSI_SENSE_UNIT_ATTENTION && r->tries++ < 8) {
		push_front(io, r);      /* retry */
		goto out;
	} else if (status == SCSI_STATUS_CHECK_CONDITION && task &&
		   task->sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
		   (r->op == OP_UNMAP || r->op == OP_WSAME || r->op == OP_WSAME_UNMAP)) {
		result = -EOPNOTSUPP;
	} else if (status == SCSI_STATUS_RESERVATION_CONFLICT) {
		result = -EIO;
		if (io->cfg.key && r->op != OP_READ) {
			io->state = ST_FENCED;
			write_status(io, "fenced", "a write got RESERVATION CONFLICT: another node preempted our reservation");
		}
	} else if (status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR ||
		   status == SCSI_STATUS_TIMEOUT) {
		/* transport trouble: retry after a new login */
		push_front(io, r);
		if (task)
			scsi_free_scsi_task(task);
		if (io->state == ST_UP && !io->lost)
			io->lost = status == SCSI_STATUS_TIMEOUT ? "command timed out" : "connection lost";
		return;
	} else {
		result = -EIO;
	}
	complete(r, result);
out:
	if (task)
		scsi_free_scsi_task(task);
}

static int submit(struct pvi_io *io, struct io_req *r)
{
	struct iscsi_context *c = io->iscsi;
	int lun = io->cfg.target->lun, bs = (int)io->block_size;
	struct scsi_task *t = NULL;
	uint64_t lba = r->off / io->block_size;
	uint32_t nblocks = (uint32_t)(r->len / io->block_size);

	switch (r->op) {
	case OP_READ:
		r->iov = (struct scsi_iovec){ r->buf, r->len };
		t = iscsi_read16_iov_task(c, lun, lba, (uint32_t)r->len, bs, 0, 0, 0, 0, 0, task_cb, r,
					  &r->iov, 1);
		break;
	case OP_WRITE:
		r->iov = (struct scsi_iovec){ r->buf, r->len };
		t = iscsi_write16_iov_task(c, lun, lba, NULL, (uint32_t)r->len, bs, 0, 0, 0, 0, 0,
					   task_cb, r, &r->iov, 1);
		break;
	case OP_FLUSH:
		t = iscsi_synchronizecache10_task(c, lun, 0, 0, 0, 0, task_cb, r);
		break;
	case OP_UNMAP: {
		struct unmap_list l = { .lba = lba, .num = nblocks };
		t = iscsi_unmap_task(c, lun, 0, 0, &l, 1, task_cb, r);
		break;
	}
	case OP_WSAME:
	case OP_WSAME_UNMAP:
		t = iscsi_writesame16_task(c, lun, lba, io->zero_block, io->block_size, nblocks, 0,
					   r->op == OP_WSAME_UNMAP && io->can_unmap, 0, 0, task_cb, r);
		break;
	case OP_TUR:
		t = iscsi_testunitready_task(c, lun, task_cb, r);
		break;
	case OP_CAPACITY:
		t = iscsi_readcapacity16_task(c, lun, task_cb, r);
		break;
	}
	if (!t)
		return -EIO;
	r->next = io->inflight;
	io->inflight = r;
	io->inflight_bytes += data_len(r);
	return 0;
}

/* Connection gone: everything in flight goes back to pending, state DOWN. */
static void on_transport_lost(struct pvi_io *io, const char *why)
{
	struct iscsi_context *c = io->iscsi;
	if (io->state != ST_UP)
		return;
	io->state = ST_DOWN;
	io->down_since_ms = now_ms();
	pv_warn("iSCSI %s at %s: %s; logging in again", io->cfg.target->iqn, io->portal, why);
	write_status(io, "down", why);
	io->iscsi = NULL;
	/* destroying the context cancels what is in flight: task_cb requeues it */
	if (c)
		iscsi_destroy_context(c);
	while (io->inflight) {
		struct io_req *r = io->inflight;
		io->inflight = r->next;
		push_front(io, r);
	}
	io->inflight_bytes = 0;
	io->lost = NULL;
}

/* Try one new login (engine thread, lock NOT held: it blocks). */
static void try_relogin(struct pvi_io *io)
{
	struct iscsi_context *c = NULL;
	struct pv_err err = { 0 };
	char portal[128];
	int r;

	/* keep each attempt well inside io_timeout so waiting I/O still fails in time */
	struct pvi_target t = *io->cfg.target;
	int bound = io->cfg.io_timeout_s / 3 > 0 ? io->cfg.io_timeout_s / 3 : 1;
	if (t.login_timeout_s <= 0 || t.login_timeout_s > bound)
		t.login_timeout_s = bound;
	pthread_mutex_unlock(&io->lock);
	r = pvi_login(&t, &c, portal, sizeof(portal), &err);
	if (r == 0 && io->cfg.key)
		r = pvi_pr_acquire(c, &t, io->cfg.key, &err);
	pvi_target_wipe(&t);
	pthread_mutex_lock(&io->lock);
	if (r < 0) {
		if (c)
			pvi_logout(c);
		if (err.kind == PV_E_POLICY) {
			io->state = ST_FENCED;
			write_status(io, "fenced", err.msg);
		} else {
			write_status(io, "down", err.msg);
		}
		return;
	}
	iscsi_set_timeout(c, io->cfg.io_timeout_s);
	io->iscsi = c;
	snprintf(io->portal, sizeof(io->portal), "%s", portal);
	io->state = ST_UP;
	pv_info("iSCSI %s: logged in again at %s", io->cfg.target->iqn, portal);
	write_status(io, "up", "");
}

/* Fail what waited too long; while the target stays away, fail new I/O at once. */
static void expire(struct pvi_io *io, int64_t now, bool all)
{
	struct io_req **p = &io->pending;
	while (*p) {
		struct io_req *r = *p;
		if (all || now >= r->deadline_ms) {
			*p = r->next;
			complete(r, -EIO);
		} else {
			p = &r->next;
		}
	}
	io->pending_tail = &io->pending;
	for (struct io_req *r = io->pending; r; r = r->next)
		io->pending_tail = &r->next;
}

static void enqueue_internal(struct pvi_io *io, enum io_op op)
{
	struct io_req *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->op = op;
	r->internal = true;
	r->io = io;
	r->deadline_ms = now_ms() + io->cfg.io_timeout_s * 1000LL;
	*io->pending_tail = r;
	io->pending_tail = &r->next;
}

static void *engine(void *arg)
{
	struct pvi_io *io = arg;
	int64_t last_tick = now_ms(), last_login_try = 0;

	pthread_mutex_lock(&io->lock);
	while (!io->stop) {
		int64_t now = now_ms();
		if (io->cfg.resize_flag && *io->cfg.resize_flag) {
			*io->cfg.resize_flag = 0;
			enqueue_internal(io, OP_CAPACITY);
		}
		/* fail what waited too long before a login attempt blocks this thread again */
		if (io->state == ST_FENCED)
			expire(io, now, true);
		if (io->state == ST_DOWN)
			expire(io, now, now - io->down_since_ms >= io->cfg.io_timeout_s * 1000LL);
		if (io->state == ST_DOWN && now - last_login_try >= 1000) {
			last_login_try = now;
			try_relogin(io);
			now = now_ms();
			if (io->state == ST_DOWN)
				expire(io, now, now - io->down_since_ms >= io->cfg.io_timeout_s * 1000LL);
		}
		bool submitted = false;
		while (io->state == ST_UP && io->pending && has_room(io, io->pending)) {
			struct io_req *r = io->pending;
			io->pending = r->next;
			if (!io->pending)
				io->pending_tail = &io->pending;
			r->next = NULL;
			if (submit(io, r) < 0) {
				push_front(io, r);
				on_transport_lost(io, iscsi_get_error(io->iscsi));
			} else {
				submitted = true;
			}
		}
		/* Push the new commands onto the wire now instead of after another poll. */
		if (submitted && io->state == ST_UP && (iscsi_which_events(io->iscsi) & POLLOUT) &&
		    iscsi_service(io->iscsi, POLLOUT) < 0 && !io->lost)
			io->lost = "connection lost";
		if (io->lost) {
			on_transport_lost(io, io->lost);
			continue;
		}
		/* Probe an idle session so health sees a dead target without traffic. */
		if (io->state == ST_UP && !io->inflight && now - io->last_io_ms > 5000) {
			io->last_io_ms = now;
			enqueue_internal(io, OP_TUR);
			continue;
		}
		run_callbacks(io);
		if (io->stop)
			break;
		struct pollfd p[2] = { { .fd = io->efd, .events = POLLIN }, { .fd = -1 } };
		if (io->state == ST_UP) {
			p[1].fd = iscsi_get_fd(io->iscsi);
			p[1].events = (short)iscsi_which_events(io->iscsi);
		}
		pthread_mutex_unlock(&io->lock);
		int n = poll(p, 2, io->state == ST_UP ? 500 : 200);
		pthread_mutex_lock(&io->lock);
		if (n > 0 && (p[0].revents & POLLIN)) {
			uint64_t v;
			if (read(io->efd, &v, sizeof(v)) < 0) { /* nothing: counter was drained */ }
		}
		if (io->state == ST_UP && io->iscsi) {
			now = now_ms();
			int revents = n > 0 ? p[1].revents : 0;
			if (revents)
				io->last_io_ms = now;
			if (revents || now - last_tick >= 1000) {
				if (!revents)
					last_tick = now;   /* timeout processing once a second */
				if (iscsi_service(io->iscsi, revents) < 0 && !io->lost)
					io->lost = "connection lost";
			}
			if (io->lost)
				on_transport_lost(io, io->lost);
		}
	}
	expire(io, now_ms(), true);
	run_callbacks(io);
	pthread_mutex_unlock(&io->lock);
	return NULL;
}

/* --- the blockfuse side: called by worker threads --- */

/* Hand r to the session (lock held): 0, or -EIO when the target is fenced or gone. */
static int start(struct pvi_io *io, struct io_req *r)
{
	uint64_t one = 1;
	int64_t now = now_ms();

	if (io->state == ST_FENCED || (io->state == ST_DOWN &&
	    now - io->down_since_ms >= io->cfg.io_timeout_s * 1000LL))
		return -EIO;
	r->deadline_ms = now + io->cfg.io_timeout_s * 1000LL;
	bool wake = true;
	if (io->state == ST_UP && !io->pending && !io->lost && has_room(io, r) && submit(io, r) == 0) {
		/* Fast path: put the command on the wire from this thread; the engine only
		 * has to see the reply. Wake it if output is left or the link broke. */
		if ((iscsi_which_events(io->iscsi) & POLLOUT) && iscsi_service(io->iscsi, POLLOUT) < 0)
			io->lost = "connection lost";
		wake = io->lost || (iscsi_which_events(io->iscsi) & POLLOUT);
	} else {
		if (io->state == ST_UP && !io->pending && !io->lost && has_room(io, r))
			io->lost = "cannot queue a command";
		*io->pending_tail = r;
		io->pending_tail = &r->next;
	}
	if (wake && write(io->efd, &one, sizeof(one)) < 0) { /* counter full: the engine is awake */ }
	return 0;
}

static int run(struct pvi_io *io, enum io_op op, void *buf, size_t len, uint64_t off)
{
	struct io_req r = { .op = op, .buf = buf, .len = len, .off = off, .io = io };

	pthread_cond_init(&r.cond, NULL);
	pthread_mutex_lock(&io->lock);
	int rc = start(io, &r);
	while (rc == 0 && !r.done)
		pthread_cond_wait(&r.cond, &io->lock);
	pthread_mutex_unlock(&io->lock);
	pthread_cond_destroy(&r.cond);
	return rc < 0 ? rc : r.result;
}

static int run_async(struct pvi_io *io, enum io_op op, void *buf, size_t len, uint64_t off,
		     pv_blockfuse_done *cb, void *tag)
{
	struct io_req *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct io_req){ .op = op, .buf = buf, .len = len, .off = off, .io = io, .cb = cb,
			      .tag = tag };
	pthread_mutex_lock(&io->lock);
	int rc = start(io, r);
	if (rc < 0)
		free(r);
	else
		run_callbacks(io);   /* whatever completed meanwhile (r too, maybe) */
	pthread_mutex_unlock(&io->lock);
	return rc;
}

#define MAX_CMD (8u * 1024 * 1024)

static int op_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return run(ctx, OP_READ, buf, len, off);
}

static int op_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return run(ctx, OP_WRITE, (void *)buf, len, off);
}

static int op_flush(void *ctx)
{
	return run(ctx, OP_FLUSH, NULL, 0, 0);
}

static int op_aio_read(void *ctx, void *buf, size_t len, uint64_t off, pv_blockfuse_done *cb,
		       void *tag)
{
	return run_async(ctx, OP_READ, buf, len, off, cb, tag);
}

static int op_aio_write(void *ctx, const void *buf, size_t len, uint64_t off,
			pv_blockfuse_done *cb, void *tag)
{
	return run_async(ctx, OP_WRITE, (void *)buf, len, off, cb, tag);
}

static int op_aio_flush(void *ctx, pv_blockfuse_done *cb, void *tag)
{
	return run_async(ctx, OP_FLUSH, NULL, 0, 0, cb, tag);
}

/* UNMAP / WRITE SAME count blocks in 32 bits; split big ranges. */
static int ranged(struct pvi_io *io, enum io_op op, uint64_t off, uint64_t len)
{
	uint64_t chunk = (uint64_t)io->block_size * 65536;
	while (len) {
		uint64_t n = len < chunk ? len : chunk;
		int r = run(io, op, NULL, (size_t)n, off);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static int op_discard(void *ctx, uint64_t off, uint64_t len)
{
	return ranged(ctx, OP_UNMAP, off, len);
}

static int op_write_zeroes(void *ctx, uint64_t off, uint64_t len, bool may_unmap)
{
	return ranged(ctx, may_unmap ? OP_WSAME_UNMAP : OP_WSAME, off, len);
}

static uint64_t op_size(void *ctx)
{
	struct pvi_io *io = ctx;
	return __atomic_load_n(&io->size, __ATOMIC_RELAXED);
}

void pvi_io_ops(const struct pvi_io *io, struct pv_blockfuse_ops *ops)
{
	*ops = (struct pv_blockfuse_ops){
		.read = op_read, .write = op_write, .flush = op_flush, .size = op_size,
		.discard = io->can_unmap ? op_discard : NULL,
		.write_zeroes = op_write_zeroes,
		.aio_read = op_aio_read, .aio_write = op_aio_write, .aio_flush = op_aio_flush,
	};
}

bool pvi_io_can_unmap(const struct pvi_io *io)
{
	return io->can_unmap;
}

uint32_t pvi_io_block_size(const struct pvi_io *io)
{
	return io->block_size;
}

int pvi_io_wake_fd(const struct pvi_io *io)
{
	return io->efd;
}

/* Thin provisioning (LBPME) decides whether UNMAP is worth sending. */
static void probe_unmap(struct pvi_io *io)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(io->iscsi, io->cfg.target->lun);
	struct scsi_readcapacity16 *rc = t && t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
	io->can_unmap = rc && rc->lbpme && rc->lbprz;
	if (t)
		scsi_free_scsi_task(t);
}

int pvi_io_start(const struct pvi_io_cfg *cfg, struct iscsi_context *iscsi, const char *portal,
		 struct pvi_io **out, struct pv_err *err)
{
	struct pvi_io *io = calloc(1, sizeof(*io));
	sigset_t all, old;
	int r;

	if (!io)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	io->cfg = *cfg;
	if (io->cfg.io_timeout_s <= 0)
		io->cfg.io_timeout_s = 15;
	if (!io->cfg.max_inflight_bytes)
		io->cfg.max_inflight_bytes = 2u << 20;
	io->iscsi = iscsi;
	snprintf(io->portal, sizeof(io->portal), "%s", portal);
	r = pvi_capacity(iscsi, cfg->target, &io->size, &io->block_size, err);
	if (r < 0)
		goto fail;
	probe_unmap(io);
	io->zero_block = calloc(1, io->block_size);
	io->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!io->zero_block || io->efd < 0) {
		r = pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "cannot set up the iSCSI I/O engine");
		goto fail;
	}
	iscsi_set_timeout(iscsi, io->cfg.io_timeout_s);
	pthread_mutex_init(&io->lock, NULL);
	io->pending_tail = &io->pending;
	io->state = ST_UP;
	io->last_io_ms = now_ms();
	write_status(io, "up", "");
	/* Signals belong to the main thread (FUSE's handlers end its loop). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&io->thread, NULL, engine, io);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pv_err_set(err, r, PV_E_INTERNAL, "cannot start the iSCSI I/O thread");
		goto fail;
	}
	*out = io;
	return 0;
fail:
	if (io->efd > 0)
		close(io->efd);
	free(io->zero_block);
	free(io);
	return r;
}

void pvi_io_stop(struct pvi_io *io)
{
	uint64_t one = 1;
	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	io->stop = true;
	pthread_mutex_unlock(&io->lock);
	if (write(io->efd, &one, sizeof(one)) < 0) { /* engine is awake anyway */ }
	pthread_join(io->thread, NULL);
	if (io->iscsi && io->state == ST_UP) {
		if (io->cfg.key && pvi_pr_release(io->iscsi, io->cfg.target->lun, io->cfg.key) < 0)
			pv_warn("iSCSI %s: releasing the reservation failed", io->cfg.target->iqn);
		iscsi_set_timeout(io->iscsi, 5);
		pvi_logout(io->iscsi);
	} else if (io->iscsi) {
		iscsi_destroy_context(io->iscsi);
	}
	write_status(io, "stopped", "");
	close(io->efd);
	free(io->zero_block);
	free(io);
}
