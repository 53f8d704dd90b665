/*
 * remote.h — what the files of pvctl's CSI backend share (remote.c: calls, info and
 * the catalog commands; remote_node.c: the node commands; remote_snapshot.c: the
 * snapshot commands). Built into pvctl-csi only.
 */
#ifndef PVNODE_PVCTL_REMOTE_H
#define PVNODE_PVCTL_REMOTE_H

#include <stdbool.h>

#include "client/client.h"
#include "csi.h"
#include "pvctl.h"
#include "pvnode/util.h"

#define TIMEOUT_MS 600000

struct cli {
	struct pvctl *p;
	struct csi_client *c;
	struct pv_err err;
};

/* Capability storage for one request. */
struct capbuf {
	Csi__V1__VolumeCapability cap;
	Csi__V1__VolumeCapability__AccessMode mode;
	Csi__V1__VolumeCapability__MountVolume mount;
	Csi__V1__VolumeCapability__BlockVolume block;
	char *flags[PVCTL_MAX_FLAGS + 1];
	char flag[300];
};

/* The volume as ListVolumes reports it: its PV (from volume_context) and the context
 * entries to pass on. */
struct found {
	struct pv pv;
	Csi__V1__ListVolumesResponse *list;
	Csi__V1__Volume *vol;
};

/* Connect for one command; the exit status of a connection failure, else 0. */
int pcsi_open(struct cli *cl, struct pvctl *p);
void pcsi_close(struct cli *cl);
/* One call; on failure fills cli->err from the status and returns < 0. */
int pcsi_call(struct cli *cl, const char *method, const void *req,
	      const ProtobufCMessageDescriptor *rd, void *resp);
void pcsi_free_msg(void *pm);
#define _msg_ _cleanup_(pcsi_free_msg)
void pcsi_cap_fill(struct capbuf *b, enum pv_access a, bool block, const char *fs,
		   const char *selinux_level, const char *const *flags, size_t n_flags);
int pcsi_find_volume(struct cli *cl, const char *name, struct found *f);
void pcsi_found_free(struct found *f);
/* Close the connection and turn r into the exit status. */
int pcsi_finish(struct cli *cl, int r);
void pcsi_print_msg(const void *m);

int pcsi_stage(struct pvctl *p, const struct pvctl_req *r);
int pcsi_publish(struct pvctl *p, const struct pvctl_req *r);
int pcsi_unpublish(struct pvctl *p, const struct pvctl_req *r);
int pcsi_unstage(struct pvctl *p, const struct pvctl_req *r);
int pcsi_fence_release(struct pvctl *p, const struct pvctl_req *r);
int pcsi_stats(struct pvctl *p, const struct pvctl_req *r);
int pcsi_expand(struct pvctl *p, const struct pvctl_req *r);
int pcsi_snapshot_create(struct pvctl *p, const struct pvctl_req *r);
int pcsi_snapshot_list(struct pvctl *p, const struct pvctl_req *r);
int pcsi_snapshot_delete(struct pvctl *p, const struct pvctl_req *r);

#endif
