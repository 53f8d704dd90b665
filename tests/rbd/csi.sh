#!/bin/bash
# tests/rbd/csi.sh — the RBD driver through pvnode's CSI services (csi_call):
#   - CreateVolume with StorageClass-style parameters (driver=rbd, monitors, pool,
#     imageFeatures, osdTimeout, sidecar keys) and provisioner secrets makes the image;
#     a retry is OK, another size ALREADY_EXISTS; the volume_context names the image;
#   - a second pvnode (node-b, own state dir: it never saw the catalog) stages from
#     volume_context + node-stage secrets alone, publishes, reports stats; node-a's
#     NodeStage is FAILED_PRECONDITION naming node-b;
#   - node-b's helper dies: ControllerUnpublishVolume(node-b) on node-a breaks its lock,
#     node-a stages; ControllerExpandVolume (secrets) grows the image; DeleteVolume (twice)
#     removes it once node-a unstaged, and node-b's dead stage unstages cleanly;
#   - the cephx key is in no /proc/*/cmdline or environ, no state file outside secrets/
#     (journals included) and no log of either pvnode at -v.
. "$(dirname "$0")/../lib/rbd_test.sh"
. "$(dirname "$0")/../lib/csi.sh"
[ -x "${PVNODE:-}" ] && [ -x "${CSI_CALL:-}" ] || { echo "SKIP: pvnode or csi_call not built"; exit 77; }
T=$TESTDIR
KUBELET=$TESTDIR/kubelet
KEY=$TESTDIR/userKey   # the key for csi_call (@FILE), without the newline
(umask 077 && printf %s "$(cat "$CEPH_KEY_FILE")" >"$KEY")
SECRETS="secrets.userID=admin secrets.userKey=@$KEY"
PIDS=()
_csi_nodes_stop() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
CLEANUP_HOOKS=(_csi_nodes_stop "${CLEANUP_HOOKS[@]}")
start_node() {   # start_node NAME
	mkdir -p "$TESTDIR/$1" "$KUBELET"
	"$PVNODE" --endpoint "unix://$TESTDIR/$1.sock" --node-id "$1" --state-dir "$TESTDIR/$1" \
		--allowed-path "$KUBELET" --selinux off --reconcile-interval 0 -v >>"$TESTDIR/$1.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		"$CSI_CALL" "unix://$TESTDIR/$1.sock" Probe >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "pvnode $1 did not start: $(tail -5 "$TESTDIR/$1.log")"
}
on() { EP="unix://$TESTDIR/$1.sock"; }
CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
create() {   # create BYTES
	call CreateVolume name=cv capacity_range.required_bytes="$1" \
		"volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=rbd parameters.monitors="$CEPH_MONITORS" parameters.pool="$CEPH_POOL" \
		parameters.imageFeatures=layering,exclusive-lock parameters.osdTimeout=10 \
		parameters.csi.storage.k8s.io/fstype=ext4 \
		parameters.csi.storage.k8s.io/provisioner-secret-name=ceph-admin $SECRETS
}
start_node node-a
start_node node-b

step "CreateVolume with StorageClass parameters and provisioner secrets"
on node-a
create $((64 << 20)); [ "$ST" = OK ] || csi_fail "CreateVolume: $ERRMSG"
create $((64 << 20)); [ "$ST" = OK ] || csi_fail "CreateVolume retry: $ERRMSG"
CTX=$(context_args "$OUT")
echo "$CTX"
assert_contains "$CTX" "volume_context.image=cv"
assert_contains "$(rbd_cli info "$CEPH_POOL/cv")" "features: layering, exclusive-lock"
create $((128 << 20)); [ "$ST" = ALREADY_EXISTS ] || csi_fail "CreateVolume with another size: $ST $ERRMSG"

step "node-b stages from volume_context + secrets alone, publishes, writes"
on node-b
STG_B=$KUBELET/b/staging/cv TGT_B=$KUBELET/pods/b/cv
expect OK NodeStageVolume volume_id=cv staging_target_path="$STG_B" $CAP $CTX $SECRETS
expect OK NodeStageVolume volume_id=cv staging_target_path="$STG_B" $CAP $CTX $SECRETS
expect OK NodePublishVolume volume_id=cv staging_target_path="$STG_B" target_path="$TGT_B" $CAP $CTX
echo "through CSI" >"$TGT_B/f"
sync -f "$TGT_B/f"
expect OK NodeGetVolumeStats volume_id=cv volume_path="$TGT_B"
assert_not_contains "$OUT" '"abnormal":true'
assert_key_absent "$TESTDIR/node-a" "$TESTDIR/node-b" "$TESTDIR/node-a.log" "$TESTDIR/node-b.log"
grep -q '"userKey"' "$TESTDIR/node-b.log" && fail "a log line names userKey"
grep -c '<redacted>' "$TESTDIR/node-b.log" >/dev/null || fail "node-b's log shows no redacted secrets"

step "node-a is refused while node-b holds the lock"
on node-a
STG_A=$KUBELET/a/staging/cv
expect FAILED_PRECONDITION NodeStageVolume volume_id=cv staging_target_path="$STG_A" $CAP $CTX $SECRETS
echo "$ERRMSG"
assert_contains "$ERRMSG" "locked by node node-b"

step "node-b's helper dies; ControllerUnpublishVolume(node-b) on node-a releases it"
kill -9 "$(pgrep -f "pvnode-rbd-fuse .*--mountpoint $TESTDIR/node-b/run/cv/")"
expect OK ControllerUnpublishVolume volume_id=cv node_id=node-b $SECRETS
expect OK NodeStageVolume volume_id=cv staging_target_path="$STG_A" $CAP $CTX $SECRETS
assert_eq "$(cat "$STG_A/f")" "through CSI" "node-b's data on node-a"
expect OK ControllerExpandVolume volume_id=cv capacity_range.required_bytes=$((96 << 20)) $SECRETS
assert_contains "$(rbd_cli info "$CEPH_POOL/cv")" "size 96 MiB"

step "teardown: DeleteVolume once unstaged; node-b's dead stage unstages"
on node-b
expect OK NodeUnpublishVolume volume_id=cv target_path="$TGT_B"
expect OK NodeUnstageVolume volume_id=cv staging_target_path="$STG_B"
on node-a
expect FAILED_PRECONDITION DeleteVolume volume_id=cv $SECRETS
expect OK NodeUnstageVolume volume_id=cv staging_target_path="$STG_A"
expect OK DeleteVolume volume_id=cv $SECRETS
expect OK DeleteVolume volume_id=cv $SECRETS
assert_eq "$(rbd_cli ls "$CEPH_POOL" | wc -l)" 0 "images left"
assert_key_absent "$TESTDIR/node-a" "$TESTDIR/node-b" "$TESTDIR/node-a.log" "$TESTDIR/node-b.log"
assert_clean
