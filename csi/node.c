/*
 * node.c — the CSI Node service: stage, publish, unpublish, unstage, volume stats,
 * expansion, capabilities and node info, translated to the node engine.
 *
 * Each handler checks its request (ids, paths under the allowed prefixes, the volume
 * capability), finds the PV (volume_context first, so a node that never saw the catalog
 * can stage; else the catalog), checks that this pvnode serves its driver, and calls
 * the engine, which owns locking (a concurrent call on the same volume gets PV_E_BUSY →
 * ABORTED), idempotency and the access policy. A volume_mount_group (the pod's fsGroup,
 * VOLUME_MOUNT_GROUP) becomes the volume root's group in O(1); a publish_context that
 * says read-only (a read-only ControllerPublishVolume) stages and publishes read-only.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "csi.h"
#include "pvnode/controller.h"

struct node_common {
	struct pv pv;
	struct pv_secrets secrets;
	struct csi_cap cap;
};

static void node_common_free(struct node_common *c)
{
	pv_free(&c->pv);
	pv_secrets_free(&c->secrets);
}

/* What stage and publish share: the id, the paths under the allowed prefixes (the
 * target only for publish; the staging path required for stage), the capability, the
 * secrets and the PV (volume_context first, else the catalog). */
struct node_paths {
	const char *staging;
	bool staging_required;
	const char *target;   /* NULL: stage */
};

static int node_prepare(struct csi_ctx *ctx, const char *id, const struct node_paths *paths,
			const Csi__V1__VolumeCapability *cap, void *const *secrets, size_t n_secrets,
			void *const *vctx, size_t n_vctx, struct node_common *c, struct pv_err *err)
{
	int r;

	pv_init(&c->pv);
	pv_secrets_init(&c->secrets);
	if ((r = csi_check_volume_id(id, err)) < 0)
		return r;
	if (paths->target && (r = csi_check_path(ctx->svc, "target_path", paths->target, true, err)) < 0)
		return r;
	if ((r = csi_check_path(ctx->svc, "staging_target_path", paths->staging, paths->staging_required, err)) < 0)
		return r;
	if ((r = csi_check_capability(id, cap, &c->cap, err)) < 0)
		return r;
	if ((r = csi_secrets_in(secrets, n_secrets, &c->secrets, err)) < 0)
		return r;
	if ((r = csi_load_pv(ctx->svc, id, vctx, n_vctx, &c->pv, err)) < 0)
		return r;
	return csi_check_served(ctx->svc, &c->pv, err);
}

/* Did ControllerPublishVolume publish the volume read-only? */
static bool published_readonly(void *const *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct csi_kv *kv = entries[i];
		if (strcmp(kv->key, CSI_PUBLISH_READONLY) == 0 && strcmp(kv->value, "true") == 0)
			return true;
	}
	return false;
}

/* Does this node or the catalog know the volume at all? Unpublish and unstage of an
 * unknown id are NOT_FOUND (the spec's "volume does not exist"); of a known volume that
 * is not staged or published here, OK (idempotent). */
static int check_known(const struct csi_service *svc, const char *id, struct pv_err *err)
{
	struct pv pv;
	int r = pv_ctl_find(svc->engine, id, &pv, NULL, NULL, NULL);

	if (r == -ENOENT) {
		pv_free(&pv);
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "volume %s: no such volume on node %s", id, svc->cfg->node_id);
	}
	r = r == 0 ? csi_check_served(svc, &pv, err) : 0;   /* another pvnode's volume: not ours */
	pv_free(&pv);
	return r;
}

int csi_node_stage_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
			  ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__NodeStageVolumeRequest *q = (const void *)req;
	const struct node_paths paths = { .staging = q->staging_target_path, .staging_required = true };
	struct node_common c;
	int r = node_prepare(ctx, q->volume_id, &paths, q->volume_capability, (void *const *)q->secrets,
			     q->n_secrets, (void *const *)q->volume_context, q->n_volume_context, &c, err);
	if (r == 0 && !ctx->svc->dry_run) {
		struct pv_stage_req sr = {
			.pv = &c.pv,
			.secrets = &c.secrets,
			.access = c.cap.access,
			.block = c.cap.block,
			.staging_path = q->staging_target_path,
			.fs_type = c.cap.fs_type,
			.mount_flags = c.cap.flags,
			.n_mount_flags = c.cap.n_flags,
			.readonly = c.cap.readonly_mode ||
				    published_readonly((void *const *)q->publish_context, q->n_publish_context),
			.mount_group = c.cap.mount_group,
		};
		r = pv_engine_stage(ctx->svc->engine, &sr, err);
	}
	node_common_free(&c);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, node_stage_volume_response);
	return 0;
}

