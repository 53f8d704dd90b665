/*
 * controller_snap.c — snapshots, restores and clones for both front ends
 * (include/pvnode/controller.h): pv_ctl_snapshot_create / _delete, and the part of
 * pv_ctl_create that provisions a volume from a snapshot or from another volume.
 *
 * Locks: a snapshot is created with its source volume's lock and its own name's lock
 * (PV_SNAPSHOT_LOCK_PREFIX: '@' is in no volume name), taken in that order; a restore
 * takes the new volume's lock, then the snapshot's; a clone both volumes' locks in name
 * order (controller.c). A snapshot's record is written only after its driver made it,
 * and removed only after its driver deleted it. A staged volume is frozen for the copy
 * (controller_freeze.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controller_int.h"
#include "pvnode/catalog.h"

/* --- snapshots --- */

/* The lock of a snapshot name (held by create, delete and restore). */
static int snap_lock(struct pv_engine *e, const char *name, struct pv_err *err)
{
	char lock[PV_NAME_MAX + 16];
	int fd;

	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "'%s' is not a valid snapshot name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", name ? name : "");
	snprintf(lock, sizeof(lock), PV_SNAPSHOT_LOCK_PREFIX "%s", name);
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
	struct ctl_freeze frz = CTL_FREEZE_INIT;
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
	if ((slock = snap_lock(e, name, err)) < 0)
		return slock;
	/* a repeat is answered by the record, also when the volume is gone since */
	r = pv_snapshot_load(e->cfg.state_dir, name, &snap, err);
	if (r == 0) {
		r = snap_repeat(volume, &snap, out, err);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	pv_err_clear(err);
	if ((r = pv_catalog_load(e->cfg.state_dir, volume, &pv, err)) < 0)
		goto out;
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
	if ((r = ctl_freeze_begin(e, volume, lock, &frz, err)) < 0)
		goto out;
	r = drv->snapshot_create(&pv, &snap, sec.use, &vc.n, err);
	ctl_freeze_end(&frz);
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
			 const struct pv_secrets *given, int source_lock, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int slock = -1;
	struct ctl_secrets sec = { .use = &sec.loaded };
	struct ctl_freeze frz = CTL_FREEZE_INIT;
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
			r = pv_err_set(err, -EAGAIN, PV_E_UNAVAILABLE,
				       "snapshot %s is not ready to use yet: retry when pvctl snapshot list (or "
				       "ListSnapshots) says it is ready", pv->source);
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
	} else if ((r = ctl_freeze_begin(e, pv->source, source_lock, &frz, err)) == 0) {
		/* a clone of a mounted volume is as crash-consistent as a snapshot */
		r = drv->clone(pv, &src, sec.use, &vc.n, err);
		ctl_freeze_end(&frz);
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
