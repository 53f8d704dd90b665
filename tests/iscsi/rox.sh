#!/bin/bash
# tests/iscsi/rox.sh — ReadOnlyMany on two nodes at once: both read the same data,
# neither can write (read-only mount over a read-only loop device over a read-only FUSE
# file over a session that registered no reservation key).
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init rox
IQN=iqn.2026-11.io.pvnode.test:rox
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M || fail "tgt setup"
for n in a b; do
	iscsi_pv media $IQN 1 ReadWriteOnce | sed 's/"accessModes":\["ReadWriteOnce"\]/"accessModes":["ReadWriteOnce","ReadOnlyMany"]/' |
		pvn $n create -f - >/dev/null || fail "create on $n"
done
mkdir -p "$T/pa" "$T/pb"
# fill it once, read-write
pvn a stage media --access-mode RWO || fail "rw stage"
pvn a publish media "$T/pa" --access-mode RWO || fail "rw publish"
head -c 5000000 /dev/urandom > "$T/pa/blob" && sync || fail "write"
sum=$(md5sum < "$T/pa/blob")
pvn a unpublish media "$T/pa" && pvn a unstage media || fail "rw unpublish/unstage"

for n in a b; do
	pvn $n stage media --access-mode ROX || fail "ROX stage on $n"
	pvn $n publish media "$T/p$n" --access-mode ROX || fail "ROX publish on $n"
done
for n in a b; do
	[ "$(md5sum < "$T/p$n/blob")" = "$sum" ] || fail "node $n reads different data"
	touch "$T/p$n/new" 2>/dev/null && fail "node $n could write to a ROX volume"
	dev=$(pvn $n describe media | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
	[ "$(blockdev --getro "$dev")" = 1 ] || fail "node $n: $dev is not read-only"
	pvn $n describe media | grep -q "Fence:        none" || fail "node $n registered a fence for ROX"
done
tgt_adm --op show --mode target | grep -c "Initiator: iqn.2026-11.io.pvnode" | grep -q 2 || fail "expected two sessions"
for n in a b; do pvn $n unpublish media "$T/p$n" && pvn $n unstage media || fail "ROX teardown on $n"; done
echo "rox: ok"
