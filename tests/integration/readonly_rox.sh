#!/usr/bin/env bash
# ReadOnlyMany: the mount is read-only and so is the block device itself; a write gets
# EROFS. A readonly publish of a RWO stage is read-only too. A blank volume cannot be
# staged ROX (nothing to read, and formatting would write).
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv shared file 64Mi RWO,ROX)"
step "blank volume, ROX stage refused"
expect_rc 3 pvctl stage shared --access-mode ROX
assert_contains "$LAST_ERR" "blank"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/shared.img")" 0 "loop devices after the refused stage"
step "write once RWO"
expect_rc 0 pvctl stage shared --access-mode RWO
expect_rc 0 pvctl publish shared "$TESTDIR/targets/w"
echo seed >"$TESTDIR/targets/w/seed"
step "readonly publish of a RWO stage"
expect_rc 0 pvctl publish shared "$TESTDIR/targets/r" --readonly
if (echo x >"$TESTDIR/targets/r/x") 2>"$TESTDIR/e"; then fail "write through a readonly publish succeeded"; fi
assert_contains "$(cat "$TESTDIR/e")" "Read-only file system"
expect_rc 0 pvctl unpublish shared "$TESTDIR/targets/r"
expect_rc 0 pvctl unpublish shared "$TESTDIR/targets/w"
expect_rc 0 pvctl unstage shared
step "ROX stage"
expect_rc 0 pvctl stage shared --access-mode ROX
dev=$(losetup -j "$PVNODE_STATE_DIR/images/shared.img" -O NAME -n)
assert_eq "$(blockdev --getro "$dev")" 1 "device read-only flag"
expect_rc 0 pvctl publish shared "$TESTDIR/targets/ro1" -o json
assert_contains "$LAST_OUT" '"readonly": true'
expect_rc 0 pvctl publish shared "$TESTDIR/targets/ro2"
assert_eq "$(cat "$TESTDIR/targets/ro2/seed")" seed
if (echo x >"$TESTDIR/targets/ro1/new") 2>"$TESTDIR/e"; then fail "write on a ROX volume succeeded"; fi
assert_contains "$(cat "$TESTDIR/e")" "Read-only file system"
if dd if=/dev/zero of="$dev" bs=4096 count=1 oflag=direct 2>"$TESTDIR/e"; then fail "raw write to the ROX device succeeded"; fi
step "a RWO publish of the ROX stage is refused"
expect_rc 3 pvctl publish shared "$TESTDIR/targets/rw" --access-mode RWO
expect_rc 0 pvctl delete shared --force
exit 0
