/*
 * controller_freeze.c — freezing a volume's filesystem for a snapshot or a clone
 * (ctl_freeze_begin / ctl_freeze_end, used by controller_snap.c).
 *
 * A volume staged on this node with a filesystem on a block device is frozen
 * (FIFREEZE) while its driver copies it, so the copy is what a power cut would have
 * left (crash-consistent). The staging mount is the one the node journal records,
 * opened without links beneath its trusted root and accepted only when its files live
 * on the volume's device. A frozen filesystem blocks every writer, so it must be thawed
 * even when this process is killed: a guard process forked before the freeze holds the
 * mount (and the volume lock, a duplicate of its fd) and thaws it as soon as its pipe
 * closes without the word that the thaw happened; it is born with the signals a
 * terminal or a service manager sends blocked.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controller_int.h"
#include "store/journal.h"

/* The guard, in the forked child: only async-signal-safe calls (the parent may have
 * threads). It keeps the mount, its pipe and the volume's lock and closes every other
 * descriptor it inherited: another volume's lock held by another thread, or another
 * snapshot's guard pipe, would otherwise stay open as long as it runs (that volume
 * busy; that guard never seeing its parent die). It outlives a killed parent and then
 * thaws. */
static void __attribute__((noreturn)) freeze_guard(int fd, int pipe_r, int lock_fd, const char *marker)
{
	int keep[3] = { fd, pipe_r, lock_fd }, n_keep = lock_fd >= 0 ? 3 : 2, high[3];
	char c = 0;
	ssize_t n;
	bool moved = true;

	for (int i = 0; i < n_keep && moved; i++)
		moved = (high[i] = fcntl(keep[i], F_DUPFD, 100)) >= 0;
	for (int i = 0; i < n_keep && moved; i++)
		moved = dup2(high[i], 3 + i) == 3 + i;
	if (moved) {   /* else keep everything: a guard that thaws matters more */
		close_range(0, 2, 0);
		close_range(3 + (unsigned)n_keep, ~0U, 0);
		fd = 3;
		pipe_r = 4;
	}

	/* SIGINT, SIGTERM, SIGHUP arrive blocked (ctl_freeze_begin): a ^C meant for pvctl does
	 * not take the guard with it */
	while ((n = read(pipe_r, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1 || c != 'T') {
		if (ioctl(fd, FITHAW, 0) == 0 || errno == EINVAL)
			unlink(marker);
	}
	_exit(0);
}

/* Thaw what ctl_freeze_begin froze (f->fd), or with f->fd -1 only let the guard go. */
void ctl_freeze_end(struct ctl_freeze *f)
{
	bool thawed = f->fd < 0 || ioctl(f->fd, FITHAW, 0) == 0 || errno == EINVAL;

	if (!thawed)
		pv_warn("cannot thaw %s: %s (its guard process tries again)", f->where, strerror(errno));
	else if (f->fd >= 0)
		unlink(f->marker);
	if (f->guard_w >= 0) {
		/* 'T': not frozen by us (any more); without it the guard thaws */
		if (thawed && write(f->guard_w, "T", 1) < 0)
			pv_debug("thaw guard pipe: %s", strerror(errno));
		close(f->guard_w);
	}
	while (f->guard > 0 && waitpid(f->guard, NULL, 0) < 0 && errno == EINTR)
		;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = f->guard_w = -1;
	f->guard = 0;
}

/* Freeze `volume`'s filesystem when it is staged here read-write with one on a block
 * device; f->fd stays -1 when there is nothing to freeze (shared storage among it: its
 * driver makes its own copy consistent as it can). */
int ctl_freeze_begin(struct pv_engine *e, const char *volume, int lock_fd, struct ctl_freeze *f, struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	const struct pv_driver *drv;
	int p[2], fd, r;

	f->fd = f->guard_w = -1;
	f->guard = 0;
	pv_journal_init(&j);
	r = pv_journal_load(e->cfg.state_dir, volume, &j, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return pv_err_set(err, r, PV_E_IN_USE,
				  "volume %s: its node journal cannot be read, so it may be mounted here unfrozen; run "
				  "pvctl reconcile --repair first", volume);
	if (j.phase == PV_PHASE_STAGING || j.phase == PV_PHASE_UNSTAGING)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: a %s on this node was interrupted, so it may be mounted unfrozen; run pvctl "
				  "reconcile first", volume, j.phase == PV_PHASE_STAGING ? "stage" : "unstage");
	if (j.phase != PV_PHASE_STAGED || j.block || j.readonly || j.lost)
		return 0; /* a raw device, or a filesystem nobody writes to */
	drv = pv_driver_find(j.pv.driver);
	if (!drv || drv->storage == PV_SHARED || !j.att.device[0])
		return 0; /* shared storage (a network mount): no filesystem of ours to freeze */
	if ((fd = pv_engine_open_staging_root(e, &j, err)) == -ENOENT)
		return 0;
	if (fd < 0) {
		pv_err_prefix(err, "not frozen, no copy made: ");
		return fd;
	}
	snprintf(f->where, sizeof(f->where), "%s", j.staging_path);
	pv_engine_frozen_marker(e, volume, f->marker, sizeof(f->marker));
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		close(fd);
		return pv_err_set(err, r, PV_E_INTERNAL, "volume %s: cannot make a pipe: %s", volume, strerror(-r));
	}
	/* the guard first: from the freeze on, something must be there to thaw. It is born
	 * with the signals a terminal or a service manager sends blocked (set here, where
	 * libc may run, not in the child of a threaded process) */
	sigset_t block, was;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &was);
	f->guard = fork();
	if (f->guard == 0) {
		close(p[1]);
		freeze_guard(fd, p[0], lock_fd, f->marker);
	}
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	close(p[0]);
	if (f->guard < 0) {
		r = -errno;
		close(p[1]);
		close(fd);
		f->guard = 0;
		return pv_err_set(err, r, PV_E_INTERNAL, "volume %s: cannot start the thaw guard: %s", volume,
				  strerror(-r));
	}
	f->guard_w = p[1];
	/* the marker before the freeze: a freeze whose guard was killed too is found by it */
	int m = open(f->marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (m < 0) {
		r = -errno;
		close(fd);
		ctl_freeze_end(f);
		return pv_err_set(err, r, PV_E_INTERNAL, "volume %s: cannot write %s: %s", volume, f->marker,
				  strerror(-r));
	}
	close(m);
	if (ioctl(fd, FIFREEZE, 0) < 0) {
		r = -errno;
		unlink(f->marker);
		close(fd);
		ctl_freeze_end(f); /* not frozen: the guard goes without thawing (someone else's freeze) */
		return pv_err_set(err, r, r == -EBUSY ? PV_E_BUSY : PV_E_INTERNAL,
				  "volume %s: cannot freeze its filesystem at %s for the snapshot: %s%s", volume,
				  j.staging_path, strerror(-r), r == -EBUSY ? " (frozen by someone else?)" : "");
	}
	f->fd = fd;
	pv_info("volume %s: froze its filesystem at %s for the copy", volume, j.staging_path);
	pv_fault_point("snapshot-frozen");
#ifdef PV_FAULT_INJECTION
	const char *fault = getenv("PVNODE_FAULT");
	if (fault && strcmp(fault, "snapshot-frozen-unguarded") == 0) {
		kill(f->guard, SIGKILL);   /* the whole group killed at once: nobody thaws */
		waitpid(f->guard, NULL, 0);
		raise(SIGKILL);
	}
#endif
	return 0;
}
