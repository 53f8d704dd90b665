/*
 * fsutil.c — files and paths: atomic writes (temp, fsync, rename, fsync of the
 * directory), whole-file reads, mkdir -p, and the path checks every request path goes
 * through.
 */
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvnode/driver/os.h"

void pv_freep(void *p)
{
	free(*(void **)p);
}

void pv_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

void pv_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void pv_strv_freep(char ***v)
{
	pv_strv_free(*v);
	*v = NULL;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, r = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

bool pv_temp_name(const char *name)
{
	const char *t = strstr(name, ".tmp."), *last = t;
	while (t && (t = strstr(t + 1, ".tmp.")))
		last = t;
	if (!last || !last[5])
		return false;
	for (const char *p = last + 5; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

bool pv_temp_stale(int dirfd, const char *name)
{
	struct stat st;
	return pv_temp_name(name) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       time(NULL) - st.st_mtime > PV_TEMP_STALE_S;
}

int64_t pv_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pv_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct pv_err *err)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INTERNAL, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return pv_err_set(err, -errno, pv_err_kind_from_errno(errno), "cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot rename %s to %s: %s", tmp, path, strerror(-r));
	}
	r = fsync_dir_of(path);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot sync the directory of %s: %s", path, strerror(-r));
	return 0;
fail:
	r = -errno;
	close(fd);
	unlink(tmp);
	/* ENOSPC, EDQUOT: out of space (CSI RESOURCE_EXHAUSTED), as for any other call */
	return pv_err_set(err, r, pv_err_kind_from_errno(r), "cannot write %s: %s", path, strerror(-r));
}

int pv_read_file(const char *path, char **data, size_t *len, struct pv_err *err)
{
	_cleanup_(pv_closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, used = 0;
	char *buf;

	if (fd < 0) {
		int r = -errno;
		return pv_err_set(err, r, r == -ENOENT ? PV_E_NOT_FOUND : PV_E_INTERNAL,
				  "cannot read %s: %s", path, strerror(-r));
	}
	buf = malloc(cap + 1);
	if (!buf)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory reading %s", path);
	for (;;) {
		ssize_t n;
		if (used == cap) {
			char *nb;
			if (cap >= (16u << 20)) {
				free(buf);
				return pv_err_set(err, -EFBIG, PV_E_INVALID, "%s is larger than 16 MiB", path);
			}
			nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory reading %s", path);
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			int r = -errno;
			if (r == -EINTR)
				continue;
			free(buf);
			return pv_err_set(err, r, PV_E_INTERNAL, "cannot read %s: %s", path, strerror(-r));
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*data = buf;
	if (len)
		*len = used;
	return 0;
}

int pv_mkdir_p(const char *path, mode_t mode, struct pv_err *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "bad directory path '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot create directory %s: %s",
						  buf, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

bool pv_path_clean(const char *path)
{
	const char *p = path;

	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
		return false;
	for (const unsigned char *c = (const unsigned char *)path; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	while (*p) {
		const char *end;
		size_t n;
		while (*p == '/')
			p++;
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
	}
	/* no "//" and no trailing slash except the root itself */
	if (strstr(path, "//"))
		return false;
	if (strlen(path) > 1 && path[strlen(path) - 1] == '/')
		return false;
	return true;
}

bool pv_path_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	while (n > 1 && prefix[n - 1] == '/')
		n--;
	if (n == 1 && prefix[0] == '/')
		return path[0] == '/';
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int pv_dir_usage(const char *dir, int timeout_ms, uint64_t *bytes, uint64_t *inodes)
{
	char *paths[] = { (char *)dir, NULL };
	struct timespec t0, now;
	FTSENT *ent;
	FTS *fts;
	int r = 0;

	*bytes = *inodes = 0;
	fts = fts_open(paths, FTS_PHYSICAL | FTS_XDEV | FTS_NOCHDIR, NULL);
	if (!fts)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((ent = fts_read(fts))) {
		if (ent->fts_info == FTS_DP)
			continue; /* directories are counted once, on the way in */
		if (ent->fts_statp && ent->fts_info != FTS_NS && ent->fts_info != FTS_ERR) {
			*bytes += (uint64_t)ent->fts_statp->st_blocks * 512;
			(*inodes)++;
		}
		if ((*inodes & 1023) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
				r = -ETIMEDOUT;
				break;
			}
		}
	}
	if (!ent && errno && r == 0)
		r = -errno;
	fts_close(fts);
	return r;
}
