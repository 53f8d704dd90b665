#!/bin/bash
# tests/rbd/lock_regain.sh — a write librbd refuses with EROFS while the exclusive lock
# is still ours, or free (librbd re-taking it after an outage, or giving it up when it
# cannot move it to a new watch), is sent again, not taken for a fence: the data lands,
# the volume stays healthy and keeps writing, the lock is ours again. A write refused
# while another client holds the lock is the fence it always was (rbd_fence).
# Fault-injection builds only (PVNODE_FAULT=rbd-write-erofs[-unlocked] answers the
# helper's first write EROFS; the helper inherits the variable from pvctl).
. "$(dirname "$0")/../lib/rbd_test.sh"
"$PVCTL" --version | grep -q "fault injection" || { echo "not a fault-injection build"; exit 77; }
rbd_secret node-a
head -c 8388608 /dev/urandom >"$TESTDIR/blob"

for fault in rbd-write-erofs rbd-write-erofs-unlocked; do
	step "$fault: the refused write is sent again once the lock is ours"
	rbd_pv "v-$fault" 64Mi ReadWriteOnce '"volumeMode":"Block"' | expect_rc 0 pvn node-a create -f -
	PVNODE_FAULT=$fault expect_rc 0 pvn node-a stage "v-$fault"
	expect_rc 0 pvn node-a publish "v-$fault" "$TESTDIR/pod/$fault"
	dd if="$TESTDIR/blob" of="$TESTDIR/pod/$fault" bs=1M oflag=direct status=none || fail "$fault: the write failed"
	cmp -n 8388608 "$TESTDIR/blob" "$TESTDIR/pod/$fault" || fail "$fault: the data read back differs"
	log="$TESTDIR/node-a/run/v-$fault/pvnode-rbd-fuse.log"
	grep -q "a write was refused (EROFS)" "$log" || fail "$fault: no write was refused (the fault did not fire)"
	status="$TESTDIR/node-a/run/v-$fault/helper.status"
	grep -q "^regained=[1-9]" "$status" || fail "$fault: the status does not count a regained lock: $(cat "$status")"
	grep -q "^state=up" "$status" || fail "$fault: the helper is not up: $(cat "$status")"
	if [ $fault = rbd-write-erofs-unlocked ]; then
		grep -q "took it again" "$log" || fail "$fault: the free lock was not taken again: $(cat "$log")"
	fi
	assert_eq "$(rbd_lockers "v-$fault")" 1 "$fault: lockers"
	expect_rc 0 pvn node-a describe "v-$fault"
	assert_contains "$LAST_OUT" "Condition:    healthy"
	dd if=/dev/zero of="$TESTDIR/pod/$fault" bs=1M count=1 oflag=direct status=none || fail "$fault: a later write failed"
	expect_rc 0 pvn node-a unpublish "v-$fault" "$TESTDIR/pod/$fault"
	expect_rc 0 pvn node-a unstage "v-$fault"
	assert_eq "$(rbd_lockers "v-$fault")" 0 "$fault: lockers after unstage"
	expect_rc 0 pvn node-a delete "v-$fault" --force
done
assert_clean
