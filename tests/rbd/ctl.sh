#!/bin/bash
# tests/rbd/ctl.sh — pvnode-rbd against a private cluster: one JSON request in, one JSON
# reply out, with the error kinds the driver maps (invalid, not-found, exists, refused,
# in-use, out-of-range, unavailable), credentials and an unreachable cluster failing clearly and in
# bounded time, remove refused while a live helper watches the image but not blocked by
# a dead one, break-lock fencing a stopped holder (its late writes fail), snapshots and
# format-2 clones with the snapshot trash (a flatten purges the trashed parent).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ceph.sh"
. "$(dirname "$0")/../lib/rbd.sh"
ceph_start || fail "ceph_start"

ctl_ok() { LAST_OUT=$(rbd_ctl "$1") || fail "pvnode-rbd $1: $LAST_OUT"; }
ctl_fails() { # KIND MEMBERS
	local rc=0
	LAST_OUT=$(rbd_ctl "$2") || rc=$?
	[ $rc = 1 ] || fail "pvnode-rbd $2: exit $rc, wanted 1: $LAST_OUT"
	assert_contains "$LAST_OUT" "\"kind\":\"$1\"" "reply to $2"
}

step "create, idempotent create, another size"
ctl_ok '"op":"create","image":"a","size":67108864'
assert_contains "$LAST_OUT" '"created":true'
ctl_ok '"op":"create","image":"a","size":67108864'
assert_contains "$LAST_OUT" '"created":false'
ctl_fails exists '"op":"create","image":"a","size":134217728'
assert_contains "$LAST_OUT" "64Mi (67108864 bytes)"
assert_contains "$LAST_OUT" "128Mi (134217728 bytes)"
ctl_ok '"op":"create","image":"b","size":33554432,"features":"layering"'
ctl_ok '"op":"info","image":"b"'
assert_contains "$LAST_OUT" '"features":"layering"'
ctl_ok '"op":"info","image":"a"'
assert_contains "$LAST_OUT" '"features":"layering,exclusive-lock,object-map,fast-diff,deep-flatten"'
assert_contains "$LAST_OUT" '"size":67108864'
ctl_ok '"op":"info","image":"nope"'
assert_contains "$LAST_OUT" '"exists":false'

step "resize grows only"
ctl_ok '"op":"resize","image":"a","size":134217728'
assert_contains "$(rbd_cli info "$CEPH_POOL/a")" "size 128 MiB"
ctl_fails out-of-range '"op":"resize","image":"a","size":1048576'
assert_contains "$LAST_OUT" "cannot shrink"

step "metadata"
ctl_ok '"op":"metadata-set","image":"a","key":"pvnode.holder","value":"node-a"'
ctl_ok '"op":"metadata-get","image":"a","key":"pvnode.holder"'
assert_contains "$LAST_OUT" '"value":"node-a"'
ctl_ok '"op":"metadata-remove","image":"a","key":"pvnode.holder"'
ctl_ok '"op":"metadata-get","image":"a","key":"pvnode.holder"'
assert_contains "$LAST_OUT" '"value":null'
ctl_fails invalid '"op":"metadata-set","image":"a","key":"a b","value":"x"'

step "input is validated before any connection"
CTL_MONITORS="127.0.0.1:1;debug_ms=20" ctl_fails invalid '"op":"info","image":"a"'
assert_contains "$LAST_OUT" "attributes.monitors"
CTL_MONITORS='127.0.0.1:1\nkey=x' ctl_fails invalid '"op":"info","image":"a"'
ctl_fails invalid '"op":"info","image":"a/b"'
ctl_fails invalid '"op":"frobnicate","image":"a"'
ctl_fails invalid '"op":"create","image":"c","size":1048576,"features":"layering,object-map"'
out=$(echo '{"op":"info"' | "$RBD_CTL") && fail "truncated JSON accepted"
assert_contains "$out" '"kind":"invalid"'
CTL_POOL=nopool ctl_fails not-found '"op":"info","image":"a"'
assert_contains "$LAST_OUT" 'no pool \"nopool\"'

