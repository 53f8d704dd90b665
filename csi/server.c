/*
 * server.c — the thin gRPC adapter: a gRPC core server on a unix socket, one
 * completion-queue thread, a pool of worker threads that run the handlers.
 *
 * Life of a call: the main thread asks gRPC for the next call (any method), reads its
 * one request message, and queues the call for the workers; a worker runs csi_dispatch
 * (decode, handler, encode) and starts the batch that sends the response and status;
 * the main thread frees the call when that batch completes. A new call is requested as
 * soon as one arrives, so slow handlers (mkfs) never block Probe.
 *
 * SIGTERM / SIGINT: a signal thread sets a flag; the main thread stops accepting calls,
 * lets in-flight calls finish, stops the workers and removes the socket. A stale socket
 * file (nobody listening) is replaced at start; a live one is refused.
 *
 * The service manager (systemd Type=notify) hears READY=1 once the socket serves and
 * STOPPING=1 when a stop begins (sdnotify.c). Under socket activation (pvnode.socket)
 * the socket is the service manager's: pvnode accepts on it (sdlisten.c), neither
 * replaces nor removes it.
 */
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "csi.h"
#include "pvnode/util.h"

#define CSI_MAX_MESSAGE (1 << 20)

enum call_state { CALL_NEW, CALL_RECV, CALL_SEND };

struct call {
	enum call_state state;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *req;
	grpc_byte_buffer *resp;
	grpc_slice status_msg;
	int cancelled;
	struct call *next;   /* work queue */
};

struct server {
	const struct csi_service *svc;
	grpc_server *server;
	int listen_fd;                   /* socket activation: the passed socket, else -1 */
	struct csi_acceptor *acceptor;   /* ... and the thread accepting on it */
	grpc_completion_queue *cq;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct call *head, *tail;
	bool stopping;
	atomic_int active;
};

static atomic_bool stop_requested;

static void call_free(struct call *c)
{
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->req)
		grpc_byte_buffer_destroy(c->req);
	if (c->resp)
		grpc_byte_buffer_destroy(c->resp);
	grpc_slice_unref(c->status_msg);
	free(c);
}

static int request_next(struct server *s)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->state = CALL_NEW;
	c->status_msg = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq, c) !=
	    GRPC_CALL_OK) {
		call_free(c);
		return -EIO;
	}
	return 0;
}

static void enqueue(struct server *s, struct call *c)
{
	pthread_mutex_lock(&s->mu);
	c->next = NULL;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Returns false when the batch could not be started (the caller then owns the call). */
static bool respond(struct call *c, int status, const void *data, size_t len, const char *msg)
{
	grpc_op ops[4];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	n++;
	if (status == GRPC_STATUS_OK) {
		grpc_slice sl = grpc_slice_from_copied_buffer(data, len);
		c->resp = grpc_raw_byte_buffer_create(&sl, 1);
		grpc_slice_unref(sl);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = c->resp;
		n++;
	}
	grpc_slice_unref(c->status_msg);
	c->status_msg = grpc_slice_from_copied_string(msg);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)status;
	ops[n].data.send_status_from_server.status_details = &c->status_msg;
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
	n++;
	c->state = CALL_SEND;
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
		pv_error("cannot send a response: grpc_call_start_batch failed");
		return false;
	}
	return true;
}

static void serve_one(struct server *s, struct call *c)
{
	_cleanup_(pv_freep) char *method = grpc_slice_to_c_string(c->details.method);
	const struct csi_method *m = csi_method_find(method);
	char msg[PV_ERR_MSG_MAX + 64];
	void *out = NULL;
	size_t out_len = 0;
	int status;

	if (!m) {
		snprintf(msg, sizeof(msg), "%.200s is not a method pvnode implements", method);
		pv_debug("%s", msg);
		status = GRPC_STATUS_UNIMPLEMENTED;
	} else if (!c->req) {
		snprintf(msg, sizeof(msg), "%s: no request message", method);
		status = GRPC_STATUS_INVALID_ARGUMENT;
	} else {
		grpc_byte_buffer_reader rd;
		if (!grpc_byte_buffer_reader_init(&rd, c->req)) {
			snprintf(msg, sizeof(msg), "%s: cannot read the request", method);
			status = GRPC_STATUS_INVALID_ARGUMENT;
		} else {
			grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			status = csi_dispatch(s->svc, m, GRPC_SLICE_START_PTR(all),
					      GRPC_SLICE_LENGTH(all), &out, &out_len, msg, sizeof(msg));
			grpc_slice_unref(all);
		}
	}
	if (!respond(c, status, out, out_len, msg)) {   /* no completion will come */
		atomic_fetch_sub(&s->active, 1);
		call_free(c);
	}
	free(out);
}

static void *worker(void *arg)
{
	struct server *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		struct call *c = s->head;
		if (!c) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		s->head = c->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		serve_one(s, c);
	}
}

static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	if (sigwait(set, &sig) == 0) {
		pv_info("signal %d: shutting down after in-flight calls", sig);
		atomic_store(&stop_requested, true);
	}
	return NULL;
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

static void handle_event(struct server *s, grpc_event ev)
{
	struct call *c = ev.tag;
	switch (c->state) {
	case CALL_NEW:
		if (!ev.success) {   /* shutting down */
			call_free(c);
			return;
		}
		atomic_fetch_add(&s->active, 1);
		if (!atomic_load(&stop_requested))
			request_next(s);
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &c->req;
		c->state = CALL_RECV;
		if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
			atomic_fetch_sub(&s->active, 1);
			call_free(c);
		}
		return;
	case CALL_RECV:
		enqueue(s, c);   /* a failed read (c->req NULL) still gets a status */
		return;
	case CALL_SEND:
		atomic_fetch_sub(&s->active, 1);
		call_free(c);
		return;
	}
}

