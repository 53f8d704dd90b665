/*
 * k8s_import.c — Kubernetes PersistentVolume manifests → pvnode PVs (see k8s_import.h).
 *
 * YAML is parsed with libyaml's document API into jansson values (plain scalars as the
 * YAML core schema reads them: true/false, null, integers; everything else a string),
 * so JSON and YAML take one path. Each PersistentVolume is then mapped field by field;
 * a refusal names the manifest path ("spec.iscsi.lun") and the value.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yaml.h>

#include "k8s_import.h"
#include "pvnode/util.h"

#define MAX_DEPTH 64
#define MAX_NODES 200000 /* aliases can multiply a small text: refuse what expands past this */

/* --- YAML → JSON --- */

struct yconv {
	yaml_document_t *doc;
	size_t nodes;
};

static bool all_digits(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static json_t *scalar_value(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	/* quoted is a string; plain is read as the core schema does (the loader tags every
	 * untagged scalar !!str, so the style is what tells) */
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_string(v);
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		return json_true();
	if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		return json_false();
	if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
		return json_null();
	if (all_digits(v) && strlen(v) < 19)
		return json_integer(strtoll(v, NULL, 10));
	return json_string(v);
}

static json_t *node_value(struct yconv *c, yaml_node_t *n, int depth)
{
	json_t *out;

	if (!n || depth > MAX_DEPTH || ++c->nodes > MAX_NODES)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar_value(n);
	case YAML_SEQUENCE_NODE:
		out = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start; out && i < n->data.sequence.items.top; i++) {
			json_t *v = node_value(c, yaml_document_get_node(c->doc, *i), depth + 1);
			if (!v || json_array_append_new(out, v) < 0) {
				json_decref(out);
				out = NULL;
			}
		}
		return out;
	case YAML_MAPPING_NODE:
		out = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; out && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			json_t *v = k && k->type == YAML_SCALAR_NODE ?
					    node_value(c, yaml_document_get_node(c->doc, p->value), depth + 1) : NULL;
			if (!v || json_object_set_new(out, (const char *)k->data.scalar.value, v) < 0) {
				json_decref(out);
				out = NULL;
			}
		}
		return out;
	default:
		return NULL;
	}
}

/* --- one manifest --- */

static void set_why(struct pvk_item *it, enum pvk_outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_why(struct pvk_item *it, enum pvk_outcome o, const char *fmt, ...)
{
	va_list ap;

	if (it->outcome != PVK_CONVERTED)
		return; /* the first refusal stands */
	it->outcome = o;
	va_start(ap, fmt);
	vsnprintf(it->why, sizeof(it->why), fmt, ap);
	va_end(ap);
}

#define invalid(it, ...) set_why(it, PVK_INVALID, __VA_ARGS__)

static void add_note(struct pvk_item *it, const char *note)
{
	size_t used = strlen(it->note);
	snprintf(it->note + used, sizeof(it->note) - used, "%s%s", used ? "; " : "", note);
}

/* A string field; NULL when absent, and invalid (naming `path`) when not a string. */
static const char *str_field(struct pvk_item *it, json_t *o, const char *key, const char *path)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		invalid(it, "%s.%s: must be a string", path, key);
		return NULL;
	}
	return json_string_value(v);
}

static bool bool_field(struct pvk_item *it, json_t *o, const char *key, const char *path)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	if (!v || json_is_null(v))
		return false;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "false")))
		return !strcmp(s, "true");
	invalid(it, "%s.%s: must be true or false", path, key);
	return false;
}

static void set_attr(struct pvk_item *it, const char *key, const char *value)
{
	if (value && pv_map_set(&it->pv.attributes, key, value) < 0)
		invalid(it, "out of memory");
}

static void set_secret(struct pvk_item *it, const char *name, const char *keys)
{
	free(it->pv.secret_ref);
	it->pv.secret_ref = name ? strdup(name) : NULL;
	snprintf(it->secret_keys, sizeof(it->secret_keys), "%s", keys);
}

