/*
 * rbd_cluster.h — connecting to a Ceph cluster the way pvnode's programs must: every
 * setting in memory (rados_create2 + rados_conf_set: mon_host, the key, timeouts), no
 * config file, no keyring file, no admin socket, no log file, and librados errors
 * turned into one sentence an operator can act on. Used by pvnode-rbd and
 * pvnode-rbd-fuse, which link librbd/librados; the driver inside pvctl/pvnode never does.
 */
#ifndef PVNODE_RBD_CLUSTER_H
#define PVNODE_RBD_CLUSTER_H

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "rbd_attr.h"

struct pvr_conn {
	rados_t cluster;       /* NULL until connected */
	rados_ioctx_t io;      /* the target's pool and namespace */
	const struct pvr_target *t;
};

/* Connect as client.<c->user> to t->mon_host and open t->pool / t->rados_namespace.
 * Bounded by the target's timeouts (client_mount_timeout, rados_mon_op_timeout,
 * rados_osd_op_timeout): an unreachable cluster is PV_E_UNAVAILABLE, a wrong key or
 * user PV_E_INVALID, a missing pool PV_E_NOT_FOUND. `extra` (NULL-terminated
 * name/value pairs) adds settings, e.g. the helper's cache options. */
int pvr_connect(const struct pvr_target *t, const struct pvr_cred *c, const char *const *extra,
		struct pvr_conn *conn, struct pv_err *err);
void pvr_disconnect(struct pvr_conn *conn);

/* Open the target's image (read-only: no watch, no lock). -ENOENT → PV_E_NOT_FOUND. */
int pvr_image_open(struct pvr_conn *conn, const char *image, bool readonly, rbd_image_t *img,
		   struct pv_err *err);

/* A librbd/librados error as a sentence: "<what> <pool>/<image>: <why>", the kind
 * chosen from the errno (-ETIMEDOUT/-ESHUTDOWN unavailable or fenced, -EACCES invalid
 * credentials, ...). Returns the (negative) errno. */
int pvr_fail(const struct pvr_conn *conn, int r, const char *what, struct pv_err *err);

/* "pool/image" or "pool/namespace/image" into buf. */
const char *pvr_spec(const struct pvr_target *t, const char *image, char *buf, size_t len);

#endif
