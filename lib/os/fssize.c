/*
 * fssize.c — filesystem sizes: the smallest filesystem mkfs makes (checked at create,
 * so a volume stage would fail to format is never made), the size a filesystem records
 * in its superblock, and growing a filesystem that is smaller than its device before it
 * is mounted (the backend grew while the volume was unstaged: offline expansion).
 *
 * ext4 grows unmounted with e2fsck -f -p + resize2fs, which needs no CAP_SYS_RESOURCE
 * (the online resize ioctl does); xfs grows only mounted, so the caller runs xfs_growfs
 * after the mount.
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

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The size a filesystem records in its superblock, in blocks of *block bytes. */
static int fs_blocks(int fd, const char *fstype, uint64_t *blocks, uint32_t *block)
{
	unsigned char sb[1024];

	if (strcmp(fstype, "ext4") == 0) {
		if (pread(fd, sb, sizeof(sb), 1024) != (ssize_t)sizeof(sb))
			return -EIO;
		if (sb[0x38] != 0x53 || sb[0x39] != 0xef || le32(sb + 0x18) > 6)
			return -EINVAL;
		*block = 1024u << le32(sb + 0x18);
		*blocks = le32(sb + 0x04);
		if (le32(sb + 0x60) & 0x80) /* INCOMPAT_64BIT */
			*blocks |= (uint64_t)le32(sb + 0x150) << 32;
		return 0;
	}
	if (strcmp(fstype, "xfs") == 0) {
		if (pread(fd, sb, 16, 0) != 16)
			return -EIO;
		if (memcmp(sb, "XFSB", 4) != 0)
			return -EINVAL;
		*block = (uint32_t)sb[4] << 24 | (uint32_t)sb[5] << 16 | (uint32_t)sb[6] << 8 | sb[7];
		*blocks = be64(sb + 8);
		return *block ? 0 : -EINVAL;
	}
	return -EOPNOTSUPP;
}

/* Is the filesystem on `dev` at least one block smaller than the device? */
static int fs_smaller(const char *dev, const char *fstype, uint64_t *fs_bytes, uint64_t *dev_bytes,
		      struct pv_err *err)
{
	_cleanup_(pv_closep) int fd = open(dev, O_RDONLY | O_CLOEXEC);
	uint64_t blocks;
	uint32_t block;
	int r;

	if (fd < 0 || ioctl(fd, BLKGETSIZE64, dev_bytes) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot read the size of %s: %s", dev, strerror(errno));
	if ((r = fs_blocks(fd, fstype, &blocks, &block)) < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot read the %s superblock on %s: %s", fstype, dev,
				  strerror(-r));
	*fs_bytes = blocks * block;
	return *dev_bytes / block > blocks;
}

/* Run a filesystem tool; exit statuses up to ok_max are success. */
static int run_tool(const char *const argv[], int ok_max, const char *dev, const char *advice, struct pv_err *err)
{
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -2, .stderr_fd = -2, .timeout_ms = 600000 };
	_cleanup_(pv_freep) char *out = NULL;
	int r = pv_spawn_run(argv, &o, &out, err);

	if (r > ok_max) {
		char *nl = out ? strchr(out, '\n') : NULL;
		if (nl)
			*nl = '\0';
		return pv_err_set(err, -EIO, PV_E_INTERNAL, "%s %s failed (exit %d): %s; %s", argv[0], dev, r,
				  out && *out ? out : "no output", advice);
	}
	return r < 0 ? r : 0;
}

int pv_fs_grow_unmounted(const char *dev, const char *fstype, bool *grow_mounted, struct pv_err *err)
{
	uint64_t fs_bytes = 0, dev_bytes = 0;
	char have[32], want[32];
	int r;

	*grow_mounted = false;
	if (strcmp(fstype, "ext4") != 0 && strcmp(fstype, "xfs") != 0)
		return 0;
	if ((r = fs_smaller(dev, fstype, &fs_bytes, &dev_bytes, err)) <= 0)
		return r;
	pv_quantity_format(fs_bytes, have, sizeof(have));
	pv_quantity_format(dev_bytes, want, sizeof(want));
	if (strcmp(fstype, "xfs") == 0) {
		*grow_mounted = true; /* xfs_growfs works on a mounted filesystem only */
		return 0;
	}
	const char *fsck[] = { "e2fsck", "-f", "-p", dev, NULL };
	const char *grow[] = { "resize2fs", dev, NULL };
	if ((r = run_tool(fsck, 1, dev, "repair it with e2fsck before staging the volume", err)) < 0 ||
	    (r = run_tool(grow, 0, dev, "the filesystem keeps its size", err)) < 0)
		return r;
	pv_info("grew the ext4 filesystem on %s from %s to its device's %s before mounting it", dev, have, want);
	return 0;
}
