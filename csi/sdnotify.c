/*
 * sdnotify.c — the service manager's readiness protocol (systemd Type=notify, see
 * sd_notify(3)): one datagram "READY=1" (or "STOPPING=1", "STATUS=...") to the unix
 * socket named by $NOTIFY_SOCKET, '@' meaning the abstract namespace.
 *
 * Written here rather than linked from libsystemd: the protocol is this one datagram
 * (systemd documents it as stable and meant to be reimplemented), and libsystemd would
 * bring its own dependencies (liblzma, libzstd, liblz4, libgcrypt, libcap) into the
 * start-up and the resident memory of every pvnode, in containers too, where no systemd
 * is listening.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "csi.h"
#include "pvnode/util.h"

void csi_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof(sa.sun_path)) {
		if (path && *path)
			pv_warn("NOTIFY_SOCKET '%.64s' is not a unix socket path: not telling the service manager", path);
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pv_warn("cannot tell the service manager %s: socket: %s", state, strerror(errno));
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		pv_warn("cannot tell the service manager %s: %s: %s", state, path, strerror(errno));
	else
		pv_debug("told the service manager: %s", state);
	close(fd);
}
