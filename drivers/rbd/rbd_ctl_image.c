/*
 * rbd_ctl_image.c — pvnode-rbd's image operations: create, info, remove, resize,
 * metadata-get / metadata-set / metadata-remove, plus the request helpers every
 * operation uses (the lock operations are in rbd_ctl_lock.c).
 *
 * Idempotent where the driver needs it: create of an image that exists with the same
 * size reuses it, remove of a missing image succeeds with "existed":false. A live
 * watcher blocks remove (kind in-use, naming its address) unless the request names it
 * in "blocklist" (this volume's own dead helper), which is then blocklisted first, so a
 * crashed helper's watch does not block deletion for 30 s. An image with snapshots goes
 * to the RBD trash with "trash" (the driver's delete: its snapshots stay usable, see
 * rbd_ctl_snap.c); removing a clone looks whether its trashed parent can go now.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rbd_ctl.h"

#define WATCHERS_MAX 64
#define META_VALUE_MAX 1024

int pvr_req_u64(const struct pvr_req *q, const char *field, bool required, uint64_t *out,
		struct pv_err *err)
{
	json_t *v = json_object_get(q->json, field);
	if (!v && !required)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "request.%s: expected a whole number of bytes", field);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int pvr_req_name(const struct pvr_req *q, const char *field, bool required, char *out, size_t len,
		 struct pv_err *err)
{
	json_t *v = json_object_get(q->json, field);
	out[0] = '\0';
	if (!v && !required)
		return 0;
	return pvr_parse_name(field, json_string_value(v), out, len, err);
}

bool pvr_req_bool(const struct pvr_req *q, const char *field)
{
	return json_is_true(json_object_get(q->json, field));
}

int pvr_req_open(struct pvr_req *q, bool readonly, rbd_image_t *img, struct pv_err *err)
{
	return pvr_image_open(&q->conn, q->t.image, readonly, img, err);
}

int pvr_image_exists(struct pvr_req *q, const char *image, struct pv_err *err)
{
	rbd_image_t img;
	int r = rbd_open_read_only(q->conn.io, image, &img, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot look up", err);
	rbd_close(img);
	return 1;
}

const char *pvr_size_text(uint64_t bytes, char *buf, size_t len)
{
	char q[32];
	pv_quantity_format(bytes, q, sizeof(q));
	snprintf(buf, len, "%s (%llu bytes)", q, (unsigned long long)bytes);
	return buf;
}

static int create_options(const struct pvr_req *q, rbd_image_options_t o, struct pv_err *err)
{
	uint64_t order = 0;
	int r = pvr_req_u64(q, "order", false, &order, err);
	if (r < 0)
		return r;
	if (order && (order < 12 || order > 26))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "request.order: %llu is not an object size "
				  "order; expected 12-26 (4 KiB - 64 MiB objects)", (unsigned long long)order);
	if ((r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_FORMAT, 2)) == 0 &&
	    (r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_FEATURES, q->t.features)) == 0 &&
	    order)
		r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_ORDER, order);
	if (r == 0 && q->t.data_pool[0])
		r = rbd_image_options_set_string(o, RBD_IMAGE_OPTION_DATA_POOL, q->t.data_pool);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "librbd refused an image option: %s", strerror(-r));
	return 0;
}

/* Was the image made by pvnode? Its mark says so. (pvnode-rbd marks a new image right
 * after rbd_create4; a pvctl or pvnode killed meanwhile does not stop it, only a kill of
 * pvnode-rbd itself can leave a new image unmarked, and the refusal then says so.) */
bool pvr_made_by_pvnode(rbd_image_t img)
{
	char v[16];
	size_t n = sizeof(v);
	return rbd_metadata_get(img, PVR_MADE_KEY, v, &n) == 0;
}

/* The image exists: the same size is success when pvnode made it (a retry, or another
 * node's catalog asking for it again); another size, or an image of someone else, is
 * kind exists — reusing that would let a later delete remove what pvnode never made. */
