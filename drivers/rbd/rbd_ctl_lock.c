/*
 * rbd_ctl_lock.c — pvnode-rbd's fencing operations: lock-owners, break-lock and
 * blocklist, plus the pieces info and remove share (lockers, the recorded holder node,
 * blocklisting a list of client addresses).
 *
 * The fence of an RBD volume is the image's managed exclusive lock, taken by the
 * node's helper; the helper records its node id in the image metadata (pvnode.holder)
 * so a refusal on another node can name it. Breaking the lock blocklists its owner
 * (librbd's rbd_blocklist_on_break_lock), so a holder that was only stopped, not dead,
 * gets -ESHUTDOWN on every later request. A blocklisted client's watches are dropped by
 * the OSDs too, which is why blocklisting a dead helper's address lets deletion and the
 * next node's lock request go ahead at once instead of after the 30 s watch timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rbd_ctl.h"

/* The exclusive lock's owners as librbd names them (what rbd_lock_break takes); needs
 * an image opened read-write. */
static int lock_owners(struct pvr_req *q, rbd_image_t img, json_t **out, struct pv_err *err)
{
	char *owners[8];
	size_t n = 8;
	rbd_lock_mode_t mode;
	int r = rbd_lock_get_owners(img, &mode, owners, &n);
	*out = json_array();
	if (r == -ENOENT)
		return 0;         /* nobody holds it */
	if (r < 0) {
		json_decref(*out);
		*out = NULL;
		return pvr_fail(&q->conn, r, "cannot read the lock owners of", err);
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*out, json_string(owners[i]));
	rbd_lock_get_owners_cleanup(owners, n);
	return 0;
}

int pvr_lockers(struct pvr_req *q, rbd_image_t img, json_t **out, struct pv_err *err)
{
	char tag[256], clients[4096], cookies[4096], addrs[4096];
	size_t tl = sizeof(tag), cl = sizeof(clients), kl = sizeof(cookies), al = sizeof(addrs);
	int excl = 0;
	ssize_t n = rbd_list_lockers(img, &excl, tag, &tl, clients, &cl, cookies, &kl, addrs, &al);
	*out = json_array();
	if (n < 0) {
		json_decref(*out);
		*out = NULL;
		return pvr_fail(&q->conn, (int)n, "cannot list the lockers of", err);
	}
	const char *c = clients, *k = cookies, *a = addrs;
	for (ssize_t i = 0; i < n; i++) {
		json_array_append_new(*out, json_pack("{s:s,s:s,s:s}", "client", c, "cookie", k,
						      "address", a));
		c += strlen(c) + 1;
		k += strlen(k) + 1;
		a += strlen(a) + 1;
	}
	return 0;
}

void pvr_read_holder(rbd_image_t img, char *buf, size_t len)
{
	size_t n = len;
	if (rbd_metadata_get(img, PVR_HOLDER_KEY, buf, &n) < 0)
		buf[0] = '\0';
}

/* A client address as watchers show it: "127.0.0.1:0/3141592", "v1:[::1]:0/42". */
static bool client_addr_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	const char *slash = s ? strrchr(s, '/') : NULL;
	if (n < 5 || n > 80 || !slash || !slash[1] || strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return false;
	if (strncmp(s, "v1:", 3) == 0 || strncmp(s, "v2:", 3) == 0)
		s += 3;
	return strspn(s, "0123456789abcdefABCDEF.:[]") == (size_t)(slash - s);
}

int pvr_blocklist(struct pvr_req *q, json_t *list, struct pv_err *err)
{
	size_t i;
	json_t *v;
	if (!list)
		return 0;
	if (!json_is_array(list))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "request.blocklist: expected a list of client addresses");
	json_array_foreach(list, i, v) {
		const char *a = json_string_value(v);
		if (!client_addr_valid(a))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "request.blocklist: \"%.80s\" is not a client "
					  "address like 127.0.0.1:0/3141592", a ? a : "");
		int r = rados_blocklist_add(q->conn.cluster, (char *)a, 0);
		if (r < 0)
			return pvr_fail(&q->conn, r, "cannot blocklist a dead client of", err);
	}
	if (json_array_size(list))
		rados_wait_for_latest_osdmap(q->conn.cluster);
	return (int)json_array_size(list);
}

