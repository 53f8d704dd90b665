#!/usr/bin/env bash
# Two volumes whose names agree in their first 50 characters: a loop device's tag
# (lo_file_name, 63 bytes) must still tell them apart, or unstaging one detaches the
# other's device (the kernel then clears it under the other's mount when that goes) and
# reconcile cannot find it.
. "$(dirname "$0")/../lib/common.sh"
base=$(printf 'v%.0s' $(seq 60))
A="${base}-alpha"; B="${base}-bravo"
expect_rc 0 pvctl create -f "$(mkpv "$A" file 64Mi RWO)"
expect_rc 0 pvctl create -f "$(mkpv "$B" file 64Mi RWO)"
expect_rc 0 pvctl stage "$A"
expect_rc 0 pvctl stage "$B"
expect_rc 0 pvctl publish "$B" "$TESTDIR/targets/b"
echo data > "$TESTDIR/targets/b/file"
sync
devb=$(losetup -j "$PVNODE_STATE_DIR/images/$B.img" -O NAME -n | head -1)
[ -n "$devb" ] || fail "no loop device for $B"
step "unstaging one leaves the other's device alone"
expect_rc 0 pvctl unstage "$A"
assert_eq "$(losetup -n -O AUTOCLEAR "$devb" | tr -d ' ')" 0 "autoclear of $B's device after unstaging $A"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/$B.img")" 1 "loop devices on $B's image"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "consistent"
expect_rc 0 pvctl unpublish "$B" "$TESTDIR/targets/b"
expect_rc 0 pvctl unstage "$B"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/$B.img")" 0 "loop devices left on $B's image"
expect_rc 0 pvctl delete "$A"
expect_rc 0 pvctl delete "$B"
exit 0
