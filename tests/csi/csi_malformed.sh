#!/bin/bash
# csi_malformed.sh — hostile bodies to every method: truncated varints, wrong wire
# types, random bytes, huge length prefixes, oversize maps and strings. Each gets a
# status (INVALID_ARGUMENT for what does not decode or validate), never a crash.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start

METHODS="GetPluginInfo GetPluginCapabilities Probe CreateVolume DeleteVolume
ControllerPublishVolume ControllerUnpublishVolume ValidateVolumeCapabilities ListVolumes
GetCapacity ControllerGetCapabilities ControllerExpandVolume NodeStageVolume
NodeUnstageVolume NodePublishVolume NodeUnpublishVolume NodeGetVolumeStats NodeExpandVolume
NodeGetCapabilities NodeGetInfo"
BODIES="ff 0a 0aff 0a8080808010 08ffffffffffffffffff01 1a05 0a03616263ff 12050a03 2a02 0b 0c
0d0000 3a0c0a036b65791205
$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')"
n=0
for m in $METHODS; do
	for b in $BODIES; do
		call "$m" --raw "$b"
		case "$ST" in
		OK|INVALID_ARGUMENT|NOT_FOUND|FAILED_PRECONDITION|ABORTED) ;;
		*) csi_fail "$m with body $b: $ERRMSG" ;;
		esac
		n=$((n + 1))
	done
done
# Oversize: a 1.5 MiB string (above the 1 MiB message limit) and 300 map entries.
head -c 1572864 /dev/zero | tr '\0' a >"$T/big"
call NodeStageVolume volume_id=@"$T/big"
[ "$ST" = RESOURCE_EXHAUSTED ] || [ "$ST" = INVALID_ARGUMENT ] || csi_fail "oversize message: $ST"
head -c 900000 /dev/zero | tr '\0' a >"$T/big"
call NodeStageVolume volume_id=@"$T/big"
[ "$ST" = RESOURCE_EXHAUSTED ] || [ "$ST" = INVALID_ARGUMENT ] || csi_fail "oversize message: $ST"
args=()
for i in $(seq 300); do args+=("volume_context.k$i=v"); done
expect INVALID_ARGUMENT NodeStageVolume volume_id=m1 staging_target_path="$ALLOWED/s" $(cap_mount) "${args[@]}"
expect INVALID_ARGUMENT NodeStageVolume volume_id=m1 staging_target_path="$ALLOWED/s" $(cap_mount) \
	"volume_context.pvnode.io/driver=file" "volume_context.pvnode.io/capacity=-5"
kill -0 "$PVNODE_PID" || csi_fail "pvnode died"
expect OK Probe
echo "$n malformed bodies answered, daemon alive"
echo PASS
