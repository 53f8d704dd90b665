/*
 * stats.c — the read side of a staged volume: usage and condition (NodeGetVolumeStats,
 * describe), and growing its filesystem after the backend grew (NodeExpandVolume).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "pvnode/driver/os.h"
#include "store/journal.h"

/* The journal of a volume this node has staged, for a request naming `path` (may be
 * NULL) as one of its paths. */
static int load_staged(struct pv_engine *e, const char *volume, const char *path, struct pv_journal *j,
		       struct pv_err *err)
{
	int rc;

	if (path && *path && !pv_path_clean(path))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume path '%s' must be absolute without '..'", path);
	rc = pv_journal_load(e->cfg.state_dir, volume, j, err);
	if (rc == -ENOENT)
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "volume %s is not staged on this node", volume);
	return rc;
}

/* A staging mount that was read-write and is read-only now: the kernel remounted the
 * filesystem after errors (ext4 errors=remount-ro, an xfs shutdown). */
static bool fs_went_readonly(const char *staging)
{
	struct statvfs vfs;
	char sup[1024], *save = NULL;

	if (statvfs(staging, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		return true;
	/* ext4 on newer kernels marks it emergency_ro instead of setting the sb read-only */
	if (pv_mount_super_options(staging, sup, sizeof(sup)) < 0)
		return false;
	for (char *o = strtok_r(sup, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (strcmp(o, "ro") == 0 || strcmp(o, "emergency_ro") == 0)
			return true;
	return false;
}

static int device_size(const char *dev, uint64_t *bytes)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	int r = 0;
	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, bytes) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* pv_dir_usage with a per-path cache: a result is reused for a minute; a tree too big
 * to walk within the bound is not walked again for ten. */
static int volume_usage(struct pv_engine *e, const char *path, uint64_t *bytes, uint64_t *inodes)
{
	struct pv_usage_entry *slot = NULL, *oldest = &e->usage[0];
	struct timespec now;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&e->usage_lock);
	for (size_t i = 0; i < PV_USAGE_CACHE; i++) {
		struct pv_usage_entry *u = &e->usage[i];
		if (u->until > now.tv_sec && strcmp(u->path, path) == 0) {
			*bytes = u->bytes;
			*inodes = u->inodes;
			r = u->too_big ? -ETIMEDOUT : 0;
			pthread_mutex_unlock(&e->usage_lock);
			return r;
		}
		if (u->until < oldest->until)
			oldest = u;
	}
	pthread_mutex_unlock(&e->usage_lock);
	r = pv_dir_usage(path, 5000, bytes, inodes);
	pthread_mutex_lock(&e->usage_lock);
	slot = oldest;
	snprintf(slot->path, sizeof(slot->path), "%s", path);
	slot->too_big = r == -ETIMEDOUT;
	slot->bytes = *bytes;
	slot->inodes = *inodes;
	slot->until = r == 0 || slot->too_big ? now.tv_sec + (slot->too_big ? 600 : 60) : 0;
	pthread_mutex_unlock(&e->usage_lock);
	return r;
}

int pv_engine_stats(struct pv_engine *e, const char *volume, const char *path, struct pv_volume_stats *st,
		    struct pv_err *err)
{
	const struct pv_driver *drv;
	struct pv_journal j;
	struct statvfs vfs;
	bool known = false;
	int rc;

	memset(st, 0, sizeof(*st));
	pv_journal_init(&j);
	if (!pv_name_valid(volume))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "volume id '%s' is not valid", volume ? volume : "");
	if ((rc = load_staged(e, volume, path, &j, err)) < 0)
		return rc;
	if (!path || !*path)
		path = j.staging_path;
	known = strcmp(path, j.staging_path) == 0;
	for (size_t i = 0; i < j.n_publishes && !known; i++)
		known = strcmp(path, j.publishes[i].target) == 0;
	if (!known) {
		rc = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "volume %s is neither staged nor published at %s", volume, path);
		goto out;
	}
	st->block = j.block;
	drv = pv_driver_find(j.pv.driver);
	if (j.block) {
		if (device_size(j.att.device, &st->bytes_total) < 0) {
			st->abnormal = true;
			snprintf(st->condition, sizeof(st->condition), "device %s of volume %s is gone", j.att.device, volume);
		}
	} else if (!pv_is_mountpoint(path)) {
		st->abnormal = true;
		snprintf(st->condition, sizeof(st->condition), "the mount of volume %s at %s is gone", volume, path);
	} else if (statvfs(path, &vfs) < 0) {
		st->abnormal = true;
		snprintf(st->condition, sizeof(st->condition), "volume %s at %s does not answer: %s", volume, path,
			 strerror(errno));
	} else {
		st->bytes_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		st->bytes_available = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		st->bytes_used = st->bytes_total - (uint64_t)vfs.f_bfree * vfs.f_frsize;
		st->inodes_total = vfs.f_files;
		st->inodes_free = vfs.f_ffree;
		st->inodes_used = vfs.f_files - vfs.f_ffree;
	}
	/* the backend first: a lost session is the cause, a read-only filesystem its effect */
	if (!st->abnormal && drv && drv->health) {
		char why[200] = "";
		if (drv->health(&j.pv, &j.att, why, sizeof(why)) != PV_HEALTHY) {
			st->abnormal = true;
			snprintf(st->condition, sizeof(st->condition), "volume %s: %s", volume, why[0] ? why : "backend unhealthy");
		}
	}
	if (!st->abnormal && !j.block && !j.readonly && fs_went_readonly(j.staging_path)) {
		st->abnormal = true;
		snprintf(st->condition, sizeof(st->condition),
			 "the filesystem of volume %s is read-only: the kernel remounted it after I/O errors (see dmesg); "
			 "writes fail with EROFS until it is unpublished, unstaged and staged again", volume);
	}
	if (!st->abnormal && drv && drv->storage == PV_SHARED) {
		/* Shared storage: the volume is a directory on a bigger export, so usage is what
		 * is below it and the total is the PV's capacity (bounded by the export's free
		 * space); a tree too big to walk in time keeps the export's figures. */
		uint64_t used, inodes;
		if (volume_usage(e, path, &used, &inodes) == 0) {
			st->bytes_used = used;
			st->inodes_used = inodes;
			if (j.pv.capacity) {
				uint64_t left = j.pv.capacity > used ? j.pv.capacity - used : 0;
				st->bytes_total = j.pv.capacity;
				st->bytes_available = left < st->bytes_available ? left : st->bytes_available;
			}
		}
	}
	if (!st->abnormal)
		snprintf(st->condition, sizeof(st->condition), "healthy");
out:
	pv_journal_free(&j);
	return rc;
}

