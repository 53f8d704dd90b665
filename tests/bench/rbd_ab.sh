#!/bin/bash
# tests/bench/rbd_ab.sh — the RBD data path against raw librbd in interleaved rounds (prints,
# does not judge). rbd_bench.sh runs each path once after the other, and on a shared
# machine the load moves between them; here every round runs every path in turn.
# One private cluster (tests/lib/ceph.sh), one 512 MiB image per path, filled once; then
# RBD_AB_ROUNDS (3) rounds of, per path: 1 MiB overwrite QD16 + fsync (256 MiB), 1 MiB
# read QD16 after dropping caches, RBD_AB_RUNTIME (8) s of 4 KiB random writes QD16;
# medians and ratios to raw librbd at the end. Paths: raw librbd (fio's rbd engine,
# librbd cache off, as in the helper), pvnode-rbd-fuse + loop (direct I/O), and with
# RBD_BENCH_BASELINE=<another pvnode-rbd-fuse> that binary too (before/after), and with
# RBD_AB_INFLIGHT="0 2048 ..." one more helper per value, started with
# PVNODE_RBD_INFLIGHT_KIB=<value> (path "k<value>"; 0: the bridge's buffers only), and
# with RBD_AB_CONF="name=value,..." one started with PVNODE_RBD_CONF=<that> (path "conf").
# For every helper path, its memory during each fio run (/proc/PID/smaps_rollup, 20 Hz):
# the highest Rss and private (Private_Clean + Private_Dirty) in MiB, printed as
# "mem ow/rd/4k rss/private".
#   usage: tests/bench/rbd_ab.sh   (PVNODE_BUILD_ROOT: a build with pvnode-rbd-fuse)
. "$(dirname "$0")/rbd_bench_frame.sh"
SIZE=256M ROUNDS=${RBD_AB_ROUNDS:-3} RUNTIME=${RBD_AB_RUNTIME:-8}
paths=(raw pv)
[ -n "${RBD_BENCH_BASELINE:-}" ] && paths+=(base)
for k in ${RBD_AB_INFLIGHT:-}; do paths+=("k$k"); done
[ -n "${RBD_AB_CONF:-}" ] && paths+=(conf)
declare -A DEV PID
for p in "${paths[@]}"; do img "$p"; done
for p in "${paths[@]}"; do
	[ "$p" = raw ] && continue
	fuse=$RBD_FUSE
	[ "$p" = base ] && fuse=$RBD_BENCH_BASELINE
	case $p in k*) export PVNODE_RBD_INFLIGHT_KIB=${p#k} ;; conf) export PVNODE_RBD_CONF=$RBD_AB_CONF ;; esac
	RBD_FUSE=$fuse helper_start "$p" --exclusive --node-id bench || fail "helper $p: $HELPER_LINE"
	unset PVNODE_RBD_INFLIGHT_KIB PVNODE_RBD_CONF
	PID[$p]=$HELPER_PID
	DEV[$p]=$(losetup --direct-io=on -f --show "$HELPER_MNT/disk") || fail "losetup $p"
done
detach() { local p; for p in "${!DEV[@]}"; do losetup -d "${DEV[$p]}" 2>/dev/null; done; }
# peak PID STOPFILE: highest Rss / private of a process until STOPFILE exists, as
# "RSS/PRIVATE" MiB on stdout (a stop file, not a signal: python3 may be a wrapper)
peak() {
	python3 -c '
import os, sys, time
path = "/proc/%s/smaps_rollup" % sys.argv[1]
best = [0, 0]
while True:
    v = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 2 and f[1].isdigit():
            v[f[0].rstrip(":")] = int(f[1])
    best[0] = max(best[0], v.get("Rss", 0))
    best[1] = max(best[1], v.get("Private_Clean", 0) + v.get("Private_Dirty", 0))
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)
print("%d/%d" % (best[0] // 1024, best[1] // 1024))
' "$1" "$2"
}
CLEANUP_HOOKS=(detach "${CLEANUP_HOOKS[@]}")
target() {
	if [ "$1" = raw ]; then
		echo "--ioengine=rbd --clientname=admin --pool=$CEPH_POOL --rbdname=raw"
	else
		echo "--filename=${DEV[$1]} --ioengine=libaio --direct=1"
	fi
}
run() { CEPH_CONF=$TESTDIR/fio.conf fio --output-format=json "$@" >/dev/null; }
# run_mem PATH OUT FIO-ARGS...: fio, and the helper's peak memory into OUT.mem
run_mem() {
	local p=$1 o=$2 sp rc=0
	shift 2
	if [ -z "${PID[$p]:-}" ]; then run "$@"; echo "-" >"$o.mem"; return; fi
	rm -f "$o.stop"
	peak "${PID[$p]}" "$o.stop" >"$o.mem" &
	sp=$!
	sleep 0.5   # python's start (a pyenv shim is slow) before fio's
	run "$@" || rc=$?
	touch "$o.stop"
	wait "$sp"
	return $rc
}
# shellcheck disable=SC2046
for p in "${paths[@]}"; do
	run --output="$TESTDIR/fill.$p" --name=f --rw=write --bs=1M --size=$SIZE --iodepth=16 --end_fsync=1 $(target "$p") ||
		fail "fill $p"
done
for round in $(seq "$ROUNDS"); do
	for p in "${paths[@]}"; do
		o=$TESTDIR/f.$p.$round
		# shellcheck disable=SC2046
		run_mem "$p" "$o.o" --output="$o.o" --name=w --rw=write --bs=1M --size=$SIZE --iodepth=16 --end_fsync=1 $(target "$p") ||
			fail "$p: overwrite"
		sync; echo 3 >/proc/sys/vm/drop_caches
		# shellcheck disable=SC2046
		run_mem "$p" "$o.r" --output="$o.r" --name=r --rw=read --bs=1M --size=$SIZE --iodepth=16 $(target "$p") || fail "$p: read"
		# shellcheck disable=SC2046
		run_mem "$p" "$o.x" --output="$o.x" --name=x --rw=randwrite --bs=4k --size=$SIZE --iodepth=16 --runtime="$RUNTIME" \
			--time_based $(target "$p") || fail "$p: randwrite"
		printf 'round %s %-5s overwrite %5s MB/s  read %5s MB/s  4k %6s IOPS  mem %s %s %s  (load %s)\n' "$round" "$p" \
			"$(fio_bw "$o.o" write)" "$(fio_bw "$o.r" read)" "$(fio_iops "$o.x")" \
			"$(cat "$o.o.mem")" "$(cat "$o.r.mem")" "$(cat "$o.x.mem")" "$(cut -d' ' -f1 /proc/loadavg)" |
			tee -a "$TESTDIR/rounds"
	done
done
echo
python3 - "$TESTDIR/rounds" <<'PY'
import re, statistics, sys
v = {}
mem = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\S+)\s+overwrite\s+(\d+) MB/s\s+read\s+(\d+) MB/s\s+4k\s+(\d+) IOPS", line)
    mm = re.search(r"mem (\S+) (\S+) (\S+)", line)
    if m and mm and mm[1] != "-":
        mem.setdefault(m[1], []).append([tuple(int(y) for y in x.split("/")) for x in mm.groups()])
    if m:
        v.setdefault(m[1], []).append(tuple(int(x) for x in m.groups()[1:]))
med = {p: [statistics.median(r[i] for r in rs) for i in range(3)] for p, rs in v.items()}
for p, (o, r, x) in med.items():
    rel = "" if p == "raw" else "   ratio to raw: %.2f / %.2f / %.2f" % tuple(a / b if b else 0 for a, b in zip(med[p], med["raw"]))
    print("median %-5s overwrite %5.0f MB/s, read %5.0f MB/s, 4k %6.0f IOPS%s" % (p, o, r, x, rel))
for p, ms in mem.items():
    hi = [max(m[i][j] for m in ms) for i in range(3) for j in range(2)]
    print("peak   %-5s MiB rss/private: overwrite %d/%d, read %d/%d, 4k %d/%d (highest of the rounds)" % (p, *hi))
PY
