/*
 * mountinfo.c — look-ups in /proc/self/mountinfo: is a path mounted, from what, with
 * which type, read-only or not. Mount points are unescaped (\040 etc.).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Finds the last (topmost) mount at `path`. */
int pv_mount_info(const char *path, char *source, size_t slen, char *fstype, size_t flen, bool *readonly)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *mnt = NULL, *opts = NULL, *type = NULL, *src = NULL;
		int field = 0;
		bool after_sep = false;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
			if (field == 4)
				mnt = tok;
			else if (field == 5)
				opts = tok;
			else if (field > 5 && !after_sep && strcmp(tok, "-") == 0)
				after_sep = true, field = 100;
			else if (after_sep && field == 101)
				type = tok;
			else if (after_sep && field == 102)
				src = tok;
		}
		if (!mnt || !opts)
			continue;
		pv_mountinfo_unescape(mnt);
		if (strcmp(mnt, path) != 0)
			continue;
		found = 0;
		if (source) {
			if (src)
				pv_mountinfo_unescape(src);
			snprintf(source, slen, "%s", src ? src : "");
		}
		if (fstype)
			snprintf(fstype, flen, "%s", type ? type : "");
		if (readonly)
			*readonly = strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || opts[2] == '\0');
	}
	free(line);
	fclose(f);
	return found;
}

bool pv_is_mountpoint(const char *path)
{
	return pv_mount_info(path, NULL, 0, NULL, 0, NULL) == 0;
}
