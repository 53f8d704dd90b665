/*
 * mount.c — mounting: a filesystem on a device at a staging directory and binds to publish
 * targets with the kernel's mount API (fsopen/fsmount, open_tree, move_mount onto a
 * directory file descriptor opened without following links, lib/os/safepath.c), so the
 * place checked is the place mounted on; options go through the allow list
 * (lib/model/mountopt.c) and staging mounts always carry nosuid,nodev. libmount remains
 * for mounts whose source needs its parsing (a network filesystem's kernel client), with its external
 * helpers (/sbin/mount.*) disabled: they fork, which the daemon's gRPC threads forbid.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>
#include <sys/stat.h>

#include <libmount/libmount.h>

#include "model/mountopt.h"
#include "os_int.h"
#include "pvnode/driver/os.h"

int pv_mount_options_join(const char *const *lists[], const size_t counts[], size_t nlists, bool ro,
			  char *buf, size_t len, struct pv_err *err)
{
	size_t used = 0;

	buf[0] = '\0';
	if (ro)
		used += (size_t)snprintf(buf, len, "ro");
	for (size_t l = 0; l < nlists; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			const char *o = lists[l][i];
			if (!o || !*o)
				continue;
			if (!pv_value_printable(o, 256) || strchr(o, ' ') ||
			    (strchr(o, ',') && strncmp(o, "context=", 8) != 0))
				return pv_err_set(err, -EINVAL, PV_E_INVALID,
						  "mount option '%s' is not allowed (one option per entry, no spaces or control characters)",
						  o);
			if (ro && strcmp(o, "rw") == 0)
				continue;
			if (used + strlen(o) + 2 > len)
				return pv_err_set(err, -E2BIG, PV_E_INVALID, "too many mount options");
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", o);
		}
	return 0;
}

static int run_context(struct libmnt_context *cxt, const char *what, const char *target, struct pv_err *err)
{
	char msg[512] = "";
	int rc, ex;

	mnt_context_disable_helpers(cxt, 1);
	mnt_context_disable_mtab(cxt, 1);
	/* targets may be /proc/self/fd/N (a directory opened without following links):
	 * the kernel resolves them; libmount must not turn them back into path strings */
	mnt_context_disable_canonicalize(cxt, 1);
	rc = mnt_context_mount(cxt);
	ex = mnt_context_get_excode(cxt, rc, msg, sizeof(msg));
	if (ex == MNT_EX_SUCCESS)
		return 0;
	{
		int sys = mnt_context_get_syscall_errno(cxt);
		int code = sys ? -sys : (rc < 0 ? rc : -EIO);
		return pv_err_set(err, code, PV_E_INTERNAL, "cannot mount %s at %s: %s", what, target,
				  msg[0] ? msg : strerror(-code));
	}
}

int pv_mount(const char *source, const char *target, const char *fstype, const char *options,
	     struct pv_err *err)
{
	struct libmnt_context *cxt = mnt_new_context();
	int r;

	if (!cxt)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	mnt_context_set_source(cxt, source);
	mnt_context_set_target(cxt, target);
	if (fstype && *fstype)
		mnt_context_set_fstype(cxt, fstype);
	if (options && *options)
		mnt_context_set_options(cxt, options);
	r = run_context(cxt, source, target, err);
	mnt_free_context(cxt);
	return r;
}

int pv_bind_mount(const char *source, const char *target, bool readonly, const char *options,
		  struct pv_err *err)
{
	char opts[1024];
	struct libmnt_context *cxt;
	int r;

	snprintf(opts, sizeof(opts), "bind%s%s%s", readonly ? ",ro" : "", options && *options ? "," : "",
		 options ? options : "");
	cxt = mnt_new_context();
	if (!cxt)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	mnt_context_set_source(cxt, source);
	mnt_context_set_target(cxt, target);
	mnt_context_set_options(cxt, opts);
	r = run_context(cxt, source, target, err);
	mnt_free_context(cxt);
	return r;
}

