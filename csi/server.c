/*
 * server.c — the CSI transport: unary gRPC over HTTP/2 (h2.c, hpack.c) on a unix
 * socket, one event-loop thread (epoll, non-blocking sockets) and a pool of worker
 * threads that run the handlers. No gRPC library: it alone kept about 10 MiB of library
 * pages resident in an idle pvnode.
 *
 * Life of a call: the loop reads a connection, h2.c announces a complete request, the
 * loop queues it for the workers; a worker runs csi_dispatch (decode, handler, encode)
 * and queues the result back (an eventfd wakes the loop); the loop hands it to h2.c,
 * which sends it as the peer's flow-control windows allow. Slow handlers (mkfs) occupy a
 * worker, never the loop, so Probe is answered meanwhile. A call whose stream or
 * connection went away meanwhile is dropped when its handler returns.
 *
 * Bounds: CONN_MAX connections (more are closed at once), per connection what h2.h says;
 * a connection with no call for IDLE_SECONDS gets a GOAWAY and is closed; one that does
 * not read what we send stops being read (h2.c ends it past its output bound).
 *
 * SIGTERM / SIGINT (a signalfd in the loop): STOPPING=1, no new connections, GOAWAY on
 * every connection, in-flight calls finish and are answered; STOP_FLUSH_SECONDS later a
 * peer that has not read its answers, or holds a half-sent request, is cut off; then the
 * workers stop and the socket is removed.
 *
 * Deadlines (grpc-timeout): the loop answers DEADLINE_EXCEEDED once a call's deadline
 * passed (within a second); a call that waited for a worker past its deadline is not
 * run; a running handler is never interrupted (the CO's retry meets ABORTED until it
 * ends). A stale socket file (nobody listening) is replaced at start; a
 * live one is refused.
 *
 * The service manager (systemd Type=notify) hears READY=1 once the socket serves and
 * STOPPING=1 when a stop begins (sdnotify.c). Under socket activation (pvnode.socket)
 * the socket is the service manager's: pvnode accepts on it, neither replaces nor
 * removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grpc/status.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "csi.h"
#include "h2.h"
#include "pvnode/util.h"

#define CONN_MAX 64
#define CONN_SLOTS (2 * CONN_MAX)   /* open ones, and closed ones whose calls still run */
#define IDLE_SECONDS 300
#define STOP_FLUSH_SECONDS 5     /* a stop, once every call is answered, waits this long for peers to read */
#define OUT_PAUSE (256 * 1024)   /* stop reading a peer while this much waits for it */

struct server;
struct conn {
	struct server *s;
	int fd;
	struct h2_conn *h;
	unsigned jobs;       /* calls at the workers */
	bool closed;         /* fd closed, h freed; the struct kept until jobs == 0 */
	bool finishing;      /* h2 ended it: flush, then close */
	uint32_t events;
	time_t active;
};

struct job {
	struct conn *conn;
	uint32_t stream;
	char *path;
	uint8_t *req;
	size_t req_len;
	int64_t deadline;    /* h2_now_ms clock, 0: none */
	int status;
	void *out;
	size_t out_len;
	char msg[PV_ERR_MSG_MAX + 64];
	struct job *next;
};

struct server {
	const struct csi_service *svc;
	int ep, listen_fd, done_fd, sig_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;     /* for the workers */
	struct job *done;            /* for the loop */
	bool stopping_workers;
	struct conn *conns[CONN_SLOTS];
	unsigned nconns, active;     /* connections; calls in flight */
	bool stopping;
	time_t stop_idle;            /* when a stop found nothing in flight any more */
};

static void set_events(struct server *s, struct conn *c)
{
	const uint8_t *p;
	uint32_t ev = 0;
	size_t pending = h2_output(c->h, &p);
	if (!c->finishing && pending < OUT_PAUSE)
		ev |= EPOLLIN;
	if (pending)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		struct epoll_event e = {.events = ev, .data.ptr = c};
		epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &e);
		c->events = ev;
	}
}

static void conn_close(struct server *s, struct conn *c)
{
	if (c->closed)
		return;
	/* out of the epoll set before the close: close() removes it only once no other
	 * descriptor refers to the socket, and a worker's posix_spawn child holds copies of
	 * every descriptor until its exec — an event for the socket could then still come,
	 * pointing at c after reap() freed it (seen under ASan in csi_concurrency) */
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	h2_free(c->h);
	c->h = NULL;
	c->closed = true;
	s->nconns--;   /* the struct is freed by reap(), once no job points at it */
}

