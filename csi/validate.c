/*
 * validate.c — checks every CSI request goes through before it reaches the engine:
 * volume and snapshot ids, paths, volume capabilities, string maps and secrets, list
 * paging tokens, the lookup of a request's PV (volume_context first, catalog second),
 * and which drivers this pvnode serves (--driver-name, narrowed by --drivers).
 *
 * Everything here refuses with PV_E_INVALID (CSI INVALID_ARGUMENT) and a sentence that
 * names the field, so a CO's log says what to fix.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.h"
#include "pvnode/catalog.h"

int csi_check_id(const char *field, const char *id, struct pv_err *err)
{
	if (!id || !*id)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s is required", field);
	if (strlen(id) > PV_NAME_MAX)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s is longer than %d bytes", field, PV_NAME_MAX);
	if (!pv_name_valid(id))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "%s '%.128s' has characters outside [A-Za-z0-9._:-]", field, id);
	return 0;
}

int csi_check_volume_id(const char *id, struct pv_err *err)
{
	return csi_check_id("volume_id", id, err);
}

int csi_page_start(const char *method, const char *token, size_t n, size_t *start, struct pv_err *err)
{
	size_t v = 0, len = token ? strlen(token) : 0;

	*start = 0;
	if (!len)
		return 0;
	/* only what csi_page_next writes: decimal digits, no sign, no spaces, no leading
	 * zero, at most 19 digits (no overflow), and not past the end of the list */
	bool ok = len <= 19 && !(token[0] == '0' && len > 1);
	for (size_t i = 0; ok && i < len; i++) {
		if (token[i] < '0' || token[i] > '9')
			ok = false;
		else
			v = v * 10 + (size_t)(token[i] - '0');
	}
	if (!ok || v > n)
		return pv_err_set(err, -EINVAL, PV_E_BUSY,
				  "starting_token '%.64s' is not a token %s returned (start again without one)",
				  token, method);
	*start = v;
	return 0;
}

size_t csi_page_count(int32_t max_entries, size_t n, size_t start)
{
	size_t count = n - start;
	if (max_entries > 0 && (size_t)max_entries < count)
		count = (size_t)max_entries;
	return count;
}

void csi_page_next(size_t next, size_t n, char buf[CSI_PAGE_TOKEN_MAX])
{
	buf[0] = '\0';
	if (next < n)
		snprintf(buf, CSI_PAGE_TOKEN_MAX, "%zu", next);
}

/* The length of the UTF-8 sequence at s and its code point; 0 when it is not one. */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	static const unsigned min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (!n)
		return 0;
	*cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

int csi_check_name(const char *name, struct pv_err *err)
{
	if (!name || !*name)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "name is required");
	if (strlen(name) > PV_NAME_MAX)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "name is longer than %d bytes", PV_NAME_MAX);
	for (const unsigned char *p = (const unsigned char *)name; *p;) {
		unsigned cp = 0;
		size_t n = utf8_next(p, &cp);
		if (!n)
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "name is not valid UTF-8 (byte %zu)",
					  (size_t)(p - (const unsigned char *)name) + 1);
		if ((cp <= 0x1f && cp != 0x09 && cp != 0x0a && cp != 0x0d) || (cp >= 0x7f && cp <= 0x9f))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "name has the control character U+%04X (byte %zu), which CSI names may not hold",
					  cp, (size_t)(p - (const unsigned char *)name) + 1);
		p += n;
	}
	return 0;
}

bool csi_volume_id_for_name(const char *name, char id[PV_NAME_MAX + 1])
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a 64 */
	size_t n = 0;

	if (pv_name_valid(name) && strlen(name) <= PV_NAME_MAX) {
		snprintf(id, PV_NAME_MAX + 1, "%s", name);
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
		char one[2] = { (char)*p, 0 };
		if (n < PV_NAME_MAX - 17 && pv_name_valid(one))
			id[n++] = (char)*p;
	}
	if (!n)   /* no valid character at all: never an id that starts with '-' */
		id[n++] = 'v';
	snprintf(id + n, PV_NAME_MAX + 1 - n, "-%016llx", (unsigned long long)h);
	return true;
}

int csi_check_path(const struct csi_service *svc, const char *what, const char *path,
		   bool required, struct pv_err *err)
{
	if (!path || !*path) {
		if (!required)
			return 0;
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s is required", what);
	}
	if (strlen(path) >= PATH_MAX)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s is longer than %d bytes", what,
				  PATH_MAX - 1);
	int r = pv_engine_check_path(svc->engine, what, path, err);
	if (r < 0 && err && err->kind != PV_E_INVALID)
		err->kind = PV_E_INVALID;
	return r;
}