int pv_umount(const char *target, struct pv_err *err)
{
	for (int i = 0; i < 16 && pv_is_mountpoint(target); i++) {
		if (umount2(target, UMOUNT_NOFOLLOW) < 0) {
			if (errno == EINVAL || errno == ENOENT)
				return 0;
			if (errno == EBUSY)
				return pv_err_set(err, -EBUSY, PV_E_INTERNAL,
						  "cannot unmount %s: it is busy (a process still uses it)", target);
			return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot unmount %s: %s", target, strerror(errno));
		}
	}
	return 0;
}

bool pv_umount_stale_fuse(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) == 0 || errno != ENOTCONN)
		return false;
	pv_warn("clearing the stale FUSE mount at %s (its server is gone)", mnt);
	return umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) == 0;
}

/* The kernel's sentence for a failed fsconfig/fsmount, read from the context fd. */
static void fs_message(int fs, char *buf, size_t len)
{
	ssize_t n;
	buf[0] = '\0';
	while ((n = read(fs, buf, len - 1)) > 0) {
		buf[n] = '\0';
		if (buf[0] == 'e' && buf[1] == ' ')
			memmove(buf, buf + 2, (size_t)n - 1); /* "e ext4: ..." */
	}
}

/* Each VFS attribute as the mount API and as mount(2) spell it. */
static const struct {
	unsigned pv;
	unsigned attr;
	unsigned long ms;
} vfs_flags[] = {
	{ PV_MNT_RDONLY, MOUNT_ATTR_RDONLY, MS_RDONLY },
	{ PV_MNT_NOSUID, MOUNT_ATTR_NOSUID, MS_NOSUID },
	{ PV_MNT_NODEV, MOUNT_ATTR_NODEV, MS_NODEV },
	{ PV_MNT_NOEXEC, MOUNT_ATTR_NOEXEC, MS_NOEXEC },
	{ PV_MNT_NODIRATIME, MOUNT_ATTR_NODIRATIME, MS_NODIRATIME },
	{ PV_MNT_NOATIME, MOUNT_ATTR_NOATIME, MS_NOATIME },
	{ PV_MNT_STRICTATIME, MOUNT_ATTR_STRICTATIME, MS_STRICTATIME },
	{ PV_MNT_RELATIME, MOUNT_ATTR_RELATIME, MS_RELATIME },
};

/* One atime mode at most: noatime over strictatime over relatime. */
static unsigned one_atime(unsigned attr)
{
	if (attr & PV_MNT_NOATIME)
		return attr & ~(unsigned)(PV_MNT_STRICTATIME | PV_MNT_RELATIME);
	if (attr & PV_MNT_STRICTATIME)
		return attr & ~(unsigned)PV_MNT_RELATIME;
	return attr;
}

static unsigned mount_attrs(unsigned attr)
{
	unsigned a = 0;
	attr = one_atime(attr);
	for (size_t i = 0; i < sizeof(vfs_flags) / sizeof(vfs_flags[0]); i++)
		if (attr & vfs_flags[i].pv)
			a |= vfs_flags[i].attr;
	return a;
}

static unsigned long mount_flags(unsigned attr)
{
	unsigned long f = 0;
	attr = one_atime(attr);
	for (size_t i = 0; i < sizeof(vfs_flags) / sizeof(vfs_flags[0]); i++)
		if (attr & vfs_flags[i].pv)
			f |= vfs_flags[i].ms;
	return f;
}

/* Each option of a comma-separated list is checked against the allow list: a VFS
 * attribute goes into *attr, a filesystem parameter into `params` (comma-separated, what
 * fsconfig gets one by one and mount(2) as its data). */
static int split_options(const char *fstype, const char *options, unsigned *attr, char *params, size_t len,
			 struct pv_err *err)
{
	char copy[2048], *save = NULL;
	size_t used = 0;

