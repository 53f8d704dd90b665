/*
 * iscsi_io.c — the helper's I/O engine (see iscsi_io.h).
 *
 * The volume is served over one or more sessions (struct sess), each its own libiscsi
 * context, TCP connection, lock, queues and engine thread; a request goes to the session
 * with the least data in flight among those that are up. A flush goes to one session:
 * SYNCHRONIZE CACHE acts on the logical unit, so it covers what every session wrote
 * and had answered before it (the kernel sends it only after those were answered).
 *
 * Requests (struct io_req) come two ways: blockfuse's asynchronous calls (aio_*) allocate
 * one and get a callback, the synchronous ones keep it on the stack of the worker that
 * waits for it. The submitting thread puts a command on the wire itself when nothing
 * waits before it, else the session's engine thread moves requests from `pending` to
 * libiscsi (async *_task calls); completions come from libiscsi's callbacks. Callbacks of
 * asynchronous requests are collected and run after the lock is dropped, so answering
 * the kernel never holds up the session. A transport failure (connection lost,
 * PDU timeout) puts every request in flight on that session back on its `pending` and
 * its engine logs in again; a request that has waited longer than io_timeout fails with
 * EIO. libiscsi's own reconnect is off: after a new login the session registers our key
 * and checks that the reservation is ours (pvi_pr_join) before any write. A write that
 * gets RESERVATION CONFLICT on any session fences them all.
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
/* A READ (or WRITE) larger than the split size goes out as several commands at once (at
 * most PVI_MAX_PARTS): tgtd's I/O threads then read the parts in parallel (1 MiB reads
 * faster in most interleaved rounds, at the same CPU per MiB). WRITEs stay whole by
 * default: libiscsi 1.19 offers FirstBurstLength and MaxBurstLength of 256 KiB and has no
 * call to raise them, so a 1 MiB WRITE sends 256 KiB unsolicited and waits for three
 * R2Ts, but four 256 KiB WRITEs (all data unsolicited) were slower through the helper in
 * 4 of 4 rounds and cost ~15 % more CPU per MiB in it and in tgtd (README, figures). */
#define PVI_MAX_PARTS 8
#define PVI_SPLIT_READ_DEFAULT (256u * 1024)
/* How the commands of a request ended, worst last. */
enum part_result { PR_GOOD, PR_UA, PR_NOTSUP, PR_FAILED, PR_CONFLICT, PR_TRANSPORT };

struct io_req {
	enum io_op op;
	void *buf;
	size_t len;
	uint64_t off;
	struct scsi_iovec iov[PVI_MAX_PARTS];   /* one per command of the request */
	unsigned parts_left;      /* commands of it still on the wire */
	int worst;                /* enum part_result: the worst answer of its commands */
	int64_t deadline_ms;
	int tries;
	int result;
	bool done;
	bool internal;            /* no waiter: TUR probes, capacity re-reads */
	struct sess *sess;        /* the session it was handed to */
	pthread_cond_t cond;
	pv_blockfuse_done *cb;    /* asynchronous: no waiter, cb(tag, result) */
	void *tag;
	struct io_req *next;
};

struct sess {
	struct pvi_io *io;
	int idx;
	struct iscsi_context *iscsi;
	char portal[128];
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	struct io_req *pending, **pending_tail;
	struct io_req *inflight;   /* singly linked, unordered */
	size_t inflight_bytes;     /* data of the READs/WRITEs in flight */
	size_t load;               /* bytes handed to this session and not done (pick) */
	struct io_req *completed;  /* asynchronous requests whose callback is due */
	int efd;
	bool stop;
	enum io_state state;
	int64_t down_since_ms;
	int64_t last_io_ms;
	const char *lost;          /* set by callbacks; handled after iscsi_service() */
	char why[256];             /* of the state, for the status file */
};

