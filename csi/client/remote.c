/*
 * pvctl_csi.c — `pvctl --endpoint unix:///path ...`: pvctl's commands sent to a running
 * pvnode over CSI instead of run in-process, like the csc tool.
 *
 *   info                                   plugin info, capabilities, probe, node info
 *   create -f FILE|-                       CreateVolume with the PV's parameters
 *   get [NAME]                             ListVolumes
 *   delete NAME                            DeleteVolume
 *   stage NAME [--access-mode M] [--staging-path DIR] [--mount-flag OPT]...
 *   publish NAME TARGET [--readonly] [--access-mode M] [--selinux-level L] [--pod ID]
 *           [--mount-flag OPT]... [--staging-path DIR] [-o json]
 *   unpublish NAME TARGET
 *   unstage NAME [--staging-path DIR]
 *   stats NAME [PATH]                      NodeGetVolumeStats (PATH: the staging path)
 *   expand NAME --capacity SIZE            ControllerExpandVolume, then NodeExpandVolume
 *   fence-release NAME --node ID           ControllerUnpublishVolume (driver fence_release)
 *
 * The node calls need the volume's description: it comes from ListVolumes (the
 * volume_context CreateVolume returned), exactly what a CO would pass. Without
 * --staging-path the staging path is <first allowed path>/plugins/pvnode.csi.io/staging/NAME.
 * Exit statuses are those of the in-process commands (the status code maps back to
 * the error kind).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

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
				  cl->o->endpoint);
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
void pcsi_staging_default(const struct cli *cl, const char *name, char *buf, size_t len)
{
	const char *root = cl->o->cfg.n_allowed_paths ? cl->o->cfg.allowed_paths[0] : "/var/lib/kubelet";
	snprintf(buf, len, "%s/plugins/" CSI_PLUGIN_NAME "/staging/%s", root, name);
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
		     const char *selinux_level, char *const *flags, size_t n_flags)
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
	for (size_t i = 0; i < n_flags && i < 16; i++)
		b->flags[b->mount.n_mount_flags++] = flags[i];
	if (selinux_level && *selinux_level) {
		snprintf(b->flag, sizeof(b->flag), "context=\"system_u:object_r:container_file_t:%s\"",
			 selinux_level);
		b->flags[b->mount.n_mount_flags++] = b->flag;
	}
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
			f->vol = v;
			return r;
		}
		if (!*f->list->next_token)
			break;
		snprintf(token, sizeof(token), "%s", f->list->next_token);
	}
	return pv_err_set(&cl->err, -ENOENT, PV_E_NOT_FOUND, "volume %s: no such volume on %s", name,
			  cl->o->endpoint);
}

int pcsi_finish(struct cli *cl, int r)
{
	if (r < 0)
		return pvctl_fail(&cl->err);
	return PVCTL_OK;
}


int pcsi_parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},
		{"access-mode", required_argument, NULL, 'm'},
		{"staging-path", required_argument, NULL, 's'},
		{"selinux-level", required_argument, NULL, 'l'},
		{"readonly", no_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},
		{"mount-flag", required_argument, NULL, 'F'},
		{"pod", required_argument, NULL, 'p'},
		{"relabel", no_argument, NULL, 'R'},
		{"capacity", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'x'},
		{0},
	};
	int c;
	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': a->file = optarg; break;
		case 'm': a->access = optarg; break;
		case 's': a->staging = optarg; break;
		case 'l': a->selinux = optarg; break;
		case 'r': a->readonly = true; break;
		case 'o': a->output = optarg; break;
		case 'p': a->pod = optarg; break;
		case 'R': a->relabel = true; break;
		case 'c': a->capacity = optarg; break;
		case 'n': a->node = optarg; break;
		case 'x': a->force = true; break;
		case 'F':
			if (a->n_flags == 16)
				return pvctl_usage("%s: at most 16 --mount-flag options", argv[0]);
			a->flags[a->n_flags++] = optarg;
			break;
		default: return pvctl_usage("%s: unknown option", argv[0]);
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 4)
			return pvctl_usage("%s: too many arguments", argv[0]);
		a->pos[a->npos++] = argv[i];
	}
	if (a->access && pv_access_parse(a->access, &a->mode) < 0)
		return pvctl_usage("--access-mode %s: expected one of %s", a->access, PV_ACCESS_ALLOWED);
	if (a->output && strcmp(a->output, "json") != 0 && strcmp(a->output, "text") != 0)
		return pvctl_usage("-o %s: expected json or text", a->output);
	if (a->staging && !pv_path_clean(a->staging))
		return pvctl_usage("--staging-path %s: expected a clean absolute path", a->staging);
	if (a->relabel)
		return pvctl_usage("%s: --relabel is not expressible over CSI; run it without --endpoint",
				   argv[0]);
	if (a->force)
		return pvctl_usage("%s: --force is not expressible over CSI: unpublish and unstage first",
				   argv[0]);
	return 0;
}

bool pcsi_json_out(const struct args *a)
{
	return a->output && strcmp(a->output, "json") == 0;
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

static int cmd_info(struct cli *cl, int argc, char **argv)
{
	struct args a;
	int r = pcsi_parse_args(argc, argv, &a);
	if (r)
		return r;
	Csi__V1__GetPluginInfoRequest q1 = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
	Csi__V1__GetPluginCapabilitiesRequest q2 = CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT;
	Csi__V1__ProbeRequest q3 = CSI__V1__PROBE_REQUEST__INIT;
	Csi__V1__ControllerGetCapabilitiesRequest q4 = CSI__V1__CONTROLLER_GET_CAPABILITIES_REQUEST__INIT;
	Csi__V1__NodeGetCapabilitiesRequest q5 = CSI__V1__NODE_GET_CAPABILITIES_REQUEST__INIT;
	Csi__V1__NodeGetInfoRequest q6 = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
	_msg_ Csi__V1__GetPluginInfoResponse *info = NULL;
	_msg_ Csi__V1__GetPluginCapabilitiesResponse *pcaps = NULL;
	_msg_ Csi__V1__ProbeResponse *probe = NULL;
	_msg_ Csi__V1__ControllerGetCapabilitiesResponse *ccaps = NULL;
	_msg_ Csi__V1__NodeGetCapabilitiesResponse *ncaps = NULL;
	_msg_ Csi__V1__NodeGetInfoResponse *ninfo = NULL;
	if ((r = pcsi_call(cl, "/csi.v1.Identity/GetPluginInfo", &q1,
		      &csi__v1__get_plugin_info_response__descriptor, &info)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Identity/GetPluginCapabilities", &q2,
		      &csi__v1__get_plugin_capabilities_response__descriptor, &pcaps)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Identity/Probe", &q3, &csi__v1__probe_response__descriptor,
		      &probe)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Controller/ControllerGetCapabilities", &q4,
		      &csi__v1__controller_get_capabilities_response__descriptor, &ccaps)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Node/NodeGetCapabilities", &q5,
		      &csi__v1__node_get_capabilities_response__descriptor, &ncaps)) < 0 ||
	    (r = pcsi_call(cl, "/csi.v1.Node/NodeGetInfo", &q6, &csi__v1__node_get_info_response__descriptor,
		      &ninfo)) < 0)
		return pcsi_finish(cl, r);
	if (pcsi_json_out(&a)) {
		_cleanup_(pv_freep) char *s1 = csi_msg_to_json(&info->base, false);
		_cleanup_(pv_freep) char *s2 = csi_msg_to_json(&pcaps->base, false);
		_cleanup_(pv_freep) char *s3 = csi_msg_to_json(&probe->base, false);
		_cleanup_(pv_freep) char *s4 = csi_msg_to_json(&ccaps->base, false);
		_cleanup_(pv_freep) char *s5 = csi_msg_to_json(&ncaps->base, false);
		_cleanup_(pv_freep) char *s6 = csi_msg_to_json(&ninfo->base, false);
		printf("{\"pluginInfo\": %s, \"pluginCapabilities\": %s, \"probe\": %s, "
		       "\"controllerCapabilities\": %s, \"nodeCapabilities\": %s, \"nodeInfo\": %s}\n",
		       s1, s2, s3, s4, s5, s6);
		return PVCTL_OK;
	}
	printf("plugin:         %s %s\n", info->name, info->vendor_version);
	printf("ready:          %s\n", !probe->ready || probe->ready->value ? "yes" : "no");
	printf("plugin caps:   ");
	for (size_t i = 0; i < pcaps->n_capabilities; i++) {
		const Csi__V1__PluginCapability *c = pcaps->capabilities[i];
		if (c->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE)
			printf(" %s", enum_name(&csi__v1__plugin_capability__service__type__descriptor,
						c->service->type));
		else if (c->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION)
			printf(" VOLUME_EXPANSION_%s",
			       enum_name(&csi__v1__plugin_capability__volume_expansion__type__descriptor,
					 c->volume_expansion->type));
	}
	printf("\ncontroller:    ");
	for (size_t i = 0; i < ccaps->n_capabilities; i++)
		if (ccaps->capabilities[i]->type_case == CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC)
			printf(" %s", enum_name(&csi__v1__controller_service_capability__rpc__type__descriptor,
						ccaps->capabilities[i]->rpc->type));
	printf("\nnode:          ");
	for (size_t i = 0; i < ncaps->n_capabilities; i++)
		if (ncaps->capabilities[i]->type_case == CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC)
			printf(" %s", enum_name(&csi__v1__node_service_capability__rpc__type__descriptor,
						ncaps->capabilities[i]->rpc->type));
	printf("\nnode id:        %s (max volumes %lld)\n", ninfo->node_id,
	       (long long)ninfo->max_volumes_per_node);
	return PVCTL_OK;
}

static int read_input(const char *file, char **text, size_t *len, struct pv_err *err)
{
	if (strcmp(file, "-") != 0)
		return pv_read_file(file, text, len, err);
	size_t cap = 0;
	FILE *m = open_memstream(text, &cap);
	char buf[4096];
	size_t n;
	if (!m)
		return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory reading standard input");
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		fwrite(buf, 1, n, m);
	fclose(m);
	*len = cap;
	return 0;
}

/* CreateVolume from a PV file: parameters carry driver, fsType, gid and attributes. */
static int cmd_create(struct cli *cl, int argc, char **argv)
{
	struct args a;
	int r = pcsi_parse_args(argc, argv, &a);
	if (r)
		return r;
	if (!a.file || a.npos)
		return pvctl_usage("create: usage: pvctl --endpoint E create -f FILE");
	_cleanup_(pv_freep) char *text = NULL;
	size_t len;
	struct pv pv;
	pv_init(&pv);
	if ((r = read_input(a.file, &text, &len, &cl->err)) < 0 ||
	    (r = pv_parse_json(text, &pv, &cl->err)) < 0) {
		pv_free(&pv);
		return pcsi_finish(cl, r);
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
		pv_secrets_store_load(cl->o->cfg.state_dir, pv.secret_ref, &sec, NULL);

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
		if (pcsi_json_out(&a)) {
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

static int cmd_get(struct cli *cl, int argc, char **argv)
{
	struct args a;
	int r = pcsi_parse_args(argc, argv, &a);
	if (r)
		return r;
	if (a.npos > 1)
		return pvctl_usage("get: usage: pvctl --endpoint E get [NAME] [-o json]");
	if (a.npos == 1) {
		struct found f;
		r = pcsi_find_volume(cl, a.pos[0], &f);
		if (r == 0) {
			if (pcsi_json_out(&a)) {
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
	printf("%s", pcsi_json_out(&a) ? "[" : "");
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
			if (pcsi_json_out(&a)) {
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
	printf("%s", pcsi_json_out(&a) ? "]\n" : "");
	return PVCTL_OK;
}

static int cmd_delete(struct cli *cl, int argc, char **argv)
{
	struct args a;
	int r = pcsi_parse_args(argc, argv, &a);
	if (r)
		return r;
	if (a.npos != 1)
		return pvctl_usage("delete: usage: pvctl --endpoint E delete NAME");
	Csi__V1__DeleteVolumeRequest q = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
	_msg_ Csi__V1__DeleteVolumeResponse *resp = NULL;
	q.volume_id = a.pos[0];
	r = pcsi_call(cl, "/csi.v1.Controller/DeleteVolume", &q,
		 &csi__v1__delete_volume_response__descriptor, &resp);
	if (r == 0)
		printf("volume %s deleted\n", a.pos[0]);
	return pcsi_finish(cl, r);
}

int pvctl_csi_run(const struct pvctl_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *, int, char **);
	} cmds[] = {
		{"info", cmd_info}, {"create", cmd_create}, {"get", cmd_get}, {"delete", cmd_delete},
		{"stage", pcsi_cmd_stage}, {"publish", pcsi_cmd_publish}, {"unpublish", pcsi_cmd_unpublish},
		{"unstage", pcsi_cmd_unstage}, {"stats", pcsi_cmd_stats}, {"expand", pcsi_cmd_expand},
		{"fence-release", pcsi_cmd_fence_release},
	};
	if (argc < 1)
		return pvctl_usage("a command is required");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].name) != 0)
			continue;
		struct cli cl = {.o = o};
		if (csi_client_open(o->endpoint, &cl.c) < 0)
			return pvctl_usage("--endpoint %s: expected unix:///absolute/path", o->endpoint);
		int r = cmds[i].fn(&cl, argc, argv);
		csi_client_close(cl.c);
		return r;
	}
	return pvctl_usage("%s: not a command pvctl can send over CSI (info, create, get, delete, "
			   "stage, publish, unpublish, unstage, stats, expand, fence-release)", argv[0]);
}