	params[0] = '\0';
	if ((size_t)snprintf(copy, sizeof(copy), "%s", options ? options : "") >= sizeof(copy))
		return pv_err_set(err, -E2BIG, PV_E_INVALID, "too many mount options");
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		struct pv_mount_option mo;
		int r = pv_mount_option_classify(fstype, o, &mo, err);
		if (r < 0)
			return r;
		if (mo.kind == PV_MNT_VFS) {
			*attr |= mo.attr;
			continue;
		}
		if (!fstype)
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "mount option '%s' cannot apply to a bind mount", o);
		if (used + strlen(o) + 2 > len)
			return pv_err_set(err, -E2BIG, PV_E_INVALID, "too many mount options");
		used += (size_t)snprintf(params + used, len - used, "%s%s", used ? "," : "", o);
	}
	return 0;
}

static int fs_config(int fs, const char *fstype, char *params, unsigned attr, struct pv_err *err)
{
	char *save = NULL, msg[256];

	if ((attr & PV_MNT_RDONLY) && fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot mount read-only: %s", strerror(errno));
	for (char *o = strtok_r(params, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		if (eq)
			*eq = '\0';
		if (fsconfig(fs, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o, eq ? eq + 1 : NULL, 0) < 0) {
			int e = errno;
			fs_message(fs, msg, sizeof(msg));
			return pv_err_set(err, -e, PV_E_INVALID, "mount option '%s%s%s' was refused by %s: %s", o,
					  eq ? "=" : "", eq ? eq + 1 : "", fstype, msg[0] ? msg : strerror(e));
		}
	}
	return 0;
}

static int legacy_root(const struct pv_safe_path *sp, int target, int *mount_fd)
{
	struct pv_fd_mount below, root;
	int fd = openat(sp->dirfd, sp->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (pv_fd_mount_info(target, &below) < 0 || pv_fd_mount_info(fd, &root) < 0 || !root.is_mount_root ||
	    root.mnt_id == below.mnt_id) {
		close(fd);
		return -ESTALE;
	}
	*mount_fd = fd;
	return 0;
}

static int legacy_mount(const char *source, const struct pv_safe_path *sp, int target, const char *fstype,
			unsigned long flags, const char *data, int *mount_fd, struct pv_err *err)
{
	char at[64];
	int fd = -1;

	snprintf(at, sizeof(at), "/proc/self/fd/%d", target);
	if (mount(source, at, fstype ? fstype : "none", flags, data && *data ? data : NULL) < 0)
		return pv_err_set(err, -errno, errno == EINVAL ? PV_E_INVALID : PV_E_INTERNAL, "cannot mount %s at %s: %s",
				  fstype ? source : "a bind", sp->path, strerror(errno));
	if (legacy_root(sp, target, &fd) < 0)
		pv_warn("the new mount at %s is not at that name any more (renamed while mounting?)", sp->path);
	if (fd >= 0 && (flags & MS_BIND) && (flags & ~(unsigned long)(MS_BIND | MS_REC))) {
		/* a bind takes its attributes in a second step */
		snprintf(at, sizeof(at), "/proc/self/fd/%d", fd);
		if (mount("none", at, "none", MS_REMOUNT | flags, NULL) < 0) {
			int e = errno;
			umount2(at, MNT_DETACH);
			close(fd);
			return pv_err_set(err, -e, PV_E_INTERNAL, "cannot set the options of the bind at %s: %s", sp->path,
					  strerror(e));
		}
	}
	if (mount_fd)
		*mount_fd = fd;
	else if (fd >= 0)
		close(fd);
	return 0;
}

int pv_mount_fs_at(const char *source, const struct pv_safe_path *sp, int target, const char *fstype,
		   const char *options, int *mount_fd, struct pv_err *err)
{
	bool legacy = pv_os_legacy_api();
	_cleanup_(pv_closep) int fs = legacy ? -1 : fsopen(fstype, FSOPEN_CLOEXEC);
	_cleanup_(pv_closep) int mnt = -1;
	unsigned attr = PV_MNT_NOSUID | PV_MNT_NODEV;
	char msg[256], params[2048];
	int r;

	if (mount_fd)
		*mount_fd = -1;
	if ((r = split_options(fstype, options, &attr, params, sizeof(params), err)) < 0)
		return r;
	if (fs < 0 && (legacy || errno == ENOSYS)) {
		pv_os_legacy_api_seen();
		return legacy_mount(source, sp, target, fstype, mount_flags(attr), params, mount_fd, err);
	}
	if (fs < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot mount %s: filesystem type %s: %s", source, fstype,
				  strerror(errno));
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot mount %s: %s", source, strerror(errno));
	if ((r = fs_config(fs, fstype, params, attr, err)) < 0)
		return r;
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int e = errno;
		fs_message(fs, msg, sizeof(msg));
		return pv_err_set(err, -e, pv_err_kind_from_errno(e) == PV_E_INVALID ? PV_E_INVALID : PV_E_INTERNAL,
				  "cannot mount %s (%s) at %s: %s", source, fstype, sp->path, msg[0] ? msg : strerror(e));
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, mount_attrs(attr));
	if (mnt < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot mount %s at %s: %s", source, sp->path, strerror(errno));
	if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot mount %s at %s: %s", source, sp->path, strerror(errno));
	if (mount_fd)
		*mount_fd = TAKE_FD(mnt);
	return 0;
}

int pv_bind_at(int source, const struct pv_safe_path *sp, int target, bool readonly, const char *options,
	       int *mount_fd, struct pv_err *err)
{
	_cleanup_(pv_closep) int tree = -1;
	unsigned attr = readonly ? PV_MNT_RDONLY : 0;
	char params[8];
	int r;

	if (mount_fd)
		*mount_fd = -1;
	if ((r = split_options(NULL, options, &attr, params, sizeof(params), err)) < 0)
		return r;
	bool legacy = pv_os_legacy_api();
	if (!legacy)
		tree = open_tree(source, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0 && (legacy || errno == ENOSYS)) {
		char from[64];
		pv_os_legacy_api_seen();
		snprintf(from, sizeof(from), "/proc/self/fd/%d", source);
		return legacy_mount(from, sp, target, NULL, MS_BIND | mount_flags(attr), NULL, mount_fd, err);
	}
	if (tree < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot bind onto %s: %s", sp->path, strerror(errno));
	struct mount_attr ma = { .attr_set = mount_attrs(attr) };
	if (ma.attr_set && mount_setattr(tree, "", AT_EMPTY_PATH, &ma, sizeof(ma)) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot set the options of the bind at %s: %s", sp->path,
				  strerror(errno));
	if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot bind at %s: %s", sp->path, strerror(errno));
	if (mount_fd)
		*mount_fd = TAKE_FD(tree);
	return 0;
}

void pv_umount_root_fd(int mount_fd)
{
	char at[64];

	if (mount_fd < 0)
		return;
	snprintf(at, sizeof(at), "/proc/self/fd/%d", mount_fd);
	umount2(at, MNT_DETACH);
}

int pv_umount_at(const struct pv_safe_path *sp, bool lazy, struct pv_err *err)
{
	char path[64 + NAME_MAX];

	/* the parent was opened without following links; the last name is not followed */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", sp->dirfd, sp->name);
	if (umount2(path, UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) == 0)
		return 0;
	if (errno == EINVAL)
		return 0; /* not a mount point (any more) */
	if (errno == EBUSY)
		return pv_err_set(err, -EBUSY, PV_E_INTERNAL, "cannot unmount %s: it is busy (a process still uses it)",
				  sp->path);
	return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot unmount %s: %s", sp->path, strerror(errno));
}