/* `secretRef: {name: ...}` of a source. */
static const char *secret_name(struct pvk_item *it, json_t *src, const char *key, const char *path)
{
	json_t *ref = json_object_get(src, key);
	char where[64];

	if (!ref || json_is_null(ref))
		return NULL;
	snprintf(where, sizeof(where), "%s.%s", path, key);
	if (!json_is_object(ref)) {
		invalid(it, "%s: must be an object with a name", where);
		return NULL;
	}
	const char *name = str_field(it, ref, "name", where);
	if (name && !pv_name_valid(name))
		invalid(it, "%s.name: '%.64s' is not a valid secret name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
			where, name);
	return name;
}

/* A source's readOnly: the volume can only be staged read-only. */
static void read_only(struct pvk_item *it, json_t *src, const char *path)
{
	if (!bool_field(it, src, "readOnly", path))
		return;
	it->pv.access_modes = PV_ACCESS_BIT(PV_ROX);
	add_note(it, "readOnly: true, so accessModes [ReadOnlyMany]");
}

static void fs_type(struct pvk_item *it, json_t *src, const char *path)
{
	const char *fs = str_field(it, src, "fsType", path);

	if (it->pv.volume_mode == PV_VOLUME_BLOCK)
		return;
	if (!fs || !*fs)
		fs = "ext4"; /* the in-tree plugins' default */
	if (strlen(fs) > PV_FSTYPE_MAX)
		invalid(it, "%s.fsType: '%.32s' is not a filesystem pvnode formats (allowed: ext4, xfs)", path, fs);
	else
		snprintf(it->pv.fs_type, sizeof(it->pv.fs_type), "%s", fs);
}

static void from_nfs(struct pvk_item *it, json_t *src)
{
	const char *server = str_field(it, src, "server", "spec.nfs");
	const char *path = str_field(it, src, "path", "spec.nfs");
	char share[1024];

	snprintf(it->pv.driver, sizeof(it->pv.driver), "nfs");
	if (!server || !path) {
		invalid(it, "spec.nfs: server and path are required");
		return;
	}
	snprintf(share, sizeof(share), "%s", path);
	for (size_t n = strlen(share); n > 1 && share[n - 1] == '/'; n--)
		share[n - 1] = '\0';
	set_attr(it, "server", server);
	set_attr(it, "share", share); /* the volume is the export itself: no subDir */
	read_only(it, src, "spec.nfs");
}

/* targetPortal first, then portals: pvnode's `portal`, or `portals` for several. */
static void iscsi_portals(struct pvk_item *it, json_t *src)
{
	const char *first = str_field(it, src, "targetPortal", "spec.iscsi");
	json_t *more = json_object_get(src, "portals"), *p;
	char list[1024];
	size_t used, i;

	if (!first) {
		invalid(it, "spec.iscsi.targetPortal is required");
		return;
	}
	used = (size_t)snprintf(list, sizeof(list), "%s", first);
	if (more && !json_is_array(more))
		invalid(it, "spec.iscsi.portals: must be a list of host:port");
	json_array_foreach(more, i, p) {
		if (!json_is_string(p))
			invalid(it, "spec.iscsi.portals[%zu]: must be a string", i);
		else if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, ",%s", json_string_value(p));
	}
	set_attr(it, json_array_size(more) ? "portals" : "portal", list);
}

