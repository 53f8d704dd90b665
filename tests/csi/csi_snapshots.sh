#!/bin/bash
# csi_snapshots.sh — the CSI snapshot service through a real pvnode with the file driver:
# ControllerGetCapabilities (CREATE_DELETE_SNAPSHOT, LIST_SNAPSHOTS, CLONE_VOLUME, and
# none of them for a pvnode of iscsi alone, --drivers iscsi), CreateSnapshot (fields,
# idempotence by name, ALREADY_EXISTS for another source, NOT_FOUND, INVALID_ARGUMENT for
# every bad field and for iscsi naming it, CSI names mapped to ids), ListSnapshots (all,
# by snapshot_id, by source_volume_id, paging, ABORTED on a bad token), CreateVolume from
# a snapshot and from a volume (size, OUT_OF_RANGE, NOT_FOUND, ALREADY_EXISTS for another
# source, content_source echoed, the data of the snapshot / of the source), DeleteSnapshot
# (idempotent, restored volumes stay readable), the per-method call counters, that
# secrets sent with the snapshot calls never reach the log, and pvctl --endpoint
# snapshot create|list|delete (over CSI, with the in-process output and exit statuses).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
METRICS=
if command -v curl >/dev/null; then
	PORT=$(free_port)
	METRICS="http://127.0.0.1:$PORT/metrics"
	csi_start --metrics-address "127.0.0.1:$PORT" --reconcile-interval 0
else
	csi_start --reconcile-interval 0
fi
MiB=$((1 << 20))
SECRET=snapshot-secret-$RANDOM$RANDOM
mkdir -p "$ALLOWED/stg" "$ALLOWED/pods"

