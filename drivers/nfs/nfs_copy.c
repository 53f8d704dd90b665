/*
 * nfs_copy.c — copy a directory tree between NFS shares over libnfs, and delete one,
 * never following a symbolic link. Snapshots, restores and clones (nfs_snapshot.c)
 * are built on these two.
 *
 * The copy runs on several libnfs contexts (TCP connections) at once: the calling
 * thread walks the source tree (one READDIRPLUS per directory gives names, types,
 * owners, modes and identities; it creates each directory in the copy) and queues every
 * other entry; worker threads, each with a connection of its own, copy files (big
 * chunks, which libnfs splits into parallel READs and WRITEs), symlinks and device
 * nodes. Hard links are made at the end, directory owners, modes and times last of all
 * (creating entries in a directory changes its times, and the copy's directories stay
 * root-only 0700 while it runs).
 *
 * Safety against a workload that swaps a directory for a symlink while we copy: libnfs
 * resolves every path from the share's root and follows symlinks in the middle of a
 * path, so nothing here trusts a path alone. The root's identity (inode) comes from the
 * caller's checked walk; each directory is accepted only when its listing's "." entry is
 * the inode its parent's listing named; each file is opened with O_NOFOLLOW and accepted
 * only when the opened file is the inode the (checked) listing named — a file reached
 * through a swapped-in link is another inode and is never read. A file replaced by a
 * rename during the copy (a new inode) is looked up again in its parent's listing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>

#include <poll.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

#include "pvnode/util.h"
#include "nfs_copy.h"
#include "nfs_driver.h"

#define CHUNK (8u << 20)      /* per request: libnfs sends it as 1 MiB RPCs in parallel */
#define HOLE_BLOCK (64u << 10) /* zero blocks of this size stay holes in the copy */
#define QUEUE_MAX 4096        /* jobs waiting for a worker; the walker waits beyond */
#define MAX_THREADS 32
#define MAX_DEPTH 256
#define PATHLEN 4096

#ifdef PV_FAULT_INJECTION
#include <signal.h>
#include <unistd.h>
void pvnfs_fault_point(const char *point)
{
	const char *f = getenv("PVNODE_FAULT");

	if (f && strcmp(f, point) == 0)
		raise(SIGKILL);
}

void pvnfs_fault_delay(const char *point)
{
	const char *f = getenv("PVNODE_FAULT");

	if (f && strcmp(f, point) == 0)
		usleep(100000);
}
#endif

