/*
 * stage.c — the node engine's stage, unstage and teardown.
 *
 * stage:   policy → lock → journal intent (STAGING) → driver attach (block: device,
 *          fenced in the backend for RWO/RWOP; shared: mount spec or helper mount) →
 *          journal → format if blank (block, Filesystem) → mount at the staging path →
 *          journal STAGED.
 * unstage: refuse while published → journal UNSTAGING → unmount → driver detach →
 *          journal removed.
 * Every failure undoes the steps before it; a process killed in between leaves a
 * STAGING/UNSTAGING journal that the next stage or the start-up reconcile finishes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "engine_int.h"
#include "store/journal.h"
#include "pvnode/driver/os.h"

int pv_engine_undo_stage(struct pv_engine *e, const struct pv_journal *j, bool rollback, struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(j->pv.driver);
	struct pv_volctx vc;
	struct stat st;
	int r = 0;

	pv_engine_volctx(e, j->volume, &vc);
	/* Something else's mount at the staging path: a stage that failed on it (rollback)
	 * or was killed before its mount never mounted there, so leave it alone and still
	 * detach what was attached. Only a stage killed after its mount, with something
	 * stacked on top since, can have ours beneath: then the device is still mounted. */
	bool skip = j->staging_path[0] &&
		    pv_engine_mount_state(e, j, j->staging_path, false, NULL, NULL) == PV_MOUNT_FOREIGN;
	if (skip && !rollback && j->att.device[0] && stat(j->att.device, &st) == 0 && S_ISBLK(st.st_mode) &&
	    pv_mounts_of_dev(st.st_rdev, NULL, NULL, NULL) > 0)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: %s has a mount on it that is not this volume's, and the volume's device %s "
				  "is still mounted; unmount that first", j->volume, j->staging_path, j->att.device);
	if (j->staging_path[0] && !j->block && !j->att.mounted_by_driver && !skip) {
		r = pv_engine_unmount_ours(e, j, j->staging_path, false, NULL, err);
		if (r < 0)
			return r;
	}
	if (drv && drv->detach) {
		r = drv->detach(&j->pv, &j->att, &vc.n, err);
		if (r < 0)
			return r;
	}
	/* whatever is left: a device attached by a process killed before it reached the
	 * journal, read-only publish views, or a driver that is no longer built in */
	pv_loop_release(e->cfg.state_dir, j->volume, j->att.device, j->att.backing, NULL);
	return 0;
}

static bool same_stage(const struct pv_journal *j, const char *staging, enum pv_access a, bool block,
		       bool ro, const char *fs)
{
	return strcmp(j->staging_path, staging) == 0 && j->access == a && j->block == block &&
	       j->readonly == ro && (block || strcmp(j->fs_type, fs) == 0);
}

/* Is a STAGED journal's state really there? */
static bool stage_present(struct pv_engine *e, const struct pv_journal *j)
{
	struct stat st;
	if (j->block)
		return j->att.device[0] && stat(j->att.device, &st) == 0 && S_ISBLK(st.st_mode);
	return pv_engine_mount_state(e, j, j->staging_path, false, NULL, NULL) == PV_MOUNT_OURS;
}

/* Present and, where the driver can tell, backed by a live helper or session: a stage
 * whose helper died is done again, not reported as fine. */
static bool stage_healthy(struct pv_engine *e, const struct pv_journal *j, const struct pv_driver *drv, char *why,
			  size_t len)
{
	if (!stage_present(e, j))
		return false;
	if (drv->health && drv->health(&j->pv, &j->att, why, len) != PV_HEALTHY)
		return false;
	return true;
}

/* xfs refuses to mount a second filesystem with a UUID already mounted, and a snapshot,
 * restore or clone carries its source's UUID (a block copy): every xfs is mounted with
 * nouuid (as other CSI drivers do), so a volume and its copies can be staged side by side. */
