/*
 * engine.c — the node engine's stage and unstage, and what the engine's files share.
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
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "engine_int.h"
#include "store/journal.h"
#include "pvnode/driver/os.h"

int pv_engine_open(const struct pv_engine_cfg *cfg, struct pv_engine **out, struct pv_err *err)
{
	struct pv_engine *e = calloc(1, sizeof(*e));
	static const char *const dirs[] = { "", "/catalog", "/journal", "/locks", "/run", "/staging", "/images" };
	char path[PATH_MAX];
	int r;

	if (!e)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	e->cfg = *cfg;
	e->cfg.allowed_paths = NULL;
	e->cfg.n_allowed_paths = 0;
	if (!pv_path_clean(cfg->state_dir)) {
		free(e);
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "state directory '%s' must be an absolute path without '..'", cfg->state_dir);
	}
	if (!pv_name_valid(cfg->node_id)) {
		free(e);
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "node id '%s' is not valid (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", cfg->node_id);
	}
	e->cfg.allowed_paths = calloc(cfg->n_allowed_paths + 1, sizeof(char *));
	for (size_t i = 0; e->cfg.allowed_paths && i < cfg->n_allowed_paths; i++) {
		if (!pv_path_clean(cfg->allowed_paths[i])) {
			pv_engine_close(e);
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "allowed path '%s' must be absolute without '..'", cfg->allowed_paths[i]);
		}
		e->cfg.allowed_paths[e->cfg.n_allowed_paths++] = strdup(cfg->allowed_paths[i]);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->state_dir, dirs[i]);
		r = pv_mkdir_p(path, 0700, err);
		if (r < 0) {
			pv_engine_close(e);
			return r;
		}
	}
	*out = e;
	return 0;
}

void pv_engine_close(struct pv_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->cfg.n_allowed_paths; i++)
		free(e->cfg.allowed_paths[i]);
	free(e->cfg.allowed_paths);
	free(e);
}

const struct pv_engine_cfg *pv_engine_config(const struct pv_engine *e)
{
	return &e->cfg;
}

void pv_engine_volctx(const struct pv_engine *e, const char *volume, struct pv_volctx *vc)
{
	snprintf(vc->run_dir, sizeof(vc->run_dir), "%s/run/%s", e->cfg.state_dir, volume);
	vc->n.state_dir = e->cfg.state_dir;
	vc->n.node_id = e->cfg.node_id;
	vc->n.run_dir = vc->run_dir;
	vc->n.progress = e->cfg.progress;
}

int pv_engine_lock(struct pv_engine *e, const char *volume, struct pv_err *err)
{
	if (!pv_name_valid(volume))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume id '%s' is not valid (allowed: 1-128 of A-Z a-z 0-9 . _ : -)", volume ? volume : "");
	return pv_lock_volume(e->cfg.state_dir, volume, e->cfg.wait_for_lock, err);
}

void pv_engine_note_error(struct pv_engine *e, const char *volume, const struct pv_err *err)
{
	struct pv_journal j;

	if (!err || err->kind == PV_E_NONE || err->kind == PV_E_BUSY)
		return;
	if (pv_journal_load(e->cfg.state_dir, volume, &j, NULL) == 0) {
		snprintf(j.last_error, sizeof(j.last_error), "%s", err->msg);
		pv_journal_save(e->cfg.state_dir, &j, NULL);
		pv_journal_free(&j);
	}
}

int pv_engine_check_path(const struct pv_engine *e, const char *what, const char *path, struct pv_err *err)
{
	char real[PATH_MAX], realprefix[PATH_MAX], probe[PATH_MAX];
	bool under = false;

	if (!path || !*path)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s is missing", what);
	if (!pv_path_clean(path))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s '%s' must be an absolute path without '.', '..', '//' or control characters", what, path);
	for (size_t i = 0; i < e->cfg.n_allowed_paths && !under; i++)
		under = pv_path_under(path, e->cfg.allowed_paths[i]) && strcmp(path, e->cfg.allowed_paths[i]) != 0;
	if (!under) {
		char list[1024] = "";
		size_t used = 0;
		for (size_t i = 0; i < e->cfg.n_allowed_paths; i++)
			used += (size_t)snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0, "%s%s",
						 i ? ", " : "", e->cfg.allowed_paths[i]);
		return pv_err_set(err, -EPERM, PV_E_INVALID, "%s '%s' is outside the allowed prefixes (%s)", what, path,
				  used ? list : "none");
	}
	/* Symlinks must not lead out: resolve the deepest existing ancestor. */
	snprintf(probe, sizeof(probe), "%s", path);
	while (realpath(probe, real) == NULL) {
		char *slash = strrchr(probe, '/');
		if (!slash || slash == probe)
			return 0;
		*slash = '\0';
	}
	for (size_t i = 0; i < e->cfg.n_allowed_paths; i++) {
		if (realpath(e->cfg.allowed_paths[i], realprefix) == NULL)
			snprintf(realprefix, sizeof(realprefix), "%s", e->cfg.allowed_paths[i]);
		if (pv_path_under(real, realprefix) || pv_path_under(realprefix, real))
			return 0;
	}
	return pv_err_set(err, -EPERM, PV_E_INVALID, "%s '%s' leads through a symbolic link outside the allowed prefixes",
			  what, path);
}