static void reap(struct server *s)
{
	for (unsigned i = 0; i < CONN_SLOTS; i++)
		if (s->conns[i] && s->conns[i]->closed && s->conns[i]->jobs == 0) {
			free(s->conns[i]);
			s->conns[i] = NULL;
		}
}

/* Write what h2 has; close the connection once it is finished and flushed. */
static void conn_flush(struct server *s, struct conn *c)
{
	const uint8_t *p;
	size_t n;
	while ((n = h2_output(c->h, &p)) > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(s, c);
			return;
		}
		h2_consumed(c->h, (size_t)w);
	}
	bool flushed = h2_output(c->h, &p) == 0;
	if (flushed && (c->finishing || (h2_closing(c->h) && h2_streams(c->h) == 0 && c->jobs == 0))) {
		conn_close(s, c);
		return;
	}
	set_events(s, c);
}

static void on_call(void *arg, struct h2_conn *h, uint32_t stream, const char *path, uint8_t *msg, size_t len)
{
	struct conn *c = arg;
	struct server *s = c->s;
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(path))) {
		free(j);
		free(msg);
		h2_respond(h, stream, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
		return;
	}
	j->conn = c;
	j->stream = stream;
	j->req = msg;
	j->req_len = len;
	j->deadline = h2_stream_deadline(h, stream);
	c->jobs++;
	s->active++;
	pthread_mutex_lock(&s->mu);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void serve_one(struct server *s, struct job *j)
{
	const struct csi_method *m = csi_method_find(j->path);
	if (j->deadline && h2_now_ms() >= j->deadline) {
		/* it waited for a worker past its deadline: the caller has given up (the loop
		 * has told it so); running it now would only race the caller's retry */
		snprintf(j->msg, sizeof(j->msg), "the call's deadline passed while it waited for a worker; it was not run");
		pv_debug("%.200s: %s", j->path, j->msg);
		j->status = GRPC_STATUS_DEADLINE_EXCEEDED;
	} else if (!m) {
		snprintf(j->msg, sizeof(j->msg), "%.200s is not a method pvnode implements", j->path);
		pv_debug("%s", j->msg);
		j->status = GRPC_STATUS_UNIMPLEMENTED;
	} else {
		j->status = csi_dispatch(s->svc, m, j->req, j->req_len, &j->out, &j->out_len, j->msg,
					 sizeof(j->msg));
	}
	free(j->req);
	j->req = NULL;
}

static void *worker(void *arg)
{
	struct server *s = arg;
	uint64_t one = 1;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->head && !s->stopping_workers)
			pthread_cond_wait(&s->cv, &s->mu);
		struct job *j = s->head;
		if (!j) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		serve_one(s, j);
		pthread_mutex_lock(&s->mu);
		j->next = s->done;
		s->done = j;
		pthread_mutex_unlock(&s->mu);
		if (write(s->done_fd, &one, sizeof(one)) < 0) { /* an eventfd write does not fail here */ }
	}
}

static void answer_done(struct server *s)
{
	uint64_t v;
	if (read(s->done_fd, &v, sizeof(v)) < 0) { /* EAGAIN: nothing new */ }
	pthread_mutex_lock(&s->mu);
	struct job *j = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->mu);
	while (j) {
		struct job *next = j->next;
		struct conn *c = j->conn;
		c->jobs--;
		s->active--;
		if (!c->closed) {
			h2_respond(c->h, j->stream, j->status, j->msg, j->out, j->out_len);
			conn_flush(s, c);
		}
		free(j->out);
		free(j->path);
		free(j);
		j = next;
	}
}

static void conn_read(struct server *s, struct conn *c)
{
	uint8_t buf[16384];
	for (int i = 0; i < 4 && !c->closed && !c->finishing; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(s, c);
			return;
		}
		if (n < 0)
			break;
		c->active = time(NULL);
		if (h2_input(c->h, buf, (size_t)n) < 0)
			c->finishing = true;
		if ((size_t)n < sizeof(buf))
			break;
	}
	if (!c->closed)
		conn_flush(s, c);
}

