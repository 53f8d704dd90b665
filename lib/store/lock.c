/*
 * lock.c — per-volume lock files (<state>/locks/<name>.lock, flock). A process killed
 * while holding one releases it with its last fd, so a crash never leaves a stale lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "pvnode/driver/os.h"

int pv_lock_volume(const char *state_dir, const char *name, bool wait, struct pv_err *err)
{
	return pv_lock_volume_for(state_dir, name, wait ? -1 : 0, err);
}

int pv_lock_volume_for(const char *state_dir, const char *name, int timeout_ms, struct pv_err *err)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/locks", state_dir);
	r = pv_mkdir_p(path, 0700, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/locks/%s.lock", state_dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open lock %s: %s", path, strerror(errno));
	for (int waited = 0; flock(fd, LOCK_EX | (timeout_ms < 0 ? 0 : LOCK_NB)) < 0;) {
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r == -EWOULDBLOCK && waited < timeout_ms) {
			usleep(20000);
			waited += 20;
			continue;
		}
		close(fd);
		if (r == -EWOULDBLOCK)
			return pv_err_set(err, -EBUSY, PV_E_BUSY,
					  "volume %s: another operation on it is in progress", name);
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot lock %s: %s", path, strerror(-r));
	}
	return fd;
}

void pv_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

void pv_unlockp(int *fd)
{
	pv_unlock(*fd);
	*fd = -1;
}
