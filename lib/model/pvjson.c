/*
 * pvjson.c — the PV as JSON (DESIGN.md "The PV"), strictly: unknown keys, wrong types,
 * bad quantities, unknown access modes, a driver that does not exist, attributes the
 * driver does not know or needs, and every refusal of the access-mode table are refused
 * with the JSON path, the bad value and what is allowed. `pvctl get -o json` output
 * parses back to the same PV (round trip).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pvnode/driver/driver.h"
#include "model/mountopt.h"
#include "pvnode/pv.h"

static const char *const pv_keys[] = {
	"name", "driver", "capacity", "accessModes", "volumeMode", "fsType", "mountOptions",
	"gid", "attributes", "secretRef", "reclaimPolicy", "createdAt", "source", NULL,
};
#define PV_KEYS_ALLOWED "name, driver, capacity, accessModes, volumeMode, fsType, mountOptions, gid, attributes, secretRef, reclaimPolicy, createdAt, source"
#define FS_ALLOWED "ext4, xfs"

static bool in_list(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static void join_list(const char *const *list, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (; list && *list; list++)
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s", used ? ", " : "", *list);
}

int pv_validate(const struct pv *pv, struct pv_err *err)
{
	const struct pv_driver *drv;
	char allowed[512];

	if (!pv_name_valid(pv->name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "name: '%s' is not a valid volume name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
				  pv->name);
	drv = pv_driver_find(pv->driver);
	if (!drv)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "driver: unknown driver '%s' (allowed: %s)",
				  pv->driver, pv_driver_names());
	if (pv->access_modes == 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "accessModes: at least one access mode is needed (allowed: %s)",
				  PV_ACCESS_ALLOWED);
	/* a volume from a snapshot or a volume may leave it out: it gets its source's size */
	if (drv->storage == PV_BLOCKDEV && pv->capacity == 0 && pv->source_kind == PV_SOURCE_NONE)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "capacity: a %s volume needs a capacity (e.g. \"1Gi\")", drv->name);
	if (pv->source_kind != PV_SOURCE_NONE && !pv_name_valid(pv->source))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "source.%s: '%s' is not a valid name",
				  pv_source_kind_name(pv->source_kind), pv->source);
	if (pv->source_kind == PV_SOURCE_VOLUME && strcmp(pv->source, pv->name) == 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "source.volume: volume %s cannot be a copy of itself",
				  pv->name);
	if (drv->storage == PV_BLOCKDEV && pv->volume_mode == PV_VOLUME_FILESYSTEM &&
	    (pv->access_modes & PV_ACCESS_BIT(PV_RWX)))
		return pv_err_set(err, -EINVAL, PV_E_POLICY,
				  "accessModes: ReadWriteMany with volumeMode Filesystem on %s (block storage) is refused: "
				  "two nodes mounting one filesystem corrupt it (allowed: ReadWriteOnce, ReadOnlyMany, "
				  "ReadWriteOncePod, or volumeMode Block)", drv->name);
	if (pv->fs_type[0]) {
		if (drv->storage == PV_SHARED)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "fsType: '%s' does not apply to %s (shared storage is mounted as served)",
					  pv->fs_type, drv->name);
		if (pv->volume_mode == PV_VOLUME_BLOCK)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "fsType: '%s' does not apply to volumeMode Block", pv->fs_type);
		if (strcmp(pv->fs_type, "ext4") != 0 && strcmp(pv->fs_type, "xfs") != 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "fsType: unknown filesystem '%s' (allowed: %s)",
					  pv->fs_type, FS_ALLOWED);
	}
	if (pv->volume_mode == PV_VOLUME_BLOCK && drv->storage == PV_SHARED)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volumeMode: Block is not possible on %s (shared storage; allowed: Filesystem)", drv->name);
	/* a block filesystem's options are the engine's to mount: the allow list applies now,
	 * not at the first stage (a shared driver checks its own) */
	for (size_t i = 0; drv->storage == PV_BLOCKDEV && i < pv->n_mount_options; i++) {
		struct pv_mount_option mo;
		int r = pv_mount_option_classify(pv->fs_type[0] ? pv->fs_type : "ext4", pv->mount_options[i], &mo, err);
		if (r < 0) {
			pv_err_prefix(err, "mountOptions[%zu]: ", i);
			return r;
		}
	}
	if (pv->gid < -1 || pv->gid > 2147483647L || pv->gid == 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "gid: %ld is not allowed (allowed: 1-2147483647)", pv->gid);
	for (size_t i = 0; i < pv->n_mount_options; i++) {
		const char *o = pv->mount_options[i];
		if (!pv_value_printable(o, 256) || !*o || strchr(o, ',') || strchr(o, ' '))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "mountOptions[%zu]: '%s' is not one mount option (no commas, spaces or control characters)",
					  i, o);
	}
	if (pv->secret_ref && !pv_name_valid(pv->secret_ref))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "secretRef: '%s' is not a valid secret name", pv->secret_ref);
	for (size_t i = 0; i < pv->attributes.n; i++) {
		const struct pv_kv *kv = &pv->attributes.items[i];
		if (!in_list(kv->key, drv->attribute_names) && !pv_attr_reserved(kv->key)) {
			join_list(drv->attribute_names, allowed, sizeof(allowed));
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.%s: unknown attribute for driver %s (allowed: %s)", kv->key,
					  drv->name, allowed[0] ? allowed : "none");
		}
		if (!pv_value_printable(kv->value, 1024))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "attributes.%s: value has control characters or is longer than 1024 bytes", kv->key);
	}
	for (const char *const *req = drv->required_attributes; req && *req; req++)
		if (!pv_map_get(&pv->attributes, *req))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "attributes.%s: required by driver %s",
					  *req, drv->name);
	if (drv->validate)
		return drv->validate(pv, err);
	return 0;
}

