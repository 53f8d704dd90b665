/*
 * controller_int.h — what the controller's files (controller.c: volumes; controller_snap.c:
 * snapshots, restores and clones) share.
 */
#ifndef PVNODE_CONTROLLER_INT_H
#define PVNODE_CONTROLLER_INT_H

#include <limits.h>
#include <sys/types.h>

#include "engine/engine_int.h"
#include "pvnode/controller.h"

/* The secrets a call uses: the caller's, else the PV's secretRef from the store. */
struct ctl_secrets {
	struct pv_secrets loaded;
	const struct pv_secrets *use;
};
void ctl_secrets_free(struct ctl_secrets *c);
int ctl_secrets(struct pv_engine *e, const struct pv *pv, const struct pv_secrets *given, struct ctl_secrets *out,
		struct pv_err *err);
/* The driver of a PV, or PV_E_INVALID naming the ones built in. */
const struct pv_driver *ctl_driver(const struct pv *pv, struct pv_err *err);
/* The node context of volume `name`, its run directory made. */
int ctl_node(struct pv_engine *e, const char *name, struct pv_volctx *vc, struct pv_err *err);
/* Refusals before anything is made: a capacity the backend would round, a filesystem
 * smaller than mkfs makes. */
int ctl_check_granularity(const struct pv *pv, const struct pv_driver *drv, uint64_t bytes, struct pv_err *err);
int ctl_check_fs_minimum(const struct pv *pv, const struct pv_driver *drv, struct pv_err *err);

/* controller_freeze.c: freeze `volume`'s filesystem when it is staged here read-write
 * with one on a block device (f->fd stays -1 when there is nothing to freeze), and
 * thaw it again; a guard process thaws it if this process is killed in between. */
struct ctl_freeze {
	int fd;        /* the staging mount's root, read-only; -1 nothing frozen */
	int guard_w;   /* the guard's pipe */
	pid_t guard;
	char where[PATH_MAX];
	char marker[PATH_MAX]; /* pv_engine_frozen_marker: there while it may be frozen */
};
#define CTL_FREEZE_INIT { .fd = -1, .guard_w = -1 }
/* `lock_fd`: the volume's lock, which the thaw guard keeps (it closes everything else). */
int ctl_freeze_begin(struct pv_engine *e, const char *volume, int lock_fd, struct ctl_freeze *f, struct pv_err *err);
void ctl_freeze_end(struct ctl_freeze *f);

/* controller_snap.c: provision `pv` from its source (pv->source_kind set) and record it,
 * the new volume's lock held (and for a clone the source's). Nothing is left when it
 * fails. */
int ctl_make_from_source(struct pv_engine *e, const struct pv_driver *drv, struct pv *pv,
			 const struct pv_secrets *given, int source_lock, struct pv_err *err);
/* Does a stored volume come from the source a repeated create names? */
bool ctl_same_source(const struct pv *stored, const struct pv *wanted);

#endif
