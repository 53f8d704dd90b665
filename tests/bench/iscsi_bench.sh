#!/bin/bash
# tests/bench/iscsi_bench.sh — figures for the iSCSI userspace path, in one run, as ratios
# to the raw ceiling of the same target measured in the same run (prints, does not judge):
#   - the raw ceiling: tests/bench/iscsi_ceiling (libiscsi async, one session, same
#     commands as the helper) on a LUN of its own;
#   - the block path: fio on a staged volumeMode Block volume (tgtd → libiscsi helper →
#     FUSE → loop), same pattern and queue depth;
#   - the filesystem path: fio / dd through ext4 on a staged Filesystem volume, and the
#     same on a file next to the LUN images (the old reference);
#   patterns: 4 KiB random write QD16, 1 MiB sequential write QD8 (+ flush at the end),
#   1 MiB sequential read QD8; each REPS times, interleaved, medians. CPU per MiB moved
#   (helper, tgtd, the raw client) from /proc/<pid>/stat around each run;
#   - stage latency (pvctl stage: login + reservation + FUSE + loop + mount), median/p99.
# Usage: tests/bench/iscsi_bench.sh [REPS (default 3)] [STAGE_RUNS (default 20)]
#   ISCSI_BENCH_SECONDS (default 5) per run; ISCSI_CEILING: the ceiling tool (meson sets
#   it; default <build>/tests/iscsi/iscsi_ceiling); PVNODE_BUILD_ROOT as for the tests;
#   ISCSI_BENCH_BASELINE=<dir holding another pvnode-iscsi-fuse>: the block path is also
#   measured through that helper (before/after in one run);
#   ISCSI_BENCH_RAW=1: every round's figures too;
#   ISCSI_BENCH_SESSIONS="1 2 4": the block path with each number of sessions per volume
#   (attribute `sessions`), each against the ceiling over as many sessions (default "1");
#   the ceiling sends what the helper sends: READs as commands of at most 256 KiB
#   (PVNODE_ISCSI_SPLIT_KIB, 0: whole), WRITEs whole (PVNODE_ISCSI_WRITE_SPLIT_KIB), and
#   prints the figure of the other choice too.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
REPS=${1:-3}
RUNS=${2:-20}
S=${ISCSI_BENCH_SECONDS:-5}
iscsi_test_init bench
CEIL=${ISCSI_CEILING:-$(dirname "$PVCTL")/tests/iscsi/iscsi_ceiling}
[ -x "$CEIL" ] || fail "no ceiling tool at $CEIL (ninja tests/iscsi/iscsi_ceiling)"
command -v fio >/dev/null || fail "fio is missing"
IQN=iqn.2026-11.io.pvnode.bench:b
tgt_add_target 1 $IQN || fail "tgt setup"
# LUN 1: ext4 volume; LUN 2: the raw client; LUN 3: block volume. Written once so every
# path overwrites allocated blocks of tgtd's image files.
BASE=${ISCSI_BENCH_BASELINE:-}
NS=${ISCSI_BENCH_SESSIONS:-1}
SPLIT=$(( ${PVNODE_ISCSI_SPLIT_KIB:-256} * 1024 ))
WSPLIT=$(( ${PVNODE_ISCSI_WRITE_SPLIT_KIB:-0} * 1024 ))
split_of() { case $1 in *write) echo "$WSPLIT" ;; *) echo "$SPLIT" ;; esac; }
LUNS="1 2 3"; [ -n "$BASE" ] && LUNS="1 2 3 4"
for n in $NS; do [ "$n" = 1 ] || LUNS="$LUNS $((10 + n))"; done
for l in $LUNS; do
	tgt_add_lun 1 $l "$T/lun$l.img" 1G || fail "tgt lun $l"
	[ $l = 1 ] || dd if=/dev/zero of="$T/lun$l.img" bs=1M count=1024 conv=notrunc status=none
done
PV_CAPACITY=1Gi
iscsi_pv b $IQN 1 | pvn a create -f - >/dev/null || fail "create"
printf '{"name":"blk","driver":"iscsi","capacity":"1Gi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"3"}}\n' \
	"$TGT_PORTAL" $IQN | pvn a create -f - >/dev/null || fail "create blk"
