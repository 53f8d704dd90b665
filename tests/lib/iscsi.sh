# tests/lib/iscsi.sh — a private tgtd (userspace iSCSI target) for tests and benches.
#
# Source it, then:
#   tgt_start                      start tgtd on 127.0.0.1:<free port in 13000-13999> with a
#                                  free control port (-C, 200-299); sets TGT_PORT, TGT_CTL,
#                                  TGT_PORTAL, TGT_PID; registers tgt_stop in the caller's cleanup
#   tgt_add_target TID IQN         a target bound to every initiator
#   tgt_add_lun TID LUN FILE SIZE  a file-backed LUN (the file is created sparse)
#   tgt_thin TID LUN               thin provisioning: UNMAP punches holes in the file
#   tgt_add_chap TID USER PASS     incoming CHAP account bound to the target
#   tgt_stop                       offline, delete targets, delete the system, wait for the pid
#   tgt_kill                       SIGKILL (outage tests)
# TGT_PORT_FIXED=<port> makes tgt_start reuse a port (restart after tgt_kill).
# tgtd runs as this shell's child in the foreground, so `wait` reaps it (PID 1 reaps late).

_ISCSI_ARGS=("$@")   # the sourcing script's arguments, for the re-exec below
TGT_PID=""
TGT_CTL=""
TGT_PORT=""
TGT_LOG=""

tgt_adm() { tgtadm -C "$TGT_CTL" --lld iscsi "$@"; }

_tgt_free_tcp_port() {
	local p tries
	for tries in $(seq 1 200); do
		p=$((13000 + RANDOM % 1000))
		if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
	done
	return 1
}

_tgt_free_ctl() {
	local c
	for c in $(shuf -i 200-299); do
		# tgtd listens on /var/run/tgtd/socket.<n> and takes socket.<n>.lock
		[ -e "/var/run/tgtd/socket.$c" ] || [ -e "/var/run/tgtd/socket.$c.lock" ] || { echo "$c"; return 0; }
	done
	return 1
}

tgt_start() {
	local dir=${1:-${TMPDIR:-/tmp}} i
	command -v tgtd >/dev/null || { echo "tgtd not installed" >&2; return 77; }
	TGT_PORT=${TGT_PORT_FIXED:-$(_tgt_free_tcp_port)} || return 1
	TGT_CTL=$(_tgt_free_ctl) || return 1
	TGT_PORTAL="127.0.0.1:$TGT_PORT"
	TGT_LOG="$dir/tgtd.$TGT_CTL.log"
	mkdir -p /var/run/tgtd
	tgtd -f -C "$TGT_CTL" --iscsi "portal=$TGT_PORTAL" >"$TGT_LOG" 2>&1 &
	TGT_PID=$!
	for i in $(seq 1 200); do
		if tgt_adm --op show --mode sys >/dev/null 2>&1 && ss -Htln "sport = :$TGT_PORT" | grep -q .; then
			# burst sizes: the defaults halve write speed
			tgt_adm --op update --mode sys --name MaxRecvDataSegmentLength -v 1048576 >/dev/null 2>&1 || true
			return 0
		fi
		kill -0 "$TGT_PID" 2>/dev/null || { cat "$TGT_LOG" >&2; TGT_PID=""; return 1; }
		sleep 0.05
	done
	echo "tgtd did not come up on $TGT_PORTAL" >&2
	return 1
}

tgt_add_target() {
	local tid=$1 iqn=$2 p
	tgt_adm --op new --mode target --tid "$tid" -T "$iqn" || return 1
	tgt_adm --op bind --mode target --tid "$tid" -I ALL || return 1
	for p in MaxBurstLength=4194304 FirstBurstLength=1048576 MaxRecvDataSegmentLength=1048576 \
		MaxXmitDataSegmentLength=1048576 InitialR2T=No ImmediateData=Yes; do
		tgt_adm --op update --mode target --tid "$tid" --name "${p%%=*}" -v "${p#*=}" >/dev/null || return 1
	done
}

tgt_add_lun() {
	local tid=$1 lun=$2 file=$3 size=$4
	[ -e "$file" ] || truncate -s "$size" "$file" || return 1
	tgt_adm --op new --mode logicalunit --tid "$tid" --lun "$lun" -b "$file" || return 1
}

tgt_thin() {
	tgt_adm --op update --mode logicalunit --tid "$1" --lun "$2" --params thin_provisioning=1
}

tgt_add_chap() {
	local tid=$1 user=$2 pass=$3
	tgt_adm --op new --mode account --user "$user" --password "$pass" || return 1
	tgt_adm --op bind --mode account --tid "$tid" --user "$user" || return 1
}

