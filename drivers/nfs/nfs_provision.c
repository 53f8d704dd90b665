/*
 * nfs_provision.c — volume directories on the share, over libnfs (no mount needed):
 * `pvctl create` / CreateVolume make <share>/<subDir> (subDir defaults to the volume
 * name) owned by the PV's gid with mode 2770 (setgid), or 0777 without a gid;
 * `pvctl delete` / DeleteVolume deletes it, keeps it (onDelete=retain) or renames it to
 * archived-<name>-<time> (onDelete=archive); `create --existing` only checks that the
 * share and subDir are there. Every component is checked with lstat on
 * the way down and no symlink is ever followed, so nothing outside the share (or in a
 * sibling volume) is touched. Both operations are idempotent. Expanding only records
 * the new nominal capacity.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nfsc/libnfs.h>

#include "nfs.h"
#include "nfs_copy.h"
#include "nfs_driver.h"

int pvnfs_open_share(const struct pvnfs_cfg *cfg, int timeout_ms, struct nfs_context **nfs,
		     struct pv_err *err)
{
	char e[512];
	int r = pvnfs_connect(cfg->host, cfg->port, cfg->share, timeout_ms, nfs, e, sizeof(e));

	if (r < 0)
		return pv_err_set(err, r, r == -EACCES || r == -ENOENT ? PV_E_INVALID : PV_E_UNAVAILABLE,
				  "%s", e);
	return 0;
}

static size_t count_components(const char *rel)
{
	size_t n = 1;

	for (const char *p = rel; *p; p++)
		n += *p == '/';
	return n;
}

/* Registration (create --existing): the share answers and, with subDir, every component
 * of it is a directory (no symlink) that exists. Nothing is created or changed — no
 * subDir is invented, no mkdir, chown or chmod — so a read-only export registers too
 * (stage mounts it read-only). Without subDir the volume is the whole share. */
int pvnfs_check_existing(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
			 struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	struct nfs_context *nfs = NULL;
	struct nfs_stat_64 st;
	size_t missing;
	int r;

	(void)s;
	(void)n;
	if ((r = pvnfs_cfg_from_pv(pv, &cfg, err)) < 0 ||
	    (r = pvnfs_open_share(&cfg, cfg.timeout_ms, &nfs, err)) < 0)
		return r;
	if (cfg.subdir[0]) {
		r = pvnfs_walk_checked(nfs, cfg.subdir, &missing, err);
		if (r == 0 && missing < count_components(cfg.subdir))
			r = pv_err_set(err, -ENOENT, PV_E_NOT_FOUND,
				       "directory %s/%s does not exist on %s (register a directory that is there; "
				       "without --existing, create makes it)", cfg.share, cfg.subdir, cfg.host);
	} else if ((r = nfs_stat64(nfs, "/", &st)) < 0 || !S_ISDIR(st.nfs_mode)) {
		r = pv_err_set(err, r < 0 ? r : -ENOTDIR, PV_E_INVALID, "the root of %s on %s is not a directory: %s",
			       cfg.share, cfg.host, r < 0 ? nfs_get_error(nfs) : "wrong type");
	}
	nfs_destroy_context(nfs);
	return r;
}