static bool wants_nouuid(const char *fstype, const struct pv_stage_req *r)
{
	if (strcmp(fstype, "xfs") != 0)
		return false;
	for (size_t i = 0; i < r->pv->n_mount_options; i++)
		if (strcmp(r->pv->mount_options[i], "nouuid") == 0)
			return false;
	for (size_t i = 0; i < r->n_mount_flags; i++)
		if (strcmp(r->mount_flags[i], "nouuid") == 0)
			return false;
	return true;
}

static int build_stage_options(struct pv_engine *e, const struct pv_stage_req *r, const char *fstype, bool ro,
			       char *opts, size_t len, struct pv_err *err)
{
	const char *flags[32];
	size_t n = 0;
	char label[256];
	int c;

	c = pv_selinux_context_from_flags(r->mount_flags, r->n_mount_flags, label, sizeof(label), err);
	if (c < 0)
		return c;
	for (size_t i = 0; i < r->n_mount_flags && n < 32; i++) {
		if (strncmp(r->mount_flags[i], "context=", 8) == 0) {
			/* context= only where the kernel enforces SELinux (DESIGN.md) */
			if (e->cfg.selinux == PV_SELINUX_OFF || !pv_selinux_kernel_enforces())
				continue;
		}
		flags[n++] = r->mount_flags[i];
	}
	if (n < 32 && wants_nouuid(fstype, r))
		flags[n++] = "nouuid";
	const char *const *lists[] = { (const char *const *)r->pv->mount_options, flags };
	size_t counts[] = { r->pv->n_mount_options, n };
	return pv_mount_options_join(lists, counts, 2, ro, opts, len, err);
}

/* The staging directory, made and opened without following links; refused when
 * something is already mounted there. */
static int open_staging(struct pv_engine *e, const struct pv_journal *j, struct pv_safe_path *sp,
			struct pv_err *err)
{
	struct pv_fd_mount m;
	int fd, r;

	if ((r = pv_engine_resolve(e, j->staging_path, true, sp, err)) < 0)
		return r;
	fd = pv_safe_open(sp, PV_SAFE_DIR, true, err);
	if (fd >= 0 && pv_fd_mount_info(fd, &m) == 0 && m.is_mount_root) {
		close(fd);
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "staging path %s is already a mount point of something else: refusing to stack on it",
				  j->staging_path);
	}
	return fd;
}

/* A device that could not be read or mounted while its backend does not answer (an
 * outage just over, a timeout): say that, as UNAVAILABLE, so the caller tries again,
 * rather than the error of the tool that met it. */
static int backend_unavailable(const struct pv_journal *j, const struct pv_driver *drv, int rc, struct pv_err *err)
{
	char why[256] = "";
	if (rc >= 0 || !drv->health || drv->health(&j->pv, &j->att, why, sizeof(why)) == PV_HEALTHY)
		return rc;
	pv_err_clear(err);
	return pv_err_set(err, rc, PV_E_UNAVAILABLE, "volume %s: cannot read its device %s: %s", j->volume,
			  j->att.device, why[0] ? why : "its backend is unhealthy");
}

/* Format the volume's device when it is blank (never a read-only stage, never a device
 * that holds something else); *fresh says it was. */
static int format_if_blank(struct pv_engine *e, const struct pv_stage_req *r, const struct pv_journal *j,
			   const struct pv_driver *drv, bool *fresh, bool *grow_mounted, struct pv_err *err)
{
	char what[128];
	int rc = pv_probe_device(j->att.device, what, sizeof(what), err);

	*fresh = *grow_mounted = false;
	if (rc < 0)
		return backend_unavailable(j, drv, rc, err);
	if (rc == 1 && strcmp(what, j->fs_type) != 0)
		return pv_err_set(err, -EEXIST, PV_E_POLICY,
				  "volume %s holds %s, not %s: refusing to mount or format it", j->volume, what, j->fs_type);
	if (rc == 1) {
		/* formatted already; the device may have grown while unstaged (offline expansion) */
		if (!j->readonly && (rc = pv_fs_grow_unmounted(j->att.device, j->fs_type, grow_mounted, err)) < 0)
			pv_err_prefix(err, "volume %s: ", j->volume);
		return rc < 0 ? rc : 0;
	}
	if (j->readonly)
		return pv_err_set(err, -EPERM, PV_E_POLICY,
				  "volume %s is blank and staged read-only (ReadOnlyMany): it must be written once "
				  "by a ReadWriteOnce stage first", j->volume);
	*fresh = true;
	return pv_mkfs(j->att.device, j->fs_type, r->pv->capacity, e->cfg.progress, err);
}

