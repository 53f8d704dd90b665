/*
 * controller_publish.c — the CSI Controller calls that act on an existing volume:
 * ControllerPublishVolume (checks the volume and the node, refuses a single-node volume
 * already published elsewhere, records the node; nothing to attach, the node attaches at
 * stage), ControllerUnpublishVolume (breaks the node's backend fence through the
 * driver's fence_release, e.g. preempting a dead node's SCSI reservation) and
 * ControllerExpandVolume (grows the backing storage through the driver).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"
#include "pvnode/catalog.h"
#include "pvnode/driver/os.h" /* interim: until the controller layer lands */

static int node_ctx(const struct csi_service *svc, const char *volume, char *run_dir, size_t len,
		    struct pv_node_ctx *n, struct pv_err *err)
{
	if ((size_t)snprintf(run_dir, len, "%s/run/%s", svc->cfg->state_dir, volume) >= len)
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID,
				  "volume %s: the run directory path is too long", volume);
	*n = (struct pv_node_ctx){.state_dir = svc->cfg->state_dir, .node_id = svc->cfg->node_id,
				  .run_dir = run_dir};
	return pv_mkdir_p(run_dir, 0700, err);
}

static bool single_node(enum pv_access a)
{
	return a == PV_RWO || a == PV_RWOP;
}

int csi_controller_publish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerPublishVolumeRequest *q = (const void *)req;
	const char *state = ctx->svc->cfg->state_dir;
	struct csi_attachments att = {0};
	struct csi_cap cap;
	struct pv pv;
	int lock = -1;
	int r = csi_check_volume_id(q->volume_id, err);
	if (r < 0)
		return r;
	if (!*q->node_id)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: node_id is required",
				  q->volume_id);
	if (!pv_name_valid(q->node_id))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: node_id has characters outside [A-Za-z0-9._:-]", q->volume_id);
	r = csi_check_capability(q->volume_id, q->volume_capability, &cap, err);
	if (r < 0)
		return r;
	pv_init(&pv);
	r = csi_load_pv(ctx->svc, q->volume_id, NULL, 0, &pv, err);
	if (r == 0)
		r = lock = pv_lock_volume(state, q->volume_id, false, err);
	if (r >= 0)
		r = csi_attachments_load(state, q->volume_id, &att, err);
	if (r >= 0 && !csi_attachments_has(&att, q->node_id)) {
		/* A single-node volume published elsewhere: the spec's FAILED_PRECONDITION. */
		if (att.n && single_node(cap.access))
			r = pv_err_set(err, -EBUSY, PV_E_POLICY,
				       "volume %s is already published to node %s and %s allows one node",
				       q->volume_id, att.nodes[0],
				       csi_mode_name(q->volume_capability->access_mode->mode));
		else if (strcmp(q->node_id, ctx->svc->cfg->node_id) != 0)
			r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				       "node %s is not known to this plugin (it serves node %s)",
				       q->node_id, ctx->svc->cfg->node_id);
		else if (!(pv.access_modes & PV_ACCESS_BIT(cap.access)))
			r = pv_err_set(err, -EPERM, PV_E_POLICY, "volume %s does not allow access mode %s",
				       q->volume_id, csi_mode_name(q->volume_capability->access_mode->mode));
		else if (!ctx->svc->dry_run)
			r = csi_attachments_save(state, q->volume_id, &att, q->node_id, NULL, err);
	}
	if (lock >= 0)
		pv_unlock(lock);
	csi_attachments_free(&att);
	pv_free(&pv);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, controller_publish_volume_response);
	return 0;
}

/* Release one node: its backend fence (driver fence_release), then its record. */
static int release_node(struct csi_ctx *ctx, const struct pv *pv, const struct pv_secrets *sec,
			const struct csi_attachments *att, const char *node, struct pv_err *err)
{
	const struct pv_driver *drv = pv_driver_find(pv->driver);
	int r = 0;
	if (ctx->svc->dry_run)
		return 0;
	if (drv && drv->fence_release) {
		char run_dir[PATH_MAX];
		struct pv_node_ctx n;
		r = node_ctx(ctx->svc, pv->name, run_dir, sizeof(run_dir), &n, err);
		if (r == 0)
			r = drv->fence_release(pv, sec, node, &n, err);
	}
	if (r == 0 && csi_attachments_has(att, node))
		r = csi_attachments_save(ctx->svc->cfg->state_dir, pv->name, att, NULL, node, err);
	return r;
}

