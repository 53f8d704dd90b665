/*
 * rbd_krbd.c — strings for the kernel RBD client (see rbd_krbd.h).
 *
 * Not exercised on the development machines: their kernel has no rbd module, so only
 * the unit tests run this code. The format follows the kernel's
 * Documentation/ABI/testing/sysfs-bus-rbd and what `rbd device map` (krbd.cc) writes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rbd/features.h>

#include "rbd_krbd.h"

void pvr_krbd_key_desc(const struct pvr_target *t, const struct pvr_cred *c, char *buf, size_t len)
{
	snprintf(buf, len, "pvnode:client.%s:%s/%s%s%s", c->user, t->pool, t->rados_namespace,
		 t->rados_namespace[0] ? "/" : "", t->image);
}

/* "v1:h:p,v1:h:p" → "h:p,h:p"; *v2 tells whether they speak msgr2. -EINVAL if mixed. */
static int kernel_monitors(const char *mon_host, char *buf, size_t len, bool *v2)
{
	size_t o = 0;
	int seen = 0;    /* 1: v1, 2: v2 */
	const char *p = mon_host;
	buf[0] = '\0';
	while (*p) {
		size_t n = strcspn(p, ",");
		int kind = strncmp(p, "v2:", 3) == 0 ? 2 : 1;
		if (seen && kind != seen)
			return -EINVAL;
		seen = kind;
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%.*s", o ? "," : "",
				      (int)(n - 3), p + 3);
		p += n;
		if (*p == ',')
			p++;
	}
	*v2 = seen == 2;
	return o < len ? 0 : -ENAMETOOLONG;
}

int pvr_krbd_add_string(const struct pvr_target *t, const struct pvr_cred *c, const char *key_desc,
			bool readonly, bool exclusive, char *buf, size_t len, struct pv_err *err)
{
	char mons[PVR_MON_HOST_MAX];
	bool v2 = false;
	int r = kernel_monitors(t->mon_host, mons, sizeof(mons), &v2);
	if (r == -EINVAL)
		return pv_err_set(err, r, PV_E_INVALID,
				  "attributes.monitors: \"%s\" mixes msgr1 and msgr2 monitors, which the kernel "
				  "client cannot use together; list monitors of one kind (ports 6789 or 3300)",
				  t->monitors);
	if ((r = pvr_krbd_features_ok(t->features, err)) < 0)
		return r;
	bool has_ms_mode = strstr(t->map_options, "ms_mode=") != NULL;
	int n = snprintf(buf, len, "%s name=%s,key=%s,osd_request_timeout=%d,mount_timeout=%d%s%s%s%s%s%s%s %s %s -",
			 mons, c->user, key_desc, t->osd_timeout_s, t->mon_timeout_s,
			 readonly ? ",read_only" : "", exclusive && !readonly ? ",exclusive" : "",
			 v2 && !has_ms_mode ? ",ms_mode=prefer-crc" : "",
			 t->rados_namespace[0] ? ",_pool_ns=" : "", t->rados_namespace,
			 t->map_options[0] ? "," : "", t->map_options, t->pool, t->image);
	if (n < 0 || (size_t)n >= len)
		return pv_err_set(err, -ENAMETOOLONG, PV_E_INVALID,
				  "the kernel rbd map request for %s/%s is longer than %zu bytes", t->pool,
				  t->image, len - 1);
	return 0;
}

int pvr_krbd_remove_string(int dev_id, bool force, char *buf, size_t len)
{
	if (dev_id < 0)
		return -EINVAL;
	int n = snprintf(buf, len, "%d%s", dev_id, force ? " force" : "");
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* a == b, ignoring one trailing newline in a (sysfs files end with one). */
static bool sysfs_eq(const char *a, const char *b)
{
	size_t n = strlen(b);
	return a && strncmp(a, b, n) == 0 && (a[n] == '\0' || (a[n] == '\n' && a[n + 1] == '\0'));
}

bool pvr_krbd_device_matches(const struct pvr_target *t, const char *pool, const char *pool_ns,
			     const char *name, const char *snap)
{
	return sysfs_eq(pool, t->pool) && sysfs_eq(name, t->image) && sysfs_eq(snap, "-") &&
	       (pool_ns ? sysfs_eq(pool_ns, t->rados_namespace) : !t->rados_namespace[0]);
}

int pvr_krbd_features_ok(unsigned long long features, struct pv_err *err)
{
	if (features & RBD_FEATURE_JOURNALING)
		return pv_err_set(err, -EOPNOTSUPP, PV_E_INVALID,
				  "attributes.imageFeatures: journaling is not supported by the kernel RBD "
				  "client; use mounter userspace or drop journaling");
	return 0;
}
