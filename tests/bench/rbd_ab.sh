#!/bin/bash
# tests/bench/rbd_ab.sh — the RBD data path against raw librbd in interleaved rounds (prints,
# does not judge). rbd_bench.sh runs each path once after the other, and on a shared
# machine the load moves between them; here every round runs every path in turn.
# One private cluster (tests/lib/ceph.sh), one 512 MiB image per path, filled once; then
# RBD_AB_ROUNDS (3) rounds of, per path: 1 MiB overwrite QD16 + fsync (256 MiB), 1 MiB
# read QD16 after dropping caches, RBD_AB_RUNTIME (8) s of 4 KiB random writes QD16;
# medians and ratios to raw librbd at the end. Paths: raw librbd (fio's rbd engine,
# librbd cache off, as in the helper), pvnode-rbd-fuse + loop (direct I/O), and with
# RBD_BENCH_BASELINE=<another pvnode-rbd-fuse> that binary too (before/after).
#   usage: tests/bench/rbd_ab.sh   (PVNODE_BUILD_ROOT: a build with pvnode-rbd-fuse)
. "$(dirname "$0")/rbd_bench_frame.sh"
SIZE=256M ROUNDS=${RBD_AB_ROUNDS:-3} RUNTIME=${RBD_AB_RUNTIME:-8}
paths=(raw pv)
[ -n "${RBD_BENCH_BASELINE:-}" ] && paths+=(base)
declare -A DEV
for p in "${paths[@]}"; do img "$p"; done
helper_start pv --exclusive --node-id bench || fail "helper: $HELPER_LINE"
DEV[pv]=$(losetup --direct-io=on -f --show "$HELPER_MNT/disk") || fail "losetup"
if [ -n "${RBD_BENCH_BASELINE:-}" ]; then
	RBD_FUSE=$RBD_BENCH_BASELINE helper_start base --exclusive --node-id bench || fail "baseline helper: $HELPER_LINE"
	DEV[base]=$(losetup --direct-io=on -f --show "$HELPER_MNT/disk") || fail "losetup baseline"
fi
detach() { local p; for p in pv base; do [ -n "${DEV[$p]:-}" ] && losetup -d "${DEV[$p]}" 2>/dev/null; done; }
CLEANUP_HOOKS=(detach "${CLEANUP_HOOKS[@]}")
target() {
	if [ "$1" = raw ]; then
		echo "--ioengine=rbd --clientname=admin --pool=$CEPH_POOL --rbdname=raw"
	else
		echo "--filename=${DEV[$1]} --ioengine=libaio --direct=1"
	fi
}
run() { CEPH_CONF=$TESTDIR/fio.conf fio --output-format=json "$@" >/dev/null; }
# shellcheck disable=SC2046
for p in "${paths[@]}"; do
	run --output="$TESTDIR/fill.$p" --name=f --rw=write --bs=1M --size=$SIZE --iodepth=16 --end_fsync=1 $(target "$p") ||
		fail "fill $p"
done
for round in $(seq "$ROUNDS"); do
	for p in "${paths[@]}"; do
		o=$TESTDIR/f.$p.$round
		# shellcheck disable=SC2046
		run --output="$o.o" --name=w --rw=write --bs=1M --size=$SIZE --iodepth=16 --end_fsync=1 $(target "$p") ||
			fail "$p: overwrite"
		sync; echo 3 >/proc/sys/vm/drop_caches
		# shellcheck disable=SC2046
		run --output="$o.r" --name=r --rw=read --bs=1M --size=$SIZE --iodepth=16 $(target "$p") || fail "$p: read"
		# shellcheck disable=SC2046
		run --output="$o.x" --name=x --rw=randwrite --bs=4k --size=$SIZE --iodepth=16 --runtime="$RUNTIME" \
			--time_based $(target "$p") || fail "$p: randwrite"
		printf 'round %s %-5s overwrite %5s MB/s  read %5s MB/s  4k %6s IOPS  (load %s)\n' "$round" "$p" \
			"$(fio_bw "$o.o" write)" "$(fio_bw "$o.r" read)" "$(fio_iops "$o.x")" "$(cut -d' ' -f1 /proc/loadavg)" |
			tee -a "$TESTDIR/rounds"
	done
done
echo
python3 - "$TESTDIR/rounds" <<'PY'
import re, statistics, sys
v = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\S+)\s+overwrite\s+(\d+) MB/s\s+read\s+(\d+) MB/s\s+4k\s+(\d+) IOPS", line)
    if m:
        v.setdefault(m[1], []).append(tuple(int(x) for x in m.groups()[1:]))
med = {p: [statistics.median(r[i] for r in rs) for i in range(3)] for p, rs in v.items()}
for p, (o, r, x) in med.items():
    rel = "" if p == "raw" else "   ratio to raw: %.2f / %.2f / %.2f" % tuple(a / b if b else 0 for a, b in zip(med[p], med["raw"]))
    print("median %-5s overwrite %5.0f MB/s, read %5.0f MB/s, 4k %6.0f IOPS%s" % (p, o, r, x, rel))
PY
