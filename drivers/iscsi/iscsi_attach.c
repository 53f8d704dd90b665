/*
 * iscsi_attach.c — attaching an iSCSI LUN on this node.
 *
 * Userspace (no iscsi_tcp in the kernel): start pvnode-iscsi-fuse detached with the CHAP
 * secrets on its stdin and a readiness pipe on fd 3; it logs in, takes the reservation
 * in its I/O session and serves <run_dir>/fuse/disk; then a loop device (direct I/O,
 * read-only for ROX) goes over that file. Kernel (iscsi_tcp present): iscsiadm login
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
#include "pvnode/util.h"

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

/* A FUSE mount left by a dead helper answers ENOTCONN: detach it lazily. */
static void drop_stale_mount(const char *mnt)
{
	if (pv_is_mountpoint(mnt) && umount2(mnt, MNT_DETACH) < 0)
		pv_warn("cannot unmount the stale FUSE mount %s: %s", mnt, strerror(errno));
}

/* Read one line from the helper's readiness pipe within timeout_ms. */
static int read_ready(int fd, char *line, size_t len, int timeout_ms)
{
	size_t used = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (used + 1 < len) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int left = timeout_ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ETIMEDOUT : -errno;
		ssize_t r = read(fd, line + used, len - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
		if (memchr(line, '\n', used))
			break;
	}
	line[used] = '\0';
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	return used ? 0 : -EPIPE;
}

static void join_portals(const struct pvi_target *t, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < t->n_portals && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", t->portals[i]);
}

/* Start the helper and wait for READY; fills helper fields of att. */
static int start_helper(const struct pv_attach_req *req, const struct pvi_target *t, uint64_t key,
			bool ro, struct pv_attachment *att, char *portal, size_t plen,
			bool *unmap, struct pv_err *err)
{
	char helper[PATH_MAX], mnt[PATH_MAX], status[PATH_MAX], logp[PATH_MAX];
	char portals[1100], lun[16], keyhex[20], lt[16], iot[16], secrets[2048], line[PV_ERR_MSG_MAX + 64];
	int sec[2] = { -1, -1 }, rdy[2] = { -1, -1 }, logfd = -1, r;
	pid_t pid = 0;

	r = pv_helper_path("pvnode-iscsi-fuse", helper, sizeof(helper), err);
	if (r < 0)
		return r;
	pvi_run_paths(req->node->run_dir, mnt, sizeof(mnt), status, sizeof(status));
	snprintf(logp, sizeof(logp), "%s/helper.log", req->node->run_dir);
	drop_stale_mount(mnt);
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create %s: %s", mnt, strerror(errno));
	unlink(status);
	join_portals(t, portals, sizeof(portals));
	snprintf(lun, sizeof(lun), "%d", t->lun);
	snprintf(keyhex, sizeof(keyhex), "%016llx", (unsigned long long)key);
	snprintf(lt, sizeof(lt), "%d", t->login_timeout_s);
	snprintf(iot, sizeof(iot), "%d", t->io_timeout_s);
	const char *argv[24] = { helper, "--portals", portals, "--iqn", t->iqn, "--lun", lun,
				 "--initiator", t->initiator_name, "--mountpoint", mnt, "--status",
				 status, "--login-timeout", lt, "--io-timeout", iot };
	size_t n = 17;
	if (ro)
		argv[n++] = "--readonly";
	else if (key) {
		argv[n++] = "--key";
		argv[n++] = keyhex;
	}
	argv[n] = NULL;

	r = pvi_target_secrets_to_text(t, secrets, sizeof(secrets));
	if (r < 0)
		return pv_err_set(err, r, PV_E_INVALID, "iSCSI CHAP secrets for %s are too long", t->iqn);
	if (pipe2(sec, O_CLOEXEC) < 0 || pipe2(rdy, O_CLOEXEC) < 0) {
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create pipes: %s", strerror(errno));
		goto out;
	}
	/* the secrets fit in the pipe buffer: write them now, EOF tells the helper it has all */
	if (r > 0 && write(sec[1], secrets, (size_t)r) != r) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "cannot pass the CHAP secrets to the helper");
		goto out;
	}
	close(sec[1]);
	sec[1] = -1;
	logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct pv_spawn_opts o = { .stdin_fd = sec[0], .stdout_fd = logfd, .stderr_fd = logfd,
				   .detach = true, .keep_fds = &rdy[1], .n_keep_fds = 1 };
	r = pv_spawn_detached(argv, &o, &pid, err);
	if (r < 0)
		goto out;
	close(rdy[1]);
	rdy[1] = -1;
	r = read_ready(rdy[0], line, sizeof(line),
		       (t->login_timeout_s * 2 * (int)t->n_portals + 15) * 1000);
	if (r == 0 && strncmp(line, "READY ", 6) == 0) {
		char *sp = strchr(line + 6, ' ');
		if (sp)
			*sp = '\0';
		*unmap = sp && strlen(sp + 1) > 1 && sp[strlen(sp + 1)] == '1';
		if (snprintf(portal, plen, "%s", line + 6) >= (int)plen)
			portal[0] = '\0';
		att->helper_pid = pid;
		att->helper_start = pv_proc_start_time(pid);
		if (snprintf(att->backing, sizeof(att->backing), "%s/disk", mnt) < (int)sizeof(att->backing))
			goto out;
		r = pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "path %s is too long", mnt);
	}
	if (r == 0 && strncmp(line, "ERROR ", 6) == 0) {
		char *end1, *end2;
		long kind = strtol(line + 6, &end1, 10);
		long code = strtol(end1, &end2, 10);
		if (end1 != line + 6 && end2 != end1 && *end2 == ' ' && kind > 0 && kind <= PV_E_UNSUPPORTED)
			r = pv_err_set(err, code < 0 ? (int)code : -EIO, (enum pv_err_kind)kind, "%s", end2 + 1);
		else
			r = pv_err_set(err, -EIO, PV_E_INTERNAL, "iSCSI helper: %s", line + 6);
	} else if (r == -ETIMEDOUT) {
		r = pv_err_set(err, -ETIMEDOUT, PV_E_UNAVAILABLE,
			       "iSCSI helper for %s at %s did not become ready in time (see %s)", t->iqn,
			       portals, logp);
	} else {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL,
			       "iSCSI helper for %s exited without a report (see %s)", t->iqn, logp);
	}
	pv_proc_stop(pid, pv_proc_start_time(pid), 10000);
	drop_stale_mount(mnt);
