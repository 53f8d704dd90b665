#!/bin/bash
# csi_valgrind.sh — pvnode under valgrind (memcheck) for a short life cycle: create,
# stage, publish, stats, unpublish, unstage, snapshot, restore, clone, delete, a few
# refused calls and a malformed body, then SIGTERM. Passes when valgrind reports no errors and no
# definitely-lost memory.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
command -v valgrind >/dev/null || csi_skip "valgrind not installed"
case "$(ldd "$PVNODE" 2>/dev/null)" in *libasan* | *libtsan*) csi_skip "pvnode is a sanitizer build (scripts/test runs this on a plain build)" ;; esac
csi_setup
REAL_PVNODE=$PVNODE
cat >"$T/vg-pvnode" <<SH
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --suppressions="$(dirname "$CSI_TEST_LIB")/../csi/valgrind.supp" \
	--log-file="$T/valgrind.log" "$REAL_PVNODE" "\$@"
SH
chmod +x "$T/vg-pvnode"
PVNODE="$T/vg-pvnode"
csi_start
for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.1; done

mkdir -p "$ALLOWED/pods/p"
create_volume g1 $((32 << 20))
CTX=$(context_args "$OUT")
expect OK NodeStageVolume volume_id=g1 staging_target_path="$ALLOWED/s/g1" $(cap_mount) $CTX secrets.k=v
expect OK NodePublishVolume volume_id=g1 staging_target_path="$ALLOWED/s/g1" \
	target_path="$ALLOWED/pods/p/g1" $(cap_mount) $CTX
expect OK NodeGetVolumeStats volume_id=g1 volume_path="$ALLOWED/pods/p/g1"
expect OK ListVolumes
expect OK ValidateVolumeCapabilities volume_id=g1 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER"
expect INVALID_ARGUMENT NodeStageVolume volume_id=a/b
expect INVALID_ARGUMENT NodeStageVolume --raw 0a8080
expect NOT_FOUND ControllerPublishVolume volume_id=nope node_id=node-a $(cap_mount)
expect UNIMPLEMENTED /csi.v1.Controller/GetSnapshot --raw ""
expect OK NodeUnpublishVolume volume_id=g1 target_path="$ALLOWED/pods/p/g1"
expect OK NodeUnstageVolume volume_id=g1 staging_target_path="$ALLOWED/s/g1"
# snapshots: create (and its repeat), list (paged, filtered, a bad token), restore,
# clone, a refused restore, delete
expect OK CreateSnapshot name=gs source_volume_id=g1 secrets.k=v
expect OK CreateSnapshot name=gs source_volume_id=g1
expect OK ListSnapshots max_entries=1
expect OK ListSnapshots source_volume_id=g1 snapshot_id=gs
expect ABORTED ListSnapshots starting_token=x
expect OK CreateVolume name=gr "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	volume_content_source.snapshot.snapshot_id=gs
expect OK CreateVolume name=gc "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	volume_content_source.volume.volume_id=g1
expect OUT_OF_RANGE CreateVolume name=gx capacity_range.required_bytes=4096 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	volume_content_source.snapshot.snapshot_id=gs
expect OK DeleteSnapshot snapshot_id=gs
for v in gr gc g1; do expect OK DeleteVolume volume_id=$v; done
expect OK GetPluginInfo
csi_stop TERM
if [ "$STOP_RC" != 0 ]; then
	cat "$T/valgrind.log" >&2
	csi_fail "pvnode under valgrind exited $STOP_RC"
fi
grep -q "definitely lost" "$T/valgrind.log" && { cat "$T/valgrind.log" >&2; csi_fail "leaks"; }
echo "valgrind: no errors, no definite leaks"
echo PASS