static int create_existing(struct pvr_req *q, uint64_t size, struct pv_err *err)
{
	rbd_image_t img;
	uint64_t have = 0;
	char spec[400], a[64], b[64];
	bool ours = false;
	int r = pvr_req_open(q, true, &img, err);
	if (r < 0)
		return r;
	r = rbd_get_size(img, &have);
	if (r == 0)
		ours = pvr_made_by_pvnode(img);
	rbd_close(img);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot read the size of", err);
	pvr_spec(&q->t, NULL, spec, sizeof(spec));
	if (have != size)
		return pv_err_set(err, -EEXIST, PV_E_EXISTS, "image %s already exists with size %s, not the %s asked for",
				  spec, pvr_size_text(have, a, sizeof(a)), pvr_size_text(size, b, sizeof(b)));
	if (!ours)
		return pv_err_set(err, -EEXIST, PV_E_EXISTS,
				  "image %s already exists and pvnode did not make it (it has no %s mark): register it "
				  "with pvctl create --existing (it is then kept at delete), or choose another image name",
				  spec, PVR_MADE_KEY);
	json_object_set_new(q->reply, "created", json_false());
	json_object_set_new(q->reply, "size", json_integer((json_int_t)have));
	return 0;
}

/* The mark that lets a retry reuse the image; a new image that cannot be marked is
 * removed again (nothing half-done). */
static int mark_made(struct pvr_req *q, struct pv_err *err)
{
	rbd_image_t img;
	int r = pvr_req_open(q, false, &img, err);
	if (r == 0) {
		r = rbd_metadata_set(img, PVR_MADE_KEY, "1");
		rbd_close(img);
		if (r < 0)
			r = pvr_fail(&q->conn, r, "cannot mark the new image", err);
	}
	if (r < 0)
		rbd_remove(q->conn.io, q->t.image);
	return r;
}

static int op_create(struct pvr_req *q, struct pv_err *err)
{
	uint64_t size = 0;
	rbd_image_options_t o;
	int r = pvr_req_u64(q, "size", true, &size, err);
	if (r < 0)
		return r;
	if (size == 0)
		return pv_err_set(err, -EINVAL, PV_E_RANGE, "request.size: an image needs a size above 0 bytes");
	rbd_image_options_create(&o);    /* never NULL: rbd_create4 crashes on NULL options */
	r = create_options(q, o, err);
	if (r == 0)
		r = rbd_create4(q->conn.io, q->t.image, size, o);
	rbd_image_options_destroy(o);
	if (r == -EEXIST)
		return create_existing(q, size, err);
	if (r == -ENOENT && q->t.data_pool[0])
		return pv_err_set(err, r, PV_E_NOT_FOUND, "attributes.dataPool: the cluster has no pool \"%s\"",
				  q->t.data_pool);
	if (r < 0)
		return err->kind ? r : pvr_fail(&q->conn, r, "cannot create image", err);
	if ((r = mark_made(q, err)) < 0)
		return r;
	json_object_set_new(q->reply, "created", json_true());
	json_object_set_new(q->reply, "size", json_integer((json_int_t)size));
	return 0;
}

/* [{"address":..., "id":...}] of the image's watchers (our own read-only open has none). */
static int list_watchers(struct pvr_req *q, rbd_image_t img, json_t **out, struct pv_err *err)
{
	rbd_image_watcher_t w[WATCHERS_MAX];
	size_t n = WATCHERS_MAX;
	int r = rbd_watchers_list(img, w, &n);
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot list the watchers of", err);
	*out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*out, json_pack("{s:s,s:I}", "address", w[i].addr, "id",
						      (json_int_t)w[i].id));
	rbd_watchers_list_cleanup(w, n);
	return 0;
}

