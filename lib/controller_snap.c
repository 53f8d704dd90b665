/*
 * controller_snap.c — snapshots, restores and clones for both front ends
 * (include/pvnode/controller.h): pv_ctl_snapshot_create / _delete, and the part of
 * pv_ctl_create that provisions a volume from a snapshot or from another volume.
 *
 * Locks: a snapshot is created with its source volume's lock and its own name's lock
 * (locks/@snapshot.<name>.lock: '@' is in no volume name), taken in that order; a restore
 * takes the new volume's lock, then the snapshot's; a clone both volumes' locks in name
 * order (controller.c). A snapshot's record is written only after its driver made it,
 * and removed only after its driver deleted it.
 *
 * Freezing: a volume staged on this node with a filesystem is frozen (FIFREEZE) while
 * its driver copies it, so the copy is what a power cut would have left (crash-
 * consistent). The staging mount is the one the node journal records, opened without
 * links beneath its trusted root and accepted only when its files live on the volume's
 * device. A frozen filesystem blocks every writer, so it must be thawed even when this
 * process is killed: a guard process forked before the freeze holds the mount (and the
 * volume lock, a duplicate of its fd) and thaws it as soon as its pipe closes without the
 * word that the thaw happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "controller_int.h"
#include "pvnode/catalog.h"
#include "store/journal.h"

/* --- freezing a staged filesystem --- */

struct ctl_freeze {
	int fd;        /* the staging mount's root, read-only; -1 nothing frozen */
	int guard_w;   /* the guard's pipe */
	pid_t guard;
	char where[PATH_MAX];
};

/* The guard, in the forked child: only async-signal-safe calls (the parent may have
 * threads). It outlives a killed parent and then thaws. */
static void __attribute__((noreturn)) freeze_guard(int fd, int pipe_r)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	char c = 0;
	ssize_t n;

	/* a ^C meant for pvctl must not take the guard with it */
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	while ((n = read(pipe_r, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1 || c != 'T')
		ioctl(fd, FITHAW, 0);
	_exit(0);
}

/* Thaw what freeze_begin froze (f->fd), or with f->fd -1 only let the guard go. */
static void freeze_end(struct ctl_freeze *f)
{
	bool thawed = f->fd < 0 || ioctl(f->fd, FITHAW, 0) == 0 || errno == EINVAL;

	if (!thawed)
		pv_warn("cannot thaw %s: %s (its guard process tries again)", f->where, strerror(errno));
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

/* The staging mount of `j`, opened read-only without links, if it is this volume's
 * filesystem: the fd, or -ENOENT when nothing of it is mounted there. */
static int open_staging(struct pv_engine *e, const struct pv_journal *j, struct pv_err *err)
{
	_cleanup_(pv_safe_path_close) struct pv_safe_path sp = { .dirfd = -1 };
	_cleanup_(pv_closep) int path_fd = -1;
	struct stat dev, st;
	char proc[64];
	int state, fd, r;

	state = pv_engine_mount_state(e, j, j->staging_path, false, NULL, err);
	if (state < 0)
		return state;
	if (state == PV_MOUNT_NONE)
		return -ENOENT;
	if (state == PV_MOUNT_FOREIGN)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: %s has a mount on it that is not this volume's, so its filesystem cannot "
				  "be frozen for a snapshot; unmount that first", j->volume, j->staging_path);
	if ((r = pv_engine_resolve(e, j->staging_path, false, &sp, err)) < 0)
		return r;
	if ((path_fd = pv_safe_open(&sp, PV_SAFE_DIR, false, err)) < 0)
		return path_fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the fd itself, a magic link */
	if (fd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "volume %s: cannot open %s: %s", j->volume,
				  j->staging_path, strerror(errno));
	/* what was opened is the volume's filesystem, whatever changed since the check */
	if (stat(j->att.device, &dev) < 0 || !S_ISBLK(dev.st_mode) || fstat(fd, &st) < 0 || st.st_dev != dev.st_rdev) {
		close(fd);
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: the filesystem at %s is not on its device %s: not frozen, no snapshot taken",
				  j->volume, j->staging_path, j->att.device);
	}
	return fd;
}

