/*
 * journal.h — the node journal: what this node has staged and published, per volume.
 *
 * One JSON file per volume under <state>/journal, written atomically (temp, fsync,
 * rename, fsync dir). The engine writes an intent (phase STAGING/UNSTAGING) before it
 * changes anything on the node and the result after, so a killed process leaves a
 * record that the next operation or the start-up reconciliation can finish or undo.
 * It holds no secrets.
 */
#ifndef PVNODE_JOURNAL_H
#define PVNODE_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnode/driver/driver.h"
#include "pvnode/engine.h"
#include "pvnode/pv.h"

enum pv_phase {
	PV_PHASE_NONE = 0,  /* nothing on the node */
	PV_PHASE_STAGING,   /* stage started; may have left a device or a mount */
	PV_PHASE_STAGED,    /* mounted at staging_path (or device ready, block) */
	PV_PHASE_UNSTAGING, /* unstage started */
};

/* A publish record is written before the bind (PUBLISHING) and before the unmount
 * (UNPUBLISHING), so a process killed in between leaves a record the next operation
 * or reconcile finishes — never a mount the journal does not know. */
enum pv_publish_state { PV_PUB_DONE = 0, PV_PUB_PUBLISHING, PV_PUB_UNPUBLISHING };

struct pv_publish_rec {
	char target[PATH_MAX];
	bool readonly;
	bool block;
	enum pv_access access;
	char selinux_label[256];
	gid_t groups[PV_MAX_GROUPS];
	size_t n_groups;
	char mount_flags[512];     /* extra flags as given, comma-joined (no secrets) */
	char device[64];           /* Block mode, read-only publish of a read-write stage: the
				    * read-only loop device over the volume's device that this
				    * target shows (a ro bind of a device node does not stop writes) */
	bool lost;                 /* its mount vanished (reconcile) */
	enum pv_publish_state state; /* an intent recorded before its bind or unmount */
};

struct pv_journal {
	char volume[PV_NAME_MAX + 1];
	char node_id[PV_NAME_MAX + 1];
	enum pv_phase phase;
	struct pv pv;               /* the PV as staged (attributes, no secrets) */
	char staging_path[PATH_MAX];
	enum pv_access access;
	bool block;
	bool readonly;
	char fs_type[PV_FSTYPE_MAX + 1];
	char mount_flags[512];
	struct pv_attachment att;
	struct pv_publish_rec *publishes;
	size_t n_publishes;
	bool lost;                  /* staging mount vanished (reconcile) */
	char last_error[PV_ERR_MSG_MAX];
	int64_t updated;
};

void pv_journal_init(struct pv_journal *j);
void pv_journal_free(struct pv_journal *j);
/* -ENOENT when the volume has no journal (nothing on this node). */
int pv_journal_load(const char *state_dir, const char *volume, struct pv_journal *j,
		    struct pv_err *err);
int pv_journal_save(const char *state_dir, const struct pv_journal *j, struct pv_err *err);
int pv_journal_delete(const char *state_dir, const char *volume, struct pv_err *err);
/* Calls cb for each volume that has a journal. */
int pv_journal_list(const char *state_dir, int (*cb)(const char *volume, void *ud), void *ud,
		    struct pv_err *err);
const char *pv_phase_name(enum pv_phase p);

#endif
