/*
 * nfs_driver.c — the NFS driver table: shared volumes on an NFS export.
 *
 * attach picks the mounter: `kernel` (where /proc/filesystems lists nfs, or
 * mounter=kernel) returns a mount spec the engine mounts with libmount; `userspace`
 * starts pvnode-nfs-fuse detached (its own session, survives pvnode restarts), which
 * mounts the volume at the staging path and reports "ok" or its error over a pipe.
 * detach unmounts and stops that helper (by recorded PID and start time only); health
 * checks the helper and asks the server; reattach restarts a dead helper on the same
 * mount point after clearing the stale FUSE mount. Provisioning is in nfs_provision.c.
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

#include "pvnode/util.h"
#include "nfs_driver.h"
#include "nfs_rebind.h"

#define HELPER "pvnode-nfs-fuse"
#define HELPER_THREADS "8"

static int nfs_validate(const struct pv *pv, struct pv_err *err)
{
	struct pvnfs_cfg cfg;

	if (pv->volume_mode == PV_VOLUME_BLOCK)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volumeMode Block is not possible on NFS (shared "
				  "filesystem storage)", pv->name);
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

/* A FUSE mount whose helper died answers "Transport endpoint is not connected":
 * detach it so the mount point can be used again. */
static void clear_stale_mount(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) < 0 && errno == ENOTCONN) {
		pv_warn("nfs: clearing stale FUSE mount at %s", mnt);
		umount2(mnt, MNT_DETACH);
	}
}

/* Every component of subDir must be a real directory on the share. */
static int check_volume_dir(const struct pv *pv, const struct pvnfs_cfg *cfg, struct pv_err *err)
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
	if (r < 0) {
		pv_err_prefix(err, "volume %s: ", pv->name);
		return r;
	}
	if (missing < total)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "volume %s: directory %s/%s does not exist on %s (create the "
				  "volume first)", pv->name, cfg->share, cfg->subdir, cfg->host);
	return 0;
}

/* Read the helper's verdict: "ok\n" or "error: ...\n"; EOF means it died. */
static int wait_ready(int fd, int timeout_ms, char *msg, size_t len)
{
	size_t used = 0;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	msg[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long el;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(timeout_ms - el));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		ssize_t n = read(fd, msg + used, len - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		msg[used] = '\0';
		if (strchr(msg, '\n') || used + 1 >= len)
			break;
	}
	msg[strcspn(msg, "\n")] = '\0';
	return strcmp(msg, "ok") == 0 ? 0 : strcmp(msg, "ok ro") == 0 ? 1 : -EIO;
}

/* Reap our child `pid` if it exits within timeout_ms (never block for good: a process
 * stuck in a FUSE request may not die at once). */
static void reap(pid_t pid, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		usleep(20000);
	}
}