static void conn_accept(struct server *s)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				pv_warn("accept: %s", strerror(errno));
			return;
		}
		unsigned slot = 0;
		while (slot < CONN_SLOTS && s->conns[slot])
			slot++;
		if (s->nconns >= CONN_MAX || slot == CONN_SLOTS) {
			pv_warn("a CSI connection refused: %d are open already", CONN_MAX);
			close(fd);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c && !(c->h = h2_new(on_call, c))) {
			free(c);
			c = NULL;
		}
		if (!c) {
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		c->active = time(NULL);
		c->events = EPOLLIN;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			h2_free(c->h);
			free(c);
			close(fd);
			continue;
		}
		s->conns[slot] = c;
		s->nconns++;
		conn_flush(s, c);   /* our SETTINGS */
	}
}

/* Refuse a live socket, replace a stale one. */
static int prepare_socket(const char *path, struct pv_err *err)
{
	struct stat st;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID,
				  "endpoint %s: the socket path is longer than %zu bytes", path,
				  sizeof(sa.sun_path) - 1);
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : pv_err_set(err, -errno, PV_E_INTERNAL,
							"endpoint %s: cannot stat: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return pv_err_set(err, -EEXIST, PV_E_INVALID,
				  "endpoint %s exists and is not a socket; refusing to replace it", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "socket: %s", strerror(errno));
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return pv_err_set(err, -EADDRINUSE, PV_E_INVALID,
				  "endpoint %s: another process is serving on this socket", path);
	pv_info("replacing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "endpoint %s: cannot remove: %s", path,
				  strerror(errno));
	return 0;
}

static int listen_on(const char *path, int *out, struct pv_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return pv_err_set(err, -e, PV_E_INTERNAL, "endpoint %s: cannot listen: %s", path, strerror(e));
	}
	chmod(path, 0660);
	*out = fd;
	return 0;
}

static void begin_stop(struct server *s)
{
	s->stopping = true;
	csi_sd_notify("STOPPING=1");
	if (s->listen_fd >= 0) {
		close(s->listen_fd);   /* ours only under activation: the manager keeps its backlog */
		s->listen_fd = -1;
	}
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = s->conns[i];
		if (c && !c->closed) {
			h2_goaway(c->h);
			conn_flush(s, c);
		}
	}
}

/* Calls past their grpc-timeout are answered DEADLINE_EXCEEDED (h2_expire), from the
 * once-a-second sweep: deadlines are kept to within a second. */
static void expire_calls(struct server *s)
{
	int64_t now = h2_now_ms();
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = s->conns[i];
		if (c && !c->closed && h2_expire(c->h, now))
			conn_flush(s, c);
	}
}

/* A stop with nothing left in flight: a peer that has not read its last answers (or
 * holds a half-sent request open) after STOP_FLUSH_SECONDS is cut off, so that a
 * client that stopped reading cannot keep pvnode from exiting. */
static void close_laggards(struct server *s)
{
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = s->conns[i];
		if (c && !c->closed) {
			pv_warn("stopping: a CSI connection did not take its last answers in %d s; closing it",
				STOP_FLUSH_SECONDS);
			conn_close(s, c);
		}
	}
}

/* Serve until a stop was asked for and every call in flight is done. After a burst of
 * calls, once a quiet second passed with nothing in flight, the heap is trimmed: what the
 * burst grew (request buffers, the workers' arenas) goes back to the system, so resident
 * memory returns to the idle figure instead of staying at the peak. */
