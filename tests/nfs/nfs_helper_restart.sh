#!/bin/bash
# tests/nfs/nfs_helper_restart.sh — the userspace mounter's helper outlives pvctl (its own
# session), is re-adopted by reconciliation (what pvnode runs at start-up), and, when it
# was killed, is restarted by reconciliation on the same staging path with the publish
# targets bound to the new mount again, data intact.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

helper_pid() {
	pgrep -f "pvnode-nfs-fuse .*--mountpoint $T/state1/staging/app" | head -n1
}

nfs_spec app 5555 >"$T/specs/app.json"
pv1 create -f "$T/specs/app.json" && pv1 stage app || nfs_fail "create/stage"
pv1 publish app "$T/targets/app" >/dev/null || nfs_fail "publish"
pv1 publish --readonly app "$T/targets/app-ro" >/dev/null || nfs_fail "publish ro"
echo before >"$T/targets/app/f"
pid=$(helper_pid)
[ -n "$pid" ] || nfs_fail "no helper running after pvctl exited"
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] || nfs_fail "helper $pid is not a session leader"
nfs_ok "helper $pid outlives pvctl in its own session"

pv1 reconcile >"$T/rec1" 2>&1 || { cat "$T/rec1"; nfs_fail "reconcile (alive)"; }
grep -q "re-adopted helper pid $pid" "$T/rec1" || nfs_fail "reconcile did not re-adopt: $(cat "$T/rec1")"
[ "$(helper_pid)" = "$pid" ] || nfs_fail "reconcile replaced a live helper"
nfs_ok "reconcile re-adopts the live helper: $(grep app "$T/rec1" | head -n1)"

kill -KILL "$pid"
for _ in $(seq 50); do [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break; sleep 0.05; done
if cat "$T/targets/app/f" 2>"$T/err"; then nfs_fail "volume still readable with its helper killed"; fi
grep -q "not connected" "$T/err" || nfs_fail "dead helper: unexpected error $(cat "$T/err")"
nfs_ok "killed helper: target answers 'Transport endpoint is not connected'"

pv1 reconcile >"$T/rec2" 2>&1 || true
grep -q "restarted" "$T/rec2" || { cat "$T/rec2"; nfs_fail "reconcile did not restart the helper"; }
new=$(helper_pid)
[ -n "$new" ] && [ "$new" != "$pid" ] || nfs_fail "no new helper"
[ "$(cat "$T/state1/staging/app/f")" = before ] || nfs_fail "staging mount broken after restart"
[ "$(cat "$T/targets/app/f")" = before ] || nfs_fail "publish target not restored after restart"
echo after >"$T/targets/app/g" || nfs_fail "target not writable after restart"
[ "$(cat "$T/targets/app-ro/g")" = after ] || nfs_fail "ro target not restored"
if sh -c "echo x >'$T/targets/app-ro/h'" 2>/dev/null; then nfs_fail "ro target became writable"; fi
nfs_ok "reconcile restarted the helper (pid $new); both targets work again, ro stays ro"

pv1 reconcile >"$T/rec3" 2>&1 || { cat "$T/rec3"; nfs_fail "reconcile after restart"; }

# The same with the daemon: pvnode reconciles at start-up.
if [ -x "${PVNODE:-}" ]; then
	start_pvnode() { # LOG
		nsenter --net="/proc/$NFS_NS_PID/ns/net" -- "$PVNODE" --endpoint "unix://$T/csi.sock" \
			--node-id node-1 --state-dir "$T/state1" --allowed-path "$T" >"$1" 2>&1 &
		PVNODE_PID=$!
		NFS_TEST_PIDS="${NFS_TEST_PIDS:-} $PVNODE_PID"
		for _ in $(seq 200); do grep -q "volume app" "$1" 2>/dev/null && return 0; sleep 0.05; done
		cat "$1"; nfs_fail "pvnode did not reconcile at start"
	}
	pid=$(helper_pid)
	start_pvnode "$T/pvnode1.log"
	grep -q "re-adopted helper pid $pid" "$T/pvnode1.log" || nfs_fail "pvnode did not re-adopt: $(cat "$T/pvnode1.log")"
	kill -KILL "$PVNODE_PID"; wait "$PVNODE_PID" 2>/dev/null || true
	[ "$(cat "$T/targets/app/g")" = after ] || nfs_fail "volume broken after pvnode was killed"
	[ "$(helper_pid)" = "$pid" ] || nfs_fail "helper died with pvnode"
	nfs_ok "pvnode re-adopts helper $pid at start; killing pvnode leaves the volume working"
	kill -KILL "$pid"
	sleep 0.2
	start_pvnode "$T/pvnode2.log"
	grep -q "restarted" "$T/pvnode2.log" || nfs_fail "pvnode did not restart the helper: $(cat "$T/pvnode2.log")"
	[ "$(cat "$T/targets/app/g")" = after ] || nfs_fail "target broken after pvnode restarted the helper"
	kill -TERM "$PVNODE_PID"; wait "$PVNODE_PID" 2>/dev/null || true
	nfs_ok "pvnode started after the helper was killed restarts it (pid $(helper_pid)); target works"
	# While serving: a helper that dies under a published volume is restarted within one
	# reconcile interval, with no call from the orchestrator.
	nsenter --net="/proc/$NFS_NS_PID/ns/net" -- "$PVNODE" --endpoint "unix://$T/csi.sock" \
		--node-id node-1 --state-dir "$T/state1" --allowed-path "$T" --reconcile-interval 1 >"$T/pvnode3.log" 2>&1 &
	PVNODE_PID=$!
	NFS_TEST_PIDS="${NFS_TEST_PIDS:-} $PVNODE_PID"
	for _ in $(seq 200); do grep -q "volume app" "$T/pvnode3.log" 2>/dev/null && break; sleep 0.05; done
	pid=$(helper_pid)
	kill -KILL "$pid"
	ok=
	for _ in $(seq 100); do
		new=$(helper_pid || true)
		if [ -n "$new" ] && [ "$new" != "$pid" ] && [ "$(cat "$T/targets/app/g" 2>/dev/null)" = after ]; then ok=1; break; fi
		sleep 0.1
	done
	[ -n "$ok" ] || { cat "$T/pvnode3.log"; nfs_fail "a running pvnode did not restart the dead helper"; }
	grep -q "had died and was restarted" "$T/pvnode3.log" || nfs_fail "restart not logged"
	kill -TERM "$PVNODE_PID"; wait "$PVNODE_PID" 2>/dev/null || true
	nfs_ok "a running pvnode restarts a helper killed under a published volume within its reconcile interval"
fi
pv1 unpublish app "$T/targets/app" && pv1 unpublish app "$T/targets/app-ro" && pv1 unstage app ||
	nfs_fail "teardown"
[ -z "$(helper_pid)" ] || nfs_fail "helper left after unstage"
grep -q "$T/" /proc/self/mountinfo && nfs_fail "mounts left"
nfs_ok "teardown after a restart leaves nothing"
echo PASS
