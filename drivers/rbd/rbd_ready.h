/*
 * rbd_ready.h — the helper's side of the readiness protocol every pvnode helper
 * speaks: one line on fd 3, then fd 3 is closed:
 *   "READY key=value key=value ..."            (e.g. client=127.0.0.1:0/4242 size=1073741824)
 *   "ERROR <kind> <errno> <sentence>"          (kind as pvr_kind_name: policy, invalid, ...)
 * Kept in one small file so it can be swapped for the shared helper module's function.
 */
#ifndef PVNODE_RBD_READY_H
#define PVNODE_RBD_READY_H

#include "pvnode/error.h"

/* Adopt fd 3 when it is open (started by the driver); otherwise reports go nowhere. */
void pvr_ready_init(void);
/* "READY <kv>\n" */
void pvr_ready_ok(const char *kv);
/* "ERROR <kind> <errno> <sentence>\n"; also logs the sentence. Returns the exit status
 * the helper should use: 3 for a policy refusal, 2 invalid input, else 1. */
int pvr_ready_error(const struct pv_err *err);

#endif
