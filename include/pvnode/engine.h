/*
 * engine.h — the node engine: stage, publish, unpublish, unstage, stats, expand and
 * start-up reconciliation as one state machine, driven by the driver table; and the
 * query front ends use to show a volume's state on this node (they never read the
 * journal themselves).
 *
 * Used in-process by `pvctl` and by the CSI handlers of `pvnode`. Every operation takes
 * the volume's lock (<state>/locks/<id>.lock, flock): a second concurrent operation
 * gets PV_E_BUSY at once (CSI ABORTED) unless the configuration says wait (pvctl).
 * Each step that fails undoes the steps before it. Repeats are idempotent as CSI asks.
 */
#ifndef PVNODE_ENGINE_H
#define PVNODE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvnode/config.h"
#include "pvnode/error.h"
#include "pvnode/pv.h"
#include "pvnode/secrets.h"

struct pv_engine;

/* Checks the configuration and makes the state directory's folders. */
int pv_engine_open(const struct pv_config *cfg, struct pv_engine **out, struct pv_err *err);
void pv_engine_close(struct pv_engine *e);
const struct pv_config *pv_engine_config(const struct pv_engine *e);

struct pv_stage_req {
	const struct pv *pv;              /* the volume (catalog or CSI volume_context) */
	const struct pv_secrets *secrets; /* NULL: none */
	enum pv_access access;            /* PV_ACCESS_NONE: the PV's first mode */
	bool block;                       /* access type block (else mount) */
	const char *staging_path;         /* NULL: <state>/staging/<name> */
	const char *fs_type;              /* NULL/"": the PV's fsType, else ext4 */
	const char *const *mount_flags;   /* extra mount options (may carry context=) */
	size_t n_mount_flags;
	bool readonly;                    /* stage read-only */
	long mount_group;                 /* CSI volume_mount_group (a pod's fsGroup), 0 none:
					   * the volume root gets this group, setgid and group
					   * rwx, in O(1) (never a recursive chown) */
};

struct pv_publish_req {
	const struct pv *pv;
	const struct pv_secrets *secrets;
	enum pv_access access;
	bool block;
	const char *staging_path;         /* NULL: the one recorded at stage */
	const char *target;               /* required */
	bool readonly;
	const char *selinux_level;        /* "s0:c1,c2"; NULL: from mount flags / pod identity */
	const char *pod_identity;         /* e.g. pod uid: a stable level is derived from it */
	const char *const *mount_flags;
	size_t n_mount_flags;
	bool relabel;                     /* recursive relabel on request */
	long mount_group;                 /* as in pv_stage_req; reported as a supplemental group */
};

#define PV_MAX_GROUPS 8
struct pv_publish_result {
	bool readonly;
	char selinux_label[256];          /* "" when not labelled */
	gid_t groups[PV_MAX_GROUPS];
	size_t n_groups;
};

int pv_engine_stage(struct pv_engine *e, const struct pv_stage_req *r, struct pv_err *err);
int pv_engine_publish(struct pv_engine *e, const struct pv_publish_req *r,
		      struct pv_publish_result *res, struct pv_err *err);
int pv_engine_unpublish(struct pv_engine *e, const char *volume, const char *target,
			struct pv_err *err);
/* staging_path may be NULL (the recorded one). */
int pv_engine_unstage(struct pv_engine *e, const char *volume, const char *staging_path,
		      struct pv_err *err);
/* Unpublish every target then unstage (pvctl delete --force). */
int pv_engine_teardown(struct pv_engine *e, const char *volume, struct pv_err *err);

struct pv_volume_stats {
	bool block;
	uint64_t bytes_total, bytes_used, bytes_available;
	uint64_t inodes_total, inodes_used, inodes_free;
	bool abnormal;
	char condition[256];
};
/* path: a staging or publish path of the volume. */
int pv_engine_stats(struct pv_engine *e, const char *volume, const char *path,
		    struct pv_volume_stats *st, struct pv_err *err);
/* Grow the filesystem after the backend grew. *bytes: in, the size the volume grew to
 * (0 unknown); out, the new size. The node journal records it (shared storage has
 * nothing to grow on the node, but its stats use the new capacity). */
int pv_engine_expand(struct pv_engine *e, const char *volume, const char *path,
		     uint64_t *bytes, struct pv_err *err);

/* Start-up: compare every journal with /proc/self/mountinfo and the helpers, re-adopt
 * live helpers, restart dead ones for volumes still in use, flag lost mounts. Writes
 * one line per volume to `report` (may be NULL), `problem` set for what needed action or
 * is still wrong. Returns the number of problems. Safe to run periodically. */
int pv_engine_reconcile(struct pv_engine *e, void (*report)(const char *line, bool problem, void *ud),
			void *ud, struct pv_err *err);