static int info_fields(struct pvr_req *q, rbd_image_t img, struct pv_err *err)
{
	uint64_t size = 0, features = 0;
	char text[256], holder[256];
	json_t *watchers = NULL, *owners = NULL;
	int r;
	if ((r = rbd_get_size(img, &size)) < 0 || (r = rbd_get_features(img, &features)) < 0)
		return pvr_fail(&q->conn, r, "cannot read", err);
	if ((r = list_watchers(q, img, &watchers, err)) < 0)
		return r;
	if ((r = pvr_lockers(q, img, &owners, err)) < 0) {
		json_decref(watchers);
		return r;
	}
	pvr_features_text(features, text, sizeof(text));
	pvr_read_holder(img, holder, sizeof(holder));
	json_object_set_new(q->reply, "size", json_integer((json_int_t)size));
	json_object_set_new(q->reply, "features", json_string(text));
	json_object_set_new(q->reply, "featureBits", json_integer((json_int_t)features));
	json_object_set_new(q->reply, "watchers", watchers);
	json_object_set_new(q->reply, "lockers", owners);
	json_object_set_new(q->reply, "holder", json_string(holder));
	return 0;
}

static int op_info(struct pvr_req *q, struct pv_err *err)
{
	rbd_image_t img;
	int r = rbd_open_read_only(q->conn.io, q->t.image, &img, NULL);
	if (r == -ENOENT) {
		json_object_set_new(q->reply, "exists", json_false());
		return 0;
	}
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot open (read-only)", err);
	json_object_set_new(q->reply, "exists", json_true());
	r = info_fields(q, img, err);
	rbd_close(img);
	return r;
}

/* Wait (bounded) until no watcher is left; the last list in *left. The OSDs drop a
 * blocklisted client's watches when the new OSD map reaches them, which a loaded cluster
 * took over 5 s to do (rbd_snapshot_chain's delete-while-flattening failed so); the
 * bound is the OSDs' own watch timeout (osd_client_watch_timeout, 30 s), after which a
 * silent watcher is gone anyway. */
