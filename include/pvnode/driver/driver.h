/*
 * driver.h — the table of operations a storage backend fills, and what it may use.
 *
 * The node engine (lib/engine/) owns the sequence: validate → fence → attach → format
 * → mount → bind → label → record; the controller layer (lib/controller.c) owns
 * provision, delete, expand and fence release for both front ends. A driver owns only
 * what is specific to its backend, the way QEMU's BlockDriver or tgt's backing stores
 * do: it lives in drivers/<name>/, ends in one `const struct pv_driver
 * pv_driver_<name>`, and is registered by the one line in drivers/meson.build that
 * builds it (the registry, lib/driver_table.c, is generated from that list). Optional
 * operations may be NULL; the generic layer checks them once, for every caller.
 *
 * Block drivers produce a device node (a loop device, possibly over a FUSE file served
 * by a helper process, pvnode/driver/helper.h); shared drivers produce either a mount
 * spec that the engine mounts with libmount (kernel client) or a mount the driver's
 * helper made itself at the staging path (userspace client, `mounted_by_driver`).
 * What a driver needs to remember between attach and detach goes in its own part of
 * the attachment (`priv`), which the journal keeps for it; nothing parses `summary`.
 */
#ifndef PVNODE_DRIVER_H
#define PVNODE_DRIVER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "pvnode/driver/helper.h"
#include "pvnode/driver/os.h"
#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"
#include "pvnode/snapshot.h"

/* Where and for whom an operation runs. */
struct pv_node_ctx {
	const char *state_dir;  /* the node's state directory */
	const char *node_id;    /* this node's id */
	const char *run_dir;    /* <state>/run/<volume>: private runtime dir for this volume, exists */
	bool progress;          /* a terminal is attached: report progress on stderr */
	/* provision of a driver with storage_keys: the keys other volumes of the catalog
	 * hold, NULL-terminated, collected and kept valid under the controller's storage
	 * lock (a driver that picks its storage from a pool picks one not in it); else NULL */
	const char *const *storage_in_use;
};

/* What attach produced; persisted in the journal so detach, reconcile and a restarted
 * daemon can find everything again. The engine reads the generic part; `priv` is the
 * driver's alone (string keys and values, no secrets). */
struct pv_attachment {
	char device[64];             /* block: the device node (/dev/loopN, /dev/sdX) */
	char backing[PATH_MAX];      /* block: the file under the loop device (image or FUSE file) */
	char source[1024];           /* shared, kernel: mount source ("host:/export/dir") */
	char fstype[32];             /* shared, kernel: "nfs", "nfs4" */
	char options[1024];          /* shared, kernel: mount options (no secrets) */
	bool mounted_by_driver;      /* shared, userspace: the helper mounted at the staging path */
	struct pv_helper helper;     /* the userspace data-path helper, pid 0 none */
	char fence[64];              /* the fence this node holds (e.g. PR key hex), "" none */
	bool readonly;               /* attached read-only (ROX or readonly stage) */
	char summary[256];           /* one line for people (describe): shown, never parsed */
	struct pv_map priv;          /* the driver's own state */
};
void pv_attachment_free(struct pv_attachment *att);

/* A request to attach, fence or provision. */
struct pv_attach_req {
	const struct pv *pv;
	const struct pv_secrets *secrets;  /* may be empty, never NULL */
	enum pv_access access;
	bool readonly;
	const char *staging_path;          /* absolute; a shared userspace driver mounts here */
	const struct pv_node_ctx *node;
};
/* For a reattach: make a fresh attachment with `attach` and, when it worked, let it
 * replace *att (the old one freed); on failure *att stays as it was. */
int pv_attachment_renew(const struct pv_attach_req *req, struct pv_attachment *att,
			int (*attach)(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err),
			struct pv_err *err);

enum pv_health { PV_HEALTHY = 0, PV_ABNORMAL = 1 };

#define PV_STORAGE_KEY_MAX 512   /* one storage key, with its NUL */
#define PV_STORAGE_KEYS_MAX 8    /* keys of one PV (paths to its storage) */

struct pv_driver {
	const char *name;           /* "file", "nfs", "iscsi", "rbd" */
	enum pv_storage storage;    /* PV_SHARED or PV_BLOCKDEV */
	bool node_local;            /* the storage lives on one node's disk (only that node can
				     * create, serve or delete it): topology, CSI driver name */
	const char *const *attribute_names; /* NULL-terminated: every attribute it accepts */
	const char *const *required_attributes; /* NULL-terminated */
	/* Capacities the backend stores exactly are multiples of this many bytes (0: any);
	 * create and expand refuse others, naming the sizes around (the file driver: 512,
	 * its loop device serves whole sectors and would drop the rest). */
	uint64_t capacity_granularity;

