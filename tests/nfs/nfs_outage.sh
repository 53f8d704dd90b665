#!/bin/bash
# tests/nfs/nfs_outage.sh — a server outage longer than the timeout: calls through the
# userspace mount fail with an error after a bounded time (never hang), describe reports
# the volume abnormal, and everything works again once ganesha is back, without
# restaging. The PV asks for a 2 s RPC timeout with mountOptions ["timeo=20"].
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

nfs_spec db "" "" '"mountOptions": ["timeo=20"],' >"$T/specs/db.json"
pv1 create -f "$T/specs/db.json" && pv1 stage db || nfs_fail "create/stage"
pv1 publish db "$T/targets/db" >/dev/null || nfs_fail "publish"
echo before >"$T/targets/db/f"

nfs_server_stop || nfs_fail "cannot stop ganesha"
sleep 1.5  # longer than the attribute cache
for op in "cat $T/targets/db/f" "ls $T/targets/db" "sh -c 'echo x >$T/targets/db/new'" "stat $T/targets/db/f"; do
	start=$(date +%s%N)
	rc=0
	timeout 30 sh -c "$op" >/dev/null 2>"$T/err" || rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ $rc -ne 0 ] || nfs_fail "'$op' succeeded with the server down"
	[ $rc -ne 124 ] || nfs_fail "'$op' hung (killed after 30 s)"
	[ $ms -lt 15000 ] || nfs_fail "'$op' took $ms ms"
	echo "   '$op' failed after $ms ms: $(head -c 200 "$T/err")"
done
nfs_ok "server down: calls fail cleanly within the timeout"

start=$(date +%s%N)
timeout 30 "$PVCTL" --state-dir "$T/state1" --node-id node-1 --allowed-path "$T" describe db >"$T/desc" 2>&1 || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $ms -lt 15000 ] || nfs_fail "describe took $ms ms during the outage"
if grep -qiE "abnormal|does not answer" "$T/desc"; then
	nfs_ok "describe during the outage ($ms ms) reports: $(grep -iE 'abnormal|does not answer' "$T/desc" | head -n1)"
else
	echo "   note: describe does not show the volume condition: $(tr '\n' ' ' <"$T/desc" | head -c 300)"
fi

nfs_server_start || nfs_fail "cannot restart ganesha"
ok=
for _ in $(seq 40); do
	if [ "$(cat "$T/targets/db/f" 2>/dev/null)" = before ]; then ok=1; break; fi
	sleep 0.25
done
[ -n "$ok" ] || nfs_fail "volume did not recover after the server came back: $(cat "$T/targets/db/f" 2>&1)"
echo after >"$T/targets/db/g" || nfs_fail "write after recovery"
[ "$(cat "$NFS_RW_DIR/db/g")" = after ] || nfs_fail "write after recovery did not reach the export"
nfs_ok "server back: reads and writes work again without restaging"

# A frozen server (connections stay open, nothing answers): still bounded.
nfs_server_freeze
sleep 1.5
for op in "cat $T/targets/db/f" "sh -c 'echo y >$T/targets/db/h'"; do
	start=$(date +%s%N)
	rc=0
	timeout 60 sh -c "$op" >/dev/null 2>"$T/err" || rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ $rc -ne 0 ] || nfs_fail "'$op' succeeded with the server frozen"
	[ $rc -ne 124 ] || nfs_fail "'$op' hung with the server frozen"
	[ $ms -lt 20000 ] || nfs_fail "'$op' took $ms ms with the server frozen"
	echo "   frozen: '$op' failed after $ms ms: $(head -c 200 "$T/err")"
done
nfs_server_thaw
ok=
for _ in $(seq 60); do
	if [ "$(cat "$T/targets/db/g" 2>/dev/null)" = after ]; then ok=1; break; fi
	sleep 0.25
done
[ -n "$ok" ] || nfs_fail "volume did not recover after the server thawed"
nfs_ok "frozen server: calls fail within the timeout, recover after it thaws"
pv1 unpublish db "$T/targets/db" && pv1 unstage db || nfs_fail "teardown"
echo PASS
