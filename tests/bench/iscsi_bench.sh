#!/bin/bash
# tests/bench/iscsi_bench.sh — figures for the iSCSI userspace path, in one run:
#   - sequential write (1 MiB blocks, 256 MiB, fsync) and read (caches dropped) through
#     ext4 on a staged iSCSI volume (tgtd → libiscsi helper → FUSE → loop → ext4), as a
#     ratio to the same dd on a file next to the LUN's backing image;
#   - 4 KiB random write IOPS (fio, direct, iodepth 16) through the same path and on the
#     reference file;
#   - the raw ceiling of tgtd + libiscsi here (iscsi-perf reads), for scale;
#   - stage latency (pvctl stage: login + reservation + FUSE + loop + mount), median/p99.
# Usage: tests/bench/iscsi_bench.sh [REPS (default 3)] [STAGE_RUNS (default 20)]
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
REPS=${1:-3}
RUNS=${2:-20}
iscsi_test_init bench
IQN=iqn.2026-11.io.pvnode.bench:b
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 1G || fail "tgt setup"
PV_CAPACITY=1Gi
iscsi_pv b $IQN 1 | pvn a create -f - >/dev/null || fail "create"
mkdir -p "$T/p" "$T/ref"

mbps() { # dd stderr → MB/s
	awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") { print int(($(i-1) > 0) ? 268.435456 / $(i-1) : 0) } }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
p99() { sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print a[i] }'; }

seq_write() { dd if=/dev/zero of="$1" bs=1M count=256 conv=fsync 2>&1 | mbps; }
seq_read() { sync; echo 3 > /proc/sys/vm/drop_caches; dd if="$1" of=/dev/null bs=1M 2>&1 | mbps; }
iops() {
	fio --name=r --filename="$1" --size=128M --rw=randwrite --bs=4k --direct=1 --ioengine=libaio \
		--iodepth=16 --runtime=8 --time_based --output-format=terse --terse-version=3 2>/dev/null |
		awk -F';' '{ print $49 }'
}

# the raw ceiling of this target + libiscsi on this machine: iscsi-perf, 1 MiB reads, 8 in flight
ceiling="n/a"
if command -v iscsi-perf >/dev/null; then
	dd if=/dev/zero of="$T/lun.img" bs=1M count=1024 conv=notrunc status=none
	ceiling=$(timeout 6 iscsi-perf -i iqn.2026-11.io.pvnode:bench-perf -m 8 -b 2048 -t 5 \
		"iscsi://$TGT_PORTAL/$IQN/1" 2>&1 | tr '\r' '\n' | sed -n 's/.*iops average [0-9]* (\([0-9]*\) MB\/s).*/\1/p' | tail -1)
fi

pvn a stage b && pvn a publish b "$T/p" || fail "stage/publish"
declare -a W R WR RR
for i in $(seq 1 "$REPS"); do
	rm -f "$T/p/f" "$T/ref/f"; sync
	WR+=("$(seq_write "$T/ref/f")")
	W+=("$(seq_write "$T/p/f")")
	RR+=("$(seq_read "$T/ref/f")")
	R+=("$(seq_read "$T/p/f")")
done
w=$(printf '%s\n' "${W[@]}" | median); wr=$(printf '%s\n' "${WR[@]}" | median)
r=$(printf '%s\n' "${R[@]}" | median); rr=$(printf '%s\n' "${RR[@]}" | median)
rm -f "$T/p/f" "$T/ref/f"
if command -v fio >/dev/null; then
	io=$(iops "$T/p/fio"); ioref=$(iops "$T/ref/fio")
else
	io="n/a (no fio)"; ioref="n/a"
fi
pvn a unpublish b "$T/p" && pvn a unstage b >/dev/null || fail "teardown"

lat=()
for i in $(seq 1 "$RUNS"); do
	s=$(date +%s%N)
	pvn a stage b >/dev/null || fail "stage $i"
	lat+=($(( ($(date +%s%N) - s) / 1000000 )))
	pvn a unstage b >/dev/null || fail "unstage $i"
done
lmed=$(printf '%s\n' "${lat[@]}" | median); lp99=$(printf '%s\n' "${lat[@]}" | p99)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
cat <<OUT
iSCSI userspace path (tgtd on loopback, libiscsi helper, FUSE, loop, ext4), $REPS reps, medians:
  sequential write 1 MiB x 256 MiB + fsync: $w MB/s vs backing file $wr MB/s  ratio $(ratio "$w" "$wr")
  sequential read  1 MiB x 256 MiB:         $r MB/s vs backing file $rr MB/s  ratio $(ratio "$r" "$rr")
  raw libiscsi + tgtd ceiling (iscsi-perf, 1 MiB reads, 8 in flight): ${ceiling:-n/a} MB/s
  4 KiB random write IOPS (direct, QD16):   $io vs backing file $ioref
  stage latency over $RUNS runs (login + reserve + FUSE + loop + mount): median $lmed ms, p99 $lp99 ms
OUT
