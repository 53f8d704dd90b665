#!/bin/bash
# csi_lifecycle.sh — every CSI RPC of a volume's life through a real gRPC client, with
# the file driver, each repeated to check idempotency: CreateVolume, ValidateVolume-
# Capabilities, ListVolumes (paging), GetCapacity, ControllerPublish, NodeStage,
# NodePublish (data written and read back), NodeGetVolumeStats, ControllerExpand +
# NodeExpand, NodeUnpublish, NodeUnstage, ControllerUnpublish, DeleteVolume; staging
# from volume_context alone (no catalog entry needed on the node).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start

STG="$ALLOWED/staging/v1"
TGT="$ALLOWED/pods/p1/v1"
mkdir -p "$ALLOWED/pods/p1"

expect OK GetPluginInfo
grep -q '"name":"pvnode.csi.io"' <<<"$OUT" || csi_fail "plugin name: $OUT"
expect OK Probe
grep -q '"value":true' <<<"$OUT" || csi_fail "probe not ready: $OUT"

create_volume v1 $((64 << 20))
CTX=$(context_args "$OUT")
grep -q '"capacity_bytes":67108864' <<<"$OUT" || csi_fail "capacity: $OUT"
create_volume v1 $((64 << 20))            # idempotent
create_volume v2 $((32 << 20))
create_volume v3 $((32 << 20))

expect OK ValidateVolumeCapabilities volume_id=v1 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER"
grep -q confirmed <<<"$OUT" || csi_fail "RWO not confirmed: $OUT"
expect OK ValidateVolumeCapabilities volume_id=v1 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=MULTI_NODE_MULTI_WRITER"
grep -q confirmed <<<"$OUT" && csi_fail "RWX confirmed on a RWO volume: $OUT"

# paging: 2 + 1
expect OK ListVolumes max_entries=2
grep -q '"next_token":"2"' <<<"$OUT" || csi_fail "no next_token: $OUT"
expect OK ListVolumes max_entries=2 starting_token=2
grep -q '"volume_id":"v3"' <<<"$OUT" || csi_fail "page 2: $OUT"
expect ABORTED ListVolumes starting_token=banana
expect OK GetCapacity
grep -q available_capacity <<<"$OUT" || csi_fail "capacity: $OUT"

expect OK ControllerPublishVolume volume_id=v1 node_id=node-a $(cap_mount)
expect OK ControllerPublishVolume volume_id=v1 node_id=node-a $(cap_mount)

for _ in 1 2; do
	expect OK NodeStageVolume volume_id=v1 staging_target_path="$STG" $(cap_mount) $CTX
done
mountpoint -q "$STG" || csi_fail "not mounted at $STG"
for _ in 1 2; do
	expect OK NodePublishVolume volume_id=v1 staging_target_path="$STG" target_path="$TGT" $(cap_mount) $CTX
done
mountpoint -q "$TGT" || csi_fail "not mounted at $TGT"
echo data-v1 >"$TGT/file"
sync
[ "$(cat "$STG/file")" = data-v1 ] || csi_fail "data not visible through the staging mount"

expect OK NodeGetVolumeStats volume_id=v1 volume_path="$TGT"
grep -q '"unit":"BYTES"' <<<"$OUT" && grep -q '"unit":"INODES"' <<<"$OUT" || csi_fail "stats: $OUT"
grep -q '"abnormal"' <<<"$OUT" && csi_fail "volume reported abnormal: $OUT"
expect NOT_FOUND NodeGetVolumeStats volume_id=v1 volume_path="$ALLOWED/nowhere"

# expansion: backend then filesystem
expect OK ControllerExpandVolume volume_id=v1 capacity_range.required_bytes=$((128 << 20))
grep -q '"node_expansion_required":true' <<<"$OUT" || csi_fail "expand: $OUT"
call NodeExpandVolume volume_id=v1 volume_path="$TGT" staging_target_path="$STG" \
	capacity_range.required_bytes=$((128 << 20))
if [ "$ST" = OK ]; then
	size=$(df -B1 --output=size "$TGT" | tail -1)
	[ "$size" -gt $((100 << 20)) ] || csi_fail "filesystem not grown: $size"
elif online_resize_works; then
	csi_fail "NodeExpandVolume: $ERRMSG"
else
	echo "NOTE: this machine refuses online ext4 resize (resize2fs: permission denied); NodeExpandVolume returned $ERRMSG" >&2
fi

for _ in 1 2; do
	expect OK NodeUnpublishVolume volume_id=v1 target_path="$TGT"
done
mountpoint -q "$TGT" && csi_fail "still mounted at $TGT"
for _ in 1 2; do
	expect OK NodeUnstageVolume volume_id=v1 staging_target_path="$STG"
done
mountpoint -q "$STG" && csi_fail "still mounted at $STG"
for _ in 1 2; do
	expect OK ControllerUnpublishVolume volume_id=v1 node_id=node-a
done

# Stage from volume_context alone: v2's catalog record is moved away first.
create_volume v2 $((32 << 20))
CTX2=$(context_args "$OUT")
mv "$T/state/catalog" "$T/catalog.away"
expect NOT_FOUND NodeStageVolume volume_id=v2 staging_target_path="$ALLOWED/staging/v2" $(cap_mount)
expect OK NodeStageVolume volume_id=v2 staging_target_path="$ALLOWED/staging/v2" $(cap_mount) $CTX2
expect OK NodeUnstageVolume volume_id=v2 staging_target_path="$ALLOWED/staging/v2"
mv "$T/catalog.away" "$T/state/catalog"

for v in v1 v2 v3; do
	expect OK DeleteVolume volume_id=$v
	expect OK DeleteVolume volume_id=$v      # idempotent
done
expect OK ListVolumes
[ "$OUT" = "{}" ] || csi_fail "volumes left: $OUT"
echo PASS
