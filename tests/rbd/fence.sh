#!/bin/bash
# tests/rbd/fence.sh — ReadWriteOnce fenced across two nodes (two state dirs, two node
# ids) by the image's exclusive lock:
#   - node-b's stage is refused (exit 3) naming node-a, and leaves nothing on node-b;
#   - after node-a unstages, node-b stages and sees node-a's data (handover);
#   - node-b's helper is SIGKILLed: node-a is refused at once naming node-b; fence-release
#     --node node-b breaks the lock (and blocklists node-b's client), node-a stages, and
#     node-b's dead stage still unstages without touching node-a's lock;
#   - node-a's helper is frozen (SIGSTOP, a hung node): node-b releases it and stages;
#     node-a's late writes then fail and its volume reports the fence;
#   - releasing the wrong node is refused naming the holder; a node holding nothing is fine.
. "$(dirname "$0")/../lib/rbd_test.sh"
helper_of() { pgrep -f "pvnode-rbd-fuse .*--mountpoint $TESTDIR/$1/run/vol/"; }
for n in node-a node-b; do
	rbd_secret $n
	rbd_pv vol 128Mi ReadWriteOnce | expect_rc 0 pvn $n create -f -
done

step "node-a stages and writes; node-b is refused, naming node-a"
expect_rc 0 pvn node-a stage vol
expect_rc 0 pvn node-a publish vol "$TESTDIR/pod-a"
echo "from node-a" >"$TESTDIR/pod-a/owner"
sync -f "$TESTDIR/pod-a/owner"
expect_rc 3 pvn node-b stage vol
echo "$LAST_ERR"
assert_contains "$LAST_ERR" "locked by node node-a"
assert_contains "$LAST_ERR" "fence-release --node node-a"
helper_of node-b >/dev/null && fail "node-b left a helper behind"
assert_eq "$(losetup -nO BACK-FILE | grep -c "^$TESTDIR/node-b/" || true)" 0 "node-b loop devices"

step "handover: node-a unstages, node-b stages and sees the data"
expect_rc 0 pvn node-a unpublish vol "$TESTDIR/pod-a"
expect_rc 0 pvn node-a unstage vol
expect_rc 0 pvn node-b stage vol
assert_eq "$(cat "$TESTDIR/node-b/staging/vol/owner")" "from node-a" "data on node-b"

step "node-b's helper is killed: node-a is refused at once, fence-release lets it in"
kill -9 "$(helper_of node-b)"
t0=$SECONDS
expect_rc 3 pvn node-a stage vol
assert_contains "$LAST_ERR" "locked by node node-b"
[ $((SECONDS - t0)) -le 10 ] || fail "the refusal took $((SECONDS - t0)) s"
expect_rc 3 pvn node-a fence-release vol --node node-x
assert_contains "$LAST_ERR" "held by node node-b, not node-x"
expect_rc 0 pvn node-a fence-release vol --node node-b
expect_rc 0 pvn node-a stage vol
expect_rc 0 pvn node-a publish vol "$TESTDIR/pod-a"
assert_eq "$(cat "$TESTDIR/pod-a/owner")" "from node-a" "data after the takeover"
expect_rc 0 pvn node-b unstage vol
assert_eq "$(rbd_lockers vol)" 1 "lockers after node-b's dead stage went"
expect_rc 0 pvn node-a describe vol
assert_contains "$LAST_OUT" "Condition:    healthy"

step "node-a hangs (helper stopped): node-b releases it; node-a's late writes fail"
A=$(helper_of node-a)
# Only what succeeds runs while it is frozen: a failed stage's cleanup scans the loop
# devices (LOOP_GET_STATUS64 stats each backing file) and would wait on this FUSE file.
kill -STOP "$A"
expect_rc 0 pvn node-b fence-release vol --node node-a
expect_rc 0 pvn node-b stage vol
echo "from node-b" >"$TESTDIR/node-b/staging/vol/owner"
sync -f "$TESTDIR/node-b/staging/vol/owner"
kill -CONT "$A"
rc=0
timeout 30 dd if=/dev/urandom of="$TESTDIR/pod-a/late" bs=64k count=4 oflag=direct status=none 2>"$TESTDIR/late.err" || rc=$?
[ $rc != 0 ] || fail "node-a wrote after its lock was broken"
[ $rc != 124 ] || fail "node-a's late write hung instead of failing"
echo "node-a's late write: $(cat "$TESTDIR/late.err")"
expect_rc 0 pvn node-a describe vol
assert_contains "$LAST_OUT" "fenced"
echo "$LAST_OUT" | grep "Condition:"
assert_eq "$(cat "$TESTDIR/node-b/staging/vol/owner")" "from node-b" "node-b's data"
expect_rc 0 pvn node-a unpublish vol "$TESTDIR/pod-a"
expect_rc 0 pvn node-a unstage vol

step "teardown leaves nothing"
expect_rc 0 pvn node-b unstage vol
expect_rc 0 pvn node-b fence-release vol --node node-a   # nobody holds it: fine
expect_rc 0 pvn node-b delete vol
expect_rc 0 pvn node-a delete vol
assert_clean
