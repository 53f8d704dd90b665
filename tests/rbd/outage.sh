#!/bin/bash
# tests/rbd/outage.sh — the OSD stopped (SIGSTOP) for longer than osdTimeout while
# volumes are written: writes fail with an error after about the timeout (no process
# hangs in D state), describe reports the volumes abnormal meanwhile — an idle one too
# (the helper probes the cluster when nothing was asked for 10 s) — and once the OSD
# runs again the raw device writes again, the idle volume is healthy again by itself,
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
# the idle volume's helper notices at its next probe: after 10 s without I/O, then one
# watchdog tick — up to about 12 s after the stop, which the writes above may not last
while [ $((SECONDS - t0)) -lt 20 ] && ! pvn node-a describe idle | grep -q "RBD image $CEPH_POOL/idle down"; do
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
# 30: ops on one PG of the one OSD "delayed" for 67 s and more after SIGCONT (the OSD's
# own slow-op log), while the other PGs served at once.
RECOVER=${RBD_OUTAGE_RECOVER:-180}
while [ $((SECONDS - t0)) -lt $RECOVER ]; do
	if timeout 30 dd if=/dev/zero of="$TESTDIR/pod/blk" bs=64k count=1 oflag=direct status=none 2>/dev/null; then ok=1; break; fi
	sleep 0.5
done
[ $ok = 1 ] || fail "the raw device did not recover within $RECOVER s of SIGCONT"
echo "the raw device writes again $((SECONDS - t0)) s after SIGCONT"
expect_rc 0 pvn node-a describe blk
assert_contains "$LAST_OUT" "Condition:    healthy"
# the idle volume is healthy at its first probe that completes: a probe sent before
# SIGCONT may still time out after it (osdTimeout), the next one follows 10 s later; on a
# loaded machine the OSD itself may need a while to serve again (seen: more than 35 s)
t1=$SECONDS
while [ $((SECONDS - t1)) -lt $RECOVER ]; do
	pvn node-a describe idle | grep -q "Condition:    healthy" && break
	sleep 0.5
done
if ! pvn node-a describe idle | grep -q "Condition:    healthy"; then
	# Is it pvnode, or Ceph? The probe stats the image's first data object; seen in 2 of
	# 6 runs on this machine: that object's PG served nothing for over RECOVER s after
	# SIGCONT while the other volumes' I/O went through. Ask the cluster for the same
	# object with a fresh client: if it does not answer either, this check cannot judge
	# pvnode and says so; if it does, pvnode must report healthy within two more probes.
	prefix=$(rbd_cli info "$CEPH_POOL/idle" | sed -n 's/^\s*block_name_prefix: //p')
	[ -n "$prefix" ] || fail "no block_name_prefix for the idle image"
	rc=0
	out=$(timeout 15 rados --conf "$CEPH_CONF_FILE" -p "$CEPH_POOL" stat "$prefix.0000000000000000" 2>&1) || rc=$?
	if [ $rc = 124 ]; then
		echo "SKIPPED CHECK: Ceph itself does not serve $prefix.0000000000000000 $((SECONDS - t0)) s after SIGCONT (a fresh rados stat timed out): whether pvnode sees the idle volume recover cannot be judged in this run"
	else
		echo "Ceph answers for the probe object ($out); pvnode gets two more probes"
		t1=$SECONDS
		while [ $((SECONDS - t1)) -lt 25 ]; do
			pvn node-a describe idle | grep -q "Condition:    healthy" && break
			sleep 0.5
		done
		expect_rc 0 pvn node-a describe idle
		assert_contains "$LAST_OUT" "Condition:    healthy"
	fi
else
	echo "the idle volume is healthy again $((SECONDS - t0)) s after SIGCONT"
fi
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
