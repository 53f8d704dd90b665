#!/bin/bash
# tests/bench/rbd_bench.sh — figures for the RBD data path (prints, does not judge).
# On one private cluster (tests/lib/ceph.sh), warmed up first (768 MiB written and
# removed: a fresh memstore OSD faults in and zeroes every page it stores, which made
# whichever path ran first look slow), each path gets a fresh image and fio runs:
#   seq write : 256 MiB, 1 MiB blocks, QD16, direct, fsync at the end (new objects)
#   overwrite : the same again over the written 256 MiB (the data path alone)
#   seq read  : the same 256 MiB, caches dropped first
#   rand write: 4 KiB at QD16 for 15 s over the written 256 MiB
# through (a) pvnode-rbd-fuse + loop device (direct I/O), (b) rbd-fuse + loop device
# (Debian's rbd-fuse: what a user would pick here), (c) raw librbd (fio's rbd engine,
# the ceiling). Ratios are against (c), measured in this one run; under each row the CPU
# per MiB moved of the client (the helper; fio itself for raw librbd) and of the OSD. Then the latency of
# `pvctl stage` (helper, exclusive lock, loop device, mount of an existing ext4) over
# RBD_BENCH_STAGES (20) stage + unstage cycles: median and p99.
#   usage: tests/bench/rbd_bench.sh   (PVNODE_BUILD_ROOT: a build with pvnode-rbd-fuse;
#          PVNODE_RBD_CONF="rbd_cache=true" etc. to try librbd settings on path (a);
#          RBD_BENCH_BASELINE=<another pvnode-rbd-fuse>: path (a) once more through that
#          binary, for before/after in one run)
. "$(dirname "$0")/rbd_bench_frame.sh"
SIZE=256M RUNTIME=${RBD_BENCH_RUNTIME:-15}

# CPU per MiB moved: the client's (the helper's, CPU_PID; for raw librbd fio's own with
# librbd's threads, from bash's time) and the OSD's, from /proc/PID/stat utime+stime around each fio run.
TICK=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$TICK" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
fio_mib() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(x[k]["io_kbytes"] for x in j["jobs"] for k in ("read","write")) / 1024)' "$1"; }
# timed_fio OUT ARGS...: fio, then C_CPU and O_CPU (ms per MiB, client and OSD)
timed_fio() {
	local out=$1 c0 c1 o0 o1 mib
	shift
	c0=$(cpu_ms "${CPU_PID:-self}") o0=$(cpu_ms "$CEPH_OSD_PID")
	local TIMEFORMAT='%U %S'   # fio's own CPU with all its threads (librbd's for raw)
	{ time fio --output-format=json --output="$out" "$@" >/dev/null 2>"$out.err" || return 1; } 2>"$out.time"
	c1=$(cpu_ms "${CPU_PID:-self}") o1=$(cpu_ms "$CEPH_OSD_PID")
	mib=$(fio_mib "$out")
	if [ -n "${CPU_PID:-}" ]; then
		C_CPU=$(python3 -c "print('%.2f' % (($c1 - $c0) / $mib))")
	else
		C_CPU=$(python3 -c "u, s = open('$out.time').read().split(); print('%.2f' % ((float(u) + float(s)) * 1000 / $mib))")
	fi
	O_CPU=$(python3 -c "print('%.2f' % (($o1 - $o0) / $mib))")
}

# run_fio NAME TARGET-ARGS... : seq write, overwrite, seq read, rand write; sets R_W
# R_O R_R R_IOPS, and prints the CPU per MiB of each (client / OSD)
run_fio() {
	local name=$1 o="$TESTDIR/fio.$1" cw co cr cx
	shift
	timed_fio "$o.w" --name=w --rw=write --bs=1M --size=$SIZE \
		--iodepth=16 --end_fsync=1 "$@" || fail "$name: fio write"
	cw="$C_CPU/$O_CPU"
	timed_fio "$o.o" --name=w --rw=write --bs=1M --size=$SIZE \
		--iodepth=16 --end_fsync=1 "$@" || fail "$name: fio overwrite"
	co="$C_CPU/$O_CPU"
	sync; echo 3 >/proc/sys/vm/drop_caches
	timed_fio "$o.r" --name=r --rw=read --bs=1M --size=$SIZE \
		--iodepth=16 "$@" || fail "$name: fio read"
	cr="$C_CPU/$O_CPU"
	timed_fio "$o.x" --name=x --rw=randwrite --bs=4k --size=$SIZE \
		--iodepth=16 --runtime="$RUNTIME" --time_based "$@" || fail "$name: fio randwrite"
	cx="$C_CPU/$O_CPU"
	R_W=$(fio_bw "$o.w" write) R_O=$(fio_bw "$o.o" write) R_R=$(fio_bw "$o.r" read) R_IOPS=$(fio_iops "$o.x")
	printf '%-30s %8s MB/s %8s MB/s %8s MB/s %8s IOPS\n' "$name" "$R_W" "$R_O" "$R_R" "$R_IOPS"
	printf '%-30s %13s %13s %13s %13s   CPU ms/MiB, client/OSD\n' "" "$cw" "$co" "$cr" "$cx"
}

