/*
 * snapshot.h — snapshot records: one JSON file per snapshot under
 * <state>/catalog/snapshots/<name>.json, written atomically, next to the volumes.
 *
 * A snapshot is a point-in-time copy of one volume's data, made by its driver
 * (rbd: a native snapshot; file: a reflink or sparse image copy; nfs: a copy of the
 * volume directory on the share). The record keeps a copy of the source PV as it was
 * when the snapshot was taken (`origin`), so a snapshot can be restored or deleted after
 * its source volume is gone. To create or delete one (its storage with it) use the
 * controller layer (pvnode/controller.h, pv_ctl_snapshot_*); these only read and write
 * records.
 */
#ifndef PVNODE_SNAPSHOT_H
#define PVNODE_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"

struct pv_snapshot {
	char name[PV_NAME_MAX + 1];  /* the snapshot id: valid like a volume name */
	char source[PV_NAME_MAX + 1];/* the volume it was taken of */
	uint64_t size;               /* bytes: the source's capacity when it was taken; a
				      * volume restored from it is at least this big */
	int64_t created;             /* unix seconds */
	bool ready;                  /* ready_to_use: its data is complete */
	struct pv origin;            /* the source PV when it was taken (driver, attributes,
				      * secretRef, volume mode, fsType, ...) */
	struct pv_map attributes;    /* the driver's own: where the snapshot's data lives
				      * (string keys and values, no secrets) */
};

/* The one attribute with a meaning outside its driver: how the driver made the copy
 * ("reflink", "sparse copy", ...), for people (pvctl prints it after a create); never
 * parsed. */
#define PV_SNAPSHOT_ATTR_HOW "copy"

void pv_snapshot_init(struct pv_snapshot *s);
void pv_snapshot_free(struct pv_snapshot *s);

/* JSON, as `pvctl snapshot list -o json` prints one (jansson json_t * as void *). */
void *pv_snapshot_to_json(const struct pv_snapshot *s);
int pv_snapshot_from_json_text(const char *text, struct pv_snapshot *out, struct pv_err *err);

/* Records. -ENOENT (PV_E_NOT_FOUND) when there is no such snapshot; an invalid name is
 * PV_E_INVALID. */
int pv_snapshot_load(const char *state_dir, const char *name, struct pv_snapshot *out, struct pv_err *err);
int pv_snapshot_save(const char *state_dir, const struct pv_snapshot *s, struct pv_err *err);
int pv_snapshot_remove(const char *state_dir, const char *name, struct pv_err *err);
/* Names in order; `source` non-NULL: only the snapshots of that volume. *names is
 * NULL-terminated, free with pv_strv_free. */
int pv_snapshot_list(const char *state_dir, const char *source, char ***names, struct pv_err *err);

#endif
