/*
 * iscsi_kernel.c — the kernel initiator path (open-iscsi): argument vectors for
 * iscsiadm and sg_persist, the node-record CHAP lines, the by-path device name, and
 * the auto/kernel/userspace choice. Pure string building, unit-tested in
 * tests/unit/test_iscsi_kernel.c; iscsi_attach.c runs them.
 *
 * Secrets never enter an argv: iscsiadm would need `-n node.session.auth.password -v
 * SECRET`, visible in /proc/<pid>/cmdline, so the driver appends the CHAP lines to the
 * node record file (iscsiadm's own database, 0600) instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iscsi_conn.h"

static const char *arg(struct pvi_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *arg(struct pvi_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *dst = a->buf + a->used;
	size_t room = sizeof(a->buf) - a->used;
	va_start(ap, fmt);
	int n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return NULL;
	a->used += (size_t)n + 1;
	return dst;
}

static int push(struct pvi_argv *a, const char *s)
{
	if (!s || a->n + 1 >= PVI_ARGV_MAX)
		return -ENOSPC;
	a->argv[a->n++] = s;
	a->argv[a->n] = NULL;
	return 0;
}

static int node_args(const struct pvi_target *t, size_t portal, struct pvi_argv *a)
{
	memset(a, 0, sizeof(*a));
	if (portal >= t->n_portals)
		return -EINVAL;
	int r = push(a, "iscsiadm");
	r = r ?: push(a, "-m");
	r = r ?: push(a, "node");
	r = r ?: push(a, "-T");
	r = r ?: push(a, t->iqn);
	r = r ?: push(a, "-p");
	r = r ?: push(a, t->portals[portal]);
	r = r ?: push(a, "-I");
	r = r ?: push(a, "default");
	return r;
}

int pvi_kernel_cmd_new(const struct pvi_target *t, size_t portal, struct pvi_argv *a)
{
	int r = node_args(t, portal, a);
	r = r ?: push(a, "-o");
	r = r ?: push(a, "new");
	return r;
}

int pvi_kernel_cmd_login(const struct pvi_target *t, size_t portal, struct pvi_argv *a)
{
	int r = node_args(t, portal, a);
	r = r ?: push(a, "--login");
	return r;
}

int pvi_kernel_cmd_logout(const struct pvi_target *t, size_t portal, struct pvi_argv *a)
{
	int r = node_args(t, portal, a);
	r = r ?: push(a, "--logout");
	return r;
}

int pvi_kernel_cmd_discover(const struct pvi_target *t, size_t portal, struct pvi_argv *a)
{
	memset(a, 0, sizeof(*a));
	if (portal >= t->n_portals)
		return -EINVAL;
	int r = push(a, "iscsiadm");
	r = r ?: push(a, "-m");
	r = r ?: push(a, "discovery");
	r = r ?: push(a, "-t");
	r = r ?: push(a, "sendtargets");
	r = r ?: push(a, "-p");
	r = r ?: push(a, t->portals[portal]);
	return r;
}

int pvi_kernel_cmd_pr(const char *op, const char *device, uint64_t key, struct pvi_argv *a)
{
	memset(a, 0, sizeof(*a));
	int r = push(a, "sg_persist");
	r = r ?: push(a, "--out");
	if (r)
		return r;
	if (!strcmp(op, "register")) {
		r = push(a, "--register-ignore");
		r = r ?: push(a, arg(a, "--param-sark=0x%llx", (unsigned long long)key));
	} else if (!strcmp(op, "unregister")) {
		r = push(a, "--register");
		r = r ?: push(a, arg(a, "--param-rk=0x%llx", (unsigned long long)key));
		r = r ?: push(a, "--param-sark=0");
	} else if (!strcmp(op, "reserve") || !strcmp(op, "release") || !strcmp(op, "preempt")) {
		r = push(a, !strcmp(op, "reserve") ? "--reserve" : !strcmp(op, "release") ? "--release" : "--preempt");
		r = r ?: push(a, arg(a, "--param-rk=0x%llx", (unsigned long long)key));
		if (!strcmp(op, "preempt"))
			r = r ?: push(a, arg(a, "--param-sark=0x%llx", (unsigned long long)key));
		r = r ?: push(a, arg(a, "--prout-type=%d", PVI_PR_TYPE_WE));
	} else {
		return -EINVAL;
	}
	r = r ?: push(a, device);
	return r;
}

int pvi_kernel_device_path(const struct pvi_target *t, size_t portal, char *buf, size_t len)
{
	if (portal >= t->n_portals)
		return -EINVAL;
	int n = snprintf(buf, len, "/dev/disk/by-path/ip-%s-iscsi-%s-lun-%d", t->portals[portal],
			 t->iqn, t->lun);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int pvi_kernel_record_glob(const struct pvi_target *t, size_t portal, const char *db, char *buf,
			   size_t len)
{
	if (portal >= t->n_portals)
		return -EINVAL;
	const char *p = t->portals[portal];
	const char *colon = strrchr(p, ':');
	int n = snprintf(buf, len, "%s/nodes/%s/%.*s,%s,*/default", db, t->iqn, (int)(colon - p), p,
			 colon + 1);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int pvi_kernel_auth_lines(const struct pvi_target *t, char *buf, size_t len)
{
	int n;
	if (!t->user[0]) {
		n = snprintf(buf, len, "node.session.auth.authmethod = None\n");
	} else if (!t->user_in[0]) {
		n = snprintf(buf, len,
			     "node.session.auth.authmethod = CHAP\n"
			     "node.session.auth.username = %s\nnode.session.auth.password = %s\n",
			     t->user, t->pass);
	} else {
		n = snprintf(buf, len,
			     "node.session.auth.authmethod = CHAP\n"
			     "node.session.auth.username = %s\nnode.session.auth.password = %s\n"
			     "node.session.auth.username_in = %s\nnode.session.auth.password_in = %s\n",
			     t->user, t->pass, t->user_in, t->pass_in);
	}
	if (n < 0 || (size_t)n >= len) {
		explicit_bzero(buf, len);
		return -ENOSPC;
	}
	return n;
}

bool pvi_kernel_available(void)
{
	return access("/sys/module/iscsi_tcp", F_OK) == 0;
}

enum pvi_initiator pvi_choose_initiator(enum pvi_initiator wanted, bool kernel_available)
{
	if (wanted == PVI_INIT_AUTO)
		return kernel_available ? PVI_INIT_KERNEL : PVI_INIT_USERSPACE;
	return wanted;
}
