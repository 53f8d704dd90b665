#!/usr/bin/env bash
# Snapshot and restore time of a file volume (1 GiB, ext4, 512 MiB of random data
# written and synced, staged: the snapshot freezes it), by reflink and by sparse copy.
#  - sparse copy: the state directory on the test's own filesystem (/tmp: ext4 here);
#  - reflink: the state directory on xfs with reflink=1 on a loop device of its own.
# Each figure is pvctl's wall time (exec + locks + freeze + copy + record), median of
# RUNS (default 3); the source's data is in the page cache (just written).
#   usage: tests/bench/snapshot_bench.sh [runs]    (PVCTL: default build/pvctl)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PVCTL=${PVCTL:-$here/../../build/pvctl}
. "$here/../lib/common.sh"
RUNS=${1:-3}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {printf "%d", a[int((NR+1)/2)]}'; }
outer=""
undo_xfs() {
	local m f
	for m in $(awk -v d="$TESTDIR/xstate/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	for f in /sys/block/loop*/loop/backing_file; do
		grep -q "^$TESTDIR/xstate/" "$f" 2>/dev/null && losetup -d "/dev/$(basename "$(dirname "$(dirname "$f")")")"
	done
	mountpoint -q "$TESTDIR/xstate" && { umount "$TESTDIR/xstate" || umount -l "$TESTDIR/xstate"; }
	[ -n "$outer" ] && losetup -d "$outer" 2>/dev/null
	return 0
}
CLEANUP_HOOKS+=(undo_xfs)

head -c 512M /dev/urandom >"$TESTDIR/data.bin"

# bench LABEL: in $PVNODE_STATE_DIR; prints one line
bench() {
	local label=$1 snap=() rest=() t i how
	pvctl create -f "$(mkpv src file 1Gi RWO)" >/dev/null
	pvctl stage src >/dev/null
	cp "$TESTDIR/data.bin" "$PVNODE_STATE_DIR/staging/src/data.bin"
	sync -f "$PVNODE_STATE_DIR/staging/src/data.bin"
	local used0 used1
	used0=$(df -k --output=used "$PVNODE_STATE_DIR" | tail -1)
	for i in $(seq "$RUNS"); do
		t=$(date +%s%N); how=$(pvctl snapshot create src s$i); snap+=("$(ms "$t")")
		[ "$i" = 1 ] && used1=$(df -k --output=used "$PVNODE_STATE_DIR" | tail -1)
		t=$(date +%s%N); pvctl create -f "$(mkpv r$i file 1Gi RWO "\"source\":{\"snapshot\":\"s$i\"}")" >/dev/null
		rest+=("$(ms "$t")")
	done
	how=${how##*, }; how=${how%)}
	printf '%-34s snapshot %6d ms   restore %6d ms   (%s; runs: snapshot %s, restore %s ms)\n' "$label" \
		"$(printf '%s\n' "${snap[@]}" | median)" "$(printf '%s\n' "${rest[@]}" | median)" "$how" \
		"${snap[*]}" "${rest[*]}"
	# du counts shared extents as the file's own; the state filesystem's df (its own for
	# the reflink case: nobody else writes there) shows what a reflink costs
	if [ "$how" = reflink ]; then
		printf '%-34s one snapshot takes %d MiB of the state filesystem (df; du, counting shared extents: %s)\n' "" \
			$(( (used1 - used0) / 1024 )) "$(du -h "$PVNODE_STATE_DIR/snapshots/s1.img" | cut -f1)"
	else
		printf '%-34s one snapshot allocates %s (du)\n' "" "$(du -h "$PVNODE_STATE_DIR/snapshots/s1.img" | cut -f1)"
	fi
	pvctl delete src --force >/dev/null
	for i in $(seq "$RUNS"); do pvctl snapshot delete s$i >/dev/null; pvctl delete r$i >/dev/null; done
}

echo "file volume 1 GiB (ext4), 512 MiB written, staged (frozen for the snapshot); median of $RUNS"
bench "sparse copy ($(df --output=fstype "$TESTDIR" | tail -1) state dir)"

truncate -s 8G "$TESTDIR/state.xfs"
mkfs.xfs -q -m reflink=1 "$TESTDIR/state.xfs"
outer=$(losetup -f --show "$TESTDIR/state.xfs")
mkdir -p "$TESTDIR/xstate"
mount -t xfs "$outer" "$TESTDIR/xstate"
export PVNODE_STATE_DIR=$TESTDIR/xstate/state
bench "reflink (xfs reflink=1 state dir)"
