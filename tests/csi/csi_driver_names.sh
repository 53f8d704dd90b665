#!/bin/bash
# csi_driver_names.sh — pvnode --driver-name: the name GetPluginInfo returns, and the rule
# the manifests rely on: a pvnode serving one of the three names refuses (INVALID_ARGUMENT,
# naming the driver and the name that serves it) volumes of the other kinds, in
# CreateVolume, NodeStageVolume and the calls on a known volume, and lists only its own.
# Several pvnodes sharing a state directory (one per name) each reconcile only the
# volumes of their drivers: an interrupted stage of a file volume is left alone by the
# block pvnode and undone by the local one.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
"$PVCTL" --version | grep -q iscsi || csi_skip "the iscsi driver is not built"
csi_setup
S="$T/state"

rc=0
"$PVNODE" --endpoint "unix://$T/x.sock" --node-id n --state-dir "$S" --driver-name nfs.example.com \
	>"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || csi_fail "an unknown --driver-name is not a usage error (rc $rc)"
grep -q "local.pvnode.csi.io" "$T/bad.out" || csi_fail "the refusal does not list the names: $(cat "$T/bad.out")"
rc=0
"$PVNODE" --endpoint "unix://$T/x.sock" --node-id n --state-dir "$S" --driver-name block.pvnode.csi.io \
	--default-driver file >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || csi_fail "--default-driver of another name is not a usage error (rc $rc)"

# An interrupted stage of a file volume, left by a pvctl killed half-way.
cat >"$T/f1.json" <<JSON
{"name": "f1", "driver": "file", "capacity": "32Mi", "accessModes": ["ReadWriteOnce"]}
JSON
"$PVCTL" --state-dir "$S" --allowed-path "$ALLOWED" create -f "$T/f1.json" >/dev/null
rc=0
PVNODE_FAULT=stage-after-attach "$PVCTL" --state-dir "$S" --allowed-path "$ALLOWED" stage f1 >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] || csi_skip "this build has no fault injection (pvctl stage rc $rc)"
"$PVCTL" --state-dir "$S" get | grep -q "f1 .*Staging" || csi_fail "no interrupted stage: $("$PVCTL" --state-dir "$S" get)"

# --- the block name on that state directory ---
csi_start --driver-name block.pvnode.csi.io
grep -q "volume f1" "$T/pvnode.log" && csi_fail "the block pvnode reconciled a file volume: $(grep f1 "$T/pvnode.log")"
"$PVCTL" --state-dir "$S" get | grep -q "f1 .*Staging" || csi_fail "the block pvnode touched f1's journal"
expect OK GetPluginInfo
grep -q '"name":"block.pvnode.csi.io"' <<<"$OUT" || csi_fail "plugin name: $OUT"
expect OK GetPluginCapabilities
grep -q VOLUME_ACCESSIBILITY_CONSTRAINTS <<<"$OUT" && csi_fail "block storage advertises topology: $OUT"
expect OK NodeGetInfo
grep -q accessible_topology <<<"$OUT" && csi_fail "block storage reports a topology: $OUT"
expect INVALID_ARGUMENT CreateVolume name=f2 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
grep -q "driver file is served by CSI driver local.pvnode.csi.io, not by block.pvnode.csi.io" <<<"$ERRMSG" ||
	csi_fail "refusal sentence: $ERRMSG"
expect INVALID_ARGUMENT CreateVolume name=n1 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=MULTI_NODE_MULTI_WRITER" parameters.driver=nfs \
	parameters.server=127.0.0.1 parameters.share=/x
grep -q "pvnode.csi.io" <<<"$ERRMSG" || csi_fail "nfs refusal: $ERRMSG"
expect OK CreateVolume name=b1 capacity_range.required_bytes=$((64 << 20)) "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=iscsi \
	parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:names parameters.lun=1
FILECTX="volume_context.pvnode.io/driver=file volume_context.pvnode.io/capacity=$((32 << 20))
	volume_context.path=$S/images/f1.img"
expect INVALID_ARGUMENT NodeStageVolume volume_id=f1 staging_target_path="$ALLOWED/stg/f1" $(cap_mount) $FILECTX
expect INVALID_ARGUMENT NodeUnstageVolume volume_id=f1 staging_target_path="$ALLOWED/stg/f1"
expect INVALID_ARGUMENT DeleteVolume volume_id=f1
expect OK ListVolumes
grep -q '"volume_id":"b1"' <<<"$OUT" || csi_fail "the block pvnode does not list b1: $OUT"
grep -q '"volume_id":"f1"' <<<"$OUT" && csi_fail "the block pvnode lists f1: $OUT"
BLOCK_PID=$PVNODE_PID
PVNODE_PID=

# --- the local name on the same state directory, beside it ---
csi_start_extra local --node-id node-a --state-dir "$S" --driver-name local.pvnode.csi.io
grep -q "volume f1: an interrupted stage was undone" "$T/local.log" ||
	csi_fail "the local pvnode did not undo f1's stage: $(cat "$T/local.log")"
"$PVCTL" --state-dir "$S" get | grep -q "f1 .*Available" || csi_fail "f1 is not Available: $("$PVCTL" --state-dir "$S" get)"
EP="unix://$T/local.sock"
expect OK GetPluginInfo
grep -q '"name":"local.pvnode.csi.io"' <<<"$OUT" || csi_fail "plugin name: $OUT"
expect OK ListVolumes
grep -q '"volume_id":"f1"' <<<"$OUT" || csi_fail "the local pvnode does not list f1: $OUT"
grep -q '"volume_id":"b1"' <<<"$OUT" && csi_fail "the local pvnode lists b1: $OUT"
expect INVALID_ARGUMENT CreateVolume name=b2 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=iscsi \
	parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:names parameters.lun=2
expect OK NodeStageVolume volume_id=f1 staging_target_path="$ALLOWED/stg/f1" $(cap_mount)
expect OK NodeUnstageVolume volume_id=f1 staging_target_path="$ALLOWED/stg/f1"
PVNODE_PID=$BLOCK_PID
echo PASS
