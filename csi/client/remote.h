/*
 * pvctl_csi.h — what the two files of pvctl's CSI client share (pvctl_csi.c: helpers,
 * dispatch, info and the catalog commands; pvctl_csi_node.c: the node commands).
 */
#ifndef PVNODE_PVCTL_CSI_H
#define PVNODE_PVCTL_CSI_H

#include <stdbool.h>

#include "client.h"
#include "csi.h"
#include "pvctl.h"
#include "pvnode/util.h"

#define TIMEOUT_MS 600000

struct cli {
	const struct pvctl_opts *o;
	struct csi_client *c;
	struct pv_err err;
};

/* Capability storage for one request. */
struct capbuf {
	Csi__V1__VolumeCapability cap;
	Csi__V1__VolumeCapability__AccessMode mode;
	Csi__V1__VolumeCapability__MountVolume mount;
	Csi__V1__VolumeCapability__BlockVolume block;
	char *flags[17];
	char flag[300];
};

/* The volume as ListVolumes reports it: its PV (from volume_context) and the context
 * entries to pass on. */
struct found {
	struct pv pv;
	Csi__V1__ListVolumesResponse *list;
	Csi__V1__Volume *vol;
};

/* Options every command may take; each command checks what it needs. */
struct args {
	const char *file, *access, *staging, *selinux, *output, *pod, *capacity, *node;
	bool readonly, relabel, force;
	char *flags[16];
	size_t n_flags;
	char *pos[4];
	int npos;
	enum pv_access mode;
};

/* One call; on failure fills cli->err from the status and returns < 0. */
int pcsi_call(struct cli *cl, const char *method, const void *req,
	      const ProtobufCMessageDescriptor *rd, void *resp);
void pcsi_free_msg(void *pm);
#define _msg_ _cleanup_(pcsi_free_msg)
void pcsi_staging_default(const struct cli *cl, const char *name, char *buf, size_t len);
void pcsi_cap_fill(struct capbuf *b, enum pv_access a, bool block, const char *fs,
		   const char *selinux_level, char *const *flags, size_t n_flags);
int pcsi_find_volume(struct cli *cl, const char *name, struct found *f);
void pcsi_found_free(struct found *f);
int pcsi_finish(struct cli *cl, int r);
int pcsi_parse_args(int argc, char **argv, struct args *a);
bool pcsi_json_out(const struct args *a);
void pcsi_print_msg(const void *m);

int pcsi_cmd_stage(struct cli *cl, int argc, char **argv);
int pcsi_cmd_publish(struct cli *cl, int argc, char **argv);
int pcsi_cmd_unpublish(struct cli *cl, int argc, char **argv);
int pcsi_cmd_unstage(struct cli *cl, int argc, char **argv);
int pcsi_cmd_fence_release(struct cli *cl, int argc, char **argv);
int pcsi_cmd_stats(struct cli *cl, int argc, char **argv);
int pcsi_cmd_expand(struct cli *cl, int argc, char **argv);

#endif
