/*
 * rbd_ctl_snap.c — pvnode-rbd's snapshot operations: snap-create, snap-remove,
 * snap-list, children, trash-remove, and what snapshots and clones share: opening an
 * image by id (a volume deleted with snapshots sits in the RBD trash, where it has no
 * name), an ioctx for another pool, the depth of a clone chain, and purging the trashed
 * images nothing needs any more.
 *
 * A pvnode snapshot of an RBD volume is a native snapshot of its image (rbd_snap_create2:
 * metadata only, milliseconds). Clones are format 2 (rbd_ctl_clone.c), so removing a
 * snapshot that still has clones moves it to librbd's snapshot trash namespace; the
 * clones stay readable and librbd drops the trashed snapshot when its last clone is
 * flattened or removed. A volume deleted while it has snapshots is moved to the RBD trash
 * (rbd_ctl_image.c, remove with "trash"); the snapshot removal that leaves it with no
 * snapshot at all removes it from the trash, and so does the removal or flatten of the
 * last clone that still reads through it (pvr_purge_trashed): nothing is left behind.
 * Create and remove are idempotent ("created" / "removed" false for a repeat).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rbd_ctl.h"

#define SNAPS_MAX 512
#define CHILDREN_MAX 256
#define CHAIN_MAX 64         /* a longer parent chain is a loop or corruption */

int pvr_req_ioctx(struct pvr_req *q, const char *prefix, rados_ioctx_t *io, bool *own, struct pv_err *err)
{
	char field[32], pool[PVR_NAME_MAX + 1], ns[PVR_NAME_MAX + 1];
	int r;
	snprintf(field, sizeof(field), "%sPool", prefix);
	if ((r = pvr_req_name(q, field, false, pool, sizeof(pool), err)) < 0)
		return r;
	snprintf(field, sizeof(field), "%sNamespace", prefix);
	json_t *v = json_object_get(q->json, field);
	ns[0] = '\0';
	if (json_is_string(v) && json_string_length(v) > 0 &&
	    (r = pvr_req_name(q, field, true, ns, sizeof(ns), err)) < 0)
		return r;
	*own = false;
	*io = q->conn.io;
	if (!pool[0] || (strcmp(pool, q->t.pool) == 0 && strcmp(ns, q->t.rados_namespace) == 0))
		return 0;
	r = rados_ioctx_create(q->conn.cluster, pool, io);
	if (r == -ENOENT)
		return pv_err_set(err, r, PV_E_NOT_FOUND, "the Ceph cluster at %s has no pool \"%s\"",
				  q->t.monitors, pool);
	if (r < 0)
		return pv_err_set(err, r, PV_E_UNAVAILABLE, "cannot open pool %s: %s", pool, strerror(-r));
	rados_ioctx_set_namespace(*io, ns[0] ? ns : NULL);
	*own = true;
	return 0;
}

int pvr_req_open_any(struct pvr_req *q, bool readonly, rbd_image_t *img, struct pv_err *err)
{
	char id[64];
	int r = pvr_req_name(q, "imageId", false, id, sizeof(id), err);
	if (r < 0 || !id[0])
		return r < 0 ? r : pvr_req_open(q, readonly, img, err);
	r = readonly ? rbd_open_by_id_read_only(q->conn.io, id, img, NULL) : rbd_open_by_id(q->conn.io, id, img, NULL);
	if (r < 0) {
		*img = NULL;
		if (r == -ENOENT)
			return pv_err_set(err, r, PV_E_NOT_FOUND, "pool %s has no image with id %s (it was removed)",
					  q->t.pool, id);
		return pvr_fail(&q->conn, r, "cannot open by id", err);
	}
	return 0;
}

bool pvr_parent_of(rbd_image_t img, struct pvr_parent *p)
{
	rbd_linked_image_spec_t pi;
	rbd_snap_spec_t ps;
	memset(p, 0, sizeof(*p));
	if (rbd_get_parent(img, &pi, &ps) < 0)
		return false;
	snprintf(p->pool, sizeof(p->pool), "%s", pi.pool_name);
	snprintf(p->ns, sizeof(p->ns), "%s", pi.pool_namespace);
	snprintf(p->id, sizeof(p->id), "%s", pi.image_id);
	rbd_linked_image_spec_cleanup(&pi);
	rbd_snap_spec_cleanup(&ps);
	return true;
}

