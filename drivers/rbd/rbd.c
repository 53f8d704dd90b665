/*
 * rbd.c — the Ceph RBD driver table: block volumes on RBD images, fenced across nodes
 * with the image's exclusive lock.
 *
 * Attributes (ceph-csi's names): monitors, pool (required), image (default the PV
 * name, recorded at provision), radosNamespace, dataPool, imageFeatures, mounter
 * (auto|userspace|kernel), mapOptions, osdTimeout, monTimeout (rbd_attr.c checks them
 * all). Secrets: userID (default admin), userKey. librbd never loads here: controller
 * operations run in pvnode-rbd (rbd_run.c), the data path in pvnode-rbd-fuse
 * (rbd_attach.c) or the kernel client (rbd_kernel.c).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rbd/features.h>

#include "rbd_driver.h"

static int pvr_drv_validate(const struct pv *pv, struct pv_err *err)
{
	struct pvr_target t;
	return pvr_target_from_pv(pv, &t, err);
}

/* Does an image that exists fit the PV: at least its capacity, and the features its
 * access modes need? For registering it (check_existing) and for provision of an image
 * that was already there. Only reads: pvnode-rbd info opens the image read-only. */
static int check_existing(const struct pv *pv, const struct pvr_target *t, const struct pvr_cred *c,
			  struct pv_err *err)
{
	json_t *reply = NULL;
	char have[32], want[32];
	int r = pvr_run(t, c, "info", NULL, &reply, err);
	if (r < 0)
		return r;
	uint64_t size = (uint64_t)json_integer_value(json_object_get(reply, "size"));
	uint64_t features = (uint64_t)json_integer_value(json_object_get(reply, "featureBits"));
	unsigned single = PV_ACCESS_BIT(PV_RWO) | PV_ACCESS_BIT(PV_RWOP);
	pv_quantity_format(size, have, sizeof(have));
	pv_quantity_format(pv->capacity, want, sizeof(want));
	if (!json_is_true(json_object_get(reply, "exists")))
		r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "image %s/%s does not exist", t->pool, t->image);
	else if (size < pv->capacity)
		r = pv_err_set(err, -ERANGE, PV_E_RANGE, "image %s/%s holds %s, less than the volume's capacity %s",
			       t->pool, t->image, have, want);
	else if ((pv->access_modes & single) && !(features & RBD_FEATURE_EXCLUSIVE_LOCK))
		r = pv_err_set(err, -EINVAL, PV_E_INVALID,
			       "image %s/%s has features %s, without exclusive-lock, which ReadWriteOnce and "
			       "ReadWriteOncePod need (rbd feature enable %s/%s exclusive-lock)", t->pool, t->image,
			       json_string_value(json_object_get(reply, "features")), t->pool, t->image);
	json_decref(reply);
	return r;
}

static int pvr_drv_provision(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			 struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	json_t *reply = NULL;
	(void)n;
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0)
		r = pvr_run(&t, &c, "create", json_pack("{s:I}", "size", (json_int_t)pv->capacity), &reply, err);
	if (r == 0 && !json_is_true(json_object_get(reply, "created")))
		r = check_existing(pv, &t, &c, err);   /* the same size: reuse it if it fits */
	if (r == 0 && !pv_map_get(&pv->attributes, "image") && pv_map_set(&pv->attributes, "image", t.image) < 0)
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	if (r == 0)
		pv_info("volume %s: RBD image %s/%s %s", pv->name, t.pool, t.image,
			json_is_true(json_object_get(reply, "created")) ? "created" : "exists with that size: reused");
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}

/* pvctl create --existing / import: the image is there and fits; `image` is recorded
 * (default the PV name) and nothing on the cluster changes. */
static int pvr_drv_check_existing(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
				  struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	(void)n;
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0)
		r = check_existing(pv, &t, &c, err);
	if (r == 0 && !pv_map_get(&pv->attributes, "image") && pv_map_set(&pv->attributes, "image", t.image) < 0)
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	pvr_cred_wipe(&c);
	return r;
}

/* The dead helpers' clients detach could not blocklist (<run_dir>/dead-clients). */
static json_t *dead_clients(const struct pv_node_ctx *n, char *path, size_t len)
{
	_cleanup_(pv_freep) char *text = NULL;
	size_t size;
	json_t *list = json_array();
	snprintf(path, len, "%s/dead-clients", n->run_dir);
	if (pv_read_file(path, &text, &size, NULL) < 0)
		return list;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		json_array_append_new(list, json_string(l));
	return list;
}

static int pvr_drv_remove(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		      struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	char dead[PATH_MAX];
	json_t *reply = NULL;
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0)
		r = pvr_run(&t, &c, "remove", json_pack("{s:o,s:b}", "blocklist", dead_clients(n, dead, sizeof(dead)),
							"trash", 1), &reply, err);
	if (r == 0) {
		unlink(dead);
		if (json_is_true(json_object_get(reply, "trashed")))
			pv_info("volume %s: RBD image %s/%s moved to the RBD trash (id %s): its snapshots (or clones "
				"of them) still need it; it is removed with the last of them", pv->name, t.pool, t.image,
				json_string_value(json_object_get(reply, "trashId")));
		else
			pv_info("volume %s: RBD image %s/%s %s", pv->name, t.pool, t.image,
				json_is_true(json_object_get(reply, "existed")) ? "removed" : "was already gone");
	}
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}

