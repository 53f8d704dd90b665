/*
 * controller_publish.c — the CSI Controller calls that act on an existing volume,
 * translated to the controller layer: ControllerPublishVolume (the node and the
 * capability are recorded; a single-node volume published elsewhere is refused, a
 * repeat with another capability is ALREADY_EXISTS, a node at max_volumes_per_node is
 * RESOURCE_EXHAUSTED; nothing to attach, the node attaches at stage; a read-only
 * publish says so in publish_context, which NodeStage and NodePublish honour),
 * ControllerUnpublishVolume (the node's backend fence is broken, e.g. a dead node's SCSI
 * reservation preempted) and ControllerExpandVolume.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"
#include "pvnode/controller.h"

/* The volume_context's description of a volume (a static PV), when it carries one. */
static int context_pv(struct csi_ctx *ctx, const Csi__V1__ControllerPublishVolumeRequest *q, struct pv *pv,
		      bool *have, struct pv_err *err)
{
	int r = csi_load_pv(ctx->svc, q->volume_id, (void *const *)q->volume_context, q->n_volume_context, pv, err);
	*have = r == 0;
	if (r == -ENOENT && err->kind == PV_E_NOT_FOUND) {   /* the controller layer says NOT_FOUND */
		pv_err_clear(err);
		r = 0;
	}
	return r == 0 && *have ? csi_check_served(ctx->svc, pv, err) : r;
}

int csi_controller_publish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerPublishVolumeRequest *q = (const void *)req;
	struct csi_cap cap;
	struct pv pv;
	bool have = false;
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
	r = context_pv(ctx, q, &pv, &have, err);
	struct pv_ctl_publish_req pr = {
		.node = q->node_id, .access = cap.access, .block = cap.block, .readonly = q->readonly,
		.pv = have ? &pv : NULL, .max_per_node = ctx->svc->max_volumes,
	};
	if (r == 0 && !ctx->svc->dry_run)
		r = pv_ctl_publish(ctx->svc->engine, q->volume_id, &pr, err);
	pv_free(&pv);
	if (r < 0)
		return r;
	Csi__V1__ControllerPublishVolumeResponse *o = CSI_NEW(ctx, controller_publish_volume_response);
	if (q->readonly) {
		struct pv_map m = {0};
		pv_map_set(&m, CSI_PUBLISH_READONLY, "true");
		o->publish_context = (void *)csi_map_out(&ctx->arena,
			&csi__v1__controller_publish_volume_response__publish_context_entry__descriptor, &m,
			&o->n_publish_context);
		pv_map_free(&m);
	}
	*resp = &o->base;
	return 0;
}

/* The catalog's PV of an id, when there is one, must be of a driver this pvnode serves. */
static int check_served_id(struct csi_ctx *ctx, const char *id, struct pv_err *err)
{
	struct pv pv;
	int r = pv_ctl_find(ctx->svc->engine, id, &pv, NULL, NULL, NULL);

	r = r == 0 ? csi_check_served(ctx->svc, &pv, err) : 0;
	pv_free(&pv);
	return r;
}

int csi_controller_unpublish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerUnpublishVolumeRequest *q = (const void *)req;
	struct pv_secrets sec;
	int r = csi_check_volume_id(q->volume_id, err);
	if (r == 0)
		r = check_served_id(ctx, q->volume_id, err);
	if (r < 0)
		return r;
	/* node_id is optional: without it the volume is unpublished from every node. */
	if (*q->node_id && !pv_name_valid(q->node_id))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: node_id has characters outside [A-Za-z0-9._:-]", q->volume_id);
	r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err);
	if (r < 0)
		return r;
	if (!ctx->svc->dry_run)
		r = pv_ctl_release(ctx->svc->engine, q->volume_id, *q->node_id ? q->node_id : NULL,
				   q->n_secrets ? &sec : NULL, err);
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
	const Csi__V1__CapacityRange *cr = q->capacity_range;
	struct pv_expand_result res = { 0 };
	struct pv_secrets sec;
	int r = csi_check_volume_id(q->volume_id, err);
	if (r == 0)
		r = check_served_id(ctx, q->volume_id, err);
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
	if (ctx->svc->dry_run) {
		struct pv pv;
		r = pv_ctl_find(ctx->svc->engine, q->volume_id, &pv, NULL, NULL, err);
		res.capacity = pv.capacity;
		pv_free(&pv);
	} else {
		r = pv_ctl_expand(ctx->svc->engine, q->volume_id, want, (uint64_t)cr->limit_bytes,
				  q->n_secrets ? &sec : NULL, false, &res, err);
	}
	pv_secrets_free(&sec);
	if (r < 0)
		return r;
	Csi__V1__ControllerExpandVolumeResponse *o = CSI_NEW(ctx, controller_expand_volume_response);
	o->capacity_bytes = (int64_t)res.capacity;
	o->node_expansion_required = res.node_expansion_required;
	*resp = &o->base;
	return 0;
}
