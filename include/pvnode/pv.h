/*
 * pv.h — the persistent-volume model: the catalog record of DESIGN.md, its strict
 * JSON parser and emitter, Kubernetes quantities and access modes.
 *
 * A `struct pv` is plain data owned by its creator and released with pv_free(). Parsing
 * never half-succeeds: any refusal names the JSON path, the bad value and what is
 * allowed, and leaves *out untouched.
 */
#ifndef PVNODE_PV_H
#define PVNODE_PV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvnode/error.h"

#define PV_NAME_MAX 128      /* volume ids: [A-Za-z0-9._:-]{1,128} */
/* The CSI driver names pvnode registers, one per kind of storage (README, "Driver
 * names": two CSIDriver fields differ per kind). pv_driver_csi_name() is the one
 * mapping from a driver to the name that serves it. */
#define PV_CSI_NAME_SHARED "pvnode.csi.io"       /* shared filesystems */
#define PV_CSI_NAME_BLOCK "block.pvnode.csi.io"  /* network block storage */
#define PV_CSI_NAME_LOCAL "local.pvnode.csi.io"  /* node-local storage (topology per node) */
#define PV_CSI_DRIVER_NAME PV_CSI_NAME_SHARED    /* pvnode's name when none is chosen */
/* The topology key of node-local volumes (CSI accessible_topology, k8s nodeAffinity). */
#define PV_TOPOLOGY_NODE_KEY "topology.pvnode.io/node"
#define PV_FSTYPE_MAX 16

enum pv_access {
	PV_ACCESS_NONE = 0,
	PV_RWO = 1,   /* ReadWriteOnce: CSI SINGLE_NODE_WRITER / SINGLE_NODE_MULTI_WRITER */
	PV_ROX = 2,   /* ReadOnlyMany: CSI MULTI_NODE_READER_ONLY (and SINGLE_NODE_READER_ONLY) */
	PV_RWX = 3,   /* ReadWriteMany: CSI MULTI_NODE_MULTI_WRITER */
	PV_RWOP = 4,  /* ReadWriteOncePod: CSI SINGLE_NODE_SINGLE_WRITER */
};
#define PV_ACCESS_BIT(a) (1u << (a))

enum pv_volume_mode { PV_VOLUME_FILESYSTEM = 0, PV_VOLUME_BLOCK = 1 };
/* What `pvctl delete` / DeleteVolume does with the storage. Unset resolves at create:
 * Delete for what pvnode provisions, Retain for registered storage (create --existing,
 * import); a record without the key (older catalogs) is Delete. */
enum pv_reclaim { PV_RECLAIM_UNSET = 0, PV_RECLAIM_DELETE = 1, PV_RECLAIM_RETAIN = 2 };
enum pv_storage { PV_SHARED = 0, PV_BLOCKDEV = 1 };
/* Where a volume's first data comes from (PV JSON "source": {"snapshot": NAME} or
 * {"volume": NAME}; CSI CreateVolume volume_content_source): a restore or a clone. */
enum pv_source_kind { PV_SOURCE_NONE = 0, PV_SOURCE_SNAPSHOT = 1, PV_SOURCE_VOLUME = 2 };

/* "snapshot", "volume" (the key of PV JSON "source"), "none". */
const char *pv_source_kind_name(enum pv_source_kind k);

struct pv_kv {
	char *key;
	char *value;
};

struct pv_map {
	struct pv_kv *items; /* sorted by key */
	size_t n;
};

struct pv {
	char name[PV_NAME_MAX + 1];
	char driver[32];
	uint64_t capacity;          /* bytes */
	unsigned access_modes;      /* PV_ACCESS_BIT() set */
	enum pv_volume_mode volume_mode;
	char fs_type[PV_FSTYPE_MAX + 1]; /* "" for volumeMode Block or shared storage */
	char **mount_options;
	size_t n_mount_options;
	long gid;                   /* -1: none */
	struct pv_map attributes;   /* travels to the node as CSI volume_context */
	char *secret_ref;           /* NULL: none */
	int64_t created;            /* unix seconds, 0 unknown */
	enum pv_reclaim reclaim;    /* reclaimPolicy */
	enum pv_source_kind source_kind; /* PV_SOURCE_NONE: provisioned empty */
	char source[PV_NAME_MAX + 1];    /* the snapshot's or the volume's name */
};

void pv_init(struct pv *pv);
void pv_free(struct pv *pv);
int pv_copy(struct pv *dst, const struct pv *src, struct pv_err *err);