static void from_iscsi(struct pvk_item *it, json_t *src)
{
	json_t *lun = json_object_get(src, "lun");
	const char *iface = str_field(it, src, "iscsiInterface", "spec.iscsi");
	bool session = bool_field(it, src, "chapAuthSession", "spec.iscsi");
	bool discovery = bool_field(it, src, "chapAuthDiscovery", "spec.iscsi");
	char buf[32];

	snprintf(it->pv.driver, sizeof(it->pv.driver), "iscsi");
	iscsi_portals(it, src);
	set_attr(it, "iqn", str_field(it, src, "iqn", "spec.iscsi"));
	if (json_is_integer(lun) && json_integer_value(lun) >= 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(lun));
		set_attr(it, "lun", buf);
	} else if (json_is_string(lun) && all_digits(json_string_value(lun))) {
		set_attr(it, "lun", json_string_value(lun));
	} else {
		invalid(it, "spec.iscsi.lun: must be a number (0-16383)");
	}
	if (!pv_map_get(&it->pv.attributes, "iqn"))
		invalid(it, "spec.iscsi.iqn is required");
	set_attr(it, "initiatorName", str_field(it, src, "initiatorName", "spec.iscsi"));
	if (iface && strcmp(iface, "default") != 0)
		add_note(it, "iscsiInterface is not used (pvnode logs in over TCP)");
	fs_type(it, src, "spec.iscsi");
	read_only(it, src, "spec.iscsi");
	const char *secret = secret_name(it, src, "secretRef", "spec.iscsi");
	if (discovery)
		set_attr(it, "discovery", "true");
	if ((session || discovery) && !secret)
		invalid(it, "spec.iscsi.secretRef: chapAuthSession or chapAuthDiscovery needs a secretRef");
	else if (session || discovery)
		set_secret(it, secret, session && discovery ?
			   "node.session.auth.username=USER node.session.auth.password=- "
			   "discovery.sendtargets.auth.username=USER discovery.sendtargets.auth.password=-" :
			   session ? "node.session.auth.username=USER node.session.auth.password=-" :
				     "discovery.sendtargets.auth.username=USER discovery.sendtargets.auth.password=-");
}

static void from_rbd(struct pvk_item *it, json_t *src)
{
	json_t *mons = json_object_get(src, "monitors"), *m;
	const char *pool = str_field(it, src, "pool", "spec.rbd");
	const char *user = str_field(it, src, "user", "spec.rbd");
	const char *keyring = str_field(it, src, "keyring", "spec.rbd");
	const char *secret = secret_name(it, src, "secretRef", "spec.rbd");
	char list[1024] = "", keys[160], own[PV_NAME_MAX + 1];
	size_t used = 0, i;

	snprintf(it->pv.driver, sizeof(it->pv.driver), "rbd");
	if (!json_is_array(mons) || !json_array_size(mons))
		invalid(it, "spec.rbd.monitors: must be a non-empty list of host:port");
	json_array_foreach(mons, i, m) {
		if (!json_is_string(m))
			invalid(it, "spec.rbd.monitors[%zu]: must be a string", i);
		else if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? "," : "",
						 json_string_value(m));
	}
	set_attr(it, "monitors", list);
	set_attr(it, "pool", pool ? pool : "rbd"); /* the in-tree defaults */
	set_attr(it, "image", str_field(it, src, "image", "spec.rbd"));
	if (!pv_map_get(&it->pv.attributes, "image"))
		invalid(it, "spec.rbd.image is required");
	fs_type(it, src, "spec.rbd");
	read_only(it, src, "spec.rbd");
	snprintf(keys, sizeof(keys), "userID=%s userKey=-", user ? user : "admin");
	if (!secret) { /* the key was in a keyring file on each node: it goes to a set of its own */
		snprintf(own, sizeof(own), "%.120s-cephx", it->name);
		secret = own;
		add_note(it, keyring ? "the cephx key was in a keyring file on each node" :
				       "the cephx key was in /etc/ceph/keyring on each node");
	}
	set_secret(it, secret, keys);
}

/* The spec's fields into a csi source's volume_context, over what it says: Kubernetes'
 * spec is what the cluster binds by. */
static int spec_into_context(const struct pv *c, json_t *src, struct pvk_item *it, struct pv_map *ctx)
{
	const char *fs = str_field(it, src, "fsType", "spec.csi");
	char buf[1024];
	size_t used = 0;
	int r = 0;

	if (c->capacity) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)c->capacity);
		r = pv_map_set(ctx, PV_CTX_PREFIX "capacity", buf);
	}
	buf[0] = '\0';
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (c->access_modes & PV_ACCESS_BIT(a))
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "",
						 pv_access_short((enum pv_access)a));
	if (r == 0 && used)
		r = pv_map_set(ctx, PV_CTX_PREFIX "accessModes", buf);
	if (r == 0)
		r = pv_map_set(ctx, PV_CTX_PREFIX "volumeMode", c->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem");
	if (r == 0 && (c->volume_mode == PV_VOLUME_BLOCK || (fs && *fs)))
		r = pv_map_set(ctx, PV_CTX_PREFIX "fsType", c->volume_mode == PV_VOLUME_BLOCK ? "" : fs);
	for (size_t i = used = 0; i < c->n_mount_options && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? "," : "", c->mount_options[i]);
	if (r == 0 && c->n_mount_options)
		r = pv_map_set(ctx, PV_CTX_PREFIX "mountOptions", buf);
	if (r == 0 && c->gid > 0) {
		snprintf(buf, sizeof(buf), "%ld", c->gid);
		r = pv_map_set(ctx, PV_CTX_PREFIX "gid", buf);
	}
	return r;
}