/* After attach: format if blank and mount (block), or mount the spec (shared), onto the
 * staging directory by file descriptor. */
static int mount_staging(struct pv_engine *e, const struct pv_stage_req *r, struct pv_journal *j,
			 const struct pv_driver *drv, struct pv_err *err)
{
	_cleanup_(pv_closep) int fd = -1, mnt = -1;
	_cleanup_(pv_safe_path_close) struct pv_safe_path sp = { .dirfd = -1 };
	char opts[1024], at[64];
	bool fresh = false, grow_mounted = false;
	int rc;

	if (j->block || (drv->storage == PV_SHARED && j->att.mounted_by_driver))
		return 0;
	if ((rc = build_stage_options(e, r, j->fs_type, j->readonly, opts, sizeof(opts), err)) < 0)
		return rc;
	if ((fd = open_staging(e, j, &sp, err)) < 0)
		return fd;
	snprintf(at, sizeof(at), "/proc/self/fd/%d", fd);
	if (drv->storage == PV_SHARED) {
		char all[2048];
		snprintf(all, sizeof(all), "%s%s%s", j->att.options, j->att.options[0] && opts[0] ? "," : "", opts);
		return pv_mount(j->att.source, at, j->att.fstype, all, err);
	}
	if ((rc = format_if_blank(e, r, j, drv, &fresh, &grow_mounted, err)) < 0)
		return rc;
	rc = backend_unavailable(j, drv, pv_mount_fs_at(j->att.device, &sp, fd, j->fs_type, opts, &mnt, err), err);
	/* the directory mounted onto was renamed between its opening and the mount: the
	 * filesystem is not at the staging path's name: take exactly it away again */
	if (rc == 0 && pv_engine_mount_state(e, j, j->staging_path, false, NULL, NULL) != PV_MOUNT_OURS) {
		pv_umount_root_fd(mnt);
		return pv_err_set(err, -EAGAIN, PV_E_BUSY, "staging path %s was moved while it was being mounted: retry",
				  j->staging_path);
	}
	if (rc == 0 && (grow_mounted || (fresh && r->pv->gid > 0))) {
		/* the new mount's root, by a path that cannot be redirected (not fd/.: "."
		 * stays on the directory below the mount) */
		char rootpath[64];
		/* by pid, not self: xfs_growfs runs in a child that reaches the fd through us */
		snprintf(rootpath, sizeof(rootpath), "/proc/%d/fd/%d", (int)getpid(), mnt);
		if (mnt < 0)
			return pv_err_set(err, -ESTALE, PV_E_BUSY, "staging path %s moved while it was being mounted: retry",
					  j->staging_path);
		if (grow_mounted && (rc = pv_grow_fs(j->att.device, rootpath, j->fs_type, err)) < 0)
			pv_err_prefix(err, "volume %s: ", j->volume);
		if (rc == 0 && fresh && r->pv->gid > 0)
			rc = pv_set_root_group(rootpath, r->pv->gid, err);
	}
	return rc;
}

/* What a stage request resolves to before anything is touched. */
struct stage_plan {
	const struct pv_driver *drv;
	char staging[PATH_MAX];
	enum pv_access access;
	bool readonly;
	char fs[PV_FSTYPE_MAX + 1]; /* "" for shared storage */
};