struct pvi_io {
	struct pvi_io_cfg cfg;
	struct sess sess[PVI_MAX_SESSIONS];
	int n;
	size_t split_read;         /* bytes per READ command, 0: never split */
	size_t split_write;        /* bytes per WRITE command, 0: never split */
	bool fenced;               /* atomic: a write got RESERVATION CONFLICT somewhere */
	unsigned rr;               /* atomic: round robin among equally loaded sessions */
	uint64_t size;
	uint32_t block_size;
	bool can_unmap;
	unsigned char *zero_block;
	pthread_mutex_t status_lock;
	char status[640];
};

static bool is_fenced(const struct pvi_io *io)
{
	return __atomic_load_n(&io->fenced, __ATOMIC_ACQUIRE);
}

static const char *state_name(enum io_state st)
{
	return st == ST_UP ? "up" : st == ST_DOWN ? "down" : st == ST_FENCED ? "fenced" : "stopped";
}

/* The status file speaks for the volume: fenced if any session is, down if any is (a
 * volume that lost part of its sessions still works, but health should see it), else
 * up. Called with s->lock held (s's state is read under it; the others' racily, which
 * at worst repeats a stale line until their own next change rewrites it). */
static void write_status(struct sess *s, enum io_state st, const char *why)
{
	struct pvi_io *io = s->io;
	char buf[640];
	int up = 0;

	__atomic_store_n(&s->state, st, __ATOMIC_RELAXED);
	if (why != s->why)
		snprintf(s->why, sizeof(s->why), "%s", why ? why : "");
	pthread_mutex_lock(&io->status_lock);
	enum io_state agg = ST_UP;
	const char *agg_why = "";
	for (int i = 0; i < io->n; i++) {
		enum io_state si = __atomic_load_n(&io->sess[i].state, __ATOMIC_RELAXED);
		up += si == ST_UP;
		if (si == ST_FENCED || (si == ST_DOWN && agg != ST_FENCED) ||
		    (si == ST_STOPPING && agg == ST_UP)) {
			agg = si;
			agg_why = io->sess[i].why;
		}
	}
	if (is_fenced(io) && agg != ST_STOPPING)
		agg = ST_FENCED;
	int n = snprintf(buf, sizeof(buf),
			 "state=%s\nportal=%s\nsize=%llu\nblock_size=%u\nsessions=%d\nsessions_up=%d\nwhy=%s\n",
			 state_name(agg), io->sess[0].portal,
			 (unsigned long long)__atomic_load_n(&io->size, __ATOMIC_RELAXED), io->block_size,
			 io->n, up, agg_why);
	if (strcmp(io->status, buf) != 0 && io->cfg.status_path) {
		snprintf(io->status, sizeof(io->status), "%s", buf);
		pv_write_atomic(io->cfg.status_path, buf, (size_t)n, 0644, NULL);
	}
	pthread_mutex_unlock(&io->status_lock);
}

static void fence_all(struct sess *s, const char *why)
{
	__atomic_store_n(&s->io->fenced, true, __ATOMIC_RELEASE);
	write_status(s, ST_FENCED, why);
	/* the other engines see the flag at their next turn and fail what they hold */
	for (int i = 0; i < s->io->n; i++) {
		uint64_t one = 1;
		if (i != s->idx && write(s->io->sess[i].efd, &one, sizeof(one)) < 0) { /* awake */ }
	}
}

/* --- request completion (engine thread, lock held) --- */

static size_t data_len(const struct io_req *r)
{
	return (r->op == OP_READ || r->op == OP_WRITE) ? r->len : 0;
}

static void complete(struct sess *s, struct io_req *r, int result)
{
	r->result = result;
	r->done = true;
	__atomic_fetch_sub(&s->load, data_len(r) + 1, __ATOMIC_RELAXED);
	if (r->internal) {
		free(r);
	} else if (r->cb) {
		r->next = s->completed;
		s->completed = r;
	} else {
		pthread_cond_signal(&r->cond);
	}
}

/* Run the callbacks of completed asynchronous requests without the lock (lock held on
 * entry and on return). */
