#!/bin/bash
# tests/iscsi/outage.sh — the target goes away under a writer.
#   1. tgtd restarted within ioTimeout: the helper logs in again, takes its reservation
#      back, and the writer finishes with intact data.
#   2. tgtd hangs (SIGSTOP) past ioTimeout: the writer fails in bounded time, the session
#      comes back after SIGCONT.
#   3. tgtd killed for good mid-write: the writer gets an error within ioTimeout (+ slack),
#      nothing hangs in D state, describe reports the session down, and unpublish/unstage
#      still clean up everything.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init outage
IQN=iqn.2026-11.io.pvnode.test:outage
IOT=5
setup_target() { tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M && tgt_add_lun 1 2 "$T/raw.img" 64M; }
setup_target || fail "tgt setup"
iscsi_pv vol $IQN 1 ReadWriteOnce "" ",\"ioTimeout\":\"$IOT\",\"loginTimeout\":\"2\"" | pvn a create -f - >/dev/null || fail "create"
printf '{"name":"raw","driver":"iscsi","capacity":"64Mi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"2","ioTimeout":"%s","loginTimeout":"2"}}\n' \
	"$TGT_PORTAL" $IQN $IOT | pvn a create -f - >/dev/null || fail "create raw"
mkdir -p "$T/p"
pvn a stage vol && pvn a publish vol "$T/p" || fail "stage/publish"

# 1. a short outage: I/O resumes
head -c 30000000 /dev/urandom > "$T/src"
dd if="$T/src" of="$T/p/f1" bs=1M oflag=direct status=none &
w=$!
sleep 0.2
port=$TGT_PORT
tgt_kill
sleep 2
TGT_PORT_FIXED=$port tgt_start "$T" && setup_target || fail "tgtd restart"
wait $w || fail "writer failed across a ${IOT}s-bounded outage of 2 s"
sync "$T/p/f1"
cmp "$T/src" "$T/p/f1" || fail "data differs after the outage"
pvn a describe vol | grep -q "Condition:    healthy" || fail "not healthy after recovery: $(pvn a describe vol)"
tgt_adm --op show --mode target | grep -q "Initiator: iqn.2026-11.io.pvnode:a" || fail "no new session"
echo "short outage: writer finished, data intact"

# 2. the target hangs (SIGSTOP: connections stay open, nothing answers) longer than
#    ioTimeout: the writer gets an error in bounded time; after SIGCONT the session
#    comes back by itself
pvn a stage raw || fail "stage raw"
rawdev=$(pvn a describe raw | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p')
dd if=/dev/zero of="$rawdev" bs=4k count=15000 oflag=direct status=none 2>"$T/dd3.err" &
w=$!
sleep 0.3
start=$(date +%s)
kill -STOP $TGT_PID
wait $w; rc=$?
took=$(( $(date +%s) - start ))
kill -CONT $TGT_PID
[ $rc != 0 ] || fail "writer succeeded against a hung target"
[ $took -le $((2 * IOT + 5)) ] || fail "writer needed $took s to fail against a hung target (ioTimeout $IOT)"
echo "hung target: writer failed after $took s: $(head -1 "$T/dd3.err")"
for i in $(seq 1 40); do pvn a describe raw | grep -q "Condition:    healthy" && break; sleep 0.5; done
pvn a describe raw | grep -q "Condition:    healthy" || fail "session did not come back after SIGCONT: $(pvn a describe raw)"
dd if=/dev/zero of="$rawdev" bs=1M count=4 oflag=direct status=none || fail "raw volume unusable after SIGCONT"
pvn a unstage raw || fail "unstage raw"
pvn a describe vol | grep -q "Condition:    healthy" || fail "vol not healthy after the hang: $(pvn a describe vol)"
echo "hung target: session back after SIGCONT, I/O works again"

# 3. the target dies for good
dd if=/dev/zero of="$T/p/f2" bs=4k count=40000 oflag=direct status=none 2>"$T/dd.err" &
w=$!
sleep 0.3
start=$(date +%s)
tgt_kill
wait $w; rc=$?
took=$(( $(date +%s) - start ))
[ $rc != 0 ] || fail "writer succeeded against a dead target"
[ $took -le $((IOT + 10)) ] || fail "writer needed $took s to fail (ioTimeout $IOT)"
echo "writer failed after $took s: $(head -1 "$T/dd.err")"
ps -eo stat,cmd | grep -v grep | grep "^D" | grep -q "$T" && fail "a process is stuck in D state"
pvn a describe vol | grep -q "Condition:    .*down" || fail "describe does not report the session down: $(pvn a describe vol)"
timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off unpublish vol "$T/p" || fail "unpublish after outage"
timeout 60 "$PVCTL" --state-dir "$T/a" --node-id a --allowed-path "$T" --selinux off unstage vol || fail "unstage after outage"
pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/" >/dev/null && fail "helper left behind"
awk -v t="$T/" 'index($2, t) == 1' /proc/self/mounts | grep -q . && fail "mounts left behind"
echo "outage: ok"