	/* Check attribute values (catalog create and every stage). */
	int (*validate)(const struct pv *pv, struct pv_err *err);
	/* Create the backing storage (image file, export subdir, RBD image). Idempotent:
	 * the same PV again reuses what exists when it matches. May adjust pv (attributes). */
	int (*provision)(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			 struct pv_err *err);
	/* Remove or retain the backing storage. Idempotent: what is gone is success. */
	int (*remove)(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		      struct pv_err *err);
	/* Grow the backing storage to `bytes` (controller side). */
	int (*expand)(struct pv *pv, uint64_t bytes, const struct pv_secrets *s,
		      const struct pv_node_ctx *n, struct pv_err *err);
	/* Register storage that exists (pvctl create --existing, pvctl import): check that
	 * it is there and fits the PV — holds at least its capacity (exactly, for an image
	 * file), is of the right kind, has what its access modes need — and change nothing
	 * on it: no mkdir, chown, chmod, resize or format. May fill in attributes that
	 * locate it, as provision does. Refusals say what was found and what the PV wants
	 * (PV_E_NOT_FOUND missing, PV_E_RANGE too small, PV_E_INVALID the wrong kind).
	 * NULL: the driver cannot register existing storage (PV_E_UNSUPPORTED). */
	int (*check_existing)(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			      struct pv_err *err);

	/* The storage the PV points at, as canonical keys, one per path to it (iSCSI:
	 * "iscsi:<host:port>/<iqn>/<lun>" per portal): two catalog volumes with a key in
	 * common would share their bytes, so the controller refuses to record the second
	 * (PV_E_EXISTS naming the first), comparing under a catalog-wide lock. Fills at
	 * most `max` keys and returns how many (0: the PV does not say yet), or a negative
	 * errno. NULL: storage that provision makes afresh for each volume needs no check.
	 * A driver with storage_keys runs provision under that lock with
	 * n->storage_in_use set (to pick from a pool): its provision must be quick. */
	int (*storage_keys)(const struct pv *pv, char (*keys)[PV_STORAGE_KEY_MAX], size_t max);

	/* Snapshots and clones (all optional; a driver without snapshot_create cannot
	 * snapshot: the controller refuses with PV_E_UNSUPPORTED naming the driver). The
	 * controller holds the source volume's lock, records the snapshot only after
	 * snapshot_create succeeded, and removes its record only after snapshot_delete did.
	 *
	 * snapshot_create: make snap->name's point-in-time copy of `pv` and fill
	 * snap->attributes with where it lives (and snap->ready). When the volume is staged
	 * on this node with a filesystem, the controller freezes that filesystem
	 * (FIFREEZE, always thawed) around the call, so the copy is crash-consistent; a
	 * driver need not freeze. Idempotent for the same snap->name. Long copies report
	 * progress on stderr when n->progress. */
	int (*snapshot_create)(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			       const struct pv_node_ctx *n, struct pv_err *err);
	/* Remove a snapshot's data. Must work when the source volume is gone (snap->origin
	 * has what it was) and must leave volumes restored from it readable. Idempotent:
	 * what is gone is success. */
	int (*snapshot_delete)(const struct pv_snapshot *snap, const struct pv_secrets *s,
			       const struct pv_node_ctx *n, struct pv_err *err);
	/* Provision `pv` (as provision does: may fill attributes) with the data of `snap`.
	 * pv->capacity >= snap->size (the controller checks); a bigger volume is grown. On
	 * failure nothing is left. */
	int (*restore)(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		       const struct pv_node_ctx *n, struct pv_err *err);
	/* Provision `pv` as a copy of the volume `src` (its lock held). pv->capacity >=
	 * src->capacity. On failure nothing is left. */
	int (*clone)(struct pv *pv, const struct pv *src, const struct pv_secrets *s,
		     const struct pv_node_ctx *n, struct pv_err *err);

	/* Attach: block → att->device; shared → a mount spec or a driver-made mount. Fencing
	 * of block RWO/RWOP happens inside attach when it must share the I/O session (iSCSI
	 * persistent reservations); a refusal is PV_E_POLICY naming the holder. */
	int (*attach)(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err);
	/* Undo attach (unmounts a driver-made mount, stops helpers, releases fences).
	 * Idempotent: what is already gone is success. */
	int (*detach)(const struct pv *pv, const struct pv_attachment *att,
		      const struct pv_node_ctx *n, struct pv_err *err);
	/* Is the attachment alive (helper running, session up, server answering)? */
	enum pv_health (*health)(const struct pv *pv, const struct pv_attachment *att,
				 char *why, size_t why_len);
	/* Bring a dead helper back for an attachment still in use (after a crash). On
	 * success the engine binds every publish target again: the staging mount or the
	 * device may be new. */
	int (*reattach)(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err);
	/* After the backend grew: make att->device / att->backing show the new size. */
	int (*refresh)(const struct pv *pv, struct pv_attachment *att, const struct pv_node_ctx *n,
		       struct pv_err *err);
	/* Break another node's fence (pvctl fence-release, CSI ControllerUnpublish). */
	int (*fence_release)(const struct pv *pv, const struct pv_secrets *s, const char *node_id,
			     const struct pv_node_ctx *n, struct pv_err *err);
};

const struct pv_driver *pv_driver_find(const char *name);
/* "file, nfs, iscsi" — the compiled-in drivers, for error messages. */
const char *pv_driver_names(void);

/* Build a stable 64-bit key / name from a node id (reservation keys, initiator names). */
unsigned long long pv_node_key(const char *node_id);

#endif
