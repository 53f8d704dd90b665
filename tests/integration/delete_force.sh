#!/usr/bin/env bash
# delete refuses while the volume is staged (exit 1, with the reason); --force
# unpublishes and unstages first, leaving nothing behind.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv del file 64Mi RWO)"
expect_rc 0 pvctl stage del
expect_rc 0 pvctl publish del "$TESTDIR/targets/a"
expect_rc 0 pvctl publish del "$TESTDIR/targets/b"
expect_rc 1 pvctl delete del
assert_contains "$LAST_ERR" "staged on node node-a"
assert_contains "$LAST_ERR" "--force"
[ -f "$PVNODE_STATE_DIR/images/del.img" ] || fail "image removed by a refused delete"
expect_rc 3 pvctl unstage del
assert_contains "$LAST_ERR" "still published"
expect_rc 0 pvctl delete del --force
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/del.img")" 0 "loops"
[ -e "$PVNODE_STATE_DIR/images/del.img" ] && fail "image left"
[ -e "$PVNODE_STATE_DIR/journal/del.json" ] && fail "journal left"
exit 0
