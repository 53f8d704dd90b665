/*
 * nfs_fuse_ops.c — the FUSE operations of pvnode-nfs-fuse: each maps to libnfs calls on
 * a context borrowed from the pool (nfs_pool.c) for the duration of the request.
 * Files created through the mount are owned by the caller (group: the parent's if it is
 * setgid, else the caller's), as a kernel NFS client with root squash off leaves them.
 * Writes go through the pipelined write path, reads through read_buf (their data
 * spliced, never copied here); reads and attribute look-ups wait for a file's writes in
 * flight so they never see less than write() accepted.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "nfs_fuse.h"
#include "pvnode/driver/helper_stats.h"

struct pvnfs_pool pvnfs_helper_pool;

/* The export path of a FUSE path: libnfs resolves paths below the mounted export. */
static const char *np(const char *path)
{
	return path && *path ? path : "/";
}

static void to_stat(const struct nfs_stat_64 *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = n->nfs_dev;
	st->st_ino = n->nfs_ino;
	st->st_mode = n->nfs_mode;
	st->st_nlink = n->nfs_nlink;
	st->st_uid = n->nfs_uid;
	st->st_gid = n->nfs_gid;
	st->st_rdev = n->nfs_rdev;
	st->st_size = n->nfs_size;
	st->st_blksize = 1 << 20;
	st->st_blocks = n->nfs_blocks;
	st->st_atim.tv_sec = n->nfs_atime;
	st->st_atim.tv_nsec = n->nfs_atime_nsec;
	st->st_mtim.tv_sec = n->nfs_mtime;
	st->st_mtim.tv_nsec = n->nfs_mtime_nsec;
	st->st_ctim.tv_sec = n->nfs_ctime;
	st->st_ctim.tv_nsec = n->nfs_ctime_nsec;
}

/* The caller's credentials, sent with the request so the server checks permissions
 * and assigns ownership as it would for a kernel client: new files belong to the
 * caller, in the parent's group when the parent is setgid (the PV gid case); root is
 * squashed where the export squashes root. */
static const struct pvnfs_cred *caller(struct pvnfs_cred *c)
{
	struct fuse_context *ctx = fuse_get_context();
	gid_t groups[64];
	int n = fuse_getgroups(64, groups);

	memset(c, 0, sizeof(*c));
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	for (int i = 0; i < n && i < 64 && c->n < PVNFS_MAX_GROUPS; i++)
		c->groups[c->n++] = groups[i];
	return c;
}

/* Close-to-open. The kernel keeps a file's attributes (attr_timeout) and pages across
 * opens; libfuse's auto_cache checks for changes at open only once its own copy is older
 * than the attribute timeout, and the kernel's cached size is not refreshed by an open at
 * all, so a file another node rewrote a moment ago would be read short or stale. So
 * every open asks the server (GETATTR) and, when the file is not what the kernel was last
 * told, has the kernel drop the inode's attributes and pages; the next read revalidates.
 * What the kernel was told is kept per inode in a small direct-mapped table: a slot
 * taken by another inode counts as changed (one needless invalidation, never a stale
 * read). */
#define SEEN_SLOTS 1024
static struct seen_attrs {
	uint64_t ino, size, mtime, mtime_nsec, ctime, ctime_nsec;
} g_seen[SEEN_SLOTS];
static pthread_mutex_t g_seen_mu = PTHREAD_MUTEX_INITIALIZER;

static struct seen_attrs seen_of(const struct nfs_stat_64 *n)
{
	return (struct seen_attrs){ n->nfs_ino, n->nfs_size, n->nfs_mtime, n->nfs_mtime_nsec,
				    n->nfs_ctime, n->nfs_ctime_nsec };
}

static void attrs_told(const struct nfs_stat_64 *n)
{
	pthread_mutex_lock(&g_seen_mu);
	g_seen[n->nfs_ino % SEEN_SLOTS] = seen_of(n);
	pthread_mutex_unlock(&g_seen_mu);
}