/* Freeze `volume`'s filesystem when it is staged here read-write with one on a block
 * device; f->fd stays -1 when there is nothing to freeze (shared storage among it: its
 * driver makes its own copy consistent as it can). */
static int freeze_begin(struct pv_engine *e, const char *volume, struct ctl_freeze *f, struct pv_err *err)
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
		return 0; /* shared storage (an NFS mount): no filesystem of ours to freeze */
	if ((fd = open_staging(e, &j, err)) == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	snprintf(f->where, sizeof(f->where), "%s", j.staging_path);
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		close(fd);
		return pv_err_set(err, r, PV_E_INTERNAL, "volume %s: cannot make a pipe: %s", volume, strerror(-r));
	}
	/* the guard first: from the freeze on, something must be there to thaw */
	f->guard = fork();
	if (f->guard == 0) {
		close(p[1]);
		freeze_guard(fd, p[0]);
	}
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
	if (ioctl(fd, FIFREEZE, 0) < 0) {
		r = -errno;
		close(fd);
		freeze_end(f); /* not frozen: the guard goes without thawing (someone else's freeze) */
		return pv_err_set(err, r, r == -EBUSY ? PV_E_BUSY : PV_E_INTERNAL,
				  "volume %s: cannot freeze its filesystem at %s for the snapshot: %s%s", volume,
				  j.staging_path, strerror(-r), r == -EBUSY ? " (frozen by someone else?)" : "");
	}
	f->fd = fd;
	pv_info("volume %s: froze its filesystem at %s for the copy", volume, j.staging_path);
	pv_fault_point("snapshot-frozen");
	return 0;
}

/* --- snapshots --- */

/* The lock of a snapshot name (held by create, delete and restore). */
static int snap_lock(struct pv_engine *e, const char *name, struct pv_err *err)
{
	char lock[PV_NAME_MAX + 16];
	int fd;

	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "'%s' is not a valid snapshot name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", name ? name : "");
	snprintf(lock, sizeof(lock), "@snapshot.%s", name);
	fd = pv_lock_volume(e->cfg.state_dir, lock, e->cfg.wait_for_lock, NULL);
	if (fd == -EBUSY)
		return pv_err_set(err, fd, PV_E_BUSY, "snapshot %s: another operation on it is in progress", name);
	if (fd < 0)
		return pv_err_set(err, fd, PV_E_INTERNAL, "snapshot %s: cannot take its lock: %s", name, strerror(-fd));
	return fd;
}

/* A repeat of a create that worked: the same source is the same snapshot. */
static int snap_repeat(const char *volume, struct pv_snapshot *had, struct pv_snapshot *out, struct pv_err *err)
{
	if (strcmp(had->source, volume) != 0)
		return pv_err_set(err, -EEXIST, PV_E_EXISTS, "snapshot %s already exists, of volume %s (not %s)", had->name,
				  had->source, volume);
	if (out)
		*out = *had;
	else
		pv_snapshot_free(had);
	pv_snapshot_init(had);
	return 0;
}

