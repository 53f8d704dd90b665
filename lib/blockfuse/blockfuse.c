/*
 * blockfuse.c — a generic FUSE block-file server (see include/pvnode/blockfuse.h).
 *
 * One filesystem, one regular file. The kernel's loop driver issues block-aligned
 * direct I/O against the file; FUSE hands each request to one of our worker threads,
 * which calls the backend synchronously. Several workers → several requests queued at
 * the backend at once (loop uses asynchronous direct I/O and FUSE_CAP_ASYNC_DIO splits
 * it into parallel requests). Unaligned requests (someone reading the file directly)
 * go through read-modify-write on bounce buffers, serialised by one mutex so two
 * partial writes to the same block cannot lose each other's bytes.
 */
#define FUSE_USE_VERSION 312
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvnode/driver/blockfuse.h"
#include "pvnode/driver/helper_stats.h"
#include "pvnode/driver/os.h"

#define BF_DEFAULT_IO (1024 * 1024)
#define BF_ZERO_CHUNK (1024 * 1024)

struct bf {
	const struct pv_blockfuse_cfg *cfg;
	const struct pv_blockfuse_ops *ops;
	void *ctx;
	char path[256];          /* "/disk" */
	pthread_mutex_t rmw_lock;
};

static struct fuse *volatile bf_fuse;

static struct bf *bf_get(void)
{
	return fuse_get_context()->private_data;
}

static void *bf_init(struct fuse_conn_info *conn, struct fuse_config *fc)
{
	struct bf *b = bf_get();
	size_t io = b->cfg->max_io ? b->cfg->max_io : BF_DEFAULT_IO;

	conn->max_write = (unsigned)io;
	conn->max_readahead = 0;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	fc->direct_io = 1;
	fc->kernel_cache = 0;
	fc->attr_timeout = 0;     /* size changes (refresh after growth) show at once */
	fc->entry_timeout = 0;
	fc->negative_timeout = 0;
	fc->use_ino = 1;
	return b;
}

static int bf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct bf *b = bf_get();
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_ino = 1;
		return 0;
	}
	if (strcmp(path, b->path) != 0)
		return -ENOENT;
	st->st_mode = S_IFREG | (b->cfg->readonly ? 0400 : 0600);
	st->st_nlink = 1;
	st->st_ino = 2;
	st->st_size = (off_t)b->ops->size(b->ctx);
	st->st_blksize = (blksize_t)b->cfg->block_size;
	st->st_blocks = st->st_size / 512;
	return 0;
}

static int bf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct bf *b = bf_get();
	(void)off; (void)fi; (void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, b->path + 1, NULL, 0, 0);
	return 0;
}