static bool attrs_changed(const struct nfs_stat_64 *n)
{
	struct seen_attrs now = seen_of(n);
	bool changed;

	pthread_mutex_lock(&g_seen_mu);
	changed = memcmp(&g_seen[n->nfs_ino % SEEN_SLOTS], &now, sizeof(now)) != 0;
	pthread_mutex_unlock(&g_seen_mu);
	return changed;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	conn->max_write = PVNFS_MAX_IO;
	conn->max_read = PVNFS_MAX_READ;
	conn->max_readahead = PVNFS_READAHEAD;
	conn->max_background = 64;
	/* READ data goes from the socket through a pipe to /dev/fuse (op_read_buf) */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* No writeback cache: with it the kernel trusts its own size and mtime of regular
	 * files and would never see another node's writes (RWX coherence). */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* A read that finds new attributes (mtime, size) drops the stale pages. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	cfg->use_ino = 1;
	cfg->attr_timeout = 1.0;
	cfg->entry_timeout = 1.0;
	cfg->negative_timeout = 0;
	cfg->auto_cache = 1;   /* drop cached pages when another node changed the file */
	cfg->kernel_cache = 0;
	cfg->hard_remove = 0;
	return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct nfs_stat_64 n;
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	int r;

	pvnfs_readahead_once();
	/* A size the server reports must include what write() already accepted. */
	if (fi && fi->fh)
		pvnfs_write_barrier_keep(pvnfs_file(fi));
	else
		pvnfs_write_barrier_all();
	r = pvnfs_pool_get(&pvnfs_helper_pool, &l,
			   fi && fi->fh ? &pvnfs_file(fi)->cred : caller(&cr));
	if (r < 0)
		return r;
	if (fi && fi->fh)
		r = nfs_fstat64(l.nfs, pvnfs_file(fi)->fh, &n);
	else
		r = nfs_lstat64(l.nfs, np(path), &n);
	r = pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
	if (r == 0) {
		to_stat(&n, st);
		attrs_told(&n);
	}
	return r;
}

/* open and create: a file handle with the caller's credentials, on a pooled context. */
static int open_file(const char *path, bool create, mode_t mode, struct fuse_file_info *fi)
{
	struct pvnfs_file *f = pvnfs_file_new();
	struct pvnfs_lease l;
	struct nfs_stat_64 st;
	bool stale = false;
	int r;

	pvnfs_readahead_once();
	if (!f)
		return -ENOMEM;
	r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&f->cred));
	if (r < 0) {
		pvnfs_file_free(f);
		return r;
	}
	/* libfuse asks for atomic O_TRUNC: the kernel passes O_TRUNC here instead of sending a
	 * truncate of its own (dropping it left the old tail behind a shorter rewrite).
	 * O_APPEND offsets come from the kernel. */
	if (create) {
		r = nfs_create(l.nfs, path, (fi->flags & (O_ACCMODE | O_EXCL | O_TRUNC)) | O_CREAT, mode & 07777,
			       &f->fh);
	} else {
		r = nfs_open(l.nfs, path, fi->flags & (O_ACCMODE | O_SYNC | O_DSYNC | O_TRUNC), &f->fh);
		if (r == 0 && (r = nfs_fstat64(l.nfs, f->fh, &st)) < 0)
			nfs_close(l.nfs, f->fh);
		stale = r == 0 && attrs_changed(&st);
	}
	r = pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
	/* Not inside the lease: the kernel may send requests while it invalidates. */
	if (stale)
		fuse_invalidate_path(fuse_get_context()->fuse, path);
	if (r < 0) {
		pvnfs_file_free(f);
		return r;
	}
	f->sync = (fi->flags & (O_SYNC | O_DSYNC)) != 0;
	fi->fh = (uint64_t)(uintptr_t)f;
	return 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return open_file(path, true, mode, fi);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	return open_file(path, false, 0, fi);
}

