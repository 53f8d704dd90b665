/*
 * blockfuse.h — a generic FUSE block-file server for userspace block backends.
 *
 * A helper process (pvnode-iscsi-fuse, later pvnode-rbd-fuse) opens its backend, then
 * calls pv_blockfuse_run(): it mounts a FUSE filesystem at `mountpoint` holding exactly
 * one regular file, `file_name`, whose bytes are the backend's bytes. The engine puts a
 * loop device over that file. The server:
 *   - opens the file with direct_io (no page cache in the helper's way) and asks the
 *     kernel for 1 MiB requests (max_write, max_pages);
 *   - keeps many requests in flight: loop's asynchronous direct I/O queues them on
 *     /dev/fuse, two reader threads take them off and hand aligned reads, writes and
 *     flushes to the backend's asynchronous operations when it has them (completions
 *     answer the kernel, out of order; large answers go to worker threads), else run
 *     the synchronous ones on worker threads;
 *   - does read-modify-write at unaligned edges, so the backend only ever sees
 *     block-aligned I/O;
 *   - maps fsync/flush to ops->flush, fallocate(PUNCH_HOLE) to ops->discard and
 *     fallocate(ZERO_RANGE) to ops->write_zeroes (falling back to writing zeroes);
 *   - bounds the request data in flight when the backend asks (max_inflight_bytes: the
 *     readers leave further requests queued in the kernel);
 *   - never uses writeback_cache, and locks its memory (mlockall) so it keeps serving
 *     under memory pressure.
 * The backend's ops must be callable from several threads at once.
 */
#ifndef PVNODE_BLOCKFUSE_H
#define PVNODE_BLOCKFUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvnode/error.h"

/* Completion of an asynchronous operation: `result` 0 or a negative errno. The backend
 * may call it on any thread, also inside the submitting call; it returns quickly (it
 * answers the kernel or queues the answer for a worker). */
typedef void pv_blockfuse_done(void *tag, int result);

struct pv_blockfuse_ops {
	/* Aligned to block_size (offset and length). 0 or a negative errno. */
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
	int (*write)(void *ctx, const void *buf, size_t len, uint64_t off);
	int (*flush)(void *ctx);
	/* Optional (NULL: not supported). Aligned to block_size. */
	int (*discard)(void *ctx, uint64_t off, uint64_t len);
	/* The range must read back as zeroes; `may_unmap`: the backend may deallocate it
	 * (punch hole) rather than write zeroes (zero range keeps it allocated). */
	int (*write_zeroes)(void *ctx, uint64_t off, uint64_t len, bool may_unmap);
	/* Current size in bytes (re-read on every getattr, so growth shows up). */
	uint64_t (*size)(void *ctx);
	/* Optional, all three or none: asynchronous read/write/flush of aligned ranges.
	 * Return 0 when queued (then done(tag, result) is called exactly once), or a
	 * negative errno (done is not called). `buf` stays valid until done. A flush covers
	 * every write whose done was called before it was submitted. */
	int (*aio_read)(void *ctx, void *buf, size_t len, uint64_t off, pv_blockfuse_done *done,
			void *tag);
	int (*aio_write)(void *ctx, const void *buf, size_t len, uint64_t off,
			 pv_blockfuse_done *done, void *tag);
	int (*aio_flush)(void *ctx, pv_blockfuse_done *done, void *tag);
};

struct pv_blockfuse_cfg {
	const char *mountpoint;   /* an existing empty directory */
	const char *file_name;    /* the one file in it, e.g. "disk" */
	uint32_t block_size;      /* backend block size (512, 4096) */
	bool readonly;            /* file mode 0400, writes refused with EROFS */
	unsigned max_threads;     /* worker threads for a backend without aio_*, 0: 16 */
	size_t max_io;            /* largest request, 0: 1 MiB */
	/* Data of READs and WRITEs taken off the device and not yet answered, at most (one
	 * request passes whatever its size when nothing else is in flight); also bounds the
	 * request buffers kept at full size. For a backend that copies each write (its
	 * library's own buffer): the helper's I/O memory is about twice this. 0: bounded
	 * only by the buffer pool (24 requests). */
	size_t max_inflight_bytes;
	/* Called once the filesystem is mounted and about to serve (readiness report). */
	void (*on_ready)(void *ctx);
};

/* Mount, serve until pv_blockfuse_stop() (or SIGTERM/SIGINT/SIGHUP), unmount.
 * Returns 0 after a clean stop. */
int pv_blockfuse_run(const struct pv_blockfuse_cfg *cfg, const struct pv_blockfuse_ops *ops,
		     void *ctx, struct pv_err *err);
/* Ask a running server to unmount and return (async-signal-safe). */
void pv_blockfuse_stop(void);

#endif
