/*
 * rbd_kernel.c — attaching through the kernel RBD client (krbd), for nodes with the rbd
 * module (mounter kernel, or auto where /sys/bus/rbd/add_single_major exists).
 *
 * The cephx key goes into this process's keyring as a "ceph" key (add_key), the map
 * request written to /sys/bus/rbd/add_single_major names that key instead of carrying
 * it (rbd_krbd.c builds the strings, unit-tested), and the key is invalidated as soon
 * as the kernel has parsed the request. For a fenced access the map asks for the
 * exclusive lock (`exclusive`: taken at map, never handed over) after the node was
 * recorded as holder (pvnode.holder) through pvnode-rbd; a lock with a live owner is
 * refused first, naming its node.
 *
 * Not exercised on the development machines (no rbd module there): it follows the
 * kernel's Documentation/ABI/testing/sysfs-bus-rbd and what `rbd device map` writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rbd_driver.h"
#include "rbd_krbd.h"

bool pvr_kernel_available(void)
{
	return access(PVR_KRBD_ADD, W_OK) == 0;
}

static int write_sysfs(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int r = n == (ssize_t)strlen(text) ? 0 : (n < 0 ? -errno : -EIO);
	close(fd);
	return r;
}

/* A device id ("0", "12") or -1. */
static int parse_id(const char *s)
{
	char *end;
	long v = s ? strtol(s, &end, 10) : -1;
	return s && *s && !*end && v >= 0 && v < 1 << 20 ? (int)v : -1;
}

static void read_attr(const char *dev, const char *name, char *buf, size_t len)
{
	char path[512];
	_cleanup_(pv_freep) char *text = NULL;
	size_t n;
	snprintf(path, sizeof(path), "%s/%s/%s", PVR_KRBD_DEVICES, dev, name);
	buf[0] = '\0';
	if (pv_read_file(path, &text, &n, NULL) == 0)
		snprintf(buf, len, "%s", text);
}

/* The id of the mapped device serving the target's head image, or -ENOENT. */
static int find_device(const struct pvr_target *t)
{
	DIR *d = opendir(PVR_KRBD_DEVICES);
	struct dirent *e;
	int id = -ENOENT;
	while (d && id < 0 && (e = readdir(d))) {
		char pool[PVR_NAME_MAX + 2], ns[PVR_NAME_MAX + 2], name[PVR_NAME_MAX + 2], snap[PVR_NAME_MAX + 2];
		if (e->d_name[0] == '.')
			continue;
		read_attr(e->d_name, "pool", pool, sizeof(pool));
		read_attr(e->d_name, "pool_ns", ns, sizeof(ns));
		read_attr(e->d_name, "name", name, sizeof(name));
		read_attr(e->d_name, "current_snap", snap, sizeof(snap));
		if (pvr_krbd_device_matches(t, pool, ns, name, snap))
			id = parse_id(e->d_name) < 0 ? -ENOENT : parse_id(e->d_name);
	}
	if (d)
		closedir(d);
	return id;
}

/* Refuse when a live client holds the lock; else record this node as the holder. */
static int claim_holder(const struct pv_attach_req *req, const struct pvr_target *t, const struct pvr_cred *c,
			struct pv_err *err)
{
	json_t *reply = NULL;
	int r = pvr_run(t, c, "lock-owners", NULL, &reply, err);
	if (r < 0)
		return r;
	json_t *owners = json_object_get(reply, "lockOwners");
	if (json_array_size(owners) > 0) {
		const char *holder = json_string_value(json_object_get(reply, "holder"));
		r = pv_err_set(err, -EBUSY, PV_E_POLICY,
			       "image %s/%s is locked by node %s (exclusive lock, client %s); node %s cannot map it read-write",
			       t->pool, t->image, holder && *holder ? holder : "(unrecorded)",
			       json_string_value(json_array_get(owners, 0)), req->node->node_id);
	}
	json_decref(reply);
	if (r == 0)
		r = pvr_run(t, c, "metadata-set", json_pack("{s:s,s:s}", "key", "pvnode.holder", "value",
							    req->node->node_id), NULL, err);
	return r;
}