/* The data comes back in the worker's pipe (nfs_pool.c) and libfuse splices it to
 * /dev/fuse: read_buf instead of read, whose buffer libfuse would allocate and writev. */
static int op_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fuse_bufvec *bv = malloc(sizeof(*bv));
	int r;

	(void)path;
	if (!bv)
		return -ENOMEM;
	pvnfs_write_barrier_keep(pvnfs_file(fi));
	r = pvnfs_read_buf(&pvnfs_helper_pool, pvnfs_file(fi), size, off, bv);
	pv_helper_stats_count(PV_IO_READ, r > 0 ? (uint64_t)r : 0, r < 0 ? r : 0);
	if (r < 0) {
		free(bv);
		return r;
	}
	*bufp = bv;
	return 0;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	int r = pvnfs_write(&pvnfs_helper_pool, pvnfs_file(fi), buf, size, off);
	pv_helper_stats_count(PV_IO_WRITE, r > 0 ? (uint64_t)r : 0, r);
	return r;
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	/* close-to-open: what was written is on the server when close returns. */
	int r = pvnfs_commit(&pvnfs_helper_pool, pvnfs_file(fi));
	pv_helper_stats_count(PV_IO_FLUSH, 0, r);
	return r;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	int r = pvnfs_commit(&pvnfs_helper_pool, pvnfs_file(fi));
	pv_helper_stats_count(PV_IO_FLUSH, 0, r);
	return r;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct pvnfs_file *f = pvnfs_file(fi);
	struct pvnfs_lease l;

	/* Normally flush committed everything; writes after the last flush (writeback of a
	 * shared mapping) are committed here. Nobody is left to hear an error: log it. */
	int r = pvnfs_commit(&pvnfs_helper_pool, f);
	if (r < 0)
		fprintf(stderr, "pvnode-nfs-fuse: %s: writes after the last close failed: %s\n",
			path ? path : "?", strerror(-r));
	if (pvnfs_pool_get(&pvnfs_helper_pool, &l, &f->cred) == 0) {
		nfs_close(l.nfs, f->fh); /* NFSv3: frees the handle, no RPC */
		pvnfs_pool_put(&pvnfs_helper_pool, &l, 0);
	}
	pvnfs_file_free(f);
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	struct nfsdir *dir = NULL;
	struct nfsdirent *e;
	int r;

	(void)off;
	(void)fi;
	(void)flags;
	r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&cr));
	if (r < 0)
		return r;
	r = nfs_opendir(l.nfs, np(path), &dir);
	if (r == 0) {
		while ((e = nfs_readdir(l.nfs, dir))) {
			struct stat st = { .st_ino = e->inode, .st_mode = e->mode };
			if (fill(buf, e->name, &st, 0, 0))
				break;
		}
		nfs_closedir(l.nfs, dir);
	}
	return pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
}

static int op_mkdir(const char *path, mode_t mode)
{
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	int r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&cr));

	if (r < 0)
		return r;
	r = nfs_mkdir2(l.nfs, path, (int)(mode & 07777));
	return pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
}

static int op_symlink(const char *target, const char *path)
{
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	int r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&cr));

	if (r < 0)
		return r;
	r = nfs_symlink(l.nfs, target, path);
	return pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
}

#define SIMPLE_OP(call)                                              \
	do {                                                         \
		struct pvnfs_cred cr_;                               \
		struct pvnfs_lease l_;                               \
		int r_ = pvnfs_pool_get(&pvnfs_helper_pool, &l_, caller(&cr_)); \
		if (r_ < 0)                                          \
			return r_;                                   \
		struct nfs_context *nfs = l_.nfs;                    \
		r_ = (call);                                         \
		return pvnfs_pool_put(&pvnfs_helper_pool, &l_, r_);               \
	} while (0)

