/*
 * identity.c — the CSI Identity service: plugin name and version, plugin capabilities,
 * and Probe (ready only when the state directory is usable).
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
	r->name = PV_CSI_DRIVER_NAME;
	r->vendor_version = PV_VERSION;
	*resp = &r->base;
	return 0;
}

int csi_identity_get_plugin_capabilities(struct csi_ctx *ctx, const ProtobufCMessage *req,
					 ProtobufCMessage **resp, struct pv_err *err)
{
	(void)req;
	(void)err;
	Csi__V1__GetPluginCapabilitiesResponse *r = CSI_NEW(ctx, get_plugin_capabilities_response);
	r->n_capabilities = 2;
	r->capabilities = csi_alloc(&ctx->arena, 2 * sizeof(*r->capabilities));

	Csi__V1__PluginCapability *c = CSI_NEW(ctx, plugin_capability);
	c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
	c->service = CSI_NEW(ctx, plugin_capability__service);
	c->service->type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
	r->capabilities[0] = c;

	c = CSI_NEW(ctx, plugin_capability);
	c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
	c->volume_expansion = CSI_NEW(ctx, plugin_capability__volume_expansion);
	c->volume_expansion->type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
	r->capabilities[1] = c;
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
