/*
 * iscsi_attach.c — attaching an iSCSI LUN on this node.
 *
 * Userspace (no iscsi_tcp in the kernel): start pvnode-iscsi-fuse through the helper
 * module (CHAP secrets on its stdin, never argv); it logs in, takes the reservation in
 * its I/O session and serves <run_dir>/fuse/disk; then a loop device (direct I/O,
 * read-only for ROX) goes over that file. The driver's own state in the attachment:
 * priv "initiator" = "userspace" | "kernel", "portal" = the portal in use. Kernel (iscsi_tcp present): iscsiadm login
 * with CHAP in the node record, the by-path device, sg_persist for the reservation.
 * Detach undoes either; it is idempotent and stops a helper only by its recorded pid
 * and start time.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iscsi_attach.h"
#include "pvnode/driver/os.h"

/* snprintf that may truncate on purpose (notes and names shown to people). */
static void setf(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

void pvi_run_paths(const char *run_dir, char *mnt, size_t mlen, char *status, size_t slen)
{
	snprintf(mnt, mlen, "%s/fuse", run_dir);
	snprintf(status, slen, "%s/helper.status", run_dir);
}

bool pvi_access_fenced(enum pv_access a, bool readonly)
{
	return !readonly && (a == PV_RWO || a == PV_RWOP);
}

static void join_portals(const struct pvi_target *t, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < t->n_portals && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", t->portals[i]);
}

/* Start the helper and wait for READY; fills the helper and backing of att. */
static int start_helper(const struct pv_attach_req *req, const struct pvi_target *t, uint64_t key,
			bool ro, struct pv_attachment *att, bool *unmap, struct pv_err *err)
{
	char mnt[PATH_MAX], status[PATH_MAX], what[PVI_NAME_MAX + 32];
	char portals[1100], lun[16], keyhex[20], lt[16], iot[16], ns[16];
	struct pv_map ready = { 0 };
	int r;

	pvi_run_paths(req->node->run_dir, mnt, sizeof(mnt), status, sizeof(status));
	pv_umount_stale_fuse(mnt);
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create %s: %s", mnt, strerror(errno));
	unlink(status);
	join_portals(t, portals, sizeof(portals));
	snprintf(lun, sizeof(lun), "%d", t->lun);
	snprintf(keyhex, sizeof(keyhex), "%016llx", (unsigned long long)key);
	snprintf(lt, sizeof(lt), "%d", t->login_timeout_s);
	snprintf(iot, sizeof(iot), "%d", t->io_timeout_s);
	snprintf(ns, sizeof(ns), "%d", t->sessions > 0 ? t->sessions : PVI_DEFAULT_SESSIONS);
	snprintf(what, sizeof(what), "iSCSI helper for %s lun %d", t->iqn, t->lun);
	const char *args[24] = { "--portals", portals, "--iqn", t->iqn, "--lun", lun,
				 "--initiator", t->initiator_name, "--mountpoint", mnt, "--status",
				 status, "--login-timeout", lt, "--io-timeout", iot };
	size_t n = 16;
	if (t->sessions > 1) {   /* the default stays off the command line */
		args[n++] = "--sessions";
		args[n++] = ns;
	}
	if (ro)
		args[n++] = "--readonly";
	else if (key) {
		args[n++] = "--key";
		args[n++] = keyhex;
	}
	args[n] = NULL;
	struct pv_helper_spec spec = { .program = "pvnode-iscsi-fuse", .args = args, .secrets = req->secrets,
				       .run_dir = req->node->run_dir, .what = what,
				       .ready_timeout_ms = (t->login_timeout_s * 2 * (int)t->n_portals + 15) * 1000 };
	r = pv_helper_start(&spec, &att->helper, &ready, err);
	if (r < 0) {
		pv_umount_stale_fuse(mnt);
		return r;
	}
	*unmap = strcmp(pv_map_get(&ready, "unmap") ?: "0", "1") == 0;
	if (pv_map_set(&att->priv, "portal", pv_map_get(&ready, "portal") ?: "") < 0 ||
	    pv_map_set(&att->priv, "initiator", "userspace") < 0)
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	else if (snprintf(att->backing, sizeof(att->backing), "%s/disk", mnt) >= (int)sizeof(att->backing))
		r = pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "path %s is too long", mnt);
	pv_map_free(&ready);
	if (r < 0)
		pv_helper_stop(&att->helper, 10000);
	return r;
}

bool pvi_attached_by_kernel(const struct pv_attachment *att)
{
	return strcmp(pv_map_get(&att->priv, "initiator") ?: "", "kernel") == 0;
}

/* A LUN without thin provisioning would turn every discard (mkfs discards the whole
 * device) into writing zeroes: tell the loop device not to offer discard. Zeroing
 * (REQ_OP_WRITE_ZEROES) still reaches the helper and stays exact. */
