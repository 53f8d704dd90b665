/*
 * controller_publish.c — the CSI Controller calls that act on an existing volume,
 * translated to the controller layer: ControllerPublishVolume (the node is recorded; a
 * single-node volume published elsewhere is refused; nothing to attach, the node
 * attaches at stage), ControllerUnpublishVolume (the node's backend fence is broken,
 * e.g. a dead node's SCSI reservation preempted) and ControllerExpandVolume.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"
#include "pvnode/controller.h"

int csi_controller_publish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerPublishVolumeRequest *q = (const void *)req;
	struct csi_cap cap;
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
	if (!ctx->svc->dry_run)
		r = pv_ctl_publish(ctx->svc->engine, q->volume_id, q->node_id, cap.access, err);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, controller_publish_volume_response);
	return 0;
}

int csi_controller_unpublish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ControllerUnpublishVolumeRequest *q = (const void *)req;
	struct pv_secrets sec;
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