/* Crash testing: PVNODE_FAULT=<point> kills this process at that point, exactly as a
 * SIGKILL from outside would, so tests can check recovery deterministically. */
static void fault_point(const char *point)
{
	const char *f = getenv("PVNODE_FAULT");
	if (f && strcmp(f, point) == 0)
		raise(SIGKILL);
}

static enum pv_access first_mode(const struct pv *pv)
{
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			return (enum pv_access)a;
	return PV_RWO;
}

int pv_engine_undo_stage(struct pv_engine *e, const struct pv_journal *j, struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(j->pv.driver);
	struct pv_volctx vc;
	int r = 0;

	pv_engine_volctx(e, j->volume, &vc);
	if (j->staging_path[0] && !j->block) {
		r = pv_umount(j->staging_path, err);
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
static bool stage_present(const struct pv_journal *j)
{
	struct stat st;
	if (j->block)
		return j->att.device[0] && stat(j->att.device, &st) == 0 && S_ISBLK(st.st_mode);
	return pv_is_mountpoint(j->staging_path);
}

/* Present and, where the driver can tell, backed by a live helper or session: a stage
 * whose helper died is done again, not reported as fine. */
static bool stage_healthy(const struct pv_journal *j, const struct pv_driver *drv, char *why, size_t len)
{
	if (!stage_present(j))
		return false;
	if (drv->health && drv->health(&j->pv, &j->att, why, len) != PV_HEALTHY)
		return false;
	return true;
}

static int build_stage_options(struct pv_engine *e, const struct pv_stage_req *r, bool ro, char *opts,
			       size_t len, struct pv_err *err)
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
	const char *const *lists[] = { (const char *const *)r->pv->mount_options, flags };
	size_t counts[] = { r->pv->n_mount_options, n };
	return pv_mount_options_join(lists, counts, 2, ro, opts, len, err);
}

/* After attach: format if blank and mount (block), or mount the spec (shared). */
static int mount_staging(struct pv_engine *e, const struct pv_stage_req *r, struct pv_journal *j,
			 const struct pv_driver *drv, struct pv_err *err)
{
	char opts[1024], what[128];
	bool fresh = false;
	int rc;

	if (j->block)
		return 0;
	rc = build_stage_options(e, r, j->readonly, opts, sizeof(opts), err);
	if (rc < 0)
		return rc;
	if (pv_mkdir_p(j->staging_path, 0750, err) < 0)
		return -errno;
	if (drv->storage == PV_SHARED) {
		if (j->att.mounted_by_driver)
			return 0;
		char all[2048];
		snprintf(all, sizeof(all), "%s%s%s", j->att.options, j->att.options[0] && opts[0] ? "," : "", opts);
		return pv_mount(j->att.source, j->staging_path, j->att.fstype, all, err);
	}
	rc = pv_probe_device(j->att.device, what, sizeof(what), err);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (j->readonly)
			return pv_err_set(err, -EPERM, PV_E_POLICY,
					  "volume %s is blank and staged read-only (ReadOnlyMany): it must be written once "
					  "by a ReadWriteOnce stage first", j->volume);
		rc = pv_mkfs(j->att.device, j->fs_type, r->pv->capacity, e->cfg.progress, err);
		if (rc < 0)
			return rc;
		fresh = true;
	} else if (strcmp(what, j->fs_type) != 0) {
		return pv_err_set(err, -EEXIST, PV_E_POLICY,
				  "volume %s holds %s, not %s: refusing to mount or format it", j->volume, what, j->fs_type);
	}
	rc = pv_mount(j->att.device, j->staging_path, j->fs_type, opts, err);
	if (rc == 0 && fresh && r->pv->gid > 0)
		rc = pv_set_root_group(j->staging_path, r->pv->gid, err);
	return rc;
}