LIBAIO=(--ioengine=libaio --direct=1)

# (c) the ceiling: raw librbd through fio's rbd engine (reads a copy of the cluster's conf
# with librbd's cache off, as in pvnode-rbd-fuse, unless RBD_BENCH_RAW_CACHE=true)
rbd_ctl '"op":"create","image":"warm","size":805306368' >/dev/null || fail "create warm"
CEPH_CONF=$TESTDIR/fio.conf fio --name=warm --rw=write --bs=4M --size=768M --iodepth=16 --ioengine=rbd \
	--clientname=admin --pool="$CEPH_POOL" --rbdname=warm >/dev/null || fail "warm-up"
rbd_ctl '"op":"remove","image":"warm"' >/dev/null || fail "remove warm"
printf '%-30s %13s %13s %13s %13s\n' "path" "seq write" "overwrite" "seq read" "4k randwrite"
img raw
CEPH_CONF=$TESTDIR/fio.conf run_fio "raw librbd (fio rbd engine)" --ioengine=rbd --clientname=admin \
	--pool="$CEPH_POOL" --rbdname=raw
RAW_W=$R_W RAW_O=$R_O RAW_R=$R_R RAW_IOPS=$R_IOPS

# (a) pvnode-rbd-fuse + loop
img pv
helper_start pv --exclusive --node-id bench || fail "helper: $HELPER_LINE"
PV_PID=$HELPER_PID
dev=$(losetup --direct-io=on -f --show "$HELPER_MNT/disk") || fail "losetup"
CPU_PID=$PV_PID run_fio "pvnode-rbd-fuse + loop" --filename="$dev" "${LIBAIO[@]}"
PV_W=$R_W PV_O=$R_O PV_R=$R_R PV_IOPS=$R_IOPS
if command -v perf >/dev/null && [ -n "${RBD_BENCH_PERF:-}" ]; then
	perf record -g -p "$PV_PID" -o "$TESTDIR/perf.data" -- sleep 5 &
	fio --name=p --rw=randwrite --bs=4k --size=$SIZE --iodepth=16 --runtime=5 --time_based \
		--filename="$dev" "${LIBAIO[@]}" >/dev/null
	wait; perf report -i "$TESTDIR/perf.data" --stdio 2>/dev/null | head -60
fi
losetup -d "$dev"
helper_stop "$PV_PID" || true
if [ -n "${RBD_BENCH_BASELINE:-}" ]; then
	img base
	RBD_FUSE=$RBD_BENCH_BASELINE helper_start base --exclusive --node-id bench || fail "baseline helper: $HELPER_LINE"
	BASE_PID=$HELPER_PID
	dev=$(losetup --direct-io=on -f --show "$HELPER_MNT/disk") || fail "losetup baseline"
	CPU_PID=$BASE_PID run_fio "baseline pvnode-rbd-fuse + loop" --filename="$dev" "${LIBAIO[@]}"
	BASE_W=$R_W BASE_O=$R_O BASE_R=$R_R BASE_IOPS=$R_IOPS
	losetup -d "$dev"
	helper_stop "$BASE_PID" || true
fi

