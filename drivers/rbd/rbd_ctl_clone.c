/*
 * rbd_ctl_clone.c — pvnode-rbd's operations that make a volume from other data:
 * restore (a new image from a snapshot), clone-volume (a new image from a volume, through
 * a temporary snapshot, as ceph-csi does) and flatten (copy what a clone still reads from
 * its parents into it, in the background when asked).
 *
 * Clones are format 2 (rbd_clone3 with RBD_IMAGE_OPTION_CLONE_FORMAT 2): no protect
 * step, the parent snapshot can be removed while clones read through it (it moves to
 * librbd's snapshot trash and goes with its last clone). A volume's temporary snapshot
 * is removed as soon as the clone exists, for that reason: it never shows in a snapshot
 * list, never blocks deleting the source, and disappears with the clone's flatten or
 * delete. A snapshot whose volume was deleted lives on an image in the RBD trash, which
 * librbd cannot clone from (rbd_clone3 takes a parent by name only): that restore copies
 * the snapshot's data instead (rbd_copy2: objects the snapshot lacks are not written),
 * into an image marked incomplete until the copy is done: a failed copy removes it, and
 * the retry after a kill (which cannot) finishes it.
 *
 * Chain depth (how many parents a clone reads through; a plain image is 0): every read
 * of a block the clone has not written goes one image up per level, and every level
 * keeps its parent's snapshot alive. A new image deeper than PVR_DEPTH_SOFT (4) is
 * flattened in the background right after it is made (the caller starts it: the reply
 * says "flatten"), so a chain of restores of restores stays short without slowing the
 * call that made it; one deeper than PVR_DEPTH_HARD (8) is refused as busy (-EMLINK)
 * while the source is flattened, and the retry succeeds. These are ceph-csi's defaults
 * (rbdSoftMaxCloneDepth 4, rbdHardMaxCloneDepth 8): the same numbers mean the same
 * behaviour for users moving over, and 4 levels bound a cold read to 5 lookups while
 * most restores (snapshot → volume, once) never pay for a copy.
 *
 * A background flatten holds the image's exclusive lock while nobody else does (librbd's
 * default, cooperative policy); it says so in the image metadata (pvnode.flattener), and
 * a stage that finds it holding the lock asks for it (rbd_helper.c): librbd finishes the
 * copyups in flight, hands the lock over and runs the rest of the flatten in the stage's
 * helper, the new owner. So a restored volume can be staged at once.
 *
 * Every new image gets pvnode's marks (provisioned, and the source it copies, so a retry
 * with the same source reuses it and another source is refused); the fence holder the
 * clone inherited from its parent's metadata is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rbd_ctl.h"
#include "pvnode/util.h"

#define PVR_DEPTH_SOFT 4
#define PVR_DEPTH_HARD 8
#define INCOMPLETE_KEY "pvnode.incomplete"   /* a copy into this image did not finish */
#define SOURCE_MAX 512

static int image_options(const struct pvr_req *q, bool clone, rbd_image_options_t o, struct pv_err *err)
{
	int r = clone ? rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_CLONE_FORMAT, 2)
		      : rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_FORMAT, 2);
	if (r == 0)   /* a clone reads through its parent: layering, whatever else was asked */
		r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_FEATURES,
						 q->t.features | (clone ? RBD_FEATURE_LAYERING : 0));
	if (r == 0 && q->t.data_pool[0])
		r = rbd_image_options_set_string(o, RBD_IMAGE_OPTION_DATA_POOL, q->t.data_pool);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "librbd refused an image option: %s", strerror(-r));
	return 0;
}

static int grow(rbd_image_t img, uint64_t size)
{
	uint64_t have = 0;
	int r = rbd_get_size(img, &have);
	if (r == 0 && size > have)
		r = rbd_resize2(img, size, false, NULL, NULL);
	return r;
}

/* The new image: pvnode's marks, no inherited fence holder, the capacity asked for. A
 * failure removes it (nothing half-made is left). */
static int finish(struct pvr_req *q, const char *source, uint64_t size, struct pv_err *err)
{
	rbd_image_t img;
	int r = pvr_req_open(q, false, &img, err);
	if (r < 0)
		return r;
	if ((r = rbd_metadata_remove(img, PVR_HOLDER_KEY)) == -ENOENT)
		r = 0;
	if (r == 0 && (r = rbd_metadata_set(img, PVR_MADE_KEY, "1")) == 0 &&
	    (r = rbd_metadata_set(img, PVR_SOURCE_KEY, source)) == 0)
		r = grow(img, size);
	rbd_close(img);
	if (r < 0) {
		rbd_remove(q->conn.io, q->t.image);
		return pvr_fail(&q->conn, r, "cannot finish the new image", err);
	}
	return 0;
}

