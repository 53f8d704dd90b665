#!/bin/bash
# csi_iscsi_fence.sh — backend fencing through CSI, end to end: two pvnode daemons
# ("nodes" node-a and node-b, own state dirs and sockets) and one real tgtd LUN.
#   - node-a stages the RWO iSCSI volume (SCSI-3 reservation held by node-a);
#   - node-b's NodeStageVolume is FAILED_PRECONDITION naming the holder;
#   - node-a "dies" (its I/O helper is SIGKILLed, the reservation stays on the LUN);
#   - ControllerUnpublishVolume(volume, node-a) sent to node-b's plugin calls the iSCSI
#     driver's fence_release, which preempts node-a's key; node-b then stages and
#     writes; node-a's dead stage still unstages cleanly;
#   - the same through a cluster's block controller: a third pvnode, --role controller
#     --driver-name block.pvnode.csi.io with a state directory of its own, publishes a
#     static PV (only its volume_context describes it) to node-a and to nobody else, and
#     its ControllerUnpublishVolume breaks the dead node-a's fence from the description it
#     kept, so node-b gets the volume.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
[ -x "${PVNODE:-}" ] && [ -x "${CSI_CALL:-}" ] || { echo "SKIP: pvnode or csi_call not built"; exit 77; }
"$PVCTL" --version 2>/dev/null | grep -q iscsi || { echo "SKIP: the iscsi driver is not built"; exit 77; }
PID_A="" PID_B="" PID_C=""
ISCSI_EXTRA_CLEANUP='for p in $PID_A $PID_B $PID_C; do kill -TERM $p 2>/dev/null; wait $p 2>/dev/null; done'
iscsi_test_init csi-fence
IQN=iqn.2026-11.io.pvnode.test:csifence
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M || fail "tgt setup"
ALLOWED="$T/allowed"
mkdir -p "$ALLOWED"

start_node() {   # start_node NAME VAR [pvnode options]
	local name=$1 var=$2
	shift 2
	mkdir -p "$T/$name"
	"$PVNODE" --endpoint "unix://$T/$name.sock" --node-id "$name" --state-dir "$T/$name" \
		--allowed-path "$ALLOWED" --selinux off "$@" >>"$T/$name.log" 2>&1 &
	eval "$var=$!"
	for _ in $(seq 100); do
		"$CSI_CALL" "unix://$T/$name.sock" Probe >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "pvnode $name did not start: $(tail -5 "$T/$name.log")"
}
on() { EP="unix://$T/$1.sock"; }
start_node node-a PID_A
start_node node-b PID_B

CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
create() {
	expect OK CreateVolume name=shared capacity_range.required_bytes=$((256 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.lun=1
}
on node-a; create
CTX=$(context_args "$OUT")
on node-b; create

# node-b takes VOLUME over once its fence is broken (stage at $ALLOWED/b/DIR, write,
# unstage), then node-a's dead stage at $ALLOWED/a/DIR unstages.
take_over() { # VOLUME DIR
	on node-b
	expect OK NodeStageVolume volume_id="$1" staging_target_path="$ALLOWED/b/$2" $CAP $CTX
	echo took-over >"$ALLOWED/b/$2/owner" && sync || fail "node-b cannot write $1 after the take-over"
	expect OK NodeUnstageVolume volume_id="$1" staging_target_path="$ALLOWED/b/$2"
	on node-a
	call NodeUnstageVolume volume_id="$1" staging_target_path="$ALLOWED/a/$2"
	[ "$ST" = OK ] || fail "node-a's dead stage of $1 does not unstage: $ERRMSG"
}

on node-a
expect OK NodeStageVolume volume_id=shared staging_target_path="$ALLOWED/a/stg" $CAP $CTX
mountpoint -q "$ALLOWED/a/stg" || fail "not mounted on node-a"
on node-b
expect FAILED_PRECONDITION NodeStageVolume volume_id=shared staging_target_path="$ALLOWED/b/stg" $CAP $CTX
echo "node-b refused while node-a holds the fence: $ERRMSG"

# node-a dies: its helper goes away without releasing the reservation.
pid=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/node-a/" | head -1)
[ -n "$pid" ] || pid=$(pgrep -f "pvnode-iscsi-fuse .*$T/node-a/" | head -1)
[ -n "$pid" ] || fail "no iSCSI helper for node-a"
kill -9 "$pid"
sleep 0.5
expect FAILED_PRECONDITION NodeStageVolume volume_id=shared staging_target_path="$ALLOWED/b/stg" $CAP $CTX

# The CO detaches the dead node's volume: ControllerUnpublishVolume breaks the fence.
expect OK ControllerUnpublishVolume volume_id=shared node_id=node-a
take_over shared stg
for n in node-a node-b; do on $n; expect OK DeleteVolume volume_id=shared; done

# --- a cluster's block controller and a static PV ---
start_node ctl PID_C --role controller --driver-name block.pvnode.csi.io
on ctl
expect OK ControllerPublishVolume volume_id=web node_id=node-a $CAP $CTX
on node-a
expect OK NodeStageVolume volume_id=web staging_target_path="$ALLOWED/a/web" $CAP $CTX
pid=$(pgrep -f "pvnode-iscsi-fuse .*$T/node-a/" | head -1)
[ -n "$pid" ] || fail "no iSCSI helper for node-a's web"
kill -9 "$pid"
sleep 0.5
on ctl
expect FAILED_PRECONDITION ControllerPublishVolume volume_id=web node_id=node-b $CAP $CTX
expect OK ControllerUnpublishVolume volume_id=web node_id=node-a
[ -e "$T/ctl/attachments/@pv/web.json" ] && fail "the controller keeps the static PV after its last node went"
expect OK ControllerPublishVolume volume_id=web node_id=node-b $CAP $CTX
take_over web web
on ctl
expect OK ControllerUnpublishVolume volume_id=web node_id=node-b
echo "csi iscsi fence: ok"
