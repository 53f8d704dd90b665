#!/bin/bash
# tests/bench/nfs_helper_ab.sh — two pvnode-nfs-fuse builds on one ganesha fixture, in
# interleaved rounds (the order alternating): each helper writes NFS_AB_MB (default 256)
# MiB with 1 MiB dd + fsync, then reads it back cold. Per phase: MB/s, the helper's CPU
# (ms per MiB) and minor page faults per MiB, from /proc/PID/stat of that helper (found
# by the fixture's own directory, not by export name: other runs share the names).
# NFS_AB_GAP=SECONDS waits before each phase: with a gap over a second both helpers are
# idle before every phase (a helper that gives memory back when quiet pays for faulting
# it in again), without one the phase may find the heap its previous phase left.
#   NFS_AB_NEW=build NFS_AB_OLD=/dir/with/old/helper PVCTL=build/pvctl \
#   tests/bench/nfs_helper_ab.sh        (root; NFS_AB_ROUNDS, default 8)
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
MB=${NFS_AB_MB:-256} R=${NFS_AB_ROUNDS:-8} GAP=${NFS_AB_GAP:-0}
NEW=${NFS_AB_NEW:?a directory holding the new pvnode-nfs-fuse} OLD=${NFS_AB_OLD:?and the old one}
for v in new old; do
	nfs_spec $v "" >"$T/specs/$v.json"
	pv1 create -f "$T/specs/$v.json" >/dev/null || nfs_fail "create $v"
done
PVNODE_HELPER_DIR=$NEW pv1 stage new >/dev/null && pv1 publish new "$T/targets/new" >/dev/null || nfs_fail "stage new"
PVNODE_HELPER_DIR=$OLD pv1 stage old >/dev/null && pv1 publish old "$T/targets/old" >/dev/null || nfs_fail "stage old"
declare -A H=([new]=$(nfs_helper_of new) [old]=$(nfs_helper_of old))
[ -n "${H[new]}" ] && [ -n "${H[old]}" ] || nfs_fail "helpers not found"
echo "new: $(readlink "/proc/${H[new]}/exe"), old: $(readlink "/proc/${H[old]}/exe")"
stat_of() { awk '{ print $14 + $15, $10 }' "/proc/$1/stat"; } # CPU ticks, minor faults
mbs() { LC_ALL=C dd "$@" 2>&1 | awk '/ copied, / { for (i = 1; i <= NF; i++) if ($i == "s,") printf "%.0f\n", $1 / $(i-1) / 1e6 }'; }
# phase WHO DD-ARGS...: "MB/s ms/MiB faults/MiB"
phase() {
	local who=$1 t0 f0 t1 f1 m
	shift
	sleep "$GAP"
	read -r t0 f0 < <(stat_of "${H[$who]}")
	m=$(mbs "$@")
	read -r t1 f1 < <(stat_of "${H[$who]}")
	awk -v m="$m" -v t=$((t1 - t0)) -v f=$((f1 - f0)) -v mb="$MB" \
		'BEGIN { printf "%s MB/s %.2f ms/MiB %.1f faults/MiB", m, t * 10 / mb, f / mb }'
}
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg); $MB MiB per phase, gap ${GAP}s"
for i in $(seq "$R"); do
	order="new old"
	[ $((i % 2)) = 1 ] || order="old new"
	line="round $i:"
	for who in $order; do
		w=$(phase "$who" if=/dev/zero of="$T/targets/$who/f" bs=1M count="$MB" conv=fsync)
		sync
		echo 3 >/proc/sys/vm/drop_caches
		r=$(phase "$who" if="$T/targets/$who/f" of=/dev/null bs=1M)
		rm -f "$T/targets/$who/f"
		line="$line  $who write $w, read $r;"
	done
	echo "$line load $(cut -d' ' -f1 /proc/loadavg)"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for v in new old; do
	pv1 unpublish $v "$T/targets/$v" >/dev/null && pv1 unstage $v >/dev/null || nfs_fail "teardown $v"
done