[ -n "$BASE" ] && { printf '{"name":"old","driver":"iscsi","capacity":"1Gi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"4"}}\n' \
	"$TGT_PORTAL" $IQN | pvn a create -f - >/dev/null || fail "create old"; }
for n in $NS; do
	[ "$n" = 1 ] && continue
	printf '{"name":"blk%s","driver":"iscsi","capacity":"1Gi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"%s","sessions":"%s"}}\n' \
		"$n" "$TGT_PORTAL" $IQN $((10 + n)) "$n" | pvn a create -f - >/dev/null || fail "create blk$n"
done
mkdir -p "$T/p" "$T/ref"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
p99() { sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print a[i] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU ms per MiB: ticks (10 ms) over MB/s x seconds
cpu_per_mib() { awk -v t="$1" -v mbps="$2" -v s="$S" 'BEGIN { m = mbps * s / 1.048576; if (m > 0) printf "%.2f", t * 10 / m; else print "n/a" }'; }

# fio_run FILE PATTERN BS QD SIZE → "IOPS MB/s"
fio_run() {
	local extra=""
	case $2 in *write) extra="--end_fsync=1" ;; esac
	fio --name=b --filename="$1" --rw="$2" --bs="$3" --iodepth="$4" --size="$5" --direct=1 \
		--ioengine=libaio --runtime="$S" --time_based $extra --output-format=terse \
		--terse-version=3 2>/dev/null |
		awk -F';' -v p="$2" '{ if (p ~ /write/) print $49, int($48 / 1000); else print $8, int($7 / 1000) }'
}
# ceil_run PATTERN BYTES QD [SESSIONS [SPLIT]] → "IOPS MB/s CPU-MS-PER-GIB"
ceil_run() {
	local split=${5:-$(split_of "$1")}
	[ "$split" -gt 0 ] && [ "$split" -lt "$2" ] || split=$2
	"$CEIL" "$TGT_PORTAL" "$IQN" 2 "$1" "$2" "$3" "$S" 512 "${4:-1}" "$split" 2>/dev/null |
		sed -n 's/^iops=\([0-9]*\) mbps=\([0-9]*\) cpu_ms_per_gib=\([0-9]*\).*/\1 \2 \3/p'
}

