/*
 * targets.c — the engine's view of the places it mounts on: staging paths and publish
 * targets are opened without following links (lib/os/safepath.c) beneath their trusted
 * root (the allowed prefix they are under, or the state directory for the default
 * staging paths), and a mount found there is recognised as this volume's — by its
 * superblock (a filesystem: the staging mount's) or its device (a raw block volume) —
 * before anything is unmounted, so pvnode never unmounts what it did not mount and never
 * trusts the journal alone about what is mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "pvnode/driver/os.h"

static const char *root_of(const struct pv_engine *e, const char *path)
{
	for (size_t i = 0; i < e->cfg.n_allowed_paths; i++)
		if (pv_path_under(path, e->cfg.allowed_paths[i]) && strcmp(path, e->cfg.allowed_paths[i]) != 0)
			return e->cfg.allowed_paths[i];
	if (pv_path_under(path, e->cfg.state_dir) && strcmp(path, e->cfg.state_dir) != 0)
		return e->cfg.state_dir;
	return NULL;
}

int pv_engine_resolve(struct pv_engine *e, const char *path, bool create, struct pv_safe_path *sp,
		      struct pv_err *err)
{
	const char *root = root_of(e, path);

	sp->dirfd = -1;
	if (!root)
		return pv_err_set(err, -EPERM, PV_E_INVALID, "path '%s' is outside the allowed prefixes", path);
	return pv_safe_parent(root, path, create, sp, err);
}

/* What is at `path` as a mount (an O_PATH fd reached without links, then let go):
 * -ENOENT when nothing can be opened there, another error when the path is refused. */
static int mount_info_at(struct pv_engine *e, const char *path, enum pv_safe_kind kind, struct pv_fd_mount *m,
			 struct pv_err *err)
{
	_cleanup_(pv_safe_path_close) struct pv_safe_path sp = { .dirfd = -1 };
	int fd, r;

	if ((r = pv_engine_resolve(e, path, false, &sp, err)) < 0)
		return r;
	if ((fd = pv_safe_open(&sp, kind, false, NULL)) < 0)
		return -ENOENT;
	r = pv_fd_mount_info(fd, m);
	close(fd);
	return r < 0 ? -ENOENT : 0;
}

/* The device a volume's filesystem (or raw device) lives on, as st_dev of its files. */
static int volume_dev(struct pv_engine *e, const struct pv_journal *j, dev_t *dev)
{
	struct pv_fd_mount m;
	struct stat st;
	int r;

	if (j->att.device[0] && stat(j->att.device, &st) == 0 && S_ISBLK(st.st_mode)) {
		*dev = st.st_rdev;
		return 0;
	}
	/* Shared storage: the superblock of the staging mount, once a finished attach says
	 * the driver made it or a spec for it (before that, whatever is mounted at the
	 * staging path is someone else's: the hostile loop saw a failed stage unmount a
	 * foreign tmpfs there). A block volume is known by its device alone. */
	const struct pv_driver *drv = pv_driver_find(j->pv.driver);
	if (!drv || drv->storage != PV_SHARED)
		return -ENOENT;
	if (j->phase == PV_PHASE_STAGING && !j->att.mounted_by_driver && !j->att.source[0])
		return -ENOENT;
	r = mount_info_at(e, j->staging_path, PV_SAFE_DIR, &m, NULL);
	if (r < 0)
		return r;
	if (!m.is_mount_root)
		return -ENOENT;
	/* While the stage is unfinished, a kernel mount the engine made from the
	 * attachment's spec must show that source: a stage killed before its mount, or one
	 * that failed, may have found something else there. (Once staged the mount was
	 * ours; its source as the kernel shows it is not compared then.) */
	char type[64], src[1024];
	if (j->phase == PV_PHASE_STAGING && !j->att.mounted_by_driver && j->att.source[0] &&
	    (pv_mount_source_of(m.mnt_id, type, sizeof(type), src, sizeof(src)) < 0 || strcmp(src, j->att.source) != 0 ||
	     (j->att.fstype[0] && strncmp(type, j->att.fstype, strlen(j->att.fstype)) != 0)))
		return -ENOENT;
	*dev = m.dev;
	return 0;
}

int pv_engine_mount_state(struct pv_engine *e, const struct pv_journal *j, const char *path, bool block_target,
			  const char *view_dev, struct pv_err *err)
{
	struct pv_fd_mount m;
	struct stat st;
	dev_t ours = 0;
	int r = mount_info_at(e, path, block_target ? PV_SAFE_FILE : PV_SAFE_DIR, &m, err);

	if (r < 0 && r != -ENOENT)
		return r;
	if (r < 0 || !m.is_mount_root)
		return PV_MOUNT_NONE;
	if (view_dev && view_dev[0] && stat(view_dev, &st) == 0)
		ours = st.st_rdev;
	else if (volume_dev(e, j, &ours) < 0)
		return PV_MOUNT_FOREIGN;
	if (block_target)
		return m.rdev == ours ? PV_MOUNT_OURS : PV_MOUNT_FOREIGN;
	return m.dev == ours ? PV_MOUNT_OURS : PV_MOUNT_FOREIGN;
}

