#!/usr/bin/env bash
# volumeMode Block: the loop device is published as a device node at a target file; raw
# I/O goes through; ROX publishes a read-only device.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv raw file 32Mi RWO,ROX '"volumeMode":"Block"')"
expect_rc 0 pvctl stage raw
t="$TESTDIR/targets/dev"
expect_rc 0 pvctl publish raw "$t"
[ -b "$t" ] || fail "$t is not a block device"
printf 'rawdata' | dd of="$t" bs=4096 conv=sync oflag=direct status=none
assert_eq "$(head -c 7 "$t")" rawdata
step "a readonly publish of a read-write stage is read-only down to its device"
ro="$TESTDIR/targets/rodev"
expect_rc 0 pvctl publish raw "$ro" --readonly
[ -b "$ro" ] || fail "$ro is not a block device"
assert_eq "$(blockdev --getro "$ro")" 1 "read-only flag of the readonly view"
assert_eq "$(head -c 7 "$ro")" rawdata
if dd if=/dev/zero of="$ro" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then fail "write through a readonly Block publish succeeded"; fi
printf 'again!!' | dd of="$t" bs=4096 conv=sync oflag=direct status=none || fail "the read-write target stopped working"
expect_rc 0 pvctl describe raw
assert_contains "$LAST_OUT" "$ro (read-only)"
expect_rc 0 pvctl unpublish raw "$ro"
assert_eq "$(losetup -j "$(losetup -j "$PVNODE_STATE_DIR/images/raw.img" -O NAME -n)" -O NAME -n | wc -l)" 0 "view loop devices after unpublish"
expect_rc 0 pvctl unpublish raw "$t"
[ -e "$t" ] && fail "target file left behind"
expect_rc 0 pvctl unstage raw
expect_rc 0 pvctl stage raw --access-mode ROX
expect_rc 0 pvctl publish raw "$t"
assert_eq "$(head -c 7 "$t")" again!!
if dd if=/dev/zero of="$t" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then fail "write to a ROX block volume succeeded"; fi
expect_rc 0 pvctl delete raw --force
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/raw.img")" 0
exit 0
