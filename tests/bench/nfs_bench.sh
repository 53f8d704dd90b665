#!/bin/bash
# tests/bench/nfs_bench.sh — NFS userspace mounter figures, in one run against a
# loopback nfs-ganesha (tests/lib/nfs.sh), as ratios measured in the same run (prints,
# does not judge). Interleaved rounds; in each, every subject runs once, their order rotated
# from round to round (each subject in each position equally often when NFS_BENCH_RUNS is a
# multiple of the subjects), each after sync, dropping caches and a pause (NFS_BENCH_PAUSE
# seconds, default 2: what ran before, its writeback and page cache, must not count):
#   - the raw ceiling: tests/bench/nfs_ceiling (libnfs async, no FUSE) with the helper's
#     request size, connections and requests in flight: sequential write + COMMIT, read;
#   - the userspace mount: dd of 1 MiB blocks through the published mount (write with
#     conv=fsync, read after dropping caches); helper and ganesha CPU from /proc/PID/stat;
#   - optionally the same through another pvnode-nfs-fuse (NFS_BENCH_BASELINE=<dir>:
#     before/after in one run);
#   - the export directory itself (same disk, no NFS: the user's other pick, a local dir).
# CPU per MiB: the ceiling's own (getrusage), dd's (/usr/bin/time: what the application
# side costs in the kernel), the helper's and ganesha's (/proc/PID/stat deltas).
# Then stage+publish and unpublish+unstage latency. Medians of the rounds.
# Env: NFS_BENCH_MB (default 256), NFS_BENCH_RUNS (default 3), NFS_CEILING (the ceiling
#   tool; meson sets it), NFS_BENCH_WRITE_CONNS/_DEPTH (default 4/4: the helper's writer
#   connections and writes in flight per file), NFS_BENCH_READ_CONNS/_DEPTH (default 8/8:
#   the helper's 8 pool connections; timing each READ in the helper showed only about 4
#   in flight on average under its 4 MiB readahead, at most 8, so the ceiling's 8 x 8 is
#   the most the helper could have, not what it keeps),
#   NFS_BENCH_PHASES (default "w r"; "w": writes only), NFS_BENCH_READ_BS (default 1032192:
#   the helper's max_read, 16 KiB short of 1 MiB so that a reply fits a default-size pipe;
#   the ceiling reads in requests of that size too).
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
MB=${NFS_BENCH_MB:-256}
RUNS=${NFS_BENCH_RUNS:-3}
CEIL=${NFS_CEILING:-$(dirname "$PVCTL")/tests/nfs/nfs_ceiling}
WC=${NFS_BENCH_WRITE_CONNS:-4} WD=${NFS_BENCH_WRITE_DEPTH:-4}
RC=${NFS_BENCH_READ_CONNS:-8} RD=${NFS_BENCH_READ_DEPTH:-8}
BASE=${NFS_BENCH_BASELINE:-}
PAUSE=${NFS_BENCH_PAUSE:-2}
RBS=${NFS_BENCH_READ_BS:-1032192}
PHASES=${NFS_BENCH_PHASES:-w r}
[ -x "$CEIL" ] || nfs_fail "no ceiling tool at $CEIL (ninja tests/nfs/nfs_ceiling)"
[ -x /usr/bin/time ] || nfs_skip "needs /usr/bin/time (Debian: time)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
per_mib() { awk -v t="$1" -v m="$MB" 'BEGIN { printf "%.2f", t * 10 / m }'; } # ticks → ms/MiB
# dd's throughput in MB/s (10^6 bytes/s), from bytes and its elapsed seconds; with
# DD_CPU=KEY, dd's own CPU (user + system: the page cache and FUSE work done in the
# application's context) is added to F[KEY] in ms per MiB.
dd_mbs() {
	local out cpu
	out=$(LC_ALL=C /usr/bin/time -f "cpu %U %S" dd "$@" 2>&1)
	if [ -n "${DD_CPU:-}" ]; then
		cpu=$(echo "$out" | awk -v m="$MB" '$1 == "cpu" { printf "%.2f", ($2 + $3) * 1000 / m }')
		add "$DD_CPU" "$cpu"
	fi
	echo "$out" | grep ' copied, ' | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") { printf "%.0f\n", $1 / $(i-1) / 1e6 } }'
}

