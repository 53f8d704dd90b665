/*
 * mountopt.h — the allow list of mount options (lib/model/mountopt.c): private to the
 * library; the engine checks PV mountOptions and CSI mount flags with it and the mount
 * code turns each into a mount attribute or a filesystem parameter.
 */
#ifndef PVNODE_MODEL_MOUNTOPT_H
#define PVNODE_MODEL_MOUNTOPT_H

#include "pvnode/error.h"

enum pv_mount_option_kind {
	PV_MNT_VFS = 1,  /* an attribute of the mount: ro, nosuid, noatime ... */
	PV_MNT_SELINUX,  /* context=, fscontext=, defcontext=, rootcontext= */
	PV_MNT_FS,       /* a parameter of the filesystem (ext4, xfs) */
};

/* The VFS attributes (values of `attr`). */
enum {
	PV_MNT_RDONLY = 1 << 0, PV_MNT_NOSUID = 1 << 1, PV_MNT_NODEV = 1 << 2, PV_MNT_NOEXEC = 1 << 3,
	PV_MNT_NOATIME = 1 << 4, PV_MNT_RELATIME = 1 << 5, PV_MNT_STRICTATIME = 1 << 6,
	PV_MNT_NODIRATIME = 1 << 7,
};

struct pv_mount_option {
	enum pv_mount_option_kind kind;
	unsigned attr;    /* PV_MNT_VFS: the attribute it sets (0: a default such as rw) */
};

/* Classify `opt` for a filesystem of type `fstype` ("ext4", "xfs"; other types take
 * VFS attributes and SELinux contexts only); PV_E_INVALID naming what is allowed. */
int pv_mount_option_classify(const char *fstype, const char *opt, struct pv_mount_option *out, struct pv_err *err);

#endif
