/*
 * nfs_snapshot.c — NFS snapshots, restores and clones: copies of a volume's directory
 * made over libnfs (nfs_copy.c), no mount needed.
 *
 * Why a directory copy and not a tar archive (as csi-driver-nfs makes): a tar stream is
 * one sequential writer and needs a tar encoder and decoder of our own (long names,
 * big uids, devices, hard links, sparse files); a directory copy runs on several
 * connections at once, lets the server keep every owner, mode and link type natively,
 * keeps holes, and an administrator can inspect or recover a snapshot with ls and cp.
 * It costs as many inodes as the volume and is not compressed.
 *
 * Layout, on the share of the volume (never inside a volume: a subDir whose first
 * component is .pvnode-snapshots is refused, and a volume that is a whole share cannot
 * be snapshotted):
 *
 *   <share>/.pvnode-snapshots/                root, 0700
 *   <share>/.pvnode-snapshots/<snap>/         a finished snapshot:
 *       origin                                "volume <name>\nsubDir <subDir>\n"
 *       data/                                 the copy of the volume's root
 *   <share>/.pvnode-snapshots/<snap>~partial/ a snapshot being made
 *   <share>/.pvnode-snapshots/~restore-<pv>/  a restore or clone being made
 *   <share>/.pvnode-snapshots/~made-<pv>      which source a restored or cloned volume's
 *                                             directory was made from (a retry after a
 *                                             kill past the rename is then a success)
 *
 * Atomic: a copy goes into its temporary name and is renamed into place when it is
 * complete (every file flushed with COMMIT first), so a killed copy never leaves
 * something that looks finished; the next attempt deletes the leftovers ('~' cannot be
 * in a snapshot or volume name, so temporary names never collide with real ones). The
 * copy of a volume in use is file by file, not one instant: quiesce writers (or freeze
 * the application) for a consistent snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nfsc/libnfs.h>

#include "pvnode/util.h"
#include "nfs_copy.h"
#include "nfs_driver.h"

#define AREA "/" PVNFS_SNAPSHOT_DIR

static bool snap_name_ok(const char *name)
{
	return name[0] && name[0] != '.' && strlen(name) <= PV_NAME_MAX && pvnfs_relpath_clean(name) &&
	       !strchr(name, '/') && !strchr(name, '~');
}

/* <share>/.pvnode-snapshots exists as a real directory (made root-only if missing). */
static int ensure_area(struct nfs_context *nfs, const struct pvnfs_cfg *cfg, struct pv_err *err)
{
	struct nfs_stat_64 st;
	int r = nfs_lstat64(nfs, AREA, &st);

	if (r == -ENOENT) {
		r = nfs_mkdir2(nfs, AREA, 0700);
		if (r < 0 && r != -EEXIST)
			return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot create %s%s on %s: %s",
					  cfg->share, AREA, cfg->host, nfs_get_error(nfs));
		r = nfs_lstat64(nfs, AREA, &st);
	}
	if (r < 0)
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot look up %s%s on %s: %s", cfg->share,
				  AREA, cfg->host, nfs_get_error(nfs));
	if (!S_ISDIR(st.nfs_mode))
		return pv_err_set(err, -ENOTDIR, PV_E_INVALID,
				  "%s%s on %s is not a directory (a symbolic link?); refusing to use it", cfg->share,
				  AREA, cfg->host);
	/* Only root may see or change snapshots: take back one someone else made or opened. */
	if (st.nfs_uid != 0 || st.nfs_gid != 0 || (st.nfs_mode & 07777) != 0700) {
		pv_warn("%s%s on %s was owned %llu:%llu mode %llo; making it root's, 0700", cfg->share, AREA,
			cfg->host, (unsigned long long)st.nfs_uid, (unsigned long long)st.nfs_gid,
			(unsigned long long)(st.nfs_mode & 07777));
		if ((r = nfs_lchown(nfs, AREA, 0, 0)) < 0 || (r = nfs_chmod(nfs, AREA, 0700)) < 0)
			return pv_err_set(err, r, pv_err_kind_from_errno(r),
					  "cannot make %s%s on %s root's with mode 0700 (does the export squash root?): %s",
					  cfg->share, AREA, cfg->host, nfs_get_error(nfs));
	}
	return 0;
}

