/*
 * controller.c — the CSI Controller service's volume life cycle over the catalog:
 * CreateVolume, DeleteVolume, ValidateVolumeCapabilities, ListVolumes, GetCapacity and
 * ControllerGetCapabilities. (Publish, unpublish and expand are in
 * controller_publish.c.)
 *
 * CreateVolume turns its parameters into the PV JSON `pvctl create -f` reads and goes
 * through the same strict parser (pv_parse_json), so a StorageClass gets the same
 * refusals, with the same sentences, as an administrator. The volume id is the PV
 * name: the CreateVolume name itself when it is a valid id, else one derived from it
 * (csi_volume_id_for_name), the name kept in the reserved attribute pvnode.io/csiName.
 * The returned volume_context (pv_to_context) lets any node stage the volume without the
 * catalog. A pvnode serving one CSI driver name handles only that name's drivers; a
 * node-local volume is made on this node only, and says so in accessible_topology.
 * With a volume_content_source (snapshot.c loads it) the volume is a restore or a clone:
 * at least as big as its source, of its driver, fsType and volume mode unless the request
 * says otherwise (the controller refuses a mismatch), and the response echoes the source.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "csi.h"
#include "pvnode/catalog.h"
#include "pvnode/controller.h"
#include "pvnode/util.h"

/* Parameters CSI sidecars add (external-provisioner --extra-create-metadata). */
#define K8S_PARAM_PREFIX "csi.storage.k8s.io/"

static Csi__V1__Volume *volume_out(struct csi_ctx *ctx, const struct pv *pv, struct pv_err *err)
{
	struct pv_map m = {0};
	if (pv_to_context(pv, &m, err) < 0)
		return NULL;
	Csi__V1__Volume *v = CSI_NEW(ctx, volume);
	v->volume_id = csi_strdup(&ctx->arena, pv->name);
	v->capacity_bytes = (int64_t)pv->capacity;
	v->volume_context = (void *)csi_map_out(&ctx->arena, &csi__v1__volume__volume_context_entry__descriptor,
						&m, &v->n_volume_context);
	pv_map_free(&m);
	v->content_source = csi_source_out(ctx, pv);
	if (pv_driver_node_local(pv->driver)) {   /* it lives on this node's disk */
		v->accessible_topology = csi_alloc(&ctx->arena, sizeof(*v->accessible_topology));
		v->accessible_topology[0] = csi_node_topology(ctx);
		v->n_accessible_topology = 1;
	}
	return v;
}

/* The CSI name as the reserved attribute keeps it: '%', tab, LF and CR (which CSI names
 * may hold, attribute values not) percent-encoded. */
static void name_attribute(const char *name, char *buf, size_t len)
{
	size_t n = 0;
	for (const char *p = name; *p && n + 4 < len; p++) {
		if (*p == '%' || *p == '\t' || *p == '\n' || *p == '\r')
			n += (size_t)snprintf(buf + n, len - n, "%%%02X", (unsigned char)*p);
		else
			buf[n++] = *p;
	}
	buf[n] = '\0';
}

/* A segment allows this node when it names it, or says nothing of the node key. */
static bool segment_allows(const Csi__V1__Topology *t, const char *node)
{
	for (size_t i = 0; i < t->n_segments; i++)
		if (strcmp(t->segments[i]->key, PV_TOPOLOGY_NODE_KEY) == 0)
			return strcmp(t->segments[i]->value, node) == 0;
	return true;
}

/* A node-local volume is made here: accessibility_requirements (requisite, else
 * preferred) must allow this node, else RESOURCE_EXHAUSTED as the spec says. */
static int check_topology(const Csi__V1__CreateVolumeRequest *q, const char *id, const char *driver,
			  const char *node, struct pv_err *err)
{
	const Csi__V1__TopologyRequirement *t = q->accessibility_requirements;
	if (!t || !pv_driver_node_local(driver))
		return 0;
	Csi__V1__Topology **list = t->n_requisite ? t->requisite : t->preferred;
	size_t n = t->n_requisite ? t->n_requisite : t->n_preferred;
	for (size_t i = 0; i < n; i++)
		if (segment_allows(list[i], node))
			return 0;
	if (!n)
		return 0;
	return pv_err_set(err, -ENOSPC, PV_E_RESOURCE,
			  "volume %s: driver %s keeps a volume on the node that creates it (%s=%s), and the "
			  "request's accessibility_requirements %s exclude that node", id, driver,
			  PV_TOPOLOGY_NODE_KEY, node, t->n_requisite ? "requisite" : "preferred");
}

