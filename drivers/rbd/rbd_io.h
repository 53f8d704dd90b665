/*
 * rbd_io.h — the helper's I/O backend: librbd behind the blockfuse ops table, plus the
 * volume's health as the driver sees it in the status file.
 *
 * Each request is one librbd aio call, answered from librbd's completion callback
 * (reads, writes, flushes) or waited for on a blockfuse worker (the rest). librados bounds each request (rados_osd_op_timeout):
 * during an outage requests fail with EIO after the timeout instead of hanging, and the
 * status file says state=down until one completes again (state=up). A blocklisted
 * client (another node broke our lock), or a write refused while another client holds
 * the lock, is state=fenced for good: every later request fails at once, writes with
 * EROFS. A write refused while the lock is ours or free (librbd re-taking it after an
 * outage) is sent again once it is ours (cfg.relock).
 *
 * An idle volume would never notice an outage: after PVR_PROBE_IDLE_S without I/O the
 * watchdog sends a probe round, a stat of PVR_PROBE_OBJS objects of the image — its
 * first data object, its header and one more data object, a different one each round
 * (they hash to different PGs; "no such object" is an answer too). The volume is up as
 * soon as one of them answers and down when none did: a PG of the image that serves
 * nothing (seen after an OSD was paused) shows in the I/O that touches it, not as the
 * whole volume down. A stat still out after probe_timeout_s (+1 s; librados should have
 * ended it by then) is cancelled and counts as no answer.
 *
 * The size is cached and re-read when the image header changes (rbd_update_watch) or
 * after pvr_io_refresh() (SIGUSR1), so reads and writes never pay for it.
 */
#ifndef PVNODE_RBD_IO_H
#define PVNODE_RBD_IO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "pvnode/driver/blockfuse.h"
#include "pvnode/error.h"

struct pvr_io;

#define PVR_PROBE_IDLE_S 10
#define PVR_PROBE_OBJS 3

struct pvr_io_cfg {
	rbd_image_t image;         /* open; owned by the caller */
	/* The idle probe (all owned by the caller, alive until pvr_io_stop): */
	rados_ioctx_t ioctx;       /* the image's pool: header_oid is there */
	rados_ioctx_t data_ioctx;  /* where its data objects are (dataPool); NULL: ioctx */
	const char *header_oid;    /* "rbd_header.<id>"; NULL: not probed */
	const char *data_prefix;   /* "rbd_data.<id>": data objects "<prefix>.%016llx" (they
				    * need not exist: ENOENT is an answer too); NULL: no probe */
	uint64_t obj_size;         /* bytes per data object */
	int probe_timeout_s;       /* the OSD timeout (librados ends a stat after it) */
	bool readonly;
	const char *status_path;   /* NULL: none */
	const char *client_addr;   /* shown in the status file */
	int stall_s;               /* I/O outstanding this long with none completing: down */
	volatile sig_atomic_t *resize_flag; /* set (by SIGUSR1): re-read the size */
	/* After a write refused with EROFS (exclusive access only; NULL: EROFS fences):
	 * 0 when the lock is ours again, -EAGAIN while librbd moves it between our own
	 * cookies, -EROFS or -ESHUTDOWN when another client holds it / we are blocklisted,
	 * another errno when the cluster did not answer. Called from request threads, one at
	 * a time; it may block for up to the OSD timeout. */
	int (*relock)(void *arg);
	void *relock_arg;
};

int pvr_io_start(const struct pvr_io_cfg *cfg, struct pvr_io **out, struct pv_err *err);
/* Stop the watchdog thread and the header watch; the image stays open. */
void pvr_io_stop(struct pvr_io *io);
void pvr_io_ops(struct pv_blockfuse_ops *ops);
uint64_t pvr_io_size(void *io);
/* Re-read the size soon. */
void pvr_io_refresh(struct pvr_io *io);
/* An eventfd: writing 1 to it (after setting *resize_flag) wakes the watchdog; for a
 * signal handler. */
int pvr_io_wake_fd(const struct pvr_io *io);
/* Has a write been refused because we lost the lock / were blocklisted? */
bool pvr_io_fenced(const struct pvr_io *io);

#endif
