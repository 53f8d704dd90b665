/*
 * fssize.c — filesystem sizes: the smallest filesystem mkfs makes, checked at create so
 * that a volume the first stage would fail to format is never made.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os_int.h"
#include "pvnode/driver/os.h"

#define MIB (1024ull * 1024)
/* mke2fs gives a filesystem of fewer than 2048 blocks of 4 KiB no journal ("Filesystem
 * too small for a journal"), and pvnode formats with -b 4096. */
#define EXT4_MIN (8 * MIB)
/* xfsprogs 5.19 and later refuse data sections under 300 MiB; before, one 16 MiB
 * allocation group was the floor. */
#define XFS_MIN (300 * MIB)
#define XFS_MIN_BEFORE_5_19 (16 * MIB)

/* The minimum the installed mkfs.xfs states: a dry run (-N writes nothing) over a
 * 16 MiB memory file it refuses with "Filesystem must be larger than 300MB." (MiB).
 * 0 when it states none (older versions accept 16 MiB). */
static uint64_t xfs_min_stated(void)
{
	_cleanup_(pv_closep) int fd = memfd_create("pvnode-mkfs-probe", MFD_CLOEXEC);
	_cleanup_(pv_freep) char *out = NULL;
	const char *hit, *needle = "must be larger than ";
	char *end;

	if (fd < 0 || ftruncate(fd, (off_t)(16 * MIB)) < 0)
		return 0;
	int keep[] = { fd };
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -2, .stderr_fd = -2, .keep_fds = keep,
				   .n_keep_fds = 1, .timeout_ms = 10000 };
	const char *argv[] = { "mkfs.xfs", "-N", "-f", "/proc/self/fd/3", NULL };
	if (pv_spawn_run(argv, &o, &out, NULL) <= 0 || !out)
		return 0;
	if (!(hit = strstr(out, needle)))
		return 0;
	hit += strlen(needle);
	unsigned long long mb = strtoull(hit, &end, 10);
	if (end == hit || strncmp(end, "MB", 2) != 0 || mb > (1ull << 40))
		return 0;
	return mb * MIB;
}

/* "mkfs.xfs version 6.1.0" → 6001 (major * 1000 + minor); 0 unknown, -1 not installed. */
static int xfs_version(void)
{
	_cleanup_(pv_freep) char *out = NULL;
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -2, .stderr_fd = -2, .timeout_ms = 10000 };
	const char *argv[] = { "mkfs.xfs", "-V", NULL };
	const char *v;
	char *end;

	if (pv_spawn_run(argv, &o, &out, NULL) < 0)
		return -1;
	if (!out || !(v = strstr(out, "version ")))
		return 0;
	long major = strtol(v + 8, &end, 10);
	long minor = *end == '.' ? strtol(end + 1, NULL, 10) : -1;
	if (end == v + 8 || major < 0 || major > 999 || minor < 0 || minor > 999)
		return 0;
	return (int)(major * 1000 + minor);
}

int pv_fs_minimum(const char *fstype, uint64_t *bytes, char *source, size_t len)
{
	*bytes = 0;
	snprintf(source, len, "-");
	if (strcmp(fstype, "ext4") == 0) {
		*bytes = EXT4_MIN;
		snprintf(source, len, "mke2fs makes no journal on fewer than 2048 blocks of 4 KiB");
		return 0;
	}
	if (strcmp(fstype, "xfs") != 0)
		return 0;
	if ((*bytes = xfs_min_stated())) {
		snprintf(source, len, "the minimum the installed mkfs.xfs states");
		return 0;
	}
	int v = xfs_version();
	if (v < 0) {
		*bytes = XFS_MIN;
		snprintf(source, len, "mkfs.xfs of xfsprogs 5.19 or later; it is not installed on this node");
	} else if (v == 0 || v >= 5019) {
		*bytes = XFS_MIN;
		snprintf(source, len, "mkfs.xfs of xfsprogs 5.19 or later");
	} else {
		*bytes = XFS_MIN_BEFORE_5_19;
		snprintf(source, len, "mkfs.xfs of xfsprogs %d.%d", v / 1000, v % 1000);
	}
	return 0;
}