/* An ioctx for a parent's pool and namespace (librados hands out any pool of the
 * cluster; the caller destroys it). */
static int parent_ioctx(struct pvr_req *q, const char *pool, const char *ns, rados_ioctx_t *io)
{
	rados_ioctx_t made = NULL;
	int r = rados_ioctx_create(q->conn.cluster, pool, &made);
	*io = r == 0 ? made : NULL;
	if (r == 0)
		rados_ioctx_set_namespace(made, ns[0] ? ns : NULL);
	return r;
}

int pvr_chain_depth(struct pvr_req *q, rbd_image_t img, int *depth, struct pv_err *err)
{
	rbd_image_t cur = img;
	rados_ioctx_t io = NULL;
	int r = 0;
	*depth = 0;
	while (*depth < CHAIN_MAX) {
		rbd_linked_image_spec_t pi;
		rbd_snap_spec_t ps;
		rbd_image_t next = NULL;
		rados_ioctx_t nio = NULL;
		r = rbd_get_parent(cur, &pi, &ps);
		if (r == -ENOENT) {
			r = 0;
			break;
		}
		if (r < 0)
			break;
		++*depth;
		r = parent_ioctx(q, pi.pool_name, pi.pool_namespace, &nio);
		if (r == 0 && (r = rbd_open_by_id_read_only(nio, pi.image_id, &next, NULL)) == 0 &&
		    (r = rbd_snap_set_by_id(next, ps.id)) < 0)
			rbd_close(next);
		if (r < 0 && nio)
			rados_ioctx_destroy(nio);
		rbd_linked_image_spec_cleanup(&pi);
		rbd_snap_spec_cleanup(&ps);
		if (cur != img) {
			rbd_close(cur);
			rados_ioctx_destroy(io);
		}
		cur = img;
		if (r < 0)
			break;
		cur = next;
		io = nio;
	}
	if (cur != img) {
		rbd_close(cur);
		rados_ioctx_destroy(io);
	}
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot follow the parent chain of", err);
	return 0;
}

/* Snapshots of any namespace (user, and trashed ones kept for clones); -1 on error. */
static int count_snaps(rbd_image_t img)
{
	static rbd_snap_info_t snaps[SNAPS_MAX];
	int max = SNAPS_MAX, n = rbd_snap_list(img, snaps, &max);
	if (n == -ERANGE)
		return max;
	if (n >= 0)
		rbd_snap_list_end(snaps);
	return n < 0 ? -1 : n;
}

int pvr_purge_trashed(struct pvr_req *q, const struct pvr_parent *start)
{
	struct pvr_parent p = *start;
	int gone = 0;
	for (int level = 0; level < CHAIN_MAX && p.id[0]; level++) {
		rados_ioctx_t io;
		rbd_trash_image_info_t info;
		rbd_image_t img;
		struct pvr_parent up;
		if (parent_ioctx(q, p.pool, p.ns, &io) < 0)
			break;
		bool trashed = rbd_trash_get(io, p.id, &info) == 0, go = false, has_up = false;
		if (trashed)
			rbd_trash_get_cleanup(&info);
		if (trashed && rbd_open_by_id_read_only(io, p.id, &img, NULL) == 0) {
			go = pvr_made_by_pvnode(img) && count_snaps(img) == 0;
			has_up = pvr_parent_of(img, &up);
			rbd_close(img);
		}
		if (go && rbd_trash_remove(io, p.id, false) == 0)
			gone++;
		else
			go = false;
		rados_ioctx_destroy(io);
		if (!go || !has_up)
			break;
		p = up;
	}
	return gone;
}

