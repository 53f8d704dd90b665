#!/bin/bash
# tests/bench/nfs_bench.sh — NFS userspace mounter figures, in one run against a
# loopback nfs-ganesha (tests/lib/nfs.sh):
#   sequential write (1 MiB blocks, 256 MiB, fsync) and read (caches dropped) through the
#   published userspace mount, as a ratio to the same I/O on the export directory
#   directly (the same disk, no NFS); stage+publish and unpublish+unstage latency.
# Env: NFS_BENCH_MB (default 256), NFS_BENCH_RUNS (default 3; the median is reported).
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
MB=${NFS_BENCH_MB:-256}
RUNS=${NFS_BENCH_RUNS:-3}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
# dd's throughput in MB/s (10^6 bytes/s), from bytes and its elapsed seconds.
dd_mbs() {
	local out
	out=$(LC_ALL=C dd "$@" 2>&1 | tail -n1)
	echo "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") { printf "%.0f\n", $1 / $(i-1) / 1e6 } }'
}

nfs_spec bench "" >"$T/specs/bench.json"
pv1 create -f "$T/specs/bench.json" >/dev/null || nfs_fail "create"

lat_up=() lat_down=()
for i in $(seq 5); do
	t0=$(now_ms)
	pv1 stage bench >/dev/null && pv1 publish bench "$T/targets/bench" >/dev/null || nfs_fail "stage/publish"
	t1=$(now_ms)
	pv1 unpublish bench "$T/targets/bench" >/dev/null && pv1 unstage bench >/dev/null || nfs_fail "unpublish/unstage"
	t2=$(now_ms)
	lat_up+=($((t1 - t0)))
	lat_down+=($((t2 - t1)))
done
up=$(printf '%s\n' "${lat_up[@]}" | median)
down=$(printf '%s\n' "${lat_down[@]}" | median)

pv1 stage bench >/dev/null && pv1 publish bench "$T/targets/bench" >/dev/null || nfs_fail "stage/publish"
mnt=$T/targets/bench direct=$NFS_RW_DIR/direct
mkdir -p "$direct"
w_d=() w_f=() r_d=() r_f=()
for i in $(seq "$RUNS"); do
	rm -f "$direct/f" "$mnt/f"
	w_d+=($(dd_mbs if=/dev/zero of="$direct/f" bs=1M count="$MB" conv=fsync))
	w_f+=($(dd_mbs if=/dev/zero of="$mnt/f" bs=1M count="$MB" conv=fsync))
	drop_caches
	r_d+=($(dd_mbs if="$direct/f" of=/dev/null bs=1M))
	drop_caches
	r_f+=($(dd_mbs if="$mnt/f" of=/dev/null bs=1M))
done
rm -f "$direct/f" "$mnt/f"
wd=$(printf '%s\n' "${w_d[@]}" | median) wf=$(printf '%s\n' "${w_f[@]}" | median)
rd=$(printf '%s\n' "${r_d[@]}" | median) rf=$(printf '%s\n' "${r_f[@]}" | median)
pv1 unpublish bench "$T/targets/bench" >/dev/null && pv1 unstage bench >/dev/null || nfs_fail "teardown"

echo "nfs bench: ${MB} MiB, 1 MiB blocks, median of $RUNS runs (MB/s = 10^6 B/s)"
echo "  sequential write+fsync: export dir ${wd} MB/s, userspace NFS mount ${wf} MB/s, ratio $(awk -v a="$wf" -v b="$wd" 'BEGIN{printf "%.2f", a/b}')   (runs: ${w_f[*]} vs ${w_d[*]})"
echo "  sequential read (cold): export dir ${rd} MB/s, userspace NFS mount ${rf} MB/s, ratio $(awk -v a="$rf" -v b="$rd" 'BEGIN{printf "%.2f", a/b}')   (runs: ${r_f[*]} vs ${r_d[*]})"
echo "  stage+publish ${up} ms, unpublish+unstage ${down} ms (median of 5; includes pvctl start-up)"