static int bf_open(const char *path, struct fuse_file_info *fi)
{
	struct bf *b = bf_get();
	if (strcmp(path, b->path) != 0)
		return -ENOENT;
	if (b->cfg->readonly && (fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

/* Clamp [off, off+len) to the device; returns the usable length. */
static size_t bf_clamp(struct bf *b, uint64_t off, size_t len)
{
	uint64_t size = b->ops->size(b->ctx);
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return len;
}

static int bf_read(const char *path, char *buf, size_t len, off_t off, struct fuse_file_info *fi)
{
	struct bf *b = bf_get();
	uint32_t bs = b->cfg->block_size;
	(void)path; (void)fi;
	len = bf_clamp(b, (uint64_t)off, len);
	if (len == 0)
		return 0;
	if ((uint64_t)off % bs == 0 && len % bs == 0) {
		int r = b->ops->read(b->ctx, buf, len, (uint64_t)off);
		return r < 0 ? r : (int)len;
	}
	/* Unaligned: read the covering blocks into a bounce buffer. */
	uint64_t start = (uint64_t)off / bs * bs;
	uint64_t end = ((uint64_t)off + len + bs - 1) / bs * bs;
	_cleanup_(pv_freep) char *tmp = malloc(end - start);
	if (!tmp)
		return -ENOMEM;
	int r = b->ops->read(b->ctx, tmp, end - start, start);
	if (r < 0)
		return r;
	memcpy(buf, tmp + ((uint64_t)off - start), len);
	return (int)len;
}

/* Write an unaligned range: read the edge blocks, patch, write back, under rmw_lock. */
static int bf_write_rmw(struct bf *b, const char *buf, size_t len, uint64_t off)
{
	uint32_t bs = b->cfg->block_size;
	uint64_t start = off / bs * bs;
	uint64_t end = (off + len + bs - 1) / bs * bs;
	_cleanup_(pv_freep) char *tmp = malloc(end - start);
	int r;

	if (!tmp)
		return -ENOMEM;
	pthread_mutex_lock(&b->rmw_lock);
	r = b->ops->read(b->ctx, tmp, bs, start);
	if (r >= 0 && end - start > bs)
		r = b->ops->read(b->ctx, tmp + (end - start - bs), bs, end - bs);
	if (r >= 0) {
		memcpy(tmp + (off - start), buf, len);
		r = b->ops->write(b->ctx, tmp, end - start, start);
	}
	pthread_mutex_unlock(&b->rmw_lock);
	return r;
}

static int bf_write(const char *path, const char *buf, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	struct bf *b = bf_get();
	uint32_t bs = b->cfg->block_size;
	int r;
	(void)path; (void)fi;
	if (b->cfg->readonly)
		return -EROFS;
	if (len == 0)
		return 0;
	if (bf_clamp(b, (uint64_t)off, len) < len)
		return -ENOSPC;  /* a block device does not grow */
	if ((uint64_t)off % bs == 0 && len % bs == 0)
		r = b->ops->write(b->ctx, buf, len, (uint64_t)off);
	else
		r = bf_write_rmw(b, buf, len, (uint64_t)off);
	return r < 0 ? r : (int)len;
}

static int bf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct bf *b = bf_get();
	(void)path; (void)datasync; (void)fi;
	if (b->cfg->readonly)
		return 0;
	return b->ops->flush(b->ctx);
}

static int bf_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path; (void)fi;
	return 0;   /* close(): nothing to do, data went straight to the backend */
}

/* Zero [off, off+len) by writing zero buffers (no write_zeroes in the backend). */
static int bf_zero_by_writes(struct bf *b, uint64_t off, uint64_t len)
{
	char *zero = calloc(1, BF_ZERO_CHUNK);
	int r = 0;
	if (!zero)
		return -ENOMEM;
	while (len > 0 && r >= 0) {
		size_t n = len > BF_ZERO_CHUNK ? BF_ZERO_CHUNK : (size_t)len;
		r = (off % b->cfg->block_size || n % b->cfg->block_size)
			    ? bf_write_rmw(b, zero, n, off)
			    : b->ops->write(b->ctx, zero, n, off);
		off += n;
		len -= n;
	}
	free(zero);
	return r < 0 ? r : 0;
}

static int bf_fallocate(const char *path, int mode, off_t offset, off_t length,
			struct fuse_file_info *fi)
{
	struct bf *b = bf_get();
	uint32_t bs = b->cfg->block_size;
	uint64_t off = (uint64_t)offset, len = (uint64_t)length;
	(void)path; (void)fi;

	if (b->cfg->readonly)
		return -EROFS;
	len = bf_clamp(b, off, len);
	if (mode == 0)
		return 0;   /* allocation: the LUN is already all there */
	if (!(mode & FALLOC_FL_KEEP_SIZE) && !(mode & FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	bool punch = mode & FALLOC_FL_PUNCH_HOLE;
	bool zero = mode & FALLOC_FL_ZERO_RANGE;
	if (!punch && !zero)
		return -EOPNOTSUPP;
	if (len == 0)
		return 0;
	/* Aligned middle to the backend, unaligned edges written as zeroes. */
	uint64_t a = (off + bs - 1) / bs * bs, e = (off + len) / bs * bs;
	if (a >= e)
		return bf_zero_by_writes(b, off, len);
	int r = 0;
	if (a > off)
		r = bf_zero_by_writes(b, off, a - off);
	if (r >= 0 && off + len > e)
		r = bf_zero_by_writes(b, e, off + len - e);
	if (r < 0)
		return r;
	/* A punched hole must read back as zeroes: discard only when the backend
	 * guarantees that (write_zeroes with unmap), else write zeroes. */
	if (b->ops->write_zeroes)
		r = b->ops->write_zeroes(b->ctx, a, e - a, punch && !zero);
	else
		r = -EOPNOTSUPP;
	if (r == -EOPNOTSUPP && punch && b->ops->discard && !zero)
		r = b->ops->discard(b->ctx, a, e - a);
	if (r == -EOPNOTSUPP)
		r = bf_zero_by_writes(b, a, e - a);
	return r;
}

/* The per-volume counters (pvnode/driver/helper_stats.h): one count per request the
 * kernel gets an answer to, kept out of the request paths above. */
static int bf_read_counted(const char *path, char *buf, size_t len, off_t off, struct fuse_file_info *fi)
{
	int r = bf_read(path, buf, len, off, fi);
	pv_helper_stats_count(PV_IO_READ, r > 0 ? (uint64_t)r : 0, r);
	return r;
}

static int bf_write_counted(const char *path, const char *buf, size_t len, off_t off, struct fuse_file_info *fi)
{
	int r = bf_write(path, buf, len, off, fi);
	pv_helper_stats_count(PV_IO_WRITE, r > 0 ? (uint64_t)r : 0, r);
	return r;
}

static int bf_fsync_counted(const char *path, int datasync, struct fuse_file_info *fi)
{
	int r = bf_fsync(path, datasync, fi);
	pv_helper_stats_count(PV_IO_FLUSH, 0, r);
	return r;
}

static int bf_fallocate_counted(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	int r = bf_fallocate(path, mode, off, len, fi);
	if (mode != 0)   /* plain allocation moves nothing */
		pv_helper_stats_count(PV_IO_DISCARD, 0, r);
	return r;
}

static const struct fuse_operations bf_ops = {
	.init = bf_init,
	.getattr = bf_getattr,
	.readdir = bf_readdir,
	.open = bf_open,
	.read = bf_read_counted,
	.write = bf_write_counted,
	.flush = bf_flush,
	.fsync = bf_fsync_counted,
	.fallocate = bf_fallocate_counted,
};

void pv_blockfuse_stop(void)
{
	struct fuse *f = bf_fuse;
	if (f)
		fuse_session_exit(fuse_get_session(f));
}

int pv_blockfuse_run(const struct pv_blockfuse_cfg *cfg, const struct pv_blockfuse_ops *ops,
		     void *ctx, struct pv_err *err)
{
	struct bf b = { .cfg = cfg, .ops = ops, .ctx = ctx };
	char *argv[] = { "pvnode-blockfuse", "-o", "fsname=pvnode-blockfuse,subtype=pvblock", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_loop_config *lc = NULL;
	struct fuse *f = NULL;
	int r = 0;

	if (!cfg->block_size || (cfg->block_size & (cfg->block_size - 1)) || !ops->read ||
	    !ops->write || !ops->flush || !ops->size)
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL,
				  "blockfuse: incomplete backend table or bad block size %u",
				  cfg->block_size);
	if (snprintf(b.path, sizeof(b.path), "/%s", cfg->file_name) >= (int)sizeof(b.path) ||
	    strchr(cfg->file_name, '/'))
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "blockfuse: bad file name %s",
				  cfg->file_name);
	pthread_mutex_init(&b.rmw_lock, NULL);
	/* MCL_ONFAULT: lock what is used, not every mapping whole (librados's and our
	 * threads' 8 MiB stacks, malloc arenas): a helper stays at what it touches */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		pv_warn("blockfuse: mlockall failed (%s); serving unlocked", strerror(errno));

	f = fuse_new(&args, &bf_ops, sizeof(bf_ops), &b);
	if (!f) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "blockfuse: cannot create the FUSE session");
		goto out;
	}
	if (fuse_mount(f, cfg->mountpoint) != 0) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "blockfuse: cannot mount FUSE at %s",
			       cfg->mountpoint);
		goto out_destroy;
	}
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "blockfuse: cannot install signal handlers");
		goto out_unmount;
	}
	bf_fuse = f;
	lc = fuse_loop_cfg_create();
	unsigned threads = cfg->max_threads ? cfg->max_threads : 16;
	fuse_loop_cfg_set_max_threads(lc, threads);
	/* workers are kept, not ended when idle: under a steady stream libfuse otherwise
	 * ends and starts ~20 threads a second, each with a fresh 1 MiB buffer to fault in */
	fuse_loop_cfg_set_idle_threads(lc, threads);
	if (cfg->on_ready)
		cfg->on_ready(ctx);
	if (fuse_loop_mt(f, lc) < 0)
		pv_warn("blockfuse: FUSE loop ended with an error");
	bf_fuse = NULL;
	fuse_loop_cfg_destroy(lc);
	fuse_remove_signal_handlers(fuse_get_session(f));
out_unmount:
	fuse_unmount(f);
out_destroy:
	fuse_destroy(f);
out:
	fuse_opt_free_args(&args);
	pthread_mutex_destroy(&b.rmw_lock);
	return r;
}