int pvnfs_copy_threads(void)
{
	const char *v = getenv("PVNODE_NFS_COPY_THREADS");
	char *end;
	long n;

	if (!v || !*v)
		return 4;
	n = strtol(v, &end, 10);
	return *end || n < 1 || n > MAX_THREADS ? 4 : (int)n;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One thing to copy: a non-directory. */
struct job {
	struct job *next;
	char *src, *dst;
	char *parent;          /* the source directory it was listed in */
	uint64_t ino, parent_ino;
	uint32_t mode;         /* type and permission bits, from the listing */
};

struct dir_attr {              /* applied after everything is in place */
	char *dst;
	uint32_t mode, uid, gid;
	struct timeval atime, mtime;
};

struct hardlink {              /* a file seen again under another name */
	uint64_t ino;
	char *first;           /* dst of the first name (copied by a worker) */
	char *dst;             /* NULL: the entry that records `first` */
};

struct copier {
	struct pvnfs_copy *c;
	bool same_share;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_space, cv_idle;
	struct job *head, *tail;
	size_t queued, busy;
	bool walk_done, failed;
	struct pv_err err;     /* the first failure */
	uint64_t files, bytes, skipped, dirs;
	struct dir_attr *dattrs;
	size_t n_dattrs, cap_dattrs;
	struct hardlink *links;
	size_t n_links, cap_links;
	size_t *first_of;      /* open addressing by inode: 1 + index of its first name */
	size_t n_first, cap_first;
	double t0, last_progress;
};

static void fail(struct copier *k, const struct pv_err *e)
{
	pthread_mutex_lock(&k->mu);
	if (!k->failed) {
		k->failed = true;
		k->err = *e;
	}
	pthread_cond_broadcast(&k->cv_work);
	pthread_cond_broadcast(&k->cv_space);
	pthread_cond_broadcast(&k->cv_idle);
	pthread_mutex_unlock(&k->mu);
}

static bool failed(struct copier *k)
{
	bool f;

	pthread_mutex_lock(&k->mu);
	f = k->failed;
	pthread_mutex_unlock(&k->mu);
	return f;
}

static void progress(struct copier *k, bool last)
{
	double t = now_s();

	if (!k->c->progress || (!last && t - k->last_progress < 0.5) || (last && t - k->t0 < 1.0))
		return;
	k->last_progress = t;
	pthread_mutex_lock(&k->mu);
	uint64_t files = k->files, bytes = k->bytes;
	pthread_mutex_unlock(&k->mu);
	pv_progress(true, "\rCopying %s: %llu files, %llu MiB, %.0f s%s", k->c->what,
		    (unsigned long long)files, (unsigned long long)(bytes >> 20), t - k->t0,
		    last ? ", done\n" : "");
}

static int connect_pair(struct copier *k, struct nfs_context **s, struct nfs_context **d, struct pv_err *err)
{
	int r;

	*s = *d = NULL;
	if ((r = pvnfs_open_share(k->c->src, k->c->src->timeout_ms, s, err)) < 0)
		return r;
	if (k->same_share) {
		*d = *s;
		return 0;
	}
	if ((r = pvnfs_open_share(k->c->dst, k->c->dst->timeout_ms, d, err)) < 0) {
		nfs_destroy_context(*s);
		*s = NULL;
	}
	return r;
}

static void close_pair(struct nfs_context *s, struct nfs_context *d)
{
	if (d && d != s)
		nfs_destroy_context(d);
	if (s)
		nfs_destroy_context(s);
}

static int nfs_fail(struct pv_err *err, int r, struct nfs_context *nfs, const char *what, const char *path)
{
	return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot %s %s: %s", what, path, nfs_get_error(nfs));
}

/* --- workers ------------------------------------------------------------------------ */

static bool all_zero(const char *b, size_t n)
{
	return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

/* Is `path` (opened with no link on the way) the directory with inode `ino`? 0, -ESTALE
 * when it is another one, or another error. */
static int dir_is(struct nfs_context *nfs, const char *path, uint64_t ino)
{
	struct nfsfh *fh;
	struct nfs_stat_64 st = { 0 };
	int r = nfs_open(nfs, path, O_RDONLY | O_NOFOLLOW, &fh);

	if (r == -ELOOP)
		return -ESTALE;
	if (r < 0)
		return r;
	r = nfs_fstat64(nfs, fh, &st);
	nfs_close(nfs, fh);
	if (r < 0)
		return r;
	return S_ISDIR(st.nfs_mode) && st.nfs_ino == ino ? 0 : -ESTALE;
}

/* Is `name` in the checked listing of `parent` (inode `parent_ino`) now the regular file
 * with inode `ino`? A file replaced by a rename since the walk listed it has a new inode:
 * accept the new one only when the parent's listing (checked by its "." entry) names it. */
static bool listed_now(struct nfs_context *s, const char *parent, uint64_t parent_ino, const char *name,
		       uint64_t ino)
{
	struct nfsdir *dir;
	struct nfsdirent *e;
	bool dot_ok = false, dot_seen = false, found = false;

	if (nfs_opendir(s, parent, &dir) < 0)
		return false;
	while ((e = nfs_readdir(s, dir))) {
		if (!strcmp(e->name, ".")) {
			dot_seen = true;
			dot_ok = e->inode == parent_ino;
		} else if (!strcmp(e->name, name))
			found = e->inode == ino && S_ISREG(e->mode);
	}
	nfs_closedir(s, dir);
	return found && (dot_ok || (!dot_seen && dir_is(s, parent, parent_ino) == 0));
}

/* Open the job's source file, making sure it is the file the listing named. 1: opened,
 * 0: gone or no longer a regular file (skip), < 0: error. */
static int open_source(struct nfs_context *s, const struct job *j, struct nfsfh **fh, struct nfs_stat_64 *st,
		       struct pv_err *err)
{
	const char *name = strrchr(j->src, '/') + 1;

	for (int attempt = 0; attempt < 3; attempt++) {
		int r = nfs_open(s, j->src, O_RDONLY | O_NOFOLLOW, fh);

		if (r == -ENOENT)
			return 0; /* deleted since the walk listed it */
		if (r == -ELOOP || r == -ENOTDIR)
			return pv_err_set(err, -ESTALE, PV_E_INTERNAL,
					  "%s was listed as a regular file but its path now meets a symbolic link "
					  "or a non-directory (changed during the copy, or a directory swapped for a "
					  "link); refusing to follow it: take the snapshot again", j->src);
		if (r < 0)
			return nfs_fail(err, r, s, "open", j->src);
		r = nfs_fstat64(s, *fh, st);
		if (r == -ESTALE || r == -ENOENT) {
			nfs_close(s, *fh);
			continue; /* replaced or deleted just after the open: look again */
		}
		if (r < 0) {
			nfs_close(s, *fh);
			return nfs_fail(err, r, s, "stat", j->src);
		}
		if (!S_ISREG(st->nfs_mode)) {
			nfs_close(s, *fh);
			return 0;
		}
		if (st->nfs_ino == j->ino || listed_now(s, j->parent, j->parent_ino, name, st->nfs_ino))
			return 1;
		nfs_close(s, *fh);
	}
	return pv_err_set(err, -ESTALE, PV_E_INTERNAL,
			  "%s is not the file its directory lists (it kept changing, or something "
			  "on the share swapped a directory for a symbolic link); refusing to copy it", j->src);
}

static int set_times(struct nfs_context *d, const char *path, bool link, uint64_t as, uint64_t ans,
		     uint64_t ms, uint64_t mns, struct pv_err *err)
{
	struct timeval tv[2] = { { (time_t)as, (suseconds_t)(ans / 1000) }, { (time_t)ms, (suseconds_t)(mns / 1000) } };
	int r = link ? nfs_lutimes(d, path, tv) : nfs_utimes(d, path, tv);

	return r < 0 ? nfs_fail(err, r, d, "set the times of", path) : 0;
}

/* Owner, group and times of an open file in one SETATTR on its handle: the path-based
 * calls (nfs_utimes) would look the whole path up again from the share root, ~5 RPCs
 * a file. A handle that does not look like one (pvnfs_fh_fields) gets -ENOTSUP and the
 * caller takes the path-based way. */

struct raw_call {
	bool done;
	int status;   /* RPC status */
	int nfsstat;  /* NFS3 status */
};

/* Every NFSv3 result starts with its nfsstat3. */
static void raw_done(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct raw_call *c = priv;

	(void)rpc;
	c->done = true;
	c->status = status;
	if (status == RPC_STATUS_SUCCESS && data)
		c->nfsstat = (int)*(const nfsstat3 *)data;
}

/* Wait for a raw call queued on `nfs` with raw_done; 0 or a negative errno. */
static int raw_wait(struct nfs_context *nfs, struct raw_call *c, int timeout_ms)
{
	double deadline = now_s() + (timeout_ms > 0 ? timeout_ms : PVNFS_DEFAULT_TIMEOUT_MS) / 1000.0 + 5;

	while (!c->done) {
		struct pollfd p = { .fd = nfs_get_fd(nfs), .events = (short)nfs_which_events(nfs) };
		int n = poll(&p, 1, 100);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (nfs_service(nfs, n > 0 ? p.revents : 0) < 0)
			return -EIO;
		if (!c->done && now_s() > deadline)
			return -ETIMEDOUT; /* libnfs times the call out first; this is a backstop */
	}
	if (c->status != RPC_STATUS_SUCCESS)
		return c->status == RPC_STATUS_TIMEOUT ? -ETIMEDOUT : -EIO;
	return c->nfsstat ? nfsstat3_to_errno(c->nfsstat) : 0;
}

static int fh_set_owner_times(struct nfs_context *nfs, struct nfsfh *fh, const struct nfs_stat_64 *st, int timeout_ms)
{
	const struct libnfs_fh_fields *f = pvnfs_fh_fields(fh);
	struct raw_call c = { 0 };
	SETATTR3args a;

	if (!f)
		return -ENOTSUP;
	memset(&a, 0, sizeof(a));
	a.object.data.data_len = (u_int)f->len;
	a.object.data.data_val = f->val;
	a.new_attributes.uid.set_it = 1;
	a.new_attributes.uid.set_uid3_u.uid = (uint32_t)st->nfs_uid;
	a.new_attributes.gid.set_it = 1;
	a.new_attributes.gid.set_gid3_u.gid = (uint32_t)st->nfs_gid;
	a.new_attributes.atime.set_it = SET_TO_CLIENT_TIME;
	a.new_attributes.atime.set_atime_u.atime = (nfstime3){ (u_int)st->nfs_atime, (u_int)st->nfs_atime_nsec };
	a.new_attributes.mtime.set_it = SET_TO_CLIENT_TIME;
	a.new_attributes.mtime.set_mtime_u.mtime = (nfstime3){ (u_int)st->nfs_mtime, (u_int)st->nfs_mtime_nsec };
	if (rpc_nfs3_setattr_async(nfs_get_rpc_context(nfs), raw_done, &a, &c) != 0)
		return -EIO;
	return raw_wait(nfs, &c, timeout_ms);
}

/* Remove `name` (a directory with rmdir) from the directory whose handle is `dir`: by
 * name in that very directory, so no path is resolved again. */
static int fh_remove(struct nfs_context *nfs, const struct libnfs_fh_fields *dir, const char *name, bool rmdir)
{
	struct raw_call c = { 0 };
	diropargs3 o = { .dir = { .data = { (u_int)dir->len, dir->val } }, .name = (char *)name };
	int r;

	if (rmdir) {
		RMDIR3args a = { .object = o };
		r = rpc_nfs3_rmdir_async(nfs_get_rpc_context(nfs), raw_done, &a, &c);
	} else {
		REMOVE3args a = { .object = o };
		r = rpc_nfs3_remove_async(nfs_get_rpc_context(nfs), raw_done, &a, &c);
	}
	return r != 0 ? -EIO : raw_wait(nfs, &c, 0);
}

/* Write the runs of `buf` (n bytes for offset `off`) that are not all zero: the copy
 * keeps holes (and skips writing zeros) at HOLE_BLOCK granularity. *hole: the buffer
 * ended in a hole. */
static int write_nonzero(struct nfs_context *d, struct nfsfh *out, uint64_t off, const char *buf, size_t n,
			 bool *hole)
{
	for (size_t at = 0; at < n;) {
		size_t end = at, blk;

		while (end < n) {
			blk = n - end < HOLE_BLOCK ? n - end : HOLE_BLOCK;
			if (all_zero(buf + end, blk))
				break;
			end += blk;
		}
		if (end == at) { /* a zero block */
			at += n - at < HOLE_BLOCK ? n - at : HOLE_BLOCK;
			*hole = true;
			continue;
		}
		for (size_t done = at; done < end;) {
			int w = nfs_pwrite(d, out, off + done, end - done, (char *)buf + done);
			if (w <= 0)
				return w < 0 ? w : -EIO;
			done += (size_t)w;
		}
		at = end;
		*hole = false;
	}
	return 0;
}

/* A read failed with something other than a stale handle (libnfs does not always say
 * ESTALE for a file removed under it): is the name now another inode, or none? Then
 * the file was replaced while it was read, and is looked up again. */
static bool replaced(struct nfs_context *s, const struct job *j, const struct nfs_stat_64 *had)
{
	struct nfs_stat_64 now;
	int r = nfs_lstat64(s, j->src, &now);
	return r == -ENOENT || (r == 0 && now.nfs_ino != had->nfs_ino);
}

static int copy_file_once(struct copier *k, struct nfs_context *s, struct nfs_context *d, const struct job *j,
			  char *buf, struct pv_err *err)
{
	struct nfsfh *in = NULL, *out = NULL;
	struct nfs_stat_64 st = { 0 };
	uint64_t off = 0;
	bool hole = false;
	int r;

	r = open_source(s, j, &in, &st, err);
	if (r <= 0) {
		if (r == 0) {
			pthread_mutex_lock(&k->mu);
			k->skipped++;
			pthread_mutex_unlock(&k->mu);
		}
		return r;
	}
	r = nfs_create(d, j->dst, O_WRONLY | O_CREAT | O_EXCL, (int)(st.nfs_mode & 01777), &out);
	if (r < 0) {
		nfs_fail(err, r, d, "create", j->dst);
		goto out;
	}
	for (;;) {
		/* Ask for a little more than what is left of the size the file had at open
		 * (libnfs sends a request as readmax-sized READs in parallel): a short answer
		 * is then the end, with no extra round trip to find it, and a file that grew
		 * meanwhile is read on. */
		uint64_t left = off < st.nfs_size ? st.nfs_size - off : 0;
		size_t want = left >= CHUNK ? CHUNK : (size_t)((left + 4096) & ~(uint64_t)4095);
		int n;

		n = nfs_pread(s, in, off, want, buf);
		if (n == -ESTALE || n == -ENOENT || (n < 0 && replaced(s, j, &st))) {
			r = -EAGAIN; /* replaced or deleted since it was opened: look again */
			goto out;
		}
		if (n < 0) {
			r = nfs_fail(err, n, s, "read", j->src);
			goto out;
		}
		if (n == 0)
			break;
		if ((r = write_nonzero(d, out, off, buf, (size_t)n, &hole)) < 0) {
			nfs_fail(err, r, d, "write", j->dst);
			goto out;
		}
		off += (uint64_t)n;
		pthread_mutex_lock(&k->mu);
		k->bytes += (uint64_t)n;
		pthread_mutex_unlock(&k->mu);
		if ((size_t)n < want && off >= st.nfs_size)
			break;
	}
	if (hole && (r = nfs_ftruncate(d, out, off)) < 0) {
		nfs_fail(err, r, d, "set the size of", j->dst);
		goto out;
	}
	/* The snapshot is declared finished by a rename once everything is written: the
	 * data must be on the server's disk by then (UNSTABLE writes + COMMIT; an empty
	 * file has nothing to commit). (O_SYNC saves nothing: libnfs 4.0 still sends a
	 * COMMIT per file, counted with tcpdump.) */
	if (off > 0 && (r = nfs_fsync(d, out)) < 0) {
		nfs_fail(err, r, d, "flush", j->dst);
		goto out;
	}
	/* Owner before mode: a chown clears setuid and setgid (the mode without those was
	 * given at create). */
	r = fh_set_owner_times(d, out, &st, k->c->dst->timeout_ms);
	if (r == -ENOTSUP) {
		if ((r = nfs_fchown(d, out, (int)st.nfs_uid, (int)st.nfs_gid)) == 0)
			r = set_times(d, j->dst, false, st.nfs_atime, st.nfs_atime_nsec, st.nfs_mtime,
				      st.nfs_mtime_nsec, err);
		else
			nfs_fail(err, r, d, "set the owner of", j->dst);
	} else if (r < 0) {
		pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot set the owner and times of %s: %s", j->dst,
			   strerror(-r));
	}
	if (r < 0)
		goto out;
	if ((st.nfs_mode & 06000) && (r = nfs_fchmod(d, out, (int)(st.nfs_mode & 07777))) < 0) {
		nfs_fail(err, r, d, "set the mode of", j->dst);
		goto out;
	}
out:
	if (out)
		nfs_close(d, out);
	nfs_close(s, in);
	return r;
}

/* A file of a volume in use can be replaced (renamed over) or deleted while it is read:
 * its handle goes stale. Its partial copy is dropped and the name looked up again. */
static int copy_file(struct copier *k, struct nfs_context *s, struct nfs_context *d, const struct job *j,
		     char *buf, struct pv_err *err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = copy_file_once(k, s, d, j, buf, err);

		if (r != -EAGAIN)
			return r;
		if ((r = nfs_unlink(d, j->dst)) < 0 && r != -ENOENT)
			return nfs_fail(err, r, d, "delete", j->dst);
	}
	pthread_mutex_lock(&k->mu);
	k->skipped++; /* it kept changing: left out, like a file deleted during the copy */
	pthread_mutex_unlock(&k->mu);
	return 0;
}

