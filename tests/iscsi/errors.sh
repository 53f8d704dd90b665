#!/bin/bash
# tests/iscsi/errors.sh — each way a login can go wrong gives its own clear error naming
# the portal and the target, fast: wrong CHAP, unknown IQN (plain and with discovery),
# missing LUN, unreachable portal; and a dead first portal in `portals` fails over.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init errors
IQN=iqn.2026-11.io.pvnode.test:err
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 64M && tgt_add_chap 1 bob 'Right-Secret-1' || fail "tgt setup"
echo 'Wrong-Secret-1' | pvn a secret set bad node.session.auth.username=bob node.session.auth.password=- >/dev/null
echo 'Right-Secret-1' | pvn a secret set good node.session.auth.username=bob node.session.auth.password=- >/dev/null
dead=$(_tgt_free_tcp_port)
PV_CAPACITY=64Mi

expect() {   # expect NAME EXIT REGEX...: stage NAME fails with EXIT and a message matching all
	local name=$1 want=$2 start out rc; shift 2
	start=$(date +%s%N)
	out=$(timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off stage "$name" 2>&1); rc=$?
	local ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ $rc = "$want" ] || fail "$name: exit $rc, want $want: $out"
	for re in "$@"; do echo "$out" | grep -qE -- "$re" || fail "$name: message lacks /$re/: $out"; done
	[ $ms -lt 15000 ] || fail "$name: took $ms ms"
	echo "$name (${ms} ms, exit $rc): $out"
	pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/" >/dev/null && fail "$name: a helper was left running"
	true
}
# each of these names LUN 1, which one catalog volume at a time may use
gone() { pvn a delete "$1" >/dev/null || fail "delete $1"; }
iscsi_pv wrongchap $IQN 1 ReadWriteOnce bad | pvn a create -f - >/dev/null
expect wrongchap 2 "wrong CHAP" "$IQN" "$TGT_PORTAL"; gone wrongchap
iscsi_pv nochap $IQN 1 | pvn a create -f - >/dev/null
expect nochap 2 "wrong CHAP" "$IQN"; gone nochap
iscsi_pv noiqn ${IQN}-missing 1 ReadWriteOnce good | pvn a create -f - >/dev/null
expect noiqn 1 "does not exist" "${IQN}-missing" "$TGT_PORTAL"; gone noiqn
iscsi_pv noiqn2 ${IQN}-missing 1 ReadWriteOnce good ',"discovery":"true"' | pvn a create -f - >/dev/null
expect noiqn2 1 "does not exist" "SendTargets" "${IQN}-missing"; gone noiqn2
iscsi_pv nolun $IQN 7 ReadWriteOnce good | pvn a create -f - >/dev/null
expect nolun 1 "no LUN 7" "$IQN" "$TGT_PORTAL"
iscsi_pv unreach $IQN 1 ReadWriteOnce good | sed "s/$TGT_PORTAL/127.0.0.1:$dead/" | pvn a create -f - >/dev/null
expect unreach 1 "unreachable" "127.0.0.1:$dead" "$IQN"; gone unreach
# fail over: first portal dead, second alive
iscsi_pv failover $IQN 1 ReadWriteOnce good | sed "s/\"portal\":\"$TGT_PORTAL\"/\"portals\":\"127.0.0.1:$dead,$TGT_PORTAL\"/" |
	pvn a create -f - >/dev/null || fail "create failover"
pvn a stage failover || fail "failover stage"
pvn a describe failover | grep -q "via $TGT_PORTAL" || fail "failover: not via the live portal"
pvn a unstage failover || fail "failover unstage"
# bad attributes are refused at create with the JSON path
out=$(iscsi_pv bad 'IQN.bad' 1 | pvn a create -f - 2>&1); [ $? = 2 ] && echo "$out" | grep -q "attributes.iqn" || fail "bad iqn accepted: $out"
echo "errors: ok"
