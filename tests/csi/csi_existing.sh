#!/bin/bash
# csi_existing.sh — issue 11 over CSI, with the file driver: DeleteVolume of a Retain
# (registered) volume keeps its image; a static PV (what `pvctl get -o k8s` prints for a
# registered volume) stages and publishes from its volume_context alone; CreateVolume
# refuses a filesystem smaller than mkfs makes and a size the backend would round
# (OUT_OF_RANGE) leaving nothing; offline expansion: ControllerExpand while unstaged,
# then NodeStage grows ext4 before mounting and NodeExpand has nothing left to do.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start
pv() { "$PVCTL" --state-dir "$T/state" --node-id node-a --allowed-path "$ALLOWED" --selinux off "$@"; }

# A registered image with data, seen by Kubernetes as a static PV.
mkdir -p "$T/state/images" "$T/m"
truncate -s 64M "$T/state/images/static.img"
mkfs.ext4 -q -b 4096 "$T/state/images/static.img"
mount -o loop "$T/state/images/static.img" "$T/m" && echo old-data >"$T/m/file" && umount "$T/m"
printf '{"name":"static","driver":"file","capacity":"64Mi","accessModes":["ReadWriteOnce"]}' |
	pv create --existing -f - >/dev/null || csi_fail "register"
pv get static -o k8s >"$T/pv.json"
CTX=$(python3 -c 'import json,sys
a=json.load(open(sys.argv[1]))["spec"]["csi"]["volumeAttributes"]
print(" ".join("volume_context.%s=%s" % kv for kv in a.items()))' "$T/pv.json")
grep -q '"persistentVolumeReclaimPolicy": "Retain"' "$T/pv.json" || csi_fail "k8s manifest: $(cat "$T/pv.json")"
sum=$(md5sum <"$T/state/images/static.img")
expect OK DeleteVolume volume_id=static
[ -e "$T/state/catalog/static.json" ] && csi_fail "DeleteVolume left the record"
[ "$(md5sum <"$T/state/images/static.img")" = "$sum" ] || csi_fail "DeleteVolume of a Retain volume changed its image"

STG="$ALLOWED/staging/static" TGT="$ALLOWED/pods/p1/static"
mkdir -p "$ALLOWED/pods/p1"
expect OK NodeStageVolume volume_id=static staging_target_path="$STG" $(cap_mount) $CTX
expect OK NodePublishVolume volume_id=static staging_target_path="$STG" target_path="$TGT" $(cap_mount) $CTX
[ "$(cat "$TGT/file")" = old-data ] || csi_fail "static PV: data not there"
expect OK NodeUnpublishVolume volume_id=static target_path="$TGT"
expect OK NodeUnstageVolume volume_id=static staging_target_path="$STG"
echo "ok - Retain DeleteVolume keeps the image; the static PV stages from its volume_context"

expect OUT_OF_RANGE CreateVolume name=tiny capacity_range.required_bytes=$((64 << 20)) \
	"volume_capabilities[0].mount.fs_type=xfs" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
	parameters.driver=file
grep -q "smallest xfs filesystem" <<<"$ERRMSG" || csi_fail "xfs minimum: $ERRMSG"
expect OUT_OF_RANGE CreateVolume name=odd capacity_range.required_bytes=100000000 \
	"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
	parameters.driver=file
grep -q "multiple of 512" <<<"$ERRMSG" || csi_fail "rounding: $ERRMSG"
[ -e "$T/state/images/tiny.img" ] || [ -e "$T/state/images/odd.img" ] && csi_fail "a refused volume left an image"
[ -e "$T/state/catalog/tiny.json" ] || [ -e "$T/state/catalog/odd.json" ] && csi_fail "a refused volume was recorded"
echo "ok - CreateVolume: $ERRMSG"

create_volume grow $((64 << 20))
CTX=$(context_args "$OUT")
STG="$ALLOWED/staging/grow"
expect OK NodeStageVolume volume_id=grow staging_target_path="$STG" $(cap_mount) $CTX
expect OK NodeUnstageVolume volume_id=grow staging_target_path="$STG"
expect OK ControllerExpandVolume volume_id=grow capacity_range.required_bytes=$((256 << 20))
grep -q '"node_expansion_required":true' <<<"$OUT" || csi_fail "expand: $OUT"
expect OK NodeStageVolume volume_id=grow staging_target_path="$STG" $(cap_mount) $CTX
expect OK NodeExpandVolume volume_id=grow volume_path="$STG" staging_target_path="$STG" \
	capacity_range.required_bytes=$((256 << 20))
size=$(df -B1 --output=size "$STG" | tail -1)
[ "$size" -gt $((200 << 20)) ] || csi_fail "offline expansion: the filesystem has $size bytes"
expect OK NodeUnstageVolume volume_id=grow staging_target_path="$STG"
expect OK DeleteVolume volume_id=grow
echo "ok - offline expansion: NodeStage grew ext4 to $size bytes, NodeExpandVolume OK"
echo PASS
