#!/bin/bash
# Issue 9 item 8 and the kubelet's finding, through pvnode: Probe is not ready on a full
# state filesystem and a write that finds no space is RESOURCE_EXHAUSTED; an RWX
# Filesystem refusal built from volume_context is FAILED_PRECONDITION; two
# NodeUnpublishVolume calls for two targets of one volume at the same moment both
# succeed (the second waits briefly for the volume instead of ABORTED).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
mkdir -p "$T/small"
mount -t tmpfs -o size=8m pvnode-test "$T/small"
mkdir -p "$T/small/state"
"$PVNODE" --endpoint "$EP" --node-id node-a --state-dir "$T/small/state" --allowed-path "$ALLOWED" \
	--selinux off >>"$T/pvnode.log" 2>&1 &
PVNODE_PID=$!
for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done

create_volume s1 $((32 << 20))
CTX=$(context_args "$OUT")
STG="$ALLOWED/s/s1"
mkdir -p "$ALLOWED/pods/a" "$ALLOWED/pods/b"
expect OK NodeStageVolume volume_id=s1 staging_target_path="$STG" $(cap_mount) $CTX
for p in a b; do
	expect OK NodePublishVolume volume_id=s1 staging_target_path="$STG" target_path="$ALLOWED/pods/$p/s1" $(cap_mount) $CTX
done
step_ok() { echo "--- $*"; }

step_ok "two unpublishes at the same moment"
"$CSI_CALL" "$EP" NodeUnpublishVolume volume_id=s1 target_path="$ALLOWED/pods/a/s1" >"$T/ua" 2>&1 &
A=$!
"$CSI_CALL" "$EP" NodeUnpublishVolume volume_id=s1 target_path="$ALLOWED/pods/b/s1" >"$T/ub" 2>&1 &
B=$!
wait $A || csi_fail "first concurrent unpublish: $(cat "$T/ua")"
wait $B || csi_fail "second concurrent unpublish: $(cat "$T/ub")"

step_ok "a full state filesystem"
expect OK NodePublishVolume volume_id=s1 staging_target_path="$STG" target_path="$ALLOWED/pods/a/s1" $(cap_mount) $CTX
call Probe
grep -q '"value":true' <<<"$OUT" || csi_fail "Probe not ready before the disk filled: $OUT"
dd if=/dev/zero of="$T/small/filler" bs=1M status=none 2>/dev/null || true
call Probe
grep -q '"value":true' <<<"$OUT" && csi_fail "Probe ready with a full state filesystem: $OUT"
expect RESOURCE_EXHAUSTED NodeUnpublishVolume volume_id=s1 target_path="$ALLOWED/pods/a/s1"
mountpoint -q "$ALLOWED/pods/a/s1" || csi_fail "an unpublish that could not record anything unmounted"
rm -f "$T/small/filler"
expect OK NodeUnpublishVolume volume_id=s1 target_path="$ALLOWED/pods/a/s1"
expect OK NodeUnstageVolume volume_id=s1 staging_target_path="$STG"

step_ok "RWX Filesystem on block storage from volume_context alone"
expect FAILED_PRECONDITION NodeStageVolume volume_id=rwx staging_target_path="$ALLOWED/s/rwx" \
	$(cap_mount MULTI_NODE_MULTI_WRITER) volume_context.pvnode.io/driver=file volume_context.pvnode.io/capacity=32Mi \
	volume_context.pvnode.io/accessModes=ReadWriteMany
expect OK DeleteVolume volume_id=s1
csi_stop TERM
umount "$T/small" 2>/dev/null || umount -l "$T/small"
echo PASS
