/*
 * file_snap.c — the file driver's snapshots, restores and clones: image copies
 * (file_copy.c: a reflink where the state directory's filesystem has them, else a
 * sparse copy).
 *
 * A snapshot is <state>/snapshots/<name>.img: outside <state>/images, so no PV's `path`
 * can name it and attach (and write) it. Every copy is made under a temporary name
 * (<name>.tmp.<pid>, swept by reconcile once stale), synced, then renamed into place, so
 * a process killed half-way leaves no half image under a real name. A new volume's image
 * carries what it was made from (xattr user.pvnode.source), so a create killed after
 * the image was made but before it was recorded is finished by its retry, while an image
 * of anything else is never taken over.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "file.h"

#define SOURCE_XATTR "user.pvnode.source"

static void snap_dir(const struct pv_node_ctx *n, char *buf, size_t len)
{
	snprintf(buf, len, "%s/snapshots", n->state_dir);
}

static int snap_image(const struct pv_node_ctx *n, const char *name, char *buf, size_t len, struct pv_err *err)
{
	if (!pv_name_valid(name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "'%s' is not a valid snapshot name", name);
	snprintf(buf, len, "%s/snapshots/%s.img", n->state_dir, name);
	return 0;
}

/* Open `path` below `dir` read-only, without links, a regular file only. */
static int open_below(const char *dir, const char *path, const char *what, struct pv_err *err)
{
	struct pv_safe_path sp;
	struct stat st;
	int fd, r;

	if ((r = pv_safe_parent(dir, path, false, &sp, NULL)) < 0)
		return r == -ENOENT ? pv_err_set(err, r, PV_E_NOT_FOUND, "%s %s does not exist", what, path)
				    : pv_err_set(err, r, PV_E_INTERNAL, "cannot reach %s %s: %s", what, path, strerror(-r));
	fd = openat(sp.dirfd, sp.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	r = -errno;
	pv_safe_path_close(&sp);
	if (fd < 0)
		return pv_err_set(err, r, r == -ENOENT ? PV_E_NOT_FOUND : PV_E_INTERNAL, "cannot open %s %s: %s", what,
				  path, strerror(-r));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pv_err_set(err, -EINVAL, PV_E_INTERNAL, "%s %s is not a regular file: refused", what, path);
	}
	return fd;
}

static void fsync_dirfd(int dirfd)
{
	int d = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d >= 0) {
		fsync(d);
		close(d);
	}
}

/* A copy of `src` at `path` (below `dir`), at least `size` bytes, tagged with `tag`:
 * made under a temporary name, synced, renamed into place — over what is there when
 * `replace` (an orphan of a killed snapshot: the controller holds the name and found no
 * record), else never over anything. */
struct install {
	const char *dir, *path, *tag, *what;
	uint64_t size;
	bool replace;
	bool progress;
	const char *how;       /* out */
};

static int install_copy(int src, struct install *in, struct pv_err *err)
{
	char tmp[NAME_MAX + 1];
	struct pv_safe_path sp;
	struct stat st;
	int fd, r;

	if ((r = pv_mkdir_p(in->dir, 0700, err)) < 0 || (r = pv_safe_parent(in->dir, in->path, true, &sp, err)) < 0)
		return r;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", sp.name, (int)getpid()) >= sizeof(tmp)) {
		pv_safe_path_close(&sp);
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "image name %s is too long", in->path);
	}
	unlinkat(sp.dirfd, tmp, 0);
	fd = openat(sp.dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		pv_safe_path_close(&sp);
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot create %s/%s: %s", in->dir, tmp, strerror(-r));
	}
	r = file_copy(src, fd, in->what, in->progress, &in->how, err);
	if (r == 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size < in->size && ftruncate(fd, (off_t)in->size) < 0)
		r = pv_err_set(err, -errno, PV_E_RESOURCE, "cannot grow the copy of %s to %llu bytes: %s", in->what,
			       (unsigned long long)in->size, strerror(errno));
	/* the tag is how a retry after a kill tells its own copy from another image of the
	 * name: an untagged one would be refused for ever, or taken for someone else's */
	if (r == 0 && fsetxattr(fd, SOURCE_XATTR, in->tag, strlen(in->tag), 0) < 0)
		r = pv_err_set(err, -errno, PV_E_INTERNAL,
			       "cannot tag the copy %s with its source (%s xattr): %s; the state directory must be "
			       "on a filesystem with user xattrs (ext4, xfs, btrfs)", in->path, SOURCE_XATTR,
			       strerror(errno));
	if (r == 0 && fsync(fd) < 0)
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot sync the copy of %s: %s", in->what, strerror(errno));
	close(fd);
	if (r == 0 && (in->replace ? renameat(sp.dirfd, tmp, sp.dirfd, sp.name)
				   : renameat2(sp.dirfd, tmp, sp.dirfd, sp.name, RENAME_NOREPLACE)) < 0) {
		r = -errno;
		r = pv_err_set(err, r, r == -EEXIST ? PV_E_EXISTS : PV_E_INTERNAL, "cannot put the copy of %s at %s: %s",
			       in->what, in->path, r == -EEXIST ? "an image appeared there meanwhile" : strerror(-r));
	}
	if (r == 0)
		fsync_dirfd(sp.dirfd); /* the name too survives a power cut */
	else
		unlinkat(sp.dirfd, tmp, 0);
	pv_safe_path_close(&sp);
	return r;
}

