/*
 * file_copy.c — copying an image file for snapshots, restores and clones: a reflink
 * where the state directory's filesystem has them (xfs with reflink=1, btrfs: instant,
 * no space until either side is written), else a sparse copy that reads only the data
 * ranges (SEEK_DATA / SEEK_HOLE) and moves them with copy_file_range (in the kernel,
 * without a round trip through user memory), so the holes of a sparse image stay holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"

#define CHUNK (64ll << 20)   /* bytes per copy_file_range call: progress granularity */

/* The bytes [off, end) the plain way, for filesystems copy_file_range refuses. */
static int copy_rw(int src, int dst, off_t off, off_t end)
{
	_cleanup_(pv_freep) char *buf = malloc(1 << 20);

	if (!buf)
		return -ENOMEM;
	while (off < end) {
		size_t want = (size_t)(end - off < (1 << 20) ? end - off : (1 << 20));
		ssize_t n = pread(src, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* the image shrank under us */
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(dst, buf + done, (size_t)(n - done), off + done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			done += w;
		}
		off += n;
	}
	return 0;
}

static int copy_range(int src, int dst, off_t off, off_t end, bool *plain)
{
	while (off < end && !*plain) {
		off_t in = off, out = off;
		size_t want = (size_t)(end - off < CHUNK ? end - off : CHUNK);
		ssize_t n = copy_file_range(src, &in, dst, &out, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
			*plain = true;
			break;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the image shrank under us */
		off += n;
	}
	return off < end ? copy_rw(src, dst, off, end) : 0;
}

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int copy_sparse(int src, int dst, off_t size, const char *what, bool progress)
{
	bool plain = false;
	off_t pos = 0;
	int r;

	if (ftruncate(dst, size) < 0)
		return -errno;
	while (pos < size) {
		off_t data = lseek(src, pos, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0 && errno != EINVAL)
			return -errno;
		if (data < 0)
			data = pos, hole = size; /* no SEEK_DATA here: all of it is data */
		else if ((hole = lseek(src, data, SEEK_HOLE)) < 0)
			return -errno;
		if (hole > size)
			hole = size;
		for (off_t off = data; off < hole; off += CHUNK) {
			off_t end = hole - off < CHUNK ? hole : off + CHUNK;
			if ((r = copy_range(src, dst, off, end, &plain)) < 0)
				return r;
			pv_progress(progress, "\rCopying %s: %3d%%", what, (int)(end * 100 / size));
		}
		pos = hole;
	}
	return 0;
}

int file_copy(int src, int dst, const char *what, bool progress, const char **how, struct pv_err *err)
{
	struct timespec t0;
	struct stat st;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fstat(src, &st) < 0)
		return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot stat %s: %s", what, strerror(errno));
	if (ioctl(dst, FICLONE, src) == 0) {
		*how = "reflink";
	} else {
		/* no reflinks here (EOPNOTSUPP, EXDEV, EINVAL...): copy the data */
		*how = "sparse copy";
		if ((r = copy_sparse(src, dst, st.st_size, what, progress)) < 0) {
			pv_progress(progress, "\n");
			return pv_err_set(err, r, r == -ENOSPC || r == -EDQUOT ? PV_E_RESOURCE : PV_E_INTERNAL,
					  "cannot copy %s: %s", what, strerror(-r));
		}
	}
	pv_progress(progress, "\rCopying %s: done in %.1f s (%s)\n", what, since(&t0), *how);
	return 0;
}
