#!/bin/bash
# tests/nfs/nfs_csi.sh — the NFS driver through pvnode's CSI services with a real gRPC
# client (csi_call): CreateVolume with driver=nfs makes the directory (gid, 2770),
# NodeStage from the volume_context alone starts the userspace mounter, NodePublish,
# data through it, NodeGetVolumeStats, teardown, DeleteVolume removes the directory;
# a traversal in subDir is INVALID_ARGUMENT.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
[ -x "${PVNODE:-}" ] || nfs_skip "pvnode not built"
[ -x "${CSI_CALL:-}" ] || nfs_skip "csi_call not built"
nfs_test_setup "$@"

EP="unix://$T/csi.sock"
nsenter --net="/proc/$NFS_NS_PID/ns/net" -- "$PVNODE" --endpoint "$EP" --node-id node-a \
	--state-dir "$T/state1" --allowed-path "$T" --selinux off >"$T/pvnode.log" 2>&1 &
PVNODE_PID=$!
NFS_TEST_PIDS="$PVNODE_PID"
for _ in $(seq 200); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
"$CSI_CALL" "$EP" Probe >/dev/null || { cat "$T/pvnode.log"; nfs_fail "pvnode did not start"; }

call() { # STATUS METHOD ARGS...
	local want=$1 rc=0
	shift
	OUT=$("$CSI_CALL" "$EP" "$@" 2>"$T/call.err") || rc=$?
	ERR=$(cat "$T/call.err")
	local st=${ERR%%:*}
	[ -n "$ERR" ] || st=OK
	[ "$st" = "$want" ] || { tail -n 20 "$T/pvnode.log"; nfs_fail "$1: want $want, got ${ERR:-OK} $OUT"; }
}
CAP="volume_capability.mount.fs_type= volume_capability.access_mode.mode=MULTI_NODE_MULTI_WRITER"
PARAMS="parameters.driver=nfs parameters.server=$NFS_SERVER parameters.share=$NFS_RW_SHARE parameters.mounter=userspace parameters.gid=5555"

for _ in 1 2; do
	call OK CreateVolume name=shared1 capacity_range.required_bytes=$((1 << 30)) \
		"volume_capabilities[0].mount.fs_type=" \
		"volume_capabilities[0].access_mode.mode=MULTI_NODE_MULTI_WRITER" $PARAMS
done
[ "$(stat -c %g:%a "$NFS_RW_DIR/shared1")" = "5555:2770" ] || nfs_fail "CreateVolume dir: $(stat -c %g:%a "$NFS_RW_DIR/shared1")"
CTX=$(python3 -c 'import json,sys
v=json.loads(sys.argv[1])["volume"]
print(" ".join("volume_context.%s=%s" % kv for kv in v.get("volume_context",{}).items()))' "$OUT")
echo "$CTX" | grep -q "subDir=shared1" || nfs_fail "volume_context lacks subDir: $CTX"
nfs_ok "CreateVolume (twice) made shared1 with group 5555, mode 2770"

STG=$T/csi-staging/shared1 TGT=$T/targets/pod1
mkdir -p "$T/csi-staging"
for _ in 1 2; do call OK NodeStageVolume volume_id=shared1 staging_target_path="$STG" $CAP $CTX; done
for _ in 1 2; do
	call OK NodePublishVolume volume_id=shared1 staging_target_path="$STG" target_path="$TGT" $CAP $CTX
done
nfs_as_user 5555 sh -c "echo via-csi >'$TGT/f'" || nfs_fail "uid 1000 + 5555 cannot write through CSI publish"
[ "$(cat "$NFS_RW_DIR/shared1/f")" = via-csi ] || nfs_fail "write did not reach the export"
nfs_ok "NodeStage (from volume_context) + NodePublish: the gid guarantee holds"

call OK NodeGetVolumeStats volume_id=shared1 volume_path="$TGT"
grep -q '"unit":"BYTES"' <<<"$OUT" || nfs_fail "stats: $OUT"
grep -q '"abnormal":true' <<<"$OUT" && nfs_fail "volume abnormal: $OUT"
nfs_server_stop
call OK NodeGetVolumeStats volume_id=shared1 volume_path="$TGT"
grep -q '"abnormal":true' <<<"$OUT" || nfs_fail "server down but the volume condition is normal: $OUT"
nfs_ok "NodeGetVolumeStats: normal, then abnormal with the server down ($(grep -o '"message":"[^"]*"' <<<"$OUT" | head -n1))"
nfs_server_start

for _ in 1 2; do call OK NodeUnpublishVolume volume_id=shared1 target_path="$TGT"; done
for _ in 1 2; do call OK NodeUnstageVolume volume_id=shared1 staging_target_path="$STG"; done
pgrep -f "pvnode-nfs-fuse .*$T/" >/dev/null && nfs_fail "helper left after NodeUnstage"
for _ in 1 2; do call OK DeleteVolume volume_id=shared1; done
[ -e "$NFS_RW_DIR/shared1" ] && nfs_fail "DeleteVolume left the directory"
nfs_ok "NodeUnpublish, NodeUnstage, DeleteVolume (each twice) leave nothing"

call INVALID_ARGUMENT CreateVolume name=evil capacity_range.required_bytes=1048576 \
	"volume_capabilities[0].mount.fs_type=" \
	"volume_capabilities[0].access_mode.mode=MULTI_NODE_MULTI_WRITER" $PARAMS parameters.subDir=../../etc
nfs_ok "CreateVolume with subDir ../../etc: INVALID_ARGUMENT ($ERR)"
kill -TERM "$PVNODE_PID"; wait "$PVNODE_PID" 2>/dev/null || true
echo PASS
