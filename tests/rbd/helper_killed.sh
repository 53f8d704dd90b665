#!/bin/bash
# tests/rbd/helper_killed.sh — pvnode-rbd-fuse SIGKILLed under volumes in use:
#   - a published filesystem: describe reports the dead helper, I/O fails instead of
#     hanging, reconcile says what to do (the mount pins the old device); unpublish +
#     unstage blocklists the dead client, so no watch lingers and the next stage gets the
#     lock at once (librbd breaks a lock whose owner no longer watches); the data is there;
#   - a published raw block volume: reconcile restarts the helper in place and binds the
#     target to the new device; it is healthy and writable again.
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret node-a
helper_of() { pgrep -f "pvnode-rbd-fuse .*--mountpoint $TESTDIR/node-a/run/$1/"; }

step "a published filesystem loses its helper"
rbd_pv vol 64Mi ReadWriteOnce | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage vol
expect_rc 0 pvn node-a publish vol "$TESTDIR/pod/vol"
echo precious >"$TESTDIR/pod/vol/keep"
sync -f "$TESTDIR/pod/vol/keep"
kill -9 "$(helper_of vol)"
sleep 0.3
expect_rc 0 pvn node-a describe vol
assert_contains "$LAST_OUT" "Condition:    volume vol: the RBD helper"
assert_contains "$LAST_OUT" "is not running"
rc=0
timeout 20 dd if=/dev/zero of="$TESTDIR/pod/vol/x" bs=1M count=2 oflag=direct status=none 2>/dev/null || rc=$?
[ $rc != 0 ] || fail "a write succeeded with a dead helper"
[ $rc != 124 ] || fail "a write hung with a dead helper"
pvn node-a reconcile >"$TESTDIR/rec.txt" 2>&1 || true
cat "$TESTDIR/rec.txt"
assert_contains "$(cat "$TESTDIR/rec.txt")" "unpublish and unstage it, then stage it again"
assert_eq "$(rbd_watchers vol)" 1 "watchers (the dead client's) before unstage"

step "unpublish + unstage blocklist the dead client; stage again restores the volume"
expect_rc 0 pvn node-a unpublish vol "$TESTDIR/pod/vol"
expect_rc 0 pvn node-a unstage vol
assert_eq "$(rbd_watchers vol)" 0 "watchers after unstage"
t0=$SECONDS
expect_rc 0 pvn node-a stage vol
[ $((SECONDS - t0)) -le 10 ] || fail "stage after a dead helper took $((SECONDS - t0)) s"
expect_rc 0 pvn node-a publish vol "$TESTDIR/pod/vol"
assert_eq "$(cat "$TESTDIR/pod/vol/keep")" precious "data after the restage"
expect_rc 0 pvn node-a describe vol
assert_contains "$LAST_OUT" "Condition:    healthy"
expect_rc 0 pvn node-a delete vol --force

step "a published raw block volume: reconcile restarts the helper in place"
rbd_pv raw 64Mi ReadWriteOnce '"volumeMode":"Block"' | expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage raw
expect_rc 0 pvn node-a publish raw "$TESTDIR/pod/raw"
head -c 1048576 /dev/urandom >"$TESTDIR/blob"
dd if="$TESTDIR/blob" of="$TESTDIR/pod/raw" bs=1M oflag=direct status=none
old=$(helper_of raw)
kill -9 "$old"
sleep 0.3
pvn node-a reconcile >"$TESTDIR/rec.txt" 2>&1 || true
cat "$TESTDIR/rec.txt"
assert_contains "$(cat "$TESTDIR/rec.txt")" "was restarted"
new=$(helper_of raw) || fail "no helper after reconcile"
[ "$new" != "$old" ] || fail "the helper was not restarted"
expect_rc 0 pvn node-a describe raw
assert_contains "$LAST_OUT" "Condition:    healthy"
cmp -n 1048576 "$TESTDIR/blob" "$TESTDIR/pod/raw" || fail "the target does not show the data after the restart"
dd if=/dev/zero of="$TESTDIR/pod/raw" bs=1M count=1 oflag=direct status=none || fail "write after the restart"
assert_eq "$(rbd_watchers raw)" 1 "watchers (the new helper only)"
expect_rc 0 pvn node-a delete raw --force
assert_clean