static int bad_type(struct pv_err *err, const char *path, const char *want)
{
	return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s: must be %s", path, want);
}

/* One parser per key of the PV object; each gets the key's value (NULL when absent). */
typedef int (*field_fn)(json_t *v, struct pv *pv, struct pv_err *err);

static int f_name(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!json_is_string(v))
		return bad_type(err, "name", "a string");
	if (!pv_name_valid(json_string_value(v)))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "name: '%.200s' is not a valid volume name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
				  json_string_value(v));
	snprintf(pv->name, sizeof(pv->name), "%s", json_string_value(v));
	return 0;
}

static int f_driver(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!json_is_string(v))
		return bad_type(err, "driver", "a string naming a driver");
	if (!pv_driver_known(json_string_value(v)))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "driver: unknown driver '%.32s' (allowed: %s)",
				  json_string_value(v), pv_driver_names());
	snprintf(pv->driver, sizeof(pv->driver), "%s", json_string_value(v));
	return 0;
}

static int f_capacity(json_t *v, struct pv *pv, struct pv_err *err)
{
	int r;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "capacity: %lld is negative",
					  (long long)json_integer_value(v));
		pv->capacity = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return bad_type(err, "capacity", "a quantity string such as \"1Gi\" or a number of bytes");
	if ((r = pv_quantity_parse(json_string_value(v), &pv->capacity, err)) < 0)
		pv_err_prefix(err, "capacity: ");
	return r;
}

static int f_modes(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!json_is_array(v) || json_array_size(v) == 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "accessModes: must be a non-empty list (allowed: %s)",
				  PV_ACCESS_ALLOWED);
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *m = json_array_get(v, i);
		enum pv_access a;
		if (!json_is_string(m) || pv_access_parse(json_string_value(m), &a) < 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "accessModes[%zu]: unknown access mode '%.32s' (allowed: %s)",
					  i, json_is_string(m) ? json_string_value(m) : "(not a string)", PV_ACCESS_ALLOWED);
		pv->access_modes |= PV_ACCESS_BIT(a);
	}
	return 0;
}

static int f_volume_mode(json_t *v, struct pv *pv, struct pv_err *err)
{
	const char *s = json_string_value(v);

	if (!v || (s && strcmp(s, "Filesystem") == 0))
		pv->volume_mode = PV_VOLUME_FILESYSTEM;
	else if (s && strcmp(s, "Block") == 0)
		pv->volume_mode = PV_VOLUME_BLOCK;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volumeMode: unknown mode '%.32s' (allowed: Filesystem, Block)",
				  s ? s : "(not a string)");
	return 0;
}