static int pvr_drv_expand(struct pv *pv, uint64_t bytes, const struct pv_secrets *s, const struct pv_node_ctx *n,
		      struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	(void)n;
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0)
		r = pvr_run(&t, &c, "resize", json_pack("{s:I}", "size", (json_int_t)bytes), NULL, err);
	if (r == 0)
		pv->capacity = bytes;
	pvr_cred_wipe(&c);
	return r;
}

/* Break the exclusive lock of `node_id` (it must be the holder recorded on the image):
 * librbd blocklists its client, so a node that only hung cannot write after it. */
static int pvr_drv_fence_release(const struct pv *pv, const struct pv_secrets *s, const char *node_id,
			     const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	json_t *reply = NULL;
	(void)n;
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0)
		r = pvr_run(&t, &c, "break-lock", json_pack("{s:s}", "node", node_id), &reply, err);
	const char *broken = json_string_value(json_object_get(reply, "broken"));
	if (r == 0 && broken)
		pv_info("volume %s: the exclusive lock of node %s on %s/%s was broken and its client %s blocklisted",
			pv->name, node_id, t.pool, t.image, broken);
	else if (r == 0)
		pv_info("volume %s: node %s holds no lock on %s/%s", pv->name, node_id, t.pool, t.image);
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}

/* A key of the helper's status file (<run_dir>/helper.status, beside fuse/disk). */
static bool status_get(const struct pv_attachment *att, const char *key, char *out, size_t len)
{
	char path[PATH_MAX];
	_cleanup_(pv_freep) char *text = NULL;
	size_t n, kl = strlen(key);
	const char *slash = strrchr(att->backing, '/');
	out[0] = '\0';
	if (!slash)
		return false;
	snprintf(path, sizeof(path), "%.*s/../helper.status", (int)(slash - att->backing), att->backing);
	if (pv_read_file(path, &text, &n, NULL) < 0)
		return false;
	for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(out, len, "%.*s", (int)strcspn(p + kl + 1, "\n"), p + kl + 1);
			return true;
		}
	}
	return false;
}

static enum pv_health pvr_drv_health(const struct pv *pv, const struct pv_attachment *att, char *why, size_t len)
{
	char state[32], reason[300];
	struct stat st;
	(void)pv;
	if (pvr_attached_by_kernel(att)) {
		if (stat(att->device, &st) == 0)
			return PV_HEALTHY;
		snprintf(why, len, "RBD device %s is gone (unmapped?)", att->device);
		return PV_ABNORMAL;
	}
	if (!pv_helper_alive(&att->helper)) {
		snprintf(why, len, "the RBD helper (pid %d) is not running: a raw block volume gets a new one from "
			 "reconcile; a filesystem needs unpublish, unstage and stage again", (int)att->helper.pid);
		return PV_ABNORMAL;
	}
	if (!status_get(att, "state", state, sizeof(state))) {
		snprintf(why, len, "the RBD helper (pid %d) reports no status", (int)att->helper.pid);
		return PV_ABNORMAL;
	}
	if (strcmp(state, "up") != 0) {
		status_get(att, "why", reason, sizeof(reason));
		snprintf(why, len, "RBD image %s %s: %s", pv_map_get(&att->priv, "image") ?: "", state,
			 reason[0] ? reason : "no detail");
		return PV_ABNORMAL;
	}
	if (att->device[0] && !pv_loop_serves(att->device, att->backing)) {
		snprintf(why, len, "loop device %s no longer serves %s", att->device, att->backing);
		return PV_ABNORMAL;
	}
	return PV_HEALTHY;
}

/* After a resize: the helper re-reads the size (SIGUSR1; it counts re-reads in its
 * status), a stat() refreshes the FUSE file's size, then the loop device takes it. */
static int pvr_drv_refresh(const struct pv *pv, struct pv_attachment *att, const struct pv_node_ctx *n,
		       struct pv_err *err)
{
	char now[32], before[32];
	struct stat st;
	(void)pv;
	(void)n;
	if (pvr_attached_by_kernel(att))
		return 0;   /* krbd follows the image header itself */
	if (!pv_helper_alive(&att->helper))
		return pv_err_set(err, -ESRCH, PV_E_UNAVAILABLE,
				  "the RBD helper is not running; stage the volume again first");
	status_get(att, "refreshed", before, sizeof(before));
	kill(att->helper.pid, SIGUSR1);
	for (int i = 0; i < 100; i++) {
		nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
		if (status_get(att, "refreshed", now, sizeof(now)) && strcmp(now, before) != 0)
			break;
	}
	stat(att->backing, &st);   /* attr_timeout 0: the kernel asks the helper for the size */
	return att->device[0] ? pv_loop_set_capacity(att->device, err) : 0;
}

const struct pv_driver pv_driver_rbd = {
	.name = "rbd",
	.storage = PV_BLOCKDEV,
	.attribute_names = pvr_attribute_names,
	.required_attributes = pvr_required_attributes,
	.capacity_granularity = 512, /* the loop device serves whole sectors of the FUSE file */
	.validate = pvr_drv_validate,
	.provision = pvr_drv_provision,
	.remove = pvr_drv_remove,
	.expand = pvr_drv_expand,
	.check_existing = pvr_drv_check_existing,
	.attach = pvr_attach,
	.detach = pvr_detach,
	.health = pvr_drv_health,
	.reattach = pvr_reattach,
	.refresh = pvr_drv_refresh,
	.fence_release = pvr_drv_fence_release,
	.snapshot_create = pvr_snapshot_create,
	.snapshot_delete = pvr_snapshot_delete,
	.restore = pvr_restore,
	.clone = pvr_clone,
};
