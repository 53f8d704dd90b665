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

/* Call `fn` with each line of /proc/self/mountinfo until it returns false; -errno
 * when the table cannot be read. */
static int each_mount(bool (*fn)(char *line, void *ud), void *ud)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0 && fn(line, ud))
		;
	free(line);
	fclose(f);
	return 0;
}

struct of_dev {
	dev_t dev;
	const char *root_name;
	void (*cb)(const char *mnt, bool ro, void *ud);
	void *ud;
	int n;
};

static bool of_dev_line(char *line, void *ud)
{
	struct of_dev *q = ud;
	char majmin[32], root[PATH_MAX], mnt[PATH_MAX], opts[256], *colon, *end;

	if (sscanf(line, "%*s %*s %31s %4095s %4095s %255s", majmin, root, mnt, opts) != 4 ||
	    !(colon = strchr(majmin, ':')))
		return true;
	unsigned long maj = strtoul(majmin, &end, 10), min = strtoul(colon + 1, NULL, 10);
	pv_mountinfo_unescape(root);
	pv_mountinfo_unescape(mnt);
	/* a filesystem of the device (any root), or a bind of the device node itself
	 * (root "/<name>" on devtmpfs) */
	bool match = q->root_name ? strcmp(root + 1, q->root_name) == 0 && root[0] == '/' : makedev(maj, min) == q->dev;
	if (match) {
		q->n++;
		if (q->cb)
			q->cb(mnt, strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || !opts[2]), q->ud);
	}
	return true;
}

int pv_mounts_of_dev(dev_t dev, const char *root_name, void (*cb)(const char *mnt, bool ro, void *ud), void *ud)
{
	struct of_dev q = { .dev = dev, .root_name = root_name, .cb = cb, .ud = ud };
	int r = each_mount(of_dev_line, &q);
	return r < 0 ? r : q.n;
}

struct source_of {
	unsigned long long mnt_id;
	char *fstype, *source;
	size_t flen, slen;
	bool found;
};

static bool source_of_line(char *line, void *ud)
{
	struct source_of *q = ud;
	char *sep = strstr(line, " - "), type[64], src[PATH_MAX], *end;
	unsigned long long id = strtoull(line, &end, 10);

	if (!sep || end == line || *end != ' ' || id != q->mnt_id || sscanf(sep + 3, "%63s %4095s", type, src) != 2)
		return true;
	pv_mountinfo_unescape(src);
	snprintf(q->fstype, q->flen, "%s", type);
	snprintf(q->source, q->slen, "%s", src);
	q->found = true;
	return false;
}

int pv_mount_source_of(unsigned long long mnt_id, char *fstype, size_t flen, char *source, size_t slen)
{
	struct source_of q = { .mnt_id = mnt_id, .fstype = fstype, .source = source, .flen = flen, .slen = slen };
	int r = each_mount(source_of_line, &q);
	return r < 0 ? r : q.found ? 0 : -ENOENT;
}

struct super_options {
	const char *path;
	char *buf;
	size_t len;
	bool found;
};

static bool super_options_line(char *line, void *ud)
{
	struct super_options *q = ud;
	char mnt[PATH_MAX], *sep = strstr(line, " - "), type[64], src[PATH_MAX], sup[1024];

	if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
		return true;
	pv_mountinfo_unescape(mnt);
	if (strcmp(mnt, q->path) != 0 || sscanf(sep + 3, "%63s %4095s %1023s", type, src, sup) != 3)
		return true;
	snprintf(q->buf, q->len, "%s", sup); /* the last (topmost) mount wins: read on */
	q->found = true;
	return true;
}

int pv_mount_super_options(const char *path, char *buf, size_t len)
{
	struct super_options q = { .path = path, .buf = buf, .len = len };
	int r = each_mount(super_options_line, &q);
	return r < 0 ? r : q.found ? 0 : -ENOENT;
}
