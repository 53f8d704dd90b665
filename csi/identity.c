/*
 * identity.c — the CSI Identity service: plugin name (--driver-name) and version, plugin
 * capabilities (CONTROLLER_SERVICE unless --role node; VOLUME_ACCESSIBILITY_CONSTRAINTS
 * where it serves node-local storage), and Probe (ready only when the state directory
 * is usable).
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h"
#include "csi.h"

int csi_identity_get_plugin_info(struct csi_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, struct pv_err *err)
{
	(void)req;
	(void)err;
	Csi__V1__GetPluginInfoResponse *r = CSI_NEW(ctx, get_plugin_info_response);
	r->name = csi_strdup(&ctx->arena, csi_driver_name(ctx->svc));
	r->vendor_version = PV_VERSION;
	*resp = &r->base;
	return 0;
}

static Csi__V1__PluginCapability *service_cap(struct csi_ctx *ctx, int type)
{
	Csi__V1__PluginCapability *c = CSI_NEW(ctx, plugin_capability);
	c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
	c->service = CSI_NEW(ctx, plugin_capability__service);
	c->service->type = type;
	return c;
}

int csi_identity_get_plugin_capabilities(struct csi_ctx *ctx, const ProtobufCMessage *req,
					 ProtobufCMessage **resp, struct pv_err *err)
{
	(void)req;
	(void)err;
	Csi__V1__GetPluginCapabilitiesResponse *r = CSI_NEW(ctx, get_plugin_capabilities_response);
	r->capabilities = csi_alloc(&ctx->arena, 3 * sizeof(*r->capabilities));
	if (csi_serves(ctx->svc, CSI_SVC_CONTROLLER))
		r->capabilities[r->n_capabilities++] =
			service_cap(ctx, CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE);
	if (csi_serves_node_local(ctx->svc))
		r->capabilities[r->n_capabilities++] =
			service_cap(ctx, CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS);

	Csi__V1__PluginCapability *c = CSI_NEW(ctx, plugin_capability);
	c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
	c->volume_expansion = CSI_NEW(ctx, plugin_capability__volume_expansion);
	c->volume_expansion->type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
	r->capabilities[r->n_capabilities++] = c;
	*resp = &r->base;
	return 0;
}

int csi_identity_probe(struct csi_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp,
		       struct pv_err *err)
{
	(void)req;
	(void)err;
	struct stat st;
	const char *dir = ctx->svc->cfg->state_dir;
	Csi__V1__ProbeResponse *r = CSI_NEW(ctx, probe_response);
	r->ready = csi_new(ctx, &google__protobuf__bool_value__descriptor);
	/* ready only when the journal can be written: a full state filesystem would make
	 * every stage and unpublish fail half-way */
	struct statvfs vfs;
	r->ready->value = stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, R_OK | W_OK | X_OK) == 0 &&
			  statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize >= CSI_MIN_FREE_BYTES &&
			  (vfs.f_files == 0 || vfs.f_favail > 16);
	*resp = &r->base;
	return 0;
}
