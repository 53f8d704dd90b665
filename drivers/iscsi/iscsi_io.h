/*
 * iscsi_io.h — the helper's I/O engine: one or more sessions, each a libiscsi context
 * owned by its thread, keep many SCSI commands in flight; blockfuse threads hand them
 * requests (to the least loaded session) and wait or get called back.
 *
 * It also owns the session's life: a lost connection is re-established (every portal,
 * a new login, the persistent reservation moved to the new session); requests wait at
 * most io_timeout seconds for that and then fail with EIO, and while the target stays
 * away new requests fail at once. The status file tells the driver's health check
 * "up", "down", or "fenced" (someone preempted our reservation), plus the size.
 */
#ifndef PVNODE_ISCSI_IO_H
#define PVNODE_ISCSI_IO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "iscsi_conn.h"
#include "pvnode/driver/blockfuse.h"

struct pvi_io;

struct pvi_io_cfg {
	const struct pvi_target *target; /* kept by pointer (the helper owns it) */
	uint64_t key;                    /* PR key held in every session, 0: none (ROX) */
	bool readonly;
	int io_timeout_s;                /* how long I/O waits for a lost target, default 15 */
	const char *status_path;         /* NULL: none */
	volatile sig_atomic_t *resize_flag; /* set (e.g. by a signal): re-read the capacity */
	size_t max_inflight_bytes;       /* READ/WRITE data on the wire at once, 0: 2 MiB */
	int sessions;                    /* sessions carrying the I/O, 1..PVI_MAX_SESSIONS */
	long split_read;                 /* READ bytes per command, 0: 256 KiB, < 0: whole */
	long split_write;                /* WRITE bytes per command, <= 0: whole */
};

/* Takes ownership of `iscsi` (logged in, reservation taken if key): the first session.
 * Logs in the other cfg->sessions - 1 itself, each registered with key. On failure the
 * caller still owns `iscsi` (and releases with it). */
int pvi_io_start(const struct pvi_io_cfg *cfg, struct iscsi_context *iscsi, const char *portal,
		 struct pvi_io **out, struct pv_err *err);
/* Stop the thread, release the reservation and unregister, log out. */
void pvi_io_stop(struct pvi_io *io);
/* An eventfd: writing 1 to it wakes the engine (after setting *resize_flag). */
int pvi_io_wake_fd(const struct pvi_io *io);
uint32_t pvi_io_block_size(const struct pvi_io *io);
int pvi_io_sessions(const struct pvi_io *io);
/* Does the LUN unmap with zeroes afterwards (thin, LBPRZ)? Then discards are worth it. */
bool pvi_io_can_unmap(const struct pvi_io *io);
/* The blockfuse table for this engine (discard/write_zeroes only when supported). */
void pvi_io_ops(const struct pvi_io *io, struct pv_blockfuse_ops *ops);

#endif