static int read_small(struct nfs_context *nfs, const char *path, char *buf, size_t len)
{
	struct nfsfh *fh;
	int r = nfs_open(nfs, path, O_RDONLY | O_NOFOLLOW, &fh);

	if (r < 0)
		return r;
	r = nfs_pread(nfs, fh, 0, len - 1, buf);
	nfs_close(nfs, fh);
	if (r < 0)
		return r;
	buf[r] = '\0';
	return 0;
}

static int write_small(struct nfs_context *nfs, const char *path, const char *text, struct pv_err *err)
{
	struct nfsfh *fh;
	int r = nfs_create(nfs, path, O_WRONLY | O_CREAT | O_EXCL, 0600, &fh);

	if (r < 0)
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot create %s: %s", path, nfs_get_error(nfs));
	r = nfs_pwrite(nfs, fh, 0, strlen(text), text);
	if (r >= 0)
		r = nfs_fsync(nfs, fh);
	nfs_close(nfs, fh);
	return r < 0 ? pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot write %s: %s", path, nfs_get_error(nfs))
		     : 0;
}

static int set_snapshot_attrs(struct pv_snapshot *snap, const struct pvnfs_cfg *cfg, struct pv_err *err)
{
	char path[PV_NAME_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", PVNFS_SNAPSHOT_DIR, snap->name);
	if (pv_map_set(&snap->attributes, "server", cfg->host) < 0 ||
	    pv_map_set(&snap->attributes, "share", cfg->share) < 0 ||
	    pv_map_set(&snap->attributes, "path", path) < 0)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	snap->ready = true;
	return 0;
}

int pvnfs_snapshot_create(const struct pv *pv, struct pv_snapshot *snap, const struct pv_secrets *s,
			  const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	struct nfs_context *nfs = NULL;
	char final[PV_NAME_MAX + 64], partial[PV_NAME_MAX + 80], data[PV_NAME_MAX + 96], src[1100];
	char origin[1400], found[1400], what[PV_NAME_MAX * 2 + 32];
	size_t missing, total = 1;
	struct nfs_stat_64 st;
	int r;

	(void)s;
	if ((r = pvnfs_cfg_from_pv(pv, &cfg, err)) < 0)
		return r;
	if (!snap_name_ok(snap->name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "snapshot name \"%s\" cannot name a directory on the share", snap->name);
	if (!cfg.subdir[0])
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s is the whole share %s: NFS snapshots live on the share beside the "
				  "volume's directory, so only a volume with a subDir can be snapshotted",
				  pv->name, cfg.share);
	for (const char *p = cfg.subdir; *p; p++)
		total += *p == '/';
	snprintf(final, sizeof(final), "%s/%s", AREA, snap->name);
	snprintf(partial, sizeof(partial), "%s~partial", final);
	snprintf(data, sizeof(data), "%s/data", partial);
	snprintf(src, sizeof(src), "/%s", cfg.subdir);
	snprintf(origin, sizeof(origin), "volume %s\nsubDir %s\n", pv->name, cfg.subdir);
	snprintf(what, sizeof(what), "volume %s to snapshot %s", pv->name, snap->name);

	if ((r = pvnfs_open_share(&cfg, cfg.timeout_ms, &nfs, err)) < 0)
		return r;
	if ((r = pvnfs_walk_checked(nfs, cfg.subdir, &missing, err)) < 0)
		goto out;
	if (missing < total) {
		r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "the directory of volume %s (%s/%s on %s) does not exist",
			       pv->name, cfg.share, cfg.subdir, cfg.host);
		goto out;
	}
	if ((r = ensure_area(nfs, &cfg, err)) < 0)
		goto out;
	/* Done before (a repeat, or killed after the rename and before the record)? */
	r = nfs_lstat64(nfs, final, &st);
	if (r == 0) {
		char op[1100];
		snprintf(op, sizeof(op), "%s/origin", final);
		if (!S_ISDIR(st.nfs_mode) || read_small(nfs, op, found, sizeof(found)) < 0 || strcmp(found, origin) != 0) {
			r = pv_err_set(err, -EEXIST, PV_E_EXISTS,
				       "%s%s on %s already holds another snapshot called %s", cfg.share, final,
				       cfg.host, snap->name);
			goto out;
		}
		r = set_snapshot_attrs(snap, &cfg, err);
		goto out;
	}
	if (r != -ENOENT) {
		r = pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot look up %s%s: %s", cfg.share, final,
			       nfs_get_error(nfs));
		goto out;
	}
	/* A killed attempt's leftovers. */
	if (nfs_lstat64(nfs, partial, &st) == 0)
		pv_info("snapshot %s: removing the unfinished copy %s%s of an earlier attempt", snap->name,
			cfg.share, partial);
	if ((r = pvnfs_remove_tree(nfs, partial, err)) < 0)
		goto out;
	r = nfs_mkdir2(nfs, partial, 0700);
	if (r < 0) {
		r = pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot create %s%s: %s", cfg.share, partial,
			       nfs_get_error(nfs));
		goto out;
	}
	struct pvnfs_copy c = { .src = &cfg, .src_path = src, .dst = &cfg, .dst_path = data,
				.copy_root_attrs = true, .progress = n && n->progress, .what = what };
	snprintf(found, sizeof(found), "%s/origin", partial);
	if ((r = write_small(nfs, found, origin, err)) < 0 || (r = pvnfs_copy_tree(&c, err)) < 0)
		goto cleanup;
	pvnfs_fault_point("nfs-snapshot-before-rename");
	r = nfs_rename(nfs, partial, final);
	if (r < 0) {
		r = pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot rename %s%s to %s: %s", cfg.share, partial,
			       final, nfs_get_error(nfs));
		goto cleanup;
	}
	pv_info("snapshot %s of volume %s: %llu files, %llu directories, %llu MiB copied in %.1f s%s", snap->name,
		pv->name, (unsigned long long)c.files, (unsigned long long)c.dirs,
		(unsigned long long)(c.bytes >> 20), c.seconds,
		c.skipped ? " (some files changed while copying were skipped)" : "");
	if (!snap->size)
		snap->size = pv->capacity;
	r = set_snapshot_attrs(snap, &cfg, err);
	goto out;
