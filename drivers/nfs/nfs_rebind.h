/*
 * nfs_rebind.h — find and restore the bind mounts of a dead FUSE helper's mount.
 */
#ifndef PVNODE_DRIVERS_NFS_REBIND_H
#define PVNODE_DRIVERS_NFS_REBIND_H

#include <limits.h>
#include <stddef.h>

#include "pvnode/error.h"

#define PVNFS_MAX_BINDS 32

struct pvnfs_bind {
	char target[PATH_MAX];
	char root[PATH_MAX];   /* the bound subtree of the staging mount, "/" for all */
	unsigned long flags;   /* MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC */
};

struct pvnfs_binds {
	struct pvnfs_bind items[PVNFS_MAX_BINDS];
	size_t n;
};

/* The other mounts of the staging mount's device (its bind mounts). */
int pvnfs_binds_of(const char *staging, struct pvnfs_binds *b);
/* The same from a mountinfo file (unit tests). */
int pvnfs_binds_in(const char *mountinfo, const char *staging, struct pvnfs_binds *b);
/* Bind `staging` (now a fresh mount) over each of them again. */
int pvnfs_rebind(const char *staging, const struct pvnfs_binds *b, struct pv_err *err);

#endif
