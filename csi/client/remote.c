/*
 * remote.c — pvctl's CSI backend (pvctl-csi): the commands of a parsed pvctl command
 * line sent to a running pvnode over CSI instead of run in-process, like the csc tool.
 *
 *   info                 plugin info, capabilities, probe, node info
 *   create -f FILE|-     CreateVolume with the PV's parameters
 *   get [NAME]           ListVolumes
 *   delete NAME          DeleteVolume
 *   stage, publish, unpublish, unstage, stats, expand, fence-release (remote_node.c)
 *   snapshot create|list|delete (remote_snapshot.c)
 *
 * The node calls need the volume's description: it comes from ListVolumes (the
 * volume_context CreateVolume returned), exactly what a CO would pass. Without
 * --staging-path the staging path is <first allowed path>/plugins/pvnode.csi.io/staging/NAME.
 * Exit statuses are those of the in-process commands (the status code maps back to the
 * error kind in csi/status.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

int pcsi_open(struct cli *cl, struct pvctl *p)
{
	memset(cl, 0, sizeof(*cl));
	cl->p = p;
	if (csi_client_open(p->endpoint, &cl->c) < 0)
		return pvctl_usage("--endpoint %s: expected unix:///absolute/path", p->endpoint);
	return 0;
}

void pcsi_close(struct cli *cl)
{
	if (cl->c)
		csi_client_close(cl->c);
	cl->c = NULL;
}

int pcsi_call(struct cli *cl, const char *method, const void *req,
	      const ProtobufCMessageDescriptor *rd, void *resp)
{
	char details[PV_ERR_MSG_MAX];
	int st = csi_client_call(cl->c, method, req, rd, resp, details, sizeof(details), TIMEOUT_MS);
	if (st == 0)
		return 0;
	pv_err_clear(&cl->err);
	if (st < 0)
		return pv_err_set(&cl->err, -EIO, PV_E_UNAVAILABLE, "%s: cannot reach %s", method,
				  cl->p->endpoint);
	return pv_err_set(&cl->err, -EIO, csi_kind_from_status(st), "%s (%s)",
			  details[0] ? details : method, csi_status_name(st));
}

void pcsi_free_msg(void *pm)
{
	ProtobufCMessage **m = pm;
	if (*m)
		protobuf_c_message_free_unpacked(*m, NULL);
	*m = NULL;
}
static int csi_mode_of(enum pv_access a)
{
	switch (a) {
	case PV_ROX: return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
	case PV_RWX: return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER;
	case PV_RWOP: return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER;
	default: return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	}
}

void pcsi_cap_fill(struct capbuf *b, enum pv_access a, bool block, const char *fs,
		   const char *selinux_level, const char *const *flags, size_t n_flags)
{
	Csi__V1__VolumeCapability c = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__AccessMode m = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	Csi__V1__VolumeCapability__BlockVolume bv = CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT;
	b->cap = c;
	b->mode = m;
	b->mount = mv;
	b->block = bv;
	b->mode.mode = csi_mode_of(a);
	b->cap.access_mode = &b->mode;
	if (block) {
		b->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
		b->cap.block = &b->block;
		return;
	}
	b->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	b->cap.mount = &b->mount;
	b->mount.fs_type = (char *)(fs ? fs : "");
	b->mount.mount_flags = b->flags;
	for (size_t i = 0; i < n_flags && i < PVCTL_MAX_FLAGS; i++)
		b->flags[b->mount.n_mount_flags++] = (char *)flags[i];
	if (selinux_level && *selinux_level) {
		snprintf(b->flag, sizeof(b->flag), "context=\"system_u:object_r:container_file_t:%s\"",
			 selinux_level);
		b->flags[b->mount.n_mount_flags++] = b->flag;
	}
}

/* Where a volume's data came from: CreateVolume's content_source, which the
 * volume_context does not carry (get -o json / -o k8s print it back). */