int pv_ctl_snapshot_create(struct pv_engine *e, const char *volume, const char *name, const struct pv_secrets *s,
			   struct pv_snapshot *out, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = -1;
	_cleanup_(pv_unlockp) int slock = -1;
	struct ctl_secrets sec = { .use = &sec.loaded };
	struct ctl_freeze frz = { .fd = -1, .guard_w = -1 };
	const struct pv_driver *drv;
	struct pv_snapshot snap;
	struct pv_volctx vc;
	struct pv pv;
	int r;

	if (out)
		pv_snapshot_init(out);
	pv_snapshot_init(&snap);
	pv_secrets_init(&sec.loaded);
	pv_init(&pv);
	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "'%s' is not a valid snapshot name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", name ? name : "");
	if ((lock = pv_engine_lock(e, volume, err)) < 0)
		return lock;
	if ((r = pv_catalog_load(e->cfg.state_dir, volume, &pv, err)) < 0)
		return r;
	if ((slock = snap_lock(e, name, err)) < 0) {
		r = slock;
		goto out;
	}
	r = pv_snapshot_load(e->cfg.state_dir, name, &snap, err);
	if (r == 0) {
		r = snap_repeat(volume, &snap, out, err);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	pv_err_clear(err);
	if (!(drv = ctl_driver(&pv, err))) {
		r = -EINVAL;
		goto out;
	}
	if (!drv->snapshot_create) {
		r = pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED, "volume %s: driver %s cannot take snapshots", volume,
			       drv->name);
		goto out;
	}
	snprintf(snap.name, sizeof(snap.name), "%s", name);
	snprintf(snap.source, sizeof(snap.source), "%s", volume);
	snap.size = pv.capacity;
	snap.created = (int64_t)time(NULL);
	snap.ready = true; /* a driver whose copy completes later says otherwise */
	if ((r = pv_copy(&snap.origin, &pv, err)) < 0 || (r = ctl_secrets(e, &pv, s, &sec, err)) < 0 ||
	    (r = ctl_node(e, volume, &vc, err)) < 0)
		goto out;
	if ((r = freeze_begin(e, volume, &frz, err)) < 0)
		goto out;
	r = drv->snapshot_create(&pv, &snap, sec.use, &vc.n, err);
	freeze_end(&frz);
	if (r < 0) {
		pv_err_prefix(err, "snapshot %s of volume %s: ", name, volume);
		goto out;
	}
	pv_fault_point("snapshot-made");
	if ((r = pv_snapshot_save(e->cfg.state_dir, &snap, err)) < 0) {
		if (drv->snapshot_delete)
			drv->snapshot_delete(&snap, sec.use, &vc.n, NULL); /* leave nothing half-done */
		goto out;
	}
	if (out) {
		*out = snap;
		pv_snapshot_init(&snap);
	}
out:
	pv_snapshot_free(&snap);
	ctl_secrets_free(&sec);
	pv_free(&pv);
	return r;
}

int pv_ctl_snapshot_delete(struct pv_engine *e, const char *name, const struct pv_secrets *s, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int slock = -1;
	struct ctl_secrets sec = { .use = &sec.loaded };
	const struct pv_driver *drv;
	struct pv_snapshot snap;
	struct pv_volctx vc;
	struct stat st;
	bool had_run_dir;
	int r = 0;

	pv_snapshot_init(&snap);
	pv_secrets_init(&sec.loaded);
	if ((slock = snap_lock(e, name, err)) < 0)
		return slock;
	if ((r = pv_snapshot_load(e->cfg.state_dir, name, &snap, err)) < 0)
		return r;
	drv = pv_driver_find(snap.origin.driver);
	pv_engine_volctx(e, snap.source, &vc);
	had_run_dir = stat(vc.run_dir, &st) == 0;
	if (drv && drv->snapshot_delete) {
		r = ctl_secrets(e, &snap.origin, s, &sec, err);
		if (r == 0)
			r = ctl_node(e, snap.source, &vc, err);
		if (r == 0)
			r = drv->snapshot_delete(&snap, sec.use, &vc.n, err);
		if (r < 0)
			pv_err_prefix(err, "snapshot %s: ", name);
		if (!had_run_dir)
			rmdir(vc.run_dir); /* made for the call: its volume may be gone */
	}
	if (r == 0)
		r = pv_snapshot_remove(e->cfg.state_dir, name, err);
	ctl_secrets_free(&sec);
	pv_snapshot_free(&snap);
	return r;
}

/* --- volumes from a source --- */

bool ctl_same_source(const struct pv *stored, const struct pv *wanted)
{
	return stored->source_kind == wanted->source_kind &&
	       (wanted->source_kind == PV_SOURCE_NONE || strcmp(stored->source, wanted->source) == 0);
}

/* A volume made from `what` (a snapshot's origin, or the source volume) must be of its
 * driver, volume mode and filesystem, and at least its size (`size`). */
