/*
 * nfs.h — what the NFS driver's files share (not a public header).
 *
 * nfs_attrs.c parses and checks a PV's attributes into `struct pvnfs_cfg` and builds the
 * kernel mounter's source and options (pure logic, unit-tested); nfs_client.c connects a
 * libnfs context (NFSv3) and walks paths safely; nfs_provision.c creates and removes
 * volume directories; nfs_driver.c is the driver table (attach with the kernel or the
 * userspace mounter, detach, health, reattach); nfs_fuse.c is the helper program
 * pvnode-nfs-fuse (a FUSE filesystem over libnfs).
 */
#ifndef PVNODE_DRIVERS_NFS_H
#define PVNODE_DRIVERS_NFS_H

#include <stdbool.h>
#include <stddef.h>

#include "pvnode/error.h"
#include "pvnode/pv.h"

struct nfs_context;

enum pvnfs_mounter { PVNFS_MOUNTER_AUTO = 0, PVNFS_MOUNTER_KERNEL, PVNFS_MOUNTER_USERSPACE };
enum pvnfs_on_delete { PVNFS_DELETE = 0, PVNFS_RETAIN, PVNFS_ARCHIVE };

#define PVNFS_DEFAULT_TIMEOUT_MS 10000
/* Snapshots and unfinished copies live in <share>/.pvnode-snapshots (nfs_snapshot.c);
 * no volume's subDir may start with it. */
#define PVNFS_SNAPSHOT_DIR ".pvnode-snapshots"

struct pvnfs_cfg {
	char host[256];         /* name or address, IPv6 without brackets */
	int port;               /* NFS port, 0: ask the portmapper */
	char share[1024];       /* absolute export path, no trailing slash (except "/") */
	char subdir[1024];      /* relative, clean; "" = the share itself */
	char version[8];        /* "3", "4", "4.1", "4.2" */
	enum pvnfs_mounter mounter;
	enum pvnfs_on_delete on_delete;
	int timeout_ms;         /* userspace: from mountOptions timeo= (deciseconds) */
};

/* Attribute names the driver accepts / requires. */
extern const char *const pvnfs_attribute_names[];
extern const char *const pvnfs_required_attributes[];

/* Parse and check the PV's attributes and mount options; refusals name the attribute,
 * the value and what is allowed. */
int pvnfs_cfg_from_pv(const struct pv *pv, struct pvnfs_cfg *cfg, struct pv_err *err);
/* Is `s` a clean relative path (no "", ".", "..", leading or doubled "/")? */
bool pvnfs_relpath_clean(const char *s);
/* Does subDir `sub` lie in the snapshot area (PVNFS_SNAPSHOT_DIR)? */
bool pvnfs_subdir_reserved(const char *sub);
/* A mount option the driver passes on (printable, no ',' '"' or whitespace)? */
bool pvnfs_option_valid(const char *opt);

/* Kernel mounter: "host:/share/sub" (IPv6 in brackets), "nfs"|"nfs4", and the option
 * string (vers, port, proto, hard, timeo, retrans, the PV's mountOptions, ro). */
int pvnfs_kernel_spec(const struct pv *pv, const struct pvnfs_cfg *cfg, bool readonly,
		      char *source, size_t slen, char *fstype, size_t flen, char *options,
		      size_t olen, struct pv_err *err);
/* Does /proc/filesystems (or `path` for tests) list nfs? */
bool pvnfs_kernel_has_nfs(const char *path);

/* "/share/sub" — the path of the volume's root on the server. */
int pvnfs_volume_path(const struct pvnfs_cfg *cfg, char *buf, size_t len);

/* Connect a libnfs context over NFSv3 to host[:port] and mount `export`, with RPC
 * timeout `timeout_ms` (rounded up to whole seconds). errbuf gets libnfs's sentence. */
int pvnfs_connect(const char *host, int port, const char *export, int timeout_ms,
		  struct nfs_context **out, char *errbuf, size_t errlen);
/* Walk `rel` below the mount root one component at a time with lstat: every component
 * that exists must be a directory (not a symlink). *missing_from gets the index of the
 * first missing component (or the count when all exist). */
int pvnfs_walk_checked(struct nfs_context *nfs, const char *rel, size_t *missing_from,
		       struct pv_err *err);

/* libnfs 4.0 hands out a file's handle for its raw RPC calls (nfs_get_fh) without
 * declaring its two fields; this is their layout there (libnfs-private.h, unchanged
 * through 6.x). pvnfs_fh_fields: the handle of an open file or directory as the raw
 * calls take it, NULL when it does not look like an NFSv3 handle (nfs_client.c). */
struct nfsfh;
struct libnfs_fh_fields {
	int len;
	char *val;
};
const struct libnfs_fh_fields *pvnfs_fh_fields(struct nfsfh *fh);

#endif