static int start_helper(const struct pv *pv, const struct pvnfs_cfg *cfg, bool readonly,
			const char *mnt, const struct pv_node_ctx *node, struct pv_attachment *att,
			struct pv_err *err)
{
	char helper[PATH_MAX], export[1100], port[16], timeout[16], logpath[PATH_MAX], msg[600];
	const char *argv[20];
	int pipefd[2] = { -1, -1 }, logfd = -1, r, i = 0;
	pid_t pid = 0;
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,
				   .detach = true };

	if ((r = pv_helper_path(HELPER, helper, sizeof(helper), err)) < 0)
		return r;
	if (pvnfs_volume_path(cfg, export, sizeof(export)) < 0)
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "volume %s: path too long", pv->name);
	snprintf(port, sizeof(port), "%d", cfg->port);
	snprintf(timeout, sizeof(timeout), "%d", cfg->timeout_ms);
	if (node && node->run_dir) {
		snprintf(logpath, sizeof(logpath), "%s/nfs-fuse.log", node->run_dir);
		logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create a pipe: %m");
		goto out;
	}
	argv[i++] = helper;
	argv[i++] = "--host";
	argv[i++] = cfg->host;
	argv[i++] = "--port";
	argv[i++] = port;
	argv[i++] = "--export";
	argv[i++] = export;
	argv[i++] = "--mountpoint";
	argv[i++] = mnt;
	argv[i++] = "--timeout-ms";
	argv[i++] = timeout;
	argv[i++] = "--threads";
	argv[i++] = HELPER_THREADS;
	argv[i++] = "--ready-fd";
	argv[i++] = "3";
	if (readonly)
		argv[i++] = "--ro";
	argv[i] = NULL;
	o.stderr_fd = logfd;
	o.keep_fds = &pipefd[1];
	o.n_keep_fds = 1;
	if ((r = pv_spawn_detached(argv, &o, &pid, err)) < 0)
		goto out;
	close(pipefd[1]);
	pipefd[1] = -1;
	r = wait_ready(pipefd[0], cfg->timeout_ms + 5000, msg, sizeof(msg));
	if (r < 0) {
		unsigned long long st = pv_proc_start_time(pid);
		if (st)
			pv_proc_stop(pid, st, 3000);
		reap(pid, 5000); /* our child until we exit */
		clear_stale_mount(mnt);
		if (r == -ETIMEDOUT)
			r = pv_err_set(err, r, PV_E_UNAVAILABLE,
				       "volume %s: the NFS helper did not mount %s:%s within %d ms",
				       pv->name, cfg->host, export, cfg->timeout_ms + 5000);
		else
			r = pv_err_set(err, -EHOSTUNREACH,
				       strstr(msg, "mount FUSE") ? PV_E_INTERNAL : PV_E_UNAVAILABLE,
				       "volume %s: %s", pv->name,
				       strncmp(msg, "error: ", 7) == 0 ? msg + 7 :
				       "the NFS helper exited before mounting (see its log in the run dir)");
		goto out;
	}
	if (r == 1) {
		pv_info("volume %s: %s:%s is exported read-only; mounted read-only", pv->name,
			cfg->host, export);
		att->readonly = true;
	}
	att->helper_pid = pid;
	att->helper_start = pv_proc_start_time(pid);
	att->mounted_by_driver = true;
	snprintf(att->mountpoint, sizeof(att->mountpoint), "%s", mnt);
	r = 0;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (logfd >= 0)
		close(logfd);
	return r;
}

static int nfs_attach(const struct pv_attach_req *req, struct pv_attachment *att,
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
			snprintf(att->detail, sizeof(att->detail), "kernel NFS %.120s (%.100s)",
				 att->source, att->options);
		return r;
	}
	if (cfg.version[0] == '4')
		pv_warn("volume %s: no kernel NFS client here; the userspace mounter uses NFSv3 "
			"instead of %s", pv->name, cfg.version);
	if (!req->staging_path || req->staging_path[0] != '/')
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: the userspace NFS mounter needs a staging path", pv->name);
	if ((r = check_volume_dir(pv, &cfg, err)) < 0)
		return r;
	clear_stale_mount(req->staging_path);
	if (pv_is_mountpoint(req->staging_path))
		return pv_err_set(err, -EBUSY, PV_E_EXISTS,
				  "volume %s: something is already mounted at %s", pv->name,
				  req->staging_path);
	r = start_helper(pv, &cfg, readonly, req->staging_path, req->node, att, err);
	if (r == 0)
		snprintf(att->detail, sizeof(att->detail), "userspace NFSv3 %.64s:%.80s%s%.80s%s",
			 cfg.host, cfg.share, cfg.subdir[0] ? "/" : "", cfg.subdir,
			 readonly ? " (ro)" : "");
	return r;
}

static int unmount_helper_mount(const char *mnt, struct pv_err *err)
{
	if (!mnt[0])
		return 0;
	clear_stale_mount(mnt);
	if (!pv_is_mountpoint(mnt))
		return 0;
	if (umount2(mnt, 0) == 0 || errno == EINVAL || errno == ENOENT)
		return 0;
	pv_warn("nfs: %s is busy (%m); detaching it lazily", mnt);
	if (umount2(mnt, MNT_DETACH) == 0 || errno == EINVAL)
		return 0;
	return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot unmount %s: %m", mnt);
}

