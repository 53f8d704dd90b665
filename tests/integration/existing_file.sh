#!/usr/bin/env bash
# create --existing with the file driver: an image that is there is registered as it is
# (Retain), the wrong size, a missing image or a symlink are refused with nothing
# written; delete of a Retain PV removes the record and keeps the image byte for byte,
# while a provisioned (Delete) PV goes with its image; reclaimPolicy round-trips
# through -o json and shows in get, describe and -o k8s.
. "$(dirname "$0")/../lib/common.sh"
imgs="$PVNODE_STATE_DIR/images"
mkdir -p "$imgs"

step "a volume with data, provisioned, then its record dropped by hand"
expect_rc 0 pvctl create -f "$(mkpv old file 64Mi RWO)"
expect_rc 0 pvctl stage old
expect_rc 0 pvctl publish old "$TESTDIR/targets/old"
dd if=/dev/urandom of="$TESTDIR/targets/old/data" bs=1M count=4 status=none conv=fsync
sum=$(md5sum <"$TESTDIR/targets/old/data")
expect_rc 0 pvctl unpublish old "$TESTDIR/targets/old"
expect_rc 0 pvctl unstage old
mv "$imgs/old.img" "$imgs/legacy.img"
rm "$PVNODE_STATE_DIR/catalog/old.json"

step "refusals leave nothing behind"
expect_rc 2 pvctl create --existing -f "$(mkpv legacy file 32Mi RWO "\"attributes\":{\"path\":\"$imgs/legacy.img\"}")"
assert_contains "$LAST_ERR" "holds 64Mi"
assert_contains "$LAST_ERR" 'set capacity to "64Mi"'
expect_rc 1 pvctl create --existing -f "$(mkpv ghost file 64Mi RWO)"
assert_contains "$LAST_ERR" "$imgs/ghost.img"
assert_contains "$LAST_ERR" "does not exist"
ln -s "$imgs/legacy.img" "$imgs/link.img"
expect_rc 2 pvctl create --existing -f "$(mkpv link file 64Mi RWO)"
assert_contains "$LAST_ERR" "symbolic link"
for v in legacy ghost link; do
	[ -e "$PVNODE_STATE_DIR/catalog/$v.json" ] && fail "catalog entry for refused $v"
	[ -e "$PVNODE_STATE_DIR/run/$v" ] && fail "run directory for refused $v"
done
[ -e "$imgs/ghost.img" ] && fail "an image was made for a registration"
assert_eq "$(stat -c %s "$imgs/legacy.img")" 67108864 "untouched image size"

step "registered as it is: Retain, data there"
expect_rc 0 pvctl create --existing -f "$(mkpv legacy file 64Mi RWO "\"attributes\":{\"path\":\"$imgs/legacy.img\"}")"
assert_contains "$LAST_OUT" "registered"
assert_contains "$LAST_OUT" "reclaimPolicy Retain"
expect_rc 0 pvctl create --existing -f "$TESTDIR/legacy.json" # a repeat is the same PV
expect_rc 0 pvctl get
assert_contains "$LAST_OUT" "RECLAIM"
assert_contains "$(grep '^legacy ' <<<"$LAST_OUT")" "Retain"
expect_rc 0 pvctl describe legacy
assert_contains "$LAST_OUT" "Reclaim policy: Retain"
expect_rc 0 pvctl get legacy -o k8s
assert_contains "$LAST_OUT" '"persistentVolumeReclaimPolicy": "Retain"'
expect_rc 0 pvctl get legacy -o json
json=$LAST_OUT
assert_contains "$json" '"reclaimPolicy": "Retain"'
printf '%s\n' "$json" >"$TESTDIR/export.json"
# another node's catalog cannot register an image outside its own <state>/images
expect_rc 2 pvctl --state-dir "$TESTDIR/state2" create --existing -f "$TESTDIR/export.json"
assert_contains "$LAST_ERR" "is not an image of this node"
mkdir -p "$TESTDIR/state2/images"
ln "$imgs/legacy.img" "$TESTDIR/state2/images/legacy.img"
json2=${json//"$imgs"/"$TESTDIR/state2/images"}
printf '%s\n' "$json2" >"$TESTDIR/export.json"
expect_rc 0 pvctl --state-dir "$TESTDIR/state2" create --existing -f "$TESTDIR/export.json"
expect_rc 0 pvctl --state-dir "$TESTDIR/state2" get legacy -o json
assert_eq "$LAST_OUT" "$json2" "reclaimPolicy round trip"
expect_rc 0 pvctl --state-dir "$TESTDIR/state2" delete legacy
expect_rc 0 pvctl stage legacy
expect_rc 0 pvctl publish legacy "$TESTDIR/targets/legacy"
assert_eq "$(md5sum <"$TESTDIR/targets/legacy/data")" "$sum" "data of the registered image"
expect_rc 0 pvctl unpublish legacy "$TESTDIR/targets/legacy"
expect_rc 0 pvctl unstage legacy
before=$(md5sum <"$imgs/legacy.img")

step "delete of a Retain PV keeps the image byte for byte"
expect_rc 0 pvctl delete legacy
assert_contains "$LAST_OUT" "kept"
[ -e "$PVNODE_STATE_DIR/catalog/legacy.json" ] && fail "record left"
assert_eq "$(md5sum <"$imgs/legacy.img")" "$before" "image after delete"

step "provisioned: Delete by default, Retain when asked"
expect_rc 0 pvctl create -f "$(mkpv fresh file 16Mi RWO)"
assert_contains "$LAST_OUT" "reclaimPolicy Delete"
expect_rc 0 pvctl delete fresh
[ -e "$imgs/fresh.img" ] && fail "a Delete PV's image was kept"
expect_rc 0 pvctl create -f "$(mkpv keep file 16Mi RWO '"reclaimPolicy":"Retain"')"
expect_rc 0 pvctl delete keep
[ -f "$imgs/keep.img" ] || fail "a Retain PV's image was removed"
expect_rc 2 pvctl create -f "$(mkpv bad file 16Mi RWO '"reclaimPolicy":"Recycle"')"
assert_contains "$LAST_ERR" "reclaimPolicy"
expect_rc 2 pvctl --endpoint unix:///nonexistent.sock create --existing -f "$TESTDIR/keep.json"
assert_contains "$LAST_ERR" "without --endpoint"
exit 0