static int stage_plan(struct pv_engine *e, const struct pv_stage_req *r, struct stage_plan *p, struct pv_err *err)
{
	const struct pv *pv = r->pv;
	int rc;

	p->drv = pv_driver_find(pv->driver);
	if (!p->drv)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: unknown driver '%s' (allowed: %s)", pv->name,
				  pv->driver, pv_driver_names());
	if ((rc = pv_validate(pv, err)) < 0)
		return rc;
	if (r->staging_path) {
		if ((rc = pv_engine_check_path(e, "staging path", r->staging_path, err)) < 0)
			return rc;
		snprintf(p->staging, sizeof(p->staging), "%s", r->staging_path);
	} else {
		snprintf(p->staging, sizeof(p->staging), "%s/staging/%s", e->cfg.state_dir, pv->name);
	}
	p->access = r->access ? r->access : pv_access_first(pv);
	if ((rc = pv_policy_stage(pv, p->drv->storage, p->access, r->block, err)) < 0)
		return rc;
	p->readonly = pv_policy_stage_readonly(p->access, r->readonly);
	const char *fs = (r->fs_type && *r->fs_type) ? r->fs_type : (pv->fs_type[0] ? pv->fs_type : "ext4");
	if (p->drv->storage == PV_BLOCKDEV && !r->block && strcmp(fs, "ext4") != 0 && strcmp(fs, "xfs") != 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: cannot use filesystem '%.16s' (allowed: ext4, xfs)",
				  pv->name, fs);
	snprintf(p->fs, sizeof(p->fs), "%s", p->drv->storage == PV_SHARED ? "" : fs);
	return 0;
}

/* A journal already there: 1 when it is this very stage and healthy (idempotent), 0
 * when it was cleaned up and the stage goes on, < 0 refused. */
static int stage_existing(struct pv_engine *e, const struct pv_stage_req *r, const struct stage_plan *p,
			  struct pv_journal *j, struct pv_err *err)
{
	const char *name = r->pv->name;
	int rc;

	if (j->phase == PV_PHASE_STAGED) {
		if (!same_stage(j, p->staging, p->access, r->block, p->readonly, p->fs))
			return pv_err_set(err, -EEXIST, PV_E_EXISTS,
					  "volume %s is already staged at %s as %s%s: unstage it before staging it differently",
					  name, j->staging_path, pv_access_name(j->access), j->readonly ? " (read-only)" : "");
		char why[200] = "its staging mount is gone";
		if (stage_healthy(e, j, p->drv, why, sizeof(why)) && !j->lost)
			return 1;
		if (j->n_publishes)
			return pv_err_set(err, -EIO, PV_E_INTERNAL,
					  "volume %s: its stage at %s is broken (%s) while published at %s; unpublish it, then stage again",
					  name, j->staging_path, why, j->publishes[0].target);
	}
	/* an interrupted stage or unstage, or a lost staging mount: start clean */
	rc = pv_engine_undo_stage(e, j, false, err);
	if (rc < 0)
		pv_err_prefix(err, "volume %s: cleaning up an earlier stage: ", name);
	return rc;
}

/* The intent, written before anything on the node changes. */
static int stage_intent(struct pv_engine *e, const struct pv_stage_req *r, const struct stage_plan *p,
			struct pv_journal *j, struct pv_err *err)
{
	int rc;

	pv_journal_free(j);
	snprintf(j->volume, sizeof(j->volume), "%s", r->pv->name);
	snprintf(j->node_id, sizeof(j->node_id), "%s", e->cfg.node_id);
	snprintf(j->staging_path, sizeof(j->staging_path), "%s", p->staging);
	snprintf(j->fs_type, sizeof(j->fs_type), "%s", p->fs);
	j->access = p->access;
	j->block = r->block;
	j->readonly = p->readonly;
	j->phase = PV_PHASE_STAGING;
	rc = pv_copy(&j->pv, r->pv, err);
	if (rc == 0 && !r->pv->secret_ref && r->secrets && r->secrets->map.n)
		/* secrets that came with the request (CSI): kept so a dead helper can restart */
		rc = pv_secrets_stage_save(e->cfg.state_dir, r->pv->name, r->secrets, err);
	if (rc == 0)
		rc = pv_journal_save(e->cfg.state_dir, j, err);
	return rc;
}

