/*
 * mountinfo.c — look-ups in /proc/self/mountinfo: is a path mounted, from what, with
 * which type, read-only or not. Mount points are unescaped (\040 etc.).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "pvnode/driver/os.h"

/* mountinfo escapes space, tab, newline and backslash as \\ooo. */
void pv_mountinfo_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

bool pv_is_mountpoint(const char *path)
{
	char sup[1024];
	return pv_mount_super_options(path, sup, sizeof(sup)) == 0;
}

int pv_mounts_of_dev(dev_t dev, const char *root_name, void (*cb)(const char *mnt, bool ro, void *ud), void *ud)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char majmin[32], root[PATH_MAX], mnt[PATH_MAX], opts[256], *colon, *end;
		if (sscanf(line, "%*s %*s %31s %4095s %4095s %255s", majmin, root, mnt, opts) != 4 ||
		    !(colon = strchr(majmin, ':')))
			continue;
		unsigned long maj = strtoul(majmin, &end, 10), min = strtoul(colon + 1, NULL, 10);
		pv_mountinfo_unescape(root);
		pv_mountinfo_unescape(mnt);
		/* a filesystem of the device (any root), or a bind of the device node itself
		 * (root "/<name>" on devtmpfs) */
		bool match = root_name ? strcmp(root + 1, root_name) == 0 && root[0] == '/'
				       : makedev(maj, min) == dev;
		if (!match)
			continue;
		n++;
		if (cb)
			cb(mnt, strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || !opts[2]), ud);
	}
	free(line);
	fclose(f);
	return n;
}

int pv_mount_source_of(unsigned long long mnt_id, char *fstype, size_t flen, char *source, size_t slen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (found < 0 && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), type[64], src[PATH_MAX], *end;
		unsigned long long id = strtoull(line, &end, 10);
		if (!sep || end == line || *end != ' ' || id != mnt_id ||
		    sscanf(sep + 3, "%63s %4095s", type, src) != 2)
			continue;
		pv_mountinfo_unescape(src);
		snprintf(fstype, flen, "%s", type);
		snprintf(source, slen, "%s", src);
		found = 0;
	}
	free(line);
	fclose(f);
	return found;
}

int pv_mount_super_options(const char *path, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char mnt[PATH_MAX], *sep = strstr(line, " - "), type[64], src[PATH_MAX], sup[1024];
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		pv_mountinfo_unescape(mnt);
		if (strcmp(mnt, path) != 0 || sscanf(sep + 3, "%63s %4095s %1023s", type, src, sup) != 3)
			continue;
		snprintf(buf, len, "%s", sup); /* the last (topmost) mount wins */
		found = 0;
	}
	free(line);
	fclose(f);
	return found;
}