/* The same for the volumes `want` accepts (given the PV as staged), e.g. those of the
 * drivers one of several pvnodes sharing a state directory serves; NULL: every one. A
 * journal that cannot be read is reported (never repaired) whatever the filter. */
typedef bool (*pv_engine_want_fn)(const struct pv *pv, void *ud);
int pv_engine_reconcile_only(struct pv_engine *e, pv_engine_want_fn want, void *want_ud,
			     void (*report)(const char *line, bool problem, void *ud), void *ud,
			     struct pv_err *err);

/* What the engine counted since it was opened (pvnode's metrics). */
struct pv_engine_counters {
	uint64_t helper_restarts;          /* dead helpers restarted by reconcile */
	uint64_t helper_restart_failures;  /* ... that could not be restarted */
	uint64_t interrupted_undone;       /* interrupted stages or unstages undone */
	uint64_t interrupted_failed;       /* ... that could not be undone */
	uint64_t mounts_lost;              /* staging or publish mounts found gone */
	uint64_t fence_refusals_stage;     /* a backend fence refused a stage (another node holds it) */
	uint64_t fence_refusals_publish;   /* a single-node volume refused to a second node (controller) */
};
void pv_engine_counters(const struct pv_engine *e, struct pv_engine_counters *out);
/* The volumes that have a journal on this node (whatever their phase); *names is
 * NULL-terminated, free with pv_strv_free. */
int pv_engine_volumes(struct pv_engine *e, char ***names, struct pv_err *err);
/* The same, and journals that cannot be read are rebuilt from the mount table and the
 * loop devices tagged for the volume (pvctl reconcile --repair). */
int pv_engine_repair_all(struct pv_engine *e, void (*report)(const char *line, bool problem, void *ud), void *ud,
			 struct pv_err *err);

/* --- a volume's state on this node (describe, get's STATUS, CSI checks) --- */
enum pv_node_phase {
	PV_NODE_NONE = 0,    /* nothing on this node */
	PV_NODE_STAGING,     /* a stage started (or was killed half-way) */
	PV_NODE_STAGED,
	PV_NODE_UNSTAGING,   /* an unstage started (or was killed half-way) */
	PV_NODE_DAMAGED,     /* its journal cannot be read: something may be mounted */
};
struct pv_target_state {
	char target[PATH_MAX];
	bool readonly, block, lost;
	char selinux_label[256];
	gid_t groups[PV_MAX_GROUPS];
	size_t n_groups;
};
struct pv_volume_state {
	enum pv_node_phase phase;
	char node_id[PV_NAME_MAX + 1];
	char staging_path[PATH_MAX];
	enum pv_access access;
	bool block, readonly;
	bool lost;                      /* the staging mount vanished */
	char fs_type[PV_FSTYPE_MAX + 1];
	char device[64], backing[PATH_MAX];
	char source[1024], source_type[32];
	char summary[256];              /* the driver's one line about the attachment */
	char fence[64];                 /* the fence this node holds, "" none */
	pid_t helper_pid;               /* 0 none */
	bool helper_running;
	struct pv_target_state *targets;
	size_t n_targets;
	char last_error[PV_ERR_MSG_MAX];
	struct pv pv;                   /* the PV as staged */
};
/* -ENOENT (no error set) when nothing of the volume is on this node. A journal that
 * cannot be read gives phase PV_NODE_DAMAGED and the reason in last_error. */
int pv_engine_state(struct pv_engine *e, const char *volume, struct pv_volume_state *st, struct pv_err *err);
void pv_volume_state_free(struct pv_volume_state *st);

/* A staged volume's data path as its userspace helper counted it (since that helper
 * started: a restarted helper counts from zero), and the helper's resident memory.
 * Read from the helper's counters file in the volume's run directory and /proc, never
 * by asking the helper: cheap, and a stuck helper cannot stall the caller. */
struct pv_volume_io {
	uint64_t read_bytes, write_bytes;
	uint64_t reads, writes, flushes, discards;   /* requests completed */
	uint64_t errors;                             /* ... answered with an I/O error */
	uint64_t helper_rss;                         /* bytes resident, 0: unknown */
	uint64_t helper_anon;                        /* ...of them its own (not file-backed) */
};
/* `st` from pv_engine_state. -ENOENT when no running helper reports for the volume
 * (a kernel data path, the file driver, a helper older than its counters). */
int pv_engine_volume_io(const struct pv_engine *e, const char *volume, const struct pv_volume_state *st,
			struct pv_volume_io *out);
/* pvctl get's STATUS: Available, Staging, Staged, Published, Unstaging, Lost, Damaged. */
const char *pv_volume_status(const struct pv_volume_state *st);
const char *pv_node_phase_name(enum pv_node_phase p);

/* Path checks used by the engine and the CSI layer: absolute, no "..", no "//" tricks,
 * under one of the allowed prefixes. */
int pv_engine_check_path(const struct pv_engine *e, const char *what, const char *path,
			 struct pv_err *err);

#endif
