#!/bin/bash
# tests/rbd/lifecycle.sh — an RBD volume through pvctl on ext4 (and xfs): create makes
# the image (idempotent; another catalog asking another size is refused naming both,
# the same size reuses it), stage (helper + exclusive lock + loop + mkfs) and publish,
# data survives unstage + stage, describe shows the lock, the cephx key is nowhere it
# must not be, delete is refused while another node uses the image, delete removes the
# image, and nothing is left: no mount, loop device, helper, watcher or lock.
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret node-a
rbd_secret node-b

step "create: the image appears, with the default features; idempotent"
rbd_pv v4 128Mi ReadWriteOnce >"$TESTDIR/v4.json"
expect_rc 0 pvn node-a create -f "$TESTDIR/v4.json"
expect_rc 0 pvn node-a create -f "$TESTDIR/v4.json"
assert_contains "$(rbd_cli info "$CEPH_POOL/v4")" "size 128 MiB"
assert_contains "$(rbd_cli info "$CEPH_POOL/v4")" "exclusive-lock"
expect_rc 0 pvn node-a get v4 -o json
assert_contains "$LAST_OUT" '"image": "v4"'

step "another node's catalog: another size is refused naming both, the same size reuses it"
rbd_pv v4 256Mi ReadWriteOnce | expect_rc 1 pvn node-b create -f -
echo "$LAST_ERR"
assert_contains "$LAST_ERR" "128Mi (134217728 bytes)"
assert_contains "$LAST_ERR" "256Mi (268435456 bytes)"
expect_rc 0 pvn node-b create -f "$TESTDIR/v4.json"

step "stage, publish, write (ext4)"
expect_rc 0 pvn node-a stage v4
expect_rc 0 pvn node-a publish v4 "$TESTDIR/pod/v4"
head -c 4000000 /dev/urandom >"$TESTDIR/data"
cp "$TESTDIR/data" "$TESTDIR/pod/v4/data"
sync -f "$TESTDIR/pod/v4/data"
expect_rc 0 pvn node-a describe v4
desc=$LAST_OUT
echo "$desc"
assert_contains "$desc" "Fence:        exclusive lock as node node-a"
assert_contains "$desc" "Condition:    healthy"
assert_contains "$desc" "userspace: $CEPH_POOL/v4 as client.admin"
assert_eq "$(rbd_lockers v4)" 1 "lockers while staged"
assert_key_absent "$TESTDIR/node-a" "$TESTDIR/node-b" "$desc"

step "data survives unstage and stage; nothing held in between"
expect_rc 0 pvn node-a unpublish v4 "$TESTDIR/pod/v4"
expect_rc 0 pvn node-a unstage v4
assert_clean v4
expect_rc 0 pvn node-a stage v4
expect_rc 0 pvn node-a publish v4 "$TESTDIR/pod/v4"
cmp "$TESTDIR/data" "$TESTDIR/pod/v4/data" || fail "data differs after unstage + stage"
expect_rc 0 pvn node-a unpublish v4 "$TESTDIR/pod/v4"
expect_rc 0 pvn node-a unstage v4

step "delete is refused while another node uses the image, naming its client"
expect_rc 0 pvn node-b stage v4
expect_rc 1 pvn node-a delete v4
echo "$LAST_ERR"
assert_contains "$LAST_ERR" "still in use by the client at"
expect_rc 0 pvn node-b unstage v4

step "delete removes the image; the other catalog's delete finds it gone"
expect_rc 0 pvn node-a delete v4
assert_eq "$(rbd_cli ls "$CEPH_POOL" | grep -cx v4 || true)" 0 "image v4 after delete"
expect_rc 0 pvn node-b delete v4

step "xfs (320 MiB, RWOP): stage, publish, write, read back"
rbd_pv vx 320Mi ReadWriteOncePod '"fsType":"xfs"' | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage vx
expect_rc 0 pvn node-a publish vx "$TESTDIR/pod/vx"
assert_eq "$(findmnt -no FSTYPE "$TESTDIR/pod/vx")" xfs "filesystem"
cp "$TESTDIR/data" "$TESTDIR/pod/vx/data"
sync -f "$TESTDIR/pod/vx/data"
echo 3 >/proc/sys/vm/drop_caches
cmp "$TESTDIR/data" "$TESTDIR/pod/vx/data" || fail "xfs data differs"
expect_rc 0 pvn node-a delete vx --force
assert_eq "$(rbd_cli ls "$CEPH_POOL" | wc -l)" 0 "images left"
assert_clean
