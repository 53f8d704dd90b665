/*
 * controller.h — the controller's use cases, one copy for both front ends: pvctl and the
 * CSI Controller service call these, never a driver directly.
 *
 * Each call takes the volume's lock once for its whole duration, with the policy of the
 * engine's configuration (pvctl waits; pvnode answers PV_E_BUSY, CSI ABORTED), builds
 * the node context the driver gets, checks the driver table once (an operation the
 * driver lacks is PV_E_UNSUPPORTED naming the driver), and loads the PV's secrets from
 * its secretRef when the caller brings none.
 */
#ifndef PVNODE_CONTROLLER_H
#define PVNODE_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnode/engine.h"
#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"
#include "pvnode/snapshot.h"

/* Does an existing record describe the PV a create asks for? */
typedef bool (*pv_ctl_same_fn)(const struct pv *stored, const struct pv *wanted, void *ud);

/* Provision through the driver, then record the PV (reclaimPolicy Delete unless it says
 * Retain); nothing is recorded when provisioning fails, and nothing is left provisioned
 * when recording fails. A name that
 * exists is success when `same` (NULL: same driver, capacity, modes, volume mode,
 * fsType, gid and attributes, allowing attributes the driver filled in) says it is this
 * PV — *pv then becomes the stored one — else PV_E_EXISTS. `s` NULL: from secretRef. */
int pv_ctl_create(struct pv_engine *e, struct pv *pv, const struct pv_secrets *s, pv_ctl_same_fn same,
		  void *ud, struct pv_err *err);
/* With pv->source_kind set, pv_ctl_create restores (PV_SOURCE_SNAPSHOT) or clones
 * (PV_SOURCE_VOLUME) instead of provisioning empty: a source that does not exist is
 * PV_E_NOT_FOUND; one of another driver, volume mode or fsType is PV_E_INVALID; a
 * capacity below the source's size is PV_E_RANGE (capacity 0: the source's size); a
 * driver without restore / clone is PV_E_UNSUPPORTED naming it; a snapshot not ready
 * to use is PV_E_UNAVAILABLE. The source stays in the record (round trip); a repeat
 * with another source (or none) is PV_E_EXISTS. A restore holds the new volume's lock
 * and the snapshot's; a clone both volumes' locks (in name order) and freezes the
 * source when it is staged here, as a snapshot does. Not with pv_ctl_register
 * (PV_E_INVALID). */

/* Register storage that exists (pvctl create --existing, pvctl import) without
 * provisioning: the driver's check_existing confirms it is there and fits the PV and
 * changes nothing on it; then the PV is recorded, with reclaimPolicy Retain unless it
 * says Delete. `check` false records it without contacting the storage (an import whose
 * secret set does not exist yet: staging refuses until it does). A driver without
 * check_existing is PV_E_UNSUPPORTED. Repeats and `s` as for pv_ctl_create. */
int pv_ctl_register(struct pv_engine *e, struct pv *pv, const struct pv_secrets *s, bool check,
		    struct pv_err *err);

/* Both refuse, before anything is made, a capacity the driver would round
 * (capacity_granularity, PV_E_RANGE naming the sizes around); pv_ctl_create also a
 * block volume smaller than the smallest filesystem of its fsType mkfs makes here
 * (PV_E_RANGE naming the minimum). */

/* Remove the backing storage and the record. With reclaimPolicy Retain only the record
 * goes: the storage is never touched. A volume staged on this node is refused
 * (PV_E_POLICY, naming where) unless `force`, which unpublishes and unstages it first.
 * No such PV: -ENOENT with PV_E_NOT_FOUND. The nodes it was published to are forgotten.
 * Snapshots of the volume stay usable: a driver whose snapshots depend on the volume's
 * storage (rbd) keeps what they need until the last of them is deleted. */
int pv_ctl_delete(struct pv_engine *e, const char *name, const struct pv_secrets *s, bool force,
		  struct pv_err *err);

struct pv_expand_result {
	uint64_t capacity;             /* the volume's size now */
	bool node_expansion_required;  /* a filesystem on a node must still grow */
};
/* Grow to at least `bytes` (never shrink; `limit` > 0: at most that, else PV_E_RANGE; a
 * size the driver would round is PV_E_RANGE too):
 * the driver grows the backing storage, the record takes the new size. With `on_node`
 * and the volume staged here, its filesystem grows too (pvctl); otherwise the result
 * says whether a node must grow it (CSI: NodeExpandVolume follows). */
int pv_ctl_expand(struct pv_engine *e, const char *name, uint64_t bytes, uint64_t limit,
		  const struct pv_secrets *s, bool on_node, struct pv_expand_result *res, struct pv_err *err);

/* A publish to a node (CSI ControllerPublishVolume). */
struct pv_ctl_publish_req {
	const char *node;             /* the node id */
	enum pv_access access;
	bool block;                   /* access type block, else mount */
	bool readonly;
	const struct pv *pv;          /* the caller's description of the volume (CSI
				       * volume_context of a static PV) for a volume neither
				       * the catalog nor this node knows; NULL: none */
	unsigned max_per_node;        /* a new node-volume pair beyond this many volumes on
				       * the node is PV_E_RESOURCE; 0: no limit */
};
/* Record that `node` uses the volume with the request's capability. A single-node mode
 * (RWO, RWOP) held by another node is PV_E_POLICY naming it; a node other than this
 * plugin's is PV_E_NOT_FOUND unless the configuration says any_node (a cluster's
 * controller); node-local storage is published to its own node only (PV_E_POLICY); a
 * mode the PV does not allow is PV_E_POLICY; a node at max_per_node volumes is
 * PV_E_RESOURCE. A repeat with the same capability is success, with another one
 * PV_E_EXISTS. */
int pv_ctl_publish(struct pv_engine *e, const char *name, const struct pv_ctl_publish_req *r,
		   struct pv_err *err);
/* Release `node` (NULL: every node it is published to): break its backend fence through
 * the driver (e.g. preempt a dead node's SCSI reservation, break an RBD lock), then
 * forget it. A PV that does not exist holds nothing: success. */
int pv_ctl_release(struct pv_engine *e, const char *name, const char *node, const struct pv_secrets *s,
		   struct pv_err *err);

/* Snapshot `volume` as `name` (the volume's lock held for the call; frozen when staged
 * here with a filesystem, see driver.h). Idempotent by name: the same name and source
 * is success with the recorded snapshot in *out, another source PV_E_EXISTS. No such
 * volume: PV_E_NOT_FOUND; a driver that cannot snapshot: PV_E_UNSUPPORTED naming it;
 * an invalid name: PV_E_INVALID. `s` NULL: the volume's secretRef. *out may be NULL. */
int pv_ctl_snapshot_create(struct pv_engine *e, const char *volume, const char *name, const struct pv_secrets *s,
			   struct pv_snapshot *out, struct pv_err *err);
/* Delete a snapshot's data, then its record. No such snapshot: -ENOENT with
 * PV_E_NOT_FOUND (CSI DeleteSnapshot answers success). Volumes restored from it stay. */
int pv_ctl_snapshot_delete(struct pv_engine *e, const char *name, const struct pv_secrets *s, struct pv_err *err);

/* The PV called `name`: the catalog's, else the one staged on this node (a volume
 * staged through CSI). `s` (may be NULL) gets the secrets of its secretRef;
 * *in_catalog (may be NULL) says where it came from. */
int pv_ctl_find(struct pv_engine *e, const char *name, struct pv *pv, struct pv_secrets *s, bool *in_catalog,
		struct pv_err *err);

#endif
