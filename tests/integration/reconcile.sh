#!/usr/bin/env bash
# Start-up reconciliation: a publish or staging mount that vanished behind pvnode's back
# is reported and flagged (never silently trusted); stage and publish again restore it.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv rec file 64Mi RWO)"
expect_rc 0 pvctl stage rec
expect_rc 0 pvctl publish rec "$TESTDIR/targets/r"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "consistent"
umount "$TESTDIR/targets/r"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "publish at $TESTDIR/targets/r is gone"
expect_rc 0 pvctl describe rec
assert_contains "$LAST_OUT" "mount lost"
expect_rc 0 pvctl publish rec "$TESTDIR/targets/r"
mountpoint -q "$TESTDIR/targets/r" || fail "publish did not restore the mount"
step "staging mount lost"
expect_rc 0 pvctl unpublish rec "$TESTDIR/targets/r"
umount "$PVNODE_STATE_DIR/staging/rec"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "staging mount at"
expect_rc 0 pvctl get rec
assert_contains "$LAST_OUT" "Lost"
expect_rc 0 pvctl stage rec
mountpoint -q "$PVNODE_STATE_DIR/staging/rec" || fail "stage did not restore the staging mount"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/rec.img")" 1 "loop devices"
expect_rc 0 pvctl delete rec --force
exit 0
