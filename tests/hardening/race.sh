#!/usr/bin/env bash
# Issue 9 item 3: a target flipped between a directory inside the prefix and a symlink to
# outside while publishing: no publish ever lands outside (resolution and mount are one,
# by file descriptor, without following links).
. "$(dirname "$0")/../lib/common.sh"
tries=${RACE_TRIES:-100}
outside="$TESTDIR/outside"
mkdir -p "$outside"
expect_rc 0 pvctl create -f "$(mkpv race file 64Mi RWO)"
expect_rc 0 pvctl stage race
t="$TESTDIR/targets/flip"
# t and t.alt: a directory and a link to outside, swapped atomically, as fast as it goes
mkdir -p "$t"
ln -s "$outside" "$t.alt"
"${FLIP:?FLIP (tests/hardening/flip) is not set}" "$t" "$t.alt" "${FLIP_US:-200}" &
FLIPPER=$!
CLEANUP_PIDS+=("$FLIPPER")
escaped=0 published=0
for _ in $(seq "$tries"); do
	if "$PVCTL" publish race "$t" >/dev/null 2>&1; then
		published=$((published + 1))
		"$PVCTL" unpublish race "$t" >/dev/null 2>&1 || true
	fi
	[ "$(mounts_under "$outside")" = 0 ] || { escaped=$((escaped + 1)); umount "$outside" 2>/dev/null || true; }
done
kill "$FLIPPER" 2>/dev/null || true; wait "$FLIPPER" 2>/dev/null || true
# The kernel can still complete a rename of the directory just bound onto (it checks for
# a mount point before the bind lands): such a mount stays inside the prefix under the
# other name, where unpublish and reconcile recognise it as the volume's.
moved=0
if mountpoint -q "$t.alt"; then
	moved=1
	expect_rc 0 pvctl unpublish race "$t.alt"
	mountpoint -q "$t.alt" && fail "unpublish did not take the moved mount away"
fi
echo "race: $tries tries, $published published, $escaped outside, $moved renamed inside the prefix"
assert_eq "$escaped" 0 "publishes that landed outside the prefix"
rm -rf "$t" "$t.alt"
expect_rc 0 pvctl reconcile
expect_rc 0 pvctl delete race --force
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts left"
exit 0
