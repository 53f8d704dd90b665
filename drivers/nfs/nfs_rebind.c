/*
 * nfs_rebind.c — carry publish targets over to a restarted FUSE helper.
 *
 * When pvnode-nfs-fuse dies, its mount at the staging path and every bind mount the
 * engine made from it (the publish targets) answer "Transport endpoint is not
 * connected". They all share the dead FUSE connection's device number in
 * /proc/self/mountinfo, which is how reattach finds them without knowing the journal:
 * before the restart it records them, after it binds the new staging mount over each
 * (keeping ro, nosuid, nodev, noexec), so published workloads see the volume again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "pvnode/util.h"
#include "nfs_rebind.h"

static bool has_flag(const char *opts, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = opts; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncmp(p, flag, n) == 0)
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

int pvnfs_binds_of(const char *staging, struct pvnfs_binds *b)
{
	return pvnfs_binds_in("/proc/self/mountinfo", staging, b);
}

int pvnfs_binds_in(const char *mountinfo, const char *staging, struct pvnfs_binds *b)
{
	FILE *f = fopen(mountinfo, "re");
	char *line = NULL, dev[32] = "";
	size_t cap = 0;

	memset(b, 0, sizeof(*b));
	if (!f)
		return -errno;
	/* First pass: the device of the (last) mount at the staging path. */
	while (getline(&line, &cap, f) > 0) {
		char d[32], root[PATH_MAX], mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %31s %4095s %4095s", d, root, mp) != 3)
			continue;
		pv_mountinfo_unescape(mp);
		if (strcmp(mp, staging) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	if (!dev[0])
		goto out;
	rewind(f);
	while (getline(&line, &cap, f) > 0 && b->n < PVNFS_MAX_BINDS) {
		char d[32], root[PATH_MAX], mp[PATH_MAX], opts[256];
		struct pvnfs_bind *x;

		if (sscanf(line, "%*s %*s %31s %4095s %4095s %255s", d, root, mp, opts) != 4 ||
		    strcmp(d, dev) != 0)
			continue;
		pv_mountinfo_unescape(mp);
		pv_mountinfo_unescape(root);
		if (strcmp(mp, staging) == 0)
			continue;
		x = &b->items[b->n++];
		snprintf(x->target, sizeof(x->target), "%s", mp);
		snprintf(x->root, sizeof(x->root), "%s", root);
		x->flags = (has_flag(opts, "ro") ? MS_RDONLY : 0) |
			   (has_flag(opts, "nosuid") ? MS_NOSUID : 0) |
			   (has_flag(opts, "nodev") ? MS_NODEV : 0) |
			   (has_flag(opts, "noexec") ? MS_NOEXEC : 0);
	}
out:
	free(line);
	fclose(f);
	return 0;
}

int pvnfs_rebind(const char *staging, const struct pvnfs_binds *b, struct pv_err *err)
{
	int r = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct pvnfs_bind *x = &b->items[i];
		char src[PATH_MAX * 2];

		snprintf(src, sizeof(src), "%s%s", staging, strcmp(x->root, "/") ? x->root : "");
		umount2(x->target, MNT_DETACH);
		if (mount(src, x->target, NULL, MS_BIND, NULL) < 0 ||
		    (x->flags && mount(NULL, x->target, NULL, MS_REMOUNT | MS_BIND | x->flags, NULL) < 0)) {
			r = pv_err_set(err, -errno, PV_E_INTERNAL,
				       "cannot bind the restarted NFS mount %s to %s again: %m", src,
				       x->target);
			continue;
		}
		pv_info("nfs: publish target %s bound to the restarted helper's mount again", x->target);
	}
	return r;
}
