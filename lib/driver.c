/*
 * driver.c — looking drivers up in the registry (pv_drivers[], generated from
 * drivers/meson.build into driver_table.c), the CSI driver name that serves each kind of
 * storage, and the node key drivers derive fences from.
 */
#include <stdio.h>
#include <string.h>

#include "pvnode/driver/driver.h"

extern const struct pv_driver *const pv_drivers[];
extern const char pv_driver_list[];

const struct pv_driver *pv_driver_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct pv_driver *const *d = pv_drivers; *d; d++)
		if (strcmp((*d)->name, name) == 0)
			return *d;
	return NULL;
}

const char *pv_driver_names(void)
{
	return pv_driver_list;
}

bool pv_driver_known(const char *name)
{
	return pv_driver_find(name) != NULL;
}

bool pv_driver_is_block(const char *name)
{
	const struct pv_driver *d = pv_driver_find(name);
	return d && d->storage == PV_BLOCKDEV;
}

bool pv_driver_fences(const char *name)
{
	const struct pv_driver *d = pv_driver_find(name);
	return d && d->fence_release;
}

bool pv_driver_snapshots(const char *name)
{
	const struct pv_driver *d = pv_driver_find(name);
	return d && d->snapshot_create;
}

bool pv_driver_clones(const char *name)
{
	const struct pv_driver *d = pv_driver_find(name);
	return d && d->clone;
}

bool pv_driver_node_local(const char *name)
{
	const struct pv_driver *d = pv_driver_find(name);
	return d && d->node_local;
}

/* The one mapping from a kind of storage to the CSI driver name that serves it. */
static const char *csi_name_of(const struct pv_driver *d)
{
	if (d->node_local)
		return PV_CSI_NAME_LOCAL;
	return d->storage == PV_SHARED ? PV_CSI_NAME_SHARED : PV_CSI_NAME_BLOCK;
}

const char *pv_driver_csi_name(const char *driver)
{
	const struct pv_driver *d = pv_driver_find(driver);
	return d ? csi_name_of(d) : NULL;
}

bool pv_csi_name_known(const char *name)
{
	return name && (strcmp(name, PV_CSI_NAME_SHARED) == 0 || strcmp(name, PV_CSI_NAME_BLOCK) == 0 ||
			strcmp(name, PV_CSI_NAME_LOCAL) == 0);
}

void pv_csi_name_drivers(const char *name, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const struct pv_driver *const *d = pv_drivers; *d && used < len; d++)
		if (strcmp(csi_name_of(*d), name) == 0)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", (*d)->name);
	if (!used)
		snprintf(buf, len, "none");
}

void pv_attachment_free(struct pv_attachment *att)
{
	pv_map_free(&att->priv);
}

int pv_attachment_renew(const struct pv_attach_req *req, struct pv_attachment *att,
			int (*attach)(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err),
			struct pv_err *err)
{
	struct pv_attachment fresh = { 0 };
	int r = attach(req, &fresh, err);
	if (r < 0) {
		pv_attachment_free(&fresh);
		return r;
	}
	pv_attachment_free(att);
	*att = fresh;
	return 0;
}

unsigned long long pv_node_key(const char *node_id)
{
	/* FNV-1a 64: stable across builds and hosts; never 0 (0 means "no key" in SCSI PR) */
	unsigned long long h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)node_id; p && *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}
