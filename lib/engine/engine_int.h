/*
 * engine_int.h — what the engine's files (stage.c, publish.c, stats.c, reconcile.c,
 * engine.c) share, and the access-mode policy (lib/model/policy.c, unit-tested).
 */
#ifndef PVNODE_ENGINE_INT_H
#define PVNODE_ENGINE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvnode/driver/driver.h"
#include "pvnode/engine.h"
#include "pvnode/pv.h"
#include "os/os_int.h"
#include "store/journal.h"

/* --- policy.c: DESIGN.md's access-mode table --- */
/* May `pv` be staged with mode `a` (access type block or mount)? PV_E_POLICY if not. */
int pv_policy_stage(const struct pv *pv, enum pv_storage storage, enum pv_access a, bool block,
		    struct pv_err *err);
/* Stage read-only: ROX, or asked. */
bool pv_policy_stage_readonly(enum pv_access a, bool requested);
/* Does this stage need a backend fence across nodes (block RWO / RWOP)? */
bool pv_policy_needs_fence(enum pv_storage storage, enum pv_access a);
/* Publish: may another target be added (RWOP: one publish on the node)? `others` is
 * the number of targets other than this one. Returns the read-only decision. */
int pv_policy_publish(const char *volume, enum pv_access stage_access, bool stage_readonly,
		      enum pv_access a, bool requested_ro, size_t others, bool *readonly,
		      struct pv_err *err);

/* --- shared by the engine's files --- */
#define PV_MAX_MOUNT_FLAGS 32
struct pv_journal;
/* Directory usage of shared volumes, kept between NodeGetVolumeStats calls: walking a
 * volume is a getattr per file over the network, and kubelet asks every minute. */
#define PV_USAGE_CACHE 64
struct pv_usage_entry {
	char path[PATH_MAX];
	int64_t until;         /* monotonic seconds; 0 free */
	bool too_big;          /* the walk timed out: use the export's figures */
	uint64_t bytes, inodes;
};

struct pv_engine {
	struct pv_config cfg;
	pthread_mutex_t usage_lock;
	struct pv_usage_entry usage[PV_USAGE_CACHE];
	struct pv_engine_counters counters;   /* updated with pv_engine_count() */
};
/* Add one to a counter from any thread: pv_engine_count(e, mounts_lost). */
#define pv_engine_count(e, field) __atomic_fetch_add(&(e)->counters.field, 1, __ATOMIC_RELAXED)
struct pv_volctx {
	char run_dir[PATH_MAX];
	struct pv_node_ctx n;
};
void pv_engine_volctx(const struct pv_engine *e, const char *volume, struct pv_volctx *vc);
int pv_engine_lock(struct pv_engine *e, const char *volume, struct pv_err *err);
/* Publish and unpublish (quick, and sent concurrently per target): wait up to
 * PV_BRIEF_LOCK_MS for the volume's lock even where others get PV_E_BUSY at once. */
#define PV_BRIEF_LOCK_MS 3000
int pv_engine_lock_brief(struct pv_engine *e, const char *volume, struct pv_err *err);
/* Undo whatever a stage left on the node (mount, driver attachment, tagged loop
 * devices) as recorded in j; leaves the journal file alone. `rollback`: the stage just
 * failed, so a mount at its staging path that is not the volume's was never ours. */
int pv_engine_undo_stage(struct pv_engine *e, const struct pv_journal *j, bool rollback, struct pv_err *err);
/* After a driver's reattach: bind every publish target to the (new) staging mount or
 * device again; a target that cannot be bound is marked lost. */
int pv_engine_rebind(struct pv_engine *e, struct pv_journal *j, struct pv_err *err);
/* The operations with the volume's lock already held (the controller layer and the
 * public wrappers take it). */
int pv_engine_unpublish_locked(struct pv_engine *e, const char *volume, const char *target, struct pv_err *err);
/* Publish records a killed publish or unpublish left (PUBLISHING, UNPUBLISHING): their
 * mount (ours only) is taken away and the record dropped — an unpublish finished, a
 * publish undone for its caller to retry. How many; -EBUSY when one cannot be (busy, or
 * something stacked on it), `said` the sentence of the last. */
int pv_engine_settle_publishes(struct pv_engine *e, struct pv_journal *j, char *said, size_t len);
int pv_engine_unstage_locked(struct pv_engine *e, const char *volume, const char *staging_path,
			     struct pv_err *err);