nfs_spec bench "" >"$T/specs/bench.json"
pv1 create -f "$T/specs/bench.json" >/dev/null || nfs_fail "create"
if [ -n "$BASE" ]; then
	nfs_spec old "" >"$T/specs/old.json"
	pv1 create -f "$T/specs/old.json" >/dev/null || nfs_fail "create old"
fi

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
if [ -n "$BASE" ]; then
	PVNODE_HELPER_DIR=$BASE pv1 stage old >/dev/null && pv1 publish old "$T/targets/old" >/dev/null ||
		nfs_fail "stage/publish old"
fi
H=$(nfs_helper_of bench) G=$(cat "$T/nfs/ganesha.child")
[ -n "$H" ] || nfs_fail "no helper for bench"
HO=; [ -z "$BASE" ] || HO=$(nfs_helper_of old)
mnt=$T/targets/bench direct=$NFS_RW_DIR/direct
mkdir -p "$direct" "$NFS_RW_DIR/ceil"

declare -A F
add() { F[$1]+="$2 "; }
med() { printf '%s\n' ${F[$1]} | median; }
# ceiling MODE CONNS DEPTH KEY: MB/s, client CPU ms/MiB, ganesha ticks
ceiling() {
	local g0 out bs=1048576
	[ "$1" = write ] || bs=$RBS
	g0=$(ticks "$G")
	out=$(nfs_in_ns "$CEIL" "$NFS_SERVER" "$NFS_RW_SHARE" /ceil/f "$MB" "$bs" "$2" "$3" "$1") ||
		nfs_fail "ceiling $1: $out"
	add "$4.mb" "$(echo "$out" | sed -n "s/^$1 mbps=\([0-9]*\) .*/\1/p")"
	add "$4.cpu" "$(echo "$out" | sed -n "s/^$1 .*cpu_ms_per_mib=\([0-9.]*\).*/\1/p")"
	add "$4.gan" "$(( $(ticks "$G") - g0 ))"
	F[rwsize]=$(echo "$out" | sed -n 's/^rsize=\([0-9]*\) wsize=\([0-9]*\)/\1 \2/p')
}
# through HELPER-PID KEY DD-ARGS...: MB/s, helper and ganesha ticks
through() {
	local h=$1 key=$2 h0 g0
	shift 2
	h0=$(ticks "$h") g0=$(ticks "$G")
	DD_CPU=$key.dd dd_mbs "$@" >"$T/mbs"
	add "$key.mb" "$(cat "$T/mbs")"
	add "$key.hlp" "$(( $(ticks "$h") - h0 ))"
	add "$key.gan" "$(( $(ticks "$G") - g0 ))"
}

