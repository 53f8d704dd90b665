#!/bin/bash
# tests/iscsi/helper_killed.sh — the userspace helper dies (SIGKILL): describe reports the
# volume abnormal, reconcile names the problem, I/O fails instead of hanging, and
# unpublish + unstage + stage + publish restores the volume with its data. A staged but
# unused volume (volumeMode Block, not published) is restarted in place by reconcile.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init helper
IQN=iqn.2026-11.io.pvnode.test:helper
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M && tgt_add_lun 1 2 "$T/lun2.img" 64M || fail "tgt setup"
iscsi_pv vol $IQN 1 | pvn a create -f - >/dev/null || fail "create"
mkdir -p "$T/p"
pvn a stage vol && pvn a publish vol "$T/p" || fail "stage/publish"
echo "precious" > "$T/p/keep" && sync "$T/p/keep"
pid=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/vol/") || fail "no helper"
kill -9 $pid
sleep 0.3
pvn a describe vol | grep -q "Condition:    .*helper.*not running" || fail "describe does not report the dead helper: $(pvn a describe vol)"
timeout 20 dd if=/dev/zero of="$T/p/x" bs=1M count=5 oflag=direct status=none 2>/dev/null && fail "write succeeded with a dead helper"
[ $? = 124 ] && fail "write hung with a dead helper"
timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off reconcile > "$T/rec.txt" 2>&1
grep -q "vol" "$T/rec.txt" || fail "reconcile says nothing about vol: $(cat $T/rec.txt)"
cat "$T/rec.txt"
pvn a unpublish vol "$T/p" && pvn a unstage vol || fail "teardown with a dead helper"
pvn a stage vol && pvn a publish vol "$T/p" || fail "stage again"
[ "$(cat "$T/p/keep")" = precious ] || fail "data lost"
pvn a describe vol | grep -q "Condition:    healthy" || fail "not healthy after stage again"
pvn a unpublish vol "$T/p" && pvn a unstage vol || fail "final teardown"

# staged, not in use: reconcile restarts the helper in place (new session, own key preempted)
printf '{"name":"raw","driver":"iscsi","capacity":"64Mi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"2"}}\n' \
	"$TGT_PORTAL" $IQN | pvn a create -f - >/dev/null || fail "create raw"
pvn a stage raw || fail "stage raw"
pid=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/raw/") || fail "no raw helper"
kill -9 $pid; sleep 0.3
pvn a reconcile || true
pvn a describe raw | grep -q "Condition:    healthy" || fail "raw not healthy after reconcile: $(pvn a describe raw)"
dev=$(pvn a describe raw | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
dd if=/dev/zero of="$dev" bs=1M count=4 oflag=direct status=none || fail "write to restarted raw volume"
pvn a unstage raw || fail "unstage raw"
echo "helper_killed: ok"