static int check_fits(struct pv *pv, const struct pv *what, uint64_t size, const char *from, struct pv_err *err)
{
	char have[32], need[32];

	if (strcmp(what->driver, pv->driver) != 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: %s is of driver %s, not %s (a copy stays within its driver)", pv->name, from,
				  what->driver, pv->driver);
	if (what->volume_mode != pv->volume_mode)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: %s has volumeMode %s, not %s", pv->name, from,
				  what->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem",
				  pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem");
	if (strcmp(what->fs_type, pv->fs_type) != 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: %s holds %s, not fsType %s: set fsType \"%s\"",
				  pv->name, from, what->fs_type[0] ? what->fs_type : "no filesystem",
				  pv->fs_type[0] ? pv->fs_type : "(none)", what->fs_type);
	if (!pv->capacity)
		pv->capacity = size; /* left out: as big as its source */
	if (pv->capacity < size) {
		pv_quantity_format(pv->capacity, have, sizeof(have));
		pv_quantity_format(size, need, sizeof(need));
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "volume %s: capacity %s is smaller than %s (%s): ask for at least %s", pv->name, have,
				  from, need, need);
	}
	return 0;
}

int ctl_make_from_source(struct pv_engine *e, const struct pv_driver *drv, struct pv *pv,
			 const struct pv_secrets *given, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int slock = -1;
	struct ctl_secrets sec = { .use = &sec.loaded };
	struct ctl_freeze frz = { .fd = -1, .guard_w = -1 };
	bool restore = pv->source_kind == PV_SOURCE_SNAPSHOT;
	struct pv_snapshot snap;
	struct pv src;
	struct pv_volctx vc;
	char from[PV_NAME_MAX + 32];
	bool made_run_dir = false;
	struct stat st;
	int r;

	pv_snapshot_init(&snap);
	pv_secrets_init(&sec.loaded);
	pv_init(&src);
	pv_engine_volctx(e, pv->name, &vc);
	snprintf(from, sizeof(from), "%s %s", restore ? "snapshot" : "volume", pv->source);
	if (restore) {
		if ((slock = snap_lock(e, pv->source, err)) < 0)
			return slock;
		r = pv_snapshot_load(e->cfg.state_dir, pv->source, &snap, err);
		if (r == 0 && !snap.ready)
			r = pv_err_set(err, -EAGAIN, PV_E_UNAVAILABLE, "snapshot %s is not ready to use yet: retry later",
				       pv->source);
		if (r == 0)
			r = check_fits(pv, &snap.origin, snap.size, from, err);
	} else {
		r = pv_catalog_load(e->cfg.state_dir, pv->source, &src, err);
		if (r == 0)
			r = check_fits(pv, &src, src.capacity, from, err);
	}
	if (r < 0) {
		if (err && err->kind == PV_E_NOT_FOUND)
			pv_err_prefix(err, "volume %s: source: ", pv->name);
		goto out;
	}
	if ((r = ctl_check_granularity(pv, drv, pv->capacity, err)) < 0 || (r = ctl_check_fs_minimum(pv, drv, err)) < 0)
		goto out;
	if ((restore && !drv->restore) || (!restore && !drv->clone)) {
		r = pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED, "volume %s: driver %s cannot %s", pv->name, drv->name,
			       restore ? "restore snapshots" : "clone volumes");
		goto out;
	}
	made_run_dir = stat(vc.run_dir, &st) < 0;
	if ((r = ctl_secrets(e, pv, given, &sec, err)) < 0 || (r = ctl_node(e, pv->name, &vc, err)) < 0) {
		pv_err_prefix(err, "volume %s: ", pv->name);
		goto out;
	}
	if (!pv->created)
		pv->created = (int64_t)time(NULL);
	if (!pv->reclaim)
		pv->reclaim = PV_RECLAIM_DELETE;
	if (restore) {
		r = drv->restore(pv, &snap, sec.use, &vc.n, err);
	} else if ((r = freeze_begin(e, pv->source, &frz, err)) == 0) {
		/* a clone of a mounted volume is as crash-consistent as a snapshot */
		r = drv->clone(pv, &src, sec.use, &vc.n, err);
		freeze_end(&frz);
	}
	if (r < 0) {
		pv_err_prefix(err, "volume %s from %s: ", pv->name, from);
		goto out;
	}
	pv_fault_point("restore-made");
	if ((r = pv_catalog_save(e->cfg.state_dir, pv, err)) < 0 && drv->remove)
		drv->remove(pv, sec.use, &vc.n, NULL); /* leave nothing half-done */
out:
	if (r < 0 && made_run_dir)
		rmdir(vc.run_dir);
	ctl_secrets_free(&sec);
	pv_snapshot_free(&snap);
	pv_free(&src);
	return r;
}
