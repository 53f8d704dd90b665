/*
 * drivers/file — a block volume backed by a sparse image file on the node's disk,
 * attached through a loop device (direct I/O, read-only for ROX). It exercises the whole
 * block pipeline (format, mount, labels, read-only, RWOP) with nothing else installed.
 *
 * Attribute `path`: the image file (default <state>/images/<name>.img, not recorded).
 * It must lie in <state>/images and be a regular file reached without symbolic links: a
 * PV or a CSI volume_context naming a device of the host or any other file is refused.
 * `create --existing` registers an image that is there, of the PV's size, without
 * touching it. No fence: an image file on one node's disk cannot be reached by another.
 * Snapshots, restores and clones (image copies) are in file_snap.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

static const char *const file_attributes[] = { "path", NULL };

static int file_validate(const struct pv *pv, struct pv_err *err)
{
	const char *path = pv_map_get(&pv->attributes, "path");

	if (path && !pv_path_clean(path))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.path: '%s' must be an absolute path without '.', '..' or '//'", path);
	return 0;
}

/* The image: the `path` attribute or <state>/images/<name>.img. Either way it must lie in
 * <state>/images — the node's own images, never another file or a device of the host —
 * and is reached without following links (an operator who wants images on another disk
 * mounts it at <state>/images). */
int file_image_path(const struct pv *pv, const struct pv_node_ctx *n, char *buf, size_t len, struct pv_err *err)
{
	const char *path = pv_map_get(&pv->attributes, "path");
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/images", n->state_dir);
	if (path)
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s/%s.img", dir, pv->name);
	if (!pv_path_clean(buf) || !pv_path_under(buf, dir) || strcmp(buf, dir) == 0)
		return pv_err_set(err, -EPERM, PV_E_INVALID,
				  "attributes.path: '%s' is not an image of this node (images live in %s)", buf, dir);
	return 0;
}

/* Open the image (flags: O_RDONLY, O_RDWR, and O_CREAT|O_EXCL to make it) below
 * <state>/images without following links; a regular file only. */
int file_open_image(const struct pv_node_ctx *n, const char *path, int flags, struct pv_err *err)
{
	char dir[PATH_MAX];
	struct pv_safe_path sp;
	struct stat st;
	int fd, r;

	snprintf(dir, sizeof(dir), "%s/images", n->state_dir);
	if ((r = pv_mkdir_p(dir, 0700, err)) < 0 || (r = pv_safe_parent(dir, path, false, &sp, err)) < 0)
		return r;
	fd = openat(sp.dirfd, sp.name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	r = -errno;
	pv_safe_path_close(&sp);
	if (fd < 0 && r == -ELOOP)
		return pv_err_set(err, r, PV_E_INVALID, "image %s is a symbolic link: refused", path);
	if (fd < 0 && r == -ENOENT)
		return pv_err_set(err, r, PV_E_NOT_FOUND, "image %s does not exist (was the volume created with pvctl create?)",
				  path);
	if (fd < 0)
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot open image %s: %s", path, strerror(-r));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "image %s is not a regular file: refused", path);
	}
	return fd;
}

/* Remove the image through its directory opened without links; 0 or -errno. */
int file_unlink_image(const struct pv_node_ctx *n, const char *path)
{
	char dir[PATH_MAX];
	struct pv_safe_path sp;
	int r;

	snprintf(dir, sizeof(dir), "%s/images", n->state_dir);
	if (pv_safe_parent(dir, path, false, &sp, NULL) < 0)
		return 0; /* no such place: nothing to remove */
	r = unlinkat(sp.dirfd, sp.name, 0) < 0 && errno != ENOENT ? -errno : 0;
	pv_safe_path_close(&sp);
	return r;
}

/* Make the image whole or not at all: sized and synced under a temporary name, then
 * renamed into place without replacing anything, so a create killed half-way never
 * leaves a short image that a retry would refuse (a temporary file of a dead process
 * is swept by reconcile). */
static int create_image(const struct pv *pv, const struct pv_node_ctx *n, const char *path, struct pv_err *err)
{
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	struct pv_safe_path sp;
	int fd, r;

	snprintf(dir, sizeof(dir), "%s/images", n->state_dir);
	if ((r = pv_mkdir_p(dir, 0700, err)) < 0 || (r = pv_safe_parent(dir, path, true, &sp, err)) < 0)
		return r;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", sp.name, (int)getpid()) >= sizeof(tmp)) {
		pv_safe_path_close(&sp);
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "image name %s is too long", path);
	}
	unlinkat(sp.dirfd, tmp, 0);
	fd = openat(sp.dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	r = fd < 0 || ftruncate(fd, (off_t)pv->capacity) < 0 || fsync(fd) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	if (r == 0 && renameat2(sp.dirfd, tmp, sp.dirfd, sp.name, RENAME_NOREPLACE) < 0)
		r = -errno;
	if (r == 0) {
		int d = openat(sp.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d >= 0) {
			fsync(d); /* the name too survives a power cut */
			close(d);
		}
	} else if (fd >= 0)
		unlinkat(sp.dirfd, tmp, 0);
	pv_safe_path_close(&sp);
	if (r == -EEXIST)
		return pv_err_set(err, r, PV_E_EXISTS, "image %s appeared while it was being made: refusing to replace it",
				  path);
	if (r < 0)
		return pv_err_set(err, r, r == -ENOSPC || r == -EFBIG || r == -EDQUOT ? PV_E_RESOURCE : PV_E_INTERNAL,
				  "cannot make image %s of %llu bytes: %s", path, (unsigned long long)pv->capacity,
				  strerror(-r));
	return 0;
}