static void run_callbacks(struct sess *s)
{
	while (s->completed) {
		struct io_req *list = s->completed;
		s->completed = NULL;
		pthread_mutex_unlock(&s->lock);
		while (list) {
			struct io_req *r = list;
			list = r->next;
			r->cb(r->tag, r->result);
			free(r);
		}
		pthread_mutex_lock(&s->lock);
	}
}

static void unlink_inflight(struct sess *s, struct io_req *r)
{
	for (struct io_req **p = &s->inflight; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			r->next = NULL;
			s->inflight_bytes -= data_len(r);
			return;
		}
}

/* Room for r on the wire? More than a few MiB in flight only adds contention (tgtd, the
 * initiator and the kernel share the CPUs); one command always fits. The bound is the
 * volume's, shared out over its sessions. */
static bool has_room(const struct sess *s, const struct io_req *r)
{
	size_t max = s->io->cfg.max_inflight_bytes / (size_t)s->io->n;
	return !s->inflight || s->inflight_bytes + data_len(r) <= max;
}

static void push_front(struct sess *s, struct io_req *r)
{
	r->next = s->pending;
	s->pending = r;
	if (s->pending_tail == &s->pending)
		s->pending_tail = &r->next;
}

static void task_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct io_req *r = priv;
	struct sess *s = r->sess;
	struct pvi_io *io = s->io;
	struct scsi_task *task = data;
	int res = PR_GOOD;

	(void)iscsi;
	if (status == SCSI_STATUS_GOOD) {
		if (r->op == OP_CAPACITY) {
			struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(task);
			/* a new size in the same blocks; a LUN whose block size changed under us
			 * would put every LBA elsewhere: kept at the size we know, and said */
			if (rc && rc->block_length == io->block_size &&
			    rc->returned_lba < UINT64_MAX / rc->block_length) {
				__atomic_store_n(&io->size, (rc->returned_lba + 1) * rc->block_length,
						 __ATOMIC_RELAXED);
				write_status(s, s->state, s->why);
			} else if (rc) {
				pv_warn("iSCSI %s: READ CAPACITY now reports %u-byte blocks (last block %llu), not "
					"the %u-byte blocks the volume was attached with: size not changed",
					io->cfg.target->iqn, rc->block_length,
					(unsigned long long)rc->returned_lba, io->block_size);
			}
		}
	} else if (status == SCSI_STATUS_CHECK_CONDITION && task &&
		   task->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
		res = PR_UA;
	} else if (status == SCSI_STATUS_CHECK_CONDITION && task &&
		   task->sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
		   (r->op == OP_UNMAP || r->op == OP_WSAME || r->op == OP_WSAME_UNMAP)) {
		res = PR_NOTSUP;
	} else if (status == SCSI_STATUS_RESERVATION_CONFLICT) {
		res = PR_CONFLICT;
	} else if (status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR ||
		   status == SCSI_STATUS_TIMEOUT) {
		res = PR_TRANSPORT;
		if (s->state == ST_UP && !s->lost)
			s->lost = status == SCSI_STATUS_TIMEOUT ? "command timed out" : "connection lost";
	} else {
		res = PR_FAILED;
	}
	if (task)
		scsi_free_scsi_task(task);
	if (res > r->worst)
		r->worst = res;
	if (--r->parts_left)
		return;            /* the request ends with its last command */
	unlink_inflight(s, r);
	res = r->worst;
	r->worst = PR_GOOD;
	switch (res) {
	case PR_GOOD:
		complete(s, r, 0);
		break;
	case PR_UA:
		if (r->tries++ < 8) {
			push_front(s, r);      /* retry (all of it: rewriting the same data is harmless) */
			break;
		}
		complete(s, r, -EIO);
		break;
	case PR_NOTSUP:
		complete(s, r, -EOPNOTSUPP);
		break;
	case PR_CONFLICT:
		if (io->cfg.key && r->op != OP_READ)
			fence_all(s, "a write got RESERVATION CONFLICT: another node preempted our reservation");
		complete(s, r, -EIO);
		break;
	case PR_TRANSPORT:
		push_front(s, r);          /* retry after a new login */
		break;
	default:
		complete(s, r, -EIO);
	}
}