static void source_in(const Csi__V1__Volume *v, struct pv *pv)
{
	const Csi__V1__VolumeContentSource *c = v->content_source;
	const char *id = NULL;
	if (c && c->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT && c->snapshot) {
		pv->source_kind = PV_SOURCE_SNAPSHOT;
		id = c->snapshot->snapshot_id;
	} else if (c && c->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME && c->volume) {
		pv->source_kind = PV_SOURCE_VOLUME;
		id = c->volume->volume_id;
	}
	if (id)
		snprintf(pv->source, sizeof(pv->source), "%s", id);
}

void pcsi_found_free(struct found *f)
{
	pv_free(&f->pv);
	pcsi_free_msg(&f->list);
}

int pcsi_find_volume(struct cli *cl, const char *name, struct found *f)
{
	char token[32] = "";
	pv_init(&f->pv);
	f->list = NULL;
	f->vol = NULL;
	for (;;) {
		Csi__V1__ListVolumesRequest q = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
		q.starting_token = token;
		pcsi_free_msg(&f->list);
		int r = pcsi_call(cl, "/csi.v1.Controller/ListVolumes", &q,
			     &csi__v1__list_volumes_response__descriptor, &f->list);
		if (r < 0)
			return r;
		for (size_t i = 0; i < f->list->n_entries; i++) {
			Csi__V1__Volume *v = f->list->entries[i]->volume;
			if (!v || strcmp(v->volume_id, name) != 0)
				continue;
			struct pv_map m = {0};
			for (size_t k = 0; k < v->n_volume_context; k++)
				pv_map_set(&m, v->volume_context[k]->key, v->volume_context[k]->value);
			r = pv_from_context(name, &m, &f->pv, &cl->err);
			pv_map_free(&m);
			if (r == 0)
				source_in(v, &f->pv);
			f->vol = v;
			return r;
		}
		if (!*f->list->next_token)
			break;
		snprintf(token, sizeof(token), "%s", f->list->next_token);
	}
	return pv_err_set(&cl->err, -ENOENT, PV_E_NOT_FOUND, "volume %s: no such volume on %s", name,
			  cl->p->endpoint);
}

int pcsi_finish(struct cli *cl, int r)
{
	pcsi_close(cl);
	if (r < 0)
		return pvctl_fail(&cl->err);
	return PVCTL_OK;
}


void pcsi_print_msg(const void *m)
{
	_cleanup_(pv_freep) char *s = csi_msg_to_json(m, true);
	printf("%s\n", s ? s : "{}");
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	return ev ? ev->name : "UNKNOWN";
}

/* What `info` asks: the Identity answers always; the Controller and Node ones where the
 * plugin serves them (a --role node pvnode has no Controller service, a controller no
 * Node service: those stay NULL). */
struct info {
	Csi__V1__GetPluginInfoResponse *info;
	Csi__V1__GetPluginCapabilitiesResponse *pcaps;
	Csi__V1__ProbeResponse *probe;
	Csi__V1__ControllerGetCapabilitiesResponse *ccaps;
	Csi__V1__NodeGetCapabilitiesResponse *ncaps;
	Csi__V1__NodeGetInfoResponse *ninfo;
};

static void info_free(struct info *i)
{
	pcsi_free_msg(&i->info);
	pcsi_free_msg(&i->pcaps);
	pcsi_free_msg(&i->probe);
	pcsi_free_msg(&i->ccaps);
	pcsi_free_msg(&i->ncaps);
	pcsi_free_msg(&i->ninfo);
}

static bool has_service(const Csi__V1__GetPluginCapabilitiesResponse *c, int type)
{
	for (size_t i = 0; i < c->n_capabilities; i++)
		if (c->capabilities[i]->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE &&
		    (int)c->capabilities[i]->service->type == type)
			return true;
	return false;
}