struct create_want {
	unsigned modes;
	bool block;
	uint64_t required, limit, size;
};

static int create_want(const Csi__V1__CreateVolumeRequest *q, const char *id, struct create_want *w,
		       const char **fs_type, struct pv_err *err)
{
	memset(w, 0, sizeof(*w));
	*fs_type = "";
	if (!q->n_volume_capabilities)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: volume_capabilities is required",
				  id);
	bool mount = false;
	for (size_t i = 0; i < q->n_volume_capabilities; i++) {
		struct csi_cap c;
		int r = csi_check_capability(id, q->volume_capabilities[i], &c, err);
		if (r < 0)
			return r;
		w->modes |= PV_ACCESS_BIT(c.access);
		if (c.block)
			w->block = true;
		else
			mount = true;
		if (*c.fs_type)
			*fs_type = c.fs_type;
	}
	if (w->block && mount)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_capabilities mix block and mount access", id);
	const Csi__V1__CapacityRange *cr = q->capacity_range;
	if (cr && (cr->required_bytes < 0 || cr->limit_bytes < 0))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: capacity_range has a negative value", id);
	w->required = cr ? (uint64_t)cr->required_bytes : 0;
	w->limit = cr ? (uint64_t)cr->limit_bytes : 0;
	if (w->limit && w->required > w->limit)
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "volume %s: required_bytes %llu is above limit_bytes %llu", id,
				  (unsigned long long)w->required, (unsigned long long)w->limit);
	w->size = w->required ? w->required : CSI_DEFAULT_CAPACITY;
	if (w->limit && w->size > w->limit)
		w->size = w->limit;
	return 0;
}

/* The PV JSON for a new volume, parsed by the same strict parser as pvctl create. */
static int create_pv(const Csi__V1__CreateVolumeRequest *q, const char *id, bool mapped,
		     const struct create_want *w, const char *cap_fs, const char *default_driver,
		     struct pv *out, struct pv_err *err)
{
	const char *driver = default_driver, *fs = NULL, *gid = NULL;
	json_t *attrs = json_object();
	if (mapped) {
		char kept[3 * PV_NAME_MAX + 1];
		name_attribute(q->name, kept, sizeof(kept));
		json_object_set_new(attrs, PV_ATTR_CSI_NAME, json_string(kept));
	}
	for (size_t i = 0; i < q->n_parameters; i++) {
		const char *k = q->parameters[i]->key, *v = q->parameters[i]->value;
		if (strcmp(k, "driver") == 0)
			driver = v;
		else if (strcmp(k, "fsType") == 0 || strcmp(k, "csi.storage.k8s.io/fstype") == 0)
			fs = v;
		else if (strcmp(k, "gid") == 0)
			gid = v;
		else if (strncmp(k, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX)) != 0 &&
			 json_object_set_new(attrs, k, json_string(v)) < 0) {
			json_decref(attrs);
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "volume %s: parameter %zu is not valid UTF-8", id, i + 1);
		}
	}
	if (!driver || !*driver) {
		json_decref(attrs);
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: parameters need driver=<name> (one of: %s)", id,
				  pv_driver_names());
	}
	if (!pv_driver_known(driver)) {
		json_decref(attrs);
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: parameter driver=%.32s is not one of: %s", id,
				  driver, pv_driver_names());
	}
	char cap[32];
	pv_quantity_format(w->size, cap, sizeof(cap));
	json_t *modes = json_array();
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (w->modes & PV_ACCESS_BIT(a))
			json_array_append_new(modes, json_string(pv_access_name(a)));
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "name", id, "driver", driver,
			      "capacity", cap, "accessModes", modes, "volumeMode",
			      w->block ? "Block" : "Filesystem", "attributes", attrs);
	if (!fs)
		fs = cap_fs;
	if (!w->block && pv_driver_is_block(driver) && fs && *fs)
		json_object_set_new(j, "fsType", json_string(fs));
	if (gid) {
		char *end;
		long g = strtol(gid, &end, 10);
		if (!*gid || *end || g < 0 || g > 0x7fffffff) {
			json_decref(j);
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "volume %s: parameter gid=%.32s is not a group id", id, gid);
		}
		json_object_set_new(j, "gid", json_integer(g));
	}
	_cleanup_(pv_freep) char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: parameters are not valid UTF-8", id);
	int r = pv_parse_json(text, out, err);
	if (r < 0 && err->kind != PV_E_RANGE)
		err->kind = PV_E_INVALID;
	return r;
}