static const char *const mode_names[] = {
	"UNKNOWN", "SINGLE_NODE_WRITER", "SINGLE_NODE_READER_ONLY", "MULTI_NODE_READER_ONLY",
	"MULTI_NODE_SINGLE_WRITER", "MULTI_NODE_MULTI_WRITER", "SINGLE_NODE_SINGLE_WRITER",
	"SINGLE_NODE_MULTI_WRITER",
};

const char *csi_mode_name(int mode)
{
	if (mode < 0 || mode >= (int)(sizeof(mode_names) / sizeof(mode_names[0])))
		return "UNKNOWN";
	return mode_names[mode];
}

int csi_check_capability(const char *volume, const Csi__V1__VolumeCapability *c,
			 struct csi_cap *out, struct pv_err *err)
{
	memset(out, 0, sizeof(*out));
	out->fs_type = "";
	if (!c)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_capability is required", volume);
	if (!c->access_mode)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_capability.access_mode is required", volume);
	switch (c->access_mode->mode) {
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
		out->access = PV_RWO;
		break;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY:
		out->access = PV_ROX;
		out->readonly_mode = true;
		break;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER:
		out->access = PV_RWX;
		break;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
		out->access = PV_RWOP;
		break;
	default:
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_capability.access_mode.mode %d is not a known access mode",
				  volume, (int)c->access_mode->mode);
	}
	switch (c->access_type_case) {
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK:
		out->block = true;
		return 0;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT:
		break;
	default:
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_capability needs an access type (mount or block)",
				  volume);
	}
	const Csi__V1__VolumeCapability__MountVolume *mv = c->mount;
	if (mv->fs_type && *mv->fs_type) {
		if (strlen(mv->fs_type) > PV_FSTYPE_MAX || !pv_name_valid(mv->fs_type))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "volume %s: fs_type '%.32s' is not a valid filesystem type",
					  volume, mv->fs_type);
		out->fs_type = mv->fs_type;
	}
	size_t total = 0;
	for (size_t i = 0; i < mv->n_mount_flags; i++) {
		const char *f = mv->mount_flags[i];
		total += strlen(f) + 1;
		if (!*f || !pv_value_printable(f, CSI_MAX_MOUNT_FLAGS_BYTES) || strchr(f, ' '))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "volume %s: mount flag %zu is empty or has spaces or control characters",
					  volume, i + 1);
	}
	if (total > CSI_MAX_MOUNT_FLAGS_BYTES)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: mount_flags exceed %d bytes", volume,
				  CSI_MAX_MOUNT_FLAGS_BYTES);
	out->flags = (const char *const *)mv->mount_flags;
	out->n_flags = mv->n_mount_flags;
	const char *g = mv->volume_mount_group;
	if (g && *g) {
		char *end;
		long gid = strtol(g, &end, 10);
		if (*end || gid <= 0 || gid > 0x7fffffffL || g[0] == '-' || g[0] == '+')
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "volume %s: volume_mount_group '%.32s' is not a group id (1-2147483647)",
					  volume, g);
		out->mount_group = gid;
	}
	return 0;
}

int csi_map_in(const char *what, void *const *entries, size_t n, struct pv_map *out,
	       struct pv_err *err)
{
	if (n > CSI_MAX_MAP_ENTRIES)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "%s has more than %d entries", what,
				  CSI_MAX_MAP_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		const struct csi_kv *kv = entries[i];
		if (!kv->key || !*kv->key || strlen(kv->key) > 256 || !kv->value ||
		    strlen(kv->value) > CSI_MAX_VALUE_BYTES) {
			pv_map_free(out);
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "%s entry %zu has an empty or oversize key or value", what,
					  i + 1);
		}
		if (pv_map_set(out, kv->key, kv->value) < 0) {
			pv_map_free(out);
			return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory reading %s", what);
		}
	}
	return 0;
}

int csi_secrets_in(void *const *entries, size_t n, struct pv_secrets *out, struct pv_err *err)
{
	pv_secrets_init(out);
	if (n > CSI_MAX_MAP_ENTRIES)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "secrets has more than %d entries",
				  CSI_MAX_MAP_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		const struct csi_kv *kv = entries[i];
		if (!kv->key || !*kv->key || strlen(kv->key) > 256 || !kv->value ||
		    strlen(kv->value) > CSI_MAX_VALUE_BYTES) {
			pv_secrets_free(out);
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "secrets entry %zu has an empty or oversize key or value", i + 1);
		}
		if (pv_secrets_set(out, kv->key, kv->value) < 0) {
			pv_secrets_free(out);
			return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory reading secrets");
		}
	}
	return 0;
}