# jf EXPR: evaluate a Python expression on the last response (`o`).
jf() { python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$OUT" "$1"; }
has_cap() { grep -q "\"$1\"" <<<"$OUT"; }

# --- capabilities: the file driver snapshots and clones
expect OK ControllerGetCapabilities
for c in CREATE_DELETE_SNAPSHOT LIST_SNAPSHOTS CLONE_VOLUME; do
	has_cap "$c" || csi_fail "capability $c not advertised: $OUT"
done

# --- a source volume with data, staged here while it is snapshotted (the controller
# freezes it for the copy)
create_volume src $((32 * MiB))
SRCCTX=$(context_args "$OUT")
expect OK NodeStageVolume volume_id=src staging_target_path="$ALLOWED/stg/src" $(cap_mount) $SRCCTX
echo one >"$ALLOWED/stg/src/data"
sync

# --- CreateSnapshot
T0=$(date +%s)
expect OK CreateSnapshot name=s1 source_volume_id=src secrets.key="$SECRET"
[ "$(jf 'o["snapshot"]["snapshot_id"]')" = s1 ] || csi_fail "snapshot_id: $OUT"
[ "$(jf 'o["snapshot"]["source_volume_id"]')" = src ] || csi_fail "source_volume_id: $OUT"
[ "$(jf 'o["snapshot"]["size_bytes"]')" = $((32 * MiB)) ] || csi_fail "size_bytes: $OUT"
[ "$(jf 'o["snapshot"].get("ready_to_use")')" = True ] || csi_fail "ready_to_use: $OUT"
CT=$(jf 'o["snapshot"]["creation_time"]["seconds"]')
[ "$CT" -ge $((T0 - 5)) ] && [ "$CT" -le $(($(date +%s) + 5)) ] || csi_fail "creation_time $CT (now $T0): $OUT"
echo two >"$ALLOWED/stg/src/data"   # after the snapshot: the source moves on
sync
expect OK CreateSnapshot name=s1 source_volume_id=src          # idempotent: the same snapshot
[ "$(jf 'o["snapshot"]["creation_time"]["seconds"]')" = "$CT" ] || csi_fail "a repeat made a new snapshot: $OUT"
create_volume src2 $((16 * MiB))
expect ALREADY_EXISTS CreateSnapshot name=s1 source_volume_id=src2
expect INVALID_ARGUMENT CreateSnapshot source_volume_id=src                      # no name
grep -q "name is required" <<<"$ERRMSG" || csi_fail "no name: $ERRMSG"
expect INVALID_ARGUMENT CreateSnapshot name=s9                                   # no source
grep -q "source_volume_id is required" <<<"$ERRMSG" || csi_fail "no source: $ERRMSG"
expect INVALID_ARGUMENT CreateSnapshot name=s9 source_volume_id=../src
grep -q "source_volume_id '../src' has characters outside" <<<"$ERRMSG" || csi_fail "bad source: $ERRMSG"
expect INVALID_ARGUMENT CreateSnapshot name=$'s\0019' source_volume_id=src        # a control character
expect INVALID_ARGUMENT CreateSnapshot name="$(printf 'n%.0s' $(seq 129))" source_volume_id=src
expect INVALID_ARGUMENT CreateSnapshot name=s9 source_volume_id=src parameters.compress=yes
grep -q "parameter 'compress' is not known" <<<"$ERRMSG" || csi_fail "parameter: $ERRMSG"
expect NOT_FOUND CreateSnapshot name=s9 source_volume_id=nosuch
expect OK CreateSnapshot name=s2 source_volume_id=src2 \
	parameters.csi.storage.k8s.io/volumesnapshot/name=vs2   # the sidecar's metadata is fine
# a CSI name that is no id maps to one, the way CreateVolume's do, and stays mapped
expect OK CreateSnapshot name="snap one+" source_volume_id=src2
MAPPED=$(jf 'o["snapshot"]["snapshot_id"]')
[[ "$MAPPED" =~ ^snapone-[0-9a-f]{16}$ ]] || csi_fail "mapped id: $MAPPED"
expect OK CreateSnapshot name="snap one+" source_volume_id=src2
[ "$(jf 'o["snapshot"]["snapshot_id"]')" = "$MAPPED" ] || csi_fail "mapping not stable: $OUT"
expect OK CreateSnapshot name=s3 source_volume_id=src2

# iscsi (tgt has no snapshots): a bad argument naming the driver, not UNIMPLEMENTED
HAVE_ISCSI=
if "$PVCTL" --version | grep -q iscsi; then
	HAVE_ISCSI=1
	expect OK CreateVolume name=b1 capacity_range.required_bytes=$((64 * MiB)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:snap \
		parameters.lun=1
	expect INVALID_ARGUMENT CreateSnapshot name=sb source_volume_id=b1
	grep -q "iscsi" <<<"$ERRMSG" || csi_fail "the iscsi refusal does not name the driver: $ERRMSG"
	expect INVALID_ARGUMENT CreateVolume name=b2 "volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=iscsi \
		parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:snap parameters.lun=2 \
		volume_content_source.volume.volume_id=b1
	grep -q "iscsi" <<<"$ERRMSG" || csi_fail "the iscsi clone refusal does not name the driver: $ERRMSG"
fi

# --- ListSnapshots
ids() { jf '" ".join(sorted(e["snapshot"]["snapshot_id"] for e in o.get("entries", [])))'; }
expect OK ListSnapshots
[ "$(ids)" = "s1 s2 s3 $MAPPED" ] || csi_fail "ListSnapshots: $(ids)"
[ "$(jf 'o.get("next_token", "")')" = "" ] || csi_fail "a next_token without max_entries: $OUT"
jf 'all(e["snapshot"]["creation_time"]["seconds"] > 0 and e["snapshot"]["ready_to_use"] for e in o["entries"])' |
	grep -q True || csi_fail "entries lack creation_time or ready_to_use: $OUT"
expect OK ListSnapshots snapshot_id=s1
[ "$(ids)" = s1 ] || csi_fail "by snapshot_id: $OUT"
[ "$(jf 'o["entries"][0]["snapshot"]["size_bytes"]')" = $((32 * MiB)) ] || csi_fail "size in list: $OUT"
expect OK ListSnapshots snapshot_id=nosuch
[ "$(ids)" = "" ] || csi_fail "a missing snapshot_id lists: $OUT"
expect OK ListSnapshots source_volume_id=src2
[ "$(ids)" = "s2 s3 $MAPPED" ] || csi_fail "by source_volume_id: $(ids)"
expect OK ListSnapshots source_volume_id=nosuch
[ "$(ids)" = "" ] || csi_fail "a missing source lists: $OUT"
expect OK ListSnapshots snapshot_id=s1 source_volume_id=src2
[ "$(ids)" = "" ] || csi_fail "both filters: $OUT"
expect INVALID_ARGUMENT ListSnapshots snapshot_id=a/b
expect INVALID_ARGUMENT ListSnapshots source_volume_id=a/b
expect INVALID_ARGUMENT ListSnapshots max_entries=-1
# paging: pages of 3, then the rest
expect OK ListSnapshots max_entries=3
P1=$(ids)
TOK=$(jf 'o["next_token"]')
[ "$(jf 'len(o["entries"])')" = 3 ] && [ -n "$TOK" ] || csi_fail "page 1: $OUT"
expect OK ListSnapshots starting_token="$TOK"
P2=$(ids)
[ "$(echo $P1 $P2 | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ')" = "s1 s2 s3 $MAPPED " ] || csi_fail "pages: '$P1' + '$P2'"
[ "$(jf 'o.get("next_token", "")')" = "" ] || csi_fail "last page has a next_token: $OUT"
expect OK ListSnapshots max_entries=1 source_volume_id=src2
[ "$(jf 'o["next_token"]')" = 1 ] || csi_fail "filtered paging: $OUT"
for tok in banana 99 -1 01 " 1"; do
	expect ABORTED ListSnapshots starting_token="$tok"
done
grep -q "starting_token ' 1' is not a token ListSnapshots returned" <<<"$ERRMSG" || csi_fail "ABORTED: $ERRMSG"

# --- CreateVolume from a snapshot
from_snap() {   # from_snap STATUS NAME SNAPSHOT [fields...]
	local st=$1 name=$2 snap=$3
	shift 3
	expect "$st" CreateVolume name="$name" "volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
		volume_content_source.snapshot.snapshot_id="$snap" "$@"
}
from_snap OK r1 s1                                           # no capacity: the snapshot's size
[ "$(jf 'o["volume"]["capacity_bytes"]')" = $((32 * MiB)) ] || csi_fail "restored size: $OUT"
[ "$(jf 'o["volume"]["content_source"]["snapshot"]["snapshot_id"]')" = s1 ] || csi_fail "content_source: $OUT"
R1CTX=$(context_args "$OUT")
from_snap OK r1 s1                                           # idempotent
[ "$(jf 'o["volume"]["content_source"]["snapshot"]["snapshot_id"]')" = s1 ] || csi_fail "repeat content_source: $OUT"
from_snap ALREADY_EXISTS r1 s2                               # the same name, another source
expect ALREADY_EXISTS CreateVolume name=r1 capacity_range.required_bytes=$((32 * MiB)) \
	"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
	parameters.driver=file                                   # the same name, no source
from_snap OK r2 s1 capacity_range.required_bytes=$((64 * MiB))   # bigger than its source
[ "$(jf 'o["volume"]["capacity_bytes"]')" = $((64 * MiB)) ] || csi_fail "grown restore: $OUT"
from_snap OUT_OF_RANGE r3 s1 capacity_range.required_bytes=$((16 * MiB))
grep -q "below the $((32 * MiB)) bytes of its source snapshot s1" <<<"$ERRMSG" || csi_fail "range: $ERRMSG"
from_snap OUT_OF_RANGE r3 s1 capacity_range.limit_bytes=$((16 * MiB))
from_snap NOT_FOUND r3 nosuch
grep -q "snapshot nosuch does not exist" <<<"$ERRMSG" || csi_fail "NOT_FOUND: $ERRMSG"
from_snap INVALID_ARGUMENT r3 a/b
expect INVALID_ARGUMENT CreateVolume name=r3 "volume_capabilities[0].block=" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	volume_content_source.snapshot.snapshot_id=s1           # a block volume from a filesystem
[ -n "$HAVE_ISCSI" ] && {
	expect INVALID_ARGUMENT CreateVolume name=r3 "volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=iscsi \
		parameters.portal=127.0.0.1:1 parameters.iqn=iqn.2026-11.io.pvnode.test:snap parameters.lun=3 \
		volume_content_source.snapshot.snapshot_id=s1       # another driver
}
expect INVALID_ARGUMENT CreateVolume name=r3 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
	volume_content_source=                                   # a source of neither kind

# a restore keeps its source's fsType and volume mode when the request names none
expect OK CreateVolume name=x1 capacity_range.required_bytes=$((300 * MiB)) "volume_capabilities[0].mount.fs_type=xfs" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect OK CreateSnapshot name=xs source_volume_id=x1
expect OK CreateVolume name=x2 "volume_capabilities[0].mount.fs_type=" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" volume_content_source.snapshot.snapshot_id=xs
[ "$(jf 'o["volume"]["volume_context"]["pvnode.io/fsType"]')" = xfs ] || csi_fail "restore fsType: $OUT"
expect INVALID_ARGUMENT CreateVolume name=x3 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" volume_content_source.snapshot.snapshot_id=xs
expect OK CreateVolume name=k1 capacity_range.required_bytes=$((16 * MiB)) "volume_capabilities[0].block=" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
expect OK CreateSnapshot name=ks source_volume_id=k1
expect OK CreateVolume name=k2 "volume_capabilities[0].block=" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" volume_content_source.snapshot.snapshot_id=ks
[ "$(jf 'o["volume"]["volume_context"]["pvnode.io/volumeMode"]')" = Block ] || csi_fail "block restore: $OUT"
expect INVALID_ARGUMENT CreateVolume name=k3 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" volume_content_source.snapshot.snapshot_id=ks
for s in xs ks; do expect OK DeleteSnapshot snapshot_id=$s; done
for v in x1 x2 k1 k2; do expect OK DeleteVolume volume_id=$v; done

# --- CreateVolume from a volume
from_vol() {   # from_vol STATUS NAME VOLUME [fields...]
	local st=$1 name=$2 vol=$3
	shift 3
	expect "$st" CreateVolume name="$name" "volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file \
		volume_content_source.volume.volume_id="$vol" "$@"
}
from_vol OK c1 src
[ "$(jf 'o["volume"]["capacity_bytes"]')" = $((32 * MiB)) ] || csi_fail "clone size: $OUT"
[ "$(jf 'o["volume"]["content_source"]["volume"]["volume_id"]')" = src ] || csi_fail "clone content_source: $OUT"
C1CTX=$(context_args "$OUT")
from_vol OK c1 src
from_vol ALREADY_EXISTS c1 src2
from_vol OUT_OF_RANGE c2 src capacity_range.required_bytes=$((8 * MiB))
from_vol NOT_FOUND c2 nosuch
grep -q "volume nosuch does not exist" <<<"$ERRMSG" || csi_fail "clone NOT_FOUND: $ERRMSG"
from_vol INVALID_ARGUMENT c2 c2                              # itself
expect OK ListVolumes
jf '[e["volume"]["volume_id"] for e in o["entries"] if e["volume"].get("content_source")]' |
	grep -q "'c1'" || csi_fail "ListVolumes does not say where c1 came from: $OUT"

# --- the data: r1 has the snapshot's, c1 the source's when it was cloned
expect OK NodeStageVolume volume_id=r1 staging_target_path="$ALLOWED/stg/r1" $(cap_mount) $R1CTX
[ "$(cat "$ALLOWED/stg/r1/data")" = one ] || csi_fail "r1 does not hold the snapshot's data"
expect OK NodeStageVolume volume_id=c1 staging_target_path="$ALLOWED/stg/c1" $(cap_mount) $C1CTX
[ "$(cat "$ALLOWED/stg/c1/data")" = two ] || csi_fail "c1 does not hold the source's data"
[ "$(cat "$ALLOWED/stg/src/data")" = two ] || csi_fail "the source changed"
expect OK NodeUnstageVolume volume_id=r1 staging_target_path="$ALLOWED/stg/r1"

# --- DeleteSnapshot
expect OK DeleteSnapshot snapshot_id=s1 secrets.key="$SECRET"
expect OK DeleteSnapshot snapshot_id=s1                       # gone already
expect OK DeleteSnapshot snapshot_id=nosuch
expect INVALID_ARGUMENT DeleteSnapshot
grep -q "snapshot_id is required" <<<"$ERRMSG" || csi_fail "no id: $ERRMSG"
expect INVALID_ARGUMENT DeleteSnapshot snapshot_id=../s1
expect OK ListSnapshots snapshot_id=s1
[ "$(ids)" = "" ] || csi_fail "s1 is still listed: $OUT"
from_snap NOT_FOUND r4 s1
expect OK NodeStageVolume volume_id=r1 staging_target_path="$ALLOWED/stg/r1" $(cap_mount) $R1CTX
[ "$(cat "$ALLOWED/stg/r1/data")" = one ] || csi_fail "r1 lost its data with its snapshot"
for v in r1 c1 src; do
	expect OK NodeUnstageVolume volume_id=$v staging_target_path="$ALLOWED/stg/$v"
done

# --- a pvnode of iscsi alone (--drivers) on the same state: no snapshot capabilities, and
# it neither lists nor deletes the file driver's snapshots
if [ -n "$HAVE_ISCSI" ]; then
	csi_start_extra iscsi --node-id node-a --state-dir "$T/state" --driver-name block.pvnode.csi.io \
		--drivers iscsi --reconcile-interval 0
	MAIN_EP=$EP
	EP="unix://$T/iscsi.sock"
	expect OK ControllerGetCapabilities
	for c in CREATE_DELETE_SNAPSHOT LIST_SNAPSHOTS CLONE_VOLUME; do
		has_cap "$c" && csi_fail "a pvnode of iscsi alone advertises $c: $OUT"
	done
	has_cap CREATE_DELETE_VOLUME || csi_fail "capabilities: $OUT"
	expect OK ListSnapshots
	[ "$(ids)" = "" ] || csi_fail "the iscsi pvnode lists file snapshots: $OUT"
	expect INVALID_ARGUMENT DeleteSnapshot snapshot_id=s2
	grep -q "driver file" <<<"$ERRMSG" || csi_fail "foreign snapshot: $ERRMSG"
	expect OK ListVolumes
	grep -q '"volume_id":"src"' <<<"$OUT" && csi_fail "the iscsi pvnode lists file volumes: $OUT"
	EP=$MAIN_EP
	expect OK ListSnapshots snapshot_id=s2
	[ "$(ids)" = s2 ] || csi_fail "s2 is gone: $OUT"
fi

# --- the call counters pick the new methods up
if [ -n "$METRICS" ]; then
	curl -sf "$METRICS" >"$T/scrape" || csi_fail "GET /metrics"
	for line in 'method="CreateSnapshot",code="OK"' 'method="CreateSnapshot",code="ALREADY_EXISTS"} 1' \
		'method="CreateSnapshot",code="NOT_FOUND"} 1' 'method="ListSnapshots",code="ABORTED"} 5' \
		'method="DeleteSnapshot",code="OK"} 5'; do
		grep -qF "pvnode_csi_calls_total{$line" "$T/scrape" ||
			csi_fail "metrics lack $line: $(grep Snapshot "$T/scrape")"
	done
	grep -q '^pvnode_csi_call_duration_seconds_count{method="ListSnapshots"}' "$T/scrape" ||
		csi_fail "no ListSnapshots latency"
fi

# --- secrets never reach the log
grep -q "$SECRET" "$T/pvnode.log" && csi_fail "a snapshot call's secret reached the log"
grep -q '"secrets":"<redacted>"' "$T/pvnode.log" || csi_fail "the snapshot calls are not logged redacted"

# --- pvctl --endpoint snapshot create|list|delete: over CSI, with the in-process output
# and exit statuses
PR() { "$PVCTL" --endpoint "$EP" --allowed-path "$ALLOWED" --state-dir "$T/state" "$@"; }
PL() { "$PVCTL" --allowed-path "$ALLOWED" --state-dir "$T/state" "$@"; }
PR info | grep -q "^controller: .*CREATE_DELETE_SNAPSHOT LIST_SNAPSHOTS CLONE_VOLUME" ||
	csi_fail "pvctl info: $(PR info)"
PR snapshot create src2 p1 >"$T/out" || csi_fail "pvctl snapshot create over CSI: $(cat "$T/out")"
grep -qx "snapshot p1 of volume src2 created (16Mi)" "$T/out" || csi_fail "create output: $(cat "$T/out")"
grep -q 'CreateSnapshot request {"name":"p1","source_volume_id":"src2"}' "$T/pvnode.log" ||
	csi_fail "pvctl --endpoint did not go through CSI"
PR snapshot create src2 p1 -o json >"$T/out" || csi_fail "idempotent create: $(cat "$T/out")"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["name"] == "p1" and o["source"] == "src2" and o["readyToUse"] and o["size"] == "16Mi" and o["createdAt"] > 0, o' "$T/out" ||
	csi_fail "create -o json: $(cat "$T/out")"
rc=0; PR snapshot create src p1 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "ALREADY_EXISTS" "$T/err" || csi_fail "create over another source: rc $rc $(cat "$T/err")"
rc=0; PR snapshot create nosuch p2 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "NOT_FOUND" "$T/err" || csi_fail "create of a missing volume: rc $rc $(cat "$T/err")"
rc=0; PR snapshot create src2 'p/2' 2>/dev/null || rc=$?
[ "$rc" = 2 ] || csi_fail "an invalid snapshot name over CSI: rc $rc"
[ -n "$HAVE_ISCSI" ] && {
	rc=0; PR snapshot create b1 p3 2>"$T/err" || rc=$?
	[ "$rc" = 2 ] && grep -q iscsi "$T/err" || csi_fail "iscsi over CSI: rc $rc $(cat "$T/err")"
}
# list: the same table as in-process (AGE aside), every page, by volume
PR snapshot list >"$T/remote" || csi_fail "pvctl snapshot list over CSI"
PL snapshot list >"$T/local" || csi_fail "pvctl snapshot list"
diff <(awk '{print $1, $2, $3, $4}' "$T/local") <(awk '{print $1, $2, $3, $4}' "$T/remote") ||
	csi_fail "the table differs over CSI"
grep -q "^p1 .*src2 .*16Mi .*true" "$T/remote" || csi_fail "list: $(cat "$T/remote")"
PR snapshot list src2 -o json >"$T/out" || csi_fail "list VOLUME -o json"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); n=sorted(i["name"] for i in o["items"]); assert n == sorted(["p1", "s2", "s3", sys.argv[2]]), n' \
	"$T/out" "$MAPPED" || csi_fail "list src2 -o json: $(cat "$T/out")"
rc=0; PR snapshot list nosuch 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no such volume" "$T/err" || csi_fail "list of a missing volume: rc $rc $(cat "$T/err")"
PR snapshot delete p1 >"$T/out" && grep -qx "snapshot p1 deleted" "$T/out" || csi_fail "delete: $(cat "$T/out")"
rc=0; PR snapshot delete p1 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no such snapshot" "$T/err" || csi_fail "delete of a missing snapshot: rc $rc $(cat "$T/err")"
PL snapshot list | grep -q "^p1 " && csi_fail "p1 is still there"
# get over CSI says where a volume came from (content_source), as in-process does
PR get r1 -o json >"$T/out" || csi_fail "get r1 -o json over CSI"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["source"] == {"snapshot": "s1"}, o' "$T/out" ||
	csi_fail "get -o json over CSI lost the source: $(cat "$T/out")"
PR get c1 -o k8s | grep -q 'pvnode.io/dataSource.*PersistentVolume.*src' ||
	csi_fail "get -o k8s over CSI: $(PR get c1 -o k8s)"

# --- a snapshot outlives its volume: a repeated CreateSnapshot still answers it, and it
# still restores
expect OK DeleteVolume volume_id=src2
expect OK CreateSnapshot name=s2 source_volume_id=src2
[ "$(jf 'o["snapshot"]["size_bytes"]')" = $((16 * MiB)) ] || csi_fail "s2 after its volume: $OUT"
expect NOT_FOUND CreateSnapshot name=s4 source_volume_id=src2
from_snap OK r5 s2
[ "$(jf 'o["volume"]["capacity_bytes"]')" = $((16 * MiB)) ] || csi_fail "restore after the volume went: $OUT"

# --- the rest goes away cleanly
for s in s2 s3 "$MAPPED"; do expect OK DeleteSnapshot snapshot_id="$s"; done
for v in r1 r2 r5 c1 src ${HAVE_ISCSI:+b1}; do expect OK DeleteVolume volume_id="$v"; done
expect OK ListSnapshots
[ "$(ids)" = "" ] || csi_fail "snapshots left: $OUT"
echo PASS
