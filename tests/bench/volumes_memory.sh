#!/bin/bash
# tests/bench/volumes_memory.sh — the memory of one node with many volumes staged at once:
# VOLUMES_ISCSI (default 50) iSCSI volumes (one tgtd on loopback, one LUN each) and
# VOLUMES_FILE (default 10) file volumes staged and published through one pvnode (CSI,
# csi_call), plus VOLUMES_NFS (default 3) userspace NFS volumes (loopback nfs-ganesha,
# staged with pvctl inside its network namespace) when nfs-ganesha is installed, and
# VOLUMES_RBD (default 4) RBD volumes through the same pvnode against a private Ceph
# cluster (tests/lib/ceph.sh: one mon, one memstore OSD) when Ceph is installed.
# Prints, one run:
#   - pvnode's resident memory (total, file-backed, anonymous, PSS) idle at start, with
#     everything staged, at its peak;
#   - each helper's resident memory idle (after stage and a quiet second) and under
#     sustained I/O on every volume at once (fio, IO_SECONDS, default 15: 4 KiB random
#     writes QD16 on half of the volumes, 1 MiB sequential writes QD4 on the other half),
#     as min/median/max over the helpers of a driver with their peak (VmHWM), and the
#     anonymous part; helpers over the targets (8 MiB idle, 32 MiB under I/O) by name;
#   - the node's total: the sum of RSS (counts shared library text once per process)
#     and the sum of PSS (shared pages divided among the processes mapping them);
#   - NodeStageVolume and NodePublishVolume p50/p99/max per driver, as pvnode timed
#     them (its log), the volumes staged one after another like a kubelet does.
# Figures, not pass/fail (meson test --benchmark volumes_memory).
#   PVNODE=build/pvnode PVCTL=build/pvctl CSI_CALL=build/tests/csi/csi_call \
#   tests/bench/volumes_memory.sh        (root; tgtd, fio; nfs-ganesha, Ceph optional)
# HOLD=SECONDS pauses once everything is staged and idle, HOLD_AFTER=SECONDS after the
# I/O, to look at the processes.
set -u
VI=${VOLUMES_ISCSI:-50}
VF=${VOLUMES_FILE:-10}
VN=${VOLUMES_NFS:-3}
VR=${VOLUMES_RBD:-4}
IO_S=${IO_SECONDS:-15}
LIB=$(cd "$(dirname "$0")/../lib" && pwd)
. "$LIB/iscsi.sh"
[ -x "${PVNODE:-}" ] && [ -x "${CSI_CALL:-}" ] || { echo "SKIP: set PVNODE and CSI_CALL"; exit 77; }
command -v fio >/dev/null || { echo "SKIP: fio not installed"; exit 77; }
PVNODE_PID=""
FIO_PID=""
NFS_T=""
_vm_cleanup() {
	[ -n "$FIO_PID" ] && kill "$FIO_PID" 2>/dev/null && wait "$FIO_PID" 2>/dev/null
	if [ -n "$NFS_T" ]; then
		local v
		for v in $(seq 1 "$VN"); do
			[ -e "$NFS_T/state/journal/n$v.json" ] || continue
			nfs_in_ns timeout 30 "$PVCTL" --state-dir "$NFS_T/state" --node-id a --allowed-path "$NFS_T" \
				unpublish "n$v" "$NFS_T/pods/n$v" >/dev/null 2>&1
			nfs_in_ns timeout 30 "$PVCTL" --state-dir "$NFS_T/state" --node-id a --allowed-path "$NFS_T" \
				unstage "n$v" >/dev/null 2>&1
		done
		nfs_fixture_stop
		rm -rf "$NFS_T"
	fi
	[ -n "$PVNODE_PID" ] && { kill -TERM "$PVNODE_PID" 2>/dev/null; wait "$PVNODE_PID" 2>/dev/null; }
	if [ -n "${CEPH_DIR:-}" ]; then
		local pid m
		for pid in $(pgrep -f "pvnode-rbd-fuse .*$T/"); do kill "$pid" 2>/dev/null; done
		sleep 0.5
		for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
			umount -l "$m" 2>/dev/null
		done
		for pid in $(pgrep -f "pvnode-rbd-fuse .*$T/"); do kill -9 "$pid" 2>/dev/null; done
		ceph_stop
	fi
}
ISCSI_EXTRA_CLEANUP=_vm_cleanup
iscsi_test_init volmem
IQN=iqn.2026-12.io.pvnode.test:volmem
tgt_add_target 1 $IQN || fail "tgt"
for i in $(seq 1 "$VI"); do tgt_add_lun 1 "$i" "$T/lun$i.img" 64M || fail "lun $i"; done
mkdir -p "$T/a" "$T/allowed"
EP="unix://$T/csi.sock"

