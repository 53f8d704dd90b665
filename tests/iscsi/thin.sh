#!/bin/bash
# tests/iscsi/thin.sh — zeroing and unmapping on a thin LUN. BLKZEROOUT on the loop
# device becomes fallocate(ZERO_RANGE/PUNCH_HOLE) on the FUSE file, WRITE SAME with the
# UNMAP bit on the wire, and holes in tgt's backing file; fallocate(PUNCH_HOLE) on the
# FUSE file becomes UNMAP. Zeroed ranges read back as zeroes, the rest is intact.
# (Linux offers no discard on a loop device over a FUSE file; zeroing is what arrives.)
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init thin
IQN=iqn.2026-11.io.pvnode.test:thin
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/thin.img" 256M && tgt_thin 1 1 || fail "tgt setup"
printf '{"name":"t","driver":"iscsi","capacity":"256Mi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"1"}}\n' \
	"$TGT_PORTAL" $IQN | pvn a create -f - >/dev/null || fail "create"
pvn a stage t || fail "stage"
read -r dev backing < <(pvn a describe t | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\) on \(.*\)$/\1 \2/p')
[ -b "$dev" ] && [ -f "$backing" ] || fail "no device/backing in describe"
head -c $((200 * 1024 * 1024)) /dev/urandom > "$T/src"
dd if="$T/src" of="$dev" bs=1M oflag=direct status=none || fail "write"
full=$(du -k "$T/thin.img" | cut -f1)
# zero 100 MiB at offset 50 MiB through the block layer (BLKZEROOUT: NOUNMAP, stays allocated)
blkdiscard -z -o $((50 * 1024 * 1024)) -l $((100 * 1024 * 1024)) "$dev" || fail "BLKZEROOUT"
cmp -n $((100 * 1024 * 1024)) <(dd if="$dev" bs=1M skip=50 count=100 iflag=direct status=none) /dev/zero || fail "zeroed range is not zero"
cmp -n $((50 * 1024 * 1024)) <(dd if="$dev" bs=1M count=50 iflag=direct status=none) "$T/src" || fail "data before the range changed"
cmp <(dd if="$dev" bs=1M skip=150 count=50 iflag=direct status=none) <(dd if="$T/src" bs=1M skip=150 count=50 status=none) || fail "data after the range changed"
mid=$(du -k "$T/thin.img" | cut -f1)
# punch 40 MiB at offset 0 on the FUSE file itself (UNMAP)
fallocate -p -o 0 -l $((40 * 1024 * 1024)) "$backing" || fail "punch hole on the FUSE file"
cmp -n $((40 * 1024 * 1024)) <(dd if="$dev" bs=1M count=40 iflag=direct status=none) /dev/zero || fail "punched range is not zero"
after=$(du -k "$T/thin.img" | cut -f1)
echo "backing file allocated: ${full} KiB written, ${mid} KiB after zeroing 100 MiB, ${after} KiB after punching 40 MiB"
[ "$after" -lt $((mid - 30 * 1024)) ] || fail "UNMAP freed nothing in the backing file"
pvn a unstage t || fail "unstage"
echo "thin: ok"
