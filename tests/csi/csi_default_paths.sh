#!/bin/bash
# csi_default_paths.sh — pvnode started without --allowed-path (and without
# PVNODE_ALLOWED_PATHS) uses the documented default prefix /var/lib/kubelet: it stages
# and publishes at the kubelet's own paths and refuses paths outside it.
#
# /var/lib/kubelet is a tmpfs in a private mount namespace of this test, so nothing of a
# real kubelet is touched (and the directory is removed again if the test made it).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
if [ -z "${PVNODE_TEST_NS:-}" ]; then
	made=0
	[ -d /var/lib/kubelet ] || { mkdir -p /var/lib/kubelet; made=1; }
	rc=0
	PVNODE_TEST_NS=1 unshare -m --propagation private "$0" "$@" || rc=$?
	[ "$made" = 1 ] && rmdir /var/lib/kubelet 2>/dev/null
	exit "$rc"
fi
unset PVNODE_ALLOWED_PATHS
mount -t tmpfs -o size=16m pvnode-test /var/lib/kubelet
csi_setup
unmount_kubelet() {
	local m
	for m in $(findmnt -rn -o TARGET | grep '^/var/lib/kubelet/' | sort -r); do umount -l "$m" 2>/dev/null || true; done
}
trap 'unmount_kubelet; csi_cleanup' EXIT

# no --allowed-path: the default prefix applies
"$PVNODE" --endpoint "$EP" --node-id node-a --state-dir "$T/state" --selinux off >>"$T/pvnode.log" 2>&1 &
PVNODE_PID=$!
for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done

create_volume dflt 33554432
CTX=$(context_args "$OUT")
STAGE=/var/lib/kubelet/plugins/kubernetes.io/csi/pv/dflt/globalmount
TARGET=/var/lib/kubelet/pods/0b1c5a8e-test/volumes/kubernetes.io~csi/dflt/mount
mkdir -p "$STAGE" "$(dirname "$TARGET")"
# shellcheck disable=SC2086
expect OK NodeStageVolume volume_id=dflt staging_target_path="$STAGE" $(cap_mount) $CTX
# shellcheck disable=SC2086
expect OK NodePublishVolume volume_id=dflt staging_target_path="$STAGE" target_path="$TARGET" $(cap_mount) $CTX
echo hello >"$TARGET/hello" || csi_fail "cannot write through the publish at the default prefix"
mountpoint -q "$TARGET" || csi_fail "$TARGET is not a mount point"
# outside the default prefix: refused
mkdir -p "$T/elsewhere"
# shellcheck disable=SC2086
expect INVALID_ARGUMENT NodePublishVolume volume_id=dflt staging_target_path="$STAGE" target_path="$T/elsewhere/t" $(cap_mount) $CTX
expect OK NodeUnpublishVolume volume_id=dflt target_path="$TARGET"
expect OK NodeUnstageVolume volume_id=dflt staging_target_path="$STAGE"
expect OK DeleteVolume volume_id=dflt
echo PASS