static int op_lock_owners(struct pvr_req *q, struct pv_err *err)
{
	rbd_image_t img;
	json_t *owners = NULL, *lk = NULL;
	char holder[256];
	int r = pvr_req_open(q, false, &img, err);
	if (r < 0)
		return r;
	r = lock_owners(q, img, &owners, err);
	if (r == 0 && (r = pvr_lockers(q, img, &lk, err)) < 0)
		json_decref(owners);
	pvr_read_holder(img, holder, sizeof(holder));
	rbd_close(img);
	if (r < 0)
		return r;
	json_object_set_new(q->reply, "lockOwners", owners);
	json_object_set_new(q->reply, "lockers", lk);
	json_object_set_new(q->reply, "holder", json_string(holder));
	return 0;
}

/* Is the lock's owner the one the request names (request.owner, or request.node as the
 * recorded holder)? A lock whose holder recorded no node is not broken by node. */
static int check_victim(struct pvr_req *q, const char *victim, const char *holder, struct pv_err *err)
{
	const char *want = json_string_value(json_object_get(q->json, "owner"));
	const char *node = json_string_value(json_object_get(q->json, "node"));
	char spec[400];
	pvr_spec(&q->t, NULL, spec, sizeof(spec));
	if (!want && !node)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "break-lock needs request.owner or request.node");
	if (want && strcmp(want, victim) != 0)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "the lock on %s is not held by %s", spec, want);
	if (!want && !holder[0])
		return pv_err_set(err, -EBUSY, PV_E_POLICY,
				  "the lock on %s is held by %s, which recorded no node (not a pvnode helper?): "
				  "refusing to break it for node %s; check `rbd lock ls` and `rbd status`",
				  spec, victim, node);
	if (!want && strcmp(holder, node) != 0)
		return pv_err_set(err, -EBUSY, PV_E_POLICY,
				  "the lock on %s is held by node %s, not %s: refusing to break it", spec,
				  holder, node);
	return 0;
}

/* Break the exclusive lock of request.owner, or of whoever holds it when request.node
 * is the node recorded as holder; the owner is blocklisted (its late writes fail) and
 * the holder record goes. */
static int break_owner(struct pvr_req *q, rbd_image_t img, json_t *owners, struct pv_err *err)
{
	char holder[256];
	const char *victim = json_string_value(json_array_get(owners, 0));
	pvr_read_holder(img, holder, sizeof(holder));
	int r = check_victim(q, victim ? victim : "", holder, err);
	if (r < 0)
		return r;
	r = rbd_lock_break(img, RBD_LOCK_MODE_EXCLUSIVE, victim);
	if (r < 0 && r != -ENOENT)
		return pvr_fail(&q->conn, r, "cannot break the lock of", err);
	rados_wait_for_latest_osdmap(q->conn.cluster);
	if (holder[0])
		rbd_metadata_remove(img, PVR_HOLDER_KEY);   /* best effort: the next holder overwrites it */
	json_object_set_new(q->reply, "broken", json_string(victim));
	json_object_set_new(q->reply, "holder", json_string(holder));
	return 0;
}

static int op_break_lock(struct pvr_req *q, struct pv_err *err)
{
	rbd_image_t img;
	json_t *owners = NULL;
	int r = pvr_req_open(q, false, &img, err);
	if (r < 0)
		return r;
	r = lock_owners(q, img, &owners, err);
	if (r == 0 && json_array_size(owners) == 0)
		json_object_set_new(q->reply, "broken", json_null());   /* nothing to break */
	else if (r == 0)
		r = break_owner(q, img, owners, err);
	json_decref(owners);
	rbd_close(img);
	return r;
}

/* Blocklist request.blocklist (dead helpers' client addresses): their watches go, so
 * they no longer hold up deletion or the next lock request. */
static int op_blocklist(struct pvr_req *q, struct pv_err *err)
{
	int n = pvr_blocklist(q, json_object_get(q->json, "blocklist"), err);
	if (n < 0)
		return n;
	json_object_set_new(q->reply, "blocklisted", json_integer(n));
	return 0;
}

const struct pvr_op pvr_lock_ops[] = {
	{ "lock-owners", true, op_lock_owners, false },
	{ "break-lock", true, op_break_lock, false },
	{ "blocklist", false, op_blocklist, false },
	{ NULL, false, NULL, false },
};
