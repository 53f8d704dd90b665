/*
 * rbd_driver.h — the RBD driver's parts inside pvctl and pvnode (no librbd here):
 *   rbd.c         the driver table: validate, provision, remove, expand, health,
 *                 refresh, fence release;
 *   rbd_snap.c    snapshots, restores and clones;
 *   rbd_attach.c  attach / detach / reattach through the helper pvnode-rbd-fuse;
 *   rbd_kernel.c  attach / detach through the kernel client (krbd);
 *   rbd_run.c     running the control program pvnode-rbd (one JSON request on stdin,
 *                 one JSON reply on stdout) and loading the node's secrets.
 *
 * The driver's own state in the attachment (att->priv, persisted in the journal, no
 * secrets): "mounter" = userspace | kernel; userspace: "client" = the helper's rados
 * client address (blocklisted when the helper died, so its watch and lock do not
 * linger), "exclusive" = 1 when it holds the exclusive lock; kernel: "devid" = the
 * /sys/bus/rbd device id.
 */
#ifndef PVNODE_RBD_DRIVER_H
#define PVNODE_RBD_DRIVER_H

#include <jansson.h>

#include "rbd_attr.h"
#include "pvnode/driver/driver.h"

/* The target and credentials of a PV, checked; the caller wipes c (pvr_cred_wipe). */
int pvr_prepare(const struct pv *pv, const struct pv_secrets *s, struct pvr_target *t,
		struct pvr_cred *c, struct pv_err *err);

/* Run `op` of pvnode-rbd against t as c. `members` (may be NULL; always released) adds
 * the operation's fields; on success *reply (may be NULL) gets the reply object. The
 * key travels on the program's stdin only; every buffer that held it is wiped. */
int pvr_run(const struct pvr_target *t, const struct pvr_cred *c, const char *op, json_t *members,
	    json_t **reply, struct pv_err *err);
/* The same for an operation that may copy a whole image (restore): no overall
 * deadline (each librados call stays bounded by the timeouts), and pvnode-rbd's stderr
 * on ours when `progress` (a terminal is attached), where the copy reports how far it is. */
int pvr_run_progress(const struct pvr_target *t, const struct pvr_cred *c, const char *op, json_t *members,
		     bool progress, json_t **reply, struct pv_err *err);

/* The secrets a node-side operation without a request (detach) can use: the PV's
 * secretRef from the store, else those its stage was given (CSI). Free with
 * pv_secrets_free. */
void pvr_node_secrets(const struct pv *pv, const struct pv_node_ctx *n, struct pv_secrets *out);

/* Blocklist dead helpers' client addresses (best effort: a failure is returned, and
 * the addresses are remembered in <run_dir>/dead-clients for remove to try again). */
int pvr_blocklist_dead(const struct pv *pv, const struct pv_node_ctx *n, const char *const *clients,
		       size_t count, struct pv_err *err);

/* Is the access fenced with the exclusive lock (RWO/RWOP, not read-only)? */
bool pvr_access_fenced(enum pv_access a, bool readonly);

/* rbd_attach.c */
int pvr_attach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err);
int pvr_detach(const struct pv *pv, const struct pv_attachment *att, const struct pv_node_ctx *n,
	       struct pv_err *err);
int pvr_reattach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err);
bool pvr_attached_by_kernel(const struct pv_attachment *att);
/* <run_dir>/fuse and <run_dir>/helper.status */
void pvr_run_paths(const char *run_dir, char *mnt, size_t mlen, char *status, size_t slen);

/* rbd_snap.c: the driver's snapshot_create, snapshot_delete, restore and clone */
int pvr_snapshot_create(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			const struct pv_node_ctx *n, struct pv_err *err);
int pvr_snapshot_delete(const struct pv_snapshot *snap, const struct pv_secrets *s, const struct pv_node_ctx *n,
			struct pv_err *err);
int pvr_restore(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		const struct pv_node_ctx *n, struct pv_err *err);
int pvr_clone(struct pv *pv, const struct pv *src, const struct pv_secrets *s, const struct pv_node_ctx *n,
	      struct pv_err *err);

/* Start flattening an image (by id when given) in a detached pvnode-rbd; a failure to
 * start is logged (`why` says what for), not returned. */
void pvr_flatten_background(const struct pvr_target *where, const struct pvr_cred *c, const char *image,
			    const char *id, const char *why);

/* rbd_kernel.c */
bool pvr_kernel_available(void);
int pvr_kernel_attach(const struct pv_attach_req *req, const struct pvr_target *t,
		      const struct pvr_cred *c, struct pv_attachment *att, struct pv_err *err);
int pvr_kernel_detach(const struct pv *pv, const struct pv_attachment *att, struct pv_err *err);

#endif