int pvnfs_provision(struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		    struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	struct nfs_context *nfs = NULL;
	struct nfs_stat_64 st;
	char path[1100];
	size_t missing, idx = 0;
	const char *p;
	int r;

	(void)s;
	(void)n;
	if ((r = pvnfs_cfg_from_pv(pv, &cfg, err)) < 0)
		return r;
	if (!cfg.subdir[0]) {
		if (!pvnfs_relpath_clean(pv->name) || pvnfs_subdir_reserved(pv->name))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "its name cannot be a directory on the share; set attributes.subDir");
		if (pv_map_set(&pv->attributes, "subDir", pv->name) < 0)
			return pv_err_set(err, -ENOMEM, PV_E_INTERNAL, "out of memory");
		snprintf(cfg.subdir, sizeof(cfg.subdir), "%s", pv->name);
	}
	if ((r = pvnfs_open_share(&cfg, cfg.timeout_ms, &nfs, err)) < 0)
		goto out;
	if ((r = pvnfs_walk_checked(nfs, cfg.subdir, &missing, err)) < 0)
		goto out;
	/* Create what is missing, one component at a time; parents 0755, the volume root
	 * with the gid and 2770 (or 0777). */
	path[0] = '\0';
	for (p = cfg.subdir; *p; idx++) {
		size_t len = strcspn(p, "/");
		bool last = p[len] == '\0';
		size_t pl = strlen(path);

		snprintf(path + pl, sizeof(path) - pl, "/%.*s", (int)len, p);
		if (idx >= missing) {
			r = nfs_mkdir2(nfs, path, last ? 0770 : 0755);
			if (r < 0 && r != -EEXIST) {
				pv_err_set(err, r, pv_err_kind_from_errno(r),
					   "cannot create %s%s on %s: %s",
					   cfg.share, path, cfg.host, nfs_get_error(nfs));
				goto out;
			}
		}
		p += len + (last ? 0 : 1);
	}
	/* Check the root again with lstat: something may have raced us into a symlink. */
	r = nfs_lstat64(nfs, path, &st);
	if (r == 0 && !S_ISDIR(st.nfs_mode))
		r = -ENOTDIR;
	if (r < 0) {
		pv_err_set(err, r, PV_E_INVALID, "%s%s on %s is not a directory",
			   cfg.share, path, cfg.host);
		goto out;
	}
	if (pv->gid >= 0) {
		if (missing >= idx && st.nfs_gid != (uint64_t)pv->gid && st.nfs_gid != 0) {
			r = pv_err_set(err, -EEXIST, PV_E_EXISTS,
				       "%s%s on %s already exists with group %llu, not "
				       "the volume's gid %ld", cfg.share, path, cfg.host,
				       (unsigned long long)st.nfs_gid, pv->gid);
			goto out;
		}
		r = nfs_lchown(nfs, path, (int)st.nfs_uid, (int)pv->gid);
		if (r == 0)
			r = nfs_chmod(nfs, path, 02770);
	} else if (missing < idx) {
		r = nfs_chmod(nfs, path, 0777);
	}
	if (r < 0) {
		pv_err_set(err, r, pv_err_kind_from_errno(r),
			   "cannot set group %ld and mode 2770 on %s%s: %s",
			   pv->gid, cfg.share, path, nfs_get_error(nfs));
		goto out;
	}
	r = 0;
out:
	if (nfs)
		nfs_destroy_context(nfs);
	return r;
}


int pvnfs_remove(const struct pv *pv, const struct pv_secrets *s, const struct pv_node_ctx *n,
		 struct pv_err *err)
{
	struct pvnfs_cfg cfg;
	struct nfs_context *nfs = NULL;
	char path[1100], archived[1200];
	size_t missing;
	int r;

	(void)s;
	(void)n;
	if ((r = pvnfs_cfg_from_pv(pv, &cfg, err)) < 0)
		return r;
	/* Never delete a whole share; retained volumes stay as they are. */
	if (!cfg.subdir[0] || cfg.on_delete == PVNFS_RETAIN)
		return 0;
	if ((r = pvnfs_open_share(&cfg, cfg.timeout_ms, &nfs, err)) < 0)
		goto out;
	if ((r = pvnfs_walk_checked(nfs, cfg.subdir, &missing, err)) < 0)
		goto out;
	r = 0;
	if (missing < count_components(cfg.subdir))
		goto out; /* already gone */
	snprintf(path, sizeof(path), "/%s", cfg.subdir);
	if (cfg.on_delete == PVNFS_ARCHIVE) {
		char *slash = strrchr(path, '/');
		snprintf(archived, sizeof(archived), "%.*s/archived-%s-%lld", (int)(slash - path),
			 path, slash + 1, (long long)time(NULL));
		r = nfs_rename(nfs, path, archived);
		if (r < 0)
			pv_err_set(err, r, pv_err_kind_from_errno(r),
				   "cannot archive %s%s as %s: %s", cfg.share,
				   path, archived, nfs_get_error(nfs));
		goto out;
	}
	r = pvnfs_remove_tree(nfs, path, err);
	if (r == 0) {
		/* A restored or cloned volume's note of its source (nfs_snapshot.c). */
		char made[PV_NAME_MAX + 64];
		snprintf(made, sizeof(made), "/%s/~made-%s", PVNFS_SNAPSHOT_DIR, pv->name);
		nfs_unlink(nfs, made);
	}
out:
	if (nfs)
		nfs_destroy_context(nfs);
	return r;
}

/* NFS has no per-volume size to grow: the capacity is a nominal figure (quotas, if any,
 * are the server's business), so expanding records the new size and nothing more. */
int pvnfs_expand(struct pv *pv, uint64_t bytes, const struct pv_secrets *s,
		 const struct pv_node_ctx *n, struct pv_err *err)
{
	(void)s;
	(void)n;
	(void)err;
	if (bytes > pv->capacity)
		pv->capacity = bytes;
	return 0;
}
