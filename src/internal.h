/*
 * internal.h — interfaces between the core modules of libpvnode that are not part of
 * the public API: the access policy, SELinux labels, libmount and mkfs wrappers. Pure
 * functions here (policy, SELinux levels, option building) are unit-tested.
 */
#ifndef PVNODE_INTERNAL_H
#define PVNODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "pvnode/driver.h"
#include "pvnode/engine.h"
#include "pvnode/pv.h"

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

/* --- selinux.c --- */
#define PV_SELINUX_TYPE_PREFIX "system_u:object_r:container_file_t:"
bool pv_selinux_level_valid(const char *level);
int pv_selinux_label(const char *level, char *buf, size_t len, struct pv_err *err);
/* A stable level from a pod identity: two distinct categories in c0..c1023. */
void pv_selinux_level_from_identity(const char *identity, char *buf, size_t len);
/* The label of a `context="..."` mount flag, if any: 1 found, 0 none, <0 invalid. */
int pv_selinux_context_from_flags(const char *const *flags, size_t n, char *label, size_t len,
				  struct pv_err *err);
bool pv_selinux_kernel_enforces(void);
int pv_selinux_get(const char *path, char *label, size_t len);
int pv_selinux_set(const char *path, const char *label, struct pv_err *err);
/* Recursive relabel (opt-in), skipped when the root already matches. *count = files. */
int pv_selinux_relabel_tree(const char *root, const char *label, bool progress, size_t *count,
			    struct pv_err *err);

/* --- mount.c (libmount) --- */
/* Build "a,b,c" from option lists, refusing options with commas or control chars;
 * `ro` adds "ro". */
int pv_mount_options_join(const char *const *lists[], const size_t counts[], size_t nlists,
			  bool ro, char *buf, size_t len, struct pv_err *err);
int pv_mount(const char *source, const char *target, const char *fstype, const char *options,
	     struct pv_err *err);
int pv_bind_mount(const char *source, const char *target, bool readonly, const char *options,
		  struct pv_err *err);
/* Unmount every mount stacked at target; not mounted is success. */
int pv_umount(const char *target, struct pv_err *err);

/* --- format.c --- */
/* 0 blank, 1 carries a filesystem or partition table (*what names it), <0 error. */
int pv_probe_device(const char *dev, char *what, size_t len, struct pv_err *err);
int pv_mkfs(const char *dev, const char *fstype, uint64_t bytes, bool progress, struct pv_err *err);
int pv_grow_fs(const char *dev, const char *mountpoint, const char *fstype, struct pv_err *err);
/* Make the root of a fresh filesystem group-owned by gid, mode 2770. */
int pv_set_root_group(const char *root, long gid, struct pv_err *err);

/* --- engine.c: shared by the engine's files --- */
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
	struct pv_engine_cfg cfg;
	pthread_mutex_t usage_lock;
	struct pv_usage_entry usage[PV_USAGE_CACHE];
};
struct pv_volctx {
	char run_dir[PATH_MAX];
	struct pv_node_ctx n;
};
void pv_engine_volctx(const struct pv_engine *e, const char *volume, struct pv_volctx *vc);
int pv_engine_lock(struct pv_engine *e, const char *volume, struct pv_err *err);
/* Undo whatever a stage left on the node (mount, driver attachment, tagged loop
 * devices) as recorded in j; leaves the journal file alone. */
int pv_engine_undo_stage(struct pv_engine *e, const struct pv_journal *j, struct pv_err *err);
/* Record err's sentence as the volume's last error (best effort). */
void pv_engine_note_error(struct pv_engine *e, const char *volume, const struct pv_err *err);

#endif
