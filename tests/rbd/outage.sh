#!/bin/bash
# tests/rbd/outage.sh — the OSD stopped (SIGSTOP) for longer than osdTimeout while
# volumes are written: writes fail with an error after about the timeout (no process
# hangs in D state), describe reports the volumes abnormal meanwhile — an idle one too
# (the helper probes the cluster when nothing was asked for 10 s) — and once the OSD
# runs again the raw device writes again, the idle volume is healthy again by itself
# within a bound (even when one PG still serves nothing),
# and the filesystem volume is healthy after unstage + stage, with the data written
# before the outage.
. "$(dirname "$0")/../lib/rbd_test.sh"
T=5   # 3 s made ordinary operations right after the outage time out on a loaded VM
rbd_secret node-a
rbd_pv fsvol 64Mi ReadWriteOnce "" "\"osdTimeout\":\"$T\",\"monTimeout\":\"$T\"" | expect_rc 0 pvn node-a create -f -
rbd_pv blk 64Mi ReadWriteOnce '"volumeMode":"Block"' "\"osdTimeout\":\"$T\",\"monTimeout\":\"$T\"" |
	expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage fsvol
expect_rc 0 pvn node-a publish fsvol "$TESTDIR/pod/fs"
expect_rc 0 pvn node-a stage blk
expect_rc 0 pvn node-a publish blk "$TESTDIR/pod/blk"
rbd_pv idle 64Mi ReadWriteOnce '"volumeMode":"Block"' "\"osdTimeout\":\"$T\",\"monTimeout\":\"$T\"" |
	expect_rc 0 pvn node-a create -f -
expect_rc 0 pvn node-a stage idle
echo "before the outage" >"$TESTDIR/pod/fs/keep"
sync -f "$TESTDIR/pod/fs/keep"

# a write can need three OSD requests that each time out (object map update, its
# invalidation, the data): the bound is 3 x osdTimeout
step "OSD stopped: writes fail within 3 x ${T}s"
kill -STOP "$CEPH_OSD_PID"
t0=$SECONDS
# the filesystem write runs meanwhile: the OSD stays stopped only as long as needed
fs_rc=0
(timeout 60 dd if=/dev/urandom of="$TESTDIR/pod/fs/new" bs=1M count=4 oflag=direct status=none 2>"$TESTDIR/fs.err") &
FS_DD=$!
if timeout 60 dd if=/dev/urandom of="$TESTDIR/pod/blk" bs=1M count=8 oflag=direct status=none 2>"$TESTDIR/dd.err"; then
	fail "a raw write succeeded with the OSD stopped"
fi
took=$((SECONDS - t0))
echo "raw write failed after ${took}s: $(head -1 "$TESTDIR/dd.err")"
[ "$took" -le $((3 * T + 5)) ] || fail "the raw write needed ${took}s to fail (osdTimeout ${T}s)"
wait "$FS_DD" || fs_rc=$?
[ $fs_rc != 124 ] || fail "a write to the filesystem hung"
[ $fs_rc != 0 ] || fail "a write to the filesystem succeeded with the OSD stopped"
echo "filesystem write: exit $fs_rc after $((SECONDS - t0))s $(head -1 "$TESTDIR/fs.err")"

step "describe reports the volumes abnormal, the idle one too"
# a flush meanwhile (librbd answers it at once: nothing is in flight) is no sign that the
# cluster is back: blk stays down (it read as healthy again before 2026-12-02)
timeout 30 python3 -c 'import os,sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)' "$TESTDIR/pod/blk" ||
	echo "fsync of the raw device during the outage: exit $?"
# the idle volume's helper notices when its next probe round gets no answer: sent 10 s
# after its last answer, failed osdTimeout later — up to about 16 s after the stop, which
# the writes above may not last
while [ $((SECONDS - t0)) -lt 25 ] && ! pvn node-a describe idle | grep -q "RBD image $CEPH_POOL/idle down"; do
	sleep 0.5
done
for v in blk fsvol idle; do
	expect_rc 0 pvn node-a describe "$v"
	echo "$LAST_OUT" | grep "Condition:"
	# ext4 may have met its EIO already and gone read-only: that condition comes first
	# (it outlives the outage), and is as abnormal
	if [ $v = fsvol ] && grep -q "Condition:    the filesystem of volume fsvol is read-only" <<<"$LAST_OUT"; then
		continue
	fi
	assert_contains "$LAST_OUT" "Condition:    volume $v: RBD image $CEPH_POOL/$v down"
done

step "the OSD runs again: the raw device writes, the filesystem volume is restored"
kill -CONT "$CEPH_OSD_PID"
ok=0 t0=$SECONDS
# RECOVER: how long Ceph may take to serve every PG again. Seen on a 2-core VM at load
# 30: ops on one PG of the one OSD "delayed" for 67 s and more after SIGCONT; that was a
# PG whose read lease ran out during the stop going "laggy" for good (ops "waiting for
# readable"), which tests/lib/ceph.sh's lease now outlasts. Kept as the bound for a
# loaded machine.
RECOVER=${RBD_OUTAGE_RECOVER:-180}
while [ $((SECONDS - t0)) -lt $RECOVER ]; do
	if timeout 30 dd if=/dev/zero of="$TESTDIR/pod/blk" bs=64k count=1 oflag=direct status=none 2>/dev/null; then ok=1; break; fi
	sleep 0.5
