/*
 * rbd_ctl_snap.c — pvnode-rbd's snapshot and clone operations (for the snapshot
 * issue): snap-create, snap-remove, snap-list, clone, flatten, children, trash-remove.
 *
 * Clones are format 2 (rbd_clone3 with RBD_IMAGE_OPTION_CLONE_FORMAT 2): no protect
 * step, and removing a snapshot that still has clones moves it to librbd's snapshot
 * trash, where it stays until its last clone is flattened or removed; the clones stay
 * readable. Create operations are idempotent (an existing snapshot or clone of that
 * name is success with "created":false).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rbd_ctl.h"

#define SNAPS_MAX 512
#define CHILDREN_MAX 256

static int op_snap_create(struct pvr_req *q, struct pv_err *err)
{
	char snap[PVR_NAME_MAX + 1];
	rbd_image_t img;
	int r = pvr_req_name(q, "snap", true, snap, sizeof(snap), err);
	if (r < 0 || (r = pvr_req_open(q, false, &img, err)) < 0)
		return r;
	r = rbd_snap_create2(img, snap, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
	rbd_close(img);
	if (r < 0 && r != -EEXIST)
		return pvr_fail(&q->conn, r, "cannot snapshot", err);
	json_object_set_new(q->reply, "created", json_boolean(r == 0));
	return 0;
}

static int op_snap_remove(struct pvr_req *q, struct pv_err *err)
{
	char snap[PVR_NAME_MAX + 1];
	rbd_image_t img;
	int r = pvr_req_name(q, "snap", true, snap, sizeof(snap), err);
	if (r < 0 || (r = pvr_req_open(q, false, &img, err)) < 0)
		return r;
	r = rbd_snap_remove2(img, snap, 0, NULL, NULL);   /* with clones: to the snapshot trash */
	rbd_close(img);
	if (r < 0 && r != -ENOENT)
		return pvr_fail(&q->conn, r, "cannot remove a snapshot of", err);
	json_object_set_new(q->reply, "removed", json_boolean(r == 0));
	return 0;
}

static int op_snap_list(struct pvr_req *q, struct pv_err *err)
{
	static rbd_snap_info_t snaps[SNAPS_MAX];
	int max = SNAPS_MAX;
	rbd_image_t img;
	int r = pvr_req_open(q, true, &img, err);
	if (r < 0)
		return r;
	int n = rbd_snap_list(img, snaps, &max);
	if (n < 0) {
		rbd_close(img);
		return pvr_fail(&q->conn, n, "cannot list the snapshots of", err);
	}
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		struct timespec ts = { 0 };
		rbd_snap_namespace_type_t type = RBD_SNAP_NAMESPACE_TYPE_USER;
		if (rbd_snap_get_namespace_type(img, snaps[i].id, &type) == 0 &&
		    type != RBD_SNAP_NAMESPACE_TYPE_USER)
			continue;    /* removed but kept for clones, or librbd-internal */
		rbd_snap_get_timestamp(img, snaps[i].id, &ts);
		json_array_append_new(list, json_pack("{s:s,s:I,s:I,s:I}", "name", snaps[i].name, "id",
						      (json_int_t)snaps[i].id, "size", (json_int_t)snaps[i].size,
						      "created", (json_int_t)ts.tv_sec));
	}
	rbd_snap_list_end(snaps);
	rbd_close(img);
	json_object_set_new(q->reply, "snapshots", list);
	return 0;
}