/* Do the request's parameters describe this volume? (Attributes the driver added at
 * provision, like the file driver's image path, need not be in the request.) */
static bool params_match(const struct pv *pv, const Csi__V1__CreateVolumeRequest *q)
{
	for (size_t i = 0; i < q->n_parameters; i++) {
		const char *k = q->parameters[i]->key, *v = q->parameters[i]->value, *have;
		if (strcmp(k, "driver") == 0 || strncmp(k, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX)) == 0)
			continue;
		if (strcmp(k, "fsType") == 0) {
			if (*v && strcmp(v, pv->fs_type) != 0)
				return false;
		} else if (strcmp(k, "gid") == 0) {
			if (strtol(v, NULL, 10) != pv->gid)
				return false;
		} else if (!(have = pv_map_get(&pv->attributes, k)) || strcmp(have, v) != 0) {
			return false;
		}
	}
	return true;
}

/* A volume made from a source is at least as big as the source (the spec's OUT_OF_RANGE
 * "trying to create a volume smaller than the source snapshot"): without required_bytes
 * it gets the source's size, a required_bytes or limit_bytes below it is refused. */
static int fit_source(const char *id, const struct csi_source *src, struct create_want *w, struct pv_err *err)
{
	const char *what = src->kind == PV_SOURCE_SNAPSHOT ? "snapshot" : "volume";
	if (w->required && w->required < src->size)
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "volume %s: required_bytes %llu is below the %llu bytes of its source %s %s; a "
				  "volume made from it is at least that big", id, (unsigned long long)w->required,
				  (unsigned long long)src->size, what, src->id);
	if (w->limit && w->limit < src->size)
		return pv_err_set(err, -ERANGE, PV_E_RANGE,
				  "volume %s: limit_bytes %llu is below the %llu bytes of its source %s %s; a "
				  "volume made from it is at least that big", id, (unsigned long long)w->limit,
				  (unsigned long long)src->size, what, src->id);
	if (!w->required)
		w->size = src->size;
	return 0;
}

static bool create_compatible(const struct pv *pv, const struct create_want *w, const char *driver)
{
	if (w->required && pv->capacity < w->required)
		return false;
	if (w->limit && pv->capacity > w->limit)
		return false;
	if ((pv->access_modes & w->modes) != w->modes)
		return false;
	if ((pv->volume_mode == PV_VOLUME_BLOCK) != w->block)
		return false;
	return !driver || strcmp(driver, pv->driver) == 0;
}

/* An existing volume answers a CreateVolume when it fits the capacity range, modes and
 * parameters asked for, and came from the same CSI name (CSI: idempotent by name,
 * ALREADY_EXISTS otherwise). */
struct create_match {
	const Csi__V1__CreateVolumeRequest *q;
	const struct create_want *w;
	const char *driver;
	const char *kept;   /* the name as pvnode.io/csiName keeps it; NULL: the name is the id */
	enum pv_source_kind source_kind;   /* and the volume_content_source it names */
	const char *source;
};

static bool create_same(const struct pv *stored, const struct pv *wanted, void *ud)
{
	const struct create_match *m = ud;
	const char *had = pv_map_get(&stored->attributes, PV_ATTR_CSI_NAME);
	(void)wanted;
	if ((had || m->kept) && (!had || !m->kept || strcmp(had, m->kept) != 0))
		return false;   /* another name that maps to this id */
	if (stored->source_kind != m->source_kind ||
	    (m->source_kind != PV_SOURCE_NONE && strcmp(stored->source, m->source) != 0))
		return false;   /* made from another source, or from none */
	return create_compatible(stored, m->w, m->driver) && params_match(stored, m->q);
}

