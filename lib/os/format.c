/*
 * format.c — first-use formatting and filesystem growth. A device is formatted only when
 * libblkid finds neither a filesystem nor a partition table on it: pvnode never formats
 * over data. mkfs output goes to the terminal's progress line only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <blkid/blkid.h>

#include "os_int.h"
#include "pvnode/driver/os.h"

int pv_probe_device(const char *dev, char *what, size_t len, struct pv_err *err)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	const char *val = NULL;
	int rc;

	what[0] = '\0';
	if (!pr)
		return pv_err_set(err, -errno ? -errno : -EIO, PV_E_INTERNAL, "cannot probe %s: %s", dev,
				  strerror(errno ? errno : EIO));
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &val, NULL) == 0)
			snprintf(what, len, "%s", val);
		else if (blkid_probe_lookup_value(pr, "PTTYPE", &val, NULL) == 0)
			snprintf(what, len, "%s partition table", val);
		else
			snprintf(what, len, "unknown data");
	} else if (rc == -2) {
		snprintf(what, len, "more than one filesystem signature");
	}
	blkid_free_probe(pr);
	if (rc == 1)
		return 0;
	if (rc == 0 || rc == -2)
		return 1;
	/* libblkid says only "failed": read the first block to say why */
	int e = EIO, fd = open(dev, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd >= 0) {
		void *b = NULL;
		if (posix_memalign(&b, 4096, 4096) == 0 && pread(fd, b, 4096, 0) < 0)
			e = errno;
		free(b);
		close(fd);
	} else {
		e = errno;
	}
	return pv_err_set(err, -e, PV_E_INTERNAL, "cannot probe %s for existing data: %s", dev, strerror(e));
}

int pv_mkfs(const char *dev, const char *fstype, uint64_t bytes, bool progress, struct pv_err *err)
{
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -2, .stderr_fd = -2, .timeout_ms = 600000 };
	const char *ext4[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "nodiscard,lazy_itable_init=1",
			       dev, NULL };
	const char *xfs[] = { "mkfs.xfs", "-q", "-f", "-K", dev, NULL };
	const char *const *argv;
	struct timespec t0, t1;
	char size[32], *out = NULL;
	int r;

	if (strcmp(fstype, "ext4") == 0)
		argv = ext4;
	else if (strcmp(fstype, "xfs") == 0)
		argv = xfs;
	else
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "cannot format as '%s' (allowed: ext4, xfs)", fstype);
	pv_quantity_format(bytes, size, sizeof(size));
	pv_progress(progress, "Formatting %s as %s (%s)...", dev, fstype, size);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = pv_spawn_run(argv, &o, &out, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r > 0) {
		char *nl = out ? strchr(out, '\n') : NULL;
		if (nl)
			*nl = '\0';
		r = pv_err_set(err, -EIO, PV_E_INTERNAL, "%s %s failed (exit %d): %s", argv[0], dev, r,
			       out && *out ? out : "no output");
	}
	free(out);
	pv_progress(progress, r == 0 ? " done in %.1f s\n" : " failed after %.1f s\n",
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return r;
}

int pv_grow_fs(const char *dev, const char *mountpoint, const char *fstype, struct pv_err *err)
{
	struct pv_spawn_opts o = { .stdin_fd = -1, .stdout_fd = -2, .stderr_fd = -2, .timeout_ms = 600000 };
	const char *ext4[] = { "resize2fs", dev, NULL };
	const char *xfs[] = { "xfs_growfs", mountpoint, NULL };
	char *out = NULL;
	int r;

	if (strcmp(fstype, "ext4") != 0 && strcmp(fstype, "xfs") != 0)
		return pv_err_set(err, -EINVAL, PV_E_UNSUPPORTED, "cannot grow a %s filesystem", fstype);
	r = pv_spawn_run(strcmp(fstype, "xfs") == 0 ? xfs : ext4, &o, &out, err);
	if (r > 0) {
		char *nl = out ? strrchr(out, '\n') : NULL;
		while (nl && nl > out && nl[1] == '\0') {
			*nl = '\0';
			nl = strrchr(out, '\n');
		}
		if (out && strstr(out, "Permission denied to resize"))
			r = pv_err_set(err, -EPERM, PV_E_INTERNAL,
				       "growing the ext4 filesystem on %s online was refused by the kernel: it needs "
				       "CAP_SYS_RESOURCE, which this process lacks (run pvnode with it, or use xfs)", dev);
		else
			r = pv_err_set(err, -EIO, PV_E_INTERNAL, "growing the %s filesystem on %s failed: %s", fstype, dev,
				       out && *out ? (nl ? nl + 1 : out) : "no output");
	}
	free(out);
	return r;
}

int pv_set_root_group(const char *root, long gid, struct pv_err *err)
{
	if (gid <= 0)
		return 0;
	if (chown(root, (uid_t)-1, (gid_t)gid) < 0 || chmod(root, 02770) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot give %s to group %ld: %s", root, gid,
				  strerror(errno));
	return 0;
}

int pv_set_mount_group(const char *root, const char *shown, long gid, struct pv_err *err)
{
	struct stat st;

	if (gid <= 0)
		return 0;
	if (stat(root, &st) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot read the volume root %s: %s", shown, strerror(errno));
	if (st.st_gid == (gid_t)gid && (st.st_mode & 02070) == 02070)
		return 0;
	if ((st.st_gid != (gid_t)gid && chown(root, (uid_t)-1, (gid_t)gid) < 0) ||
	    chmod(root, (st.st_mode & 07777) | 02070) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot give the volume root %s to group %ld (fsGroup): %s",
				  shown, gid, strerror(errno));
	return 0;
}
