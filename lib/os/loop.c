/*
 * loop.c — loop devices over image files and FUSE block files (LOOP_CONFIGURE).
 *
 * Every device pvnode attaches carries a tag in lo_file_name naming the state directory
 * and volume, so leak recovery can find exactly its own devices even when the journal
 * never learned the device name (a process killed right after the ioctl).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvnode/driver/driver.h"
#include "pvnode/driver/os.h"

void pv_loop_tag(const char *state_dir, const char *volume, char *tag, size_t len)
{
	snprintf(tag, len < LO_NAME_SIZE ? len : LO_NAME_SIZE, "pvnode:%08llx:%s",
		 pv_node_key(state_dir) & 0xffffffffull, volume);
}

static int configure(int loopfd, int filefd, const char *tag, bool readonly, bool direct_io)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned)filefd;
	/* 512-byte sectors whatever the backing file: left to the kernel (0), direct I/O
	 * takes the file's alignment, which on xfs is its block size for a file with shared
	 * (reflinked) extents — a filesystem made on the volume with 512-byte sectors would
	 * then no longer mount once the image was snapshotted, restored or cloned. The kernel
	 * uses buffered I/O where direct I/O needs more. */
	cfg.block_size = 512;
	cfg.info.lo_flags = (readonly ? LO_FLAGS_READ_ONLY : 0) | (direct_io ? LO_FLAGS_DIRECT_IO : 0);
	if (tag)
		snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", tag);
	if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) < 0)
		return -errno;
	return 0;
}

int pv_loop_attach_tagged(const char *file, const char *tag, bool readonly, bool direct_io,
			  char *dev, size_t devlen, struct pv_err *err)
{
	_cleanup_(pv_closep) int ctl = -1;
	_cleanup_(pv_closep) int filefd = -1;
	int r = 0;

	filefd = open(file, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (filefd < 0)
		return pv_err_set(err, -errno, pv_err_kind_from_errno(errno), "cannot open %s: %s", file,
				  strerror(errno));
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open /dev/loop-control: %s",
				  strerror(errno));
	for (int attempt = 0; attempt < 32; attempt++) {
		_cleanup_(pv_closep) int loopfd = -1;
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		char path[32];

		if (n < 0)
			return pv_err_set(err, -errno, PV_E_RESOURCE, "no free loop device: %s", strerror(errno));
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		loopfd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (loopfd < 0) {
			r = -errno;
			continue;
		}
		r = configure(loopfd, filefd, tag, readonly, direct_io);
		if (r == -EINVAL && direct_io)
			r = configure(loopfd, filefd, tag, readonly, false);
		if (r == -EBUSY)
			continue; /* another process took it between GET_FREE and CONFIGURE */
		if (r < 0)
			return pv_err_set(err, r, PV_E_INTERNAL, "cannot attach %s to %s: %s", file, path,
					  strerror(-r));
		snprintf(dev, devlen, "%s", path);
		return 0;
	}
	return pv_err_set(err, r ? r : -EBUSY, PV_E_RESOURCE, "cannot attach %s to a loop device: %s",
			  file, strerror(r ? -r : EBUSY));
}

int pv_loop_detach(const char *dev, struct pv_err *err)
{
	_cleanup_(pv_closep) int fd = -1;

	if (!dev || !*dev)
		return 0;
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO)
			return 0;
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open %s: %s", dev, strerror(errno));
	}
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot detach %s: %s", dev, strerror(errno));
	return 0;
}

int pv_loop_backing(const char *dev, char *file, size_t len)
{
	char path[PATH_MAX], *nl;
	const char *base = strrchr(dev, '/');
	FILE *f;

	file[0] = '\0';
	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", base ? base + 1 : dev);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(file, (int)len, f))
		file[0] = '\0';
	fclose(f);
	nl = strchr(file, '\n');
	if (nl)
		*nl = '\0';
	return 0;
}

/* Calls match(dev, info) for each configured loop device; detaches those it accepts
 * (or, with `first` set, only counts them and names the first, leaving out a device whose
 * detach is already under way: LOOP_CLR_FD of a device another process still has open,
 * e.g. a loop scan of another pvnode or a mount namespace holding the filesystem, sets
 * autoclear and the kernel detaches it at the last close; pvnode never attaches with
 * autoclear itself). */
