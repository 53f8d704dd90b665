/*
 * mountopt.c — which mount options a volume may ask for, and what each one is.
 *
 * An allow list, not a deny list: a PV author or a CSI mount flag must not be able to
 * panic the node (errors=panic), mount a file of the host (loop, offset=), create paths
 * (x-mount.mkdir) or re-enable setuid and device files (suid, dev). Each option is a VFS
 * attribute of the mount (ro, nosuid, noatime ...), an SELinux context, or a parameter of
 * one filesystem (ext4, xfs), checked with its value where it has one. Pure; unit-tested.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "model/mountopt.h"

static const struct {
	const char *name;
	unsigned attr;
} vfs_options[] = {
	{ "ro", PV_MNT_RDONLY }, { "rw", 0 }, { "nosuid", PV_MNT_NOSUID }, { "nodev", PV_MNT_NODEV },
	{ "noexec", PV_MNT_NOEXEC }, { "exec", 0 }, { "noatime", PV_MNT_NOATIME }, { "relatime", PV_MNT_RELATIME },
	{ "strictatime", PV_MNT_STRICTATIME }, { "nodiratime", PV_MNT_NODIRATIME }, { "async", 0 },
};

/* name, or name=VALUE with the value one of `values` ("" any digits). */
struct fs_option {
	const char *name;
	const char *values; /* NULL: a flag; "#": a number; else space-separated words */
};

static const struct fs_option ext4_options[] = {
	{ "discard", NULL }, { "nodiscard", NULL }, { "barrier", NULL }, { "nobarrier", NULL },
	{ "commit", "#" }, { "data", "ordered writeback journal" }, { "errors", "remount-ro continue" },
	{ "auto_da_alloc", NULL }, { "noauto_da_alloc", NULL }, { "delalloc", NULL }, { "nodelalloc", NULL },
	{ "journal_checksum", NULL }, { "nojournal_checksum", NULL }, { "init_itable", NULL },
	{ "noinit_itable", NULL }, { "stripe", "#" }, { "min_batch_time", "#" }, { "max_batch_time", "#" },
	{ "inode_readahead_blks", "#" }, { "dioread_nolock", NULL }, { "dioread_lock", NULL },
	{ "nombcache", NULL }, { "usrquota", NULL }, { "grpquota", NULL }, { "prjquota", NULL },
	{ "noquota", NULL }, { "lazytime", NULL }, { "nolazytime", NULL }, { "sync", NULL }, { "dirsync", NULL },
	{ NULL, NULL },
};

static const struct fs_option xfs_options[] = {
	{ "discard", NULL }, { "nodiscard", NULL }, { "inode32", NULL }, { "inode64", NULL },
	{ "largeio", NULL }, { "nolargeio", NULL }, { "logbufs", "#" }, { "logbsize", "#" },
	{ "allocsize", "#" }, { "noquota", NULL }, { "uquota", NULL }, { "gquota", NULL }, { "pquota", NULL },
	{ "usrquota", NULL }, { "grpquota", NULL }, { "prjquota", NULL }, { "nouuid", NULL },
	{ "swalloc", NULL }, { "wsync", NULL }, { "lazytime", NULL }, { "nolazytime", NULL }, { "sync", NULL },
	{ "dirsync", NULL }, { NULL, NULL },
};

static const char *const selinux_options[] = { "context", "fscontext", "defcontext", "rootcontext", NULL };

static bool is_number(const char *s)
{
	const char *p = s;
	while (*p >= '0' && *p <= '9')
		p++;
	/* sizes may end in k, m, g (logbsize=256k, allocsize=1m) */
	if (p > s && (*p == 'k' || *p == 'm' || *p == 'g' || *p == 'K' || *p == 'M' || *p == 'G'))
		p++;
	return p > s && !*p;
}

static bool word_in(const char *w, const char *list)
{
	size_t n = strlen(w);
	for (const char *p = list; *p;) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (len == n && strncmp(p, w, n) == 0)
			return true;
		if (!sp)
			break;
		p = sp + 1;
	}
	return false;
}

static const struct fs_option *fs_table(const char *fstype)
{
	if (fstype && strcmp(fstype, "ext4") == 0)
		return ext4_options;
	if (fstype && strcmp(fstype, "xfs") == 0)
		return xfs_options;
	return NULL;
}

static void names_of(const struct fs_option *t, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(vfs_options) / sizeof(vfs_options[0]) && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", vfs_options[i].name);
	for (; t && t->name && used < len; t++)
		used += (size_t)snprintf(buf + used, len - used, ", %s%s", t->name, t->values ? "=" : "");
}

int pv_mount_option_classify(const char *fstype, const char *opt, struct pv_mount_option *out, struct pv_err *err)
{
	char name[64], allowed[1024];
	const char *eq = strchr(opt, '='), *value = eq ? eq + 1 : NULL;
	size_t n = eq ? (size_t)(eq - opt) : strlen(opt);

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(name))
		goto refuse;
	snprintf(name, sizeof(name), "%.*s", (int)n, opt);
	for (size_t i = 0; !value && i < sizeof(vfs_options) / sizeof(vfs_options[0]); i++)
		if (strcmp(vfs_options[i].name, name) == 0) {
			out->kind = PV_MNT_VFS;
			out->attr = vfs_options[i].attr;
			return 0;
		}
	for (const char *const *s = selinux_options; value && *s; s++)
		if (strcmp(*s, name) == 0) {
			out->kind = PV_MNT_SELINUX;
			return 0;
		}
	for (const struct fs_option *t = fs_table(fstype); t && t->name; t++) {
		if (strcmp(t->name, name) != 0)
			continue;
		if (!t->values ? !value : (value && (strcmp(t->values, "#") == 0 ? is_number(value) : word_in(value, t->values)))) {
			out->kind = PV_MNT_FS;
			return 0;
		}
		return pv_err_set(err, -EINVAL, PV_E_INVALID, "mount option %s%s: %s%s", name, value ? "=..." : "",
				  t->values ? "allowed values: " : "takes no value",
				  t->values && strcmp(t->values, "#") == 0 ? "a number" : (t->values ? t->values : ""));
	}
refuse:
	/* only the name: a value may be a secret someone put in the wrong place */
	names_of(fs_table(fstype), allowed, sizeof(allowed));
	return pv_err_set(err, -EINVAL, PV_E_INVALID, "mount option %.*s%s is not allowed on %s (allowed: %s%s)",
			  (int)(n < 64 ? n : 64), opt, value ? "=..." : "", fstype && *fstype ? fstype : "this volume",
			  allowed, fs_table(fstype) ? "" : "; SELinux context=");
}
