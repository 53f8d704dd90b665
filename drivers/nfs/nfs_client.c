/*
 * nfs_client.c — libnfs plumbing shared by the driver and its FUSE helper: connect a
 * context over NFSv3 with a bounded RPC timeout, and walk a relative path below the
 * mount root component by component, refusing symlinks and non-directories, so that no
 * subDir or volume name can lead outside the share (CVE-2026-3864 in the Go driver).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>

#include "nfs.h"

int pvnfs_connect(const char *host, int port, const char *export, int timeout_ms,
		  struct nfs_context **out, char *errbuf, size_t errlen)
{
	struct nfs_context *nfs = nfs_init_context();
	char url[1600];
	struct nfs_url *u = NULL;
	int r;

	*out = NULL;
	if (!nfs) {
		snprintf(errbuf, errlen, "cannot create an NFS context");
		return -ENOMEM;
	}
	/* The URL parser applies nfsport= and version= to the context. */
	if (strchr(host, ':'))
		r = snprintf(url, sizeof(url), "nfs://[%s]%s?version=3", host, export);
	else
		r = snprintf(url, sizeof(url), "nfs://%s%s?version=3", host, export);
	if (port > 0 && r > 0 && (size_t)r < sizeof(url))
		r += snprintf(url + r, sizeof(url) - r, "&nfsport=%d", port);
	if (r < 0 || (size_t)r >= sizeof(url)) {
		snprintf(errbuf, errlen, "NFS URL for %s:%s is too long", host, export);
		nfs_destroy_context(nfs);
		return -ENAMETOOLONG;
	}
	u = nfs_parse_url_dir(nfs, url);
	if (!u) {
		snprintf(errbuf, errlen, "cannot parse NFS URL for %s:%s: %s", host, export,
			 nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return -EINVAL;
	}
	if (timeout_ms > 0)
		nfs_set_timeout(nfs, ((timeout_ms + 999) / 1000) * 1000);
	nfs_umask(nfs, 0);
	r = nfs_mount(nfs, u->server, u->path);
	if (r < 0) {
		if (r == -EACCES || r == -ENOENT || r == -EPERM)
			snprintf(errbuf, errlen, "cannot mount %s:%s over NFSv3 (no such export, or "
				 "not exported to this node): %s", host, export, nfs_get_error(nfs));
		else
			snprintf(errbuf, errlen, "cannot mount %s:%s over NFSv3: no NFS server answers "
				 "at %s (port %d) (%s)", host, export, host, port > 0 ? port : 2049,
				 nfs_get_error(nfs));
		nfs_destroy_url(u);
		nfs_destroy_context(nfs);
		return r == -EACCES || r == -ENOENT || r == -EPERM ? r : -EHOSTUNREACH;
	}
	nfs_destroy_url(u);
	*out = nfs;
	return 0;
}

int pvnfs_walk_checked(struct nfs_context *nfs, const char *rel, size_t *missing_from,
		       struct pv_err *err)
{
	char path[1100] = "";
	size_t len = 0, idx = 0;
	const char *p = rel;

	*missing_from = 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		struct nfs_stat_64 st;
		int r;

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "path %s has an empty, '.' or '..' component", rel);
		if (len + 1 + n >= sizeof(path))
			return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID, "path %s is too long", rel);
		path[len++] = '/';
		memcpy(path + len, p, n);
		len += n;
		path[len] = '\0';
		r = nfs_lstat64(nfs, path, &st);
		if (r == -ENOENT) {
			*missing_from = idx;
			return 0;
		}
		if (r < 0)
			return pv_err_set(err, r, pv_err_kind_from_errno(r),
					  "cannot look up %s on the NFS share: %s", path,
					  nfs_get_error(nfs));
		if (S_ISLNK(st.nfs_mode))
			return pv_err_set(err, -ELOOP, PV_E_INVALID,
					  "%s on the NFS share is a symbolic link; refusing to follow it",
					  path);
		if (!S_ISDIR(st.nfs_mode))
			return pv_err_set(err, -ENOTDIR, PV_E_INVALID,
					  "%s on the NFS share is not a directory", path);
		idx++;
		p += n;
		if (*p == '/')
			p++;
	}
	*missing_from = idx;
	return 0;
}

const struct libnfs_fh_fields *pvnfs_fh_fields(struct nfsfh *fh)
{
	const struct libnfs_fh_fields *f = (const void *)nfs_get_fh(fh);

	return f && f->len > 0 && f->len <= 64 && f->val ? f : NULL;
}