/* The destination exists: a copy of the same source made by pvnode is a retry (grown to
 * size; *incomplete when a copy into it did not finish), anything else is kind exists. */
static int dest_existing(struct pvr_req *q, const char *source, uint64_t size, bool *incomplete,
			 struct pv_err *err)
{
	char have[SOURCE_MAX], flag[8], spec[400];
	size_t n = sizeof(have), fn = sizeof(flag);
	rbd_image_t img;
	int r = pvr_req_open(q, false, &img, err);
	if (r < 0)
		return r;
	bool same = pvr_made_by_pvnode(img) && rbd_metadata_get(img, PVR_SOURCE_KEY, have, &n) == 0 &&
		    strcmp(have, source) == 0;
	*incomplete = rbd_metadata_get(img, INCOMPLETE_KEY, flag, &fn) == 0;
	if (same)
		r = grow(img, size);
	rbd_close(img);
	pvr_spec(&q->t, NULL, spec, sizeof(spec));
	if (!same)
		return pv_err_set(err, -EEXIST, PV_E_EXISTS,
				  "image %s already exists and is not pvnode's copy of %s: choose another image name",
				  spec, source);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot grow", err);
	json_object_set_new(q->reply, "created", json_false());
	return 0;
}

static int refuse_deep(struct pvr_req *q, const char *what, int depth, struct pv_err *err)
{
	char spec[400];
	return pv_err_set(err, -EMLINK, PV_E_BUSY,
			  "%s is %d clones deep: a copy of it would be %d deep, more than pvnode allows (%d); "
			  "it is being flattened in the background: retry %s in a while",
			  what, depth, depth + 1, PVR_DEPTH_HARD, pvr_spec(&q->t, NULL, spec, sizeof(spec)));
}

struct copy_progress {
	const char *what;
	int shown;
};

static int copy_progress(uint64_t done, uint64_t total, void *data)
{
	struct copy_progress *p = data;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (pct != p->shown)
		pv_progress(true, "\rCopying %s: %3d%%", p->what, pct);
	p->shown = pct;
	return 0;
}

/* Copy a snapshot's data into a new image (the source is in the trash): made first with
 * the marks and INCOMPLETE_KEY, filled with rbd_copy2, unmarked. */
static int copy_into(struct pvr_req *q, rbd_image_t src, const char *source, uint64_t size, bool exists,
		     struct pv_err *err)
{
	rbd_image_options_t o;
	rbd_image_t dst;
	uint64_t src_size = 0;
	int r = rbd_get_size(src, &src_size);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot read the snapshot size of", err);
	if (!exists) {
		rbd_image_options_create(&o);
		r = image_options(q, false, o, err);
		if (r == 0 && (r = rbd_create4(q->conn.io, q->t.image, size > src_size ? size : src_size, o)) < 0)
			r = pvr_fail(&q->conn, r, "cannot create image", err);
		rbd_image_options_destroy(o);
		if (r < 0)
			return r;
	}
	if ((r = pvr_req_open(q, false, &dst, err)) < 0)
		return r;
	if (!exists && ((r = rbd_metadata_set(dst, PVR_MADE_KEY, "1")) < 0 ||
			(r = rbd_metadata_set(dst, PVR_SOURCE_KEY, source)) < 0 ||
			(r = rbd_metadata_set(dst, INCOMPLETE_KEY, "1")) < 0)) {
		rbd_close(dst);
		rbd_remove(q->conn.io, q->t.image);
		return pvr_fail(&q->conn, r, "cannot mark the new image", err);
	}
	if (pvr_req_bool(q, "progress")) {   /* stderr is the user's terminal */
		struct copy_progress p = { .what = source, .shown = -1 };
		r = rbd_copy_with_progress2(src, dst, copy_progress, &p);
		pv_progress(true, "\n");
	} else {
		r = rbd_copy2(src, dst);
	}
	if (r == 0)
		r = rbd_metadata_remove(dst, INCOMPLETE_KEY);
	rbd_close(dst);
	if (r < 0) {   /* nothing half-made is left (only a kill leaves it, marked for a retry) */
		rbd_remove(q->conn.io, q->t.image);
		return pvr_fail(&q->conn, r, "cannot copy the snapshot into", err);
	}
	return 0;
}

static void reply_made(struct pvr_req *q, bool created, int depth, bool copied)
{
	json_object_set_new(q->reply, "created", json_boolean(created));
	json_object_set_new(q->reply, "depth", json_integer(depth));
	json_object_set_new(q->reply, "copied", json_boolean(copied));
	json_object_set_new(q->reply, "flatten", json_boolean(depth > PVR_DEPTH_SOFT));
}

