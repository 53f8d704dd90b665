#!/usr/bin/env bash
# ReadWriteMany with a filesystem on block storage is refused at create (exit 2, the
# JSON path named, nothing written) and at stage time from a CSI-style context (exit 3).
# volumeMode Block with RWX is allowed.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 2 pvctl create -f "$(mkpv many file 64Mi RWX)"
assert_contains "$LAST_ERR" "accessModes"
assert_contains "$LAST_ERR" "ReadWriteMany"
[ -e "$PVNODE_STATE_DIR/catalog/many.json" ] && fail "catalog entry written"
[ -e "$PVNODE_STATE_DIR/images/many.img" ] && fail "image written"
step "a mode the PV does not offer is refused at stage"
expect_rc 0 pvctl create -f "$(mkpv once file 64Mi RWO)"
expect_rc 3 pvctl stage once --access-mode RWX
expect_rc 3 pvctl stage once --access-mode ROX
assert_contains "$LAST_ERR" "does not offer"
step "RWX with volumeMode Block is allowed"
expect_rc 0 pvctl create -f "$(mkpv rawmany file 64Mi RWX '"volumeMode":"Block"')"
expect_rc 0 pvctl stage rawmany
expect_rc 0 pvctl delete rawmany --force
exit 0
