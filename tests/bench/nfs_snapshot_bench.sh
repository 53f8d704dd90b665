#!/bin/bash
# tests/bench/nfs_snapshot_bench.sh — NFS snapshot and restore times against a loopback
# nfs-ganesha (tests/lib/nfs.sh): a 1 GiB volume with 512 MiB written — 3 files of
# 128 MiB and 8192 files of 16 KiB in 64 directories — snapshotted and restored through
# pvctl, for 1, 2, 4 and 8 copy connections (PVNODE_NFS_COPY_THREADS), next to `cp -a` of
# the same tree on the export's own disk (no NFS) for scale.
# Env: NFS_SNAP_BENCH_THREADS (default "1 2 4 8"), NFS_SNAP_BENCH_SMALL (default 8192).
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
THREADS=${NFS_SNAP_BENCH_THREADS:-1 2 4 8}
SMALL=${NFS_SNAP_BENCH_SMALL:-8192}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

nfs_spec bench "" >"$T/specs/bench.json"
pv1 create -f "$T/specs/bench.json" >/dev/null || nfs_fail "create"
V=$NFS_RW_DIR/bench
for i in 1 2 3; do head -c 128M /dev/urandom >"$V/big$i"; done
head -c $((SMALL * 16384)) /dev/urandom >"$T/small.src"
for d in $(seq 0 63); do mkdir "$V/d$d"; done
# Split one random file into SMALL pieces, spread over the 64 directories.
(cd "$V" && split -b 16384 -a 5 -d "$T/small.src" s. && n=0 &&
	for f in s.*; do mv "$f" "d$((n % 64))/$f"; n=$((n + 1)); done)
rm -f "$T/small.src"
sync
mib=$(du -sm --apparent-size "$V" | cut -f1)
files=$(find "$V" -type f | wc -l)

drop_caches
t0=$(now_ms)
cp -a "$V" "$NFS_RW_DIR/cp-copy"
sync
t1=$(now_ms)
local_ms=$((t1 - t0))
rm -rf "$NFS_RW_DIR/cp-copy"

echo "nfs snapshot bench: a 1Gi volume, ${mib} MiB in ${files} files (3 x 128 MiB, ${SMALL} x 16 KiB)"
echo "  local cp -a of the tree on the export's disk (no NFS): $(secs $local_ms) s"
for n in $THREADS; do
	drop_caches
	t0=$(now_ms)
	PVNODE_NFS_COPY_THREADS=$n pv1 snapshot create bench "s$n" >/dev/null || nfs_fail "snapshot ($n)"
	t1=$(now_ms)
	cat >"$T/specs/r$n.json" <<JSON
{ "name": "r$n", "driver": "nfs", "capacity": "1Gi", "accessModes": ["ReadWriteMany"], "gid": 5555,
  "source": { "snapshot": "s$n" },
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace" } }
JSON
	drop_caches
	t2=$(now_ms)
	PVNODE_NFS_COPY_THREADS=$n pv1 create -f "$T/specs/r$n.json" >/dev/null || nfs_fail "restore ($n)"
	t3=$(now_ms)
	[ "$(find "$NFS_RW_DIR/r$n" -type f | wc -l)" = "$files" ] || nfs_fail "restore ($n): files missing"
	cmp -s "$V/big2" "$NFS_RW_DIR/r$n/big2" || nfs_fail "restore ($n): big2 differs"
	snap_ms=$((t1 - t0)) rest_ms=$((t3 - t2))
	echo "  $n connection(s): snapshot $(secs $snap_ms) s ($(awk -v m="$mib" -v ms="$snap_ms" 'BEGIN{printf "%.0f", m / (ms / 1000)}') MiB/s), restore $(secs $rest_ms) s ($(awk -v m="$mib" -v ms="$rest_ms" 'BEGIN{printf "%.0f", m / (ms / 1000)}') MiB/s)"
	pv1 delete "r$n" >/dev/null && pv1 snapshot delete "s$n" >/dev/null || nfs_fail "cleanup ($n)"
done
