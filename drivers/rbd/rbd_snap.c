/*
 * rbd_snap.c — the RBD driver's snapshots and clones (driver side, no librbd: every step
 * runs in pvnode-rbd, rbd_ctl_snap.c and rbd_ctl_clone.c):
 *   snapshot_create  a native snapshot of the volume's image (rbd_snap_create2: metadata
 *                    only, milliseconds, whatever the volume holds); its record keeps
 *                    pool, radosNamespace, image, imageId and snap, so it can be found
 *                    again after its volume was deleted (the image then sits in the RBD
 *                    trash, where only its id names it);
 *   snapshot_delete  removes it; with clones reading through it librbd keeps it in its
 *                    snapshot trash until they are flattened or deleted (they stay
 *                    readable); the last one of a deleted volume takes the image with it;
 *   restore          a format-2 clone of the snapshot (a copy when its volume is gone),
 *                    grown to the new capacity;
 *   clone            a clone of another volume through a temporary snapshot.
 * A new image deeper than 4 clones is flattened in the background (a detached
 * pvnode-rbd: the call does not wait for the copy); one that would be deeper than 8 is
 * refused as busy while its source is flattened (rbd_ctl_clone.c says why 4 and 8).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rbd_driver.h"

/* Where a recorded snapshot lives: the origin PV's cluster, the recorded pool, namespace
 * and image, its image id and RBD snapshot name (all checked as Ceph names). */
static int snap_target(const struct pv_snapshot *snap, struct pvr_target *t, char *id, size_t idlen,
		       char *rsnap, size_t slen, struct pv_err *err)
{
	const char *ns = pv_map_get(&snap->attributes, "radosNamespace");
	int r = pvr_target_from_pv(&snap->origin, t, err);
	t->rados_namespace[0] = '\0';
	if (r == 0 && (r = pvr_parse_name("snapshot pool", pv_map_get(&snap->attributes, "pool"), t->pool,
					  sizeof(t->pool), err)) == 0 &&
	    (r = pvr_parse_name("snapshot image", pv_map_get(&snap->attributes, "image"), t->image,
				sizeof(t->image), err)) == 0 &&
	    (r = pvr_parse_name("snapshot imageId", pv_map_get(&snap->attributes, "imageId"), id, idlen, err)) == 0 &&
	    (r = pvr_parse_name("snapshot snap", pv_map_get(&snap->attributes, "snap"), rsnap, slen, err)) == 0 &&
	    ns && *ns)
		r = pvr_parse_name("snapshot radosNamespace", ns, t->rados_namespace, sizeof(t->rados_namespace), err);
	if (r < 0)
		pv_err_prefix(err, "snapshot %s: its record is damaged: ", snap->name);
	return r;
}

/* Start flattening an image (by id when given) in a detached pvnode-rbd; a failure to
 * start is logged, not returned: the volume is fine, only its chain stays long. */
void pvr_flatten_background(const struct pvr_target *where, const struct pvr_cred *c, const char *image,
			    const char *id, const char *why)
{
	struct pvr_target t = *where;
	struct pv_err err = { 0 };
	json_t *req = json_pack("{s:b}", "background", 1), *reply = NULL;
	snprintf(t.image, sizeof(t.image), "%s", id ? "" : image);
	if (id)
		json_object_set_new(req, "imageId", json_string(id));
	if (pvr_run(&t, c, "flatten", req, &reply, &err) < 0)
		pv_warn("RBD image %s/%s: cannot start flattening it in the background (%s): %s", t.pool, image, why,
			err.msg);
	else
		pv_info("RBD image %s/%s: flattening in the background (pid %lld): %s", t.pool, image,
			(long long)json_integer_value(json_object_get(reply, "pid")), why);
	json_decref(reply);
}

int pvr_snapshot_create(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c;
	json_t *reply = NULL;
	char rsnap[PVR_NAME_MAX + 1];
	(void)n;
	int r = pvr_prepare(pv, s, &t, &c, err);
	/* the RBD snapshot carries the pvnode name, so `rbd snap ls` shows which it is */
	if (r == 0)
		r = pvr_parse_name("snapshot name", snap->name, rsnap, sizeof(rsnap), err);
	if (r == 0)
		r = pvr_run(&t, &c, "snap-create", json_pack("{s:s}", "snap", rsnap), &reply, err);
	const char *id = json_string_value(json_object_get(reply, "imageId"));
	char snap_id[32];
	snprintf(snap_id, sizeof(snap_id), "%lld", (long long)json_integer_value(json_object_get(reply, "snapId")));
	if (r == 0 && (pv_map_set(&snap->attributes, "pool", t.pool) < 0 ||
		       (t.rados_namespace[0] && pv_map_set(&snap->attributes, "radosNamespace", t.rados_namespace) < 0) ||
		       pv_map_set(&snap->attributes, "image", t.image) < 0 ||
		       pv_map_set(&snap->attributes, "imageId", id ? id : "") < 0 ||
		       pv_map_set(&snap->attributes, "snap", rsnap) < 0 ||
		       pv_map_set(&snap->attributes, "snapId", snap_id) < 0))
		r = pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	if (r == 0) {
		snap->ready = true;   /* a native snapshot is complete when it exists */
		pv_info("volume %s: RBD snapshot %s/%s@%s %s (librbd: %.1f ms)", pv->name, t.pool, t.image, rsnap,
			json_is_true(json_object_get(reply, "created")) ? "created" : "exists: reused",
			(double)json_integer_value(json_object_get(reply, "tookUs")) / 1000.0);
	}
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}

