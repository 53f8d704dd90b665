/*
 * nfs_driver.h — functions the NFS driver table (nfs_driver.c) takes from its other
 * files (not a public header).
 */
#ifndef PVNODE_DRIVERS_NFS_DRIVER_H
#define PVNODE_DRIVERS_NFS_DRIVER_H

#include "pvnode/driver/driver.h"
#include "nfs.h"

/* Connect to the share itself (provisioning, path checks, health). */
int pvnfs_open_share(const struct pvnfs_cfg *cfg, int timeout_ms, struct nfs_context **nfs,
		     struct pv_err *err);
int pvnfs_provision(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		    struct pv_err *err);
int pvnfs_check_existing(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			 struct pv_err *err);
int pvnfs_expand(struct pv *pv, uint64_t bytes, const struct pv_secrets *s,
		 const struct pv_node_ctx *n, struct pv_err *err);
int pvnfs_remove(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		 struct pv_err *err);
/* nfs_snapshot.c */
int pvnfs_snapshot_create(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			  const struct pv_node_ctx *n, struct pv_err *err);
int pvnfs_snapshot_delete(const struct pv_snapshot *snap, const struct pv_secrets *s, const struct pv_node_ctx *n,
			  struct pv_err *err);
int pvnfs_restore(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		  const struct pv_node_ctx *n, struct pv_err *err);
int pvnfs_clone(struct pv *pv, const struct pv *src, const struct pv_secrets *s, const struct pv_node_ctx *n,
		struct pv_err *err);

#endif