# One subject's pass: write or read 256 MiB. Before each, settle: sync, drop caches and
# pause, so that no subject runs into the previous one's writeback or page cache.
settle() { sync; drop_caches; sleep "$PAUSE"; }
subject() { # PHASE WHO
	case $1.$2 in
	w.ceil) ceiling write "$WC" "$WD" w.ceil ;;
	w.mnt) through "$H" w.mnt if=/dev/zero of="$mnt/f" bs=1M count="$MB" conv=fsync ;;
	w.old) through "$HO" w.old if=/dev/zero of="$T/targets/old/f" bs=1M count="$MB" conv=fsync ;;
	w.dir) DD_CPU=w.dir.dd dd_mbs if=/dev/zero of="$direct/f" bs=1M count="$MB" conv=fsync >"$T/mbs"
		add w.dir.mb "$(cat "$T/mbs")" ;;
	r.ceil) ceiling read "$RC" "$RD" r.ceil ;;
	r.mnt) through "$H" r.mnt if="$mnt/f" of=/dev/null bs=1M ;;
	r.old) through "$HO" r.old if="$T/targets/old/f" of=/dev/null bs=1M ;;
	r.dir) DD_CPU=r.dir.dd dd_mbs if="$direct/f" of=/dev/null bs=1M >"$T/mbs"
		add r.dir.mb "$(cat "$T/mbs")" ;;
	esac
}
last() { local a=(${F[$1]}); echo "${a[-1]}"; }
# Subjects take turns in every position: round i starts at subject i mod n (with RUNS a
# multiple of n each subject takes each position equally often). Every round is printed.
WHO=(ceil mnt); [ -z "$BASE" ] || WHO+=(old); WHO+=(dir)
NW=${#WHO[@]}
for i in $(seq 0 $((RUNS - 1))); do
	rm -f "$direct/f" "$mnt/f" "$NFS_RW_DIR/ceil/f"
	[ -z "$BASE" ] || rm -f "$T/targets/old/f"
	order=()
	for k in $(seq 0 $((NW - 1))); do order+=("${WHO[$(((i + k) % NW))]}"); done
	for p in $PHASES; do
		msg="  round $((i + 1)) $p:"
		for k in "${!order[@]}"; do
			who=${order[$k]}
			settle
			subject "$p" "$who"
			v=$(last "$p.$who.mb")
			add "$p.$who.pos$((k + 1))" "$v"
			msg+=" $who $v"
		done
		echo "$msg MB/s (in the order run; load $(cut -d' ' -f1 /proc/loadavg))" >&2
	done
done
rm -f "$direct/f" "$mnt/f" "$NFS_RW_DIR/ceil/f"
pv1 unpublish bench "$T/targets/bench" >/dev/null && pv1 unstage bench >/dev/null || nfs_fail "teardown"
if [ -n "$BASE" ]; then
	rm -f "$T/targets/old/f"
	pv1 unpublish old "$T/targets/old" >/dev/null && pv1 unstage old >/dev/null || nfs_fail "teardown old"
fi

# median over the rounds of A/B within each round (drift of the machine's load between
# rounds cancels out)
paired() {
	local a=(${F[$1]:-}) b=(${F[$2]:-}) k
	for k in "${!a[@]}"; do ratio "${a[$k]}" "${b[$k]:-0}"; echo; done | median
}
line() { # PHASE LABEL
	local p=$1 c m d
	c=$(med "$p.ceil.mb") m=$(med "$p.mnt.mb") d=$(med "$p.dir.mb")
	printf '  %-24s ceiling %5s MB/s  mount %5s MB/s (%s of ceiling)  export dir %5s MB/s (mount %s of it)\n' \
		"$2" "$c" "$m" "$(ratio "$m" "$c")" "$d" "$(ratio "$m" "$d")"
	printf '  %-24s per-round ratios, median: mount/ceiling %s%s\n' "" "$(paired "$p.mnt.mb" "$p.ceil.mb")" \
		"$([ -z "$BASE" ] || echo ", baseline/ceiling $(paired "$p.old.mb" "$p.ceil.mb"), mount/baseline $(paired "$p.mnt.mb" "$p.old.mb")")"
	[ -z "$BASE" ] || printf '  %-24s baseline helper: mount %5s MB/s (%s of ceiling)   (runs: %s)\n' "" \
		"$(med "$p.old.mb")" "$(ratio "$(med "$p.old.mb")" "$c")" "${F[$p.old.mb]}"
	printf '  %-24s CPU ms/MiB: ceiling client %s ganesha %s | mount: dd %s helper %s ganesha %s | dir: dd %s%s\n' "" \
		"$(med "$p.ceil.cpu")" "$(per_mib "$(med "$p.ceil.gan")")" "$(med "$p.mnt.dd")" \
		"$(per_mib "$(med "$p.mnt.hlp")")" "$(per_mib "$(med "$p.mnt.gan")")" "$(med "$p.dir.dd")" \
		"$([ -z "$BASE" ] || echo " | baseline: helper $(per_mib "$(med "$p.old.hlp")")")"
	printf '  %-24s (runs: ceiling %s| mount %s| dir %s)\n' "" "${F[$p.ceil.mb]}" "${F[$p.mnt.mb]}" "${F[$p.dir.mb]}"
}
set -- ${F[rwsize]:-? ?}
echo "nfs bench: ${MB} MiB, 1 MiB writes and $RBS-byte reads, median of $RUNS interleaved rounds (MB/s = 10^6 B/s)"
echo "  negotiated rsize $1 wsize $2; ceiling: writes $WC connections x $WD in flight, reads $RC x $RD"
case " $PHASES " in *" w "*) line w "sequential write+fsync" ;; esac
case " $PHASES " in *" r "*) line r "sequential read (cold)" ;; esac
for p in $PHASES; do # the position effect, if any: each subject's median by its place in the round
	msg="  by position ($p):"
	for who in "${WHO[@]}"; do
		msg+=" $who"
		for k in $(seq 1 "$NW"); do msg+=" $(printf '%s\n' ${F[$p.$who.pos$k]:-} | median)"; done
		msg+=" |"
	done
	echo "${msg% |}"
done
echo "  stage+publish ${up} ms, unpublish+unstage ${down} ms (median of 5; includes pvctl start-up)"
echo "  load average: at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
