#!/usr/bin/env bash
# CSI-style idempotency: the same call twice succeeds and changes nothing; the same
# target with other arguments is refused; undoing what is not there succeeds.
. "$(dirname "$0")/../lib/common.sh"
img="$PVNODE_STATE_DIR/images/idem.img"
expect_rc 0 pvctl create -f "$(mkpv idem file 64Mi RWO)"
expect_rc 0 pvctl create -f "$TESTDIR/idem.json"        # same PV again: fine
expect_rc 1 pvctl create -f "$(mkpv idem file 128Mi RWO)"
assert_contains "$LAST_ERR" "already exists"
expect_rc 0 pvctl unstage idem                          # nothing staged: fine
expect_rc 0 pvctl stage idem
expect_rc 0 pvctl stage idem
assert_eq "$(loops_of "$img")" 1 "loop devices after two stages"
assert_eq "$(grep -c " $PVNODE_STATE_DIR/staging/idem " /proc/self/mountinfo)" 1 "staging mounts"
expect_rc 1 pvctl stage idem --staging-path "$TESTDIR/targets/elsewhere"
assert_contains "$LAST_ERR" "already staged"
t="$TESTDIR/targets/t"
expect_rc 0 pvctl publish idem "$t"
expect_rc 0 pvctl publish idem "$t"
assert_eq "$(grep -c " $t " /proc/self/mountinfo)" 1 "target mounts after two publishes"
expect_rc 1 pvctl publish idem "$t" --readonly
assert_contains "$LAST_ERR" "other options"
expect_rc 0 pvctl unpublish idem "$t"
expect_rc 0 pvctl unpublish idem "$t"
expect_rc 0 pvctl unpublish idem "$TESTDIR/targets/never"
expect_rc 0 pvctl unstage idem
expect_rc 0 pvctl unstage idem
assert_eq "$(loops_of "$img")" 0 "loop devices"
expect_rc 0 pvctl delete idem
expect_rc 1 pvctl delete idem
assert_contains "$LAST_ERR" "not in the catalog"
exit 0