static int op_unlink(const char *path) { SIMPLE_OP(nfs_unlink(nfs, path)); }
static int op_rmdir(const char *path) { SIMPLE_OP(nfs_rmdir(nfs, path)); }
static int op_link(const char *from, const char *to) { SIMPLE_OP(nfs_link(nfs, from, to)); }
static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (fi && fi->fh)
		SIMPLE_OP(nfs_fchmod(nfs, pvnfs_file(fi)->fh, (int)(mode & 07777)));
	SIMPLE_OP(nfs_chmod(nfs, path, (int)(mode & 07777)));
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags)
		return -EINVAL;
	SIMPLE_OP(nfs_rename(nfs, from, to));
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	if (size == 0)
		return -EINVAL;
	memset(buf, 0, size);
	SIMPLE_OP(nfs_readlink(nfs, path, buf, (int)size - 1));
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	struct nfs_stat_64 st;
	int r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&cr));

	(void)fi;
	if (r < 0)
		return r;
	r = nfs_lstat64(l.nfs, path, &st);
	if (r == 0)
		r = nfs_lchown(l.nfs, path, uid == (uid_t)-1 ? (int)st.nfs_uid : (int)uid,
			       gid == (gid_t)-1 ? (int)st.nfs_gid : (int)gid);
	return pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	if (fi && fi->fh) {
		int r = pvnfs_write_barrier(&pvnfs_helper_pool, pvnfs_file(fi));
		if (r < 0)
			return r;
		SIMPLE_OP(nfs_ftruncate(nfs, pvnfs_file(fi)->fh, (uint64_t)size));
	}
	SIMPLE_OP(nfs_truncate(nfs, path, (uint64_t)size));
}

static void ts_to_tv(const struct timespec *ts, uint64_t cur_sec, uint64_t cur_nsec, struct timeval *tv)
{
	if (ts->tv_nsec == UTIME_NOW) {
		gettimeofday(tv, NULL);
	} else if (ts->tv_nsec == UTIME_OMIT) {
		tv->tv_sec = (time_t)cur_sec;
		tv->tv_usec = (suseconds_t)(cur_nsec / 1000);
	} else {
		tv->tv_sec = ts->tv_sec;
		tv->tv_usec = ts->tv_nsec / 1000;
	}
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	struct nfs_stat_64 st;
	struct timeval t[2];
	int r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&cr));

	(void)fi;
	if (r < 0)
		return r;
	r = nfs_stat64(l.nfs, path, &st);
	if (r == 0) {
		ts_to_tv(&tv[0], st.nfs_atime, st.nfs_atime_nsec, &t[0]);
		ts_to_tv(&tv[1], st.nfs_mtime, st.nfs_mtime_nsec, &t[1]);
		r = nfs_utimes(l.nfs, path, t);
	}
	return pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct pvnfs_cred cr;
	struct pvnfs_lease l;
	struct nfs_statvfs_64 s;
	int r = pvnfs_pool_get(&pvnfs_helper_pool, &l, caller(&cr));

	(void)path;
	if (r < 0)
		return r;
	r = nfs_statvfs64(l.nfs, "/", &s);
	r = pvnfs_pool_put(&pvnfs_helper_pool, &l, r);
	if (r < 0)
		return r;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = s.f_bsize;
	sv->f_frsize = s.f_frsize;
	sv->f_blocks = s.f_blocks;
	sv->f_bfree = s.f_bfree;
	sv->f_bavail = s.f_bavail;
	sv->f_files = s.f_files;
	sv->f_ffree = s.f_ffree;
	sv->f_favail = s.f_favail;
	sv->f_namemax = s.f_namemax ? s.f_namemax : 255;
	return 0;
}

const struct fuse_operations pvnfs_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.open = op_open,
	.read_buf = op_read_buf,
	.write = op_write,
	.statfs = op_statfs,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.create = op_create,
	.utimens = op_utimens,
};