# (b) rbd-fuse + loop
img peer
mkdir -p "$TESTDIR/rbdfuse"
# in the foreground as our child, so it is stopped by pid (it hangs forever once the
# cluster is gone and ignores SIGTERM then)
rbd-fuse -f -c "$CEPH_CONF_FILE" -p "$CEPH_POOL" -r peer "$TESTDIR/rbdfuse" >"$TESTDIR/rbd-fuse.log" 2>&1 &
PEER_PID=$!
RBD_HELPERS+=("$PEER_PID")
for _ in $(seq 50); do [ -e "$TESTDIR/rbdfuse/peer" ] && break; sleep 0.1; done
dev=$(losetup --direct-io=on -f --show "$TESTDIR/rbdfuse/peer") || fail "losetup rbd-fuse"
echo "rbd-fuse loop direct I/O: $(cat /sys/block/${dev#/dev/}/loop/dio)"
CPU_PID=$PEER_PID run_fio "rbd-fuse + loop" --filename="$dev" "${LIBAIO[@]}"
PEER_W=$R_W PEER_O=$R_O PEER_R=$R_R PEER_IOPS=$R_IOPS
losetup -d "$dev"
fusermount3 -u "$TESTDIR/rbdfuse" 2>/dev/null || umount -l "$TESTDIR/rbdfuse"
kill "$PEER_PID" 2>/dev/null; wait "$PEER_PID" 2>/dev/null || true

# stage latency through pvctl
pvb() { "$PVCTL" --state-dir "$TESTDIR/state" --node-id bench --allowed-path "$TESTDIR" --selinux off "$@"; }
pvb secret set ceph userID=admin userKey=- <"$CEPH_KEY_FILE" >/dev/null
printf '{"name":"lat","driver":"rbd","capacity":"256Mi","accessModes":["ReadWriteOnce"],"secretRef":"ceph","attributes":{"monitors":"%s","pool":"%s"}}' \
	"$CEPH_MONITORS" "$CEPH_POOL" | pvb create -f - >/dev/null || fail "create lat"
t0=$(date +%s%N); pvb stage lat >/dev/null || fail "stage lat"; first=$((($(date +%s%N) - t0) / 1000000))
pvb unstage lat >/dev/null || fail "unstage lat"
: >"$TESTDIR/stage.ms"
for _ in $(seq "${RBD_BENCH_STAGES:-20}"); do
	t0=$(date +%s%N)
	pvb stage lat >/dev/null || fail "stage lat"
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$TESTDIR/stage.ms"
	pvb unstage lat >/dev/null || fail "unstage lat"
done
pvb delete lat >/dev/null
echo
python3 -c 'import sys; v=sorted(int(x) for x in open(sys.argv[1])); p=lambda q: v[min(len(v)-1, int(q*len(v)))]; print("pvctl stage: first (with mkfs.ext4) %s ms; then median %d ms, p99 %d ms over %d cycles" % (sys.argv[2], p(0.5), p(0.99), len(v)))' "$TESTDIR/stage.ms" "$first"

ratio() { python3 -c "print('%.2f' % ($1 / $2 if $2 else 0))"; }
echo
echo "ratios to raw librbd (one run):"
printf '  pvnode-rbd-fuse: seq write %s, overwrite %s, seq read %s, 4k randwrite %s\n' \
	"$(ratio "$PV_W" "$RAW_W")" "$(ratio "$PV_O" "$RAW_O")" "$(ratio "$PV_R" "$RAW_R")" "$(ratio "$PV_IOPS" "$RAW_IOPS")"
[ -z "${RBD_BENCH_BASELINE:-}" ] || printf '  baseline helper: seq write %s, overwrite %s, seq read %s, 4k randwrite %s\n' \
	"$(ratio "$BASE_W" "$RAW_W")" "$(ratio "$BASE_O" "$RAW_O")" "$(ratio "$BASE_R" "$RAW_R")" "$(ratio "$BASE_IOPS" "$RAW_IOPS")"
printf '  rbd-fuse:        seq write %s, overwrite %s, seq read %s, 4k randwrite %s\n' \
	"$(ratio "$PEER_W" "$RAW_W")" "$(ratio "$PEER_O" "$RAW_O")" "$(ratio "$PEER_R" "$RAW_R")" "$(ratio "$PEER_IOPS" "$RAW_IOPS")"
printf '  pvnode-rbd-fuse / rbd-fuse: seq write %s, overwrite %s, seq read %s, 4k randwrite %s\n' \
	"$(ratio "$PV_W" "$PEER_W")" "$(ratio "$PV_O" "$PEER_O")" "$(ratio "$PV_R" "$PEER_R")" "$(ratio "$PV_IOPS" "$PEER_IOPS")"