/* Everything CreateVolume checks before it provisions: the name and its id, the
 * capabilities and capacity, the source it names, the PV the parameters describe, that
 * this pvnode serves its driver and, for node-local storage, that the topology allows
 * this node. A volume from a source defaults to the source's driver and fsType. */
static int create_prepare(struct csi_ctx *ctx, const Csi__V1__CreateVolumeRequest *q, char id[PV_NAME_MAX + 1],
			  struct create_want *w, struct pv *pv, struct pv_err *err)
{
	const char *cap_fs, *driver = ctx->svc->default_driver;
	struct csi_source src = {0};
	bool mapped;
	int r;

	pv_init(pv);
	pv_init(&src.pv);
	if ((r = csi_check_name(q->name, err)) < 0)
		return r;
	mapped = csi_volume_id_for_name(q->name, id);
	if ((r = create_want(q, id, w, &cap_fs, err)) < 0)
		return r;
	if (q->volume_content_source) {
		if ((r = csi_source_in(ctx, q->volume_content_source, id, &src, err)) == 0)
			r = fit_source(id, &src, w, err);
		if (r < 0) {
			csi_source_free(&src);
			return r;
		}
		driver = src.pv.driver;
		if (!*cap_fs)
			cap_fs = src.pv.fs_type;
	}
	r = create_pv(q, id, mapped, w, cap_fs, driver, pv, err);
	if (r == 0 && src.kind != PV_SOURCE_NONE) {
		pv->source_kind = src.kind;
		snprintf(pv->source, sizeof(pv->source), "%s", src.id);
	}
	csi_source_free(&src);
	if (r < 0)
		return r;
	if ((r = csi_check_served(ctx->svc, pv, err)) < 0)
		return r;
	return check_topology(q, id, pv->driver, ctx->svc->cfg->node_id, err);
}

int csi_controller_create_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__CreateVolumeRequest *q = (const void *)req;
	char id[PV_NAME_MAX + 1];
	struct create_want w;
	const char *driver = NULL;
	struct pv pv;
	struct pv_secrets sec;
	int r;

	r = create_prepare(ctx, q, id, &w, &pv, err);
	if (r == 0)
		r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err);
	if (r < 0) {
		pv_free(&pv);
		return r;
	}
	for (size_t i = 0; i < q->n_parameters; i++)
		if (strcmp(q->parameters[i]->key, "driver") == 0)
			driver = q->parameters[i]->value;
	struct create_match m = { .q = q, .w = &w, .driver = driver,
				  .kept = pv_map_get(&pv.attributes, PV_ATTR_CSI_NAME),
				  .source_kind = pv.source_kind, .source = pv.source };
	char kept[3 * PV_NAME_MAX + 1];
	if (m.kept) {   /* pv changes below: keep a copy */
		snprintf(kept, sizeof(kept), "%s", m.kept);
		m.kept = kept;
	}
	char source[PV_NAME_MAX + 1];
	snprintf(source, sizeof(source), "%s", pv.source);
	m.source = source;
	if (!ctx->svc->dry_run)
		r = pv_ctl_create(ctx->svc->engine, &pv, q->n_secrets ? &sec : NULL, create_same, &m, err);
	if (m.source_kind != PV_SOURCE_NONE)
		csi_unsupported_is_invalid(err);   /* a driver that cannot restore or clone */
	if (r == 0) {
		Csi__V1__CreateVolumeResponse *o = CSI_NEW(ctx, create_volume_response);
		o->volume = volume_out(ctx, &pv, err);
		if (!o->volume)
			r = err->code ? err->code : -EIO;
		*resp = &o->base;
	}
	pv_free(&pv);
	pv_secrets_free(&sec);
	return r;
}

/* The catalog's PV of an id, when there is one, must be of a driver this pvnode serves. */
static int check_served_id(struct csi_ctx *ctx, const char *id, struct pv_err *err)
{
	struct pv pv;
	int r = 0;

	pv_init(&pv);
	if (pv_catalog_load(ctx->svc->cfg->state_dir, id, &pv, NULL) == 0)
		r = csi_check_served(ctx->svc, &pv, err);
	pv_free(&pv);
	return r;
}

