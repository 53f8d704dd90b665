#!/usr/bin/env bash
# Full lifecycle of a file volume with ext4: create, stage, publish, write, inspect,
# unpublish, unstage, delete — and nothing left behind (loop devices, mounts, image).
. "$(dirname "$0")/../lib/common.sh"
FS=${FS:-ext4}
CAP=${CAP:-64Mi}
img="$PVNODE_STATE_DIR/images/vol1.img"

step "create"
expect_rc 0 pvctl create -f "$(mkpv vol1 file "$CAP" RWO "\"fsType\":\"$FS\"")"
[ -f "$img" ] || fail "image not created"
assert_eq "$(stat -c %s "$img")" "$(numfmt --from=iec-i "$CAP")" "image size"
step "stage"
expect_rc 0 pvctl stage vol1
assert_eq "$(loops_of "$img")" 1 "loop devices over the image"
grep -q " $PVNODE_STATE_DIR/staging/vol1 .* - $FS " /proc/self/mountinfo || fail "staging is not a $FS mount"
dev=$(losetup -j "$img" -O NAME -n)
assert_eq "$(cat /sys/block/$(basename "$dev")/loop/dio)" 1 "direct I/O on the loop device"
step "publish and write"
t="$TESTDIR/targets/pod1"
expect_rc 0 pvctl publish vol1 "$t"
echo "data-$FS" >"$t/hello"
sync
assert_eq "$(cat "$t/hello")" "data-$FS"
step "get and describe"
expect_rc 0 pvctl get
assert_contains "$LAST_OUT" "vol1"
assert_contains "$LAST_OUT" "Published"
assert_contains "$LAST_OUT" "node-a"
expect_rc 0 pvctl describe vol1
assert_contains "$LAST_OUT" "Staging path: $PVNODE_STATE_DIR/staging/vol1"
assert_contains "$LAST_OUT" "$t (read-write)"
assert_contains "$LAST_OUT" "Device:       /dev/loop"
assert_contains "$LAST_OUT" "Usage:"
assert_contains "$LAST_OUT" "Condition:    healthy"
step "unpublish, unstage, delete"
expect_rc 0 pvctl unpublish vol1 "$t"
[ -e "$t" ] && fail "target $t still exists after unpublish"
expect_rc 0 pvctl unstage vol1
assert_eq "$(loops_of "$img")" 0 "loop devices after unstage"
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts after unstage"
expect_rc 0 pvctl delete vol1
[ -e "$img" ] && fail "image still exists after delete"
expect_rc 0 pvctl get
assert_not_contains "$LAST_OUT" "vol1"
exit 0
