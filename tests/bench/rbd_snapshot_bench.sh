#!/bin/bash
# tests/bench/rbd_snapshot_bench.sh — figures for RBD snapshots (prints, does not judge).
# On one private cluster (tests/lib/ceph.sh, 3 GiB memstore), through pvctl as a user
# runs it (wall clock of each command: pvctl + pvnode-rbd start + connect + the librbd
# calls), with librbd's own share where pvnode-rbd reports it:
#   1. snapshot of an idle 1 GiB volume (not staged): median / max over
#      RBD_SNAP_BENCH_RUNS (10) snapshots, and what rbd_snap_create2 itself took;
#   2. snapshot of the same volume staged and mounted (the controller freezes ext4; the
#      snapshot request goes to the helper holding the exclusive lock);
#   3. a 1 GiB volume with 512 MiB written (staged, ext4): snapshot, then restore into a
#      new 1 GiB volume (a format-2 clone), then stage of the restored volume and a read
#      of the 512 MiB back (checked);
#   4. the same restore once the source volume is deleted (its image is in the RBD trash:
#      the snapshot's data is copied) and a flatten of the clone from 3.
#   usage: tests/bench/rbd_snapshot_bench.sh  (PVNODE_BUILD_ROOT: a build with pvctl and
#          pvnode-rbd; a release build gives the figures the README quotes)
export CEPH_MEMSTORE_BYTES=$((3 * 1024 * 1024 * 1024))
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret bench
RUNS=${RBD_SNAP_BENCH_RUNS:-10}
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
stats() { python3 -c 'import sys; v=sorted(int(x) for x in sys.argv[1:]); print("median %d ms, min %d, max %d (%d runs)" % (v[len(v)//2], v[0], v[-1], len(v)))' "$@"; }
pvb() { pvn bench "$@" >/dev/null || fail "pvctl $*"; }

# 1. idle, not staged
rbd_pv idle 1Gi ReadWriteOnce | pvb create -f -
times=()
for i in $(seq "$RUNS"); do
	t0=$(date +%s%N); pvb snapshot create idle "idle-$i"; times+=("$(ms "$t0")")
done
echo "1. snapshot of an idle 1 GiB volume (pvctl snapshot create): $(stats "${times[@]}")"
us=()
for i in $(seq "$RUNS"); do
	out=$(rbd_ctl "\"op\":\"snap-create\",\"image\":\"idle\",\"snap\":\"raw-$i\"") || fail "snap-create: $out"
	us+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["tookUs"] // 1000)' <<<"$out")")
done
echo "   of which rbd_snap_create2 itself: $(stats "${us[@]}")"

# 2. idle, staged and mounted
pvb stage idle
pvb publish idle "$TESTDIR/pod/idle"
times=()
for i in $(seq "$RUNS"); do
	t0=$(date +%s%N); pvb snapshot create idle "staged-$i"; times+=("$(ms "$t0")")
done
echo "2. snapshot of the same volume staged + mounted (ext4 frozen, lock owner snapshots): $(stats "${times[@]}")"
pvb unpublish idle "$TESTDIR/pod/idle"
pvb unstage idle

# 3. 512 MiB written
rbd_pv full 1Gi ReadWriteOnce | pvb create -f -
pvb stage full
pvb publish full "$TESTDIR/pod/full"
t0=$(date +%s%N)
head -c $((512 * 1024 * 1024)) /dev/urandom >"$TESTDIR/pod/full/data"
sync -f "$TESTDIR/pod/full/data"
echo "   (wrote 512 MiB into volume full in $(ms "$t0") ms)"
sum=$(md5sum <"$TESTDIR/pod/full/data")
t0=$(date +%s%N); pvb snapshot create full fs1; snap_ms=$(ms "$t0")
rbd_pv fr 1Gi ReadWriteOnce '"source":{"snapshot":"fs1"}' >"$TESTDIR/fr.json"
t0=$(date +%s%N); pvb create -f "$TESTDIR/fr.json"; restore_ms=$(ms "$t0")
t0=$(date +%s%N); pvb stage fr; pvb publish fr "$TESTDIR/pod/fr"; stage_ms=$(ms "$t0")
echo 3 >/proc/sys/vm/drop_caches
t0=$(date +%s%N); got=$(md5sum <"$TESTDIR/pod/fr/data"); read_ms=$(ms "$t0")
[ "$got" = "$sum" ] || fail "the restored volume's data differs"
echo "3. 1 GiB volume, 512 MiB written: snapshot $snap_ms ms, restore (clone) $restore_ms ms" \
	"= $((snap_ms + restore_ms)) ms; then stage $stage_ms ms, read 512 MiB back through the clone $read_ms ms"
pvb unpublish fr "$TESTDIR/pod/fr"
pvb unstage fr

# 4. the source deleted: a copy; and a flatten
pvb unpublish full "$TESTDIR/pod/full"
pvb unstage full
pvb delete full
rbd_pv fc 1Gi ReadWriteOnce '"source":{"snapshot":"fs1"}' | {
	t0=$(date +%s%N); pvb create -f -; echo "4. restore of the same snapshot after its volume was deleted (copy of 512 MiB): $(ms "$t0") ms"
}
t0=$(date +%s%N)
out=$(rbd_ctl '"op":"flatten","image":"fr"') || fail "flatten: $out"
echo "   flatten of the clone from 3 (copies 512 MiB up): $(ms "$t0") ms"
