#!/bin/bash
# csi_condition.sh — NodeGetVolumeStats reports volume_condition: healthy while mounted,
# abnormal (naming the lost mount) once the publish or staging mount is gone behind the
# plugin's back; unpublish and unstage still clean up afterwards.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start
mkdir -p "$ALLOWED/pods/p"
create_volume c1 $((32 << 20))
CTX=$(context_args "$OUT")
STG="$ALLOWED/s/c1" TGT="$ALLOWED/pods/p/c1"
expect OK NodeStageVolume volume_id=c1 staging_target_path="$STG" $(cap_mount) $CTX
expect OK NodePublishVolume volume_id=c1 staging_target_path="$STG" target_path="$TGT" $(cap_mount) $CTX
expect OK NodeGetVolumeStats volume_id=c1 volume_path="$TGT"
grep -q '"abnormal":true' <<<"$OUT" && csi_fail "healthy volume reported abnormal: $OUT"

umount "$TGT"
expect OK NodeGetVolumeStats volume_id=c1 volume_path="$TGT"
grep -q '"abnormal":true' <<<"$OUT" || csi_fail "lost publish mount not abnormal: $OUT"
grep -q 'is gone' <<<"$OUT" || csi_fail "condition message: $OUT"
expect OK NodeGetVolumeStats volume_id=c1 volume_path="$STG"
grep -q '"abnormal":true' <<<"$OUT" && csi_fail "staging reported abnormal while mounted: $OUT"
umount -l "$STG"
expect OK NodeGetVolumeStats volume_id=c1 volume_path="$STG"
grep -q '"abnormal":true' <<<"$OUT" || csi_fail "lost staging mount not abnormal: $OUT"

expect OK NodeUnpublishVolume volume_id=c1 target_path="$TGT"
expect OK NodeUnstageVolume volume_id=c1 staging_target_path="$STG"
expect OK DeleteVolume volume_id=c1
echo PASS
