#!/bin/bash
# tests/rbd/rox.sh — ReadOnlyMany on two nodes at once: a blank image is never staged
# read-only (it is written once through ReadWriteOnce first); then both nodes stage and
# publish it read-only without any lock, read the same data, and every write gets
# EROFS — through the filesystem and on the read-only loop device.
. "$(dirname "$0")/../lib/rbd_test.sh"
for n in node-a node-b; do
	rbd_secret $n
	rbd_pv shared 64Mi ReadWriteOnce,ReadOnlyMany | expect_rc 0 pvn $n create -f -
done

step "a blank image is not staged read-only"
expect_rc 3 pvn node-a stage shared --access-mode ROX
assert_contains "$LAST_ERR" "blank"

step "written once through RWO"
expect_rc 0 pvn node-a stage shared
echo "written once" >"$TESTDIR/node-a/staging/shared/f"
expect_rc 0 pvn node-a unstage shared

step "both nodes stage and publish it ROX at once; no lock is taken"
for n in node-a node-b; do
	expect_rc 0 pvn $n stage shared --access-mode ROX
	expect_rc 0 pvn $n publish shared "$TESTDIR/pod-$n" --access-mode ROX
	assert_eq "$(cat "$TESTDIR/pod-$n/f")" "written once" "data on $n"
done
assert_eq "$(rbd_lockers shared)" 0 "lockers with two readers"
expect_rc 0 pvn node-b describe shared
assert_contains "$LAST_OUT" "read-only, no lock"
assert_contains "$LAST_OUT" "Fence:        none"

step "writes fail with EROFS on both nodes"
for n in node-a node-b; do
	if echo x 2>"$TESTDIR/w.err" >"$TESTDIR/pod-$n/g"; then fail "a write on $n succeeded"; fi
	assert_contains "$(cat "$TESTDIR/w.err")" "Read-only file system" "$n filesystem write"
	dev=$(findmnt -no SOURCE "$TESTDIR/$n/staging/shared")
	assert_eq "$(blockdev --getro "$dev")" 1 "$n device read-only flag"
	if dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none 2>"$TESTDIR/w.err"; then
		fail "a raw write to $dev on $n succeeded"
	fi
	echo "$n raw write: $(cat "$TESTDIR/w.err")"
done

step "teardown leaves nothing"
for n in node-a node-b; do
	expect_rc 0 pvn $n unpublish shared "$TESTDIR/pod-$n"
	expect_rc 0 pvn $n unstage shared
done
expect_rc 0 pvn node-a delete shared
expect_rc 0 pvn node-b delete shared
assert_clean