/* Serve until a stop was asked for and every call in flight is done. After a burst of
 * calls, once a quiet second passed with nothing in flight, the heap is trimmed: what the
 * burst grew (request buffers, the workers' arenas) goes back to the system, so resident
 * memory returns to the idle figure instead of staying at the peak. */
static void serve_loop(struct server *s)
{
	static int shutdown_tag;
	bool shutdown_sent = false, shutdown_done = false, untrimmed = true;
	unsigned quiet = 0;   /* 200 ms timeouts in a row with nothing in flight */

	while (!shutdown_done) {
		grpc_event ev = grpc_completion_queue_next(
			s->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN)),
			NULL);
		if (ev.type == GRPC_OP_COMPLETE) {
			if (ev.tag == &shutdown_tag)
				shutdown_done = true;
			else
				handle_event(s, ev);
			untrimmed = true;
			quiet = 0;
		} else if (untrimmed && atomic_load(&s->active) == 0 && ++quiet >= 5) {
			malloc_trim(0);
			untrimmed = false;
		}
		if (atomic_load(&stop_requested) && !shutdown_sent) {
			csi_sd_notify("STOPPING=1");
			csi_acceptor_stop(s->acceptor);   /* no connection joins a server shutting down */
			s->acceptor = NULL;
			grpc_server_shutdown_and_notify(s->server, s->cq, &shutdown_tag);
			shutdown_sent = true;
		}
	}
	/* shutdown_and_notify fires once every call is done; drain what remains. */
	while (atomic_load(&s->active) > 0) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			handle_event(s, ev);
	}
}

static void stop_workers(struct server *s, pthread_t *tids, unsigned n)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
}

/* Shut the queue down, freeing calls that never started. */
static void drain_queue(struct server *s)
{
	grpc_completion_queue_shutdown(s->cq);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE && ev.tag)
			call_free(ev.tag);
	}
	grpc_completion_queue_destroy(s->cq);
}

/* The gRPC server on `path`; 0 and listening, or an error (nothing left to free). */
static int start_grpc(struct server *s, const char *path, struct pv_err *err)
{
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = CSI_MAX_MESSAGE},
	};
	grpc_channel_args cargs = {.num_args = 1, .args = args};
	char addr[PATH_MAX + 8];

	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->server = grpc_server_create(&cargs, NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	if (s->listen_fd >= 0) {   /* the service manager's socket: its mode is the unit's */
		grpc_server_start(s->server);
		int r = csi_acceptor_start(s->listen_fd, s->server, &s->acceptor, err);
		if (r < 0) {
			grpc_server_shutdown_and_notify(s->server, s->cq, NULL);
			grpc_server_cancel_all_calls(s->server);
			grpc_server_destroy(s->server);
			drain_queue(s);
		}
		return r;
	}
	snprintf(addr, sizeof(addr), "unix:%s", path);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(s->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (!port) {
		grpc_server_destroy(s->server);
		drain_queue(s);
		return pv_err_set(err, -EADDRNOTAVAIL, PV_E_INTERNAL, "endpoint %s: cannot listen", path);
	}
	grpc_server_start(s->server);
	chmod(path, 0660);
	return 0;
}

int csi_server_run(const struct csi_service *svc, const struct csi_server_opts *o,
		   struct pv_err *err)
{
	const char *path = csi_endpoint_path(o->endpoint);
	unsigned nworkers = o->workers ? o->workers : 4;
	struct server s = {.svc = svc, .listen_fd = -1};
	pthread_t sig_tid, *tids;
	sigset_t set;
	int r;

	if (!path)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "endpoint %s: only unix:///absolute/path endpoints are supported", o->endpoint);
	if (o->listen_fd > 0)
		s.listen_fd = o->listen_fd;
	else if ((r = prepare_socket(path, err)) < 0)
		return r;
	bool activated = s.listen_fd >= 0;
	if (!(tids = calloc(nworkers, sizeof(*tids))))
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	/* Signals go to one thread; every thread started after this inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_create(&sig_tid, NULL, signal_thread, &set);
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	grpc_init();
	r = start_grpc(&s, path, err);
	if (r == 0) {
		for (unsigned i = 0; i < nworkers; i++)
			pthread_create(&tids[i], NULL, worker, &s);
		request_next(&s);
		pv_info("serving CSI on unix://%s with %u workers%s", path, nworkers,
			activated ? " (a socket from the service manager)" : "");
		char ready[PATH_MAX + 64];
		snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving CSI on unix://%s", path);
		csi_sd_notify(ready);
		serve_loop(&s);
		grpc_server_destroy(s.server);
		stop_workers(&s, tids, nworkers);
		drain_queue(&s);
	}
	free(tids);
	grpc_shutdown();
	if (!activated)
		unlink(path);   /* the service manager's socket stays, and keeps its backlog */
	else if (r < 0)
		close(s.listen_fd);
	if (!atomic_load(&stop_requested))
		pthread_kill(sig_tid, SIGTERM);
	pthread_join(sig_tid, NULL);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	if (r == 0)
		pv_info("stopped; socket %s %s", path, activated ? "left to the service manager" : "removed");
	return r;
}
