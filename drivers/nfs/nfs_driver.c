/*
 * nfs_driver.c — the NFS driver table: shared volumes on an NFS export.
 *
 * attach picks the mounter: `kernel` (where /proc/filesystems lists nfs, or
 * mounter=kernel) returns a mount spec the engine mounts with libmount; `userspace`
 * starts pvnode-nfs-fuse through the helper module (detached, survives pvnode
 * restarts), which mounts the volume at the staging path. detach unmounts and stops
 * that helper; health checks the helper and asks the server; reattach restarts a dead
 * helper on the same mount point after clearing the stale FUSE mount (the engine then
 * binds the publish targets again). Provisioning is in nfs_provision.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>

#include "pvnode/driver/os.h"
#include "nfs_driver.h"

#define HELPER "pvnode-nfs-fuse"
#define HELPER_THREADS "8"

static int pvnfs_validate(const struct pv *pv, struct pv_err *err)
{
	struct pvnfs_cfg cfg;

	if (pv->volume_mode == PV_VOLUME_BLOCK)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volumeMode: Block is not possible on NFS (shared filesystem storage)");
	return pvnfs_cfg_from_pv(pv, &cfg, err);
}

static bool use_kernel(const struct pvnfs_cfg *cfg)
{
	if (cfg->mounter == PVNFS_MOUNTER_KERNEL)
		return true;
	if (cfg->mounter == PVNFS_MOUNTER_USERSPACE)
		return false;
	return pvnfs_kernel_has_nfs(NULL);
}

/* Every component of subDir must be a real directory on the share. */
static int check_volume_dir(const struct pvnfs_cfg *cfg, struct pv_err *err)
{
	struct nfs_context *nfs = NULL;
	size_t missing, total = 1;
	int r;

	if (!cfg->subdir[0])
		return 0;
	for (const char *p = cfg->subdir; *p; p++)
		total += *p == '/';
	if ((r = pvnfs_open_share(cfg, cfg->timeout_ms, &nfs, err)) < 0)
		return r;
	r = pvnfs_walk_checked(nfs, cfg->subdir, &missing, err);
	nfs_destroy_context(nfs);
	if (r < 0)
		return r;
	if (missing < total)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "directory %s/%s does not exist on %s (create the volume first)", cfg->share,
				  cfg->subdir, cfg->host);
	return 0;
}

static int start_helper(const struct pv *pv, const struct pvnfs_cfg *cfg, bool readonly,
			const char *mnt, const struct pv_node_ctx *node, struct pv_attachment *att,
			struct pv_err *err)
{
	char export[1100], port[16], timeout[16], what[1300];
	struct pv_map ready = { 0 };
	int r;

	if (pvnfs_volume_path(cfg, export, sizeof(export)) < 0)
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "the path of %s on %s is too long", cfg->subdir,
				  cfg->share);
	snprintf(port, sizeof(port), "%d", cfg->port);
	snprintf(timeout, sizeof(timeout), "%d", cfg->timeout_ms);
	snprintf(what, sizeof(what), "the NFS helper for %s:%s", cfg->host, export);
	const char *args[] = { "--host", cfg->host, "--port", port, "--export", export, "--mountpoint", mnt,
			       "--timeout-ms", timeout, "--threads", HELPER_THREADS, readonly ? "--ro" : NULL, NULL };
	struct pv_helper_spec spec = { .program = HELPER, .args = args, .run_dir = node->run_dir,
				       .ready_timeout_ms = cfg->timeout_ms + 5000, .what = what };
	r = pv_helper_start(&spec, &att->helper, &ready, err);
	if (r < 0) {
		pv_umount_stale_fuse(mnt);
		return r;
	}
	if (strcmp(pv_map_get(&ready, "readonly") ?: "0", "1") == 0 && !readonly) {
		pv_info("volume %s: %s:%s is exported read-only; mounted read-only", pv->name, cfg->host, export);
		att->readonly = true;
	}
	pv_map_free(&ready);
	att->mounted_by_driver = true;
	return pv_map_set(&att->priv, "mountpoint", mnt) < 0 ? pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory")
							      : 0;
}

static int pvnfs_attach(const struct pv_attach_req *req, struct pv_attachment *att,
		      struct pv_err *err)
{
	const struct pv *pv = req->pv;
	struct pvnfs_cfg cfg;
	bool readonly = req->readonly || req->access == PV_ROX;
	int r;

	if ((r = pvnfs_cfg_from_pv(pv, &cfg, err)) < 0)
		return r;
	att->readonly = readonly;
	if (use_kernel(&cfg)) {
		r = pvnfs_kernel_spec(pv, &cfg, readonly, att->source, sizeof(att->source),
				      att->fstype, sizeof(att->fstype), att->options,
				      sizeof(att->options), err);
		if (r == 0)
			snprintf(att->summary, sizeof(att->summary), "kernel NFS %.120s (%.100s)",
				 att->source, att->options);
		return r;
	}
	if (cfg.version[0] == '4')
		pv_warn("volume %s: no kernel NFS client here; the userspace mounter uses NFSv3 "
			"instead of %s", pv->name, cfg.version);
	if (!req->staging_path || req->staging_path[0] != '/')
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "the userspace NFS mounter needs a staging path");
	if ((r = check_volume_dir(&cfg, err)) < 0)
		return r;
	pv_umount_stale_fuse(req->staging_path);
	if (pv_is_mountpoint(req->staging_path))
		return pv_err_set(err, -EBUSY, PV_E_EXISTS,
				  "something is already mounted at %s", req->staging_path);
	r = start_helper(pv, &cfg, readonly, req->staging_path, req->node, att, err);
	if (r == 0)
		snprintf(att->summary, sizeof(att->summary), "userspace NFSv3 %.64s:%.80s%s%.80s%s",
			 cfg.host, cfg.share, cfg.subdir[0] ? "/" : "", cfg.subdir,
			 readonly ? " (ro)" : "");
	return r;
}

