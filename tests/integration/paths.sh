#!/usr/bin/env bash
# Every path and id from a request is validated: outside the allowed prefixes, with
# '..', through a symlink that leads out, ids with '/': refused with exit 2 and a
# sentence, and nothing mounted.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv pth file 64Mi RWO)"
expect_rc 0 pvctl stage pth
expect_rc 2 pvctl publish pth /tmp/elsewhere-$$
assert_contains "$LAST_ERR" "outside the allowed prefixes"
expect_rc 2 pvctl publish pth "$TESTDIR/targets/../escape"
assert_contains "$LAST_ERR" "'..'"
expect_rc 2 pvctl publish pth "targets/relative"
expect_rc 2 pvctl publish pth "$TESTDIR/targets"       # the prefix itself
mkdir -p "$TESTDIR/outside"
ln -s "$TESTDIR/outside" "$TESTDIR/targets/link"
expect_rc 2 pvctl publish pth "$TESTDIR/targets/link/t"
assert_contains "$LAST_ERR" "symbolic link"
expect_rc 2 pvctl stage pth --staging-path /etc/pvnode-x
expect_rc 2 pvctl stage 'a/b'
expect_rc 2 pvctl unstage '../pth'
expect_rc 2 pvctl --allowed-path relative/path stage pth
assert_eq "$(mounts_under "$TESTDIR/outside")" 0 "mounts outside"
assert_eq "$(mounts_under "$TESTDIR/targets")" 0 "mounts under targets"
expect_rc 0 pvctl delete pth --force
exit 0
