#!/bin/bash
# tests/iscsi/expand.sh — the LUN grows on the target; `pvctl expand` checks the new
# capacity over iSCSI, the helper re-reads it, the loop device and ext4 follow, data stays.
# Asking for more than the LUN holds is refused (exit 2) naming the LUN's size.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init expand
IQN=iqn.2026-11.io.pvnode.test:grow
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 128M || fail "tgt setup"
PV_CAPACITY=128Mi
iscsi_pv g $IQN 1 | pvn a create -f - >/dev/null || fail "create"
mkdir -p "$T/p"
pvn a stage g && pvn a publish g "$T/p" || fail "stage/publish"
echo keep > "$T/p/f" && sync
before=$(df -B1 --output=size "$T/p" | tail -1)
out=$(pvn a expand g --capacity 256Mi 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "grow the LUN on the target first" || fail "expand beyond the LUN: exit $rc ($out)"
# grow the LUN: tgt re-reads the size when the logical unit is re-created
truncate -s 256M "$T/lun.img"
tgt_adm --op delete --mode logicalunit --tid 1 --lun 1 && tgt_adm --op new --mode logicalunit --tid 1 --lun 1 -b "$T/lun.img" || fail "tgt grow"
out=$(pvn a expand g --capacity 256Mi 2>&1); rc=$?
dev=$(pvn a describe g | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
[ "$(blockdev --getsize64 "$dev")" = 268435456 ] || fail "the loop device did not grow: $(blockdev --getsize64 "$dev") ($out)"
if [ $rc != 0 ] && echo "$out" | grep -q CAP_SYS_RESOURCE; then
	# this machine withholds CAP_SYS_RESOURCE: ext4 refuses online growth, the device grew
	echo "device grew to 256Mi; online ext4 resize needs CAP_SYS_RESOURCE (absent here)"
else
	[ $rc = 0 ] || fail "expand: $out"
	after=$(df -B1 --output=size "$T/p" | tail -1)
	[ "$after" -gt $((before + 100 * 1024 * 1024)) ] || fail "filesystem did not grow: $before → $after"
	dd if=/dev/zero of="$T/p/big" bs=1M count=150 conv=fsync status=none || fail "cannot use the new space"
	echo "grew $before → $after bytes"
fi
[ "$(cat "$T/p/f")" = keep ] || fail "data lost"
pvn a unpublish g "$T/p" && pvn a unstage g || fail "teardown"
echo "expand: ok"
