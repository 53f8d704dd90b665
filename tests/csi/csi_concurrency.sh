#!/bin/bash
# csi_concurrency.sh — a second call on a volume that has one in flight gets ABORTED:
# deterministically (the test holds the volume's lock file, as an in-flight call does)
# for node and controller calls, then with a burst of parallel NodeStageVolume calls on
# one volume (each answer OK or ABORTED, the volume staged once), while calls on other
# volumes and Probe proceed.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
command -v flock >/dev/null || csi_skip "no flock(1)"
csi_setup
csi_start --workers 8

create_volume c1 $((32 << 20))
CTX1=$(context_args "$OUT")
create_volume c2 $((32 << 20))
CTX2=$(context_args "$OUT")

# Hold c1's lock the way an in-flight operation does.
mkdir -p "$T/state/locks"
exec 9>"$T/state/locks/c1.lock"
flock -n 9 || csi_fail "cannot take c1's lock"
expect ABORTED NodeStageVolume volume_id=c1 staging_target_path="$ALLOWED/s/c1" $(cap_mount) $CTX1
expect ABORTED NodeUnstageVolume volume_id=c1 staging_target_path="$ALLOWED/s/c1"
expect ABORTED DeleteVolume volume_id=c1
expect ABORTED CreateVolume name=c1 capacity_range.required_bytes=$((32 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect OK Probe                       # the daemon is not blocked
expect OK NodeStageVolume volume_id=c2 staging_target_path="$ALLOWED/s/c2" $(cap_mount) $CTX2
exec 9>&-
expect OK NodeStageVolume volume_id=c1 staging_target_path="$ALLOWED/s/c1" $(cap_mount) $CTX1

# A burst of parallel stages of one fresh volume.
create_volume c3 $((256 << 20))
CTX3=$(context_args "$OUT")
for i in $(seq 8); do
	"$CSI_CALL" "$EP" NodeStageVolume volume_id=c3 staging_target_path="$ALLOWED/s/c3" \
		$(cap_mount) $CTX3 >/dev/null 2>"$T/burst.$i" &
	BURST="${BURST:-} $!"
done
for p in $BURST; do wait "$p" || true; done
ok=0; aborted=0
for i in $(seq 8); do
	case "$(cut -d: -f1 "$T/burst.$i")" in
	OK) ok=$((ok + 1)) ;;
	ABORTED) aborted=$((aborted + 1)) ;;
	*) csi_fail "parallel stage $i: $(cat "$T/burst.$i")" ;;
	esac
done
echo "parallel NodeStageVolume: $ok OK, $aborted ABORTED"
[ "$ok" -ge 1 ] || csi_fail "no parallel stage succeeded"
[ "$(findmnt -rn -o TARGET | grep -c "^$ALLOWED/s/c3\$")" = 1 ] || csi_fail "c3 not staged exactly once"

for v in c1 c2 c3; do
	expect OK NodeUnstageVolume volume_id=$v staging_target_path="$ALLOWED/s/$v"
	expect OK DeleteVolume volume_id=$v
done
echo PASS
