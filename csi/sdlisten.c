/*
 * sdlisten.c — socket activation (systemd pvnode.socket, sd_listen_fds(3)): serving CSI
 * on a listening socket the service manager made and passed as fd 3.
 *
 * The protocol is two environment variables: LISTEN_PID (ours) and LISTEN_FDS (how
 * many sockets, from fd 3 on); LISTEN_FDNAMES is optional. Read here rather than
 * through libsystemd, like sdnotify.c, and removed from the environment so no helper
 * or mkfs pvnode starts believes it was passed sockets.
 *
 * gRPC's core cannot listen on a socket it did not create (grpc_server_add_http2_port
 * binds its own; 1.51 has nothing else, and newer releases' passive listener also takes
 * connected sockets only). What it offers is grpc_server_add_channel_from_fd: one
 * *connected* socket becomes one HTTP/2 connection of the running server. So a thread
 * here accepts on the passed socket and hands every connection to the server; gRPC
 * then reads and writes it exactly as a connection its own unix listener accepted (the
 * same posix endpoint). A stop ends the accepting before the server shuts down;
 * connections that arrive after that wait in the socket's backlog, which the service
 * manager keeps, for the next pvnode.
 */
#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "csi.h"
#include "pvnode/util.h"

#define SD_LISTEN_FDS_START 3

int csi_sd_listen_fd(const char *path, int *fd, struct pv_err *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int type = 0, listening = 0, r = 0;
	socklen_t olen = sizeof(int);
	char *end;

	*fd = -1;
	if (!pid || !fds)
		return 0;
	long p = strtol(pid, &end, 10);
	bool ours = *end == '\0' && p == (long)getpid();
	long n = strtol(fds, &end, 10);
	bool count_ok = *end == '\0';
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!ours)
		return 0;   /* meant for a process that started us */
	if (!count_ok || n != 1)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "the service manager passed %s sockets (LISTEN_FDS); pvnode serves CSI on exactly one",
				  fds);
	int s = SD_LISTEN_FDS_START;
	memset(&sa, 0, sizeof(sa));
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) < 0)
		r = pv_err_set(err, -errno, PV_E_INVALID, "the socket the service manager passed (fd 3) is unusable: %s",
			       strerror(errno));
	else if (sa.sun_family != AF_UNIX || type != SOCK_STREAM || !listening)
		r = pv_err_set(err, -EINVAL, PV_E_INVALID,
			       "the socket the service manager passed (fd 3) is not a listening unix stream socket "
			       "(ListenStream=/path in the .socket unit)");
	else if (len <= offsetof(struct sockaddr_un, sun_path) || strncmp(sa.sun_path, path, sizeof(sa.sun_path)) != 0)
		r = pv_err_set(err, -EINVAL, PV_E_INVALID,
			       "the service manager passed a socket bound to %.*s, but --endpoint is unix://%s: "
			       "make ListenStream= and --endpoint name the same path",
			       (int)(len > offsetof(struct sockaddr_un, sun_path) ? strnlen(sa.sun_path, sizeof(sa.sun_path)) : 0),
			       sa.sun_path, path);
	if (r < 0)
		return r;
	fcntl(s, F_SETFD, FD_CLOEXEC);
	/* accept after poll: a connection reset in between must not block the accept thread
	 * (its stop joins it) */
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot make the passed socket non-blocking: %s",
				  strerror(errno));
	*fd = s;
	return 1;
}

struct csi_acceptor {
	int fd, wake;
	grpc_server *server;
	grpc_server_credentials *creds;
	pthread_t tid;
};

static void *accept_loop(void *arg)
{
	struct csi_acceptor *a = arg;
	struct pollfd p[2] = { { .fd = a->fd, .events = POLLIN }, { .fd = a->wake, .events = POLLIN } };

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pv_error("socket activation: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[1].revents)
			return NULL;   /* stopping */
		if (p[0].revents & (POLLERR | POLLNVAL)) {
			pv_error("socket activation: the passed socket failed; no new connections are accepted");
			return NULL;
		}
		int c = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			grpc_server_add_channel_from_fd(a->server, c, a->creds);   /* gRPC owns c now */
			continue;
		}
		if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
			continue;
		/* EMFILE, ENOBUFS...: the connection waits in the backlog; try again soon */
		pv_warn("socket activation: accept: %s", strerror(errno));
		usleep(100000);
	}
}

int csi_acceptor_start(int fd, grpc_server *server, struct csi_acceptor **out, struct pv_err *err)
{
	struct csi_acceptor *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	a->fd = fd;
	a->server = server;
	a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->wake < 0) {
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "eventfd: %s", strerror(errno));
		free(a);
		return r;
	}
	a->creds = grpc_insecure_server_credentials_create();
	if ((r = pthread_create(&a->tid, NULL, accept_loop, a)) != 0) {
		grpc_server_credentials_release(a->creds);
		close(a->wake);
		free(a);
		return pv_err_set(err, -r, PV_E_INTERNAL, "cannot start the accepting thread: %s", strerror(r));
	}
	*out = a;
	return 0;
}

void csi_acceptor_stop(struct csi_acceptor *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	if (write(a->wake, &one, sizeof(one)) < 0) { /* an eventfd write does not fail here */ }
	pthread_join(a->tid, NULL);
	grpc_server_credentials_release(a->creds);
	close(a->wake);
	close(a->fd);   /* ours only: the service manager keeps its own and the backlog */
	free(a);
}
