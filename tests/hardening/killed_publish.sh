#!/usr/bin/env bash
# Issue 9 item 4: a publish or unpublish killed half-way never leaves a mount the journal
# does not know: a retry does not stack a second mount, unpublish finds and removes the
# mount, unstage and delete refuse while any mount of the volume is left; reconcile
# finishes an interrupted unpublish and undoes an interrupted publish.
. "$(dirname "$0")/../lib/common.sh"
"$PVCTL" --version | grep -q "fault injection" || { echo "SKIP: this build has no fault injection (meson -Dfault_injection=true)"; exit 77; }
t="$TESTDIR/targets/k"
count_at() { awk -v p="$1" '$5 == p' /proc/self/mountinfo | wc -l; }
expect_rc 0 pvctl create -f "$(mkpv kp file 64Mi RWO)"
expect_rc 0 pvctl stage kp
for point in publish-after-intent publish-after-bind; do
	step "publish killed at $point"
	rc=0; PVNODE_FAULT=$point "$PVCTL" publish kp "$t" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 137 "exit status of the killed pvctl"
	expect_rc 0 pvctl publish kp "$t"
	assert_eq "$(count_at "$t")" 1 "mounts at the target after the retry"
	expect_rc 0 pvctl reconcile
	assert_contains "$LAST_OUT" "consistent"
	expect_rc 0 pvctl unpublish kp "$t"
	assert_eq "$(count_at "$t")" 0 "mounts at the target after unpublish"
done
step "unpublish killed after its intent"
expect_rc 0 pvctl publish kp "$t"
rc=0; PVNODE_FAULT=unpublish-after-intent "$PVCTL" unpublish kp "$t" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 137 "exit status of the killed pvctl"
expect_rc 0 pvctl unpublish kp "$t"
assert_eq "$(count_at "$t")" 0 "mounts at the target after the retried unpublish"
step "reconcile settles what a killed publish or unpublish left"
for point in publish-after-bind unpublish-after-intent; do
	[ $point = unpublish-after-intent ] && expect_rc 0 pvctl publish kp "$t"
	cmd=publish; [ $point = unpublish-after-intent ] && cmd=unpublish
	rc=0; PVNODE_FAULT=$point "$PVCTL" $cmd kp "$t" >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 137 "exit status of the killed pvctl $cmd"
	expect_rc 0 pvctl reconcile
	assert_contains "$LAST_OUT" "an interrupted $cmd at $t was"
	assert_eq "$(count_at "$t")" 0 "mounts at the target after reconcile ($point)"
	expect_rc 0 pvctl describe kp
	[[ "$LAST_OUT" == *"$t"* ]] && fail "the journal still lists $t after reconcile ($point)"
	expect_rc 0 pvctl reconcile
	assert_contains "$LAST_OUT" "consistent"
done
step "a mount of the volume the journal does not list (an older pvctl killed after its bind)"
mkdir -p "$TESTDIR/targets/stray"
mount --bind "$PVNODE_STATE_DIR/staging/kp" "$TESTDIR/targets/stray"
expect_rc 0 pvctl reconcile
expect_rc 1 pvctl unstage kp
assert_contains "$LAST_ERR" "does not list"
expect_rc 1 pvctl delete kp --force
mountpoint -q "$PVNODE_STATE_DIR/staging/kp" || fail "a refused unstage unmounted the staging path"
[ -f "$PVNODE_STATE_DIR/images/kp.img" ] || fail "a refused delete removed the image"
expect_rc 0 pvctl unpublish kp "$TESTDIR/targets/stray"
assert_eq "$(count_at "$TESTDIR/targets/stray")" 0 "the stray mount after unpublish"
expect_rc 0 pvctl unstage kp
expect_rc 0 pvctl delete kp
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/kp.img")" 0 "loop devices left"
exit 0