cleanup: {
	struct pv_err ignored = { 0 };
	pvnfs_remove_tree(nfs, partial, &ignored);
}
out:
	nfs_destroy_context(nfs);
	return r;
}

int pvnfs_snapshot_delete(const struct pv_snapshot *snap, const struct pv_secrets *s, const struct pv_node_ctx *n,
			  struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	struct nfs_context *nfs = NULL;
	char final[PV_NAME_MAX + 64], partial[PV_NAME_MAX + 80];
	struct nfs_stat_64 st;
	int r;

	(void)s;
	(void)n;
	if ((r = pvnfs_cfg_from_pv(&snap->origin, &cfg, err)) < 0)
		return r;
	if (!snap_name_ok(snap->name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "snapshot name \"%s\" is not valid", snap->name);
	snprintf(final, sizeof(final), "%s/%s", AREA, snap->name);
	snprintf(partial, sizeof(partial), "%s~partial", final);
	if ((r = pvnfs_open_share(&cfg, cfg.timeout_ms, &nfs, err)) < 0)
		return r;
	r = nfs_lstat64(nfs, AREA, &st);
	if (r == -ENOENT) {
		r = 0; /* never made, or gone */
		goto out;
	}
	if (r < 0) {
		r = pv_err_set(err, r, PV_E_UNAVAILABLE, "cannot look at %s%s on %s: %s", cfg.share, AREA, cfg.host,
			       nfs_get_error(nfs));
		goto out;
	}
	if (!S_ISDIR(st.nfs_mode)) {
		r = pv_err_set(err, -ENOTDIR, PV_E_INVALID, "%s%s on %s is not a directory; refusing to delete in it",
			       cfg.share, AREA, cfg.host);
		goto out;
	}
	/* out of sight in one step, then removed: a delete killed or failed half-way leaves
	 * a ~partial (swept by the next create or delete of the name), never a snapshot
	 * with part of its files that a restore would copy as if it were whole */
	if ((r = pvnfs_remove_tree(nfs, partial, err)) < 0)
		goto out;
	r = nfs_rename(nfs, final, partial);
	if (r < 0 && r != -ENOENT) {
		r = pv_err_set(err, r, PV_E_UNAVAILABLE, "cannot move %s%s on %s aside to delete it: %s", cfg.share,
			       final, cfg.host, nfs_get_error(nfs));
		goto out;
	}
	r = pvnfs_remove_tree(nfs, partial, err);
out:
	nfs_destroy_context(nfs);
	return r;
}

/* The missing parents of cfg->subdir (components from `missing` on), 0755 as provision
 * makes them; not the volume's own directory. */
static int make_parents(struct nfs_context *nfs, const struct pvnfs_cfg *cfg, size_t missing, struct pv_err *err)
{
	char path[1100] = "";
	size_t idx = 0;
	int r;

	for (const char *p = cfg->subdir; *p; idx++) {
		size_t len = strcspn(p, "/");
		size_t pl = strlen(path);

		if (p[len] == '\0')
			break;
		snprintf(path + pl, sizeof(path) - pl, "/%.*s", (int)len, p);
		if (idx >= missing && (r = nfs_mkdir2(nfs, path, 0755)) < 0 && r != -EEXIST)
			return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot create %s%s on %s: %s", cfg->share,
					  path, cfg->host, nfs_get_error(nfs));
		p += len + 1;
	}
	return 0;
}