static void no_discard(const char *dev)
{
	char path[128];
	const char *name = strrchr(dev, '/');
	snprintf(path, sizeof(path), "/sys/block/%s/queue/discard_max_bytes", name ? name + 1 : dev);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		pv_debug("cannot turn off discard on %s", dev);
	if (fd >= 0)
		close(fd);
}

static int attach_userspace(const struct pv_attach_req *req, const struct pvi_target *t,
			    struct pv_attachment *att, struct pv_err *err)
{
	bool ro = req->readonly || req->access == PV_ROX;
	uint64_t key = pvi_access_fenced(req->access, ro) ? pv_node_key(req->node->node_id) : 0;
	char tag[64];
	int r;

	if (t->discovery) {
		r = pvi_discover(t, err);
		if (r < 0)
			return r;
	}
	bool unmap = false;
	r = start_helper(req, t, key, ro, att, &unmap, err);
	if (r < 0)
		return r;
	pv_loop_tag(req->node->state_dir, req->pv->name, tag, sizeof(tag));
	r = pv_loop_attach_tagged(att->backing, tag, ro, true, att->device, sizeof(att->device), err);
	if (r < 0) {
		pv_helper_stop(&att->helper, 15000);
		return r;
	}
	if (!unmap)
		no_discard(att->device);
	att->readonly = ro;
	if (key)
		snprintf(att->fence, sizeof(att->fence), "%016llx", (unsigned long long)key);
	setf(att->summary, sizeof(att->summary), "userspace: %s lun %d via %s as %s, %d session%s%s", t->iqn,
		 t->lun, pv_map_get(&att->priv, "portal"), t->initiator_name, t->sessions,
		 t->sessions == 1 ? "" : "s", key ? ", reserved (write exclusive, registrants only)" : "");
	return 0;
}

/* --- kernel initiator (open-iscsi): not exercisable on nodes without iscsi_tcp --- */

static int run_argv(const struct pvi_argv *a, struct pv_err *err)
{
	_cleanup_(pv_freep) char *out = NULL;
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -2, .stderr_fd = -2, .timeout_ms = 30000 };
	int r = pv_spawn_run(a->argv, &o, &out, err);
	if (r > 0)
		r = pv_err_set(err, -EIO, PV_E_UNAVAILABLE, "%s %s failed (exit %d): %s", a->argv[0],
			       a->argv[1], r, out ? out : "");
	return r;
}

static int write_auth(const struct pvi_target *t, size_t portal, struct pv_err *err)
{
	char pattern[PATH_MAX], lines[2048];
	glob_t g;
	int r = 0;
	if (pvi_kernel_record_glob(t, portal, "/etc/iscsi", pattern, sizeof(pattern)) < 0 ||
	    glob(pattern, 0, NULL, &g) != 0)
		return pv_err_set(err, -ENOENT, PV_E_INTERNAL, "no open-iscsi node record for %s at %s",
				  t->iqn, t->portals[portal]);
	int n = pvi_kernel_auth_lines(t, lines, sizeof(lines));
	for (size_t i = 0; i < g.gl_pathc && n > 0 && r == 0; i++) {
		int fd = open(g.gl_pathv[i], O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || fchmod(fd, 0600) < 0 || write(fd, lines, (size_t)n) != n)
			r = pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot write CHAP settings to %s",
				       g.gl_pathv[i]);
		if (fd >= 0)
			close(fd);
	}
	explicit_bzero(lines, sizeof(lines));
	globfree(&g);
	return r;
}

static int attach_kernel(const struct pv_attach_req *req, const struct pvi_target *t,
			 struct pv_attachment *att, struct pv_err *err)
{
	bool ro = req->readonly || req->access == PV_ROX;
	uint64_t key = pvi_access_fenced(req->access, ro) ? pv_node_key(req->node->node_id) : 0;
	struct pvi_argv a;
	char dev[PATH_MAX], real[PATH_MAX];
	int r = -ENOENT;