int pvr_snapshot_delete(const struct pv_snapshot *snap, const struct pv_secrets *s, const struct pv_node_ctx *n,
			struct pv_err *err)
{
	struct pvr_target t;
	struct pvr_cred c = { 0 };
	json_t *reply = NULL;
	char id[64], rsnap[PVR_NAME_MAX + 1];
	(void)n;
	int r = snap_target(snap, &t, id, sizeof(id), rsnap, sizeof(rsnap), err);
	if (r == 0)
		r = pvr_cred_from_map(&s->map, &c, err);
	if (r == 0)
		r = pvr_run(&t, &c, "snap-remove", json_pack("{s:s,s:s}", "imageId", id, "snap", rsnap), &reply, err);
	if (r == 0)
		pv_info("snapshot %s: RBD snapshot %s/%s@%s %s%s", snap->name, t.pool, t.image, rsnap,
			json_is_true(json_object_get(reply, "removed")) ? "removed" : "was already gone",
			json_integer_value(json_object_get(reply, "purged")) > 0
				? "; its deleted volume's image left the RBD trash with it" : "");
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}

/* After a restore or a clone: record the image, flatten a deep one in the background. */
static int made(struct pv *pv, const struct pvr_target *t, const struct pvr_cred *c, json_t *reply,
		const char *from, struct pv_err *err)
{
	if (!pv_map_get(&pv->attributes, "image") && pv_map_set(&pv->attributes, "image", t->image) < 0)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	char why[64];
	snprintf(why, sizeof(why), "it is %lld clones deep, more than 4",
		 (long long)json_integer_value(json_object_get(reply, "depth")));
	pv_info("volume %s: RBD image %s/%s %s from %s%s", pv->name, t->pool, t->image,
		!json_is_true(json_object_get(reply, "created")) ? "exists: reused"
		: json_is_true(json_object_get(reply, "copied")) ? "copied" : "cloned", from,
		json_is_true(json_object_get(reply, "copied")) ? " (its volume is deleted: the data was copied)" : "");
	if (json_is_true(json_object_get(reply, "flatten")))
		pvr_flatten_background(t, c, t->image, NULL, why);
	if (json_string_value(json_object_get(reply, "warning")))
		pv_warn("volume %s: %s", pv->name, json_string_value(json_object_get(reply, "warning")));
	return 0;
}

int pvr_restore(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvr_target t, st;
	struct pvr_cred c;
	json_t *reply = NULL;
	char id[64], rsnap[PVR_NAME_MAX + 1], from[PV_NAME_MAX + 16];
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0)
		r = snap_target(snap, &st, id, sizeof(id), rsnap, sizeof(rsnap), err);
	if (r == 0)
		r = pvr_run_progress(&t, &c, "restore",
				     json_pack("{s:s,s:s,s:s,s:s,s:I,s:b}", "srcPool", st.pool, "srcNamespace",
					       st.rados_namespace, "srcImageId", id, "snap", rsnap, "size",
					       (json_int_t)pv->capacity, "progress", n->progress),
				     n->progress, &reply, err);
	snprintf(from, sizeof(from), "snapshot %s", snap->name);
	if (r == -EMLINK) {   /* too deep: flatten the snapshot's image (deep-flatten takes its snapshots too) */
		snprintf(st.monitors, sizeof(st.monitors), "%s", t.monitors);
		snprintf(st.mon_host, sizeof(st.mon_host), "%s", t.mon_host);
		pvr_flatten_background(&st, &c, st.image, id, "a restore of it would be more than 8 clones deep");
	}
	if (r == 0)
		r = made(pv, &t, &c, reply, from, err);
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}

int pvr_clone(struct pv *pv, const struct pv *src, const struct pv_secrets *s, const struct pv_node_ctx *n,
	      struct pv_err *err)
{
	struct pvr_target t, st;
	struct pvr_cred c;
	json_t *reply = NULL;
	char from[PV_NAME_MAX + 16];
	(void)n;
	int r = pvr_prepare(pv, s, &t, &c, err);
	if (r == 0 && (r = pvr_target_from_pv(src, &st, err)) < 0)
		pv_err_prefix(err, "source volume %s: ", src->name);
	if (r == 0 && strcmp(t.pool, st.pool) == 0 && strcmp(t.rados_namespace, st.rados_namespace) == 0 &&
	    strcmp(t.image, st.image) == 0)
		r = pv_err_set(err, -EINVAL, PV_E_INVALID, "volume %s: attributes.image: %s is the source volume's own image",
			       pv->name, t.image);
	if (r == 0)
		r = pvr_run(&t, &c, "clone-volume",
			    json_pack("{s:s,s:s,s:s,s:I}", "srcPool", st.pool, "srcNamespace", st.rados_namespace,
				      "srcImage", st.image, "size", (json_int_t)pv->capacity),
			    &reply, err);
	snprintf(from, sizeof(from), "volume %s", src->name);
	if (r == -EMLINK) {
		snprintf(st.monitors, sizeof(st.monitors), "%s", t.monitors);
		snprintf(st.mon_host, sizeof(st.mon_host), "%s", t.mon_host);
		pvr_flatten_background(&st, &c, st.image, NULL, "a clone of it would be more than 8 clones deep");
	}
	if (r == 0)
		r = made(pv, &t, &c, reply, from, err);
	json_decref(reply);
	pvr_cred_wipe(&c);
	return r;
}