/* A call of a service the plugin may not serve: UNIMPLEMENTED leaves *resp NULL. */
static int optional_call(struct cli *cl, const char *method, const void *q, const ProtobufCMessageDescriptor *d,
			 void *resp)
{
	int r = pcsi_call(cl, method, q, d, resp);
	if (r < 0 && cl->err.kind == PV_E_UNSUPPORTED) {
		pv_err_clear(&cl->err);
		return 0;
	}
	return r;
}

static int info_fetch(struct cli *cl, struct info *i)
{
	Csi__V1__GetPluginInfoRequest q1 = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
	Csi__V1__GetPluginCapabilitiesRequest q2 = CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT;
	Csi__V1__ProbeRequest q3 = CSI__V1__PROBE_REQUEST__INIT;
	Csi__V1__ControllerGetCapabilitiesRequest q4 = CSI__V1__CONTROLLER_GET_CAPABILITIES_REQUEST__INIT;
	Csi__V1__NodeGetCapabilitiesRequest q5 = CSI__V1__NODE_GET_CAPABILITIES_REQUEST__INIT;
	Csi__V1__NodeGetInfoRequest q6 = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
	int r;

	if ((r = pcsi_call(cl, "/csi.v1.Identity/GetPluginInfo", &q1, &csi__v1__get_plugin_info_response__descriptor,
			   &i->info)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Identity/GetPluginCapabilities", &q2,
			   &csi__v1__get_plugin_capabilities_response__descriptor, &i->pcaps)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Identity/Probe", &q3, &csi__v1__probe_response__descriptor, &i->probe)) < 0)
		return r;
	if (has_service(i->pcaps, CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE) &&
	    (r = pcsi_call(cl, "/csi.v1.Controller/ControllerGetCapabilities", &q4,
			   &csi__v1__controller_get_capabilities_response__descriptor, &i->ccaps)) < 0)
		return r;
	if ((r = optional_call(cl, "/csi.v1.Node/NodeGetCapabilities", &q5,
			       &csi__v1__node_get_capabilities_response__descriptor, &i->ncaps)) < 0)
		return r;
	if (i->ncaps)
		r = pcsi_call(cl, "/csi.v1.Node/NodeGetInfo", &q6, &csi__v1__node_get_info_response__descriptor, &i->ninfo);
	return r;
}

static void info_json(const struct info *i)
{
	const ProtobufCMessage *m[] = { &i->info->base, &i->pcaps->base, &i->probe->base,
					i->ccaps ? &i->ccaps->base : NULL, i->ncaps ? &i->ncaps->base : NULL,
					i->ninfo ? &i->ninfo->base : NULL };
	const char *keys[] = { "pluginInfo", "pluginCapabilities", "probe", "controllerCapabilities",
			       "nodeCapabilities", "nodeInfo" };
	printf("{");
	for (size_t k = 0; k < 6; k++) {
		_cleanup_(pv_freep) char *s = m[k] ? csi_msg_to_json(m[k], false) : NULL;
		printf("%s\"%s\": %s", k ? ", " : "", keys[k], s ? s : "null");
	}
	printf("}\n");
}

static void info_text(const struct info *i)
{
	printf("plugin:         %s %s\n", i->info->name, i->info->vendor_version);
	printf("ready:          %s\n", !i->probe->ready || i->probe->ready->value ? "yes" : "no");
	printf("plugin caps:   ");
	for (size_t k = 0; k < i->pcaps->n_capabilities; k++) {
		const Csi__V1__PluginCapability *c = i->pcaps->capabilities[k];
		if (c->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE)
			printf(" %s", enum_name(&csi__v1__plugin_capability__service__type__descriptor, c->service->type));
		else if (c->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION)
			printf(" VOLUME_EXPANSION_%s",
			       enum_name(&csi__v1__plugin_capability__volume_expansion__type__descriptor,
					 c->volume_expansion->type));
	}
	printf("\ncontroller:    ");
	for (size_t k = 0; i->ccaps && k < i->ccaps->n_capabilities; k++)
		if (i->ccaps->capabilities[k]->type_case == CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC)
			printf(" %s", enum_name(&csi__v1__controller_service_capability__rpc__type__descriptor,
						i->ccaps->capabilities[k]->rpc->type));
	printf("%s\nnode:          ", i->ccaps ? "" : " (not served)");
	for (size_t k = 0; i->ncaps && k < i->ncaps->n_capabilities; k++)
		if (i->ncaps->capabilities[k]->type_case == CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC)
			printf(" %s", enum_name(&csi__v1__node_service_capability__rpc__type__descriptor,
						i->ncaps->capabilities[k]->rpc->type));
	printf("%s\n", i->ncaps ? "" : " (not served)");
	if (i->ninfo)
		printf("node id:        %s (max volumes %lld)\n", i->ninfo->node_id,
		       (long long)i->ninfo->max_volumes_per_node);
	for (size_t k = 0; i->ninfo && i->ninfo->accessible_topology && k < i->ninfo->accessible_topology->n_segments; k++)
		printf("topology:       %s=%s\n", i->ninfo->accessible_topology->segments[k]->key,
		       i->ninfo->accessible_topology->segments[k]->value);
}

static int cmd_info(struct pvctl *p, const struct pvctl_req *req)
{
	struct cli cl0, *cl = &cl0;
	struct info i = {0};
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	r = info_fetch(cl, &i);
	if (r == 0 && pvctl_json(req))
		info_json(&i);
	else if (r == 0)
		info_text(&i);
	info_free(&i);
	return pcsi_finish(cl, r);
}

/* CreateVolume from a PV file: parameters carry driver, fsType, gid and attributes. */
static int cmd_create(struct pvctl *p, const struct pvctl_req *req)
{
	struct cli cl0, *cl = &cl0;
	struct pv pv;
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	if (pvctl_read_pv(req->file, &pv, &cl->err) < 0) {
		pv_free(&pv);
		pcsi_close(cl);
		fprintf(stderr, "pvctl: %s: %s\n", req->file, cl->err.msg);
		return PVCTL_USAGE;
	}
	struct pv_map params = {0};
	char gid[24];
	pv_map_set(&params, "driver", pv.driver);
	if (pv.fs_type[0])
		pv_map_set(&params, "fsType", pv.fs_type);
	if (pv.gid >= 0) {
		snprintf(gid, sizeof(gid), "%ld", pv.gid);
		pv_map_set(&params, "gid", gid);
	}
	for (size_t i = 0; i < pv.attributes.n; i++)
		pv_map_set(&params, pv.attributes.items[i].key, pv.attributes.items[i].value);
	struct pv_secrets sec;
	pv_secrets_init(&sec);
	if (pv.secret_ref)   /* the store is local when pvctl runs on the node */
		pv_secrets_store_load(p->cfg.state_dir, pv.secret_ref, &sec, NULL);

	struct csi_arena ar = {0};
	Csi__V1__CreateVolumeRequest q = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__CapacityRange cr = CSI__V1__CAPACITY_RANGE__INIT;
	struct capbuf caps[PV_RWOP + 1];
	Csi__V1__VolumeCapability *capv[PV_RWOP + 1];
	q.name = pv.name;
	cr.required_bytes = (int64_t)pv.capacity;
	q.capacity_range = &cr;
	for (int m = PV_RWO; m <= PV_RWOP; m++) {
		if (!(pv.access_modes & PV_ACCESS_BIT(m)))
			continue;
		pcsi_cap_fill(&caps[q.n_volume_capabilities], m, pv.volume_mode == PV_VOLUME_BLOCK,
			 pv.fs_type, NULL, NULL, 0);
		capv[q.n_volume_capabilities] = &caps[q.n_volume_capabilities].cap;
		q.n_volume_capabilities++;
	}
	q.volume_capabilities = capv;
	q.parameters = (void *)csi_map_out(&ar, &csi__v1__create_volume_request__parameters_entry__descriptor,
					   &params, &q.n_parameters);
	q.secrets = (void *)csi_map_out(&ar, &csi__v1__create_volume_request__secrets_entry__descriptor,
					&sec.map, &q.n_secrets);
	_msg_ Csi__V1__CreateVolumeResponse *resp = NULL;
	r = pcsi_call(cl, "/csi.v1.Controller/CreateVolume", &q,
		 &csi__v1__create_volume_response__descriptor, &resp);
	for (size_t i = 0; i < q.n_secrets; i++)
		explicit_bzero(q.secrets[i]->value, strlen(q.secrets[i]->value));
	csi_arena_free(&ar);
	pv_map_free(&params);
	pv_secrets_free(&sec);
	if (r == 0) {
		if (pvctl_json(req)) {
			pcsi_print_msg(resp->volume);
		} else {
			char q2[32];
			pv_quantity_format((uint64_t)resp->volume->capacity_bytes, q2, sizeof(q2));
			printf("volume %s created (%s)\n", resp->volume->volume_id, q2);
		}
	}
	pv_free(&pv);
	return pcsi_finish(cl, r);
}

/* The node of a node-local volume, from its accessible_topology. */
static const char *topology_node(const Csi__V1__Volume *v)
{
	for (size_t i = 0; i < v->n_accessible_topology; i++)
		for (size_t k = 0; k < v->accessible_topology[i]->n_segments; k++)
			if (strcmp(v->accessible_topology[i]->segments[k]->key, PV_TOPOLOGY_NODE_KEY) == 0)
				return v->accessible_topology[i]->segments[k]->value;
	return NULL;
}

struct k8s_list {
	struct pv *pvs;
	char **nodes;
	size_t n;
};

static int k8s_add(struct k8s_list *l, const Csi__V1__Volume *v, struct pv_err *err)
{
	struct pv_map m = {0};
	struct pv *pvs = realloc(l->pvs, (l->n + 1) * sizeof(*pvs));
	char **nodes = pvs ? realloc(l->nodes, (l->n + 1) * sizeof(*nodes)) : NULL;
	if (pvs)
		l->pvs = pvs;
	if (nodes)
		l->nodes = nodes;
	if (!pvs || !nodes)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
	for (size_t k = 0; k < v->n_volume_context; k++)
		pv_map_set(&m, v->volume_context[k]->key, v->volume_context[k]->value);
	int r = pv_from_context(v->volume_id, &m, &l->pvs[l->n], err);
	pv_map_free(&m);
	if (r < 0)
		return r;
	source_in(v, &l->pvs[l->n]);
	const char *node = topology_node(v);
	l->nodes[l->n++] = node ? strdup(node) : NULL;
	return 0;
}

/* get [NAME] -o k8s over CSI: the PVs ListVolumes describes, as manifests. */
static int cmd_get_k8s(struct cli *cl, const struct pvctl_req *req)
{
	struct k8s_list l = {0};
	char token[32] = "";
	int r = 0;
	for (;;) {
		Csi__V1__ListVolumesRequest q = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
		_msg_ Csi__V1__ListVolumesResponse *resp = NULL;
		q.starting_token = token;
		if ((r = pcsi_call(cl, "/csi.v1.Controller/ListVolumes", &q, &csi__v1__list_volumes_response__descriptor,
				   &resp)) < 0)
			break;
		for (size_t i = 0; r == 0 && i < resp->n_entries; i++) {
			const Csi__V1__Volume *v = resp->entries[i]->volume;
			if (v && (!req->name || strcmp(v->volume_id, req->name) == 0))
				r = k8s_add(&l, v, &cl->err);
		}
		if (r < 0 || !*resp->next_token)
			break;
		snprintf(token, sizeof(token), "%s", resp->next_token);
	}
	if (r == 0 && req->name && !l.n)
		r = pv_err_set(&cl->err, -ENOENT, PV_E_NOT_FOUND, "volume %s: no such volume on %s", req->name,
			       cl->p->endpoint);
	if (r == 0)
		pvctl_print_k8s_pvs(l.pvs, (const char *const *)l.nodes, l.n, req->storage_class);
	for (size_t i = 0; i < l.n; i++) {
		pv_free(&l.pvs[i]);
		free(l.nodes[i]);
	}
	free(l.pvs);
	free(l.nodes);
	return pcsi_finish(cl, r);
}

static int cmd_get(struct pvctl *p, const struct pvctl_req *req)
{
	struct cli cl0, *cl = &cl0;
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	if (req->output && strcmp(req->output, "k8s") == 0)
		return cmd_get_k8s(cl, req);
	if (req->name) {
		struct found f;
		r = pcsi_find_volume(cl, req->name, &f);
		if (r == 0) {
			if (pvctl_json(req)) {
				_cleanup_(pv_freep) char *s = pv_to_json_text(&f.pv);
				fputs(s ? s : "{}\n", stdout);
			} else {
				char q[32];
				pv_quantity_format(f.pv.capacity, q, sizeof(q));
				printf("%-32s %-8s %-10s %s\n", f.pv.name, f.pv.driver, q,
				       f.pv.volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem");
			}
		}
		pcsi_found_free(&f);
		return pcsi_finish(cl, r);
	}
	char token[32] = "";
	printf("%s", pvctl_json(req) ? "[" : "");
	for (bool first = true;;) {
		Csi__V1__ListVolumesRequest q = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
		_msg_ Csi__V1__ListVolumesResponse *l = NULL;
		q.starting_token = token;
		r = pcsi_call(cl, "/csi.v1.Controller/ListVolumes", &q,
			 &csi__v1__list_volumes_response__descriptor, &l);
		if (r < 0)
			return pcsi_finish(cl, r);
		for (size_t i = 0; i < l->n_entries; i++) {
			const Csi__V1__Volume *v = l->entries[i]->volume;
			if (pvctl_json(req)) {
				_cleanup_(pv_freep) char *s = csi_msg_to_json(&v->base, false);
				printf("%s%s", first ? "" : ",", s);
			} else {
				char q2[32];
				pv_quantity_format((uint64_t)v->capacity_bytes, q2, sizeof(q2));
				printf("%-32s %s\n", v->volume_id, q2);
			}
			first = false;
		}
		if (!*l->next_token)
			break;
		snprintf(token, sizeof(token), "%s", l->next_token);
	}
	printf("%s", pvctl_json(req) ? "]\n" : "");
	return pcsi_finish(cl, 0);
}

static int cmd_delete(struct pvctl *p, const struct pvctl_req *req)
{
	struct cli cl0, *cl = &cl0;
	int r = pcsi_open(cl, p);
	if (r)
		return r;
	if (req->force) {
		pcsi_close(cl);
		return pvctl_usage("delete: --force is not expressible over CSI: unpublish and unstage first");
	}
	Csi__V1__DeleteVolumeRequest q = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
	_msg_ Csi__V1__DeleteVolumeResponse *resp = NULL;
	q.volume_id = (char *)req->name;
	r = pcsi_call(cl, "/csi.v1.Controller/DeleteVolume", &q,
		 &csi__v1__delete_volume_response__descriptor, &resp);
	if (r == 0)
		printf("volume %s deleted\n", req->name);
	return pcsi_finish(cl, r);
}

const struct pvctl_backend pvctl_remote = {
	.name = "CSI",
	.info = cmd_info,
	.create = cmd_create,
	.get = cmd_get,
	.delete_volume = cmd_delete,
	.expand = pcsi_expand,
	.stage = pcsi_stage,
	.publish = pcsi_publish,
	.unpublish = pcsi_unpublish,
	.unstage = pcsi_unstage,
	.stats = pcsi_stats,
	.fence_release = pcsi_fence_release,
	.snapshot_create = pcsi_snapshot_create,
	.snapshot_list = pcsi_snapshot_list,
	.snapshot_delete = pcsi_snapshot_delete,
};