/* request: image + snap (the parent), dest (the clone, same pool and namespace). */
static int op_clone(struct pvr_req *q, struct pv_err *err)
{
	char snap[PVR_NAME_MAX + 1], dest[PVR_NAME_MAX + 1], spec[400];
	rbd_image_options_t o;
	int r = pvr_req_name(q, "snap", true, snap, sizeof(snap), err);
	if (r == 0)
		r = pvr_req_name(q, "dest", true, dest, sizeof(dest), err);
	if (r < 0)
		return r;
	rbd_image_options_create(&o);
	r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
	if (r == 0)
		r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_FEATURES, q->t.features);
	if (r == 0 && q->t.data_pool[0])
		r = rbd_image_options_set_string(o, RBD_IMAGE_OPTION_DATA_POOL, q->t.data_pool);
	if (r == 0)
		r = rbd_clone3(q->conn.io, q->t.image, snap, q->conn.io, dest, o);
	rbd_image_options_destroy(o);
	if (r == -EEXIST) {
		json_object_set_new(q->reply, "created", json_false());
		return 0;
	}
	if (r == -ENOENT)
		return pv_err_set(err, r, PV_E_NOT_FOUND, "cannot clone %s@%s: no such image or snapshot",
				  pvr_spec(&q->t, NULL, spec, sizeof(spec)), snap);
	if (r == -EOPNOTSUPP || r == -EINVAL)
		return pv_err_set(err, r, PV_E_UNSUPPORTED,
				  "cannot clone %s@%s: format-2 clones need layering and a cluster with "
				  "`ceph osd set-require-min-compat-client mimic`",
				  pvr_spec(&q->t, NULL, spec, sizeof(spec)), snap);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot clone", err);
	json_object_set_new(q->reply, "created", json_true());
	return 0;
}

static int op_flatten(struct pvr_req *q, struct pv_err *err)
{
	rbd_image_t img;
	int r = pvr_req_open(q, false, &img, err);
	if (r < 0)
		return r;
	r = rbd_flatten(img);
	rbd_close(img);
	if (r == -EINVAL)
		r = 0;            /* no parent: already flat */
	return r < 0 ? pvr_fail(&q->conn, r, "cannot flatten", err) : 0;
}

static int op_children(struct pvr_req *q, struct pv_err *err)
{
	static rbd_linked_image_spec_t kids[CHILDREN_MAX];
	size_t n = CHILDREN_MAX;
	char snap[PVR_NAME_MAX + 1];
	rbd_image_t img;
	int r = pvr_req_name(q, "snap", false, snap, sizeof(snap), err);
	if (r < 0 || (r = pvr_req_open(q, true, &img, err)) < 0)
		return r;
	if (snap[0] && (r = rbd_snap_set(img, snap)) < 0) {
		rbd_close(img);
		return pvr_fail(&q->conn, r, "no such snapshot on", err);
	}
	r = rbd_list_children3(img, kids, &n);
	rbd_close(img);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot list the clones of", err);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:b}", "pool", kids[i].pool_name,
						      "namespace", kids[i].pool_namespace, "image",
						      kids[i].image_name, "trash", kids[i].trash));
	rbd_linked_image_spec_list_cleanup(kids, n);
	json_object_set_new(q->reply, "children", list);
	return 0;
}

/* Remove one image remove moved to the trash (request.id, its trash id), once nothing
 * depends on it any more. Never the whole pool's trash: other users' entries there may
 * still be restored. */
static int op_trash_remove(struct pvr_req *q, struct pv_err *err)
{
	char id[64];
	int r = pvr_req_name(q, "id", true, id, sizeof(id), err);
	if (r < 0)
		return r;
	r = rbd_trash_remove(q->conn.io, id, false);
	if (r == -ENOTEMPTY || r == -EBUSY)
		return pv_err_set(err, r, PV_E_IN_USE, "trashed image %s still has clones or users; flatten them first", id);
	if (r < 0 && r != -ENOENT)
		return pvr_fail(&q->conn, r, "cannot remove from the trash the image with id", err);
	return 0;
}

const struct pvr_op pvr_snap_ops[] = {
	{ "snap-create", true, op_snap_create },
	{ "snap-remove", true, op_snap_remove },
	{ "snap-list", true, op_snap_list },
	{ "clone", true, op_clone },
	{ "flatten", true, op_flatten },
	{ "children", true, op_children },
	{ "trash-remove", false, op_trash_remove },
	{ NULL, false, NULL },
};
