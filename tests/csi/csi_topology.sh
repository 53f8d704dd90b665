#!/bin/bash
# csi_topology.sh — node-local volumes carry topology: a pvnode serving the file driver
# (local.pvnode.csi.io, or the default all-driver pvnode) advertises
# VOLUME_ACCESSIBILITY_CONSTRAINTS and reports {topology.pvnode.io/node: <node id>} in
# NodeGetInfo; CreateVolume of a file volume returns that topology, honours
# accessibility_requirements (requisite, else preferred) that include this node and
# refuses with RESOURCE_EXHAUSTED those that exclude it; a shared volume has none.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start --driver-name local.pvnode.csi.io
KEY=topology.pvnode.io/node
FILE="volume_capabilities[0].mount.fs_type=ext4 volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER
	parameters.driver=file capacity_range.required_bytes=$((32 << 20))"

expect OK GetPluginCapabilities
grep -q VOLUME_ACCESSIBILITY_CONSTRAINTS <<<"$OUT" || csi_fail "no VOLUME_ACCESSIBILITY_CONSTRAINTS: $OUT"
expect OK NodeGetInfo
grep -q "\"accessible_topology\":{\"segments\":{\"$KEY\":\"node-a\"}}" <<<"$OUT" || csi_fail "NodeGetInfo topology: $OUT"

expect OK CreateVolume name=t1 $FILE
grep -q "\"accessible_topology\":\[{\"segments\":{\"$KEY\":\"node-a\"}}\]" <<<"$OUT" ||
	csi_fail "CreateVolume does not return the volume's topology: $OUT"
expect OK CreateVolume name=t2 $FILE "accessibility_requirements.requisite[0].segments.$KEY=node-b" \
	"accessibility_requirements.requisite[1].segments.$KEY=node-a"
expect OK CreateVolume name=t3 $FILE "accessibility_requirements.preferred[0].segments.$KEY=node-a"
expect RESOURCE_EXHAUSTED CreateVolume name=t4 $FILE "accessibility_requirements.requisite[0].segments.$KEY=node-b"
grep -q "exclude that node" <<<"$ERRMSG" || csi_fail "refusal sentence: $ERRMSG"
expect RESOURCE_EXHAUSTED CreateVolume name=t5 $FILE "accessibility_requirements.preferred[0].segments.$KEY=node-b"
# requisite decides when both are given
expect RESOURCE_EXHAUSTED CreateVolume name=t6 $FILE "accessibility_requirements.requisite[0].segments.$KEY=node-b" \
	"accessibility_requirements.preferred[0].segments.$KEY=node-b"
expect OK ListVolumes
grep -q "\"accessible_topology\":\[{\"segments\":{\"$KEY\":\"node-a\"}}\]" <<<"$OUT" ||
	csi_fail "ListVolumes does not carry the topology: $OUT"
for v in t4 t5 t6; do
	grep -q "\"volume_id\":\"$v\"" <<<"$OUT" && csi_fail "refused volume $v was created"
done
csi_stop TERM

# The block name serves no node-local driver: no topology, requirements are not ours.
csi_start --driver-name block.pvnode.csi.io
expect OK NodeGetInfo
grep -q accessible_topology <<<"$OUT" && csi_fail "block.pvnode.csi.io reports a topology: $OUT"
if "$PVCTL" --version | grep -q iscsi; then
	expect OK CreateVolume name=b1 capacity_range.required_bytes=$((64 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:topo \
		parameters.lun=1 "accessibility_requirements.requisite[0].segments.$KEY=node-b"
	grep -q accessible_topology <<<"$OUT" && csi_fail "a network volume carries a topology: $OUT"
fi
echo PASS