/* The staging directory exists before attach (a userspace mounter mounts there), made
 * without following links. */
static int make_staging_dir(struct pv_engine *e, const char *staging, struct pv_err *err)
{
	struct pv_safe_path sp;
	int fd, r;

	if ((r = pv_engine_resolve(e, staging, true, &sp, err)) < 0)
		return r;
	fd = pv_safe_open(&sp, PV_SAFE_DIR, true, err);
	pv_safe_path_close(&sp);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Attach through the driver, then format and mount (block) or mount the spec. */
static int stage_attach(struct pv_engine *e, const struct pv_stage_req *r, const struct stage_plan *p,
			struct pv_journal *j, struct pv_err *err)
{
	char note[PV_ERR_MSG_MAX] = "";
	struct pv_secrets none;
	struct pv_volctx vc;
	int rc;

	pv_engine_volctx(e, r->pv->name, &vc);
	if ((rc = pv_mkdir_p(vc.run_dir, 0700, err)) < 0 || (rc = make_staging_dir(e, p->staging, err)) < 0)
		return rc;
	pv_secrets_init(&none);
	struct pv_attach_req areq = {
		.pv = r->pv, .secrets = r->secrets ? r->secrets : &none, .access = p->access, .readonly = p->readonly,
		.staging_path = p->staging, .node = &vc.n,
	};
	pv_fault_point("stage-before-attach");
	rc = p->drv->attach(&areq, &j->att, err);
	if (rc < 0) {
		if (err && err->kind == PV_E_POLICY)   /* attach refuses only for a fence held elsewhere */
			pv_engine_count(e, fence_refusals_stage);
		pv_err_prefix(err, "volume %s: ", r->pv->name); /* drivers never name the volume */
		return rc;
	}
	pv_fault_point("stage-after-attach");
	rc = pv_journal_save(e->cfg.state_dir, j, err);
	if (rc == 0)
		rc = mount_staging(e, r, j, p->drv, err);
	if (rc == 0 && r->mount_group > 0 && !j->block && !j->readonly)
		rc = pv_engine_mount_group(e, j, r->mount_group, note, sizeof(note), err);
	if (rc < 0)
		return rc;
	pv_fault_point("stage-after-mount");
	j->phase = PV_PHASE_STAGED;
	snprintf(j->last_error, sizeof(j->last_error), "%s", note);
	return pv_journal_save(e->cfg.state_dir, j, err);
}

int pv_engine_stage(struct pv_engine *e, const struct pv_stage_req *r, struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	_cleanup_(pv_unlockp) int lock = -1;
	struct stage_plan p = { 0 };
	int rc;

	pv_journal_init(&j);
	if ((rc = stage_plan(e, r, &p, err)) < 0)
		return rc;
	if ((lock = pv_engine_lock(e, r->pv->name, err)) < 0)
		return lock;
	rc = pv_journal_load(e->cfg.state_dir, r->pv->name, &j, err);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && (rc = stage_existing(e, r, &p, &j, err)) != 0)
		return rc > 0 ? 0 : rc;
	if ((rc = stage_intent(e, r, &p, &j, err)) < 0)
		return rc;
	rc = stage_attach(e, r, &p, &j, err);
	if (rc < 0) {
		struct pv_err undo = { 0 };
		if (pv_engine_undo_stage(e, &j, true, &undo) < 0) {
			/* the journal stays (phase staging): a retry or reconcile finishes the undo */
			pv_warn("volume %s: undoing the failed stage: %s", r->pv->name, undo.msg);
			snprintf(j.last_error, sizeof(j.last_error), "%s", undo.msg);
			pv_journal_save(e->cfg.state_dir, &j, NULL);
			return rc;
		}
		pv_journal_delete(e->cfg.state_dir, r->pv->name, NULL);
		pv_secrets_stage_delete(e->cfg.state_dir, r->pv->name);
		if (!r->staging_path)
			rmdir(p.staging);
		return rc;
	}
	pv_info("volume %s staged at %s (%s%s%s%s)", r->pv->name, p.staging, pv_access_short(p.access),
		p.readonly ? ", read-only" : "", j.att.device[0] ? ", device " : "", j.att.device);
	return 0;
}

