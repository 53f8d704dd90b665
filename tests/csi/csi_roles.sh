#!/bin/bash
# csi_roles.sh — pvnode --role:
#   node:        Controller calls are UNIMPLEMENTED, GetPluginCapabilities has no
#                CONTROLLER_SERVICE, the Node service stages a volume of the catalog;
#                pvctl --endpoint info works against it;
#   controller:  Node calls are UNIMPLEMENTED; ControllerPublishVolume takes any node id,
#                records it (a second node of a RWO volume is FAILED_PRECONDITION), takes
#                a static PV the catalog does not hold from volume_context, and forgets
#                it again on ControllerUnpublishVolume;
#   all:         (the default) ControllerPublishVolume to a node other than its own is
#                NOT_FOUND, as before.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
P() { "$PVCTL" --endpoint "$EP" --allowed-path "$ALLOWED" --state-dir "$T/state" "$@"; }

# --- node ---
cat >"$T/v1.json" <<JSON
{"name": "v1", "driver": "file", "capacity": "32Mi", "accessModes": ["ReadWriteOnce"]}
JSON
"$PVCTL" --state-dir "$T/state" create -f "$T/v1.json" >/dev/null || csi_fail "pvctl create"
csi_start --role node
expect OK GetPluginCapabilities
grep -q CONTROLLER_SERVICE <<<"$OUT" && csi_fail "a node plugin advertises CONTROLLER_SERVICE: $OUT"
expect UNIMPLEMENTED ControllerGetCapabilities
grep -q "does not serve the CSI Controller service" <<<"$ERRMSG" || csi_fail "refusal sentence: $ERRMSG"
expect UNIMPLEMENTED CreateVolume name=x "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect UNIMPLEMENTED ControllerPublishVolume volume_id=v1 node_id=node-a $(cap_mount)
expect UNIMPLEMENTED ListVolumes
expect OK NodeGetCapabilities
expect OK NodeGetInfo
expect OK NodeStageVolume volume_id=v1 staging_target_path="$ALLOWED/stg/v1" $(cap_mount)
mountpoint -q "$ALLOWED/stg/v1" || csi_fail "node role: not staged"
expect OK NodeUnstageVolume volume_id=v1 staging_target_path="$ALLOWED/stg/v1"
P info >"$T/info" 2>"$T/info.err" || csi_fail "pvctl info against a node plugin: $(cat "$T/info.err")"
grep -q "controller: *(not served)" "$T/info" || csi_fail "info: $(cat "$T/info")"
grep -q "STAGE_UNSTAGE_VOLUME" "$T/info" || csi_fail "info lacks the node capabilities: $(cat "$T/info")"
csi_stop TERM

# --- controller ---
csi_start --role controller
expect OK GetPluginCapabilities
grep -q CONTROLLER_SERVICE <<<"$OUT" || csi_fail "a controller does not advertise CONTROLLER_SERVICE: $OUT"
expect UNIMPLEMENTED NodeGetInfo
expect UNIMPLEMENTED NodeStageVolume volume_id=v1 staging_target_path="$ALLOWED/stg/v1" $(cap_mount)
expect OK ControllerGetCapabilities
# iSCSI needs nothing from the target to be created or published (the node logs in)
ISCSI="parameters.driver=iscsi parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:roles parameters.lun=1"
expect OK CreateVolume name=b1 capacity_range.required_bytes=$((64 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" $ISCSI
expect OK ControllerPublishVolume volume_id=b1 node_id=worker-1 $(cap_mount)
expect OK ControllerPublishVolume volume_id=b1 node_id=worker-1 $(cap_mount)
expect FAILED_PRECONDITION ControllerPublishVolume volume_id=b1 node_id=worker-2 $(cap_mount)
grep -q worker-1 <<<"$ERRMSG" || csi_fail "the refusal does not name the holder: $ERRMSG"
# a file volume lives on this node's disk: never published to another node
expect OK CreateVolume name=f1 capacity_range.required_bytes=$((32 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
	parameters.driver=file
expect FAILED_PRECONDITION ControllerPublishVolume volume_id=f1 node_id=worker-1 $(cap_mount)
expect OK ControllerPublishVolume volume_id=f1 node_id=node-a $(cap_mount)

# a static PV: the catalog does not have it, its volume_context describes it
STATIC="volume_context.pvnode.io/driver=iscsi volume_context.pvnode.io/capacity=$((64 << 20))
	volume_context.pvnode.io/accessModes=RWO volume_context.pvnode.io/fsType=ext4
	volume_context.portal=127.0.0.1:1 volume_context.iqn=iqn.2026-11.io.pvnode.test:static volume_context.lun=2
	volume_context.loginTimeout=1"
expect NOT_FOUND ControllerPublishVolume volume_id=static1 node_id=worker-1 $(cap_mount)
expect OK ControllerPublishVolume volume_id=static1 node_id=worker-1 $(cap_mount) $STATIC
[ -f "$T/state/attachments/@pv/static1.json" ] || csi_fail "the static PV's description is not kept"
expect FAILED_PRECONDITION ControllerPublishVolume volume_id=static1 node_id=worker-2 $(cap_mount) $STATIC
# the release uses the kept description: the driver tries the target to break the fence
call ControllerUnpublishVolume volume_id=static1 node_id=worker-1
[ "$ST" = UNAVAILABLE ] || [ "$ST" = INTERNAL ] || csi_fail "release of a static PV did not reach the driver: $ERRMSG"
grep -q "127.0.0.1:1" <<<"$ERRMSG" || csi_fail "release error does not name the portal: $ERRMSG"
csi_stop TERM

# --- all (the default): only its own node ---
csi_start
expect OK ControllerUnpublishVolume volume_id=f1 node_id=node-a
expect NOT_FOUND ControllerPublishVolume volume_id=f1 node_id=worker-9 $(cap_mount)
expect OK ControllerPublishVolume volume_id=f1 node_id=node-a $(cap_mount)
echo PASS
