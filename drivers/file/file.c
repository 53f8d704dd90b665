/*
 * drivers/file — a block volume backed by a sparse image file on the node's disk,
 * attached through a loop device (direct I/O, read-only for ROX). It exercises the whole
 * block pipeline (format, mount, labels, read-only, RWOP) with nothing else installed.
 *
 * Attribute `path`: the image file (absolute; default <state>/images/<name>.img, set at
 * provision). No fence: an image file on one node's disk cannot be reached by another.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvnode/driver/driver.h"
#include "pvnode/driver/os.h"

static const char *const file_attributes[] = { "path", NULL };

static int file_validate(const struct pv *pv, struct pv_err *err)
{
	const char *path = pv_map_get(&pv->attributes, "path");

	if (path && !pv_path_clean(path))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "attributes.path: '%s' must be an absolute path without '.', '..' or '//'", path);
	return 0;
}

static void image_path(const struct pv *pv, const struct pv_node_ctx *n, char *buf, size_t len)
{
	const char *path = pv_map_get(&pv->attributes, "path");
	if (path)
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s/images/%s.img", n->state_dir, pv->name);
}

static int file_provision(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n, struct pv_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int fd, r;

	(void)s;
	image_path(pv, n, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	r = pv_mkdir_p(dir[0] ? dir : "/", 0700, err);
	if (r < 0)
		return r;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return pv_err_set(err, -EEXIST, PV_E_EXISTS, "image %s exists and is not a regular file", path);
		if ((uint64_t)st.st_size != pv->capacity)
			return pv_err_set(err, -EEXIST, PV_E_EXISTS,
					  "image %s already exists with %lld bytes, not %llu: refusing to reuse or overwrite it",
					  path, (long long)st.st_size, (unsigned long long)pv->capacity);
	} else {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return pv_err_set(err, -errno, pv_err_kind_from_errno(errno), "cannot create image %s: %s", path,
					  strerror(errno));
		if (ftruncate(fd, (off_t)pv->capacity) < 0 || fsync(fd) < 0) {
			r = -errno;
			close(fd);
			unlink(path);
			return pv_err_set(err, r, r == -ENOSPC || r == -EFBIG ? PV_E_RESOURCE : PV_E_INTERNAL,
					  "cannot size image %s to %llu bytes: %s", path, (unsigned long long)pv->capacity,
					  strerror(-r));
		}
		close(fd);
	}
	if (!pv_map_get(&pv->attributes, "path") && pv_map_set(&pv->attributes, "path", path) < 0)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	return 0;
}

static int file_remove(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n, struct pv_err *err)
{
	char path[PATH_MAX];

	(void)s;
	image_path(pv, n, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot remove image %s: %s", path, strerror(errno));
	return 0;
}

static int file_expand(struct pv *pv, uint64_t bytes, const struct pv_secrets *s, const struct pv_node_ctx *n,
		       struct pv_err *err)
{
	char path[PATH_MAX];
	struct stat st;

	(void)s;
	image_path(pv, n, path, sizeof(path));
	if (stat(path, &st) < 0)
		return pv_err_set(err, -errno, PV_E_NOT_FOUND, "image %s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size > bytes)
		return pv_err_set(err, -EINVAL, PV_E_RANGE, "image %s is %lld bytes: volumes only grow", path,
				  (long long)st.st_size);
	if (truncate(path, (off_t)bytes) < 0)
		return pv_err_set(err, -errno, PV_E_RESOURCE, "cannot grow image %s: %s", path, strerror(errno));
	pv->capacity = bytes;
	return 0;
}

static int file_attach(const struct pv_attach_req *req, struct pv_attachment *att, struct pv_err *err)
{
	char path[PATH_MAX], tag[64];
	struct stat st;
	int r;

	image_path(req->pv, req->node, path, sizeof(path));
	if (stat(path, &st) < 0)
		return pv_err_set(err, -errno, PV_E_NOT_FOUND, "image %s: %s (was the volume created with pvctl create?)",
				  path, strerror(errno));
	pv_loop_tag(req->node->state_dir, req->pv->name, tag, sizeof(tag));
	r = pv_loop_attach_tagged(path, tag, req->readonly, true, att->device, sizeof(att->device), err);
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
	.validate = file_validate,
	.provision = file_provision,
	.remove = file_remove,
	.expand = file_expand,
	.attach = file_attach,
	.detach = file_detach,
	.health = file_health,
};
