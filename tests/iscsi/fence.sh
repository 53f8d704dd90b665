#!/bin/bash
# tests/iscsi/fence.sh — RWO fencing with SCSI-3 persistent reservations across two
# "nodes" (two state dirs, two node ids) on one tgtd LUN:
#   - node b's RWO stage is refused with exit 3 naming node a's key;
#   - node b's raw writes (its own initiator) get RESERVATION CONFLICT, reads pass;
#   - after a unstages, b stages;
#   - b's helper vanishes (SIGKILL): a is refused, `pvctl fence-release --node b`
#     preempts b's key, then a stages; b's stale stage still unstages cleanly;
#   - with pvnode built: the same through CSI ControllerUnpublishVolume.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init fence
RAWIO=${ISCSI_RAWIO:-$(dirname "$PVCTL")/tests/iscsi/iscsi_rawio}
[ -x "$RAWIO" ] || { echo "SKIP: no iscsi_rawio"; exit 77; }
IQN=iqn.2026-11.io.pvnode.test:fence
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M || fail "tgt setup"
for n in a b; do iscsi_pv shared $IQN 1 ReadWriteOnce | pvn $n create -f - >/dev/null || fail "create on $n"; done

pvn a stage shared || fail "stage on a"
key_a=$(pvn a describe shared | sed -n 's/^  Fence: *\([0-9a-f]\{16\}\)$/\1/p')
[ -n "$key_a" ] || fail "node a holds no fence key"
out=$(pvn b stage shared 2>&1); rc=$?
[ $rc = 3 ] || fail "second RWO stage: exit $rc, want 3 ($out)"
echo "$out" | grep -q "$key_a" || fail "refusal does not name the holder key $key_a: $out"
echo "refused as expected: $out"
pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/b/" >/dev/null && fail "node b left a helper behind"

"$RAWIO" write "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:b; rc=$?
[ $rc = 3 ] || fail "raw write from node b: exit $rc, want RESERVATION CONFLICT"
"$RAWIO" read "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:b || fail "raw read from node b refused"

pvn a unstage shared || fail "unstage on a"
pvn b stage shared || fail "stage on b after a unstaged"
key_b=$(pvn b describe shared | sed -n 's/^  Fence: *\([0-9a-f]\{16\}\)$/\1/p')

# b vanishes without releasing: its helper dies hard, the reservation stays on the LUN
pid=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/b/") || fail "no helper on b"
kill -9 $pid
sleep 0.5
out=$(pvn a stage shared 2>&1); rc=$?
[ $rc = 3 ] && echo "$out" | grep -q "$key_b" || fail "stage on a while b's reservation stands: exit $rc ($out)"
pvn a fence-release shared --node b || fail "fence-release"
pvn a stage shared || fail "stage on a after fence-release"
"$RAWIO" write "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:b; [ $? = 3 ] || fail "b can write after a took over"
timeout 60 "$PVCTL" --state-dir "$T/b" --node-id b --allowed-path "$T" --selinux off unstage shared || fail "unstage of b's dead stage"

# the same through CSI: ControllerUnpublishVolume on b's pvnode preempts a dead node a
if [ -n "${PVNODE:-}" ] && [ -x "$PVNODE" ]; then
	pid=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/") || fail "no helper on a"
	kill -9 $pid; sleep 0.3
	sock="$T/csi-b.sock"
	"$PVNODE" --state-dir "$T/b" --node-id b --allowed-path "$T" --selinux off --endpoint "unix://$sock" >"$T/pvnode.log" 2>&1 &
	PVNODE_PID=$!
	ISCSI_EXTRA_CLEANUP='kill $PVNODE_PID 2>/dev/null; wait $PVNODE_PID 2>/dev/null'
	for i in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	pvn b stage shared >/dev/null 2>&1; [ $? = 3 ] || fail "b staged while dead a holds the reservation"
	"$PVCTL" --endpoint "unix://$sock" --state-dir "$T/b" --node-id b --allowed-path "$T" fence-release shared --node a || fail "CSI fence-release"
	pvn b stage shared || fail "stage on b after the CSI fence-release"
	pvn b unstage shared || fail "unstage on b"
	kill $PVNODE_PID; wait $PVNODE_PID 2>/dev/null
	echo "CSI ControllerUnpublish fence release: ok"
fi
timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off unstage shared || fail "final unstage on a"
echo "fence: ok"
