#!/bin/bash
# tests/rbd/existing.sh — pvctl create --existing with RBD images made outside pvnode:
# an image with at least the capacity and the features the access modes need is
# registered (reclaimPolicy Retain) without a change to it; a capacity above the
# image's, an image without exclusive-lock for RWO and a missing image are refused and
# nothing is recorded; the registered image stages with its data, and deleting the
# Retain PV leaves the image as it was. A plain create naming an image made outside
# pvnode, of the very size, is refused: it would be deleted with the PV (reclaim Delete).
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret node-a
rbd_cli create --size 64 "$CEPH_POOL/pre" || fail "rbd create pre"
rbd_cli create --size 64 --image-feature layering "$CEPH_POOL/plain" || fail "rbd create plain"

refused() {   # WANT_RC NEEDLE NAME PV-JSON
	expect_rc "$1" pvn node-a create --existing -f - <<<"$4"
	assert_contains "$LAST_ERR" "$2" "$3"
	[ -e "$TESTDIR/node-a/catalog/$3.json" ] && fail "$3: recorded although refused"
	echo "refused ($1): $LAST_ERR"
}

step "refusals: too small, no exclusive-lock for RWO, missing"
refused 2 "holds 64Mi, less than the volume's capacity 128Mi" big "$(rbd_pv big 128Mi ReadWriteOnce "" '"image":"pre"')"
refused 2 "without exclusive-lock" nolock "$(rbd_pv nolock 64Mi ReadWriteOnce "" '"image":"plain"')"
refused 1 "does not exist" missing "$(rbd_pv missing 64Mi ReadWriteOnce)"

step "a plain create does not take over an image pvnode did not make"
rbd_pv pre 64Mi ReadWriteOnce | expect_rc 1 pvn node-a create -f -
assert_contains "$LAST_ERR" "pvnode did not make it"
assert_contains "$LAST_ERR" "create --existing"
[ -e "$TESTDIR/node-a/catalog/pre.json" ] && fail "pre: recorded although refused"
assert_eq "$(rbd_cli ls "$CEPH_POOL" | grep -cx pre || true)" 1 "image pre after the refused create"

step "registered as Retain, unchanged; stages with its data; delete keeps it"
before=$(rbd_cli info --format json "$CEPH_POOL/pre")
rbd_pv db 64Mi ReadWriteOnce "" '"image":"pre"' | expect_rc 0 pvn node-a create --existing -f -
echo "$LAST_OUT"
assert_contains "$LAST_OUT" "Retain"
assert_eq "$(rbd_cli info --format json "$CEPH_POOL/pre")" "$before" "rbd info after registration"
expect_rc 0 pvn node-a stage db
echo kept >"$TESTDIR/node-a/staging/db/f"
expect_rc 0 pvn node-a unstage db
expect_rc 0 pvn node-a delete db
assert_contains "$LAST_OUT" "kept"
assert_eq "$(rbd_cli ls "$CEPH_POOL" | grep -cx pre || true)" 1 "image pre after deleting the Retain PV"
rbd_pv db2 64Mi ReadWriteOnce "" '"image":"pre"' | expect_rc 0 pvn node-a create --existing -f -
expect_rc 0 pvn node-a stage db2
assert_eq "$(cat "$TESTDIR/node-a/staging/db2/f")" kept "data in the kept image"
expect_rc 0 pvn node-a delete db2 --force
assert_clean pre
