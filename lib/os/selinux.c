/*
 * selinux.c — SELinux labels for block storage (DESIGN.md "SELinux").
 *
 * The label is system_u:object_r:container_file_t:<level>. Where the kernel enforces
 * SELinux the engine mounts with context= (O(1)); elsewhere, in mode `on`, the volume
 * root gets the security.selinux xattr, and a recursive relabel runs only on request and
 * only when the root does not already carry the label.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <pthread.h>

#include <selinux/selinux.h>

#include "os_int.h"
#include "pvnode/driver/os.h"

#define XATTR_NAME "security.selinux"

/* s0..s15, optionally ":" then categories cN or cN.cM (N <= 1023) separated by ",". */
bool pv_selinux_level_valid(const char *level)
{
	const char *p = level;
	char *end;
	long v, last = -1;

	if (!p || p[0] != 's')
		return false;
	v = strtol(p + 1, &end, 10);
	if (end == p + 1 || v < 0 || v > 15 || (p[1] == '0' && end - p > 2))
		return false;
	p = end;
	if (*p == '\0')
		return true;
	if (*p != ':')
		return false;
	p++;
	for (;;) {
		if (*p != 'c')
			return false;
		v = strtol(p + 1, &end, 10);
		if (end == p + 1 || v < 0 || v > 1023 || v <= last)
			return false;
		last = v;
		p = end;
		if (*p == '.') {
			if (p[1] != 'c')
				return false;
			v = strtol(p + 2, &end, 10);
			if (end == p + 2 || v <= last || v > 1023)
				return false;
			last = v;
			p = end;
		}
		if (*p == '\0')
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

int pv_selinux_label(const char *level, char *buf, size_t len, struct pv_err *err)
{
	if (!pv_selinux_level_valid(level))
		return pv_err_set(err, -EINVAL, PV_E_INVALID,
				  "'%s' is not an SELinux level (allowed: s0, or s0:cN,cM with categories c0-c1023 in increasing order)",
				  level);
	snprintf(buf, len, "%s%s", PV_SELINUX_TYPE_PREFIX, level);
	return 0;
}

void pv_selinux_level_from_identity(const char *identity, char *buf, size_t len)
{
	unsigned long long h = pv_node_key(identity);
	unsigned a = (unsigned)(h % 1024), b = (unsigned)((h >> 20) % 1023);

	if (b >= a)
		b++;
	if (a > b) {
		unsigned t = a;
		a = b;
		b = t;
	}
	snprintf(buf, len, "s0:c%u,c%u", a, b);
}

int pv_selinux_context_from_flags(const char *const *flags, size_t n, char *label, size_t len,
				  struct pv_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *f = flags[i], *v;
		size_t vl;
		if (strncmp(f, "context=", 8) != 0)
			continue;
		v = f + 8;
		vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		if (vl >= len || vl <= strlen(PV_SELINUX_TYPE_PREFIX) ||
		    strncmp(v, PV_SELINUX_TYPE_PREFIX, strlen(PV_SELINUX_TYPE_PREFIX)) != 0)
			return pv_err_set(err, -EINVAL, PV_E_INVALID,
					  "mount flag %s: only contexts of the form %s<level> are accepted", f,
					  PV_SELINUX_TYPE_PREFIX);
		memcpy(label, v, vl);
		label[vl] = '\0';
		if (!pv_selinux_level_valid(label + strlen(PV_SELINUX_TYPE_PREFIX)))
			return pv_err_set(err, -EINVAL, PV_E_INVALID, "mount flag %s: the SELinux level is not valid", f);
		return 1;
	}
	return 0;
}

bool pv_selinux_kernel_enforces(void)
{
	return is_selinux_enabled() > 0;
}

int pv_selinux_get(const char *path, char *label, size_t len)
{
	ssize_t n = lgetxattr(path, XATTR_NAME, label, len - 1);
	if (n < 0)
		return -errno;
	label[n] = '\0';
	while (n > 0 && label[n - 1] == '\0')
		n--;
	label[n] = '\0';
	return 0;
}

int pv_selinux_set(const char *path, const char *label, struct pv_err *err)
{
	/* stored with its NUL, as libselinux's setfilecon does */
	if (lsetxattr(path, XATTR_NAME, label, strlen(label) + 1, 0) < 0)
		return pv_err_set(err, -errno, errno == EROFS ? PV_E_INTERNAL : pv_err_kind_from_errno(errno),
				  "cannot label %s with %s: %s", path, label, strerror(errno));
	return 0;
}

static const char *relabel_label;
static size_t relabel_count, relabel_failed;
static bool relabel_progress;
static int relabel_errno;

static int relabel_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (lsetxattr(path, XATTR_NAME, relabel_label, strlen(relabel_label) + 1, 0) < 0) {
		relabel_failed++;
		relabel_errno = errno;
	}
	if (++relabel_count % 10000 == 0)
		pv_progress(relabel_progress, "\rRelabelling: %zu files", relabel_count);
	return 0;
}

int pv_selinux_relabel_tree(const char *root, const char *label, bool progress, size_t *count,
			    struct pv_err *err)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char current[256];
	int r = 0;

	*count = 0;
	if (pv_selinux_get(root, current, sizeof(current)) == 0 && strcmp(current, label) == 0)
		return 0; /* already labelled: skipped */
	pthread_mutex_lock(&lock); /* nftw has no user pointer */
	relabel_label = label;
	relabel_count = relabel_failed = 0;
	relabel_progress = progress;
	if (nftw(root, relabel_one, 32, FTW_PHYS | FTW_MOUNT) < 0)
		r = pv_err_set(err, -errno, PV_E_INTERNAL, "cannot walk %s: %s", root, strerror(errno));
	else if (relabel_failed)
		r = pv_err_set(err, -relabel_errno, PV_E_INTERNAL, "cannot label %zu of %zu files under %s: %s",
			       relabel_failed, relabel_count, root, strerror(relabel_errno));
	*count = relabel_count;
	pv_progress(progress && relabel_count >= 10000, "\rRelabelling: %zu files, done\n", relabel_count);
	pthread_mutex_unlock(&lock);
	return r;
}