int pv_engine_teardown_locked(struct pv_engine *e, const char *volume, struct pv_err *err);
int pv_engine_expand_locked(struct pv_engine *e, const char *volume, const char *path, uint64_t *bytes,
			    struct pv_err *err);

/* <state>/run/<volume>/frozen: made before a snapshot freezes the volume's filesystem and
 * removed once it is thawed, so a freeze whose process and thaw guard were both killed
 * (SIGKILL to the whole group, a cgroup kill) is found and thawed by reconcile. */
void pv_engine_frozen_marker(const struct pv_engine *e, const char *volume, char *buf, size_t len);
/* The volume's lock held and the marker there: thaw the staging filesystem (FITHAW; one
 * not frozen is fine) and remove the marker. 1 when it thawed, 0 nothing to do, < 0 when
 * it cannot (`said` says why). */
/* The staging mount of a STAGED block volume with a filesystem, opened read-only (an fd
 * for FIFREEZE/FITHAW) beneath its trusted root without links, accepted only when its
 * files live on the volume's device; -ENOENT when nothing of it is mounted there. */
int pv_engine_open_staging_root(struct pv_engine *e, const struct pv_journal *j, struct pv_err *err);
int pv_engine_thaw_leftover(struct pv_engine *e, const struct pv_journal *j, char *said, size_t len);

/* Crash testing (meson -Dfault_injection=true only): PVNODE_FAULT=<point> kills the
 * process at that point, exactly as a SIGKILL from outside would. */
#ifdef PV_FAULT_INJECTION
void pv_fault_point(const char *point);
#else
#define pv_fault_point(point) ((void)0)
#endif

/* The lock of a snapshot name: <state>/locks/@snapshot.<name>.lock ('@' is in no volume
 * name), held by the controller while it creates, deletes or restores the snapshot. */
#define PV_SNAPSHOT_LOCK_PREFIX "@snapshot."

/* fsGroup (CSI volume_mount_group) on the volume root, the staging path: its group,
 * setgid and group rwx, O(1). 0 applied; 1 not applied on shared storage whose server
 * refuses root (root squash): a sentence in `note`, logged, the publish goes on. */
int pv_engine_mount_group(struct pv_engine *e, const struct pv_journal *j, long gid, char *note, size_t nlen,
			  struct pv_err *err);

/* --- targets.c: the places the engine mounts on --- */
/* Open the parent of a staging path or target beneath its trusted root (the allowed
 * prefix it is under, or the state directory) without following links. */
int pv_engine_resolve(struct pv_engine *e, const char *path, bool create, struct pv_safe_path *sp,
		      struct pv_err *err);
enum { PV_MOUNT_NONE = 0, PV_MOUNT_OURS = 1, PV_MOUNT_FOREIGN = 2 };
/* What is mounted at `path`: nothing, this volume's (its filesystem's superblock, or
 * for a raw block target its device — `view_dev` when the target shows a read-only view),
 * or something else. */
int pv_engine_mount_state(struct pv_engine *e, const struct pv_journal *j, const char *path, bool block_target,
			  const char *view_dev, struct pv_err *err);
/* Unmount exactly one mount at `path` when it is this volume's; a foreign one on top is
 * PV_E_IN_USE and stays. Nothing mounted is success. */
int pv_engine_unmount_ours(struct pv_engine *e, const struct pv_journal *j, const char *path, bool block_target,
			   const char *view_dev, struct pv_err *err);

/* Mounts of this volume (its filesystem or device) that are neither its staging mount
 * nor a recorded target; *first names one. */
int pv_engine_stray_mounts(struct pv_engine *e, const struct pv_journal *j, char *first, size_t len);
/* Loop devices of the volume still attached (and maybe mounted) although no stage is
 * recorded (a damaged or deleted journal); *what says which. */
int pv_engine_attached_unrecorded(struct pv_engine *e, const char *volume, char *what, size_t len, bool *mounted);

/* repair.c: rebuild a damaged journal from the mount table and tagged loop devices;
 * *said gets what was done. */
int pv_engine_repair(struct pv_engine *e, const char *volume, char *said, size_t len, struct pv_err *err);

/* Record err's sentence as the volume's last error (best effort). */
void pv_engine_note_error(struct pv_engine *e, const char *volume, const struct pv_err *err);

#endif