/* Is any publish target still mounted? Its path, or NULL. */
static const char *still_published(struct pv_engine *e, const struct pv_journal *j)
{
	for (size_t i = 0; i < j->n_publishes; i++)
		if (!j->publishes[i].lost && pv_engine_mount_state(e, j, j->publishes[i].target, j->publishes[i].block,
								   j->publishes[i].device, NULL) == PV_MOUNT_OURS)
			return j->publishes[i].target;
	return NULL;
}

/* After an unstage: the default staging and run directories the engine made. */
static void remove_stage_dirs(const struct pv_engine *e, const struct pv_journal *j)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/staging/%s", e->cfg.state_dir, j->volume);
	if (strcmp(path, j->staging_path) == 0)
		rmdir(path);
	snprintf(path, sizeof(path), "%s/run/%s", e->cfg.state_dir, j->volume);
	rmdir(path); /* drivers remove what they put there */
}

int pv_engine_unstage_locked(struct pv_engine *e, const char *volume, const char *staging_path,
			     struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	const char *busy;
	int rc;

	pv_journal_init(&j);
	rc = pv_journal_load(e->cfg.state_dir, volume, &j, err);
	if (rc == -ENOENT)
		return 0; /* nothing staged: done */
	if (rc < 0)
		return rc;
	if (staging_path && *staging_path && strcmp(staging_path, j.staging_path) != 0)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "volume %s is staged at %s, not at %s", volume,
				  j.staging_path, staging_path);
	if ((busy = still_published(e, &j)))
		return pv_err_set(err, -EBUSY, PV_E_POLICY, "volume %s is still published at %s: unpublish it first",
				  volume, busy);
	char stray[PATH_MAX];
	if (pv_engine_stray_mounts(e, &j, stray, sizeof(stray)) > 0)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s is still mounted at %s, which the journal does not list (a killed publish?): "
				  "unpublish it (pvctl unpublish %s %s) first", volume, stray, volume, stray);
	j.phase = PV_PHASE_UNSTAGING;
	rc = pv_journal_save(e->cfg.state_dir, &j, err);
	pv_fault_point("unstage-begin");
	if (rc == 0)
		rc = pv_engine_undo_stage(e, &j, false, err);
	if (rc < 0) {
		pv_err_prefix(err, "volume %s: ", volume);
		snprintf(j.last_error, sizeof(j.last_error), "%s", err ? err->msg : "unstage failed");
		pv_journal_save(e->cfg.state_dir, &j, NULL);
		return rc;
	}
	rc = pv_journal_delete(e->cfg.state_dir, volume, err);
	pv_secrets_stage_delete(e->cfg.state_dir, volume);
	remove_stage_dirs(e, &j);
	pv_info("volume %s unstaged", volume);
	return rc;
}

int pv_engine_unstage(struct pv_engine *e, const char *volume, const char *staging_path, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = pv_engine_lock(e, volume, err);

	if (lock < 0)
		return lock;
	return pv_engine_unstage_locked(e, volume, staging_path, err);
}

int pv_engine_teardown_locked(struct pv_engine *e, const char *volume, struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	int rc;

	pv_journal_init(&j);
	rc = pv_journal_load(e->cfg.state_dir, volume, &j, err);
	if (rc == -ENOENT)
		return 0;
	for (size_t i = 0; rc == 0 && i < j.n_publishes; i++)
		rc = pv_engine_unpublish_locked(e, volume, j.publishes[i].target, err);
	if (rc == 0)
		rc = pv_engine_unstage_locked(e, volume, NULL, err);
	return rc;
}

int pv_engine_teardown(struct pv_engine *e, const char *volume, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = pv_engine_lock(e, volume, err);

	if (lock < 0)
		return lock;
	return pv_engine_teardown_locked(e, volume, err);
}
