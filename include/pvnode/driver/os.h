/*
 * os.h — the operating-system helpers a driver may use (and the library uses): spawning
 * programs, process liveness, loop devices, mounts and the mount table, per-volume
 * locks, directory usage. Each group has its own prefix and lives in its own lib/os/
 * file. Front ends never need these: they go through the engine and the controller.
 */
#ifndef PVNODE_DRIVER_OS_H
#define PVNODE_DRIVER_OS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvnode/error.h"
#include "pvnode/util.h"

/* --- lib/os/spawn.c --- programs run with posix_spawn (gRPC threads forbid fork+work) */
struct pv_spawn_opts {
	int stdin_fd;           /* -1: /dev/null */
	int stdout_fd;          /* -1: /dev/null; -2: capture into *out */
	int stderr_fd;          /* -1: /dev/null; -2: capture into *out (merged) */
	bool detach;            /* new session, don't wait: helpers */
	const int *keep_fds;    /* extra fds to pass (dup'ed to 3, 4, ...) */
	size_t n_keep_fds;
	int timeout_ms;         /* for waited runs: kill after this, 0 none */
};
/* Run argv[0] (looked up in PATH) and wait. Returns its exit status (>= 0) or a negative
 * errno; *out (if non-NULL) gets captured output (malloc'd, NUL-terminated). */
int pv_spawn_run(const char *const argv[], const struct pv_spawn_opts *o, char **out,
		 struct pv_err *err);
/* Start detached; *pid gets the child's pid. */
int pv_spawn_detached(const char *const argv[], const struct pv_spawn_opts *o, pid_t *pid,
		      struct pv_err *err);

/* --- lib/os/proc.c --- */
unsigned long long pv_proc_start_time(pid_t pid); /* 0: no such process */
/* pid runs (not a zombie) and has the recorded start time (guards against pid reuse). */
bool pv_proc_alive(pid_t pid, unsigned long long start);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; only when pv_proc_alive(pid, start). */
int pv_proc_stop(pid_t pid, unsigned long long start, int timeout_ms);

/* --- lib/store/lock.c --- per-volume lock files (flock) */
/* Returns an fd >= 0 holding <state>/locks/<name>.lock, or -EBUSY (PV_E_BUSY) when
 * another process holds it and !wait. */
int pv_lock_volume(const char *state_dir, const char *name, bool wait, struct pv_err *err);
/* The same, waiting at most timeout_ms (-1: for good, 0: not at all). */
int pv_lock_volume_for(const char *state_dir, const char *name, int timeout_ms, struct pv_err *err);
void pv_unlock(int fd);
void pv_unlockp(int *fd);   /* for _cleanup_(pv_unlockp) int lock = -1 */

/* --- lib/os/loop.c --- loop devices (LOOP_CONFIGURE) */
/* Attach `file` to a free loop device (direct I/O when the file allows it), recording
 * `tag` (<= 63 bytes, see pv_loop_tag) as the loop's lo_file_name, so a device left
 * behind by a process killed between attach and journal write is still found. */
int pv_loop_attach_tagged(const char *file, const char *tag, bool readonly, bool direct_io,
			  char *dev, size_t devlen, struct pv_err *err);
int pv_loop_detach(const char *dev, struct pv_err *err);
int pv_loop_detach_tagged(const char *tag, struct pv_err *err);
/* The tag of the loop device open at fd. */
int pv_loop_tag_of(int fd, char *tag, size_t len);
/* How many loop devices carry `tag`; *first names one. */
int pv_loop_find_tagged(const char *tag, char *first, size_t len);
/* The same for the volume's own device only (backed by a file, not a read-only view). */
int pv_loop_find_own(const char *tag, char *dev, size_t len);
/* A tag unique to (state dir, volume): "pvnode:<hash>:<volume>", or for a name too long
 * for 63 bytes "pvnode:<hash>:<its first 30 characters>~<hash of the name>". */
void pv_loop_tag(const char *state_dir, const char *volume, char *tag, size_t len);
/* The backing file of `dev` ("" if none). */
int pv_loop_backing(const char *dev, char *file, size_t len);
/* Does `dev` still serve `backing`? (A loop number is reused once detached.) */
bool pv_loop_serves(const char *dev, const char *backing);
/* A volume's loop devices gone: `dev` if it still serves `backing`, then every device
 * tagged for (state_dir, volume) — read-only publish views and leaked ones included. */
int pv_loop_release(const char *state_dir, const char *volume, const char *dev, const char *backing,
		    struct pv_err *err);
int pv_loop_set_capacity(const char *dev, struct pv_err *err);
/* Before a dead userspace helper's loop device `dev` ("" none) is replaced: a filesystem
 * still mounted on it (an O_EXCL open gives EBUSY) cannot move to a new device, so that
 * is PV_E_UNAVAILABLE ("its `helper` died while ... was mounted"), else 0. */
int pv_loop_check_unmounted(const char *dev, const char *helper, struct pv_err *err);

