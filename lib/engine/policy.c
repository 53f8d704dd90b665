/*
 * policy.c — DESIGN.md's access-mode table as code. Pure functions, unit-tested.
 *
 *   mode   shared                  block, Filesystem                block, volumeMode Block
 *   RWO    node-local              backend fence across nodes       backend fence
 *   RWOP   one publish on node     one publish + backend fence      same
 *   ROX    ro mount                ro mount, device ro, no fence    read-only device
 *   RWX    allowed                 refused (fs corruption)          allowed
 */
#include <errno.h>
#include <stdio.h>

#include "engine_int.h"

int pv_policy_stage(const struct pv *pv, enum pv_storage storage, enum pv_access a, bool block,
		    struct pv_err *err)
{
	char offered[128] = "";
	size_t used = 0;

	if (a < PV_RWO || a > PV_RWOP)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: no access mode given (allowed: %s)",
				  pv->name, PV_ACCESS_ALLOWED);
	if (!(pv->access_modes & PV_ACCESS_BIT(a))) {
		for (int m = PV_RWO; m <= PV_RWOP; m++)
			if (pv->access_modes & PV_ACCESS_BIT(m))
				used += (size_t)snprintf(offered + used, sizeof(offered) - used, "%s%s",
							 used ? ", " : "", pv_access_name((enum pv_access)m));
		return pv_err_set(err, -EPERM, PV_E_POLICY, "volume %s does not offer access mode %s (it offers: %s)",
				  pv->name, pv_access_name(a), offered);
	}
	if (block && pv->volume_mode != PV_VOLUME_BLOCK)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s has volumeMode Filesystem: it cannot be used as a raw block device", pv->name);
	if (!block && pv->volume_mode == PV_VOLUME_BLOCK)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s has volumeMode Block: it cannot be mounted as a filesystem", pv->name);
	if (a == PV_RWX && storage == PV_BLOCKDEV && !block)
		return pv_err_set(err, -EPERM, PV_E_POLICY,
				  "volume %s: ReadWriteMany with a filesystem on block storage is refused "
				  "(two nodes mounting one filesystem corrupt it; use ReadWriteOnce or volumeMode Block)",
				  pv->name);
	return 0;
}

bool pv_policy_stage_readonly(enum pv_access a, bool requested)
{
	return a == PV_ROX || requested;
}

bool pv_policy_needs_fence(enum pv_storage storage, enum pv_access a)
{
	return storage == PV_BLOCKDEV && (a == PV_RWO || a == PV_RWOP);
}

int pv_policy_publish(const char *volume, enum pv_access stage_access, bool stage_readonly,
		      enum pv_access a, bool requested_ro, size_t others, bool *readonly,
		      struct pv_err *err)
{
	if (a == PV_ACCESS_NONE)
		a = stage_access;
	if (a != stage_access && !(stage_access == PV_RWO && a == PV_ROX))
		return pv_err_set(err, -EPERM, PV_E_POLICY,
				  "volume %s is staged as %s: it cannot be published as %s (unstage it first)",
				  volume, pv_access_name(stage_access), pv_access_name(a));
	if ((stage_access == PV_RWOP || a == PV_RWOP) && others > 0)
		return pv_err_set(err, -EPERM, PV_E_POLICY,
				  "volume %s is ReadWriteOncePod and already published at another target: "
				  "one publish is allowed", volume);
	if (stage_readonly && !requested_ro && a != PV_ROX && stage_access != PV_ROX) {
		/* staged read-only on request: every publish is read-only too */
		requested_ro = true;
	}
	*readonly = a == PV_ROX || stage_access == PV_ROX || requested_ro || stage_readonly;
	return 0;
}