static int nfs_detach(const struct pv *pv, const struct pv_attachment *att,
		      const struct pv_node_ctx *n, struct pv_err *err)
{
	int r = 0;

	(void)n;
	if (!att->mounted_by_driver)
		return 0; /* kernel mount: the engine unmounts what it mounted */
	r = unmount_helper_mount(att->mountpoint, err);
	if (r < 0)
		pv_err_prefix(err, "volume %s: ", pv->name);
	if (att->helper_pid > 0 && pv_proc_alive(att->helper_pid, att->helper_start)) {
		/* After the unmount the helper leaves on its own; SIGTERM if it lingers. */
		for (int i = 0; i < 40 && pv_proc_alive(att->helper_pid, att->helper_start); i++)
			usleep(25000);
		pv_proc_stop(att->helper_pid, att->helper_start, 5000);
	}
	if (att->helper_pid > 0)
		reap(att->helper_pid, 0);
	return r;
}

static enum pv_health nfs_health(const struct pv *pv, const struct pv_attachment *att,
				 char *why, size_t why_len)
{
	struct pvnfs_cfg cfg;
	struct pv_err err = { 0 };
	struct nfs_context *nfs = NULL;
	struct nfs_stat_64 st;
	int r;

	if (att->mounted_by_driver && !pv_proc_alive(att->helper_pid, att->helper_start)) {
		snprintf(why, why_len, "the NFS helper (pid %d) is not running", (int)att->helper_pid);
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

static int nfs_reattach(const struct pv_attach_req *req, struct pv_attachment *att,
			struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	const char *mnt = att->mountpoint[0] ? att->mountpoint : req->staging_path;
	struct pvnfs_binds *binds;
	char mntbuf[PATH_MAX];
	int r;

	if (!att->mounted_by_driver)
		return 0;
	if (pv_proc_alive(att->helper_pid, att->helper_start) && pv_is_mountpoint(mnt))
		return 0; /* alive: re-adopted as it is */
	if ((r = pvnfs_cfg_from_pv(req->pv, &cfg, err)) < 0)
		return r;
	snprintf(mntbuf, sizeof(mntbuf), "%s", mnt);
	if (pv_proc_alive(att->helper_pid, att->helper_start))
		pv_proc_stop(att->helper_pid, att->helper_start, 3000);
	if (att->helper_pid > 0)
		reap(att->helper_pid, 0); /* a dead child of this daemon: no zombie left */
	/* The publish targets are bind mounts of the dead connection: note them first. */
	binds = calloc(1, sizeof(*binds));
	if (!binds)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	pvnfs_binds_of(mntbuf, binds);
	clear_stale_mount(mntbuf);
	if (pv_is_mountpoint(mntbuf))
		umount2(mntbuf, MNT_DETACH);
	att->helper_pid = 0;
	att->helper_start = 0;
	r = start_helper(req->pv, &cfg, att->readonly || req->readonly, mntbuf, req->node, att, err);
	if (r == 0) {
		pv_info("volume %s: restarted the NFS helper at %s (pid %d)", req->pv->name, mntbuf,
			(int)att->helper_pid);
		r = pvnfs_rebind(mntbuf, binds, err);
	}
	free(binds);
	return r;
}

const struct pv_driver pv_driver_nfs = {
	.name = "nfs",
	.storage = PV_SHARED,
	.attribute_names = pvnfs_attribute_names,
	.required_attributes = pvnfs_required_attributes,
	.validate = nfs_validate,
	.provision = pvnfs_provision,
	.remove = pvnfs_remove,
	.expand = pvnfs_expand,
	.attach = nfs_attach,
	.detach = nfs_detach,
	.health = nfs_health,
	.reattach = nfs_reattach,
};