static int unmount_helper_mount(const char *mnt, struct pv_err *err)
{
	if (!mnt || !mnt[0])
		return 0;
	pv_umount_stale_fuse(mnt);
	if (!pv_is_mountpoint(mnt))
		return 0;
	if (umount2(mnt, 0) == 0 || errno == EINVAL || errno == ENOENT)
		return 0;
	pv_warn("nfs: %s is busy (%m); detaching it lazily", mnt);
	if (umount2(mnt, MNT_DETACH) == 0 || errno == EINVAL)
		return 0;
	return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot unmount %s: %m", mnt);
}

static int pvnfs_detach(const struct pv *pv, const struct pv_attachment *att,
		      const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pv_helper h = att->helper;
	int r = 0;

	(void)pv;
	(void)n;
	if (!att->mounted_by_driver)
		return 0; /* kernel mount: the engine unmounts what it mounted */
	r = unmount_helper_mount(pv_map_get(&att->priv, "mountpoint"), err);
	/* After the unmount the helper leaves on its own; SIGTERM if it lingers. */
	for (int i = 0; i < 40 && pv_helper_alive(&h); i++)
		usleep(25000);
	pv_helper_stop(&h, 5000);
	return r;
}

static enum pv_health pvnfs_health(const struct pv *pv, const struct pv_attachment *att,
				 char *why, size_t why_len)
{
	struct pvnfs_cfg cfg;
	struct pv_err err = { 0 };
	struct nfs_context *nfs = NULL;
	struct nfs_stat_64 st;
	int r;

	if (att->mounted_by_driver && !pv_helper_alive(&att->helper)) {
		snprintf(why, why_len, "the NFS helper (pid %d) is not running", (int)att->helper.pid);
		return PV_ABNORMAL;
	}
	if (pvnfs_cfg_from_pv(pv, &cfg, &err) < 0) {
		snprintf(why, why_len, "%s", err.msg);
		return PV_ABNORMAL;
	}
	r = pvnfs_open_share(&cfg, 2000, &nfs, &err);
	if (r == 0) {
		r = nfs_stat64(nfs, "/", &st);
		if (r < 0)
			snprintf(err.msg, sizeof(err.msg), "%s", nfs_get_error(nfs));
		nfs_destroy_context(nfs);
	}
	if (r < 0) {
		snprintf(why, why_len, "NFS server %s does not answer: %s", cfg.host, err.msg);
		return PV_ABNORMAL;
	}
	snprintf(why, why_len, "NFS server %s answers", cfg.host);
	return PV_HEALTHY;
}

static int pvnfs_reattach(const struct pv_attach_req *req, struct pv_attachment *att,
			struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	char mnt[PATH_MAX];
	int r;

	if (!att->mounted_by_driver)
		return 0;
	snprintf(mnt, sizeof(mnt), "%s", pv_map_get(&att->priv, "mountpoint") ?: req->staging_path);
	if (pv_helper_alive(&att->helper) && pv_is_mountpoint(mnt))
		return 0; /* alive: re-adopted as it is */
	if ((r = pvnfs_cfg_from_pv(req->pv, &cfg, err)) < 0)
		return r;
	pv_helper_stop(&att->helper, 3000);
	pv_umount_stale_fuse(mnt);
	if (pv_is_mountpoint(mnt))
		umount2(mnt, MNT_DETACH);
	r = start_helper(req->pv, &cfg, att->readonly || req->readonly, mnt, req->node, att, err);
	if (r == 0)
		pv_info("volume %s: restarted the NFS helper at %s (pid %d)", req->pv->name, mnt,
			(int)att->helper.pid);
	return r;
}

const struct pv_driver pv_driver_nfs = {
	.name = "nfs",
	.storage = PV_SHARED,
	.attribute_names = pvnfs_attribute_names,
	.required_attributes = pvnfs_required_attributes,
	.validate = pvnfs_validate,
	.provision = pvnfs_provision,
	.remove = pvnfs_remove,
	.expand = pvnfs_expand,
	.check_existing = pvnfs_check_existing,
	.snapshot_create = pvnfs_snapshot_create,
	.snapshot_delete = pvnfs_snapshot_delete,
	.restore = pvnfs_restore,
	.clone = pvnfs_clone,
	.attach = pvnfs_attach,
	.detach = pvnfs_detach,
	.health = pvnfs_health,
	.reattach = pvnfs_reattach,
};