int csi_controller_unpublish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerUnpublishVolumeRequest *q = (const void *)req;
	const char *state = ctx->svc->cfg->state_dir;
	struct csi_attachments att = {0};
	struct pv_secrets sec;
	struct pv pv;
	int lock = -1;
	int r = csi_check_volume_id(q->volume_id, err);
	if (r < 0)
		return r;
	/* node_id is optional: without it the volume is unpublished from every node. */
	if (*q->node_id && !pv_name_valid(q->node_id))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: node_id has characters outside [A-Za-z0-9._:-]", q->volume_id);
	r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err);
	if (r < 0)
		return r;
	pv_init(&pv);
	r = pv_catalog_load(state, q->volume_id, &pv, err);
	if (r == -ENOENT) {   /* gone: nothing can be held for it */
		pv_err_clear(err);
		r = 0;
		goto out;
	}
	if (r == 0)
		r = lock = pv_lock_volume(state, q->volume_id, false, err);
	if (r >= 0)
		r = csi_attachments_load(state, q->volume_id, &att, err);
	if (r >= 0 && *q->node_id) {
		r = release_node(ctx, &pv, &sec, &att, q->node_id, err);
	} else if (r >= 0) {
		while (r == 0 && att.n) {
			char *node = strdup(att.nodes[0]);
			r = node ? release_node(ctx, &pv, &sec, &att, node, err) : -ENOMEM;
			free(node);
			csi_attachments_free(&att);
			if (r == 0 && !ctx->svc->dry_run)
				r = csi_attachments_load(state, q->volume_id, &att, err);
		}
	}
out:
	if (lock >= 0)
		pv_unlock(lock);
	csi_attachments_free(&att);
	pv_free(&pv);
	pv_secrets_free(&sec);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, controller_unpublish_volume_response);
	return 0;
}

int csi_controller_expand_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerExpandVolumeRequest *q = (const void *)req;
	const char *state = ctx->svc->cfg->state_dir;
	const Csi__V1__CapacityRange *cr = q->capacity_range;
	struct pv_secrets sec;
	struct pv pv;
	int r = csi_check_volume_id(q->volume_id, err);
	if (r < 0)
		return r;
	if (!cr || (!cr->required_bytes && !cr->limit_bytes))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: capacity_range is required",
				  q->volume_id);
	if (cr->required_bytes < 0 || cr->limit_bytes < 0 ||
	    (cr->limit_bytes && cr->required_bytes > cr->limit_bytes))
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "volume %s: capacity_range %lld..%lld is not a valid range",
				  q->volume_id, (long long)cr->required_bytes, (long long)cr->limit_bytes);
	uint64_t want = (uint64_t)(cr->required_bytes ? cr->required_bytes : cr->limit_bytes);
	r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err);
	if (r < 0)
		return r;
	pv_init(&pv);
	int lock = pv_lock_volume(state, q->volume_id, false, err);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	r = csi_load_pv(ctx->svc, q->volume_id, NULL, 0, &pv, err);
	if (r == 0 && cr->limit_bytes && pv.capacity > (uint64_t)cr->limit_bytes)
		r = pv_err_set(err, -ERANGE, PV_E_RANGE,
			       "volume %s is already %llu bytes, above limit_bytes %lld (volumes only grow)",
			       q->volume_id, (unsigned long long)pv.capacity, (long long)cr->limit_bytes);
	if (r == 0 && pv.capacity < want && !ctx->svc->dry_run) {
		const struct pv_driver *drv = pv_driver_find(pv.driver);
		char run_dir[PATH_MAX];
		struct pv_node_ctx n;
		if (!drv || !drv->expand)
			r = pv_err_set(err, -EOPNOTSUPP, PV_E_UNSUPPORTED,
				       "volume %s: driver %s cannot expand volumes", q->volume_id, pv.driver);
		else
			r = node_ctx(ctx->svc, pv.name, run_dir, sizeof(run_dir), &n, err);
		if (r == 0 && drv && drv->expand)
			r = drv->expand(&pv, want, &sec, &n, err);
		if (r == 0) {
			if (pv.capacity < want)
				pv.capacity = want;
			r = pv_catalog_save(state, &pv, err);
		}
	}
	pv_unlock(lock);
	if (r == 0) {
		Csi__V1__ControllerExpandVolumeResponse *o = CSI_NEW(ctx, controller_expand_volume_response);
		o->capacity_bytes = (int64_t)pv.capacity;
		o->node_expansion_required = pv.volume_mode == PV_VOLUME_FILESYSTEM;
		*resp = &o->base;
	}
out:
	pv_free(&pv);
	pv_secrets_free(&sec);
	return r;
}
