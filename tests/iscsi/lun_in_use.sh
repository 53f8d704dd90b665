#!/bin/bash
# tests/iscsi/lun_in_use.sh — one LUN, one catalog volume: a create, a create --existing
# and a CSI CreateVolume of another volume whose portal, iqn and lun an existing volume
# already uses are refused naming that volume, and nothing is recorded; a portal list
# that includes the portal is the same storage, the target's name behind another
# portal is not; the same volume again is still idempotent, another LUN of the target is free, and after a
# delete the LUN can be used again. Two creates of one LUN at once: exactly one wins
# (the check and the record are under one catalog-wide lock), in every round.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init lun-in-use
IQN=iqn.2026-11.io.pvnode.test:inuse
tgt_add_target 1 $IQN || fail "tgt setup"
for l in 1 2 3; do tgt_add_lun 1 $l "$T/lun$l.img" 64M || fail "lun $l"; done
dead=$(_tgt_free_tcp_port)
export PV_CAPACITY=64Mi

refused() {   # refused NAME NEEDLE [create options]: PV JSON on stdin
	local name=$1 needle=$2 rc=0
	shift 2
	pvn a create "$@" -f - >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" != 0 ] || fail "$name: created although its LUN is in use: $(cat "$T/out")"
	grep -qF -- "$needle" "$T/err" || fail "$name: the refusal does not say '$needle': $(cat "$T/err")"
	[ -e "$T/a/catalog/$name.json" ] && fail "$name: recorded although refused"
	echo "refused (exit $rc): $(cat "$T/err")"
}

iscsi_pv db $IQN 1 | pvn a create -f - >/dev/null || fail "create db"
iscsi_pv db2 $IQN 1 | refused db2 "already volume db's"
iscsi_pv db3 $IQN 1 | refused db3 "already volume db's" --existing
iscsi_pv db4 $IQN 1 | sed "s/\"portal\":\"$TGT_PORTAL\"/\"portals\":\"127.0.0.1:$dead,$TGT_PORTAL\"/" |
	refused db4 "already volume db's"
iscsi_pv db $IQN 1 | pvn a create -f - >/dev/null || fail "the same volume again is not idempotent"
iscsi_pv other $IQN 2 | pvn a create -f - >/dev/null || fail "LUN 2 refused although nobody uses it"
# the same target name behind another portal is another target's LUN
iscsi_pv elsewhere $IQN 1 | sed "s/$TGT_PORTAL/127.0.0.1:$dead/" | pvn a create -f - >/dev/null ||
	fail "LUN 1 of another portal refused"

# through CSI: ALREADY_EXISTS naming the volume
CSI_CALL=${CSI_CALL:-${PVNODE_BUILD_ROOT:-}/tests/csi/csi_call}
if [ -x "${PVNODE:-}" ] && [ -x "$CSI_CALL" ]; then
	. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
	EP="unix://$T/csi.sock"
	"$PVNODE" --endpoint "$EP" --node-id a --state-dir "$T/a" --allowed-path "$T" --selinux off >>"$T/pvnode.log" 2>&1 &
	PVNODE_PID=$!
	ISCSI_EXTRA_CLEANUP='kill -TERM $PVNODE_PID 2>/dev/null; wait $PVNODE_PID 2>/dev/null'
	for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
	call CreateVolume name=csi1 capacity_range.required_bytes=$((64 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.lun=1
	[ "$ST" = ALREADY_EXISTS ] && grep -q "already volume db's" <<<"$ERRMSG" ||
		fail "CSI CreateVolume of a LUN in use: $ERRMSG"
	echo "CSI: $ERRMSG"
	[ -e "$T/a/catalog/csi1.json" ] && fail "csi1 recorded although refused"
	kill -TERM $PVNODE_PID; wait $PVNODE_PID
	ISCSI_EXTRA_CLEANUP=
else
	echo "pvnode or csi_call not built: CSI part skipped"
fi

pvn a delete db >/dev/null || fail "delete db"
iscsi_pv db2 $IQN 1 | pvn a create -f - >/dev/null || fail "LUN 1 refused after its volume was deleted"

# two creates of LUN 3 at once, 10 rounds: one record each round
for round in $(seq 1 10); do
	iscsi_pv "r${round}a" $IQN 3 >"$T/ra.json"
	iscsi_pv "r${round}b" $IQN 3 >"$T/rb.json"
	pvn a create -f "$T/ra.json" >/dev/null 2>&1 &
	pa=$!
	pvn a create -f "$T/rb.json" >/dev/null 2>&1 &
	pb=$!
	ra=0 rb=0
	wait $pa || ra=$?
	wait $pb || rb=$?
	n=$(ls "$T/a/catalog" | grep -c "^r${round}[ab]\.json$")
	[ "$n" = 1 ] || fail "round $round: $n records for one LUN (exits $ra, $rb)"
	[ $((ra == 0)) != $((rb == 0)) ] || fail "round $round: exits $ra and $rb"
	pvn a delete "r${round}a" >/dev/null 2>&1 || pvn a delete "r${round}b" >/dev/null 2>&1 || fail "round $round: delete"
done
echo "10 rounds of two creates of one LUN at once: one record each"
echo PASS
