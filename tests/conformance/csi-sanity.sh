#!/bin/bash
# tests/conformance/csi-sanity.sh — run the CSI conformance suite (kubernetes-csi
# csi-sanity) against pvnode, once per driver, each with its own backend server.
#
#   tests/conformance/csi-sanity.sh BUILD_DIR [csi-sanity options...]
#
#   BUILD_DIR     a pvnode build directory (holds pvnode, pvnode-*-fuse, tests/csi/csi_call)
#   options       passed to every csi-sanity run after the harness's own, e.g.
#                 --csi.testvolumeaccesstype=block  --ginkgo.focus='NodeStage'
#   CSI_SANITY    the csi-sanity binary (default /opt/csi-sanity/csi-sanity); it is not
#                 built by meson (see tests/conformance/README.md), so this script is not
#                 a meson test
#   DRIVERS       drivers to run (default "file nfs iscsi rbd")
#   RESULTS_DIR   where each run's output, junit report and pvnode log are kept
#                 (default ./csi-sanity-results)
#   VOLUME_SIZE / EXPAND_SIZE   bytes for --csi.testvolumesize / testvolumeexpandsize
#                 (default 256 MiB / 512 MiB; VOLUME_SIZE=default leaves both to csi-sanity:
#                 10 GiB volumes, expanded to 11 GiB; the sparse iSCSI LUN grows to match)
#   ISCSI_CHAP=1  the iSCSI target requires CHAP; csi-sanity sends the credentials as CSI
#                 secrets (--csi.secrets) on every call that can carry them
#
# Per driver: pvnode on its own unix socket, state directory and --allowed-path, all under
# a private temp dir, serving that driver alone (--drivers DRIVER: its controller
# capabilities, snapshots and clones among them, are that driver's, as an operator running
# one backend would have them); csi-sanity's mount and staging dirs under that allowed
# prefix; a --csi.testvolumeparameters YAML with the StorageClass parameters CreateVolume
# needs.
#   file   nothing else (sparse images in the state dir, loop devices)
#   nfs    rpcbind + nfs-ganesha in a private network namespace (tests/lib/nfs.sh); pvnode
#          runs in that network namespace, its userspace NFS helpers with it
#   iscsi  tgtd on a free loopback port (tests/lib/iscsi.sh) with one target and
#          ISCSI_LUNS sparse LUNs (default 255): pvnode does not create LUNs and
#          csi-sanity gives every volume the same parameters, so they name a pool
#          (luns: "1-255") and each CreateVolume gets a LUN no other volume uses;
#          pvnode's max_volumes_per_node is ISCSI_LUNS - 1 there (the attach-limit
#          spec holds one volume more than the limit)
#   rbd    a private one-mon, one-memstore-OSD Ceph cluster (tests/lib/ceph.sh) on free
#          loopback ports; CreateVolume makes an image per volume; the cephx admin key
#          travels as CSI secrets (--csi.secrets) on every call; userspace data path
# Prints "DRIVER: N passed, N failed, N skipped" per driver (ginkgo's summary; skipped
# counts specs ginkgo did not run, filtered or Skip()ped) and the failed specs' names.
# Exit 0 when every run passed, 1 otherwise, 77 when something needed is missing.
#
# Everything runs in a private mount namespace (the script re-executes itself under
# `unshare --mount`), so no mount it makes is seen, or copied, elsewhere. The EXIT trap
# stops what it started by PID (csi-sanity, pvnode, helpers whose command line names the
# temp dir, tgtd, the NFS namespace holder), unmounts what lies under the temp dir,
# detaches loop devices backed by files under it and removes it, also on failure.
set -u

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	sed -n '2,/^set -u/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -u/d'
	exit 2
fi
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mounts, loop devices, namespaces)"; exit 77; }

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$1" && pwd) || exit 2
shift