/* Unstage and unpublish: a valid id and path, a volume this node or the catalog knows
 * (else NOT_FOUND), then the engine's operation, which is idempotent. */
typedef int (*undo_fn)(struct pv_engine *e, const char *volume, const char *path, struct pv_err *err);

static int node_undo(struct csi_ctx *ctx, const char *id, const char *what, const char *path, undo_fn op,
		     struct pv_err *err)
{
	int r = csi_check_volume_id(id, err);
	if (r == 0)
		r = csi_check_path(ctx->svc, what, path, true, err);
	if (r == 0)
		r = check_known(ctx->svc, id, err);
	if (r == 0 && !ctx->svc->dry_run)
		r = op(ctx->svc->engine, id, path, err);
	return r;
}

int csi_node_unstage_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
			    ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__NodeUnstageVolumeRequest *q = (const void *)req;
	int r = node_undo(ctx, q->volume_id, "staging_target_path", q->staging_target_path, pv_engine_unstage, err);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, node_unstage_volume_response);
	return 0;
}

int csi_node_publish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
			    ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__NodePublishVolumeRequest *q = (const void *)req;
	const struct node_paths paths = { .staging = q->staging_target_path, .target = q->target_path };
	struct node_common c;
	int r = node_prepare(ctx, q->volume_id, &paths, q->volume_capability, (void *const *)q->secrets,
			     q->n_secrets, (void *const *)q->volume_context, q->n_volume_context, &c, err);
	if (r == 0 && !ctx->svc->dry_run) {
		/* Kubernetes passes the pod's uid when podInfoOnMount is set: a stable
		 * SELinux level is derived from it. */
		const char *pod = NULL;
		for (size_t i = 0; i < q->n_volume_context; i++)
			if (strcmp(q->volume_context[i]->key, "csi.storage.k8s.io/pod.uid") == 0)
				pod = q->volume_context[i]->value;
		struct pv_publish_req pr = {
			.pv = &c.pv,
			.secrets = &c.secrets,
			.access = c.cap.access,
			.block = c.cap.block,
			.staging_path = *q->staging_target_path ? q->staging_target_path : NULL,
			.target = q->target_path,
			.readonly = q->readonly || c.cap.readonly_mode ||
				    published_readonly((void *const *)q->publish_context, q->n_publish_context),
			.pod_identity = pod,
			.mount_flags = c.cap.flags,
			.n_mount_flags = c.cap.n_flags,
			.mount_group = c.cap.mount_group,
		};
		struct pv_publish_result res;
		memset(&res, 0, sizeof(res));
		r = pv_engine_publish(ctx->svc->engine, &pr, &res, err);
	}
	node_common_free(&c);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, node_publish_volume_response);
	return 0;
}

int csi_node_unpublish_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
			      ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__NodeUnpublishVolumeRequest *q = (const void *)req;
	int r = node_undo(ctx, q->volume_id, "target_path", q->target_path, pv_engine_unpublish, err);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, node_unpublish_volume_response);
	return 0;
}

static Csi__V1__VolumeUsage *usage(struct csi_ctx *ctx, int unit, uint64_t avail, uint64_t total,
				   uint64_t used)
{
	Csi__V1__VolumeUsage *u = CSI_NEW(ctx, volume_usage);
	u->unit = unit;
	u->available = (int64_t)avail;
	u->total = (int64_t)total;
	u->used = (int64_t)used;
	return u;
}

/* Stats and expand: a valid id, a volume_path, a volume this node or the catalog knows. */
static int check_volume_path(struct csi_ctx *ctx, const char *id, const char *path, struct pv_err *err)
{
	int r = csi_check_volume_id(id, err);
	if (r < 0)
		return r;
	if (!*path)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume_path is required");
	return check_known(ctx->svc, id, err);
}

