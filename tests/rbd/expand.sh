#!/bin/bash
# tests/rbd/expand.sh — pvctl expand of a staged RBD volume: the image grows (through
# the helper, which holds the exclusive lock), the helper re-reads its size, the loop
# device and the mounted filesystem follow online (xfs); shrinking is refused; ext4's
# online growth needs CAP_SYS_RESOURCE, which this sandbox may lack (then the error
# says so); a raw block volume's device grows.
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret node-a
size_of() { df -B1 --output=size "$1" | tail -1; }

step "xfs, staged and published: grows online"
rbd_pv gx 320Mi ReadWriteOnce '"fsType":"xfs"' | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage gx
expect_rc 0 pvn node-a publish gx "$TESTDIR/pod/gx"
before=$(size_of "$TESTDIR/pod/gx")
expect_rc 0 pvn node-a expand gx --capacity 640Mi
after=$(size_of "$TESTDIR/pod/gx")
echo "xfs: $before -> $after bytes"
[ "$after" -gt $((before * 3 / 2)) ] || fail "the filesystem did not grow: $before -> $after"
assert_contains "$(rbd_cli info "$CEPH_POOL/gx")" "size 640 MiB"
expect_rc 0 pvn node-a get gx -o json
assert_contains "$LAST_OUT" '"capacity": "640Mi"'
expect_rc 2 pvn node-a expand gx --capacity 128Mi
assert_contains "$LAST_ERR" "only grow"
expect_rc 0 pvn node-a describe gx
assert_contains "$LAST_OUT" "Condition:    healthy"
expect_rc 0 pvn node-a delete gx --force

step "ext4, staged"
rbd_pv g4 64Mi ReadWriteOnce | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage g4
if (( (0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24) & 1 )); then
	expect_rc 0 pvn node-a expand g4 --capacity 256Mi
	[ "$(size_of "$TESTDIR/node-a/staging/g4")" -gt 134217728 ] || fail "ext4 did not grow"
else
	expect_rc 1 pvn node-a expand g4 --capacity 256Mi
	assert_contains "$LAST_ERR" "CAP_SYS_RESOURCE"
	echo "ext4 online growth refused here: $LAST_ERR"
fi
assert_contains "$(rbd_cli info "$CEPH_POOL/g4")" "size 256 MiB"
expect_rc 0 pvn node-a delete g4 --force

step "raw block, staged: the device grows"
rbd_pv gb 64Mi ReadWriteOnce '"volumeMode":"Block"' | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage gb
expect_rc 0 pvn node-a publish gb "$TESTDIR/pod/gb"
expect_rc 0 pvn node-a expand gb --capacity 96Mi
assert_eq "$(blockdev --getsize64 "$TESTDIR/pod/gb")" 100663296 "device size after expand"
expect_rc 0 pvn node-a delete gb --force
assert_clean
