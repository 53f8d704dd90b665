#!/bin/bash
# csi_restart.sh — clean shutdown and restarts: SIGTERM (and SIGINT) lets an in-flight call finish,
# exits 0 and removes the socket; staged and published volumes stay mounted and usable
# across a restart (start-up reconciliation logs them); a stale socket left by a killed
# daemon is replaced; a live one is refused.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
csi_start

mkdir -p "$ALLOWED/pods/p"
create_volume r1 $((64 << 20))
CTX=$(context_args "$OUT")
STG="$ALLOWED/s/r1" TGT="$ALLOWED/pods/p/r1"
expect OK NodeStageVolume volume_id=r1 staging_target_path="$STG" $(cap_mount) $CTX
expect OK NodePublishVolume volume_id=r1 staging_target_path="$STG" target_path="$TGT" $(cap_mount) $CTX
echo before >"$TGT/data"

# SIGTERM while a stage (mkfs of a 1 GiB volume) is in flight.
create_volume r2 $((1 << 30))
CTX2=$(context_args "$OUT")
"$CSI_CALL" "$EP" NodeStageVolume volume_id=r2 staging_target_path="$ALLOWED/s/r2" \
	$(cap_mount) $CTX2 >/dev/null 2>"$T/inflight" &
CALLER=$!
sleep 0.05
csi_stop TERM
wait "$CALLER" || true
[ "$STOP_RC" = 0 ] || csi_fail "pvnode exited $STOP_RC on SIGTERM"
[ -e "$SOCK" ] && csi_fail "socket left after SIGTERM"
grep -q "stopped; socket" "$T/pvnode.log" || csi_fail "no clean-stop log line"
INFLIGHT=$(cut -d: -f1 "$T/inflight")
echo "in-flight stage at SIGTERM: $(cat "$T/inflight")"
case "$INFLIGHT" in
OK) mountpoint -q "$ALLOWED/s/r2" || csi_fail "in-flight stage answered OK but nothing is mounted" ;;
UNAVAILABLE|CANCELLED) ;;   # not yet accepted when the server stopped listening
*) csi_fail "in-flight stage: $(cat "$T/inflight")" ;;
esac

# Volumes stay mounted and usable while the daemon is down.
mountpoint -q "$TGT" || csi_fail "publish mount gone after shutdown"
[ "$(cat "$TGT/data")" = before ] || csi_fail "data unreadable after shutdown"

# Restart: reconcile, the volume is still usable, repeats are idempotent.
csi_start
grep -q "reconcile" "$T/pvnode.log" || echo "NOTE: reconcile reported nothing" >&2
echo after >>"$TGT/data"
[ "$(wc -l <"$TGT/data")" = 2 ] || csi_fail "cannot write after restart"
expect OK NodeStageVolume volume_id=r1 staging_target_path="$STG" $(cap_mount) $CTX
expect OK NodePublishVolume volume_id=r1 staging_target_path="$STG" target_path="$TGT" $(cap_mount) $CTX
expect OK NodeGetVolumeStats volume_id=r1 volume_path="$TGT"

# A killed daemon leaves its socket: the next start replaces it.
csi_stop KILL
[ -S "$SOCK" ] || csi_fail "expected a stale socket after SIGKILL"
csi_start --default-driver file
grep -q "replacing stale socket" "$T/pvnode.log" || csi_fail "stale socket not reported"
# A live socket is refused.
rc=0
"$PVNODE" --endpoint "$EP" --node-id node-a --state-dir "$T/state" --allowed-path "$ALLOWED" \
	>"$T/second.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || csi_fail "a second pvnode started on a live socket"
grep -q "another process is serving" "$T/second.log" || csi_fail "second start: $(cat "$T/second.log")"
expect OK Probe

# --default-driver: a CreateVolume without parameters (as a conformance suite sends it)
expect OK CreateVolume name=r3 "volume_capabilities[0].mount=" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" capacity_range.required_bytes=$((16 << 20))
expect OK DeleteVolume volume_id=r3

expect OK NodeUnpublishVolume volume_id=r1 target_path="$TGT"
expect OK NodeUnstageVolume volume_id=r1 staging_target_path="$STG"
expect OK NodeUnstageVolume volume_id=r2 staging_target_path="$ALLOWED/s/r2"
expect OK DeleteVolume volume_id=r1
expect OK DeleteVolume volume_id=r2
csi_stop INT
[ "$STOP_RC" = 0 ] || csi_fail "pvnode exited $STOP_RC on SIGINT"
[ -e "$SOCK" ] && csi_fail "socket left after SIGINT"
echo PASS