#define UNWATCH_WAIT_STEPS 300   /* × 100 ms */
static int wait_unwatched(struct pvr_req *q, rbd_image_t img, bool waited, json_t **left,
			  struct pv_err *err)
{
	for (int i = 0;; i++) {
		int r = list_watchers(q, img, left, err);
		if (r < 0 || json_array_size(*left) == 0 || !waited || i >= UNWATCH_WAIT_STEPS)
			return r;
		json_decref(*left);
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
}

static int refuse_watched(struct pvr_req *q, json_t *left, struct pv_err *err)
{
	char spec[400];
	json_t *w = json_array_get(left, 0);
	return pv_err_set(err, -EBUSY, PV_E_IN_USE,
			  "image %s is still in use by the client at %s%s (a node has it attached); "
			  "detach it there first, or fence-release that node if it is dead",
			  pvr_spec(&q->t, NULL, spec, sizeof(spec)),
			  json_string_value(json_object_get(w, "address")),
			  json_array_size(left) > 1 ? " and others" : "");
}

/* Snapshots of the image a user made (librbd's trashed ones, kept for clones, not). */
static int user_snapshots(struct pvr_req *q, struct pv_err *err)
{
	rbd_snap_info_t snaps[256];
	int max = 256, users = 0;
	rbd_image_t img;
	int r = pvr_req_open(q, true, &img, err);
	if (r < 0)
		return r;
	int n = rbd_snap_list(img, snaps, &max);
	for (int i = 0; i < n; i++) {
		rbd_snap_namespace_type_t type = RBD_SNAP_NAMESPACE_TYPE_USER;
		rbd_snap_get_namespace_type(img, snaps[i].id, &type);
		users += type == RBD_SNAP_NAMESPACE_TYPE_USER;
	}
	if (n >= 0)
		rbd_snap_list_end(snaps);
	rbd_close(img);
	return n < 0 ? pvr_fail(&q->conn, n, "cannot list the snapshots of", err) : users;
}

/* The image's id, which names it in the trash once it is moved there. */
static void image_id(struct pvr_req *q, char *id, size_t len)
{
	rbd_image_t img;
	id[0] = '\0';
	if (rbd_open_read_only(q->conn.io, q->t.image, &img, NULL) == 0) {
		if (rbd_get_id(img, id, len) < 0)
			id[0] = '\0';
		rbd_close(img);
	}
}

/* rbd_remove; an image whose only snapshots are kept for clones (or any, with
 * request.trash) goes to the RBD trash instead; the reply names its trash id, which
 * trash-remove takes once nothing depends on it. */
static int remove_image(struct pvr_req *q, struct pv_err *err)
{
	char spec[400];
	int r = rbd_remove(q->conn.io, q->t.image), users = 0;
	pvr_spec(&q->t, NULL, spec, sizeof(spec));
	if (r == -ENOTEMPTY && (users = user_snapshots(q, err)) < 0)
		return users;
	if (r == -ENOTEMPTY && (users == 0 || pvr_req_bool(q, "trash"))) {
		char id[64];
		image_id(q, id, sizeof(id));
		r = rbd_trash_move(q->conn.io, q->t.image, 0);
		if (r == 0) {
			json_object_set_new(q->reply, "trashed", json_true());
			json_object_set_new(q->reply, "trashId", json_string(id));
			return 0;
		}
	}
	if (r == -ENOTEMPTY)
		return pv_err_set(err, r, PV_E_POLICY, "image %s has %d snapshot%s; delete %s first",
				  spec, users, users == 1 ? "" : "s", users == 1 ? "it" : "them");
	if (r == -EBUSY)
		return pv_err_set(err, r, PV_E_IN_USE, "image %s is in use (it has watchers)", spec);
	if (r < 0 && r != -ENOENT)
		return pvr_fail(&q->conn, r, "cannot remove", err);
	return 0;
}

/* pvnode's own background flatten of an image being removed is stopped (blocklisted:
 * what it copies is going anyway), not waited for, nor taken for a node using it. */
static void add_flattener(struct pvr_req *q, rbd_image_t img, json_t *stop)
{
	char who[128];
	size_t n = sizeof(who);
	json_t *w = NULL, *v;
	size_t i;
	if (rbd_metadata_get(img, PVR_FLATTENER_KEY, who, &n) < 0 || list_watchers(q, img, &w, NULL) < 0)
		return;
	json_array_foreach(w, i, v) {
		const char *a = json_string_value(json_object_get(v, "address"));
		if (a && strcmp(pvr_bare_addr(a), who) == 0) {
			json_array_append_new(stop, json_string(who));
			break;
		}
	}
	json_decref(w);
}

static int op_remove(struct pvr_req *q, struct pv_err *err)
{
	rbd_image_t img;
	json_t *left = NULL;
	int r = rbd_open_read_only(q->conn.io, q->t.image, &img, NULL);
	if (r == -ENOENT) {
		json_object_set_new(q->reply, "existed", json_false());
		return 0;
	}
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot open (read-only)", err);
	struct pvr_parent parent;
	bool clone = pvr_parent_of(img, &parent);
	json_t *given = json_object_get(q->json, "blocklist");
	json_t *stop = json_is_array(given) ? json_deep_copy(given) : json_array();
	if (!given || json_is_array(given))
		add_flattener(q, img, stop);
	int n = pvr_blocklist(q, given && !json_is_array(given) ? given : stop, err);   /* refuses a bad list */
	json_decref(stop);
	r = n < 0 ? n : wait_unwatched(q, img, n > 0, &left, err);
	rbd_close(img);
	if (r == 0 && json_array_size(left) > 0)
		r = refuse_watched(q, left, err);
	json_decref(left);
	if (r == 0)
		r = remove_image(q, err);
	if (r == 0)
		json_object_set_new(q->reply, "existed", json_true());
	/* a trashed parent (a deleted volume kept for this clone's snapshot) may be unneeded now */
	if (r == 0 && clone && !json_is_true(json_object_get(q->reply, "trashed")))
		json_object_set_new(q->reply, "purged", json_integer(pvr_purge_trashed(q, &parent)));
	return r;
}

static int op_resize(struct pvr_req *q, struct pv_err *err)
{
	uint64_t size = 0, have = 0;
	rbd_image_t img;
	char spec[400], a[64], b[64];
	int r = pvr_req_u64(q, "size", true, &size, err);
	if (r < 0 || (r = pvr_req_open(q, false, &img, err)) < 0)
		return r;
	r = rbd_get_size(img, &have);
	if (r < 0)
		r = pvr_fail(&q->conn, r, "cannot read the size of", err);
	else if (size < have)
		r = pv_err_set(err, -EINVAL, PV_E_RANGE, "image %s is %s; it cannot shrink to %s",
			       pvr_spec(&q->t, NULL, spec, sizeof(spec)), pvr_size_text(have, a, sizeof(a)),
			       pvr_size_text(size, b, sizeof(b)));
	else if (size > have && (r = rbd_resize2(img, size, false, NULL, NULL)) < 0)
		r = pvr_fail(&q->conn, r, "cannot resize", err);
	rbd_close(img);
	if (r == 0) {
		json_object_set_new(q->reply, "size", json_integer((json_int_t)size));
		json_object_set_new(q->reply, "resized", json_boolean(size > have));
	}
	return r;
}

static int meta_key(const struct pvr_req *q, const char **key, struct pv_err *err)
{
	const char *k = json_string_value(json_object_get(q->json, "key"));
	size_t n = k ? strlen(k) : 0;
	bool ok = n >= 1 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)k[i]) || strchr("._-", k[i]);
	if (!ok)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "request.key: \"%.64s\" is not a metadata key; "
				  "expected 1-64 of A-Z a-z 0-9 . _ -", k ? k : "");
	*key = k;
	return 0;
}

