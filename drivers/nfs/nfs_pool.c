/*
 * nfs_pool.c — the FUSE helper's libnfs contexts and its data path (READ, write-behind
 * WRITE, COMMIT).
 *
 * A libnfs context is one TCP connection and is not thread-safe, so the pool lends each
 * FUSE worker thread a context of its own for one request. A request that fails at the
 * transport level (RPC timeout during a server outage, connection reset) drops its
 * context; the next request reconnects, which is how the mount recovers when the server
 * returns. NFSv3 file handles (struct nfsfh) are plain data valid on any context.
 * COMMIT calls libnfs's RPC layer (rpc_nfs3_commit_async on the leased context, served
 * until the reply) instead of nfs_fsync: the COMMIT verifier, which nfs_fsync hides, is
 * checked. WRITE and READ are encoded here (nfs_wire.c) and go out on the leased
 * context's own socket: a WRITE sent from the FUSE buffer (libnfs 4.0 copies the data
 * into its PDU), a READ's reply header decoded as it arrives and its data spliced from
 * the socket into a pipe that libfuse splices to /dev/fuse, so no READ data passes
 * through userspace (libnfs received it into a buffer of its own and the helper copied it
 * out: with the writev of the reply, 35-45% of the helper's CPU on a sequential read).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nfs_fuse.h"
#include "nfs_wire.h"
#include "pvnode/util.h"

#include <nfsc/libnfs-zdr.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

int pvnfs_pool_init(struct pvnfs_pool *p, const char *host, int port, const char *export,
		    int timeout_ms, int n, char *errbuf, size_t errlen)
{
	int r;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(p->export, sizeof(p->export), "%s", export);
	p->port = port;
	p->timeout_ms = timeout_ms;
	p->n = n;
	/* Connect one now: attach fails with the server's answer, not later. */
	r = pvnfs_connect(host, port, export, timeout_ms, &p->ctx[0], errbuf, errlen);
	return r;
}

void pvnfs_pool_destroy(struct pvnfs_pool *p)
{
	for (int i = 0; i < p->n; i++)
		if (p->ctx[i]) {
			nfs_destroy_context(p->ctx[i]);
			p->ctx[i] = NULL;
		}
}

/* Make the context send `c`; contexts start as root (uid 0, gid 0, no groups). */
static int set_cred(struct pvnfs_pool *p, int slot, const struct pvnfs_cred *c)
{
	static const struct pvnfs_cred root;
	struct AUTH *auth;

	if (!c)
		c = &root;
	if (memcmp(&p->cred[slot], c, sizeof(*c)) == 0)
		return 0;
	auth = libnfs_authunix_create("pvnode", c->uid, c->gid, c->n, (uint32_t *)c->groups);
	if (!auth)
		return -ENOMEM;
	nfs_set_auth(p->ctx[slot], auth); /* frees the previous one */
	p->cred[slot] = *c;
	return 0;
}

/* Log outages once, when the server goes away and when it is back: a busy mount
 * would otherwise write a line per failed request. */
static void server_state(struct pvnfs_pool *p, bool up, const char *why)
{
	bool was_down = __atomic_exchange_n(&p->down, !up, __ATOMIC_ACQ_REL);

	if (!up && !was_down)
		fprintf(stderr, "pvnode-nfs-fuse: %s:%s unreachable (%s); requests fail until "
			"it answers again\n", p->host, p->export, why);
	else if (up && was_down)
		fprintf(stderr, "pvnode-nfs-fuse: %s:%s answers again\n", p->host, p->export);
}

int pvnfs_pool_get(struct pvnfs_pool *p, struct pvnfs_lease *l, const struct pvnfs_cred *cred)
{
	char errbuf[512];
	int slot = -1, r;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* Prefer a connected context. */
		for (int i = 0; i < p->n && slot < 0; i++)
			if (!p->busy[i] && p->ctx[i])
				slot = i;
		for (int i = 0; i < p->n && slot < 0; i++)
			if (!p->busy[i])
				slot = i;
		if (slot >= 0)
			break;
		pthread_cond_wait(&p->cv, &p->mu);
	}
	p->busy[slot] = true;
	pthread_mutex_unlock(&p->mu);

	if (!p->ctx[slot]) {
		r = pvnfs_connect(p->host, p->port, p->export, p->timeout_ms, &p->ctx[slot],
				  errbuf, sizeof(errbuf));
		memset(&p->cred[slot], 0, sizeof(p->cred[slot]));
		server_state(p, r == 0, errbuf);
		if (r < 0) {
			pthread_mutex_lock(&p->mu);
			p->busy[slot] = false;
			pthread_cond_signal(&p->cv);
			pthread_mutex_unlock(&p->mu);
			return -EIO;
		}
	}
	l->nfs = p->ctx[slot];
	l->slot = slot;
	r = set_cred(p, slot, cred);
	if (r < 0)
		pvnfs_pool_put(p, l, 0);
	return r;
}