step "wrong key, wrong user: a clear, quick refusal"
t0=$(date +%s%N)
out=$(printf '{"op":"info","image":"a","monitors":"%s","pool":"%s","userKey":"AQBNvBBhAAAAABAAwm8yGWcT9Z61Kel+XEOwRw=="}' \
	"$CEPH_MONITORS" "$CEPH_POOL" | "$RBD_CTL") && fail "a wrong key was accepted"
echo "wrong key ($(( ($(date +%s%N) - t0) / 1000000 )) ms): $out"
assert_contains "$out" '"kind":"invalid"'
assert_contains "$out" "key (secrets.userKey) is wrong"
assert_not_contains "$out" "AQBNvBBh"
key=$(cat "$CEPH_KEY_FILE")
out=$(printf '{"op":"info","image":"a","monitors":"%s","pool":"%s","userID":"nobody","userKey":"%s"}' \
	"$CEPH_MONITORS" "$CEPH_POOL" "$key" | "$RBD_CTL") && fail "an unknown user was accepted"
assert_contains "$out" '"kind":"invalid"'
assert_contains "$out" "client.nobody"

step "unreachable monitors: unavailable after the timeout, not a hang"
port=$((32000 + RANDOM % 1000))
t0=$(date +%s)
out=$(printf '{"op":"info","image":"a","monitors":"127.0.0.1:%s","pool":"rbd","userKey":"%s","monTimeout":3,"osdTimeout":3}' \
	"$port" "$key" | timeout 60 "$RBD_CTL") && fail "an unreachable cluster answered"
took=$(( $(date +%s) - t0 ))
echo "unreachable (${took}s): $out"
assert_contains "$out" '"kind":"unavailable"'
[ "$took" -le 10 ] || fail "took ${took}s with monTimeout 3"

step "remove: refused while a live helper watches, not blocked by a dead one"
helper_start a --exclusive --node-id node-a || fail "helper: $HELPER_LINE"
client=$(sed 's/.*client=\([^ ]*\).*/\1/' <<<"$HELPER_LINE")
ctl_fails in-use '"op":"remove","image":"a"'
assert_contains "$LAST_OUT" "client at $client"
echo "refused: $LAST_OUT"
kill -9 "$HELPER_PID"; wait "$HELPER_PID" 2>/dev/null || true
umount -l "$HELPER_MNT" 2>/dev/null || true
t0=$(date +%s)
ctl_ok "\"op\":\"remove\",\"image\":\"a\",\"blocklist\":[\"$client\"]"
took=$(( $(date +%s) - t0 ))
echo "removed with the dead helper blocklisted in ${took}s"
[ "$took" -le 10 ] || fail "removing past a dead watcher took ${took}s"
assert_eq "$(rbd_cli ls "$CEPH_POOL" | grep -cx a)" 0 "image a after remove"
ctl_ok '"op":"remove","image":"a"'
assert_contains "$LAST_OUT" '"existed":false'

