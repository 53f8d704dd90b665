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

#define PVR_HOLDER_KEY "pvnode.holder"   /* image metadata: the node holding the fence */

#endif
