#!/bin/bash
# csi_fsgroup.sh — fsGroup in O(1) (VOLUME_MOUNT_GROUP, for kubelet's fsGroupPolicy
# File): NodeGetCapabilities advertises it; a volume_mount_group in NodeStageVolume or
# NodePublishVolume gives the volume root that group, the setgid bit and group rwx,
# never touching what is below (a file made before keeps its group), so a pod's user
# in that group can write and new files inherit the group; describe reports it as a
# supplemental group. The cost of a publish with a mount group does not grow with the
# file count: a volume with 100,000 files against an empty one (server-side times of
# NodePublishVolume, median of 5, the root's group reset before each).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
command -v setpriv >/dev/null || csi_skip "setpriv (util-linux) is needed"
csi_setup
csi_start --driver-name local.pvnode.csi.io
G=2000
cap() { echo "volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER $*"; }

expect OK NodeGetCapabilities
grep -q VOLUME_MOUNT_GROUP <<<"$OUT" || csi_fail "no VOLUME_MOUNT_GROUP: $OUT"

create_volume empty $((64 << 20))
CTX_EMPTY=$(context_args "$OUT")
create_volume full $((2 << 30))          # inodes for 100,000 files (sparse image)
CTX_FULL=$(context_args "$OUT")
expect INVALID_ARGUMENT NodeStageVolume volume_id=empty staging_target_path="$ALLOWED/stg/empty" \
	$(cap volume_capability.mount.volume_mount_group=staff) $CTX_EMPTY
expect OK NodeStageVolume volume_id=empty staging_target_path="$ALLOWED/stg/empty" $(cap) $CTX_EMPTY
expect OK NodeStageVolume volume_id=full staging_target_path="$ALLOWED/stg/full" $(cap) $CTX_FULL

python3 - "$ALLOWED/stg/full" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.mkdir(os.path.join(root, "d%03d" % d))
    for f in range(1000):
        open(os.path.join(root, "d%03d" % d, "f%04d" % f), "w").close()
PY
[ "$(find "$ALLOWED/stg/full" -type f | wc -l)" = 100000 ] || csi_fail "100,000 files were not made"
echo before >"$ALLOWED/stg/empty/old"

# server-side milliseconds of the last NodePublishVolume
last_ms() { grep -o 'NodePublishVolume ok ([0-9.]* ms)' "$T/pvnode.log" | tail -1 | grep -o '[0-9.]*'; }
publish_times() {   # publish_times VOLUME CTX: 5 publishes with the mount group, their times
	local v=$1 ctx=$2 i
	mkdir -p "$ALLOWED/pods/$v"
	for i in 1 2 3 4 5; do
		chgrp 0 "$ALLOWED/stg/$v" && chmod 0755 "$ALLOWED/stg/$v"   # undo the last one
		expect OK NodePublishVolume volume_id="$v" staging_target_path="$ALLOWED/stg/$v" \
			target_path="$ALLOWED/pods/$v/mnt" $(cap volume_capability.mount.volume_mount_group=$G) $ctx
		last_ms
		expect OK NodeUnpublishVolume volume_id="$v" target_path="$ALLOWED/pods/$v/mnt"
	done
}
median() { sort -n | sed -n 3p; }
T_EMPTY=$(publish_times empty "$CTX_EMPTY" | median)
T_FULL=$(publish_times full "$CTX_FULL" | median)
echo "NodePublishVolume with volume_mount_group: empty volume ${T_EMPTY} ms, 100,000 files ${T_FULL} ms (median of 5)"
python3 -c "import sys; e, f = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if f < 3 * max(e, 1.0) else 1)" \
	"$T_EMPTY" "$T_FULL" || csi_fail "publish with 100,000 files took ${T_FULL} ms against ${T_EMPTY} ms: not O(1)"

# What the publish did, and did not do.
expect OK NodePublishVolume volume_id=empty staging_target_path="$ALLOWED/stg/empty" \
	target_path="$ALLOWED/pods/empty/mnt" $(cap volume_capability.mount.volume_mount_group=$G) $CTX_EMPTY
R="$ALLOWED/pods/empty/mnt"
chmod o+x "$T" "$ALLOWED" "$ALLOWED/pods" "$ALLOWED/pods/empty"   # the way down for uid 1000
[ "$(stat -c %g "$R")" = $G ] || csi_fail "root group $(stat -c %g "$R"), not $G"
mode=$(stat -c %a "$R")
[ $((0$mode & 02070)) = $((02070)) ] || csi_fail "root mode $mode lacks setgid or group rwx"
[ "$(stat -c %g "$R/old")" = 0 ] || csi_fail "a file below the root was chowned: not O(1)"
[ "$(stat -c %g "$ALLOWED/stg/full/d000/f0000")" = 0 ] || csi_fail "a file of the full volume was chowned"
setpriv --reuid=1000 --regid=1000 --groups=$G sh -c "echo pod >'$R/new'" || csi_fail "uid 1000 in group $G cannot write"
[ "$(stat -c %g "$R/new")" = $G ] || csi_fail "a new file does not inherit group $G"
setpriv --reuid=1001 --regid=1001 --clear-groups sh -c "echo x >'$R/other'" 2>/dev/null &&
	csi_fail "a user outside the group could write"
"$PVCTL" --state-dir "$T/state" describe empty >"$T/describe"
grep -q "Supplemental groups: $G" "$T/describe" || csi_fail "describe does not report group $G: $(cat "$T/describe")"
expect OK NodeUnpublishVolume volume_id=empty target_path="$R"

# NodeStageVolume applies it too (kubelet sends it in both).
create_volume staged $((64 << 20))
CTX_S=$(context_args "$OUT")
expect OK NodeStageVolume volume_id=staged staging_target_path="$ALLOWED/stg/staged" \
	$(cap volume_capability.mount.volume_mount_group=$G) $CTX_S
[ "$(stat -c %g "$ALLOWED/stg/staged")" = $G ] || csi_fail "NodeStageVolume did not apply the group"
for v in empty full staged; do expect OK NodeUnstageVolume volume_id=$v staging_target_path="$ALLOWED/stg/$v"; done
echo PASS