step "break-lock fences a stopped holder; its late writes fail"
ctl_ok '"op":"create","image":"f","size":67108864'
helper_start f --exclusive --node-id node-a || fail "helper: $HELPER_LINE"
A=$HELPER_PID A_MNT=$HELPER_MNT A_STATUS=$HELPER_STATUS
dd if=/dev/zero of="$A_MNT/disk" bs=4096 count=1 conv=notrunc oflag=direct status=none || fail "write as holder"
ctl_ok '"op":"lock-owners","image":"f"'
assert_contains "$LAST_OUT" '"holder":"node-a"'
ctl_fails refused '"op":"break-lock","image":"f","node":"node-x"'
assert_contains "$LAST_OUT" "held by node node-a, not node-x"
kill -STOP "$A"
ctl_ok '"op":"break-lock","image":"f","node":"node-a"'
assert_contains "$LAST_OUT" '"broken":"'
kill -CONT "$A"
rc=0
timeout 30 dd if=/dev/zero of="$A_MNT/disk" bs=4096 count=1 conv=notrunc oflag=direct status=none 2>"$TESTDIR/late.err" || rc=$?
[ $rc != 0 ] || fail "a late write of the fenced holder succeeded"
[ $rc != 124 ] || fail "a late write of the fenced holder hung instead of failing"
echo "late write: $(cat "$TESTDIR/late.err"); status: $(status_get "$A_STATUS" state) - $(status_get "$A_STATUS" why)"
assert_eq "$(status_get "$A_STATUS" state)" fenced "fenced holder's status"
helper_start f --exclusive --node-id node-b || fail "node-b after the break: $HELPER_LINE"
B=$HELPER_PID
ctl_ok '"op":"lock-owners","image":"f"'
assert_contains "$LAST_OUT" '"holder":"node-b"'
helper_stop "$B" || fail "node-b exit"
helper_stop "$A" || true

step "snapshots and format-2 clones"
ctl_ok '"op":"snap-create","image":"f","snap":"s1"'
assert_contains "$LAST_OUT" '"created":true'
f_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["imageId"])' <<<"$LAST_OUT")
ctl_ok '"op":"snap-create","image":"f","snap":"s1"'
assert_contains "$LAST_OUT" '"created":false'
ctl_ok '"op":"snap-list","image":"f"'
assert_contains "$LAST_OUT" '"name":"s1"'
ctl_ok "\"op\":\"restore\",\"image\":\"f-clone\",\"srcImageId\":\"$f_id\",\"snap\":\"s1\",\"size\":67108864"
assert_contains "$LAST_OUT" '"depth":1'
ctl_ok '"op":"children","image":"f","snap":"s1"'
assert_contains "$LAST_OUT" '"image":"f-clone"'
ctl_fails refused '"op":"remove","image":"f"'
assert_contains "$LAST_OUT" "1 snapshot"
ctl_ok '"op":"snap-remove","image":"f","snap":"s1"'      # has a clone: to the snapshot trash
ctl_ok '"op":"snap-list","image":"f"'
assert_contains "$LAST_OUT" '"snapshots":[]'
ctl_ok '"op":"remove","image":"f"'                       # kept for the clone: to the trash
assert_contains "$LAST_OUT" '"trashed":true'
trash_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["trashId"])' <<<"$LAST_OUT")
rbd_cli create --size 4 "$CEPH_POOL/other" && rbd_cli trash mv "$CEPH_POOL/other" || fail "someone else's trashed image"
rbd_cli export --no-progress "$CEPH_POOL/f-clone" "$TESTDIR/clone.img" >/dev/null 2>&1 || fail "the clone is unreadable"
cmp -n 4096 "$TESTDIR/clone.img" /dev/zero || fail "the clone lost its parent's data"
ctl_ok '"op":"flatten","image":"f-clone"'
assert_contains "$LAST_OUT" '"purged":1'     # the trashed parent nothing needs any more
ctl_ok "\"op\":\"trash-remove\",\"id\":\"$trash_id\""
assert_eq "$(rbd_cli trash ls "$CEPH_POOL" | grep -c " f$" || true)" 0 "f in the trash after trash-remove"
assert_eq "$(rbd_cli trash ls "$CEPH_POOL" | grep -c " other$" || true)" 1 "someone else's trashed image kept"
rbd_cli trash rm "$CEPH_POOL/$(rbd_cli trash ls "$CEPH_POOL" | awk '$2 == "other" {print $1}')" >/dev/null || fail "trash rm other"
ctl_ok '"op":"remove","image":"f-clone"'
ctl_ok '"op":"remove","image":"b"'
assert_eq "$(rbd_cli ls "$CEPH_POOL" | wc -l)" 0 "images left"
