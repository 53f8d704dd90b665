#!/bin/bash
# tests/rbd/outage_probe.sh — the idle probe's own paths, with pvnode-rbd-fuse by hand:
# a round's stats still out at their deadline are cancelled and count as no answer
# (state down, then up again once the OSD runs), and SIGTERM while a round is out
# cancels its stats and waits for them (the sanitizer build checks that no callback
# touches the freed helper; exit 0). Fault-injection builds only:
# PVNODE_FAULT=rbd-probe-cancel makes the deadline 1 s, before librados ends a stat.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ceph.sh"
. "$(dirname "$0")/../lib/rbd.sh"
"$PVCTL" --version | grep -q "fault injection" || { echo "not a fault-injection build"; exit 77; }
ceph_start || fail "ceph_start"
rbd_ctl '"op":"create","image":"vol","size":67108864' >/dev/null || fail "create"
state() { status_get "$HELPER_STATUS" state; }
wait_state() {   # STATE SECONDS
	for _ in $(seq 1 $(($2 * 2))); do [ "$(state)" = "$1" ] && return 0; sleep 0.5; done
	fail "state $(state) ($(status_get "$HELPER_STATUS" why)), not $1 within $2 s"
}

step "a stat still out at its deadline is cancelled: no answer, down; up again after"
PVNODE_FAULT=rbd-probe-cancel helper_start vol --exclusive --node-id node-a --osd-timeout 5 --mon-timeout 5 ||
	fail "helper: $HELPER_LINE"
P=$HELPER_PID LOG=$(dirname "$HELPER_MNT")/log
sleep 12   # one round answered (10 s idle)
assert_eq "$(state)" up "state while idle"
kill -STOP "$CEPH_OSD_PID"
wait_state down 25
kill -CONT "$CEPH_OSD_PID"
grep -q "idle probe's stat of .* cancelled" "$LOG" || fail "no stat was cancelled: $(tail -n 5 "$LOG")"
assert_contains "$(grep -h 'idle probe: no object' "$LOG")" "no object of the image answered" "why"
wait_state up 30
helper_stop "$P" || fail "helper exit status $?"

step "SIGTERM with a round out: its stats cancelled and waited for"
helper_start vol --exclusive --node-id node-a --osd-timeout 30 --mon-timeout 5 || fail "helper: $HELPER_LINE"
P=$HELPER_PID LOG=$(dirname "$HELPER_MNT")/log
sleep 12
kill -STOP "$CEPH_OSD_PID"
sleep 11   # a round is sent within 10 s and stays out (osdTimeout 30)
kill -TERM "$P"
sleep 2
kill -CONT "$CEPH_OSD_PID"
rc=0; wait "$P" || rc=$?
assert_eq "$rc" 0 "helper exit status after SIGTERM with stats out"
grep -q "stopping: the idle probe's stat of .* cancelled" "$LOG" || fail "no stat was out at SIGTERM: $(tail -n 5 "$LOG")"
echo "$(grep -c "stopping: the idle probe's stat" "$LOG") stats cancelled at SIGTERM"