out:
	explicit_bzero(secrets, sizeof(secrets));
	for (int i = 0; i < 2; i++) {
		if (sec[i] >= 0)
			close(sec[i]);
		if (rdy[i] >= 0)
			close(rdy[i]);
	}
	if (logfd >= 0)
		close(logfd);
	return r;
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
	char portal[128] = "", tag[64];
	int r;

	if (t->discovery) {
		r = pvi_discover(t, err);
		if (r < 0)
			return r;
	}
	bool unmap = false;
	r = start_helper(req, t, key, ro, att, portal, sizeof(portal), &unmap, err);
	if (r < 0)
		return r;
	pv_loop_tag(req->node->state_dir, req->pv->name, tag, sizeof(tag));
	r = pv_loop_attach_tagged(att->backing, tag, ro, true, att->device, sizeof(att->device), err);
	if (r < 0) {
		pv_proc_stop(att->helper_pid, att->helper_start, 15000);
		att->helper_pid = 0;
		return r;
	}
	if (!unmap)
		no_discard(att->device);
	att->readonly = ro;
	if (key)
		snprintf(att->fence_key, sizeof(att->fence_key), "%016llx", (unsigned long long)key);
	setf(att->detail, sizeof(att->detail), "userspace: %s lun %d via %s as %s%s", t->iqn,
		 t->lun, portal, t->initiator_name, key ? ", reserved (write exclusive)" : "");
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
			snprintf(att->fence_key, sizeof(att->fence_key), "%016llx", (unsigned long long)key);
		}
		setf(att->device, sizeof(att->device), "%s", real);
		att->readonly = ro;
		setf(att->detail, sizeof(att->detail), "kernel: %s lun %d via %s", t->iqn, t->lun,
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

	if (strncmp(att->detail, "kernel:", 7) == 0) {
		struct pvi_target t;
		struct pvi_argv a;
		struct pv_secrets none;
		pv_secrets_init(&none);
		if (pvi_target_from_pv(pv, &none, n->node_id, &t, err) < 0)
			return -EINVAL;
		if (att->fence_key[0] && att->device[0]) {
			unsigned long long key = strtoull(att->fence_key, NULL, 16);
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
	if (att->helper_pid && pv_proc_alive(att->helper_pid, att->helper_start))
		pv_proc_stop(att->helper_pid, att->helper_start, 20000);
	pvi_run_paths(n->run_dir, mnt, sizeof(mnt), status, sizeof(status));
	drop_stale_mount(mnt);
	rmdir(mnt);
	return 0;
}

/* A dead helper: a new session (REGISTER AND IGNORE EXISTING KEY, then PREEMPT of our own
 * old key), a fresh FUSE file on the same path, and a new loop device over it. A
 * filesystem still mounted on the old loop device cannot move: the engine unmounts and
 * stages again. */
int pvi_reattach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	if (strncmp(att->detail, "kernel:", 7) == 0)
		return pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED,
				  "volume %s: the kernel initiator has no helper to restart", req->pv->name);
	if (att->helper_pid && pv_proc_alive(att->helper_pid, att->helper_start))
		return 0;
	if (att->device[0]) {
		int fd = open(att->device, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd < 0 && errno == EBUSY)
			return pv_err_set(err, -EBUSY, PV_E_UNAVAILABLE,
					  "volume %s: its iSCSI helper died while %s was mounted; unpublish and stage again to restore it",
					  req->pv->name, att->device);
		if (fd >= 0)
			close(fd);
	}
	pv_loop_release(req->node->state_dir, req->pv->name, att->device, att->backing, NULL);
	struct pv_attachment fresh = { 0 };
	int r = pvi_attach(req, &fresh, err);
	if (r < 0)
		return r;
	*att = fresh;
	return 0;
}
