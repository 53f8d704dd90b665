#!/bin/bash
# tests/iscsi/lifecycle.sh — an iSCSI volume on a real tgtd (CHAP) through pvctl: create,
# stage (helper + loop + mkfs), publish, write, unpublish, unstage; data survives
# unstage/stage and a pvnode restart (helper re-adopted); no secret in argv, journal or describe. If pvnode is built, one more
# lifecycle through `pvctl --endpoint` (CSI).
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init lifecycle
IQN=iqn.2026-11.io.pvnode.test:life
PASS='Chap-Secret-2026'
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun1.img" 256M || fail "tgt setup"
tgt_add_target 2 $IQN-open && tgt_add_lun 2 1 "$T/lun2.img" 256M || fail "tgt setup (open target)"
tgt_add_chap 1 alice "$PASS" || fail "chap"

echo "$PASS" | pvn a secret set chap node.session.auth.username=alice node.session.auth.password=- || fail "secret set"
iscsi_pv web $IQN 1 ReadWriteOnce chap | pvn a create -f - || fail "create"
pvn a stage web || fail "stage"
pvn a describe web > "$T/describe.txt"
grep -q "Fence:        [0-9a-f]\{16\}" "$T/describe.txt" || fail "no fence key in describe: $(cat $T/describe.txt)"
grep -q "Condition:    healthy" "$T/describe.txt" || fail "not healthy: $(cat $T/describe.txt)"
! grep -rq "$PASS" "$T/describe.txt" "$T/a/journal" 2>/dev/null || fail "secret leaked into describe/journal"
for pid in $(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/"); do
	! tr '\0' ' ' < /proc/$pid/cmdline | grep -q "$PASS" || fail "secret in helper argv"
	! tr '\0' '\n' < /proc/$pid/environ | grep -q "$PASS" || fail "secret in helper env"
done
mkdir -p "$T/pub"
pvn a publish web "$T/pub" || fail "publish"
dd if=/dev/urandom of="$T/pub/data" bs=1M count=20 conv=fsync status=none || fail "write"
sum=$(md5sum < "$T/pub/data")
pvn a unpublish web "$T/pub" || fail "unpublish"
pvn a unstage web || fail "unstage"
pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/" >/dev/null && fail "helper still running after unstage"
tgt_adm --op show --mode target | grep -q "Initiator: iqn.2026-11.io.pvnode:a " && fail "session still logged in after unstage"
pvn a stage web || fail "stage again"
pvn a publish web "$T/pub" || fail "publish again"
[ "$(md5sum < "$T/pub/data")" = "$sum" ] || fail "data changed across unstage/stage"
pvn a unpublish web "$T/pub" && pvn a unstage web || fail "second unpublish/unstage"
echo "pvctl lifecycle: ok"

# The CSI path, when the daemon is built.
if [ -n "${PVNODE:-}" ] && [ -x "$PVNODE" ]; then
	sock="$T/csi.sock"
	"$PVNODE" --state-dir "$T/c" --node-id c --allowed-path "$T" --selinux off --endpoint "unix://$sock" >"$T/pvnode.log" 2>&1 &
	PVNODE_PID=$!
	ISCSI_EXTRA_CLEANUP='kill $PVNODE_PID 2>/dev/null; wait $PVNODE_PID 2>/dev/null'
	for i in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	cv() { "$PVCTL" --endpoint "unix://$sock" --state-dir "$T/c" --node-id c --allowed-path "$T" --selinux off "$@"; }
	# the catalog is local; node operations go over CSI with the volume_context
	iscsi_pv csivol $IQN-open 1 ReadWriteOnce | pvn c create -f - || fail "csi create"
	cv stage csivol || fail "csi stage"
	mkdir -p "$T/cpub"
	cv publish csivol "$T/cpub" || fail "csi publish"
	echo hello > "$T/cpub/f" && sync "$T/cpub/f" || fail "csi write"
	# pvnode restarts: the detached helper keeps serving, the new daemon re-adopts it
	hp=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/c/") || fail "no helper for the CSI volume"
	kill $PVNODE_PID; wait $PVNODE_PID 2>/dev/null
	kill -0 $hp 2>/dev/null || fail "the helper died with pvnode"
	echo more >> "$T/cpub/f" && sync "$T/cpub/f" || fail "write while pvnode is down"
	rm -f "$sock"
	"$PVNODE" --state-dir "$T/c" --node-id c --allowed-path "$T" --selinux off --endpoint "unix://$sock" >>"$T/pvnode.log" 2>&1 &
	PVNODE_PID=$!
	for i in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	[ "$(cat "$T/cpub/f")" = "$(printf 'hello\nmore')" ] || fail "data after pvnode restart"
	kill -0 $hp 2>/dev/null || fail "the helper died across the pvnode restart"
	cv unpublish csivol "$T/cpub" && cv unstage csivol || fail "csi unpublish/unstage"
	# CHAP through CSI: pvctl sends the PV's secrets in NodeStageVolume
	echo "$PASS" | pvn c secret set chap node.session.auth.username=alice node.session.auth.password=- || fail "secret set c"
	iscsi_pv csichap $IQN 1 ReadWriteOnce chap | pvn c create -f - || fail "csi create chap"
	cv stage csichap || fail "csi stage with CHAP"
	cv unstage csichap || fail "csi unstage with CHAP"
	! grep -q "$PASS" "$T/pvnode.log" || fail "CHAP password in the pvnode log"
	echo "CSI lifecycle: ok"
else
	echo "CSI lifecycle: skipped (pvnode not built)"
fi
exit 0
