#!/usr/bin/env bash
# A pvctl killed mid-stage (after attach, after mount, at the start of unstage) leaves a
# journal intent; the retry ends staged (or unstaged) with no leaked loop device or mount.
. "$(dirname "$0")/../lib/common.sh"
# PVNODE_FAULT works only in builds with -Dfault_injection=true (scripts/test makes one)
"$PVCTL" --version | grep -q "fault injection" || { echo "SKIP: this build has no fault injection (meson -Dfault_injection=true)"; exit 77; }
img="$PVNODE_STATE_DIR/images/crash.img"
staging="$PVNODE_STATE_DIR/staging/crash"
expect_rc 0 pvctl create -f "$(mkpv crash file 64Mi RWO)"
for point in stage-after-attach stage-after-mount; do
	step "killed at $point"
	rc=0; PVNODE_FAULT=$point "$PVCTL" stage crash 2>/dev/null || rc=$?
	assert_eq "$rc" 137 "exit status of the killed pvctl"
	expect_rc 0 pvctl describe crash
	assert_contains "$LAST_OUT" "Phase:        staging"
	expect_rc 0 pvctl stage crash
	assert_eq "$(loops_of "$img")" 1 "loop devices after the retry"
	assert_eq "$(grep -c " $staging " /proc/self/mountinfo)" 1 "staging mounts after the retry"
	expect_rc 0 pvctl unstage crash
	assert_eq "$(loops_of "$img")" 0 "loop devices after unstage"
done
step "killed at the start of unstage, then reconcile at start-up"
expect_rc 0 pvctl stage crash
rc=0; PVNODE_FAULT=unstage-begin "$PVCTL" unstage crash 2>/dev/null || rc=$?
assert_eq "$rc" 137
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "interrupted unstage was undone"
assert_eq "$(loops_of "$img")" 0 "loop devices after reconcile"
assert_eq "$(mounts_under "$PVNODE_STATE_DIR")" 0 "mounts after reconcile"
step "a kill -9 from outside while mkfs runs"
expect_rc 0 pvctl create -f "$(mkpv big file 2Gi RWO '"fsType":"xfs"')"
"$PVCTL" stage big >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do pgrep -P $pid >/dev/null && break; sleep 0.02; done
kill -9 $pid; wait $pid 2>/dev/null || true
sleep 0.3
expect_rc 0 pvctl stage big
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/big.img")" 1 "loop devices of big after the retry"
expect_rc 0 pvctl delete big --force
assert_eq "$(loops_of "$PVNODE_STATE_DIR/images/big.img")" 0
expect_rc 0 pvctl delete crash
exit 0