int csi_load_pv(const struct csi_service *svc, const char *id, void *const *ctx_entries,
		size_t n_ctx, struct pv *out, struct pv_err *err)
{
	struct pv_map ctx = {0};
	int r = csi_map_in("volume_context", ctx_entries, n_ctx, &ctx, err);
	if (r < 0)
		return r;
	if (pv_map_get(&ctx, PV_CTX_PREFIX "driver")) {
		r = pv_from_context(id, &ctx, out, err);
		/* a context that does not parse is invalid; one the access-mode table refuses
		 * (RWX filesystem on block storage) stays a policy refusal */
		if (r < 0 && err && err->kind != PV_E_NOT_FOUND && err->kind != PV_E_POLICY)
			err->kind = PV_E_INVALID;
	} else {
		r = pv_catalog_load(svc->cfg->state_dir, id, out, err);
		if (r == -ENOENT) {
			pv_err_clear(err);
			r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				       "volume %s: not in the catalog and no volume_context describes it",
				       id);
		}
	}
	pv_map_free(&ctx);
	return r;
}

const char *csi_driver_name(const struct csi_service *svc)
{
	return svc->driver_name ? svc->driver_name : PV_CSI_DRIVER_NAME;
}

/* Is `driver` one of the comma-separated `list`? */
static bool in_list(const char *list, const char *driver)
{
	size_t n = strlen(driver);
	for (const char *p = list; *p;) {
		p += strspn(p, ", ");
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, driver, n) == 0)
			return true;
		p += len;
	}
	return false;
}

bool csi_serves_driver(const struct csi_service *svc, const char *driver)
{
	const char *name = pv_driver_csi_name(driver);
	if (!name)
		return false;
	if (svc->one_kind && strcmp(name, csi_driver_name(svc)) != 0)
		return false;
	return !svc->drivers || in_list(svc->drivers, driver);
}

bool csi_serves_every_driver(const struct csi_service *svc)
{
	return !svc->one_kind && !svc->drivers;
}

void csi_served_drivers(const struct csi_service *svc, char *buf, size_t len)
{
	char list[256], *save = NULL;
	size_t used = 0;
	buf[0] = '\0';
	snprintf(list, sizeof(list), "%s", pv_driver_names());
	for (char *d = strtok_r(list, ", ", &save); d && used < len; d = strtok_r(NULL, ", ", &save))
		if (csi_serves_driver(svc, d))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", d);
	if (!used)
		snprintf(buf, len, "none");
}

bool csi_serves_any(const struct csi_service *svc, bool (*has)(const char *driver))
{
	char list[256], *save = NULL;
	snprintf(list, sizeof(list), "%s", pv_driver_names());
	for (char *d = strtok_r(list, ", ", &save); d; d = strtok_r(NULL, ", ", &save))
		if (csi_serves_driver(svc, d) && has(d))
			return true;
	return false;
}

int csi_check_served(const struct csi_service *svc, const struct pv *pv, struct pv_err *err)
{
	const char *name = pv_driver_csi_name(pv->driver);
	if (!name || csi_serves_driver(svc, pv->driver))
		return 0;   /* a driver not built in is refused where it is looked up */
	char mine[128];
	csi_served_drivers(svc, mine, sizeof(mine));
	if (strcmp(name, csi_driver_name(svc)) == 0)   /* narrowed by --drivers */
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: driver %s is not served by this pvnode (it runs with --drivers %s); "
				  "use the pvnode of %s that serves %s", pv->name, pv->driver, svc->drivers, name,
				  pv->driver);
	return pv_err_set(err, -EINVAL, PV_E_INVALID,
			  "volume %s: driver %s is served by CSI driver %s, not by %s (which serves: %s); "
			  "use a StorageClass or PV of %s", pv->name, pv->driver, name, csi_driver_name(svc), mine, name);
}

bool csi_serves_node_local(const struct csi_service *svc)
{
	return csi_serves_any(svc, pv_driver_node_local);
}

bool csi_serves(const struct csi_service *svc, enum csi_service_kind kind)
{
	switch (kind) {
	case CSI_SVC_CONTROLLER: return svc->role != CSI_ROLE_NODE;
	case CSI_SVC_NODE: return svc->role != CSI_ROLE_CONTROLLER;
	case CSI_SVC_IDENTITY:
	default: return true;
	}
}