int csi_controller_delete_volume(struct csi_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__DeleteVolumeRequest *q = (const void *)req;
	struct pv_secrets sec;
	int r = csi_check_volume_id(q->volume_id, err);
	if (r == 0)
		r = check_served_id(ctx, q->volume_id, err);
	if (r < 0)
		return r;
	r = csi_secrets_in((void *const *)q->secrets, q->n_secrets, &sec, err);
	if (r < 0)
		return r;
	if (!ctx->svc->dry_run)
		r = pv_ctl_delete(ctx->svc->engine, q->volume_id, q->n_secrets ? &sec : NULL, false, err);
	if (r == -ENOENT && err->kind == PV_E_NOT_FOUND) {   /* gone already: the spec's OK */
		pv_err_clear(err);
		r = 0;
	}
	pv_secrets_free(&sec);
	if (r < 0)
		return r;
	*resp = CSI_NEW(ctx, delete_volume_response);
	return 0;
}

int csi_controller_validate_volume_capabilities(struct csi_ctx *ctx, const ProtobufCMessage *req,
						ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ValidateVolumeCapabilitiesRequest *q = (const void *)req;
	struct pv pv;
	char why[256] = "";
	int r = csi_check_volume_id(q->volume_id, err);
	if (r < 0)
		return r;
	if (!q->n_volume_capabilities)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: volume_capabilities is required",
				  q->volume_id);
	for (size_t i = 0; i < q->n_volume_capabilities; i++) {
		struct csi_cap c;
		r = csi_check_capability(q->volume_id, q->volume_capabilities[i], &c, err);
		if (r < 0)
			return r;
	}
	pv_init(&pv);
	r = csi_load_pv(ctx->svc, q->volume_id, NULL, 0, &pv, err);
	if (r == 0)
		r = csi_check_served(ctx->svc, &pv, err);
	if (r < 0) {
		pv_free(&pv);
		return r;
	}
	for (size_t i = 0; i < q->n_volume_capabilities && !why[0]; i++) {
		struct csi_cap c;
		csi_check_capability(q->volume_id, q->volume_capabilities[i], &c, NULL);
		int mode = q->volume_capabilities[i]->access_mode->mode;
		if (!(pv.access_modes & PV_ACCESS_BIT(c.access)))
			snprintf(why, sizeof(why), "volume %s does not allow %s (%s)", pv.name,
				 csi_mode_name(mode), pv_access_name(c.access));
		else if (c.block != (pv.volume_mode == PV_VOLUME_BLOCK))
			snprintf(why, sizeof(why), "volume %s has volumeMode %s, not %s access",
				 pv.name, pv.volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem",
				 c.block ? "block" : "mount");
	}
	pv_free(&pv);
	Csi__V1__ValidateVolumeCapabilitiesResponse *o =
		CSI_NEW(ctx, validate_volume_capabilities_response);
	if (why[0]) {
		o->message = csi_strdup(&ctx->arena, why);
	} else {
		Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed *c =
			CSI_NEW(ctx, validate_volume_capabilities_response__confirmed);
		c->n_volume_capabilities = q->n_volume_capabilities;
		c->volume_capabilities = q->volume_capabilities;   /* packed before req is freed */
		c->n_volume_context = q->n_volume_context;
		c->volume_context = (void *)q->volume_context;
		c->n_parameters = q->n_parameters;
		c->parameters = (void *)q->parameters;
		o->confirmed = c;
	}
	*resp = &o->base;
	return 0;
}

/* Leave out of `names` the volumes of drivers this pvnode does not serve (several
 * pvnodes may share a state directory). */
static void keep_served(struct csi_ctx *ctx, char **names)
{
	size_t out = 0;
	if (csi_serves_every_driver(ctx->svc) || !names)
		return;
	for (size_t i = 0; names[i]; i++) {
		struct pv pv;
		bool keep = true;
		pv_init(&pv);
		if (pv_catalog_load(ctx->svc->cfg->state_dir, names[i], &pv, NULL) == 0)
			keep = csi_serves_driver(ctx->svc, pv.driver);
		pv_free(&pv);
		if (keep)
			names[out++] = names[i];
		else
			free(names[i]);
	}
	names[out] = NULL;
}

