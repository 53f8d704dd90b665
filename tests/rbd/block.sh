#!/bin/bash
# tests/rbd/block.sh — volumeMode Block: the device itself is published (RWO: with the
# exclusive lock), data written raw reads back after unstage + stage; a --readonly
# publish is a read-only device of its own; ReadWriteMany raw block (features
# layering) on two nodes at once, without a lock, each seeing the other's direct
# writes; ReadWriteMany with a filesystem is refused.
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret node-a
rbd_secret node-b

step "RWO raw block: publish the device, write, unstage, stage, read back"
rbd_pv raw 64Mi ReadWriteOnce '"volumeMode":"Block"' | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage raw
expect_rc 0 pvn node-a publish raw "$TESTDIR/pod/raw"
[ -b "$TESTDIR/pod/raw" ] || fail "the target is not a block device"
assert_eq "$(blockdev --getsize64 "$TESTDIR/pod/raw")" 67108864 "device size"
head -c 4194304 /dev/urandom >"$TESTDIR/blob"
dd if="$TESTDIR/blob" of="$TESTDIR/pod/raw" bs=1M oflag=direct status=none || fail "raw write"
assert_eq "$(rbd_lockers raw)" 1 "lockers"
expect_rc 0 pvn node-a publish raw "$TESTDIR/pod/raw-ro" --readonly
if dd if=/dev/zero of="$TESTDIR/pod/raw-ro" bs=4k count=1 oflag=direct status=none 2>/dev/null; then
	fail "a write through the read-only publish succeeded"
fi
cmp -n 4194304 "$TESTDIR/blob" "$TESTDIR/pod/raw-ro" || fail "read-only publish shows other data"
expect_rc 0 pvn node-a unpublish raw "$TESTDIR/pod/raw-ro"
expect_rc 0 pvn node-a unpublish raw "$TESTDIR/pod/raw"
expect_rc 0 pvn node-a unstage raw
expect_rc 0 pvn node-a stage raw
expect_rc 0 pvn node-a publish raw "$TESTDIR/pod/raw"
cmp -n 4194304 "$TESTDIR/blob" "$TESTDIR/pod/raw" || fail "raw data differs after unstage + stage"
expect_rc 0 pvn node-a delete raw --force

step "RWX raw block on two nodes at once, no lock"
for n in node-a node-b; do
	# no exclusive-lock feature: two writers would pass librbd's cooperative lock back
	# and forth on every write (correct, but slow)
	rbd_pv multi 64Mi ReadWriteMany '"volumeMode":"Block"' '"imageFeatures":"layering"' |
		expect_rc 0 pvn $n create -f -
	expect_rc 0 pvn $n stage multi
	expect_rc 0 pvn $n publish multi "$TESTDIR/pod-$n/multi"
done
expect_rc 0 pvn node-b describe multi
assert_contains "$LAST_OUT" "Fence:        none"
printf 'AAAA%.0s' $(seq 1024) | dd of="$TESTDIR/pod-node-a/multi" bs=4k count=1 oflag=direct status=none
printf 'BBBB%.0s' $(seq 1024) | dd of="$TESTDIR/pod-node-b/multi" bs=4k seek=1 count=1 oflag=direct status=none
assert_eq "$(dd if="$TESTDIR/pod-node-b/multi" bs=4k count=1 iflag=direct status=none | head -c 4)" AAAA "node-a's block on node-b"
assert_eq "$(dd if="$TESTDIR/pod-node-a/multi" bs=4k skip=1 count=1 iflag=direct status=none | head -c 4)" BBBB "node-b's block on node-a"
for n in node-a node-b; do
	expect_rc 0 pvn $n unpublish multi "$TESTDIR/pod-$n/multi"
	expect_rc 0 pvn $n unstage multi
done
expect_rc 0 pvn node-a delete multi
expect_rc 0 pvn node-b delete multi

step "RWX with a filesystem is refused"
rbd_pv fsx 64Mi ReadWriteMany | expect_rc 2 pvn node-a create -f -
assert_contains "$LAST_ERR" "ReadWriteMany"
assert_eq "$(rbd_cli ls "$CEPH_POOL" | wc -l)" 0 "images left"
assert_clean