static int copy_symlink(struct copier *k, struct nfs_context *s, struct nfs_context *d, const struct job *j,
			struct pv_err *err)
{
	struct nfs_stat_64 st;
	char *target = NULL;
	int r;

	/* The link is read, never followed: lstat and readlink act on the link itself. */
	r = nfs_lstat64(s, j->src, &st);
	if (r == 0 && (!S_ISLNK(st.nfs_mode) || st.nfs_ino != j->ino))
		r = -ENOENT; /* replaced meanwhile */
	if (r == 0)
		r = nfs_readlink2(s, j->src, &target);
	if (r == -ENOENT || r == -EINVAL) {
		pthread_mutex_lock(&k->mu);
		k->skipped++;
		pthread_mutex_unlock(&k->mu);
		return 0;
	}
	if (r < 0)
		return nfs_fail(err, r, s, "read the symbolic link", j->src);
	r = nfs_symlink(d, target, j->dst);
	free(target);
	if (r < 0)
		return nfs_fail(err, r, d, "create the symbolic link", j->dst);
	if ((r = nfs_lchown(d, j->dst, (int)st.nfs_uid, (int)st.nfs_gid)) < 0)
		return nfs_fail(err, r, d, "set the owner of", j->dst);
	return set_times(d, j->dst, true, st.nfs_atime, st.nfs_atime_nsec, st.nfs_mtime, st.nfs_mtime_nsec, err);
}

