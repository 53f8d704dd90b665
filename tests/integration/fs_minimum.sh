#!/usr/bin/env bash
# create refuses what the first stage would refuse (exit 2, naming the minimum or the
# sizes around) and leaves nothing behind: xfs below the installed mkfs.xfs's minimum,
# ext4 below 8 MiB, a capacity the file driver's loop device would round. At the
# minimums the volumes are made and stage.
. "$(dirname "$0")/../lib/common.sh"

nothing_left() { # NAME
	[ -e "$PVNODE_STATE_DIR/catalog/$1.json" ] && fail "catalog entry for refused $1"
	[ -e "$PVNODE_STATE_DIR/images/$1.img" ] && fail "image for refused $1"
	[ -e "$PVNODE_STATE_DIR/run/$1" ] && fail "run directory for refused $1"
	return 0
}

step "xfs"
min=$(mkfs.xfs -N -f -d file=1,name="$TESTDIR/probe",size=16m 2>&1 | sed -n 's/.*must be larger than \([0-9]*\)MB.*/\1/p' || true)
rm -f "$TESTDIR/probe"
[ -n "$min" ] || min=300
expect_rc 2 pvctl create -f "$(mkpv small-xfs file 64Mi RWO '"fsType":"xfs"')"
assert_contains "$LAST_ERR" "smallest xfs filesystem, ${min}Mi"
assert_contains "$LAST_ERR" "mkfs.xfs"
nothing_left small-xfs
expect_rc 0 pvctl create -f "$(mkpv xfs-min file "${min}Mi" RWO '"fsType":"xfs"')"
expect_rc 0 pvctl stage xfs-min
expect_rc 0 pvctl delete xfs-min --force

step "ext4"
expect_rc 2 pvctl create -f "$(mkpv small-ext4 file 4Mi RWO)"
assert_contains "$LAST_ERR" "smallest ext4 filesystem, 8Mi"
nothing_left small-ext4
expect_rc 0 pvctl create -f "$(mkpv ext4-min file 8Mi RWO)"
expect_rc 0 pvctl stage ext4-min
expect_rc 0 pvctl delete ext4-min --force

step "a raw block volume has no filesystem minimum"
expect_rc 0 pvctl create -f "$(mkpv raw file 1Mi RWO '"volumeMode":"Block"')"
expect_rc 0 pvctl delete raw

step "capacities the backend would round"
expect_rc 2 pvctl create -f "$(mkpv odd file 1000000 RWO '"volumeMode":"Block"')"
assert_contains "$LAST_ERR" "not a multiple of 512 bytes"
assert_contains "$LAST_ERR" "round it down to 999936; ask for 999936 or 977Ki"
nothing_left odd
expect_rc 0 pvctl create -f "$(mkpv even file 16Mi RWO)"
expect_rc 2 pvctl expand even --capacity 20000001
assert_contains "$LAST_ERR" "not a multiple of 512"
assert_eq "$(stat -c %s "$PVNODE_STATE_DIR/images/even.img")" $((16 << 20)) "image after a refused expand"
expect_rc 0 pvctl delete even
exit 0
