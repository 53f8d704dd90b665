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
 * watchdog stats the image's first data object (asynchronously, bounded by the same
 * timeout; "no such object" is an answer too), so the status goes down while the cluster is away and up when it is back.
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

struct pvr_io_cfg {
	rbd_image_t image;         /* open; owned by the caller */
	rados_ioctx_t ioctx;       /* its pool: the idle probe stats probe_oid there */
	const char *probe_oid;     /* "rbd_data.<id>.0000000000000000" (may not exist: an
				    * ENOENT is an answer too), NULL: no probe */
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