static int file_provision(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n, struct pv_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, r;

	(void)s;
	if ((r = file_image_path(pv, n, path, sizeof(path), err)) < 0)
		return r;
	fd = file_open_image(n, path, O_RDONLY, err);
	if (fd < 0 && fd != -ENOENT)
		return fd; /* a link, not a regular file, unreadable: refused, never replaced */
	if (fd == -ENOENT)
		pv_err_clear(err);
	if (fd >= 0) {
		/* a retried create: the same image, never another file reused or overwritten */
		r = fstat(fd, &st);
		close(fd);
		if (r == 0 && (uint64_t)st.st_size != pv->capacity)
			return pv_err_set(err, -EEXIST, PV_E_EXISTS,
					  "image %s already exists with %lld bytes, not %llu: refusing to reuse or overwrite it",
					  path, (long long)st.st_size, (unsigned long long)pv->capacity);
	} else if ((r = create_image(pv, n, path, err)) < 0) {
		return r;
	}
	/* the default image is not recorded: the PV stays a file that moves between nodes and
	 * catalogs, each finding its image in its own <state>/images */
	return 0;
}

/* Registration (create --existing): the image must be there, in <state>/images, a
 * regular file reached without links, of exactly the PV's size (the loop device serves
 * all of it). Nothing is created or changed, and the default path is not recorded. */
static int file_check_existing(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			       struct pv_err *err)
{
	char path[PATH_MAX], want[32], have[32];
	struct stat st;
	int fd, r;

	(void)s;
	if ((r = file_image_path(pv, n, path, sizeof(path), err)) < 0)
		return r;
	if ((fd = file_open_image(n, path, O_RDONLY, err)) < 0) {
		if (fd != -ENOENT)
			return fd;
		pv_err_clear(err);
		return pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				  "image %s does not exist (register an image that exists, or create without --existing "
				  "to make one)", path);
	}
	r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot stat image %s: %s", path, strerror(errno));
	pv_quantity_format(pv->capacity, want, sizeof(want));
	pv_quantity_format((uint64_t)st.st_size, have, sizeof(have));
	if ((uint64_t)st.st_size != pv->capacity)
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "image %s holds %s (%lld bytes), not the capacity %s: set capacity to \"%s\"", path,
				  have, (long long)st.st_size, want, have);
	return 0;
}

static int file_remove(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n, struct pv_err *err)
{
	char path[PATH_MAX];
	int r;

	(void)s;
	if ((r = file_image_path(pv, n, path, sizeof(path), err)) < 0)
		return r;
	if ((r = file_unlink_image(n, path)) < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot remove image %s: %s", path, strerror(-r));
	return 0;
}

static int file_expand(struct pv *pv, uint64_t bytes, const struct pv_secrets *s, const struct pv_node_ctx *n,
		       struct pv_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	(void)s;
	if ((r = file_image_path(pv, n, path, sizeof(path), err)) < 0)
		return r;
	_cleanup_(pv_closep) int fd = file_open_image(n, path, O_RDWR, err);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > bytes)
		return pv_err_set(err, -EINVAL, PV_E_RANGE, "image %s is %lld bytes: volumes only grow", path,
				  (long long)st.st_size);
	if (ftruncate(fd, (off_t)bytes) < 0)
		return pv_err_set(err, -errno, PV_E_RESOURCE, "cannot grow image %s: %s", path, strerror(errno));
	pv->capacity = bytes;
	return 0;
}

static int file_attach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	char path[PATH_MAX], tag[64], at[64];
	int r;

	if ((r = file_image_path(req->pv, req->node, path, sizeof(path), err)) < 0)
		return r;
	_cleanup_(pv_closep) int fd = file_open_image(req->node, path, req->readonly ? O_RDONLY : O_RDWR, err);
	if (fd < 0)
		return fd;
	/* the loop device opens the very file checked, by its descriptor */
	snprintf(at, sizeof(at), "/proc/self/fd/%d", fd);
	pv_loop_tag(req->node->state_dir, req->pv->name, tag, sizeof(tag));
	r = pv_loop_attach_tagged(at, tag, req->readonly, true, att->device, sizeof(att->device), err);
	if (r < 0)
		return r;
	snprintf(att->backing, sizeof(att->backing), "%s", path);
	att->readonly = req->readonly;
	snprintf(att->summary, sizeof(att->summary), "image %s", path);
	return 0;
}

static int file_detach(const struct pv *pv, const struct pv_attachment *att, const struct pv_node_ctx *n,
		       struct pv_err *err)
{
	return pv_loop_release(n->state_dir, pv->name, att->device, att->backing, err);
}

static enum pv_health file_health(const struct pv *pv, const struct pv_attachment *att, char *why, size_t len)
{
	(void)pv;
	if (!pv_loop_serves(att->device, att->backing)) {
		snprintf(why, len, "loop device %s no longer serves %s", att->device, att->backing);
		return PV_ABNORMAL;
	}
	return PV_HEALTHY;
}

const struct pv_driver pv_driver_file = {
	.name = "file",
	.storage = PV_BLOCKDEV,
	.node_local = true,
	.attribute_names = file_attributes,
	.capacity_granularity = 512, /* the loop device serves whole sectors */
	.validate = file_validate,
	.provision = file_provision,
	.remove = file_remove,
	.expand = file_expand,
	.check_existing = file_check_existing,
	.snapshot_create = file_snapshot_create,
	.snapshot_delete = file_snapshot_delete,
	.restore = file_restore,
	.clone = file_clone,
	.attach = file_attach,
	.detach = file_detach,
	.health = file_health,
};