	for (size_t p = 0; p < t->n_portals; p++) {
		pv_err_clear(err);
		if (pvi_kernel_cmd_new(t, p, &a) < 0 || run_argv(&a, err) < 0 ||
		    write_auth(t, p, err) < 0 || pvi_kernel_cmd_login(t, p, &a) < 0 ||
		    (r = run_argv(&a, err)) < 0)
			continue;
		pvi_kernel_device_path(t, p, dev, sizeof(dev));
		for (int i = 0; i < 100 && !realpath(dev, real); i++)
			usleep(100000);
		if (!realpath(dev, real)) {
			r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				       "iSCSI target %s at %s has no LUN %d (no %s)", t->iqn,
				       t->portals[p], t->lun, dev);
			continue;
		}
		if (key) {
			const char *ops[] = { "register", "reserve" };
			for (int i = 0; i < 2 && r >= 0; i++)
				if (pvi_kernel_cmd_pr(ops[i], real, key, &a) == 0 && run_argv(&a, err) < 0)
					r = pv_err_set(err, -EBUSY, PV_E_POLICY,
						       "iSCSI target %s LUN %d is reserved by another node (sg_persist --in -r %s shows the holder)",
						       t->iqn, t->lun, real);
			if (r < 0) {
				pvi_kernel_cmd_logout(t, p, &a);
				run_argv(&a, NULL);
				return r;
			}
			snprintf(att->fence, sizeof(att->fence), "%016llx", (unsigned long long)key);
		}
		setf(att->device, sizeof(att->device), "%s", real);
		att->readonly = ro;
		if (pv_map_set(&att->priv, "initiator", "kernel") < 0 || pv_map_set(&att->priv, "portal", t->portals[p]) < 0)
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		setf(att->summary, sizeof(att->summary), "kernel: %s lun %d via %s", t->iqn, t->lun,
			 t->portals[p]);
		return 0;
	}
	return r < 0 ? r : pv_err_set(err, -EIO, PV_E_UNAVAILABLE, "iSCSI login to %s failed", t->iqn);
}

int pvi_attach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	struct pvi_target t;
	int r = pvi_target_from_pv(req->pv, req->secrets, req->node->node_id, &t, err);
	if (r < 0)
		return r;
	if (pvi_choose_initiator(t.initiator, pvi_kernel_available()) == PVI_INIT_KERNEL)
		r = attach_kernel(req, &t, att, err);
	else
		r = attach_userspace(req, &t, att, err);
	pvi_target_wipe(&t);
	return r;
}

int pvi_detach(const struct pv *pv, const struct pv_attachment *att, const struct pv_node_ctx *n,
	       struct pv_err *err)
{
	char mnt[PATH_MAX], status[PATH_MAX];
	int r = 0;

	if (pvi_attached_by_kernel(att)) {
		struct pvi_target t;
		struct pvi_argv a;
		struct pv_secrets none;
		pv_secrets_init(&none);
		if (pvi_target_from_pv(pv, &none, n->node_id, &t, err) < 0)
			return -EINVAL;
		if (att->fence[0] && att->device[0]) {
			unsigned long long key = strtoull(att->fence, NULL, 16);
			if (pvi_kernel_cmd_pr("release", att->device, key, &a) == 0)
				run_argv(&a, NULL);
			if (pvi_kernel_cmd_pr("unregister", att->device, key, &a) == 0)
				run_argv(&a, NULL);
		}
		for (size_t p = 0; p < t.n_portals; p++)
			if (pvi_kernel_cmd_logout(&t, p, &a) == 0)
				run_argv(&a, NULL);
		return 0;
	}
	r = pv_loop_release(n->state_dir, pv->name, att->device, att->backing, err);
	if (r < 0)
		return r;
	/* A loop device still open elsewhere (a filesystem kept alive by a copy of the mount
	 * in another mount namespace) goes away only when that closes: give it a moment,
	 * since stopping the helper under it loses that filesystem's last writes. */
	for (int i = 0; i < 50 && pv_loop_serves(att->device, att->backing); i++) {
		if (i == 49)
			pv_warn("volume %s: %s is still in use elsewhere (another mount namespace?); stopping its iSCSI helper anyway",
				pv->name, att->device);
		usleep(100000);
	}
	/* SIGTERM: the helper unmounts, releases and unregisters the reservation, logs out */
	struct pv_helper h = att->helper;
	pv_helper_stop(&h, 20000);
	pvi_run_paths(n->run_dir, mnt, sizeof(mnt), status, sizeof(status));
	pv_umount_stale_fuse(mnt);
	if (pv_is_mountpoint(mnt))
		umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	return 0;
}

/* A dead helper: a new session (REGISTER AND IGNORE EXISTING KEY, then PREEMPT of our own
 * old key), a fresh FUSE file on the same path, and a new loop device over it. A
 * filesystem still mounted on the old loop device cannot move: the engine unmounts and
 * stages again. */
int pvi_reattach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	if (pvi_attached_by_kernel(att))
		return pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED,
				  "the kernel initiator has no helper to restart");
	if (pv_helper_alive(&att->helper))
		return 0;
	int r = pv_loop_check_unmounted(att->device, "iSCSI helper", err);
	if (r < 0)
		return r;
	pv_loop_release(req->node->state_dir, req->pv->name, att->device, att->backing, NULL);
	return pv_attachment_renew(req, att, pvi_attach, err);
}
