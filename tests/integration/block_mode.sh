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
expect_rc 0 pvctl unpublish raw "$t"
[ -e "$t" ] && fail "target file left behind"
expect_rc 0 pvctl unstage raw
expect_rc 0 pvctl stage raw --access-mode ROX
expect_rc 0 pvctl publish raw "$t"
assert_eq "$(head -c 7 "$t")" rawdata
if dd if=/dev/zero of="$t" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then fail "write to a ROX block volume succeeded"; fi
expect_rc 0 pvctl delete raw --force
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/raw.img")" 0
exit 0