static int each_matching(bool (*match)(const char *dev, const struct loop_info64 *li, const void *ud),
			 const void *ud, char *first, size_t flen, struct pv_err *err)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int count = 0, r = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct loop_info64 li;
		char dev[300];
		int fd;

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
		fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&li, 0, sizeof(li)); /* valgrind does not model this ioctl */
		if (first) {
			bool hit = ioctl(fd, LOOP_GET_STATUS64, &li) == 0 && match(dev, &li, ud) &&
				   !(li.lo_flags & LO_FLAGS_AUTOCLEAR);
			if (hit && count++ == 0)
				snprintf(first, flen, "%s", dev);
		} else if (ioctl(fd, LOOP_GET_STATUS64, &li) == 0 && match(dev, &li, ud)) {
			if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
				r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot detach %s: %s", dev,
					       strerror(errno));
			else
				count++;
		}
		close(fd);
	}
	closedir(d);
	return r < 0 ? r : count;
}

static bool match_tag(const char *dev, const struct loop_info64 *li, const void *ud)
{
	(void)dev;
	return strncmp((const char *)li->lo_file_name, (const char *)ud, LO_NAME_SIZE) == 0;
}

int pv_loop_detach_tagged(const char *tag, struct pv_err *err)
{
	char t[LO_NAME_SIZE];
	snprintf(t, sizeof(t), "%s", tag);
	return each_matching(match_tag, t, NULL, 0, err);
}

int pv_loop_find_tagged(const char *tag, char *first, size_t len)
{
	char t[LO_NAME_SIZE];
	snprintf(t, sizeof(t), "%s", tag);
	first[0] = '\0';
	return each_matching(match_tag, t, first, len, NULL);
}

/* A volume's own device: tagged for it and backed by a file, not by another loop device
 * (a read-only view). */
static bool match_tag_own(const char *dev, const struct loop_info64 *li, const void *ud)
{
	char backing[PATH_MAX];
	return match_tag(dev, li, ud) && pv_loop_backing(dev, backing, sizeof(backing)) == 0 && backing[0] &&
	       strncmp(backing, "/dev/loop", 9) != 0;
}

int pv_loop_find_own(const char *tag, char *dev, size_t len)
{
	char t[LO_NAME_SIZE];
	snprintf(t, sizeof(t), "%s", tag);
	dev[0] = '\0';
	return each_matching(match_tag_own, t, dev, len, NULL);
}

bool pv_loop_serves(const char *dev, const char *backing)
{
	char file[PATH_MAX];
	return dev && *dev && backing && *backing && pv_loop_backing(dev, file, sizeof(file)) == 0 &&
	       strcmp(file, backing) == 0;
}

int pv_loop_release(const char *state_dir, const char *volume, const char *dev, const char *backing,
		    struct pv_err *err)
{
	char tag[LO_NAME_SIZE];
	int r = 0;

	if (pv_loop_serves(dev, backing))
		r = pv_loop_detach(dev, err);
	pv_loop_tag(state_dir, volume, tag, sizeof(tag));
	if (pv_loop_detach_tagged(tag, r < 0 ? NULL : err) < 0 && r == 0)
		r = -EIO;
	return r;
}

int pv_loop_set_capacity(const char *dev, struct pv_err *err)
{
	_cleanup_(pv_closep) int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot open %s: %s", dev, strerror(errno));
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot refresh the size of %s: %s", dev,
				  strerror(errno));
	return 0;
}

int pv_loop_tag_of(int fd, char *tag, size_t len)
{
	struct loop_info64 li;

	memset(&li, 0, sizeof(li));
	if (ioctl(fd, LOOP_GET_STATUS64, &li) < 0)
		return -errno;
	snprintf(tag, len, "%.*s", (int)LO_NAME_SIZE, (const char *)li.lo_file_name);
	return 0;
}

int pv_loop_check_unmounted(const char *dev, const char *helper, struct pv_err *err)
{
	if (!dev[0])
		return 0;
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0 && errno == EBUSY)
		return pv_err_set(err, -EBUSY, PV_E_UNAVAILABLE,
				  "its %s died while %s was mounted; unpublish and unstage it, then stage it again",
				  helper, dev);
	if (fd >= 0)
		close(fd);
	return 0;
}
