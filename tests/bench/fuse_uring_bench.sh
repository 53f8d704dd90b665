#!/bin/bash
# tests/bench/fuse_uring_bench.sh — is FUSE over io_uring worth it for the block bridge?
# (prints figures, does not judge). One memory-backed file served three ways by
# tests/bench/fuse_uring_bench.c, each under a loop device set up as pvnode sets its
# own (lib/os/loop.c: direct I/O, 512-byte logical blocks):
#   blockfuse : lib/blockfuse (libfuse 3.14, two readers, workers for large requests),
#               the memory as an asynchronous backend completing inside the call
#   dev       : a minimal server on /dev/fuse without libfuse, read(2)/writev(2), 2 readers
#   uring     : the same minimal server over FUSE's io_uring transport (one ring and one
#               thread per CPU, COMMIT_AND_FETCH); needs Linux 6.14+ and
#               /sys/module/fuse/parameters/enable_uring, which is set to Y for the run
#               and put back as it was on exit (only servers that ask for io_uring in
#               INIT get it: libfuse 3.14 does not ask)
# All servers run at once, each with its own loop device; fio (libaio, direct) runs 4 KiB
# random write QD16 and QD1 and QD16 held at 12,800 IOPS (the iSCSI path's rate: the
# transport's cost at a helper's operating point), 1 MiB sequential write and read QD16,
# FUSE_BENCH_RUNTIME (5)
# seconds each, pattern by pattern across the modes (A, B, C, A, B, C...), in
# FUSE_BENCH_ROUNDS (5) rounds; a verified random-write pass per mode first. Per run:
# IOPS or MB/s, the server's CPU (utime+stime from /proc/PID/stat) per MiB moved and per
# request, fio's own CPU per MiB, the whole machine's busy CPU per MiB (/proc/stat: includes fio, the loop
# workers and whatever else runs here, so read it next to the load average printed), and
# context switches per request (the server's threads; the machine's). Medians at the end,
# with ratios to blockfuse and to dev.
#   usage: tests/bench/fuse_uring_bench.sh   (FUSE_URING_BENCH: the built server, else
#          PVNODE_BUILD_ROOT/tests/fuse_uring_bench; FUSE_BENCH_MODES="blockfuse dev uring",
#          where a uring mode may carry variants: uring_coop, uring_plain (how the ring
#          runs the kernel's task work; default defer), uring_nopin (queue threads not
#          pinned to their CPU), uring_d8 (ring entries per queue; default 32))
. "$(dirname "$0")/../lib/common.sh"
command -v fio >/dev/null || fail "fio is missing"
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
BIN=${FUSE_URING_BENCH:-${PVNODE_BUILD_ROOT:-$(dirname "$0")/../../build}/tests/fuse_uring_bench}
[ -x "$BIN" ] || fail "no server at $BIN"
BIN=$(realpath "$BIN")
cd "$TESTDIR"   # fio's verify state stays in the test's directory
RUNTIME=${FUSE_BENCH_RUNTIME:-5} ROUNDS=${FUSE_BENCH_ROUNDS:-5}
read -ra MODES <<<"${FUSE_BENCH_MODES:-blockfuse dev uring}"
SIZE_MIB=1024
PARAM=/sys/module/fuse/parameters/enable_uring
OLD_PARAM=
declare -A SRV DEV

# stop MODE: loop device off, server stopped (blockfuse unmounts on SIGTERM; the minimal
# server just dies), mount gone
stop() {
	local m=$TESTDIR/m.$1
	[ -n "${DEV[$1]:-}" ] && losetup -d "${DEV[$1]}" 2>/dev/null
	if [ -n "${SRV[$1]:-}" ]; then
		kill "${SRV[$1]}" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "${SRV[$1]}" 2>/dev/null || break; sleep 0.1; done
		wait "${SRV[$1]}" 2>/dev/null || true
	fi
	mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null
	unset "DEV[$1]" "SRV[$1]"
	return 0
}
stop_all() { local m; for m in "${!SRV[@]}"; do stop "$m"; done; return 0; }
restore_param() { [ -n "$OLD_PARAM" ] && echo "$OLD_PARAM" >"$PARAM"; return 0; }
CLEANUP_HOOKS+=(stop_all restore_param)