/* A csi source of pvnode's: its volumeAttributes are the PV's volume_context. */
static void from_csi(struct pvk_item *it, json_t *src, const struct pv *c)
{
	json_t *attrs = json_object_get(src, "volumeAttributes"), *v;
	const char *handle = str_field(it, src, "volumeHandle", "spec.csi"), *key;
	struct pv_map ctx = { 0 };
	struct pv_err err = { 0 };
	struct pv pv;

	if (!handle || !json_is_object(attrs)) {
		invalid(it, "spec.csi: volumeHandle and volumeAttributes are required");
		return;
	}
	json_object_foreach(attrs, key, v) {
		if (!json_is_string(v))
			invalid(it, "spec.csi.volumeAttributes.%.64s: must be a string", key);
		else if (pv_map_set(&ctx, key, json_string_value(v)) < 0)
			invalid(it, "out of memory");
	}
	if (spec_into_context(c, src, it, &ctx) < 0)
		invalid(it, "out of memory");
	if (it->outcome == PVK_CONVERTED && pv_from_context(handle, &ctx, &pv, &err) < 0)
		invalid(it, "spec.csi: %s", err.msg);
	pv_map_free(&ctx);
	if (it->outcome != PVK_CONVERTED)
		return;
	pv_free(&it->pv);
	it->pv = pv;
	it->pv.reclaim = c->reclaim;
	it->pv.created = c->created;
	if (strcmp(handle, it->name) != 0)
		add_note(it, "named after its volumeHandle, the CSI volume id");
	snprintf(it->name, sizeof(it->name), "%s", handle);
	if (!it->pv.secret_ref)
		set_secret(it, secret_name(it, src, "nodeStageSecretRef", "spec.csi"), "KEY=VALUE...");
	else
		snprintf(it->secret_keys, sizeof(it->secret_keys), "KEY=VALUE...");
	read_only(it, src, "spec.csi");
}

/* --- fields every source shares --- */

static void spec_capacity(struct pvk_item *it, json_t *spec, struct pv *c)
{
	json_t *cap = json_object_get(json_object_get(spec, "capacity"), "storage");
	struct pv_err err = { 0 };

	if (json_is_integer(cap) && json_integer_value(cap) > 0)
		c->capacity = (uint64_t)json_integer_value(cap);
	else if (json_is_string(cap) && pv_quantity_parse(json_string_value(cap), &c->capacity, &err) < 0)
		invalid(it, "spec.capacity.storage: %s", err.msg);
	else if (cap && !json_is_string(cap))
		invalid(it, "spec.capacity.storage: must be a quantity such as \"10Gi\"");
}

static void spec_modes(struct pvk_item *it, json_t *spec, struct pv *c)
{
	json_t *modes = json_object_get(spec, "accessModes"), *m, *mo = json_object_get(spec, "mountOptions");
	size_t i;

	json_array_foreach(modes, i, m) {
		enum pv_access a;
		if (!json_is_string(m) || pv_access_parse(json_string_value(m), &a) < 0)
			invalid(it, "spec.accessModes[%zu]: unknown access mode '%.32s' (allowed: %s)", i,
				json_is_string(m) ? json_string_value(m) : "(not a string)", PV_ACCESS_ALLOWED);
		else
			c->access_modes |= PV_ACCESS_BIT(a);
	}
	if (!c->access_modes)
		invalid(it, "spec.accessModes: at least one access mode is needed (allowed: %s)", PV_ACCESS_ALLOWED);
	if (json_array_size(mo) && !(c->mount_options = calloc(json_array_size(mo), sizeof(char *))))
		invalid(it, "out of memory");
	json_array_foreach(mo, i, m) {
		if (!json_is_string(m))
			invalid(it, "spec.mountOptions[%zu]: must be a string", i);
		else if (c->mount_options && (c->mount_options[c->n_mount_options] = strdup(json_string_value(m))))
			c->n_mount_options++;
	}
}

