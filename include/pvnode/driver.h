/*
 * driver.h — the table of operations a storage backend fills.
 *
 * The node engine (src/engine.c) owns the sequence: validate → fence → attach → format
 * → mount → bind → label → record. A driver owns only what is specific to its backend,
 * the way QEMU's BlockDriver or tgt's backing stores do. Each driver lives in its own
 * folder under drivers/ and ends in one `const struct pv_driver pv_driver_<name>`
 * registered in src/driver.c. Optional operations may be NULL.
 *
 * Block drivers produce a device node (a loop device, possibly over a FUSE file served
 * by a helper process); shared drivers produce either a mount spec that the engine
 * mounts with libmount (kernel client) or a mount the driver's helper made itself at
 * the staging path (userspace client, `mounted_by_driver`).
 */
#ifndef PVNODE_DRIVER_H
#define PVNODE_DRIVER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"

/* Where and for whom an operation runs. */
struct pv_node_ctx {
	const char *state_dir;  /* the node's state directory */
	const char *node_id;    /* this node's id */
	const char *run_dir;    /* <state>/run/<volume>: private runtime dir for this volume, exists */
	bool progress;          /* a terminal is attached: report progress on stderr */
};

/* What attach produced; persisted in the journal so detach, reconcile and a restarted
 * daemon can find everything again. Drivers fill what applies. */
struct pv_attachment {
	char device[64];             /* block: /dev/loopN */
	char backing[PATH_MAX];      /* block: the file under the loop device (image or FUSE file) */
	char source[1024];           /* shared, kernel: mount source ("host:/export/dir") */
	char fstype[32];             /* shared, kernel: "nfs", "nfs4" */
	char options[1024];          /* shared, kernel: mount options (no secrets) */
	bool mounted_by_driver;      /* shared, userspace: the helper mounted at staging_path */
	char mountpoint[PATH_MAX];   /* where a driver-made mount sits (the staging path) */
	pid_t helper_pid;            /* userspace helper process, 0 none */
	unsigned long long helper_start; /* its start time (/proc/PID/stat field 22) */
	char fence_key[64];          /* fence held by this node (e.g. PR key hex), "" none */
	bool readonly;               /* attached read-only (ROX or readonly stage) */
	char detail[256];            /* driver-private note, e.g. "iqn ... lun 1", no secrets */
};

/* A request to attach, fence or provision. */
struct pv_attach_req {
	const struct pv *pv;
	const struct pv_secrets *secrets;  /* may be empty, never NULL */
	enum pv_access access;
	bool readonly;
	const char *staging_path;          /* absolute; a shared userspace driver mounts here */
	const struct pv_node_ctx *node;
};

enum pv_health { PV_HEALTHY = 0, PV_ABNORMAL = 1 };

struct pv_driver {
	const char *name;           /* "file", "nfs", "iscsi", "rbd" */
	enum pv_storage storage;    /* PV_SHARED or PV_BLOCKDEV */
	const char *const *attribute_names; /* NULL-terminated: every attribute it accepts */
	const char *const *required_attributes; /* NULL-terminated */

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
	/* Bring a dead helper back for an attachment still in use (after a crash). */
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
