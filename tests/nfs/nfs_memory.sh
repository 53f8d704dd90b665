#!/bin/bash
# tests/nfs/nfs_memory.sh — the userspace NFS helper's memory (issue 14: every helper
# <= 8 MiB resident idle and <= 32 MiB under sustained I/O), one volume staged and
# published with pvctl against the ganesha fixture:
#   - idle after publish: <= 8 MiB resident;
#   - two writers at once (64 MiB each, 1 MiB dd + fsync), then two cold readers at once
#     comparing the data, twice; the helper's peak (VmHWM, reset before each phase)
#     <= 32 MiB in each phase;
#   - after each phase, within 10 s: <= 8 MiB resident (the helper drops its FUSE
#     buffers and trims its heap after 5 quiet seconds); the second round, served from
#     buffers dropped after the first, reads back what it wrote.
# The bounds hold on a plain build only (scripts/test runs the suite 'plain' on one): a
# sanitizer build does the I/O and compares the data, prints the figures, checks no bound.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

nfs_volume_up mem
H=$NFS_HELPER_PID
M=$T/targets/mem
PLAIN=1
grep -q 'libasan\|libtsan' "/proc/$H/maps" && PLAIN=0
IDLE=$((8 << 10)) PEAK=$((32 << 10))
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$H/status"; }
figures() { echo "VmRSS $(kb VmRSS) kB (anonymous $(kb RssAnon)), VmHWM $(kb VmHWM) kB, $(kb Threads) threads"; }
check() { # WHAT VALUE LIMIT
	if [ "$PLAIN" = 1 ] && [ "$2" -gt "$3" ]; then
		nfs_fail "$1: $2 kB, over the bound of $3 kB: $(figures)"
	fi
}
# the resident size once it is at most the idle bound, or after 10 s
settled_rss() {
	local r
	for _ in $(seq 100); do
		r=$(kb VmRSS)
		[ "$r" -le "$IDLE" ] && break
		sleep 0.1
	done
	echo "$r"
}

sleep 1
nfs_ok "idle after publish: $(figures)"
check "idle helper" "$(kb VmRSS)" "$IDLE"

head -c $((64 << 20)) /dev/urandom >"$T/src1"
head -c $((64 << 20)) /dev/urandom >"$T/src2"
# phase NAME CMD1 CMD2: both at once, then the peak and the settled size checked
phase() {
	local name=$1 a b peak rss
	echo 5 >"/proc/$H/clear_refs" # resets VmHWM
	$2 & a=$!
	$3 & b=$!
	wait $a && wait $b || nfs_fail "$name failed"
	peak=$(kb VmHWM)
	rss=$(settled_rss)
	nfs_ok "$name: peak $peak kB, then $rss kB resident: $(figures)"
	check "peak, $name" "$peak" "$PEAK"
	check "resident after $name and 5 quiet seconds" "$rss" "$IDLE"
}
for round in 1 2; do
	phase "round $round, two writers of 64 MiB" \
		"dd if=$T/src1 of=$M/f1 bs=1M conv=fsync status=none" \
		"dd if=$T/src2 of=$M/f2 bs=1M conv=fsync status=none"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	phase "round $round, two cold readers comparing" "cmp $T/src1 $M/f1" "cmp $T/src2 $M/f2"
done
[ "$PLAIN" = 1 ] || echo "(a sanitizer build: bounds not checked)"
rm -f "$M/f1" "$M/f2"
pv1 unpublish mem "$M" >/dev/null && pv1 unstage mem >/dev/null || nfs_fail "teardown"
echo PASS
