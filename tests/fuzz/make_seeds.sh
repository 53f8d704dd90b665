#!/bin/bash
# make_seeds.sh BUILD_DIR — write the seed inputs of tests/fuzz/corpus: one valid
# request per method (byte 0 = method index, then the protobuf body), built by csi_call.
set -eu
B=${1:-build-csi}
C="$B/tests/csi/csi_call"
D=$(dirname "$0")/corpus
mkdir -p "$D"
A=/pvnode-fuzz-allowed
CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
CAPS="volume_capabilities[0].mount.fs_type=ext4 volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER"
CTX="volume_context.pvnode.io/driver=file volume_context.pvnode.io/capacity=33554432 volume_context.pvnode.io/accessModes=RWO volume_context.pvnode.io/fsType=ext4 volume_context.pvnode.io/volumeMode=Filesystem volume_context.path=/var/lib/pvnode/images/v.img"
seed() { local name=$1; shift; "$C" - "$@" >"$D/seed-$name"; }
seed info GetPluginInfo
seed caps GetPluginCapabilities
seed probe Probe
seed create CreateVolume name=v1 capacity_range.required_bytes=33554432 capacity_range.limit_bytes=67108864 $CAPS parameters.driver=file parameters.fsType=ext4 parameters.gid=5555 secrets.k=v
seed create-block CreateVolume name=b1 "volume_capabilities[0].block=" "volume_capabilities[0].access_mode.mode=MULTI_NODE_MULTI_WRITER" parameters.driver=file
seed delete DeleteVolume volume_id=v1 secrets.k=v
seed cpublish ControllerPublishVolume volume_id=v1 node_id=fuzz-node $CAP readonly=true $CTX
seed cunpublish ControllerUnpublishVolume volume_id=v1 node_id=other
seed validate ValidateVolumeCapabilities volume_id=v1 $CAPS $CTX parameters.driver=file
seed list ListVolumes max_entries=2 starting_token=1
seed capacity GetCapacity $CAPS parameters.driver=file
seed ccaps ControllerGetCapabilities
seed cexpand ControllerExpandVolume volume_id=v1 capacity_range.required_bytes=67108864 $CAP
seed stage NodeStageVolume volume_id=v1 staging_target_path=$A/staging/v1 $CAP $CTX secrets.password=x "volume_capability.mount.mount_flags=noatime" "volume_capability.mount.mount_flags=context=\"system_u:object_r:container_file_t:s0:c1,c2\""
seed stage-block NodeStageVolume volume_id=v1 staging_target_path=$A/staging/v1 volume_capability.block= volume_capability.access_mode.mode=SINGLE_NODE_SINGLE_WRITER $CTX
seed unstage NodeUnstageVolume volume_id=v1 staging_target_path=$A/staging/v1
seed publish NodePublishVolume volume_id=v1 staging_target_path=$A/staging/v1 target_path=$A/pods/p/v1 $CAP readonly=true $CTX volume_context.csi.storage.k8s.io/pod.uid=1234
seed unpublish NodeUnpublishVolume volume_id=v1 target_path=$A/pods/p/v1
seed stats NodeGetVolumeStats volume_id=v1 volume_path=$A/pods/p/v1 staging_target_path=$A/staging/v1
seed nexpand NodeExpandVolume volume_id=v1 volume_path=$A/pods/p/v1 capacity_range.required_bytes=67108864 $CAP
seed ncaps NodeGetCapabilities
seed ninfo NodeGetInfo
seed csnap CreateSnapshot name=s1 source_volume_id=v1 secrets.k=v parameters.csi.storage.k8s.io/volumesnapshot/name=vs
seed dsnap DeleteSnapshot snapshot_id=s1 secrets.k=v
seed lsnap ListSnapshots max_entries=2 starting_token=1 source_volume_id=v1 snapshot_id=s1
seed create-from-snap CreateVolume name=r1 $CAPS parameters.driver=file volume_content_source.snapshot.snapshot_id=s1
seed create-from-vol CreateVolume name=c1 capacity_range.required_bytes=33554432 $CAPS parameters.driver=file volume_content_source.volume.volume_id=v1
ls "$D" | wc -l