done
[ $ok = 1 ] || fail "the raw device did not recover within $RECOVER s of SIGCONT"
echo "the raw device writes again $((SECONDS - t0)) s after SIGCONT"
expect_rc 0 pvn node-a describe blk
assert_contains "$LAST_OUT" "Condition:    healthy"
# the idle volume is healthy at its first probe round that one object answers. A round
# stats three objects of the image (first data object, header, a rotating data object:
# different PGs), so a PG that serves nothing (as the laggy ones did, for over 180 s,
# while the other volumes' I/O went through) does not keep it down. The bound, counted from
# the raw device's first write (the cluster serves again): a round sent before may run
# out its osdTimeout + 1 s, the next follows 10 s after, plus margin for a loaded ASan
# machine.
IDLE_BOUND=${RBD_OUTAGE_IDLE_BOUND:-45}
t1=$SECONDS
while [ $((SECONDS - t1)) -lt "$IDLE_BOUND" ]; do
	pvn node-a describe idle | grep -q "Condition:    healthy" && break
	sleep 0.5
done
expect_rc 0 pvn node-a describe idle
if ! grep -q "Condition:    healthy" <<<"$LAST_OUT"; then
	# what Ceph says, for whoever reads the failure: a fresh client's stat of the image's
	# header and first data objects (pvnode fails here either way)
	prefix=$(rbd_cli info "$CEPH_POOL/idle" | sed -n 's/^\s*block_name_prefix: //p' || true)
	for o in "rbd_header.${prefix#rbd_data.}" "$prefix".000000000000000{0,1,2,3}; do
		echo "fresh rados stat $o: $(timeout 15 rados --conf "$CEPH_CONF_FILE" -p "$CEPH_POOL" stat "$o" 2>&1; echo "exit $?")"
	done
	grep -h "idle probe\|down\|again" "$TESTDIR/node-a/run/idle/pvnode-rbd-fuse.log" | tail -n 5
	fail "the idle volume is not healthy $((SECONDS - t1)) s after the raw device wrote again: $(grep Condition: <<<"$LAST_OUT")"
fi
echo "the idle volume is healthy again $((SECONDS - t0)) s after SIGCONT, $((SECONDS - t1)) s after the raw device"
expect_rc 0 pvn node-a unpublish fsvol "$TESTDIR/pod/fs"
expect_rc 0 pvn node-a unstage fsvol
# osdTimeout 5 is tight for opening an image, or reading it, on a loaded 2-core VM right
# after the outage (seen: a fresh client's first reads unanswered for 5 s while the other
# volumes' I/O went through): a stage may fail "did not answer" or "does not answer"
# (unavailable: the cluster's fault, not the volume's) and is retried, as kubelet would
t1=$SECONDS
for try in $(seq 20); do
	rc=0
	pvn node-a stage fsvol 2>"$TESTDIR/stage.err" || rc=$?
	[ $rc != 0 ] || break
	grep -q "did not answer\|does not answer\|timed out" "$TESTDIR/stage.err" && [ $((SECONDS - t1)) -lt $RECOVER ] ||
		{ cat "$TESTDIR/stage.err" >&2; fail "stage after the outage"; }
	echo "stage after the outage, try $try: $(cat "$TESTDIR/stage.err")"
done
[ $rc = 0 ] || fail "stage after the outage: $try tries failed"
expect_rc 0 pvn node-a publish fsvol "$TESTDIR/pod/fs"
# the same for the first read after the stage (seen in a suite run: the fresh client's
# read of "keep" timed out twice, 5 s each, its log saying "a request to the Ceph cluster
# timed out", then I/O completed): EIO that the helper explains by a timeout is read
# again, within RECOVER; any other failure, or other data, fails
t1=$SECONDS
while ! kept=$(cat "$TESTDIR/pod/fs/keep" 2>"$TESTDIR/cat.err"); do
	grep -q "Input/output error" "$TESTDIR/cat.err" && [ $((SECONDS - t1)) -lt $RECOVER ] &&
		tail -n 3 "$TESTDIR/node-a/run/fsvol/pvnode-rbd-fuse.log" | grep -q "timed out" ||
		{ cat "$TESTDIR/cat.err" >&2; fail "reading data from before the outage"; }
	echo "reading after the outage: $(cat "$TESTDIR/cat.err"), the helper says the cluster timed out; again"
	sleep 1
done
assert_eq "$kept" "before the outage" "data from before the outage"
echo "after" >"$TESTDIR/pod/fs/after" && sync -f "$TESTDIR/pod/fs/after" || fail "write after recovery"
expect_rc 0 pvn node-a describe fsvol
assert_contains "$LAST_OUT" "Condition:    healthy"
# what librbd did with the lock meanwhile (a write refused while it re-took the lock
# after the outage is sent again, not taken for a fence)
grep -h "refused\|took it again\|holds the exclusive lock" "$TESTDIR"/node-a/run/*/pvnode-rbd-fuse.log || true
expect_rc 0 pvn node-a delete fsvol --force
expect_rc 0 pvn node-a delete blk --force
expect_rc 0 pvn node-a delete idle --force
assert_clean