static void spec_misc(struct pvk_item *it, json_t *m, json_t *spec, struct pv *c)
{
	const char *mode = str_field(it, spec, "volumeMode", "spec");
	const char *policy = str_field(it, spec, "persistentVolumeReclaimPolicy", "spec");
	json_t *meta = json_object_get(m, "metadata");
	json_t *gv = json_object_get(json_object_get(meta, "annotations"), "pv.beta.kubernetes.io/gid");
	char gbuf[32];
	const char *gid = json_string_value(gv);
	const char *created = str_field(it, meta, "creationTimestamp", "metadata");
	struct tm tm = { 0 };
	char *end = NULL;

	if (mode && !strcmp(mode, "Block"))
		c->volume_mode = PV_VOLUME_BLOCK;
	else if (mode && strcmp(mode, "Filesystem") != 0)
		invalid(it, "spec.volumeMode: unknown mode '%.32s' (allowed: Filesystem, Block)", mode);
	if (policy && pv_reclaim_parse(policy, &c->reclaim) < 0)
		invalid(it, "spec.persistentVolumeReclaimPolicy: '%.32s' is not supported (allowed: %s)", policy,
			PV_RECLAIM_ALLOWED);
	if (json_is_integer(gv)) { /* annotations are strings, but an unquoted number is meant the same */
		snprintf(gbuf, sizeof(gbuf), "%lld", (long long)json_integer_value(gv));
		gid = gbuf;
	}
	if (gid) {
		long g = strtol(gid, &end, 10);
		if (!*gid || *end || g < 1 || g > 2147483647L)
			invalid(it, "metadata.annotations.pv.beta.kubernetes.io/gid: '%.32s' is not a group id (1-2147483647)",
				gid);
		c->gid = g;
	}
	end = created ? strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (end && !*end)
		c->created = (int64_t)timegm(&tm);
}

/* Spec keys that are not a volume source. */
static const char *const not_sources[] = {
	"accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity", "persistentVolumeReclaimPolicy",
	"storageClassName", "volumeMode", "volumeAttributesClassName", NULL,
};

static const char *find_source(json_t *spec)
{
	const char *key;
	json_t *v;

	json_object_foreach(spec, key, v) {
		bool other = false;
		for (const char *const *n = not_sources; *n && !other; n++)
			other = strcmp(key, *n) == 0;
		if (!other)
			return key;
	}
	return NULL;
}

bool pvk_csi_driver_ours(const char *driver)
{
	size_t n = driver ? strlen(driver) : 0, k = strlen("." PV_CSI_DRIVER_NAME);
	return n && (strcmp(driver, PV_CSI_DRIVER_NAME) == 0 ||
		     (n > k && strcmp(driver + n - k, "." PV_CSI_DRIVER_NAME) == 0));
}

static void convert_source(struct pvk_item *it, json_t *spec, const char *source, struct pv *c)
{
	json_t *src = json_object_get(spec, source);

	if (!json_is_object(src)) {
		invalid(it, "spec.%.32s: must be an object", source);
		return;
	}
	if (strcmp(source, "csi") != 0) {
		pv_free(&it->pv);
		it->pv = *c; /* in-tree: the spec's fields, then the source's */
		pv_init(c);
	}
	if (!strcmp(source, "nfs"))
		from_nfs(it, src);
	else if (!strcmp(source, "iscsi"))
		from_iscsi(it, src);
	else if (!strcmp(source, "rbd"))
		from_rbd(it, src);
	else if (!pvk_csi_driver_ours(str_field(it, src, "driver", "spec.csi")))
		set_why(it, PVK_SKIPPED, "its csi driver %.64s is not pvnode's (%s)",
			str_field(it, src, "driver", "spec.csi") ?: "(none)", PV_CSI_DRIVER_NAME);
	else
		from_csi(it, src, c);
}