static bool transport_error(int r)
{
	return r == -EINTR || r == -ETIMEDOUT || r == -ENOTCONN || r == -ECONNRESET ||
	       r == -EPIPE || r == -EPROTO || r == -ECONNREFUSED || r == -EHOSTUNREACH ||
	       r == -ENETUNREACH || r == -ECONNABORTED || r == -EFAULT;
}

int pvnfs_pool_put(struct pvnfs_pool *p, struct pvnfs_lease *l, int r)
{
	if (r < 0 && transport_error(r)) {
		server_state(p, false, nfs_get_error(l->nfs));
		nfs_destroy_context(l->nfs);
		p->ctx[l->slot] = NULL;
		r = (r == -EINTR || r == -ETIMEDOUT) ? -ETIMEDOUT : -EIO;
	}
	pthread_mutex_lock(&p->mu);
	p->busy[l->slot] = false;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	l->nfs = NULL;
	return r;
}

/* Serve a leased context until *done (set by the callback of a request queued on it).
 * libnfs checks its RPC timeouts in rpc_service, so it runs at least every 100 ms. */
static int rpc_wait(struct rpc_context *rpc, const bool *done)
{
	while (!*done) {
		struct pollfd pfd = { .fd = rpc_get_fd(rpc), .events = (short)rpc_which_events(rpc) };
		int n = poll(&pfd, 1, 100);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0)
			return -ECONNRESET; /* the connection is unusable: the lease drops it */
	}
	return 0;
}

/* Note a write verifier from a WRITE or COMMIT reply. A different one than before
 * means the server restarted and may have dropped UNSTABLE data we no longer hold:
 * that is an error of the file, reported by its next write, fsync or close (never
 * silently). */
static void note_verifier(struct pvnfs_file *f, const char *verf)
{
	if (f->verf_set && memcmp(f->verf, verf, NFS3_WRITEVERFSIZE) != 0) {
		fprintf(stderr, "pvnode-nfs-fuse: the server restarted while a file had uncommitted "
			"writes (write verifier changed): reporting EIO for it\n");
		if (!f->error)
			f->error = -EIO;
	}
	memcpy(f->verf, verf, NFS3_WRITEVERFSIZE);
	f->verf_set = true;
}

/* Write-behind: the FUSE write returns once its WRITE RPC is on the socket of a
 * connection leased for this write, sent by the helper itself (nfs_wire.c: the header
 * it encodes, then the data straight from the FUSE buffer: no copy in userspace; libnfs
 * 4.0 would copy it into its PDU), so the writer's next write() overlaps the replies of
 * the previous ones. Writer threads of our own wait for each reply on the leased
 * connection, then give it back. Overlapping ranges wait for each other, reads and
 * attribute look-ups wait for the file's writes (barrier); the first error is kept for
 * the next write, flush or fsync. The leased connection carries nothing else while the
 * WRITE is out (libnfs's own calls on it have all been answered: it reads exactly one
 * record per reply), so the reply is read from its socket without libnfs. */
struct write_job {
	struct write_job *next;
	struct pvnfs_pool *pool;
	struct pvnfs_file *f;
	struct pvnfs_lease lease;
	size_t size;
	int range;
	int fd;                           /* the leased connection's socket */
	uint32_t xid;
	int64_t deadline_ms;              /* CLOCK_MONOTONIC: the reply is due by then */
	int status;                       /* of the reply, a negative errno */
	char verf[NFS3_WRITEVERFSIZE];
	bool unstable;                    /* the server answered UNSTABLE: verifier counts */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* a job was queued */
	pthread_cond_t idle;    /* global in-flight count dropped */
	struct write_job *head, *tail;
	int in_flight;
	bool started;
	uint32_t xid;           /* of our WRITE calls, from a start that differs per run */
} wq = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	 .idle = PTHREAD_COND_INITIALIZER };

/* An RPC's outcome: 0, or a negative errno for a timeout, a lost connection or the
 * reply's NFS status. `res` is the reply (READ3res, COMMIT3res: each begins with its
 * nfsstat3), read only when the call succeeded. */
static int rpc_outcome(int status, const void *res)
{
	if (status == RPC_STATUS_TIMEOUT)
		return -ETIMEDOUT;
	if (status != RPC_STATUS_SUCCESS)
		return -ECONNRESET;
	nfsstat3 st = *(const nfsstat3 *)res;
	return st != NFS3_OK ? nfsstat3_to_errno(st) : 0;
}

/* Wait until fd is ready for `events` or the deadline passes (-ETIMEDOUT). */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - pv_mono_ms();
		struct pollfd pfd = { .fd = fd, .events = events };

		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 0; /* ready, or an error the next send / recv reports */
	}
}

