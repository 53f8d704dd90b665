/*
 * rbd_cluster.c — in-memory librados configuration and error sentences (see
 * rbd_cluster.h).
 *
 * Nothing is read from /etc/ceph or the environment: rados_create2 does not parse
 * CEPH_ARGS unless asked, no rados_conf_read_file is ever called, keyring and keyfile
 * are emptied so only the key we set is used, and the admin socket and log file are
 * off so nothing outlives the process.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rbd_cluster.h"

const char *pvr_spec(const struct pvr_target *t, const char *image, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s", t->pool, t->rados_namespace, t->rados_namespace[0] ? "/" : "",
		 image ? image : t->image);
	return buf;
}

int pvr_fail(const struct pvr_conn *conn, int r, const char *what, struct pv_err *err)
{
	const struct pvr_target *t = conn->t;
	char spec[3 * PVR_NAME_MAX + 8];
	pvr_spec(t, NULL, spec, sizeof(spec));
	switch (r) {
	case -ETIMEDOUT:
		return pv_err_set(err, r, PV_E_UNAVAILABLE,
				  "%s %s: the Ceph cluster at %s did not answer within %d s (monitors or "
				  "OSDs unreachable or stopped)", what, spec, t->monitors,
				  t->osd_timeout_s > t->mon_timeout_s ? t->osd_timeout_s : t->mon_timeout_s);
	case -ESHUTDOWN:    /* Ceph's EBLOCKLISTED */
		return pv_err_set(err, r, PV_E_POLICY,
				  "%s %s: this client was blocklisted by the cluster (its lock was broken "
				  "by another node)", what, spec);
	case -EACCES: case -EPERM:
		return pv_err_set(err, r, PV_E_INVALID,
				  "%s %s: permission denied: the user's caps do not allow it (check "
				  "`ceph auth get client.<userID>`)", what, spec);
	case -ENOENT:
		return pv_err_set(err, r, PV_E_NOT_FOUND, "%s %s: no such image", what, spec);
	case -EEXIST:
		return pv_err_set(err, r, PV_E_EXISTS, "%s %s: it already exists", what, spec);
	case -EBUSY:
		return pv_err_set(err, r, PV_E_BUSY, "%s %s: the image is busy (locked or in use)", what, spec);
	case -ENOSPC: case -EDQUOT:
		return pv_err_set(err, r, PV_E_RESOURCE, "%s %s: the pool is full or over quota", what, spec);
	case -EROFS:
		return pv_err_set(err, r, PV_E_POLICY,
				  "%s %s: the image is read-only for this client (another client holds its "
				  "exclusive lock)", what, spec);
	default:
		return pv_err_set(err, r, pv_err_kind_from_errno(r), "%s %s: %s", what, spec, strerror(-r));
	}
}

static int conf_set(rados_t cl, const char *name, const char *value, struct pv_err *err)
{
	int r = rados_conf_set(cl, name, value);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "librados refused the setting %s: %s", name,
				  strerror(-r));
	return 0;
}

static int configure(rados_t cl, const struct pvr_target *t, const struct pvr_cred *c,
		     const char *const *extra, struct pv_err *err)
{
	char osd[16], mon[16];
	snprintf(osd, sizeof(osd), "%d", t->osd_timeout_s);
	snprintf(mon, sizeof(mon), "%d", t->mon_timeout_s);
	const char *const settings[] = {
		"mon_host", t->mon_host, "keyring", "", "keyfile", "", "admin_socket", "",
		"log_file", "", "log_to_stderr", "false", "err_to_stderr", "false",
		"log_to_syslog", "false", "clog_to_syslog", "false", "rados_osd_op_timeout", osd,
		"rados_mon_op_timeout", mon, "client_mount_timeout", mon, "ms_bind_ipv6", "false",
		NULL,
	};
	int r = 0;
	for (size_t i = 0; settings[i] && r == 0; i += 2)
		r = conf_set(cl, settings[i], settings[i + 1], err);
	for (size_t i = 0; extra && extra[i] && r == 0; i += 2)
		r = conf_set(cl, extra[i], extra[i + 1], err);
	if (r == 0 && (r = rados_conf_set(cl, "key", c->key)) < 0)
		r = pv_err_set(err, r, PV_E_INVALID, "secrets.userKey: librados refused the key");
	return r;
}

static int connect_error(const struct pvr_target *t, const struct pvr_cred *c, int r,
			 struct pv_err *err)
{
	if (r == -EACCES || r == -EPERM || r == -EINVAL)
		return pv_err_set(err, r, PV_E_INVALID,
				  "the Ceph monitors at %s refused client.%s: the key (secrets.userKey) is "
				  "wrong or the user does not exist", t->monitors, c->user);
	if (r == -ETIMEDOUT || r == -ENOTCONN || r == -ECONNREFUSED || r == -EHOSTUNREACH)
		return pv_err_set(err, r, PV_E_UNAVAILABLE,
				  "cannot reach the Ceph monitors at %s within %d s (monTimeout): check the "
				  "monitors attribute and the network", t->monitors, t->mon_timeout_s);
	return pv_err_set(err, r, PV_E_UNAVAILABLE, "cannot connect to the Ceph monitors at %s as client.%s: %s",
			  t->monitors, c->user, strerror(-r));
}

int pvr_connect(const struct pvr_target *t, const struct pvr_cred *c, const char *const *extra,
		struct pvr_conn *conn, struct pv_err *err)
{
	char name[PVR_USER_MAX + 8];
	rados_t cl = NULL;
	int r;

	memset(conn, 0, sizeof(*conn));
	conn->t = t;
	snprintf(name, sizeof(name), "client.%s", c->user);
	r = rados_create2(&cl, "ceph", name, 0);
	if (r < 0)
		return pv_err_set(err, r, PV_E_INTERNAL, "cannot create a librados handle: %s", strerror(-r));
	r = configure(cl, t, c, extra, err);
	if (r == 0 && (r = rados_connect(cl)) < 0)
		r = connect_error(t, c, r, err);
	if (r == 0 && (r = rados_ioctx_create(cl, t->pool, &conn->io)) < 0) {
		if (r == -ENOENT)
			r = pv_err_set(err, r, PV_E_NOT_FOUND, "attributes.pool: the Ceph cluster at %s has no pool \"%s\"",
				       t->monitors, t->pool);
		else
			r = pv_err_set(err, r, PV_E_UNAVAILABLE, "cannot open pool %s on %s: %s", t->pool,
				       t->monitors, strerror(-r));
	}
	if (r < 0) {
		rados_shutdown(cl);
		conn->io = NULL;
		return r;
	}
	rados_ioctx_set_namespace(conn->io, t->rados_namespace[0] ? t->rados_namespace : NULL);
	conn->cluster = cl;
	return 0;
}

void pvr_disconnect(struct pvr_conn *conn)
{
	if (conn->io)
		rados_ioctx_destroy(conn->io);
	if (conn->cluster)
		rados_shutdown(conn->cluster);
	conn->io = NULL;
	conn->cluster = NULL;
}

int pvr_image_open(struct pvr_conn *conn, const char *image, bool readonly, rbd_image_t *img,
		   struct pv_err *err)
{
	int r = readonly ? rbd_open_read_only(conn->io, image, img, NULL)
			 : rbd_open(conn->io, image, img, NULL);
	if (r < 0) {
		*img = NULL;
		return pvr_fail(conn, r, readonly ? "cannot open (read-only)" : "cannot open", err);
	}
	return 0;
}