if [ -z "${PVNODE_SANITY_PRIVATE_NS:-}" ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare (util-linux) not installed"; exit 77; }
	export PVNODE_SANITY_PRIVATE_NS=1
	exec unshare --mount --propagation private -- bash "$0" "$BUILD" "$@"
fi

CSI_SANITY=${CSI_SANITY:-/opt/csi-sanity/csi-sanity}
DRIVERS=${DRIVERS:-file nfs iscsi rbd}
RESULTS_DIR=${RESULTS_DIR:-$PWD/csi-sanity-results}
ISCSI_LUNS=${ISCSI_LUNS:-255}   # LUNs 1-255: libiscsi + tgt address 0-255 only
VOLUME_SIZE=${VOLUME_SIZE:-$((256 << 20))}
EXPAND_SIZE=${EXPAND_SIZE:-$((512 << 20))}
ISCSI_CHAP=${ISCSI_CHAP:-0}
SIZE_ARGS=()
if [ "$VOLUME_SIZE" = default ]; then
	LUN_SIZE=${LUN_SIZE:-12G}  # csi-sanity's 10 GiB + its 1 GiB expansion
else
	SIZE_ARGS=(--csi.testvolumesize="$VOLUME_SIZE" --csi.testvolumeexpandsize="$EXPAND_SIZE")
	LUN_SIZE=${LUN_SIZE:-2G}   # sparse; must hold EXPAND_SIZE (ControllerExpand checks it)
fi
PVNODE=$BUILD/pvnode
CSI_CALL=$BUILD/tests/csi/csi_call
SANITY_ARGS=("$@")
BLOCK=0
for a in "$@"; do
	case $a in --csi.testvolumeaccesstype=block | -csi.testvolumeaccesstype=block) BLOCK=1 ;; esac
done
CHAP_USER=sanity-user
CHAP_PASS=Sanity-Secret-42

[ -x "$CSI_SANITY" ] || { echo "SKIP: no csi-sanity at $CSI_SANITY (set CSI_SANITY; tests/conformance/README.md)"; exit 77; }
[ -x "$PVNODE" ] || { echo "SKIP: no pvnode in $BUILD"; exit 77; }
[ -e /dev/loop-control ] || { echo "SKIP: no loop devices"; exit 77; }

# The fixtures. nfs.sh and iscsi.sh only define functions and variables when sourced.
# shellcheck source=../lib/nfs.sh
. "$SRC/tests/lib/nfs.sh"
# shellcheck source=../lib/iscsi.sh
. "$SRC/tests/lib/iscsi.sh"
# shellcheck source=../lib/ceph.sh
. "$SRC/tests/lib/ceph.sh"

mkdir -p "$RESULTS_DIR" || exit 1
T=$(mktemp -d /tmp/pvnode-csi-sanity.XXXXXX) || exit 1
chmod 755 "$T"
echo $$ >"$T/owner.pid"
PVNODE_PID=""
SANITY_PID=""
NFS_UP=""
RBD_UP=""

log() { echo "[csi-sanity.sh] $*" >&2; }

# Is PID running (not a zombie: PID 1 reaps orphans late on this kind of machine)?
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