int csi_node_get_volume_stats(struct csi_ctx *ctx, const ProtobufCMessage *req,
			      ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__NodeGetVolumeStatsRequest *q = (const void *)req;
	struct pv_volume_stats st;
	int r = check_volume_path(ctx, q->volume_id, q->volume_path, err);
	if (r < 0)
		return r;
	/* Stats only read: a path that cannot be the volume's is "not there" (NOT_FOUND,
	 * as the spec and csi-sanity expect), not a refused operation. */
	r = csi_check_path(ctx->svc, "volume_path", q->volume_path, true, err);
	if (r < 0) {
		err->kind = PV_E_NOT_FOUND;
		return r;
	}
	memset(&st, 0, sizeof(st));
	r = pv_engine_stats(ctx->svc->engine, q->volume_id, q->volume_path, &st, err);
	if (r < 0)
		return r;
	Csi__V1__NodeGetVolumeStatsResponse *o = CSI_NEW(ctx, node_get_volume_stats_response);
	o->usage = csi_alloc(&ctx->arena, 2 * sizeof(*o->usage));
	o->usage[o->n_usage++] = usage(ctx, CSI__V1__VOLUME_USAGE__UNIT__BYTES, st.bytes_available,
				       st.bytes_total, st.bytes_used);
	if (!st.block)
		o->usage[o->n_usage++] = usage(ctx, CSI__V1__VOLUME_USAGE__UNIT__INODES,
					       st.inodes_free, st.inodes_total, st.inodes_used);
	o->volume_condition = CSI_NEW(ctx, volume_condition);
	o->volume_condition->abnormal = st.abnormal;
	o->volume_condition->message = csi_strdup(&ctx->arena, st.condition[0] ? st.condition :
						  (st.abnormal ? "abnormal" : "healthy"));
	*resp = &o->base;
	return 0;
}

int csi_node_expand_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
			   ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__NodeExpandVolumeRequest *q = (const void *)req;
	uint64_t bytes = 0;
	int r = check_volume_path(ctx, q->volume_id, q->volume_path, err);
	if (r < 0)
		return r;
	r = csi_check_path(ctx->svc, "volume_path", q->volume_path, true, err);
	if (r < 0)
		return r;
	r = csi_check_path(ctx->svc, "staging_target_path", q->staging_target_path, false, err);
	if (r < 0)
		return r;
	if (q->capacity_range && (q->capacity_range->required_bytes < 0 ||
				  q->capacity_range->limit_bytes < 0))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: capacity_range has a negative value", q->volume_id);
	if (q->capacity_range && q->capacity_range->required_bytes > 0)
		bytes = (uint64_t)q->capacity_range->required_bytes; /* the size the volume grew to */
	if (!ctx->svc->dry_run)
		r = pv_engine_expand(ctx->svc->engine, q->volume_id, q->volume_path, &bytes, err);
	if (r < 0)
		return r;
	if (q->capacity_range && q->capacity_range->limit_bytes > 0 &&
	    bytes > (uint64_t)q->capacity_range->limit_bytes)
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "volume %s: the filesystem is %llu bytes, above limit_bytes %lld",
				  q->volume_id, (unsigned long long)bytes,
				  (long long)q->capacity_range->limit_bytes);
	Csi__V1__NodeExpandVolumeResponse *o = CSI_NEW(ctx, node_expand_volume_response);
	o->capacity_bytes = (int64_t)bytes;
	*resp = &o->base;
	return 0;
}

int csi_node_get_capabilities(struct csi_ctx *ctx, const ProtobufCMessage *req,
			      ProtobufCMessage **resp, struct pv_err *err)
{
	(void)req;
	(void)err;
	static const int caps[] = {
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_MOUNT_GROUP,
	};
	size_t n = sizeof(caps) / sizeof(caps[0]);
	Csi__V1__NodeGetCapabilitiesResponse *o = CSI_NEW(ctx, node_get_capabilities_response);
	o->capabilities = csi_alloc(&ctx->arena, n * sizeof(*o->capabilities));
	for (size_t i = 0; i < n; i++) {
		Csi__V1__NodeServiceCapability *c = CSI_NEW(ctx, node_service_capability);
		c->type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
		c->rpc = CSI_NEW(ctx, node_service_capability__rpc);
		c->rpc->type = caps[i];
		o->capabilities[i] = c;
	}
	o->n_capabilities = n;
	*resp = &o->base;
	return 0;
}

int csi_node_get_info(struct csi_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
		      struct pv_err *err)
{
	(void)req;
	(void)err;
	Csi__V1__NodeGetInfoResponse *o = CSI_NEW(ctx, node_get_info_response);
	o->node_id = csi_strdup(&ctx->arena, ctx->svc->cfg->node_id);
	o->max_volumes_per_node = ctx->svc->max_volumes;
	if (csi_serves_node_local(ctx->svc))   /* its volumes are reachable from this node only */
		o->accessible_topology = csi_node_topology(ctx);
	*resp = &o->base;
	return 0;
}

Csi__V1__Topology *csi_node_topology(struct csi_ctx *ctx)
{
	struct pv_map m = {0};
	Csi__V1__Topology *t = CSI_NEW(ctx, topology);
	pv_map_set(&m, PV_TOPOLOGY_NODE_KEY, ctx->svc->cfg->node_id);
	t->segments = (void *)csi_map_out(&ctx->arena, &csi__v1__topology__segments_entry__descriptor, &m,
					  &t->n_segments);
	pv_map_free(&m);
	return t;
}
