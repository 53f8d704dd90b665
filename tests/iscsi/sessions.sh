#!/bin/bash
# tests/iscsi/sessions.sh — one volume over three sessions (attribute sessions=3), each
# registered with the node's key under WRITE EXCLUSIVE – REGISTRANTS ONLY:
#   1. three I_T nexuses of node a's initiator on tgtd, three registrations of its key, one
#      reservation (type 5, a's key); fsx-style random I/O with verification at depth
#      (requests up to 1 MiB, split into several commands) spread over the sessions,
#      while one session's connection is dropped: it logs in again, registers, and the
#      data stays exact;
#   1b. tgtd restarted under a writer (registrations and reservation are gone with it):
#      every session logs in again, one of them takes the reservation back, the others
#      register; the data written across the outage is intact;
#   2. the helper killed and restarted by reconcile: again exactly three nexuses and three
#      registrations (the dead helper's sessions leave nothing behind);
#   3. node b preempts a's key (fence-release --node a) and stages while a keeps writing
#      at depth: a's writes fail, its status says fenced, and not one byte of the LUN image
#      changes after the takeover — also not after every connection of a is dropped;
#   4. the same with a idle at the takeover, then every connection of a dropped: each
#      session logs in again, registers, must find b's reservation and stay out (a
#      registrant may write under this type: a session that did not check would), and
#      a writer started on a afterwards changes nothing;
#   5. unstage on both nodes leaves no registration and no session behind.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init sessions
RAWIO=${ISCSI_RAWIO:-$(dirname "$PVCTL")/tests/iscsi/iscsi_rawio}
FSX=${ISCSI_FSX:-$(dirname "$PVCTL")/tests/iscsi/fsx_qd}
[ -x "$RAWIO" ] && [ -x "$FSX" ] || fail "no iscsi_rawio / fsx_qd"
command -v fio >/dev/null || { echo "SKIP: fio is missing"; exit 77; }
IQN=iqn.2026-11.io.pvnode.test:sessions
N=3
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M || fail "tgt setup"
for n in a b; do
	printf '{"name":"vol","driver":"iscsi","capacity":"256Mi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"1","sessions":"%s","ioTimeout":"5"}}\n' \
		"$TGT_PORTAL" $IQN $N | pvn $n create -f - >/dev/null || fail "create on $n"
