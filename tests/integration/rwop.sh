#!/usr/bin/env bash
# ReadWriteOncePod: exactly one publish; a second target is refused with exit 3, and is
# allowed again after the first is unpublished.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv pod1 file 64Mi RWOP)"
expect_rc 0 pvctl stage pod1
expect_rc 0 pvctl publish pod1 "$TESTDIR/targets/p1"
expect_rc 0 pvctl publish pod1 "$TESTDIR/targets/p1"   # same target again: idempotent
expect_rc 3 pvctl publish pod1 "$TESTDIR/targets/p2"
assert_contains "$LAST_ERR" "ReadWriteOncePod"
assert_contains "$LAST_ERR" "pod1"
[ -e "$TESTDIR/targets/p2" ] && mountpoint -q "$TESTDIR/targets/p2" && fail "second target was mounted"
expect_rc 0 pvctl unpublish pod1 "$TESTDIR/targets/p1"
expect_rc 0 pvctl publish pod1 "$TESTDIR/targets/p2"
expect_rc 0 pvctl delete pod1 --force
exit 0
