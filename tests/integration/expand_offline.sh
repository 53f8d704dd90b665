#!/usr/bin/env bash
# Offline expansion: a volume grown while unstaged gets its filesystem grown at the next
# stage, before the mount for ext4 (resize2fs on the unmounted device: no
# CAP_SYS_RESOURCE needed, which this sandbox lacks) and right after it for xfs. The data
# stays, and a NodeExpandVolume-like expand that follows has nothing left to do.
. "$(dirname "$0")/../lib/common.sh"

ext4_bytes() { # DEV: the size the filesystem records
	dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Block count/ { c = $2 } /^Block size/ { s = $2 } END { print c * s }'
}

step "ext4"
expect_rc 0 pvctl create -f "$(mkpv off4 file 64Mi RWO)"
expect_rc 0 pvctl stage off4
echo kept >"$PVNODE_STATE_DIR/staging/off4/file"
expect_rc 0 pvctl unstage off4
expect_rc 0 pvctl expand off4 --capacity 256Mi
expect_rc 0 pvctl stage off4
dev=$(losetup -j "$PVNODE_STATE_DIR/images/off4.img" -O NAME -n)
assert_eq "$(ext4_bytes "$dev")" $((256 << 20)) "ext4 size after an offline expansion"
size=$(df -B1 --output=size "$PVNODE_STATE_DIR/staging/off4" | tail -1)
[ "$size" -gt $((200 << 20)) ] || fail "df shows $size bytes"
assert_eq "$(cat "$PVNODE_STATE_DIR/staging/off4/file")" kept "data after the growth"
expect_rc 0 pvctl expand off4 --capacity 256Mi # what NodeExpandVolume does next: nothing to grow
expect_rc 0 pvctl delete off4 --force

step "xfs"
expect_rc 0 pvctl create -f "$(mkpv offx file 320Mi RWO '"fsType":"xfs"')"
expect_rc 0 pvctl stage offx
expect_rc 0 pvctl unstage offx
expect_rc 0 pvctl expand offx --capacity 640Mi
expect_rc 0 pvctl stage offx
size=$(df -B1 --output=size "$PVNODE_STATE_DIR/staging/offx" | tail -1)
[ "$size" -gt $((560 << 20)) ] || fail "xfs not grown at stage: df shows $size bytes"
expect_rc 0 pvctl delete offx --force

step "a read-only stage grows nothing"
expect_rc 0 pvctl create -f "$(mkpv offro file 64Mi RWO,ROX)"
expect_rc 0 pvctl stage offro
expect_rc 0 pvctl unstage offro
expect_rc 0 pvctl expand offro --capacity 128Mi
expect_rc 0 pvctl stage offro --access-mode ROX
dev=$(losetup -j "$PVNODE_STATE_DIR/images/offro.img" -O NAME -n)
assert_eq "$(ext4_bytes "$dev")" $((64 << 20)) "ext4 size under a read-only stage"
expect_rc 0 pvctl unstage offro
expect_rc 0 pvctl stage offro
dev=$(losetup -j "$PVNODE_STATE_DIR/images/offro.img" -O NAME -n)
assert_eq "$(ext4_bytes "$dev")" $((128 << 20)) "ext4 size at the next read-write stage"
expect_rc 0 pvctl delete offro --force
exit 0