int pv_engine_stage(struct pv_engine *e, const struct pv_stage_req *r, struct pv_err *err)
{
	const struct pv *pv = r->pv;
	const struct pv_driver *drv = pv_driver_find(pv->driver);
	struct pv_secrets none;
	struct pv_journal j;
	struct pv_volctx vc;
	char staging[PATH_MAX];
	const char *fs;
	enum pv_access a = r->access ? r->access : first_mode(pv);
	bool ro;
	int lock, rc;

	if (!drv)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: unknown driver '%s' (allowed: %s)", pv->name,
				  pv->driver, pv_driver_names());
	rc = pv_validate(pv, err);
	if (rc < 0)
		return rc;
	if (r->staging_path) {
		rc = pv_engine_check_path(e, "staging path", r->staging_path, err);
		if (rc < 0)
			return rc;
		snprintf(staging, sizeof(staging), "%s", r->staging_path);
	} else {
		snprintf(staging, sizeof(staging), "%s/staging/%s", e->cfg.state_dir, pv->name);
	}
	rc = pv_policy_stage(pv, drv->storage, a, r->block, err);
	if (rc < 0)
		return rc;
	ro = pv_policy_stage_readonly(a, r->readonly);
	fs = (r->fs_type && *r->fs_type) ? r->fs_type : (pv->fs_type[0] ? pv->fs_type : "ext4");
	if (drv->storage == PV_BLOCKDEV && !r->block && strcmp(fs, "ext4") != 0 && strcmp(fs, "xfs") != 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: cannot use filesystem '%s' (allowed: ext4, xfs)",
				  pv->name, fs);
	if (drv->storage == PV_SHARED)
		fs = "";

	lock = pv_engine_lock(e, pv->name, err);
	if (lock < 0)
		return lock;
	rc = pv_journal_load(e->cfg.state_dir, pv->name, &j, err);
	if (rc < 0 && rc != -ENOENT)
		goto out_unlocked;
	if (rc == 0 && j.phase == PV_PHASE_STAGED) {
		if (!same_stage(&j, staging, a, r->block, ro, fs)) {
			rc = pv_err_set(err, -EEXIST, PV_E_EXISTS,
					"volume %s is already staged at %s as %s%s: unstage it before staging it differently",
					pv->name, j.staging_path, pv_access_name(j.access), j.readonly ? " (read-only)" : "");
			goto out;
		}
		char why[200] = "its staging mount is gone";
		if (stage_healthy(&j, drv, why, sizeof(why)) && !j.lost) {
			rc = 0; /* idempotent */
			goto out;
		}
		if (j.n_publishes) {
			rc = pv_err_set(err, -EIO, PV_E_INTERNAL,
					"volume %s: its stage at %s is broken (%s) while published at %s; unpublish it, then stage again",
					pv->name, j.staging_path, why, j.publishes[0].target);
			goto out;
		}
	}
	if (rc == 0) {
		/* an interrupted stage or unstage, or a lost staging mount: start clean */
		rc = pv_engine_undo_stage(e, &j, err);
		if (rc < 0) {
			pv_err_prefix(err, "volume %s: cleaning up an earlier stage: ", pv->name);
			goto out;
		}
	}
	pv_journal_free(&j);
	pv_journal_init(&j);
	snprintf(j.volume, sizeof(j.volume), "%s", pv->name);
	snprintf(j.node_id, sizeof(j.node_id), "%s", e->cfg.node_id);
	snprintf(j.staging_path, sizeof(j.staging_path), "%s", staging);
	snprintf(j.fs_type, sizeof(j.fs_type), "%s", fs);
	j.access = a;
	j.block = r->block;
	j.readonly = ro;
	j.phase = PV_PHASE_STAGING;
	rc = pv_copy(&j.pv, pv, err);
	if (rc == 0)
		rc = pv_journal_save(e->cfg.state_dir, &j, err);
	if (rc < 0)
		goto out;

	pv_engine_volctx(e, pv->name, &vc);
	rc = pv_mkdir_p(vc.run_dir, 0700, err);
	if (rc < 0)
		goto fail;
	pv_secrets_init(&none);
	struct pv_attach_req areq = {
		.pv = pv, .secrets = r->secrets ? r->secrets : &none, .access = a, .readonly = ro,
		.staging_path = staging, .node = &vc.n,
	};
	rc = pv_mkdir_p(staging, 0750, err);
	if (rc == 0)
		rc = drv->attach(&areq, &j.att, err);
	if (rc < 0) {
		if (err && err->kind != PV_E_NONE && !strstr(err->msg, pv->name))
			pv_err_prefix(err, "volume %s: ", pv->name);
		goto fail;
	}
	fault_point("stage-after-attach");
	rc = pv_journal_save(e->cfg.state_dir, &j, err);
	if (rc == 0)
		rc = mount_staging(e, r, &j, drv, err);
	if (rc < 0)
		goto fail;
	fault_point("stage-after-mount");
	j.phase = PV_PHASE_STAGED;
	j.last_error[0] = '\0';
	rc = pv_journal_save(e->cfg.state_dir, &j, err);
	if (rc < 0)
		goto fail;
	pv_info("volume %s staged at %s (%s%s%s%s)", pv->name, staging, pv_access_short(a), ro ? ", read-only" : "",
		j.att.device[0] ? ", device " : "", j.att.device);
	goto out;