/* READ/WRITE of r as one or more commands (r->parts_left set); 0, or -EIO when not even
 * the first could be queued. A failure after that: the queued ones complete as usual and
 * the request is retried whole after a new login. */
static int submit_rw(struct sess *s, struct io_req *r, int lun, int bs)
{
	size_t split, len = r->len;
	unsigned n = pvi_split_parts(len, r->op == OP_READ ? s->io->split_read : s->io->split_write,
				     (size_t)bs, PVI_MAX_PARTS, &split);
	r->parts_left = 0;
	r->worst = PR_GOOD;
	for (unsigned k = 0; k < n; k++) {
		size_t off = (size_t)k * split, plen = len - off < split ? len - off : split;
		uint64_t lba = (r->off + off) / (uint64_t)bs;
		struct scsi_task *t;
		r->iov[k] = (struct scsi_iovec){ (char *)r->buf + off, plen };
		/* libiscsi reads the data straight into the request's buffer and writes it to
		 * the socket from there (no copy) */
		if (r->op == OP_READ)
			t = iscsi_read16_iov_task(s->iscsi, lun, lba, (uint32_t)plen, bs, 0, 0, 0, 0, 0,
						  task_cb, r, &r->iov[k], 1);
		else
			t = iscsi_write16_iov_task(s->iscsi, lun, lba, NULL, (uint32_t)plen, bs, 0, 0, 0,
						   0, 0, task_cb, r, &r->iov[k], 1);
		if (!t) {
			if (!k)
				return -EIO;
			r->worst = PR_TRANSPORT;
			if (!s->lost)
				s->lost = "cannot queue a command";
			break;
		}
		r->parts_left++;
	}
	return 0;
}