/* Send all of iov (the socket is non-blocking: libnfs made it so). */
static int send_all(int fd, struct iovec *iov, int n, int64_t deadline_ms)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	while (m.msg_iovlen > 0) {
		ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if ((r = wait_fd(fd, POLLOUT, deadline_ms)) < 0)
				return r;
			continue;
		}
		while (m.msg_iovlen > 0 && (size_t)k >= m.msg_iov->iov_len) {
			k -= (ssize_t)m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen > 0) {
			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + k;
			m.msg_iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* Read the one reply record due on fd (its fragments joined) into rec: wait, then take
 * what is there, usually all of it in one recv. */
static int recv_record(int fd, uint8_t *rec, size_t cap, size_t *len, int64_t deadline_ms)
{
	uint8_t raw[PVNFS_WIRE_REPLY_MAX + 64];
	size_t have = 0;

	for (;;) {
		int r = wait_fd(fd, POLLIN, deadline_ms);
		if (r < 0)
			return r;
		ssize_t k = recv(fd, raw + have, sizeof(raw) - have, MSG_DONTWAIT);
		if (k == 0)
			return -ECONNRESET; /* the server closed the connection */
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		have += (size_t)k;
		if ((r = pvnfs_wire_record(raw, have, rec, cap, len)) != 0)
			return r < 0 ? r : 0;
		if (have == sizeof(raw))
			return -EPROTO;
	}
}

/* The reply to j's WRITE: 0 with j->status, or a transport error (the lease drops the
 * connection: after a timeout or a stray record nothing else on it can be trusted). */
static int write_reply(struct write_job *j)
{
	uint8_t rec[PVNFS_WIRE_REPLY_MAX];
	struct pvnfs_wire_write_res res = { 0 };
	size_t len = 0;
	int r = recv_record(j->fd, rec, sizeof(rec), &len, j->deadline_ms);

	if (r == 0)
		r = pvnfs_wire_write_reply(rec, len, j->xid, &res);
	if (r == -EACCES) { /* refused for its credentials: the connection is fine */
		j->status = r;
		return 0;
	}
	if (r < 0)
		return r;
	if (res.nfsstat != NFS3_OK)
		j->status = nfsstat3_to_errno((int)res.nfsstat);
	else if (res.count != j->size)
		j->status = -EIO; /* a short write: the data is gone from our side, never retried */
	else if (res.committed == PVNFS_WIRE_UNSTABLE) {
		j->unstable = true;
		memcpy(j->verf, res.verf, NFS3_WRITEVERFSIZE);
	}
	return 0;
}

/* Whether an idle connection was closed or reset by the server: with no call out on it,
 * anything to read (EOF, a reset) means it is gone. */
static bool conn_closed(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) != 0;
}

/* Drop a leased connection that was found closed before use (not an outage: no log). */
static void pool_drop_quietly(struct pvnfs_pool *p, struct pvnfs_lease *l)
{
	nfs_destroy_context(l->nfs);
	p->ctx[l->slot] = NULL;
	pthread_mutex_lock(&p->mu);
	p->busy[l->slot] = false;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	l->nfs = NULL;
}

/* A caller's credentials as our own WRITE and READ calls carry them (AUTH_SYS). */
static struct pvnfs_wire_auth wire_auth(const struct pvnfs_cred *c)
{
	return (struct pvnfs_wire_auth){ .machine = "pvnode", .uid = c->uid, .gid = c->gid, .n = c->n,
					 .groups = c->groups };
}

/* Lease a connection for a call of our own. A connection the server closed while it sat
 * idle (servers close idle ones after minutes; libnfs would reconnect and resend, we
 * do not resend) reads as ready or hung up: drop it quietly and lease another before
 * anything is sent on it. *fd: its socket (-1 when it has none: the call fails). */
static int lease_fresh(struct pvnfs_pool *p, struct pvnfs_lease *l, const struct pvnfs_cred *cred, int *fd)
{
	for (int tries = 0;; tries++) {
		int r = pvnfs_pool_get(p, l, cred);

		if (r < 0)
			return r;
		*fd = rpc_get_fd(nfs_get_rpc_context(l->nfs));
		if (*fd < 0 || !conn_closed(*fd) || tries > PVNFS_MAX_CONTEXTS)
			return 0;
		pool_drop_quietly(p, l);
	}
}

/* A transport failure of our own RPC: say why once (the lease's drop logs libnfs's last
 * error, which is not this one), then give the connection back to be dropped. */
static int drop_lease(struct pvnfs_pool *p, struct pvnfs_lease *l, int r)
{
	server_state(p, false, strerror(-r));
	/* whatever failed, the connection may hold half a record: it must go */
	return pvnfs_pool_put(p, l, transport_error(r) ? r : -ECONNRESET);
}

static void *writer_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct write_job *j;
		struct pvnfs_file *f;
		int r;

		pthread_mutex_lock(&wq.mu);
		while (!wq.head)
			pthread_cond_wait(&wq.cv, &wq.mu);
		j = wq.head;
		wq.head = j->next;
		if (!wq.head)
			wq.tail = NULL;
		pthread_mutex_unlock(&wq.mu);

		f = j->f;
		r = write_reply(j);
		if (r < 0)
			r = drop_lease(j->pool, &j->lease, r); /* the write's outcome is unknown */
		else
			r = pvnfs_pool_put(j->pool, &j->lease, j->status);
		pthread_mutex_lock(&f->mu);
		if (r == 0 && j->unstable)
			note_verifier(f, j->verf);
		if (r < 0 && !f->error)
			f->error = r;
		f->ranges[j->range].size = 0;
		f->in_flight--;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);

		pthread_mutex_lock(&wq.mu);
		wq.in_flight--;
		pthread_cond_broadcast(&wq.idle);
		pthread_mutex_unlock(&wq.mu);
		free(j);
	}
	return NULL;
}

