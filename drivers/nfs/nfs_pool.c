/*
 * nfs_pool.c — the FUSE helper's libnfs contexts and its write path.
 *
 * A libnfs context is one TCP connection and is not thread-safe, so the pool lends each
 * FUSE worker thread a context of its own for one request. A request that fails at the
 * transport level (RPC timeout during a server outage, connection reset) drops its
 * context; the next request reconnects, which is how the mount recovers when the server
 * returns. NFSv3 file handles (struct nfsfh) are plain data valid on any context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nfsc/libnfs-zdr.h>

#include "nfs_fuse.h"

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
	       r == -EPIPE || r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ENETUNREACH ||
	       r == -ECONNABORTED || r == -EFAULT;
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

static int write_all(struct nfs_context *nfs, struct nfsfh *fh, const char *buf, size_t size,
		     uint64_t off)
{
	size_t done = 0;

	while (done < size) {
		int r = nfs_pwrite(nfs, fh, off + done, size - done, buf + done);
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Pipelined writes: the FUSE write returns once the data is copied and queued, so the
 * writer's next write() overlaps the RPCs of the previous ones. Writers are a few
 * threads of our own, each borrowing a context per job. Overlapping ranges wait for
 * each other, reads and attribute look-ups wait for the file's writes (barrier). */
struct write_job {
	struct write_job *next;
	struct pvnfs_pool *pool;
	struct pvnfs_file *f;
	char *buf;
	size_t size;
	uint64_t off;
	int range;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* a job was queued */
	pthread_cond_t idle;    /* global in-flight count dropped */
	struct write_job *head, *tail;
	int in_flight;
	bool started;
} wq = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	 .idle = PTHREAD_COND_INITIALIZER };

static void *writer_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct write_job *j;
		struct pvnfs_lease l;
		int r;

		pthread_mutex_lock(&wq.mu);
		while (!wq.head)
			pthread_cond_wait(&wq.cv, &wq.mu);
		j = wq.head;
		wq.head = j->next;
		if (!wq.head)
			wq.tail = NULL;
		pthread_mutex_unlock(&wq.mu);

		r = pvnfs_pool_get(j->pool, &l, &j->f->cred);
		if (r == 0) {
			r = write_all(l.nfs, j->f->fh, j->buf, j->size, j->off);
			r = pvnfs_pool_put(j->pool, &l, r);
		}
		pthread_mutex_lock(&j->f->mu);
		if (r < 0 && !j->f->error)
			j->f->error = r;
		j->f->ranges[j->range].size = 0;
		j->f->in_flight--;
		pthread_cond_broadcast(&j->f->cv);
		pthread_mutex_unlock(&j->f->mu);

		pthread_mutex_lock(&wq.mu);
		wq.in_flight--;
		pthread_cond_broadcast(&wq.idle);
		pthread_mutex_unlock(&wq.mu);
		free(j->buf);
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

int pvnfs_write(struct pvnfs_pool *p, struct pvnfs_file *f, const char *buf, size_t size, off_t off)
{
	struct write_job *j = calloc(1, sizeof(*j));
	int r, slot = -1;

	if (!j || !(j->buf = malloc(size ? size : 1))) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->buf, buf, size);
	j->pool = p;
	j->f = f;
	j->size = size;
	j->off = (uint64_t)off;

	pthread_mutex_lock(&f->mu);
	while (!f->error && (f->in_flight >= PVNFS_WRITES_IN_FLIGHT || overlaps(f, j->off, size)))
		pthread_cond_wait(&f->cv, &f->mu);
	if (f->error) {
		r = f->error;
		f->error = 0;
		pthread_mutex_unlock(&f->mu);
		free(j->buf);
		free(j);
		return r;
	}
	for (int i = 0; i < PVNFS_WRITES_IN_FLIGHT && slot < 0; i++)
		if (!f->ranges[i].size)
			slot = i;
	f->ranges[slot].off = j->off;
	f->ranges[slot].size = size ? size : 1;
	j->range = slot;
	f->in_flight++;
	f->dirty = true;
	pthread_mutex_unlock(&f->mu);

	pthread_mutex_lock(&wq.mu);
	/* Bound the memory held by queued writes across all files. */
	while (wq.in_flight >= PVNFS_WRITES_QUEUED_MAX)
		pthread_cond_wait(&wq.idle, &wq.mu);
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

int pvnfs_commit(struct pvnfs_pool *p, struct pvnfs_file *f)
{
	struct pvnfs_lease l;
	int r = pvnfs_write_barrier(p, f);

	if (r < 0)
		return r;
	pthread_mutex_lock(&f->mu);
	bool dirty = f->dirty;
	f->dirty = false;
	pthread_mutex_unlock(&f->mu);
	if (!dirty)
		return 0;
	r = pvnfs_pool_get(p, &l, &f->cred);
	if (r < 0)
		goto fail;
	r = nfs_fsync(l.nfs, f->fh);
	r = pvnfs_pool_put(p, &l, r);
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