static int copy_special(struct copier *k, struct nfs_context *s, struct nfs_context *d, const struct job *j,
			struct pv_err *err)
{
	struct nfs_stat_64 st;
	int r = nfs_lstat64(s, j->src, &st);

	if (r == 0 && ((st.nfs_mode & S_IFMT) != (j->mode & S_IFMT) || st.nfs_ino != j->ino))
		r = -ENOENT;
	if (r == -ENOENT) {
		pthread_mutex_lock(&k->mu);
		k->skipped++;
		pthread_mutex_unlock(&k->mu);
		return 0;
	}
	if (r < 0)
		return nfs_fail(err, r, s, "look up", j->src);
	r = nfs_mknod(d, j->dst, (int)(st.nfs_mode & (S_IFMT | 01777)), (int)st.nfs_rdev);
	if (r < 0)
		return nfs_fail(err, r, d, "create the special file", j->dst);
	if ((r = nfs_lchown(d, j->dst, (int)st.nfs_uid, (int)st.nfs_gid)) < 0)
		return nfs_fail(err, r, d, "set the owner of", j->dst);
	if ((st.nfs_mode & 06000) && (r = nfs_chmod(d, j->dst, (int)(st.nfs_mode & 07777))) < 0)
		return nfs_fail(err, r, d, "set the mode of", j->dst);
	return set_times(d, j->dst, false, st.nfs_atime, st.nfs_atime_nsec, st.nfs_mtime, st.nfs_mtime_nsec, err);
}