pvn a stage b && pvn a publish b "$T/p" && pvn a stage blk || fail "stage/publish"
dev=$(pvn a describe blk | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
[ -b "$dev" ] || fail "no device for blk"
hblk=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/blk/")
hfs=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/b/")
declare -A NDEV NH
for n in $NS; do
	[ "$n" = 1 ] && continue
	pvn a stage "blk$n" >/dev/null || fail "stage blk$n"
	NDEV[$n]=$(pvn a describe "blk$n" | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
	NH[$n]=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/blk$n/")
	[ -b "${NDEV[$n]}" ] && [ -n "${NH[$n]}" ] || fail "no device or helper for blk$n"
done
if [ -n "$BASE" ]; then
	PVNODE_HELPER_DIR=$BASE pvn a stage old || fail "stage old"
	odev=$(pvn a describe old | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
	hold=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/old/")
fi

# one pattern, REPS interleaved rounds: ceiling, block path, ext4 path, reference file
declare -A F
bench() { # NAME PATTERN FIO_BS BYTES QD
	local name=$1 pat=$2 bs=$3 bytes=$4 qd=$5 i v t0 h0 c0 t1 h1 c1
	for i in $(seq 1 "$REPS"); do
		t0=$(ticks "$TGT_PID"); c0=$(date +%s%N)
		v=$(ceil_run "$pat" "$bytes" "$qd"); t1=$(ticks "$TGT_PID")
		set -- $v
		F[$name.ceil]+="${1:-0} "; F[$name.ceil.mb]+="${2:-0} "; F[$name.ceil.tgt]+="$((t1 - t0)) "
		F[$name.ceil.cpu]+="${3:-0} "
		if [ "$bytes" -gt 262144 ]; then   # the other choice: whole if split, 256 KiB if whole
			local other=0; [ "$(split_of "$pat")" -gt 0 ] || other=262144
			v=$(ceil_run "$pat" "$bytes" "$qd" 1 "$other"); set -- $v
			F[$name.other.mb]+="${2:-0} "
		fi
		for n in $NS; do
			[ "$n" = 1 ] && continue
			t0=$(ticks "$TGT_PID")
			v=$(ceil_run "$pat" "$bytes" "$qd" "$n"); t1=$(ticks "$TGT_PID"); set -- $v
			F[$name.ceil$n]+="${1:-0} "; F[$name.ceil$n.mb]+="${2:-0} "; F[$name.ceil$n.tgt]+="$((t1 - t0)) "
			F[$name.ceil$n.cpu]+="${3:-0} "
			t0=$(ticks "$TGT_PID"); h0=$(ticks "${NH[$n]}")
			v=$(fio_run "${NDEV[$n]}" "$pat" "$bs" "$qd" 512M); t1=$(ticks "$TGT_PID"); h1=$(ticks "${NH[$n]}")
			F[$name.blk$n]+="${v% *} "; F[$name.blk$n.mb]+="${v#* } "; F[$name.blk$n.tgt]+="$((t1 - t0)) "
			F[$name.blk$n.hlp]+="$((h1 - h0)) "
		done
		if [ -n "$BASE" ]; then
			t0=$(ticks "$TGT_PID"); h0=$(ticks "$hold")
			v=$(fio_run "$odev" "$pat" "$bs" "$qd" 512M); t1=$(ticks "$TGT_PID"); h1=$(ticks "$hold")
			F[$name.old]+="${v% *} "; F[$name.old.mb]+="${v#* } "; F[$name.old.hlp]+="$((h1 - h0)) "
		fi
		t0=$(ticks "$TGT_PID"); h0=$(ticks "$hblk")
		v=$(fio_run "$dev" "$pat" "$bs" "$qd" 512M); t1=$(ticks "$TGT_PID"); h1=$(ticks "$hblk")
		F[$name.blk]+="${v% *} "; F[$name.blk.mb]+="${v#* } "; F[$name.blk.tgt]+="$((t1 - t0)) "
		F[$name.blk.hlp]+="$((h1 - h0)) "
		t0=$(ticks "$TGT_PID"); h0=$(ticks "$hfs")
		v=$(fio_run "$T/p/fio" "$pat" "$bs" "$qd" 256M); t1=$(ticks "$TGT_PID"); h1=$(ticks "$hfs")
		F[$name.fs]+="${v% *} "; F[$name.fs.mb]+="${v#* } "; F[$name.fs.hlp]+="$((h1 - h0)) "
		v=$(fio_run "$T/ref/fio" "$pat" "$bs" "$qd" 256M)
		F[$name.ref]+="${v% *} "; F[$name.ref.mb]+="${v#* } "
	done
}
med() { printf '%s\n' ${F[$1]} | median; }
# fio lays its files out first, outside the timed runs
for d in "$T/p" "$T/ref"; do
	fio --name=lay --filename="$d/fio" --rw=write --bs=1M --size=256M --direct=1 --ioengine=libaio \
		--iodepth=8 --end_fsync=1 >/dev/null 2>&1 || fail "fio layout in $d"
done
bench rw randwrite 4k 4096 16
bench sw write 1M 1048576 8
sync; echo 3 > /proc/sys/vm/drop_caches
bench sr read 1M 1048576 8
rm -f "$T/p/fio" "$T/ref/fio"
pvn a unpublish b "$T/p" && pvn a unstage b >/dev/null && pvn a unstage blk >/dev/null || fail "teardown"
for n in $NS; do [ "$n" = 1 ] || pvn a unstage "blk$n" >/dev/null || fail "teardown blk$n"; done
[ -z "$BASE" ] || pvn a unstage old >/dev/null || fail "teardown old"

lat=()
for i in $(seq 1 "$RUNS"); do
	s=$(date +%s%N)
	pvn a stage b >/dev/null || fail "stage $i"
	lat+=($(( ($(date +%s%N) - s) / 1000000 )))
	pvn a unstage b >/dev/null || fail "unstage $i"
done
lmed=$(printf '%s\n' "${lat[@]}" | median); lp99=$(printf '%s\n' "${lat[@]}" | p99)

line() { # NAME LABEL UNIT(iops|MB/s)
	local n=$1 k=; [ "$3" = iops ] || k=.mb
	local c b f r
	c=$(med "$n.ceil$k"); b=$(med "$n.blk$k"); f=$(med "$n.fs$k"); r=$(med "$n.ref$k")
	printf '  %-34s ceiling %7s  block %7s (%s)  ext4 %7s (%s)  | file %7s %s\n' "$2" "$c" "$b" \
		"$(ratio "$b" "$c")" "$f" "$(ratio "$f" "$c")" "$r" "$3"
	[ -z "$BASE" ] || printf '  %-34s baseline helper, block path: %7s (%s)\n' "" "$(med "$n.old$k")" \
		"$(ratio "$(med "$n.old$k")" "$c")"
	printf '  %-34s CPU ms/MiB: raw client %s tgtd %s | block: helper %s tgtd %s | ext4: helper %s%s\n' "" \
		"$(awk -v c="$(med "$n.ceil.cpu")" 'BEGIN { printf "%.2f", c / 1024 }')" \
		"$(cpu_per_mib "$(med "$n.ceil.tgt")" "$(med "$n.ceil.mb")")" \
		"$(cpu_per_mib "$(med "$n.blk.hlp")" "$(med "$n.blk.mb")")" \
		"$(cpu_per_mib "$(med "$n.blk.tgt")" "$(med "$n.blk.mb")")" \
		"$(cpu_per_mib "$(med "$n.fs.hlp")" "$(med "$n.fs.mb")")" \
		"$([ -z "$BASE" ] || echo " | baseline block: helper $(cpu_per_mib "$(med "$n.old.hlp")" "$(med "$n.old.mb")")")"
	[ -z "${F[$n.other.mb]:-}" ] || printf '  %-34s the ceiling with %s commands instead: %s MB/s\n' "" \
		"$([ "$(split_of "$5")" -gt 0 ] && echo "whole $4-byte" || echo "256 KiB")" "$(med "$n.other.mb")"
	local m
	for m in $NS; do
		[ "$m" = 1 ] && continue
		c=$(med "$n.ceil$m$k"); b=$(med "$n.blk$m$k")
		printf '  %-34s %s sessions: ceiling %7s  block %7s (%s) %s; CPU ms/MiB raw client %s tgtd %s | helper %s tgtd %s\n' "" \
			"$m" "$c" "$b" "$(ratio "$b" "$c")" "$3" \
			"$(awk -v c="$(med "$n.ceil$m.cpu")" 'BEGIN { printf "%.2f", c / 1024 }')" \
			"$(cpu_per_mib "$(med "$n.ceil$m.tgt")" "$(med "$n.ceil$m.mb")")" \
			"$(cpu_per_mib "$(med "$n.blk$m.hlp")" "$(med "$n.blk$m.mb")")" \
			"$(cpu_per_mib "$(med "$n.blk$m.tgt")" "$(med "$n.blk$m.mb")")"
	done
}
cat <<OUT
iSCSI userspace path (tgtd on loopback), $REPS interleaved rounds of ${S}s, medians;
ratios to the raw libiscsi ceiling of the same pattern and queue depth (load $(cut -d' ' -f1 /proc/loadavg)):
OUT
line rw "4 KiB random write, QD16" iops
line sw "1 MiB sequential write, QD8 + flush" MB/s 1048576 write
line sr "1 MiB sequential read, QD8" MB/s 1048576 read
echo "  stage latency over $RUNS runs (login + reserve + FUSE + loop + mount): median $lmed ms, p99 $lp99 ms"
# every round's figure, for a reader who wants more than medians
[ -z "${ISCSI_BENCH_RAW:-}" ] || for k in "${!F[@]}"; do echo "  raw $k: ${F[$k]}"; done | sort
