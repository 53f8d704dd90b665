/*
 * rbd_ctl.h — pvnode-rbd, the RBD control program: the request every operation gets
 * and the operation tables (image operations in rbd_ctl_image.c, snapshots and clones
 * in rbd_ctl_snap.c). rbd_ctl.c reads the one JSON request, connects, dispatches and
 * writes the one JSON reply.
 */
#ifndef PVNODE_RBD_CTL_H
#define PVNODE_RBD_CTL_H

#include <jansson.h>
#include <stdbool.h>

#include "rbd_cluster.h"

struct pvr_req {
	json_t *json;              /* the whole request: op-specific fields */
	struct pvr_target t;
	struct pvr_conn conn;
	json_t *reply;             /* members added to {"ok":true} */
};

struct pvr_op {
	const char *name;
	bool needs_image;          /* "image" is required */
	int (*run)(struct pvr_req *q, struct pv_err *err);
};

extern const struct pvr_op pvr_image_ops[];   /* {NULL} terminated */
extern const struct pvr_op pvr_snap_ops[];
extern const struct pvr_op pvr_lock_ops[];

/* Op-specific fields, each refusal naming the field: */
int pvr_req_u64(const struct pvr_req *q, const char *field, bool required, uint64_t *out,
		struct pv_err *err);
/* A string validated as a Ceph name (pvr_parse_name); NULL when absent and optional. */
int pvr_req_name(const struct pvr_req *q, const char *field, bool required, char *out, size_t len,
		 struct pv_err *err);
bool pvr_req_bool(const struct pvr_req *q, const char *field);

/* Open the request's image; the caller closes it with rbd_close. */
int pvr_req_open(struct pvr_req *q, bool readonly, rbd_image_t *img, struct pv_err *err);
/* 1 if the image exists, 0 if not, or a negative errno. */
int pvr_image_exists(struct pvr_req *q, const char *image, struct pv_err *err);
/* "10Gi (10737418240 bytes)" */
const char *pvr_size_text(uint64_t bytes, char *buf, size_t len);

/* Shared by info, remove and the lock operations (rbd_ctl_lock.c): */
/* [{"client":"client.4123","cookie":"auto 1402...","address":"127.0.0.1:0/..."}]: who
 * holds the header lock (the managed exclusive lock among them); works read-only. */
int pvr_lockers(struct pvr_req *q, rbd_image_t img, json_t **out, struct pv_err *err);
/* The node recorded as fence holder in the image metadata, "" if none. */
void pvr_read_holder(rbd_image_t img, char *buf, size_t len);
/* Blocklist the client addresses in `list` (a JSON array, NULL: none) and wait for the
 * OSD map that has them; returns how many, or a negative errno. */
int pvr_blocklist(struct pvr_req *q, json_t *list, struct pv_err *err);

#define PVR_HOLDER_KEY "pvnode.holder"   /* image metadata: the node holding the fence */
#define PVR_MADE_KEY "pvnode.provisioned" /* image metadata: pvnode created this image */

#endif