tgt_stop() {
	[ -n "$TGT_PID" ] || return 0
	if kill -0 "$TGT_PID" 2>/dev/null; then
		tgt_adm --op update --mode sys --name State -v offline >/dev/null 2>&1
		local tid
		for tid in $(tgt_adm --op show --mode target 2>/dev/null | sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
			tgt_adm --op delete --force --mode target --tid "$tid" >/dev/null 2>&1
		done
		tgt_adm --op delete --mode system >/dev/null 2>&1
		local i
		for i in $(seq 1 50); do kill -0 "$TGT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$TGT_PID" 2>/dev/null
	fi
	wait "$TGT_PID" 2>/dev/null
	rm -f "/var/run/tgtd/socket.$TGT_CTL" "/var/run/tgtd/socket.$TGT_CTL.lock"
	TGT_PID=""
}

tgt_kill() {
	[ -n "$TGT_PID" ] || return 0
	kill -9 "$TGT_PID" 2>/dev/null
	wait "$TGT_PID" 2>/dev/null
	rm -f "/var/run/tgtd/socket.$TGT_CTL" "/var/run/tgtd/socket.$TGT_CTL.lock"
	TGT_PID=""
}

# --- test prelude shared by tests/iscsi/*.sh and tests/bench/iscsi_bench.sh ---
#   iscsi_test_init NAME   root + tgtd + pvctl + helper or exit 77; T=<private tmp dir>;
#                          cleanup trap (pvctl unstage, helpers, mounts, loops, tgtd)
#   pvn NODE ARGS...       pvctl for "node" NODE (state dir $T/NODE, node id NODE)
#   iscsi_pv NAME IQN LUN [MODE] [SECRET] [EXTRA_ATTRS_JSON]   a PV JSON on stdout
#   fail MSG               print and exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

pvn() {
	local node=$1; shift
	"$PVCTL" --state-dir "$T/$node" --node-id "$node" --allowed-path "$T" --selinux off "$@"
}

iscsi_pv() {
	local name=$1 iqn=$2 lun=$3 mode=${4:-ReadWriteOnce} secret=${5:-} extra=${6:-}
	printf '{"name":"%s","driver":"iscsi","capacity":"%s","accessModes":["%s"],"volumeMode":"Filesystem","fsType":"ext4",' \
		"$name" "${PV_CAPACITY:-256Mi}" "$mode"
	[ -n "$secret" ] && printf '"secretRef":"%s",' "$secret"
	printf '"attributes":{"portal":"%s","iqn":"%s","lun":"%s"%s}}\n' "$TGT_PORTAL" "$iqn" "$lun" "$extra"
}

_iscsi_cleanup() {
	local rc=$? d n v pid m l
	set +e
	for d in "$T"/*/; do
		[ -d "$d/journal" ] || [ -d "$d/catalog" ] || continue
		n=$(basename "$d")
		for v in $(ls "$d/journal" 2>/dev/null | sed 's/\.json$//'); do
			timeout 60 "$PVCTL" --state-dir "$T/$n" --node-id "$n" --allowed-path "$T" delete "$v" --force >/dev/null 2>&1
		done
	done
	# helpers started for this test only: their mountpoint is under $T
	# loops before the unmounts too: over a lazily unmounted FUSE file a loop device's
	# backing file reads "/disk", no longer under $T
	for l in $(losetup -nO NAME,BACK-FILE 2>/dev/null | awk -v t="$T/" 'index($2, t) == 1 { print $1 }'); do
		losetup -d "$l" 2>/dev/null
	done
	for pid in $(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/"); do kill "$pid" 2>/dev/null; done
	for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for l in $(losetup -nO NAME,BACK-FILE 2>/dev/null | awk -v t="$T/" 'index($2, t) == 1 { print $1 }'); do
		losetup -d "$l" 2>/dev/null
	done
	sleep 0.2
	for pid in $(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/"); do kill -9 "$pid" 2>/dev/null; done
	for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	tgt_stop
	[ -n "${ISCSI_EXTRA_CLEANUP:-}" ] && eval "$ISCSI_EXTRA_CLEANUP"
	if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then rm -rf "$T"; else echo "test dir kept: $T" >&2; fi
	exit "$rc"
}

iscsi_test_init() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	# Run in a private mount namespace: a namespace someone else creates meanwhile
	# (unshare -m) would otherwise copy our mounts and keep a filesystem alive on a
	# device we are tearing down.
	if [ -z "${PVNODE_ISCSI_PRIVATE_NS:-}" ] && command -v unshare >/dev/null; then
		export PVNODE_ISCSI_PRIVATE_NS=1
		exec unshare --mount --propagation private -- bash "$0" "${_ISCSI_ARGS[@]}"
	fi
	command -v tgtd >/dev/null || { echo "SKIP: tgtd not installed (apt-get install tgt)"; exit 77; }
	: "${PVCTL:=${PVNODE_BUILD_ROOT:-$(dirname "$0")/../../build-iscsi}/pvctl}"
	[ -x "$PVCTL" ] || { echo "SKIP: no pvctl at $PVCTL"; exit 77; }
	export PVNODE_HELPER_DIR=${PVNODE_HELPER_DIR:-$(dirname "$PVCTL")}
	[ -x "$PVNODE_HELPER_DIR/pvnode-iscsi-fuse" ] || { echo "SKIP: no pvnode-iscsi-fuse"; exit 77; }
	T=$(mktemp -d "/tmp/pvnode-iscsi-$1.XXXXXX")
	trap _iscsi_cleanup EXIT
	trap 'exit 1' INT TERM
	tgt_start "$T" || exit 1
}
