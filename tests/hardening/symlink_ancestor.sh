#!/usr/bin/env bash
# Issue 9 item 2: a symlink inside the allowed prefix that points at an ancestor of the
# prefix is refused (it would mount over the prefix itself, and `ln -s /` over /), for
# targets and for staging paths.
. "$(dirname "$0")/../lib/common.sh"
zone="$TESTDIR/zone"
allowed="$zone/allowed"
mkdir -p "$allowed"
P() { pvctl --allowed-path "$allowed" "$@"; }
expect_rc 0 pvctl create -f "$(mkpv anc file 64Mi RWO)"
ln -s "$zone" "$allowed/up"
ln -s / "$allowed/root"
expect_rc 2 P stage anc --staging-path "$allowed/up"
expect_rc 2 P stage anc --staging-path "$allowed/root"
expect_rc 0 P stage anc --staging-path "$allowed/stage"
expect_rc 2 P publish anc "$allowed/up"
assert_contains "$LAST_ERR" "symbolic link"
expect_rc 2 P publish anc "$allowed/root"
grep -q " $zone " /proc/self/mountinfo && fail "something was mounted over $zone"
[ "$(awk '$5 == "/" && $0 ~ / - ext4 \/dev\/loop/' /proc/self/mountinfo | wc -l)" = 0 ] || fail "something was mounted over /"
expect_rc 0 P publish anc "$allowed/t"
expect_rc 0 P unpublish anc "$allowed/t"
expect_rc 0 P unstage anc
expect_rc 0 P delete anc
assert_eq "$(mounts_under "$zone")" 0 "mounts under the zone"
exit 0