fail:
	pv_engine_undo_stage(e, &j, NULL);
	pv_journal_delete(e->cfg.state_dir, pv->name, NULL);
	if (!r->staging_path)
		rmdir(staging);
out:
	pv_journal_free(&j);
out_unlocked:
	pv_unlock(lock);
	return rc;
}

int pv_engine_unstage(struct pv_engine *e, const char *volume, const char *staging_path, struct pv_err *err)
{
	struct pv_journal j;
	char defpath[PATH_MAX];
	int lock, rc;

	lock = pv_engine_lock(e, volume, err);
	if (lock < 0)
		return lock;
	rc = pv_journal_load(e->cfg.state_dir, volume, &j, err);
	if (rc == -ENOENT) {
		rc = 0; /* nothing staged: done */
		goto out_unlocked;
	}
	if (rc < 0)
		goto out_unlocked;
	if (staging_path && *staging_path && strcmp(staging_path, j.staging_path) != 0) {
		rc = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "volume %s is staged at %s, not at %s", volume,
				j.staging_path, staging_path);
		goto out;
	}
	for (size_t i = 0; i < j.n_publishes; i++)
		if (!j.publishes[i].lost && pv_is_mountpoint(j.publishes[i].target)) {
			rc = pv_err_set(err, -EBUSY, PV_E_POLICY,
					"volume %s is still published at %s: unpublish it first", volume,
					j.publishes[i].target);
			goto out;
		}
	j.phase = PV_PHASE_UNSTAGING;
	rc = pv_journal_save(e->cfg.state_dir, &j, err);
	fault_point("unstage-begin");
	if (rc == 0)
		rc = pv_engine_undo_stage(e, &j, err);
	if (rc < 0) {
		pv_err_prefix(err, "volume %s: ", volume);
		snprintf(j.last_error, sizeof(j.last_error), "%s", err ? err->msg : "unstage failed");
		pv_journal_save(e->cfg.state_dir, &j, NULL);
		goto out;
	}
	rc = pv_journal_delete(e->cfg.state_dir, volume, err);
	snprintf(defpath, sizeof(defpath), "%s/staging/%s", e->cfg.state_dir, volume);
	if (strcmp(defpath, j.staging_path) == 0)
		rmdir(defpath);
	snprintf(defpath, sizeof(defpath), "%s/run/%s", e->cfg.state_dir, volume);
	rmdir(defpath); /* drivers remove what they put there */
	pv_info("volume %s unstaged", volume);
out:
	pv_journal_free(&j);
out_unlocked:
	pv_unlock(lock);
	return rc;
}

int pv_engine_teardown(struct pv_engine *e, const char *volume, struct pv_err *err)
{
	struct pv_journal j;
	int rc = pv_journal_load(e->cfg.state_dir, volume, &j, err);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < j.n_publishes && rc == 0; i++)
		rc = pv_engine_unpublish(e, volume, j.publishes[i].target, err);
	pv_journal_free(&j);
	if (rc == 0)
		rc = pv_engine_unstage(e, volume, NULL, err);
	return rc;
}
