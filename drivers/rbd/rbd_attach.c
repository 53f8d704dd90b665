/*
 * rbd_attach.c — attaching an RBD image on this node.
 *
 * Userspace (what `auto` picks when the kernel has no rbd module): start
 * pvnode-rbd-fuse through the helper module with userID/userKey on its stdin; for a
 * fenced access (RWO/RWOP writable) it takes the image's exclusive lock before it
 * serves, and a lock held by a live client elsewhere is a PV_E_POLICY refusal naming
 * that node; for ROX it opens the image read-only, without a lock. Then a loop device
 * (direct I/O, read-only for ROX) goes over <run_dir>/fuse/disk. Kernel (krbd): see
 * rbd_kernel.c.
 *
 * A helper that did not stop cleanly (killed, crashed) leaves its watch on the image
 * for 30 s and its lock until someone breaks it: detach and reattach blocklist its
 * client address, which makes the OSDs drop the watch, so deletion and the next lock
 * request (librbd breaks a lock whose owner no longer watches) go ahead at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rbd_driver.h"

void pvr_run_paths(const char *run_dir, char *mnt, size_t mlen, char *status, size_t slen)
{
	snprintf(mnt, mlen, "%s/fuse", run_dir);
	snprintf(status, slen, "%s/helper.status", run_dir);
}

bool pvr_attached_by_kernel(const struct pv_attachment *att)
{
	return strcmp(pv_map_get(&att->priv, "mounter") ?: "", "kernel") == 0;
}

/* The helper's arguments (no secret among them). */
struct helper_argv {
	const char *v[32];
	char osd[16], mon[16];
};

static void helper_args(const struct pv_attach_req *req, const struct pvr_target *t, const char *mnt,
			const char *status, bool ro, bool exclusive, struct helper_argv *a)
{
	size_t n = 0;
	snprintf(a->osd, sizeof(a->osd), "%d", t->osd_timeout_s);
	snprintf(a->mon, sizeof(a->mon), "%d", t->mon_timeout_s);
	const char *base[] = { "--monitors", t->mon_host, "--pool", t->pool, "--image", t->image,
			       "--mountpoint", mnt, "--status", status, "--osd-timeout", a->osd,
			       "--mon-timeout", a->mon };
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		a->v[n++] = base[i];
	if (t->rados_namespace[0]) {
		a->v[n++] = "--namespace";
		a->v[n++] = t->rados_namespace;
	}
	if (ro) {
		a->v[n++] = "--readonly";
	} else if (exclusive) {
		a->v[n++] = "--exclusive";
		a->v[n++] = "--node-id";
		a->v[n++] = req->node->node_id;
	}
	a->v[n] = NULL;
}

/* Start the helper and wait for READY; fills helper, backing and priv. */
static int start_helper(const struct pv_attach_req *req, const struct pvr_target *t, const struct pvr_cred *c,
			bool ro, bool exclusive, struct pv_attachment *att, struct pv_err *err)
{
	char mnt[PATH_MAX], status[PATH_MAX], what[3 * PVR_NAME_MAX + 32], spec[3 * PVR_NAME_MAX + 8];
	struct helper_argv a;
	struct pv_secrets s;
	struct pv_map ready = { 0 };
	int r;

	pvr_run_paths(req->node->run_dir, mnt, sizeof(mnt), status, sizeof(status));
	pv_umount_stale_fuse(mnt);
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create %s: %s", mnt, strerror(errno));
	unlink(status);
	helper_args(req, t, mnt, status, ro, exclusive, &a);
	snprintf(what, sizeof(what), "RBD helper for %s/%s%s%s", t->pool, t->rados_namespace,
		 t->rados_namespace[0] ? "/" : "", t->image);
	pv_secrets_init(&s);   /* only what the helper needs */
	if (pv_secrets_set(&s, "userID", c->user) < 0 || pv_secrets_set(&s, "userKey", c->key) < 0) {
		pv_secrets_free(&s);
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	}
	struct pv_helper_spec hs = { .program = "pvnode-rbd-fuse", .args = a.v, .secrets = &s,
				     .run_dir = req->node->run_dir, .what = what,
				     .ready_timeout_ms = (t->mon_timeout_s + 2 * t->osd_timeout_s + 15) * 1000 };
	r = pv_helper_start(&hs, &att->helper, &ready, err);
	pv_secrets_free(&s);
	if (r < 0) {
		pv_umount_stale_fuse(mnt);
		return r;
	}
	snprintf(spec, sizeof(spec), "%s/%s%s%s", t->pool, t->rados_namespace, t->rados_namespace[0] ? "/" : "", t->image);
	if (pv_map_set(&att->priv, "mounter", "userspace") < 0 ||
	    pv_map_set(&att->priv, "client", pv_map_get(&ready, "client") ?: "") < 0 ||
	    pv_map_set(&att->priv, "exclusive", exclusive ? "1" : "0") < 0 ||
	    pv_map_set(&att->priv, "image", spec) < 0)
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	else if (snprintf(att->backing, sizeof(att->backing), "%s/disk", mnt) >= (int)sizeof(att->backing))
		r = pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "path %s is too long", mnt);
	pv_map_free(&ready);
	if (r < 0)
		pv_helper_stop(&att->helper, 10000);
	return r;
}