static int f_fs_type(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!v)
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) > PV_FSTYPE_MAX)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "fsType: must be a filesystem name (allowed: %s)", FS_ALLOWED);
	snprintf(pv->fs_type, sizeof(pv->fs_type), "%s", json_string_value(v));
	return 0;
}

static int f_mount_options(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!v)
		return 0;
	if (!json_is_array(v))
		return bad_type(err, "mountOptions", "a list of strings");
	pv->mount_options = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!pv->mount_options)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *o = json_array_get(v, i);
		if (!json_is_string(o))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "mountOptions[%zu]: must be a string", i);
		if (!(pv->mount_options[i] = strdup(json_string_value(o))))
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		pv->n_mount_options++;
	}
	return 0;
}

static int f_gid(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad_type(err, "gid", "a number (a group id)");
	if (json_integer_value(v) < 1 || json_integer_value(v) > 2147483647LL)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "gid: %lld is not allowed (allowed: 1-2147483647)",
				  (long long)json_integer_value(v));
	pv->gid = (long)json_integer_value(v);
	return 0;
}

static int f_attributes(json_t *v, struct pv *pv, struct pv_err *err)
{
	const char *key;
	json_t *av;

	if (!v)
		return 0;
	if (!json_is_object(v))
		return bad_type(err, "attributes", "an object of strings");
	json_object_foreach(v, key, av) {
		if (!json_is_string(av))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "attributes.%.64s: must be a string", key);
		if (strncmp(key, PV_CTX_PREFIX, strlen(PV_CTX_PREFIX)) == 0 && !pv_attr_reserved(key))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "attributes.%.64s: the prefix %s is reserved", key,
					  PV_CTX_PREFIX);
		if (pv_map_set(&pv->attributes, key, json_string_value(av)) < 0)
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	}
	return 0;
}

static int f_secret_ref(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad_type(err, "secretRef", "a string naming a secret");
	if (!(pv->secret_ref = strdup(json_string_value(v))))
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	return 0;
}

static int f_reclaim(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!v)
		return 0;
	if (!json_is_string(v) || pv_reclaim_parse(json_string_value(v), &pv->reclaim) < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "reclaimPolicy: unknown policy '%.32s' (allowed: %s)",
				  json_is_string(v) ? json_string_value(v) : "(not a string)", PV_RECLAIM_ALLOWED);
	return 0;
}

static int f_created(json_t *v, struct pv *pv, struct pv_err *err)
{
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad_type(err, "createdAt", "unix seconds");
	pv->created = json_integer_value(v);
	return 0;
}

/* "source": {"snapshot": NAME} or {"volume": NAME}, exactly one of the two. */
static int f_source(json_t *v, struct pv *pv, struct pv_err *err)
{
	const char *key, *kinds = "{\"snapshot\": NAME} or {\"volume\": NAME}";
	json_t *name;

	if (!v)
		return 0;
	if (!json_is_object(v) || json_object_size(v) != 1)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "source: must be %s", kinds);
	json_object_foreach(v, key, name) {
		if (strcmp(key, "snapshot") == 0)
			pv->source_kind = PV_SOURCE_SNAPSHOT;
		else if (strcmp(key, "volume") == 0)
			pv->source_kind = PV_SOURCE_VOLUME;
		else
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "source.%.64s: unknown key (allowed: snapshot, volume)",
					  key);
		if (!json_is_string(name) || !pv_name_valid(json_string_value(name)))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "source.%s: '%.200s' is not a valid name (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
					  key, json_is_string(name) ? json_string_value(name) : "(not a string)");
		snprintf(pv->source, sizeof(pv->source), "%s", json_string_value(name));
	}
	return 0;
}