void pvk_convert(json_t *m, size_t index, struct pvk_item *it)
{
	json_t *meta = json_object_get(m, "metadata"), *spec = json_object_get(m, "spec");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *kind = json_string_value(json_object_get(m, "kind"));
	const char *source;
	struct pv c;

	memset(it, 0, sizeof(*it));
	pv_init(&it->pv);
	snprintf(it->name, sizeof(it->name), "%s", name && *name ? name : "");
	if (!it->name[0])
		snprintf(it->name, sizeof(it->name), "document %zu", index + 1);
	if (!kind || strcmp(kind, "PersistentVolume") != 0) {
		set_why(it, PVK_SKIPPED, "kind %.64s is not a PersistentVolume", kind ? kind : "(none)");
		return;
	}
	if (!name || !pv_name_valid(name)) {
		invalid(it, "metadata.name: '%.64s' is not a valid volume name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
			name ? name : "");
		return;
	}
	snprintf(it->pv.name, sizeof(it->pv.name), "%s", name);
	if (!json_is_object(spec) || !(source = find_source(spec))) {
		invalid(it, "spec: no volume source (pvnode imports nfs, iscsi, rbd and csi)");
		return;
	}
	snprintf(it->source, sizeof(it->source), "%.31s", source);
	if (strcmp(source, "nfs") != 0 && strcmp(source, "iscsi") != 0 && strcmp(source, "rbd") != 0 &&
	    strcmp(source, "csi") != 0) {
		set_why(it, PVK_SKIPPED, "source %.32s is not one pvnode serves (it imports nfs, iscsi, rbd and csi)",
			source);
		return;
	}
	pv_init(&c);
	snprintf(c.name, sizeof(c.name), "%s", name);
	spec_capacity(it, spec, &c);
	spec_modes(it, spec, &c);
	spec_misc(it, m, spec, &c);
	if (it->outcome == PVK_CONVERTED)
		convert_source(it, spec, source, &c);
	pv_free(&c);
}

/* --- the stream --- */

static int add_item(struct pvk_list *l, json_t *m, size_t index)
{
	struct pvk_item *grown = realloc(l->items, (l->n + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	l->items = grown;
	pvk_convert(m, index, &l->items[l->n++]);
	return 0;
}

/* A document: a PersistentVolume, or a List of them (kubectl get pv -o yaml). */
static int add_document(struct pvk_list *l, json_t *doc, size_t index)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	json_t *items = json_object_get(doc, "items"), *m;
	size_t i;
	int r = 0;

	if (json_is_null(doc))
		return 0; /* an empty document ("---" at the end) */
	if (!kind || !json_is_array(items) || (strcmp(kind, "List") != 0 && strcmp(kind, "PersistentVolumeList") != 0))
		return add_item(l, doc, index);
	json_array_foreach(items, i, m)
		if ((r = add_item(l, m, index)) < 0)
			break;
	return r;
}

int pvk_parse(const char *text, size_t len, struct pvk_list *out, struct pv_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!yaml_parser_initialize(&parser))
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (size_t index = 0; r == 0; index++) {
		if (!yaml_parser_load(&parser, &doc)) {
			r = pv_err_set(err, -EINVAL, PV_E_INVALID, "not YAML or JSON at line %zu column %zu: %s",
				       parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				       parser.problem ? parser.problem : "unreadable");
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) { /* the end of the stream */
			yaml_document_delete(&doc);
			break;
		}
		struct yconv c = { .doc = &doc };
		json_t *v = node_value(&c, root, 0);
		if (!v)
			r = pv_err_set(err, -EINVAL, PV_E_INVALID, "document %zu: nested deeper than %d levels, larger than "
				       "%d nodes, or with keys that are not strings", index + 1, MAX_DEPTH, MAX_NODES);
		else if (add_document(out, v, index) < 0)
			r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		json_decref(v);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	if (r < 0)
		pvk_list_free(out);
	return r;
}

void pvk_list_free(struct pvk_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		pv_free(&l->items[i].pv);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