# kB figures of a process: "RSS FILE ANON PSS HWM"
mem() {
	local rss file anon hwm pss
	read -r rss file anon hwm < <(awk '/^VmRSS/ {r=$2} /^RssFile/ {f=$2} /^RssAnon/ {a=$2} /^VmHWM/ {h=$2}
		END {print r, f, a, h}' "/proc/$1/status" 2>/dev/null)
	pss=$(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null)
	echo "${rss:-0} ${file:-0} ${anon:-0} ${pss:-0} ${hwm:-0}"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
show_pvnode() {
	local r f a p h
	read -r r f a p h < <(mem "$PVNODE_PID")
	echo "pvnode $1: RSS $(mib "$r") MiB (file-backed $(mib "$f"), anonymous $(mib "$a")), PSS $(mib "$p") MiB, peak $(mib "$h") MiB"
}
helpers() { pgrep -f "pvnode-$1-fuse .*$2" | sort -n; }
# summary DRIVER WHAT PIDS...: min/median/max of RSS, median/max of the anonymous part,
# max of the peaks; the helpers over $LIMIT kB by pid
summary() {
	python3 - "$LIMIT" "$@" <<'PY'
import statistics, sys
lim, drv, what, pids = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
rows = []
for p in pids:
    try:
        st = dict(l.split(":", 1) for l in open(f"/proc/{p}/status"))
    except OSError:
        continue
    kb = lambda k: int(st[k].split()[0])
    try:
        sm = dict((l.split()[0].rstrip(":"), int(l.split()[1])) for l in open(f"/proc/{p}/smaps_rollup")
                  if len(l.split()) == 3)
    except OSError:
        continue
    rows.append((p, kb("VmRSS"), kb("RssAnon"), kb("VmHWM"), sm.get("Private_Clean", 0) + sm.get("Private_Dirty", 0),
                 sm.get("Pss", 0)))
if rows:
    r = sorted(x[1] for x in rows); a = sorted(x[2] for x in rows)
    u = sorted(x[4] for x in rows); s = sorted(x[5] for x in rows)
    over = ["%s (%.1f)" % (x[0], x[1] / 1024) for x in rows if x[1] > lim]
    print("  %s helpers %s (%d): RSS min %.1f median %.1f max %.1f MiB, anonymous median %.1f max %.1f MiB, "
          "peak (VmHWM) max %.1f MiB; %s" % (drv, what, len(rows), r[0] / 1024, statistics.median(r) / 1024, r[-1] / 1024,
          statistics.median(a) / 1024, a[-1] / 1024, max(x[3] for x in rows) / 1024,
          "over %.0f MiB: %s" % (lim / 1024, ", ".join(over)) if over else "all within %.0f MiB" % (lim / 1024)))
    print("  %s helpers %s: private (USS) median %.1f max %.1f MiB, PSS median %.1f max %.1f MiB" % (
          drv, what, statistics.median(u) / 1024, u[-1] / 1024, statistics.median(s) / 1024, s[-1] / 1024))
PY
}
node_total() {
	local pid r f a p h sr=0 sp=0 n=0
	for pid in "$PVNODE_PID" "${HELPERS[@]}"; do
		read -r r f a p h < <(mem "$pid")
		sr=$((sr + r)); sp=$((sp + p)); n=$((n + 1))
	done
	echo "node total $1 ($n processes: pvnode + helpers): sum of RSS $(mib "$sr") MiB, sum of PSS $(mib "$sp") MiB"
}
# latency DRIVER METHOD: p50/p99/max over pvnode's "METHOD ok (X ms)" lines for DRIVER's volumes
latency() {
	python3 - "$1" "$2" "$T/pvnode.$1.log" <<'PY'
import re, sys
drv, meth, log = sys.argv[1:4]
v = sorted(float(m.group(1)) for m in (re.search(meth + r" ok \(([0-9.]+) ms\)", l) for l in open(log)) if m)
q = lambda f: v[min(len(v) - 1, int(len(v) * f))]
if v:
    print("  %s %s: %d calls, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (drv, meth, len(v), q(0.5), q(0.99), v[-1]))
PY
}

# The NFS fixture first: its mount namespace copies the mounts that exist when it is
# made, and would keep every volume staged before it busy.
NFS_H=()
. "$LIB/nfs.sh"
NFS_UP=0
if [ "$VN" -gt 0 ] && nfs_fixture_have && [ -x "$(dirname "$PVCTL")/pvnode-nfs-fuse" ]; then
	NFS_T=$(mktemp -d /tmp/pvnode-volmem-nfs.XXXXXX)
	chmod 755 "$NFS_T"
	mkdir -p "$NFS_T/nfs" "$NFS_T/pods"
	if nfs_fixture_start "$NFS_T/nfs"; then NFS_UP=1; else echo "(nfs-ganesha did not start: no NFS volumes)"; fi
fi
"$PVNODE" --endpoint "$EP" --node-id a --state-dir "$T/a" --allowed-path "$T/allowed" --selinux off \
	--reconcile-interval 0 >"$T/pvnode.log" 2>&1 &
PVNODE_PID=$!
for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
sleep 1.5   # the start-up trim
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
show_pvnode "idle at start"

CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
stage_one() {   # stage_one NAME CREATE-PARAMETERS...
	local v=$1 out ctx
	shift
	out=$("$CSI_CALL" "$EP" CreateVolume name="$v" capacity_range.required_bytes=$((64 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		"$@" 2>"$T/create.err") || fail "create $v: $(cat "$T/create.err")"
	ctx=$(python3 -c 'import json,sys
v=json.loads(sys.argv[1])["volume"]
print(" ".join("volume_context.%s=%s" % kv for kv in v.get("volume_context",{}).items()))' "$out")
	"$CSI_CALL" "$EP" NodeStageVolume volume_id="$v" staging_target_path="$T/allowed/stg/$v" $CAP $ctx \
		${STAGE_EXTRA:-} >/dev/null 2>&1 ||
		fail "stage $v: $(tail -3 "$T/pvnode.log")"
	"$CSI_CALL" "$EP" NodePublishVolume volume_id="$v" staging_target_path="$T/allowed/stg/$v" \
		target_path="$T/allowed/pods/$v" $CAP $ctx >/dev/null 2>&1 || fail "publish $v"
}
mark=$(wc -l <"$T/pvnode.log")
for i in $(seq 1 "$VI"); do
	stage_one "i$i" parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.lun="$i"
done
tail -n +"$((mark + 1))" "$T/pvnode.log" >"$T/pvnode.iscsi.log"
mark=$(wc -l <"$T/pvnode.log")
for i in $(seq 1 "$VF"); do stage_one "f$i" parameters.driver=file; done
tail -n +"$((mark + 1))" "$T/pvnode.log" >"$T/pvnode.file.log"
mapfile -t ISCSI_H < <(helpers iscsi "$T/")

RBD_H=()
if [ "$VR" -gt 0 ] && command -v ceph-mon >/dev/null && [ -x "$(dirname "$PVCTL")/pvnode-rbd-fuse" ]; then
	. "$LIB/ceph.sh"
	CEPH_PARENT_DIR=$T
	if ceph_start >"$T/ceph.out" 2>&1; then
		KEY=$T/userKey   # for csi_call (@FILE), without the newline
		(umask 077 && printf %s "$(cat "$CEPH_KEY_FILE")" >"$KEY")
		STAGE_EXTRA="secrets.userID=admin secrets.userKey=@$KEY"
		mark=$(wc -l <"$T/pvnode.log")
		for i in $(seq 1 "$VR"); do
			stage_one "r$i" parameters.driver=rbd parameters.monitors="$CEPH_MONITORS" parameters.pool="$CEPH_POOL" \
				parameters.imageFeatures=layering,exclusive-lock $STAGE_EXTRA
		done
		tail -n +"$((mark + 1))" "$T/pvnode.log" >"$T/pvnode.rbd.log"
		STAGE_EXTRA=""
		mapfile -t RBD_H < <(helpers rbd "$T/")
	else
		echo "(the Ceph cluster did not start: no RBD volumes; $(tail -2 "$T/ceph.out"))"
		VR=0
	fi
else
	VR=0
fi

pvn_nfs() { nfs_in_ns "$PVCTL" --state-dir "$NFS_T/state" --node-id a --allowed-path "$NFS_T" "$@"; }
if [ "$NFS_UP" = 1 ]; then
	for v in $(seq 1 "$VN"); do
		nfs_spec "n$v" "" >"$NFS_T/n$v.json"
		{ pvn_nfs create -f "$NFS_T/n$v.json" && pvn_nfs stage "n$v" && pvn_nfs publish "n$v" "$NFS_T/pods/n$v"; } \
			>/dev/null || fail "nfs volume n$v"
	done
	mapfile -t NFS_H < <(helpers nfs "$NFS_T/")
fi
HELPERS=("${ISCSI_H[@]}" "${NFS_H[@]}" "${RBD_H[@]}")
sleep 2   # the helpers trim their buffers after a quiet second

echo "staged: $VI iSCSI (${#ISCSI_H[@]} helpers), $VF file (no helper: loop devices), ${#NFS_H[@]} NFS, ${#RBD_H[@]} RBD (helpers); load average $(cut -d' ' -f1-3 /proc/loadavg)"
show_pvnode "with them staged"
LIMIT=$((8 << 10))
summary iscsi "idle" "${ISCSI_H[@]}"
[ "${#NFS_H[@]}" -gt 0 ] && summary nfs "idle" "${NFS_H[@]}"
[ "${#RBD_H[@]}" -gt 0 ] && summary rbd "idle" "${RBD_H[@]}"
node_total "idle"
# HOLD=SECONDS: wait here (to look at the idle processes: smaps, threads)
[ -n "${HOLD:-}" ] && { echo "holding $HOLD s (pvnode $PVNODE_PID, helpers ${HELPERS[*]})"; sleep "$HOLD"; }

# Sustained I/O on every volume at once, the helpers' RSS sampled every half second.
{
	echo "[global]"
	echo "ioengine=libaio"
	echo "direct=1"
	echo "time_based=1"
	echo "runtime=$IO_S"
	echo "size=48M"
	echo "group_reporting=1"
	k=0
	for d in "$T"/allowed/pods/* ${NFS_T:+"$NFS_T"/pods/*}; do
		[ -d "$d" ] || continue
		k=$((k + 1))
		echo "[v$k]"
		echo "filename=$d/fio.dat"
		case "$d" in "$NFS_T"/*) echo "direct=0"; echo "ioengine=psync";; esac
		if [ $((k % 2)) = 0 ]; then echo "rw=randwrite"; echo "bs=4k"; echo "iodepth=16"
		else echo "rw=write"; echo "bs=1M"; echo "iodepth=4"; fi
	done
} >"$T/all.fio"
fio "$T/all.fio" --output="$T/fio.out" >/dev/null 2>&1 &
FIO_PID=$!
# every half second: each helper's RSS, private and PSS (their highest per helper), and
# the node's sums of RSS and PSS (their highest), until the stop file exists
rm -f "$T/sample.stop"
python3 - "$T/sample.stop" "$PVNODE_PID" "${HELPERS[@]}" >"$T/sample.out" <<'PY' &
import os, sys, time
stop, pids = sys.argv[1], sys.argv[2:]
best = {p: [0, 0, 0] for p in pids}
node = [0, 0]
def roll(p):
    v = {}
    for l in open(f"/proc/{p}/smaps_rollup"):
        f = l.split()
        if len(f) == 3:
            v[f[0].rstrip(":")] = int(f[1])
    return v["Rss"], v.get("Private_Clean", 0) + v.get("Private_Dirty", 0), v["Pss"]
while not os.path.exists(stop):
    sr = sp = 0
    for p in pids:
        try:
            r, u, s = roll(p)
        except (OSError, KeyError):
            continue
        b = best[p]
        best[p] = [max(b[0], r), max(b[1], u), max(b[2], s)]
        sr += r; sp += s
    node = [max(node[0], sr), max(node[1], sp)]
    time.sleep(0.5)
print("node", *node)
for p in pids[1:]:
    print(p, *best[p])
PY
SAMPLER=$!
wait "$FIO_PID"
FIO_PID=""
touch "$T/sample.stop"
wait "$SAMPLER"
declare -A MAXRSS MAXPRIV MAXPSS
while read -r pid r u s; do MAXRSS[$pid]=$r; MAXPRIV[$pid]=$u; MAXPSS[$pid]=$s; done < <(grep -v '^node' "$T/sample.out")
echo "under I/O ($IO_S s of fio on all $(grep -c '^\[v' "$T/all.fio") volumes at once; $(grep -E '^ +WRITE:' "$T/fio.out" | sed 's/^ *//; s/,.*//')); load average $(cut -d' ' -f1-3 /proc/loadavg)"
show_pvnode "after the I/O"
LIMIT=$((32 << 10))
summary iscsi "at the end of the I/O" "${ISCSI_H[@]}"
[ "${#NFS_H[@]}" -gt 0 ] && summary nfs "at the end of the I/O" "${NFS_H[@]}"
[ "${#RBD_H[@]}" -gt 0 ] && summary rbd "at the end of the I/O" "${RBD_H[@]}"
for drv in iscsi nfs rbd; do
	case $drv in iscsi) set -- "${ISCSI_H[@]}";; nfs) set -- "${NFS_H[@]}";; rbd) set -- "${RBD_H[@]}";; esac
	[ $# -gt 0 ] || continue
	for what in RSS private PSS; do
		for pid in "$@"; do
			case $what in RSS) echo "${MAXRSS[$pid]:-0}";; private) echo "${MAXPRIV[$pid]:-0}";; PSS) echo "${MAXPSS[$pid]:-0}";; esac
		done | sort -n | awk -v drv="$drv" -v what="$what" '{ v[NR] = $1 }
			END { printf "  %s helpers, highest %s sampled during the I/O: median %.1f max %.1f MiB\n", drv, what, v[int((NR+1)/2)]/1024, v[NR]/1024 }'
	done
done
read -r _ r s < <(grep '^node' "$T/sample.out")
echo "node total, highest sampled during the I/O (pvnode + helpers): sum of RSS $(mib "$r") MiB, sum of PSS $(mib "$s") MiB"
node_total "at the end of the I/O"
sleep 3
summary iscsi "3 s after the I/O" "${ISCSI_H[@]}"
[ "${#NFS_H[@]}" -gt 0 ] && summary nfs "3 s after the I/O" "${NFS_H[@]}"
[ "${#RBD_H[@]}" -gt 0 ] && summary rbd "3 s after the I/O" "${RBD_H[@]}"
node_total "3 s after the I/O"
[ -n "${HOLD_AFTER:-}" ] && { echo "holding $HOLD_AFTER s after the I/O"; sleep "$HOLD_AFTER"; }

echo "stage and publish through CSI, one volume after another (pvnode's own timing):"
for drv in iscsi file rbd; do
	[ -s "$T/pvnode.$drv.log" ] || continue
	latency "$drv" NodeStageVolume
	latency "$drv" NodePublishVolume
done

for i in $(seq 1 "$VF") ; do
	"$CSI_CALL" "$EP" NodeUnpublishVolume volume_id="f$i" target_path="$T/allowed/pods/f$i" >/dev/null 2>&1
	"$CSI_CALL" "$EP" NodeUnstageVolume volume_id="f$i" staging_target_path="$T/allowed/stg/f$i" >/dev/null 2>&1
done
for i in $(seq 1 "$VR"); do
	"$CSI_CALL" "$EP" NodeUnpublishVolume volume_id="r$i" target_path="$T/allowed/pods/r$i" >/dev/null 2>&1
	"$CSI_CALL" "$EP" NodeUnstageVolume volume_id="r$i" staging_target_path="$T/allowed/stg/r$i" >/dev/null 2>&1
	"$CSI_CALL" "$EP" DeleteVolume volume_id="r$i" secrets.userID=admin secrets.userKey=@"$KEY" >/dev/null 2>&1
done
for i in $(seq 1 "$VI"); do
	"$CSI_CALL" "$EP" NodeUnpublishVolume volume_id="i$i" target_path="$T/allowed/pods/i$i" >/dev/null 2>&1
	"$CSI_CALL" "$EP" NodeUnstageVolume volume_id="i$i" staging_target_path="$T/allowed/stg/i$i" >/dev/null 2>&1
done
