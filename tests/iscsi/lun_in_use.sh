#!/bin/bash
# tests/iscsi/lun_in_use.sh — one LUN, one catalog volume: a create, a create --existing
# and a CSI CreateVolume of another volume whose portal, iqn and lun an existing volume
# already uses are refused naming that volume, and nothing is recorded; a portal list
# that includes the portal is the same storage, the target's name behind another
# portal is not; the same volume again is still idempotent, another LUN of the target is free, and after a
# delete the LUN can be used again. Two creates of one LUN at once: exactly one wins
# (the check and the record are under one catalog-wide lock), in every round. A pool
# (`luns`): each create picks the first LUN of it no volume uses, a repeat keeps its
# LUN, an exhausted pool is refused, two creates at once get two LUNs, a picked LUN
# stages; a free LUN smaller than the capacity is passed over (a pool of only such LUNs
# is refused, out of range); a register of a pool without a lun is refused.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init lun-in-use
IQN=iqn.2026-11.io.pvnode.test:inuse
tgt_add_target 1 $IQN || fail "tgt setup"
for l in 1 2 3 4 5 6; do tgt_add_lun 1 $l "$T/lun$l.img" 64M || fail "lun $l"; done
tgt_add_lun 1 7 "$T/lun7.img" 16M || fail "lun 7"
tgt_add_lun 1 8 "$T/lun8.img" 64M || fail "lun 8"
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
# a catalog entry that cannot be read may hold the LUN asked for: refused, not passed over
cp "$T/a/catalog/db.json" "$T/db.json.good"
echo '{"name":' >"$T/a/catalog/db.json"
iscsi_pv db5 $IQN 1 | refused db5 "catalog entry db cannot be read"
cp "$T/db.json.good" "$T/a/catalog/db.json"
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
	# a StorageClass's pool: the picked LUN travels in volume_context (LUN 2 is other's)
	call CreateVolume name=csipool capacity_range.required_bytes=$((64 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.luns=2-3
	[ "$ST" = OK ] && grep -q '"lun":"3"' <<<"$OUT" || fail "CSI CreateVolume from a pool: $ST $ERRMSG $OUT"
	call CreateVolume name=csipool2 capacity_range.required_bytes=$((64 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.luns=2-3
	[ "$ST" = RESOURCE_EXHAUSTED ] || fail "CSI CreateVolume from an exhausted pool: $ST $ERRMSG"
	echo "CSI: a pool create got LUN 3; the next one: $ERRMSG"
	call DeleteVolume volume_id=csipool
	[ "$ST" = OK ] || fail "DeleteVolume csipool: $ERRMSG"
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

# a pool: luns 4-6, a create picks the first LUN no other volume uses
pool_pv() { iscsi_pv "$1" $IQN 0 | sed 's/"lun":"0"/"luns":"4-6"/'; }
lun_of() { sed -n 's/.*"lun": *"\([0-9]*\)".*/\1/p' "$T/a/catalog/$1.json"; }
pool_pv p1 | pvn a create -f - >/dev/null || fail "pool create p1"
iscsi_pv fixed5 $IQN 5 | pvn a create -f - >/dev/null || fail "create fixed5"
pool_pv p2 | pvn a create -f - >/dev/null || fail "pool create p2"
[ "$(lun_of p1)" = 4 ] && [ "$(lun_of p2)" = 6 ] || fail "pool picks: p1 $(lun_of p1), p2 $(lun_of p2) (5 is fixed5's)"
pool_pv p1 | pvn a create -f - >/dev/null || fail "a repeated pool create is not idempotent"
[ "$(lun_of p1)" = 4 ] || fail "a repeated create picked again"
rc=0
pool_pv p3 | pvn a create -f - >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] && grep -q 'every LUN of luns "4-6"' "$T/err" || fail "an exhausted pool: exit $rc $(cat "$T/err")"
[ -e "$T/a/catalog/p3.json" ] && fail "p3 recorded although the pool is exhausted"
echo "exhausted pool (exit $rc): $(cat "$T/err")"
pvn a delete p2 >/dev/null && pvn a delete fixed5 >/dev/null || fail "delete p2, fixed5"
# a free LUN smaller than the capacity is passed over; a pool of only such LUNs is
# refused naming them (out of range), and nothing is recorded
iscsi_pv big $IQN 0 | sed 's/"lun":"0"/"luns":"7-8"/' | pvn a create -f - >/dev/null || fail "pool create big"
[ "$(lun_of big)" = 8 ] || fail "a pool create of 64Mi got LUN $(lun_of big), not 8 (LUN 7 holds 16 MiB)"
rc=0
iscsi_pv big2 $IQN 0 | sed 's/"lun":"0"/"luns":"7"/' | pvn a create -f - >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] && grep -q "LUN 7 holds 16Mi, less than 64Mi" "$T/err" ||
	fail "a pool of too small LUNs: exit $rc $(cat "$T/err")"
[ -e "$T/a/catalog/big2.json" ] && fail "big2 recorded on a LUN too small"
echo "a pool of too small LUNs (exit $rc): $(cat "$T/err")"
pvn a delete big >/dev/null || fail "delete big"
# two pool creates at once: two different LUNs
pool_pv q1 >"$T/q1.json"
pool_pv q2 >"$T/q2.json"
pvn a create -f "$T/q1.json" >/dev/null 2>&1 & qa=$!
pvn a create -f "$T/q2.json" >/dev/null 2>&1 & qb=$!
wait $qa || fail "concurrent pool create q1"
wait $qb || fail "concurrent pool create q2"
[ "$(lun_of q1)" != "$(lun_of q2)" ] && [ -n "$(lun_of q1)" ] && [ -n "$(lun_of q2)" ] ||
	fail "concurrent pool creates picked $(lun_of q1) and $(lun_of q2)"
echo "two pool creates at once got LUNs $(lun_of q1) and $(lun_of q2)"
# a picked LUN stages and carries data
mkdir -p "$T/pub"
pvn a stage q1 && pvn a publish q1 "$T/pub" >/dev/null || fail "stage/publish a picked LUN"
echo picked >"$T/pub/f" && sync || fail "write to a picked LUN"
pvn a unpublish q1 "$T/pub" && pvn a unstage q1 || fail "teardown q1"
# a deleted pool volume's LUN goes back blank: the next volume picked onto it does not
# see the files of the one before
had=$(lun_of q1)
pvn a delete q1 >/dev/null || fail "delete q1"
pool_pv q3 | pvn a create -f - >/dev/null || fail "pool create q3"
[ "$(lun_of q3)" = "$had" ] || fail "q3 got LUN $(lun_of q3), not q1's $had (the test proves nothing)"
pvn a stage q3 && pvn a publish q3 "$T/pub" >/dev/null || fail "stage/publish q3"
[ -e "$T/pub/f" ] && fail "q3, picked onto q1's LUN, shows q1's file"
pvn a unpublish q3 "$T/pub" && pvn a unstage q3 || fail "teardown q3"
# an import or register of a pool only: refused with the reason at stage / at register
rc=0
pool_pv r1 | pvn a create --existing -f - >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] && grep -q "names only luns" "$T/err" || fail "register of a pool: exit $rc $(cat "$T/err")"
echo PASS
