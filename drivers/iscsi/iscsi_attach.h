/*
 * iscsi_attach.h — attach/detach/reattach of the iSCSI driver (iscsi_attach.c), shared
 * with the driver table in iscsi.c.
 */
#ifndef PVNODE_ISCSI_ATTACH_H
#define PVNODE_ISCSI_ATTACH_H

#include "iscsi_conn.h"
#include "pvnode/driver/driver.h"

int pvi_attach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err);
int pvi_detach(const struct pv *pv, const struct pv_attachment *att, const struct pv_node_ctx *n,
	       struct pv_err *err);
int pvi_reattach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err);
/* <run_dir>/fuse, <run_dir>/helper.status */
void pvi_run_paths(const char *run_dir, char *mnt, size_t mlen, char *status, size_t slen);
/* Does this access take a persistent reservation? (RWO, RWOP, read-write) */
bool pvi_access_fenced(enum pv_access a, bool readonly);
/* Was it attached by the kernel initiator (open-iscsi) rather than the helper? */
bool pvi_attached_by_kernel(const struct pv_attachment *att);

#endif