int pv_engine_unmount_ours(struct pv_engine *e, const struct pv_journal *j, const char *path, bool block_target,
			   const char *view_dev, struct pv_err *err)
{
	struct pv_safe_path sp;
	int state = pv_engine_mount_state(e, j, path, block_target, view_dev, err), r;

	if (state < 0 || state == PV_MOUNT_NONE)
		return state < 0 ? state : 0;
	if (state == PV_MOUNT_FOREIGN)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: %s has a mount on it that is not this volume's; unmount that first", j->volume,
				  path);
	if ((r = pv_engine_resolve(e, path, false, &sp, err)) < 0)
		return r;
	r = pv_umount_at(&sp, false, err);
	pv_safe_path_close(&sp);
	return r;
}

struct stray {
	const struct pv_journal *j;
	char first[PATH_MAX];
	int n;
};

static void count_stray(const char *mnt, bool ro, void *ud)
{
	struct stray *s = ud;
	(void)ro;
	if (!s->j->block && strcmp(mnt, s->j->staging_path) == 0)
		return;
	for (size_t i = 0; i < s->j->n_publishes; i++)
		if (strcmp(mnt, s->j->publishes[i].target) == 0)
			return;
	if (!s->n++)
		snprintf(s->first, sizeof(s->first), "%s", mnt);
}

int pv_engine_stray_mounts(struct pv_engine *e, const struct pv_journal *j, char *first, size_t len)
{
	struct stray s = { .j = j };
	const char *slash;
	dev_t dev;

	first[0] = '\0';
	if (volume_dev(e, j, &dev) < 0)
		return 0;
	if (j->block && j->att.device[0] && (slash = strrchr(j->att.device, '/')))
		pv_mounts_of_dev(0, slash + 1, count_stray, &s);
	else
		pv_mounts_of_dev(dev, NULL, count_stray, &s);
	snprintf(first, len, "%s", s.first);
	return s.n;
}

int pv_engine_attached_unrecorded(struct pv_engine *e, const char *volume, char *what, size_t len, bool *is_mounted)
{
	char tag[64], dev[64];
	struct stat st;
	bool mounted;
	int n;

	what[0] = '\0';
	if (is_mounted)
		*is_mounted = false;
	pv_loop_tag(e->cfg.state_dir, volume, tag, sizeof(tag));
	if ((n = pv_loop_find_tagged(tag, dev, sizeof(dev))) <= 0)
		return 0;
	mounted = stat(dev, &st) == 0 &&
		  (pv_mounts_of_dev(st.st_rdev, NULL, NULL, NULL) > 0 || pv_mounts_of_dev(0, dev + 5, NULL, NULL) > 0);
	snprintf(what, len, "loop device %s%s", dev, mounted ? ", still mounted" : "");
	if (is_mounted)
		*is_mounted = mounted;
	return n;
}

/* The staging mount of `j`, opened read-only without links, if it is this volume's
 * filesystem: the fd, or -ENOENT when nothing of it is mounted there. */
int pv_engine_open_staging_root(struct pv_engine *e, const struct pv_journal *j, struct pv_err *err)
{
	_cleanup_(pv_safe_path_close) struct pv_safe_path sp = { .dirfd = -1 };
	_cleanup_(pv_closep) int path_fd = -1;
	struct stat dev, st;
	char proc[64];
	int state, fd, r;

	state = pv_engine_mount_state(e, j, j->staging_path, false, NULL, err);
	if (state < 0)
		return state;
	if (state == PV_MOUNT_NONE)
		return -ENOENT;
	if (state == PV_MOUNT_FOREIGN)
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: %s has a mount on it that is not this volume's; unmount that first",
				  j->volume, j->staging_path);
	if ((r = pv_engine_resolve(e, j->staging_path, false, &sp, err)) < 0)
		return r;
	if ((path_fd = pv_safe_open(&sp, PV_SAFE_DIR, false, err)) < 0)
		return path_fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the fd itself, a magic link */
	if (fd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "volume %s: cannot open %s: %s", j->volume,
				  j->staging_path, strerror(errno));
	/* what was opened is the volume's filesystem, whatever changed since the check */
	if (stat(j->att.device, &dev) < 0 || !S_ISBLK(dev.st_mode) || fstat(fd, &st) < 0 || st.st_dev != dev.st_rdev) {
		close(fd);
		return pv_err_set(err, -EBUSY, PV_E_IN_USE,
				  "volume %s: the filesystem at %s is not on its device %s",
				  j->volume, j->staging_path, j->att.device);
	}
	return fd;
}