static void free_job(struct job *j)
{
	free(j->src);
	free(j->dst);
	free(j->parent);
	free(j);
}

static void *worker(void *arg)
{
	struct copier *k = arg;
	struct nfs_context *s = NULL, *d = NULL;
	struct pv_err err = { 0 };
	char *buf = malloc(CHUNK);

	if (!buf) {
		pv_err_set(&err, -ENOMEM, PV_E_RESOURCE, "out of memory for the copy buffers");
		fail(k, &err);
		return NULL;
	}
	if (connect_pair(k, &s, &d, &err) < 0) {
		fail(k, &err);
		free(buf);
		return NULL;
	}
	for (;;) {
		struct job *j;
		int r;

		pthread_mutex_lock(&k->mu);
		while (!k->head && !k->walk_done && !k->failed)
			pthread_cond_wait(&k->cv_work, &k->mu);
		if (k->failed || !k->head) {
			pthread_mutex_unlock(&k->mu);
			break;
		}
		j = k->head;
		k->head = j->next;
		if (!k->head)
			k->tail = NULL;
		k->queued--;
		k->busy++;
		pthread_cond_signal(&k->cv_space);
		pthread_mutex_unlock(&k->mu);

		pvnfs_fault_delay("nfs-copy-slow");
		if (S_ISREG(j->mode))
			r = copy_file(k, s, d, j, buf, &err);
		else if (S_ISLNK(j->mode))
			r = copy_symlink(k, s, d, j, &err);
		else
			r = copy_special(k, s, d, j, &err);
		free_job(j);
		if (r < 0)
			fail(k, &err);
		pthread_mutex_lock(&k->mu);
		k->busy--;
		k->files++;
		if (k->files == 20)
			pvnfs_fault_point("nfs-copy-mid");
		if (!k->busy && !k->head)
			pthread_cond_broadcast(&k->cv_idle);
		pthread_mutex_unlock(&k->mu);
		if (r < 0)
			break;
	}
	close_pair(s, d);
	free(buf);
	return NULL;
}

/* --- the walk ---------------------------------------------------------------------- */