static int attach_userspace(const struct pv_attach_req *req, const struct pvr_target *t,
			    const struct pvr_cred *c, struct pv_attachment *att, struct pv_err *err)
{
	bool ro = req->readonly || req->access == PV_ROX;
	bool exclusive = pvr_access_fenced(req->access, ro);
	char tag[64];
	int r = start_helper(req, t, c, ro, exclusive, att, err);
	if (r < 0)
		return r;
	pv_loop_tag(req->node->state_dir, req->pv->name, tag, sizeof(tag));
	r = pv_loop_attach_tagged(att->backing, tag, ro, true, att->device, sizeof(att->device), err);
	if (r < 0) {
		pv_helper_stop(&att->helper, 15000);
		return r;
	}
	att->readonly = ro;
	if (exclusive)
		snprintf(att->fence, sizeof(att->fence), "exclusive lock as node %.40s", req->node->node_id);
	snprintf(att->summary, sizeof(att->summary), "userspace: %s as client.%s (%s)%s",
		 pv_map_get(&att->priv, "image"), c->user, pv_map_get(&att->priv, "client"),
		 exclusive ? ", exclusive lock" : ro ? ", read-only, no lock" : ", no lock");
	return 0;
}

int pvr_attach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	bool kernel = pvr_kernel_available();
	int r = pvr_prepare(req->pv, req->secrets, &t, &c, err);
	if (r == 0 && t.mounter == PVR_MOUNTER_KERNEL && !kernel)
		r = pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED,
			       "attributes.mounter is kernel, but this node's kernel has no rbd module (no %s): "
			       "load it (modprobe rbd) or use mounter auto or userspace", "/sys/bus/rbd/add_single_major");
	else if (r == 0 && (t.mounter == PVR_MOUNTER_KERNEL || (t.mounter == PVR_MOUNTER_AUTO && kernel)))
		r = pvr_kernel_attach(req, &t, &c, att, err);
	else if (r == 0)
		r = attach_userspace(req, &t, &c, att, err);
	pvr_cred_wipe(&c);
	return r;
}

/* Did the helper stop cleanly (lock released, watch gone)? It says so in its status. */
static bool stopped_cleanly(const char *status)
{
	_cleanup_(pv_freep) char *text = NULL;
	size_t len;
	return pv_read_file(status, &text, &len, NULL) == 0 && strncmp(text, "state=stopped\n", 14) == 0;
}

/* Stop the helper; when it did not stop cleanly, blocklist its client (best effort). */
static void stop_helper(const struct pv *pv, const struct pv_attachment *att, const struct pv_node_ctx *n)
{
	char mnt[PATH_MAX], status[PATH_MAX];
	struct pv_helper h = att->helper;
	const char *client = pv_map_get(&att->priv, "client");
	struct pv_err err = { 0 };

	pvr_run_paths(n->run_dir, mnt, sizeof(mnt), status, sizeof(status));
	pv_helper_stop(&h, 20000);   /* SIGTERM: flush, release the lock, unmount */
	if (!stopped_cleanly(status) && client && client[0] && !att->readonly) {
		if (pvr_blocklist_dead(pv, n, &client, 1, &err) < 0)
			pv_warn("volume %s: its RBD helper died; its client %s could not be blocklisted (%s); "
				"delete will try again", pv->name, client, err.msg);
		else
			pv_info("volume %s: the dead RBD helper's client %s was blocklisted", pv->name, client);
	}
	unlink(status);
	pv_umount_stale_fuse(mnt);
	if (pv_is_mountpoint(mnt))
		umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

int pvr_detach(const struct pv *pv, const struct pv_attachment *att, const struct pv_node_ctx *n,
	       struct pv_err *err)
{
	if (pvr_attached_by_kernel(att))
		return pvr_kernel_detach(pv, att, err);
	int r = pv_loop_release(n->state_dir, pv->name, att->device, att->backing, err);
	if (r < 0)
		return r;
	/* A loop device still open elsewhere (a copy of the mount in another mount
	 * namespace) goes away only when that closes: give it a moment, since stopping the
	 * helper under it loses that filesystem's last writes. */
	for (int i = 0; i < 50 && att->device[0] && pv_loop_serves(att->device, att->backing); i++) {
		if (i == 49)
			pv_warn("volume %s: %s is still in use elsewhere (another mount namespace?); stopping its RBD helper anyway",
				pv->name, att->device);
		usleep(100000);
	}
	stop_helper(pv, att, n);
	return 0;
}

/* A dead helper under a volume still in use: blocklist its client (so its lock can be
 * taken again), then a new helper, FUSE file and loop device. A filesystem mounted on
 * the old loop device cannot move to the new one: that needs unpublish, unstage and
 * stage again. */
int pvr_reattach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	if (pvr_attached_by_kernel(att))
		return pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED, "the kernel RBD client has no helper to restart");
	if (pv_helper_alive(&att->helper))
		return 0;
	int r = pv_loop_check_unmounted(att->device, "RBD helper", err);
	if (r < 0)
		return r;
	pv_loop_release(req->node->state_dir, req->pv->name, att->device, att->backing, NULL);
	stop_helper(req->pv, att, req->node);
	return pv_attachment_renew(req, att, pvr_attach, err);
}