/* request: image + snap → imageId, snapId, size (the image's at the snapshot). */
static int op_snap_create(struct pvr_req *q, struct pv_err *err)
{
	char snap[PVR_NAME_MAX + 1], id[64];
	uint64_t snap_id = 0, size = 0;
	rbd_image_t img;
	int r = pvr_req_name(q, "snap", true, snap, sizeof(snap), err);
	if (r < 0 || (r = pvr_req_open(q, false, &img, err)) < 0)
		return r;
	/* the controller froze a staged filesystem; librbd's own quiesce hooks need a
	 * kernel client (krbd) and would only add a round trip */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = rbd_snap_create2(img, snap, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	bool created = r == 0;
	if (r == -EEXIST)
		r = 0;
	if (r == 0 && (r = rbd_get_id(img, id, sizeof(id))) == 0 && (r = rbd_snap_get_id(img, snap, &snap_id)) == 0 &&
	    (r = rbd_snap_set(img, snap)) == 0)
		r = rbd_get_size(img, &size);
	rbd_close(img);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot snapshot", err);
	json_object_set_new(q->reply, "created", json_boolean(created));
	json_object_set_new(q->reply, "imageId", json_string(id));
	json_object_set_new(q->reply, "snapId", json_integer((json_int_t)snap_id));
	json_object_set_new(q->reply, "size", json_integer((json_int_t)size));
	/* what the snapshot itself took (the figure: no data is copied) */
	json_int_t took_us = (json_int_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	json_object_set_new(q->reply, "tookUs", json_integer(took_us));
	return 0;
}

/* request: imageId (or image) + snap. Gone already is success ("removed":false); the
 * image, if pvnode moved it to the trash and this was its last snapshot, goes too
 * ("purged"). */
static int op_snap_remove(struct pvr_req *q, struct pv_err *err)
{
	char snap[PVR_NAME_MAX + 1], id[64] = "";
	rbd_image_t img;
	int r = pvr_req_name(q, "snap", true, snap, sizeof(snap), err);
	if (r < 0)
		return r;
	r = pvr_req_open_any(q, false, &img, err);
	if (r == -ENOENT) {
		pv_err_clear(err);
		json_object_set_new(q->reply, "removed", json_false());
		return 0;
	}
	if (r < 0)
		return r;
	if (rbd_get_id(img, id, sizeof(id)) < 0)
		id[0] = '\0';
	r = rbd_snap_remove2(img, snap, 0, NULL, NULL);   /* with clones: to the snapshot trash */
	rbd_close(img);
	if (r < 0 && r != -ENOENT)
		return pvr_fail(&q->conn, r, "cannot remove a snapshot of", err);
	json_object_set_new(q->reply, "removed", json_boolean(r == 0));
	struct pvr_parent self = { .id = "" };
	snprintf(self.pool, sizeof(self.pool), "%s", q->t.pool);
	snprintf(self.ns, sizeof(self.ns), "%s", q->t.rados_namespace);
	snprintf(self.id, sizeof(self.id), "%s", id);
	json_object_set_new(q->reply, "purged", json_integer(id[0] ? pvr_purge_trashed(q, &self) : 0));
	return 0;
}

static int op_snap_list(struct pvr_req *q, struct pv_err *err)
{
	static rbd_snap_info_t snaps[SNAPS_MAX];
	int max = SNAPS_MAX;
	rbd_image_t img;
	int r = pvr_req_open_any(q, true, &img, err);
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

static int op_children(struct pvr_req *q, struct pv_err *err)
{
	static rbd_linked_image_spec_t kids[CHILDREN_MAX];
	size_t n = CHILDREN_MAX;
	char snap[PVR_NAME_MAX + 1];
	rbd_image_t img;
	int r = pvr_req_name(q, "snap", false, snap, sizeof(snap), err);
	if (r < 0 || (r = pvr_req_open_any(q, true, &img, err)) < 0)
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
	{ "snap-create", true, op_snap_create, false },
	{ "snap-remove", false, op_snap_remove, false },
	{ "snap-list", false, op_snap_list, false },
	{ "children", false, op_children, false },
	{ "trash-remove", false, op_trash_remove, false },
	{ NULL, false, NULL, false },
};