static int submit(struct sess *s, struct io_req *r)
{
	struct pvi_io *io = s->io;
	struct iscsi_context *c = s->iscsi;
	int lun = io->cfg.target->lun, bs = (int)io->block_size;
	struct scsi_task *t = NULL;
	uint64_t lba = r->off / io->block_size;
	uint32_t nblocks = (uint32_t)(r->len / io->block_size);

	r->parts_left = 1;
	r->worst = PR_GOOD;
	switch (r->op) {
	case OP_READ:
	case OP_WRITE:
		if (submit_rw(s, r, lun, bs) < 0)
			return -EIO;
		t = NULL;
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
	if (!t && r->op != OP_READ && r->op != OP_WRITE)
		return -EIO;
	r->next = s->inflight;
	s->inflight = r;
	s->inflight_bytes += data_len(r);
	return 0;
}

/* Connection gone: everything in flight goes back to pending, state DOWN. */
static void on_transport_lost(struct sess *s, const char *why)
{
	struct iscsi_context *c = s->iscsi;
	if (s->state != ST_UP)
		return;
	s->down_since_ms = pv_mono_ms();
	pv_warn("iSCSI %s at %s (session %d of %d): %s; logging in again", s->io->cfg.target->iqn,
		s->portal, s->idx + 1, s->io->n, why);
	write_status(s, ST_DOWN, why);
	s->iscsi = NULL;
	/* destroying the context cancels what is in flight: task_cb requeues it */
	if (c)
		iscsi_destroy_context(c);
	while (s->inflight) {
		struct io_req *r = s->inflight;
		s->inflight = r->next;
		push_front(s, r);
	}
	s->inflight_bytes = 0;
	s->lost = NULL;
}

/* Try one new login (engine thread, lock NOT held: it blocks). The new session registers
 * our key and checks the reservation is still ours before it writes (pvi_pr_join: never
 * a preempt, which would drop the registrations of the other sessions). */
static void try_relogin(struct sess *s)
{
	struct pvi_io *io = s->io;
	struct iscsi_context *c = NULL;
	struct pv_err err = { 0 };
	char portal[128];
	int r;

	/* keep each attempt well inside io_timeout so waiting I/O still fails in time */
	struct pvi_target t = *io->cfg.target;
	int bound = io->cfg.io_timeout_s / 3 > 0 ? io->cfg.io_timeout_s / 3 : 1;
	if (t.login_timeout_s <= 0 || t.login_timeout_s > bound)
		t.login_timeout_s = bound;
	pthread_mutex_unlock(&s->lock);
	r = pvi_login(&t, &c, portal, sizeof(portal), &err);
	if (r == 0 && io->cfg.key)
		r = pvi_pr_join(c, &t, io->cfg.key, &err);
	pvi_target_wipe(&t);
	pthread_mutex_lock(&s->lock);
	if (r < 0) {
		if (c)
			pvi_logout(c);
		if (err.kind == PV_E_POLICY)
			fence_all(s, err.msg);
		else
			write_status(s, ST_DOWN, err.msg);
		return;
	}
	if (is_fenced(io)) {   /* another session was fenced meanwhile: this one stays out */
		pvi_logout(c);
		write_status(s, ST_FENCED, "another session of this volume was fenced");
		return;
	}
	iscsi_set_timeout(c, io->cfg.io_timeout_s);
	s->iscsi = c;
	snprintf(s->portal, sizeof(s->portal), "%s", portal);
	pv_info("iSCSI %s: session %d of %d logged in again at %s", io->cfg.target->iqn, s->idx + 1,
		io->n, portal);
	write_status(s, ST_UP, "");
}

/* Fail what waited too long; while the target stays away, fail new I/O at once. */
static void expire(struct sess *s, int64_t now, bool all)
{
	struct io_req **p = &s->pending;
	while (*p) {
		struct io_req *r = *p;
		if (all || now >= r->deadline_ms) {
			*p = r->next;
			complete(s, r, -EIO);
		} else {
			p = &r->next;
		}
	}
	s->pending_tail = &s->pending;
	for (struct io_req *r = s->pending; r; r = r->next)
		s->pending_tail = &r->next;
}

static void enqueue_internal(struct sess *s, enum io_op op)
{
	struct io_req *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->op = op;
	r->internal = true;
	r->sess = s;
	r->deadline_ms = pv_mono_ms() + s->io->cfg.io_timeout_s * 1000LL;
	__atomic_fetch_add(&s->load, 1, __ATOMIC_RELAXED);
	*s->pending_tail = r;
	s->pending_tail = &r->next;
}

static void *engine(void *arg)
{
	struct sess *s = arg;
	struct pvi_io *io = s->io;
	int64_t last_tick = pv_mono_ms(), last_login_try = 0;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		int64_t now = pv_mono_ms();
		if (s->idx == 0 && io->cfg.resize_flag && *io->cfg.resize_flag) {
			*io->cfg.resize_flag = 0;
			enqueue_internal(s, OP_CAPACITY);
		}
		if (is_fenced(io) && s->state != ST_FENCED) {
			/* another session was fenced: this one is too (its writes would conflict) */
			if (s->state == ST_UP)
				on_transport_lost(s, "fenced");
			write_status(s, ST_FENCED, "another session of this volume was fenced");
		}
		/* fail what waited too long before a login attempt blocks this thread again */
		if (s->state == ST_FENCED)
			expire(s, now, true);
		if (s->state == ST_DOWN)
			expire(s, now, now - s->down_since_ms >= io->cfg.io_timeout_s * 1000LL);
		if (s->state == ST_DOWN && now - last_login_try >= 1000) {
			last_login_try = now;
			try_relogin(s);
			now = pv_mono_ms();
			if (s->state == ST_DOWN)
				expire(s, now, now - s->down_since_ms >= io->cfg.io_timeout_s * 1000LL);
		}
		bool submitted = false;
		while (s->state == ST_UP && s->pending && has_room(s, s->pending)) {
			struct io_req *r = s->pending;
			s->pending = r->next;
			if (!s->pending)
				s->pending_tail = &s->pending;
			r->next = NULL;
			if (submit(s, r) < 0) {
				push_front(s, r);
				on_transport_lost(s, iscsi_get_error(s->iscsi));
			} else {
				submitted = true;
			}
		}
		/* Push the new commands onto the wire now instead of after another poll. */
		if (submitted && s->state == ST_UP && (iscsi_which_events(s->iscsi) & POLLOUT) &&
		    iscsi_service(s->iscsi, POLLOUT) < 0 && !s->lost)
			s->lost = "connection lost";
		if (s->lost) {
			on_transport_lost(s, s->lost);
			continue;
		}
		/* Probe an idle session so health sees a dead target without traffic. */
		if (s->state == ST_UP && !s->inflight && now - s->last_io_ms > 5000) {
			s->last_io_ms = now;
			enqueue_internal(s, OP_TUR);
			continue;
		}
		run_callbacks(s);
		if (s->stop)
			break;
		struct pollfd p[2] = { { .fd = s->efd, .events = POLLIN }, { .fd = -1 } };
		if (s->state == ST_UP) {
			p[1].fd = iscsi_get_fd(s->iscsi);
			p[1].events = (short)iscsi_which_events(s->iscsi);
		}
		pthread_mutex_unlock(&s->lock);
		int n = poll(p, 2, s->state == ST_UP ? 500 : 200);
		pthread_mutex_lock(&s->lock);
		if (n > 0 && (p[0].revents & POLLIN)) {
			uint64_t v;
			if (read(s->efd, &v, sizeof(v)) < 0) { /* nothing: counter was drained */ }
		}
		if (s->state == ST_UP && s->iscsi) {
			now = pv_mono_ms();
			int revents = n > 0 ? p[1].revents : 0;
			if (revents)
				s->last_io_ms = now;
			if (revents || now - last_tick >= 1000) {
				if (!revents)
					last_tick = now;   /* timeout processing once a second */
				if (iscsi_service(s->iscsi, revents) < 0 && !s->lost)
					s->lost = "connection lost";
			}
			if (s->lost)
				on_transport_lost(s, s->lost);
		}
	}
	expire(s, pv_mono_ms(), true);
	run_callbacks(s);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* --- the blockfuse side: called by worker threads --- */

/* The session for a request of `len` bytes: the one with the least handed to it among
 * those that are up (any, if none is: it queues or fails there by that session's rules). */
static struct sess *pick(struct pvi_io *io, size_t len)
{
	if (io->n == 1)
		return &io->sess[0];
	unsigned start = __atomic_fetch_add(&io->rr, 1, __ATOMIC_RELAXED);
	struct sess *best = NULL;
	size_t best_load = 0;
	for (int k = 0; k < io->n; k++) {
		struct sess *s = &io->sess[(start + (unsigned)k) % (unsigned)io->n];
		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != ST_UP)
			continue;
		size_t l = __atomic_load_n(&s->load, __ATOMIC_RELAXED);
		if (!best || l < best_load) {
			best = s;
			best_load = l;
		}
	}
	(void)len;
	return best ? best : &io->sess[start % (unsigned)io->n];
}