int pv_engine_expand_locked(struct pv_engine *e, const char *volume, const char *path, uint64_t *bytes,
			    struct pv_err *err)
{
	_cleanup_(pv_journal_free) struct pv_journal j;
	const struct pv_driver *drv;
	struct pv_volctx vc;
	int rc;

	pv_journal_init(&j);
	if ((rc = load_staged(e, volume, path, &j, err)) < 0)
		return rc;
	drv = pv_driver_find(j.pv.driver);
	pv_engine_volctx(e, volume, &vc);
	if (!drv || drv->storage == PV_SHARED) {
		/* nothing to grow on the node: record the new nominal capacity */
		if (*bytes > j.pv.capacity) {
			j.pv.capacity = *bytes;
			rc = pv_journal_save(e->cfg.state_dir, &j, err);
		}
		*bytes = j.pv.capacity;
		return rc;
	}
	if (drv->refresh)
		rc = drv->refresh(&j.pv, &j.att, &vc.n, err);
	else
		rc = pv_loop_set_capacity(j.att.device, err);
	if (rc < 0)
		pv_err_prefix(err, "volume %s: ", volume);
	if (rc == 0 && (rc = device_size(j.att.device, bytes)) < 0)
		rc = pv_err_set(err, rc, PV_E_INTERNAL, "cannot read the size of %s: %s", j.att.device, strerror(-rc));
	if (rc == 0 && *bytes > j.pv.capacity)
		j.pv.capacity = *bytes;
	if (rc == 0 && !j.block)
		rc = pv_grow_fs(j.att.device, j.staging_path, j.fs_type, err);
	if (rc == 0)
		rc = pv_journal_save(e->cfg.state_dir, &j, err);
	return rc;
}

int pv_engine_expand(struct pv_engine *e, const char *volume, const char *path, uint64_t *bytes, struct pv_err *err)
{
	_cleanup_(pv_unlockp) int lock = pv_engine_lock(e, volume, err);

	if (lock < 0)
		return lock;
	return pv_engine_expand_locked(e, volume, path, bytes, err);
}