/* --- lib/os/mountinfo.c --- */
/* Undo mountinfo's \ooo escapes (space, tab, newline, backslash) in place. */
void pv_mountinfo_unescape(char *s);
/* The superblock options of the topmost mount at `path` ("rw,errors=remount-ro"). */
int pv_mount_super_options(const char *path, char *buf, size_t len);
/* The filesystem type and source of the mount with this id (statx STATX_MNT_ID,
 * mountinfo's first field); -ENOENT when there is none. */
int pv_mount_source_of(unsigned long long mnt_id, char *fstype, size_t flen, char *source, size_t slen);
/* Is `path` a mount point (per /proc/self/mountinfo)? */
bool pv_is_mountpoint(const char *path);

/* Every mount of device `dev` (a filesystem on it, at any root), or with root_name set,
 * every bind of the device node "/<root_name>" (a raw block publish). Calls cb (may be
 * NULL) with each mount point; returns how many. */
int pv_mounts_of_dev(dev_t dev, const char *root_name, void (*cb)(const char *mnt, bool ro, void *ud), void *ud);

/* --- lib/os/mount.c (libmount) --- */
int pv_mount(const char *source, const char *target, const char *fstype, const char *options,
	     struct pv_err *err);
int pv_bind_mount(const char *source, const char *target, bool readonly, const char *options,
		  struct pv_err *err);
/* Unmount every mount stacked at target; not mounted is success. */
int pv_umount(const char *target, struct pv_err *err);
/* A FUSE mount whose server died answers ENOTCONN: detach it lazily so the directory can
 * be used again. Returns true when one was cleared. */
bool pv_umount_stale_fuse(const char *mnt);

/* --- lib/os/safepath.c --- paths from requests, opened without following links */
struct pv_safe_path {
	int dirfd;               /* O_PATH fd of the parent directory, reached without links */
	char name[256];          /* the last component */
	char path[4096];         /* the textual path, for messages */
};
/* Open the parent of `path` (below the trusted directory `root`, e.g. an allowed prefix
 * or the state directory), every component without following a symbolic link, making
 * missing directories when `create`. Release with pv_safe_path_close. */
int pv_safe_parent(const char *root, const char *path, bool create, struct pv_safe_path *sp, struct pv_err *err);
void pv_safe_path_close(struct pv_safe_path *sp);
enum pv_safe_kind { PV_SAFE_DIR, PV_SAFE_FILE };
/* An O_PATH fd of the last component (a directory, or a regular file), made when
 * missing and `create`; a symbolic link there is refused (PV_E_INVALID). */
int pv_safe_open(const struct pv_safe_path *sp, enum pv_safe_kind kind, bool create, struct pv_err *err);
/* What an fd is as a mount: the root of a mount, its mount id, device, inode. */
struct pv_fd_mount {
	bool is_mount_root;
	unsigned long long mnt_id;
	dev_t dev, rdev;
	unsigned long long ino;
};
int pv_fd_mount_info(int fd, struct pv_fd_mount *m);

/* --- lib/os/mount.c: the kernel's mount API onto file descriptors --- */
/* Mount filesystem `fstype` of device `source` onto the directory fd `target`, the last
 * component of `sp` (kept open: without the mount API the new mount's root is found
 * through it); options are checked against the allow list; nosuid,nodev. *mount_fd (may
 * be NULL) gets an fd of the new mount's root (to detach exactly it again), or -1 when it
 * could not be told (the directory was renamed meanwhile, on kernels without the API). */
int pv_mount_fs_at(const char *source, const struct pv_safe_path *sp, int target, const char *fstype,
		   const char *options, int *mount_fd, struct pv_err *err);
/* Bind what the O_PATH fd `source` is (a mount's root directory, a device node) onto
 * `target` (fd); options may only be VFS attributes (noexec, nosuid, ...). *mount_fd
 * (may be NULL) gets an fd of the new mount (to detach exactly it again). */
int pv_bind_at(int source, const struct pv_safe_path *sp, int target, bool readonly, const char *options,
	       int *mount_fd, struct pv_err *err);
/* Unmount exactly the top mount at sp's name; `lazy` (MNT_DETACH: a dead FUSE
 * connection cannot be unmounted otherwise) never reports busy, else busy is an error. */
int pv_umount_at(const struct pv_safe_path *sp, bool lazy, struct pv_err *err);
/* Detach lazily exactly the mount whose root `mount_fd` is (one pv_mount_fs_at or
 * pv_bind_at gave), wherever it is now; a negative fd does nothing. */
void pv_umount_root_fd(int mount_fd);

/* --- lib/os/fsutil.c --- */
/* Bytes allocated and inodes used below `dir` (one filesystem, symlinks not followed).
 * -ETIMEDOUT when the walk takes longer than timeout_ms (huge trees, slow servers). */
int pv_dir_usage(const char *dir, int timeout_ms, uint64_t *bytes, uint64_t *inodes);

#endif