/* Hand r to the session (lock held): 0, or -EIO when the target is fenced or gone. */
static int start(struct sess *s, struct io_req *r)
{
	struct pvi_io *io = s->io;
	uint64_t one = 1;
	int64_t now = pv_mono_ms();

	if (s->state == ST_FENCED || is_fenced(io) || (s->state == ST_DOWN &&
	    now - s->down_since_ms >= io->cfg.io_timeout_s * 1000LL))
		return -EIO;
	r->sess = s;
	r->deadline_ms = now + io->cfg.io_timeout_s * 1000LL;
	__atomic_fetch_add(&s->load, data_len(r) + 1, __ATOMIC_RELAXED);
	bool wake = true;
	if (s->state == ST_UP && !s->pending && !s->lost && has_room(s, r) && submit(s, r) == 0) {
		/* Fast path: put the command on the wire from this thread; the engine only
		 * has to see the reply. Wake it if output is left or the link broke. */
		if ((iscsi_which_events(s->iscsi) & POLLOUT) && iscsi_service(s->iscsi, POLLOUT) < 0)
			s->lost = "connection lost";
		wake = s->lost || (iscsi_which_events(s->iscsi) & POLLOUT);
	} else {
		if (s->state == ST_UP && !s->pending && !s->lost && has_room(s, r))
			s->lost = "cannot queue a command";
		*s->pending_tail = r;
		s->pending_tail = &r->next;
	}
	if (wake && write(s->efd, &one, sizeof(one)) < 0) { /* counter full: the engine is awake */ }
	return 0;
}