int pvnfs_writers_start(int n)
{
	pthread_attr_t a;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		int r = pthread_create(&t, &a, writer_main, NULL);
		if (r != 0) {
			pthread_attr_destroy(&a);
			return -r;
		}
	}
	pthread_attr_destroy(&a);
	wq.xid = (uint32_t)pv_mono_ms() * 2654435761u ^ (uint32_t)getpid() << 16;
	wq.started = true;
	return 0;
}

static void file_init(struct pvnfs_file *f)
{
	if (!f->init) {
		pthread_mutex_init(&f->mu, NULL);
		pthread_cond_init(&f->cv, NULL);
		f->init = true;
	}
}

static bool overlaps(const struct pvnfs_file *f, uint64_t off, size_t size)
{
	for (int i = 0; i < PVNFS_WRITES_IN_FLIGHT; i++)
		if (f->ranges[i].size && off < f->ranges[i].off + f->ranges[i].size &&
		    f->ranges[i].off < off + size)
			return true;
	return false;
}

/* Free the range taken by a write that was never sent. */
static void release_range(struct pvnfs_file *f, int slot)
{
	pthread_mutex_lock(&f->mu);
	f->ranges[slot].size = 0;
	f->in_flight--;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

int pvnfs_write(struct pvnfs_pool *p, struct pvnfs_file *f, const char *buf, size_t size, off_t off)
{
	struct write_job *j;
	const struct libnfs_fh_fields *fh = pvnfs_fh_fields(f->fh);
	int r, slot = -1;

	if (size > PVNFS_MAX_IO)
		return -EINVAL; /* max_write is PVNFS_MAX_IO: one RPC per request */
	if (!fh)
		return -EIO;    /* not an NFSv3 handle: nothing to send the WRITE to */
	__atomic_add_fetch(&pvnfs_io_count, 1, __ATOMIC_RELAXED);
	if (!(j = calloc(1, sizeof(*j))))
		return -ENOMEM;
	j->pool = p;
	j->f = f;
	j->size = size;

	pthread_mutex_lock(&f->mu);
	while (!f->error && (f->in_flight >= PVNFS_WRITES_IN_FLIGHT || overlaps(f, (uint64_t)off, size)))
		pthread_cond_wait(&f->cv, &f->mu);
	if (f->error) {
		r = f->error;
		f->error = 0;
		pthread_mutex_unlock(&f->mu);
		free(j);
		return r;
	}
	for (int i = 0; i < PVNFS_WRITES_IN_FLIGHT && slot < 0; i++)
		if (!f->ranges[i].size)
			slot = i;
	f->ranges[slot].off = (uint64_t)off;
	f->ranges[slot].size = size ? size : 1;
	j->range = slot;
	f->in_flight++;
	f->dirty = true;
	f->wseq++;
	pthread_mutex_unlock(&f->mu);

	if ((r = lease_fresh(p, &j->lease, &f->cred, &j->fd)) < 0) {
		release_range(f, slot);
		free(j);
		return r;
	}
	/* Header, data from the FUSE buffer, padding: one sendmsg, no copy of the data. The
	 * write() returns when the socket has it all; a failure fails this write (the record
	 * may be half sent: the connection is dropped with it, the server discards it).
	 * Sending here puts the loopback send on the writer's path where libnfs's copy was
	 * (the writer thread sent then): 4-10% less helper CPU, MB/s alike (README). */
	static const uint8_t zero[4];
	uint8_t hdr[PVNFS_WIRE_WRITE_HDR_MAX];
	struct pvnfs_wire_auth auth = wire_auth(&f->cred);
	struct pvnfs_wire_write w = { .auth = &auth, .fh = fh->val, .fh_len = fh->len,
				      .offset = (uint64_t)off, .count = (uint32_t)size,
				      .stable = f->sync ? PVNFS_WIRE_FILE_SYNC : PVNFS_WIRE_UNSTABLE };
	size_t pad;
	j->xid = w.xid = __atomic_add_fetch(&wq.xid, 1, __ATOMIC_RELAXED);
	j->deadline_ms = pv_mono_ms() + p->timeout_ms;
	int hlen = pvnfs_wire_write_call(hdr, sizeof(hdr), &w, &pad);
	if (hlen < 0) {
		fprintf(stderr, "pvnode-nfs-fuse: cannot encode a WRITE (file handle of %u bytes, "
			"%u groups)\n", (unsigned)fh->len, (unsigned)f->cred.n);
		pvnfs_pool_put(p, &j->lease, 0);
		release_range(f, slot);
		free(j);
		return -EIO;
	}
	struct iovec iov[3] = { { hdr, (size_t)hlen }, { (void *)buf, size }, { (void *)zero, pad } };
	r = j->fd < 0 ? -ENOTCONN : send_all(j->fd, iov, pad ? 3 : 2, j->deadline_ms);
	if (r < 0) {
		r = drop_lease(p, &j->lease, r);
		release_range(f, slot);
		free(j);
		return r;
	}

	pthread_mutex_lock(&wq.mu);
	wq.in_flight++;
	if (wq.tail)
		wq.tail->next = j;
	else
		wq.head = j;
	wq.tail = j;
	pthread_cond_signal(&wq.cv);
	pthread_mutex_unlock(&wq.mu);
	return (int)size;
}

int pvnfs_write_barrier(struct pvnfs_pool *p, struct pvnfs_file *f)
{
	int r;

	(void)p;
	pthread_mutex_lock(&f->mu);
	while (f->in_flight > 0)
		pthread_cond_wait(&f->cv, &f->mu);
	r = f->error;
	f->error = 0;
	pthread_mutex_unlock(&f->mu);
	return r;
}

void pvnfs_write_barrier_keep(struct pvnfs_file *f)
{
	pthread_mutex_lock(&f->mu);
	while (f->in_flight > 0)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

void pvnfs_write_barrier_all(void)
{
	pthread_mutex_lock(&wq.mu);
	while (wq.in_flight > 0)
		pthread_cond_wait(&wq.idle, &wq.mu);
	pthread_mutex_unlock(&wq.mu);
}

struct pvnfs_file *pvnfs_file_new(void)
{
	struct pvnfs_file *f = calloc(1, sizeof(*f));

	if (f)
		file_init(f);
	return f;
}

uint64_t pvnfs_io_count;

/* Reading one reply record from a leased connection in pieces: the header of a READ
 * reply, then its data straight into the caller's buffer. Fragments (RFC 5531 record
 * marking) are followed across: a server may split a record anywhere. */
struct rx {
	int fd;
	int64_t deadline_ms;
	uint32_t frag_left;     /* bytes left in the current fragment */
	bool last;              /* the current fragment is the record's last */
	bool started;           /* the first record mark was read */
};

/* Exactly n bytes from the socket (non-blocking: libnfs made it so). */
static int recv_exact(struct rx *x, void *dst, size_t n)
{
	char *p = dst;

	while (n > 0) {
		ssize_t k = recv(x->fd, p, n, MSG_DONTWAIT);
		int r;

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return -ECONNRESET; /* the server closed the connection */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((r = wait_fd(x->fd, POLLIN, x->deadline_ms)) < 0)
			return r;
	}
	return 0;
}

/* The next fragment's record mark; -EPROTO when the record ended with the last one. */
static int rx_mark(struct rx *x)
{
	uint8_t m[4];
	int last, r;

	if (x->started && x->last)
		return -EPROTO;
	if ((r = recv_exact(x, m, sizeof(m))) < 0)
		return r;
	x->frag_left = pvnfs_wire_frag_len(m, &last);
	x->last = last;
	x->started = true;
	return 0;
}

/* Bytes of the current fragment, reading the marks of empty ones; -EPROTO when the
 * record ended with the last. */
static int rx_frag(struct rx *x)
{
	int r;

	while (x->frag_left == 0)
		if ((r = rx_mark(x)) < 0)
			return r;
	return 0;
}

/* The next n bytes of the record (marks skipped); -EPROTO when the record ends first. */
static int rx_bytes(struct rx *x, void *dst, size_t n)
{
	char *p = dst;

	while (n > 0) {
		int r = rx_frag(x);
		if (r < 0)
			return r;
		size_t k = n < x->frag_left ? n : x->frag_left;
		if ((r = recv_exact(x, p, k)) < 0)
			return r;
		p += k;
		n -= k;
		x->frag_left -= (uint32_t)k;
	}
	return 0;
}

/* Whether the record ended exactly here (a last fragment, all of it read; empty
 * fragments after it are read too). */
static int rx_end(struct rx *x)
{
	while (x->frag_left == 0 && !x->last) {
		int r = rx_mark(x);
		if (r < 0)
			return r;
	}
	return x->frag_left == 0 ? 0 : -EPROTO;
}

/* Read and drop what is left of a short record (the rest of a refusal) so the
 * connection can carry the next call; -EPROTO when more than a refusal is left. */
static int rx_discard(struct rx *x)
{
	uint8_t junk[PVNFS_WIRE_REPLY_MAX];
	int r;

	while (x->frag_left > 0 || !x->last) {
		if ((r = rx_frag(x)) < 0)
			return r;
		if (x->frag_left > sizeof(junk))
			return -EPROTO;
		if ((r = recv_exact(x, junk, x->frag_left)) < 0)
			return r;
		x->frag_left = 0;
	}
	return 0;
}

/* Where a READ's data goes: memory, or the calling thread's pipe (spliced from the
 * socket: the kernel moves the received pages into the pipe and FUSE copies them into the
 * page cache from there; no copy in userspace, and no user pages for the kernel to pin
 * one by one as a writev of the reply makes it do). A pipe that fills up before the data
 * is in (the data arrived in pieces much smaller than a page) turns into memory: what it
 * holds is read out, the rest received after it. */
struct sink {
	char *mem;      /* NULL: the pipe */
	bool own;       /* mem was allocated here (for a FUSE reply: libfuse frees it) */
	int pipe_rd, pipe_wr;
	size_t at;      /* bytes of data so far */
	size_t size;    /* at most this many in all */
};

/* n bytes of the record spliced into the pipe (marks skipped, as rx_bytes); *moved: how
 * many went in. -ENOBUFS when the pipe is full. */
static int rx_splice(struct rx *x, int pipe_wr, size_t n, size_t *moved)
{
	*moved = 0;
	while (n > 0) {
		int r = rx_frag(x);
		if (r < 0)
			return r;
		size_t want = n < x->frag_left ? n : x->frag_left;
		ssize_t k = splice(x->fd, NULL, pipe_wr, NULL, want, SPLICE_F_NONBLOCK);

		if (k > 0) {
			n -= (size_t)k;
			x->frag_left -= (uint32_t)k;
			*moved += (size_t)k;
			continue;
		}
		if (k == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		/* the socket is empty, or the pipe is full (then nothing would move) */
		struct pollfd pw = { .fd = pipe_wr, .events = POLLOUT };
		if (poll(&pw, 1, 0) == 0)
			return -ENOBUFS;
		if ((r = wait_fd(x->fd, POLLIN, x->deadline_ms)) < 0)
			return r;
	}
	return 0;
}

/* The sink's data so far moved out of the pipe into memory of its own. */
static int sink_to_mem(struct sink *s)
{
	size_t got = 0;

	if (!(s->mem = malloc(s->size)))
		return -ENOMEM;
	s->own = true;
	while (got < s->at) {
		ssize_t k = read(s->pipe_rd, s->mem + got, s->at - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO; /* cannot happen: the pipe holds them */
		got += (size_t)k;
	}
	return 0;
}

/* n more bytes of data from the record into the sink. */
static int sink_data(struct rx *x, struct sink *s, size_t n)
{
	int r;

	if (s->at + n > s->size)
		return -EPROTO;
	if (!s->mem) {
		size_t moved;

		r = rx_splice(x, s->pipe_wr, n, &moved);
		s->at += moved;
		if (r != -ENOBUFS)
			return r;
		if ((r = sink_to_mem(s)) < 0)
			return r;
		n -= moved;
	}
	if ((r = rx_bytes(x, s->mem + s->at, n)) == 0)
		s->at += n;
	return r;
}

/* How much of a reply header to take with the next receive: peek at what has arrived of
 * the current fragment (the header, usually with the start of the data) and decode it;
 * *take becomes all of the header when it is there (one receive instead of one per
 * field), else what has arrived. *take is left as it is (the bytes the decoder asked for)
 * when nothing has arrived yet or the peek says nothing new. 0, or a transport error. */
static int peek_header(struct rx *x, uint8_t *hdr, size_t have, size_t cap, uint32_t xid, size_t *take)
{
	struct pvnfs_wire_read_res res;
	int r;

	if (x->frag_left == 0 && (r = rx_mark(x)) < 0)
		return r;
	size_t room = cap - have < x->frag_left ? cap - have : x->frag_left;
	if (room == 0)
		return 0; /* an empty fragment: rx_bytes goes on to the next */
	ssize_t k = recv(x->fd, hdr + have, room, MSG_PEEK | MSG_DONTWAIT);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (k <= 0)
		return k == 0 ? -ECONNRESET : -errno;
	r = pvnfs_wire_read_reply(hdr, have + (size_t)k, xid, &res);
	if (r == 0)
		*take = res.hdr_len - have;
	else if (r > 0)
		*take = (size_t)k;
	else if (*take > (size_t)k)
		*take = (size_t)k;
	return 0;
}

/* One READ call of ours on a leased connection: the call encoded here and sent in one
 * send; the reply's header read as it arrives (pvnfs_wire_read_reply says how much more
 * it needs, so nothing beyond the header is taken), then its data received straight
 * into the sink (no copy in userspace: libnfs would receive the whole reply into a buffer
 * of its own, and the helper copied it out). Returns 0 with *got and *eof, a negative errno
 * from the server (*broken 0: the connection is fine), or a transport error, also in
 * *broken (the connection may hold half a record: the lease must drop it). */
static int read_rpc(struct rx *x, const struct pvnfs_wire_read *w, struct sink *s, size_t *got, bool *eof,
		    int *broken)
{
	uint8_t call[PVNFS_WIRE_READ_CALL_MAX], hdr[PVNFS_WIRE_READ_HDR_MAX];
	uint8_t pad[4];
	struct pvnfs_wire_read_res res;
	size_t have = 0;
	int n = pvnfs_wire_read_call(call, sizeof(call), w), r;

	*broken = 0;
	if (n < 0) {   /* the connection is untouched: the lease goes back as it is */
		fprintf(stderr, "pvnode-nfs-fuse: cannot encode a READ (file handle of %zu bytes, "
			"%u groups)\n", w->fh_len, (unsigned)w->auth->n);
		return -EIO;
	}
	struct iovec iov = { call, (size_t)n };
	if ((r = send_all(x->fd, &iov, 1, x->deadline_ms)) < 0)
		goto broken;
	while ((r = pvnfs_wire_read_reply(hdr, have, w->xid, &res)) > 0) {
		if ((size_t)r > sizeof(hdr)) {
			r = -EPROTO;
			goto broken;
		}
		size_t take = (size_t)r - have;
		int k = peek_header(x, hdr, have, sizeof(hdr), w->xid, &take);
		if (k == 0)
			k = rx_bytes(x, hdr + have, take);
		if (k < 0) {
			r = k;
			goto broken;
		}
		have += take;
	}
	if (r == -EACCES) { /* refused for its credentials: drop the rest, keep the connection */
		if ((r = rx_discard(x)) < 0)
			goto broken;
		return -EACCES;
	}
	if (r < 0)
		goto broken;
	if (res.nfsstat != 0) {
		if ((r = rx_end(x)) < 0)
			goto broken;
		return nfsstat3_to_errno((int)res.nfsstat);
	}
	if (res.data_len > w->count) {
		r = -EPROTO; /* more than asked for: not a reply we can trust */
		goto broken;
	}
	size_t padlen = (4 - (res.data_len & 3)) & 3;
	if ((r = sink_data(x, s, res.data_len)) < 0 || (r = rx_bytes(x, pad, padlen)) < 0 ||
	    (r = rx_end(x)) < 0)
		goto broken;
	*got = res.data_len;
	*eof = res.eof != 0;
	return 0;
broken:
	*broken = r;
	return r;
}

/* READ size bytes at off into the sink (several calls when the server sends less than
 * asked without being at the end). Bytes read, or -errno. */
static int read_into(struct pvnfs_pool *p, struct pvnfs_file *f, size_t size, off_t off, struct sink *s)
{
	const struct libnfs_fh_fields *fh = pvnfs_fh_fields(f->fh);
	struct pvnfs_wire_auth auth = wire_auth(&f->cred);
	struct pvnfs_lease l;
	size_t done = 0;
	int r, broken = 0;

	if (!fh)
		return -EIO;    /* not an NFSv3 handle: nothing to send the READ to */
	if (size > PVNFS_WIRE_READ_MAX)
		return -EINVAL; /* max_read is PVNFS_MAX_READ */
	if (size == 0)
		return 0;
	struct rx x = { 0 };
	if ((r = lease_fresh(p, &l, &f->cred, &x.fd)) < 0)
		return r;
	if (x.fd < 0)
		return pvnfs_pool_put(p, &l, -ENOTCONN);
	__atomic_add_fetch(&pvnfs_io_count, 1, __ATOMIC_RELAXED);
	/* The server may return less than asked (its rtmax) without being at the end. */
	while (done < size) {
		struct pvnfs_wire_read w = { .auth = &auth, .fh = fh->val, .fh_len = (size_t)fh->len,
					     .offset = (uint64_t)off + done, .count = (uint32_t)(size - done) };
		size_t got = 0;
		bool eof = false;

		w.xid = __atomic_add_fetch(&wq.xid, 1, __ATOMIC_RELAXED);
		x = (struct rx){ .fd = x.fd, .deadline_ms = pv_mono_ms() + p->timeout_ms };
		if ((r = read_rpc(&x, &w, s, &got, &eof, &broken)) < 0)
			break;
		done += got;
		if (eof || got == 0)
			break;
	}
	if (broken) /* the data read so far is dropped too: an error, never part of a read */
		return drop_lease(p, &l, broken);
	r = pvnfs_pool_put(p, &l, r < 0 ? r : 0);
	return r < 0 ? r : (int)done;
}

int pvnfs_read(struct pvnfs_pool *p, struct pvnfs_file *f, char *buf, size_t size, off_t off)
{
	struct sink s = { .mem = buf, .size = size };

	return read_into(p, f, size, off, &s);
}

/* Each FUSE worker's pipe for READ data: 1 MiB, pipe-max-size by default (PVNFS_MAX_READ
 * in pages, with room for pieces that straddle pages). A pipe that still holds bytes (a READ that failed half
 * way, a reply libfuse did not send) is replaced, never read from again. */
#define PVNFS_PIPE_BYTES (1 << 20)
static _Thread_local int t_pipe[2] = { -1, -1 };
static bool g_no_splice;

#ifdef PV_FAULT_INJECTION
/* Tests (-Dfault_injection=true builds only): PVNODE_FAULT=nfs-read-copy takes the path
 * of a helper that cannot size its pipes (reads received into memory);
 * nfs-read-smallpipe gives each pipe 16 KiB, so every larger READ fills it and turns
 * into memory half way. Returns the pipe size to ask for, 0 for no pipe. */
static int pipe_bytes(void)
{
	const char *f = getenv("PVNODE_FAULT");

	if (f && strcmp(f, "nfs-read-copy") == 0)
		return 0;
	return f && strcmp(f, "nfs-read-smallpipe") == 0 ? 16 << 10 : PVNFS_PIPE_BYTES;
}
#else
static int pipe_bytes(void)
{
	return PVNFS_PIPE_BYTES;
}
#endif

static bool thread_pipe(int *rd, int *wr)
{
	int n = 0, want = pipe_bytes();

	if (t_pipe[0] >= 0 && (ioctl(t_pipe[0], FIONREAD, &n) < 0 || n != 0)) {
		close(t_pipe[0]);
		close(t_pipe[1]);
		t_pipe[0] = t_pipe[1] = -1;
	}
	if (t_pipe[0] < 0) {
		if (want == 0 || __atomic_load_n(&g_no_splice, __ATOMIC_RELAXED) ||
		    pipe2(t_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			return false;
		if (fcntl(t_pipe[1], F_SETPIPE_SZ, want) < want) {
			if (!__atomic_exchange_n(&g_no_splice, true, __ATOMIC_RELAXED))
				fprintf(stderr, "pvnode-nfs-fuse: cannot size a pipe to %d bytes (%s): "
					"reads are copied instead of spliced\n", PVNFS_PIPE_BYTES, strerror(errno));
			close(t_pipe[0]);
			close(t_pipe[1]);
			t_pipe[0] = t_pipe[1] = -1;
			return false;
		}
	}
	*rd = t_pipe[0];
	*wr = t_pipe[1];
	return true;
}

int pvnfs_read_buf(struct pvnfs_pool *p, struct pvnfs_file *f, size_t size, off_t off, struct fuse_bufvec *bv)
{
	struct sink s = { .size = size };
	int r;

	if (size > PVNFS_WIRE_READ_MAX)
		return -EINVAL;
	if (!thread_pipe(&s.pipe_rd, &s.pipe_wr)) {
		if (!(s.mem = malloc(size ? size : 1)))
			return -ENOMEM;
		s.own = true;
	}
	r = read_into(p, f, size, off, &s);
	if (r < 0) {
		if (s.own)
			free(s.mem);
		return r;
	}
	*bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT((size_t)r);
	if (s.mem) {
		bv->buf[0].mem = s.mem; /* libfuse frees it after the reply */
	} else {
		bv->buf[0].flags = FUSE_BUF_IS_FD;
		bv->buf[0].fd = s.pipe_rd;
	}
	return r;
}


struct commit_wait {
	bool done;
	int status;
	char verf[NFS3_WRITEVERFSIZE];
};

static void commit_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct commit_wait *w = priv;
	COMMIT3res *res = data;

	(void)rpc;
	w->done = true;
	if ((w->status = rpc_outcome(status, data)) == 0)
		memcpy(w->verf, res->COMMIT3res_u.resok.verf, NFS3_WRITEVERFSIZE);
}

int pvnfs_commit(struct pvnfs_pool *p, struct pvnfs_file *f)
{
	const struct libnfs_fh_fields *fh = pvnfs_fh_fields(f->fh);
	struct commit_wait w = { 0 };
	struct pvnfs_lease l;
	COMMIT3args args;
	uint64_t seq;
	int r = fh ? pvnfs_write_barrier(p, f) : -EIO;

	if (r < 0)
		return r;
	pthread_mutex_lock(&f->mu);
	bool dirty = f->dirty;
	f->dirty = false;
	seq = f->wseq;
	pthread_mutex_unlock(&f->mu);
	if (!dirty)
		return 0;
	r = pvnfs_pool_get(p, &l, &f->cred);
	if (r < 0)
		goto fail;
	memset(&args, 0, sizeof(args));
	args.file.data.data_len = (u_int)fh->len;
	args.file.data.data_val = fh->val;
	struct rpc_context *rpc = nfs_get_rpc_context(l.nfs);
	if (rpc_nfs3_commit_async(rpc, commit_cb, &args, &w) != 0)
		r = -ENOMEM;
	else if ((r = rpc_wait(rpc, &w.done)) == 0)
		r = w.status;
	r = pvnfs_pool_put(p, &l, r); /* a dropped context has called commit_cb by now */
	pthread_mutex_lock(&f->mu);
	if (r == 0) {
		note_verifier(f, w.verf);
		/* The COMMIT covered every write the file had: nothing depends on the verifier
		 * any more (a server restart from now on loses nothing of ours). */
		if (f->wseq == seq && !f->error)
			f->verf_set = false;
		if (f->error) { /* the verifier changed: the writes before may be lost */
			r = f->error;
			f->error = 0;
		}
	}
	pthread_mutex_unlock(&f->mu);
	if (r == 0)
		return 0;
fail:
	pthread_mutex_lock(&f->mu);
	f->dirty = true;
	pthread_mutex_unlock(&f->mu);
	return r;
}

void pvnfs_file_free(struct pvnfs_file *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}
