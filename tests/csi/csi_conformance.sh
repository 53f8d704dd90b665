#!/bin/bash
# csi_conformance.sh — what the csi-sanity run found (tests/conformance/README.md):
#   (a) CreateVolume takes any name of up to 128 bytes without the spec's control
#       characters; a name that is not a valid volume id maps, always the same way, to
#       its valid characters, '-' and 16 hex digits; the name is kept in
#       pvnode.io/csiName, so a repeat finds the volume and another name that maps to
#       the same id is ALREADY_EXISTS;
#   (b) ControllerPublishVolume holds max_volumes_per_node (NodeGetInfo's) for each
#       node: RESOURCE_EXHAUSTED beyond it (--max-volumes-per-node, 0: no limit);
#   (c) a repeated ControllerPublishVolume to the same node with another capability
#       (readonly, access type, mode) is ALREADY_EXISTS; PUBLISH_READONLY is advertised
#       and a read-only publish reaches the node through publish_context.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start --max-volumes-per-node 3
CAPS="volume_capabilities[0].mount.fs_type=ext4 volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER
	parameters.driver=file capacity_range.required_bytes=$((32 << 20))"
id_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["volume"]["volume_id"])' "$1"; }

# (a) names
N1='sanity-max-attach-limit-vol+1-0123ABCD'
expect OK CreateVolume name="$N1" $CAPS
ID1=$(id_of "$OUT")
[[ "$ID1" =~ ^sanity-max-attach-limit-vol1-0123ABCD-[0-9a-f]{16}$ ]] || csi_fail "mapped id: $ID1"
grep -q "\"pvnode.io/csiName\":\"sanity-max-attach-limit-vol+1-0123ABCD\"" <<<"$OUT" || csi_fail "csiName: $OUT"
CTX1=$(context_args "$OUT")
expect OK CreateVolume name="$N1" $CAPS
[ "$(id_of "$OUT")" = "$ID1" ] || csi_fail "a repeat gave another id: $(id_of "$OUT")"
expect OK CreateVolume name='sanity-max-attach-limit-vol+2-0123ABCD' $CAPS
[ "$(id_of "$OUT")" != "$ID1" ] || csi_fail "two names gave one id"
expect OK CreateVolume name=$'tab\there' $CAPS
grep -q '"pvnode.io/csiName":"tab%09here"' <<<"$OUT" || csi_fail "a tab is not kept encoded: $OUT"
expect OK CreateVolume name='ünïcödé/名前' $CAPS
[[ "$(id_of "$OUT")" =~ ^ncd-[0-9a-f]{16}$ ]] || csi_fail "a UTF-8 name: $(id_of "$OUT")"
expect OK CreateVolume name='名前/+' $CAPS
[[ "$(id_of "$OUT")" =~ ^v-[0-9a-f]{16}$ ]] || csi_fail "a name without valid characters: $(id_of "$OUT")"
LONG=$(printf 'x%.0s' $(seq 121))+/+/+/+
expect OK CreateVolume name="$LONG" $CAPS
[ "${#LONG}" = 128 ] && [ "$(id_of "$OUT" | wc -c)" -le 129 ] || csi_fail "a 128-byte name maps past 128 bytes"
expect OK CreateVolume name=plain-name $CAPS
[ "$(id_of "$OUT")" = plain-name ] || csi_fail "a valid name is not its own id"
# a volume whose id equals a mapped id but came from another name
expect ALREADY_EXISTS CreateVolume name="$ID1" $CAPS
expect OK NodeStageVolume volume_id="$ID1" staging_target_path="$ALLOWED/stg/1" $(cap_mount) $CTX1
expect OK NodeUnstageVolume volume_id="$ID1" staging_target_path="$ALLOWED/stg/1"

# (b) max_volumes_per_node = 3
expect OK NodeGetInfo
grep -q '"max_volumes_per_node":3' <<<"$OUT" || csi_fail "NodeGetInfo: $OUT"
for v in m1 m2 m3 m4; do create_volume $v $((32 << 20)); done
for v in m1 m2 m3; do expect OK ControllerPublishVolume volume_id=$v node_id=node-a $(cap_mount); done
expect RESOURCE_EXHAUSTED ControllerPublishVolume volume_id=m4 node_id=node-a $(cap_mount)
grep -q "already has 3 volumes published" <<<"$ERRMSG" || csi_fail "limit sentence: $ERRMSG"
expect OK ControllerPublishVolume volume_id=m3 node_id=node-a $(cap_mount)      # a repeat is no new volume
expect OK ControllerUnpublishVolume volume_id=m3 node_id=node-a
expect OK ControllerPublishVolume volume_id=m4 node_id=node-a $(cap_mount)

# (c) a repeat with another capability
expect OK ControllerGetCapabilities
grep -q PUBLISH_READONLY <<<"$OUT" || csi_fail "no PUBLISH_READONLY: $OUT"
expect ALREADY_EXISTS ControllerPublishVolume volume_id=m1 node_id=node-a $(cap_mount) readonly=true
grep -q "as ReadWriteOnce mount read-write, not ReadWriteOnce mount read-only" <<<"$ERRMSG" || csi_fail "sentence: $ERRMSG"
expect ALREADY_EXISTS ControllerPublishVolume volume_id=m1 node_id=node-a $(cap_block)
expect ALREADY_EXISTS ControllerPublishVolume volume_id=m1 node_id=node-a $(cap_mount SINGLE_NODE_SINGLE_WRITER)
expect OK ControllerPublishVolume volume_id=m1 node_id=node-a $(cap_mount)
expect OK ControllerPublishVolume volume_id=m1 node_id=node-a $(cap_mount SINGLE_NODE_MULTI_WRITER)  # also RWO

# a read-only publish reaches the node: stage and publish read-only
create_volume ro1 $((32 << 20))
CTXR=$(context_args "$OUT")
expect OK NodeStageVolume volume_id=ro1 staging_target_path="$ALLOWED/stg/ro1" $(cap_mount) $CTXR
echo written-once >"$ALLOWED/stg/ro1/f"
expect OK NodeUnstageVolume volume_id=ro1 staging_target_path="$ALLOWED/stg/ro1"
expect OK ControllerUnpublishVolume volume_id=m4 node_id=node-a            # room under the limit
expect OK ControllerPublishVolume volume_id=ro1 node_id=node-a $(cap_mount) readonly=true
grep -q '"publish_context":{"pvnode.io/readonly":"true"}' <<<"$OUT" || csi_fail "publish_context: $OUT"
expect OK NodeStageVolume volume_id=ro1 staging_target_path="$ALLOWED/stg/ro1" $(cap_mount) $CTXR \
	publish_context.pvnode.io/readonly=true
[ "$(cat "$ALLOWED/stg/ro1/f")" = written-once ] || csi_fail "data of the read-only stage"
echo x 2>/dev/null >"$ALLOWED/stg/ro1/g" && csi_fail "a read-only ControllerPublish gave a writable stage"
expect OK NodeUnstageVolume volume_id=ro1 staging_target_path="$ALLOWED/stg/ro1"
csi_stop TERM

# 0: no limit, and none advertised
csi_start --max-volumes-per-node 0
expect OK NodeGetInfo
grep -q max_volumes_per_node <<<"$OUT" && csi_fail "a limit is advertised: $OUT"
expect OK ControllerPublishVolume volume_id=m4 node_id=node-a $(cap_mount)
echo PASS
