#!/bin/bash
# csi_errors.sh — every error code the CSI spec lists for the calls pvnode serves,
# where it applies: INVALID_ARGUMENT (missing id, path or capability; ids with '/';
# '..' or paths outside the allowed prefixes; oversize fields), NOT_FOUND, ALREADY_EXISTS,
# OUT_OF_RANGE, FAILED_PRECONDITION (RWX on a filesystem on block storage, a second
# RWOP publish, deleting a staged volume), UNIMPLEMENTED; and that secrets never reach
# the log.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start

STG="$ALLOWED/staging/e1"
mkdir -p "$ALLOWED/pods/a" "$ALLOWED/pods/b"
LONG=$(printf 'x%.0s' $(seq 129))

# --- INVALID_ARGUMENT
expect INVALID_ARGUMENT CreateVolume "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect INVALID_ARGUMENT CreateVolume name=e0 parameters.driver=file          # no capabilities
expect INVALID_ARGUMENT CreateVolume name=e0 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER"          # no driver
expect INVALID_ARGUMENT CreateVolume name=e0 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=nosuch
expect INVALID_ARGUMENT CreateVolume name=$'a\001b' "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file   # a control character
expect INVALID_ARGUMENT CreateVolume name="$(printf 'n%.0s' $(seq 129))" "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file   # over 128 bytes
expect INVALID_ARGUMENT CreateVolume name=e0 "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
	parameters.driver=file                                                # no access type
expect INVALID_ARGUMENT CreateVolume name=e0 "volume_capabilities[0].mount.fs_type=ext4" \
	parameters.driver=file                                                # no access mode
expect INVALID_ARGUMENT CreateVolume name=e0 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	parameters.unknownAttribute=1                                         # driver refuses it
expect INVALID_ARGUMENT DeleteVolume
expect INVALID_ARGUMENT DeleteVolume volume_id=../../etc
expect INVALID_ARGUMENT DeleteVolume volume_id="$LONG"

create_volume e1 $((32 << 20))
CTX=$(context_args "$OUT")
expect INVALID_ARGUMENT NodeStageVolume staging_target_path="$STG" $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path="$STG"
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path="$ALLOWED/../x" $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path=/tmp/elsewhere $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path=relative/path $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e/1 staging_target_path="$STG" $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path="$ALLOWED/$(printf 'p%.0s' $(seq 5000))" $(cap_mount)
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path="$STG" \
	volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=42
BIGFLAG="volume_capability.mount.mount_flags=$(printf 'o%.0s' $(seq 5000))"
expect INVALID_ARGUMENT NodeStageVolume volume_id=e1 staging_target_path="$STG" $(cap_mount) "$BIGFLAG"
expect INVALID_ARGUMENT NodePublishVolume volume_id=e1 staging_target_path="$STG" $(cap_mount)
expect INVALID_ARGUMENT NodePublishVolume volume_id=e1 target_path="$ALLOWED/pods/a/../../../etc" $(cap_mount)
expect INVALID_ARGUMENT NodeUnpublishVolume volume_id=e1
expect INVALID_ARGUMENT NodeUnpublishVolume target_path="$ALLOWED/pods/a/e1"
expect INVALID_ARGUMENT NodeUnstageVolume volume_id=e1
expect INVALID_ARGUMENT NodeGetVolumeStats volume_id=e1
expect INVALID_ARGUMENT NodeExpandVolume volume_id=e1
expect INVALID_ARGUMENT ControllerPublishVolume volume_id=e1 $(cap_mount)
expect INVALID_ARGUMENT ControllerPublishVolume volume_id=e1 node_id=node-a
expect INVALID_ARGUMENT ControllerUnpublishVolume node_id=node-a
expect INVALID_ARGUMENT ControllerUnpublishVolume volume_id=e1 node_id=a/b
expect INVALID_ARGUMENT ValidateVolumeCapabilities volume_id=e1
expect INVALID_ARGUMENT ControllerExpandVolume volume_id=e1
expect INVALID_ARGUMENT ListVolumes max_entries=-1

# --- NOT_FOUND
expect NOT_FOUND NodeStageVolume volume_id=ghost staging_target_path="$ALLOWED/staging/ghost" $(cap_mount)
expect NOT_FOUND ControllerPublishVolume volume_id=ghost node_id=node-a $(cap_mount)
expect NOT_FOUND ControllerPublishVolume volume_id=e1 node_id=node-zz $(cap_mount)
expect NOT_FOUND ValidateVolumeCapabilities volume_id=ghost $(cap_mount | sed 's/volume_capability\./volume_capabilities[0]./g')
expect NOT_FOUND ControllerExpandVolume volume_id=ghost capacity_range.required_bytes=1000000
expect OK ControllerUnpublishVolume volume_id=ghost node_id=node-a     # nothing to release
expect NOT_FOUND NodeUnpublishVolume volume_id=ghost target_path="$ALLOWED/pods/a/ghost"
expect NOT_FOUND NodeUnstageVolume volume_id=ghost staging_target_path="$ALLOWED/staging/ghost"
expect NOT_FOUND NodeGetVolumeStats volume_id=ghost volume_path="$ALLOWED/pods/a/ghost"
expect NOT_FOUND NodeGetVolumeStats volume_id=ghost volume_path=some/path
expect NOT_FOUND NodeGetVolumeStats volume_id=e1 volume_path=some/path    # known, not there
expect NOT_FOUND NodeExpandVolume volume_id=ghost volume_path=some/path
expect OK NodeUnpublishVolume volume_id=e1 target_path="$ALLOWED/pods/a/e1"   # known, not published