static int run(struct pvi_io *io, enum io_op op, void *buf, size_t len, uint64_t off)
{
	struct io_req r = { .op = op, .buf = buf, .len = len, .off = off };
	struct sess *s = pick(io, len);

	pthread_cond_init(&r.cond, NULL);
	pthread_mutex_lock(&s->lock);
	int rc = start(s, &r);
	while (rc == 0 && !r.done)
		pthread_cond_wait(&r.cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&r.cond);
	return rc < 0 ? rc : r.result;
}

static int run_async(struct pvi_io *io, enum io_op op, void *buf, size_t len, uint64_t off,
		     pv_blockfuse_done *cb, void *tag)
{
	struct io_req *r = malloc(sizeof(*r));
	struct sess *s = pick(io, len);
	if (!r)
		return -ENOMEM;
	*r = (struct io_req){ .op = op, .buf = buf, .len = len, .off = off, .cb = cb, .tag = tag };
	pthread_mutex_lock(&s->lock);
	int rc = start(s, r);
	if (rc < 0)
		free(r);
	else
		run_callbacks(s);   /* whatever completed meanwhile (r too, maybe) */
	pthread_mutex_unlock(&s->lock);
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
	return io->sess[0].efd;   /* session 0 re-reads the capacity */
}

int pvi_io_sessions(const struct pvi_io *io)
{
	return io->n;
}

/* Thin provisioning (LBPME) decides whether UNMAP is worth sending. */
static void probe_unmap(struct pvi_io *io, struct iscsi_context *c)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(c, io->cfg.target->lun);
	struct scsi_readcapacity16 *rc = t && t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
	io->can_unmap = rc && rc->lbpme && rc->lbprz;
	if (t)
		scsi_free_scsi_task(t);
}

static int sess_init(struct pvi_io *io, int idx, struct iscsi_context *c, const char *portal,
		     struct pv_err *err)
{
	struct sess *s = &io->sess[idx];
	s->io = io;
	s->idx = idx;
	s->iscsi = c;
	snprintf(s->portal, sizeof(s->portal), "%s", portal);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot set up the iSCSI I/O engine");
	iscsi_set_timeout(c, io->cfg.io_timeout_s);
	pthread_mutex_init(&s->lock, NULL);
	s->pending_tail = &s->pending;
	s->state = ST_UP;
	s->last_io_ms = pv_mono_ms();
	return 0;
}

/* Sessions 2..n: each logs in on its own and registers our key (pvi_pr_join: the
 * reservation session 1 holds must be ours). */
static int login_more(struct pvi_io *io, struct pv_err *err)
{
	for (int i = 1; i < io->cfg.sessions; i++) {
		struct iscsi_context *c = NULL;
		char portal[128];
		int r = pvi_login(io->cfg.target, &c, portal, sizeof(portal), err);
		if (r == 0 && io->cfg.key)
			r = pvi_pr_join(c, io->cfg.target, io->cfg.key, err);
		if (r == 0)
			r = sess_init(io, i, c, portal, err);
		if (r < 0) {
			if (c)
				pvi_logout(c);
			return pv_err_set(err, r, err->kind, "iSCSI session %d of %d: %s", i + 1,
					  io->cfg.sessions, err->msg);
		}
		io->n = i + 1;
	}
	return 0;
}

