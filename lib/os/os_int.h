/*
 * os_int.h — the library's private OS helpers: SELinux labels, mkfs and filesystem
 * growth (libblkid, mkfs.*, resize2fs/xfs_growfs), mount option building. The helpers
 * drivers may use too are in include/pvnode/driver/os.h. Pure functions here (SELinux
 * levels, option building) are unit-tested.
 */
#ifndef PVNODE_OS_INT_H
#define PVNODE_OS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvnode/driver/driver.h"
#include "pvnode/driver/os.h"
#include "pvnode/error.h"
#include "pvnode/pv.h"

/* --- safepath.c --- */
/* True when the kernel's newer path and mount calls (openat2, fsopen, open_tree) are to be
 * avoided: they returned ENOSYS once (kernels before 5.6, valgrind 3.19), or a
 * fault-injection build runs with PVNODE_LEGACY_MOUNT_API=1 (to test the fallback). */
bool pv_os_legacy_api(void);
void pv_os_legacy_api_seen(void);

/* --- selinux.c --- */
#define PV_SELINUX_TYPE_PREFIX "system_u:object_r:container_file_t:"
bool pv_selinux_level_valid(const char *level);
int pv_selinux_label(const char *level, char *buf, size_t len, struct pv_err *err);
/* A stable level from a pod identity: two distinct categories in c0..c1023. */
void pv_selinux_level_from_identity(const char *identity, char *buf, size_t len);
/* The label of a `context="..."` mount flag, if any: 1 found, 0 none, <0 invalid. */
int pv_selinux_context_from_flags(const char *const *flags, size_t n, char *label, size_t len,
				  struct pv_err *err);
bool pv_selinux_kernel_enforces(void);
int pv_selinux_get(const char *path, char *label, size_t len);
int pv_selinux_set(const char *path, const char *label, struct pv_err *err);
/* Recursive relabel (opt-in), skipped when the root already matches. *count = files. */
int pv_selinux_relabel_tree(const char *root, const char *label, bool progress, size_t *count,
			    struct pv_err *err);

/* --- mount.c (libmount) --- */
/* Build "a,b,c" from option lists, refusing options with commas or control chars;
 * `ro` adds "ro". */
int pv_mount_options_join(const char *const *lists[], const size_t counts[], size_t nlists,
			  bool ro, char *buf, size_t len, struct pv_err *err);
/* --- format.c --- */
/* 0 blank, 1 carries a filesystem or partition table (*what names it), <0 error. */
int pv_probe_device(const char *dev, char *what, size_t len, struct pv_err *err);
int pv_mkfs(const char *dev, const char *fstype, uint64_t bytes, bool progress, struct pv_err *err);
int pv_grow_fs(const char *dev, const char *mountpoint, const char *fstype, struct pv_err *err);
/* --- fssize.c --- */
/* The smallest filesystem of `fstype` that mkfs makes here (xfs: what the installed
 * mkfs.xfs states, else a table by its version; ext4: 8 MiB, the smallest with a
 * journal); *bytes 0 when there is none. `source` says where the figure comes from. */
int pv_fs_minimum(const char *fstype, uint64_t *bytes, char *source, size_t len);
/* Before mounting: a filesystem smaller than its device (the backend grew while the
 * volume was unstaged) grows to it. ext4 here, unmounted (e2fsck -f -p, resize2fs: no
 * CAP_SYS_RESOURCE needed); xfs grows only mounted: *grow_mounted asks the caller to
 * run pv_grow_fs after the mount. */
int pv_fs_grow_unmounted(const char *dev, const char *fstype, bool *grow_mounted, struct pv_err *err);
/* Make the root of a fresh filesystem group-owned by gid, mode 2770. */
int pv_set_root_group(const char *root, long gid, struct pv_err *err);
/* fsGroup in O(1): the root's group becomes gid, with setgid and group rwx (the other
 * mode bits kept); nothing below the root is touched; nothing is written when it is so
 * already. `root` may be /proc/self/fd/N; `shown` names it in sentences. */
int pv_set_mount_group(const char *root, const char *shown, long gid, struct pv_err *err);

#endif