# --- ALREADY_EXISTS / OUT_OF_RANGE
expect ALREADY_EXISTS CreateVolume name=e1 capacity_range.required_bytes=$((64 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect ALREADY_EXISTS CreateVolume name=e1 capacity_range.required_bytes=$((32 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	parameters.path=/tmp/some-other-image.img
expect OUT_OF_RANGE CreateVolume name=e9 capacity_range.required_bytes=$((64 << 20)) \
	capacity_range.limit_bytes=$((32 << 20)) "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect OUT_OF_RANGE ControllerExpandVolume volume_id=e1 capacity_range.required_bytes=$((16 << 20)) \
	capacity_range.limit_bytes=$((16 << 20))

# --- FAILED_PRECONDITION: a single-node volume ControllerPublished to another node
expect OK ControllerPublishVolume volume_id=e1 node_id=node-a $(cap_mount)
expect OK ControllerPublishVolume volume_id=e1 node_id=node-a $(cap_mount)
expect FAILED_PRECONDITION ControllerPublishVolume volume_id=e1 node_id=node-b $(cap_mount)
expect OK ControllerUnpublishVolume volume_id=e1                       # every node
expect NOT_FOUND ControllerPublishVolume volume_id=e1 node_id=node-b $(cap_mount)

# --- FAILED_PRECONDITION: RWX filesystem on block storage
call CreateVolume name=e2 capacity_range.required_bytes=$((32 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=MULTI_NODE_MULTI_WRITER" parameters.driver=file
case "$ST" in INVALID_ARGUMENT|FAILED_PRECONDITION) ;; *) csi_fail "RWX filesystem on block created: $ERRMSG" ;; esac
expect FAILED_PRECONDITION NodeStageVolume volume_id=e1 staging_target_path="$STG" \
	$(cap_mount MULTI_NODE_MULTI_WRITER) $CTX
mountpoint -q "$STG" && csi_fail "RWX stage left a mount"

# --- FAILED_PRECONDITION: a second RWOP publish
create_volume e3 $((32 << 20)) SINGLE_NODE_SINGLE_WRITER
CTX3=$(context_args "$OUT")
S3="$ALLOWED/staging/e3"
expect OK NodeStageVolume volume_id=e3 staging_target_path="$S3" $(cap_mount SINGLE_NODE_SINGLE_WRITER) $CTX3
expect OK NodePublishVolume volume_id=e3 staging_target_path="$S3" target_path="$ALLOWED/pods/a/e3" \
	$(cap_mount SINGLE_NODE_SINGLE_WRITER) $CTX3
expect FAILED_PRECONDITION NodePublishVolume volume_id=e3 staging_target_path="$S3" \
	target_path="$ALLOWED/pods/b/e3" $(cap_mount SINGLE_NODE_SINGLE_WRITER) $CTX3
mountpoint -q "$ALLOWED/pods/b/e3" && csi_fail "second RWOP publish mounted"
# --- FAILED_PRECONDITION: delete while staged
expect FAILED_PRECONDITION DeleteVolume volume_id=e3
expect OK NodeUnpublishVolume volume_id=e3 target_path="$ALLOWED/pods/a/e3"
expect OK NodeUnstageVolume volume_id=e3 staging_target_path="$S3"
expect OK DeleteVolume volume_id=e3

# --- UNIMPLEMENTED
expect UNIMPLEMENTED /csi.v1.Controller/GetSnapshot --raw ""
expect UNIMPLEMENTED /csi.v1.Controller/ControllerGetVolume --raw ""

# --- secrets never logged
SECRET=s3cr3t-$RANDOM$RANDOM
call NodeStageVolume volume_id=e1 staging_target_path="$STG" $(cap_mount) $CTX \
	secrets.password="$SECRET" "volume_capability.mount.mount_flags=password=$SECRET"
call CreateVolume name=e4 capacity_range.required_bytes=$((32 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	secrets.chapPassword="$SECRET"
grep -q "$SECRET" "$T/pvnode.log" && csi_fail "a secret reached the log"
grep -q '"secrets":"<redacted>"' "$T/pvnode.log" || csi_fail "secrets not shown as redacted"
call NodeUnstageVolume volume_id=e1 staging_target_path="$STG"

# --- Probe is not ready while the state directory is unusable
mv "$T/state" "$T/state.away"
expect OK Probe
[ "$OUT" = '{"ready":{}}' ] || csi_fail "Probe ready without a state dir: $OUT"
mv "$T/state.away" "$T/state"
expect OK Probe
[ "$OUT" = '{"ready":{"value":true}}' ] || csi_fail "Probe not ready: $OUT"

kill -0 "$PVNODE_PID" || csi_fail "pvnode died"
echo PASS
