/*
 * rbd_krbd.h — the kernel RBD path (krbd) as pure functions: the string written to
 * /sys/bus/rbd/add_single_major, the one written to remove_single_major, the kernel
 * keyring entry that carries the cephx key, and matching a mapped device in
 * /sys/bus/rbd/devices/<id>/ to a target.
 *
 * The key never appears in the add string (the string names a key in the writer's
 * process keyring: add_key("ceph", desc, <decoded key>, KEY_SPEC_PROCESS_KEYRING), which
 * the kernel copies at parse time and which is invalidated right after), so the string
 * may be logged. This path cannot run on the development machines (no rbd module);
 * it is unit-tested only (tests/unit/test_rbd_krbd.c).
 */
#ifndef PVNODE_RBD_KRBD_H
#define PVNODE_RBD_KRBD_H

#include <stdbool.h>
#include <stddef.h>

#include "rbd_attr.h"

#define PVR_KRBD_ADD "/sys/bus/rbd/add_single_major"
#define PVR_KRBD_REMOVE "/sys/bus/rbd/remove_single_major"
#define PVR_KRBD_DEVICES "/sys/bus/rbd/devices"

/* The description of the keyring entry for one volume's map: "pvnode:client.<user>:<image>"
 * (unique per image, so two maps of different users cannot race on one entry). */
void pvr_krbd_key_desc(const struct pvr_target *t, const struct pvr_cred *c, char *buf, size_t len);

/* "<mon,mon> name=<user>,key=<desc>,osd_request_timeout=S,mount_timeout=S[,read_only]
 *  [,exclusive][,ms_mode=prefer-crc][,_pool_ns=NS][,<mapOptions>] <pool> <image> -".
 * `exclusive` (RWO/RWOP): the kernel takes the exclusive lock at map and never hands
 * it over. Monitors must all speak one messenger (msgr2 needs ms_mode). */
int pvr_krbd_add_string(const struct pvr_target *t, const struct pvr_cred *c, const char *key_desc,
			bool readonly, bool exclusive, char *buf, size_t len, struct pv_err *err);

/* "<id>" or "<id> force" for remove_single_major. */
int pvr_krbd_remove_string(int dev_id, bool force, char *buf, size_t len);

/* Does a mapped device (the contents of its sysfs files pool, pool_ns, name,
 * current_snap, trailing newlines allowed) serve the target's head image? */
bool pvr_krbd_device_matches(const struct pvr_target *t, const char *pool, const char *pool_ns,
			     const char *name, const char *snap);

/* Image features the kernel client handles (layering, exclusive-lock, object-map,
 * fast-diff, deep-flatten); a refusal names the others (journaling). */
int pvr_krbd_features_ok(unsigned long long features, struct pv_err *err);

#endif