/* Map helpers. */
const char *pv_map_get(const struct pv_map *m, const char *key);
int pv_map_set(struct pv_map *m, const char *key, const char *value);
void pv_map_free(struct pv_map *m);
void pv_map_free_secure(struct pv_map *m); /* explicit_bzero values first */

/* Quantities: "512Mi", "1Gi", "10G", "1.5Gi", plain bytes. */
int pv_quantity_parse(const char *s, uint64_t *bytes, struct pv_err *err);
/* Shortest exact form: 1073741824 → "1Gi", 1000000000 → "1G", 12345 → "12345". */
void pv_quantity_format(uint64_t bytes, char *buf, size_t len);

/* Access modes: long and short names. */
int pv_access_parse(const char *s, enum pv_access *out);
const char *pv_access_name(enum pv_access a);  /* "ReadWriteOnce" */
const char *pv_access_short(enum pv_access a); /* "RWO" */
/* The first of a PV's access modes (RWO when it names none): what a stage without an
 * explicit mode uses. */
enum pv_access pv_access_first(const struct pv *pv);
#define PV_ACCESS_ALLOWED "ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod (or RWO, ROX, RWX, RWOP)"

/* Reclaim policies: "Delete", "Retain" (unset: "Delete", what an older record means). */
int pv_reclaim_parse(const char *s, enum pv_reclaim *out);
const char *pv_reclaim_name(enum pv_reclaim r);
#define PV_RECLAIM_ALLOWED "Delete, Retain"

/* The drivers built in, as front ends see them (lib/driver.c): "file, nfs, iscsi";
 * whether `name` is one; whether it serves block storage (else shared); whether it can
 * break another node's fence. */
const char *pv_driver_names(void);
bool pv_driver_known(const char *name);
bool pv_driver_is_block(const char *name);
bool pv_driver_fences(const char *name);
/* Whether the driver can take snapshots (and restore them); whether it can clone a
 * volume. */
bool pv_driver_snapshots(const char *name);
bool pv_driver_clones(const char *name);
/* Whether the driver's storage lives on one node (only that node serves it). */
bool pv_driver_node_local(const char *name);
/* The CSI driver name that serves `driver` (one of PV_CSI_NAME_*), NULL when the
 * driver is not built in. */
const char *pv_driver_csi_name(const char *driver);
/* Whether `name` is one of PV_CSI_NAME_*. */
bool pv_csi_name_known(const char *name);
/* The built-in drivers `name` serves, as "file, nfs" ("none" when it serves none). */
void pv_csi_name_drivers(const char *name, char *buf, size_t len);

/* Names and ids: [A-Za-z0-9._:-], 1..128 bytes. */
bool pv_name_valid(const char *s);
/* An SELinux-free, shell-free token for attribute values that become arguments:
 * printable ASCII, no control characters, at most `max` bytes. */
bool pv_value_printable(const char *s, size_t max);

/* Strict JSON: parse a PV from text (as `pvctl get -o json` prints it). Checks the
 * schema, the driver's existence, its attributes (driver->validate) and the access-mode
 * table. */
int pv_parse_json(const char *text, struct pv *out, struct pv_err *err);
/* The PV as a JSON object (jansson json_t *, returned as void * to keep jansson out
 * of this header). Caller json_decref()s. */
void *pv_to_json(const struct pv *pv);
char *pv_to_json_text(const struct pv *pv); /* malloc'd, pretty, trailing newline */

/* Shape checks that do not involve the driver (unit-tested): every refusal of
 * DESIGN.md's access-mode table. */
int pv_validate(const struct pv *pv, struct pv_err *err);
/* The last step of every parser: when r == 0, fill defaults (fsType ext4 for block
 * Filesystem volumes) and validate, then move *pv to *out; on failure free *pv. */
int pv_complete(struct pv *pv, int r, struct pv *out, struct pv_err *err);

/* CSI volume_context <-> PV. The context carries the attributes plus reserved keys
 * under the "pvnode.io/" prefix (driver, capacity, fsType, gid, volumeMode, accessModes,
 * mountOptions, secretRef) so a node that never saw the catalog can stage from it. */
#define PV_CTX_PREFIX "pvnode.io/"
/* The one reserved attribute a PV may carry: the CSI CreateVolume name of a volume whose
 * name was not a valid id (the id is derived from it), so a repeated CreateVolume finds
 * the volume. No driver sees it as its own. */
#define PV_ATTR_CSI_NAME PV_CTX_PREFIX "csiName"
bool pv_attr_reserved(const char *key);
int pv_to_context(const struct pv *pv, struct pv_map *ctx, struct pv_err *err);
int pv_from_context(const char *name, const struct pv_map *ctx, struct pv *out, struct pv_err *err);

#endif