stop_pid() {   # stop_pid PID [seconds]: TERM, wait, KILL; reaps it if it is our child
	local p=$1 n=$((${2:-10} * 10))
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq "$n"); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# Helpers pvnode started for volumes of this run, and a pvnode of this run that outlived
# its PID's TERM (should not happen): their command lines name $T.
our_helpers() {
	local p
	for p in $(pgrep -f "pvnode(-iscsi-fuse|-nfs-fuse|-rbd-fuse|-rbd)? .*$T/" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$T/" && echo "$p"
	done
}

# unmount_under_t [lazy]: every mount below $T, deepest first; with "lazy", detach what
# is still busy. Without it a busy mount stays: a helper's FUSE file under a loop device
# must stay reachable until the loop is detached, else the loop's backing file no longer
# shows a path under $T and nothing here could find that loop device again.
unmount_under_t() {
	local m
	for m in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || { [ "${1:-}" = lazy ] && umount -l "$m" 2>/dev/null; }
	done
}

loops_under_t() {
	local dev back
	losetup -nO NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
		case "$back" in "$T"/*) echo "$dev" ;; esac
	done
}

# Undo one driver's run: csi-sanity, pvnode, then what a run cut short leaves staged
# (pvnode keeps volumes staged across its own restarts): staging and publish mounts, loop
# devices, helpers and their FUSE mounts; then the backend server.
driver_cleanup() {
	local p l loops
	if [ -n "$SANITY_PID" ]; then stop_pid "$SANITY_PID" 5; SANITY_PID=""; fi
	if [ -n "$PVNODE_PID" ]; then stop_pid "$PVNODE_PID" 15; PVNODE_PID=""; fi
	loops=$(loops_under_t)                 # while their backing files are still reachable
	unmount_under_t                        # filesystems on the loops, bind mounts
	unmount_under_t
	for l in $loops; do losetup -d "$l" 2>/dev/null; done
	for p in $(our_helpers); do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 30); do [ -z "$(our_helpers)" ] && break; sleep 0.1; done
	for p in $(our_helpers); do kill -KILL "$p" 2>/dev/null; done
	for l in $(loops_under_t); do losetup -d "$l" 2>/dev/null; done
	unmount_under_t lazy
	tgt_stop
	if [ -n "$NFS_UP" ]; then nfs_fixture_stop; NFS_UP=""; fi
	if [ -n "$RBD_UP" ]; then ceph_stop; RBD_UP=""; fi
	unmount_under_t lazy
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	driver_cleanup
	local left
	left=$(awk -v t="$T/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)
	[ "$left" = 0 ] || log "warning: $left mounts under $T are still there"
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Wait until pvnode answers Probe (csi_call), or at least listens (no csi_call built).
wait_pvnode() {
	local sock=$1
	for _ in $(seq 200); do
		alive "$PVNODE_PID" || { log "pvnode exited at start:"; tail -n 20 "$T/pvnode.log" >&2; return 1; }
		if [ -x "$CSI_CALL" ]; then
			"$CSI_CALL" "unix://$sock" Probe 2>/dev/null | grep -q '"value":true' && return 0
		else
			[ -S "$sock" ] && return 0
		fi
		sleep 0.05
	done
	log "pvnode did not answer Probe within 10 s"
	return 1
}

# start_pvnode DRIVER: state dir, allowed prefix and socket of this driver's run.
start_pvnode() {
	local d=$1 sock=$T/$1/csi.sock
	local cmd=("$PVNODE" --endpoint "unix://$sock" --node-id "sanity-node-$d"
		--state-dir "$T/$d/state" --allowed-path "$T/$d/allowed" --selinux off
		--reconcile-interval 0 --drivers "$d" -v)
	# iscsi: a LUN per volume from the pool, and libiscsi + tgt address LUNs 0-255 only
	# (256 and up go by flat addressing, which REPORT LUNS shows as 16640...): the
	# attach-limit spec holds max_volumes_per_node + 1 volumes, so the limit fits the pool
	[ "$d" = iscsi ] && cmd+=(--max-volumes-per-node "$((ISCSI_LUNS - 1))")
	mkdir -p "$T/$d/state" "$T/$d/allowed"
	: >"$T/pvnode.log"
	if [ "$d" = nfs ]; then
		# libnfs reaches ganesha on 127.0.0.1 of the fixture's network namespace. Not
		# through the nfs_in_ns function: backgrounded, it would be a subshell whose PID
		# is not pvnode's. nsenter (network namespace only) execs pvnode in place.
		nsenter --net="/proc/$NFS_NS_PID/ns/net" -- "${cmd[@]}" >>"$T/pvnode.log" 2>&1 &
	else
		"${cmd[@]}" >>"$T/pvnode.log" 2>&1 &
	fi
	PVNODE_PID=$!
	wait_pvnode "$sock" || return 1
	grep -qF -- "$T/$d/csi.sock" "/proc/$PVNODE_PID/cmdline" 2>/dev/null ||
		{ log "PID $PVNODE_PID is not the pvnode started"; return 1; }
}

# write_params DRIVER FILE: the StorageClass-style parameters of every volume of the run.
write_params() {
	case $1 in
	file)
		printf 'driver: "file"\n' >"$2" ;;
	nfs)
		printf 'driver: "nfs"\nserver: "%s"\nshare: "%s"\nmounter: "userspace"\n' \
			"$NFS_SERVER" "$NFS_RW_SHARE" >"$2" ;;
	iscsi)
		printf 'driver: "iscsi"\nportal: "%s"\niqn: "%s"\nluns: "1-%s"\ninitiator: "userspace"\n' \
			"$TGT_PORTAL" "$ISCSI_IQN" "$ISCSI_LUNS" >"$2" ;;
	rbd)
		printf 'driver: "rbd"\nmonitors: "%s"\npool: "%s"\nmounter: "userspace"\n' \
			"$CEPH_MONITORS" "$CEPH_POOL" >"$2" ;;
	esac
}

# write_secrets FILE KEY1 VALUE1 KEY2 VALUE2: csi-sanity's secrets YAML, the same two
# secrets (CHAP credentials, a cephx user and key) for every call. 0600: a key is in it.
write_secrets() {
	local k
	(umask 077 && : >"$1")
	for k in CreateVolumeSecret DeleteVolumeSecret ControllerPublishVolumeSecret \
		ControllerUnpublishVolumeSecret ControllerValidateVolumeCapabilitiesSecret \
		NodeStageVolumeSecret NodePublishVolumeSecret ControllerExpandVolumeSecret \
		CreateSnapshotSecret DeleteSnapshotSecret ListSnapshotsSecret; do
		printf '%s:\n  %s: "%s"\n  %s: "%s"\n' "$k" "$2" "$3" "$4" "$5" >>"$1"
	done
}

start_backend() {
	case $1 in
	file) return 0 ;;
	nfs)
		if [ "$BLOCK" = 1 ]; then
			log "nfs has no block volumes (CreateVolume refuses volumeMode Block): not run"
			return 78
		fi
		nfs_fixture_have || { log "nfs-ganesha / rpcbind not installed (scripts/deps/nfs.txt)"; return 77; }
		[ -c /dev/fuse ] || { log "no /dev/fuse"; return 77; }
		[ -x "$BUILD/pvnode-nfs-fuse" ] || { log "the nfs driver is not built"; return 77; }
		mkdir -p "$T/nfs-server"
		NFS_UP=1
		nfs_fixture_start "$T/nfs-server" || { log "the ganesha fixture did not start"; return 1; }
		;;
	iscsi)
		command -v tgtd >/dev/null || { log "tgtd not installed (scripts/deps/iscsi.txt)"; return 77; }
		[ -c /dev/fuse ] || { log "no /dev/fuse"; return 77; }
		[ -x "$BUILD/pvnode-iscsi-fuse" ] || { log "the iscsi driver is not built"; return 77; }
		ISCSI_IQN=iqn.2026-11.io.pvnode.test:sanity
		mkdir -p "$T/iscsi-server"
		tgt_start "$T/iscsi-server" || { log "tgtd did not start"; return 1; }
		tgt_add_target 1 "$ISCSI_IQN" || return 1
		for l in $(seq 1 "$ISCSI_LUNS"); do   # a pool: every volume gets a LUN of its own
			tgt_add_lun 1 "$l" "$T/iscsi-server/lun$l.img" "$LUN_SIZE" || return 1
		done
		if [ "$ISCSI_CHAP" = 1 ]; then
			tgt_add_chap 1 "$CHAP_USER" "$CHAP_PASS" || return 1
		fi
		;;
	rbd)
		command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null ||
			{ log "ceph-mon / ceph-osd not installed (scripts/deps/rbd.txt)"; return 77; }
		[ -c /dev/fuse ] || { log "no /dev/fuse"; return 77; }
		[ -x "$BUILD/pvnode-rbd-fuse" ] || { log "the rbd driver is not built"; return 77; }
		mkdir -p "$T/rbd-server"
		RBD_UP=1
		CEPH_PARENT_DIR=$T/rbd-server ceph_start || { log "the Ceph cluster did not start"; return 1; }
		;;
	esac
}

# summary_of OUTPUT_FILE: "P F S" from ginkgo's last "-- N Passed | N Failed | ..." line.
summary_of() {
	local line
	line=$(grep -E -- '-- [0-9]+ Passed \| [0-9]+ Failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then echo "- - -"; return 1; fi
	sed -E 's/.*-- ([0-9]+) Passed \| ([0-9]+) Failed \| ([0-9]+ Flaked \| )?[0-9]+ Pending \| ([0-9]+) Skipped.*/\1 \2 \4/' <<<"$line"
}

# connect_race_only OUTPUT: did every failure happen in csi-sanity's own connect
# (sanity.go:272, "Connection timed out")? csi-sanity v5.3.1's utils.Connect calls
# WaitForStateChange(ctx, GetState()) after a non-blocking Dial: when the channel is
# READY before its first GetState(), it waits a minute for a change that never comes.
# pvnode is not involved (it answered Probe before the run, and the next spec's fresh
# connection works). Fixed upstream after v5.3.1 (utils/grpcutil.go polls the state first).
connect_race_only() {
	local sum
	sum=$(sed -n '/^Summarizing [0-9]* Failure/,/^Ran [0-9]* of/p' "$1")
	[ -n "$sum" ] || return 1
	[ "$(grep -c '^\s*\[FAIL\]' <<<"$sum")" = "$(grep -c 'pkg/sanity/sanity.go:272$' <<<"$sum")" ] &&
		grep -q 'Connection timed out' "$1"
}

# run_driver DRIVER: one csi-sanity run against a fresh backend and pvnode; sets
# RESULT[DRIVER] and returns 0 passed, 1 failed, 2 failed only by the connect race.
run_driver() {
	local d=$1 rc=0 params out src p f s seed extra=()
	mkdir -p "$T/$d"
	start_backend "$d" || rc=$?
	if [ "$rc" = 77 ]; then RESULT[$d]="not run (backend not available)"; driver_cleanup; return 0; fi
	if [ "$rc" = 78 ]; then RESULT[$d]="not run (no block volumes on this driver)"; driver_cleanup; return 0; fi
	if [ "$rc" != 0 ] || ! start_pvnode "$d"; then
		RESULT[$d]="harness error (see $RESULTS_DIR/$d.pvnode.log)"
		driver_cleanup
		cp "$T/pvnode.log" "$RESULTS_DIR/$d.pvnode.log" 2>/dev/null
		return 1
	fi
	params=$T/$d/params.yaml
	write_params "$d" "$params"
	cp "$params" "$RESULTS_DIR/$d.params.yaml"
	if [ "$d" = iscsi ] && [ "$ISCSI_CHAP" = 1 ]; then
		write_secrets "$T/$d/secrets.yaml" node.session.auth.username "$CHAP_USER" \
			node.session.auth.password "$CHAP_PASS"
		extra=(--csi.secrets="$T/$d/secrets.yaml")
	fi
	if [ "$d" = rbd ]; then
		write_secrets "$T/$d/secrets.yaml" userID "$CEPH_USER" userKey "$(cat "$CEPH_KEY_FILE")"
		extra=(--csi.secrets="$T/$d/secrets.yaml")
	fi
	out=$RESULTS_DIR/$d.out
	"$CSI_SANITY" --csi.endpoint="unix://$T/$d/csi.sock" \
		--csi.mountdir="$T/$d/allowed/mount" \
		--csi.stagingdir="$T/$d/allowed/staging" \
		--csi.testvolumeparameters="$params" \
		"${SIZE_ARGS[@]}" "${extra[@]}" \
		--ginkgo.no-color --ginkgo.v \
		--ginkgo.junit-report="$RESULTS_DIR/$d.junit.xml" \
		"${SANITY_ARGS[@]}" >"$out" 2>&1 </dev/null &
	SANITY_PID=$!
	wait "$SANITY_PID"
	src=$?
	SANITY_PID=""
	alive "$PVNODE_PID" || log "pvnode ($d) is no longer running after csi-sanity"
	driver_cleanup
	cp "$T/pvnode.log" "$RESULTS_DIR/$d.pvnode.log" 2>/dev/null
	rm -rf "${T:?}/$d"
	seed=$(sed -n 's/^Random Seed: \([0-9]*\).*/\1/p' "$out" | head -n 1)
	read -r p f s < <(summary_of "$out")
	if [ "$p" = - ]; then
		RESULT[$d]="no ginkgo summary (csi-sanity exit $src; see $out)"
		return 1
	fi
	RESULT[$d]="$p passed, $f failed, $s skipped"
	log "$d: ${RESULT[$d]} (ginkgo seed ${seed:-?}; --ginkgo.seed=N repeats the order)"
	# The failed specs, from ginkgo's "Summarizing N Failures" block.
	sed -n '/^Summarizing [0-9]* Failure/,/^Ran [0-9]* of/p' "$out" |
		grep -E '^\s*\[(FAIL|PANICKED|TIMEDOUT|INTERRUPTED)\]' | sed 's/^/    /' >&2
	[ "$f" = 0 ] && [ "$src" = 0 ] && return 0
	connect_race_only "$out" && return 2
	return 1
}

declare -A RESULT
overall=0
for d in $DRIVERS; do
	case $d in file | nfs | iscsi | rbd) ;; *) log "unknown driver $d"; overall=1; continue ;; esac
	log "=== $d"
	rc=0
	run_driver "$d" || rc=$?
	if [ "$rc" = 2 ]; then
		log "$d: every failure is csi-sanity's connect race (utils.Connect, not pvnode); once more"
		mv "$RESULTS_DIR/$d.out" "$RESULTS_DIR/$d.connect-race.out"
		rc=0
		run_driver "$d" || rc=$?
		RESULT[$d]="${RESULT[$d]} (second run: the first hit csi-sanity's connect race)"
	fi
	[ "$rc" = 0 ] || overall=1
done

echo
for d in $DRIVERS; do echo "$d: ${RESULT[$d]:-not run}"; done
echo "outputs: $RESULTS_DIR"
exit "$overall"
