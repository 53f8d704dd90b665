#!/bin/bash
# tests/iscsi/existing.sh — create --existing against tgtd: a LUN that answers (CHAP
# from the secretRef) with at least the capacity is registered (Retain) without a byte
# written to it; a capacity above the LUN's, a wrong password, a missing secret set and
# an unknown target are refused and nothing is recorded. The registered LUN stages,
# keeps its data, and a delete of the Retain PV leaves it byte for byte.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init existing
IQN=iqn.2026-11.io.pvnode.test:existing
PASS='Existing-Chap-2026'
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun1.img" 256M || fail "tgt setup"
tgt_add_chap 1 carol "$PASS" || fail "chap"
echo "$PASS" | pvn a secret set good node.session.auth.username=carol node.session.auth.password=- >/dev/null || fail "secret"
echo wrong | pvn a secret set bad node.session.auth.username=carol node.session.auth.password=- >/dev/null || fail "secret"

refused() { # WANT_RC NEEDLE NAME PV-JSON
	local want=$1 needle=$2 name=$3 rc=0
	pvn a create --existing -f - <<<"$4" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || fail "$name: exit $rc, wanted $want: $(cat "$T/out" "$T/err")"
	grep -qF -- "$needle" "$T/err" || fail "$name: error does not say '$needle': $(cat "$T/err")"
	[ -e "$T/a/catalog/$name.json" ] && fail "$name: recorded although refused"
	echo "refused ($rc): $(cat "$T/err")"
}

before=$(md5sum <"$T/lun1.img")
refused 2 "holds 256Mi, less than the capacity 512Mi" big "$(PV_CAPACITY=512Mi iscsi_pv big $IQN 1 ReadWriteOnce good)"
refused 2 "wrong CHAP credentials" wrongpw "$(iscsi_pv wrongpw $IQN 1 ReadWriteOnce bad)"
refused 1 "secret nosuch does not exist" nosecret "$(iscsi_pv nosecret $IQN 1 ReadWriteOnce nosuch)"
refused 1 "existing-missing does not exist" notarget "$(iscsi_pv notarget $IQN-missing 1 ReadWriteOnce good)"
iscsi_pv db $IQN 1 ReadWriteOnce good | pvn a create --existing -f - >"$T/out" || fail "register"
grep -q "registered (iscsi, 256Mi, reclaimPolicy Retain)" "$T/out" || fail "register: $(cat "$T/out")"
[ "$(md5sum <"$T/lun1.img")" = "$before" ] || fail "registration wrote to the LUN"
tgt_adm --op show --mode target | grep -q "Initiator:" && fail "registration left a session logged in"
echo "registered: $(cat "$T/out")"

mkdir -p "$T/pub"
pvn a stage db && pvn a publish db "$T/pub" >/dev/null || fail "stage/publish"
dd if=/dev/urandom of="$T/pub/data" bs=1M count=8 conv=fsync status=none || fail "write"
pvn a unpublish db "$T/pub" && pvn a unstage db || fail "teardown"
lun=$(md5sum <"$T/lun1.img")
pvn a delete db >"$T/out" || fail "delete"
grep -q "kept" "$T/out" || fail "delete: $(cat "$T/out")"
[ "$(md5sum <"$T/lun1.img")" = "$lun" ] || fail "delete of a Retain PV changed the LUN"
echo "delete of the Retain PV left the LUN byte for byte"
echo PASS
