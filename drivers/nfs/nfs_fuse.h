/*
 * nfs_fuse.h — the pieces of the pvnode-nfs-fuse helper: a pool of libnfs contexts
 * (one request per context at a time: libnfs is not thread-safe) and the write path.
 */
#ifndef PVNODE_DRIVERS_NFS_FUSE_H
#define PVNODE_DRIVERS_NFS_FUSE_H

#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <nfsc/libnfs.h>

#include "nfs.h"

#define PVNFS_MAX_CONTEXTS 16
#define PVNFS_MAX_IO (1 << 20)
/* Reads are 16 KiB short of 1 MiB so that a reply fits a pipe of pipe-max-size (1 MiB by
 * default; the helper cannot raise it) with libfuse's room for the header and pieces:
 * the data is spliced from the socket to /dev/fuse through pipes (nfs_pool.c). */
#define PVNFS_MAX_READ (PVNFS_MAX_IO - (16 << 10))
#ifndef PVNFS_WRITES_IN_FLIGHT
#define PVNFS_WRITES_IN_FLIGHT 4
#endif
#ifndef PVNFS_READAHEAD
#define PVNFS_READAHEAD (4 * PVNFS_MAX_IO) /* sequential reads: 4 MiB ahead, READs of PVNFS_MAX_READ */
#endif

/* AUTH_UNIX credentials of a caller (at most 16 supplementary groups on the wire). */
#define PVNFS_MAX_GROUPS 16
struct pvnfs_cred {
	uint32_t uid, gid, n;
	uint32_t groups[PVNFS_MAX_GROUPS];
};

struct pvnfs_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct nfs_context *ctx[PVNFS_MAX_CONTEXTS]; /* NULL: (re)connect on next use */
	bool busy[PVNFS_MAX_CONTEXTS];
	struct pvnfs_cred cred[PVNFS_MAX_CONTEXTS]; /* what each context sends now */
	int n;
	char host[256];
	int port;
	char export[1024];
	int timeout_ms;
	bool down;     /* the last attempt failed at the transport level (logging only) */
};

struct pvnfs_lease {
	struct nfs_context *nfs;
	int slot;
};

/* An open file. Writes are pipelined (write-behind): up to PVNFS_WRITES_IN_FLIGHT run at
 * once, each on a context leased from the FUSE write until its reply; their first error
 * is kept and returned by the next write, flush or fsync, as a kernel NFS client reports
 * asynchronous write errors. Data in flight is bounded by the pool (one 1 MiB request
 * per leased context). */
struct pvnfs_file {
	struct nfsfh *fh;
	struct pvnfs_cred cred; /* the opener's: reads, writes and commits go out as it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct { uint64_t off; size_t size; } ranges[PVNFS_WRITES_IN_FLIGHT]; /* size 0: free */
	int in_flight;
	int error;     /* first asynchronous write error, reported once */
	bool dirty;    /* unstable writes since the last COMMIT */
	bool sync;     /* opened O_SYNC / O_DSYNC: writes go FILE_SYNC */
	uint64_t wseq; /* writes submitted (a COMMIT knows whether it covered them all) */
	/* The write verifier of the server's UNSTABLE replies while some may be uncommitted:
	 * a reply with another one means the server restarted and may have lost them. */
	char verf[8];
	bool verf_set;
	bool init;
};

static inline struct pvnfs_file *pvnfs_file(const struct fuse_file_info *fi)
{
	return (struct pvnfs_file *)(uintptr_t)fi->fh;
}

/* nfs_fuse_ops.c: the operations table and the helper's one pool. */
extern const struct fuse_operations pvnfs_ops;
extern struct pvnfs_pool pvnfs_helper_pool;

int pvnfs_pool_init(struct pvnfs_pool *p, const char *host, int port, const char *export,
		    int timeout_ms, int n, char *errbuf, size_t errlen);
void pvnfs_pool_destroy(struct pvnfs_pool *p);
/* Borrow a connected context that sends `cred` (NULL: root); -EIO when the server
 * cannot be reached. */
int pvnfs_pool_get(struct pvnfs_pool *p, struct pvnfs_lease *l, const struct pvnfs_cred *cred);
/* Give it back with the result of what was done with it: a transport failure drops the
 * connection (reconnected on next use) and becomes -ETIMEDOUT / -EIO. Returns r. */
int pvnfs_pool_put(struct pvnfs_pool *p, struct pvnfs_lease *l, int r);

/* READ into buf until size bytes or the end of the file; bytes read or -errno. */
int pvnfs_read(struct pvnfs_pool *p, struct pvnfs_file *f, char *buf, size_t size, off_t off);
/* The same for a FUSE read_buf: the data is left in the calling thread's pipe (spliced
 * from the socket, *bv names the pipe) or, where splicing is not possible, in memory it
 * allocates (*bv holds it; libfuse frees it). Bytes read or -errno (nothing to free). */
int pvnfs_read_buf(struct pvnfs_pool *p, struct pvnfs_file *f, size_t size, off_t off, struct fuse_bufvec *bv);
int pvnfs_write(struct pvnfs_pool *p, struct pvnfs_file *f, const char *buf, size_t size, off_t off);
/* Wait for the file's writes in flight; returns their first error. */
int pvnfs_write_barrier(struct pvnfs_pool *p, struct pvnfs_file *f);
/* Barrier + NFS COMMIT when there were unstable writes. */
int pvnfs_commit(struct pvnfs_pool *p, struct pvnfs_file *f);
/* Wait without taking the error (it stays for write/flush/fsync to report). */
void pvnfs_write_barrier_keep(struct pvnfs_file *f);
/* Wait for every file's writes (attribute look-ups by path). */
void pvnfs_write_barrier_all(void);
int pvnfs_writers_start(int n);
/* READs and WRITEs sent so far (nfs_pool.c; the loop releases memory when it stops). */
extern uint64_t pvnfs_io_count;
/* nfs_fuse_loop.c: block the signals only the loop's main thread takes (call before
 * starting any thread), then serve requests until the session ends: 0, or the -errno
 * reading /dev/fuse failed with. */
void pvnfs_block_signals(void);
int pvnfs_fuse_loop(struct fuse *fuse);
/* nfs_fuse.c: set the mount's readahead (once, after INIT). */
void pvnfs_readahead_once(void);
struct pvnfs_file *pvnfs_file_new(void);
void pvnfs_file_free(struct pvnfs_file *f);

#endif
