/*
 * mount.c — mounting with libmount: the staging mount, bind mounts to publish targets
 * (read-only where the policy says so), and unmounting. libmount's external helpers
 * (/sbin/mount.*) are disabled: they fork, which the daemon's gRPC threads forbid, and
 * pvnode passes every option itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <libmount/libmount.h>

#include "os_int.h"
#include "pvnode/driver/os.h"

int pv_mount_options_join(const char *const *lists[], const size_t counts[], size_t nlists, bool ro,
			  char *buf, size_t len, struct pv_err *err)
{
	size_t used = 0;

	buf[0] = '\0';
	if (ro)
		used += (size_t)snprintf(buf, len, "ro");
	for (size_t l = 0; l < nlists; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			const char *o = lists[l][i];
			if (!o || !*o)
				continue;
			if (!pv_value_printable(o, 256) || strchr(o, ' ') ||
			    (strchr(o, ',') && strncmp(o, "context=", 8) != 0))
				return pv_err_set(err, -EINVAL, PV_E_INVALID,
						  "mount option '%s' is not allowed (one option per entry, no spaces or control characters)",
						  o);
			if (ro && strcmp(o, "rw") == 0)
				continue;
			if (used + strlen(o) + 2 > len)
				return pv_err_set(err, -E2BIG, PV_E_INVALID, "too many mount options");
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", o);
		}
	return 0;
}

static int run_context(struct libmnt_context *cxt, const char *what, const char *target, struct pv_err *err)
{
	char msg[512] = "";
	int rc, ex;

	mnt_context_disable_helpers(cxt, 1);
	mnt_context_disable_mtab(cxt, 1);
	rc = mnt_context_mount(cxt);
	ex = mnt_context_get_excode(cxt, rc, msg, sizeof(msg));
	if (ex == MNT_EX_SUCCESS)
		return 0;
	{
		int sys = mnt_context_get_syscall_errno(cxt);
		int code = sys ? -sys : (rc < 0 ? rc : -EIO);
		return pv_err_set(err, code, PV_E_INTERNAL, "cannot mount %s at %s: %s", what, target,
				  msg[0] ? msg : strerror(-code));
	}
}

int pv_mount(const char *source, const char *target, const char *fstype, const char *options,
	     struct pv_err *err)
{
	struct libmnt_context *cxt = mnt_new_context();
	int r;

	if (!cxt)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	mnt_context_set_source(cxt, source);
	mnt_context_set_target(cxt, target);
	if (fstype && *fstype)
		mnt_context_set_fstype(cxt, fstype);
	if (options && *options)
		mnt_context_set_options(cxt, options);
	r = run_context(cxt, source, target, err);
	mnt_free_context(cxt);
	return r;
}

int pv_bind_mount(const char *source, const char *target, bool readonly, const char *options,
		  struct pv_err *err)
{
	char opts[1024];
	struct libmnt_context *cxt;
	int r;

	snprintf(opts, sizeof(opts), "bind%s%s%s", readonly ? ",ro" : "", options && *options ? "," : "",
		 options ? options : "");
	cxt = mnt_new_context();
	if (!cxt)
		return pv_err_set(err, -ENOMEM, PV_E_RESOURCE, "out of memory");
	mnt_context_set_source(cxt, source);
	mnt_context_set_target(cxt, target);
	mnt_context_set_options(cxt, opts);
	r = run_context(cxt, source, target, err);
	mnt_free_context(cxt);
	return r;
}

int pv_umount(const char *target, struct pv_err *err)
{
	for (int i = 0; i < 16 && pv_is_mountpoint(target); i++) {
		if (umount2(target, UMOUNT_NOFOLLOW) < 0) {
			if (errno == EINVAL || errno == ENOENT)
				return 0;
			if (errno == EBUSY)
				return pv_err_set(err, -EBUSY, PV_E_INTERNAL,
						  "cannot unmount %s: it is busy (a process still uses it)", target);
			return pv_err_set(err, -errno, PV_E_INTERNAL, "cannot unmount %s: %s", target, strerror(errno));
		}
	}
	return 0;
}

bool pv_umount_stale_fuse(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) == 0 || errno != ENOTCONN)
		return false;
	pv_warn("clearing the stale FUSE mount at %s (its server is gone)", mnt);
	return umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) == 0;
}