/* Write the add request with the key in the process keyring for the moment it takes. */
static int map_image(const struct pvr_target *t, const struct pvr_cred *c, bool ro, bool exclusive,
		     struct pv_err *err)
{
	unsigned char raw[64];
	char desc[3 * PVR_NAME_MAX + 96], add[4096];
	int n = pvr_key_decode(c->key, raw, sizeof(raw)), r;
	if (n < 0)
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "secrets.userKey: not a cephx key");
	pvr_krbd_key_desc(t, c, desc, sizeof(desc));
	r = pvr_krbd_add_string(t, c, desc, ro, exclusive, add, sizeof(add), err);
	long key = r < 0 ? -1 : syscall(SYS_add_key, "ceph", desc, raw, (size_t)n, KEY_SPEC_PROCESS_KEYRING);
	explicit_bzero(raw, sizeof(raw));
	if (r < 0)
		return r;
	if (key < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot add the cephx key to the kernel keyring: %s",
				  strerror(errno));
	r = write_sysfs(PVR_KRBD_ADD, add);
	syscall(SYS_keyctl, KEYCTL_INVALIDATE, key);
	if (r == -EBUSY || r == -EROFS)
		return pv_err_set(err, r, PV_E_POLICY, "image %s/%s: the kernel could not take its exclusive lock "
				  "(another client holds it)", t->pool, t->image);
	if (r < 0)
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "the kernel could not map %s/%s: %s "
				  "(see dmesg)", t->pool, t->image, strerror(-r));
	return 0;
}

int pvr_kernel_attach(const struct pv_attach_req *req, const struct pvr_target *t,
		      const struct pvr_cred *c, struct pv_attachment *att, struct pv_err *err)
{
	bool ro = req->readonly || req->access == PV_ROX;
	bool exclusive = pvr_access_fenced(req->access, ro);
	char id[16];
	int r = pvr_krbd_features_ok(t->features, err);
	if (r == 0 && exclusive)
		r = claim_holder(req, t, c, err);
	if (r == 0 && find_device(t) < 0)
		r = map_image(t, c, ro, exclusive, err);
	int dev = r < 0 ? r : find_device(t);
	if (r == 0 && dev < 0)
		r = pv_err_set(err, -ENOENT, PV_E_INTERNAL, "the kernel mapped %s/%s but no device shows it in %s",
			       t->pool, t->image, PVR_KRBD_DEVICES);
	if (r < 0)
		return r;
	snprintf(id, sizeof(id), "%d", dev);
	snprintf(att->device, sizeof(att->device), "/dev/rbd%d", dev);
	att->readonly = ro;
	if (pv_map_set(&att->priv, "mounter", "kernel") < 0 || pv_map_set(&att->priv, "devid", id) < 0)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	if (exclusive)
		snprintf(att->fence, sizeof(att->fence), "exclusive lock as node %.40s", req->node->node_id);
	snprintf(att->summary, sizeof(att->summary), "kernel: %s/%s as client.%s on %s%s", t->pool, t->image,
		 c->user, att->device, exclusive ? ", exclusive lock" : ro ? ", read-only" : "");
	return 0;
}

int pvr_kernel_detach(const struct pv *pv, const struct pv_attachment *att, struct pv_err *err)
{
	char req[32];
	(void)pv;
	if (pvr_krbd_remove_string(parse_id(pv_map_get(&att->priv, "devid")), false, req, sizeof(req)) < 0)
		return 0;
	int r = write_sysfs(PVR_KRBD_REMOVE, req);
	if (r == -ENOENT)
		return 0;   /* unmapped already */
	if (r < 0)
		return pv_err_set(err, r, r == -EBUSY ? PV_E_IN_USE : PV_E_INTERNAL,
				  "the kernel could not unmap %s: %s", att->device, strerror(-r));
	return 0;
}
