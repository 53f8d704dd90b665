/*
 * dispatch.c — the method table (which handler serves which CSI method path) and the
 * transport-free path of one call: decode the request, log it without its secrets,
 * run the handler, map its error to a status, encode the response.
 *
 * server.c feeds it bytes from gRPC; the fuzzer (tests/fuzz) feeds it bytes directly.
 */
#include <errno.h>
#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csi.h"
#include "pvnode/util.h"

#define M(svc, name, msg, fn, q) \
	{ "/csi.v1." #svc "/" name, CSI_SVC_KIND_##svc, &csi__v1__##msg##_request__descriptor, \
	  &csi__v1__##msg##_response__descriptor, fn, q }
#define CSI_SVC_KIND_Identity CSI_SVC_IDENTITY
#define CSI_SVC_KIND_Controller CSI_SVC_CONTROLLER
#define CSI_SVC_KIND_Node CSI_SVC_NODE

static const struct csi_method methods[] = {
	M(Identity, "GetPluginInfo", get_plugin_info, csi_identity_get_plugin_info, true),
	M(Identity, "GetPluginCapabilities", get_plugin_capabilities,
	  csi_identity_get_plugin_capabilities, true),
	M(Identity, "Probe", probe, csi_identity_probe, true),
	M(Controller, "CreateVolume", create_volume, csi_controller_create_volume, false),
	M(Controller, "DeleteVolume", delete_volume, csi_controller_delete_volume, false),
	M(Controller, "ControllerPublishVolume", controller_publish_volume,
	  csi_controller_publish_volume, false),
	M(Controller, "ControllerUnpublishVolume", controller_unpublish_volume,
	  csi_controller_unpublish_volume, false),
	M(Controller, "ValidateVolumeCapabilities", validate_volume_capabilities,
	  csi_controller_validate_volume_capabilities, false),
	M(Controller, "ListVolumes", list_volumes, csi_controller_list_volumes, true),
	M(Controller, "GetCapacity", get_capacity, csi_controller_get_capacity, true),
	M(Controller, "ControllerGetCapabilities", controller_get_capabilities,
	  csi_controller_get_capabilities, true),
	M(Controller, "ControllerExpandVolume", controller_expand_volume,
	  csi_controller_expand_volume, false),
	M(Node, "NodeStageVolume", node_stage_volume, csi_node_stage_volume, false),
	M(Node, "NodeUnstageVolume", node_unstage_volume, csi_node_unstage_volume, false),
	M(Node, "NodePublishVolume", node_publish_volume, csi_node_publish_volume, false),
	M(Node, "NodeUnpublishVolume", node_unpublish_volume, csi_node_unpublish_volume,
	  false),
	M(Node, "NodeGetVolumeStats", node_get_volume_stats, csi_node_get_volume_stats,
	  true),
	M(Node, "NodeExpandVolume", node_expand_volume, csi_node_expand_volume, false),
	M(Node, "NodeGetCapabilities", node_get_capabilities, csi_node_get_capabilities,
	  true),
	M(Node, "NodeGetInfo", node_get_info, csi_node_get_info, true),
	/* Appended, not grouped with the Controller's: a method's index is its fuzz corpus
	 * byte (tests/fuzz), so earlier entries keep theirs. */
	M(Controller, "CreateSnapshot", create_snapshot, csi_controller_create_snapshot, false),
	M(Controller, "DeleteSnapshot", delete_snapshot, csi_controller_delete_snapshot, false),
	M(Controller, "ListSnapshots", list_snapshots, csi_controller_list_snapshots, true),
};

const struct csi_method *csi_methods(size_t *n)
{
	*n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}

const struct csi_method *csi_method_find(const char *path)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].path, path) == 0)
			return &methods[i];
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *const role_names[] = { "all", "node", "controller" };
static const char *const service_names[] = { "Identity", "Controller", "Node" };

