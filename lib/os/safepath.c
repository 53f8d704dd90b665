/*
 * safepath.c — paths that come from requests (staging and publish targets), resolved
 * beneath a trusted directory without following any symbolic link, so that the path
 * that was checked is the one mounted on: every component is opened with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) from the directory
 * before it, missing directories are made with mkdirat in the one just opened, and the
 * caller mounts onto, or unmounts at, the file descriptor it is given (lib/os/mount.c).
 * A symlink anywhere below the trusted root — swapped in before or during the call —
 * makes the call fail with ELOOP instead of leading elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "os_int.h"
#include "pvnode/driver/os.h"

/* Kernels before 5.6 (and valgrind up to 3.19) have no openat2: every caller passes one
 * component, so openat with O_NOFOLLOW, no "." or "..", and a symlink refused, is the
 * same check. */
static int openat_one(int dirfd, const char *name, int flags, mode_t mode)
{
	struct stat st;
	int fd;

	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EXDEV;
	fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if ((flags & O_PATH) && (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode))) {
		close(fd);
		return -ELOOP; /* O_PATH|O_NOFOLLOW opens the link itself */
	}
	return fd;
}

static _Atomic bool legacy_seen;

void pv_os_legacy_api_seen(void)
{
	legacy_seen = true;
}

bool pv_os_legacy_api(void)
{
#ifdef PV_FAULT_INJECTION
	const char *f = getenv("PVNODE_LEGACY_MOUNT_API");
	if (f && strcmp(f, "1") == 0)
		return true;
#endif
	return legacy_seen;
}

static int openat2_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (pv_os_legacy_api())
		return openat_one(dirfd, name, flags, mode);
	fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		pv_os_legacy_api_seen();
		return openat_one(dirfd, name, flags, mode);
	}
	return fd < 0 ? -errno : (int)fd;
}

void pv_safe_path_close(struct pv_safe_path *sp)
{
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	sp->dirfd = -1;
}

static int why_refused(const char *what, const char *path, int code, struct pv_err *err)
{
	if (code == -ELOOP || code == -EXDEV)
		return pv_err_set(err, code, PV_E_INVALID,
				  "%s '%s' leads through a symbolic link (refused: paths are followed without links)",
				  what, path);
	if (code == -ENOTDIR)
		return pv_err_set(err, code, PV_E_INVALID, "%s '%s' passes through something that is not a directory",
				  what, path);
	return pv_err_set(err, code, pv_err_kind_from_errno(code), "%s '%s': %s", what, path, strerror(-code));
}

/* Walk `rel` below dirfd component by component, making missing directories when asked;
 * returns an O_PATH fd of the last directory reached (the parent of the last name). */
static int walk_parents(int root, char *rel, bool create, const char **last, int *out)
{
	int fd = dup(root);
	char *save = NULL, *next, *comp = strtok_r(rel, "/", &save);

	if (fd < 0)
		return -errno;
	while (comp && (next = strtok_r(NULL, "/", &save))) {
		int sub = openat2_beneath(fd, comp, O_PATH | O_DIRECTORY, 0);
		if (sub == -ENOENT && create) {
			if (mkdirat(fd, comp, 0750) < 0 && errno != EEXIST) {
				sub = -errno;
			} else {
				sub = openat2_beneath(fd, comp, O_PATH | O_DIRECTORY, 0);
			}
		}
		close(fd);
		if (sub < 0)
			return sub;
		fd = sub;
		comp = next;
	}
	*last = comp;
	*out = fd;
	return 0;
}

int pv_safe_parent(const char *root, const char *path, bool create, struct pv_safe_path *sp, struct pv_err *err)
{
	char rel[PATH_MAX];
	const char *last = NULL;
	int rootfd, r;

	sp->dirfd = -1;
	snprintf(sp->path, sizeof(sp->path), "%s", path);
	if (!pv_path_under(path, root) || strcmp(path, root) == 0)
		return pv_err_set(err, -EPERM, PV_E_INVALID, "'%s' is not below %s", path, root);
	snprintf(rel, sizeof(rel), "%s", path + strlen(root) + (strcmp(root, "/") == 0 ? 0 : 1));
	/* the root itself is configuration (the allowed prefix, the state directory): trusted */
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open %s: %s", root, strerror(errno));
	r = walk_parents(rootfd, rel, create, &last, &sp->dirfd);
	close(rootfd);
	if (r < 0)
		return why_refused("path", path, r, err);
	if (!last || !*last || strlen(last) > NAME_MAX) {
		pv_safe_path_close(sp);
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' has no last component", path);
	}
	snprintf(sp->name, sizeof(sp->name), "%s", last);
	return 0;
}

int pv_safe_open(const struct pv_safe_path *sp, enum pv_safe_kind kind, bool create, struct pv_err *err)
{
	int fd, flags = kind == PV_SAFE_DIR ? O_PATH | O_DIRECTORY : O_PATH;

	fd = openat2_beneath(sp->dirfd, sp->name, flags, 0);
	if (fd == -ENOENT && create) {
		if (kind == PV_SAFE_DIR) {
			if (mkdirat(sp->dirfd, sp->name, 0750) < 0 && errno != EEXIST)
				return why_refused("path", sp->path, -errno, err);
		} else {
			int w = openat2_beneath(sp->dirfd, sp->name, O_WRONLY | O_CREAT | O_EXCL, 0600);
			if (w < 0 && w != -EEXIST)
				return why_refused("path", sp->path, w, err);
			if (w >= 0)
				close(w);
		}
		fd = openat2_beneath(sp->dirfd, sp->name, flags, 0);
	}
	if (fd < 0)
		return why_refused("path", sp->path, fd, err);
	if (kind == PV_SAFE_FILE) {
		/* a file, or the device node a raw block publish shows there */
		struct stat st;
		if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
			close(fd);
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a regular file", sp->path);
		}
	}
	return fd;
}

int pv_fd_mount_info(int fd, struct pv_fd_mount *m)
{
	struct statx sx;

	memset(m, 0, sizeof(*m));
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID | STATX_BASIC_STATS, &sx) < 0)
		return -errno;
	m->is_mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
			   (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	m->mnt_id = sx.stx_mnt_id;
	m->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	m->rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	m->ino = sx.stx_ino;
	return 0;
}