int csi_controller_list_volumes(struct csi_ctx *ctx, const ProtobufCMessage *req,
				ProtobufCMessage **resp, struct pv_err *err)
{
	const Csi__V1__ListVolumesRequest *q = (const void *)req;
	char **names = NULL;
	size_t n = 0, start = 0;
	if (q->max_entries < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "max_entries is negative");
	int r = pv_catalog_list(ctx->svc->cfg->state_dir, &names, err);
	if (r < 0)
		return r;
	keep_served(ctx, names);
	while (names && names[n])
		n++;
	if ((r = csi_page_start("ListVolumes", q->starting_token, n, &start, err)) < 0) {
		pv_strv_free(names);
		return r;
	}
	size_t count = csi_page_count(q->max_entries, n, start);
	Csi__V1__ListVolumesResponse *o = CSI_NEW(ctx, list_volumes_response);
	o->entries = csi_alloc(&ctx->arena, (count ? count : 1) * sizeof(*o->entries));
	for (size_t i = 0; names && i < count; i++) {
		struct pv pv;
		pv_init(&pv);
		Csi__V1__ListVolumesResponse__Entry *e = CSI_NEW(ctx, list_volumes_response__entry);
		if (pv_catalog_load(ctx->svc->cfg->state_dir, names[start + i], &pv, NULL) == 0)
			e->volume = volume_out(ctx, &pv, NULL);
		if (!e->volume) {
			e->volume = CSI_NEW(ctx, volume);
			e->volume->volume_id = csi_strdup(&ctx->arena, names[start + i]);
		}
		pv_free(&pv);
		o->entries[o->n_entries++] = e;
	}
	char tok[CSI_PAGE_TOKEN_MAX];
	csi_page_next(start + count, n, tok);
	if (*tok)
		o->next_token = csi_strdup(&ctx->arena, tok);
	pv_strv_free(names);
	*resp = &o->base;
	return 0;
}

int csi_controller_get_capacity(struct csi_ctx *ctx, const ProtobufCMessage *req,
				ProtobufCMessage **resp, struct pv_err *err)
{
	(void)req;
	struct statvfs st;
	if (statvfs(ctx->svc->cfg->state_dir, &st) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "statvfs %s: %s",
				  ctx->svc->cfg->state_dir, strerror(errno));
	Csi__V1__GetCapacityResponse *o = CSI_NEW(ctx, get_capacity_response);
	o->available_capacity = (int64_t)((uint64_t)st.f_bavail * st.f_frsize);
	*resp = &o->base;
	return 0;
}

int csi_controller_get_capabilities(struct csi_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, struct pv_err *err)
{
	(void)req;
	(void)err;
	static const int base[] = {
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_UNPUBLISH_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_READONLY,
	};
	int caps[sizeof(base) / sizeof(base[0]) + 3];
	size_t n = sizeof(base) / sizeof(base[0]);
	memcpy(caps, base, sizeof(base));
	/* Snapshots and clones where a driver served here has them. A served driver without
	 * them (iscsi beside rbd on block.pvnode.csi.io) refuses each call naming itself;
	 * --drivers leaves it out of a pvnode of its own, whose capabilities then say so. */
	if (csi_serves_any(ctx->svc, pv_driver_snapshots)) {
		caps[n++] = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT;
		caps[n++] = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_SNAPSHOTS;
	}
	if (csi_serves_any(ctx->svc, pv_driver_clones))
		caps[n++] = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME;
	Csi__V1__ControllerGetCapabilitiesResponse *o = CSI_NEW(ctx, controller_get_capabilities_response);
	o->capabilities = csi_alloc(&ctx->arena, n * sizeof(*o->capabilities));
	for (size_t i = 0; i < n; i++) {
		Csi__V1__ControllerServiceCapability *c = CSI_NEW(ctx, controller_service_capability);
		c->type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
		c->rpc = CSI_NEW(ctx, controller_service_capability__rpc);
		c->rpc->type = caps[i];
		o->capabilities[i] = c;
	}
	o->n_capabilities = n;
	*resp = &o->base;
	return 0;
}
