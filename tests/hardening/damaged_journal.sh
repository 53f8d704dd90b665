#!/usr/bin/env bash
# Issue 9 item 5: a damaged journal of a mounted volume means "in use": get and describe
# say Damaged, delete refuses (the image stays), reconcile reports it, and
# reconcile --repair rebuilds the journal from the mount table and the tagged loop
# devices, after which unpublish, unstage and delete work and nothing leaks.
. "$(dirname "$0")/../lib/common.sh"
t="$TESTDIR/targets/d"
expect_rc 0 pvctl create -f "$(mkpv dj file 64Mi RWO)"
expect_rc 0 pvctl stage dj
expect_rc 0 pvctl publish dj "$t"
echo data >"$t/f"
: >"$PVNODE_STATE_DIR/journal/dj.json"
expect_rc 0 pvctl get dj
assert_contains "$LAST_OUT" "Damaged"
expect_rc 0 pvctl describe dj
assert_contains "$LAST_OUT" "Damaged"
expect_rc 1 pvctl delete dj
[ -f "$PVNODE_STATE_DIR/images/dj.img" ] || fail "delete removed the image of a mounted volume"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "journal is damaged"
expect_rc 0 pvctl reconcile --repair
assert_contains "$LAST_OUT" "journal rebuilt"
expect_rc 0 pvctl describe dj
assert_contains "$LAST_OUT" "$t"
assert_contains "$LAST_OUT" "Phase:        staged"
[ "$(cat "$t/f")" = data ] || fail "data unreadable after the repair"
expect_rc 0 pvctl unpublish dj "$t"
expect_rc 0 pvctl unstage dj
expect_rc 0 pvctl delete dj
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/dj.img")" 0 "loop devices left"
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts left"
step "nothing attached: the damaged journal is set aside"
expect_rc 0 pvctl create -f "$(mkpv dj2 file 64Mi RWO)"
echo '{"vol' >"$PVNODE_STATE_DIR/journal/dj2.json"
expect_rc 0 pvctl reconcile --repair
assert_contains "$LAST_OUT" "set aside"
expect_rc 0 pvctl stage dj2
expect_rc 0 pvctl delete dj2 --force
step "no journal at all, a tagged loop device still attached: delete says how, --repair detaches it"
expect_rc 0 pvctl create -f "$(mkpv dj3 file 64Mi RWO)"
expect_rc 0 pvctl stage dj3
umount "$PVNODE_STATE_DIR/staging/dj3"
rm "$PVNODE_STATE_DIR/journal/dj3.json"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/dj3.img")" 1 "loop devices of dj3 before"
expect_rc 1 pvctl delete dj3
assert_contains "$LAST_ERR" "pvctl reconcile --repair"
expect_rc 0 pvctl reconcile
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/dj3.img")" 1 "a plain reconcile leaves the device (it is --repair's)"
expect_rc 0 pvctl reconcile --repair
assert_contains "$LAST_OUT" "attached with no stage recorded"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/dj3.img")" 0 "loop devices of dj3 after --repair"
expect_rc 0 pvctl delete dj3
exit 0