/* Put the tree at src_cfg:src_path into a new volume directory for `pv`: copy it under
 * <share>/.pvnode-snapshots/~restore-<pv>, give its root what provision gives (the gid,
 * 2770; else 0777), rename it to <share>/<subDir>. */
static int copy_into_new_volume(struct pv *pv, const struct pvnfs_cfg *src_cfg, const char *src_path,
				const char *what, const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	struct nfs_context *nfs = NULL;
	char tmp[PV_NAME_MAX + 64], made[PV_NAME_MAX + 64], path[1100], marker[1400], found[1400];
	size_t missing, total = 1;
	struct nfs_stat_64 st;
	int r;

	if ((r = pvnfs_cfg_from_pv(pv, &cfg, err)) < 0)
		return r;
	if (!cfg.subdir[0]) {
		if (!pvnfs_relpath_clean(pv->name) || !strcmp(pv->name, PVNFS_SNAPSHOT_DIR))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "its name cannot be a directory on the share; set attributes.subDir");
		if (pv_map_set(&pv->attributes, "subDir", pv->name) < 0)
			return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
		snprintf(cfg.subdir, sizeof(cfg.subdir), "%s", pv->name);
	}
	for (const char *p = cfg.subdir; *p; p++)
		total += *p == '/';
	if ((r = pvnfs_open_share(&cfg, cfg.timeout_ms, &nfs, err)) < 0)
		return r;
	if ((r = pvnfs_walk_checked(nfs, cfg.subdir, &missing, err)) < 0)
		goto out;
	snprintf(made, sizeof(made), "%s/~made-%s", AREA, pv->name);
	snprintf(marker, sizeof(marker), "from %s\nsubDir %s\n", what, cfg.subdir);
	if (missing >= total) {
		/* Made by an attempt killed after its rename, before the record was saved? */
		if (read_small(nfs, made, found, sizeof(found)) == 0 && !strcmp(found, marker)) {
			pv_info("volume %s: %s/%s was made from %s by an earlier attempt", pv->name, cfg.share,
				cfg.subdir, what);
			r = 0;
			goto out;
		}
		r = pv_err_set(err, -EEXIST, PV_E_EXISTS,
			       "%s/%s on %s already exists: a volume made from a snapshot or a volume gets a new "
			       "directory (choose another name or subDir, or delete it)", cfg.share, cfg.subdir,
			       cfg.host);
		goto out;
	}
	if ((r = make_parents(nfs, &cfg, missing, err)) < 0)
		goto out;
	if ((r = ensure_area(nfs, &cfg, err)) < 0)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s/~restore-%s", AREA, pv->name);
	if (nfs_lstat64(nfs, tmp, &st) == 0)
		pv_info("volume %s: removing the unfinished copy %s%s of an earlier attempt", pv->name, cfg.share,
			tmp);
	if ((r = pvnfs_remove_tree(nfs, tmp, err)) < 0)
		goto out;
	struct pvnfs_copy c = { .src = src_cfg, .src_path = src_path, .dst = &cfg, .dst_path = tmp,
				.copy_root_attrs = false, .progress = n && n->progress, .what = what };
	if ((r = pvnfs_copy_tree(&c, err)) < 0)
		goto cleanup;
	if (pv->gid >= 0) {
		r = nfs_lchown(nfs, tmp, 0, (int)pv->gid);
		if (r == 0)
			r = nfs_chmod(nfs, tmp, 02770);
	} else {
		r = nfs_chmod(nfs, tmp, 0777);
	}
	if (r < 0) {
		r = pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot set the group and mode of %s%s: %s",
			       cfg.share, tmp, nfs_get_error(nfs));
		goto cleanup;
	}
	/* Says which source made the directory, so that a retry after a kill between the
	 * rename and the catalog record is a success; nfs_provision.c's remove drops it. */
	if ((r = nfs_unlink(nfs, made)) < 0 && r != -ENOENT) {
		r = pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot delete %s%s: %s", cfg.share, made,
			       nfs_get_error(nfs));
		goto cleanup;
	}
	if ((r = write_small(nfs, made, marker, err)) < 0)
		goto cleanup;
	pvnfs_fault_point("nfs-restore-before-rename");
	snprintf(path, sizeof(path), "/%s", cfg.subdir);
	r = nfs_rename(nfs, tmp, path);
	if (r < 0) {
		r = pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot rename %s%s to %s: %s", cfg.share, tmp, path,
			       nfs_get_error(nfs));
		goto cleanup;
	}
	pv_info("volume %s: %llu files, %llu directories, %llu MiB copied from %s in %.1f s", pv->name,
		(unsigned long long)c.files, (unsigned long long)c.dirs, (unsigned long long)(c.bytes >> 20),
		what, c.seconds);
	goto out;
