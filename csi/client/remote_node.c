/*
 * remote_node.c — pvctl's node commands over CSI: stage, publish, unpublish, unstage,
 * stats, expand (ControllerExpandVolume then NodeExpandVolume) and fence-release
 * (ControllerUnpublishVolume). Each finds the volume through ListVolumes and passes its
 * volume_context, exactly as a CO would.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "remote.h"

/* What stage and publish share: the volume, its capability and its context. */
struct nodereq {
	struct found f;
	struct capbuf cap;
	struct csi_arena ar;
	char staging[PATH_MAX];
	void **ctx;
	size_t n_ctx;
};

/* Where pvnode staged the volume, from the node journal it keeps in the state directory:
 * pvctl reaches pvnode over a unix socket, so it runs on that node and (with the same
 * --state-dir) reads the daemon's own record, whoever staged the volume (pvctl or a
 * kubelet). False when that directory or the volume's record is not there. */
static bool recorded_staging(const struct pvctl *p, const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];
	struct pv_engine *e = NULL;
	struct pv_volume_state st;
	bool found;

	snprintf(dir, sizeof(dir), "%s/journal", p->cfg.state_dir);
	if (access(dir, R_OK | X_OK) < 0 || pv_engine_open(&p->cfg, &e, NULL) < 0)
		return false;
	int r = pv_engine_state(e, name, &st, NULL);
	found = r == 0 && st.phase == PV_NODE_STAGED && st.staging_path[0];
	if (found)
		snprintf(buf, len, "%s", st.staging_path);
	if (r == 0)
		pv_volume_state_free(&st);
	pv_engine_close(e);
	return found;
}

/* The path a node call names: an explicit one (PATH argument), --staging-path, where
 * the volume is staged (stage: never, it is what is asked), else the staging path pvctl
 * uses over CSI. */
static void staging_of(const struct pvctl *p, const struct pvctl_req *a, const char *explicit_path, char *buf,
		       size_t len)
{
	if (explicit_path)
		snprintf(buf, len, "%s", explicit_path);
	else if (a->staging)
		snprintf(buf, len, "%s", a->staging);
	else if (strcmp(a->cmd, "stage") == 0 || !recorded_staging(p, a->name, buf, len))
		pvctl_default_staging(p, a->name, buf, len);
}

static int nodereq_prepare(struct cli *cl, const struct pvctl_req *a, const char *name, struct nodereq *n)
{
	memset(n, 0, sizeof(*n));
	int r = pcsi_find_volume(cl, name, &n->f);
	if (r < 0)
		return r;
	enum pv_access mode = a->access;
	for (int m = PV_RWO; !mode && m <= PV_RWOP; m++)
		if (n->f.pv.access_modes & PV_ACCESS_BIT(m))
			mode = m;
	pcsi_cap_fill(&n->cap, mode, n->f.pv.volume_mode == PV_VOLUME_BLOCK, n->f.pv.fs_type, a->selinux_level,
		      a->flags, a->n_flags);
	/* The volume context as ListVolumes gave it, plus the pod identity (--pod) the way
	 * kubelet passes it with podInfoOnMount. */
	struct pv_map m = {0};
	for (size_t i = 0; i < n->f.vol->n_volume_context; i++)
		pv_map_set(&m, n->f.vol->volume_context[i]->key, n->f.vol->volume_context[i]->value);
	if (a->pod)
		pv_map_set(&m, "csi.storage.k8s.io/pod.uid", a->pod);
	n->ctx = (void *)csi_map_out(&n->ar, &csi__v1__volume__volume_context_entry__descriptor, &m,
				     &n->n_ctx);
	pv_map_free(&m);
	staging_of(cl->p, a, NULL, n->staging, sizeof(n->staging));
	return 0;
}

static void nodereq_free(struct nodereq *n)
{
	pcsi_found_free(&n->f);
	csi_arena_free(&n->ar);
}

