/*
 * sdlisten.c — socket activation (systemd pvnode.socket, sd_listen_fds(3)): serving CSI
 * on a listening socket the service manager made and passed as fd 3.
 *
 * The protocol is two environment variables: LISTEN_PID (ours) and LISTEN_FDS (how
 * many sockets, from fd 3 on); LISTEN_FDNAMES is optional. Read here rather than
 * through libsystemd, like sdnotify.c, and removed from the environment so no helper
 * or mkfs pvnode starts believes it was passed sockets.
 *
 * server.c accepts on the passed socket in its event loop, as on one it bound itself; a
 * stop closes pvnode's copy, and connections that arrive after that wait in the socket's
 * backlog, which the service manager keeps, for the next pvnode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	/* the server's event loop accepts until EAGAIN: a connection reset between epoll and
	 * accept must not block it */
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot make the passed socket non-blocking: %s",
				  strerror(errno));
	*fd = s;
	return 1;
}