/* request: image (the new one), srcPool, srcNamespace, srcImageId, snap, size. */
static int op_restore(struct pvr_req *q, struct pv_err *err)
{
	char snap[PVR_NAME_MAX + 1], id[64], name[PVR_NAME_MAX + 1], pool[PVR_NAME_MAX + 1], source[SOURCE_MAX];
	uint64_t size = 0;
	size_t nl = sizeof(name);
	rados_ioctx_t sio;
	rbd_image_t src;
	rbd_trash_image_info_t info;
	bool own = false, incomplete = false;
	int depth = 0, r;
	if ((r = pvr_req_name(q, "snap", true, snap, sizeof(snap), err)) < 0 ||
	    (r = pvr_req_name(q, "srcImageId", true, id, sizeof(id), err)) < 0 ||
	    (r = pvr_req_name(q, "srcPool", false, pool, sizeof(pool), err)) < 0 ||
	    (r = pvr_req_u64(q, "size", true, &size, err)) < 0 || (r = pvr_req_ioctx(q, "src", &sio, &own, err)) < 0)
		return r;
	snprintf(source, sizeof(source), "snapshot %s of image id %s in pool %s", snap, id, pool[0] ? pool : q->t.pool);
	r = rbd_open_by_id_read_only(sio, id, &src, snap);
	if (r == -ENOENT) {
		r = pv_err_set(err, r, PV_E_NOT_FOUND, "the data of %s is gone (no such image or snapshot)", source);
		goto out;
	}
	if (r < 0) {
		r = pvr_fail(&q->conn, r, "cannot open the snapshot's image for", err);
		goto out;
	}
	bool trashed = rbd_trash_get(sio, id, &info) == 0;
	if (trashed)
		rbd_trash_get_cleanup(&info);
	if ((r = pvr_image_exists(q, q->t.image, err)) > 0) {
		r = dest_existing(q, source, size, &incomplete, err);
		if (r == 0 && incomplete)   /* a copy that did not finish: again */
			r = copy_into(q, src, source, size, true, err);
		if (r == 0)
			reply_made(q, false, 0, incomplete);
	} else if (r == 0 && trashed) {
		/* the source volume was deleted: its image has no name to clone from */
		if ((r = copy_into(q, src, source, size, false, err)) == 0)
			reply_made(q, true, 0, true);
	} else if (r == 0 && (r = pvr_chain_depth(q, src, &depth, err)) == 0) {
		rbd_image_options_t o;
		if (depth + 1 > PVR_DEPTH_HARD) {
			rbd_close(src);
			r = refuse_deep(q, source, depth, err);
			goto out;
		}
		if ((r = rbd_get_name(src, name, &nl)) < 0)
			r = pvr_fail(&q->conn, r, "cannot read the name of the source image for", err);
		rbd_image_options_create(&o);
		if (r == 0 && (r = image_options(q, true, o, err)) == 0 &&
		    (r = rbd_clone3(sio, name, snap, q->conn.io, q->t.image, o)) < 0)
			r = r == -EEXIST ? pv_err_set(err, r, PV_E_EXISTS, "image %s was made meanwhile by someone else",
						      q->t.image)
					 : pvr_fail(&q->conn, r, "cannot clone the snapshot into", err);
		rbd_image_options_destroy(o);
		if (r == 0 && (r = finish(q, source, size, err)) == 0)
			reply_made(q, true, depth + 1, false);
	}
	rbd_close(src);
out:
	if (own)
		rados_ioctx_destroy(sio);
	return r;
}

/* The temporary snapshot a volume clone goes through: one name per destination, so a
 * retry after a crash finds (and removes) the one it left. */
