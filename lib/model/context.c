/*
 * context.c — a PV as CSI volume_context and back. The context holds the PV's
 * attributes as they are plus reserved keys under "pvnode.io/", so a node that never
 * saw the catalog stages a volume from the context alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvnode/driver/driver.h"
#include "pvnode/pv.h"

#define K(x) PV_CTX_PREFIX x

bool pv_attr_reserved(const char *key)
{
	return key && strcmp(key, PV_ATTR_CSI_NAME) == 0;
}

int pv_to_context(const struct pv *pv, struct pv_map *ctx, struct pv_err *err)
{
	char buf[1024];
	size_t used = 0;
	int r = 0;

	for (size_t i = 0; i < pv->attributes.n && r == 0; i++)
		r = pv_map_set(ctx, pv->attributes.items[i].key, pv->attributes.items[i].value);
	if (r == 0)
		r = pv_map_set(ctx, K("driver"), pv->driver);
	if (r == 0 && pv->capacity) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)pv->capacity);
		r = pv_map_set(ctx, K("capacity"), buf);
	}
	if (r == 0 && pv->fs_type[0])
		r = pv_map_set(ctx, K("fsType"), pv->fs_type);
	if (r == 0 && pv->gid > 0) {
		snprintf(buf, sizeof(buf), "%ld", pv->gid);
		r = pv_map_set(ctx, K("gid"), buf);
	}
	if (r == 0)
		r = pv_map_set(ctx, K("volumeMode"), pv->volume_mode == PV_VOLUME_BLOCK ? "Block" : "Filesystem");
	buf[0] = '\0';
	for (int a = PV_RWO; a <= PV_RWOP; a++)
		if (pv->access_modes & PV_ACCESS_BIT(a))
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "",
						 pv_access_short((enum pv_access)a));
	if (r == 0)
		r = pv_map_set(ctx, K("accessModes"), buf);
	if (r == 0 && pv->n_mount_options) {
		used = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < pv->n_mount_options && used < sizeof(buf); i++)
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? "," : "", pv->mount_options[i]);
		r = pv_map_set(ctx, K("mountOptions"), buf);
	}
	if (r == 0 && pv->secret_ref)
		r = pv_map_set(ctx, K("secretRef"), pv->secret_ref);
	if (r < 0)
		return pv_err_set(err, r, PV_E_RESOURCE, "out of memory");
	return 0;
}

int pv_from_context(const char *name, const struct pv_map *ctx, struct pv *out, struct pv_err *err)
{
	struct pv pv;
	const char *v;
	int r = 0;

	pv_init(&pv);
	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume id '%s' is not valid (allowed: 1-128 of A-Z a-z 0-9 . _ : -)",
				  name ? name : "");
	snprintf(pv.name, sizeof(pv.name), "%s", name);
	v = pv_map_get(ctx, K("driver"));
	if (!v)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s: volume_context has no %sdriver and the volume is not in this node's catalog",
				  name, PV_CTX_PREFIX);
	snprintf(pv.driver, sizeof(pv.driver), "%s", v);
	for (size_t i = 0; i < ctx->n; i++) {
		const struct pv_kv *kv = &ctx->items[i];
		const char *k = kv->key;
		if (strncmp(k, PV_CTX_PREFIX, strlen(PV_CTX_PREFIX)) != 0) {
			/* CSI sidecars add their own keys (csi.storage.k8s.io/...): not attributes */
			if (strchr(k, '/'))
				continue;
			if (pv_map_set(&pv.attributes, k, kv->value) < 0)
				goto oom;
			continue;
		}
		k += strlen(PV_CTX_PREFIX);
		if (strcmp(k, "driver") == 0) {
			continue;
		} else if (pv_attr_reserved(kv->key)) {
			if (pv_map_set(&pv.attributes, kv->key, kv->value) < 0)
				goto oom;
		} else if (strcmp(k, "capacity") == 0) {
			r = pv_quantity_parse(kv->value, &pv.capacity, err);
		} else if (strcmp(k, "fsType") == 0) {
			snprintf(pv.fs_type, sizeof(pv.fs_type), "%s", kv->value);
		} else if (strcmp(k, "gid") == 0) {
			char *end;
			pv.gid = strtol(kv->value, &end, 10);
			if (*end || end == kv->value)
				r = pv_err_set(err, -EINVAL, PV_E_INVALID, "volume_context %s: '%s' is not a group id",
					       kv->key, kv->value);
		} else if (strcmp(k, "volumeMode") == 0) {
			if (strcmp(kv->value, "Block") == 0)
				pv.volume_mode = PV_VOLUME_BLOCK;
			else if (strcmp(kv->value, "Filesystem") != 0)
				r = pv_err_set(err, -EINVAL, PV_E_INVALID, "volume_context %s: unknown mode '%s'",
					       kv->key, kv->value);
		} else if (strcmp(k, "accessModes") == 0) {
			char *copy = strdup(kv->value), *save = NULL;
			if (!copy)
				goto oom;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				enum pv_access a;
				if (pv_access_parse(t, &a) < 0) {
					r = pv_err_set(err, -EINVAL, PV_E_INVALID, "volume_context %s: unknown access mode '%s' (allowed: %s)",
						       kv->key, t, PV_ACCESS_ALLOWED);
					break;
				}
				pv.access_modes |= PV_ACCESS_BIT(a);
			}
			free(copy);
		} else if (strcmp(k, "mountOptions") == 0) {
			char *copy = strdup(kv->value), *save = NULL;
			if (!copy)
				goto oom;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				char **mo = realloc(pv.mount_options, (pv.n_mount_options + 1) * sizeof(char *));
				if (!mo) {
					free(copy);
					goto oom;
				}
				pv.mount_options = mo;
				mo[pv.n_mount_options++] = strdup(t);
			}
			free(copy);
		} else if (strcmp(k, "secretRef") == 0) {
			free(pv.secret_ref);
			pv.secret_ref = strdup(kv->value);
		} else {
			r = pv_err_set(err, -EINVAL, PV_E_INVALID, "volume_context: unknown key %s", kv->key);
		}
		if (r < 0)
			break;
	}
	if (r == 0 && pv.access_modes == 0)
		pv.access_modes = PV_ACCESS_BIT(PV_RWO);
	return pv_complete(&pv, r, out, err);
oom:
	pv_free(&pv);
	return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
}
