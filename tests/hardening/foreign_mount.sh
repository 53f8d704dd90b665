#!/usr/bin/env bash
# Issue 9 item 6: publishing onto a mount that is not this volume's own publish is
# refused; unpublish unmounts exactly one mount, and only its own. A stage refused
# because something else is mounted at its staging path detaches what it attached (the
# hostile loop found its loop device left behind with no journal).
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv fa file 64Mi RWO)"
expect_rc 0 pvctl create -f "$(mkpv fb file 64Mi RWO)"
expect_rc 0 pvctl stage fa
expect_rc 0 pvctl stage fb
step "a foreign tmpfs at the target"
mkdir -p "$TESTDIR/targets/tmp"
mount -t tmpfs pvnode-test "$TESTDIR/targets/tmp"
expect_rc 1 pvctl publish fa "$TESTDIR/targets/tmp"
assert_contains "$LAST_ERR" "already a mount point"
expect_rc 0 pvctl unpublish fa "$TESTDIR/targets/tmp"
mountpoint -q "$TESTDIR/targets/tmp" || fail "unpublish took the foreign tmpfs away"
umount "$TESTDIR/targets/tmp"
step "a foreign tmpfs at the staging path"
expect_rc 0 pvctl create -f "$(mkpv fc file 64Mi RWO)"
mkdir -p "$TESTDIR/targets/stg"
mount -t tmpfs pvnode-test "$TESTDIR/targets/stg"
echo foreign > "$TESTDIR/targets/stg/marker"
expect_rc 1 pvctl --allowed-path "$TESTDIR/targets" stage fc --staging-path "$TESTDIR/targets/stg"
assert_contains "$LAST_ERR" "already a mount point"
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/fc.img")" 0 "loop devices left on fc's image"
[ -e "$PVNODE_STATE_DIR/journal/fc.json" ] && fail "a journal is left for the refused stage"
mountpoint -q "$TESTDIR/targets/stg" || fail "the refused stage took the foreign tmpfs away"
step "a stage whose attach fails leaves the foreign tmpfs at its staging path (hostile loop, csi-fuzz)"
mv "$PVNODE_STATE_DIR/images/fc.img" "$TESTDIR/fc.img.away"
expect_rc 1 pvctl --allowed-path "$TESTDIR/targets" stage fc --staging-path "$TESTDIR/targets/stg"
mountpoint -q "$TESTDIR/targets/stg" || fail "a stage that failed in attach took the foreign tmpfs away"
[ -e "$TESTDIR/targets/stg/marker" ] || fail "the foreign tmpfs lost its file"
mv "$TESTDIR/fc.img.away" "$PVNODE_STATE_DIR/images/fc.img"
if "$PVCTL" --version | grep -q "fault injection"; then
	step "reconcile of a stage killed before its attach leaves the foreign tmpfs"
	rc=0; PVNODE_FAULT=stage-before-attach "$PVCTL" --allowed-path "$TESTDIR/targets" stage fc \
		--staging-path "$TESTDIR/targets/stg" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 137 "exit status of the killed pvctl"
	"$PVCTL" --allowed-path "$TESTDIR/targets" reconcile >/dev/null 2>&1 || true
	mountpoint -q "$TESTDIR/targets/stg" || fail "reconcile of the interrupted stage took the foreign tmpfs away"
	[ -e "$TESTDIR/targets/stg/marker" ] || fail "the foreign tmpfs lost its file (reconcile)"
	assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/fc.img")" 0 "loop devices left on fc's image (reconcile)"
	[ -e "$PVNODE_STATE_DIR/journal/fc.json" ] && fail "reconcile left the interrupted stage's journal"
fi
umount "$TESTDIR/targets/stg"
expect_rc 0 pvctl --allowed-path "$TESTDIR/targets" stage fc --staging-path "$TESTDIR/targets/stg"
expect_rc 0 pvctl unstage fc
expect_rc 0 pvctl delete fc
step "another volume's target"
expect_rc 0 pvctl publish fb "$TESTDIR/targets/b"
expect_rc 1 pvctl publish fa "$TESTDIR/targets/b"
expect_rc 0 pvctl unpublish fa "$TESTDIR/targets/b"
mountpoint -q "$TESTDIR/targets/b" || fail "unpublish of fa took fb's publish away"
step "something stacked on our own publish"
expect_rc 0 pvctl publish fa "$TESTDIR/targets/a"
mount -t tmpfs pvnode-test "$TESTDIR/targets/a"
expect_rc 1 pvctl unpublish fa "$TESTDIR/targets/a"
assert_contains "$LAST_ERR" "not this volume's"
assert_eq "$(awk -v p="$TESTDIR/targets/a" '$5 == p' /proc/self/mountinfo | wc -l)" 2 "mounts at the target"
umount "$TESTDIR/targets/a"
expect_rc 0 pvctl unpublish fa "$TESTDIR/targets/a"
expect_rc 0 pvctl delete fa --force
expect_rc 0 pvctl delete fb --force
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts left"
exit 0