int pcsi_stage(struct pvctl *p, const struct pvctl_req *a)
{
	struct cli cl0, *cl = &cl0;
	struct nodereq n;
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	if (a->readonly) {
		pcsi_close(cl);
		return pvctl_usage("stage: --readonly is not expressible over CSI: use --access-mode ROX");
	}
	r = nodereq_prepare(cl, a, a->name, &n);
	if (r == 0) {
		Csi__V1__NodeStageVolumeRequest q = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
		_msg_ Csi__V1__NodeStageVolumeResponse *resp = NULL;
		q.volume_id = (char *)a->name;
		q.staging_target_path = n.staging;
		q.volume_capability = &n.cap.cap;
		q.volume_context = (void *)n.ctx;
		q.n_volume_context = n.n_ctx;
		/* The PV's secrets (CHAP) travel as CSI secrets, as a CO sends nodeStageSecretRef;
		 * the store is local when pvctl runs on the node. */
		struct pv_secrets sec;
		pv_secrets_init(&sec);
		if (n.f.pv.secret_ref)
			pv_secrets_store_load(p->cfg.state_dir, n.f.pv.secret_ref, &sec, NULL);
		q.secrets = (void *)csi_map_out(&n.ar, &csi__v1__node_stage_volume_request__secrets_entry__descriptor,
						&sec.map, &q.n_secrets);
		r = pcsi_call(cl, "/csi.v1.Node/NodeStageVolume", &q,
			 &csi__v1__node_stage_volume_response__descriptor, &resp);
		for (size_t i = 0; i < q.n_secrets; i++)
			explicit_bzero(q.secrets[i]->value, strlen(q.secrets[i]->value));
		pv_secrets_free(&sec);
		if (r == 0)
			printf("volume %s staged at %s\n", a->name, n.staging);
	}
	nodereq_free(&n);
	return pcsi_finish(cl, r);
}

int pcsi_publish(struct pvctl *p, const struct pvctl_req *a)
{
	struct cli cl0, *cl = &cl0;
	struct nodereq n;
	if (a->relabel)
		return pvctl_usage("publish: --relabel is not expressible over CSI; run it without --endpoint");
	if (!pv_path_clean(a->target))
		return pvctl_usage("publish: TARGET %s is not a clean absolute path", a->target);
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	r = nodereq_prepare(cl, a, a->name, &n);
	if (r == 0) {
		Csi__V1__NodePublishVolumeRequest q = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
		_msg_ Csi__V1__NodePublishVolumeResponse *resp = NULL;
		q.volume_id = (char *)a->name;
		q.staging_target_path = n.staging;
		q.target_path = (char *)a->target;
		q.readonly = a->readonly;
		q.volume_capability = &n.cap.cap;
		q.volume_context = (void *)n.ctx;
		q.n_volume_context = n.n_ctx;
		r = pcsi_call(cl, "/csi.v1.Node/NodePublishVolume", &q,
			 &csi__v1__node_publish_volume_response__descriptor, &resp);
		if (r == 0)
			pvctl_print_publish(a->name, a->target, pvctl_json(a),
					    a->readonly || n.f.pv.access_modes == PV_ACCESS_BIT(PV_ROX), NULL, NULL, 0);
	}
	nodereq_free(&n);
	return pcsi_finish(cl, r);
}

/* Open, make one call whose answer carries nothing to show, close: 0 or the exit status. */
static int one_call(struct pvctl *p, const char *method, const void *q, const ProtobufCMessageDescriptor *rd)
{
	struct cli cl;
	ProtobufCMessage *resp = NULL;
	int r = pcsi_open(&cl, p);

	if (r)
		return r;
	r = pcsi_call(&cl, method, q, rd, &resp);
	pcsi_free_msg(&resp);
	return pcsi_finish(&cl, r);
}

int pcsi_unpublish(struct pvctl *p, const struct pvctl_req *a)
{
	Csi__V1__NodeUnpublishVolumeRequest q = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	q.volume_id = (char *)a->name;
	q.target_path = (char *)a->target;
	int r = one_call(p, "/csi.v1.Node/NodeUnpublishVolume", &q, &csi__v1__node_unpublish_volume_response__descriptor);
	if (r == 0)
		printf("volume %s unpublished from %s\n", a->name, a->target);
	return r;
}

int pcsi_unstage(struct pvctl *p, const struct pvctl_req *a)
{
	Csi__V1__NodeUnstageVolumeRequest q = CSI__V1__NODE_UNSTAGE_VOLUME_REQUEST__INIT;
	char staging[PATH_MAX];
	staging_of(p, a, NULL, staging, sizeof(staging));
	q.volume_id = (char *)a->name;
	q.staging_target_path = staging;
	int r = one_call(p, "/csi.v1.Node/NodeUnstageVolume", &q, &csi__v1__node_unstage_volume_response__descriptor);
	if (r == 0)
		printf("volume %s unstaged\n", a->name);
	return r;
}