if [[ " ${MODES[*]} " == *" uring"* ]]; then
	if [ -w "$PARAM" ]; then
		OLD_PARAM=$(cat "$PARAM")
		echo Y >"$PARAM"
	else
		echo "no $PARAM (kernel $(uname -r)): no FUSE over io_uring, uring modes left out"
		read -ra MODES <<<"$(tr ' ' '\n' <<<"${MODES[*]}" | grep -v '^uring' | tr '\n' ' ')"
	fi
fi

# start MODE: its server mounted at $TESTDIR/m.MODE, a loop device over its file in DEV[MODE];
# returns 1 when the server serves another transport than asked (not granted)
start() {
	local base=${1%%_*} depth=32 o m=$TESTDIR/m.$1 env=()
	local -a opts
	IFS=_ read -ra opts <<<"${1#"$base"}"
	for o in "${opts[@]}"; do
		case $o in
		'') ;;
		coop | plain | defer) env+=("FUSE_BENCH_TASKRUN=$o") ;;
		nopin) env+=(FUSE_BENCH_PIN=0) ;;
		d[0-9]*) depth=${o#d} ;;
		*) fail "unknown variant $o in $1" ;;
		esac
	done
	mkdir -p "$m"
	env "${env[@]}" "$BIN" "$base" "$m" "$SIZE_MIB" 2 "$depth" >"$m.out" 2>"$m.err" &
	SRV[$1]=$!
	for _ in $(seq 200); do grep -q '^ready' "$m.out" && break; sleep 0.05; done
	grep -q '^ready' "$m.out" || fail "$1: server not ready: $(cat "$m.err")"
	[ "$(awk '/^ready/ { print $2 }' "$m.out")" = "$base" ] || return 1
	DEV[$1]=$(losetup --direct-io=on --sector-size 512 -f --show "$m/disk") || fail "$1: losetup"
	[ "$(cat "/sys/block/${DEV[$1]#/dev/}/loop/dio")" = 1 ] || fail "$1: the loop device is not doing direct I/O"
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
csw() { cat /proc/"$1"/task/*/status | awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n }'; }
mbusy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
mctxt() { awk '/^ctxt/ { print $2 }' /proc/stat; }
HZ=$(getconf CLK_TCK)

# run MODE ROUND NAME FIO-ARGS... : one timed fio run, a line in $TESTDIR/runs
run() {
	local mode=$1 round=$2 name=$3 o="$TESTDIR/fio.json"
	shift 3
	local t0 c0 b0 x0 t1 c1 b1 x1
	local pid=${SRV[$mode]}
	t0=$(ticks "$pid") c0=$(csw "$pid") b0=$(mbusy) x0=$(mctxt)
	fio --output-format=json --output="$o" --name=b --filename="${DEV[$mode]}" --ioengine=libaio \
		--direct=1 --runtime="$RUNTIME" --time_based "$@" >/dev/null || fail "$mode: fio $name"
	t1=$(ticks "$pid") c1=$(csw "$pid") b1=$(mbusy) x1=$(mctxt)
	python3 - "$o" "$mode" "$round" "$name" $((t1 - t0)) $((c1 - c0)) $((b1 - b0)) $((x1 - x0)) "$HZ" \
		>>"$TESTDIR/runs" <<'PY'
import json, sys
o, mode, rnd, name, t, c, b, x, hz = sys.argv[1:]
j = json.load(open(o))["jobs"][0]
d = j["write"] if j["write"]["total_ios"] else j["read"]
ios, mib, secs = d["total_ios"], d["io_kbytes"] / 1024, d["runtime"] / 1000
t, c, b, x, hz = int(t), int(c), int(b), int(x), int(hz)
print(mode, rnd, name, "%.0f" % (ios / secs), "%.0f" % (mib * 1.048576 / secs),
      "%.3f" % (t / hz * 1000 / mib), "%.2f" % (t / hz * 1e6 / ios),
      "%.3f" % (b / hz * 1000 / mib), "%.3f" % ((j["usr_cpu"] + j["sys_cpu"]) * 10 * secs / mib),
      "%.2f" % (c / ios), "%.2f" % (x / ios), sep="\t")
PY
	tail -n1 "$TESTDIR/runs"
}

echo "kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), enable_uring was ${OLD_PARAM:-untouched}"
printf 'mode\tround\trun\tIOPS\tMB/s\tsrv_ms/MiB\tsrv_us/req\tmachine_ms/MiB\tfio_ms/MiB\tsrv_csw/req\tmachine_csw/req\n'
: >"$TESTDIR/runs"
# correctness first: random writes verified by reading back (crc32c), per mode
served=()
for mode in "${MODES[@]}"; do
	if ! start "$mode"; then
		echo "$mode: the kernel did not grant it, left out"
		stop "$mode"
		continue
	fi
	served+=("$mode")
	fio --name=v --filename="${DEV[$mode]}" --ioengine=libaio --direct=1 --iodepth=16 --rw=randwrite \
		--bs=4k --size=64M --verify=crc32c --verify_fatal=1 --do_verify=1 >"$TESTDIR/verify.out" 2>&1 ||
		fail "$mode: verification failed: $(tail -5 "$TESTDIR/verify.out")"
done
MODES=("${served[@]}")
for round in $(seq "$ROUNDS"); do
	for mode in "${MODES[@]}"; do run "$mode" "$round" randwrite4k --iodepth=16 --rw=randwrite --bs=4k; done
	for mode in "${MODES[@]}"; do run "$mode" "$round" randwrite4kQD1 --iodepth=1 --rw=randwrite --bs=4k; done
	# at the rate the iSCSI path reaches (README): what the transport costs a helper there
	for mode in "${MODES[@]}"; do
		run "$mode" "$round" randwrite4k@12.8k --iodepth=16 --rw=randwrite --bs=4k --rate_iops=12800
	done
	for mode in "${MODES[@]}"; do run "$mode" "$round" seqwrite1M --iodepth=16 --rw=write --bs=1M; done
	for mode in "${MODES[@]}"; do run "$mode" "$round" seqread1M --iodepth=16 --rw=read --bs=1M; done
done
# FUSE_BENCH_PERF=1: where each server spends its time under 4 KiB random writes
if [ -n "${FUSE_BENCH_PERF:-}" ] && command -v perf >/dev/null; then
	for mode in "${MODES[@]}"; do
		perf record -g -p "${SRV[$mode]}" -o "$TESTDIR/perf.data" -- sleep 5 >/dev/null 2>&1 &
		fio --name=p --filename="${DEV[$mode]}" --ioengine=libaio --direct=1 --iodepth=16 --rw=randwrite \
			--bs=4k --runtime=5 --time_based >/dev/null
		wait $!
		echo "--- perf, $mode, 4 KiB random write QD16 (self time)"
		perf report -i "$TESTDIR/perf.data" --no-children --stdio --sort symbol -g none 2>/dev/null |
			grep -v -e '^#' -e '^$' | sed -n 1,25p
	done
fi
stop_all
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
python3 - "$TESTDIR/runs" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
cols = ["IOPS", "MB/s", "srv_ms/MiB", "srv_us/req", "machine_ms/MiB", "fio_ms/MiB", "srv_csw/req",
        "machine_csw/req"]
med = {}
for r in rows:
    med.setdefault((r[2], r[0]), []).append([float(v) for v in r[3:]])
print("\nmedians over rounds")
print("run\tmode\t" + "\t".join(cols))
for (run, mode), v in sorted(med.items()):
    m = [statistics.median(x) for x in zip(*v)]
    med[(run, mode)] = m
    print(run, mode, *["%.2f" % x for x in m], sep="\t")
print("\nratios: speed (IOPS or MB/s, higher is better), server and machine CPU per MiB (lower is better)")
modes = sorted({k[1] for k in med})
for run in sorted({k[0] for k in med}):
    for ref in ("blockfuse", "dev"):
        for mode in modes:
            if mode == ref or (mode == "blockfuse" and ref == "dev") or (run, mode) not in med or (run, ref) not in med:
                continue
            u, o = med[(run, mode)], med[(run, ref)]
            speed = (u[0] / o[0]) if run.startswith("rand") else (u[1] / o[1])
            print("%s\t%s/%s\tspeed %.2f\tsrv_cpu/MiB %.2f\tmachine_cpu/MiB %.2f" %
                  (run, mode, ref, speed, u[2] / o[2], u[4] / o[4]))
PY