/* A method of a service this pvnode's role leaves out: UNIMPLEMENTED, as the spec
 * wants of a plugin without it. */
static int role_refusal(const struct csi_service *svc, const struct csi_method *m, char *msg, size_t msg_len)
{
	struct pv_err err = {0};
	pv_err_set(&err, -EOPNOTSUPP, PV_E_UNSUPPORTED,
		   "%s: this pvnode does not serve the CSI %s service (it runs with --role %s)",
		   strrchr(m->path, '/') + 1, service_names[m->service], role_names[svc->role]);
	snprintf(msg, msg_len, "%s", err.msg);
	pv_debug("%s", msg);
	return csi_status_from_err(&err);
}

/* Decode, log, run the handler, encode: the status code. */
static int dispatch_one(const struct csi_service *svc, const struct csi_method *m, const void *data, size_t len,
			void **out, size_t *out_len, char *msg, size_t msg_len, double t0)
{
	struct pv_err err = {0};
	struct csi_ctx ctx = {.svc = svc};
	ProtobufCMessage *resp = NULL;
	const char *name = strrchr(m->path, '/') + 1;
	enum pv_log_level lvl = m->quiet ? PV_LOG_DEBUG : PV_LOG_INFO;
	int status;

	ProtobufCMessage *req = protobuf_c_message_unpack(m->input, NULL, len, data);
	if (!req) {
		snprintf(msg, msg_len, "%s: the request is not a valid %s protobuf message (%zu bytes)",
			 name, m->input->name, len);
		pv_warn("%s", msg);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	_cleanup_(pv_freep) char *text = csi_msg_to_json(req, false);
	/* At most 4 KiB of a request reaches the log (oversize fields are refused below). */
	pv_log(lvl, "%s request %.4096s%s", name, text ? text : "{}",
	       text && strlen(text) > 4096 ? "..." : "");

	int r = m->handler(&ctx, req, &resp, &err);
	if (r < 0 || err.kind != PV_E_NONE) {
		if (err.kind == PV_E_NONE)
			err.kind = pv_err_kind_from_errno(r);
		status = csi_status_from_err(&err);
		if (status == GRPC_STATUS_OK)
			status = GRPC_STATUS_INTERNAL;
		snprintf(msg, msg_len, "%s", err.msg[0] ? err.msg : strerror(r < 0 ? -r : EIO));
		pv_log(status == GRPC_STATUS_INTERNAL ? PV_LOG_ERROR : PV_LOG_WARN,
		       "%s failed %s (%.1f ms): %s", name, csi_status_name(status), now_ms() - t0, msg);
	} else if (!resp) {
		status = GRPC_STATUS_INTERNAL;
		snprintf(msg, msg_len, "%s: the handler returned no response", name);
		pv_error("%s", msg);
	} else {
		size_t n = protobuf_c_message_get_packed_size(resp);
		*out = malloc(n ? n : 1);
		if (!*out)
			abort();
		*out_len = protobuf_c_message_pack(resp, *out);
		status = GRPC_STATUS_OK;
		pv_log(lvl, "%s ok (%.1f ms)", name, now_ms() - t0);
	}
	csi_arena_free(&ctx.arena);
	protobuf_c_message_free_unpacked(req, NULL);
	return status;
}

int csi_dispatch(const struct csi_service *svc, const struct csi_method *m,
		 const void *data, size_t len, void **out, size_t *out_len,
		 char *msg, size_t msg_len)
{
	double t0 = now_ms();
	int status;

	*out = NULL;
	*out_len = 0;
	msg[0] = '\0';
	if (!csi_serves(svc, m->service))
		status = role_refusal(svc, m, msg, msg_len);
	else
		status = dispatch_one(svc, m, data, len, out, out_len, msg, msg_len, t0);
	if (svc->metrics)
		csi_metrics_call(svc->metrics, (size_t)(m - methods), status, (now_ms() - t0) / 1e3);
	return status;
}