static int op_metadata(struct pvr_req *q, int what, struct pv_err *err)
{
	const char *key = NULL, *value = json_string_value(json_object_get(q->json, "value"));
	char buf[META_VALUE_MAX + 1];
	size_t n = sizeof(buf);
	rbd_image_t img;
	int r = meta_key(q, &key, err);
	if (r == 0 && what == 's' && (!value || !pv_value_printable(value, META_VALUE_MAX)))
		r = pv_err_set(err, -EINVAL, PV_E_INVALID, "request.value: expected printable text of at most %d bytes",
			       META_VALUE_MAX);
	if (r < 0 || (r = pvr_req_open(q, what == 'g', &img, err)) < 0)
		return r;
	if (what == 'g')
		r = rbd_metadata_get(img, key, buf, &n);
	else if (what == 's')
		r = rbd_metadata_set(img, key, value);
	else if ((r = rbd_metadata_remove(img, key)) == -ENOENT)
		r = 0;
	rbd_close(img);
	if (what == 'g' && r == -ENOENT) {
		json_object_set_new(q->reply, "value", json_null());
		return 0;
	}
	if (r < 0)
		return pvr_fail(&q->conn, r, "cannot access the metadata of", err);
	if (what == 'g')
		json_object_set_new(q->reply, "value", json_string(buf));
	return 0;
}

static int op_meta_get(struct pvr_req *q, struct pv_err *err) { return op_metadata(q, 'g', err); }
static int op_meta_set(struct pvr_req *q, struct pv_err *err) { return op_metadata(q, 's', err); }
static int op_meta_remove(struct pvr_req *q, struct pv_err *err) { return op_metadata(q, 'r', err); }

const struct pvr_op pvr_image_ops[] = {
	{ "create", true, op_create, false },
	{ "info", true, op_info, false },
	{ "remove", true, op_remove, false },
	{ "resize", true, op_resize, false },
	{ "metadata-get", true, op_meta_get, false },
	{ "metadata-set", true, op_meta_set, false },
	{ "metadata-remove", true, op_meta_remove, false },
	{ NULL, false, NULL, false },
};
