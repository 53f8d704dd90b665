# tests/lib/csi.sh — fixtures for the CSI tests: a private temp dir with a state dir and
# an allowed prefix, a pvnode on a socket in it, a generic CSI client (csi_call), and a
# cleanup trap that stops only our pvnode (by PID), unmounts only mounts under our temp
# dir and detaches only loop devices whose backing file is under it.
#
# Environment (set by meson): PVNODE, PVCTL, CSI_CALL. Exit 77 = skip.

csi_fail() { echo "FAIL: $*" >&2; [ -n "${T:-}" ] && [ -f "$T/pvnode.log" ] && tail -20 "$T/pvnode.log" >&2; exit 1; }
csi_skip() { echo "SKIP: $*" >&2; exit 77; }

csi_require_root() {
	[ "$(id -u)" = 0 ] || csi_skip "needs root (loop devices, mounts)"
	[ -e /dev/loop-control ] || csi_skip "no loop devices"
	[ -x "${PVNODE:-}" ] || csi_skip "pvnode not built"
	[ -x "${CSI_CALL:-}" ] || csi_skip "csi_call not built"
}

csi_setup() {
	T=$(mktemp -d /tmp/pvnode-csi-test.XXXXXX)
	mkdir -p "$T/state" "$T/allowed"
	SOCK="$T/csi.sock"
	EP="unix://$SOCK"
	ALLOWED="$T/allowed"
	PVNODE_PID=
	trap csi_cleanup EXIT
	trap 'exit 1' INT TERM
}

# Loop devices over files under $T detached (one in use goes at its last close).
csi_detach_loops() {
	local dev back
	losetup -l -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
		case "$back" in "$T"/*) losetup -d "$dev" 2>/dev/null || true ;; esac
	done
}

# Loops first as well as last: once a helper's FUSE file is lazily unmounted its loop
# device's backing file reads "/disk", no longer under $T.
csi_unmount_all() {
	local m
	csi_detach_loops
	# deepest first
	for m in $(findmnt -rn -o TARGET | grep "^$T/" | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	csi_detach_loops
}

csi_cleanup() {
	local rc=$? pid
	for pid in ${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -n "${PVNODE_PID:-}" ] && kill -0 "$PVNODE_PID" 2>/dev/null; then
		kill -TERM "$PVNODE_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$PVNODE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PVNODE_PID" 2>/dev/null || true
	fi
	# helpers the file driver may have left: none (loop devices only)
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		csi_unmount_all
		if [ "$rc" != 0 ] && [ -f "$T/pvnode.log" ]; then
			echo "--- pvnode log (last 40 lines) ---" >&2
			tail -40 "$T/pvnode.log" >&2
		fi
		rm -rf "$T"
	fi
	exit "$rc"
}

# csi_start [pvnode options...]: start pvnode on $SOCK, wait until Probe answers.
csi_start() {
	"$PVNODE" --endpoint "$EP" --node-id node-a --state-dir "$T/state" \
		--allowed-path "$ALLOWED" --selinux off "$@" >>"$T/pvnode.log" 2>&1 &
	PVNODE_PID=$!
	for _ in $(seq 100); do
		if "$CSI_CALL" "$EP" Probe >/dev/null 2>&1; then return 0; fi
		kill -0 "$PVNODE_PID" 2>/dev/null || csi_fail "pvnode exited at start"
		sleep 0.05
	done
	csi_fail "pvnode did not answer Probe within 5 s"
}

# csi_start_extra NAME [pvnode options...]: one more pvnode, on $T/NAME.sock (log
# $T/NAME.log; the options give its node id and state dir); waits until Probe answers.
# Its PID is appended to EXTRA_PIDS (stopped by the cleanup) and left in EXTRA_PID.
EXTRA_PIDS=()
csi_start_extra() {
	local name=$1
	shift
	"$PVNODE" --endpoint "unix://$T/$name.sock" --allowed-path "$ALLOWED" --selinux off "$@" \
		>>"$T/$name.log" 2>&1 &
	EXTRA_PID=$!
	EXTRA_PIDS+=("$EXTRA_PID")
	for _ in $(seq 100); do
		if "$CSI_CALL" "unix://$T/$name.sock" Probe >/dev/null 2>&1; then return 0; fi
		kill -0 "$EXTRA_PID" 2>/dev/null || { tail -5 "$T/$name.log" >&2; csi_fail "pvnode $name exited at start"; }
		sleep 0.05
	done
	csi_fail "pvnode $name did not answer Probe within 5 s"
}

# A TCP port on 127.0.0.1 nobody listens on (for --metrics-address).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# csi_stop [SIGNAL]: stop our pvnode and wait for it; sets STOP_RC.
csi_stop() {
	kill "-${1:-TERM}" "$PVNODE_PID"
	STOP_RC=0
	wait "$PVNODE_PID" || STOP_RC=$?
	PVNODE_PID=
}

# call METHOD FIELD=VALUE...: sets ST (status name), OUT (response JSON), ERRMSG.
call() {
	local rc=0
	OUT=$("$CSI_CALL" "$EP" "$@" 2>"$T/call.err") || rc=$?
	ERRMSG=$(cat "$T/call.err")
	ST=${ERRMSG%%:*}
	[ "$rc" -lt 100 ] || csi_fail "csi_call $1 could not call (rc $rc): $ERRMSG"
}

# expect STATUS METHOD FIELD=VALUE...
expect() {
	local want=$1
	shift
	call "$@"
	[ "$ST" = "$want" ] || csi_fail "$1 ${*:2}: expected $want, got $ERRMSG"
}

# Capability fields for a filesystem volume with access mode $1 (default SINGLE_NODE_WRITER).
cap_mount() { echo "volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=${1:-SINGLE_NODE_WRITER}"; }
cap_block() { echo "volume_capability.block= volume_capability.access_mode.mode=${1:-SINGLE_NODE_WRITER}"; }

# create_volume NAME SIZE [MODE] [extra fields]: CreateVolume with the file driver.
create_volume() {
	local name=$1 size=$2 mode=${3:-SINGLE_NODE_WRITER}
	shift 3 2>/dev/null || shift $#
	expect OK CreateVolume name="$name" capacity_range.required_bytes="$size" \
		"volume_capabilities[0].mount.fs_type=ext4" \
		"volume_capabilities[0].access_mode.mode=$mode" parameters.driver=file "$@"
}

# The volume_context fields of the last CreateVolume response, as csi_call arguments.
context_args() {
	python3 -c 'import json,sys
v=json.loads(sys.argv[1])["volume"]
print(" ".join("volume_context.%s=%s" % kv for kv in v.get("volume_context",{}).items()))' "$1"
}

# Can this machine grow a mounted ext4 at all? (Some sandboxes refuse the resize ioctl.)
online_resize_works() {
	local d rc=1 dev
	d=$(mktemp -d "$T/rz.XXXX")
	truncate -s 32M "$d/img" && mkfs.ext4 -q -b 4096 "$d/img" || return 1
	dev=$(losetup -f --show "$d/img") || return 1
	mkdir "$d/m"
	if mount "$dev" "$d/m"; then
		truncate -s 64M "$d/img"
		losetup -c "$dev"
		resize2fs "$dev" >/dev/null 2>&1 && rc=0
		umount "$d/m"
	fi
	losetup -d "$dev"
	rm -rf "$d"
	return $rc
}