static const struct {
	const char *key;
	field_fn parse;
} fields[] = {
	{ "name", f_name }, { "driver", f_driver }, { "capacity", f_capacity }, { "accessModes", f_modes },
	{ "volumeMode", f_volume_mode }, { "fsType", f_fs_type }, { "mountOptions", f_mount_options },
	{ "gid", f_gid }, { "attributes", f_attributes }, { "secretRef", f_secret_ref },
	{ "reclaimPolicy", f_reclaim }, { "createdAt", f_created }, { "source", f_source },
};

static int parse_object(json_t *root, struct pv *pv, struct pv_err *err)
{
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(root))
		return bad_type(err, "$", "a JSON object");
	json_object_foreach(root, key, v) {
		if (!in_list(key, pv_keys))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "%.64s: unknown key (allowed: %s)", key, PV_KEYS_ALLOWED);
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((r = fields[i].parse(json_object_get(root, fields[i].key), pv, err)) < 0)
			return r;
	return 0;
}

void pv_json_decrefp(void *p)
{
	json_t **o = p;
	json_decref(*o);
	*o = NULL;
}

int pv_parse_json(const char *text, struct pv *out, struct pv_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	struct pv pv;
	int r;

	if (!root)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "not valid JSON at line %d column %d: %s",
				  jerr.line, jerr.column, jerr.text);
	pv_init(&pv);
	r = parse_object(root, &pv, err);
	json_decref(root);
	return pv_complete(&pv, r, out, err);
}

int pv_complete(struct pv *pv, int r, struct pv *out, struct pv_err *err)
{
	if (r == 0) {
		const struct pv_driver *drv = pv_driver_find(pv->driver);
		if (!pv->fs_type[0] && drv && drv->storage == PV_BLOCKDEV && pv->volume_mode == PV_VOLUME_FILESYSTEM)
			snprintf(pv->fs_type, sizeof(pv->fs_type), "ext4");
		r = pv_validate(pv, err);
	}
	if (r < 0) {
		pv_free(pv);
		return r;
	}
	*out = *pv;
	return 0;
}

void *pv_to_json(const struct pv *pv)
{
	json_t *o = json_object(), *modes = json_array();
	char cap[32];

	json_object_set_new(o, "name", json_string(pv->name));
	json_object_set_new(o, "driver", json_string(pv->driver));
	if (pv->capacity) {
		pv_quantity_format(pv->capacity, cap, sizeof(cap));
		json_object_set_new(o, "capacity", json_string(cap));
	}
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			json_array_append_new(modes, json_string(pv_access_name((enum pv_access)a)));
	json_object_set_new(o, "accessModes", modes);
	json_object_set_new(o, "volumeMode", json_string(pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem"));
	if (pv->fs_type[0])
		json_object_set_new(o, "fsType", json_string(pv->fs_type));
	if (pv->n_mount_options) {
		json_t *mo = json_array();
		for (size_t i = 0; i < pv->n_mount_options; i++)
			json_array_append_new(mo, json_string(pv->mount_options[i]));
		json_object_set_new(o, "mountOptions", mo);
	}
	if (pv->gid > 0)
		json_object_set_new(o, "gid", json_integer(pv->gid));
	json_t *attrs = json_object();
	for (size_t i = 0; i < pv->attributes.n; i++)
		json_object_set_new(attrs, pv->attributes.items[i].key, json_string(pv->attributes.items[i].value));
	json_object_set_new(o, "attributes", attrs);
	if (pv->secret_ref)
		json_object_set_new(o, "secretRef", json_string(pv->secret_ref));
	if (pv->reclaim)
		json_object_set_new(o, "reclaimPolicy", json_string(pv_reclaim_name(pv->reclaim)));
	if (pv->created)
		json_object_set_new(o, "createdAt", json_integer(pv->created));
	if (pv->source_kind != PV_SOURCE_NONE) {
		json_t *src = json_object();
		json_object_set_new(src, pv_source_kind_name(pv->source_kind), json_string(pv->source));
		json_object_set_new(o, "source", src);
	}
	return o;
}

char *pv_to_json_text(const struct pv *pv)
{
	json_t *o = pv_to_json(pv);
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s) {
		size_t n = strlen(s);
		char *t = realloc(s, n + 2);
		if (t) {
			t[n] = '\n';
			t[n + 1] = '\0';
			s = t;
		}
	}
	return s;
}
