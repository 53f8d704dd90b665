#!/usr/bin/env bash
# File snapshots by reflink: the state directory on xfs with reflink=1 (a loop device
# of the test's own), xfs volumes. The snapshot shares the image's extents (instant,
# no space used until either side is written); restores and clones have the right
# checksums; a snapshot taken while a writer runs restores to a filesystem xfs_repair -n
# passes.
. "$(dirname "$0")/../lib/common.sh"
command -v mkfs.xfs >/dev/null && command -v xfs_repair >/dev/null || { echo "SKIP: no xfsprogs"; exit 77; }
truncate -s 3G "$TESTDIR/state.xfs"
mkfs.xfs -q -m reflink=1 "$TESTDIR/state.xfs" || { echo "SKIP: mkfs.xfs cannot make reflink filesystems"; exit 77; }
outer=$(losetup -f --show "$TESTDIR/state.xfs")
mkdir -p "$TESTDIR/xstate"
mount -t xfs "$outer" "$TESTDIR/xstate" || { losetup -d "$outer"; echo "SKIP: cannot mount xfs"; exit 77; }
export PVNODE_STATE_DIR=$TESTDIR/xstate/state
S=$PVNODE_STATE_DIR
# the state directory's filesystem goes last: first whatever lives on it
undo_state_fs() {
	local m f
	[ -n "${writer:-}" ] && kill "$writer" 2>/dev/null
	for m in $(awk -v d="$TESTDIR/xstate/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		fsfreeze -u "$m" 2>/dev/null
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	for f in /sys/block/loop*/loop/backing_file; do
		grep -q "^$TESTDIR/xstate/" "$f" 2>/dev/null && losetup -d "/dev/$(basename "$(dirname "$(dirname "$f")")")"
	done
	umount "$TESTDIR/xstate" 2>/dev/null || umount -l "$TESTDIR/xstate"
	losetup -d "$outer" 2>/dev/null
	return 0
}
CLEANUP_HOOKS+=(undo_state_fs)

sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
fill() {
	mkdir -p "$1/dir"
	head -c 64M /dev/urandom >"$1/a.bin"
	head -c 1M /dev/urandom >"$1/dir/b.bin"
	echo "$2" >"$1/dir/tag"
	sync -f "$1/a.bin"
}
used_kib() { df -k --output=used "$TESTDIR/xstate" | tail -1; }

step "an xfs volume on a reflink state directory, its snapshot"
expect_rc 0 pvctl create -f "$(mkpv x file 512Mi RWO '"fsType":"xfs"')"
expect_rc 0 pvctl stage x
src=$S/staging/x
fill "$src" first
before=$(sums "$src")
u0=$(used_kib)
expect_rc 0 pvctl -v snapshot create x s1
assert_contains "$LAST_OUT" "snapshot s1 of volume x created (512Mi, reflink)"
assert_contains "$LAST_ERR" "froze its filesystem"
u1=$(used_kib)
# shared extents: the copy costs (almost) nothing
[ $((u1 - u0)) -lt 8192 ] || fail "a reflink snapshot used $((u1 - u0)) KiB"
filefrag -v "$S/snapshots/s1.img" | grep -q shared || fail "the snapshot image shares no extent with the volume"
expect_rc 0 pvctl snapshot list x -o json
assert_contains "$LAST_OUT" '"copy": "reflink"'

step "overwrite, restore (bigger) and clone"
fill "$src" second
after=$(sums "$src")
expect_rc 0 pvctl create -f "$(mkpv r file 768Mi RWO '"fsType":"xfs","source":{"snapshot":"s1"}')"
expect_rc 0 pvctl stage r
assert_eq "$(sums "$S/staging/r")" "$before" "checksums of the restored volume"
size=$(df -k --output=size "$S/staging/r" | tail -1)
[ "$size" -gt 600000 ] || fail "the restored xfs is $size KiB: not grown to 768 MiB"
expect_rc 0 pvctl unstage r
assert_eq "$(sums "$src")" "$after" "checksums of the source"
expect_rc 0 pvctl create -f "$(mkpv c file 512Mi RWO '"fsType":"xfs","source":{"volume":"x"}')"
expect_rc 0 pvctl stage c
assert_eq "$(sums "$S/staging/c")" "$after" "checksums of the clone"
expect_rc 0 pvctl unstage c
filefrag -v "$S/images/c.img" | grep -q shared || fail "the clone is not a reflink"

step "a snapshot while a writer runs restores to a filesystem xfs_repair -n passes"
( i=0; while :; do
	head -c 512k /dev/urandom >"$src/w.$((i % 40))" 2>/dev/null; i=$((i + 1))
	[ $((i % 8)) -eq 0 ] && sync -f "$src" 2>/dev/null
done ) &
writer=$!
sleep 0.5
for k in 1 2; do
	expect_rc 0 pvctl snapshot create x busy$k
	sleep 0.3
done
kill $writer; wait $writer 2>/dev/null || true
writer=""
for k in 1 2; do
	expect_rc 0 pvctl create -f "$(mkpv busy-r$k file 512Mi RWO "\"fsType\":\"xfs\",\"source\":{\"snapshot\":\"busy$k\"}")"
	# mount once (the log replays, as after a power cut), then check it offline
	expect_rc 0 pvctl stage busy-r$k
	expect_rc 0 pvctl unstage busy-r$k
	xfs_repair -n -f "$S/images/busy-r$k.img" >"$TESTDIR/repair.$k" 2>&1 ||
		{ cat "$TESTDIR/repair.$k" >&2; fail "xfs_repair -n of the volume restored from busy$k"; }
done

step "clean up"
expect_rc 0 pvctl unstage x
for s in s1 busy1 busy2; do expect_rc 0 pvctl snapshot delete $s; done
for v in x r c busy-r1 busy-r2; do expect_rc 0 pvctl delete $v; done
assert_eq "$(find "$S/snapshots" "$S/images" -type f)" "" "files left"
exit 0