static int enqueue(struct copier *k, struct job *j)
{
	pthread_mutex_lock(&k->mu);
	while (k->queued >= QUEUE_MAX && !k->failed)
		pthread_cond_wait(&k->cv_space, &k->mu);
	if (k->failed) {
		pthread_mutex_unlock(&k->mu);
		free_job(j);
		return -ECANCELED;
	}
	if (k->tail)
		k->tail->next = j;
	else
		k->head = j;
	k->tail = j;
	k->queued++;
	pthread_cond_signal(&k->cv_work);
	pthread_mutex_unlock(&k->mu);
	return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	void *p = realloc(*arr, nc * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static int add_dir_attr(struct copier *k, const char *dst, const struct nfsdirent *e)
{
	struct dir_attr *a;

	if (grow((void **)&k->dattrs, &k->cap_dattrs, k->n_dattrs, sizeof(*k->dattrs)) < 0)
		return -ENOMEM;
	a = &k->dattrs[k->n_dattrs];
	if (!(a->dst = strdup(dst)))
		return -ENOMEM;
	a->mode = e->mode;
	a->uid = e->uid;
	a->gid = e->gid;
	a->atime = (struct timeval){ e->atime.tv_sec, e->atime_nsec / 1000 };
	a->mtime = (struct timeval){ e->mtime.tv_sec, e->mtime_nsec / 1000 };
	k->n_dattrs++;
	return 0;
}

/* The slot of `ino` in the first-name table (empty or holding it). */
static size_t first_slot(const struct copier *k, uint64_t ino)
{
	size_t i = (size_t)(ino * 0x9E3779B97F4A7C15ull) & (k->cap_first - 1);

	while (k->first_of[i] && k->links[k->first_of[i] - 1].ino != ino)
		i = (i + 1) & (k->cap_first - 1);
	return i;
}

static int add_link(struct copier *k, uint64_t ino, char *first, char *dst)
{
	if (grow((void **)&k->links, &k->cap_links, k->n_links, sizeof(*k->links)) < 0)
		return -ENOMEM;
	k->links[k->n_links++] = (struct hardlink){ .ino = ino, .first = first, .dst = dst };
	return 0;
}

/* A regular file with more than one name: the first name is copied, later names become
 * hard links to it. Returns 1 when `dst` is a later name (a link was recorded). */
static int note_hardlink(struct copier *k, uint64_t ino, const char *dst)
{
	size_t slot;
	char *copy;

	if (k->n_first * 2 >= k->cap_first) { /* keep the table at most half full */
		size_t nc = k->cap_first ? k->cap_first * 2 : 1024, *old = k->first_of, oc = k->cap_first;
		if (!(k->first_of = calloc(nc, sizeof(*k->first_of)))) {
			k->first_of = old;
			return -ENOMEM;
		}
		k->cap_first = nc;
		for (size_t i = 0; i < oc; i++)
			if (old[i])
				k->first_of[first_slot(k, k->links[old[i] - 1].ino)] = old[i];
		free(old);
	}
	slot = first_slot(k, ino);
	if (!(copy = strdup(dst)))
		return -ENOMEM;
	if (k->first_of[slot]) {
		if (add_link(k, ino, k->links[k->first_of[slot] - 1].first, copy) < 0) {
			free(copy);
			return -ENOMEM;
		}
		return 1;
	}
	if (add_link(k, ino, copy, NULL) < 0) {
		free(copy);
		return -ENOMEM;
	}
	k->first_of[slot] = k->n_links;
	k->n_first++;
	return 0;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 255 && !strchr(name, '/');
}

/* Copy the directory src (inode ino, created at dst already) one level: subdirectories
 * recursively, everything else to the workers. */
static int walk_dir(struct copier *k, struct nfs_context *s, struct nfs_context *d, const char *src,
		    const char *dst, uint64_t ino, int depth, struct pv_err *err)
{
	struct nfsdir *dir = NULL;
	struct nfsdirent *e;
	char cs[PATHLEN], cd[PATHLEN];
	bool dot_seen = false;
	int r;

	if (depth > MAX_DEPTH)
		return pv_err_set(err, -ELOOP, PV_E_INTERNAL, "%s is nested more than %d deep", src, MAX_DEPTH);
	r = nfs_opendir(s, src, &dir);
	if (r == -ENOENT && depth > 0)
		return 0; /* removed during the copy */
	if (r < 0)
		return nfs_fail(err, r, s, "list", src);
	k->dirs++;
	for (e = nfs_readdir(s, dir); e; e = nfs_readdir(s, dir))
		if (!strcmp(e->name, ".")) {
			dot_seen = true;
			if (e->inode != ino) {
				r = pv_err_set(err, -ESTALE, PV_E_INTERNAL,
					       "%s is not the directory its parent lists (something on the share "
					       "swapped it, perhaps for a symbolic link); refusing to copy it", src);
				goto out;
			}
		}
	if (!dot_seen && (r = dir_is(s, src, ino)) < 0) {
		/* No "." in the listing (some servers): check the directory itself. */
		pv_err_set(err, r, PV_E_INTERNAL, r == -ESTALE ?
			   "%s is not the directory its parent lists (something on the share swapped it, "
			   "perhaps for a symbolic link); refusing to copy it" : "cannot check directory %s", src);
		goto out;
	}
	nfs_rewinddir(s, dir);
	while ((e = nfs_readdir(s, dir)) && !failed(k)) {
		uint32_t type = e->mode & S_IFMT;

		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		if (!name_ok(e->name)) {
			r = pv_err_set(err, -EINVAL, PV_E_INTERNAL, "%s has an entry with an invalid name", src);
			goto out;
		}
		if (snprintf(cs, sizeof(cs), "%s/%s", src, e->name) >= (int)sizeof(cs) ||
		    snprintf(cd, sizeof(cd), "%s/%s", dst, e->name) >= (int)sizeof(cd)) {
			r = pv_err_set(err, -ENAMETOOLONG, PV_E_INTERNAL, "%s/%s: path too long", src, e->name);
			goto out;
		}
		if (type == S_IFDIR) {
			r = nfs_mkdir2(d, cd, 0700);
			if (r < 0) {
				nfs_fail(err, r, d, "create", cd);
				goto out;
			}
			if ((r = add_dir_attr(k, cd, e)) < 0 ||
			    (r = walk_dir(k, s, d, cs, cd, e->inode, depth + 1, err)) < 0)
				goto out;
			progress(k, false);
			continue;
		}
		if (type != S_IFREG && type != S_IFLNK && type != S_IFCHR && type != S_IFBLK &&
		    type != S_IFIFO && type != S_IFSOCK) {
			r = pv_err_set(err, -EINVAL, PV_E_INTERNAL, "%s has an unknown file type (mode %o)", cs,
				       e->mode);
			goto out;
		}
		if (type == S_IFREG && e->nlink > 1) {
			r = note_hardlink(k, e->inode, cd);
			if (r < 0)
				goto out;
			if (r == 1)
				continue;
		}
		struct job *j = calloc(1, sizeof(*j));
		if (!j || !(j->src = strdup(cs)) || !(j->dst = strdup(cd)) || !(j->parent = strdup(src))) {
			if (j)
				free_job(j);
			r = -ENOMEM;
			goto out;
		}
		j->ino = e->inode;
		j->parent_ino = ino;
		j->mode = e->mode;
		if ((r = enqueue(k, j)) < 0)
			goto out;
		progress(k, false);
	}
	r = 0;
out:
	nfs_closedir(s, dir);
	if (r == -ENOMEM && !err->code)
		pv_err_set(err, r, PV_E_RESOURCE, "out of memory while copying %s", src);
	return r;
}

/* After the workers: hard links, then directories' owners, modes and times, deepest
 * first. */
static int finish(struct copier *k, struct nfs_context *d, struct pv_err *err)
{
	int r;

	for (size_t i = 0; i < k->n_links; i++) {
		struct hardlink *h = &k->links[i];
		if (!h->dst)
			continue;
		r = nfs_link(d, h->first, h->dst);
		if (r == -ENOENT)
			continue; /* the first name vanished during the copy (skipped) */
		if (r < 0)
			return nfs_fail(err, r, d, "create the hard link", h->dst);
	}
	for (size_t i = k->n_dattrs; i-- > 0;) {
		struct dir_attr *a = &k->dattrs[i];
		struct timeval tv[2] = { a->atime, a->mtime };

		if ((r = nfs_lchown(d, a->dst, (int)a->uid, (int)a->gid)) < 0)
			return nfs_fail(err, r, d, "set the owner of", a->dst);
		if ((r = nfs_chmod(d, a->dst, (int)(a->mode & 07777))) < 0)
			return nfs_fail(err, r, d, "set the mode of", a->dst);
		if ((r = nfs_utimes(d, a->dst, tv)) < 0)
			return nfs_fail(err, r, d, "set the times of", a->dst);
	}
	return 0;
}

/* The root's own attributes, from its parent's listing (lstat has no nanoseconds in a
 * form nfs_utimes takes any better; the listing has all of them). */
static int root_entry(struct nfs_context *s, const char *path, struct nfsdirent *out, struct pv_err *err)
{
	char parent[PATHLEN];
	const char *slash = strrchr(path, '/');
	struct nfsdir *dir;
	struct nfsdirent *e;
	bool found = false;
	int r;

	snprintf(parent, sizeof(parent), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if ((r = nfs_opendir(s, parent, &dir)) < 0)
		return nfs_fail(err, r, s, "list", parent);
	while ((e = nfs_readdir(s, dir)))
		if (!strcmp(e->name, slash + 1)) {
			*out = *e;
			out->name = NULL;
			out->next = NULL;
			found = true;
			break;
		}
	nfs_closedir(s, dir);
	if (!found)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "%s does not exist on the share", path);
	if ((out->mode & S_IFMT) != S_IFDIR)
		return pv_err_set(err, -ENOTDIR, PV_E_INVALID, "%s on the share is not a directory", path);
	return 0;
}

int pvnfs_copy_tree(struct pvnfs_copy *c, struct pv_err *err)
{
	struct copier k = { .c = c };
	struct nfs_context *s = NULL, *d = NULL;
	struct nfsdirent root = { 0 };
	pthread_t tid[MAX_THREADS];
	int nthreads = pvnfs_copy_threads(), started = 0, r;

	k.same_share = !strcmp(c->src->host, c->dst->host) && c->src->port == c->dst->port &&
		       !strcmp(c->src->share, c->dst->share);
	k.t0 = k.last_progress = now_s();
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv_work, NULL);
	pthread_cond_init(&k.cv_space, NULL);
	pthread_cond_init(&k.cv_idle, NULL);
	if ((r = connect_pair(&k, &s, &d, err)) < 0)
		goto out;
	if ((r = root_entry(s, c->src_path, &root, err)) < 0)
		goto out;
	r = nfs_mkdir2(d, c->dst_path, 0700);
	if (r < 0) {
		nfs_fail(err, r, d, "create", c->dst_path);
		goto out;
	}
	if (c->copy_root_attrs && (r = add_dir_attr(&k, c->dst_path, &root)) < 0) {
		pv_err_set(err, r, PV_E_RESOURCE, "out of memory");
		goto out;
	}
	for (; started < nthreads; started++)
		if (pthread_create(&tid[started], NULL, worker, &k) != 0)
			break;
	if (!started) {
		r = pv_err_set(err, -EAGAIN, PV_E_RESOURCE, "cannot start copy threads");
		goto out;
	}
	struct pv_err werr = { 0 };
	r = walk_dir(&k, s, d, c->src_path, c->dst_path, root.inode, 0, &werr);
	if (r < 0 && r != -ECANCELED)
		fail(&k, &werr);
	pthread_mutex_lock(&k.mu);
	k.walk_done = true;
	pthread_cond_broadcast(&k.cv_work);
	while ((k.head || k.busy) && !k.failed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&k.cv_idle, &k.mu, &ts);
		pthread_mutex_unlock(&k.mu);
		progress(&k, false);
		pthread_mutex_lock(&k.mu);
	}
	pthread_mutex_unlock(&k.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (k.failed) {
		*err = k.err;
		r = err->code ? err->code : -EIO;
		goto out;
	}
	if ((r = finish(&k, d, err)) < 0)
		goto out;
	progress(&k, true);
	r = 0;
out:
	/* Jobs left after a failure. */
	while (k.head) {
		struct job *j = k.head;
		k.head = j->next;
		free_job(j);
	}
	for (size_t i = 0; i < k.n_dattrs; i++)
		free(k.dattrs[i].dst);
	free(k.dattrs);
	for (size_t i = 0; i < k.n_links; i++)
		free(k.links[i].dst ? k.links[i].dst : k.links[i].first);
	free(k.links);
	free(k.first_of);
	close_pair(s, d);
	c->files = k.files;
	c->dirs = k.dirs;
	c->bytes = k.bytes;
	c->skipped = k.skipped;
	c->seconds = now_s() - k.t0;
	pthread_mutex_destroy(&k.mu);
	pthread_cond_destroy(&k.cv_work);
	pthread_cond_destroy(&k.cv_space);
	pthread_cond_destroy(&k.cv_idle);
	return r;
}

/* --- delete ------------------------------------------------------------------------ */

/* Empty the directory `path`, which its parent's listing names as inode `ino`. It is
 * opened (O_NOFOLLOW: no link anywhere on the path) and must be that inode; its listing
 * must say so too ("."); then entries are removed by name from its handle, so a
 * directory swapped for a symlink meanwhile cannot redirect a removal elsewhere. */
static int remove_contents(struct nfs_context *nfs, const char *path, uint64_t ino, int depth, struct pv_err *err)
{
	struct nfsfh *dfh = NULL;
	struct nfsdir *dir = NULL;
	struct nfsdirent *e;
	struct nfs_stat_64 st = { 0 };
	const struct libnfs_fh_fields *f;
	char child[PATHLEN];
	bool dot_ok = false;
	int r;

	if (depth > MAX_DEPTH)
		return pv_err_set(err, -ELOOP, PV_E_INTERNAL, "%s is nested too deep to delete", path);
	r = nfs_open(nfs, path, O_RDONLY | O_NOFOLLOW, &dfh);
	if (r == -ENOENT)
		return 0;
	if (r == 0 && (r = nfs_fstat64(nfs, dfh, &st)) == 0 && (!S_ISDIR(st.nfs_mode) || st.nfs_ino != ino))
		r = -ESTALE;
	if (r == 0 && (r = nfs_opendir(nfs, path, &dir)) == 0) {
		bool dot_seen = false;
		for (e = nfs_readdir(nfs, dir); e; e = nfs_readdir(nfs, dir))
			if (!strcmp(e->name, ".")) {
				dot_seen = true;
				dot_ok = e->inode == ino;
			}
		/* A server that lists no "." leaves the check to the open above. */
		if (dot_seen && !dot_ok)
			r = -ESTALE;
	}
	if (r < 0) {
		if (r == -ESTALE || r == -ELOOP)
			pv_err_set(err, -ESTALE, PV_E_INTERNAL,
				   "%s is not the directory its parent lists (swapped for a symbolic link?); "
				   "refusing to delete in it", path);
		else
			nfs_fail(err, r, nfs, "open", path);
		goto out;
	}
	f = pvnfs_fh_fields(dfh);
	nfs_rewinddir(nfs, dir);
	while ((e = nfs_readdir(nfs, dir))) {
		bool isdir = S_ISDIR(e->mode);

		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, e->name) >= (int)sizeof(child)) {
			r = pv_err_set(err, -ENAMETOOLONG, PV_E_INTERNAL, "%s/%s: name too long", path, e->name);
			break;
		}
		pvnfs_fault_delay("nfs-delete-slow");
		if (isdir && (r = remove_contents(nfs, child, e->inode, depth + 1, err)) < 0)
			break;
		if (f)
			r = fh_remove(nfs, f, e->name, isdir);
		else
			r = isdir ? nfs_rmdir(nfs, child) : nfs_unlink(nfs, child);
		if (r < 0 && r != -ENOENT) {
			pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot delete %s: %s", child, strerror(-r));
			break;
		}
		r = 0;
	}
out:
	if (dir)
		nfs_closedir(nfs, dir);
	if (dfh)
		nfs_close(nfs, dfh);
	return r;
}

int pvnfs_remove_tree(struct nfs_context *nfs, const char *path, struct pv_err *err)
{
	struct nfs_stat_64 st;
	int r = nfs_lstat64(nfs, path, &st);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return nfs_fail(err, r, nfs, "look up", path);
	if (!S_ISDIR(st.nfs_mode)) {
		r = nfs_unlink(nfs, path);
		return r < 0 && r != -ENOENT ? nfs_fail(err, r, nfs, "delete", path) : 0;
	}
	if ((r = remove_contents(nfs, path, st.nfs_ino, 0, err)) < 0)
		return r;
	r = nfs_rmdir(nfs, path);
	return r < 0 && r != -ENOENT ? nfs_fail(err, r, nfs, "delete", path) : 0;
}