int file_snapshot_create(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			 const struct pv_node_ctx *n, struct pv_err *err)
{
	char image[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], tag[PV_NAME_MAX + 16];
	struct install in = { .dir = dir, .path = path, .tag = tag, .what = image, .replace = true,
			      .progress = n->progress };
	int r;

	(void)s;
	snap_dir(n, dir, sizeof(dir));
	if ((r = file_image_path(pv, n, image, sizeof(image), err)) < 0 ||
	    (r = snap_image(n, snap->name, path, sizeof(path), err)) < 0)
		return r;
	_cleanup_(pv_closep) int src = file_open_image(n, image, O_RDONLY, err);
	if (src < 0)
		return src;
	snprintf(tag, sizeof(tag), "volume:%s", pv->name);
	if ((r = install_copy(src, &in, err)) < 0)
		return r;
	snap->ready = true;
	if (pv_map_set(&snap->attributes, "image", path) < 0 || pv_map_set(&snap->attributes, PV_SNAPSHOT_ATTR_HOW, in.how) < 0) {
		file_snapshot_delete(snap, s, n, NULL);
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	}
	return 0;
}

int file_snapshot_delete(const struct pv_snapshot *snap, const struct pv_secrets *s, const struct pv_node_ctx *n,
			 struct pv_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct pv_safe_path sp;
	int r;

	(void)s;
	snap_dir(n, dir, sizeof(dir));
	if ((r = snap_image(n, snap->name, path, sizeof(path), err)) < 0)
		return r;
	if ((r = pv_safe_parent(dir, path, false, &sp, err)) == -ENOENT) {
		pv_err_clear(err);
		return 0; /* no snapshot directory: nothing to remove */
	}
	if (r < 0)
		return r;   /* e.g. snapshots/ is a link: the record stays, nothing leaks */
	r = unlinkat(sp.dirfd, sp.name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (r == 0)
		fsync_dirfd(sp.dirfd);
	pv_safe_path_close(&sp);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot remove snapshot image %s: %s", path, strerror(-r));
	return 0;
}

/* An image of the new volume that is there already: the one a killed create of the very
 * same volume made (its tag, its size) is taken as made; anything else is refused. */
static int existing_target(const struct pv *pv, const struct pv_node_ctx *n, const char *image, const char *tag,
			   struct pv_err *err)
{
	char had[PV_NAME_MAX + 16] = "";
	struct stat st;
	ssize_t len;
	int fd = file_open_image(n, image, O_RDONLY, err);

	if (fd == -ENOENT) {
		pv_err_clear(err);
		return 0;
	}
	if (fd < 0)
		return fd;
	len = fgetxattr(fd, SOURCE_XATTR, had, sizeof(had) - 1);
	if (len > 0)
		had[len] = '\0';
	else
		had[0] = '\0';
	if (fstat(fd, &st) < 0)
		st.st_size = -1;
	close(fd);
	if (strcmp(had, tag) == 0 && (uint64_t)st.st_size == pv->capacity)
		return 1;
	return pv_err_set(err, -EEXIST, PV_E_EXISTS,
			  "image %s already exists%s%s: refusing to overwrite it (remove it, or choose another name)", image,
			  had[0] ? ", made from " : "", had);
}

static int copy_into_new(struct pv *pv, int src, const char *what, const char *tag, const struct pv_node_ctx *n,
			 struct pv_err *err)
{
	char image[PATH_MAX], dir[PATH_MAX];
	struct install in = { .dir = dir, .path = image, .tag = tag, .what = what, .size = pv->capacity,
			      .progress = n->progress };
	struct stat st;
	int r;

	snprintf(dir, sizeof(dir), "%s/images", n->state_dir);
	if ((r = file_image_path(pv, n, image, sizeof(image), err)) < 0)
		return r;
	if (fstat(src, &st) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot stat %s: %s", what, strerror(errno));
	if ((uint64_t)st.st_size > pv->capacity)
		return pv_err_set(err, -ERANGE, PV_E_RANGE, "%s holds %lld bytes, more than the capacity %llu", what,
				  (long long)st.st_size, (unsigned long long)pv->capacity);
	if ((r = existing_target(pv, n, image, tag, err)) != 0)
		return r < 0 ? r : 0;
	return install_copy(src, &in, err);
}

int file_restore(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		 const struct pv_node_ctx *n, struct pv_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX], what[PATH_MAX + 32], tag[PV_NAME_MAX + 16];
	int r;

	(void)s;
	snap_dir(n, dir, sizeof(dir));
	if ((r = snap_image(n, snap->name, path, sizeof(path), err)) < 0)
		return r;
	_cleanup_(pv_closep) int src = open_below(dir, path, "snapshot image", err);
	if (src < 0)
		return src;
	snprintf(what, sizeof(what), "snapshot %s", snap->name);
	snprintf(tag, sizeof(tag), "snapshot:%s", snap->name);
	return copy_into_new(pv, src, what, tag, n, err);
}

int file_clone(struct pv *pv, const struct pv *src_pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
	       struct pv_err *err)
{
	char image[PATH_MAX], what[PATH_MAX + 32], tag[PV_NAME_MAX + 16];
	int r;

	(void)s;
	if ((r = file_image_path(src_pv, n, image, sizeof(image), err)) < 0)
		return r;
	_cleanup_(pv_closep) int src = file_open_image(n, image, O_RDONLY, err);
	if (src < 0)
		return src;
	snprintf(what, sizeof(what), "volume %s", src_pv->name);
	snprintf(tag, sizeof(tag), "volume:%s", src_pv->name);
	return copy_into_new(pv, src, what, tag, n, err);
}
