#!/usr/bin/env bash
# Data written through one publish survives unpublish/unstage and a second stage, and
# the second stage does not format again.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv keep file 64Mi RWO)"
t="$TESTDIR/targets/a"
expect_rc 0 pvctl stage keep
expect_rc 0 pvctl publish keep "$t"
head -c 3000000 /dev/urandom >"$t/blob"
sum=$(sha256sum <"$t/blob")
expect_rc 0 pvctl unpublish keep "$t"
expect_rc 0 pvctl unstage keep
step "stage again"
expect_rc 0 pvctl stage keep
expect_rc 0 pvctl publish keep "$TESTDIR/targets/b"
assert_eq "$(sha256sum <"$TESTDIR/targets/b/blob")" "$sum" "checksum after restage"
expect_rc 0 pvctl delete keep --force
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts after delete --force"
exit 0