cleanup: {
	struct pv_err ignored = { 0 };
	pvnfs_remove_tree(nfs, tmp, &ignored);
	/* the marker says "this attempt made <subDir>": after a failure it made nothing, and
	 * a retry must not take over a directory someone else put there */
	nfs_unlink(nfs, made);
}
out:
	nfs_destroy_context(nfs);
	return r;
}

/* The source's directory exists and is a real directory all the way down. */
static int check_source(const struct pvnfs_cfg *cfg, const char *rel, const char *what, struct pv_err *err)
{
	struct nfs_context *nfs = NULL;
	size_t missing, total = 1;
	int r;

	for (const char *p = rel; *p; p++)
		total += *p == '/';
	if ((r = pvnfs_open_share(cfg, cfg->timeout_ms, &nfs, err)) < 0)
		return r;
	r = pvnfs_walk_checked(nfs, rel, &missing, err);
	nfs_destroy_context(nfs);
	if (r == 0 && missing < total)
		r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND, "the data of %s (%s/%s on %s) is gone", what, cfg->share,
			       rel, cfg->host);
	return r;
}

int pvnfs_restore(struct pv *pv, const struct pv_snapshot *snap, const struct pv_secrets *s,
		  const struct pv_node_ctx *n, struct pv_err *err)
{
	struct pvnfs_cfg src;
	char rel[PV_NAME_MAX + 64], path[PV_NAME_MAX + 64], what[PV_NAME_MAX + 32];
	int r;

	(void)s;
	if ((r = pvnfs_cfg_from_pv(&snap->origin, &src, err)) < 0)
		return r;
	if (!snap_name_ok(snap->name))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "snapshot name \"%s\" is not valid", snap->name);
	snprintf(rel, sizeof(rel), "%s/%s/data", PVNFS_SNAPSHOT_DIR, snap->name);
	snprintf(path, sizeof(path), "/%s", rel);
	snprintf(what, sizeof(what), "snapshot %s", snap->name);
	if ((r = check_source(&src, rel, what, err)) < 0)
		return r;
	return copy_into_new_volume(pv, &src, path, what, n, err);
}

int pvnfs_clone(struct pv *pv, const struct pv *srcpv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		struct pv_err *err)
{
	struct pvnfs_cfg src, dst;
	char path[1100], what[PV_NAME_MAX + 32];
	int r;

	(void)s;
	if ((r = pvnfs_cfg_from_pv(srcpv, &src, err)) < 0 || (r = pvnfs_cfg_from_pv(pv, &dst, err)) < 0)
		return r;
	if (!src.subdir[0])
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "volume %s is the whole share %s: a clone would contain itself; only a volume "
				  "with a subDir can be cloned", srcpv->name, src.share);
	/* A new volume inside the one it copies would be copied into itself. */
	const char *sub = dst.subdir[0] ? dst.subdir : pv->name;
	size_t sl = strlen(src.subdir);
	if (!strcmp(src.host, dst.host) && !strcmp(src.share, dst.share) && !strncmp(sub, src.subdir, sl) &&
	    sub[sl] == '/')
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "subDir %s is inside volume %s (%s): a clone cannot "
				  "live inside its source", sub, srcpv->name, src.subdir);
	snprintf(path, sizeof(path), "/%s", src.subdir);
	snprintf(what, sizeof(what), "volume %s", srcpv->name);
	if ((r = check_source(&src, src.subdir, what, err)) < 0)
		return r;
	return copy_into_new_volume(pv, &src, path, what, n, err);
}
