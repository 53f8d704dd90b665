/*
 * nfs_copy.h — copying a directory tree from one NFS share to another (or the same)
 * over libnfs, and deleting one, without ever following a symbolic link (not a driver
 * interface; nfs_snapshot.c uses it for snapshots, restores and clones).
 */
#ifndef PVNODE_DRIVERS_NFS_COPY_H
#define PVNODE_DRIVERS_NFS_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "pvnode/error.h"
#include "nfs.h"

struct pvnfs_copy {
	const struct pvnfs_cfg *src;  /* the share read from */
	const char *src_path;         /* "/sub/dir": the tree's root on it, a directory whose
				       * components the caller checked (pvnfs_walk_checked) */
	const struct pvnfs_cfg *dst;  /* the share written to (may be the same as src) */
	const char *dst_path;         /* the root to create (must not exist), in a directory
				       * only root can write */
	bool copy_root_attrs;         /* give dst_path the owner, mode and times of src_path
				       * (else it stays root's, mode 0700, for the caller to set) */
	bool progress;                /* report progress on stderr */
	const char *what;             /* for progress and errors: "snapshot s1 of web" */
	/* Filled in: what was copied. */
	uint64_t files, dirs, bytes, skipped;
	double seconds;
};

/* Copy the tree: regular files (sparse where whole chunks are zero), directories,
 * symlinks as symlinks, hard links as hard links, device nodes, fifos and sockets, each
 * with its owner, group, mode (setuid, setgid, sticky) and times. Several connections
 * work in parallel. Every object read is one that a checked listing of a directory in
 * the tree named (file identity is verified after open), so a symlink swapped in during
 * the copy cannot make it read from outside the tree. Files that disappear during the
 * copy are skipped (counted in `skipped`). On failure, what was created stays for the
 * caller to remove (it made dst_path under a temporary name). */
int pvnfs_copy_tree(struct pvnfs_copy *c, struct pv_err *err);

/* Delete `path` (a directory, or a non-directory) and everything below it over `nfs`.
 * No symlink is followed: each directory is opened (O_NOFOLLOW) and checked to be the
 * inode its parent's listing named before anything in it is removed, and entries are
 * removed by name from that checked directory's handle (raw REMOVE / RMDIR). What is
 * already gone is success. */
int pvnfs_remove_tree(struct nfs_context *nfs, const char *path, struct pv_err *err);

/* Crash tests (-Dfault_injection=true builds only): PVNODE_FAULT=<point> kills the
 * process there. Points: nfs-copy-mid (20 files copied), nfs-snapshot-before-rename,
 * nfs-restore-before-rename. pvnfs_fault_delay: PVNODE_FAULT=nfs-copy-slow (nfs-delete-slow)
 * makes every entry's copy (removal) wait 100 ms first, so a test can change the tree
 * meanwhile. */
#ifdef PV_FAULT_INJECTION
void pvnfs_fault_point(const char *point);
void pvnfs_fault_delay(const char *point);
#else
#define pvnfs_fault_point(point) ((void)0)
#define pvnfs_fault_delay(point) ((void)0)
#endif

/* Copy threads: $PVNODE_NFS_COPY_THREADS (1..32, for benchmarks), default 4. */
int pvnfs_copy_threads(void);

#endif