static void temp_snap_name(const char *dest, char *out, size_t len)
{
	if (strlen(dest) + 13 <= PVR_NAME_MAX) {
		snprintf(out, len, "pvnode-clone-%s", dest);
		return;
	}
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (const char *p = dest; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(out, len, "pvnode-clone-%016llx", (unsigned long long)h);
}

/* request: image (the new one), srcPool, srcNamespace, srcImage, size. */
static int op_clone_volume(struct pvr_req *q, struct pv_err *err)
{
	char name[PVR_NAME_MAX + 1], pool[PVR_NAME_MAX + 1], id[64], tmp[PVR_NAME_MAX + 1], source[SOURCE_MAX];
	uint64_t size = 0;
	rados_ioctx_t sio;
	rbd_image_t src;
	bool own = false, incomplete = false;
	int depth = 0, r;
	if ((r = pvr_req_name(q, "srcImage", true, name, sizeof(name), err)) < 0 ||
	    (r = pvr_req_name(q, "srcPool", false, pool, sizeof(pool), err)) < 0 ||
	    (r = pvr_req_u64(q, "size", true, &size, err)) < 0 || (r = pvr_req_ioctx(q, "src", &sio, &own, err)) < 0)
		return r;
	if ((r = rbd_open(sio, name, &src, NULL)) < 0) {
		r = r == -ENOENT ? pv_err_set(err, r, PV_E_NOT_FOUND, "the source image %s/%s does not exist",
					      pool[0] ? pool : q->t.pool, name)
				 : pvr_fail(&q->conn, r, "cannot open the source image for", err);
		goto out;
	}
	if ((r = rbd_get_id(src, id, sizeof(id))) < 0) {
		r = pvr_fail(&q->conn, r, "cannot read the id of the source of", err);
		goto close;
	}
	snprintf(source, sizeof(source), "volume image %s (id %s) in pool %s", name, id, pool[0] ? pool : q->t.pool);
	temp_snap_name(q->t.image, tmp, sizeof(tmp));
	if ((r = pvr_image_exists(q, q->t.image, err)) > 0) {
		if ((r = dest_existing(q, source, size, &incomplete, err)) == 0)
			reply_made(q, false, 0, false);
		goto drop_tmp;
	}
	if (r < 0 || (r = pvr_chain_depth(q, src, &depth, err)) < 0)
		goto close;
	if (depth + 1 > PVR_DEPTH_HARD) {
		r = refuse_deep(q, source, depth, err);
		goto close;
	}
	r = rbd_snap_create2(src, tmp, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
	if (r < 0 && r != -EEXIST) {
		r = pvr_fail(&q->conn, r, "cannot snapshot the source of", err);
		goto close;
	}
	rbd_image_options_t o;
	rbd_image_options_create(&o);
	if ((r = image_options(q, true, o, err)) == 0 && (r = rbd_clone3(sio, name, tmp, q->conn.io, q->t.image, o)) < 0)
		r = pvr_fail(&q->conn, r, "cannot clone the source into", err);
	rbd_image_options_destroy(o);
	if (r == 0 && (r = finish(q, source, size, err)) == 0)
		reply_made(q, true, depth + 1, false);
drop_tmp:
	/* with the clone made it moves to the snapshot trash and goes with the clone */
	if (rbd_snap_remove2(src, tmp, 0, NULL, NULL) < 0 && r == 0)
		json_object_set_new(q->reply, "warning", json_string("the temporary snapshot could not be removed"));
close:
	rbd_close(src);
out:
	if (own)
		rados_ioctx_destroy(sio);
	return r;
}

/* Say on the image which client flattens it (PVR_FLATTENER_KEY, bare address): a stage
 * that finds this client holding the lock asks for it (rbd_helper.c). Best effort. */
static void mark_flattener(struct pvr_req *q, rbd_image_t img, char *me, size_t len)
{
	char *addrs = NULL;
	me[0] = '\0';
	if (rados_getaddrs(q->conn.cluster, &addrs) < 0 || !addrs)
		return;
	const char *a = pvr_bare_addr(addrs);
	snprintf(me, len, "%.*s", (int)strcspn(a, ",]"), a);
	rados_buffer_free(addrs);
	if (rbd_metadata_set(img, PVR_FLATTENER_KEY, me) < 0)
		me[0] = '\0';
}

/* request: imageId or image; background (rbd_ctl.c). Not a clone: success. The parent it
 * no longer needs goes if pvnode trashed it and nothing else needs it. */
static int op_flatten(struct pvr_req *q, struct pv_err *err)
{
	struct pvr_parent p;
	rbd_image_t img;
	int r = pvr_req_open_any(q, false, &img, err);
	if (r < 0)
		return r;
	bool clone = pvr_parent_of(img, &p);
	char me[128] = "";
	if (clone)
		mark_flattener(q, img, me, sizeof(me));
	r = clone ? rbd_flatten(img) : 0;
	if (me[0])
		rbd_metadata_remove(img, PVR_FLATTENER_KEY);
	rbd_close(img);
	if (r == -EINVAL)
		r = 0;            /* no parent: already flat */
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot flatten", err);
	json_object_set_new(q->reply, "flattened", json_boolean(clone));
	json_object_set_new(q->reply, "purged", json_integer(clone ? pvr_purge_trashed(q, &p) : 0));
	return 0;
}

const struct pvr_op pvr_clone_ops[] = {
	{ "restore", true, op_restore, false },
	{ "clone-volume", true, op_clone_volume, false },
	{ "flatten", false, op_flatten, true },
	{ NULL, false, NULL, false },
};
