#!/usr/bin/env bash
# Issue 9 item 7: a filesystem the kernel remounted read-only after an error is reported
# abnormal, with the reason and what to do, not "healthy"; unpublish, unstage and stage
# bring it back.
. "$(dirname "$0")/../lib/common.sh"
t="$TESTDIR/targets/ro"
expect_rc 0 pvctl create -f "$(mkpv rofs file 64Mi RWO '"mountOptions":["errors=remount-ro"]')"
expect_rc 0 pvctl stage rofs
expect_rc 0 pvctl publish rofs "$t"
expect_rc 0 pvctl describe rofs
assert_contains "$LAST_OUT" "Condition:    healthy"
dev=$(findmnt -n -o SOURCE "$PVNODE_STATE_DIR/staging/rofs")
trigger="/sys/fs/ext4/$(basename "$dev")/trigger_fs_error"
[ -w "$trigger" ] || { echo "SKIP: this kernel has no $trigger"; exit 77; }
echo 1 >"$trigger"
sleep 0.3
touch "$t/x" 2>/dev/null && fail "the filesystem should be read-only now"
expect_rc 0 pvctl describe rofs
assert_contains "$LAST_OUT" "remounted it after I/O errors"
assert_contains "$LAST_OUT" "staged again"
expect_rc 0 pvctl stats rofs
assert_contains "$LAST_OUT" "abnormal"
expect_rc 0 pvctl unpublish rofs "$t"
expect_rc 0 pvctl unstage rofs
expect_rc 0 pvctl stage rofs
touch "$PVNODE_STATE_DIR/staging/rofs/y" || fail "not writable after a new stage"
expect_rc 0 pvctl delete rofs --force
exit 0