static void close_sessions(struct pvi_io *io, bool release)
{
	/* One live session releases for all: pvi_pr_release preempts our own key first
	 * when other registrations of it exist, so no registration of this volume's
	 * sessions (live or lost on the way) stays on the LUN. */
	bool released = !release || !io->cfg.key || is_fenced(io);
	for (int i = 0; i < io->n; i++) {
		struct sess *s = &io->sess[i];
		if (!s->iscsi)
			continue;
		iscsi_set_timeout(s->iscsi, 5);
		if (s->state == ST_UP && !released) {
			if (pvi_pr_release(s->iscsi, io->cfg.target->lun, io->cfg.key) < 0)
				pv_warn("iSCSI %s: releasing the reservation failed", io->cfg.target->iqn);
			released = true;
		}
		if (s->state == ST_UP)
			pvi_logout(s->iscsi);
		else
			iscsi_destroy_context(s->iscsi);
		s->iscsi = NULL;
	}
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
	if (io->cfg.sessions < 1 || io->cfg.sessions > PVI_MAX_SESSIONS)
		io->cfg.sessions = 1;
	io->split_read = io->cfg.split_read < 0 ? 0 : io->cfg.split_read ? (size_t)io->cfg.split_read : PVI_SPLIT_READ_DEFAULT;
	io->split_write = io->cfg.split_write > 0 ? (size_t)io->cfg.split_write : 0;
	pthread_mutex_init(&io->status_lock, NULL);
	r = pvi_capacity(iscsi, cfg->target, &io->size, &io->block_size, err);
	if (r < 0) {
		free(io);
		return r;
	}
	/* a split must be whole blocks: the parts' LBAs are offset / block size */
	io->split_read -= io->split_read % (size_t)io->block_size;
	io->split_write -= io->split_write % (size_t)io->block_size;
	if (cfg->split_read > 0 && !io->split_read)
		io->split_read = (size_t)io->block_size;
	if (cfg->split_write > 0 && !io->split_write)
		io->split_write = (size_t)io->block_size;
	probe_unmap(io, iscsi);
	io->zero_block = calloc(1, io->block_size);
	if (!io->zero_block) {
		free(io);
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	}
	r = sess_init(io, 0, iscsi, portal, err);
	if (r < 0) {
		free(io->zero_block);
		free(io);
		return r;
	}
	io->n = 1;
	r = login_more(io, err);
	if (r < 0)
		goto fail;
	write_status(&io->sess[0], ST_UP, "");
	/* Signals belong to the main thread (FUSE's handlers end its loop). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < io->n && r == 0; i++) {
		r = -pthread_create(&io->sess[i].thread, NULL, engine, &io->sess[i]);
		io->sess[i].started = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pv_err_set(err, r, PV_E_INTERNAL, "cannot start the iSCSI I/O threads");
		goto fail;
	}
	*out = io;
	return 0;
fail:
	/* The caller releases with session 1's context (which it still owns): the other
	 * sessions only log out here, their registrations go with session 1's release. */
	for (int i = 0; i < io->n; i++) {
		struct sess *s = &io->sess[i];
		if (s->started) {
			pthread_mutex_lock(&s->lock);
			s->stop = true;
			pthread_mutex_unlock(&s->lock);
			uint64_t one = 1;
			if (write(s->efd, &one, sizeof(one)) < 0) { /* awake */ }
			pthread_join(s->thread, NULL);
		}
		if (i > 0 && s->iscsi)
			pvi_logout(s->iscsi);
		close(s->efd);
	}
	free(io->zero_block);
	free(io);
	return r;
}

void pvi_io_stop(struct pvi_io *io)
{
	uint64_t one = 1;
	if (!io)
		return;
	for (int i = 0; i < io->n; i++) {
		struct sess *s = &io->sess[i];
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_mutex_unlock(&s->lock);
		if (write(s->efd, &one, sizeof(one)) < 0) { /* engine is awake anyway */ }
	}
	for (int i = 0; i < io->n; i++)
		pthread_join(io->sess[i].thread, NULL);
	close_sessions(io, true);
	for (int i = 0; i < io->n; i++) {
		pthread_mutex_lock(&io->sess[i].lock);
		write_status(&io->sess[i], ST_STOPPING, "");
		pthread_mutex_unlock(&io->sess[i].lock);
		close(io->sess[i].efd);
	}
	free(io->zero_block);
	free(io);
}
