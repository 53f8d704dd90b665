/*
 * rbd_ctl.h — pvnode-rbd, the RBD control program: the request every operation gets
 * and the operation tables (image operations in rbd_ctl_image.c, snapshots in
 * rbd_ctl_snap.c, restores, clones and flatten in rbd_ctl_clone.c, fencing in
 * rbd_ctl_lock.c). rbd_ctl.c reads the one JSON request, connects, dispatches and
 * writes the one JSON reply.
 */
#ifndef PVNODE_RBD_CTL_H
#define PVNODE_RBD_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

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
	bool background;           /* request.background: reply at once, run detached */
};

extern const struct pvr_op pvr_image_ops[];   /* {NULL} terminated */
extern const struct pvr_op pvr_snap_ops[];
extern const struct pvr_op pvr_clone_ops[];
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

/* Was the image made by pvnode (provision, restore, clone)? Its PVR_MADE_KEY says so. */
bool pvr_made_by_pvnode(rbd_image_t img);

/* Snapshots and clones (rbd_ctl_snap.c, rbd_ctl_clone.c): */
/* An ioctx for request fields <prefix>Pool / <prefix>Namespace ("src": srcPool, ...),
 * the request's own pool when absent; *own tells the caller to rados_ioctx_destroy. */
int pvr_req_ioctx(struct pvr_req *q, const char *prefix, rados_ioctx_t *io, bool *own, struct pv_err *err);
/* Open an image by request.imageId when given, else by request.image. */
int pvr_req_open_any(struct pvr_req *q, bool readonly, rbd_image_t *img, struct pv_err *err);
/* How many images up the parent chain of img (opened at a snapshot or its head): 0 for
 * an image that is not a clone. */
int pvr_chain_depth(struct pvr_req *q, rbd_image_t img, int *depth, struct pv_err *err);
/* The parent of img (pool, namespace, image id); false when it has none. */
struct pvr_parent {
	char pool[PVR_NAME_MAX + 1], ns[PVR_NAME_MAX + 1], id[64];
};
bool pvr_parent_of(rbd_image_t img, struct pvr_parent *p);
/* Remove the images pvnode moved to the RBD trash for their snapshots (volume delete)
 * once nothing needs them any more: starting at `p`, each one that is in the trash,
 * carries the pvnode.provisioned mark and has no snapshot left (user or kept for a
 * clone) goes, then its own parent is looked at. Best effort: returns how many went. */
int pvr_purge_trashed(struct pvr_req *q, const struct pvr_parent *p);

#define PVR_HOLDER_KEY "pvnode.holder"   /* image metadata: the node holding the fence */
#define PVR_MADE_KEY "pvnode.provisioned" /* image metadata: pvnode created this image */
#define PVR_SOURCE_KEY "pvnode.source"   /* image metadata: what a restore / clone copied */
/* image metadata: the client address of pvnode's background flatten of this image. A
 * stage that finds that client holding the exclusive lock asks it for the lock
 * (rbd_helper.c) instead of refusing, and the flatten goes on in the stage's helper. */
#define PVR_FLATTENER_KEY "pvnode.flattener"

/* A client address without its list bracket and msgr type ("[v2:1.2.3.4:0/77,..." and
 * "v1:1.2.3.4:0/77" → "1.2.3.4:0/77..."), as the OSDs name watchers and lock owners. */
static inline const char *pvr_bare_addr(const char *a)
{
	if (a[0] == '[')
		a++;
	return strncmp(a, "v1:", 3) == 0 || strncmp(a, "v2:", 3) == 0 ? a + 3 : a;
}

#endif