/* fence-release NAME --node ID: ControllerUnpublishVolume, which breaks the node's fence. */
int pcsi_fence_release(struct pvctl *p, const struct pvctl_req *a)
{
	Csi__V1__ControllerUnpublishVolumeRequest q = CSI__V1__CONTROLLER_UNPUBLISH_VOLUME_REQUEST__INIT;
	q.volume_id = (char *)a->name;
	q.node_id = (char *)a->node;
	int r = one_call(p, "/csi.v1.Controller/ControllerUnpublishVolume", &q,
			 &csi__v1__controller_unpublish_volume_response__descriptor);
	if (r == 0)
		printf("volume %s: fence of node %s released\n", a->name, a->node);
	return r;
}

int pcsi_stats(struct pvctl *p, const struct pvctl_req *a)
{
	struct cli cl0, *cl = &cl0;
	char path[PATH_MAX];
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	staging_of(p, a, a->target, path, sizeof(path));
	Csi__V1__NodeGetVolumeStatsRequest q = CSI__V1__NODE_GET_VOLUME_STATS_REQUEST__INIT;
	_msg_ Csi__V1__NodeGetVolumeStatsResponse *resp = NULL;
	q.volume_id = (char *)a->name;
	q.volume_path = path;
	r = pcsi_call(cl, "/csi.v1.Node/NodeGetVolumeStats", &q,
		 &csi__v1__node_get_volume_stats_response__descriptor, &resp);
	if (r < 0)
		return pcsi_finish(cl, r);
	if (pvctl_json(a)) {
		pcsi_print_msg(resp);
		return pcsi_finish(cl, 0);
	}
	for (size_t i = 0; i < resp->n_usage; i++) {
		const Csi__V1__VolumeUsage *u = resp->usage[i];
		printf("%-7s total %lld used %lld available %lld\n",
		       u->unit == CSI__V1__VOLUME_USAGE__UNIT__INODES ? "inodes" : "bytes",
		       (long long)u->total, (long long)u->used, (long long)u->available);
	}
	if (resp->volume_condition)
		printf("condition: %s%s%s\n", resp->volume_condition->abnormal ? "abnormal" : "healthy",
		       *resp->volume_condition->message ? ": " : "", resp->volume_condition->message);
	return pcsi_finish(cl, 0);
}

int pcsi_expand(struct pvctl *p, const struct pvctl_req *a)
{
	struct cli cl0, *cl = &cl0;
	uint64_t bytes = a->capacity;
	char path[PATH_MAX];
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	Csi__V1__ControllerExpandVolumeRequest q = CSI__V1__CONTROLLER_EXPAND_VOLUME_REQUEST__INIT;
	Csi__V1__CapacityRange cr = CSI__V1__CAPACITY_RANGE__INIT;
	_msg_ Csi__V1__ControllerExpandVolumeResponse *resp = NULL;
	cr.required_bytes = (int64_t)bytes;
	q.volume_id = (char *)a->name;
	q.capacity_range = &cr;
	r = pcsi_call(cl, "/csi.v1.Controller/ControllerExpandVolume", &q,
		 &csi__v1__controller_expand_volume_response__descriptor, &resp);
	if (r < 0)
		return pcsi_finish(cl, r);
	uint64_t now = (uint64_t)resp->capacity_bytes;
	if (resp->node_expansion_required) {
		staging_of(p, a, NULL, path, sizeof(path));
		Csi__V1__NodeExpandVolumeRequest nq = CSI__V1__NODE_EXPAND_VOLUME_REQUEST__INIT;
		_msg_ Csi__V1__NodeExpandVolumeResponse *nresp = NULL;
		nq.volume_id = (char *)a->name;
		nq.volume_path = path;
		nq.staging_target_path = path;
		nq.capacity_range = &cr;
		r = pcsi_call(cl, "/csi.v1.Node/NodeExpandVolume", &nq,
			 &csi__v1__node_expand_volume_response__descriptor, &nresp);
		/* Not staged here: the node grows the filesystem at its next stage. */
		if (r < 0 && cl->err.kind != PV_E_NOT_FOUND)
			return pcsi_finish(cl, r);
		if (r == 0 && nresp->capacity_bytes)
			now = (uint64_t)nresp->capacity_bytes;
	}
	char q2[32];
	pv_quantity_format(now, q2, sizeof(q2));
	printf("volume %s is %s\n", a->name, q2);
	return pcsi_finish(cl, 0);
}