static void serve_loop(struct server *s)
{
	bool untrimmed = true;
	unsigned quiet = 0;
	struct epoll_event evs[32];
	time_t last_sweep = time(NULL);

	while (!s->stopping || s->nconns > 0 || s->active > 0) {
		int n = epoll_wait(s->ep, evs, 32, 200);
		if (n < 0 && errno != EINTR) {
			pv_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &s->listen_fd) {
				if (s->listen_fd >= 0)
					conn_accept(s);
			} else if (p == &s->done_fd) {
				answer_done(s);
			} else if (p == &s->sig_fd) {
				struct signalfd_siginfo si;
				if (read(s->sig_fd, &si, sizeof(si)) == sizeof(si) && !s->stopping) {
					pv_info("signal %u: shutting down after in-flight calls", si.ssi_signo);
					begin_stop(s);
				}
			} else {
				struct conn *c = p;
				if (c->closed)
					continue;
				if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN))
					conn_close(s, c);
				else if (evs[i].events & EPOLLIN)
					conn_read(s, c);
				else if (evs[i].events & EPOLLOUT)
					conn_flush(s, c);
			}
		}
		reap(s);
		if (n > 0) {
			untrimmed = true;
			quiet = 0;
		} else if (untrimmed && s->active == 0 && ++quiet >= 5) {
			malloc_trim(0);
			untrimmed = false;
		}
		time_t now = time(NULL);
		if (s->stopping && s->active > 0)
			s->stop_idle = 0;
		else if (s->stopping) {
			if (!s->stop_idle)
				s->stop_idle = now;
			else if (now - s->stop_idle >= STOP_FLUSH_SECONDS)
				close_laggards(s);
		}
		if (now - last_sweep >= 1) {
			last_sweep = now;
			expire_calls(s);
			for (unsigned i = 0; i < CONN_SLOTS; i++) {
				struct conn *c = s->conns[i];
				if (c && !c->closed && c->jobs == 0 && h2_streams(c->h) == 0 &&
				    now - c->active >= IDLE_SECONDS) {
					h2_goaway(c->h);
					c->finishing = true;
					conn_flush(s, c);
				}
			}
		}
	}
}

int csi_server_run(const struct csi_service *svc, const struct csi_server_opts *o,
		   struct pv_err *err)
{
	const char *path = csi_endpoint_path(o->endpoint);
	unsigned nworkers = o->workers ? o->workers : 4;
	struct server s = {.svc = svc, .listen_fd = -1, .done_fd = -1, .sig_fd = -1, .ep = -1};
	pthread_t *tids;
	sigset_t set, old;
	int r;

	if (!path)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "endpoint %s: only unix:///absolute/path endpoints are supported", o->endpoint);
	bool activated = o->listen_fd > 0;
	if (activated)
		s.listen_fd = o->listen_fd;
	else if ((r = prepare_socket(path, err)) < 0 || (r = listen_on(path, &s.listen_fd, err)) < 0)
		return r;
	if (!(tids = calloc(nworkers, sizeof(*tids)))) {
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		goto out;
	}
	/* Signals come through the loop's signalfd; every thread started after this inherits
	 * the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	signal(SIGPIPE, SIG_IGN);
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	s.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s.sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	struct epoll_event el = {.events = EPOLLIN, .data.ptr = &s.listen_fd};
	struct epoll_event ed = {.events = EPOLLIN, .data.ptr = &s.done_fd};
	struct epoll_event es = {.events = EPOLLIN, .data.ptr = &s.sig_fd};
	if (s.ep < 0 || s.done_fd < 0 || s.sig_fd < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.listen_fd, &el) < 0 ||
	    epoll_ctl(s.ep, EPOLL_CTL_ADD, s.done_fd, &ed) < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.sig_fd, &es) < 0) {
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot set up the event loop: %s", strerror(errno));
		free(tids);
		goto out;
	}
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_create(&tids[i], NULL, worker, &s);
	pv_info("serving CSI on unix://%s with %u workers%s", path, nworkers,
		activated ? " (a socket from the service manager)" : "");
	char ready[PATH_MAX + 64];
	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving CSI on unix://%s", path);
	csi_sd_notify(ready);
	serve_loop(&s);
	pthread_mutex_lock(&s.mu);
	s.stopping_workers = true;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < CONN_SLOTS; i++) {   /* none left; only an epoll failure leaves some */
		struct conn *c = s.conns[i];
		if (c && !c->closed) {
			close(c->fd);
			h2_free(c->h);
		}
		free(c);
	}
	for (struct job *j = s.done, *n; j; j = n) {   /* likewise */
		n = j->next;
		free(j->out);
		free(j->path);
		free(j);
	}
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	free(tids);
	r = 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	if (s.ep >= 0)
		close(s.ep);
	if (s.done_fd >= 0)
		close(s.done_fd);
	if (s.sig_fd >= 0)
		close(s.sig_fd);
	if (!activated)
		unlink(path);   /* the service manager's socket stays, and keeps its backlog */
	if (r == 0)
		pv_info("stopped; socket %s %s", path, activated ? "left to the service manager" : "removed");
	return r;
}