done
device() { pvn "$1" describe vol | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p'; }
helper() { pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/$1/run/vol/"; }
status() { tr '\n' ' ' < "$T/$1/run/vol/helper.status" 2>/dev/null; }
# I_T nexuses of node $1's initiator on tgtd; sessions ids of them
nexuses() { tgt_adm --op show --mode target | grep -c "Initiator: iqn.2026-11.io.pvnode:$1 "; }
sids() {
	tgt_adm --op show --mode target | awk -v i="iqn.2026-11.io.pvnode:$1" \
		'/I_T nexus:/ { s = $3 } $1 == "Initiator:" && $2 == i { print s }'
}
keys() { "$RAWIO" keys "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:test | grep -c "^$1\$"; }
reservation() { "$RAWIO" reservation "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:test; }
# wait up to 10 s for "$@" to succeed
eventually() { local i; for i in $(seq 1 50); do "$@" && return 0; sleep 0.2; done; "$@"; }
count_is() { [ "$("$1" "$2")" = "$3" ]; }

pvn a stage vol || fail "stage on a"
key_a=$(pvn a describe vol | sed -n 's/^  Fence: *\([0-9a-f]\{16\}\)$/\1/p')
[ -n "$key_a" ] || fail "no fence key on a"
pvn a describe vol | grep -q "$N sessions, reserved (write exclusive, registrants only)" || fail "describe: $(pvn a describe vol)"
eventually count_is nexuses a $N || fail "a has $(nexuses a) sessions on the target, want $N"
[ "$(keys $key_a)" = $N ] || fail "$(keys $key_a) registrations of a's key, want $N"
[ "$(reservation)" = "$key_a type 5" ] || fail "reservation: $(reservation), want $key_a type 5"
status a | grep -q "sessions=$N sessions_up=$N" || fail "status: $(status a)"

# 1. verification at depth, requests up to 1 MiB; one connection dropped meanwhile
dev=$(device a); [ -b "$dev" ] || fail "no device on a"
FSX_MAX_BLOCKS=256 timeout 240 "$FSX" fsx "$dev" 128 4 8 1500 $$ &
fsx=$!
sleep 1
sid=$(sids a | head -1)
tgt_adm --op delete --mode connection --tid 1 --sid "$sid" --cid 0 || fail "cannot drop session $sid"
wait $fsx || fail "fsx over $N sessions with a dropped connection"
eventually count_is nexuses a $N || fail "after the drop: $(nexuses a) sessions, want $N"
status a | grep -q "state=up .*sessions_up=$N" || fail "after the drop: $(status a)"
echo "1: fsx over $N sessions with a reconnect: ok ($(keys $key_a) registrations, the lost one's among them)"

# 1b. tgtd restarts under a writer
head -c 20000000 /dev/urandom > "$T/src"
dd if="$T/src" of="$dev" bs=1M oflag=direct status=none &
w=$!
sleep 0.2
port=$TGT_PORT
tgt_kill
sleep 1
TGT_PORT_FIXED=$port tgt_start "$T" && tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M || fail "tgtd restart"
wait $w || fail "writer failed across a short target restart"
cmp -n 20000000 "$T/src" "$dev" || fail "data differs after the target restart"
eventually count_is nexuses a $N || fail "after the restart: $(nexuses a) sessions, want $N"
[ "$(keys $key_a)" = $N ] || fail "after the restart: $(keys $key_a) registrations of a's key, want $N"
[ "$(reservation)" = "$key_a type 5" ] || fail "after the restart: reservation $(reservation)"
echo "1b: target restart under a writer: $N sessions back, data intact"

# 2. killed helper, reconcile restarts it: nothing of the dead one's sessions stays
kill -9 "$(helper a)" || fail "no helper on a"
sleep 0.3
pvn a reconcile >/dev/null 2>&1
pvn a describe vol | grep -q "Condition:    healthy" || fail "not healthy after reconcile: $(pvn a describe vol)"
eventually count_is nexuses a $N || fail "after reconcile: $(nexuses a) sessions of a, want $N"
[ "$(keys $key_a)" = $N ] || fail "after reconcile: $(keys $key_a) registrations of a's key, want $N (leaked)"
[ "$(reservation)" = "$key_a type 5" ] || fail "after reconcile: reservation $(reservation)"
echo "2: reconcile after a killed helper: $N sessions, $N registrations"

# 3. b takes over while a writes at depth; nothing of a lands afterwards
dev=$(device a)
fio --name=w --filename="$dev" --rw=randwrite --bs=64k --iodepth=16 --direct=1 --ioengine=libaio \
	--size=128M --time_based --runtime=25 --continue_on_error=all >"$T/fio.out" 2>&1 &
writer=$!
sleep 1
pvn b fence-release vol --node a || fail "fence-release of a by b"
pvn b stage vol || fail "stage on b after the preempt"
key_b=$(pvn b describe vol | sed -n 's/^  Fence: *\([0-9a-f]\{16\}\)$/\1/p')
[ "$(reservation)" = "$key_b type 5" ] || fail "reservation after the takeover: $(reservation)"
[ "$(keys $key_a)" = 0 ] || fail "a's key still registered $(keys $key_a) times after the preempt"
sleep 1     # writes the target took before the preempt are on the file by now
sum1=$(md5sum < "$T/lun.img")
eventually grep -q "state=fenced" "$T/a/run/vol/helper.status" || fail "a not fenced: $(status a)"
# every connection of a dropped: each session logs in again and must stay out
for sid in $(sids a); do tgt_adm --op delete --mode connection --tid 1 --sid "$sid" --cid 0; done
sleep 3
sum2=$(md5sum < "$T/lun.img")
[ "$sum1" = "$sum2" ] || fail "a wrote to the LUN after b took it over"
[ "$(keys $key_a)" = 0 ] || fail "a registered its key again after being fenced ($(keys $key_a))"
[ "$(reservation)" = "$key_b type 5" ] || fail "reservation moved: $(reservation)"
kill -0 $writer 2>/dev/null || fail "the writer on a ended early: $(tail -5 "$T/fio.out")"
kill $writer 2>/dev/null; wait $writer 2>/dev/null
dd if=/dev/urandom of="$(device b)" bs=64k count=16 oflag=direct status=none || fail "b cannot write"
[ "$(md5sum < "$T/lun.img")" != "$sum2" ] || fail "b's write did not show in the image (the check is blind)"
echo "3: preempt by b: a fenced on all $N sessions, no write of a after the takeover"

# 4. a idle at the takeover; its sessions log in again afterwards
pvn b unstage vol >/dev/null || fail "unstage on b"
timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off unstage vol >/dev/null || fail "unstage of a's fenced stage"
pvn a stage vol >/dev/null || fail "stage on a again"
eventually count_is nexuses a $N || fail "a has $(nexuses a) sessions, want $N"
pvn b fence-release vol --node a && pvn b stage vol >/dev/null || fail "takeover of an idle a by b"
sum1=$(md5sum < "$T/lun.img")
for sid in $(sids a); do tgt_adm --op delete --mode connection --tid 1 --sid "$sid" --cid 0; done
sleep 2.5   # every session tried to log in again
sleep 1
timeout 30 fio --name=w --filename="$(device a)" --rw=randwrite --bs=64k --iodepth=16 --direct=1 --ioengine=libaio \
	--size=128M --time_based --runtime=3 --continue_on_error=all >"$T/fio.out" 2>&1
[ "$(md5sum < "$T/lun.img")" = "$sum1" ] || fail "a wrote to the LUN after b took it over (idle a, sessions logged in again)"
grep -q "state=fenced" "$T/a/run/vol/helper.status" || fail "a's sessions logged in again and did not see b's reservation: $(status a)"
[ "$(keys $key_a)" = 0 ] || fail "a's sessions stay registered after logging in again ($(keys $key_a))"
[ "$(reservation)" = "$key_b type 5" ] || fail "reservation moved: $(reservation)"
echo "4: idle a, sessions logged in again after the takeover: fenced, no write"

# 5. nothing left behind
pvn b unstage vol >/dev/null || fail "unstage on b"
timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off unstage vol >/dev/null || fail "unstage of a's fenced stage"
eventually count_is nexuses a 0 || fail "a's sessions stay on the target: $(nexuses a)"
eventually count_is nexuses b 0 || fail "b's sessions stay on the target: $(nexuses b)"
[ "$("$RAWIO" keys "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:test | wc -l)" = 0 ] || fail "registrations left: $("$RAWIO" keys "$TGT_PORTAL" $IQN 1 iqn.2026-11.io.pvnode:test)"
[ "$(reservation)" = none ] || fail "reservation left: $(reservation)"
echo "sessions: ok"
