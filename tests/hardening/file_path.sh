#!/usr/bin/env bash
# Issue 9 item 1: the file driver's `path` is confined to <state>/images. A PV or a CSI
# volume_context naming a host block device or any other file is refused (exit 2 /
# INVALID_ARGUMENT): nothing is mounted, formatted, created or deleted outside.
. "$(dirname "$0")/../lib/common.sh"
victim="$TESTDIR/victim.img"
truncate -s 64M "$victim"
printf 'precious' | dd of="$victim" conv=notrunc status=none
dev=$(losetup -f --show "$victim")
CLEANUP_HOOKS+=("losetup -d $dev")
step "a PV naming a host block device"
expect_rc 2 pvctl create -f "$(mkpv hostdev file 64Mi RWO "\"attributes\":{\"path\":\"$dev\"}")"
assert_contains "$LAST_ERR" "is not an image of this node"
step "a PV naming an existing file elsewhere"
expect_rc 2 pvctl create -f "$(mkpv other file 64Mi RWO "\"attributes\":{\"path\":\"$victim\"}")"
[ "$(head -c 8 "$victim")" = precious ] || fail "the victim file was changed"
step "a path that creates files elsewhere"
expect_rc 2 pvctl create -f "$(mkpv elsewhere file 64Mi RWO "\"attributes\":{\"path\":\"$TESTDIR/newdir/x.img\"}")"
[ -e "$TESTDIR/newdir" ] && fail "a directory was created outside the images"
step "a symlink inside the images directory"
mkdir -p "$PVNODE_STATE_DIR/images"
ln -s "$victim" "$PVNODE_STATE_DIR/images/sneaky.img"
expect_rc 2 pvctl create -f "$(mkpv sneaky file 64Mi RWO "\"attributes\":{\"path\":\"$PVNODE_STATE_DIR/images/sneaky.img\"}")"
assert_contains "$LAST_ERR" "symbolic link"
step "a journal of a volume staged before the check cannot reach outside either (stage refuses)"
expect_rc 0 pvctl create -f "$(mkpv ok file 64Mi RWO)"
expect_rc 0 pvctl stage ok
expect_rc 0 pvctl unstage ok
expect_rc 0 pvctl delete ok
[ "$(head -c 8 "$victim")" = precious ] || fail "the victim file was changed"
assert_eq "$(mounts_under "$TESTDIR")" 0 "mounts under the test dir"
exit 0
