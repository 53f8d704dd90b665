/*
 * driver.c — the registry of compiled-in drivers. The generic layer never names a
 * backend anywhere else.
 */
#include <string.h>

#include "config.h"
#include "pvnode/driver.h"

extern const struct pv_driver pv_driver_file;
#ifdef PV_HAVE_DRIVER_NFS
extern const struct pv_driver pv_driver_nfs;
#endif
#ifdef PV_HAVE_DRIVER_ISCSI
extern const struct pv_driver pv_driver_iscsi;
#endif

static const struct pv_driver *const drivers[] = {
	&pv_driver_file,
#ifdef PV_HAVE_DRIVER_NFS
	&pv_driver_nfs,
#endif
#ifdef PV_HAVE_DRIVER_ISCSI
	&pv_driver_iscsi,
#endif
	NULL,
};

const struct pv_driver *pv_driver_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct pv_driver *const *d = drivers; *d; d++)
		if (strcmp((*d)->name, name) == 0)
			return *d;
	return NULL;
}

const char *pv_driver_names(void)
{
	return PV_DRIVER_NAMES;
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
