#!/usr/bin/env bash
# Issue 9 item 8, in-process: a full state filesystem leaves a consistent, retryable
# state; publishing inside the staging path is refused; a target gone while nothing ran
# shows as Lost; temp files of killed writers are swept; mount options with side
# effects are refused and staging mounts carry nosuid,nodev; a catalog file naming
# another volume is refused; 8Ei is invalid input; names starting with '-' follow '--'.
. "$(dirname "$0")/../lib/common.sh"
step "a full state filesystem"
small="$TESTDIR/small"
mkdir -p "$small"
mount -t tmpfs -o size=8m pvnode-test "$small"
S() { pvctl --state-dir "$small/state" "$@"; }
# noinit_itable: ext4's lazy inode-table init would keep writing into the sparse image on
# this small tmpfs after the filler is removed, and fill it again (a flaky ENOSPC)
expect_rc 0 S create -f "$(mkpv full file 64Mi RWO '"mountOptions":["noinit_itable"]')"
expect_rc 0 S stage full
expect_rc 0 S publish full "$TESTDIR/targets/full"
dd if=/dev/zero of="$small/filler" bs=1M status=none 2>/dev/null || true
expect_rc 1 S unpublish full "$TESTDIR/targets/full"
assert_contains "$LAST_ERR" "No space left"
mountpoint -q "$TESTDIR/targets/full" || fail "an unpublish that could not record anything unmounted"
rm -f "$small/filler"
expect_rc 0 S unpublish full "$TESTDIR/targets/full"
mountpoint -q "$TESTDIR/targets/full" && fail "the retried unpublish left the mount"
expect_rc 0 S delete full --force
umount "$small"
step "publishing at or inside the staging path"
expect_rc 0 pvctl --allowed-path "$TESTDIR" create -f "$(mkpv inside file 64Mi RWO)"
expect_rc 0 pvctl --allowed-path "$TESTDIR" stage inside --staging-path "$TESTDIR/stg"
expect_rc 2 pvctl --allowed-path "$TESTDIR" publish inside "$TESTDIR/stg"
expect_rc 2 pvctl --allowed-path "$TESTDIR" publish inside "$TESTDIR/stg/sub"
grep -q "nosuid,nodev" <(findmnt -n -o OPTIONS "$TESTDIR/stg") || fail "the staging mount lacks nosuid,nodev"
expect_rc 0 pvctl --allowed-path "$TESTDIR" delete inside --force
step "a target gone while nothing ran"
expect_rc 0 pvctl create -f "$(mkpv gone file 64Mi RWO)"
expect_rc 0 pvctl stage gone
expect_rc 0 pvctl publish gone "$TESTDIR/targets/gone"
umount "$TESTDIR/targets/gone"
rmdir "$TESTDIR/targets/gone"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "is gone"
expect_rc 0 pvctl get gone
assert_contains "$LAST_OUT" "Lost"
expect_rc 0 pvctl delete gone --force
step "temp files of killed writers"
echo x >"$PVNODE_STATE_DIR/journal/someone.json.tmp.999999999"
echo x >"$PVNODE_STATE_DIR/catalog/someone.json.tmp.999999998"
echo x >"$PVNODE_STATE_DIR/journal/inflight.json.tmp.999999997"
# a killed writer's file is old; one being written now (by a pvnode in another pid
# namespace, whose pid means nothing here) is young and must stay
touch -d '10 minutes ago' "$PVNODE_STATE_DIR/journal/someone.json.tmp.999999999" \
	"$PVNODE_STATE_DIR/catalog/someone.json.tmp.999999998"
expect_rc 0 pvctl reconcile
[ -e "$PVNODE_STATE_DIR/journal/inflight.json.tmp.999999997" ] || fail "a temp file being written was removed"
rm -f "$PVNODE_STATE_DIR/journal/inflight.json.tmp.999999997"
[ -e "$PVNODE_STATE_DIR/journal/someone.json.tmp.999999999" ] && fail "a journal temp file was kept"
[ -e "$PVNODE_STATE_DIR/catalog/someone.json.tmp.999999998" ] && fail "a catalog temp file was kept"
step "mount options with side effects"
for opt in loop x-mount.mkdir errors=panic offset=0 suid dev; do
	expect_rc 2 pvctl create -f "$(mkpv opt file 64Mi RWO "\"mountOptions\":[\"$opt\"]")"
	assert_contains "$LAST_ERR" "mount option"
done
expect_rc 2 pvctl create -f "$(mkpv opt file 64Mi RWO '"mountOptions":["password=hunter2"]')"
assert_not_contains "$LAST_ERR" "hunter2"
expect_rc 0 pvctl create -f "$(mkpv opt file 64Mi RWO '"mountOptions":["noatime","errors=remount-ro"]')"
expect_rc 2 pvctl stage opt --mount-flag errors=panic
expect_rc 0 pvctl delete opt
step "a catalog file that names another volume"
expect_rc 0 pvctl create -f "$(mkpv realname file 64Mi RWO)"
cp "$PVNODE_STATE_DIR/catalog/realname.json" "$PVNODE_STATE_DIR/catalog/copied.json"
expect_rc 1 pvctl get copied
assert_contains "$LAST_ERR" "names volume 'realname'"
rm "$PVNODE_STATE_DIR/catalog/copied.json"
expect_rc 0 pvctl delete realname
step "quantities beyond what a file holds"
expect_rc 2 pvctl create -f "$(mkpv huge file 8Ei RWO)"
step "names that start with '-'"
expect_rc 0 pvctl create -f "$(mkpv -dash file 64Mi RWO)"
expect_rc 0 pvctl describe -- -dash
expect_rc 0 pvctl stage -- -dash
expect_rc 0 pvctl unstage -- -dash
expect_rc 0 pvctl expand --capacity 96Mi -- -dash
expect_rc 0 pvctl delete -- -dash
exit 0
